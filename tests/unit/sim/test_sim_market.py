"""The synthetic market (cjt_actors.sim.market) and the simulator's clock and configuration.

Paper trading and every client test rely on a market that behaves like one (a deep book on
both sides, trades at a steady rate, a wandering price) and, for reproducible scenarios, on
that market being a pure function of its seed. Both are checked here without sockets; time
runs on trio's MockClock where the simulator's loops are involved.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing

from cjt_actors.errors import InvalidSpec
from cjt_actors.sim.engine import Engine
from cjt_actors.sim.events import TradeExecuted
from cjt_actors.sim.market import (
    MAKER,
    TAKER,
    MarketParams,
    SyntheticMarket,
    _poisson,
)
from cjt_actors.sim.orders import (
    LimitGtc,
    LimitGtd,
    MarketIoc,
    OrderRequest,
    OrderStatus,
    Side,
)
from cjt_actors.sim.products import ProductSpec
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig

D = Decimal
NOW = 1_700_000_000.0


def _run(seed: int, steps: int, params: MarketParams | None = None) -> list[Any]:
    """Every engine event of a market opened and stepped ``steps`` times (0.25 s each)."""
    engine = Engine(seed=seed)
    market = SyntheticMarket(engine, seed=seed, params=params)
    market.open(NOW)
    for index in range(1, steps + 1):
        market.step(NOW + index * 0.25, 0.25)
    return engine.drain_events()


def _client_order(
    engine: Engine, side: Side, configuration: Any, user: str = "client", cid: str = "c"
) -> None:
    engine.deposit(user, "USD", D("10000000"), now=NOW)
    engine.deposit(user, "BTC", D("1000"), now=NOW)
    outcome = engine.place(
        OrderRequest(
            user_id=user,
            client_order_id=cid,
            product_id="BTC-USD",
            side=side,
            configuration=configuration,
        ),
        now=NOW,
    )
    assert outcome.success, outcome


# -- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"levels": 0},
        {"spread_ticks": 0},
        {"level_gap_bps": 0.0},
        {"volatility_bps": -1.0},
        {"taker_rate": -0.5},
        {"resize_per_step": -1},
    ],
)
def test_market_params_refuse_impossible_values(changes: dict[str, Any]) -> None:
    """A market that cannot exist fails when configured, not halfway through a run."""
    with pytest.raises(InvalidSpec):
        MarketParams(**changes)


# -- determinism -------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_event_sequence() -> None:
    """A seed fixes the market: scripted scenarios replay exactly."""
    first = _run(seed=7, steps=40)
    second = _run(seed=7, steps=40)
    assert len(first) > 100
    assert first == second
    assert any(isinstance(event, TradeExecuted) for event in first)


def test_different_seeds_give_different_markets() -> None:
    """The seed is really used (two seeds do not produce the same run)."""
    assert _run(seed=1, steps=20) != _run(seed=2, steps=20)


# -- the book ----------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1, 5, 40])
def test_the_book_has_the_configured_levels_per_side_at_all_times(levels: int) -> None:
    """The maker keeps exactly `levels` levels each side, `spread_ticks` apart at the touch."""
    engine = Engine(seed=3)
    params = MarketParams(levels=levels, spread_ticks=2, taker_rate=4.0)
    market = SyntheticMarket(engine, seed=3, params=params)
    market.open(NOW)
    for index in range(60):
        if index:
            market.step(NOW + index * 0.25, 0.25)
        for product_id, spec in engine.products.items():
            book = engine.snapshot(product_id)
            assert (len(book.bids), len(book.asks)) == (levels, levels), (index, product_id)
            assert book.asks[0][0] - book.bids[0][0] == 2 * spec.price_increment
            mid = market.mid(product_id)
            assert book.bids[0][0] < mid < book.asks[0][0]


def test_prices_are_on_the_grid_and_levels_evenly_spaced_beyond_the_touch() -> None:
    """Every price is a multiple of the increment; grid levels are level_gap_bps apart."""
    engine = Engine(seed=1)
    market = SyntheticMarket(engine, seed=1, params=MarketParams(levels=6, level_gap_bps=2.0))
    market.open(NOW)
    book = engine.snapshot("BTC-USD")
    for price, size in (*book.bids, *book.asks):
        assert price % D("0.01") == 0
        assert size > 0
        assert size % D("0.00000001") == 0
    gaps = {book.asks[i + 1][0] - book.asks[i][0] for i in range(1, 5)}
    assert gaps == {D("12")}  # 2 bps of 60000


def test_reference_prices_set_where_each_mid_starts() -> None:
    """BTC starts at 60000, ETH at 3000, unknown products at 100, overrides win."""
    engine = Engine(
        products=[
            *Engine().products.values(),
            ProductSpec(
                product_id="SOL-USD",
                base_currency="SOL",
                quote_currency="USD",
                base_increment=D("0.001"),
                quote_increment=D("0.01"),
                price_increment=D("0.01"),
                base_min_size=D("0.001"),
                base_max_size=D("100000"),
                quote_min_size=D("1"),
                quote_max_size=D("1000000"),
            ),
        ]
    )
    market = SyntheticMarket(engine, reference_prices={"ETH-USD": D("2500")})
    assert market.mid("BTC-USD") == D("60000")
    assert market.mid("ETH-USD") == D("2500")
    assert market.mid("SOL-USD") == D("100")


def test_a_cheap_product_keeps_only_the_bid_levels_above_zero() -> None:
    """Near zero there is no room for every bid level: no level at or below a price of 0."""
    penny = ProductSpec(
        product_id="PENNY-USD",
        base_currency="PENNY",
        quote_currency="USD",
        base_increment=D("1"),
        quote_increment=D("0.01"),
        price_increment=D("0.01"),
        base_min_size=D("1"),
        base_max_size=D("100000000"),
        quote_min_size=D("0.01"),
        quote_max_size=D("1000000"),
    )
    engine = Engine(products=[penny])
    market = SyntheticMarket(
        engine,
        reference_prices={"PENNY-USD": D("0.05")},
        params=MarketParams(levels=10, volatility_bps=0.0),
    )
    market.open(NOW)
    book = engine.snapshot("PENNY-USD")
    assert [price for price, _ in book.bids] == [D("0.04"), D("0.03"), D("0.02"), D("0.01")]
    assert len(book.asks) == 10


def test_levels_taken_by_a_client_are_renewed_on_the_next_step() -> None:
    """A client that sweeps the touch does not leave the book thin for long."""
    engine = Engine(seed=5)
    params = MarketParams(levels=5, taker_rate=0.0, volatility_bps=0.0)
    market = SyntheticMarket(engine, seed=5, params=params)
    market.open(NOW)
    _client_order(engine, Side.BUY, MarketIoc(quote_size=D("150000")))
    assert len(engine.snapshot("BTC-USD").asks) < 5
    market.step(NOW + 0.25, 0.25)
    assert len(engine.snapshot("BTC-USD").asks) == 5


def test_maker_quotes_that_fill_at_once_are_not_kept_as_resting_quotes() -> None:
    """Maker quotes that fill a crossing client order at once are re-quoted, not kept."""
    engine = Engine(seed=8)
    _client_order(engine, Side.SELL, LimitGtc(base_size=D("1.5"), limit_price=D("59000")))
    market = SyntheticMarket(engine, seed=8, params=MarketParams(levels=3, taker_rate=0.0))
    market.open(NOW)
    for index in range(1, 40):
        market.step(NOW + index * 0.25, 0.25)
    client = engine.list_orders("client")
    assert client[0].status is OrderStatus.FILLED
    book = engine.snapshot("BTC-USD")
    assert len(book.bids) == len(book.asks) == 3
    assert all(price > D("59000") for price, _ in book.bids)


def test_big_takers_clear_levels_that_are_renewed_in_the_same_step() -> None:
    """When takers consume whole levels, the maker refills them before the step ends."""
    engine = Engine(seed=9)
    params = MarketParams(
        levels=4,
        taker_rate=8.0,
        level_notional=D("1000"),
        taker_notional=D("5000"),
        volatility_bps=0.0,
        resize_per_step=0,
    )
    market = SyntheticMarket(engine, seed=9, params=params)
    market.open(NOW)
    for index in range(1, 20):
        market.step(NOW + index * 0.25, 0.25)
        book = engine.snapshot("BTC-USD")
        assert len(book.bids) == len(book.asks) == 4
    assert engine.fills(MAKER)


# -- the taker ---------------------------------------------------------------------------------


def test_takers_trade_at_the_configured_rate_on_average() -> None:
    """Taker orders arrive as a Poisson process at `taker_rate` per second per product."""
    engine = Engine(seed=11)
    params = MarketParams(levels=3, taker_rate=2.0, resize_per_step=0)
    market = SyntheticMarket(engine, seed=11, params=params)
    market.open(NOW)
    steps, dt = 800, 0.25
    for index in range(1, steps + 1):
        market.step(NOW + index * dt, dt)
    expected = params.taker_rate * steps * dt * len(engine.products)  # 800
    taken = len(engine.list_orders(TAKER))
    assert abs(taken - expected) < 0.1 * expected, (taken, expected)


def test_no_takers_means_no_trades() -> None:
    """taker_rate 0: the book moves but nothing trades."""
    events = _run(seed=2, steps=30, params=MarketParams(taker_rate=0.0))
    assert not any(isinstance(event, TradeExecuted) for event in events)


@pytest.mark.parametrize("mean", [0.5, 3.0])
def test_poisson_draws_have_the_requested_mean(mean: float) -> None:
    """The sampler behind the taker arrivals is unbiased."""
    rng = random.Random(0)
    draws = [_poisson(rng, mean) for _ in range(20_000)]
    assert sum(draws) / len(draws) == pytest.approx(mean, rel=0.05)
    assert min(draws) >= 0


def test_poisson_of_no_time_is_zero() -> None:
    """Zero or negative elapsed time gives no arrivals (and draws no randomness)."""
    rng = random.Random(0)
    state = rng.getstate()
    assert _poisson(rng, 0.0) == 0
    assert _poisson(rng, -1.0) == 0
    assert rng.getstate() == state


# -- the simulator's configuration and clock ---------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"auth": "basic"}, "auth"),
        ({"tick": 0.0}, "tick"),
        ({"tick": 61.0}, "tick"),
        ({"private_rate": 0.0}, "private_rate"),
        ({"public_rate": -1.0}, "public_rate"),
    ],
)
def test_simulator_config_refuses_impossible_values(changes: dict[str, Any], message: str) -> None:
    """A bad simulator configuration fails at construction, naming the field."""
    with pytest.raises(InvalidSpec, match=message):
        SimulatorConfig(**changes)


def test_the_default_config_is_a_usable_exchange() -> None:
    """Defaults: JWT auth, Coinbase's rate limits, funded users, a live market."""
    config = SimulatorConfig()
    assert (config.auth, config.private_rate, config.public_rate) == ("jwt", 30.0, 10.0)
    assert config.balances == {"USD": D("100000"), "BTC": D("1"), "ETH": D("10")}
    assert config.market_enabled
    assert config.market == MarketParams()


