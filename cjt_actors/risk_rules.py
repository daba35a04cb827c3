"""Risk's pure core: the limits, the pre-trade checks, the trading state, positions and PnL.

Why a pure, synchronous core: every decision risk makes must be explainable from what it
was told, in the order it was told. So the core takes its inputs as plain calls (an intent,
an order event, a book view, the feed's status, and ``now``, trio's clock, passed in), holds
no task, does no I/O and never awaits. The actor (:mod:`cjt_actors.actors.risk`) only feeds
it and delivers what it answers; the tests drive it directly, example by example.

**Pre-trade checks** (:meth:`RiskEngine.check_submit`), in this order, the first failure
deciding the :class:`~cjt_actors.order_messages.DenyReason`:

1. halted (the :class:`~cjt_actors.halt.HaltLatch` is set, or the state is HALTED);
2. the ``client_order_id`` was used before; the product is not configured;
3. malformed (side, size <= 0, a limit order without a price or a market order with one,
   price <= 0, a post-only market order); size and price increments; the product's base
   size bounds; the notional below the product's ``quote_min_size``;
4. market data: the feed is not CONNECTED, no view or no mid, the book untrusted, the book
   unchanged for more than ``max_book_age``;
5. a loss-streak cooldown; REDUCING and the order does not reduce the position;
6. the configured limits: order size, order notional, price band, position, gross
   exposure, open orders, submit rate.

An approval is recorded at once (the ``client_order_id`` is used, the order counts as
working "in flight" for the open-order count and the worst-case position and exposure, the
submit counts toward the rate) until an :class:`~cjt_actors.order_messages.OrderUpdated`
reports it terminal.

*Worst case.* The position check assumes every working order on the order's side fills:
``|position + working same-side remaining + this|``. Gross exposure is
``Σ |position| * mark + Σ working remaining * price + this notional`` (a working order's
price is its limit, or the mark for a market order; a product without a book yet is marked
at its average cost). An order that **reduces** a position (it is on the other side, and
together with the working orders on its side it at most flattens the position) is never
refused for position or gross exposure: refusing it would keep the very risk those limits
are about.

**Trading state** (:class:`~cjt_actors.order_messages.TradingState`), reported as
:class:`~cjt_actors.order_messages.TradingStateChanged` with a stable ``reason`` code::

    ACTIVE    -> REDUCING  MAX_DRAWDOWN      peak equity - equity >= max_drawdown
    REDUCING  -> ACTIVE    REARMED           only if rearm_after is set: that long in
                                             REDUCING and drawdown <= max_drawdown *
                                             rearm_fraction (hysteresis)
    any       -> HALTED    OPERATOR          an operator's halt (resumable)
    any       -> HALTED    EMERGENCY         the halt latch was set (not resumable while set)
    any       -> HALTED    SHUTDOWN          the halt latch was set because the run is stopping
                                             on request (a signal, an operator's stop, the
                                             run's duration): not carried to the next run
    any       -> HALTED    DAILY_LOSS_LIMIT  equity - the day's opening equity <=
                                             -daily_loss_limit: the kill switch
                                             (KillSwitchTripped follows; never resumable)
    HALTED    -> before    RESUMED           an operator's resume of a resumable halt goes
                                             back to the state before the halt
    ACTIVE/REDUCING (unchanged)  LOSS_STREAK loss_streak fills in a row realized a loss:
                                             every submit is refused (COOLDOWN) for
                                             loss_streak_cooldown seconds

The ``reason`` of every TradingStateChanged is the reason of the state it reports, so the
last one journaled is enough to recover the state (a restarted risk never re-arms trading:
a HALTED state is kept, and only OPERATOR and EMERGENCY halts may later be resumed). The one
exception is SHUTDOWN: a run that was stopped on request starts again in the state it had
before the stop, because stopping a bot and starting it again is not a trading decision;
everything else (the kill switch, a crash loop that escalated, an operator's halt) survives
a restart and needs an operator's resume where it may be resumed at all.

**Equity** is ``Σ (realized - fees + unrealized)`` over the products, unrealized at the
latest mid (a product without one yet counts no unrealized PnL). Positions are kept per
product with :class:`~cjt_actors.lifecycle.Position` (average cost), from fills counted once
by ``trade_id``.

**The "day" of the daily loss limit** is counted on trio's clock from the moment the engine
was first started in this process (``started_at``) and rolls over every ``day_length``
seconds (86,400 by default): it is *not* the calendar day, and it does not follow
wall-clock changes. At each roll-over, the day's opening equity becomes the equity at that
moment. On the first day the opening equity is 0, i.e. the equity of every fill the journal
holds: a process that starts on an old journal counts the journal's losses against its first
day, which errs on the side of stopping.
"""

from __future__ import annotations

import collections
import decimal
import math
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

import attrs

from .errors import InvalidSpec
from .exchange.orders import Side
from .halt import HaltLatch
from .lifecycle import Fill, OrderState, Position
from .market_messages import FeedState, FeedStatusChanged
from .messages import Event, StopReason
from .order_messages import (
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    IntentKind,
    KillSwitchTripped,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    PnlRecorded,
    PositionState,
    ReconciliationStateChanged,
    SubmitOrder,
    TimeInForce,
    TradingState,
    TradingStateChanged,
)
from .orderbook import BookView
from .products import ProductRules

__all__ = [
    "DAILY_LOSS_LIMIT",
    "EMERGENCY",
    "FLATTEN_STRATEGY",
    "LOSS_STREAK",
    "MAX_DRAWDOWN",
    "OPERATOR",
    "REARMED",
    "RESUMED",
    "SHUTDOWN",
    "Decision",
    "RiskEngine",
    "RiskLimits",
    "RiskMemo",
]

