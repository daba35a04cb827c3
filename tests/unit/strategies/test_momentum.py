"""The breakout taker: entries on a range breakout, exits on target, stop or holding time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cjt_actors.bars import Bar
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.market_messages import BarClosed
from cjt_actors.order_messages import OrderFilled, OrderType, OrderUpdated, TimeInForce
from cjt_actors.orderbook import BookView
from cjt_actors.products import ProductRules
from cjt_actors.strategies import Intent, StrategyState, Submit
from cjt_actors.strategies.momentum import MomentumParams, MomentumTaker

D = Decimal
RULES = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.0001"),
    price_increment=D("0.01"),
    base_min_size=D("0.001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)


def _state() -> StrategyState:
    state = StrategyState("mo", {"BTC-USD": RULES})
    state.record_view(_view())
    return state


def _view(bid: str = "99.99", ask: str = "100.01", *, trusted: bool = True) -> BookView:
    return BookView(
        product_id="BTC-USD",
        best_bid=D(bid),
        best_bid_size=D(1),
        best_ask=D(ask),
        best_ask_size=D(1),
        mid=(D(bid) + D(ask)) / 2,
        spread=D(ask) - D(bid),
        bids=((D(bid), D(1)),),
        asks=((D(ask), D(1)),),
        last_trade_price=None,
        last_trade_size=None,
        trusted=trusted,
        trust_reason=None,
        updated_at=0.0,
        as_of=0.0,
        sequence=1,
    )


def _bar(
    start: int,
    close: str = "100",
    *,
    high: str | None = None,
    low: str | None = None,
    interval: int = 1,
    product: str = "BTC-USD",
) -> BarClosed:
    c = D(close)
    bar = Bar(
        start=start,
        interval=interval,
        open=c,
        high=D(high) if high is not None else c,
        low=D(low) if low is not None else c,
        close=c,
        volume=D(1),
        trade_count=1,
    )
    return BarClosed(product_id=product, bar=bar, at=float(start + interval))


def _fill(size: str, price: str = "100", trade_id: str = "t1") -> OrderFilled:
    return OrderFilled(
        strategy="mo",
        client_order_id="e",
        order_id="v",
        product_id="BTC-USD",
        side=Side.BUY if D(size) > 0 else Side.SELL,
        trade_id=trade_id,
        price=D(price),
        size=abs(D(size)),
        fee=D(0),
        liquidity=Liquidity.TAKER,
        at=0.0,
    )


def _feed(taker: MomentumTaker, state: StrategyState, event: BarClosed) -> list[Intent]:
    state.record_bar(event)
    return list(taker.on_bar(event, state))


def _taker(**params: object) -> MomentumTaker:
    base: dict[str, object] = {"lookback": 3, "size": D("0.01")}
    base.update(params)
    return MomentumTaker(MomentumParams(**base))  # type: ignore[arg-type]


def _range(taker: MomentumTaker, state: StrategyState, n: int = 3) -> None:
    """``n`` quiet bars between 99 and 101."""
    for start in range(n):
        assert _feed(taker, state, _bar(start, "100", high="101", low="99")) == []


def _ioc(side: Side, price: str, size: str, tag: str) -> Submit:
    return Submit(
        product_id="BTC-USD",
        side=side,
        size=D(size),
        price=D(price),
        time_in_force=TimeInForce.IOC,
        tag=tag,
    )


# -- params --------------------------------------------------------------------------------------


def test_defaults_are_long_only_one_second_bars() -> None:
    params = MomentumParams()
    assert (params.product, params.bar_interval, params.allow_short) == ("BTC-USD", 1, False)
    assert MomentumTaker.Params is MomentumParams
    assert "BTC-USD 1s" in repr(MomentumTaker())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"product": ""}, "product"),
        ({"bar_interval": 0}, "bar_interval"),
        ({"lookback": True}, "lookback"),
        ({"size": D(0)}, "size"),
        ({"slippage_bps": D(-1)}, "slippage_bps"),
        ({"slippage_bps": D(10_000)}, "slippage_bps"),
        ({"take_profit_bps": D(0)}, "take_profit_bps"),
        ({"stop_loss_bps": D("Infinity")}, "stop_loss_bps"),
        ({"max_hold_bars": 0}, "max_hold_bars"),
    ],
)
def test_params_refuse_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        MomentumParams(**kwargs)  # type: ignore[arg-type]


def test_an_unconfigured_product_fails_the_start() -> None:
    with pytest.raises(InvalidSpec, match="'ETH-USD' is not configured"):
        _taker(product="ETH-USD").on_start(_state())
    assert list(_taker().on_start(_state())) == []


# -- entries -------------------------------------------------------------------------------------


def test_a_close_above_the_range_buys_ioc_through_the_ask() -> None:
    taker = _taker()
    state = _state()
    _range(taker, state)
    # ask 100.01 * 1.0005 = 100.060005 -> 100.06 (rounded down: still through the ask)
    assert _feed(taker, state, _bar(3, "101.01")) == [_ioc(Side.BUY, "100.06", "0.01", "entry")]


def test_no_entry_before_lookback_bars_or_inside_the_range() -> None:
    taker = _taker()
    state = _state()
    _range(taker, state, n=2)
    assert _feed(taker, state, _bar(2, "105")) == []  # only 2 bars before it
    assert _feed(taker, state, _bar(3, "105")) == []  # the range now includes 105
    assert _feed(taker, state, _bar(4, "105")) == []  # equal to the high is no breakout


def test_bars_of_another_series_are_ignored() -> None:
    taker = _taker()
    state = _state()
    _range(taker, state)
    assert _feed(taker, state, _bar(3, "200", interval=60)) == []
    assert list(taker.on_bar(_bar(3, "200", product="ETH-USD"), state)) == []


@pytest.mark.parametrize("view", [None, _view(trusted=False)])
def test_no_order_without_a_trusted_view(view: BookView | None) -> None:
    taker = _taker()
    state = StrategyState("mo", {"BTC-USD": RULES})
    if view is not None:
        state.record_view(view)
    _range(taker, state)
    assert _feed(taker, state, _bar(3, "102")) == []


def test_breakdowns_are_sold_only_when_shorting_is_allowed() -> None:
    long_only = _taker()
    state = _state()
    _range(long_only, state)
    assert _feed(long_only, state, _bar(3, "98")) == []

    both = _taker(allow_short=True)
    state = _state()
    _range(both, state)
    # bid 99.99 * 0.9995 = 99.940005 -> 99.95 (rounded up: still through the bid)
    assert _feed(both, state, _bar(3, "98")) == [_ioc(Side.SELL, "99.95", "0.01", "entry")]


def test_nothing_while_an_order_is_in_flight() -> None:
    taker = _taker()
    state = _state()
    _range(taker, state)
    state.apply(
        OrderUpdated(
            strategy="mo",
            client_order_id="e",
            order_id="",
            product_id="BTC-USD",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            size=D("0.01"),
            limit_price=D("100.06"),
            previous=OrderState.PENDING,
            state=OrderState.SUBMITTED,
            filled_size=D(0),
            average_price=None,
            reason="",
            at=0.0,
        )
    )
    assert _feed(taker, state, _bar(3, "102")) == []


def test_dust_counts_as_flat() -> None:
    taker = _taker()
    state = _state()
    state.apply(_fill("0.0005"))  # below the minimum size: cannot be sold
    _range(taker, state)
    assert _feed(taker, state, _bar(3, "102")) == [_ioc(Side.BUY, "100.06", "0.01", "entry")]


# -- exits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("close", "exits"),
    [("100.29", False), ("100.30", True), ("99.81", False), ("99.80", True)],
)
def test_take_profit_and_stop_loss_from_the_entry(close: str, exits: bool) -> None:
    taker = _taker(take_profit_bps=D(30), stop_loss_bps=D(20))
    state = _state()
    state.apply(_fill("0.01", price="100"))
    intents = _feed(taker, state, _bar(0, close))
    assert intents == ([_ioc(Side.SELL, "99.95", "0.0100", "exit")] if exits else [])


def test_a_short_exits_by_buying() -> None:
    taker = _taker(allow_short=True, take_profit_bps=D(30))
    state = _state()
    state.apply(_fill("-0.01", price="100"))
    assert _feed(taker, state, _bar(0, "99.80")) == []  # 20 bps in our favour
    assert _feed(taker, state, _bar(1, "99.70")) == [_ioc(Side.BUY, "100.06", "0.0100", "exit")]


def test_a_position_held_too_long_is_closed() -> None:
    taker = _taker(max_hold_bars=3)
    state = _state()
    state.apply(_fill("0.01"))
    assert _feed(taker, state, _bar(0)) == []
    assert _feed(taker, state, _bar(1)) == []
    assert _feed(taker, state, _bar(2)) == [_ioc(Side.SELL, "99.95", "0.0100", "exit")]


def test_the_holding_time_restarts_after_a_flat_spell() -> None:
    taker = _taker(max_hold_bars=2)
    state = _state()
    state.apply(_fill("0.01", trade_id="t1"))
    assert _feed(taker, state, _bar(0)) == []  # held 1 bar
    state.apply(_fill("-0.01", trade_id="t2"))
    assert _feed(taker, state, _bar(1)) == []  # flat: the count resets (no breakout)
    state.apply(_fill("0.01", trade_id="t3"))
    assert _feed(taker, state, _bar(2)) == []  # held 1 bar again, not 2
    assert _feed(taker, state, _bar(3)) == [_ioc(Side.SELL, "99.95", "0.0100", "exit")]
