"""Trading messages: intents from strategies, risk's decisions, and the executor's order events.

The path of an order (DESIGN §2)::

    strategy --SubmitOrder/CancelOrder--> risk --(approved, same value)--> executor --> venue
        ^                                   |                                 |
        +------OrderDenied------------------+                                 |
        +------OrderUpdated/OrderFilled----- risk <---------------------------+

* A strategy's intent is a **Command** (:class:`SubmitOrder`, :class:`CancelOrder`). Risk
  forwards the very value it approved, so what the executor sends is what risk checked; a
  refusal is an :class:`OrderDenied` event with a standardized :class:`DenyReason`.
* ``client_order_id`` is fixed when the strategy makes the intent
  (:func:`cjt_actors.lifecycle.derive_client_order_id`): every retry and every journal row of
  that order uses it, so the venue can never hear of the same intent under two ids.
* The executor reports every legal lifecycle move as :class:`OrderUpdated` and every counted
  fill (each ``trade_id`` once) as :class:`OrderFilled`. Those edges never drop.
* Risk publishes :class:`TradingStateChanged` and periodic :class:`PnlRecorded` snapshots,
  which the journal keeps (the summary and reports are computed from them).

Money and sizes are ``Decimal``; ``at`` is trio's clock.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from .exchange.orders import Side
from .lifecycle import Liquidity, OrderState
from .messages import Command, Event, register

__all__ = [
    "CancelAllOrders",
    "CancelOrder",
    "DenyReason",
    "EmergencyCancelFinished",
    "HaltTrading",
    "IntentKind",
    "KillSwitchTripped",
    "OpenOrdersLeft",
    "OrderDenied",
    "OrderFilled",
    "OrderType",
    "OrderUpdated",
    "PnlRecorded",
    "PositionState",
    "ReconciliationStateChanged",
    "ResumeTrading",
    "SubmitOrder",
    "TimeInForce",
    "TradingState",
    "TradingStateChanged",
]


class OrderType(enum.Enum):
    """How the order prices: at a limit, or against the book at any price."""

    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(enum.Enum):
    """How long an order works: until cancelled, or immediately (the rest cancelled), or
    entirely at once or not at all."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


@register
@attrs.frozen(kw_only=True)
class SubmitOrder(Command):
    """Place an order. ``size`` is in base units; ``limit_price`` is ``None`` for a market
    order; ``post_only`` orders that would take liquidity are rejected by the venue.
    ``trigger_at``: when the market data that prompted it arrived (trio's clock of this
    process), for tick-to-trade latency; ``None`` when no frame prompted it."""

    strategy: str
    client_order_id: str
    product_id: str
    side: Side
    order_type: OrderType
    size: Decimal
    limit_price: Decimal | None
    time_in_force: TimeInForce
    post_only: bool
    at: float
    trigger_at: float | None = None


@register
@attrs.frozen(kw_only=True)
class CancelOrder(Command):
    """Cancel one working order of this strategy."""

    strategy: str
    client_order_id: str
    reason: str
    at: float


@register
@attrs.frozen(kw_only=True)
class CancelAllOrders(Command):
    """Cancel every working order (of one product, or all when ``product_id`` is empty)."""

    reason: str
    product_id: str
    at: float


@register
@attrs.frozen(kw_only=True)
class HaltTrading(Command):
    """An operator (or the root) stops new orders: risk enters HALTED; cancels still pass.

    ``flatten``: also cancel every working order and close every position with market
    orders (risk sends them itself: they only reduce exposure)."""

    detail: str
    at: float
    flatten: bool = False


@register
@attrs.frozen(kw_only=True)
class ResumeTrading(Command):
    """An operator lifts a manual halt (a kill-switch halt is not lifted this way)."""

    detail: str
    at: float


class IntentKind(enum.Enum):
    """Which kind of intent a denial refers to."""

    SUBMIT = "submit"
    CANCEL = "cancel"


class DenyReason(enum.Enum):
    """Why risk (or the executor) refused an intent. Stable codes: metrics and reports use
    them as labels, so a code is never renamed."""

    TRADING_HALTED = "TRADING_HALTED"  #: HALTED: nothing but cancels
    REDUCING_ONLY = "REDUCING_ONLY"  #: REDUCING: only orders that shrink the position
    COOLDOWN = "COOLDOWN"  #: a loss streak paused new orders for a while
    RECONCILING = "RECONCILING"  #: the executor is reconciling with the venue
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"  #: not a configured, tradable product
    INVALID_ORDER = "INVALID_ORDER"  #: malformed (non-positive size, limit without price...)
    SIZE_INCREMENT = "SIZE_INCREMENT"  #: size is not a multiple of the base increment
    PRICE_INCREMENT = "PRICE_INCREMENT"  #: price is not a multiple of the price increment
    SIZE_TOO_SMALL = "SIZE_TOO_SMALL"  #: below the product's minimum size
    SIZE_TOO_LARGE = "SIZE_TOO_LARGE"  #: above the product's maximum size
    MAX_ORDER_SIZE = "MAX_ORDER_SIZE"  #: above the configured maximum order size
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"  #: above the configured maximum notional
    PRICE_BAND = "PRICE_BAND"  #: too far from mid (fat finger)
    MAX_POSITION = "MAX_POSITION"  #: would take the position past its limit
    MAX_GROSS_EXPOSURE = "MAX_GROSS_EXPOSURE"  #: would take gross exposure past its limit
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"  #: too many working orders already
    SUBMIT_RATE = "SUBMIT_RATE"  #: too many submits in the rate window
    CANCEL_RATE = "CANCEL_RATE"  #: too many cancels in the rate window
    BOOK_STALE = "BOOK_STALE"  #: the product's book has not changed for too long
    BOOK_UNTRUSTED = "BOOK_UNTRUSTED"  #: the product's book is not trusted (gap, crossed...)
    NO_MARKET = "NO_MARKET"  #: no book (or no mid) for the product yet
    FEED_DOWN = "FEED_DOWN"  #: the market-data connection is not up
    DUPLICATE_ORDER = "DUPLICATE_ORDER"  #: that client_order_id was used before
    UNKNOWN_ORDER = "UNKNOWN_ORDER"  #: cancel of an order that is not working
    NOT_OWNER = "NOT_OWNER"  #: cancel of another strategy's order
    BACKPRESSURE = "BACKPRESSURE"  #: the intent queue was full (the strategy is too busy)


