"""The fault vocabulary of a scenario's timeline: ``do = "..."`` and its keys.

Each action is a frozen attrs class whose fields are the keys a TOML step may carry (the
strict config walker checks them: an unknown key or a wrong type is reported with its path),
with ``apply(world)`` pulling one lever of the simulator's fault API
(:mod:`cjt_actors.sim.faults`), the crash switch (:mod:`cjt_actors.chaos`) or the pipeline's
operator controls. ``describe()`` is the line the run's timeline shows.

The names are the ones ``docs/scenarios.md`` documents; :data:`ACTIONS` maps each to its
class. A Python scenario may add its own action: any object with ``name``, ``describe()``
and ``async apply(world)``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal, Protocol

import attrs
import trio

from ..errors import InvalidSpec
from ..messages import StopReason
from ..sim.faults import RestFault, RestFaultKind
from ..sim.rest import PREFIX
from .world import World

__all__ = [
    "ACTIONS",
    "Action",
    "Crash",
    "DropDuringSnapshot",
    "ExchangeDown",
    "ExchangeUp",
    "Halt",
    "LoseOrderResponses",
    "MalformedFrames",
    "PriceJump",
    "ReplayFills",
    "RestError",
    "RestLatency",
    "RestoreKey",
    "Resume",
    "RevokeKey",
    "SequenceGap",
    "Stop",
    "WsClose",
    "WsDrop",
    "WsResume",
    "WsStall",
]

Endpoint = Literal["", "market", "user"]


class Action(Protocol):
    """One thing a timeline does at its time."""

    name: ClassVar[str]

    def describe(self) -> str: ...

    async def apply(self, world: World) -> None: ...


def _where(endpoint: str) -> str:
    return f"{endpoint} websocket" if endpoint else "every websocket"


def _at_least_one(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise InvalidSpec(f"{attribute.name}: must be >= 1, got {value}")


def _non_negative(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise InvalidSpec(f"{attribute.name}: must be >= 0 seconds, got {value}")


# -- WebSocket ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WsDrop:
    """Every open WebSocket (of ``endpoint``) dies without a close frame."""

    name: ClassVar[str] = "ws_drop"
    endpoint: Endpoint = ""

    def describe(self) -> str:
        return f"drop {_where(self.endpoint)}"

    async def apply(self, world: World) -> None:
        world.sim.faults.drop_connections(endpoint=self.endpoint)


@attrs.frozen(kw_only=True)
class WsStall:
    """The connections stay open but go silent; for ``seconds`` if given, else until a
    ``ws_resume``. Only a watchdog notices."""

    name: ClassVar[str] = "ws_stall"
    endpoint: Endpoint = ""
    seconds: float | None = attrs.field(default=None)

    @seconds.validator
    def _positive(self, _attribute: attrs.Attribute[float | None], value: float | None) -> None:
        if value is not None and not value > 0:
            raise InvalidSpec(f"seconds: must be > 0, got {value}")

    def describe(self) -> str:
        until = f" for {self.seconds:g} s" if self.seconds is not None else ""
        return f"stall {_where(self.endpoint)}{until}"

    async def apply(self, world: World) -> None:
        world.sim.faults.stall_connections(endpoint=self.endpoint)
        token = world.begin(f"ws_stall:{self.endpoint}")
        if self.seconds is not None:
            world.nursery.start_soon(self._resume_later, world, self.seconds, token)

    async def _resume_later(self, world: World, seconds: float, token: int) -> None:
        await trio.sleep(seconds)
        if world.still_current(f"ws_stall:{self.endpoint}", token):
            await WsResume(endpoint=self.endpoint).apply(world)


@attrs.frozen(kw_only=True)
class WsResume:
    """Stalled connections send again."""

    name: ClassVar[str] = "ws_resume"
    endpoint: Endpoint = ""

    def describe(self) -> str:
        return f"resume {_where(self.endpoint)}"

    async def apply(self, world: World) -> None:
        world.sim.faults.resume_connections(endpoint=self.endpoint)


@attrs.frozen(kw_only=True)
class WsClose:
    """An orderly close with ``code`` (1001 "going away": what Coinbase sends on a deploy)."""

    name: ClassVar[str] = "ws_close"
    endpoint: Endpoint = ""
    code: int = 1001

    def describe(self) -> str:
        return f"close {_where(self.endpoint)} with code {self.code}"

    async def apply(self, world: World) -> None:
        world.sim.faults.close_connections(self.code, endpoint=self.endpoint)


@attrs.frozen(kw_only=True)
class SequenceGap:
    """The next frame's ``sequence_num`` jumps by ``count``: frames were lost."""

    name: ClassVar[str] = "sequence_gap"
    endpoint: Endpoint = "market"
    count: int = attrs.field(default=1, validator=_at_least_one)

    def describe(self) -> str:
        return f"skip {self.count} sequence number(s) on the {_where(self.endpoint)}"

    async def apply(self, world: World) -> None:
        world.sim.faults.skip_sequence(self.count, endpoint=self.endpoint)


