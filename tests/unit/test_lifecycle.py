"""The order lifecycle: the transition table, idempotent fills, stale events, positions."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs
import pytest

from cjt_actors.errors import CjtError, InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.stream import UserOrder
from cjt_actors.lifecycle import (
    ABSORBED,
    HISTORY_LIMIT,
    TERMINAL_STATES,
    TRANSITIONS,
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    CancelRequested,
    ConflictingOrderId,
    EventKind,
    Expired,
    Fill,
    IllegalTransition,
    LifecycleError,
    LookupNotFound,
    OrderEvent,
    OrderState,
    OutcomeUnknown,
    OverFill,
    Position,
    Rejected,
    Submitted,
    TrackedOrder,
    VenueOrderState,
    derive_client_order_id,
)

D = Decimal
S = OrderState
K = EventKind

# -- helpers ---------------------------------------------------------------------------------


def new_order(state: OrderState = S.PENDING, *, size: str = "2") -> TrackedOrder:
    """A BTC-USD buy in ``state`` (set directly: the table tests start from every state)."""
    order = TrackedOrder(
        client_order_id="cid-1",
        product_id="BTC-USD",
        side=Side.BUY,
        size=D(size),
        limit_price=D("100"),
    )
    order.state = state
    return order


def fill(trade_id: str = "t1", size: str = "1", price: str = "100", fee: str = "0.1") -> Fill:
    return Fill(trade_id=trade_id, price=D(price), size=D(size), fee=D(fee))


def snapshot(status: str, cumulative: str = "0", order_id: str = "") -> VenueOrderState:
    return VenueOrderState(
        status=status,
        cumulative_quantity=D(cumulative),
        leaves_quantity=max(D(0), D(2) - D(cumulative)),
        order_id=order_id,
    )


def nothing(order: TrackedOrder) -> None:
    """No preparation needed."""


def seen_t1(order: TrackedOrder) -> None:
    order.trade_ids.add("t1")


def venue_filled_one(order: TrackedOrder) -> None:
    order.venue_cumulative_quantity = D(1)


# For each kind: how to prepare an order (size 2, nothing filled) and an event of that kind.
KIND_EXAMPLES: dict[EventKind, tuple[Callable[[TrackedOrder], None], OrderEvent]] = {
    K.SUBMITTED: (nothing, Submitted()),
    K.ACCEPTED: (nothing, Accepted(order_id="oid-1")),
    K.REJECTED: (nothing, Rejected(reason="INSUFFICIENT_FUND")),
    K.OUTCOME_UNKNOWN: (nothing, OutcomeUnknown(reason="ReadTimeout")),
    K.LOOKUP_NOT_FOUND: (nothing, LookupNotFound()),
    K.CANCEL_REQUESTED: (nothing, CancelRequested()),
    K.CANCEL_ACKNOWLEDGED: (nothing, CancelAcknowledged()),
    K.CANCEL_FAILED_OPEN: (nothing, CancelFailed(reason="UNKNOWN_CANCEL_ORDER")),
    K.CANCEL_FAILED_PARTIAL: (venue_filled_one, CancelFailed(reason="UNKNOWN_CANCEL_ORDER")),
    K.CANCEL_FAILED_FILLED: (nothing, CancelFailed(reason="ORDER_IS_FULLY_FILLED")),
    K.FILL_PARTIAL: (nothing, fill(size="1")),
    K.FILL_COMPLETE: (nothing, fill(size="2")),
    K.DUPLICATE_FILL: (seen_t1, fill()),
    K.VENUE_OPEN: (nothing, snapshot("OPEN")),
    K.VENUE_PARTIAL: (nothing, snapshot("OPEN", "1")),
    K.VENUE_CANCEL_QUEUED: (nothing, snapshot("CANCEL_QUEUED")),
    K.VENUE_FILLED: (nothing, snapshot("FILLED", "2")),
    K.VENUE_CANCELLED: (nothing, snapshot("CANCELLED")),
    K.VENUE_FAILED: (nothing, snapshot("FAILED")),
    K.VENUE_UNRECOGNIZED: (nothing, snapshot("UNKNOWN_ORDER_STATUS")),
    K.EXPIRED: (nothing, Expired()),
}

ALL_PAIRS = list(itertools.product(OrderState, EventKind))
ILLEGAL_PAIRS = [p for p in ALL_PAIRS if p not in TRANSITIONS and p not in ABSORBED]


def prepared(state: OrderState, kind: EventKind) -> tuple[TrackedOrder, OrderEvent]:
    order = new_order(state)
    prepare, event = KIND_EXAMPLES[kind]
    prepare(order)
    return order, event


def params(pairs: Iterable[tuple[OrderState, EventKind]]) -> list[Any]:
    """Table pairs as pytest params named ``STATE+KIND``, in a stable order."""
    return [
        pytest.param(state, kind, id=f"{state.value}+{kind.value}")
        for state, kind in sorted(pairs, key=lambda p: (p[0].value, p[1].value))
    ]


# -- the table -------------------------------------------------------------------------------


def test_every_kind_has_an_example_that_classifies_as_it() -> None:
    """The table tests below reach every kind, so no row of the table goes untested."""
    assert set(KIND_EXAMPLES) == set(EventKind)
    for kind in EventKind:
        order, event = prepared(S.OPEN, kind)
        assert order.classify(event) is kind


def test_the_table_is_consistent() -> None:
    """No pair both moves and is absorbed; terminal states only absorb; REJECTED needs the
    venue's word."""
    assert not set(TRANSITIONS) & ABSORBED
    assert all((s, k) in ABSORBED for s in TERMINAL_STATES for k in EventKind)
    assert all(state not in TERMINAL_STATES for state, _ in TRANSITIONS)
    into_rejected = {k for (_, k), to in TRANSITIONS.items() if to is S.REJECTED}
    assert into_rejected == {K.REJECTED, K.VENUE_FAILED}
    assert {k for (s, k), to in TRANSITIONS.items() if s is S.UNKNOWN and to is S.REJECTED} == {
        K.REJECTED,
        K.VENUE_FAILED,
    }
    assert ILLEGAL_PAIRS, "some pairs must be illegal"


