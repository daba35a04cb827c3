"""The risk core: every limit's validation, every pre-trade check with its exact reason, every
state transition, recovery, and the PnL picture."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.halt import HaltLatch
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.market_messages import FeedState, FeedStatusChanged
from cjt_actors.messages import StopReason
from cjt_actors.order_messages import (
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    KillSwitchTripped,
    OrderFilled,
    OrderType,
    OrderUpdated,
    PositionState,
    ReconciliationStateChanged,
    SubmitOrder,
    TimeInForce,
    TradingState,
    TradingStateChanged,
)
from cjt_actors.orderbook import BookView, TrustReason
from cjt_actors.products import ProductRules
from cjt_actors.risk_rules import (
    DAILY_LOSS_LIMIT,
    EMERGENCY,
    LOSS_STREAK,
    MAX_DRAWDOWN,
    OPERATOR,
    REARMED,
    RESUMED,
    SHUTDOWN,
    Decision,
    RiskEngine,
    RiskLimits,
)

D = Decimal
BTC = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.00000001"),
    price_increment=D("0.01"),
    base_min_size=D("0.00001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)
ETH = ProductRules(
    product_id="ETH-USD",
    base_increment=D("0.0001"),
    price_increment=D("0.01"),
    base_min_size=D("0.001"),
    base_max_size=D("1000"),
    quote_min_size=D("1"),
)
PRODUCTS = {"BTC-USD": BTC, "ETH-USD": ETH}
MIDS = {"BTC-USD": ("49990", "50010"), "ETH-USD": ("2999", "3001")}


def book(
    product: str = "BTC-USD",
    bid: str | None = None,
    ask: str | None = None,
    *,
    trusted: bool = True,
    updated_at: float | None = 0.0,
    as_of: float = 0.0,
) -> BookView:
    default_bid, default_ask = MIDS[product]
    best_bid = D(bid or default_bid)
    best_ask = D(ask or default_ask)
    return BookView(
        product_id=product,
        best_bid=best_bid,
        best_bid_size=D(1),
        best_ask=best_ask,
        best_ask_size=D(1),
        mid=(best_bid + best_ask) / 2,
        spread=best_ask - best_bid,
        bids=((best_bid, D(1)),),
        asks=((best_ask, D(1)),),
        last_trade_price=None,
        last_trade_size=None,
        trusted=trusted,
        trust_reason=None if trusted else TrustReason.GAP,
        updated_at=updated_at,
        as_of=as_of,
        sequence=1,
    )


def submit(
    coid: str = "c1",
    *,
    product: str = "BTC-USD",
    side: Side = Side.BUY,
    size: str = "0.01",
    price: str | None = "50000",
    order_type: OrderType = OrderType.LIMIT,
    strategy: str = "mm",
    post_only: bool = False,
) -> SubmitOrder:
    return SubmitOrder(
        strategy=strategy,
        client_order_id=coid,
        product_id=product,
        side=side,
        order_type=order_type,
        size=D(size),
        limit_price=None if price is None else D(price),
        time_in_force=TimeInForce.GTC,
        post_only=post_only,
        at=0.0,
    )


def market(coid: str = "m1", **kwargs: object) -> SubmitOrder:
    return submit(coid, price=None, order_type=OrderType.MARKET, **kwargs)  # type: ignore[arg-type]


def updated(
    order: SubmitOrder,
    state: OrderState,
    *,
    previous: OrderState = OrderState.PENDING,
    filled: str = "0",
) -> OrderUpdated:
    return OrderUpdated(
        strategy=order.strategy,
        client_order_id=order.client_order_id,
        order_id="v-" + order.client_order_id,
        product_id=order.product_id,
        side=order.side,
        order_type=order.order_type,
        size=order.size,
        limit_price=order.limit_price,
        previous=previous,
        state=state,
        filled_size=D(filled),
        average_price=None,
        reason="",
        at=0.0,
    )


def filled(
    trade_id: str,
    *,
    side: Side = Side.BUY,
    price: str = "50000",
    size: str = "0.01",
    fee: str = "0",
    product: str = "BTC-USD",
    coid: str = "c1",
    strategy: str = "mm",
) -> OrderFilled:
    return OrderFilled(
        strategy=strategy,
        client_order_id=coid,
        order_id="v-" + coid,
        product_id=product,
        side=side,
        trade_id=trade_id,
        price=D(price),
        size=D(size),
        fee=D(fee),
        liquidity=Liquidity.MAKER,
        at=0.0,
    )


def feed(state: FeedState = FeedState.CONNECTED) -> FeedStatusChanged:
    return FeedStatusChanged(state=state, detail="", attempt=0, at=0.0)


def engine(
    limits: RiskLimits | None = None, *, latch: HaltLatch | None = None, started_at: float = 0.0
) -> RiskEngine:
    """An engine with the feed up and a fresh, trusted book of both products."""
    risk = RiskEngine(limits or RiskLimits(), PRODUCTS, started_at=started_at, latch=latch)
    risk.on_feed_status(feed())
    risk.on_view(book("BTC-USD"))
    risk.on_view(book("ETH-USD"))
    return risk


def reason(decision: Decision) -> DenyReason | None:
    return decision.reason


# -- RiskLimits ---------------------------------------------------------------------------------


def test_default_limits_are_the_documented_ones() -> None:
    limits = RiskLimits()
    assert limits.max_order_notional == D(5000)
    assert limits.max_position_notional == D(20000)
    assert limits.max_gross_exposure == D(50000)
    assert (limits.max_open_orders, limits.submit_rate, limits.cancel_rate) == (20, 20, 40)
    assert (limits.rate_window, limits.max_book_age, limits.pnl_interval) == (1.0, 10.0, 1.0)
    assert (limits.daily_loss_limit, limits.max_drawdown) == (D(1000), D(500))
    assert (limits.loss_streak, limits.loss_streak_cooldown) == (5, 60.0)
    assert limits.rearm_after is None
    assert limits.rearm_fraction == D("0.5")
    assert limits.day_length == 86400.0
    assert dict(limits.max_order_size) == {} == dict(limits.max_position)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_order_notional", D(0)),
        ("max_order_notional", D("NaN")),
        ("max_order_notional", 5000),
        ("max_gross_exposure", D(-1)),
        ("price_band_bps", D("Infinity")),
        ("max_open_orders", 0),
        ("submit_rate", True),
        ("cancel_rate", 1.5),
        ("rate_window", 0.0),
        ("max_book_age", float("inf")),
        ("pnl_interval", "1"),
        ("day_length", False),
        ("rearm_after", -1.0),
        ("rearm_fraction", D(1)),
        ("rearm_fraction", D("-0.1")),
        ("rearm_fraction", 0.5),
        ("loss_streak", -3),
    ],
)
def test_a_bad_limit_is_refused_naming_its_field(field: str, value: object) -> None:
    with pytest.raises(InvalidSpec, match=rf"RiskLimits\.{field} "):
        RiskLimits(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([("BTC-USD", D(1))], r"RiskLimits\.max_position must map product ids"),
        ({"": D(1)}, r"RiskLimits\.max_position: '' is not a product id"),
        ({"BTC-USD": D(0)}, r"RiskLimits\.max_position\['BTC-USD'\] must be a positive"),
        ({"BTC-USD": 1}, r"RiskLimits\.max_position\['BTC-USD'\] must be a positive"),
    ],
)
def test_a_bad_per_product_limit_is_refused_naming_the_product(value: object, match: str) -> None:
    with pytest.raises(InvalidSpec, match=match):
        RiskLimits(max_position=value)  # type: ignore[arg-type]


def test_per_product_limits_are_copied_read_only_and_the_limits_stay_hashable() -> None:
    source = {"BTC-USD": D("0.5")}
    limits = RiskLimits(max_order_size=source, rearm_after=30, max_position={"ETH-USD": D(2)})
    source["BTC-USD"] = D(99)
    assert limits.max_order_size["BTC-USD"] == D("0.5")
    with pytest.raises(TypeError):
        limits.max_order_size["BTC-USD"] = D(1)  # type: ignore[index]
    assert hash(limits) == hash(attrs.evolve(limits))
    assert limits == attrs.evolve(limits)


def test_a_decision_is_either_an_approval_or_a_denial_with_a_reason() -> None:
    assert Decision(approved=True).reason is None
    with pytest.raises(InvalidSpec):
        Decision(approved=True, reason=DenyReason.COOLDOWN)
    with pytest.raises(InvalidSpec):
        Decision(approved=False)


# -- check_submit, in order ----------------------------------------------------------------------


def test_a_sound_order_is_approved_and_counts_as_working() -> None:
    risk = engine()
    decision = risk.check_submit(submit(), 0.0)
    assert decision == Decision(approved=True)
    assert risk.open_orders == 1
    assert risk.working_order_ids() == {"c1"}
    assert risk.product_of("c1") == "BTC-USD"
    assert risk.product_of("nope") is None


def test_a_market_order_is_approved_at_the_mid() -> None:
    assert engine().check_submit(market(size="0.1"), 0.0).approved


def test_halted_refuses_before_anything_else() -> None:
    risk = engine()
    risk.check_submit(submit("dup"), 0.0)
    risk.halt(OPERATOR, "lunch", now=0.0)
    decision = risk.check_submit(submit("dup", product="DOGE-USD"), 0.0)
    assert decision.reason is DenyReason.TRADING_HALTED
    assert "lunch" in decision.detail


def test_the_latch_refuses_even_before_the_state_moves() -> None:
    latch = HaltLatch()
    risk = engine(latch=latch)
    latch.set(StopReason.SIGNAL, "SIGTERM")
    decision = risk.check_submit(submit(), 0.0)
    assert decision.reason is DenyReason.TRADING_HALTED
    assert "signal" in decision.detail
    assert "SIGTERM" in decision.detail
    assert risk.state is TradingState.ACTIVE  # until the next evaluation


def test_a_used_client_order_id_is_a_duplicate() -> None:
    risk = engine()
    assert risk.check_submit(submit("c1"), 0.0).approved
    assert reason(risk.check_submit(submit("c1"), 0.0)) is DenyReason.DUPLICATE_ORDER
    # still a duplicate once the order is over
    risk.on_order_updated(updated(submit("c1"), OrderState.CANCELLED))
    assert reason(risk.check_submit(submit("c1"), 0.0)) is DenyReason.DUPLICATE_ORDER


def test_a_denied_client_order_id_may_be_used_again() -> None:
    risk = engine()
    assert reason(risk.check_submit(submit("c1", size="0"), 0.0)) is DenyReason.INVALID_ORDER
    assert risk.check_submit(submit("c1"), 0.0).approved


def test_an_unconfigured_product_is_unknown() -> None:
    decision = engine().check_submit(submit(product="DOGE-USD"), 0.0)
    assert decision.reason is DenyReason.UNKNOWN_PRODUCT
    assert "BTC-USD, ETH-USD" in decision.detail


@pytest.mark.parametrize(
    ("order", "why"),
    [
        (submit(size="0"), "size 0 is not positive"),
        (submit(size="-1"), "size -1 is not positive"),
        (submit(size="NaN"), "size NaN is not positive"),
        (submit(price=None), "a limit order needs a limit_price"),
        (submit(order_type=OrderType.MARKET), "a market order takes no limit_price"),
        (market(post_only=True), "a market order cannot be post-only"),
        (submit(price="0"), "limit_price 0 is not positive"),
        (submit(price="-5"), "limit_price -5 is not positive"),
        (submit(price="Infinity"), "limit_price Infinity is not positive"),
        (attrs.evolve(submit(), side=Side("SIDEWAYS")), "is not BUY or SELL"),
    ],
)
def test_a_malformed_order_is_invalid(order: SubmitOrder, why: str) -> None:
    decision = engine().check_submit(order, 0.0)
    assert decision.reason is DenyReason.INVALID_ORDER
    assert why in decision.detail


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (submit(size="0.000000015"), DenyReason.SIZE_INCREMENT),
        (submit(size="1E+90"), DenyReason.SIZE_INCREMENT),  # too many digits for any grid
        (submit(price="50000.005"), DenyReason.PRICE_INCREMENT),
        (submit(size="0.000005"), DenyReason.SIZE_TOO_SMALL),  # base_min_size
        (submit(size="101"), DenyReason.SIZE_TOO_LARGE),  # base_max_size
        (submit(size="0.00001", price="50000"), DenyReason.SIZE_TOO_SMALL),  # 0.50 < 1 quote
        (market(size="0.00001"), DenyReason.SIZE_TOO_SMALL),  # at the mid
    ],
)
def test_the_products_rules_apply(order: SubmitOrder, expected: DenyReason) -> None:
    assert engine().check_submit(order, 0.0).reason is expected


def test_market_data_checks_in_order() -> None:
    assert RiskEngine(RiskLimits(), PRODUCTS, started_at=0.0).feed_state is None
    risk = RiskEngine(RiskLimits(), PRODUCTS, started_at=0.0)
    decision = risk.check_submit(submit(), 0.0)
    assert decision.reason is DenyReason.FEED_DOWN
    assert "no status yet" in decision.detail
    risk.on_feed_status(feed(FeedState.RECONNECTING))
    assert "reconnecting" in risk.check_submit(submit(), 0.0).detail
    risk.on_feed_status(feed())
    assert risk.feed_state is FeedState.CONNECTED
    decision = risk.check_submit(submit(), 0.0)
    assert (decision.reason, decision.detail) == (DenyReason.NO_MARKET, "BTC-USD: no book")
    one_sided = attrs.evolve(book(), best_ask=None, mid=None, asks=())
    risk.on_view(one_sided)
    decision = risk.check_submit(submit(), 0.0)
    assert decision.reason is DenyReason.NO_MARKET
    assert "no mid" in decision.detail
    risk.on_view(book(trusted=False))
    decision = risk.check_submit(submit(), 0.0)
    assert (decision.reason, decision.detail) == (
        DenyReason.BOOK_UNTRUSTED,
        "BTC-USD book untrusted (gap)",
    )
    risk.on_view(attrs.evolve(book(trusted=False), trust_reason=None))
    assert "(empty)" in risk.check_submit(submit(), 0.0).detail
    risk.on_view(book(updated_at=0.0))
    assert risk.check_submit(submit("a"), 10.0).approved  # exactly max_book_age old is fine
    decision = risk.check_submit(submit("b"), 10.5)
    assert decision.reason is DenyReason.BOOK_STALE
    assert "10.5 s ago" in decision.detail
    risk.on_view(book(updated_at=None))
    assert "never" in risk.check_submit(submit("c"), 0.0).detail


def test_a_view_of_an_unconfigured_product_is_ignored() -> None:
    risk = engine()
    risk.on_view(attrs.evolve(book(), product_id="DOGE-USD"))
    assert "DOGE-USD" not in {p.product_id for p in risk.snapshot(0.0).positions}
    assert risk.check_submit(submit(product="DOGE-USD"), 0.0).reason is DenyReason.UNKNOWN_PRODUCT


def test_a_view_without_a_mid_keeps_the_last_mark() -> None:
    risk = engine()
    risk.on_order_filled(filled("t1", size="0.1"), 0.0)
    risk.on_view(book(bid="50990", ask="51010"))
    risk.on_view(attrs.evolve(book(), best_ask=None, mid=None, asks=()))
    [position] = risk.snapshot(0.0).positions
    assert position.mark == D(51000)
    assert position.unrealized_pnl == D(100)


def test_a_market_order_without_a_mid_is_no_market_not_too_small() -> None:
    risk = engine()
    risk.on_view(attrs.evolve(book(), best_ask=None, mid=None, asks=()))
    assert risk.check_submit(market(), 0.0).reason is DenyReason.NO_MARKET


def test_max_order_size_per_product() -> None:
    risk = engine(RiskLimits(max_order_size={"BTC-USD": D("0.05")}))
    assert risk.check_submit(submit("a", size="0.05"), 0.0).approved
    decision = risk.check_submit(submit("b", size="0.06"), 0.0)
    assert decision.reason is DenyReason.MAX_ORDER_SIZE
    assert decision.detail == "size 0.06 > max_order_size 0.05"
    assert risk.check_submit(submit("c", product="ETH-USD", size="1", price="3000"), 0.0).approved


def test_max_order_notional_at_the_limit_price_or_the_mid() -> None:
    risk = engine()
    assert risk.check_submit(submit("a", size="0.1", price="50000"), 0.0).approved
    decision = risk.check_submit(submit("b", size="0.1", price="50000.01"), 0.0)
    assert decision.reason is DenyReason.MAX_ORDER_NOTIONAL
    assert "5000.001 > max_order_notional 5000" in decision.detail
    risk.on_view(book(bid="50000", ask="50020"))  # mid 50010
    assert risk.check_submit(market("m", size="0.1"), 0.0).reason is DenyReason.MAX_ORDER_NOTIONAL


def test_the_price_band_is_measured_from_the_mid() -> None:
    risk = engine()  # mid 50000, band 100 bps = 500
    assert risk.check_submit(submit("a", price="50500"), 0.0).approved
    assert risk.check_submit(submit("b", price="49500", side=Side.SELL), 0.0).approved
    decision = risk.check_submit(submit("c", price="50500.01"), 0.0)
    assert decision.reason is DenyReason.PRICE_BAND
    assert "100.0 bps from mid 50000" in decision.detail
    assert reason(risk.check_submit(submit("d", price="40000"), 0.0)) is DenyReason.PRICE_BAND


def test_max_position_counts_working_orders_on_the_same_side() -> None:
    # default limit: 20000 / 50000 = 0.4 BTC
    risk = engine(RiskLimits(max_order_notional=D(100_000)))
    risk.on_order_filled(filled("t1", size="0.2"), 0.0)
    assert risk.check_submit(submit("a", size="0.1"), 0.0).approved
    assert risk.check_submit(submit("b", size="0.1"), 0.0).approved
    decision = risk.check_submit(submit("c", size="0.00002"), 0.0)
    assert decision.reason is DenyReason.MAX_POSITION
    assert "worst-case position 0.40002" in decision.detail
    # the other side does not add to the long worst case
    assert risk.check_submit(submit("s", side=Side.SELL, size="0.3"), 0.0).approved


def test_max_position_per_product_in_base_units() -> None:
    risk = engine(RiskLimits(max_position={"ETH-USD": D(1)}))
    assert risk.check_submit(submit("a", product="ETH-USD", size="1", price="3000"), 0.0).approved
    decision = risk.check_submit(submit("b", product="ETH-USD", size="0.001", price="3000"), 0.0)
    assert decision.reason is DenyReason.MAX_POSITION


def test_a_short_is_limited_too_and_a_fill_reduces_the_working_remainder() -> None:
    risk = engine(RiskLimits(max_order_notional=D(100_000)))
    sell = submit("a", side=Side.SELL, size="0.4")
    assert risk.check_submit(sell, 0.0).approved
    assert reason(risk.check_submit(submit("b", side=Side.SELL, size="0.001"), 0.0)) is (
        DenyReason.MAX_POSITION
    )
    # part of it fills: the position takes what the working order gives up
    risk.on_order_filled(filled("t1", side=Side.SELL, size="0.1", coid="a"), 0.0)
    risk.on_order_updated(updated(sell, OrderState.PARTIALLY_FILLED, filled="0.1"))
    assert risk.position("BTC-USD") == D("-0.1")
    assert reason(risk.check_submit(submit("c", side=Side.SELL, size="0.001"), 0.0)) is (
        DenyReason.MAX_POSITION
    )
    risk.on_order_updated(updated(sell, OrderState.CANCELLED, filled="0.1"))
    assert risk.check_submit(submit("d", side=Side.SELL, size="0.3"), 0.0).approved


def test_an_order_that_reduces_a_position_past_its_limit_is_allowed() -> None:
    risk = engine(RiskLimits(max_position={"BTC-USD": D("0.1")}))
    risk.on_order_filled(filled("t1", size="0.5"), 0.0)  # over the limit (it was lowered)
    assert reason(risk.check_submit(submit("a", size="0.01"), 0.0)) is DenyReason.MAX_POSITION
    assert risk.check_submit(submit("b", side=Side.SELL, size="0.05"), 0.0).approved
    # overshooting through flat to a short past the limit is not reducing
    risk2 = engine(RiskLimits(max_position={"BTC-USD": D("0.1")}, max_order_notional=D(10**6)))
    risk2.on_order_filled(filled("t1", size="0.5"), 0.0)
    decision = risk2.check_submit(submit("c", side=Side.SELL, size="0.7"), 0.0)
    assert decision.reason is DenyReason.MAX_POSITION


def test_gross_exposure_counts_positions_and_working_orders() -> None:
    limits = RiskLimits(max_gross_exposure=D(10_000), max_position_notional=D(10**6))
    risk = engine(limits)
    risk.on_order_filled(filled("t1", size="0.1"), 0.0)  # 5000 at mid 50000
    assert risk.check_submit(submit("a", product="ETH-USD", size="1", price="3000"), 0.0).approved
    assert risk.gross_exposure() == D(8000)
    decision = risk.check_submit(submit("b", size="0.04002", price="50000"), 0.0)
    assert decision.reason is DenyReason.MAX_GROSS_EXPOSURE
    assert "10001" in decision.detail
    assert risk.check_submit(submit("c", size="0.04", price="50000"), 0.0).approved
    # a reducing order is never refused for exposure
    assert risk.check_submit(submit("d", side=Side.SELL, size="0.05"), 0.0).approved


def test_gross_exposure_marks_a_working_market_order_and_a_product_without_a_book() -> None:
    risk = RiskEngine(RiskLimits(), PRODUCTS, started_at=0.0)
    risk.on_order_filled(filled("t1", product="ETH-USD", price="2000", size="1"), 0.0)
    assert risk.gross_exposure() == D(2000)  # no book yet: at the average cost
    risk.on_order_updated(updated(market("m", size="0.1"), OrderState.OPEN))
    assert risk.gross_exposure() == D(2000)  # no mark, no position: 0
    risk.on_view(book())
    assert risk.gross_exposure() == D(7000)


def test_max_open_orders_counts_approvals_in_flight() -> None:
    risk = engine(RiskLimits(max_open_orders=2))
    assert risk.check_submit(submit("a"), 0.0).approved
    risk.on_order_updated(updated(submit("a"), OrderState.SUBMITTED))
    assert risk.check_submit(submit("b"), 0.0).approved  # in flight
    decision = risk.check_submit(submit("c"), 0.0)
    assert (decision.reason, decision.detail) == (
        DenyReason.MAX_OPEN_ORDERS,
        "2 orders working (max_open_orders 2)",
    )
    risk.on_order_updated(updated(submit("b"), OrderState.REJECTED))
    assert risk.check_submit(submit("c"), 0.0).approved


def test_the_submit_rate_denies_and_slides() -> None:
    risk = engine(RiskLimits(submit_rate=2, rate_window=1.0))
    assert risk.check_submit(submit("a"), 0.0).approved
    assert risk.check_submit(submit("b"), 0.5).approved
    decision = risk.check_submit(submit("c"), 0.9)
    assert (decision.reason, decision.detail) == (
        DenyReason.SUBMIT_RATE,
        "2 submits in the last 1 s (submit_rate 2)",
    )
    assert risk.check_submit(submit("c"), 1.0).approved  # "a" left the window


def test_withdraw_forgets_an_approval_still_in_flight_only() -> None:
    risk = engine()
    order = submit("a")
    assert risk.check_submit(order, 0.0).approved
    risk.withdraw(order)
    assert risk.open_orders == 0
    assert risk.check_submit(order, 0.0).approved  # the id is free again
    risk.on_order_updated(updated(order, OrderState.SUBMITTED))
    risk.withdraw(order)
    assert risk.open_orders == 1
    risk.withdraw(submit("never-approved"))
    assert risk.open_orders == 1


def test_an_executor_denial_frees_the_in_flight_approval_but_not_the_id() -> None:
    from cjt_actors.order_messages import IntentKind, OrderDenied

    risk = engine()
    order = submit("dup")
    assert risk.check_submit(order, 0.0).approved
    assert risk.open_orders == 1

    def denied(intent: IntentKind, coid: str = "dup") -> OrderDenied:
        return OrderDenied(
            strategy="mm",
            client_order_id=coid,
            product_id="BTC-USD",
            intent=intent,
            reason=DenyReason.DUPLICATE_ORDER,
            detail="executor: known id",
            at=0.0,
        )

    risk.on_order_denied(denied(IntentKind.CANCEL))  # a cancel denial changes nothing
    assert risk.open_orders == 1
    risk.on_order_denied(denied(IntentKind.SUBMIT))
    assert risk.open_orders == 0
    assert reason(risk.check_submit(order, 0.0)) is DenyReason.DUPLICATE_ORDER
    risk.on_order_denied(denied(IntentKind.SUBMIT, "unknown"))  # nothing to free
    assert risk.open_orders == 0


# -- REDUCING and cooldown ------------------------------------------------------------------------


def reducing_engine(position: str = "0.2") -> RiskEngine:
    risk = engine(RiskLimits(max_drawdown=D(100), max_order_notional=D(10**6)))
    risk.on_order_filled(filled("t1", size=position, price="50000"), 0.0)
    risk.on_view(book(bid="49490", ask="49510"))  # mid 49500: unrealized -100
    events = risk.evaluate(1.0)
    assert risk.state is TradingState.REDUCING
    [change] = events
    assert isinstance(change, TradingStateChanged)
    assert (change.previous, change.state, change.reason) == (
        TradingState.ACTIVE,
        TradingState.REDUCING,
        MAX_DRAWDOWN,
    )
    assert "drawdown 100" in change.detail
    return risk


def test_reducing_only_lets_orders_that_shrink_the_position() -> None:
    risk = reducing_engine("0.2")
    decision = risk.check_submit(submit("buy", price="49500"), 1.0)
    assert decision.reason is DenyReason.REDUCING_ONLY
    assert "does not reduce the BTC-USD position 0.2" in decision.detail
    assert risk.check_submit(submit("s1", side=Side.SELL, size="0.15", price="49500"), 1.0).approved
    # with s1 working, only 0.05 more may be sold
    decision = risk.check_submit(submit("s2", side=Side.SELL, size="0.06", price="49500"), 1.0)
    assert decision.reason is DenyReason.REDUCING_ONLY
    assert risk.check_submit(submit("s3", side=Side.SELL, size="0.05", price="49500"), 1.0).approved


def test_reducing_with_no_position_refuses_everything() -> None:
    risk = reducing_engine()
    risk.on_order_filled(filled("t2", side=Side.SELL, size="0.2", price="49500"), 1.0)
    assert risk.position("BTC-USD") == 0
    assert reason(risk.check_submit(submit("x", side=Side.SELL, price="49500"), 1.0)) is (
        DenyReason.REDUCING_ONLY
    )


def test_reducing_stays_without_rearm_after() -> None:
    risk = reducing_engine()
    risk.on_view(book(bid="60000", ask="60000.02"))
    assert risk.evaluate(10_000.0) == []
    assert risk.state is TradingState.REDUCING


def test_rearm_needs_the_time_and_the_hysteresis() -> None:
    risk = engine(RiskLimits(max_drawdown=D(100), rearm_after=30.0, rearm_fraction=D("0.5")))
    risk.on_order_filled(filled("t1", size="0.2", price="50000"), 0.0)
    risk.on_view(book(bid="49490", ask="49510"))  # drawdown 100
    risk.evaluate(0.0)
    assert risk.state is TradingState.REDUCING
    risk.on_view(book(bid="49740", ask="49760"))  # mid 49750: drawdown 50, at the threshold
    assert risk.evaluate(29.9) == []  # not long enough
    risk.on_view(book(bid="49739.98", ask="49760"))  # drawdown 50.002: not enough recovery
    assert risk.evaluate(31.0) == []
    risk.on_view(book(bid="49740", ask="49760", updated_at=31.0))
    [change] = risk.evaluate(31.0)
    assert isinstance(change, TradingStateChanged)
    assert (change.previous, change.state, change.reason) == (
        TradingState.REDUCING,
        TradingState.ACTIVE,
        REARMED,
    )
    assert "after 31 s reducing" in change.detail
    assert risk.check_submit(submit("buy", price="49750"), 31.0).approved


def test_a_loss_streak_pauses_every_submit() -> None:
    risk = engine(RiskLimits(loss_streak=2, loss_streak_cooldown=60.0))
    risk.on_order_filled(filled("open", size="0.1", price="50000"), 0.0)
    risk.on_order_filled(filled("l1", side=Side.SELL, size="0.01", price="49900"), 1.0)
    assert risk.evaluate(1.0) == []
    risk.on_order_filled(filled("l2", side=Side.SELL, size="0.01", price="49900"), 2.0)
    assert risk.cooldown_until == 62.0
    [change] = risk.evaluate(2.0)
    assert isinstance(change, TradingStateChanged)
    assert (change.previous, change.state, change.reason) == (
        TradingState.ACTIVE,
        TradingState.ACTIVE,
        LOSS_STREAK,
    )
    decision = risk.check_submit(submit("x", side=Side.SELL), 10.0)
    assert decision.reason is DenyReason.COOLDOWN
    assert "until t=62 (52 s left)" in decision.detail
    risk.on_view(book(updated_at=62.0))
    assert risk.check_submit(submit("x", side=Side.SELL), 62.0).approved


def test_a_profit_resets_the_streak_and_an_opening_fill_does_not() -> None:
    risk = engine(RiskLimits(loss_streak=2))
    risk.on_order_filled(filled("open", size="0.1", price="50000"), 0.0)
    risk.on_order_filled(filled("l1", side=Side.SELL, size="0.01", price="49900"), 1.0)
    risk.on_order_filled(filled("add", size="0.01", price="50000"), 1.0)  # realizes nothing
    risk.on_order_filled(filled("w1", side=Side.SELL, size="0.01", price="51000"), 1.0)
    risk.on_order_filled(filled("l2", side=Side.SELL, size="0.01", price="49900"), 1.0)
    assert risk.cooldown_until is None
    risk.on_order_filled(filled("l3", side=Side.SELL, size="0.01", price="49900"), 1.0)
    assert risk.cooldown_until == 61.0


def test_a_loss_streak_while_halted_records_no_state_change() -> None:
    risk = engine(RiskLimits(loss_streak=1))
    risk.halt(OPERATOR, "x", now=0.0)
    risk.evaluate(0.0)
    risk.on_order_filled(filled("open", size="0.1"), 0.0)
    risk.on_order_filled(filled("l1", side=Side.SELL, size="0.01", price="49000"), 1.0)
    assert risk.cooldown_until == 61.0
    assert risk.evaluate(1.0) == []


# -- the daily loss limit (kill switch), halts and the latch -------------------------------------


def test_the_daily_loss_limit_halts_for_good_and_trips_the_kill_switch_once() -> None:
    risk = engine(RiskLimits(daily_loss_limit=D(1000), max_drawdown=D(10_000)))
    risk.on_order_filled(filled("t1", size="0.1", price="50000", fee="10"), 0.0)
    risk.on_view(book(bid="40089.99", ask="40110.01"))  # mid 40100: -990 - 10 fee = -1000
    events = risk.evaluate(5.0)
    assert [type(e) for e in events] == [TradingStateChanged, KillSwitchTripped]
    change, trip = events
    assert isinstance(change, TradingStateChanged)
    assert isinstance(trip, KillSwitchTripped)
    assert (change.state, change.reason) == (TradingState.HALTED, DAILY_LOSS_LIMIT)
    assert trip.limit == "daily_loss_limit"
    assert "-1000" in trip.detail
    assert trip.detail == change.detail
    assert risk.kill_switch_tripped
    assert risk.evaluate(6.0) == []
    assert reason(risk.check_submit(submit("x"), 6.0)) is DenyReason.TRADING_HALTED
    decision = risk.resume("please", now=7.0)
    assert decision.reason is DenyReason.TRADING_HALTED
    assert "DAILY_LOSS_LIMIT halt cannot be resumed" in decision.detail
    assert risk.state is TradingState.HALTED
    assert risk.evaluate(7.0) == []  # a refused resume changes nothing


def test_the_kill_switch_trips_over_a_manual_halt_and_makes_it_final() -> None:
    risk = engine(RiskLimits(daily_loss_limit=D(100)))
    risk.halt(OPERATOR, "lunch", now=0.0)
    risk.on_order_filled(filled("t1", size="0.1", price="52000"), 0.0)  # -200 at mid 50000
    events = risk.evaluate(0.0)
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [
        (TradingStateChanged, OPERATOR),
        (TradingStateChanged, DAILY_LOSS_LIMIT),
        (KillSwitchTripped, None),
    ]
    assert not risk.resume("back", now=1.0).approved


def test_the_day_rolls_over_on_trios_clock_and_the_baseline_follows() -> None:
    limits = RiskLimits(daily_loss_limit=D(100), max_drawdown=D(10_000), day_length=100.0)
    risk = engine(limits, started_at=1000.0)
    risk.on_order_filled(filled("t1", size="0.1", price="50000"), 1000.0)
    risk.on_view(book(bid="49090", ask="49110"))  # -90 today
    assert risk.evaluate(1099.0) == []
    assert risk.day_pnl() == D(-90)
    assert risk.evaluate(1250.0) == []  # two days later: the baseline is -90
    assert risk.day_pnl() == 0
    risk.on_view(book(bid="48090", ask="48110"))  # another -100 in the new day
    assert [type(e) for e in risk.evaluate(1260.0)] == [TradingStateChanged, KillSwitchTripped]


def test_halt_and_resume_by_the_operator() -> None:
    risk = engine()
    assert risk.resume("nothing", now=0.0) == Decision(
        approved=True, detail="not halted (ACTIVE): nothing to resume"
    )
    risk.halt(OPERATOR, "operator: lunch", now=1.0)
    risk.halt(OPERATOR, "again", now=2.0)  # the first halt stays the root cause
    [change] = risk.evaluate(2.0)
    assert isinstance(change, TradingStateChanged)
    assert (change.previous, change.state, change.reason, change.detail, change.at) == (
        TradingState.ACTIVE,
        TradingState.HALTED,
        OPERATOR,
        "operator: lunch",
        1.0,
    )
    assert risk.check_cancel_all(CancelAllOrders(reason="", product_id="", at=0), 2.0).approved
    assert risk.resume("after lunch", now=3.0).approved
    [back] = risk.evaluate(3.0)
    assert isinstance(back, TradingStateChanged)
    assert (back.previous, back.state, back.reason) == (
        TradingState.HALTED,
        TradingState.ACTIVE,
        RESUMED,
    )
    assert risk.check_submit(submit(), 3.0).approved


def test_a_resume_goes_back_to_reducing_not_to_active() -> None:
    risk = reducing_engine()
    risk.halt(OPERATOR, "look", now=2.0)
    assert risk.resume("done", now=3.0).approved
    assert risk.state is TradingState.REDUCING
    events = risk.evaluate(3.0)
    assert [getattr(e, "reason", None) for e in events] == [OPERATOR, RESUMED]


def test_an_unresumable_halt_by_another_reason_stays() -> None:
    risk = engine()
    risk.halt("VENUE", "auth revoked", now=0.0, resumable=True)
    assert not risk.resume("x", now=1.0).approved  # not a code an operator may lift


def test_the_latch_halts_at_the_next_evaluation_and_blocks_a_resume() -> None:
    latch = HaltLatch()
    risk = engine(latch=latch)
    assert risk.evaluate(0.0) == []
    latch.set(StopReason.KILL_SWITCH, "loss")
    [change] = risk.evaluate(1.0)
    assert isinstance(change, TradingStateChanged)
    assert (change.previous, change.state, change.reason) == (
        TradingState.ACTIVE,
        TradingState.HALTED,
        EMERGENCY,
    )
    assert "kill_switch" in change.detail
    assert risk.evaluate(2.0) == []
    decision = risk.resume("x", now=3.0)
    assert decision.reason is DenyReason.TRADING_HALTED
    assert "latch is set" in decision.detail


# -- cancels ------------------------------------------------------------------------------------


def cancel(coid: str = "c1", strategy: str = "mm") -> CancelOrder:
    return CancelOrder(strategy=strategy, client_order_id=coid, reason="requote", at=0.0)


def test_cancels_pass_in_every_state_for_the_owner_of_a_working_order() -> None:
    latch = HaltLatch()
    risk = engine(latch=latch)
    risk.check_submit(submit("c1"), 0.0)
    assert risk.check_cancel(cancel("c1"), 0.0).approved  # in flight
    risk.on_order_updated(updated(submit("c1"), OrderState.OPEN))
    risk.halt(OPERATOR, "x", now=0.0)
    latch.set(StopReason.SIGNAL, "stop")
    risk.evaluate(0.0)
    assert risk.check_cancel(cancel("c1"), 0.0).approved
    assert risk.check_cancel_all(CancelAllOrders(reason="", product_id="", at=0.0), 0.0).approved


def test_a_cancel_of_an_order_not_working_or_not_ours_is_refused() -> None:
    risk = engine()
    decision = risk.check_cancel(cancel("ghost"), 0.0)
    assert (decision.reason, decision.detail) == (
        DenyReason.UNKNOWN_ORDER,
        "order 'ghost' is not working (not known)",
    )
    risk.check_submit(submit("c1"), 0.0)
    decision = risk.check_cancel(cancel("c1", strategy="other"), 0.0)
    assert (decision.reason, decision.detail) == (
        DenyReason.NOT_OWNER,
        "order 'c1' belongs to strategy 'mm'",
    )
    risk.on_order_updated(updated(submit("c1"), OrderState.FILLED, filled="0.01"))
    assert "(terminal)" in risk.check_cancel(cancel("c1"), 0.0).detail


def test_the_cancel_rate() -> None:
    risk = engine(RiskLimits(cancel_rate=1, rate_window=2.0))
    risk.check_submit(submit("c1"), 0.0)
    assert risk.check_cancel(cancel("c1"), 0.0).approved
    decision = risk.check_cancel(cancel("c1"), 1.0)
    assert decision.reason is DenyReason.CANCEL_RATE
    assert risk.check_cancel(cancel("c1"), 2.0).approved


# -- order events and positions -----------------------------------------------------------------


def test_a_repeated_trade_id_changes_nothing() -> None:
    risk = engine(RiskLimits(loss_streak=1))
    risk.on_order_filled(filled("t1", size="0.1"), 0.0)
    risk.on_order_filled(filled("t2", side=Side.SELL, size="0.05", price="49000"), 0.0)
    before = risk.snapshot(0.0)
    risk.on_order_filled(filled("t2", side=Side.SELL, size="0.05", price="49000"), 100.0)
    risk.on_order_filled(filled("t1", size="0.1"), 100.0)
    assert risk.snapshot(0.0) == before
    assert risk.cooldown_until == 60.0  # not restarted by the repeat


def test_a_terminal_order_never_comes_back() -> None:
    risk = engine()
    order = submit("c1")
    risk.check_submit(order, 0.0)
    risk.on_order_updated(updated(order, OrderState.CANCELLED))
    risk.on_order_updated(updated(order, OrderState.OPEN))  # a stale update, replayed
    assert risk.open_orders == 0


def test_an_order_first_heard_of_from_the_executor_is_tracked() -> None:
    risk = engine(RiskLimits(max_order_notional=D(10**6)))
    risk.on_order_updated(updated(submit("ext", size="0.3"), OrderState.OPEN))
    assert risk.open_orders == 1
    assert reason(risk.check_submit(submit("ext"), 0.0)) is DenyReason.DUPLICATE_ORDER
    assert reason(risk.check_submit(submit("x", size="0.11"), 0.0)) is DenyReason.MAX_POSITION


def test_snapshot_reports_the_account() -> None:
    risk = engine()
    risk.on_order_filled(filled("t1", size="0.1", price="49000", fee="2"), 0.0)
    risk.on_order_filled(filled("t2", side=Side.SELL, size="0.05", price="49500", fee="1"), 0.0)
    risk.on_order_filled(filled("e1", product="ETH-USD", size="1", price="3100", coid="e"), 0.0)
    risk.check_submit(submit("w"), 0.0)
    risk.evaluate(0.0)
    pnl = risk.snapshot(7.0)
    btc, eth = pnl.positions
    assert btc == PositionState(
        product_id="BTC-USD",
        quantity=D("0.05"),
        average_cost=D(49000),
        realized_pnl=D(25),
        fees=D(3),
        mark=D(50000),
        unrealized_pnl=D(50),
    )
    assert (eth.quantity, eth.mark, eth.unrealized_pnl) == (D(1), D(3000), D(-100))
    assert pnl.realized_pnl == D(25)
    assert pnl.unrealized_pnl == D(-50)
    assert pnl.fees == D(3)
    assert pnl.equity == D(-28) == risk.equity()
    assert pnl.peak_equity == D(0)
    assert pnl.drawdown == D(28)
    assert pnl.gross_exposure == D(2500) + D(3000)
    assert (pnl.open_orders, pnl.state, pnl.at) == (1, TradingState.ACTIVE, 7.0)
    assert risk.peak_equity == D(0)


def test_snapshot_without_a_mark_counts_no_unrealized_pnl() -> None:
    risk = RiskEngine(RiskLimits(), PRODUCTS, started_at=0.0)
    risk.on_order_filled(filled("t1", size="0.1", price="49000"), 0.0)
    pnl = risk.snapshot(0.0)
    assert (pnl.unrealized_pnl, pnl.gross_exposure) == (D(0), D(4900))
    assert pnl.positions[0].mark is None
    assert risk.equity() == D(0)


def test_the_peak_includes_equity_not_yet_evaluated() -> None:
    risk = engine()
    risk.on_order_filled(filled("t1", size="0.1", price="49000"), 0.0)  # +100 at 50000
    pnl = risk.snapshot(0.0)
    assert (pnl.peak_equity, pnl.drawdown) == (D(100), D(0))


# -- recovery -----------------------------------------------------------------------------------


def test_restore_rebuilds_positions_orders_state_and_peak() -> None:
    working = submit("w", side=Side.SELL, size="0.2")
    risk = engine(RiskLimits(max_order_notional=D(10**6)))
    risk.restore(
        fills=[
            filled("t1", size="0.3"),
            filled("t1", size="0.3"),
            filled("t2", side=Side.SELL, size="0.1", coid="w"),
        ],
        working_orders=[updated(working, OrderState.PARTIALLY_FILLED, filled="0.1")],
        last_state=TradingStateChanged(
            previous=TradingState.ACTIVE,
            state=TradingState.HALTED,
            reason=OPERATOR,
            detail="lunch",
            at=0.0,
        ),
        peak_equity=D(250),
        now=0.0,
    )
    assert risk.position("BTC-USD") == D("0.2")
    assert risk.open_orders == 1
    # the working sell has 0.1 left, not 0 (its fill is counted once, not twice)
    assert risk.gross_exposure() == D("0.2") * 50000 + D("0.1") * 50000
    assert risk.state is TradingState.HALTED
    assert (risk.state_reason, risk.state_detail) == (OPERATOR, "lunch")
    assert risk.snapshot(0.0).peak_equity == D(250)
    assert reason(risk.check_submit(submit("w"), 0.0)) is DenyReason.TRADING_HALTED
    assert risk.resume("back", now=1.0).approved  # an operator's halt stays resumable
    assert reason(risk.check_submit(submit("w"), 0.0)) is DenyReason.DUPLICATE_ORDER
    assert reason(risk.check_submit(submit("t-coid", size="0.21"), 0.0)) is DenyReason.MAX_POSITION


@pytest.mark.parametrize(
    ("reason_code", "resumable", "tripped"),
    [(DAILY_LOSS_LIMIT, False, True), (EMERGENCY, True, False), ("SOMETHING_NEW", False, False)],
)
def test_a_recovered_halt_is_kept(reason_code: str, resumable: bool, tripped: bool) -> None:
    risk = engine(RiskLimits(daily_loss_limit=D(1)))
    risk.restore(
        fills=[filled("t1", size="0.1", price="60000")],  # -1000: past the daily loss limit
        working_orders=[],
        last_state=TradingStateChanged(
            previous=TradingState.ACTIVE,
            state=TradingState.HALTED,
            reason=reason_code,
            detail="before",
            at=0.0,
        ),
        peak_equity=None,
        now=0.0,
    )
    assert risk.kill_switch_tripped is tripped
    events = risk.evaluate(0.0)
    # a kill switch already tripped is not tripped again; otherwise it trips now
    assert any(isinstance(e, KillSwitchTripped) for e in events) is not tripped
    if not tripped:
        assert risk.state_reason == DAILY_LOSS_LIMIT
    assert risk.state is TradingState.HALTED
    assert risk.resume("x", now=1.0).approved is False


def test_a_recovered_emergency_halt_may_be_resumed_with_a_new_latch() -> None:
    risk = engine(latch=HaltLatch())
    risk.restore(
        fills=[],
        working_orders=[],
        last_state=TradingStateChanged(
            previous=TradingState.ACTIVE,
            state=TradingState.HALTED,
            reason=EMERGENCY,
            detail="SIGTERM",
            at=0.0,
        ),
        peak_equity=None,
        now=0.0,
    )
    assert risk.state is TradingState.HALTED
    assert risk.resume("new run", now=1.0).approved
    assert risk.snapshot(1.0).state is TradingState.ACTIVE


@pytest.mark.parametrize("before", [TradingState.ACTIVE, TradingState.REDUCING])
def test_a_halt_for_a_requested_stop_is_not_carried_to_the_next_run(
    before: TradingState,
) -> None:
    risk = engine(latch=HaltLatch())
    risk.restore(
        fills=[],
        working_orders=[],
        last_state=TradingStateChanged(
            previous=before,
            state=TradingState.HALTED,
            reason=SHUTDOWN,
            detail="SIGTERM",
            at=0.0,
        ),
        peak_equity=None,
        now=0.0,
    )
    assert risk.state is before
    assert risk.state_reason == RESUMED
    assert "stopped on request (SIGTERM)" in risk.state_detail
    assert reason(risk.check_submit(submit("new"), 0.0)) is not DenyReason.TRADING_HALTED


def test_a_recovered_reducing_state_counts_its_rearm_time_from_the_restart() -> None:
    risk = engine(RiskLimits(rearm_after=10.0))
    risk.restore(
        fills=[],
        working_orders=[],
        last_state=TradingStateChanged(
            previous=TradingState.ACTIVE,
            state=TradingState.REDUCING,
            reason=MAX_DRAWDOWN,
            detail="",
            at=0.0,
        ),
        peak_equity=None,
        now=100.0,
    )
    assert risk.evaluate(105.0) == []
    assert [getattr(e, "reason", None) for e in risk.evaluate(110.0)] == [REARMED]


def test_memo_and_adopt_carry_what_the_journal_does_not_hold() -> None:
    limits = RiskLimits(loss_streak=3, submit_rate=2, cancel_rate=1, day_length=100.0)
    first = engine(limits, started_at=0.0)
    first.on_order_filled(filled("open", size="0.1", price="50000"), 0.0)
    first.on_order_filled(filled("l1", side=Side.SELL, size="0.01", price="49000"), 1.0)
    first.on_order_filled(filled("l2", side=Side.SELL, size="0.01", price="49000"), 1.0)
    known = submit("known")
    assert first.check_submit(known, 1.0).approved
    first.on_order_updated(updated(known, OrderState.OPEN))
    assert first.check_submit(submit("flying"), 1.0).approved
    assert first.check_cancel(cancel("known"), 1.0).approved
    first.halt(OPERATOR, "x", now=1.0)
    first.evaluate(150.0)  # a day rolled over
    memo = first.memo()
    assert [o.client_order_id for o in memo.in_flight] == ["flying"]
    assert memo.loss_streak == 2
    assert memo.day_started_at == 100.0

    second = engine(limits, started_at=120.0)
    second.restore(
        fills=[filled("open", size="0.1", price="50000")],
        working_orders=[updated(known, OrderState.OPEN)],
        last_state=None,
        peak_equity=None,
        now=1.5,
    )
    second.adopt(memo)
    assert second.memo() == memo
    assert second.state is TradingState.HALTED
    assert second.open_orders == 2
    assert second.resume("y", now=1.5).approved
    assert reason(second.check_submit(submit("flying"), 1.5)) is DenyReason.DUPLICATE_ORDER
    assert reason(second.check_submit(submit("third"), 1.5)) is DenyReason.SUBMIT_RATE
    assert reason(second.check_cancel(cancel("known"), 1.5)) is DenyReason.CANCEL_RATE
    # one more losing fill completes the streak begun before the restart
    second.on_order_filled(filled("l3", side=Side.SELL, size="0.01", price="49000"), 2.0)
    assert second.cooldown_until == 62.0


def test_adopt_does_not_count_twice_an_approval_the_journal_already_knows() -> None:
    first = engine()
    flying = submit("flying")
    assert first.check_submit(flying, 0.0).approved
    memo = first.memo()
    second = engine()
    second.restore(
        fills=[],
        working_orders=[updated(flying, OrderState.OPEN)],
        last_state=None,
        peak_equity=None,
        now=0.0,
    )
    second.adopt(memo)
    assert second.open_orders == 1
    assert second.memo().in_flight == ()  # the executor reported it: no longer in flight


def test_repr_names_state_and_counts() -> None:
    risk = engine()
    risk.check_submit(submit(), 0.0)
    assert repr(risk) == "<RiskEngine ACTIVE (start): 0 positions, 1 working orders>"


# -- reconciliation ---------------------------------------------------------------------------


def _reconciling(on: bool, trigger: str = "user channel reconnected") -> ReconciliationStateChanged:
    return ReconciliationStateChanged(venue="sim", reconciling=on, trigger=trigger, at=0.0)


def test_submits_are_denied_while_the_executor_reconciles_and_cancels_still_pass() -> None:
    risk = engine()
    assert risk.check_submit(submit("before"), 0.0).approved
    risk.on_reconciliation(_reconciling(True))
    denied = risk.check_submit(submit("during"), 0.0)
    assert reason(denied) is DenyReason.RECONCILING
    assert "'sim' (user channel reconnected)" in denied.detail
    assert risk.reconciling
    assert reason(risk.check_cancel(cancel("before"), 0.0)) is None  # cancels always pass
    risk.on_reconciliation(_reconciling(False))
    assert not risk.reconciling
    assert risk.check_submit(submit("after"), 0.0).approved


def test_a_restarted_risk_actor_keeps_denying_while_the_reconciliation_it_missed_runs() -> None:
    risk = engine()
    risk.on_reconciliation(_reconciling(True, "user channel: sequence gap"))
    again = engine()
    again.adopt(risk.memo())
    assert reason(again.check_submit(submit("x"), 0.0)) is DenyReason.RECONCILING


# -- flatten ------------------------------------------------------------------------------------


def test_flatten_closes_each_position_and_reports_what_is_too_small_to_close() -> None:
    risk = engine()
    risk.on_order_filled(filled("t1", side=Side.SELL, size="0.02"), 0.0)  # short BTC
    risk.on_order_filled(filled("t2", product="ETH-USD", size="0.0004", coid="e1"), 0.0)
    ids = iter(["f1", "f2"])
    orders, dust = risk.flatten_orders(lambda product: next(ids), now=3.0)
    [close] = orders
    assert (close.client_order_id, close.product_id, close.side, close.size, close.at) == (
        "f1",
        "BTC-USD",
        Side.BUY,
        D("0.02"),
        3.0,
    )
    assert close.order_type is OrderType.MARKET
    assert dust == ["ETH-USD 0.0004: below the minimum size 0.001"]
    assert risk.snapshot(3.0).open_orders == 1
