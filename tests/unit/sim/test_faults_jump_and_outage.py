"""The price-jump and exchange-down faults (cjt_actors.sim.faults), without any server.

A scenario that scripts "the price gaps 5 %" or "the exchange goes down for a minute" must
get exactly that: a mid that moves by the asked basis points and a book re-laid around it at
once, or a gateway that refuses everything and drops every connection; a mistyped fault must
fail loudly and leave no trace in the history a scenario's timeline shows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio

from cjt_actors.errors import InvalidSpec
from cjt_actors.sim.engine import Engine
from cjt_actors.sim.faults import Faults, WsAction, WsActionKind
from cjt_actors.sim.market import MAKER, MarketParams, SyntheticMarket
from cjt_actors.sim.orders import LimitGtc, OrderAccepted, OrderRequest, OrderStatus, Side
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig

D = Decimal
NOW = 1_700_000_000.0
EPOCH = 1_767_225_600.0


def _bound() -> tuple[Faults, SyntheticMarket, Engine]:
    """Faults bound to a real (opened) synthetic market, as the simulator binds them."""
    engine = Engine(seed=1)
    market = SyntheticMarket(engine, seed=1)
    market.open(NOW)
    engine.drain_events()
    faults = Faults()

    def jump(product_id: str, bps: Decimal) -> None:
        market.jump(product_id, bps, NOW)

    faults.bind_market(jump)
    return faults, market, engine


def _touch(engine: Engine, product_id: str) -> tuple[Decimal, Decimal]:
    bid, ask = engine.best_bid_ask(product_id)
    assert bid is not None
    assert ask is not None
    return bid[0], ask[0]


# -- jump_price --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_id", "bps", "mid", "entry"),
    [
        ("BTC-USD", 500, D("63000.00"), "price jump BTC-USD +500bps"),
        ("BTC-USD", -500, D("57000.00"), "price jump BTC-USD -500bps"),
        ("ETH-USD", D("-2.5"), D("2999.25"), "price jump ETH-USD -2.5bps"),
        ("ETH-USD", D("9999"), D("5999.70"), "price jump ETH-USD +9999bps"),
    ],
)
def test_a_jump_moves_the_mid_and_the_quotes_at_once(
    product_id: str, bps: int | Decimal, mid: Decimal, entry: str
) -> None:
    """The mid moves by exactly ``bps`` and the maker's touch sits around it, no step needed."""
    faults, market, engine = _bound()
    faults.jump_price(product_id, bps)
    assert market.mid(product_id) == mid
    bid, ask = _touch(engine, product_id)
    assert (bid, ask) == (mid - D("0.01"), mid + D("0.01"))
    assert faults.history == [entry]


def test_the_old_quotes_are_cancelled_not_left_behind() -> None:
    """After a jump up, nothing of the old book is left: every level lies around the new mid."""
    faults, market, engine = _bound()
    faults.jump_price("BTC-USD", 500)
    book = engine.snapshot("BTC-USD")
    assert book.bids
    assert book.asks
    assert min(price for price, _ in book.bids) > D("62000")
    assert max(price for price, _ in book.asks) < D("64000")
    resting = engine.list_orders(MAKER, statuses=[OrderStatus.OPEN], product_ids=["BTC-USD"])
    assert len(resting) == 2 * MarketParams().levels
    assert market.mid("ETH-USD") == D("3000.00")  # other products are untouched


def test_a_tiny_jump_still_moves_at_least_one_tick() -> None:
    """A jump smaller than a tick is rounded up to one tick, in its direction."""
    faults, market, _ = _bound()
    faults.jump_price("ETH-USD", D("0.001"))
    assert market.mid("ETH-USD") == D("3000.01")
    faults.jump_price("ETH-USD", D("-0.001"))
    faults.jump_price("ETH-USD", D("-0.001"))
    assert market.mid("ETH-USD") == D("2999.99")


def test_the_mid_never_falls_through_the_spread() -> None:
    """Jumps of almost -100 % leave a mid above the spread, as the random walk does."""
    engine = Engine(seed=1)
    market = SyntheticMarket(engine, seed=1, reference_prices={"ETH-USD": D("0.05")})
    market.open(NOW)
    market.jump("ETH-USD", D("-9999"), NOW)
    assert market.mid("ETH-USD") == D("0.03")  # spread_ticks (2) + 1 ticks


def test_a_resting_order_the_new_quotes_cross_is_picked_off_at_its_own_price() -> None:
    """A client's offer left below the new bid is filled against the maker at its limit."""
    faults, _, engine = _bound()
    engine.deposit("client", "BTC", D("1"), now=NOW)
    outcome = engine.place(
        OrderRequest(
            user_id="client",
            client_order_id="stale-offer",
            product_id="BTC-USD",
            side=Side.SELL,
            configuration=LimitGtc(base_size=D("0.01"), limit_price=D("60100.00")),
        ),
        now=NOW,
    )
    assert isinstance(outcome, OrderAccepted)
    faults.jump_price("BTC-USD", 500)
    order = engine.get_order("client", outcome.order.order_id)
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert order.average_filled_price == D("60100.00")
    bid, ask = _touch(engine, "BTC-USD")
    assert D("62900") < bid < ask < D("63100")