@pytest.mark.parametrize(("state", "kind"), params(TRANSITIONS))
def test_every_legal_transition(state: OrderState, kind: EventKind) -> None:
    """Each row of the table moves the order exactly where the table says, and is recorded."""
    order, event = prepared(state, kind)
    result = order.apply(event)
    assert (result.kind, result.before, result.after) == (kind, state, TRANSITIONS[state, kind])
    assert not result.absorbed
    assert order.state is TRANSITIONS[state, kind]
    assert order.history[-1].before is state
    assert order.history[-1].kind is kind


@pytest.mark.parametrize(("state", "kind"), params(ABSORBED))
def test_every_absorbed_pair_leaves_the_state(state: OrderState, kind: EventKind) -> None:
    """Stale and duplicated events are not errors, but they never move the state."""
    order, event = prepared(state, kind)
    result = order.apply(event)
    assert result.absorbed
    assert result.before is result.after is state
    assert order.state is state
    assert not order.history


@pytest.mark.parametrize(("state", "kind"), params(ILLEGAL_PAIRS))
def test_every_illegal_pair_raises_and_changes_nothing(state: OrderState, kind: EventKind) -> None:
    """An event that contradicts our bookkeeping is loud, names the order, and is not applied."""
    order, event = prepared(state, kind)
    before = attrs.asdict(order, recurse=False)
    with pytest.raises(IllegalTransition) as caught:
        order.apply(event)
    assert isinstance(caught.value, CjtError)
    assert (caught.value.state, caught.value.kind) == (state, kind)
    assert "cid-1" in str(caught.value)
    assert state.value in str(caught.value)
    assert kind.value in str(caught.value)
    assert attrs.asdict(order, recurse=False) == before


