"""The market maker: where it quotes, when it requotes, and when it stops quoting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.order_messages import OrderFilled, OrderType, OrderUpdated, TimeInForce
from cjt_actors.orderbook import BookView, TrustReason
from cjt_actors.products import ProductRules
from cjt_actors.strategies import Cancel, Intent, Replace, StrategyState, Submit
from cjt_actors.strategies.market_maker import MarketMaker, MarketMakerParams, Quote

D = Decimal


def _rules(product: str = "BTC-USD", **kwargs: Decimal) -> ProductRules:
    values = {
        "base_increment": D("0.0001"),
        "price_increment": D("0.01"),
        "base_min_size": D("0.001"),
        "base_max_size": D("100"),
        "quote_min_size": D("1"),
    }
    values.update(kwargs)
    return ProductRules(product_id=product, **values)


def _state(*rules: ProductRules, now: float = 0.0) -> StrategyState:
    state = StrategyState("mm", {r.product_id: r for r in rules or (_rules(),)})
    state.set_now(now)
    return state


def _view(
    bid: str | None = "99.99",
    ask: str | None = "100.01",
    *,
    product: str = "BTC-USD",
    trusted: bool = True,
    reason: TrustReason | None = None,
    updated_at: float | None = 0.0,
) -> BookView:
    best_bid = None if bid is None else D(bid)
    best_ask = None if ask is None else D(ask)
    both = best_bid is not None and best_ask is not None
    return BookView(
        product_id=product,
        best_bid=best_bid,
        best_bid_size=None if best_bid is None else D(1),
        best_ask=best_ask,
        best_ask_size=None if best_ask is None else D(1),
        mid=(best_bid + best_ask) / 2 if both else None,  # type: ignore[operator]
        spread=best_ask - best_bid if both else None,  # type: ignore[operator]
        bids=() if best_bid is None else ((best_bid, D(1)),),
        asks=() if best_ask is None else ((best_ask, D(1)),),
        last_trade_price=None,
        last_trade_size=None,
        trusted=trusted,
        trust_reason=reason,
        updated_at=updated_at,
        as_of=0.0 if updated_at is None else updated_at,
        sequence=1,
    )


def _quote(
    coid: str,
    side: Side,
    price: str | None,
    *,
    product: str = "BTC-USD",
    state: OrderState = OrderState.OPEN,
) -> OrderUpdated:
    return OrderUpdated(
        strategy="mm",
        client_order_id=coid,
        order_id="v-" + coid,
        product_id=product,
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        size=D(1),
        limit_price=None if price is None else D(price),
        previous=OrderState.SUBMITTED,
        state=state,
        filled_size=D(0),
        average_price=None,
        reason="",
        at=0.0,
    )


def _buy(size: str, price: str = "100", trade_id: str = "t1") -> OrderFilled:
    return OrderFilled(
        strategy="mm",
        client_order_id="x",
        order_id="v",
        product_id="BTC-USD",
        side=Side.BUY if D(size) > 0 else Side.SELL,
        trade_id=trade_id,
        price=D(price),
        size=abs(D(size)),
        fee=D(0),
        liquidity=Liquidity.MAKER,
        at=0.0,
    )


def _mm(**params: object) -> MarketMaker:
    return MarketMaker(MarketMakerParams(**params))  # type: ignore[arg-type]


def _started(mm: MarketMaker, state: StrategyState) -> list[Intent]:
    return list(mm.on_start(state))


def _book(mm: MarketMaker, state: StrategyState, view: BookView) -> list[Intent]:
    state.record_view(view)
    return list(mm.on_book(view, state))


def _submits(intents: list[Intent]) -> list[tuple[Side, Decimal | None, Decimal]]:
    return [(i.side, i.price, i.size) for i in intents if isinstance(i, Submit)]


# -- params --------------------------------------------------------------------------------------


def test_default_params_are_a_sane_quote() -> None:
    params = MarketMakerParams()
    assert params.products == ()
    assert params.order_notional == D(100)
    assert params.half_spread_bps == D(5)
    assert params.post_only
    assert MarketMaker.Params is MarketMakerParams
    assert "all" in repr(MarketMaker())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order_notional": D(0)}, "order_notional"),
        ({"half_spread_bps": D(0)}, "half_spread_bps"),
        ({"half_spread_bps": 5}, "half_spread_bps"),
        ({"inventory_skew_bps": D(-1)}, "inventory_skew_bps"),
        ({"inventory_skew_bps": D("NaN")}, "inventory_skew_bps"),
        ({"max_inventory_notional": D(0)}, "max_inventory_notional"),
        ({"requote_threshold_bps": D(-1)}, "requote_threshold_bps"),
        ({"max_view_age": 0.0}, "max_view_age"),
        ({"max_view_age": True}, "max_view_age"),
        ({"max_view_age": float("inf")}, "max_view_age"),
        ({"half_spread_bps": D(5000), "inventory_skew_bps": D(5000)}, "below 10000"),
        ({"products": ("BTC-USD", "BTC-USD")}, "repeat"),
    ],
)
def test_params_refuse_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        MarketMakerParams(**kwargs)  # type: ignore[arg-type]


def test_an_unconfigured_product_fails_the_start() -> None:
    with pytest.raises(InvalidSpec, match="'ETH-USD' is not configured"):
        _started(_mm(products=("ETH-USD",)), _state())


# -- where it quotes -----------------------------------------------------------------------------


def test_a_flat_book_gets_a_bid_and_an_ask_around_mid() -> None:
    mm = _mm()
    state = _state()
    assert _started(mm, state) == []
    intents = _book(mm, state, _view("99.99", "100.01"))
    assert intents == [
        Submit(
            product_id="BTC-USD",
            side=Side.BUY,
            size=D("1.0000"),
            price=D("99.95"),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            tag="bid",
        ),
        Submit(
            product_id="BTC-USD",
            side=Side.SELL,
            size=D("1.0000"),
            price=D("100.05"),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            tag="ask",
        ),
    ]


def test_bids_round_down_and_asks_round_up() -> None:
    mm = _mm()
    state = _state()
    _started(mm, state)
    # mid 100.005: the bid 99.95499.. rounds down, the ask 100.0550.. rounds up.
    intents = _book(mm, state, _view("100.00", "100.01"))
    assert [(side, price) for side, price, _ in _submits(intents)] == [
        (Side.BUY, D("99.95")),
        (Side.SELL, D("100.06")),
    ]


def test_a_long_inventory_lowers_both_quotes() -> None:
    mm = _mm(inventory_skew_bps=D(10), max_inventory_notional=D(1000))
    state = _state()
    _started(mm, state)
    state.apply(_buy("5"))  # 500 of 1000: half the skew, 5 bps
    intents = _book(mm, state, _view("99.99", "100.01"))
    # reservation 99.95; bid 99.900025 -> 99.90; ask 99.999975 -> 100.00
    assert [(side, price) for side, price, _ in _submits(intents)] == [
        (Side.BUY, D("99.90")),
        (Side.SELL, D("100.00")),
    ]


def test_a_short_inventory_raises_both_quotes() -> None:
    mm = _mm(inventory_skew_bps=D(10), max_inventory_notional=D(1000))
    state = _state()
    _started(mm, state)
    state.apply(_buy("-5"))
    intents = _book(mm, state, _view("99.99", "100.01"))
    # reservation 100.05; bid 99.999975 -> 99.99; ask 100.100025 -> 100.11
    assert [(side, price) for side, price, _ in _submits(intents)] == [
        (Side.BUY, D("99.99")),
        (Side.SELL, D("100.11")),
    ]


def test_quotes_never_cross_the_opposite_best() -> None:
    mm = _mm(half_spread_bps=D(1), inventory_skew_bps=D(500), max_inventory_notional=D(1000))
    long = _state()
    _started(mm, long)
    long.apply(_buy("10"))  # full inventory: reservation 95, far below the bid of 99
    assert _submits(_book(mm, long, _view("99.00", "101.00"))) == [
        (Side.SELL, D("99.01"), D("1.0000"))  # no bid: it would exceed the inventory
    ]
    short = _state()
    _started(mm, short)
    short.apply(_buy("-10"))
    assert _submits(_book(mm, short, _view("99.00", "101.00"))) == [
        (Side.BUY, D("100.99"), D("1.0000"))
    ]


def test_the_side_that_would_exceed_max_inventory_is_not_quoted() -> None:
    mm = _mm(max_inventory_notional=D(500))
    state = _state()
    _started(mm, state)
    state.apply(_buy("4.5"))  # 450 + one more quote of 100 > 500
    state.apply(_quote("b", Side.BUY, "99.95"))
    intents = _book(mm, state, _view())
    assert intents[0] == Cancel(client_order_id="b", reason="inventory limit")
    assert _submits(intents) == [(Side.SELL, D("100.01"), D("1.0000"))]


def test_sizes_respect_the_product_minimums_and_maximum() -> None:
    state = _state(_rules(base_min_size=D("2")))
    mm = _mm()
    _started(mm, state)
    assert {size for _, _, size in _submits(_book(mm, state, _view()))} == {D(2)}

    state = _state(_rules(quote_min_size=D("150")))
    _started(mm, state)
    assert {size for _, _, size in _submits(_book(mm, state, _view()))} == {D("1.5")}

    state = _state(_rules(base_max_size=D("0.5")))
    _started(mm, state)
    assert {size for _, _, size in _submits(_book(mm, state, _view()))} == {D("0.5")}


def test_a_bid_that_rounds_to_zero_is_not_sent() -> None:
    mm = _mm(half_spread_bps=D(9000), order_notional=D("0.01"))
    state = _state(_rules(quote_min_size=D("0.0001")))
    _started(mm, state)
    intents = _book(mm, state, _view("0.01", "0.03"))
    assert _submits(intents) == [(Side.SELL, D("0.04"), D("0.5000"))]


def test_ideal_quotes_is_none_for_an_unfit_view() -> None:
    mm = _mm()
    state = _state()
    assert mm.ideal_quotes(_view(trusted=False, reason=TrustReason.GAP), state) is None
    ideal = mm.ideal_quotes(_view(), state)
    assert ideal is not None
    assert ideal.bid == Quote(price=D("99.95"), size=D("1.0000"))
    assert ideal.mid == D(100)


def test_post_only_can_be_turned_off() -> None:
    mm = _mm(post_only=False)
    state = _state()
    _started(mm, state)
    intents = _book(mm, state, _view())
    assert {i.post_only for i in intents if isinstance(i, Submit)} == {False}


# -- when it requotes ----------------------------------------------------------------------------


def test_a_small_move_keeps_the_quotes() -> None:
    mm = _mm(requote_threshold_bps=D(5))
    state = _state()
    _started(mm, state)
    state.apply(_quote("b", Side.BUY, "99.95"))
    state.apply(_quote("a", Side.SELL, "100.05"))
    assert _book(mm, state, _view("100.01", "100.03")) == []  # ideal moved 2 bps


def test_a_move_beyond_the_threshold_replaces_the_quote() -> None:
    mm = _mm(requote_threshold_bps=D(5))
    state = _state()
    _started(mm, state)
    state.apply(_quote("b", Side.BUY, "99.95"))
    state.apply(_quote("a", Side.SELL, "100.05"))
    intents = _book(mm, state, _view("100.09", "100.11"))  # mid 100.10: 10 bps
    assert [type(i) for i in intents] == [Replace, Replace]
    replace_bid, replace_ask = intents
    assert isinstance(replace_bid, Replace)
    assert isinstance(replace_ask, Replace)
    assert (replace_bid.client_order_id, replace_bid.submit.price) == ("b", D("100.04"))
    assert (replace_ask.client_order_id, replace_ask.submit.price) == ("a", D("100.16"))


def test_a_zero_threshold_replaces_a_quote_whose_price_changed() -> None:
    mm = _mm(requote_threshold_bps=D(0))
    state = _state()
    _started(mm, state)
    state.apply(_quote("b", Side.BUY, "99.95"))
    state.apply(_quote("a", Side.SELL, "100.05"))
    assert _book(mm, state, _view()) == []
    intents = _book(mm, state, _view("100.00", "100.02"))  # the bid still rounds to 99.95
    assert [i.client_order_id for i in intents if isinstance(i, Replace)] == ["a"]


def test_a_quote_without_a_limit_price_is_replaced() -> None:
    mm = _mm()
    state = _state()
    _started(mm, state)
    state.apply(_quote("m", Side.BUY, None))
    state.apply(_quote("a", Side.SELL, "100.05"))
    intents = _book(mm, state, _view())
    assert [type(i) for i in intents] == [Replace]


def test_leftover_quotes_are_cancelled_and_the_newest_is_kept() -> None:
    mm = _mm()
    state = _state()
    state.seed([_quote("old", Side.BUY, "99.00"), _quote("new", Side.BUY, "99.95")], [])
    assert _started(mm, state) == []  # no view yet: wait for it
    intents = _book(mm, state, _view())
    assert intents[0] == Cancel(client_order_id="old", reason="duplicate quote")
    assert _submits(intents) == [(Side.SELL, D("100.05"), D("1.0000"))]


def test_quotes_being_cancelled_do_not_count() -> None:
    mm = _mm()
    state = _state()
    _started(mm, state)
    state.apply(_quote("b", Side.BUY, "99.95", state=OrderState.CANCEL_PENDING))
    intents = _book(mm, state, _view())
    assert [side for side, _, _ in _submits(intents)] == [Side.BUY, Side.SELL]


def test_a_fill_requotes_with_the_new_skew() -> None:
    mm = _mm(inventory_skew_bps=D(10), max_inventory_notional=D(1000))
    state = _state()
    _started(mm, state)
    state.record_view(_view())
    state.apply(_quote("b", Side.BUY, "99.95"))
    state.apply(_quote("a", Side.SELL, "100.05"))
    fill = _buy("5")
    state.apply(fill)
    intents = list(mm.on_order(fill, state))
    assert [i.submit.price for i in intents if isinstance(i, Replace)] == [
        D("99.90"),
        D("100.00"),
    ]


# -- when it stops quoting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        (_view(trusted=False, reason=TrustReason.GAP), "book untrusted (gap)"),
        (_view(trusted=False), "book untrusted (empty)"),
        (_view(ask=None), "book one-sided"),
        (_view(updated_at=None), "book stale"),
    ],
)
def test_an_unfit_view_cancels_the_quotes(view: BookView, reason: str) -> None:
    mm = _mm()
    state = _state()
    _started(mm, state)
    state.apply(_quote("b", Side.BUY, "99.95"))
    state.apply(_quote("a", Side.SELL, "100.05"))
    assert _book(mm, state, view) == [
        Cancel(client_order_id="b", reason=reason),
        Cancel(client_order_id="a", reason=reason),
    ]


def test_the_timer_cancels_quotes_on_a_view_that_went_stale() -> None:
    mm = _mm(max_view_age=5.0)
    state = _state()
    _started(mm, state)
    _book(mm, state, _view(updated_at=10.0))
    state.apply(_quote("b", Side.BUY, "99.95"))
    state.apply(_quote("a", Side.SELL, "100.05"))
    state.set_now(15.0)
    assert list(mm.on_timer(state)) == []  # exactly max_view_age old: still fit
    state.set_now(15.5)
    assert list(mm.on_timer(state)) == [
        Cancel(client_order_id="b", reason="book stale"),
        Cancel(client_order_id="a", reason="book stale"),
    ]


def test_old_quotes_wait_for_the_first_view_for_max_view_age_only() -> None:
    mm = _mm(max_view_age=5.0)
    state = _state(now=100.0)
    state.seed([_quote("b", Side.BUY, "99.95"), _quote("a", Side.SELL, "100.05")], [])
    assert _started(mm, state) == []
    state.set_now(105.0)
    assert list(mm.on_timer(state)) == []
    state.set_now(105.5)
    assert list(mm.on_timer(state)) == [
        Cancel(client_order_id="b", reason="no book yet"),
        Cancel(client_order_id="a", reason="no book yet"),
    ]


# -- which products ------------------------------------------------------------------------------


def test_only_its_products_are_quoted() -> None:
    mm = _mm(products=("ETH-USD",))
    state = _state(_rules(), _rules("ETH-USD"))
    assert _started(mm, state) == []
    assert _book(mm, state, _view()) == []
    assert list(mm.on_order(_buy("1"), state)) == []
    eth = _book(mm, state, _view(product="ETH-USD"))
    assert {i.product_id for i in eth if isinstance(i, Submit)} == {"ETH-USD"}


def test_every_configured_product_by_default() -> None:
    mm = _mm()
    state = _state(_rules(), _rules("ETH-USD"))
    _started(mm, state)
    state.record_view(_view())
    state.record_view(_view(product="ETH-USD"))
    intents = list(mm.on_timer(state))
    assert sorted({i.product_id for i in intents if isinstance(i, Submit)}) == [
        "BTC-USD",
        "ETH-USD",
    ]
    assert repr(mm) == "<MarketMaker products=['BTC-USD', 'ETH-USD']>"
