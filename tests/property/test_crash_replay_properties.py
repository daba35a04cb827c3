"""Replaying the journal from any crash point rebuilds the positions the system had there.

Why: after ``kill -9`` the journal is a contiguous prefix of what was written (SQLite WAL with
a commit per write; ``tests/unit/test_journal.py`` kills a writer to show it), and a restarted
risk actor, the executor's recovery and the summary all rebuild positions from that prefix.
If any of them counted a replayed fill twice, skipped one, or depended on events after the
crash, a restart would trade against the wrong position. So: a random run of fills (with
trade ids repeated, as a user channel replay and polling deliver them) and order updates is
journaled the way the executor does it, the live risk engine's positions are recorded after
each write, and for every prefix of the journal the positions rebuilt by a restarted risk
engine and by the summary (which the report uses) must equal the live ones at that point.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from cjt_actors.exchange.orders import Side
from cjt_actors.journal import Journal
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.order_messages import (
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.products import ProductRules
from cjt_actors.recovery import journal_state
from cjt_actors.risk_rules import RiskEngine, RiskLimits
from cjt_actors.summary import summarize

D = Decimal
PRODUCTS = {
    product: ProductRules(
        product_id=product,
        base_increment=D("0.001"),
        price_increment=D("0.01"),
        base_min_size=D("0.001"),
        base_max_size=D("100"),
        quote_min_size=D("1"),
    )
    for product in ("BTC-USD", "ETH-USD")
}
ORDERS = [f"c{n}" for n in range(4)]

fills = st.builds(
    lambda trade, order, product, side, size, price: (
        "fill",
        trade,
        order,
        product,
        side,
        size,
        price,
    ),
    st.sampled_from([f"t{n}" for n in range(12)]),  # a small pool: repeats are replays
    st.sampled_from(ORDERS),
    st.sampled_from(sorted(PRODUCTS)),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 50).map(lambda n: D(n) / 1000),
    st.integers(9_000, 11_000).map(lambda n: D(n) / 100),
)
updates = st.builds(
    lambda order, state: ("update", order, state),
    st.sampled_from(ORDERS),
    st.sampled_from([OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.CANCELLED]),
)
runs = st.lists(st.one_of(fills, fills, updates), min_size=1, max_size=40)


def _intent(order: str) -> SubmitOrder:
    return SubmitOrder(
        strategy="mm",
        client_order_id=order,
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=D(10),
        limit_price=D(100),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        at=0.0,
    )


def _positions(engine: RiskEngine) -> dict[str, Decimal]:
    return {product: engine.position(product) for product in PRODUCTS}


@given(runs)
def test_every_crash_point_rebuilds_the_positions_the_system_had_there(run: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        journal = Journal.open(Path(directory) / "j.sqlite")
        live = RiskEngine(RiskLimits(), PRODUCTS, started_at=0.0)
        at_seq: dict[int, dict[str, Decimal]] = {0: _positions(live)}
        for order in ORDERS:  # the intents are journaled before anything happens to them
            at_seq[journal.append(_intent(order), at=0.0)] = _positions(live)
        for step, op in enumerate(run, start=1):
            if op[0] == "fill":
                _, trade, order, product, side, size, price = op
                filled = OrderFilled(
                    strategy="mm",
                    client_order_id=order,
                    order_id=f"v-{order}",
                    product_id=product,
                    side=side,
                    trade_id=trade,
                    price=price,
                    size=size,
                    fee=size * price / 1000,
                    liquidity=Liquidity.MAKER,
                    at=float(step),
                )
                # The executor journals a fill (idempotently, by trade id) before anyone
                # hears of it; risk hears only of new ones and counts by trade id anyway.
                if journal.record_fill(trade, order, filled, at=float(step)):
                    live.on_order_filled(filled, float(step))
            else:
                _, order, state = op
                update = OrderUpdated(
                    strategy="mm",
                    client_order_id=order,
                    order_id=f"v-{order}",
                    product_id="BTC-USD",
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    size=D(10),
                    limit_price=D(100),
                    previous=OrderState.SUBMITTED,
                    state=state,
                    filled_size=D(0),
                    average_price=None,
                    reason="",
                    at=float(step),
                )
                journal.append(update, at=float(step))
                live.on_order_updated(update)
            at_seq[journal.last_seq()] = _positions(live)
        entries = list(journal.read())
        journal.close()

    for crash_point, expected in at_seq.items():
        prefix = [entry for entry in entries if entry[0] <= crash_point]
        # 1. A restarted risk actor: restore from the journal state of the prefix.
        state = journal_state(prefix)
        restarted = RiskEngine(RiskLimits(), PRODUCTS, started_at=0.0)
        restarted.restore(
            fills=state.fills,
            working_orders=state.working_orders,
            last_state=state.last_trading_state,
            peak_equity=state.peak_equity,
            now=0.0,
        )
        assert _positions(restarted) == expected, f"risk after a crash at seq {crash_point}"
        # 2. The summary (and the report, which uses it) from the same prefix.
        summary = dict(summarize(prefix).positions)
        assert {p: summary.get(p, D(0)) for p in PRODUCTS} == expected, f"summary at {crash_point}"
