"""The chaos monkey: a seeded schedule of faults, and the hand that injects them.

Why a schedule made up front (:func:`plan_faults`) rather than dice rolled while the soak
runs: the plan is a pure function of the seed and the run's shape, so the same seed gives
the same faults at the same offsets on any machine, a failing soak can be replayed, and the
schedule is unit-tested without running anything. Only *when* each fault lands relative to
the stack's own activity depends on the machine (the soak runs in real time).

How faults are drawn:

* **When**: a Poisson process, one fault every ``mean_interval`` seconds on average
  (exponential gaps), between a warm-up (the stack starts and trades first) and a quiet
  cool-down before the stop (so the root's emergency cancel-all meets a healthy venue and
  the end checks judge the recovery, not a fault still in flight). Every fault that holds
  (a stall, a latency spike, the fill replay, an outage) is undone before the cool-down.
* **What**: dealt from a shuffled deck holding one card per kind and place (each endpoint of
  a WebSocket fault, each actor for a crash, each product for a price jump, one card for
  every other kind), reshuffled when empty. Every card therefore comes once per round, in
  random order: a short soak covers the whole vocabulary, and no kind starves by chance.
* **Crashes** are capped at ``crash_limit`` within any ``crash_window`` seconds: the
  trading supervisor gives up after 5 restarts in 60 s (rest_for_one, then escalation to the
  root's emergency), and the soak is about recovery, not escalation. A crash card drawn over
  the cap is discarded for the round and the next card is played instead, so the fault
  rate holds whatever the cap.
* **Parameters** are drawn with the card: the size of a REST error burst and whether it
  hits the order routes or every route, the sequence jump, the number of malformed frames
  or lost order responses, a latency spike's size, a price jump's size and direction, and
  how long a stall, a latency spike, the fill replay or an outage holds.

The vocabulary (:class:`FaultKind`) is the simulator's fault API (:mod:`cjt_actors.sim.faults`)
plus actor crashes through the pipeline's crash switch. Left out on purpose: REST hangs (each
costs a whole attempt timeout per retry, which turns a soak into a wait), a revoked key (a
fatal venue condition: the run would end), and, on the paper venue, every REST and
user-channel fault (paper orders never reach the simulator).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from ..errors import InvalidSpec
from ..sim.faults import Faults, RestFaultKind
from ..sim.rest import PREFIX
from .kinds import PAPER_KINDS, SIM_KINDS, FaultKind

__all__ = [
    "ENDPOINTS",
    "ORDERS_PREFIX",
    "PAPER_KINDS",
    "SIM_KINDS",
    "CrashTrigger",
    "FaultKind",
    "Monkey",
    "PlannedFault",
    "crash_targets",
    "plan_faults",
]

#: The order routes (``POST /orders``, ``batch_cancel``, the order reads) share this prefix.
ORDERS_PREFIX = PREFIX + "/orders"

#: The WebSocket endpoints a fault can hit.
ENDPOINTS = ("market", "user")


_STALL_SECONDS = (2.0, 12.0)  #: around the feed's 10 s watchdog: some stalls trip it
_LATENCY_SECONDS = (0.2, 2.0)
_LATENCY_HOLD = (2.0, 8.0)
_REPLAY_HOLD = (3.0, 8.0)
_OUTAGE_HOLD = (2.0, 8.0)
#: Price jumps, in basis points either way: past the market maker's quotes (5 bp from mid by
#: default: it gets picked off), well inside risk's 100 bp band and its loss limits (a jump
#: must not end the run). Bigger jumps mostly measure risk's loss-streak cooldown (60 s
#: without new orders), which leaves the order paths idle under the faults meant for them.
_JUMP_BPS = (10, 40)
#: The largest bursts. 429s are few: the client's penalty doubles from 1 s per 429 (three
#: cost 7 s), and a longer storm only measures the penalty, not a recovery.
_REST_BURST = {FaultKind.REST_5XX: 6, FaultKind.REST_429: 3, FaultKind.REST_HTML: 6}
_REST_KIND = {
    FaultKind.REST_5XX: RestFaultKind.SERVER_ERROR,
    FaultKind.REST_429: RestFaultKind.RATE_LIMITED,
    FaultKind.REST_HTML: RestFaultKind.HTML,
}


@attrs.frozen(kw_only=True)
class PlannedFault:
    """One fault of the plan. ``at`` and ``hold`` are seconds from the soak's start.

    ``place``: the endpoint of a WebSocket fault, ``orders`` or ``any`` route for a REST
    burst, the actor of a crash, the product of a price jump, ``user`` for the fill replay,
    ``""`` otherwise. ``amount``: the burst size, sequence jump, malformed frames, lost
    responses, or a price jump's basis points (signed).
    ``seconds``: a latency spike's size. ``hold``: how long a stall, spike or replay lasts
    before it is undone (0 for a fault that is over once injected).
    """

    at: float
    kind: FaultKind
    place: str = ""
    amount: int = 0
    seconds: float = 0.0
    hold: float = 0.0

    @property
    def key(self) -> str:
        """What the report counts faults by: the kind, and where for WebSocket faults and
        crashes (``ws_drop:market``, ``crash:executor``)."""
        if self.kind.websocket or self.kind in (FaultKind.CRASH, FaultKind.PRICE_JUMP):
            return f"{self.kind.value}:{self.place}"
        return str(self.kind.value)

    @property
    def hits_market_data(self) -> bool:
        """Whether it hits the market-data connection (the book's trust may drop)."""
        return (self.kind.websocket and self.place == "market") or (
            self.kind is FaultKind.EXCHANGE_DOWN
        )

    def describe(self) -> str:
        """The fault in words, for the report's list and the crash's detail."""
        parts = [self.key]
        if self.kind.rest:
            parts.append(f"x{self.amount} on {self.place} routes")
        elif self.kind is FaultKind.PRICE_JUMP:
            parts.append(f"{self.amount:+d}bps")
        elif self.amount:
            parts.append(f"x{self.amount}")
        if self.seconds:
            parts.append(f"{self.seconds:g}s")
        if self.hold:
            parts.append(f"for {self.hold:.1f}s")
        return " ".join(parts)


def crash_targets(strategies: Sequence[str]) -> tuple[str, ...]:
    """The trading supervisor's children, as the crash switch names them."""
    return ("executor", "risk", "book", "feed", *(f"strategy:{name}" for name in strategies))


def plan_faults(
    *,
    seed: int,
    duration: float,
    mean_interval: float,
    kinds: Sequence[FaultKind] = SIM_KINDS,
    targets: Sequence[str] = crash_targets(["mm"]),
    endpoints: Sequence[str] = ENDPOINTS,
    products: Sequence[str] = ("BTC-USD", "ETH-USD"),
    warmup: float = 10.0,
    cooldown: float = 15.0,
    crash_limit: int = 2,
    crash_window: float = 60.0,
) -> tuple[PlannedFault, ...]:
    """The faults of a soak of ``duration`` seconds, in time order (see the module docstring).

    Faults land in ``[warmup, duration - cooldown]``, and so do the ends of their holds.

    Raises:
        InvalidSpec: a non-positive duration or interval, no kinds, crashes without targets,
            a negative warm-up, cool-down or crash limit.
    """
    if not duration > 0 or not mean_interval > 0:
        raise InvalidSpec(
            f"duration and mean_interval must be > 0, got {duration!r} and {mean_interval!r}"
        )
    if not kinds:
        raise InvalidSpec("kinds: name at least one fault kind")
    if FaultKind.CRASH in kinds and not targets:
        raise InvalidSpec("targets: crashes need at least one actor to crash")
    if FaultKind.PRICE_JUMP in kinds and not products:
        raise InvalidSpec("products: price jumps need at least one product")
    if not set(endpoints) <= set(ENDPOINTS) or (
        not endpoints and any(kind.websocket for kind in kinds)
    ):
        raise InvalidSpec(f"endpoints: must be some of {ENDPOINTS}, got {tuple(endpoints)}")
    if warmup < 0 or cooldown < 0 or crash_limit < 0 or crash_window < 0:
        raise InvalidSpec(
            "warmup, cooldown, crash_limit and crash_window must be >= 0, got "
            f"{warmup!r}, {cooldown!r}, {crash_limit!r}, {crash_window!r}"
        )
    rng = random.Random(seed)
    places = {
        FaultKind.CRASH: tuple(dict.fromkeys(targets)),
        FaultKind.PRICE_JUMP: tuple(dict.fromkeys(products)),
    }
    cards = [
        (kind, place)
        for kind in dict.fromkeys(kinds)
        for place in (
            tuple(dict.fromkeys(endpoints)) if kind.websocket else places.get(kind, ("",))
        )
    ]
    end = duration - cooldown
    deck: list[tuple[FaultKind, str]] = []
    crashes: list[float] = []
    planned: list[PlannedFault] = []
    at = warmup
    while True:
        at += rng.expovariate(1.0 / mean_interval)
        if at >= end:
            break
        allowed = _crash_allowed(crashes, at, crash_limit, crash_window)
        card = _deal(deck, crash_allowed=allowed)
        if card is None:  # the round is over: a fresh deck
            deck[:] = cards
            rng.shuffle(deck)
            card = _deal(deck, crash_allowed=allowed)
            if card is None:
                continue  # nothing but crashes, and the cap is reached: a quiet slot
        kind, place = card
        if kind is FaultKind.CRASH:
            crashes.append(at)
        planned.append(_parameters(rng, kind, place, at=at, end=end))
    return tuple(planned)


def _crash_allowed(crashes: list[float], at: float, limit: int, window: float) -> bool:
    recent = len(crashes) - bisect.bisect_right(crashes, at - window)
    return recent < limit


def _deal(
    deck: list[tuple[FaultKind, str]], *, crash_allowed: bool
) -> tuple[FaultKind, str] | None:
    """The top card, discarding crash cards over the cap; ``None`` once the deck is empty."""
    while deck:
        card = deck.pop()
        if card[0] is not FaultKind.CRASH or crash_allowed:
            return card
    return None


def _parameters(
    rng: random.Random,
    kind: FaultKind,
    place: str,
    *,
    at: float,
    end: float,
) -> PlannedFault:
    def hold(bounds: tuple[float, float]) -> float:
        return round(min(rng.uniform(*bounds), end - at), 3)

    match kind:
        case FaultKind.WS_STALL:
            return PlannedFault(at=at, kind=kind, place=place, hold=hold(_STALL_SECONDS))
        case FaultKind.WS_SKIP_SEQUENCE:
            return PlannedFault(at=at, kind=kind, place=place, amount=rng.randint(1, 5))
        case FaultKind.WS_MALFORMED:
            return PlannedFault(at=at, kind=kind, place=place, amount=rng.randint(1, 3))
        case FaultKind.REST_5XX | FaultKind.REST_429 | FaultKind.REST_HTML:
            return PlannedFault(
                at=at,
                kind=kind,
                place=rng.choice(("orders", "any")),
                amount=rng.randint(1, _REST_BURST[kind]),
            )
        case FaultKind.LOST_ORDER_RESPONSES:
            return PlannedFault(at=at, kind=kind, amount=rng.randint(1, 2))
        case FaultKind.LATENCY_SPIKE:
            seconds = round(rng.uniform(*_LATENCY_SECONDS), 2)
            return PlannedFault(at=at, kind=kind, seconds=seconds, hold=hold(_LATENCY_HOLD))
        case FaultKind.REPLAY_FILLS:
            return PlannedFault(at=at, kind=kind, place="user", hold=hold(_REPLAY_HOLD))
        case FaultKind.PRICE_JUMP:
            bps = rng.randint(*_JUMP_BPS) * rng.choice((-1, 1))
            return PlannedFault(at=at, kind=kind, place=place, amount=bps)
        case FaultKind.EXCHANGE_DOWN:
            return PlannedFault(at=at, kind=kind, hold=hold(_OUTAGE_HOLD))
        case _:  # WS_DROP, WS_CLOSE, CRASH: nothing more to choose than the place
            return PlannedFault(at=at, kind=kind, place=place)


# -- injecting ---------------------------------------------------------------------------------


class CrashTrigger(Protocol):
    """What makes an actor crash: the pipeline's crash switch (:mod:`cjt_actors.chaos`)."""

    def crash(self, target: str, *, detail: str) -> None: ...


Undo = Callable[[], None]


class Monkey:
    """Injects planned faults into a simulator's :class:`Faults` and a crash switch.

    Holding faults overlap safely: a stall is resumed only when the last stall of its
    endpoint ends, the latency is the largest spike still in force (0 when none), and the
    fill replay stays on while any replay fault holds. :meth:`settle` undoes whatever still
    holds (the soak calls it before the stop, in case a hold outlived the plan).

    Args:
        faults: the simulator's fault switches.
        crash: the crash switch; ``None`` refuses crash faults (InvalidSpec).
    """

    def __init__(self, faults: Faults, crash: CrashTrigger | None) -> None:
        self._faults = faults
        self._crash = crash
        self._stalls: dict[str, int] = {}
        self._spikes: list[float] = []
        self._replays = 0
        self._outages = 0
        self._holding: dict[int, Undo] = {}
        self._next = 0

    @property
    def faults(self) -> Faults:
        """The simulator's fault switches it drives."""
        return self._faults

    def inject(self, fault: PlannedFault) -> Undo | None:
        """Apply ``fault`` now; return what undoes it (for a holding fault), else ``None``.

        Raises:
            InvalidSpec: a crash with no crash switch.
        """
        faults = self._faults
        match fault.kind:
            case FaultKind.WS_DROP:
                faults.drop_connections(endpoint=fault.place)
            case FaultKind.WS_STALL:
                return self._stall(fault.place)
            case FaultKind.WS_CLOSE:
                faults.close_connections(1001, endpoint=fault.place)
            case FaultKind.WS_SKIP_SEQUENCE:
                faults.skip_sequence(fault.amount, endpoint=fault.place)
            case FaultKind.WS_MALFORMED:
                faults.inject_malformed(fault.amount, endpoint=fault.place)
            case FaultKind.REST_5XX | FaultKind.REST_429 | FaultKind.REST_HTML:
                prefix = ORDERS_PREFIX if fault.place == "orders" else ""
                faults.fail_next(_REST_KIND[fault.kind], fault.amount, path_prefix=prefix)
            case FaultKind.LOST_ORDER_RESPONSES:
                faults.lose_next_order_responses(fault.amount)
            case FaultKind.LATENCY_SPIKE:
                return self._spike(fault.seconds)
            case FaultKind.REPLAY_FILLS:
                return self._replay()
            case FaultKind.PRICE_JUMP:
                faults.jump_price(fault.place, fault.amount)
            case FaultKind.EXCHANGE_DOWN:
                return self._outage()
            case _:  # FaultKind.CRASH: every other kind is matched above
                if self._crash is None:
                    raise InvalidSpec(f"{fault.describe()}: no crash switch to crash an actor")
                self._crash.crash(fault.place, detail=f"soak: {fault.describe()}")
        return None

    def settle(self) -> None:
        """Undo every fault that still holds."""
        for undo in list(self._holding.values()):
            undo()

    def _held(self, release: Undo) -> Undo:
        """``release`` wrapped to run once, whether by its timer or by :meth:`settle`."""
        token = self._next
        self._next += 1

        def undo() -> None:
            if self._holding.pop(token, None) is not None:
                release()

        self._holding[token] = undo
        return undo

    def _stall(self, endpoint: str) -> Undo:
        self._stalls[endpoint] = self._stalls.get(endpoint, 0) + 1
        self._faults.stall_connections(endpoint=endpoint)

        def release() -> None:
            self._stalls[endpoint] -= 1
            if not self._stalls[endpoint]:
                self._faults.resume_connections(endpoint=endpoint)

        return self._held(release)

    def _spike(self, seconds: float) -> Undo:
        self._spikes.append(seconds)
        self._faults.set_latency(max(self._spikes))

        def release() -> None:
            self._spikes.remove(seconds)
            self._faults.set_latency(max(self._spikes, default=0.0))

        return self._held(release)

    def _replay(self) -> Undo:
        self._replays += 1
        self._faults.set_replay_fills_on_reconnect(True)
        self._faults.drop_connections(endpoint="user")  # the reconnect replays recent fills

        def release() -> None:
            self._replays -= 1
            if not self._replays:
                self._faults.set_replay_fills_on_reconnect(False)

        return self._held(release)

    def _outage(self) -> Undo:
        self._outages += 1
        self._faults.set_exchange_down(True)

        def release() -> None:
            self._outages -= 1
            if not self._outages:
                self._faults.set_exchange_down(False)

        return self._held(release)
