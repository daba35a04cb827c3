"""``Engine.is_resting``: the cheap question the synthetic maker asks of each quote every step.

It must answer exactly what the full view says (an OPEN order with size left that rests in
the book), for every order a busy synthetic market leaves behind, and say no for what does
not rest: another user's order, an unknown id, an ended order, a pending stop.
"""

from __future__ import annotations

from decimal import Decimal

from cjt_actors.sim.engine import Engine
from cjt_actors.sim.market import MAKER, TAKER, MarketParams, SyntheticMarket
from cjt_actors.sim.orders import (
    LimitGtc,
    OrderAccepted,
    OrderRequest,
    OrderStatus,
    Side,
    StopDirection,
    StopLimitGtc,
)

D = Decimal


def _place(engine: Engine, user: str, side: Side, config: LimitGtc | StopLimitGtc, cid: str) -> str:
    outcome = engine.place(
        OrderRequest(
            user_id=user, client_order_id=cid, product_id="BTC-USD", side=side, configuration=config
        ),
        now=1.0,
    )
    assert isinstance(outcome, OrderAccepted), outcome
    return outcome.order.order_id


def test_it_agrees_with_the_full_view_on_every_order_of_a_busy_market() -> None:
    engine = Engine(seed=5)
    market = SyntheticMarket(engine, seed=5, params=MarketParams(volatility_bps=10, taker_rate=20))
    market.open(0.0)
    for step in range(1, 201):
        market.step(step * 0.05, 0.05)
    answers = set()
    for user in (MAKER, TAKER):
        for view in engine.list_orders(user):
            full = view.status is OrderStatus.OPEN and view.leaves_quantity > 0
            assert engine.is_resting(user, view.order_id) is full, view
            answers.add(full)
    assert answers == {True, False}  # both kinds were there to check


def test_it_says_no_for_what_does_not_rest() -> None:
    engine = Engine(seed=1)
    for user in ("alice", "bob"):
        engine.deposit(user, "USD", D("100000"), now=0.0)
        engine.deposit(user, "BTC", D("10"), now=0.0)
    resting = _place(
        engine, "alice", Side.BUY, LimitGtc(base_size=D("1"), limit_price=D("100")), "a"
    )
    stop = StopLimitGtc(
        base_size=D("1"),
        limit_price=D("90"),
        stop_price=D("95"),
        stop_direction=StopDirection.STOP_DOWN,
    )
    pending = _place(engine, "alice", Side.SELL, stop, "b")
    assert engine.is_resting("alice", resting)
    assert not engine.is_resting("bob", resting)  # not bob's order
    assert not engine.is_resting("alice", "no-such-order")
    assert not engine.is_resting("alice", pending)  # OPEN, but waiting for its trigger
    _place(engine, "bob", Side.SELL, LimitGtc(base_size=D("0.4"), limit_price=D("100")), "c")
    assert engine.is_resting("alice", resting)  # partly filled, still resting
    engine.cancel("alice", [resting], now=2.0)
    assert not engine.is_resting("alice", resting)
