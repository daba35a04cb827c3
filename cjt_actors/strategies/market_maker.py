"""A market maker: one post-only bid and one ask per product around mid, skewed by inventory.

The quote of a product, from its latest view (see :meth:`MarketMaker.ideal_quotes`)::

    q            = clamp(position * mid / max_inventory_notional, -1, 1)   inventory ratio
    reservation  = mid * (1 - inventory_skew_bps * q / 10_000)             long -> lower
    bid, ask     = reservation * (1 -/+ half_spread_bps / 10_000)
    bid rounded down, ask rounded up to the price increment, then kept passive:
    bid <= best_ask - increment, ask >= best_bid + increment               never cross

Why these choices:

* **Sizes in quote currency.** ``order_notional`` (and ``max_inventory_notional``) are in
  the quote currency, so one number suits every product (BTC and a cheap coin alike) and
  "all configured products" needs no per-product table. The size is
  ``order_notional / mid`` rounded down to the size increment, raised to the product's
  minimums (``base_min_size``, ``quote_min_size``: below them risk would deny the order
  anyway) and capped at ``base_max_size``.
* **Inventory.** Both quotes move away from the inventory (long: lower, so the ask is more
  likely to fill and the bid less); a side whose fill would take ``|position| * mid`` past
  ``max_inventory_notional`` is not quoted at all (its working quote is cancelled). Working
  quotes that are being cancelled are not counted: a cancel racing a fill can overshoot by
  one order, which risk's position limit is there to stop.
* **Cancel rate.** A working quote is replaced only when the ideal price moved at least
  ``requote_threshold_bps`` of mid: most book updates move the ideal by less than a tick's
  worth of edge, and every replace is a cancel the venue counts against us.
* **Bad data, no quotes.** With a view that is untrusted, one-sided or older than
  ``max_view_age`` seconds, or with no view ``max_view_age`` seconds after the start, the
  product's quotes are cancelled: quoting blind is how a market maker gets picked off.
* **Restarts.** A new incarnation sees the working orders of the old one (the actor seeds
  the context from the journal). It adopts the newest order of each side as its quote and
  cancels the others, so it never stacks a second set of quotes. It does not cancel them
  merely because it has no view yet at its start: the first view is normally on its way
  (the book's latest view waits in the mailbox), and cancelling then re-posting would lose
  the queue position for nothing.

It trades only the products in ``products`` (all configured products when empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

import attrs

from ..errors import InvalidSpec
from ..exchange.orders import Side
from ..order_messages import OrderUpdated, TimeInForce
from ..orderbook import BookView
from .base import BaseStrategy, Cancel, Intent, OrderEvent, Replace, StrategyContext, Submit

__all__ = ["IdealQuotes", "MarketMaker", "MarketMakerParams", "Quote"]

_BPS = Decimal(10_000)
_ONE = Decimal(1)


def _positive(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidSpec(f"{attribute.name} must be a positive Decimal, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidSpec(f"{attribute.name} must be a Decimal >= 0, got {value!r}")


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        raise InvalidSpec(f"{attribute.name} must be a positive number of seconds, got {value!r}")


@attrs.frozen(kw_only=True)
class MarketMakerParams:
    """The market maker's settings (the ``params`` table of its config entry).

    Attributes:
        products: products to quote; empty (the default) quotes every configured product.
        order_notional: size of each quote in quote currency (converted at mid).
        half_spread_bps: distance of each quote from the reservation price, in bps (> 0).
        inventory_skew_bps: how far both quotes move at full inventory
            (``|position| * mid == max_inventory_notional``), in bps; proportional below.
        max_inventory_notional: largest ``|position| * mid`` a fill may lead to (quote
            currency); the side that would go beyond is not quoted.
        requote_threshold_bps: replace a working quote only when the ideal price moved at
            least this much (bps of mid); 0 replaces on any change of price.
        max_view_age: seconds without a book change after which quotes are cancelled.
        post_only: send quotes post-only (the venue refuses any that would take).
    """

    products: tuple[str, ...] = ()
    order_notional: Decimal = attrs.field(default=Decimal(100), validator=_positive)
    half_spread_bps: Decimal = attrs.field(default=Decimal(5), validator=_positive)
    inventory_skew_bps: Decimal = attrs.field(default=Decimal(5), validator=_non_negative)
    max_inventory_notional: Decimal = attrs.field(default=Decimal(1000), validator=_positive)
    requote_threshold_bps: Decimal = attrs.field(default=Decimal(2), validator=_non_negative)
    max_view_age: float = attrs.field(default=5.0, validator=_positive_seconds)
    post_only: bool = True

    def __attrs_post_init__(self) -> None:
        if self.half_spread_bps + self.inventory_skew_bps >= _BPS:
            raise InvalidSpec(
                f"half_spread_bps + inventory_skew_bps must be below 10000 (100%), got "
                f"{self.half_spread_bps} + {self.inventory_skew_bps}"
            )
        if len(set(self.products)) != len(self.products):
            raise InvalidSpec(f"products must not repeat, got {list(self.products)}")


@attrs.frozen(kw_only=True)
class Quote:
    """One side's ideal order: on the price and size grids."""

    price: Decimal
    size: Decimal


@attrs.frozen(kw_only=True)
class IdealQuotes:
    """Where the quotes of one product should be now (``None``: do not quote that side)."""

    product_id: str
    mid: Decimal
    bid: Quote | None
    ask: Quote | None