@attrs.frozen(kw_only=True)
class MalformedFrames:
    """``count`` garbage frames: not JSON, truncated JSON, wrong types."""

    name: ClassVar[str] = "malformed_frames"
    endpoint: Endpoint = "market"
    count: int = attrs.field(default=1, validator=_at_least_one)

    def describe(self) -> str:
        return f"send {self.count} malformed frame(s) on the {_where(self.endpoint)}"

    async def apply(self, world: World) -> None:
        world.sim.faults.inject_malformed(self.count, endpoint=self.endpoint)


@attrs.frozen(kw_only=True)
class ReplayFills:
    """After each user-channel reconnect, fills already sent are sent again."""

    name: ClassVar[str] = "replay_fills_on_reconnect"
    enabled: bool = True

    def describe(self) -> str:
        return f"replay fills on reconnect: {'on' if self.enabled else 'off'}"

    async def apply(self, world: World) -> None:
        world.sim.faults.set_replay_fills_on_reconnect(self.enabled)


# -- REST --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RestError:
    """REST requests under ``path`` (relative to ``/api/v3/brokerage``; "" for all) are
    answered with ``kind``: a JSON 5xx, a 429, an HTML page, or no answer at all. Either the
    next ``count`` requests, or, with ``seconds``, *every* request for that long (a storm
    measured in time: a client that backs off meets fewer of its answers)."""

    name: ClassVar[str] = "rest_error"
    kind: Literal["server_error", "rate_limited", "html", "hang"] = "server_error"
    count: int = attrs.field(default=1, validator=_at_least_one)
    seconds: float | None = None
    path: str = ""
    status: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.seconds is not None and not self.seconds > 0:
            raise InvalidSpec(f"seconds: must be > 0, got {self.seconds}")

    def describe(self) -> str:
        status = f" {self.status}" if self.status is not None else ""
        amount = f"for {self.seconds:g} s" if self.seconds is not None else f"x{self.count}"
        return f"REST {self.kind}{status} {amount} on {PREFIX}{self.path or '/*'}"

    async def apply(self, world: World) -> None:
        kind = RestFaultKind(self.kind)
        if self.seconds is None:
            world.sim.faults.fail_next(
                kind, self.count, path_prefix=PREFIX + self.path, status=self.status
            )
            return
        storm = world.sim.faults.fail_all(kind, path_prefix=PREFIX + self.path, status=self.status)
        world.nursery.start_soon(self._end_later, world, self.seconds, storm)

    @staticmethod
    async def _end_later(world: World, seconds: float, storm: RestFault) -> None:
        await trio.sleep(seconds)
        world.sim.faults.stop_failing(storm)  # unless a later storm replaced it


@attrs.frozen(kw_only=True)
class DropDuringSnapshot:
    """The next market-data subscription dies right after its first product's level2
    snapshot (the others never arrive). Combine with a ``ws_drop`` to hit the resubscribe."""

    name: ClassVar[str] = "drop_during_next_snapshot"

    def describe(self) -> str:
        return "drop the next subscription mid-snapshot"

    async def apply(self, world: World) -> None:
        world.sim.faults.drop_during_next_snapshot()


@attrs.frozen(kw_only=True)
class LoseOrderResponses:
    """The next ``count`` creates are *placed* but never answered."""

    name: ClassVar[str] = "lose_order_responses"
    count: int = attrs.field(default=1, validator=_at_least_one)

    def describe(self) -> str:
        return f"accept the next {self.count} create(s) and lose the response(s)"

    async def apply(self, world: World) -> None:
        world.sim.faults.lose_next_order_responses(self.count)


@attrs.frozen(kw_only=True)
class RestLatency:
    """Every REST answer waits ``seconds`` more (0 restores)."""

    name: ClassVar[str] = "latency"
    seconds: float = attrs.field(validator=_non_negative)

    def describe(self) -> str:
        return f"REST latency {self.seconds:g} s"

    async def apply(self, world: World) -> None:
        world.sim.faults.set_latency(self.seconds)


