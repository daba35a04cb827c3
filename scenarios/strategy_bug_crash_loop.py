"""A strategy with a bug the market finds: its size table covers prices within 2 % of where
BTC opened, and a 5 % jump sends it past the table's end. Every book view then raises; the
supervisor restarts the strategy with backoff until its intensity (5 restarts in 60 s) is
spent, escalates, and the root stops the tree and cancels every open order.

Python, because TOML cannot say "a strategy with this bug". (The TOML scenario
strategy_crash_loop.toml crashes the strategy from outside instead.)
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from cjt_actors.config import Config
from cjt_actors.orderbook import BookView
from cjt_actors.pipeline import StrategySpec
from cjt_actors.risk_rules import RiskLimits
from cjt_actors.scenarios import Scenario, Step
from cjt_actors.scenarios.actions import PriceJump
from cjt_actors.scenarios.expectations import (
    EmergencyOutcome,
    EventCount,
    ExitCodeIs,
    Restarts,
    StopReasonIs,
)
from cjt_actors.sim.simulator import Simulator, SimulatorConfig
from cjt_actors.strategies.base import Intent, StrategyContext
from cjt_actors.strategies.market_maker import MarketMaker


class SizeTableError(LookupError):
    """The bug: a price outside the table the strategy was written for."""


SEED = 161
#: Where the author's size table ends: 2 % above the simulator's opening BTC mid for this
#: seed (read from a simulator built the same way, so the number is not magic).
TABLE_TOP = Simulator(SimulatorConfig(seed=SEED)).market.mid("BTC-USD") * Decimal("1.02")


class TabledMarketMaker(MarketMaker):
    """The market maker, with a sizing table that stops at :data:`TABLE_TOP`."""

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        if view.product_id == "BTC-USD" and view.mid is not None and view.mid > TABLE_TOP:
            raise SizeTableError(
                f"no size for BTC-USD at {view.mid} (the table ends at {TABLE_TOP})"
            )
        return super().on_book(view, ctx)


SCENARIO = Scenario(
    name="strategy_bug_crash_loop",
    description=(
        "A strategy bug the market triggers (a price past its size table) crashes it on every "
        "book view: restarts, escalation, emergency cancel-all"
    ),
    seed=SEED,
    duration=90.0,
    config=Config(risk=RiskLimits(loss_streak=1000)),
    strategies=(StrategySpec(name="tabled", factory=TabledMarketMaker),),
    timeline=(Step(at=30.0, action=PriceJump(product="BTC-USD", bps=Decimal(500))),),
    expect=(
        EventCount(
            type="ChildCrashed", where={"child": "strategy:tabled"}, after=30.0, before=31.0
        ),
        Restarts(actor="strategy:tabled", at_least=5, at_most=5),
        EventCount(type="IntensityExceeded", after=30.0, before=60.0),
        StopReasonIs(reason="supervisor_gave_up", after=30.0, before=60.0),
        EmergencyOutcome(completed=True),
        ExitCodeIs(code="EMERGENCY"),
    ),
)
