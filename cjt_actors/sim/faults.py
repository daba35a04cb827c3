"""Fault injection: what the simulator can be told to do wrong, and when.

Every failure a trading bot must survive has a switch here, driven from Python
(:class:`Faults`) or over HTTP (``/sim/faults/...``, see :mod:`cjt_actors.sim.app`), so the
client tests, the failure scenarios and the chaos soak all speak one vocabulary:

REST
    ``fail_next(kind, count, path_prefix)``: answer the next ``count`` matching requests with
    a 5xx, a 429, an HTML page (with a 502 or 429 status) or a hang (no answer at all, until
    the client gives up); ``fail_all(kind, path_prefix)`` / ``stop_failing()``: the same for
    every request until stopped (a storm that lasts a time). ``lose_next_order_responses(count)``: *accept* the next order
    placements but never answer them (the order is live; the client cannot know).
    ``latency``: extra seconds before every REST answer.
WebSocket
    ``drop_connections()`` (abrupt close, no close frame), ``stall_connections()`` (the
    connection stays open but nothing more is sent, until resumed), ``close_connections(code)``
    (an orderly close, 1001 "going away" by default), ``skip_sequence(n)`` (the next frame's
    ``sequence_num`` jumps by ``n``), ``inject_malformed(count)`` (garbage frames),
    ``replay_fills_on_reconnect`` (user-channel fills are sent again after a reconnect),
    ``drop_during_next_snapshot()`` (a connection dies between two products' snapshots).
Auth
    ``revoke_key(name)`` / ``restore_key(name)``.
Market
    ``jump_price(product_id, bps)``: the synthetic market's mid moves by ``bps`` basis points
    at once and the maker re-quotes around it, so the book clients see gaps (a news spike);
    resting orders the new quotes cross are filled at their own limit prices.
Gateway
    ``set_exchange_down(down)``: a maintenance outage in front of the exchange. While down,
    every REST request under ``/api/v3`` gets an HTML 503 page and every WebSocket handshake
    is refused; going down drops every open WebSocket. The market keeps moving behind the
    gateway, and the ``/sim`` control routes keep working (so a soak can bring it back up).

The state is plain data, consumed by the app as requests and frames go out, so a fault
applies to exactly the next matching event: scripted scenarios stay deterministic.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from decimal import Decimal

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
        self._cut_snapshots = 0
        self._standing: RestFault | None = None
        self.latency = 0.0
        self.replay_fills_on_reconnect = False
        self._ws_listeners: list[Callable[[WsAction], None]] = []
        self._revoke: Callable[[str], None] | None = None
        self._restore: Callable[[str], None] | None = None
        self._jump: Callable[[str, Decimal], None] | None = None
        self._exchange_down = False
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

    def fail_all(
        self, kind: RestFaultKind, *, path_prefix: str = "", status: int | None = None
    ) -> RestFault:
        """Answer *every* REST request under ``path_prefix`` with ``kind`` until
        :meth:`stop_failing`: a storm that lasts a time, however many requests the client
        makes (a client that backs off meets fewer of them). Counted faults wait behind it."""
        code = _DEFAULT_STATUS[kind] if status is None else status
        if kind is not RestFaultKind.HANG and not 400 <= code <= 599:
            raise InvalidSpec(f"status: must be an HTTP error status, got {code}")
        # A new instance each time (eq=False identity below): ending an older storm must
        # not end this one.
        standing = RestFault(kind=kind, status=code, path_prefix=path_prefix)
        self._standing = standing
        self.history.append(f"rest {kind.value} on every request {path_prefix or '*'}")
        return standing

    def stop_failing(self, storm: RestFault | None = None) -> None:
        """End :meth:`fail_all`'s storm; given the ``storm`` it returned, only if that storm
        is still the one standing (a later storm has replaced it otherwise)."""
        if storm is not None and self._standing is not storm:
            return
        self._standing = None
        self.history.append("rest storm over")

    def take_rest_fault(self, path: str) -> RestFault | None:
        """The fault for this request: the standing storm's, else the first pending one for
        its path (consumed)."""
        standing = self._standing
        if standing is not None and path.startswith(standing.path_prefix):
            return standing
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

    def drop_during_next_snapshot(self) -> None:
        """The next level2 subscription's connection dies right after its first product's
        snapshot frame: the other products' snapshots never arrive (a drop mid-snapshot)."""
        self._cut_snapshots += 1
        self.history.append("drop during next snapshot")

    def take_snapshot_cut(self) -> bool:
        """Consumed by the WebSocket app after it sent a level2 snapshot frame."""
        if self._cut_snapshots > 0:
            self._cut_snapshots -= 1
            return True
        return False

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

    # -- market ------------------------------------------------------------------------------

    def bind_market(self, jump: Callable[[str, Decimal], None]) -> None:
        """Bind the simulator's price jump: ``jump(product_id, bps)`` moves the mid, re-quotes
        and publishes, raising :class:`InvalidSpec` for an unknown product."""
        self._jump = jump

    def jump_price(self, product_id: str, bps: int | Decimal) -> None:
        """Move ``product_id``'s mid by ``bps`` basis points at once (negative: down).

        The maker's quotes are laid again around the new mid immediately and the book
        changes are published at once, so clients see the whole book jump in one update.
        Resting orders of other users that the new quotes cross are filled against the
        maker at their own limit prices, as an arbitrageur would pick them off.

        Raises:
            InvalidSpec: ``bps`` is not an int or a finite Decimal with 0 < |bps| < 10000,
                or the product is unknown (the message lists the known ones).
            RuntimeError: no market is bound to these faults.
        """
        if isinstance(bps, bool) or not isinstance(bps, int | Decimal):
            raise InvalidSpec(f"bps: must be an int or a Decimal, got {bps!r}")
        amount = Decimal(bps)
        if not amount.is_finite() or not 0 < abs(amount) < 10_000:
            raise InvalidSpec(
                f"bps: must be non-zero and strictly between -10000 and 10000, got {bps}"
            )
        if self._jump is None:
            raise RuntimeError("no market is bound to these faults")
        self._jump(product_id, amount)
        self.history.append(f"price jump {product_id} {amount:+f}bps")

    # -- the gateway -------------------------------------------------------------------------

    @property
    def exchange_down(self) -> bool:
        """Whether the gateway is down (REST answers 503, WebSocket handshakes are refused)."""
        return self._exchange_down

    def set_exchange_down(self, down: bool = True) -> None:
        """Take the exchange's gateway down (``True``) or bring it back up (``False``).

        Going down also drops every open WebSocket connection at once (as
        :meth:`drop_connections` does, without its own history entry). Requests already
        being answered are not cut short. Each call is recorded, even one that changes
        nothing, so the timeline shows what the script asked for.

        Raises:
            InvalidSpec: ``down`` is not a bool.
        """
        if not isinstance(down, bool):
            raise InvalidSpec(f"down: must be a bool, got {down!r}")
        self._exchange_down = down
        self.history.append("exchange down" if down else "exchange up")
        if down:
            drop = WsAction(kind=WsActionKind.DROP)
            for listener in list(self._ws_listeners):
                listener(drop)
