"""Trading strategies: plain objects with synchronous callbacks that return intents.

:mod:`.base` defines the contract (:class:`Strategy`, :class:`BaseStrategy`, the intents
:class:`Submit`, :class:`Cancel`, :class:`Replace`, and the read-only
:class:`StrategyContext`); the strategy actor (:mod:`cjt_actors.actors.strategy`) runs one
strategy per configured entry. Two strategies ship:

* :class:`MarketMaker` (``cjt_actors.strategies.market_maker:MarketMaker``): a post-only bid
  and ask per product around mid, skewed by inventory;
* :class:`MomentumTaker` (``cjt_actors.strategies.momentum:MomentumTaker``): a bar breakout
  taker with take-profit, stop-loss and time exits.
"""

from .base import (
    BaseStrategy,
    Cancel,
    Intent,
    Replace,
    Strategy,
    StrategyContext,
    StrategyState,
    Submit,
)
from .market_maker import MarketMaker, MarketMakerParams
from .momentum import MomentumParams, MomentumTaker

__all__ = [
    "BaseStrategy",
    "Cancel",
    "Intent",
    "MarketMaker",
    "MarketMakerParams",
    "MomentumParams",
    "MomentumTaker",
    "Replace",
    "Strategy",
    "StrategyContext",
    "StrategyState",
    "Submit",
]
