"""A fat finger: a strategy keeps bidding at a reference price it took at the start. When BTC
drops 3 % at once, that bid is suddenly 3 % *above* the mid (it would sweep the asks):
risk's price band (100 bps) denies it, every time, and none reaches the exchange. Before the
drop the same bids pass.

Python, because the strategy with the stale reference is code; the check "no order of this
strategy reached the exchange after the drop" is a custom expectation.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import ClassVar

import attrs

from cjt_actors.config import Config
from cjt_actors.exchange.orders import Side
from cjt_actors.order_messages import SubmitOrder
from cjt_actors.orderbook import BookView
from cjt_actors.pipeline import StrategySpec
from cjt_actors.risk_rules import RiskLimits
from cjt_actors.scenarios import Failure, RunRecord, Scenario, Step
from cjt_actors.scenarios.actions import PriceJump
from cjt_actors.scenarios.expectations import Denials, ExitCodeIs, OrdersSubmitted
from cjt_actors.strategies.base import BaseStrategy, Cancel, Intent, StrategyContext, Submit

PRODUCT = "BTC-USD"
DROP_AT = 30.0


class StaleReferenceBidder(BaseStrategy):
    """Every 5 s: one small post-only bid at the first mid it ever saw (the bug: never
    refreshed), replacing its previous bid."""

    def __init__(self) -> None:
        self._reference: Decimal | None = None
        self._last: float | None = None

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        if self._reference is None and view.product_id == PRODUCT and view.mid is not None:
            self._reference = view.mid
        return ()

    def on_timer(self, ctx: StrategyContext) -> Iterable[Intent]:
        if self._reference is None or (self._last is not None and ctx.now - self._last < 5.0):
            return ()
        self._last = ctx.now
        intents: list[Intent] = [
            Cancel(client_order_id=coid)
            for coid in ctx.working_orders
            if not ctx.is_cancelling(coid)
        ]
        price = ctx.round_price(PRODUCT, self._reference, Side.BUY)
        intents.append(
            Submit(
                product_id=PRODUCT,
                side=Side.BUY,
                size=Decimal("0.0001"),
                price=price,
                post_only=True,
            )
        )
        return intents


@attrs.frozen(kw_only=True)
class NoStaleBidReachedTheExchange:
    """No order of the stale bidder was placed at the exchange after the drop."""

    name: ClassVar[str] = "no_stale_bid_after_drop"

    def describe(self) -> str:
        return f"no bid of 'stale' reached the exchange after t={DROP_AT:g}"

    def check(self, record: RunRecord) -> list[Failure]:
        ours = {m.client_order_id for m in record.messages(SubmitOrder) if m.strategy == "stale"}
        late = [
            r
            for r in record.requests
            if r.client_order_id in ours
            and r.at > DROP_AT
            and r.status is not None
            and r.status < 400
        ]
        if late:
            return [
                Failure(
                    check=self.name,
                    message=f"{len(late)} stale bid(s) placed after the drop: {late[0].client_order_id}",
                    at=late[0].at,
                )
            ]
        return []


SCENARIO = Scenario(
    name="fat_finger_after_spike",
    description=(
        "BTC drops 3 % at once; a strategy bidding at a stale reference now bids 3 % above "
        "the mid: the price band denies every such bid, none reaches the exchange"
    ),
    seed=171,
    duration=60.0,
    config=Config(risk=RiskLimits(loss_streak=1000, price_band_bps=Decimal(100))),
    strategies=(StrategySpec(name="stale", factory=StaleReferenceBidder),),
    timeline=(Step(at=DROP_AT, action=PriceJump(product=PRODUCT, bps=Decimal(-300))),),
    expect=(
        OrdersSubmitted(at_least=3, before=DROP_AT),  # the same bid passed before the drop
        Denials(reason="PRICE_BAND", at_least=5, after=DROP_AT),
        OrdersSubmitted(at_least=0, at_most=0, after=DROP_AT + 0.5),
        NoStaleBidReachedTheExchange(),
        ExitCodeIs(code="OK"),
    ),
)
