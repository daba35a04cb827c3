"""The soak's invariants: what must hold whatever the faults, checked against the venue's
own records, never against what the stack believes.

Each check is a pure function of plain records (the simulator's orders and fills as
:class:`SimOrder` and :class:`SimFill`, the journal's as its messages) returning
:class:`Finding` values, so each one is unit-tested on crafted data; the runner gathers the
records and stamps findings with the time into :class:`Violation`.

While the stack runs (every second), against the simulator:

* no ``client_order_id`` has more than one order there (:func:`check_orders`);
* every order of ours there has a journaled intent: the executor journals the intent before
  the request leaves, so reading the simulator *first* and the journal *second* can never
  see an order whose intent is not yet readable;
* every journaled fill is a simulator fill of ours with the same order, side, price, size
  and fee, journaled once (:func:`check_fills`): the journal is read *before* the
  simulator's fills, so the simulator has seen every fill the journal has;
* no order is filled beyond its intent's size and no fill lacks an intent
  (:func:`check_fill_intents`);
* risk's positions agree with the journal's fills once the fills stop changing
  (:class:`RiskAgreement`).

At the end, after the root's emergency cancel-all: the journal's fills equal the
simulator's, each exactly once (``complete=True``); no order of ours is open there
(:func:`check_nothing_open`); the journal's order rows agree with the simulator on each
order's id, filled size and end (:func:`check_order_rows`); positions and cash rebuilt from
the journal's fills equal the simulator's balance changes (:func:`check_balances`); the
emergency step ran once and left nothing (:func:`check_emergency`).

On the paper venue the simulator never sees an order: the paper venue's own counters stand
in for its records (:func:`check_paper_totals`), with the journal's consistency, risk's
agreement, the emergency step and the venue's open orders checked as above.

Unsafe findings (:data:`UNSAFE`: an order placed twice, an order nobody intended) mean the
stack is placing orders it cannot account for: the soak stops early on them. Every other
finding is recorded and the soak goes on, to collect more.
"""

from __future__ import annotations

import collections
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ..errors import InvalidSpec
from ..exchange.orders import Side
from ..order_messages import EmergencyCancelFinished, OrderFilled, SubmitOrder

__all__ = [
    "UNSAFE",
    "Finding",
    "RiskAgreement",
    "SimFill",
    "SimOrder",
    "Violation",
    "ViolationLog",
    "balance_changes_from_fills",
    "check_balances",
    "check_emergency",
    "check_fill_intents",
    "check_fills",
    "check_nothing_open",
    "check_order_rows",
    "check_orders",
    "check_paper_totals",
]

#: Checks whose failure stops the soak: the stack places orders it cannot account for.
UNSAFE = frozenset({"duplicate_order", "order_without_intent"})

#: Simulator order statuses that are still working.
_OPEN = frozenset({"OPEN", "PENDING"})


@attrs.frozen(kw_only=True)
class SimOrder:
    """One of our orders as the venue records it."""

    client_order_id: str
    order_id: str
    status: str  #: the wire status: OPEN, PENDING, FILLED, CANCELLED, EXPIRED, FAILED
    filled_size: Decimal

    @property
    def open(self) -> bool:
        return self.status in _OPEN


@attrs.frozen(kw_only=True)
class SimFill:
    """One of our fills as the venue records it. ``fee`` is its commission."""

    trade_id: str
    order_id: str
    product_id: str
    side: str  #: BUY or SELL
    price: Decimal
    size: Decimal
    fee: Decimal


@attrs.frozen(kw_only=True)
class Finding:
    """A broken invariant: which ``check``, about what (``subject``: an order, a trade, a
    product; findings are counted once per check and subject), and the details."""

    check: str
    subject: str
    detail: str


@attrs.frozen(kw_only=True)
class Violation:
    """A finding, stamped with the seconds since the soak's start when it was first seen."""

    at: float
    check: str
    subject: str
    detail: str

    @classmethod
    def of(cls, finding: Finding, at: float) -> Violation:
        return cls(at=at, check=finding.check, subject=finding.subject, detail=finding.detail)