async def test_virtual_epoch_follows_trios_clock(autojump_clock: trio.testing.MockClock) -> None:
    """With start_epoch, epoch time is start + trio time: a run is reproducible."""
    sim = Simulator(SimulatorConfig(start_epoch=NOW))
    assert sim.epoch() == NOW
    await trio.sleep(12.5)
    assert sim.epoch() == NOW + 12.5


def test_without_start_epoch_the_simulator_reads_the_wall_clock() -> None:
    """Default: the exchange's clock is the machine's (as a real exchange's would be)."""
    import time

    before = time.time()
    reading = Simulator().epoch()
    assert before <= reading <= time.time()


async def test_steps_expire_gtd_orders_even_without_a_market(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """GTD expiry is driven by the simulator's steps, market or not."""
    sim = Simulator(SimulatorConfig(start_epoch=NOW, market_enabled=False))
    sim.open()
    outcome = sim.engine.place(
        OrderRequest(
            user_id=DEFAULT_USER,
            client_order_id="gtd",
            product_id="BTC-USD",
            side=Side.BUY,
            configuration=LimitGtd(base_size=D("0.001"), limit_price=D("50000"), end_time=NOW + 1),
        ),
        now=sim.epoch(),
    )
    assert outcome.success
    sim.step(0.25)
    assert sim.engine.list_orders(DEFAULT_USER)[0].status is OrderStatus.OPEN
    await trio.sleep(1)
    sim.step(0.25)
    assert sim.engine.list_orders(DEFAULT_USER)[0].status is OrderStatus.EXPIRED
    assert sim.engine.snapshot("BTC-USD").bids == ()


async def _background_run(seed: int) -> tuple[list[Any], Any]:
    sim = Simulator(SimulatorConfig(seed=seed, start_epoch=NOW, tick=0.25))
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run_background)
        await trio.sleep(5.1)
        nursery.cancel_scope.cancel()
    trades = sim.engine.recent_trades("BTC-USD")
    return [(t.trade_id, t.price, t.size, t.time) for t in trades], sim.engine.snapshot("BTC-USD")