# Stable reason codes of TradingStateChanged (reports and recovery read them).
DAILY_LOSS_LIMIT: Final = "DAILY_LOSS_LIMIT"
MAX_DRAWDOWN: Final = "MAX_DRAWDOWN"
LOSS_STREAK: Final = "LOSS_STREAK"
OPERATOR: Final = "OPERATOR"
EMERGENCY: Final = "EMERGENCY"
REARMED: Final = "REARMED"
RESUMED: Final = "RESUMED"
#: The ``strategy`` of the market orders a halt with ``flatten`` sends.
FLATTEN_STRATEGY: Final = "risk:flatten"
SHUTDOWN: Final = "SHUTDOWN"

#: Latch reasons that mean "the run is stopping because someone asked", not "something is
#: wrong": the halt they cause is SHUTDOWN, which a restart does not keep.
_REQUESTED_STOPS: Final = frozenset({StopReason.SIGNAL, StopReason.OPERATOR, StopReason.FINISHED})

#: Halts an operator may lift. Anything else (the kill switch, a code this version does not
#: know) stays halted for the rest of the journal's life.
_RESUMABLE_HALTS: Final = frozenset({OPERATOR, EMERGENCY, SHUTDOWN})

_ZERO: Final = Decimal(0)
_BPS: Final = Decimal(10_000)
# Wide enough to take the remainder of any sane size or price by any sane increment.
_EXACT: Final = decimal.Context(prec=80, traps=[decimal.InvalidOperation, decimal.Overflow])


# -- configuration ----------------------------------------------------------------------------


def _positive_decimal(
    _instance: object, attribute: attrs.Attribute[Decimal], value: object
) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidSpec(
            f"RiskLimits.{attribute.name} must be a positive, finite Decimal, got {value!r}"
        )


