"""The simulator's matching engine: order types, rejections, holds, fees, events, queries.

Fees are 0.4 % maker / 0.6 % taker throughout, so a buy holds size x price x 1.006.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.sim.engine import Engine
from cjt_actors.sim.events import (
    BookSide,
    EngineEvent,
    FillRecorded,
    LevelChanged,
    OrderUpdated,
    TradeExecuted,
)
from cjt_actors.sim.orders import (
    CancelFailureReason,
    EditFailureReason,
    FailureKind,
    LimitFok,
    LimitGtc,
    LimitGtd,
    Liquidity,
    MarketIoc,
    NewOrderFailureReason,
    OrderAccepted,
    OrderConfiguration,
    OrderPreview,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    PreviewFailureReason,
    RejectReason,
    Side,
    SorLimitIoc,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
    TimeInForce,
    TriggerStatus,
    UnsupportedConfiguration,
)
from cjt_actors.sim.products import DEFAULT_PRODUCTS, FeeSchedule, ProductSpec

D = Decimal
BTC = "BTC-USD"
FEES = FeeSchedule(maker_rate=D("0.004"), taker_rate=D("0.006"))
BUY, SELL = Side.BUY, Side.SELL
UP, DOWN = StopDirection.STOP_UP, StopDirection.STOP_DOWN

_client_ids = itertools.count(1)


# -- helpers ---------------------------------------------------------------------------------


def funded(*users: str, usd: str = "100000", btc: str = "100", **kwargs: object) -> Engine:
    """An engine (seed 42, test fees) where each user has USD and BTC; events drained."""
    kwargs.setdefault("fees", FEES)
    engine = Engine(seed=42, **kwargs)  # type: ignore[arg-type]
    for user in users:
        engine.deposit(user, "USD", D(usd), now=0.0)
        engine.deposit(user, "BTC", D(btc), now=0.0)
    engine.drain_events()
    return engine


def request(
    user: str,
    side: Side,
    config: OrderConfiguration,
    *,
    client_order_id: str | None = None,
    product_id: str = BTC,
) -> OrderRequest:
    return OrderRequest(
        user_id=user,
        client_order_id=f"cid-{next(_client_ids)}" if client_order_id is None else client_order_id,
        product_id=product_id,
        side=side,
        configuration=config,
    )


def gtc(size: str, price: str, *, post_only: bool = False) -> LimitGtc:
    return LimitGtc(base_size=D(size), limit_price=D(price), post_only=post_only)


def gtd(size: str, price: str, end_time: float, *, post_only: bool = False) -> LimitGtd:
    return LimitGtd(base_size=D(size), limit_price=D(price), end_time=end_time, post_only=post_only)


def stop(size: str, limit: str, stop_price: str, direction: StopDirection) -> StopLimitGtc:
    return StopLimitGtc(
        base_size=D(size),
        limit_price=D(limit),
        stop_price=D(stop_price),
        stop_direction=direction,
    )


def place(
    engine: Engine, user: str, side: Side, config: OrderConfiguration, now: float = 1.0
) -> OrderView:
    """Place an order that must be accepted; return its state after the operation."""
    outcome = engine.place(request(user, side, config), now=now)
    assert isinstance(outcome, OrderAccepted), outcome
    return outcome.order


def refuse(
    engine: Engine, user: str, side: Side, config: OrderConfiguration, now: float = 1.0
) -> OrderRejected:
    outcome = engine.place(request(user, side, config), now=now)
    assert isinstance(outcome, OrderRejected), outcome
    return outcome


def balance(engine: Engine, user: str, currency: str) -> tuple[Decimal, Decimal]:
    """(available, hold) of an account; zeros for one never used."""
    view = engine.account(user, currency)
    return (D(0), D(0)) if view is None else (view.available, view.hold)


def order(engine: Engine, view: OrderView) -> OrderView:
    """The current state of an order seen earlier."""
    current = engine.get_order(view.user_id, view.order_id)
    assert current is not None
    return current


def trade_at(engine: Engine, price: str, now: float = 1.0) -> None:
    """Print a trade at ``price`` between two throwaway users, leaving the book as it was."""
    for user in ("tape-seller", "tape-buyer"):
        engine.deposit(user, "USD", D("1000000"), now=now)
        engine.deposit(user, "BTC", D("10"), now=now)
    place(engine, "tape-seller", SELL, gtc("0.1", price), now=now)
    place(engine, "tape-buyer", BUY, MarketIoc(base_size=D("0.1")), now=now)


def kinds(events: list[EngineEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


# -- resting and matching --------------------------------------------------------------------


def test_a_resting_buy_holds_quote_for_price_size_and_worst_fee() -> None:
    """A resting buy reserves enough to pay its limit price and the worst fee, no more."""
    engine = funded("alice")
    view = place(engine, "alice", BUY, gtc("2", "100.00"))
    assert (view.status, view.filled_size, view.leaves_quantity) == (OrderStatus.OPEN, 0, D("2"))
    assert view.outstanding_hold_amount == D("201.2")
    assert balance(engine, "alice", "USD") == (D("99798.8"), D("201.2"))
    assert engine.snapshot(BTC).bids == ((D("100.00"), D("2")),)
    assert view.time_in_force is TimeInForce.GOOD_UNTIL_CANCELLED
    assert view.order_type is OrderType.LIMIT
    assert view.trigger_status is TriggerStatus.INVALID_ORDER_TYPE


def test_a_resting_sell_holds_its_base_size() -> None:
    """A sell reserves exactly the base it may have to deliver."""
    engine = funded("bob")
    view = place(engine, "bob", SELL, gtc("1.5", "100"))
    assert view.outstanding_hold_amount == D("1.5")
    assert balance(engine, "bob", "BTC") == (D("98.5"), D("1.5"))
    assert engine.snapshot(BTC).asks == ((D("100.00"), D("1.5")),)


def test_a_crossing_limit_fills_at_the_makers_price_with_maker_and_taker_fees() -> None:
    """The taker gets the resting price; each side pays its own rate in quote currency."""
    engine = funded("alice", "bob")
    ask = place(engine, "bob", SELL, gtc("1", "100"))
    bid = place(engine, "alice", BUY, gtc("1", "101"))
    assert bid.status is OrderStatus.FILLED
    assert (bid.filled_size, bid.filled_value, bid.average_filled_price) == (1, 100, D("100.00"))
    assert bid.total_fees == D("0.6")
    assert bid.total_value_after_fees == D("100.6")
    assert bid.completion_percentage == 100
    assert (bid.outstanding_hold_amount, bid.leaves_quantity) == (0, 0)
    assert balance(engine, "alice", "USD") == (D("99899.4"), 0)
    assert balance(engine, "alice", "BTC") == (D("101"), 0)
    maker = order(engine, ask)
    assert (maker.status, maker.total_fees, maker.total_value_after_fees) == (
        OrderStatus.FILLED,
        D("0.4"),
        D("99.6"),
    )
    assert balance(engine, "bob", "USD") == (D("100099.6"), 0)
    assert balance(engine, "bob", "BTC") == (D("99"), 0)
    assert engine.fees_collected("USD") == D("1.0")
    assert engine.last_trade_price(BTC) == D("100.00")


def test_a_partial_fill_stays_open_with_the_rest_resting() -> None:
    """Partly filled live orders are OPEN with fills (Coinbase has no PARTIALLY_FILLED)."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    bid = place(engine, "alice", BUY, gtc("3", "100"))
    assert bid.status is OrderStatus.OPEN
    assert (bid.filled_size, bid.leaves_quantity, bid.number_of_fills) == (1, 2, 1)
    assert bid.completion_percentage == D("33.33")
    assert bid.outstanding_hold_amount == D("201.2")  # exactly 2 x 100 x 1.006 left
    assert balance(engine, "alice", "USD") == (D("100000") - D("100.6") - D("201.2"), D("201.2"))
    assert engine.snapshot(BTC) == engine.snapshot(BTC, depth=5)
    assert engine.snapshot(BTC).bids == ((D("100.00"), D("2")),)
    assert engine.snapshot(BTC).asks == ()


