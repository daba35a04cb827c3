"""What a strategy is, what it is shown, and what it may ask for.

Why a strategy is this small: everything that can go wrong around an order (journaling,
retries, lifecycle, limits, backpressure) belongs to the actors, so a strategy is a plain
object with **synchronous** callbacks. Each callback gets the event and a read-only
:class:`StrategyContext`, and returns the intents it wants, as values:

* :class:`Submit`: a new order (``price=None`` is a market order);
* :class:`Cancel`: cancel one of this strategy's working orders;
* :class:`Replace`: cancel one and submit another. **Not atomic**: the cancel and the
  submit travel as two intents, so the old order may still fill before the cancel lands,
  and the new one may be denied after the old one was cancelled.

A strategy never awaits, never sees a channel, never makes a ``client_order_id`` (the actor
derives one per intent) and never mutates the context. That keeps a strategy testable with
nothing but values: build a :class:`StrategyState`, feed it events, call the callback,
look at the intents.

Configuration convention (the config loader relies on it): a strategy class has a class
attribute ``Params``, a frozen attrs class whose fields all have defaults, and an
``__init__(self, params)`` taking an instance of it. Its name comes from the config and is
the context's :attr:`StrategyContext.name`. :class:`BaseStrategy` gives every callback a
default that asks for nothing, so a strategy implements only what it needs.

The context (:class:`StrategyState`, seen by strategies through the read-only
:class:`StrategyContext` protocol) is kept up to date by the
:class:`~cjt_actors.actors.strategy.StrategyActor` *before* each callback: the latest book
view per product, recent bars per ``(product, interval)`` (bounded), this strategy's working
orders (the latest :class:`~cjt_actors.order_messages.OrderUpdated` of each, with a local
``PENDING`` entry from the moment an intent is sent until the executor reports on it),
the cancels it has asked for, and its positions from its own fills (average cost, as
:class:`~cjt_actors.lifecycle.Position` computes it).
"""

from __future__ import annotations

import decimal
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Generic, Protocol, TypeAlias, TypeVar

import attrs

from ..bars import Bar
from ..errors import InvalidSpec
from ..exchange.orders import Side
from ..lifecycle import TERMINAL_STATES, Fill, OrderState, Position
from ..market_messages import BarClosed, TradesReceived
from ..order_messages import (
    IntentKind,
    OrderDenied,
    OrderFilled,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
)
from ..orderbook import BookView
from ..products import ProductRules

__all__ = [
    "DEFAULT_BAR_HISTORY",
    "BaseStrategy",
    "Cancel",
    "Intent",
    "OrderEvent",
    "Replace",
    "Strategy",
    "StrategyContext",
    "StrategyState",
    "Submit",
]

DEFAULT_BAR_HISTORY: Final = 500
"""Bars kept per ``(product, interval)`` unless the actor is told otherwise."""

_MEMORY: Final = 65_536
"""How many closed order ids and seen trade ids the state remembers to refuse stale or
replayed events (oldest forgotten first: memory stays bounded however long the run)."""