@pytest.mark.parametrize("state", list(OrderState))
def test_terminal_property_matches_the_set(state: OrderState) -> None:
    """``state.terminal`` and TERMINAL_STATES agree, so callers can use either."""
    assert state.terminal is (state in TERMINAL_STATES)
    assert new_order(state).terminal is (state in TERMINAL_STATES)


# -- fills -----------------------------------------------------------------------------------


def test_a_fill_seen_twice_counts_once() -> None:
    """The user channel and REST polling both report a fill: it must count once."""
    order = new_order(S.OPEN)
    first = order.apply(fill("t1", size="0.5", price="100", fee="0.2"))
    second = order.apply(fill("t1", size="0.5", price="100", fee="0.2"))
    assert first.new_fill is not None
    assert second.new_fill is None
    assert second.absorbed
    assert second.kind is K.DUPLICATE_FILL
    assert (order.filled_size, order.fees, order.trade_ids) == (D("0.5"), D("0.2"), {"t1"})


def test_fills_sum_to_filled_size_with_an_average_price_and_fees() -> None:
    """Filled size, average price and fees are the Decimal sums of the distinct fills."""
    order = new_order(S.OPEN, size="3")
    assert order.average_fill_price is None
    order.apply(fill("t1", size="1", price="100", fee="0.1"))
    order.apply(fill("t2", size="2", price="103", fee="0.3"))
    assert order.state is S.FILLED
    assert order.filled_size == D(3)
    assert order.remaining_size == D(0)
    assert order.average_fill_price == D(102)
    assert order.fees == D("0.4")


def test_an_over_fill_raises_and_changes_nothing() -> None:
    """A fill past the order size means a bug or a venue error: report it, do not count it."""
    order = new_order(S.OPEN)
    order.apply(fill("t1", size="1.5"))
    with pytest.raises(OverFill) as caught:
        order.apply(fill("t2", size="1"))
    assert (caught.value.size, caught.value.filled) == (D(2), D("2.5"))
    assert "t2" in str(caught.value)
    assert order.filled_size == D("1.5")
    assert order.trade_ids == {"t1"}
    assert order.state is S.PARTIALLY_FILLED


def test_a_snapshot_beyond_the_size_is_an_over_fill() -> None:
    """A venue snapshot claiming more than the order size is reported, not recorded."""
    order = new_order(S.OPEN)
    with pytest.raises(OverFill, match="venue snapshot"):
        order.apply(snapshot("OPEN", "3"))
    assert order.venue_cumulative_quantity == D(0)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES, key=lambda s: s.value))
def test_a_fill_after_a_terminal_state_still_counts(terminal: OrderState) -> None:
    """A cancel racing a fill: the order is final, but the money moved, so the fill counts."""
    order = new_order(terminal)
    result = order.apply(fill("late"))
    assert result.absorbed
    assert result.new_fill == fill("late")
    assert order.state is terminal
    assert order.filled_size == D(1)


# -- stale and duplicated events -------------------------------------------------------------


def test_a_stale_open_snapshot_does_not_resurrect_a_filled_order() -> None:
    """Snapshots arrive late: OPEN after FILLED is absorbed and lowers nothing."""
    order = new_order(S.OPEN)
    order.apply(snapshot("FILLED", "2", order_id="oid-1"))
    result = order.apply(snapshot("OPEN", "0", order_id="oid-1"))
    assert result.absorbed
    assert order.state is S.FILLED
    assert order.venue_cumulative_quantity == D(2)
    assert order.missing_fill_size == D(2)


def test_cumulative_quantity_never_goes_backwards() -> None:
    """Out-of-order snapshots keep the highest cumulative quantity and its average price."""
    order = new_order(S.OPEN)
    order.apply(
        VenueOrderState(
            status="OPEN",
            cumulative_quantity=D("1.5"),
            leaves_quantity=D("0.5"),
            average_price=D(101),
        )
    )
    order.apply(
        VenueOrderState(
            status="OPEN",
            cumulative_quantity=D("0.5"),
            leaves_quantity=D("1.5"),
            average_price=D(99),
        )
    )
    assert order.state is S.PARTIALLY_FILLED
    assert order.venue_cumulative_quantity == D("1.5")
    assert order.venue_average_price == D(101)