def test_price_then_time_priority() -> None:
    """Better prices fill first; at one price, the order that arrived first fills first."""
    engine = funded("alice", "bob", "carol", "dave")
    first = place(engine, "bob", SELL, gtc("1", "100"))
    second = place(engine, "carol", SELL, gtc("1", "100"))
    better = place(engine, "dave", SELL, gtc("1", "99"))
    place(engine, "alice", BUY, gtc("2", "100"))
    trades = [e for e in engine.drain_events() if isinstance(e, TradeExecuted)]
    assert [(t.maker_order_id, t.price) for t in trades] == [
        (better.order_id, D("99.00")),
        (first.order_id, D("100.00")),
    ]
    assert order(engine, second).filled_size == 0
    assert [v.order_id for v in engine.queue(BTC, SELL)] == [second.order_id]


def test_self_trade_prevention_cancels_the_resting_order_and_matching_goes_on() -> None:
    """A user never trades with themself: their crossed resting order is cancelled."""
    engine = funded("alice", "bob")
    own = place(engine, "alice", SELL, gtc("1", "100"))
    other = place(engine, "bob", SELL, gtc("1", "100"))
    bid = place(engine, "alice", BUY, gtc("2", "100"))
    cancelled = order(engine, own)
    assert cancelled.status is OrderStatus.CANCELLED
    assert "self-trade prevention" in cancelled.cancel_message
    assert cancelled.filled_size == 0
    assert order(engine, other).status is OrderStatus.FILLED
    assert (bid.status, bid.filled_size) == (OrderStatus.OPEN, 1)
    assert engine.best_bid_ask(BTC) == ((D("100.00"), D("1")), None)
    assert balance(engine, "alice", "BTC") == (D("101"), 0)


# -- market orders ---------------------------------------------------------------------------


def test_market_buy_by_quote_size_spends_at_most_the_quote_size_including_fees() -> None:
    """quote_size on a market buy is the whole spend, fees included, down to one increment."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    place(engine, "bob", SELL, gtc("1", "101"))
    view = place(engine, "alice", BUY, MarketIoc(quote_size=D("150")))
    spent = view.filled_value + view.total_fees
    assert view.status is OrderStatus.FILLED
    assert view.filled_size == D("1.48619176")
    assert spent <= D("150")
    assert D("150") - spent < D("101") * D("1.006") * D("0.00000001")
    assert (view.size_in_quote, view.size_inclusive_of_fees) == (True, True)
    assert view.completion_percentage == 100
    assert view.time_in_force is TimeInForce.IMMEDIATE_OR_CANCEL
    assert view.order_type is OrderType.MARKET
    assert balance(engine, "alice", "USD") == (D("100000") - spent, 0)
    assert view.quote_size == D("150")
    assert view.base_size is None


def test_market_buy_by_base_size_holds_and_spends_the_exact_cost() -> None:
    """A base-sized market buy reserves the planned cost of walking the book, exactly."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    place(engine, "bob", SELL, gtc("1", "101"))
    view = place(engine, "alice", BUY, MarketIoc(base_size=D("1.5")))
    assert (view.status, view.filled_size, view.filled_value) == (
        OrderStatus.FILLED,
        D("1.5"),
        D("150.5"),
    )
    assert view.total_fees == D("0.903")
    assert view.average_filled_price == D("100.3333333333")
    assert balance(engine, "alice", "USD") == (D("100000") - D("151.403"), 0)
    assert engine.snapshot(BTC).asks == ((D("101.00"), D("0.5")),)


def test_market_sell_by_base_size() -> None:
    """A market sell delivers its base and receives notional minus the taker fee."""
    engine = funded("alice", "bob")
    place(engine, "alice", BUY, gtc("1", "100"))
    view = place(engine, "bob", SELL, MarketIoc(base_size=D("0.5")))
    assert (view.status, view.filled_size, view.total_value_after_fees) == (
        OrderStatus.FILLED,
        D("0.5"),
        D("49.7"),
    )
    assert balance(engine, "bob", "USD") == (D("100049.7"), 0)
    assert balance(engine, "bob", "BTC") == (D("99.5"), 0)


def test_market_sell_by_quote_size_raises_that_much_before_fees() -> None:
    """A sell's quote_size is its gross proceeds; the fee comes out of them."""
    engine = funded("alice", "bob")
    place(engine, "alice", BUY, gtc("1", "100"))
    view = place(engine, "bob", SELL, MarketIoc(quote_size=D("75")))
    assert (view.status, view.filled_size, view.filled_value) == (OrderStatus.FILLED, D("0.75"), 75)
    assert (view.size_in_quote, view.size_inclusive_of_fees) == (True, False)
    assert balance(engine, "bob", "USD") == (D("100074.55"), 0)
    assert balance(engine, "bob", "BTC") == (D("99.25"), 0)