def _fraction(_instance: object, attribute: attrs.Attribute[Decimal], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value < 1:
        raise InvalidSpec(f"RiskLimits.{attribute.name} must be a Decimal in [0, 1), got {value!r}")


def _positive_int(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSpec(f"RiskLimits.{attribute.name} must be an int >= 1, got {value!r}")


def _check_seconds(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidSpec(
            f"RiskLimits.{name} must be a positive, finite number of seconds, got {value!r}"
        )


def _seconds(_instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    _check_seconds(attribute.name, value)


def _optional_seconds(
    _instance: object, attribute: attrs.Attribute[float | None], value: object
) -> None:
    if value is not None:
        _check_seconds(attribute.name, value)


def _per_product(name: str, value: object) -> Mapping[str, Decimal]:
    if not isinstance(value, Mapping):
        raise InvalidSpec(f"RiskLimits.{name} must map product ids to Decimals, got {value!r}")
    checked: dict[str, Decimal] = {}
    for product_id, limit in value.items():
        if not isinstance(product_id, str) or not product_id:
            raise InvalidSpec(f"RiskLimits.{name}: {product_id!r} is not a product id")
        if not isinstance(limit, Decimal) or not limit.is_finite() or limit <= 0:
            raise InvalidSpec(
                f"RiskLimits.{name}[{product_id!r}] must be a positive, finite Decimal, "
                f"got {limit!r}"
            )
        checked[product_id] = limit
    return MappingProxyType(checked)


def _max_order_size(value: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    return _per_product("max_order_size", value)


def _max_position(value: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    return _per_product("max_position", value)


@attrs.frozen(kw_only=True)
class RiskLimits:
    """Risk's configuration. Money is in quote currency (USD), sizes in base units.

    The defaults suit paper trading BTC-USD and ETH-USD with small sizes. Every field is
    validated when the value is made; a bad one raises :class:`~cjt_actors.errors.InvalidSpec`
    naming it.

    Attributes:
        max_order_notional: the most one order may be worth (limit price, or mid for a
            market order, times size).
        max_order_size: per product, the largest order size (absent: only the product's own
            ``base_max_size``).
        max_position: per product, the largest worst-case position, in base units (absent:
            ``max_position_notional`` at the mid).
        max_position_notional: the per-product position limit where ``max_position`` is silent.
        max_gross_exposure: the most the positions and working orders of every product may be
            worth together.
        max_open_orders: working orders (approved ones not yet reported included) at most.
        price_band_bps: how far a limit price may be from the mid, in basis points.
        submit_rate, cancel_rate: approvals allowed per ``rate_window`` seconds; one more is
            refused, never queued.
        max_book_age: a book unchanged for longer is stale.
        daily_loss_limit: a day's loss (equity against the day's opening equity) that trips
            the kill switch. See the module docstring for what a "day" is.
        max_drawdown: a drawdown from peak equity that moves ACTIVE to REDUCING.
        loss_streak: fills in a row that realized a loss, before a cooldown.
        loss_streak_cooldown: how long every submit is refused after a loss streak.
        rearm_after: if set, REDUCING returns to ACTIVE after this long, once the drawdown is
            at most ``max_drawdown * rearm_fraction``; if ``None``, REDUCING lasts the run.
        rearm_fraction: the hysteresis of the re-arm, in [0, 1).
        pnl_interval: seconds between :class:`~cjt_actors.order_messages.PnlRecorded` snapshots.
        day_length: seconds in a "day" of the daily loss limit.
    """

    max_order_notional: Decimal = attrs.field(default=Decimal(5000), validator=_positive_decimal)
    max_order_size: Mapping[str, Decimal] = attrs.field(
        factory=dict, converter=_max_order_size, hash=False
    )
    max_position: Mapping[str, Decimal] = attrs.field(
        factory=dict, converter=_max_position, hash=False
    )
    max_position_notional: Decimal = attrs.field(
        default=Decimal(20_000), validator=_positive_decimal
    )
    max_gross_exposure: Decimal = attrs.field(default=Decimal(50_000), validator=_positive_decimal)
    max_open_orders: int = attrs.field(default=20, validator=_positive_int)
    price_band_bps: Decimal = attrs.field(default=Decimal(100), validator=_positive_decimal)
    submit_rate: int = attrs.field(default=20, validator=_positive_int)
    cancel_rate: int = attrs.field(default=40, validator=_positive_int)
    rate_window: float = attrs.field(default=1.0, validator=_seconds)
    max_book_age: float = attrs.field(default=10.0, validator=_seconds)
    daily_loss_limit: Decimal = attrs.field(default=Decimal(1000), validator=_positive_decimal)
    max_drawdown: Decimal = attrs.field(default=Decimal(500), validator=_positive_decimal)
    loss_streak: int = attrs.field(default=5, validator=_positive_int)
    loss_streak_cooldown: float = attrs.field(default=60.0, validator=_seconds)
    rearm_after: float | None = attrs.field(default=None, validator=_optional_seconds)
    rearm_fraction: Decimal = attrs.field(default=Decimal("0.5"), validator=_fraction)
    pnl_interval: float = attrs.field(default=1.0, validator=_seconds)
    day_length: float = attrs.field(default=86_400.0, validator=_seconds)


# -- decisions --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Decision:
    """Risk's answer to one intent: approved, or refused with a reason and the figures."""

    approved: bool
    reason: DenyReason | None = None
    detail: str = ""

    def __attrs_post_init__(self) -> None:
        if self.approved != (self.reason is None):
            raise InvalidSpec(
                f"Decision: an approval has no reason and a denial has one "
                f"(approved={self.approved}, reason={self.reason})"
            )


_APPROVED: Final = Decision(approved=True)


def _deny(reason: DenyReason, detail: str) -> Decision:
    return Decision(approved=False, reason=reason, detail=detail)


@attrs.frozen(kw_only=True)
class RiskMemo:
    """What the engine knows that the journal may not (yet): carried from one incarnation
    of the risk actor to the next within one process.

    The journal lags the actor (events are written asynchronously) and does not hold the day
    clock, the cooldown, the rate windows or the approvals still on their way to the
    executor; and the feed's status and the book's views are not sent again just because
    risk restarted (a view is still judged by its age). A restarted
    actor rebuilds positions and working orders from the journal and adopts this memo, so a
    crash neither re-arms trading nor forgets an approval.
    """

    state: TradingState
    reason: str
    detail: str
    resumable: bool
    resume_to: TradingState
    kill_switch_tripped: bool
    reducing_since: float | None
    peak_equity: Decimal
    day_started_at: float
    day_baseline: Decimal
    cooldown_until: float | None
    loss_streak: int
    in_flight: tuple[SubmitOrder, ...]
    recent_submits: tuple[float, ...]
    recent_cancels: tuple[float, ...]
    feed: FeedState | None
    views: tuple[BookView, ...]
    marks: tuple[tuple[str, Decimal], ...]
    reconciling: ReconciliationStateChanged | None = None


# -- the engine ---------------------------------------------------------------------------------


@attrs.define(kw_only=True, eq=False)
class _Order:
    """A working order as risk sees it (``state`` None: approved, not reported yet)."""

    strategy: str
    product_id: str
    side: Side
    order_type: OrderType
    size: Decimal
    limit_price: Decimal | None
    reported_filled: Decimal = _ZERO  #: the executor's latest ``filled_size``
    fills_seen: Decimal = _ZERO  #: the distinct fills risk counted for it
    state: OrderState | None = None
    intent: SubmitOrder | None = None  #: what risk approved (None: learnt from the executor)

    @property
    def remaining(self) -> Decimal:
        # Fills arrive before the update that reports them, and a recovery sees both: the
        # larger of the two figures is the filled size, never their sum.
        return max(_ZERO, self.size - max(self.reported_filled, self.fills_seen))


def _is_buy_or_sell(side: object) -> bool:
    # ``object``: Side keeps unknown wire values as pseudo-members that the type hides.
    return side in (Side.BUY, Side.SELL)


def _signed(side: Side, size: Decimal) -> Decimal:
    return size if side == Side.BUY else -size


def _fmt(value: Decimal) -> str:
    return f"{value:f}"


def _off_grid(value: Decimal, increment: Decimal) -> bool:
    try:
        return bool(_EXACT.remainder(value, increment))
    except decimal.InvalidOperation:  # too many digits to divide exactly: not on any grid
        return True


class RiskEngine:
    """Positions, working orders, marks and the trading state; every check and transition.

    Args:
        limits: the configuration.
        products: the tradable products; anything else is UNKNOWN_PRODUCT.
        started_at: trio's clock when risk first started in this process: the first "day"
            of the daily loss limit begins here.
        latch: the emergency halt latch (read on every submit and every evaluation).

    Usage: feed it every order event, view and feed status; ask it about every intent; call
    :meth:`evaluate` after each input (and on a timer) and deliver what it returns.
    """

    def __init__(
        self,
        limits: RiskLimits,
        products: Mapping[str, ProductRules],
        *,
        started_at: float,
        latch: HaltLatch | None = None,
    ) -> None:
        self.limits = limits
        self.products = products
        self._latch = latch
        # trading state
        self._state = TradingState.ACTIVE
        self._reason = ""
        self._detail = ""
        self._resumable = True
        self._resume_to = TradingState.ACTIVE
        self._kill_switch_tripped = False
        self._reducing_since: float | None = None
        self._cooldown_until: float | None = None
        self._loss_streak = 0
        # money
        self._peak = _ZERO
        self._day_started_at = started_at
        self._day_baseline = _ZERO
        self._positions: dict[str, Position] = {}
        self._trade_ids: set[str] = set()
        self._fills_seen: dict[str, Decimal] = {}  #: working orders: their fills counted
        self._owed: dict[str, Decimal] = {}  #: ended orders: reported filled, not yet counted
        # orders
        self._orders: dict[str, _Order] = {}
        self._used_ids: set[str] = set()
        self._closed_ids: set[str] = set()
        self._submits: collections.deque[float] = collections.deque()
        self._cancels: collections.deque[float] = collections.deque()
        # market data
        self._views: dict[str, BookView] = {}
        self._marks: dict[str, Decimal] = {}
        self._feed: FeedState | None = None
        self._reconciling: ReconciliationStateChanged | None = None
        self._pending: list[Event] = []

    def __repr__(self) -> str:
        return (
            f"<RiskEngine {self._state.value} ({self._reason or 'start'}): "
            f"{len(self._positions)} positions, {len(self._orders)} working orders>"
        )

    # -- read-only views ------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def state_reason(self) -> str:
        """The stable code of the latest move ("" before any)."""
        return self._reason

    @property
    def state_detail(self) -> str:
        return self._detail

    @property
    def cooldown_until(self) -> float | None:
        return self._cooldown_until

    @property
    def kill_switch_tripped(self) -> bool:
        return self._kill_switch_tripped

    @property
    def feed_state(self) -> FeedState | None:
        return self._feed

    @property
    def open_orders(self) -> int:
        """Working orders, approved ones not yet reported by the executor included."""
        return len(self._orders)

    @property
    def settled(self) -> bool:
        """No order works, and every fill the venue reported for ended orders is counted:
        the positions will not move unless a new order is sent."""
        return not self._orders and not self._owed

    def position(self, product_id: str) -> Decimal:
        """The net base position of ``product_id`` (0 if it never traded)."""
        held = self._positions.get(product_id)
        return _ZERO if held is None else held.quantity

    def working_order_ids(self) -> frozenset[str]:
        return frozenset(self._orders)

    def product_of(self, client_order_id: str) -> str | None:
        """The product of a working order (``None`` if it is not working)."""
        order = self._orders.get(client_order_id)
        return None if order is None else order.product_id

    def equity(self) -> Decimal:
        """Realized PnL minus fees plus unrealized PnL at the marks, over every product."""
        total = _ZERO
        for product_id, held in self._positions.items():
            total += held.net_realized_pnl
            mark = self._marks.get(product_id)
            if mark is not None:
                total += held.unrealized_pnl(mark)
        return total

    @property
    def peak_equity(self) -> Decimal:
        return max(self._peak, self.equity())

    def day_pnl(self) -> Decimal:
        """Equity against the current day's opening equity."""
        return self.equity() - self._day_baseline

    # -- recovery -------------------------------------------------------------------------------

    def restore(
        self,
        *,
        fills: Iterable[OrderFilled],
        working_orders: Iterable[OrderUpdated],
        last_state: TradingStateChanged | None,
        peak_equity: Decimal | None,
        now: float,
    ) -> None:
        """Rebuild from the journal: working orders, positions, the last state and the peak.

        Replayed fills move positions but not the loss streak (that is about what happens
        now). A recovered HALTED state stays HALTED; it is resumable only if its reason is
        OPERATOR or EMERGENCY, and a resume then returns to ACTIVE (the drawdown is checked
        again at once).
        """
        for update in working_orders:
            self.on_order_updated(update)
        for fill in fills:
            self._count_fill(fill)
        if (
            last_state is not None
            and last_state.state is TradingState.HALTED
            and last_state.reason == SHUTDOWN
        ):
            last_state = attrs.evolve(
                last_state,
                state=last_state.previous,
                reason=RESUMED,
                detail=f"the previous run stopped on request ({last_state.detail})",
            )
        if last_state is not None:
            self._state = last_state.state
            self._reason = last_state.reason
            self._detail = last_state.detail
            halted = last_state.state is TradingState.HALTED
            self._resumable = not halted or last_state.reason in _RESUMABLE_HALTS
            self._kill_switch_tripped = halted and last_state.reason == DAILY_LOSS_LIMIT
            if last_state.state is TradingState.REDUCING:
                self._reducing_since = now
        if peak_equity is not None:
            self._peak = max(self._peak, peak_equity)

    def memo(self) -> RiskMemo:
        """What a later incarnation in this process should :meth:`adopt`."""
        return RiskMemo(
            state=self._state,
            reason=self._reason,
            detail=self._detail,
            resumable=self._resumable,
            resume_to=self._resume_to,
            kill_switch_tripped=self._kill_switch_tripped,
            reducing_since=self._reducing_since,
            peak_equity=self._peak,
            day_started_at=self._day_started_at,
            day_baseline=self._day_baseline,
            cooldown_until=self._cooldown_until,
            loss_streak=self._loss_streak,
            in_flight=tuple(
                order.intent
                for order in self._orders.values()
                if order.state is None and order.intent is not None
            ),
            recent_submits=tuple(self._submits),
            recent_cancels=tuple(self._cancels),
            feed=self._feed,
            reconciling=self._reconciling,
            views=tuple(self._views.values()),
            marks=tuple(self._marks.items()),
        )

    def adopt(self, memo: RiskMemo) -> None:
        """Take over the previous incarnation's state (after :meth:`restore`).

        The memo is fresher than the journal, so its state wins; the peak is the higher of
        the two; approvals still in flight are counted again unless the journal already
        knows the order; the rate windows, the feed status, the views and the marks go on
        where they were.
        """
        self._state = memo.state
        self._reason = memo.reason
        self._detail = memo.detail
        self._resumable = memo.resumable
        self._resume_to = memo.resume_to
        self._kill_switch_tripped = memo.kill_switch_tripped
        self._reducing_since = memo.reducing_since
        self._peak = max(self._peak, memo.peak_equity)
        self._day_started_at = memo.day_started_at
        self._day_baseline = memo.day_baseline
        self._cooldown_until = memo.cooldown_until
        self._loss_streak = memo.loss_streak
        for order in memo.in_flight:
            if order.client_order_id not in self._used_ids:
                self._record_approval(order)
        self._submits.extend(memo.recent_submits)
        self._cancels.extend(memo.recent_cancels)
        self._feed = memo.feed
        self._reconciling = memo.reconciling
        self._views.update((view.product_id, view) for view in memo.views)
        self._marks.update(memo.marks)

    # -- intents ------------------------------------------------------------------------------

    def check_submit(self, order: SubmitOrder, now: float) -> Decision:
        """Approve or refuse a new order (see the module docstring for the checks)."""
        decision = (
            self._check_state()
            or self._check_identity(order)
            or self._check_shape(order)
            or self._check_market(order, now)
            or self._check_mode(order, now)
            or self._check_limits(order, now)
        )
        if decision is not None:
            return decision
        self._record_approval(order)
        self._submits.append(now)
        return _APPROVED

    def withdraw(self, order: SubmitOrder) -> None:
        """Forget an approval that never reached the executor (the forward was cancelled).

        Only an order still in flight is forgotten; one the executor already reported stays.
        """
        coid = order.client_order_id
        held = self._orders.get(coid)
        if held is not None and held.state is None:
            del self._orders[coid]
            self._used_ids.discard(coid)

    def on_order_denied(self, denied: OrderDenied) -> None:
        """The executor refused a submit risk had approved (a ``client_order_id`` it already
        knew): the approval no longer counts as in flight; the id stays used."""
        if denied.intent is not IntentKind.SUBMIT:
            return
        held = self._orders.get(denied.client_order_id)
        if held is not None and held.state is None:
            del self._orders[denied.client_order_id]

    def check_cancel(self, cancel: CancelOrder, now: float) -> Decision:
        """Cancels pass in every state, HALTED included, if the order is working and owned
        by the strategy asking, within the cancel rate."""
        order = self._orders.get(cancel.client_order_id)
        if order is None:
            state = "terminal" if cancel.client_order_id in self._closed_ids else "not known"
            return _deny(
                DenyReason.UNKNOWN_ORDER,
                f"order {cancel.client_order_id!r} is not working ({state})",
            )
        if order.strategy != cancel.strategy:
            return _deny(
                DenyReason.NOT_OWNER,
                f"order {cancel.client_order_id!r} belongs to strategy {order.strategy!r}",
            )
        recent = _in_window(self._cancels, now, self.limits.rate_window)
        if recent >= self.limits.cancel_rate:
            return _deny(
                DenyReason.CANCEL_RATE,
                f"{recent} cancels in the last {self.limits.rate_window:g} s "
                f"(cancel_rate {self.limits.cancel_rate})",
            )
        self._cancels.append(now)
        return _APPROVED

    def check_cancel_all(self, cancel: CancelAllOrders, now: float) -> Decision:
        """Cancel-all always passes: it is how trading is made safe."""
        return _APPROVED

    # -- what happened ------------------------------------------------------------------------

    def on_order_updated(self, update: OrderUpdated) -> None:
        """Track a working order; forget it once terminal (a terminal order never comes back)."""
        coid = update.client_order_id
        self._used_ids.add(coid)
        if coid in self._closed_ids:
            return
        if update.state.terminal:
            self._orders.pop(coid, None)
            self._closed_ids.add(coid)
            # The venue may say FILLED before its fills arrive (a user channel reports
            # states, polling reports fills): what it filled but risk has not counted yet.
            reported = update.venue_filled_size
            if reported is None:
                reported = update.size if update.state is OrderState.FILLED else _ZERO
            owed = reported - self._fills_seen.pop(coid, _ZERO)
            if owed > 0:
                self._owed[coid] = owed
            return
        order = self._orders.get(coid)
        if order is None:
            order = self._orders[coid] = _Order(
                strategy=update.strategy,
                product_id=update.product_id,
                side=update.side,
                order_type=update.order_type,
                size=update.size,
                limit_price=update.limit_price,
            )
        order.state = update.state
        order.reported_filled = max(order.reported_filled, update.filled_size)

    def on_order_filled(self, fill: OrderFilled, now: float) -> None:
        """Count a fill (once per ``trade_id``: a repeat changes nothing); track the streak."""
        realized = self._count_fill(fill)
        if realized is None:
            return
        coid = fill.client_order_id
        if coid in self._owed:
            left = self._owed[coid] - fill.size
            if left > 0:
                self._owed[coid] = left
            else:
                del self._owed[coid]
        elif coid not in self._closed_ids:
            self._fills_seen[coid] = self._fills_seen.get(coid, _ZERO) + fill.size
        if fill.strategy == FLATTEN_STRATEGY:
            return  # an operator's flatten says nothing about how the strategies trade
        if realized > 0:
            self._loss_streak = 0
        elif realized < 0:
            self._loss_streak += 1
            if self._loss_streak >= self.limits.loss_streak:
                self._start_cooldown(now)

    def on_view(self, view: BookView) -> None:
        """Remember the latest view of a configured product, and its mid as the mark."""
        if view.product_id not in self.products:
            return
        self._views[view.product_id] = view
        if view.mid is not None:
            self._marks[view.product_id] = view.mid

    def on_reconciliation(self, change: ReconciliationStateChanged) -> None:
        """The executor started (every submit is then denied ``RECONCILING``) or finished
        reconciling with the venue."""
        self._reconciling = change if change.reconciling else None

    @property
    def reconciling(self) -> bool:
        return self._reconciling is not None

    def on_feed_status(self, status: FeedStatusChanged) -> None:
        self._feed = status.state

    # -- operator -------------------------------------------------------------------------------

    def halt(self, reason: str, detail: str, *, now: float, resumable: bool = True) -> None:
        """Enter HALTED (a no-op when already halted: the first halt is the root cause)."""
        if self._state is TradingState.HALTED:
            return
        self._move(TradingState.HALTED, reason, detail, now, resumable=resumable)

    def flatten_orders(
        self, make_id: Callable[[str], str], *, now: float
    ) -> tuple[list[SubmitOrder], list[str]]:
        """Market orders that close every position, approved and counted as working; and
        the positions too small to close (below the product's minimum size, or not a whole
        number of base increments), in words.

        Only for a halt with ``flatten``: these orders bypass the state check because each
        one only reduces a position. ``make_id(product_id)`` gives each a fresh
        ``client_order_id``.
        """
        orders: list[SubmitOrder] = []
        dust: list[str] = []
        for product_id in sorted(self._positions):
            quantity = self._positions[product_id].quantity
            rules = self.products.get(product_id)
            if quantity == 0 or rules is None:
                continue
            size = _to_increment(abs(quantity), rules.base_increment)
            if size < rules.base_min_size:
                dust.append(
                    f"{product_id} {quantity}: below the minimum size {rules.base_min_size}"
                )
                continue
            order = SubmitOrder(
                strategy=FLATTEN_STRATEGY,
                client_order_id=make_id(product_id),
                product_id=product_id,
                side=Side.SELL if quantity > 0 else Side.BUY,
                order_type=OrderType.MARKET,
                size=size,
                limit_price=None,
                time_in_force=TimeInForce.IOC,
                post_only=False,
                at=now,
            )
            self._record_approval(order)
            orders.append(order)
        return orders, dust

    def resume(self, detail: str, *, now: float) -> Decision:
        """Lift a resumable halt, back to the state before it."""
        if self._state is not TradingState.HALTED:
            return Decision(
                approved=True, detail=f"not halted ({self._state.value}): nothing to resume"
            )
        latch = self._latch
        if latch is not None and latch.is_set:
            return _deny(
                DenyReason.TRADING_HALTED,
                f"the emergency halt latch is set ({_latch_reason(latch)}): {latch.detail}",
            )
        if not self._resumable:
            return _deny(
                DenyReason.TRADING_HALTED,
                f"a {self._reason} halt cannot be resumed: {self._detail}",
            )
        target = self._resume_to
        self._move(target, RESUMED, f"operator: {detail}; back to {target.value}", now)
        if target is TradingState.REDUCING:
            self._reducing_since = now
        return _APPROVED

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, now: float) -> list[Event]:
        """Move the state as the figures say; return every event since the last call.

        Returns TradingStateChanged and KillSwitchTripped events, oldest first (those caused
        by earlier calls, such as :meth:`halt` or a fill completing a loss streak, first).
        """
        latch = self._latch
        if latch is not None and latch.is_set and self._state is not TradingState.HALTED:
            self._move(
                TradingState.HALTED,
                SHUTDOWN if latch.reason in _REQUESTED_STOPS else EMERGENCY,
                f"the emergency halt latch was set ({_latch_reason(latch)}): {latch.detail}",
                now,
            )
        limits = self.limits
        equity = self.equity()
        self._roll_day(now, equity)
        self._peak = max(self._peak, equity)
        drawdown = self._peak - equity
        day_pnl = equity - self._day_baseline
        if not self._kill_switch_tripped and day_pnl <= -limits.daily_loss_limit:
            self._kill_switch_tripped = True
            detail = (
                f"the day's PnL {_fmt(day_pnl)} reached -daily_loss_limit "
                f"(-{_fmt(limits.daily_loss_limit)}); equity {_fmt(equity)}"
            )
            self._move(TradingState.HALTED, DAILY_LOSS_LIMIT, detail, now, resumable=False)
            self._pending.append(KillSwitchTripped(limit="daily_loss_limit", detail=detail, at=now))
        if self._state is TradingState.ACTIVE and drawdown >= limits.max_drawdown:
            self._move(
                TradingState.REDUCING,
                MAX_DRAWDOWN,
                f"drawdown {_fmt(drawdown)} >= max_drawdown {_fmt(limits.max_drawdown)} "
                f"(peak {_fmt(self._peak)}, equity {_fmt(equity)})",
                now,
            )
            self._reducing_since = now
        elif self._state is TradingState.REDUCING and self._rearm_due(now, drawdown):
            assert self._reducing_since is not None  # _rearm_due checked it
            threshold = limits.max_drawdown * limits.rearm_fraction
            self._move(
                TradingState.ACTIVE,
                REARMED,
                f"drawdown {_fmt(drawdown)} <= {_fmt(threshold)} (max_drawdown * "
                f"rearm_fraction) after {now - self._reducing_since:g} s reducing",
                now,
            )
            self._reducing_since = None
        events, self._pending = self._pending, []
        return events

    def snapshot(self, now: float) -> PnlRecorded:
        """The account picture: equity, peak, drawdown, PnL, exposure, positions."""
        realized = fees = unrealized = gross = _ZERO
        states = []
        for product_id in sorted(self._positions):
            held = self._positions[product_id]
            mark = self._marks.get(product_id)
            open_pnl = _ZERO if mark is None else held.unrealized_pnl(mark)
            realized += held.realized_pnl
            fees += held.fees
            unrealized += open_pnl
            gross += abs(held.quantity) * (held.average_cost if mark is None else mark)
            states.append(
                PositionState(
                    product_id=product_id,
                    quantity=held.quantity,
                    average_cost=held.average_cost,
                    realized_pnl=held.realized_pnl,
                    fees=held.fees,
                    mark=mark,
                    unrealized_pnl=open_pnl,
                )
            )
        equity = realized - fees + unrealized
        peak = max(self._peak, equity)
        return PnlRecorded(
            equity=equity,
            peak_equity=peak,
            drawdown=peak - equity,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            fees=fees,
            gross_exposure=gross,
            open_orders=len(self._orders),
            state=self._state,
            positions=tuple(states),
            at=now,
        )

    # -- the checks, in order ---------------------------------------------------------------

    def _check_state(self) -> Decision | None:
        latch = self._latch
        if latch is not None and latch.is_set:
            return _deny(
                DenyReason.TRADING_HALTED,
                f"emergency halt ({_latch_reason(latch)}): {latch.detail}",
            )
        if self._state is TradingState.HALTED:
            return _deny(DenyReason.TRADING_HALTED, f"HALTED ({self._reason}): {self._detail}")
        if self._reconciling is not None:
            return _deny(
                DenyReason.RECONCILING,
                f"the executor is reconciling with {self._reconciling.venue!r} "
                f"({self._reconciling.trigger})",
            )
        return None

    def _check_identity(self, order: SubmitOrder) -> Decision | None:
        if order.client_order_id in self._used_ids:
            return _deny(
                DenyReason.DUPLICATE_ORDER,
                f"client_order_id {order.client_order_id!r} was used before",
            )
        if order.product_id not in self.products:
            return _deny(
                DenyReason.UNKNOWN_PRODUCT,
                f"{order.product_id!r} is not a configured product "
                f"({', '.join(sorted(self.products))})",
            )
        return None

    def _check_shape(self, order: SubmitOrder) -> Decision | None:
        rules = self.products[order.product_id]
        size, price = order.size, order.limit_price
        if not _is_buy_or_sell(order.side):
            return _deny(DenyReason.INVALID_ORDER, f"side {order.side!r} is not BUY or SELL")
        if not size.is_finite() or size <= 0:
            return _deny(DenyReason.INVALID_ORDER, f"size {size} is not positive")
        if order.order_type is OrderType.LIMIT and price is None:
            return _deny(DenyReason.INVALID_ORDER, "a limit order needs a limit_price")
        if order.order_type is OrderType.MARKET:
            if price is not None:
                return _deny(DenyReason.INVALID_ORDER, "a market order takes no limit_price")
            if order.post_only:
                return _deny(DenyReason.INVALID_ORDER, "a market order cannot be post-only")
        if price is not None and (not price.is_finite() or price <= 0):
            return _deny(DenyReason.INVALID_ORDER, f"limit_price {price} is not positive")
        if _off_grid(size, rules.base_increment):
            return _deny(
                DenyReason.SIZE_INCREMENT,
                f"size {size} is not a multiple of base_increment {rules.base_increment}",
            )
        if price is not None and _off_grid(price, rules.price_increment):
            return _deny(
                DenyReason.PRICE_INCREMENT,
                f"limit_price {price} is not a multiple of price_increment {rules.price_increment}",
            )
        if size < rules.base_min_size:
            return _deny(
                DenyReason.SIZE_TOO_SMALL, f"size {size} < base_min_size {rules.base_min_size}"
            )
        if size > rules.base_max_size:
            return _deny(
                DenyReason.SIZE_TOO_LARGE, f"size {size} > base_max_size {rules.base_max_size}"
            )
        reference = price if price is not None else self._mid(order.product_id)
        # A market order without a mid is refused (NO_MARKET) by the next check.
        if reference is not None and size * reference < rules.quote_min_size:
            return _deny(
                DenyReason.SIZE_TOO_SMALL,
                f"notional {_fmt(size * reference)} < quote_min_size {rules.quote_min_size}",
            )
        return None

    def _check_market(self, order: SubmitOrder, now: float) -> Decision | None:
        if self._feed is not FeedState.CONNECTED:
            state = "no status yet" if self._feed is None else self._feed.value
            return _deny(DenyReason.FEED_DOWN, f"market data feed is not connected ({state})")
        view = self._views.get(order.product_id)
        if view is None or view.mid is None:
            what = "no book" if view is None else "no mid (a side of the book is empty)"
            return _deny(DenyReason.NO_MARKET, f"{order.product_id}: {what}")
        if not view.trusted:
            why = "empty" if view.trust_reason is None else view.trust_reason.value
            return _deny(DenyReason.BOOK_UNTRUSTED, f"{order.product_id} book untrusted ({why})")
        if view.updated_at is None or now - view.updated_at > self.limits.max_book_age:
            age = "never" if view.updated_at is None else f"{now - view.updated_at:g} s ago"
            return _deny(
                DenyReason.BOOK_STALE,
                f"{order.product_id} book last changed {age} "
                f"(max_book_age {self.limits.max_book_age:g} s)",
            )
        return None

    def _check_mode(self, order: SubmitOrder, now: float) -> Decision | None:
        until = self._cooldown_until
        if until is not None and now < until:
            return _deny(
                DenyReason.COOLDOWN,
                f"{self.limits.loss_streak} losing fills in a row: no new orders "
                f"until t={until:g} ({until - now:g} s left)",
            )
        if self._state is TradingState.REDUCING and not self._reduces(order):
            return _deny(
                DenyReason.REDUCING_ONLY,
                f"REDUCING ({self._reason}): {order.side.value} {order.size} does not reduce "
                f"the {order.product_id} position {self.position(order.product_id)} "
                f"(working {order.side.value} {self._working_size(order.product_id, order.side)})",
            )
        return None

    def _check_limits(self, order: SubmitOrder, now: float) -> Decision | None:
        limits = self.limits
        product_id, size, side = order.product_id, order.size, order.side
        mid = self._mid(product_id)
        assert mid is not None  # _check_market refused orders without one
        max_size = limits.max_order_size.get(product_id)
        if max_size is not None and size > max_size:
            return _deny(
                DenyReason.MAX_ORDER_SIZE, f"size {size} > max_order_size {_fmt(max_size)}"
            )
        price = order.limit_price if order.limit_price is not None else mid
        notional = size * price
        if notional > limits.max_order_notional:
            return _deny(
                DenyReason.MAX_ORDER_NOTIONAL,
                f"notional {_fmt(notional)} > max_order_notional {_fmt(limits.max_order_notional)}",
            )
        if order.limit_price is not None:
            distance = abs(order.limit_price - mid) / mid * _BPS
            if distance > limits.price_band_bps:
                return _deny(
                    DenyReason.PRICE_BAND,
                    f"limit_price {order.limit_price} is {distance:.1f} bps from mid {mid} "
                    f"(price_band_bps {_fmt(limits.price_band_bps)})",
                )
        reduces = self._reduces(order)
        working = _signed(side, self._working_size(product_id, side))
        after = self.position(product_id) + working + _signed(side, size)
        position_limit = limits.max_position.get(product_id)
        if position_limit is None:
            position_limit = limits.max_position_notional / mid
        if not reduces and abs(after) > position_limit:
            return _deny(
                DenyReason.MAX_POSITION,
                f"{product_id} worst-case position {_fmt(after)} (position "
                f"{_fmt(self.position(product_id))}, working {_fmt(working)}, this "
                f"{_fmt(_signed(side, size))}) exceeds {_fmt(position_limit)}",
            )
        gross = self.gross_exposure() + notional
        if not reduces and gross > limits.max_gross_exposure:
            return _deny(
                DenyReason.MAX_GROSS_EXPOSURE,
                f"gross exposure with this order {_fmt(gross)} > max_gross_exposure "
                f"{_fmt(limits.max_gross_exposure)}",
            )
        if len(self._orders) >= limits.max_open_orders:
            return _deny(
                DenyReason.MAX_OPEN_ORDERS,
                f"{len(self._orders)} orders working (max_open_orders {limits.max_open_orders})",
            )
        recent = _in_window(self._submits, now, limits.rate_window)
        if recent >= limits.submit_rate:
            return _deny(
                DenyReason.SUBMIT_RATE,
                f"{recent} submits in the last {limits.rate_window:g} s "
                f"(submit_rate {limits.submit_rate})",
            )
        return None

    # -- figures -----------------------------------------------------------------------------

    def gross_exposure(self) -> Decimal:
        """Worst-case gross exposure: every position at its mark plus every working order's
        remaining notional (limit price, or the mark for a market order)."""
        total = _ZERO
        for product_id, held in self._positions.items():
            total += abs(held.quantity) * self._mark_or_cost(product_id)
        for order in self._orders.values():
            price = order.limit_price
            if price is None:
                price = self._mark_or_cost(order.product_id)
            total += order.remaining * price
        return total

    def _mark_or_cost(self, product_id: str) -> Decimal:
        mark = self._marks.get(product_id)
        if mark is not None:
            return mark
        held = self._positions.get(product_id)
        return _ZERO if held is None else held.average_cost

    def _mid(self, product_id: str) -> Decimal | None:
        view = self._views.get(product_id)
        return None if view is None else view.mid

    def _working_size(self, product_id: str, side: Side) -> Decimal:
        return sum(
            (
                o.remaining
                for o in self._orders.values()
                if o.product_id == product_id and o.side == side
            ),
            _ZERO,
        )

    def _reduces(self, order: SubmitOrder) -> bool:
        """Whether the order shrinks the position and, with the working orders on its side,
        at most flattens it."""
        held = self.position(order.product_id)
        if held == 0 or (held > 0) == (order.side == Side.BUY):
            return False
        return self._working_size(order.product_id, order.side) + order.size <= abs(held)

    # -- internals --------------------------------------------------------------------------

    def _record_approval(self, order: SubmitOrder) -> None:
        coid = order.client_order_id
        self._used_ids.add(coid)
        self._orders[coid] = _Order(
            strategy=order.strategy,
            product_id=order.product_id,
            side=order.side,
            order_type=order.order_type,
            size=order.size,
            limit_price=order.limit_price,
            intent=order,
        )

    def _count_fill(self, fill: OrderFilled) -> Decimal | None:
        """Apply a fill to its position; the PnL it realized, or None for a repeat."""
        if fill.trade_id in self._trade_ids:
            return None
        self._trade_ids.add(fill.trade_id)
        self._used_ids.add(fill.client_order_id)
        held = self._positions.get(fill.product_id)
        if held is None:
            held = self._positions[fill.product_id] = Position(product_id=fill.product_id)
        realized = held.apply(
            fill.side,
            Fill(
                trade_id=fill.trade_id,
                price=fill.price,
                size=fill.size,
                fee=fill.fee,
                liquidity=fill.liquidity,
            ),
        )
        order = self._orders.get(fill.client_order_id)
        if order is not None:
            order.fills_seen += fill.size
        return realized

    def _start_cooldown(self, now: float) -> None:
        limits = self.limits
        until = now + limits.loss_streak_cooldown
        self._cooldown_until = until
        self._loss_streak = 0
        if self._state is not TradingState.HALTED:
            # The state does not change; the event records the pause (its reason is not a
            # halt reason, so a recovery from it can never lift a halt).
            self._pending.append(
                TradingStateChanged(
                    previous=self._state,
                    state=self._state,
                    reason=LOSS_STREAK,
                    detail=(
                        f"{limits.loss_streak} fills in a row realized a loss: no new orders "
                        f"for {limits.loss_streak_cooldown:g} s (until t={until:g})"
                    ),
                    at=now,
                )
            )

    def _rearm_due(self, now: float, drawdown: Decimal) -> bool:
        limits = self.limits
        return (
            limits.rearm_after is not None
            and self._reducing_since is not None
            and now - self._reducing_since >= limits.rearm_after
            and drawdown <= limits.max_drawdown * limits.rearm_fraction
        )

    def _roll_day(self, now: float, equity: Decimal) -> None:
        length = self.limits.day_length
        days = math.floor((now - self._day_started_at) / length)
        if days >= 1:
            self._day_started_at += days * length
            self._day_baseline = equity

    def _move(
        self,
        state: TradingState,
        reason: str,
        detail: str,
        now: float,
        *,
        resumable: bool = True,
    ) -> None:
        previous = self._state
        if state is TradingState.HALTED:
            if previous is not TradingState.HALTED:
                self._resume_to = previous
            self._resumable = resumable and reason in _RESUMABLE_HALTS
        else:
            self._resumable = True
        self._state, self._reason, self._detail = state, reason, detail
        self._pending.append(
            TradingStateChanged(
                previous=previous, state=state, reason=reason, detail=detail, at=now
            )
        )


def _to_increment(value: Decimal, increment: Decimal) -> Decimal:
    """``value`` rounded down to a whole number of ``increment``."""
    return (value / increment).to_integral_value(rounding=decimal.ROUND_DOWN) * increment


def _in_window(times: collections.deque[float], now: float, window: float) -> int:
    """How many of ``times`` fall within the last ``window`` seconds (older ones dropped)."""
    while times and times[0] <= now - window:
        times.popleft()
    return len(times)


def _latch_reason(latch: HaltLatch) -> str:
    # Only called once the latch is set, when it always has a reason.
    return str(getattr(latch.reason, "value", "unknown"))