class ViolationLog:
    """The violations of one soak, each (check, subject) once: a duplicate order seen every
    second for an hour is one violation, stamped when it was first seen."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self._seen: set[tuple[str, str]] = set()

    def record(self, findings: Iterable[Finding], at: float) -> list[Violation]:
        """Record the findings not seen before, at ``at``; return them."""
        new: list[Violation] = []
        for finding in findings:
            key = (finding.check, finding.subject)
            if key not in self._seen:
                self._seen.add(key)
                new.append(Violation.of(finding, at))
        self.violations += new
        return new


def check_orders(orders: Sequence[SimOrder], intents: Collection[str]) -> list[Finding]:
    """One order per ``client_order_id`` at the venue, and an intent for each."""
    findings: list[Finding] = []
    per_id = collections.Counter(o.client_order_id for o in orders)
    for coid, count in sorted(per_id.items()):
        if count > 1:
            ids = sorted(o.order_id for o in orders if o.client_order_id == coid)
            findings.append(
                Finding(
                    check="duplicate_order",
                    subject=coid,
                    detail=f"{count} orders at the venue for one client_order_id: {ids}",
                )
            )
        if coid not in intents:
            findings.append(
                Finding(
                    check="order_without_intent",
                    subject=coid,
                    detail="an order at the venue with no journaled intent",
                )
            )
    return findings


def check_fills(
    journaled: Mapping[str, Sequence[OrderFilled]],
    venue: Mapping[str, SimFill],
    *,
    complete: bool,
) -> list[Finding]:
    """Every journaled fill is a venue fill of ours, identical, journaled once; with
    ``complete`` (the end), every venue fill of ours is journaled too."""
    findings: list[Finding] = []
    for trade_id, fills in sorted(journaled.items()):
        if len(fills) > 1:
            findings.append(
                Finding(
                    check="fill_twice",
                    subject=trade_id,
                    detail=f"journaled {len(fills)} times",
                )
            )
        real = venue.get(trade_id)
        if real is None:
            findings.append(
                Finding(
                    check="fill_unknown_to_venue",
                    subject=trade_id,
                    detail=f"journaled ({_fill_text(fills[0])}), but no such fill of ours "
                    "at the venue",
                )
            )
            continue
        mine = fills[0]
        if (mine.order_id, mine.side.value, mine.price, mine.size, mine.fee) != (
            real.order_id,
            real.side,
            real.price,
            real.size,
            real.fee,
        ):
            findings.append(
                Finding(
                    check="fill_mismatch",
                    subject=trade_id,
                    detail=f"journal {_fill_text(mine)}; venue {real.side} {real.size} "
                    f"@ {real.price} fee {real.fee} order {real.order_id}",
                )
            )
    if complete:
        for trade_id in sorted(set(venue) - set(journaled)):
            real = venue[trade_id]
            findings.append(
                Finding(
                    check="fill_missing",
                    subject=trade_id,
                    detail=f"the venue's fill {real.side} {real.size} @ {real.price} "
                    f"of order {real.order_id} was never journaled",
                )
            )
    return findings


def _fill_text(fill: OrderFilled) -> str:
    return (
        f"{fill.side.value} {fill.size} @ {fill.price} fee {fill.fee} "
        f"order {fill.order_id} ({fill.client_order_id})"
    )


def check_fill_intents(
    fills: Iterable[OrderFilled], intents: Mapping[str, SubmitOrder]
) -> list[Finding]:
    """Each fill (one per trade id) belongs to a journaled intent and no order is filled
    beyond its intent's size."""
    findings: list[Finding] = []
    filled: dict[str, Decimal] = {}
    for fill in fills:
        coid = fill.client_order_id
        if coid not in intents:
            findings.append(
                Finding(
                    check="fill_without_intent",
                    subject=fill.trade_id,
                    detail=f"a fill of {coid!r}, which has no journaled intent",
                )
            )
            continue
        filled[coid] = filled.get(coid, Decimal(0)) + fill.size
    for coid, size in sorted(filled.items()):
        if size > intents[coid].size:
            findings.append(
                Finding(
                    check="overfilled",
                    subject=coid,
                    detail=f"fills total {size}, the intent's size is {intents[coid].size}",
                )
            )
    return findings


def check_nothing_open(orders: Iterable[SimOrder]) -> list[Finding]:
    """No order of ours still working at the venue (after the emergency step)."""
    return [
        Finding(
            check="open_after_stop",
            subject=order.client_order_id,
            detail=f"order {order.order_id} is {order.status} at the venue after the stop",
        )
        for order in orders
        if order.open
    ]


def check_order_rows(
    rows: Mapping[str, Mapping[str, Any]], orders: Iterable[SimOrder]
) -> list[Finding]:
    """The journal's latest row of each venue order has its id, filled size and status."""
    findings: list[Finding] = []
    for order in orders:
        row = rows.get(order.client_order_id)
        if row is None:
            findings.append(
                Finding(
                    check="order_row_missing",
                    subject=order.client_order_id,
                    detail=f"order {order.order_id} ({order.status}) has no journal row",
                )
            )
            continue
        mine = (row.get("order_id"), Decimal(str(row.get("filled_size", "0"))), row.get("state"))
        real = (order.order_id, order.filled_size, order.status)
        if mine != real:
            findings.append(
                Finding(
                    check="order_row_mismatch",
                    subject=order.client_order_id,
                    detail=f"journal (order_id, filled, state) = {_row_text(mine)}; "
                    f"venue {_row_text(real)}",
                )
            )
    return findings


def _row_text(values: tuple[object, Decimal, object]) -> str:
    order_id, filled, state = values
    return f"({order_id}, {filled}, {state})"