def test_market_order_larger_than_the_book_fills_what_is_there_and_is_cancelled() -> None:
    """When the book runs out, the rest is cancelled and its hold comes back."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    view = place(engine, "alice", BUY, MarketIoc(base_size=D("2")))
    assert (view.status, view.filled_size) == (OrderStatus.CANCELLED, 1)
    assert "ran out of liquidity" in view.cancel_message
    assert view.completion_percentage == D("50.00")
    assert balance(engine, "alice", "USD") == (D("99899.4"), 0)


def test_market_order_against_no_liquidity_is_refused_and_leaves_own_orders_alone() -> None:
    """A market order on an empty book (or one holding only one's own orders) is refused."""
    engine = funded("alice")
    empty = refuse(engine, "alice", BUY, MarketIoc(quote_size=D("10")))
    assert empty.error is NewOrderFailureReason.INVALID_NO_LIQUIDITY
    assert empty.preview_failure_reason is PreviewFailureReason.PREVIEW_INVALID_NO_LIQUIDITY
    own = place(engine, "alice", SELL, gtc("1", "100"))
    engine.drain_events()
    only_own = refuse(engine, "alice", BUY, MarketIoc(base_size=D("1")))
    assert only_own.error is NewOrderFailureReason.INVALID_NO_LIQUIDITY
    assert order(engine, own).status is OrderStatus.OPEN
    assert engine.drain_events() == []


def test_market_quote_size_too_small_for_one_increment_is_refused() -> None:
    """A budget that cannot buy a single base increment is a too-small quote size."""
    product = ProductSpec(
        product_id="AAA-USD",
        base_currency="AAA",
        quote_currency="USD",
        base_increment=D("1"),
        quote_increment=D("0.01"),
        price_increment=D("0.01"),
        base_min_size=D("1"),
        base_max_size=D("1000"),
        quote_min_size=D("0.01"),
        quote_max_size=D("100000"),
    )
    engine = Engine(products=[product], fees=FEES)
    engine.deposit("alice", "USD", D("100"), now=0.0)
    engine.deposit("bob", "AAA", D("10"), now=0.0)
    outcome = engine.place(request("bob", SELL, gtc("1", "10"), product_id="AAA-USD"), now=1.0)
    assert isinstance(outcome, OrderAccepted)
    small = engine.place(
        request("alice", BUY, MarketIoc(quote_size=D("5")), product_id="AAA-USD"), now=1.0
    )
    assert isinstance(small, OrderRejected)
    assert small.preview_failure_reason is PreviewFailureReason.PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL


# -- IOC, FOK, post-only ---------------------------------------------------------------------


def test_ioc_fills_what_crosses_and_cancels_the_rest() -> None:
    """sor_limit_ioc never rests: its remainder is cancelled and its hold released."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    place(engine, "bob", SELL, gtc("1", "102"))
    view = place(engine, "alice", BUY, SorLimitIoc(base_size=D("3"), limit_price=D("101")))
    assert (view.status, view.filled_size) == (OrderStatus.CANCELLED, 1)
    assert "immediate-or-cancel" in view.cancel_message
    assert balance(engine, "alice", "USD") == (D("99899.4"), 0)
    assert engine.snapshot(BTC).asks == ((D("102.00"), D("1")),)
    full = place(engine, "alice", BUY, SorLimitIoc(base_size=D("1"), limit_price=D("102")))
    assert full.status is OrderStatus.FILLED


def test_ioc_with_nothing_crossing_is_cancelled_without_fills() -> None:
    """An IOC that cannot trade ends at once and leaves no trace in the book."""
    engine = funded("alice")
    view = place(engine, "alice", BUY, SorLimitIoc(base_size=D("1"), limit_price=D("100")))
    assert (view.status, view.filled_size, view.number_of_fills) == (OrderStatus.CANCELLED, 0, 0)
    assert engine.snapshot(BTC).bids == ()
    assert balance(engine, "alice", "USD") == (D("100000"), 0)


def test_fok_fills_completely_or_not_at_all() -> None:
    """A fill-or-kill that cannot fill entirely fills nothing and touches nothing."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    place(engine, "bob", SELL, gtc("1", "102"))
    engine.drain_events()
    killed = place(engine, "alice", BUY, LimitFok(base_size=D("2"), limit_price=D("101")))
    assert (killed.status, killed.filled_size) == (OrderStatus.CANCELLED, 0)
    assert killed.cancel_message == "Fill-or-kill order could not be filled completely"
    assert killed.time_in_force is TimeInForce.FILL_OR_KILL
    assert kinds(engine.drain_events()) == ["OrderUpdated"]
    assert len(engine.snapshot(BTC).asks) == 2
    filled = place(engine, "alice", BUY, LimitFok(base_size=D("2"), limit_price=D("102")))
    assert (filled.status, filled.filled_size) == (OrderStatus.FILLED, 2)
    assert engine.snapshot(BTC).asks == ()


@pytest.mark.parametrize(
    "config", [gtc("1", "100", post_only=True), gtd("1", "101", 99.0, post_only=True)]
)
def test_post_only_that_would_cross_is_refused(config: OrderConfiguration) -> None:
    """A post-only order must add liquidity; one that would take it is refused."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    refused = refuse(engine, "alice", BUY, config)
    assert refused.error is NewOrderFailureReason.INVALID_LIMIT_PRICE_POST_ONLY
    assert (
        refused.preview_failure_reason is PreviewFailureReason.PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY
    )
    resting = place(engine, "alice", BUY, gtc("1", "99.99", post_only=True))
    assert (resting.status, resting.post_only) == (OrderStatus.OPEN, True)


# -- GTD expiry ------------------------------------------------------------------------------


def test_gtd_expires_at_its_end_time_and_releases_its_hold() -> None:
    """A GTD order lives until end_time; expire(now) ends it as EXPIRED."""
    engine = funded("alice")
    view = place(engine, "alice", BUY, gtd("1", "100", 50.0), now=10.0)
    assert view.time_in_force is TimeInForce.GOOD_UNTIL_DATE_TIME
    assert view.end_time == 50.0
    engine.drain_events()
    assert engine.expire(49.9) == []
    assert engine.drain_events() == []
    expired = engine.expire(50.0)
    assert [(v.order_id, v.status) for v in expired] == [(view.order_id, OrderStatus.EXPIRED)]
    assert expired[0].cancel_message == "Order expired at its end_time"
    events = engine.drain_events()
    assert kinds(events) == ["OrderUpdated", "LevelChanged"]
    assert all(event.time == 50.0 for event in events)
    assert balance(engine, "alice", "USD") == (D("100000"), 0)
    assert engine.cancel("alice", [view.order_id], now=51.0)[0].failure_reason is (
        CancelFailureReason.DUPLICATE_CANCEL_REQUEST
    )


def test_any_mutating_call_expires_due_orders_first() -> None:
    """A GTD order past its end_time never trades, even if nobody called expire()."""
    engine = funded("alice", "bob")
    view = place(engine, "alice", BUY, gtd("1", "100", 60.0), now=10.0)
    taker = place(
        engine, "bob", SELL, SorLimitIoc(base_size=D("1"), limit_price=D("100")), now=61.0
    )
    assert taker.filled_size == 0
    assert order(engine, view).status is OrderStatus.EXPIRED


def test_a_gtd_order_that_filled_is_not_expired_later() -> None:
    """Expiry only ends live orders."""
    engine = funded("alice", "bob")
    view = place(engine, "alice", BUY, gtd("1", "100", 60.0), now=10.0)
    place(engine, "bob", SELL, gtc("1", "100"), now=11.0)
    assert engine.expire(100.0) == []
    assert order(engine, view).status is OrderStatus.FILLED


def test_gtd_end_time_must_be_in_the_future() -> None:
    """An order that would expire before it could trade is refused."""
    engine = funded("alice")
    refused = refuse(engine, "alice", BUY, gtd("1", "100", 10.0), now=10.0)
    assert refused.preview_failure_reason is PreviewFailureReason.PREVIEW_INVALID_END_TIME
    assert refused.error is NewOrderFailureReason.UNKNOWN_FAILURE_REASON


# -- stop-limit ------------------------------------------------------------------------------


def test_stop_down_waits_then_triggers_on_a_trade_at_or_below_the_stop() -> None:
    """A stop-loss sits outside the book, holding funds, until the tape reaches its stop."""
    engine = funded("alice", "dave", "erin")
    trade_at(engine, "100")
    view = place(engine, "alice", SELL, stop("1", "94", "95", DOWN))
    assert (view.status, view.trigger_status) == (OrderStatus.OPEN, TriggerStatus.STOP_PENDING)
    assert view.order_type is OrderType.STOP_LIMIT
    assert (view.stop_price, view.limit_price) == (D("95"), D("94"))
    assert balance(engine, "alice", "BTC") == (D("99"), D("1"))
    assert engine.snapshot(BTC).asks == ()  # not in the book yet
    place(engine, "dave", BUY, gtc("2", "95"))
    place(engine, "erin", SELL, gtc("1", "96"))  # no trade, no trigger
    assert order(engine, view).trigger_status is TriggerStatus.STOP_PENDING
    engine.drain_events()
    place(engine, "erin", SELL, SorLimitIoc(base_size=D("1"), limit_price=D("95")), now=5.0)
    triggered = order(engine, view)
    assert (triggered.trigger_status, triggered.status) == (
        TriggerStatus.STOP_TRIGGERED,
        OrderStatus.FILLED,
    )
    assert (triggered.filled_size, triggered.average_filled_price) == (1, D("95.00"))
    trades = [e for e in engine.drain_events() if isinstance(e, TradeExecuted)]
    assert [(t.taker_order_id == view.order_id, t.time) for t in trades] == [
        (False, 5.0),
        (True, 5.0),
    ]


def test_stop_up_rests_as_a_limit_when_nothing_crosses_after_triggering() -> None:
    """A triggered stop becomes an ordinary limit order entering the book at that moment."""
    engine = funded("alice")
    trade_at(engine, "100")
    view = place(engine, "alice", BUY, stop("1", "105", "104", UP))
    assert view.outstanding_hold_amount == D("105.63")
    trade_at(engine, "104")
    triggered = order(engine, view)
    assert (triggered.trigger_status, triggered.status) == (
        TriggerStatus.STOP_TRIGGERED,
        OrderStatus.OPEN,
    )
    assert engine.snapshot(BTC).bids == ((D("105.00"), D("1")),)


def test_stops_cascade_when_one_stops_trades_trigger_another() -> None:
    """A triggered stop's own trades can trigger further stops, in one operation."""
    engine = funded("alice", "bob", "carol", "dave")
    trade_at(engine, "100")
    first = place(engine, "alice", SELL, stop("1", "90", "98", DOWN))
    second = place(engine, "bob", SELL, stop("1", "80", "94", DOWN))
    place(engine, "carol", BUY, gtc("1", "97"))
    place(engine, "carol", BUY, gtc("1", "93"))
    place(engine, "dave", SELL, MarketIoc(base_size=D("1")))  # prints 97: alice's stop fires
    assert order(engine, first).average_filled_price == D("93.00")  # takes the 93 bid
    assert order(engine, second).trigger_status is TriggerStatus.STOP_TRIGGERED
    assert order(engine, second).status is OrderStatus.OPEN  # nothing left to hit: rests at 80
    assert engine.snapshot(BTC).asks == ((D("80.00"), D("1")),)


@pytest.mark.parametrize(
    ("direction", "stop_price", "reason"),
    [
        (DOWN, "100", PreviewFailureReason.PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE),
        (DOWN, "101", PreviewFailureReason.PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE),
        (UP, "100", PreviewFailureReason.PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE),
        (UP, "99", PreviewFailureReason.PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE),
    ],
)
def test_a_stop_that_would_trigger_at_once_is_refused(
    direction: StopDirection, stop_price: str, reason: PreviewFailureReason
) -> None:
    """A stop on the wrong side of the last trade is a mistake, refused as Coinbase does."""
    engine = funded("alice")
    trade_at(engine, "100")
    refused = refuse(engine, "alice", SELL, stop("1", "90", stop_price, direction))
    assert refused.preview_failure_reason is reason


def test_stops_are_accepted_before_any_trade_and_can_be_cancelled_or_expire() -> None:
    """With no last trade nothing is checked; a pending stop ends like any order."""
    engine = funded("alice")
    pending = place(engine, "alice", SELL, stop("1", "90", "95", DOWN))
    result = engine.cancel("alice", [pending.order_id], now=2.0)
    assert result[0].success
    assert balance(engine, "alice", "BTC") == (D("100"), 0)
    config = StopLimitGtd(
        base_size=D("1"),
        limit_price=D("110"),
        stop_price=D("105"),
        end_time=20.0,
        stop_direction=UP,
    )
    timed = place(engine, "alice", BUY, config, now=3.0)
    assert timed.time_in_force is TimeInForce.GOOD_UNTIL_DATE_TIME
    assert [v.order_id for v in engine.expire(20.0)] == [timed.order_id]
    assert balance(engine, "alice", "USD") == (D("100000"), 0)
    trade_at(engine, "106", now=21.0)
    assert order(engine, timed).trigger_status is TriggerStatus.STOP_PENDING


# -- validation -------------------------------------------------------------------------------

_N, _P = NewOrderFailureReason, PreviewFailureReason

REJECTIONS = [
    (
        "bad price precision",
        BUY,
        gtc("1", "100.001"),
        _N.INVALID_PRICE_PRECISION,
        _P.PREVIEW_INVALID_PRICE_PRECISION,
    ),
    (
        "absurd price digits",
        BUY,
        gtc("1", "100." + "1" * 50),
        _N.INVALID_PRICE_PRECISION,
        _P.PREVIEW_INVALID_PRICE_PRECISION,
    ),
    (
        "absurd price magnitude",
        SELL,
        gtc("0.00000001", "1E+45"),
        _N.INVALID_PRICE_PRECISION,
        _P.PREVIEW_INVALID_PRICE_PRECISION,
    ),
    (
        "bad size precision",
        BUY,
        gtc("0.123456789", "100"),
        _N.INVALID_SIZE_PRECISION,
        _P.PREVIEW_INVALID_SIZE_PRECISION,
    ),
    (
        "size below minimum",
        BUY,
        gtc("0.000000001", "100"),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_SMALL,
    ),
    (
        "zero size",
        BUY,
        gtc("0", "100"),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_SMALL,
    ),
    (
        "NaN size",
        BUY,
        gtc("NaN", "100"),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_SMALL,
    ),
    (
        "size above maximum",
        SELL,
        gtc("3401", "1"),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_LARGE,
    ),
    (
        "notional below minimum",
        BUY,
        gtc("0.001", "100"),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL,
    ),
    (
        "notional above maximum",
        SELL,
        gtc("3000", "100000"),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE,
    ),
    ("zero price", BUY, gtc("1", "0"), _N.INVALID_LIMIT_PRICE, _P.PREVIEW_INVALID_LIMIT_PRICE),
    ("NaN price", BUY, gtc("1", "NaN"), _N.INVALID_LIMIT_PRICE, _P.PREVIEW_INVALID_LIMIT_PRICE),
    (
        "buy beyond quote funds",
        BUY,
        gtc("20", "100"),
        _N.INSUFFICIENT_FUND,
        _P.PREVIEW_INSUFFICIENT_FUND,
    ),
    (
        "sell beyond base funds",
        SELL,
        gtc("2", "100"),
        _N.INSUFFICIENT_FUND,
        _P.PREVIEW_INSUFFICIENT_FUND,
    ),
    (
        "market buy beyond funds",
        BUY,
        MarketIoc(quote_size=D("2000")),
        _N.INSUFFICIENT_FUND,
        _P.PREVIEW_INSUFFICIENT_FUND,
    ),
    (
        "market sell beyond funds",
        SELL,
        MarketIoc(base_size=D("2")),
        _N.INSUFFICIENT_FUND,
        _P.PREVIEW_INSUFFICIENT_FUND,
    ),
    (
        "market without size",
        BUY,
        MarketIoc(),
        _N.UNSUPPORTED_ORDER_CONFIGURATION,
        _P.PREVIEW_INVALID_ORDER_CONFIG,
    ),
    (
        "market with both sizes",
        BUY,
        MarketIoc(quote_size=D("10"), base_size=D("1")),
        _N.UNSUPPORTED_ORDER_CONFIGURATION,
        _P.PREVIEW_INVALID_ORDER_CONFIG,
    ),
    (
        "market quote precision",
        BUY,
        MarketIoc(quote_size=D("10.001")),
        _N.INVALID_SIZE_PRECISION,
        _P.PREVIEW_INVALID_QUOTE_SIZE_PRECISION,
    ),
    (
        "market quote below minimum",
        BUY,
        MarketIoc(quote_size=D("0.5")),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL,
    ),
    (
        "market quote above maximum",
        BUY,
        MarketIoc(quote_size=D("2E+8")),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE,
    ),
    (
        "market base precision",
        SELL,
        MarketIoc(base_size=D("0.1234567891")),
        _N.INVALID_SIZE_PRECISION,
        _P.PREVIEW_INVALID_SIZE_PRECISION,
    ),
    (
        "stop price zero",
        SELL,
        stop("1", "90", "0", DOWN),
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_STOP_PRICE,
    ),
    (
        "stop price precision",
        SELL,
        stop("1", "90", "90.005", DOWN),
        _N.INVALID_PRICE_PRECISION,
        _P.PREVIEW_INVALID_STOP_PRICE_PRECISION,
    ),
    (
        "bracket orders",
        BUY,
        UnsupportedConfiguration(wire_key="trigger_bracket_gtc"),
        _N.UNSUPPORTED_ORDER_CONFIGURATION,
        _P.PREVIEW_INVALID_ORDER_CONFIG,
    ),
]


@pytest.mark.parametrize(
    ("side", "config", "error", "preview_reason"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS],
)
def test_invalid_orders_are_refused_with_coinbase_reasons_and_change_nothing(
    side: Side,
    config: OrderConfiguration,
    error: NewOrderFailureReason,
    preview_reason: PreviewFailureReason,
) -> None:
    """Every refusal is a value with the wire's reason pair, and leaves no trace."""
    engine = funded("alice", usd="1000", btc="1")
    engine.deposit("bob", "USD", D("1000"), now=0.0)
    engine.deposit("bob", "BTC", D("10"), now=0.0)
    place(engine, "bob", BUY, gtc("1", "50"))
    place(engine, "bob", SELL, gtc("1", "150"))
    engine.drain_events()
    before = (engine.all_accounts(), engine.snapshot(BTC))
    refused = refuse(engine, "alice", side, config)
    assert (refused.error, refused.new_order_failure_reason) == (error, error)
    assert refused.preview_failure_reason is preview_reason
    assert refused.message
    assert refused.error_details
    assert not refused.success
    assert (engine.all_accounts(), engine.snapshot(BTC)) == before
    assert engine.list_orders("alice") == []
    assert engine.drain_events() == []


def test_unknown_product_and_missing_client_order_id_are_refused() -> None:
    """Product and idempotency key are checked before anything else."""
    engine = funded("alice")
    unknown = engine.place(request("alice", BUY, gtc("1", "1"), product_id="DOGE-XYZ"), now=1.0)
    assert isinstance(unknown, OrderRejected)
    assert unknown.error is NewOrderFailureReason.INVALID_PRODUCT_ID
    assert unknown.preview_failure_reason is PreviewFailureReason.PREVIEW_INVALID_PRODUCT_ID
    assert "DOGE-XYZ" in unknown.error_details
    no_key = engine.place(request("alice", BUY, gtc("1", "1"), client_order_id=""), now=1.0)
    assert isinstance(no_key, OrderRejected)
    assert no_key.error is NewOrderFailureReason.INVALID_REQUEST


def test_rejections_the_app_detects_use_the_same_values() -> None:
    """The app refuses what only it can see (a bad side) with the engine's own vocabulary."""
    rejection = OrderRejected.of(FailureKind.INVALID_SIDE, "side 'HOLD'")
    assert (rejection.error, rejection.preview_failure_reason) == (
        NewOrderFailureReason.INVALID_SIDE,
        PreviewFailureReason.PREVIEW_INVALID_SIDE,
    )
    assert rejection.message == "Invalid order side"
    assert rejection.error_details == "side 'HOLD'"


def test_too_many_open_orders_fail_but_do_not_block_other_orders() -> None:
    """Past the per-product limit a resting order is accepted as FAILED, holding nothing."""
    engine = funded("alice", "bob", max_open_orders_per_product=2)
    first = place(engine, "alice", BUY, gtc("1", "90"))
    place(engine, "alice", BUY, gtc("1", "91"))
    failed = place(engine, "alice", BUY, gtc("1", "92"))
    assert failed.status is OrderStatus.FAILED
    assert failed.reject_reason is RejectReason.TOO_MANY_OPEN_ORDERS
    assert "2 open orders" in failed.reject_message
    assert failed.outstanding_hold_amount == 0
    assert balance(engine, "alice", "USD")[1] == D("182.086")  # (90 + 91) x 1.006
    place(engine, "bob", SELL, gtc("1", "100"))
    assert place(engine, "alice", BUY, MarketIoc(base_size=D("1"))).status is OrderStatus.FILLED
    engine.cancel("alice", [first.order_id], now=2.0)
    assert place(engine, "alice", BUY, gtc("1", "92")).status is OrderStatus.OPEN


# -- idempotency -----------------------------------------------------------------------------


def test_a_reused_client_order_id_returns_the_original_order_and_places_nothing() -> None:
    """Coinbase treats client_order_id as an idempotency key: a retry is never a second order."""
    engine = funded("alice", "bob")
    first = engine.place(request("alice", BUY, gtc("1", "100"), client_order_id="k1"), now=1.0)
    assert isinstance(first, OrderAccepted)
    assert not first.duplicate
    engine.drain_events()
    usd = balance(engine, "alice", "USD")
    again = engine.place(request("alice", SELL, gtc("5", "1"), client_order_id="k1"), now=2.0)
    assert isinstance(again, OrderAccepted)
    assert again.duplicate
    assert again.order_id == first.order_id
    assert again.order.side is BUY
    assert engine.drain_events() == []
    assert balance(engine, "alice", "USD") == usd
    assert len(engine.list_orders("alice")) == 1
    other_user = engine.place(request("bob", BUY, gtc("1", "100"), client_order_id="k1"), now=3.0)
    assert isinstance(other_user, OrderAccepted)
    assert other_user.order_id != first.order_id


def test_a_refused_client_order_id_can_be_used_again() -> None:
    """A refusal places nothing, so the same key may be retried once the problem is fixed."""
    engine = funded("alice", usd="10")
    refused = engine.place(request("alice", BUY, gtc("1", "100"), client_order_id="k2"), now=1.0)
    assert isinstance(refused, OrderRejected)
    engine.deposit("alice", "USD", D("1000"), now=2.0)
    accepted = engine.place(request("alice", BUY, gtc("1", "100"), client_order_id="k2"), now=3.0)
    assert isinstance(accepted, OrderAccepted)
    assert not accepted.duplicate


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_ends_the_order_and_releases_its_hold() -> None:
    """A cancelled order leaves the book, and its funds are available again."""
    engine = funded("alice")
    view = place(engine, "alice", BUY, gtc("1", "100"))
    engine.drain_events()
    [result] = engine.cancel("alice", [view.order_id], now=2.0)
    assert (result.order_id, result.success, result.failure_reason) == (
        view.order_id,
        True,
        CancelFailureReason.UNKNOWN_CANCEL_FAILURE_REASON,
    )
    cancelled = order(engine, view)
    assert (cancelled.status, cancelled.cancel_message, cancelled.settled) == (
        OrderStatus.CANCELLED,
        "User requested cancel",
        True,
    )
    assert balance(engine, "alice", "USD") == (D("100000"), 0)
    events = engine.drain_events()
    assert kinds(events) == ["OrderUpdated", "LevelChanged"]
    level = events[1]
    assert isinstance(level, LevelChanged)
    assert (level.side, level.price, level.new_quantity) == (BookSide.BID, D("100.00"), 0)


def test_batch_cancel_reports_each_id_with_its_own_reason() -> None:
    """One result per id, in order: unknown, someone else's, filled, already ended."""
    engine = funded("alice", "bob")
    live = place(engine, "alice", BUY, gtc("1", "90"))
    filled = place(engine, "alice", SELL, gtc("1", "100"))
    place(engine, "bob", BUY, gtc("1", "100"))
    bobs = place(engine, "bob", BUY, gtc("1", "80"))
    ioc = place(engine, "alice", BUY, SorLimitIoc(base_size=D("1"), limit_price=D("1")))
    results = engine.cancel(
        "alice",
        [
            live.order_id,
            live.order_id,
            "no-such-order",
            bobs.order_id,
            filled.order_id,
            ioc.order_id,
        ],
        now=3.0,
    )
    reason = CancelFailureReason
    assert [(r.success, r.failure_reason) for r in results] == [
        (True, reason.UNKNOWN_CANCEL_FAILURE_REASON),
        (False, reason.DUPLICATE_CANCEL_REQUEST),
        (False, reason.UNKNOWN_CANCEL_ORDER),
        (False, reason.UNKNOWN_CANCEL_ORDER),
        (False, reason.ORDER_IS_FULLY_FILLED),
        (False, reason.DUPLICATE_CANCEL_REQUEST),
    ]
    assert order(engine, bobs).status is OrderStatus.OPEN


# -- edit ------------------------------------------------------------------------------------


def test_edit_to_a_smaller_size_keeps_queue_priority_and_frees_hold() -> None:
    """Shrinking an order at the same price does not lose its place (Coinbase rule)."""
    engine = funded("alice", "bob")
    mine = place(engine, "alice", BUY, gtc("2", "100"))
    place(engine, "bob", BUY, gtc("1", "100"))
    result = engine.edit("alice", mine.order_id, price=D("100"), size=D("1"), now=5.0)
    assert result.success
    assert result.order is not None
    assert result.edit_failure_reason is EditFailureReason.UNKNOWN_EDIT_ORDER_FAILURE_REASON
    assert [v.user_id for v in engine.queue(BTC, BUY)] == ["alice", "bob"]
    assert engine.snapshot(BTC).bids == ((D("100.00"), D("2")),)
    assert result.order.outstanding_hold_amount == D("100.6")
    assert balance(engine, "alice", "USD") == (D("99899.4"), D("100.6"))
    assert result.order.base_size == D("1")
    assert [(r.price, r.size, r.replace_accept_timestamp) for r in result.order.edit_history] == [
        (D("100"), D("1"), 5.0)
    ]


@pytest.mark.parametrize(("price", "size"), [("100", "3"), ("99", "2"), ("101", "2")])
def test_edit_of_price_or_a_larger_size_goes_to_the_back_of_the_queue(
    price: str, size: str
) -> None:
    """Any other edit re-enters the book behind the orders already there."""
    engine = funded("alice", "bob")
    mine = place(engine, "alice", BUY, gtc("2", "100"))
    place(engine, "bob", BUY, gtc("1", price))
    result = engine.edit("alice", mine.order_id, price=D(price), size=D(size), now=5.0)
    assert result.success
    assert [v.user_id for v in engine.queue(BTC, BUY)][-1] == "alice"
    assert result.order is not None
    assert result.order.limit_price == D(price)
    held = D(size) * D(price) * D("1.006")
    assert balance(engine, "alice", "USD") == (D("100000") - held, held)


def test_a_sell_edit_of_price_only_moves_the_order_and_keeps_its_hold() -> None:
    """A sell holds base, so a new price changes the queue position but not the hold."""
    engine = funded("alice", "bob")
    mine = place(engine, "alice", SELL, gtc("2", "110"))
    place(engine, "bob", SELL, gtc("1", "105"))
    result = engine.edit("alice", mine.order_id, price=D("105"), size=D("2"), now=5.0)
    assert result.success
    assert [v.user_id for v in engine.queue(BTC, SELL)] == ["bob", "alice"]
    assert balance(engine, "alice", "BTC") == (D("98"), D("2"))
    assert engine.snapshot(BTC).asks == ((D("105.00"), D("3")),)


def test_edit_to_a_crossing_price_trades_at_once() -> None:
    """An edit that crosses the spread matches as a taker, like a new order would."""
    engine = funded("alice", "bob")
    mine = place(engine, "alice", BUY, gtc("1", "99"))
    place(engine, "bob", SELL, gtc("1", "101"))
    result = engine.edit("alice", mine.order_id, price=D("101"), size=D("1"), now=5.0)
    assert result.order is not None
    assert (result.order.status, result.order.filled_size) == (OrderStatus.FILLED, 1)
    assert balance(engine, "alice", "USD") == (D("100000") - D("101.606"), 0)


def _edit_fixture() -> tuple[Engine, dict[str, OrderView]]:
    engine = funded("alice", "bob", usd="1000")
    views = {
        "open": place(engine, "alice", BUY, gtc("1", "90")),
        "post_only": place(engine, "alice", BUY, gtc("1", "91", post_only=True)),
        "gtd": place(engine, "alice", BUY, gtd("1", "80", 1000.0)),
        "partial": place(engine, "alice", SELL, gtc("3", "110")),
    }
    place(engine, "bob", BUY, SorLimitIoc(base_size=D("1"), limit_price=D("110")))
    views["cancelled"] = place(engine, "alice", BUY, gtc("1", "70"))
    engine.cancel("alice", [views["cancelled"].order_id], now=2.0)
    place(engine, "bob", SELL, gtc("1", "100"))
    return engine, views


_E = EditFailureReason
EDIT_FAILURES = [
    ("unknown order", "nope", "90", "1", _E.ORDER_NOT_FOUND, _P.UNKNOWN_PREVIEW_FAILURE_REASON),
    (
        "not a gtc limit",
        "gtd",
        "80",
        "2",
        _E.ONLY_LIMIT_ORDER_EDITS_SUPPORTED,
        _P.UNKNOWN_PREVIEW_FAILURE_REASON,
    ),
    (
        "not open",
        "cancelled",
        "70",
        "2",
        _E.ONLY_OPEN_ORDERS_CAN_BE_EDITED,
        _P.UNKNOWN_PREVIEW_FAILURE_REASON,
    ),
    (
        "below filled",
        "partial",
        "110",
        "1",
        _E.CANNOT_EDIT_TO_BELOW_FILLED_SIZE,
        _P.UNKNOWN_PREVIEW_FAILURE_REASON,
    ),
    (
        "price precision",
        "open",
        "90.001",
        "1",
        _E.INVALID_EDITED_PRICE,
        _P.PREVIEW_INVALID_PRICE_PRECISION,
    ),
    ("zero price", "open", "0", "1", _E.INVALID_EDITED_PRICE, _P.PREVIEW_INVALID_LIMIT_PRICE),
    (
        "size precision",
        "open",
        "90",
        "1.000000001",
        _E.INVALID_EDITED_SIZE,
        _P.PREVIEW_INVALID_SIZE_PRECISION,
    ),
    (
        "zero size",
        "open",
        "90",
        "0",
        _E.INVALID_EDITED_SIZE,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_SMALL,
    ),
    (
        "size too large",
        "open",
        "0.01",
        "5000",
        _E.INVALID_EDITED_SIZE,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_LARGE,
    ),
    (
        "notional too small",
        "open",
        "0.01",
        "1",
        _E.INVALID_EDITED_SIZE,
        _P.PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL,
    ),
    (
        "nothing changes",
        "open",
        "90.00",
        "1",
        _E.EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST,
        _P.UNKNOWN_PREVIEW_FAILURE_REASON,
    ),
    (
        "post-only would cross",
        "post_only",
        "100",
        "1",
        _E.INVALID_EDITED_PRICE,
        _P.PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY,
    ),
    (
        "not enough funds",
        "open",
        "90",
        "50",
        _E.COMMANDER_REJECTED_EDIT_ORDER,
        _P.PREVIEW_INSUFFICIENT_FUND,
    ),
]


@pytest.mark.parametrize(
    ("which", "price", "size", "edit_reason", "preview_reason"),
    [pytest.param(*case[1:], id=case[0]) for case in EDIT_FAILURES],
)
def test_refused_edits_say_why_and_change_nothing(
    which: str,
    price: str,
    size: str,
    edit_reason: EditFailureReason,
    preview_reason: PreviewFailureReason,
) -> None:
    """Edits are refused with Coinbase's edit and preview reasons, and leave the order as it was."""
    engine, views = _edit_fixture()
    order_id = views[which].order_id if which in views else which
    engine.drain_events()
    before = (engine.list_orders("alice"), engine.all_accounts(), engine.snapshot(BTC))
    result = engine.edit("alice", order_id, price=D(price), size=D(size), now=9.0)
    assert (result.success, result.edit_failure_reason, result.preview_failure_reason) == (
        False,
        edit_reason,
        preview_reason,
    )
    assert result.order is None
    assert (engine.list_orders("alice"), engine.all_accounts(), engine.snapshot(BTC)) == before
    assert engine.drain_events() == []


def test_someone_elses_order_cannot_be_edited() -> None:
    """Order ids are not secrets; ownership is checked."""
    engine, views = _edit_fixture()
    result = engine.edit("bob", views["open"].order_id, price=D("91"), size=D("1"), now=9.0)
    assert result.edit_failure_reason is EditFailureReason.ORDER_NOT_FOUND


# -- events ----------------------------------------------------------------------------------


def test_one_operation_reports_trades_and_fills_then_orders_then_levels() -> None:
    """The app fans events out in this order: market_trades, user, then level2."""
    engine = funded("alice", "bob", "carol")
    ask1 = place(engine, "bob", SELL, gtc("1", "100"))
    ask2 = place(engine, "carol", SELL, gtc("1", "100"))
    engine.drain_events()
    bid = place(engine, "alice", BUY, gtc("1.5", "100"), now=7.5)
    events = engine.drain_events()
    assert kinds(events) == [
        "TradeExecuted",
        "FillRecorded",
        "FillRecorded",
        "TradeExecuted",
        "FillRecorded",
        "FillRecorded",
        "OrderUpdated",
        "OrderUpdated",
        "OrderUpdated",
        "LevelChanged",
    ]
    assert all(event.time == 7.5 for event in events)
    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)
    first_trade, maker_fill, taker_fill = events[0], events[1], events[2]
    assert isinstance(first_trade, TradeExecuted)
    assert (first_trade.maker_side, first_trade.taker_side) == (SELL, BUY)
    assert (first_trade.maker_order_id, first_trade.taker_order_id) == (ask1.order_id, bid.order_id)
    assert isinstance(maker_fill, FillRecorded)
    assert isinstance(taker_fill, FillRecorded)
    assert maker_fill.fill.trade_id == taker_fill.fill.trade_id == first_trade.trade_id
    assert (maker_fill.fill.liquidity_indicator, maker_fill.fill.commission) == (
        Liquidity.MAKER,
        D("0.4"),
    )
    assert (taker_fill.fill.liquidity_indicator, taker_fill.fill.commission) == (
        Liquidity.TAKER,
        D("0.6"),
    )
    updates = [e.order for e in events if isinstance(e, OrderUpdated)]
    assert [(u.order_id, u.status) for u in updates] == [
        (bid.order_id, OrderStatus.FILLED),
        (ask1.order_id, OrderStatus.FILLED),
        (ask2.order_id, OrderStatus.OPEN),
    ]
    level = events[-1]
    assert isinstance(level, LevelChanged)
    assert (level.product_id, level.side, level.price, level.new_quantity) == (
        BTC,
        BookSide.OFFER,
        D("100.00"),
        D("0.5"),
    )
    assert engine.drain_events() == []