def test_an_ack_after_fills_is_absorbed_but_its_order_id_is_kept() -> None:
    """The user channel can beat the REST answer: the late ACK still names the order."""
    order = new_order()
    order.apply(Submitted())
    order.apply(fill("t1"))
    result = order.apply(Accepted(order_id="oid-9"))
    assert result.absorbed
    assert order.state is S.PARTIALLY_FILLED
    assert order.order_id == "oid-9"


def test_a_different_order_id_is_a_conflict() -> None:
    """Two venue ids for one client_order_id would mean a duplicate order: say so loudly."""
    order = new_order()
    order.apply(Submitted())
    order.apply(Accepted(order_id="oid-1"))
    with pytest.raises(ConflictingOrderId) as caught:
        order.apply(snapshot("OPEN", order_id="oid-2"))
    assert isinstance(caught.value, LifecycleError)
    assert (caught.value.known, caught.value.received) == ("oid-1", "oid-2")
    assert order.order_id == "oid-1"


def test_an_expired_snapshot_expires_the_order() -> None:
    """The venue's EXPIRED status and the Expired event mean the same thing."""
    order = new_order(S.OPEN)
    assert order.apply(snapshot("EXPIRED")).kind is K.EXPIRED
    assert order.state is S.EXPIRED


# -- the ambiguous-outcome policy ------------------------------------------------------------


def test_an_unknown_outcome_is_looked_up_and_resent_with_the_same_id() -> None:
    """A timed-out create is never a rejection, and never gets a new client_order_id."""
    order = new_order()
    order.apply(Submitted())
    order.apply(OutcomeUnknown(reason="ReadTimeout"))
    assert order.state is S.UNKNOWN
    assert order.needs_lookup
    assert order.last_reason == "ReadTimeout"
    with pytest.raises(IllegalTransition):
        order.apply(Submitted())  # not before a lookup
    order.apply(LookupNotFound())
    assert order.state is S.PENDING
    assert not order.needs_lookup
    order.apply(Submitted())
    order.apply(Accepted(order_id="oid-1"))
    assert order.state is S.OPEN
    assert order.submit_attempts == 2
    assert order.client_order_id == "cid-1"
    with pytest.raises(attrs.exceptions.FrozenAttributeError):
        order.client_order_id = "cid-2"


def test_an_unknown_order_found_by_lookup_takes_the_venue_state() -> None:
    """A lookup that finds the order resolves UNKNOWN to what the venue says."""
    order = new_order()
    order.apply(Submitted())
    order.apply(OutcomeUnknown(reason="503 after 4 attempts"))
    order.apply(snapshot("OPEN", "1", order_id="oid-1"))
    assert order.state is S.PARTIALLY_FILLED
    assert order.order_id == "oid-1"
    assert not order.needs_lookup


def test_an_unrecognized_status_keeps_an_unknown_order_needing_a_lookup() -> None:
    """A status we cannot read resolves nothing: the order still needs a lookup."""
    order = new_order()
    order.apply(OutcomeUnknown(reason="crash recovery"))
    order.apply(attrs.evolve(snapshot("SOMETHING_NEW"), from_lookup=True))
    assert order.state is S.UNKNOWN
    assert order.needs_lookup


def test_an_ambiguous_cancel_failure_asks_for_a_recheck() -> None:
    """A failed cancel may hide a fill: the order stays working and must be re-checked."""
    order = new_order(S.OPEN)
    order.apply(CancelRequested())
    order.apply(CancelFailed(reason="UNKNOWN_CANCEL_ORDER"))
    assert order.state is S.OPEN
    assert order.needs_lookup
    assert order.last_reason == "UNKNOWN_CANCEL_ORDER"
    order.apply(snapshot("OPEN"))  # a pushed update may predate the failure
    order.apply(OutcomeUnknown(reason="late timeout of an old retry"))
    assert order.needs_lookup
    order.apply(attrs.evolve(snapshot("OPEN"), from_lookup=True))
    assert order.state is S.OPEN
    assert not order.needs_lookup


