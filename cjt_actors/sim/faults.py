"""Fault injection: what the simulator can be told to do wrong, and when.

Every failure a trading bot must survive has a switch here, driven from Python
(:class:`Faults`) or over HTTP (``/sim/faults/...``, see :mod:`cjt_actors.sim.app`), so the
client tests, the failure scenarios and the chaos soak all speak one vocabulary:

REST
    ``fail_next(kind, count, path_prefix)``: answer the next ``count`` matching requests with
    a 5xx, a 429, an HTML page (with a 502 or 429 status) or a hang (no answer at all, until
    the client gives up). ``lose_next_order_responses(count)``: *accept* the next order
    placements but never answer them (the order is live; the client cannot know).
    ``latency``: extra seconds before every REST answer.
WebSocket
    ``drop_connections()`` (abrupt close, no close frame), ``stall_connections()`` (the
    connection stays open but nothing more is sent, until resumed), ``close_connections(code)``
    (an orderly close, 1001 "going away" by default), ``skip_sequence(n)`` (the next frame's
    ``sequence_num`` jumps by ``n``), ``inject_malformed(count)`` (garbage frames),
    ``replay_fills_on_reconnect`` (user-channel fills are sent again after a reconnect).
Auth
    ``revoke_key(name)`` / ``restore_key(name)``.

The state is plain data, consumed by the app as requests and frames go out, so a fault
applies to exactly the next matching event: scripted scenarios stay deterministic.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

import attrs

from ..errors import InvalidSpec

__all__ = ["Faults", "RestFault", "RestFaultKind", "WsAction", "WsActionKind"]


class RestFaultKind(enum.Enum):
    SERVER_ERROR = "server_error"  #: a JSON 5xx (status from the fault, 503 by default)
    RATE_LIMITED = "rate_limited"  #: a JSON 429
    HTML = "html"  #: an HTML error page (status from the fault: 502 or 429 are typical)
    HANG = "hang"  #: no answer until the client times out


@attrs.frozen(kw_only=True)
class RestFault:
    kind: RestFaultKind
    status: int
    path_prefix: str  #: "" matches every path


class WsActionKind(enum.Enum):
    DROP = "drop"
    STALL = "stall"
    RESUME = "resume"
    CLOSE = "close"
    SKIP_SEQUENCE = "skip_sequence"
    MALFORMED = "malformed"


@attrs.frozen(kw_only=True)
class WsAction:
    """An action for every open WebSocket connection (of one endpoint, or all)."""

    kind: WsActionKind
    amount: int = 0  #: close code, sequence jump, or number of malformed frames
    endpoint: str = ""  #: "market", "user" or "" for both


_DEFAULT_STATUS = {
    RestFaultKind.SERVER_ERROR: 503,
    RestFaultKind.RATE_LIMITED: 429,
    RestFaultKind.HTML: 502,
    RestFaultKind.HANG: 0,
}


class Faults:
    """The simulator's fault switches. Methods are synchronous and take effect at once."""

    def __init__(self) -> None:
        self._rest: deque[RestFault] = deque()
        self._lost_orders = 0
        self.latency = 0.0
        self.replay_fills_on_reconnect = False
        self._ws_listeners: list[Callable[[WsAction], None]] = []
        self._revoke: Callable[[str], None] | None = None
        self._restore: Callable[[str], None] | None = None
        self.history: list[str] = []  #: every fault applied, for scenario timelines

    # -- REST --------------------------------------------------------------------------------

    def fail_next(
        self,
        kind: RestFaultKind,
        count: int = 1,
        *,
        path_prefix: str = "",
        status: int | None = None,
    ) -> None:
        """Answer the next ``count`` REST requests under ``path_prefix`` with ``kind``."""
        if count < 1:
            raise InvalidSpec(f"count: must be >= 1, got {count}")
        code = _DEFAULT_STATUS[kind] if status is None else status
        if kind is not RestFaultKind.HANG and not 400 <= code <= 599:
            raise InvalidSpec(f"status: must be an HTTP error status, got {code}")
        for _ in range(count):
            self._rest.append(RestFault(kind=kind, status=code, path_prefix=path_prefix))
        self.history.append(f"rest {kind.value} x{count} {path_prefix or '*'}")

    def take_rest_fault(self, path: str) -> RestFault | None:
        """The fault for this request, if one is pending for its path (consumed)."""
        for index, fault in enumerate(self._rest):
            if path.startswith(fault.path_prefix):
                del self._rest[index]
                return fault
        return None

    @property
    def pending_rest_faults(self) -> int:
        return len(self._rest)

    def lose_next_order_responses(self, count: int = 1) -> None:
        """Accept the next ``count`` order placements but never send their responses."""
        if count < 1:
            raise InvalidSpec(f"count: must be >= 1, got {count}")
        self._lost_orders += count
        self.history.append(f"lose order responses x{count}")

    def take_lost_order_response(self) -> bool:
        if self._lost_orders > 0:
            self._lost_orders -= 1
            return True
        return False

    def set_latency(self, seconds: float) -> None:
        if not 0 <= seconds < 3600:
            raise InvalidSpec(f"latency: must be in [0, 3600) seconds, got {seconds}")
        self.latency = seconds
        self.history.append(f"rest latency {seconds}s")

    # -- WebSocket ---------------------------------------------------------------------------

    def on_ws_action(self, listener: Callable[[WsAction], None]) -> Callable[[], None]:
        """Register a connection's listener; returns the function that unregisters it."""
        self._ws_listeners.append(listener)
        return lambda: self._ws_listeners.remove(listener)

    def _ws(self, action: WsAction) -> None:
        if action.endpoint not in ("", "market", "user"):
            raise InvalidSpec(f"endpoint: must be 'market', 'user' or '', got {action.endpoint!r}")
        self.history.append(f"ws {action.kind.value} {action.amount} {action.endpoint or '*'}")
        for listener in list(self._ws_listeners):
            listener(action)

    def drop_connections(self, *, endpoint: str = "") -> None:
        """Close every WebSocket abruptly, without a close frame (a dead TCP connection)."""
        self._ws(WsAction(kind=WsActionKind.DROP, endpoint=endpoint))

    def stall_connections(self, *, endpoint: str = "") -> None:
        """Stop sending on every WebSocket, keeping it open (a silent stall)."""
        self._ws(WsAction(kind=WsActionKind.STALL, endpoint=endpoint))

    def resume_connections(self, *, endpoint: str = "") -> None:
        self._ws(WsAction(kind=WsActionKind.RESUME, endpoint=endpoint))

    def close_connections(self, code: int = 1001, *, endpoint: str = "") -> None:
        """An orderly close with ``code`` (1001 "going away" by default)."""
        if not 1000 <= code <= 4999:
            raise InvalidSpec(f"code: must be a WebSocket close code, got {code}")
        self._ws(WsAction(kind=WsActionKind.CLOSE, amount=code, endpoint=endpoint))

    def skip_sequence(self, count: int = 1, *, endpoint: str = "") -> None:
        """Make the next frame's sequence_num jump by ``count`` (frames were "lost")."""
        if count < 1:
            raise InvalidSpec(f"count: must be >= 1, got {count}")
        self._ws(WsAction(kind=WsActionKind.SKIP_SEQUENCE, amount=count, endpoint=endpoint))

    def inject_malformed(self, count: int = 1, *, endpoint: str = "") -> None:
        """Send ``count`` malformed frames (not JSON, truncated JSON, wrong types)."""
        if count < 1:
            raise InvalidSpec(f"count: must be >= 1, got {count}")
        self._ws(WsAction(kind=WsActionKind.MALFORMED, amount=count, endpoint=endpoint))

    def set_replay_fills_on_reconnect(self, enabled: bool = True) -> None:
        self.replay_fills_on_reconnect = enabled
        self.history.append(f"replay fills on reconnect {enabled}")

    # -- auth --------------------------------------------------------------------------------

    def bind_auth(self, revoke: Callable[[str], None], restore: Callable[[str], None]) -> None:
        self._revoke, self._restore = revoke, restore

    def revoke_key(self, key_name: str) -> None:
        """Refuse every token signed by this key from now on (401, WS auth failure)."""
        if self._revoke is None:
            raise RuntimeError("no authenticating app is bound to these faults")
        self._revoke(key_name)
        self.history.append("revoke key")

    def restore_key(self, key_name: str) -> None:
        if self._restore is None:
            raise RuntimeError("no authenticating app is bound to these faults")
        self._restore(key_name)
        self.history.append("restore key")