def test_a_level_that_ends_where_it_started_is_not_reported() -> None:
    """Only net changes reach level2: a level emptied and refilled in one call is not sent."""
    engine = funded("alice", "bob", "carol")
    trade_at(engine, "99")
    trailing = place(engine, "carol", SELL, stop("1", "100", "100", UP))
    place(engine, "alice", SELL, gtc("1", "100"))
    engine.drain_events()
    # bob takes alice's ask at 100; that trade triggers carol's stop, which rests at 100.
    place(engine, "bob", BUY, SorLimitIoc(base_size=D("1"), limit_price=D("100")))
    events = engine.drain_events()
    assert "TradeExecuted" in kinds(events)
    assert not any(isinstance(event, LevelChanged) for event in events)
    assert engine.snapshot(BTC).asks == ((D("100.00"), D("1")),)
    assert [v.order_id for v in engine.queue(BTC, SELL)] == [trailing.order_id]


def test_the_same_seed_and_calls_give_the_same_ids_and_events() -> None:
    """Scenarios are replayable: nothing in the engine depends on the wall clock or uuid4."""

    def script(seed: int) -> list[EngineEvent]:
        engine = Engine(seed=seed, fees=FEES)
        for user in ("a", "b"):
            engine.deposit(user, "USD", D("1000"), now=0.0)
            engine.deposit(user, "BTC", D("1"), now=0.0)
        for i, (user, side, price) in enumerate(
            [("a", SELL, "100"), ("b", BUY, "101"), ("a", BUY, "99")]
        ):
            engine.place(
                OrderRequest(
                    user_id=user,
                    client_order_id=f"c{i}",
                    product_id=BTC,
                    side=side,
                    configuration=gtc("0.5", price),
                ),
                now=float(i),
            )
        return engine.drain_events()

    assert script(7) == script(7)
    assert script(7) != script(8)
    assert kinds(script(7)) == kinds(script(8))