# -- the exchange as a whole --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ExchangeDown:
    """The exchange's gateway goes down: REST answers 503 HTML, WebSocket handshakes are
    refused, open connections drop. For ``seconds`` if given, else until ``exchange_up``."""

    name: ClassVar[str] = "exchange_down"
    seconds: float | None = None

    def describe(self) -> str:
        until = f" for {self.seconds:g} s" if self.seconds is not None else ""
        return f"exchange down{until}"

    async def apply(self, world: World) -> None:
        world.sim.faults.set_exchange_down(True)
        token = world.begin("exchange_down")
        if self.seconds is not None:
            world.nursery.start_soon(self._up_later, world, self.seconds, token)

    async def _up_later(self, world: World, seconds: float, token: int) -> None:
        await trio.sleep(seconds)
        if world.still_current("exchange_down", token):  # a later outage lasts its own time
            await ExchangeUp().apply(world)


@attrs.frozen(kw_only=True)
class ExchangeUp:
    """The exchange's gateway is back."""

    name: ClassVar[str] = "exchange_up"

    def describe(self) -> str:
        return "exchange up"

    async def apply(self, world: World) -> None:
        world.sim.faults.set_exchange_down(False)


@attrs.frozen(kw_only=True)
class PriceJump:
    """The product's mid jumps ``bps`` basis points at once (negative: down)."""

    name: ClassVar[str] = "price_jump"
    product: str
    bps: Decimal

    def describe(self) -> str:
        return f"price jump {self.product} {self.bps:+f} bps"

    async def apply(self, world: World) -> None:
        world.sim.faults.jump_price(self.product, self.bps)


@attrs.frozen(kw_only=True)
class RevokeKey:
    """The exchange refuses our API key from now on (401 on REST, the user channel fails)."""

    name: ClassVar[str] = "revoke_key"

    def describe(self) -> str:
        return "revoke the API key"

    async def apply(self, world: World) -> None:
        world.sim.faults.revoke_key(world.require_key("revoke_key"))


@attrs.frozen(kw_only=True)
class RestoreKey:
    """The exchange accepts our API key again."""

    name: ClassVar[str] = "restore_key"

    def describe(self) -> str:
        return "restore the API key"

    async def apply(self, world: World) -> None:
        world.sim.faults.restore_key(world.require_key("restore_key"))


# -- our own side --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Crash:
    """``actor`` ("executor", "risk", "book", "feed", "strategy:<name>") raises
    ``InjectedCrash``; ``times`` crashes, ``every`` seconds apart."""

    name: ClassVar[str] = "crash"
    actor: str
    times: int = attrs.field(default=1, validator=_at_least_one)
    every: float = attrs.field(default=1.0, validator=_non_negative)

    def describe(self) -> str:
        repeat = f" x{self.times} every {self.every:g} s" if self.times > 1 else ""
        return f"crash {self.actor}{repeat}"

    async def apply(self, world: World) -> None:
        world.require_pipeline(f"crash {self.actor}")
        world.crashes.crash(self.actor, detail=f"scenario, t={world.now():g}")
        if self.times > 1:
            world.nursery.start_soon(self._again, world)

    async def _again(self, world: World) -> None:
        for _ in range(self.times - 1):
            await trio.sleep(self.every)
            world.crashes.crash(self.actor, detail=f"scenario, t={world.now():g}")


@attrs.frozen(kw_only=True)
class Halt:
    """An operator's halt (``cjt halt``), with ``flatten``: cancel everything, close out."""

    name: ClassVar[str] = "halt"
    detail: str = "scenario"
    flatten: bool = False

    def describe(self) -> str:
        return "operator halt" + (" with flatten" if self.flatten else "")

    async def apply(self, world: World) -> None:
        await world.require_pipeline("halt").halt(self.detail, flatten=self.flatten)


@attrs.frozen(kw_only=True)
class Resume:
    """An operator's resume (``cjt resume``)."""

    name: ClassVar[str] = "resume"
    detail: str = "scenario"

    def describe(self) -> str:
        return "operator resume"

    async def apply(self, world: World) -> None:
        await world.require_pipeline("resume").resume(self.detail)


@attrs.frozen(kw_only=True)
class Stop:
    """An operator's stop before the scenario's duration: the root's emergency protocol."""

    name: ClassVar[str] = "stop"
    detail: str = "scenario stop"

    def describe(self) -> str:
        return "operator stop"

    async def apply(self, world: World) -> None:
        world.require_pipeline("stop").root.trigger(StopReason.OPERATOR, self.detail)


ACTIONS: dict[str, type[Action]] = {
    cls.name: cls
    for cls in (
        WsDrop,
        WsStall,
        WsResume,
        WsClose,
        SequenceGap,
        MalformedFrames,
        ReplayFills,
        DropDuringSnapshot,
        RestError,
        LoseOrderResponses,
        RestLatency,
        ExchangeDown,
        ExchangeUp,
        PriceJump,
        RevokeKey,
        RestoreKey,
        Crash,
        Halt,
        Resume,
        Stop,
    )
}
"""Every action a TOML timeline may name, by its ``do`` value."""