@pytest.mark.parametrize(
    ("bps", "message"),
    [
        (0, "bps: must be non-zero"),
        (D(0), "bps: must be non-zero"),
        (10_000, "strictly between -10000 and 10000, got 10000"),
        (-10_000, "strictly between -10000 and 10000, got -10000"),
        (D("NaN"), "bps: must be non-zero"),
        (D("Infinity"), "bps: must be non-zero"),
        (2.5, "bps: must be an int or a Decimal, got 2.5"),
        (True, "bps: must be an int or a Decimal, got True"),
        ("500", "bps: must be an int or a Decimal, got '500'"),
    ],
)
def test_bad_jumps_are_refused_and_change_nothing(bps: Any, message: str) -> None:
    """A mistyped jump fails at once: the mid, the book and the history stay as they were."""
    faults, market, engine = _bound()
    before = engine.snapshot("BTC-USD")
    with pytest.raises(InvalidSpec, match=message):
        faults.jump_price("BTC-USD", bps)
    assert market.mid("BTC-USD") == D("60000.00")
    assert engine.snapshot("BTC-USD") == before
    assert faults.history == []


def test_an_unknown_product_is_refused_naming_the_known_ones() -> None:
    """The message says which product was wrong and which exist."""
    faults, _, _ = _bound()
    with pytest.raises(
        InvalidSpec, match=r"unknown product 'DOGE-USD' \(known: BTC-USD, ETH-USD\)"
    ):
        faults.jump_price("DOGE-USD", 100)
    assert faults.history == []


def test_a_jump_without_a_market_fails_loudly() -> None:
    """Faults not bound to a market cannot pretend to move a price."""
    with pytest.raises(RuntimeError, match="no market is bound"):
        Faults().jump_price("BTC-USD", 100)


# -- the simulator's binding ---------------------------------------------------------------------


async def test_the_simulator_publishes_a_jump_at_once(autojump_clock: trio.abc.Clock) -> None:
    """The level2 update goes out with the jump, not at the next market step."""
    sim = Simulator(SimulatorConfig(start_epoch=EPOCH))
    sim.open()
    connection = sim.hub.open("market")
    connection.subscriptions["level2"] = {"BTC-USD"}
    connection.subscriptions["ticker"] = {"ETH-USD"}
    sim.faults.jump_price("BTC-USD", -200)
    assert connection.sequence == 1  # one l2_data frame, nothing for ETH-USD
    frame = connection.outgoing.receive_nowait()
    assert isinstance(frame, str)
    assert '"channel":"l2_data"' in frame
    assert '"price_level":"58799.99"' in frame  # the new best bid
    assert sim.market.mid("BTC-USD") == D("58800.00")


async def test_a_jump_opens_the_simulator_first(autojump_clock: trio.abc.Clock) -> None:
    """Jumping before anything else happened lays out the book (and funds users) first."""
    sim = Simulator(SimulatorConfig(start_epoch=EPOCH))
    sim.faults.jump_price("BTC-USD", 100)
    bid, ask = _touch(sim.engine, "BTC-USD")
    assert (bid, ask) == (D("60599.99"), D("60600.01"))
    assert sim.engine.accounts(DEFAULT_USER)


async def test_a_jump_needs_the_synthetic_market(autojump_clock: trio.abc.Clock) -> None:
    """An exchange without synthetic traders has no mid to move: refused, not ignored."""
    sim = Simulator(SimulatorConfig(start_epoch=EPOCH, market_enabled=False))
    with pytest.raises(InvalidSpec, match="the synthetic market is disabled"):
        sim.faults.jump_price("BTC-USD", 100)
    assert sim.faults.history == []


# -- set_exchange_down -------------------------------------------------------------------------


def test_going_down_drops_every_connection_once_and_coming_up_does_not() -> None:
    """Down is a switch; only the moment of going down drops the open connections."""
    faults = Faults()
    actions: list[WsAction] = []
    faults.on_ws_action(actions.append)
    states = [faults.exchange_down]
    faults.set_exchange_down(True)
    states.append(faults.exchange_down)
    assert actions == [WsAction(kind=WsActionKind.DROP)]
    faults.set_exchange_down(False)
    states.append(faults.exchange_down)
    assert actions == [WsAction(kind=WsActionKind.DROP)]
    faults.set_exchange_down()  # the default is "down"
    states.append(faults.exchange_down)
    assert states == [False, True, False, True]
    assert actions == [WsAction(kind=WsActionKind.DROP)] * 2


def test_the_outage_is_on_the_timeline_without_a_separate_drop_entry() -> None:
    """The history says "exchange down" / "exchange up", once per call."""
    faults = Faults()
    faults.set_exchange_down(True)
    faults.set_exchange_down(False)
    faults.set_exchange_down(False)
    assert faults.history == ["exchange down", "exchange up", "exchange up"]


def test_connections_see_the_outage_already_in_effect_when_dropped() -> None:
    """A listener reacting to the drop (a reconnect) already finds the exchange down."""
    faults = Faults()
    seen: list[bool] = []
    faults.on_ws_action(lambda action: seen.append(faults.exchange_down))
    faults.set_exchange_down(True)
    assert seen == [True]


@pytest.mark.parametrize("down", [1, "yes", None])
def test_down_must_be_a_bool(down: Any) -> None:
    """A truthy non-bool from a script is refused rather than guessed at."""
    faults = Faults()
    with pytest.raises(InvalidSpec, match="down: must be a bool"):
        faults.set_exchange_down(down)
    assert faults.exchange_down is False
    assert faults.history == []