# -- queries ---------------------------------------------------------------------------------


def test_list_orders_is_newest_first_filtered_and_pages_by_sequence() -> None:
    """The app paginates with a cursor that new orders cannot shift."""
    engine = funded("alice", "bob")
    views = [place(engine, "alice", BUY, gtc("1", str(90 + i)), now=float(i)) for i in range(4)]
    eth = engine.place(request("alice", BUY, gtc("0.1", "10"), product_id="ETH-USD"), now=5.0)
    assert isinstance(eth, OrderAccepted)
    engine.cancel("alice", [views[0].order_id], now=6.0)
    listed = engine.list_orders("alice")
    assert [v.order_id for v in listed] == [eth.order_id] + [v.order_id for v in reversed(views)]
    page = engine.list_orders("alice", limit=2)
    rest = engine.list_orders("alice", before_sequence=page[-1].sequence)
    assert [v.order_id for v in page + rest] == [v.order_id for v in listed]
    opened = engine.list_orders("alice", statuses={OrderStatus.OPEN})
    assert len(opened) == 4
    assert (
        engine.list_orders("alice", order_ids={views[2].order_id})[0].order_id == views[2].order_id
    )
    assert [v.order_id for v in engine.list_orders("alice", product_ids={"ETH-USD"})] == [
        eth.order_id
    ]
    assert engine.snapshot("ETH-USD").bids == ((D("10.00"), D("0.1")),)
    assert engine.list_orders("nobody") == []
    assert engine.get_order("bob", views[1].order_id) is None
    assert engine.get_order("alice", "nope") is None


