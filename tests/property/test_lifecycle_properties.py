"""Property tests of the order lifecycle under a hostile venue.

The venue's truth per order is a ledger of trades (sizes summing to at most the order size).
The machine delivers those trades in any order, any number of times, mixed with snapshots
of any status and any cumulative quantity, late or early ACKs, timeouts, rejections, cancels
racing fills, and rogue trades that would over-fill. Whatever happens, no fill counts twice,
the filled size is the sum of the distinct fills counted and never exceeds the order size,
the position is the sum of the signed fills, terminal states never change, and REJECTED is
only ever reached on the venue's explicit word.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import event as note_event
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cjt_actors.exchange.orders import Side
from cjt_actors.lifecycle import (
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    CancelRequested,
    Expired,
    Fill,
    LifecycleError,
    LookupNotFound,
    OrderEvent,
    OrderState,
    OutcomeUnknown,
    Position,
    Rejected,
    Submitted,
    TrackedOrder,
    VenueOrderState,
)

TICK = Decimal("0.01")
SIDES = (Side.BUY, Side.SELL)
STATUSES = (
    "PENDING",
    "OPEN",
    "QUEUED",
    "CANCEL_QUEUED",
    "FILLED",
    "CANCELLED",
    "EXPIRED",
    "FAILED",
    "UNKNOWN_ORDER_STATUS",
)
CANCEL_FAILURES = ("ORDER_IS_FULLY_FILLED", "UNKNOWN_CANCEL_ORDER", "DUPLICATE_CANCEL_REQUEST")
SIMPLE_EVENTS: tuple[OrderEvent, ...] = (
    Submitted(),
    Rejected(reason="INSUFFICIENT_FUND"),
    OutcomeUnknown(reason="ReadTimeout"),
    LookupNotFound(),
    CancelRequested(),
    CancelAcknowledged(),
    Expired(),
    *(CancelFailed(reason=reason) for reason in CANCEL_FAILURES),
)


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[int, list[int]]:
    """An order size in ticks and the venue's trades (in ticks) summing to at most it."""
    size = draw(st.integers(1, 400))
    parts: list[int] = []
    left = draw(st.integers(0, size))
    while left:
        part = draw(st.integers(1, left))
        parts.append(part)
        left -= part
    return size, parts


def facts(order: TrackedOrder) -> tuple[Any, ...]:
    """Everything apply may change, copied (so a later mutation shows as a difference)."""
    return (
        order.state,
        order.order_id,
        order.filled_size,
        order.filled_notional,
        order.fees,
        order.venue_cumulative_quantity,
        frozenset(order.trade_ids),
        tuple(order.history),
        order.submit_attempts,
        order.needs_lookup,
        order.last_reason,
    )


