"""The strategy contract: intents validate themselves; the context follows order events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cjt_actors.bars import Bar
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.market_messages import BarClosed, TradesReceived
from cjt_actors.order_messages import (
    DenyReason,
    IntentKind,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.orderbook import BookView
from cjt_actors.products import ProductRules
from cjt_actors.strategies import BaseStrategy, Cancel, Replace, StrategyState, Submit
from cjt_actors.strategies.base import _Recent

D = Decimal
BTC = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.0001"),
    price_increment=D("0.01"),
    base_min_size=D("0.001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)


def _state(**kwargs: int) -> StrategyState:
    return StrategyState("s", {"BTC-USD": BTC}, **kwargs)


def _update(
    coid: str,
    state: OrderState,
    *,
    previous: OrderState = OrderState.SUBMITTED,
    at: float = 1.0,
    side: Side = Side.BUY,
) -> OrderUpdated:
    return OrderUpdated(
        strategy="s",
        client_order_id=coid,
        order_id="v-" + coid,
        product_id="BTC-USD",
        side=side,
        order_type=OrderType.LIMIT,
        size=D("0.01"),
        limit_price=D("100.00"),
        previous=previous,
        state=state,
        filled_size=D(0),
        average_price=None,
        reason="",
        at=at,
    )


def _fill(trade_id: str, side: Side, size: str, price: str) -> OrderFilled:
    return OrderFilled(
        strategy="s",
        client_order_id="c",
        order_id="v",
        product_id="BTC-USD",
        side=side,
        trade_id=trade_id,
        price=D(price),
        size=D(size),
        fee=D("0.01"),
        liquidity=Liquidity.MAKER,
        at=1.0,
    )


def _submit_order(coid: str, at: float = 1.0) -> SubmitOrder:
    return SubmitOrder(
        strategy="s",
        client_order_id=coid,
        product_id="BTC-USD",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        size=D("0.01"),
        limit_price=D("101.00"),
        time_in_force=TimeInForce.GTC,
        post_only=True,
        at=at,
    )


def _denied(coid: str, intent: IntentKind) -> OrderDenied:
    return OrderDenied(
        strategy="s",
        client_order_id=coid,
        product_id="BTC-USD",
        intent=intent,
        reason=DenyReason.MAX_POSITION,
        detail="",
        at=2.0,
    )


def _bar(start: int, interval: int = 1) -> BarClosed:
    price = D(100 + start)
    bar = Bar(
        start=start,
        interval=interval,
        open=price,
        high=price,
        low=price,
        close=price,
        volume=D(1),
        trade_count=1,
    )
    return BarClosed(product_id="BTC-USD", bar=bar, at=float(start + interval))


# -- intents --------------------------------------------------------------------------------------


def test_submit_defaults_are_a_plain_gtc_order() -> None:
    submit = Submit(product_id="BTC-USD", side=Side.BUY, size=D("0.01"), price=D("100"))
    assert (submit.time_in_force, submit.post_only, submit.tag) == (TimeInForce.GTC, False, "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"product_id": ""}, "product_id"),
        ({"size": D(0)}, "size"),
        ({"size": D("NaN")}, "size"),
        ({"size": 1}, "size"),
        ({"price": D(-1)}, "price"),
        ({"price": D("Infinity")}, "price"),
        ({"price": None, "post_only": True}, "post_only"),
        ({"side": "SIDEWAYS"}, "side"),
    ],
)
def test_submit_refuses_malformed_values(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "product_id": "BTC-USD",
        "side": Side.BUY,
        "size": D("0.01"),
        "price": D("100"),
    }
    args.update(kwargs)
    with pytest.raises(InvalidSpec, match=message):
        Submit(**args)  # type: ignore[arg-type]


def test_a_market_order_has_no_price() -> None:
    assert Submit(product_id="BTC-USD", side=Side.SELL, size=D(1), price=None).price is None


def test_cancel_and_replace_carry_a_reason() -> None:
    submit = Submit(product_id="BTC-USD", side=Side.BUY, size=D(1), price=D(1))
    assert Cancel(client_order_id="a").reason == "strategy"
    assert Replace(client_order_id="a", submit=submit).reason == "replace"


def _view() -> BookView:
    return BookView(
        product_id="BTC-USD",
        best_bid=None,
        best_bid_size=None,
        best_ask=None,
        best_ask_size=None,
        mid=None,
        spread=None,
        bids=(),
        asks=(),
        last_trade_price=None,
        last_trade_size=None,
        trusted=False,
        trust_reason=None,
        updated_at=None,
        as_of=0.0,
        sequence=0,
    )


def test_base_strategy_asks_for_nothing() -> None:
    strategy = BaseStrategy()
    ctx = _state()
    view = _view()
    trades = TradesReceived(sequence_num=1, received_at=0.0, snapshot=False, trades=())
    assert list(strategy.on_start(ctx)) == []
    assert list(strategy.on_book(view, ctx)) == []
    assert list(strategy.on_trades(trades, ctx)) == []
    assert list(strategy.on_bar(_bar(0), ctx)) == []
    assert list(strategy.on_order(_denied("x", IntentKind.SUBMIT), ctx)) == []
    assert list(strategy.on_timer(ctx)) == []


# -- the context: reading -------------------------------------------------------------------------


def test_rules_of_an_unconfigured_product_name_the_configured_ones() -> None:
    ctx = _state()
    assert ctx.rules("BTC-USD") is BTC
    with pytest.raises(InvalidSpec, match=r"'DOGE-USD' is not configured \(configured: BTC-USD\)"):
        ctx.rules("DOGE-USD")
    with pytest.raises(InvalidSpec, match="configured: none"):
        StrategyState("s", {}).rules("BTC-USD")


@pytest.mark.parametrize("arg", ["bar_history", "memory"])
@pytest.mark.parametrize("value", [0, -1, True])
def test_state_sizes_must_be_positive_ints(arg: str, value: int) -> None:
    with pytest.raises(InvalidSpec, match=arg):
        _state(**{arg: value})


def test_prices_round_passively_and_sizes_down_or_up() -> None:
    ctx = _state()
    assert ctx.round_price("BTC-USD", D("100.019"), Side.BUY) == D("100.01")
    assert ctx.round_price("BTC-USD", D("100.011"), Side.SELL) == D("100.02")
    assert ctx.round_price("BTC-USD", D("100.01"), Side.SELL) == D("100.01")
    assert ctx.round_size("BTC-USD", D("0.01239")) == D("0.0123")
    assert ctx.round_size("BTC-USD", D("0.01231"), up=True) == D("0.0124")


def test_views_and_time_are_what_the_actor_recorded() -> None:
    ctx = _state()
    assert ctx.view("BTC-USD") is None
    view = _view()
    ctx.record_view(view)
    assert ctx.view("BTC-USD") is view
    assert dict(ctx.views) == {"BTC-USD": view}
    ctx.set_now(12.5)
    assert ctx.now == 12.5
    assert ctx.name == "s"
    assert dict(ctx.products) == {"BTC-USD": BTC}
    assert "s" in repr(ctx)


def test_bars_are_bounded_per_product_and_interval() -> None:
    ctx = _state(bar_history=3)
    assert ctx.bars("BTC-USD", 1) == ()
    for start in range(5):
        ctx.record_bar(_bar(start))
    ctx.record_bar(_bar(0, interval=60))
    assert [b.start for b in ctx.bars("BTC-USD", 1)] == [2, 3, 4]
    assert [b.start for b in ctx.bars("BTC-USD", 1, 2)] == [3, 4]
    assert [b.start for b in ctx.bars("BTC-USD", 1, 10)] == [2, 3, 4]
    assert ctx.bars("BTC-USD", 1, 0) == ()
    assert [b.interval for b in ctx.bars("BTC-USD", 60)] == [60]


# -- the context: orders ---------------------------------------------------------------------------


def test_a_sent_submit_is_working_as_pending_until_reported() -> None:
    ctx = _state()
    ctx.record_submit(_submit_order("a"), "ask")
    pending = ctx.working_orders["a"]
    assert (pending.state, pending.order_id, pending.side) == (OrderState.PENDING, "", Side.SELL)
    assert ctx.tag("a") == "ask"
    assert ctx.orders("BTC-USD", Side.SELL) == (pending,)
    assert ctx.orders("BTC-USD", Side.BUY) == ()
    assert ctx.orders("ETH-USD") == ()
    assert ctx.apply(_update("a", OrderState.OPEN, at=2.0))
    assert ctx.working_orders["a"].state is OrderState.OPEN
    assert ctx.apply(_update("a", OrderState.FILLED, at=3.0))
    assert "a" not in ctx.working_orders
    assert ctx.tag("a") == ""


def test_a_submit_denial_drops_the_pending_order() -> None:
    ctx = _state()
    ctx.record_submit(_submit_order("a"), "")
    assert ctx.tag("a") == ""
    assert ctx.apply(_denied("a", IntentKind.SUBMIT))
    assert ctx.working_orders == {}
    # A late report about it is stale: the order is closed for good.
    assert not ctx.apply(_update("a", OrderState.SUBMITTED, previous=OrderState.PENDING, at=5.0))
    assert ctx.working_orders == {}


def test_a_submit_denial_does_not_drop_an_order_the_venue_has() -> None:
    ctx = _state()
    ctx.apply(_update("a", OrderState.OPEN))
    assert ctx.apply(_denied("a", IntentKind.SUBMIT))  # e.g. DUPLICATE_ORDER of a re-send
    assert "a" in ctx.working_orders
    assert ctx.apply(_denied("unknown", IntentKind.SUBMIT))


def test_cancelling_orders_are_left_out_unless_asked_for() -> None:
    ctx = _state()
    ctx.apply(_update("a", OrderState.OPEN))
    ctx.apply(_update("b", OrderState.OPEN))
    ctx.record_cancel("a")
    assert ctx.is_cancelling("a")
    assert not ctx.is_cancelling("b")
    assert not ctx.is_cancelling("nope")
    assert [o.client_order_id for o in ctx.orders()] == ["b"]
    assert [o.client_order_id for o in ctx.orders(include_cancelling=True)] == ["a", "b"]


def test_a_cancel_denial_or_failure_makes_the_order_cancellable_again() -> None:
    ctx = _state()
    ctx.apply(_update("a", OrderState.OPEN))
    ctx.record_cancel("a")
    ctx.apply(_denied("a", IntentKind.CANCEL))
    assert not ctx.is_cancelling("a")
    ctx.record_cancel("a")
    ctx.apply(_update("a", OrderState.CANCEL_PENDING, previous=OrderState.OPEN, at=2.0))
    assert ctx.is_cancelling("a")
    ctx.apply(_update("a", OrderState.OPEN, previous=OrderState.CANCEL_PENDING, at=3.0))
    assert not ctx.is_cancelling("a")


def test_a_venue_cancel_pending_counts_as_cancelling() -> None:
    ctx = _state()
    ctx.apply(_update("a", OrderState.CANCEL_PENDING, previous=OrderState.OPEN))
    assert ctx.is_cancelling("a")
    # A fill while cancelling keeps it cancelling (previous CANCEL_PENDING, same state).
    ctx.apply(_update("a", OrderState.CANCEL_PENDING, previous=OrderState.CANCEL_PENDING, at=2.0))
    assert ctx.is_cancelling("a")


def test_older_updates_are_stale() -> None:
    ctx = _state()
    assert ctx.apply(_update("a", OrderState.PARTIALLY_FILLED, at=5.0))
    assert not ctx.apply(_update("a", OrderState.OPEN, at=4.0))
    assert ctx.working_orders["a"].state is OrderState.PARTIALLY_FILLED
    assert ctx.apply(_update("a", OrderState.PARTIALLY_FILLED, at=5.0))  # same time: newer


def test_fills_make_positions_and_replays_are_refused() -> None:
    ctx = _state()
    assert ctx.position("BTC-USD") == 0
    assert ctx.average_cost("BTC-USD") is None
    assert ctx.apply(_fill("t1", Side.BUY, "0.02", "100"))
    assert ctx.apply(_fill("t2", Side.BUY, "0.02", "110"))
    assert not ctx.apply(_fill("t1", Side.BUY, "0.02", "100"))
    assert ctx.position("BTC-USD") == D("0.04")
    assert ctx.average_cost("BTC-USD") == D(105)
    assert ctx.apply(_fill("t3", Side.SELL, "0.04", "120"))
    assert dict(ctx.positions) == {"BTC-USD": D(0)}
    assert ctx.average_cost("BTC-USD") is None


def test_memory_of_closed_orders_and_trades_is_bounded() -> None:
    ctx = _state(memory=2)
    for coid in ("a", "b", "c"):
        ctx.apply(_update(coid, OrderState.CANCELLED))
    # "a" was forgotten, so a (late) report about it counts again.
    assert ctx.apply(_update("a", OrderState.OPEN, at=0.5))
    assert not ctx.apply(_update("c", OrderState.OPEN, at=0.5))
    for trade in ("t1", "t2", "t3", "t3"):
        ctx.apply(_fill(trade, Side.BUY, "0.01", "100"))
    assert ctx.position("BTC-USD") == D("0.03")
    assert ctx.apply(_fill("t1", Side.BUY, "0.01", "100"))  # forgotten: counted again


def test_seed_applies_fills_then_working_orders() -> None:
    ctx = _state()
    ctx.seed(
        [_update("a", OrderState.OPEN), _update("b", OrderState.CANCEL_PENDING)],
        [_fill("t1", Side.SELL, "0.5", "100")],
    )
    assert list(ctx.working_orders) == ["a", "b"]
    assert ctx.is_cancelling("b")
    assert ctx.position("BTC-USD") == D("-0.5")


def test_the_bounded_set_forgets_its_oldest_member() -> None:
    recent = _Recent[str](2)
    for item in ("a", "b", "a", "c"):
        recent.add(item)
    assert "a" not in recent
    assert "b" in recent
    assert "c" in recent