def test_fills_are_newest_first_and_filtered() -> None:
    """GET /fills: by order, by product, paged by sequence."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    place(engine, "bob", SELL, gtc("1", "101"))
    first = place(engine, "alice", BUY, gtc("1", "100"))
    second = place(engine, "alice", BUY, gtc("1", "101"))
    fills = engine.fills("alice")
    assert [f.order_id for f in fills] == [second.order_id, first.order_id]
    assert fills[0].sequence > fills[1].sequence
    assert [f.order_id for f in engine.fills("alice", order_ids={first.order_id})] == [
        first.order_id
    ]
    assert engine.fills("alice", product_ids={"ETH-USD"}) == []
    assert engine.fills("alice", limit=1) == fills[:1]
    assert engine.fills("alice", before_sequence=fills[0].sequence) == fills[1:]
    fill = fills[1]
    assert (fill.side, fill.price, fill.size, fill.size_in_quote, fill.trade_type) == (
        BUY,
        D("100.00"),
        D("1"),
        False,
        "FILL",
    )
    assert [f.liquidity_indicator for f in engine.fills("bob")] == [Liquidity.MAKER] * 2
    assert engine.trading_summary("alice").total_volume == D("201")
    assert engine.trading_summary("alice").total_fees == D("1.206")
    assert engine.trading_summary("nobody").total_volume == 0


def test_market_data_queries() -> None:
    """Book snapshots, best bid/ask and recent trades feed REST market data and WS snapshots."""
    engine = funded("alice", "bob")
    for price in ("99", "98", "97"):
        place(engine, "alice", BUY, gtc("1", price))
    for price in ("101", "102"):
        place(engine, "bob", SELL, gtc("2", price))
    snapshot = engine.snapshot(BTC, depth=2)
    assert snapshot.bids == ((D("99.00"), D("1")), (D("98.00"), D("1")))
    assert snapshot.asks == ((D("101.00"), D("2")), (D("102.00"), D("2")))
    assert engine.best_bid_ask(BTC) == ((D("99.00"), D("1")), (D("101.00"), D("2")))
    assert engine.best_bid_ask("ETH-USD") == (None, None)
    assert engine.last_trade_price(BTC) is None
    place(engine, "alice", BUY, MarketIoc(base_size=D("3")), now=4.0)
    trades = engine.recent_trades(BTC)
    assert [(t.price, t.size) for t in trades] == [(D("102.00"), D("1")), (D("101.00"), D("2"))]
    assert engine.recent_trades(BTC, limit=1) == trades[:1]
    assert engine.last_trade_price(BTC) == D("102.00")
    with pytest.raises(InvalidSpec, match="unknown product 'NOPE'"):
        engine.snapshot("NOPE")


def test_accounts_are_listed_per_user_and_found_by_uuid() -> None:
    """GET /accounts and GET /accounts/{uuid}; a fill opens the account it credits."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    engine.deposit("carol", "USD", D("500"), now=1.0)
    place(engine, "carol", BUY, gtc("1", "100"))
    accounts = engine.accounts("carol")
    assert [a.currency for a in accounts] == ["USD", "BTC"]
    found = engine.account_by_uuid(accounts[1].uuid)
    assert found is not None
    assert (found.user_id, found.available) == ("carol", D("1"))
    assert engine.account_by_uuid("nope") is None
    assert engine.currencies() == ["BTC", "USD"]
    assert engine.total_deposits("USD") == D("200500")
    assert engine.products["BTC-USD"] is DEFAULT_PRODUCTS["BTC-USD"]
    assert engine.fees is FEES