class MarketMaker(BaseStrategy):
    """See the module docstring."""

    Params = MarketMakerParams

    def __init__(self, params: MarketMakerParams = MarketMakerParams()) -> None:
        self.params = params
        self._products: tuple[str, ...] = params.products
        self._started_at = 0.0

    def __repr__(self) -> str:
        return f"<MarketMaker products={list(self._products) or 'all'}>"

    # -- callbacks ----------------------------------------------------------------------

    def on_start(self, ctx: StrategyContext) -> Iterable[Intent]:
        """Check the products, then align whatever the journal says is working."""
        self._started_at = ctx.now
        if self.params.products:
            for product_id in self.params.products:
                ctx.rules(product_id)  # raises InvalidSpec naming the configured ones
        else:
            self._products = tuple(ctx.products)
        return self._requote_all(ctx)

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        if view.product_id not in self._products:
            return ()
        return self._requote(view.product_id, ctx)

    def on_order(self, event: OrderEvent, ctx: StrategyContext) -> Iterable[Intent]:
        """A fill moves the inventory (and the skew); a quote that ended must be renewed."""
        if event.product_id not in self._products:
            return ()
        return self._requote(event.product_id, ctx)

    def on_timer(self, ctx: StrategyContext) -> Iterable[Intent]:
        """Catch views that went stale without a new one arriving."""
        return self._requote_all(ctx)

    # -- the quote ----------------------------------------------------------------------

    def ideal_quotes(self, view: BookView, ctx: StrategyContext) -> IdealQuotes | None:
        """The quotes of ``view``'s product now, or ``None`` when the view is unfit to quote
        on (untrusted, one-sided, stale)."""
        touch = self._touch(view, ctx)
        return None if isinstance(touch, str) else self._ideal(view.product_id, touch, ctx)

    def _ideal(
        self, product: str, touch: tuple[Decimal, Decimal, Decimal], ctx: StrategyContext
    ) -> IdealQuotes:
        best_bid, mid, best_ask = touch
        params = self.params
        rules = ctx.rules(product)
        position = ctx.position(product)
        ratio = max(-_ONE, min(_ONE, position * mid / params.max_inventory_notional))
        reservation = mid * (_ONE - params.inventory_skew_bps * ratio / _BPS)
        half = params.half_spread_bps / _BPS
        size = max(
            ctx.round_size(product, params.order_notional / mid),
            rules.base_min_size,
            ctx.round_size(product, rules.quote_min_size / mid, up=True),
        )
        size = min(size, rules.base_max_size)
        increment = rules.price_increment
        bid: Quote | None = None
        ask: Quote | None = None
        if (position + size) * mid <= params.max_inventory_notional:
            bid_price = min(
                ctx.round_price(product, reservation * (_ONE - half), Side.BUY),
                best_ask - increment,
            )
            if bid_price > 0:
                bid = Quote(price=bid_price, size=size)
        if (size - position) * mid <= params.max_inventory_notional:
            ask_price = max(
                ctx.round_price(product, reservation * (_ONE + half), Side.SELL),
                best_bid + increment,
            )
            ask = Quote(price=ask_price, size=size)
        return IdealQuotes(product_id=product, mid=mid, bid=bid, ask=ask)

    def _touch(
        self, view: BookView | None, ctx: StrategyContext
    ) -> tuple[Decimal, Decimal, Decimal] | str:
        """``(best_bid, mid, best_ask)`` of a view fit to quote on, else why it is not."""
        if view is None:
            return "no book yet"
        if not view.trusted:
            reason = view.trust_reason.value if view.trust_reason is not None else "empty"
            return f"book untrusted ({reason})"
        if view.mid is None or view.best_bid is None or view.best_ask is None:
            return "book one-sided"
        if view.updated_at is None or ctx.now - view.updated_at > self.params.max_view_age:
            return "book stale"
        return view.best_bid, view.mid, view.best_ask

    def _requote_all(self, ctx: StrategyContext) -> list[Intent]:
        intents: list[Intent] = []
        for product_id in self._products:
            intents += self._requote(product_id, ctx)
        return intents

    def _requote(self, product_id: str, ctx: StrategyContext) -> list[Intent]:
        bids = ctx.orders(product_id, Side.BUY)
        asks = ctx.orders(product_id, Side.SELL)
        view = ctx.view(product_id)
        if view is None and ctx.now - self._started_at <= self.params.max_view_age:
            return []  # just started: the first view is on its way
        touch = self._touch(view, ctx)
        if isinstance(touch, str):
            return [Cancel(client_order_id=o.client_order_id, reason=touch) for o in (*bids, *asks)]
        ideal = self._ideal(product_id, touch, ctx)
        return [
            *self._align(product_id, Side.BUY, bids, ideal.bid, ideal.mid),
            *self._align(product_id, Side.SELL, asks, ideal.ask, ideal.mid),
        ]

    def _align(
        self,
        product_id: str,
        side: Side,
        working: Sequence[OrderUpdated],
        target: Quote | None,
        mid: Decimal,
    ) -> list[Intent]:
        """Intents that leave exactly ``target`` working on this side (or nothing)."""
        if target is None:
            return [
                Cancel(client_order_id=o.client_order_id, reason="inventory limit") for o in working
            ]
        submit = Submit(
            product_id=product_id,
            side=side,
            size=target.size,
            price=target.price,
            time_in_force=TimeInForce.GTC,
            post_only=self.params.post_only,
            tag="bid" if side == Side.BUY else "ask",
        )
        if not working:
            return [submit]
        *extra, keep = working  # the newest is the quote; older ones are leftovers
        intents: list[Intent] = [
            Cancel(client_order_id=o.client_order_id, reason="duplicate quote") for o in extra
        ]
        price = keep.limit_price
        if price is None or (
            price != target.price
            and abs(target.price - price) * _BPS >= self.params.requote_threshold_bps * mid
        ):
            intents.append(Replace(client_order_id=keep.client_order_id, submit=submit))
        return intents
