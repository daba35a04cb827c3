"""A breakout taker: buy when a bar closes above the recent range, exit on target, stop or time.

Rules, evaluated when a bar of ``(product, bar_interval)`` closes:

* **Entry** (flat, nothing working): the bar's close is above the highest high of the
  ``lookback`` bars before it -> buy ``size`` with an IOC limit at
  ``best_ask * (1 + slippage_bps / 10_000)``, so the order takes what is there up to a
  bounded price and never rests. With ``allow_short``, a close below the lowest low sells
  the same way at ``best_bid * (1 - slippage_bps / 10_000)``.
* **Exit** (in a position, nothing working): the close moved ``take_profit_bps`` in our
  favour or ``stop_loss_bps`` against us from the entry (the position's average cost), or
  the position was held for ``max_hold_bars`` bars -> close the whole position with an IOC
  limit the same way. A partial IOC leaves the rest for the next bar.
* **One position at a time**: no entry while holding one, no new order while one is
  working. A position smaller than the product's minimum size cannot be sold and counts as
  flat (dust).

Why bars and not every book update: the signal is defined on bars, and evaluating exits at
bar closes keeps the strategy deterministic in replays (at the default 1 s bars that is once a
second). Prices come from the latest view; without a trusted two-sided view nothing is sent.

Restart: the position and its average cost come back from the journal (the actor seeds the
context), so a restarted incarnation still exits it; its holding time restarts from zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from ..errors import InvalidSpec
from ..exchange.orders import Side
from ..market_messages import BarClosed
from ..order_messages import TimeInForce
from .base import BaseStrategy, Intent, StrategyContext, Submit

__all__ = ["MomentumParams", "MomentumTaker"]

_BPS = Decimal(10_000)
_ONE = Decimal(1)


def _positive_decimal(
    instance: object, attribute: attrs.Attribute[Decimal], value: Decimal
) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidSpec(f"{attribute.name} must be a positive Decimal, got {value!r}")


def _slippage(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value < _BPS:
        raise InvalidSpec(f"{attribute.name} must be a Decimal in [0, 10000), got {value!r}")


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSpec(f"{attribute.name} must be an int >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class MomentumParams:
    """The breakout taker's settings (the ``params`` table of its config entry).

    Attributes:
        product: the one product it trades.
        bar_interval: seconds per bar; must be one of the book's bar intervals.
        lookback: how many bars before the current one define the range.
        size: order size in base units.
        slippage_bps: how far past the touch the IOC limit goes, in bps.
        take_profit_bps, stop_loss_bps: exit thresholds from the entry, in bps.
        max_hold_bars: exit after holding this many bars.
        allow_short: also sell breakdowns (default long-only).
    """

    product: str = "BTC-USD"
    bar_interval: int = attrs.field(default=1, validator=_positive_int)
    lookback: int = attrs.field(default=20, validator=_positive_int)
    size: Decimal = attrs.field(default=Decimal("0.001"), validator=_positive_decimal)
    slippage_bps: Decimal = attrs.field(default=Decimal(5), validator=_slippage)
    take_profit_bps: Decimal = attrs.field(default=Decimal(30), validator=_positive_decimal)
    stop_loss_bps: Decimal = attrs.field(default=Decimal(20), validator=_positive_decimal)
    max_hold_bars: int = attrs.field(default=60, validator=_positive_int)
    allow_short: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.product:
            raise InvalidSpec("product must not be empty")


class MomentumTaker(BaseStrategy):
    """See the module docstring."""

    Params = MomentumParams

    def __init__(self, params: MomentumParams = MomentumParams()) -> None:
        self.params = params
        self._held_bars = 0

    def __repr__(self) -> str:
        p = self.params
        return f"<MomentumTaker {p.product} {p.bar_interval}s lookback={p.lookback}>"

    def on_start(self, ctx: StrategyContext) -> Iterable[Intent]:
        """Check that the product is configured (raises :class:`InvalidSpec` if not)."""
        ctx.rules(self.params.product)
        return ()

    def on_bar(self, bar: BarClosed, ctx: StrategyContext) -> Iterable[Intent]:
        p = self.params
        if bar.product_id != p.product or bar.bar.interval != p.bar_interval:
            return ()
        position = self._position(ctx)
        if position:
            self._held_bars += 1
        else:
            self._held_bars = 0
        if ctx.orders(p.product, include_cancelling=True):
            return ()  # an order is in flight: wait for its outcome
        if position:
            return self._exit(position, bar.bar.close, ctx)
        return self._entry(ctx)

    def _position(self, ctx: StrategyContext) -> Decimal:
        """The position, as a tradable size with its sign (0 when flat or dust)."""
        product = self.params.product
        held = ctx.position(product)
        size = ctx.round_size(product, abs(held))
        if size < ctx.rules(product).base_min_size:
            return Decimal(0)
        return size if held > 0 else -size

    def _entry(self, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        bars = ctx.bars(p.product, p.bar_interval, p.lookback + 1)
        if len(bars) <= p.lookback:
            return []
        *previous, current = bars
        if current.close > max(b.high for b in previous):
            return self._take(Side.BUY, p.size, ctx, "entry")
        if p.allow_short and current.close < min(b.low for b in previous):
            return self._take(Side.SELL, p.size, ctx, "entry")
        return []

    def _exit(self, position: Decimal, close: Decimal, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        entry = ctx.average_cost(p.product)
        assert entry is not None  # a non-zero position has an average cost
        gain_bps = (close - entry) * _BPS / entry
        if position < 0:
            gain_bps = -gain_bps
        if (
            gain_bps >= p.take_profit_bps
            or gain_bps <= -p.stop_loss_bps
            or self._held_bars >= p.max_hold_bars
        ):
            side = Side.SELL if position > 0 else Side.BUY
            return self._take(side, abs(position), ctx, "exit")
        return []

    def _take(self, side: Side, size: Decimal, ctx: StrategyContext, tag: str) -> list[Intent]:
        """An IOC limit ``slippage_bps`` through the touch, or nothing without a good view."""
        p = self.params
        view = ctx.view(p.product)
        if view is None or not view.trusted or view.best_bid is None or view.best_ask is None:
            return []
        slip = p.slippage_bps / _BPS
        if side == Side.BUY:
            price = ctx.round_price(p.product, view.best_ask * (_ONE + slip), side)
        else:
            price = ctx.round_price(p.product, view.best_bid * (_ONE - slip), side)
        return [
            Submit(
                product_id=p.product,
                side=side,
                size=size,
                price=price,
                time_in_force=TimeInForce.IOC,
                tag=tag,
            )
        ]