def test_bad_deposits_are_refused() -> None:
    """The engine's deposit checks its argument like the ledger does."""
    engine = funded()
    with pytest.raises(InvalidSpec, match="finite Decimal >= 0"):
        engine.deposit("alice", "USD", D("-5"), now=0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"products": [DEFAULT_PRODUCTS["BTC-USD"]] * 2}, "listed twice"),
        ({"max_open_orders_per_product": 0}, "max_open_orders_per_product"),
        ({"recent_trades_kept": 0}, "recent_trades_kept"),
    ],
)
def test_engine_arguments_are_checked(kwargs: dict[str, object], message: str) -> None:
    """A misconfigured simulator fails at start, saying which argument is wrong."""
    with pytest.raises(InvalidSpec, match=message):
        Engine(**kwargs)  # type: ignore[arg-type]


# -- preview ---------------------------------------------------------------------------------


def test_preview_prices_a_market_order_against_the_book_and_changes_nothing() -> None:
    """POST /orders/preview shows the cost of walking the book, without walking it."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    place(engine, "bob", SELL, gtc("1", "101"))
    engine.drain_events()
    before = (engine.all_accounts(), engine.snapshot(BTC))
    preview = engine.preview(request("alice", BUY, MarketIoc(base_size=D("1.5"))), now=2.0)
    assert isinstance(preview, OrderPreview)
    assert (preview.base_size, preview.quote_size) == (D("1.5"), D("150.5"))
    assert (preview.commission_total, preview.order_total) == (D("0.903"), D("151.403"))
    assert preview.average_filled_price == D("100.3333333333")
    assert (preview.best_bid, preview.best_ask) == (None, D("100.00"))
    assert preview.slippage == D("0.0033333333")
    assert (engine.all_accounts(), engine.snapshot(BTC)) == before
    assert engine.drain_events() == []


def test_preview_of_resting_orders_and_of_refusals() -> None:
    """A resting remainder is priced at its limit and the maker rate; refusals pass through."""
    engine = funded("alice", "bob")
    place(engine, "bob", SELL, gtc("1", "100"))
    resting = engine.preview(request("alice", SELL, gtc("1", "110")), now=2.0)
    assert isinstance(resting, OrderPreview)
    assert (resting.quote_size, resting.commission_total, resting.order_total) == (
        D("110"),
        D("0.44"),
        D("109.56"),
    )
    assert resting.slippage == 0
    crossing = engine.preview(request("alice", BUY, gtc("2", "100")), now=2.0)
    assert isinstance(crossing, OrderPreview)
    assert crossing.commission_total == D("0.6") + D("0.4")
    stop_preview = engine.preview(request("alice", SELL, stop("1", "90", "95", DOWN)), now=2.0)
    assert isinstance(stop_preview, OrderPreview)
    assert stop_preview.quote_size == D("90")
    refused = engine.preview(request("alice", BUY, gtc("1", "100.001")), now=2.0)
    assert isinstance(refused, OrderRejected)
    assert refused.error is NewOrderFailureReason.INVALID_PRICE_PRECISION


def test_order_view_helpers_read_the_configuration() -> None:
    """The user channel needs limit/stop prices and flags flat on each order."""
    engine = funded("alice")
    view = place(engine, "alice", BUY, gtc("1", "90", post_only=True))
    assert (view.limit_price, view.stop_price, view.base_size, view.quote_size) == (
        D("90"),
        None,
        D("1"),
        None,
    )
    assert (view.end_time, view.post_only, view.settled) == (None, True, False)
    assert view.last_fill_time is None
    assert view.average_filled_price == 0