def balance_changes_from_fills(
    fills: Iterable[OrderFilled], currencies: Mapping[str, tuple[str, str]]
) -> dict[str, Decimal]:
    """Per currency, what the fills moved: base +size on a buy, -size on a sell; quote
    -(price * size) on a buy, +(price * size) on a sell, less the fee either way.
    ``currencies`` maps each product to its (base, quote)."""
    moved: dict[str, Decimal] = {}
    for fill in fills:
        base, quote = currencies[fill.product_id]
        notional = fill.price * fill.size
        buy = fill.side is Side.BUY
        moved[base] = moved.get(base, Decimal(0)) + (fill.size if buy else -fill.size)
        moved[quote] = moved.get(quote, Decimal(0)) + (-notional if buy else notional) - fill.fee
    return moved


def check_balances(
    fills: Iterable[OrderFilled],
    changes: Mapping[str, Decimal],
    currencies: Mapping[str, tuple[str, str]],
) -> list[Finding]:
    """Positions and cash rebuilt from the journal's fills equal the venue's balance
    ``changes`` (each currency's balance now less at the start)."""
    mine = balance_changes_from_fills(fills, currencies)
    findings: list[Finding] = []
    for currency in sorted(set(mine) | set(changes)):
        expected = changes.get(currency, Decimal(0))
        rebuilt = mine.get(currency, Decimal(0))
        if rebuilt != expected:
            findings.append(
                Finding(
                    check="balance_mismatch",
                    subject=currency,
                    detail=f"the journal's fills move {currency} by {rebuilt}, "
                    f"the venue's balance moved by {expected}",
                )
            )
    return findings


def check_emergency(finished: Sequence[EmergencyCancelFinished]) -> list[Finding]:
    """The emergency step ran once, completed, and left no order working."""
    if len(finished) != 1:
        return [
            Finding(
                check="emergency_step",
                subject="count",
                detail=f"the emergency step journaled {len(finished)} outcomes, not 1",
            )
        ]
    [outcome] = finished
    if outcome.completed and outcome.remaining == 0:
        return []
    return [
        Finding(
            check="emergency_step",
            subject="outcome",
            detail=f"completed={outcome.completed}, {outcome.remaining} order(s) remaining: "
            f"{list(outcome.remaining_ids)}",
        )
    ]


def check_paper_totals(
    fills: Sequence[OrderFilled],
    *,
    venue_fills: int,
    venue_filled_base: Decimal,
    venue_fees: Decimal,
    complete: bool,
) -> list[Finding]:
    """The journal's fills (one per trade id) against the paper venue's counters: never
    more fills than it made; with ``complete`` (the end), the same count, base and fees."""
    count = len(fills)
    if count > venue_fills:
        return [
            Finding(
                check="fill_unknown_to_venue",
                subject="paper",
                detail=f"{count} fills journaled, the paper venue made {venue_fills}",
            )
        ]
    if not complete:
        return []
    mine = (
        count,
        sum((f.size for f in fills), Decimal(0)),
        sum((f.fee for f in fills), Decimal(0)),
    )
    if mine == (venue_fills, venue_filled_base, venue_fees):
        return []
    return [
        Finding(
            check="fill_missing",
            subject="paper",
            detail=f"journal: {mine[0]} fills, {mine[1]} base, {mine[2]} fees; paper venue: "
            f"{venue_fills} fills, {venue_filled_base} base, {venue_fees} fees",
        )
    ]


class RiskAgreement:
    """Risk's positions against the journal's fills, once the fills have settled.

    Risk hears of a fill after the journal has it, and a restarting risk publishes nothing
    until it has recovered, so a difference right after a fill is expected. A difference is
    a finding only when the journal's fill count has not changed for more than ``settle``
    observations *and* risk has published its status since that last change (it is alive,
    and had time to take the fills in).
    """

    def __init__(self, settle: int = 3) -> None:
        if settle < 1:
            raise InvalidSpec(f"settle: must be >= 1, got {settle}")
        self._settle = settle
        self._fill_count = -1
        self._changed_at = 0.0
        self._steady = 0

    def observe(
        self,
        now: float,
        fill_count: int,
        journal: Mapping[str, Decimal],
        risk: Mapping[str, Decimal] | None,
        risk_at: float | None,
    ) -> list[Finding]:
        """One observation at ``now``: the journal's fill count and positions, risk's
        positions and when it published them (``None`` before risk has published)."""
        if fill_count != self._fill_count:
            self._fill_count = fill_count
            self._changed_at = now
            self._steady = 0
        self._steady += 1
        if risk is None or risk_at is None:
            return []
        if self._steady <= self._settle or risk_at <= self._changed_at:
            return []
        theirs = {product: size for product, size in risk.items() if size}
        mine = {product: size for product, size in journal.items() if size}
        return [
            Finding(
                check="risk_positions",
                subject=product,
                detail=f"risk holds {theirs.get(product, Decimal(0))}, the journal's fills "
                f"add up to {mine.get(product, Decimal(0))}",
            )
            for product in sorted(set(mine) | set(theirs))
            if mine.get(product) != theirs.get(product)
        ]