def test_a_whole_background_run_is_a_function_of_the_seed() -> None:
    """Under a MockClock, two runs with one seed trade identically, at the same times."""
    runs = [
        trio.run(_background_run, 4, clock=trio.testing.MockClock(autojump_threshold=0))
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    trades, book = runs[0]
    assert trades  # takers traded during the 5 s
    assert trades[-1][3] > NOW
    assert trades[0][3] <= NOW + 5.1
    assert len(book.bids) == MarketParams().levels


async def test_the_market_loop_steps_every_tick(autojump_clock: trio.testing.MockClock) -> None:
    """The background loop calls step once per tick."""
    sim = Simulator(SimulatorConfig(start_epoch=NOW, tick=0.5, market_enabled=False))
    steps: list[float] = []
    sim.step = lambda dt: steps.append(trio.current_time())  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run_background)
        started = trio.current_time()
        await trio.sleep(2.25)
        nursery.cancel_scope.cancel()
    assert [round(t - started, 6) for t in steps] == [0.5, 1.0, 1.5, 2.0]


def test_the_synthetic_users_are_funded_and_separate_from_clients() -> None:
    """Opening funds the maker and taker generously; client users get the config balances."""
    sim = Simulator(SimulatorConfig(start_epoch=None))
    trio.run(_open, sim)
    maker = {a.currency: a.available + a.hold for a in sim.engine.accounts(MAKER)}
    assert maker["USD"] >= D("999000000")
    client = {a.currency: a.available for a in sim.engine.accounts(DEFAULT_USER)}
    assert client == {"USD": D("100000"), "BTC": D("1"), "ETH": D("10")}


async def _open(sim: Simulator) -> None:
    sim.open()