class HostileVenue(RuleBasedStateMachine):
    """Two orders (a buy and a sell) on one product, driven by random venue events."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: list[TrackedOrder] = []
        self.ledgers: list[list[Decimal]] = []
        self.counted: list[dict[str, Decimal]] = []
        self.terminal_state: list[OrderState | None] = []
        self.max_cumulative: list[Decimal] = []
        self.first_order_id: list[str] = []
        self.position = Position(product_id="BTC-USD")
        self.signed_sum = Decimal(0)
        self.rogues = 0

    @initialize(first=ledgers(), second=ledgers())
    def place(self, first: tuple[int, list[int]], second: tuple[int, list[int]]) -> None:
        for index, (size, parts) in enumerate((first, second)):
            self.orders.append(
                TrackedOrder(
                    client_order_id=f"cid-{index}",
                    product_id="BTC-USD",
                    side=SIDES[index],
                    size=size * TICK,
                    limit_price=Decimal(100),
                )
            )
            self.ledgers.append([part * TICK for part in parts])
            self.counted.append({})
            self.terminal_state.append(None)
            self.max_cumulative.append(Decimal(0))
            self.first_order_id.append("")

    # -- driving --------------------------------------------------------------------------

    def deliver(self, index: int, event: OrderEvent) -> None:
        order = self.orders[index]
        before = facts(order)
        try:
            result = order.apply(event)
        except LifecycleError as error:
            note_event(f"refused: {type(error).__name__}")
            assert facts(order) == before, "a refused event must change nothing"
            return
        if not result.absorbed:
            note_event(f"moved {result.before.value} -> {result.after.value}")
        if result.after is OrderState.REJECTED and result.before is not OrderState.REJECTED:
            explicit = isinstance(event, Rejected) or (
                isinstance(event, VenueOrderState) and event.status == "FAILED"
            )
            assert explicit, f"{result.before} -> REJECTED on {event!r}"
        if result.new_fill is not None:
            fill = result.new_fill
            assert fill.trade_id not in self.counted[index], "a fill counted twice"
            self.counted[index][fill.trade_id] = fill.size
            self.position.apply(order.side, fill)
            self.signed_sum += fill.size if order.side is Side.BUY else -fill.size
        else:
            assert not isinstance(event, Fill) or event.trade_id in self.counted[index]

    @rule(index=st.integers(0, 1), pick=st.integers(0, 50), price=st.integers(90, 110))
    def venue_trade(self, index: int, pick: int, price: int) -> None:
        """Deliver one of the venue's trades (again, perhaps): user channel, poll or replay."""
        ledger = self.ledgers[index]
        if ledger:
            which = pick % len(ledger)
            fill = Fill(
                trade_id=f"t{index}-{which}",
                price=Decimal(price),
                size=ledger[which],
                fee=Decimal("0.01"),
            )
            self.deliver(index, fill)

    @rule(index=st.integers(0, 1), ticks=st.integers(1, 400))
    def rogue_trade(self, index: int, ticks: int) -> None:
        """A trade the ledger does not have: counted if it fits, an OverFill if it does not."""
        self.rogues += 1
        self.deliver(
            index, Fill(trade_id=f"rogue-{self.rogues}", price=Decimal(100), size=ticks * TICK)
        )

    @rule(
        index=st.integers(0, 1),
        status=st.sampled_from(STATUSES),
        prefix=st.integers(0, 50),
        conflicting=st.booleans(),
        from_lookup=st.booleans(),
    )
    def venue_snapshot(
        self, index: int, status: str, prefix: int, conflicting: bool, from_lookup: bool
    ) -> None:
        """A snapshot of any status, reporting any point of the ledger (late, out of order)."""
        ledger = self.ledgers[index]
        cumulative = sum(ledger[: prefix % (len(ledger) + 1)], Decimal(0))
        order_id = "oid-other" if conflicting else f"oid-{index}"
        self.deliver(
            index,
            VenueOrderState(
                status=status,
                cumulative_quantity=cumulative,
                leaves_quantity=self.orders[index].size - cumulative,
                order_id=order_id,
                from_lookup=from_lookup,
            ),
        )

    @rule(index=st.integers(0, 1), event=st.sampled_from(SIMPLE_EVENTS))
    def request_or_answer(self, index: int, event: OrderEvent) -> None:
        """Our own requests and the venue's answers to them, in any order, any number of times."""
        self.deliver(index, event)

    @rule(index=st.integers(0, 1))
    def submit(self, index: int) -> None:
        """The create request leaves (or is re-sent with the same id)."""
        self.deliver(index, Submitted())

    @rule(index=st.integers(0, 1))
    def time_out(self, index: int) -> None:
        """The create gets no usable answer: the outcome is unknown."""
        self.deliver(index, OutcomeUnknown(reason="ReadTimeout"))

    @rule(index=st.integers(0, 1))
    def look_up_and_miss(self, index: int) -> None:
        """A lookup by client_order_id finds nothing."""
        self.deliver(index, LookupNotFound())

    @rule(index=st.integers(0, 1))
    def ack(self, index: int) -> None:
        """An ACK, possibly late (after fills) or duplicated."""
        self.deliver(index, Accepted(order_id=f"oid-{index}"))

    # -- what must always hold ------------------------------------------------------------

    @invariant()
    def fills_are_counted_once_and_never_past_the_size(self) -> None:
        for order, counted in zip(self.orders, self.counted, strict=True):
            assert order.filled_size == sum(counted.values(), Decimal(0))
            assert order.filled_size <= order.size
            assert order.trade_ids == set(counted)

    @invariant()
    def an_unknown_order_always_asks_for_a_lookup(self) -> None:
        for order in self.orders:
            if order.state is OrderState.UNKNOWN:
                assert order.needs_lookup
            if order.state.terminal:
                assert not order.needs_lookup

    @invariant()
    def position_is_the_sum_of_signed_fills(self) -> None:
        assert self.position.quantity == self.signed_sum
        assert self.position.fill_count == sum(len(c) for c in self.counted)

    @invariant()
    def terminal_states_absorb(self) -> None:
        for index, order in enumerate(self.orders):
            seen = self.terminal_state[index]
            if seen is not None:
                assert order.state is seen, f"left terminal {seen} for {order.state}"
            elif order.state.terminal:
                self.terminal_state[index] = order.state

    @invariant()
    def cumulative_never_goes_backwards_and_ids_never_change(self) -> None:
        for index, order in enumerate(self.orders):
            assert order.venue_cumulative_quantity >= self.max_cumulative[index]
            self.max_cumulative[index] = order.venue_cumulative_quantity
            assert order.client_order_id == f"cid-{index}"
            if self.first_order_id[index]:
                assert order.order_id == self.first_order_id[index], "venue id reassigned"
            self.first_order_id[index] = order.order_id


TestHostileVenue = HostileVenue.TestCase


@given(
    ledger=ledgers(),
    order=st.randoms(use_true_random=False),
    repeats=st.lists(st.integers(0, 50), max_size=30),
)
def test_any_replay_of_the_venue_trades_counts_each_exactly_once(
    ledger: tuple[int, list[int]], order: Any, repeats: list[int]
) -> None:
    """Fills shuffled and replayed (reconnects, polling) add up to exactly the venue's trades."""
    size, parts = ledger
    fills = [
        Fill(trade_id=f"t{i}", price=Decimal(100 + i), size=part * TICK)
        for i, part in enumerate(parts)
    ]
    deliveries = fills + [fills[r % len(fills)] for r in repeats if fills]
    order.shuffle(deliveries)
    tracked = TrackedOrder(client_order_id="c", product_id="p", side=Side.SELL, size=size * TICK)
    tracked.apply(Submitted())
    position = Position(product_id="p")
    for fill in deliveries:
        result = tracked.apply(fill)
        if result.new_fill is not None:
            position.apply(tracked.side, result.new_fill)
    total = sum(parts) * TICK
    assert tracked.filled_size == total
    assert position.quantity == -total
    assert position.fill_count == len(fills)
    assert (tracked.state is OrderState.FILLED) == (total == size * TICK)
