"""The expectation vocabulary: ``check = "..."`` and its keys, judged on a :class:`RunRecord`.

Two kinds:

* **Invariants** (:data:`INVARIANTS`) hold in every live scenario whatever went wrong, so
  the runner checks them always (a scenario may not switch them off): no
  ``client_order_id`` is placed twice, every order at the exchange has a journaled intent,
  every exchange fill is journaled exactly once as the exchange recorded it, positions and
  cash from the journal equal the exchange's balance changes, and the run's stop left no
  order of ours open. The write-ahead rule and "no fill of ours the exchange never made"
  are also checked *during* the run, every virtual second (:mod:`.monitor`).
* **Expectations** a scenario states about its fault: "the state becomes HALTED by t=40",
  "the book is trusted again within 5 s of the gap", "the executor restarted once",
  "no order reached the exchange while it was down"... Windows are in scenario time
  (``after`` <= t <= ``before``), and each failure carries the time it concerns, so the
  runner can show the events around it.

Each is a frozen attrs class: its fields are the keys a TOML ``[[expect]]`` table may carry,
checked by the strict config walker. :data:`EXPECTATIONS` maps ``check`` names to classes.
A Python scenario may add its own: any object with ``name``, ``describe()`` and
``check(record) -> list[Failure]``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol

import attrs

from ..emergency import ExitCode
from ..errors import InvalidSpec
from ..exchange.orders import Side
from ..market_messages import BookTrustChanged
from ..messages import MESSAGE_TYPES, ChildStarted, EmergencyTriggered, Message
from ..order_messages import (
    DenyReason,
    EmergencyCancelFinished,
    OrderDenied,
    OrderFilled,
    SubmitOrder,
    TradingState,
    TradingStateChanged,
)
from ..sim.rest import PREFIX
from ..soak.invariants import balance_changes_from_fills
from .record import Failure, RunRecord

__all__ = [
    "EXPECTATIONS",
    "INVARIANTS",
    "BookRecovers",
    "Denials",
    "EmergencyOutcome",
    "EventCount",
    "ExitCodeIs",
    "Expectation",
    "FillsJournaledOnce",
    "FillsSeen",
    "NoDuplicateOrders",
    "NoOpenOrdersAtEnd",
    "NoOrdersBetween",
    "OrdersSubmitted",
    "PositionIs",
    "PositionsMatchVenue",
    "RequestsAnswered",
    "Restarts",
    "StateNever",
    "StateReached",
    "StopReasonIs",
]

_FOREVER = math.inf


class Expectation(Protocol):
    """Something that must be true of a run."""

    name: ClassVar[str]

    def describe(self) -> str: ...

    def check(self, record: RunRecord) -> list[Failure]: ...


def _window(after: float, before: float) -> str:
    if before == _FOREVER:
        return f"after t={after:g}" if after else "during the run"
    return f"between t={after:g} and t={before:g}"


def _check_window(instance: Any) -> None:
    if not instance.after <= instance.before:
        raise InvalidSpec(f"after ({instance.after}) must be <= before ({instance.before})")


def _non_negative_int(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise InvalidSpec(f"{attribute.name}: must be >= 0, got {value}")


def _in(at: float, after: float, before: float) -> bool:
    return after <= at <= before


# -- invariants ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NoDuplicateOrders:
    """The exchange holds at most one order per ``client_order_id``, and none the journal has
    no intent for. ``max_creates`` bounds how often one id may *reach* the exchange (a
    create whose answer was lost is legitimately sent again under the same id)."""

    name: ClassVar[str] = "no_duplicate_orders"
    max_creates: int | None = None

    def describe(self) -> str:
        return "one order per client_order_id at the exchange, each with a journaled intent"

    def check(self, record: RunRecord) -> list[Failure]:
        if not record.live:
            return []
        failures = []
        twice = {c: n for c, n in record.orders_per_client_order_id().items() if n > 1}
        if twice:
            failures.append(Failure(check=self.name, message=f"placed more than once: {twice}"))
        intents = {m.client_order_id for m in record.messages(SubmitOrder)}
        strangers = sorted(set(record.orders_per_client_order_id()) - intents)
        if strangers:
            failures.append(
                Failure(check=self.name, message=f"orders with no journaled intent: {strangers}")
            )
        if self.max_creates is not None:
            over = {c: n for c, n in record.sim.create_requests.items() if n > self.max_creates}
            if over:
                failures.append(
                    Failure(
                        check=self.name,
                        message=f"creates per client_order_id above {self.max_creates}: {over}",
                    )
                )
        return failures


@attrs.frozen(kw_only=True)
class FillsJournaledOnce:
    """Every fill the exchange made for us is journaled exactly once, with the exchange's
    order, side, price, size and fee; the journal has no fill the exchange never made.
    (Paper: no ``trade_id`` is journaled twice.)"""

    name: ClassVar[str] = "fills_journaled_once"

    def describe(self) -> str:
        return "every exchange fill journaled exactly once, as the exchange recorded it"

    def check(self, record: RunRecord) -> list[Failure]:
        journaled = list(record.of(OrderFilled))
        times = Counter(f.trade_id for _, f in journaled)
        failures = []
        twice = sorted(t for t, n in times.items() if n > 1)
        if twice:
            at = next(t for t, f in journaled if f.trade_id == twice[0])
            failures.append(
                Failure(check=self.name, message=f"fills journaled twice: {twice}", at=at)
            )
        if not record.live:
            return failures
        truth = record.venue_fills()
        missing = sorted(set(truth) - set(times))
        if missing:
            failures.append(
                Failure(check=self.name, message=f"exchange fills never journaled: {missing}")
            )
        for at, fill in journaled:
            real = truth.get(fill.trade_id)
            if real is None:
                failures.append(
                    Failure(
                        check=self.name,
                        message=f"journaled fill {fill.trade_id} was never made by the exchange",
                        at=at,
                    )
                )
                continue
            ours = (fill.order_id, fill.side.value, fill.price, fill.size, fill.fee)
            theirs = (real.order_id, real.side.value, real.price, real.size, real.commission)
            if ours != theirs:
                failures.append(
                    Failure(
                        check=self.name,
                        message=f"fill {fill.trade_id}: journal {ours} != exchange {theirs}",
                        at=at,
                    )
                )
        return failures


@attrs.frozen(kw_only=True)
class PositionsMatchVenue:
    """Positions and cash rebuilt from the journal's fills equal our balance changes at the
    exchange, per currency, to the last unit."""

    name: ClassVar[str] = "positions_match_venue"

    def describe(self) -> str:
        return "positions and cash from the journal equal the exchange's balance changes"

    def check(self, record: RunRecord) -> list[Failure]:
        if not record.live:
            return []
        fills = list(record.messages(OrderFilled))
        # The soak's arithmetic, so the two tools cannot disagree on what a fill moves.
        pairs = {f.product_id: _base_and_quote(f.product_id) for f in fills}
        change = defaultdict(Decimal, balance_changes_from_fills(fills, pairs))
        currencies = set(change) | set(record.sim.config.balances)
        failures = []
        for currency in sorted(currencies):
            venue = record.balance_change(currency)
            if change[currency] != venue:
                failures.append(
                    Failure(
                        check=self.name,
                        message=(
                            f"{currency}: the journal's fills say {change[currency]:+f}, "
                            f"the exchange's balance moved {venue:+f}"
                        ),
                    )
                )
        return failures


@attrs.frozen(kw_only=True)
class NoOpenOrdersAtEnd:
    """After the stop's cleanup, no order of ours is open at the exchange (paper: none
    working in the journal), unless the scenario expects the emergency cut short."""

    name: ClassVar[str] = "no_open_orders_at_end"

    def describe(self) -> str:
        return "no order of ours open after the stop"

    def check(self, record: RunRecord) -> list[Failure]:
        if record.live:
            still_open = sorted(
                o.client_order_id
                for o in record.venue_orders()
                if o.status.value in ("OPEN", "PENDING")
            )
        else:
            still_open = sorted(
                coid
                for coid, row in record.orders_table.items()
                if row.get("state") in ("SUBMITTED", "OPEN", "CANCEL_PENDING", "UNKNOWN")
            )
        if still_open:
            return [
                Failure(
                    check=self.name,
                    message=f"open after the stop: {still_open}",
                    at=record.ended_at,
                )
            ]
        return []


INVARIANTS: tuple[Expectation, ...] = (
    NoDuplicateOrders(),
    FillsJournaledOnce(),
    PositionsMatchVenue(),
    NoOpenOrdersAtEnd(),
)
"""Checked in every scenario, after its own expectations."""


# -- trading state --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StateReached:
    """Risk enters ``state`` (with ``reason``, if given) at a time in [after, before]."""

    name: ClassVar[str] = "trading_state"
    state: TradingState = attrs.field(converter=TradingState)
    after: float = 0.0
    before: float = _FOREVER
    reason: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"trading state {self.state.value}{why} {_window(self.after, self.before)}"

    def check(self, record: RunRecord) -> list[Failure]:
        changes = record.of(TradingStateChanged)
        for at, change in changes:
            in_window = change.state is self.state and _in(at, self.after, self.before)
            if in_window and (self.reason is None or change.reason == self.reason):
                return []
        seen = ", ".join(f"{c.state.value}/{c.reason}@{at:g}" for at, c in changes) or "none"
        deadline = self.before if self.before != _FOREVER else record.ended_at
        return [
            Failure(
                check=self.name,
                message=f"expected {self.describe()}; state changes: {seen}",
                at=deadline,
            )
        ]


@attrs.frozen(kw_only=True)
class StateNever:
    """Risk never enters ``state`` in [after, before]."""

    name: ClassVar[str] = "trading_state_never"
    state: TradingState = attrs.field(converter=TradingState)
    after: float = 0.0
    before: float = _FOREVER

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        return f"never {self.state.value} {_window(self.after, self.before)}"

    def check(self, record: RunRecord) -> list[Failure]:
        for at, change in record.of(TradingStateChanged):
            if change.state is self.state and _in(at, self.after, self.before):
                return [
                    Failure(
                        check=self.name,
                        message=f"entered {self.state.value} ({change.reason}: {change.detail})",
                        at=at,
                    )
                ]
        return []


# -- orders, fills, denials -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OrdersSubmitted:
    """Risk approved and the executor journaled between ``at_least`` and ``at_most`` new
    orders in [after, before]: "trading went on", or "nothing traded"."""

    name: ClassVar[str] = "orders"
    at_least: int = attrs.field(default=1, validator=_non_negative_int)
    at_most: int | None = None
    after: float = 0.0
    before: float = _FOREVER

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        most = f" and at most {self.at_most}" if self.at_most is not None else ""
        return f"at least {self.at_least}{most} orders {_window(self.after, self.before)}"

    def check(self, record: RunRecord) -> list[Failure]:
        times = [at for at, _ in record.of(SubmitOrder) if _in(at, self.after, self.before)]
        return _count_failures(self, len(times), times, record)


@attrs.frozen(kw_only=True)
class NoOrdersBetween:
    """No create reached the exchange in [after, before] (live), and the executor journaled no
    new order there (both modes): what "no trading while the exchange was down" means."""

    name: ClassVar[str] = "no_orders_between"
    after: float
    before: float

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        return f"no order {_window(self.after, self.before)}"

    def check(self, record: RunRecord) -> list[Failure]:
        failures = []
        for at, intent in record.of(SubmitOrder):
            if _in(at, self.after, self.before):
                failures.append(
                    Failure(
                        check=self.name,
                        message=f"order {intent.client_order_id} journaled at t={at:g}",
                        at=at,
                    )
                )
                break
        for request in record.requests:
            is_create = request.method == "POST" and request.path.endswith("/orders")
            if is_create and _in(request.at, self.after, self.before):
                failures.append(
                    Failure(
                        check=self.name,
                        message=(
                            f"create {request.client_order_id} reached the exchange "
                            f"at t={request.at:g}"
                        ),
                        at=request.at,
                    )
                )
                break
        return failures


@attrs.frozen(kw_only=True)
class FillsSeen:
    """Between ``at_least`` and ``at_most`` fills journaled in [after, before]."""

    name: ClassVar[str] = "fills"
    at_least: int = attrs.field(default=1, validator=_non_negative_int)
    at_most: int | None = None
    after: float = 0.0
    before: float = _FOREVER

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        most = f" and at most {self.at_most}" if self.at_most is not None else ""
        return f"at least {self.at_least}{most} fills {_window(self.after, self.before)}"

    def check(self, record: RunRecord) -> list[Failure]:
        times = [at for at, _ in record.of(OrderFilled) if _in(at, self.after, self.before)]
        return _count_failures(self, len(times), times, record)


@attrs.frozen(kw_only=True)
class Denials:
    """Risk (or the executor) denied between ``at_least`` and ``at_most`` intents for
    ``reason`` in [after, before]."""

    name: ClassVar[str] = "denials"
    reason: DenyReason = attrs.field(converter=DenyReason)
    at_least: int = attrs.field(default=1, validator=_non_negative_int)
    at_most: int | None = None
    after: float = 0.0
    before: float = _FOREVER

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        most = f" and at most {self.at_most}" if self.at_most is not None else ""
        return (
            f"at least {self.at_least}{most} denials {self.reason.value} "
            f"{_window(self.after, self.before)}"
        )

    def check(self, record: RunRecord) -> list[Failure]:
        times = [
            at
            for at, denial in record.of(OrderDenied)
            if denial.reason is self.reason and _in(at, self.after, self.before)
        ]
        return _count_failures(self, len(times), times, record)


@attrs.frozen(kw_only=True)
class RequestsAnswered:
    """Between ``at_least`` and ``at_most`` REST requests under ``path`` (relative to
    ``/api/v3/brokerage``; "" for all) with ``method`` (any if "") were answered with
    ``status`` in [after, before]; ``status = 0`` counts requests never answered (a lost
    response, a hang). The exchange's side: proof a fault was really served, or that the
    client backed off (few requests met a storm)."""

    name: ClassVar[str] = "requests"
    status: int
    path: str = ""
    method: str = ""
    at_least: int = attrs.field(default=1, validator=_non_negative_int)
    at_most: int | None = None
    after: float = 0.0
    before: float = _FOREVER

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        most = f" and at most {self.at_most}" if self.at_most is not None else ""
        answer = "never answered" if self.status == 0 else f"answered {self.status}"
        what = f"{self.method or 'any'} {PREFIX}{self.path or '/*'}"
        return (
            f"at least {self.at_least}{most} requests {what} {answer} "
            f"{_window(self.after, self.before)}"
        )

    def check(self, record: RunRecord) -> list[Failure]:
        wanted = None if self.status == 0 else self.status
        times = [
            r.at
            for r in record.requests
            if r.status == wanted
            and r.path.startswith(PREFIX + self.path)
            and (not self.method or r.method == self.method)
            and _in(r.at, self.after, self.before)
        ]
        return _count_failures(self, len(times), times, record)


@attrs.frozen(kw_only=True)
class PositionIs:
    """At the end, the position in ``product`` from the journal's fills is ``size`` (base
    units, signed): ``0`` after a flatten. (Live scenarios also check it against the
    exchange's balances: the ``positions_match_venue`` invariant.)"""

    name: ClassVar[str] = "position"
    product: str
    size: Decimal = Decimal(0)

    def describe(self) -> str:
        return f"{self.product} position {self.size:f} at the end"

    def check(self, record: RunRecord) -> list[Failure]:
        position = sum(
            (
                f.size if f.side is Side.BUY else -f.size
                for f in record.messages(OrderFilled)
                if f.product_id == self.product
            ),
            start=Decimal(0),
        )
        if position == self.size:
            return []
        return [
            Failure(
                check=self.name,
                message=f"{self.product} position {position:f}, expected {self.size:f}",
                at=record.ended_at,
            )
        ]


# -- the market data -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BookRecovers:
    """After ``after``, each product's book (or ``product``'s) loses trust (if
    ``must_lose_trust``: the fault really bit) and is trusted again within ``within`` seconds
    of losing it."""

    name: ClassVar[str] = "book_recovers"
    after: float
    within: float = attrs.field()
    product: str | None = None
    must_lose_trust: bool = True

    @within.validator
    def _positive(self, _attribute: attrs.Attribute[float], value: float) -> None:
        if not value > 0:
            raise InvalidSpec(f"within: must be > 0 seconds, got {value}")

    def describe(self) -> str:
        which = self.product or "every book"
        return (
            f"{which} trusted again within {self.within:g} s of losing trust after t={self.after:g}"
        )

    def check(self, record: RunRecord) -> list[Failure]:
        changes = [
            (at, change)
            for at, change in record.of(BookTrustChanged)
            if at >= self.after and (self.product is None or change.product_id == self.product)
        ]
        products = (
            [self.product]
            if self.product is not None
            else sorted({c.product_id for _, c in record.of(BookTrustChanged)})
        )
        if not products:
            return [Failure(check=self.name, message="no book ever reported its trust")]
        failures = []
        for product in products:
            mine = [(at, c) for at, c in changes if c.product_id == product]
            lost = next(((at, c) for at, c in mine if not c.trusted), None)
            if lost is None:
                if self.must_lose_trust:
                    failures.append(
                        Failure(
                            check=self.name,
                            message=f"{product}: the book never lost trust after t={self.after:g} "
                            "(did the fault bite?)",
                            at=self.after,
                        )
                    )
                continue
            lost_at, why = lost
            after_loss = mine[mine.index(lost) + 1 :]  # journal order, not just time
            back = next((at for at, c in after_loss if c.trusted), None)
            if back is None or back - lost_at > self.within:
                when = "never" if back is None else f"after {back - lost_at:g} s"
                failures.append(
                    Failure(
                        check=self.name,
                        message=(
                            f"{product}: untrusted at t={lost_at:g} ({why.reason}), trusted "
                            f"again {when} (limit {self.within:g} s)"
                        ),
                        at=lost_at + self.within,
                    )
                )
        return failures


# -- supervision and the stop ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Restarts:
    """``actor`` was restarted between ``at_least`` and ``at_most`` times."""

    name: ClassVar[str] = "restarts"
    actor: str
    at_least: int = attrs.field(default=0, validator=_non_negative_int)
    at_most: int | None = None

    def describe(self) -> str:
        most = f", at most {self.at_most}" if self.at_most is not None else ""
        return f"{self.actor} restarted at least {self.at_least}{most} times"

    def check(self, record: RunRecord) -> list[Failure]:
        starts = [at for at, s in record.of(ChildStarted) if s.child == self.actor]
        restarts = max(0, len(starts) - 1)
        return _count_failures(self, restarts, starts[1:], record)


@attrs.frozen(kw_only=True)
class ExitCodeIs:
    """The run's exit code (``OK``, ``EMERGENCY``, ``CLEANUP_INCOMPLETE``...)."""

    name: ClassVar[str] = "exit_code"
    code: Literal["OK", "CRASHED", "EMERGENCY", "CLEANUP_INCOMPLETE", "TREE_STUCK"]

    def describe(self) -> str:
        return f"exit code {self.code} ({ExitCode[self.code].value})"

    def check(self, record: RunRecord) -> list[Failure]:
        if record.outcome is None:
            return [
                Failure(check=self.name, message=f"the tree never ran ({record.startup_error})")
            ]
        if record.outcome.exit_code is ExitCode[self.code]:
            return []
        return [
            Failure(
                check=self.name,
                message=(
                    f"exit code {record.outcome.exit_code.name}, expected {self.code} "
                    f"(stop: {record.outcome.reason.value}: {record.outcome.detail})"
                ),
                at=record.ended_at,
            )
        ]


@attrs.frozen(kw_only=True)
class StopReasonIs:
    """Why the root stopped the tree (``operator``, ``kill_switch``,
    ``supervisor_gave_up``, ``venue_fatal``...), at a time in [after, before]."""

    name: ClassVar[str] = "stop_reason"
    reason: Literal[
        "finished",
        "signal",
        "operator",
        "kill_switch",
        "supervisor_gave_up",
        "venue_fatal",
        "crashed",
    ]
    after: float = 0.0
    before: float = _FOREVER

    def __attrs_post_init__(self) -> None:
        _check_window(self)

    def describe(self) -> str:
        return f"stopped for {self.reason} {_window(self.after, self.before)}"

    def check(self, record: RunRecord) -> list[Failure]:
        if record.outcome is None:
            return [
                Failure(check=self.name, message=f"the tree never ran ({record.startup_error})")
            ]
        triggered = record.of(EmergencyTriggered)
        at = triggered[0][0] if triggered else record.ended_at
        if record.outcome.reason.value == self.reason and _in(at, self.after, self.before):
            return []
        return [
            Failure(
                check=self.name,
                message=(
                    f"stopped for {record.outcome.reason.value} at t={at:g} "
                    f"({record.outcome.detail}); expected {self.describe()}"
                ),
                at=at,
            )
        ]


@attrs.frozen(kw_only=True)
class EmergencyOutcome:
    """The stop's cancel-all step: ``completed`` (False: cut short, e.g. the key is gone),
    and at least ``min_open_before`` orders were working when it began."""

    name: ClassVar[str] = "emergency"
    completed: bool = True
    min_open_before: int = attrs.field(default=0, validator=_non_negative_int)

    def describe(self) -> str:
        how = "completed" if self.completed else "cut short"
        return f"the emergency cancel-all {how} (>= {self.min_open_before} open before)"

    def check(self, record: RunRecord) -> list[Failure]:
        finished = record.of(EmergencyCancelFinished)
        if not finished:
            return [Failure(check=self.name, message="no emergency cancel-all was journaled")]
        at, step = finished[-1]
        problems = []
        if step.completed is not self.completed:
            problems.append(f"completed={step.completed}")
        if step.open_before < self.min_open_before:
            problems.append(f"only {step.open_before} orders were open before it")
        if self.completed and step.remaining:
            problems.append(f"{step.remaining} remaining: {list(step.remaining_ids)}")
        if problems:
            return [Failure(check=self.name, message="; ".join(problems), at=at)]
        return []


# -- anything in the journal -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EventCount:
    """Between ``at_least`` and ``at_most`` journal events of ``type`` (a message class name)
    whose fields equal ``where`` (enum fields by value) in [after, before]."""

    name: ClassVar[str] = "event"
    type: str
    where: Mapping[str, Any] = attrs.Factory(dict)
    at_least: int = attrs.field(default=1, validator=_non_negative_int)
    at_most: int | None = None
    after: float = 0.0
    before: float = _FOREVER

    def __attrs_post_init__(self) -> None:
        _check_window(self)
        known = MESSAGE_TYPES  # complete: this module imports every message module
        if self.type not in known:
            raise InvalidSpec(
                f"type: {self.type!r} is not a journaled message type "
                f"(known: {', '.join(sorted(known))})"
            )
        fields = {f.name for f in attrs.fields(known[self.type])}
        unknown = sorted(set(self.where) - fields)
        if unknown:
            raise InvalidSpec(
                f"where: {self.type} has no field(s) {unknown} (it has {sorted(fields)})"
            )

    def describe(self) -> str:
        where = "".join(f" {k}={v}" for k, v in sorted(self.where.items()))
        most = f", at most {self.at_most}" if self.at_most is not None else ""
        return (
            f"at least {self.at_least}{most} {self.type}{where} {_window(self.after, self.before)}"
        )

    def _matches(self, message: Message) -> bool:
        if type(message).__name__ != self.type:
            return False
        for key, wanted in self.where.items():
            value = getattr(message, key)
            value = getattr(value, "value", value)
            if isinstance(wanted, bool) or isinstance(value, bool):
                if value is not wanted:
                    return False
            elif isinstance(value, Decimal) and isinstance(wanted, Decimal | int | str):
                if value != Decimal(str(wanted)):  # 0.10 is 0.1
                    return False
            elif str(value) != str(wanted):
                return False
        return True

    def check(self, record: RunRecord) -> list[Failure]:
        times = [
            e.at
            for e in record.events
            if _in(e.at, self.after, self.before) and self._matches(e.message)
        ]
        return _count_failures(self, len(times), times, record)


def _base_and_quote(product_id: str) -> tuple[str, str]:
    base, _, quote = product_id.partition("-")
    return base, quote


def _count_failures(
    expectation: Any, count: int, times: list[float], record: RunRecord
) -> list[Failure]:
    """Failures of an "at least / at most" count over a window."""
    if count < expectation.at_least:
        before = getattr(expectation, "before", _FOREVER)
        return [
            Failure(
                check=expectation.name,
                message=f"expected {expectation.describe()}; saw {count}",
                at=before if before != _FOREVER else record.ended_at,
            )
        ]
    if expectation.at_most is not None and count > expectation.at_most:
        return [
            Failure(
                check=expectation.name,
                message=f"expected {expectation.describe()}; saw {count}",
                at=times[expectation.at_most],
            )
        ]
    return []


EXPECTATIONS: dict[str, type[Expectation]] = {
    cls.name: cls
    for cls in (
        NoDuplicateOrders,
        FillsJournaledOnce,
        PositionsMatchVenue,
        NoOpenOrdersAtEnd,
        StateReached,
        StateNever,
        OrdersSubmitted,
        NoOrdersBetween,
        FillsSeen,
        Denials,
        RequestsAnswered,
        PositionIs,
        BookRecovers,
        Restarts,
        ExitCodeIs,
        StopReasonIs,
        EmergencyOutcome,
        EventCount,
    )
}
"""Every expectation a TOML ``[[expect]]`` may name, by its ``check`` value."""