@register
@attrs.frozen(kw_only=True)
class OrderDenied(Event):
    """An intent was refused; nothing reached the venue."""

    strategy: str
    client_order_id: str
    product_id: str
    intent: IntentKind
    reason: DenyReason
    detail: str
    at: float


@register
@attrs.frozen(kw_only=True)
class OrderUpdated(Event):
    """An order moved in its lifecycle (one event per legal transition).

    ``filled_size`` and ``average_price`` are from the fills counted so far; ``reason`` is
    the venue's word where there is one (a reject or cancel reason). ``venue_filled_size``
    is the highest cumulative quantity the venue reported: above ``filled_size`` means fills
    the venue made that were not seen yet, which recovery goes looking for (``None`` in
    journals written before it existed).
    """

    strategy: str
    client_order_id: str
    order_id: str
    product_id: str
    side: Side
    order_type: OrderType
    size: Decimal
    limit_price: Decimal | None
    previous: OrderState
    state: OrderState
    filled_size: Decimal
    average_price: Decimal | None
    reason: str
    at: float
    venue_filled_size: Decimal | None = None


@register
@attrs.frozen(kw_only=True)
class OrderFilled(Event):
    """One execution of an order, counted once (by ``trade_id``). ``fee`` is in quote
    currency (negative for a rebate)."""

    strategy: str
    client_order_id: str
    order_id: str
    product_id: str
    side: Side
    trade_id: str
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    at: float


class TradingState(enum.Enum):
    """Risk's trading state."""

    ACTIVE = "ACTIVE"  #: every check applies; orders may open or add to positions
    REDUCING = "REDUCING"  #: only orders that shrink a position (and cancels) pass
    HALTED = "HALTED"  #: no new orders; cancels pass


@register
@attrs.frozen(kw_only=True)
class TradingStateChanged(Event):
    """Risk moved between ACTIVE, REDUCING and HALTED. ``reason`` is a stable code
    (``DAILY_LOSS_LIMIT``, ``MAX_DRAWDOWN``, ``LOSS_STREAK``, ``OPERATOR``, ``EMERGENCY``,
    ``REARMED``...); ``detail`` says it in words with the figures."""

    previous: TradingState
    state: TradingState
    reason: str
    detail: str
    at: float


@register
@attrs.frozen(kw_only=True)
class KillSwitchTripped(Event):
    """A limit that stops trading outright was breached: the emergency protocol follows."""

    limit: str
    detail: str
    at: float


@attrs.frozen(kw_only=True)
class PositionState:
    """One product's position in a :class:`PnlRecorded` snapshot. ``mark`` is the mid used
    for the unrealized PnL (``None`` without a book)."""

    product_id: str
    quantity: Decimal
    average_cost: Decimal
    realized_pnl: Decimal
    fees: Decimal
    mark: Decimal | None
    unrealized_pnl: Decimal


@register
@attrs.frozen(kw_only=True)
class PnlRecorded(Event):
    """Risk's periodic account picture, in quote currency, since the run (or day) began.

    ``equity`` is realized PnL minus fees plus unrealized PnL; ``drawdown`` is
    ``peak_equity - equity`` (>= 0); ``gross_exposure`` sums ``|quantity| * mark``.
    """

    equity: Decimal
    peak_equity: Decimal
    drawdown: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    gross_exposure: Decimal
    open_orders: int
    state: TradingState
    positions: tuple[PositionState, ...]
    at: float


@register
@attrs.frozen(kw_only=True)
class ReconciliationStateChanged(Event):
    """The executor started or finished reconciling with its venue (at start-up, and whenever
    the venue says its report stream may have missed something). Risk denies new orders
    with ``RECONCILING`` while ``reconciling`` is true."""

    venue: str
    reconciling: bool
    trigger: str
    at: float


@register
@attrs.frozen(kw_only=True)
class OpenOrdersLeft(Event):
    """The run stopped on request with ``shutdown.on_stop = "leave"``: these orders were left
    working at the venue, on purpose (the next run recovers them from the journal)."""

    venue: str
    reason: str
    client_order_ids: tuple[str, ...]
    at: float


@register
@attrs.frozen(kw_only=True)
class EmergencyCancelFinished(Event):
    """The executor's emergency step ended: how many orders were working before, how many
    cancels it sent, and how many the venue still reports working afterwards (0 is the goal).

    ``completed`` is false when something cut the step short (its deadline, with a venue
    that kept answering 429 or not at all): ``remaining_ids`` then lists the orders that
    *may* still be open (the last read's, or every order known to be working when nothing
    could be read, less those reported ended since): a list to check, never an all-clear.
    """

    venue: str
    open_before: int
    cancel_requests: int
    remaining: int
    remaining_ids: tuple[str, ...]
    attempts: int
    at: float
    completed: bool = True