def test_an_ambiguous_cancel_failure_resolved_as_cancelled() -> None:
    """The re-check finds the order cancelled after all: CANCELLED, nothing left to check."""
    order = new_order(S.CANCEL_PENDING)
    order.apply(CancelFailed(reason="UNKNOWN_CANCEL_ORDER"))
    order.apply(snapshot("CANCELLED", "0"))
    assert order.state is S.CANCELLED
    assert not order.needs_lookup


@pytest.mark.parametrize("terminal", [S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED])
def test_a_submit_of_a_finished_order_is_absorbed_and_not_counted(terminal: OrderState) -> None:
    """Re-sending a finished order would be a duplicate: the answer says absorbed, no attempt."""
    order = new_order(terminal)
    assert order.apply(Submitted()).absorbed
    assert order.submit_attempts == 0


def test_a_cancel_refused_because_filled_marks_the_fills_missing() -> None:
    """ORDER_IS_FULLY_FILLED is decisive: FILLED, with the unseen fills still to fetch."""
    order = new_order(S.OPEN)
    order.apply(fill("t1"))
    order.apply(CancelRequested())
    order.apply(CancelFailed(reason="ORDER_IS_FULLY_FILLED"))
    assert order.state is S.FILLED
    assert order.missing_fill_size == D(1)
    assert not order.needs_lookup


def test_a_cancel_acknowledgement_waits_for_the_venue_cancelled_status() -> None:
    """A cancel ACK only means "accepted": a fill can still complete the order."""
    order = new_order(S.OPEN)
    order.apply(CancelRequested())
    order.apply(CancelAcknowledged())
    assert order.state is S.CANCEL_PENDING
    order.apply(fill("t1", size="2"))
    assert order.state is S.FILLED


def test_history_is_bounded() -> None:
    """A long-lived order cannot grow its history without bound (anchors §7 #10)."""
    order = new_order(S.CANCEL_PENDING)
    for _ in range(HISTORY_LIMIT + 10):
        order.apply(CancelAcknowledged())
    assert len(order.history) == HISTORY_LIMIT


# -- values ----------------------------------------------------------------------------------


def test_a_user_channel_order_becomes_a_venue_state() -> None:
    """The user channel's decoded order converts without losing the fields the lifecycle uses."""
    user_order = UserOrder(
        order_id="oid-1",
        client_order_id="cid-1",
        product_id="BTC-USD",
        order_side="BUY",
        status="OPEN",
        cumulative_quantity=D("0.5"),
        leaves_quantity=D("1.5"),
        avg_price=D("100.5"),
        total_fees=D("0.01"),
    )
    state = VenueOrderState.from_snapshot(user_order, from_lookup=True)
    assert state == VenueOrderState(
        status="OPEN",
        cumulative_quantity=D("0.5"),
        leaves_quantity=D("1.5"),
        average_price=D("100.5"),
        total_fees=D("0.01"),
        order_id="oid-1",
        from_lookup=True,
    )
    assert not VenueOrderState.from_snapshot(user_order).from_lookup


def test_client_order_ids_are_derived_not_generated() -> None:
    """The same intent always maps to the same id (so a restart re-sends the same id)."""
    first = derive_client_order_id("mm", "intent-7")
    assert first == derive_client_order_id("mm", "intent-7")
    assert first != derive_client_order_id("mm", "intent-8")
    assert first != derive_client_order_id("momentum", "intent-7")


