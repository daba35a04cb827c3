"""Market-maker quotes, whatever the book, params and inventory: on the grid, passive, bounded.

For any trusted two-sided book, any params, any position and any working quotes, every order
the market maker asks for (directly or inside a Replace):

* is on the product's price and size grids, with a positive price and size;
* never crosses the opposite best (a bid is below the best ask, an ask above the best bid);
* leaves the bid below the ask when both are quoted;
* never takes ``|position| * mid`` past ``max_inventory_notional`` on the side that adds
  (a bid if it fills: ``(position + size) * mid``; an ask: ``(size - position) * mid``).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import event, given
from hypothesis import strategies as st

from cjt_actors.exchange.orders import Side
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.order_messages import OrderFilled, OrderType, OrderUpdated
from cjt_actors.orderbook import BookView
from cjt_actors.products import ProductRules
from cjt_actors.strategies import Replace, StrategyState, Submit
from cjt_actors.strategies.market_maker import MarketMaker, MarketMakerParams

D = Decimal
PRODUCT = "X-USD"

bps = st.integers(min_value=0, max_value=200_000).map(lambda n: D(n) / 100)  # 0..2000 bps
positive_bps = st.integers(min_value=1, max_value=200_000).map(lambda n: D(n) / 100)
notional = st.integers(min_value=1, max_value=10**7).map(lambda n: D(n) / 100)


@st.composite
def setups(draw: st.DrawFn) -> tuple[MarketMaker, StrategyState, BookView]:
    price_increment = draw(st.sampled_from([D("0.0001"), D("0.01"), D("0.5"), D("1")]))
    base_increment = draw(st.sampled_from([D("0.00000001"), D("0.001"), D("1")]))
    rules = ProductRules(
        product_id=PRODUCT,
        base_increment=base_increment,
        price_increment=price_increment,
        base_min_size=base_increment * draw(st.integers(1, 100)),
        base_max_size=base_increment * draw(st.integers(10_000, 10**9)),
        quote_min_size=draw(notional),
    )
    half_spread = draw(positive_bps)
    skew = draw(bps.filter(lambda s: s + half_spread < 10_000))
    params = MarketMakerParams(
        order_notional=draw(notional),
        half_spread_bps=half_spread,
        inventory_skew_bps=skew,
        max_inventory_notional=draw(notional),
        requote_threshold_bps=draw(bps),
    )
    bid_ticks = draw(st.integers(1, 10**7))
    ask_ticks = bid_ticks + draw(st.integers(1, 1000))
    best_bid, best_ask = bid_ticks * price_increment, ask_ticks * price_increment
    view = BookView(
        product_id=PRODUCT,
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
        trusted=True,
        trust_reason=None,
        updated_at=0.0,
        as_of=0.0,
        sequence=1,
    )
    state = StrategyState("mm", {PRODUCT: rules})
    state.record_view(view)
    position_units = draw(st.integers(-(10**6), 10**6))
    if position_units:
        state.apply(
            OrderFilled(
                strategy="mm",
                client_order_id="f",
                order_id="v",
                product_id=PRODUCT,
                side=Side.BUY if position_units > 0 else Side.SELL,
                trade_id="t",
                price=best_bid,
                size=abs(position_units) * base_increment,
                fee=D(0),
                liquidity=Liquidity.MAKER,
                at=0.0,
            )
        )
    for n, side in enumerate(draw(st.lists(st.sampled_from([Side.BUY, Side.SELL]), max_size=3))):
        state.apply(
            OrderUpdated(
                strategy="mm",
                client_order_id=f"q{n}",
                order_id=f"v{n}",
                product_id=PRODUCT,
                side=side,
                order_type=OrderType.LIMIT,
                size=base_increment,
                limit_price=draw(st.integers(1, 2 * 10**7)) * price_increment,
                previous=OrderState.SUBMITTED,
                state=OrderState.OPEN,
                filled_size=D(0),
                average_price=None,
                reason="",
                at=0.0,
            )
        )
    mm = MarketMaker(params)
    list(mm.on_start(state))
    return mm, state, view


@given(setups())
def test_market_maker_quotes_are_on_grid_passive_and_within_inventory(
    setup: tuple[MarketMaker, StrategyState, BookView],
) -> None:
    mm, state, view = setup
    assert view.best_bid is not None
    assert view.best_ask is not None
    assert view.mid is not None
    rules = state.rules(PRODUCT)
    position = state.position(PRODUCT)
    limit = mm.params.max_inventory_notional
    submits = [
        i.submit if isinstance(i, Replace) else i
        for i in mm.on_book(view, state)
        if isinstance(i, Submit | Replace)
    ]
    event(f"sides quoted: {sorted(s.side.value for s in submits)}")
    prices: dict[Side, Decimal] = {}
    for submit in submits:
        assert submit.side not in prices, "one quote per side"
        assert submit.price is not None
        prices[submit.side] = submit.price
        assert submit.price > 0
        assert submit.price % rules.price_increment == 0
        assert submit.size > 0
        assert submit.size % rules.base_increment == 0
        if submit.side == Side.BUY:
            assert submit.price < view.best_ask
            assert (position + submit.size) * view.mid <= limit
        else:
            assert submit.price > view.best_bid
            assert (submit.size - position) * view.mid <= limit
    if len(prices) == 2:
        assert prices[Side.BUY] < prices[Side.SELL]
    ideal = mm.ideal_quotes(view, state)
    assert ideal is not None
    if ideal.bid is not None and ideal.ask is not None:
        assert ideal.bid.price < ideal.ask.price