def _finite_positive(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value > 0


def _check_product(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidSpec(f"{type(instance).__name__}.{attribute.name} must be a non-empty str")


def _check_size(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not _finite_positive(value):
        raise InvalidSpec(
            f"{type(instance).__name__}.{attribute.name} must be a positive, finite Decimal, "
            f"got {value!r}"
        )


def _check_price(
    instance: object, attribute: attrs.Attribute[Decimal | None], value: Decimal | None
) -> None:
    if value is not None and not _finite_positive(value):
        raise InvalidSpec(
            f"{type(instance).__name__}.{attribute.name} must be None (a market order) or a "
            f"positive, finite Decimal, got {value!r}"
        )


# -- intents ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Submit:
    """Ask for a new order. ``price=None`` makes it a market order (then ``post_only`` must
    be false). ``tag`` is the strategy's own label for it (``"bid"``, ``"entry"``...): the
    context remembers it per order (:meth:`StrategyContext.tag`); it never leaves the actor.

    Raises:
        InvalidSpec: an empty product, a size or price that is not a positive finite
            Decimal, or a post-only market order.
    """

    product_id: str = attrs.field(validator=_check_product)
    side: Side
    size: Decimal = attrs.field(validator=_check_size)
    price: Decimal | None = attrs.field(validator=_check_price)
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    tag: str = ""

    def __attrs_post_init__(self) -> None:
        if self.side not in (Side.BUY, Side.SELL):
            raise InvalidSpec(f"Submit.side must be Side.BUY or Side.SELL, got {self.side!r}")
        if self.post_only and self.price is None:
            raise InvalidSpec("Submit: a market order (price=None) cannot be post_only")


@attrs.frozen(kw_only=True)
class Cancel:
    """Ask to cancel one of this strategy's working orders. A cancel of an order that is not
    working (or already being cancelled) is not sent: the actor skips it and counts it."""

    client_order_id: str
    reason: str = "strategy"


@attrs.frozen(kw_only=True)
class Replace:
    """Cancel ``client_order_id``, then submit ``submit``: two intents, **not atomic** (the
    old order may fill before its cancel lands; the new one may be denied). Nothing is sent
    when the old order is no longer working: the decision to replace was made about an
    order that is gone, so the strategy decides again on the next event."""

    client_order_id: str
    submit: Submit
    reason: str = "replace"


Intent: TypeAlias = Submit | Cancel | Replace
OrderEvent: TypeAlias = OrderUpdated | OrderFilled | OrderDenied


# -- the context ---------------------------------------------------------------------------------


class StrategyContext(Protocol):
    """What a strategy may read (and nothing it may change). See :class:`StrategyState`."""

    @property
    def name(self) -> str: ...
    @property
    def now(self) -> float: ...
    @property
    def products(self) -> Mapping[str, ProductRules]: ...
    @property
    def views(self) -> Mapping[str, BookView]: ...
    @property
    def working_orders(self) -> Mapping[str, OrderUpdated]: ...
    @property
    def positions(self) -> Mapping[str, Decimal]: ...
    def rules(self, product_id: str) -> ProductRules: ...
    def view(self, product_id: str) -> BookView | None: ...
    def bars(self, product_id: str, interval: int, n: int | None = None) -> tuple[Bar, ...]: ...
    def orders(
        self,
        product_id: str | None = None,
        side: Side | None = None,
        *,
        include_cancelling: bool = False,
    ) -> tuple[OrderUpdated, ...]: ...
    def is_cancelling(self, client_order_id: str) -> bool: ...
    def tag(self, client_order_id: str) -> str: ...
    def position(self, product_id: str) -> Decimal: ...
    def average_cost(self, product_id: str) -> Decimal | None: ...
    def round_price(self, product_id: str, price: Decimal, side: Side) -> Decimal: ...
    def round_size(self, product_id: str, size: Decimal, *, up: bool = False) -> Decimal: ...


K = TypeVar("K")


class _Recent(Generic[K]):
    """A set that forgets its oldest members beyond ``limit`` (bounded memory)."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int) -> None:
        self._items: dict[K, None] = {}
        self._limit = limit

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def add(self, item: K) -> None:
        if item not in self._items and len(self._items) >= self._limit:
            del self._items[next(iter(self._items))]
        self._items[item] = None


class StrategyState:
    """The context of one strategy incarnation: read through :class:`StrategyContext`,
    written by its actor (and by tests) through the ``apply_*``/``record_*`` methods.

    Args:
        name: the strategy's configured name.
        products: the configured products' rules.
        bar_history: bars kept per ``(product, interval)``.
        memory: closed order ids and trade ids remembered (see :data:`_MEMORY`).

    Stale events are refused, not applied: an :class:`OrderUpdated` older (by ``at``) than
    the one held, or about an order already seen closed, and a fill whose ``trade_id`` was
    counted. They happen on purpose: a restarted incarnation is seeded from the journal and
    then reads the same mailbox that may still hold events the journal already had.
    """

    def __init__(
        self,
        name: str,
        products: Mapping[str, ProductRules],
        *,
        bar_history: int = DEFAULT_BAR_HISTORY,
        memory: int = _MEMORY,
    ) -> None:
        for arg, value in (("bar_history", bar_history), ("memory", memory)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidSpec(f"StrategyState {arg} must be an int >= 1, got {value!r}")
        self._name = name
        self._products = MappingProxyType(dict(products))
        self._bar_history = bar_history
        self._now = 0.0
        self._views: dict[str, BookView] = {}
        self._bars: dict[tuple[str, int], deque[Bar]] = {}
        self._working: dict[str, OrderUpdated] = {}
        self._cancel_requested: set[str] = set()
        self._tags: dict[str, str] = {}
        self._positions: dict[str, Position] = {}
        self._quantities: dict[str, Decimal] = {}
        self._closed: _Recent[str] = _Recent(memory)
        self._trade_ids: _Recent[str] = _Recent(memory)
        self._views_proxy = MappingProxyType(self._views)
        self._working_proxy = MappingProxyType(self._working)
        self._quantities_proxy = MappingProxyType(self._quantities)

    def __repr__(self) -> str:
        return (
            f"<StrategyState {self._name!r}: {len(self._working)} working, "
            f"{len(self._views)} views, positions {dict(self._quantities)}>"
        )

    # -- read side (StrategyContext) ------------------------------------------------------

    @property
    def name(self) -> str:
        """The strategy's configured name."""
        return self._name

    @property
    def now(self) -> float:
        """Trio's clock when the current callback began."""
        return self._now

    @property
    def products(self) -> Mapping[str, ProductRules]:
        """Every configured product's rules."""
        return self._products

    @property
    def views(self) -> Mapping[str, BookView]:
        """The latest book view per product (read-only)."""
        return self._views_proxy

    @property
    def working_orders(self) -> Mapping[str, OrderUpdated]:
        """``client_order_id`` -> latest update of each order of this strategy not yet in a
        terminal state, oldest first (read-only). Includes orders being cancelled."""
        return self._working_proxy

    @property
    def positions(self) -> Mapping[str, Decimal]:
        """Net base quantity per product from this strategy's fills (BUY positive)."""
        return self._quantities_proxy

    def rules(self, product_id: str) -> ProductRules:
        """The rules of ``product_id``. Raises :class:`InvalidSpec` naming the configured
        products when it is not one of them."""
        try:
            return self._products[product_id]
        except KeyError:
            raise InvalidSpec(
                f"strategy {self._name!r}: product {product_id!r} is not configured "
                f"(configured: {', '.join(sorted(self._products)) or 'none'})"
            ) from None

    def view(self, product_id: str) -> BookView | None:
        """The latest view of ``product_id``, or ``None`` before the first."""
        return self._views.get(product_id)

    def bars(self, product_id: str, interval: int, n: int | None = None) -> tuple[Bar, ...]:
        """The last ``n`` (default: all kept) completed bars of ``(product_id, interval)``,
        oldest first; the bar just closed is the last one during ``on_bar``."""
        kept = self._bars.get((product_id, interval))
        if kept is None:
            return ()
        if n is None or n >= len(kept):
            return tuple(kept)
        if n <= 0:
            return ()
        return tuple(itertools.islice(kept, len(kept) - n, None))

    def orders(
        self,
        product_id: str | None = None,
        side: Side | None = None,
        *,
        include_cancelling: bool = False,
    ) -> tuple[OrderUpdated, ...]:
        """Working orders, filtered by product and side, oldest first; by default without
        the ones a cancel was asked for (or the venue is cancelling)."""
        return tuple(
            order
            for order in self._working.values()
            if (product_id is None or order.product_id == product_id)
            and (side is None or order.side == side)
            and (include_cancelling or not self.is_cancelling(order.client_order_id))
        )

    def is_cancelling(self, client_order_id: str) -> bool:
        """Whether a cancel of this order was sent, or the venue reports one pending."""
        if client_order_id in self._cancel_requested:
            return True
        order = self._working.get(client_order_id)
        return order is not None and order.state is OrderState.CANCEL_PENDING

    def tag(self, client_order_id: str) -> str:
        """The tag the order was submitted with ("" for orders recovered from the journal)."""
        return self._tags.get(client_order_id, "")

    def position(self, product_id: str) -> Decimal:
        """Net base quantity of ``product_id`` (0 without fills)."""
        return self._quantities.get(product_id, Decimal(0))

    def average_cost(self, product_id: str) -> Decimal | None:
        """Average price of the open position, or ``None`` when flat."""
        position = self._positions.get(product_id)
        if position is None or not position.quantity:
            return None
        return position.average_cost

    def round_price(self, product_id: str, price: Decimal, side: Side) -> Decimal:
        """``price`` on the product's price grid, rounded the passive way: a BUY down (never
        pay more than asked), a SELL up (never sell for less)."""
        rounding = decimal.ROUND_FLOOR if side == Side.BUY else decimal.ROUND_CEILING
        return _to_grid(price, self.rules(product_id).price_increment, rounding)

    def round_size(self, product_id: str, size: Decimal, *, up: bool = False) -> Decimal:
        """``size`` on the product's size grid: rounded down (never more than asked), or up
        with ``up=True`` (at least what is asked, e.g. to reach a minimum)."""
        rounding = decimal.ROUND_CEILING if up else decimal.ROUND_FLOOR
        return _to_grid(size, self.rules(product_id).base_increment, rounding)

    # -- write side (the actor) ---------------------------------------------------------------

    def set_now(self, now: float) -> None:
        """Set the clock callbacks see (the actor calls it before each callback)."""
        self._now = now

    def record_view(self, view: BookView) -> None:
        """Keep ``view`` as the latest of its product."""
        self._views[view.product_id] = view

    def record_bar(self, event: BarClosed) -> None:
        """Append a closed bar to its ``(product, interval)`` history."""
        key = (event.product_id, event.bar.interval)
        kept = self._bars.get(key)
        if kept is None:
            kept = self._bars[key] = deque(maxlen=self._bar_history)
        kept.append(event.bar)

    def record_submit(self, order: SubmitOrder, tag: str) -> None:
        """An intent was sent: the order is working (``PENDING``) until reported on."""
        coid = order.client_order_id
        self._working[coid] = OrderUpdated(
            strategy=order.strategy,
            client_order_id=coid,
            order_id="",
            product_id=order.product_id,
            side=order.side,
            order_type=order.order_type,
            size=order.size,
            limit_price=order.limit_price,
            previous=OrderState.PENDING,
            state=OrderState.PENDING,
            filled_size=Decimal(0),
            average_price=None,
            reason="sent to risk",
            at=order.at,
        )
        if tag:
            self._tags[coid] = tag

    def record_cancel(self, client_order_id: str) -> None:
        """A cancel of this order was sent."""
        self._cancel_requested.add(client_order_id)

    def apply(self, event: OrderEvent) -> bool:
        """Apply an order event; ``False`` when it was stale or a replay (nothing changed,
        and the strategy need not hear of it)."""
        match event:
            case OrderUpdated():
                return self._apply_update(event)
            case OrderFilled():
                return self._apply_fill(event)
            case OrderDenied():
                self._apply_denial(event)
                return True
        raise AssertionError(f"not an order event: {event!r}")  # pragma: no cover

    def _apply_update(self, update: OrderUpdated) -> bool:
        coid = update.client_order_id
        held = self._working.get(coid)
        if coid in self._closed or (held is not None and held.at > update.at):
            return False
        if update.state in TERMINAL_STATES:
            self._close(coid)
            return True
        self._working[coid] = update
        if update.previous is OrderState.CANCEL_PENDING and update.state in (
            OrderState.OPEN,
            OrderState.PARTIALLY_FILLED,
        ):
            self._cancel_requested.discard(coid)  # the cancel failed: the order works on
        return True

    def _apply_fill(self, filled: OrderFilled) -> bool:
        if filled.trade_id in self._trade_ids:
            return False
        self._trade_ids.add(filled.trade_id)
        product = filled.product_id
        position = self._positions.get(product)
        if position is None:
            position = self._positions[product] = Position(product_id=product)
        position.apply(
            filled.side,
            Fill(
                trade_id=filled.trade_id,
                price=filled.price,
                size=filled.size,
                fee=filled.fee,
                liquidity=filled.liquidity,
            ),
        )
        self._quantities[product] = position.quantity
        return True

    def _apply_denial(self, denied: OrderDenied) -> None:
        coid = denied.client_order_id
        if denied.intent is IntentKind.CANCEL:
            self._cancel_requested.discard(coid)
            return
        held = self._working.get(coid)
        if held is not None and held.state is OrderState.PENDING:
            self._close(coid)  # the submit never reached the venue

    def _close(self, coid: str) -> None:
        self._working.pop(coid, None)
        self._cancel_requested.discard(coid)
        self._tags.pop(coid, None)
        self._closed.add(coid)

    def seed(self, working_orders: Iterable[OrderUpdated], fills: Iterable[OrderFilled]) -> None:
        """Start from what the journal knows: this strategy's fills, then its working orders
        (as if their updates had just arrived)."""
        for filled in fills:
            self._apply_fill(filled)
        for update in working_orders:
            self._apply_update(update)


def _to_grid(value: Decimal, increment: Decimal, rounding: str) -> Decimal:
    steps = (value / increment).to_integral_value(rounding=rounding)
    return steps * increment


# -- the protocol ---------------------------------------------------------------------------------


class Strategy(Protocol):
    """A trading strategy: synchronous callbacks that return intents (see the module
    docstring). An exception from a callback crashes the strategy's actor: its supervisor
    restarts it with a fresh instance (and repeated crashes escalate)."""

    def on_start(self, ctx: StrategyContext) -> Iterable[Intent]:
        """Once per incarnation, after the context was seeded from the journal."""
        ...

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        """A new (conflated) view of one product's book."""
        ...

    def on_trades(self, trades: TradesReceived, ctx: StrategyContext) -> Iterable[Intent]:
        """One frame of public trades (advisory: frames may be dropped under load)."""
        ...

    def on_bar(self, bar: BarClosed, ctx: StrategyContext) -> Iterable[Intent]:
        """A bar closed (already in :meth:`StrategyContext.bars`)."""
        ...

    def on_order(self, event: OrderEvent, ctx: StrategyContext) -> Iterable[Intent]:
        """One of this strategy's orders moved, filled, or an intent was denied (already
        applied to the context)."""
        ...

    def on_timer(self, ctx: StrategyContext) -> Iterable[Intent]:
        """Every ``timer_interval`` seconds (trio's clock)."""
        ...


class BaseStrategy:
    """Every callback asks for nothing: subclass it and override what you need."""

    def on_start(self, ctx: StrategyContext) -> Iterable[Intent]:
        return ()

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        return ()

    def on_trades(self, trades: TradesReceived, ctx: StrategyContext) -> Iterable[Intent]:
        return ()

    def on_bar(self, bar: BarClosed, ctx: StrategyContext) -> Iterable[Intent]:
        return ()

    def on_order(self, event: OrderEvent, ctx: StrategyContext) -> Iterable[Intent]:
        return ()

    def on_timer(self, ctx: StrategyContext) -> Iterable[Intent]:
        return ()