@pytest.mark.parametrize(("namespace", "intent"), [("", "x"), ("mm", "")])
def test_deriving_an_id_needs_both_parts(namespace: str, intent: str) -> None:
    """An empty part would make ids collide across intents."""
    with pytest.raises(InvalidSpec, match="non-empty"):
        derive_client_order_id(namespace, intent)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: fill(price="-1"), "price must be a positive"),
        (lambda: fill(size="0"), "size must be a positive"),
        (lambda: fill(fee="NaN"), "fee must be a finite"),
        (lambda: fill(trade_id=""), "trade_id must not be empty"),
        (lambda: Accepted(order_id=""), "order_id must not be empty"),
        (lambda: snapshot("OPEN", "-1"), "cumulative_quantity must be a finite"),
        (lambda: new_order(size="0"), "size must be a positive"),
        (
            lambda: TrackedOrder(
                client_order_id="c", product_id="p", side=Side.SELL, size=D(1), limit_price=D(0)
            ),
            "limit_price must be a positive",
        ),
        (
            lambda: TrackedOrder(client_order_id="c", product_id="p", side=Side("HOLD"), size=D(1)),
            "side must be Side.BUY or Side.SELL",
        ),
        (lambda: Position(product_id=""), "product_id must not be empty"),
    ],
)
def test_malformed_values_fail_when_built(build: Callable[[], object], message: str) -> None:
    """A bad price or size fails where it is made, naming the field."""
    with pytest.raises(InvalidSpec, match=message):
        build()


# -- positions -------------------------------------------------------------------------------


def trade(position: Position, side: Side, size: str, price: str, fee: str = "0") -> Decimal:
    return position.apply(side, Fill(trade_id="x", price=D(price), size=D(size), fee=D(fee)))


def test_average_cost_blends_adds_and_realizes_on_reduce() -> None:
    """Buying twice averages the cost; selling part realizes against that average."""
    position = Position(product_id="BTC-USD")
    assert trade(position, Side.BUY, "1", "100", fee="1") == D(0)
    trade(position, Side.BUY, "1", "200", fee="1")
    assert (position.quantity, position.average_cost) == (D(2), D(150))
    assert trade(position, Side.SELL, "0.5", "300", fee="1") == D(75)
    assert (position.quantity, position.average_cost) == (D("1.5"), D(150))
    assert position.realized_pnl == D(75)
    assert position.fees == D(3)
    assert position.net_realized_pnl == D(72)
    assert position.unrealized_pnl(D(160)) == D(15)
    assert position.fill_count == 3


def test_a_fill_through_zero_opens_the_other_side_at_its_price() -> None:
    """Selling more than held closes the long and opens a short at the fill price."""
    position = Position(product_id="BTC-USD")
    trade(position, Side.BUY, "1", "150")
    assert trade(position, Side.SELL, "3", "100") == D(-50)
    assert (position.quantity, position.average_cost) == (D(-2), D(100))
    assert position.unrealized_pnl(D(90)) == D(20)
    assert trade(position, Side.BUY, "2", "80") == D(40)
    assert (position.quantity, position.average_cost) == (D(0), D(0))
    assert position.realized_pnl == D(-10)


def test_a_short_adds_at_average_cost() -> None:
    """Selling from flat and selling again averages the short's entry price."""
    position = Position(product_id="ETH-USD")
    trade(position, Side.SELL, "1", "10")
    trade(position, Side.SELL, "3", "20")
    assert (position.quantity, position.average_cost) == (D(-4), D("17.5"))


def test_a_position_refuses_an_unknown_side() -> None:
    """A side we cannot sign would corrupt the position: refuse it."""
    position = Position(product_id="BTC-USD")
    with pytest.raises(InvalidSpec, match="side must be"):
        trade(position, Side("HOLD"), "1", "1")
    assert position.quantity == D(0)


def test_a_market_order_has_no_limit_price() -> None:
    """Market orders are tracked too: the limit price is optional."""
    order = TrackedOrder(client_order_id="c", product_id="p", side=Side.SELL, size=D(1))
    assert order.limit_price is None
    assert order.state is S.PENDING
