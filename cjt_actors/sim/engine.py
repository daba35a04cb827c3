"""The simulated exchange's matching engine and accounts: pure, synchronous, deterministic.

Why this shape: the engine is the part of the simulator that must be *right* (balances,
priority, fees), so it has no I/O, no clock and no randomness of its own, and every result
maps 1:1 onto Coinbase's wire format (:mod:`.orders`, :mod:`.events`). The ASGI app calls a
method, then drains the events; a seed and a sequence of calls fix every id and every event.

The engine orchestrates; the parts live next to it: :mod:`.validation` (the rules an order
must meet on its own), :mod:`.matching` (planning a match before applying it),
:mod:`.orderbook` (price levels in price-time priority), :mod:`.live_orders` (an order's
state and its wire view), :mod:`.accounts` (balances and holds), :mod:`.products`.

Decisions, each the simplest honest choice (``reference/coinbase-api.md`` is the authority
on formats; where it is silent, this is what the simulator does):

* **Time** is an argument. Every mutating method takes ``now`` (epoch seconds), first
  expires the GTD orders whose ``end_time <= now``, and stamps its events with ``now``.
  Queries do not expire anything: call :meth:`Engine.expire` on a timer.
* **Ids** (orders, trades, fill entries, accounts) are UUID-shaped strings drawn from
  ``random.Random(seed)``: deterministic, and they look like Coinbase's.
* **Exact money.** All arithmetic runs in a 100-digit decimal context that *traps* inexact
  results, so no balance is ever silently rounded; inputs with absurd digit counts are
  refused as precision errors before any arithmetic. Only display values (average price,
  completion percentage) are rounded, explicitly.
* **Fees** are charged in the quote currency on every fill: ``price x size x rate``, exact
  and never rounded (Coinbase reports commissions with many decimals too). Not rounding is
  the conservative choice: rounding each fill up would make a buy's fees unbounded by its
  hold (many tiny fills), rounding down would leak value. Buyers pay notional + fee;
  sellers receive notional - fee; the fee is recorded as collected.
* **Holds.** A buy reserves ``size x limit_price x (1 + max(maker, taker rate))`` of quote
  when accepted, a sell reserves its base size. Each fill takes its share of the hold,
  spends what the fill costs and returns the rest; whatever is left returns when the order
  ends (filled, cancelled, expired). So ``outstanding_hold_amount`` of a live limit buy is
  always exactly ``remaining x limit_price x (1 + worst rate)``, and a user with no live
  orders holds exactly zero. Market buys hold their quote size (fees included) or, sized in
  base, the exact cost of the fill planned against the book.
* **Market orders** walk the book now and never rest. A buy's ``quote_size`` includes fees
  (``size_inclusive_of_fees``); a sell's ``quote_size`` is its gross proceeds. The order is
  ``FILLED`` when its size or budget ran out, ``CANCELLED`` (with its fills) when the book
  did. Against a book with nothing to take the order is refused, ``INVALID_NO_LIQUIDITY``.
* **IOC** (``sor_limit_ioc``) and **FOK** fill now what crosses; an IOC's rest and an
  unfillable FOK end ``CANCELLED`` (a FOK that cannot fill completely fills nothing).
* **Post-only** orders that would cross are refused, ``INVALID_LIMIT_PRICE_POST_ONLY``.
* **Stop-limit** orders are ``OPEN`` with ``trigger_status STOP_PENDING`` and hold funds from
  the start. A trade at or above (``STOP_UP``) or at or below (``STOP_DOWN``) the stop
  triggers them, in order of arrival, after the operation that printed it; they then match
  and rest as a limit order entering the book at that moment. A stop that would trigger
  at once (against the last trade price) is refused with
  ``PREVIEW_STOP_PRICE_{ABOVE,BELOW}_LAST_TRADE_PRICE``.
* **Self-trade prevention: cancel resting.** When an order would match a resting order of
  the same user, the resting order is cancelled (``cancel_message`` says why) and matching
  goes on. Market-order planning skips one's own orders, so they never count as liquidity.
* **Edits** apply to OPEN ``limit_limit_gtc`` orders only. A smaller size at the same price
  keeps the order's place in the queue; any other edit sends it to the back of the queue
  at its new price (and it matches at once if the new price crosses).
* **Idempotency.** A ``(user, client_order_id)`` already used by an accepted order returns
  that order (``OrderAccepted.duplicate``) and places nothing. A refused order uses up
  nothing: its ``client_order_id`` may be sent again.
* **Limits.** At most ``max_open_orders_per_product`` (500) live orders per user and
  product: a further resting-type order is accepted but goes straight to ``FAILED``
  (``reject_reason TOO_MANY_OPEN_ORDERS``), as Coinbase documents.
* **History is kept** (orders, fills) for the engine's life: a simulator session is bounded.
"""

from __future__ import annotations

import decimal
import functools
import heapq
import random
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import ParamSpec, TypeVar

import attrs

from ..errors import InvalidSpec
from .accounts import AccountView, Ledger
from .events import (
    BookSide,
    EngineEvent,
    FillRecorded,
    LevelChanged,
    OrderUpdated,
    TradeExecuted,
)
from .live_orders import RESTING_TYPES, LiveOrder, average_price
from .matching import MatchPlan, plan_match
from .orderbook import BookSideLevels
from .orders import (
    CancelFailureReason,
    CancelResult,
    EditFailureReason,
    EditRecord,
    EditResult,
    FailureKind,
    FillView,
    LimitFok,
    LimitGtc,
    LimitGtd,
    Liquidity,
    MarketIoc,
    OrderAccepted,
    OrderPreview,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderView,
    PlaceOutcome,
    PreviewFailureReason,
    RejectReason,
    Side,
    SorLimitIoc,
    StopLimitGtc,
    StopLimitGtd,
    TriggerStatus,
    UnsupportedConfiguration,
)
from .products import DEFAULT_FEES, DEFAULT_PRODUCTS, FeeSchedule, ProductSpec, tidy
from .validation import LimitConfiguration, edit_problem, limit_problem, market_problem

__all__ = ["BookSnapshot", "Engine", "Level", "TradingSummary"]

_ZERO = Decimal(0)
#: Where all engine arithmetic happens: wide enough for any product of a few sane inputs
#: (see :mod:`.validation`), and an inexact result is an error, never a silent rounding.
_EXACT = decimal.Context(
    prec=100,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)
_ROUND = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_EVEN, traps=[])
_SLIPPAGE_QUANTUM = Decimal("1E-10")

_STP_MESSAGE = "Cancelled by self-trade prevention: an order of the same user crossed it"
_USER_CANCEL_MESSAGE = "User requested cancel"
_EXPIRED_MESSAGE = "Order expired at its end_time"
_IOC_MESSAGE = "Remaining size cancelled: immediate-or-cancel"
_FOK_MESSAGE = "Fill-or-kill order could not be filled completely"
_NO_MORE_LIQUIDITY_MESSAGE = "Remaining size cancelled: the book ran out of liquidity"

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: (price, aggregate size) of one book level.
Level = tuple[Decimal, Decimal]
_Plan = MatchPlan[LiveOrder]


def _exact(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run ``method`` in the exact decimal context."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with decimal.localcontext(_EXACT):
            return method(*args, **kwargs)

    return wrapper


@attrs.frozen(kw_only=True)
class BookSnapshot:
    """One product's aggregated book: bids best (highest) first, asks best (lowest) first."""

    product_id: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@attrs.frozen(kw_only=True)
class TradingSummary:
    """A user's traded notional and fees paid, in quote currency, summed over all products
    (GET /transaction_summary; meaningful as a single figure when quotes are all USD)."""

    total_volume: Decimal
    total_fees: Decimal


@attrs.frozen
class _Admission:
    """What a valid new order needs reserved, and, for a market order, its planned match."""

    hold_currency: str
    hold: Decimal
    limit_price: Decimal | None
    plan: _Plan | None


class _Book:
    __slots__ = ("asks", "bids", "product")

    def __init__(self, product: ProductSpec) -> None:
        self.product = product
        self.bids: BookSideLevels[LiveOrder] = BookSideLevels(is_bid=True)
        self.asks: BookSideLevels[LiveOrder] = BookSideLevels(is_bid=False)

    def resting_side(self, side: Side) -> BookSideLevels[LiveOrder]:
        """Where orders of ``side`` rest."""
        return self.bids if side is Side.BUY else self.asks

    def crosses(self, side: Side, price: Decimal) -> bool:
        """Would a ``side`` order at ``price`` take liquidity now?"""
        if side is Side.BUY:
            best_ask = self.asks.best_price()
            return best_ask is not None and price >= best_ask
        best_bid = self.bids.best_price()
        return best_bid is not None and price <= best_bid


class Engine:
    """A Coinbase-like spot exchange: accounts, order books, matching, fees, events.

    Args:
        products: the products traded (default: BTC-USD and ETH-USD).
        fees: the maker/taker fee schedule applied to every user.
        seed: seeds the generator of every id; same seed and calls, same results.
        max_open_orders_per_product: live orders a user may have per product.
        recent_trades_kept: trades remembered per product for :meth:`recent_trades`.
    """

    def __init__(
        self,
        *,
        products: Iterable[ProductSpec] = DEFAULT_PRODUCTS.values(),
        fees: FeeSchedule = DEFAULT_FEES,
        seed: int = 0,
        max_open_orders_per_product: int = 500,
        recent_trades_kept: int = 1000,
    ) -> None:
        self._products: dict[str, ProductSpec] = {}
        for product in products:
            if product.product_id in self._products:
                raise InvalidSpec(f"products: {product.product_id!r} is listed twice")
            self._products[product.product_id] = product
        if max_open_orders_per_product < 1:
            raise InvalidSpec(
                f"max_open_orders_per_product: must be >= 1, got {max_open_orders_per_product}"
            )
        if recent_trades_kept < 1:
            raise InvalidSpec(f"recent_trades_kept: must be >= 1, got {recent_trades_kept}")
        self._fees = fees
        with decimal.localcontext(_EXACT):
            self._hold_rate = 1 + fees.worst_rate
            self._taker_unit = 1 + fees.taker_rate
        self._max_open = max_open_orders_per_product
        self._rng = random.Random(seed)
        self._ledger = Ledger(self._new_id)
        self._books = {pid: _Book(product) for pid, product in self._products.items()}
        self._orders: dict[str, LiveOrder] = {}
        self._by_client_id: dict[tuple[str, str], str] = {}
        self._user_orders: dict[str, list[LiveOrder]] = {}
        self._user_fills: dict[str, list[FillView]] = {}
        self._summaries: dict[str, tuple[Decimal, Decimal]] = {}
        self._open_counts: dict[tuple[str, str], int] = {}
        self._stops: dict[str, dict[str, LiveOrder]] = {pid: {} for pid in self._products}
        self._expiries: list[tuple[float, int, str]] = []
        self._last_price: dict[str, Decimal] = {}
        self._recent: dict[str, deque[TradeExecuted]] = {
            pid: deque(maxlen=recent_trades_kept) for pid in self._products
        }
        self._order_seq = 0
        self._fill_seq = 0
        self._event_seq = 0
        self._events: list[EngineEvent] = []
        # State of the operation in progress.
        self._dirty: dict[str, LiveOrder] = {}
        #: The order states the last operation published (to return without rebuilding).
        self._published: dict[str, OrderView] = {}
        self._traded_ranges: dict[str, tuple[Decimal, Decimal]] = {}

    # == configuration ============================================================================

    @property
    def products(self) -> Mapping[str, ProductSpec]:
        """The products traded, by product id."""
        return MappingProxyType(self._products)

    @property
    def fees(self) -> FeeSchedule:
        return self._fees

    # == accounts =================================================================================

    @_exact
    def deposit(self, user_id: str, currency: str, amount: Decimal, *, now: float) -> AccountView:
        """Credit ``amount`` to the user's available balance (zero opens the account).

        Raises:
            InvalidSpec: if the amount is negative or not a finite Decimal.
        """
        self._expire_due(now)
        view = self._ledger.deposit(user_id, currency, amount, now)
        self._finish_operation(now)
        return view

    def accounts(self, user_id: str) -> list[AccountView]:
        """The user's accounts, in the order they were opened (first deposit or fill)."""
        return self._ledger.views(user_id)

    def account(self, user_id: str, currency: str) -> AccountView | None:
        return self._ledger.view(user_id, currency)

    def account_by_uuid(self, account_uuid: str) -> AccountView | None:
        """Any user's account by uuid (the app checks it belongs to the caller)."""
        return self._ledger.by_uuid(account_uuid)

    def all_accounts(self) -> list[AccountView]:
        """Every account of every user (for invariant checks and reports)."""
        return self._ledger.all_views()

    def total_deposits(self, currency: str) -> Decimal:
        return self._ledger.total_deposits(currency)

    def fees_collected(self, currency: str) -> Decimal:
        return self._ledger.fees_collected(currency)

    def currencies(self) -> list[str]:
        """Every currency with an account, a deposit or a fee, sorted."""
        return self._ledger.currencies()

    def trading_summary(self, user_id: str) -> TradingSummary:
        volume, fees = self._summaries.get(user_id, (_ZERO, _ZERO))
        return TradingSummary(total_volume=tidy(volume), total_fees=tidy(fees))

    # == orders: commands =========================================================================

    @_exact
    def place(self, request: OrderRequest, *, now: float) -> PlaceOutcome:
        """POST /orders: validate, reserve funds, match, rest what may rest.

        Returns the order's state at the end of the operation, a duplicate's original
        order, or the rejection (nothing placed, nothing reserved).
        """
        self._expire_due(now)
        placed = self._place(request, now)
        self._finish_operation(now)
        if isinstance(placed, OrderRejected):
            return placed
        order, duplicate = placed
        view = self._published.get(order.order_id) or order.view()
        return OrderAccepted(order=view, duplicate=duplicate)

    @_exact
    def preview(self, request: OrderRequest, *, now: float) -> OrderPreview | OrderRejected:
        """POST /orders/preview: the same checks as :meth:`place`, and the cost if it filled
        completely now. Changes nothing (not even expiry) and ignores ``client_order_id``."""
        checked = self._check(request, now)
        if isinstance(checked, OrderRejected):
            return checked
        book = self._books[request.product_id]
        config = request.configuration
        limit = checked.limit_price
        plan = checked.plan
        if isinstance(config, MarketIoc):
            if plan is None:
                raise AssertionError("a market order is admitted with its plan")
            total_base = plan.base
        elif isinstance(config, UnsupportedConfiguration):
            raise AssertionError("an unsupported configuration is never admitted")
        else:
            total_base = config.base_size
            if not isinstance(config, StopLimitGtc | StopLimitGtd):
                plan = self._plan_limit(book, request.user_id, request.side, limit, total_base)
        taken = _ZERO if plan is None else plan.base
        taken_value = _ZERO if plan is None else plan.notional
        rest_value = _ZERO if limit is None else (total_base - taken) * limit
        notional = taken_value + rest_value
        commission = taken_value * self._fees.taker_rate + rest_value * self._fees.maker_rate
        order_total = notional + commission if request.side is Side.BUY else notional - commission
        best_bid, best_ask = book.bids.best_price(), book.asks.best_price()
        reference = best_ask if request.side is Side.BUY else best_bid
        slippage = _ZERO
        if taken and reference is not None:
            taken_average = _ROUND.divide(taken_value, taken)
            gap = _ROUND.subtract(taken_average, reference).copy_abs()
            slippage = _ROUND.divide(gap, reference).quantize(_SLIPPAGE_QUANTUM, context=_ROUND)
        return OrderPreview(
            base_size=total_base,
            quote_size=tidy(notional),
            commission_total=tidy(commission),
            order_total=tidy(order_total),
            average_filled_price=average_price(notional, total_base, book.product),
            best_bid=best_bid,
            best_ask=best_ask,
            slippage=slippage,
        )

    @_exact
    def cancel(self, user_id: str, order_ids: Sequence[str], *, now: float) -> list[CancelResult]:
        """POST /orders/batch_cancel: one result per id, in the order given."""
        self._expire_due(now)
        results = [self._cancel_one(user_id, order_id, now) for order_id in order_ids]
        self._finish_operation(now)
        return results

    @_exact
    def edit(
        self, user_id: str, order_id: str, *, price: Decimal, size: Decimal, now: float
    ) -> EditResult:
        """POST /orders/edit: new limit price and total size of an OPEN ``limit_limit_gtc``."""
        self._expire_due(now)
        failure = self._edit(user_id, order_id, price, size, now)
        self._finish_operation(now)
        if failure is not None:
            edit_reason, preview_reason = failure
            return EditResult(
                order_id=order_id,
                success=False,
                edit_failure_reason=edit_reason,
                preview_failure_reason=preview_reason,
            )
        return EditResult(
            order_id=order_id,
            success=True,
            edit_failure_reason=EditFailureReason.UNKNOWN_EDIT_ORDER_FAILURE_REASON,
            preview_failure_reason=PreviewFailureReason.UNKNOWN_PREVIEW_FAILURE_REASON,
            order=self._orders[order_id].view(),
        )

    @_exact
    def expire(self, now: float) -> list[OrderView]:
        """Expire every GTD order whose ``end_time`` is at or before ``now``."""
        expired = self._expire_due(now)
        self._finish_operation(now)
        return [order.view() for order in expired]

    def drain_events(self) -> list[EngineEvent]:
        """Every event since the last drain, oldest first; the log is then empty."""
        events, self._events = self._events, []
        return events

    # == orders: queries ==========================================================================

    @_exact
    def get_order(self, user_id: str, order_id: str) -> OrderView | None:
        """The user's order (open or closed), or None if no such order is theirs."""
        order = self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            return None
        return order.view()

    def is_resting(self, user_id: str, order_id: str) -> bool:
        """Whether the user's order rests in the book now (open, with size left to trade).

        The cheap form of ``get_order(...)`` for a caller that polls many of its own orders
        every step (the synthetic maker): no :class:`OrderView` is built and no decimal
        arithmetic is done. False for an unknown order, another user's order, an order that
        has ended, and an order that does not rest (a market order, a pending stop).
        """
        order = self._orders.get(order_id)
        return order is not None and order.user_id == user_id and order.in_book

    @_exact
    def list_orders(
        self,
        user_id: str,
        *,
        product_ids: Collection[str] | None = None,
        statuses: Collection[OrderStatus] | None = None,
        order_ids: Collection[str] | None = None,
        before_sequence: int | None = None,
        limit: int | None = None,
    ) -> list[OrderView]:
        """The user's orders, newest first (by ``sequence``), filtered.

        For cursor pagination pass the last ``sequence`` seen as ``before_sequence``: orders
        placed meanwhile never shift a page.
        """
        found: list[OrderView] = []
        for order in reversed(self._user_orders.get(user_id, [])):
            if limit is not None and len(found) >= limit:
                break
            if before_sequence is not None and order.sequence >= before_sequence:
                continue
            if product_ids is not None and order.product.product_id not in product_ids:
                continue
            if statuses is not None and order.status not in statuses:
                continue
            if order_ids is not None and order.order_id not in order_ids:
                continue
            found.append(order.view())
        return found

    def fills(
        self,
        user_id: str,
        *,
        order_ids: Collection[str] | None = None,
        product_ids: Collection[str] | None = None,
        before_sequence: int | None = None,
        limit: int | None = None,
    ) -> list[FillView]:
        """The user's fills, newest first (by ``sequence``), filtered."""
        found: list[FillView] = []
        for fill in reversed(self._user_fills.get(user_id, [])):
            if limit is not None and len(found) >= limit:
                break
            if before_sequence is not None and fill.sequence >= before_sequence:
                continue
            if order_ids is not None and fill.order_id not in order_ids:
                continue
            if product_ids is not None and fill.product_id not in product_ids:
                continue
            found.append(fill)
        return found

    # == market data ==============================================================================

    def snapshot(self, product_id: str, depth: int | None = None) -> BookSnapshot:
        """The aggregated book, at most ``depth`` levels a side (None: all)."""
        book = self._book(product_id)
        return BookSnapshot(
            product_id=product_id,
            bids=tuple(book.bids.depth(depth)),
            asks=tuple(book.asks.depth(depth)),
        )

    def best_bid_ask(self, product_id: str) -> tuple[Level | None, Level | None]:
        """The best bid and best ask (price, aggregate size), each None if that side is empty."""
        book = self._book(product_id)
        bids, asks = book.bids.depth(1), book.asks.depth(1)
        return (bids[0] if bids else None, asks[0] if asks else None)

    def last_trade_price(self, product_id: str) -> Decimal | None:
        self._book(product_id)
        return self._last_price.get(product_id)

    def recent_trades(self, product_id: str, limit: int | None = None) -> list[TradeExecuted]:
        """The latest trades, newest first (for /ticker and the market_trades snapshot)."""
        self._book(product_id)
        trades = list(reversed(self._recent[product_id]))
        return trades if limit is None else trades[:limit]

    @_exact
    def queue(self, product_id: str, side: Side) -> list[OrderView]:
        """Every resting order of ``side``, in priority order (an L3 view, for tests)."""
        return [order.view() for order in self._book(product_id).resting_side(side).orders()]

    # == placing ==================================================================================

    def _place(self, request: OrderRequest, now: float) -> tuple[LiveOrder, bool] | OrderRejected:
        if not request.client_order_id:
            return OrderRejected.of(FailureKind.INVALID_REQUEST, "client_order_id is required")
        existing = self._by_client_id.get((request.user_id, request.client_order_id))
        if existing is not None:
            return self._orders[existing], True
        checked = self._check(request, now)
        if isinstance(checked, OrderRejected):
            return checked
        order = self._new_order(request, checked.limit_price, now)
        config = request.configuration
        product_id = order.product.product_id
        count_key = (order.user_id, product_id)
        open_orders = self._open_counts.get(count_key, 0)
        if isinstance(config, RESTING_TYPES) and open_orders >= self._max_open:
            order.status = OrderStatus.FAILED
            order.reject_reason = RejectReason.TOO_MANY_OPEN_ORDERS
            order.reject_message = f"user already has {self._max_open} open orders on {product_id}"
            return order, False
        self._open_counts[count_key] = open_orders + 1
        self._ledger.place_hold(order.user_id, checked.hold_currency, checked.hold, now)
        order.hold = checked.hold
        if order.end_time is not None:
            heapq.heappush(self._expiries, (order.end_time, order.sequence, order.order_id))
        book = self._books[product_id]
        if isinstance(config, MarketIoc):
            if checked.plan is None:
                raise AssertionError("a market order is admitted with its plan")
            self._apply(order, checked.plan, now)
            if checked.plan.exhausted:
                self._finish(order, OrderStatus.FILLED, now)
            else:
                self._finish(order, OrderStatus.CANCELLED, now, _NO_MORE_LIQUIDITY_MESSAGE)
        elif isinstance(config, StopLimitGtc | StopLimitGtd):
            order.pending_stop = True
            self._stops[product_id][order.order_id] = order
        elif isinstance(config, LimitFok):
            plan = self._plan_limit(
                book, order.user_id, order.side, order.limit_price, order.remaining
            )
            if plan.base < order.remaining:
                self._finish(order, OrderStatus.CANCELLED, now, _FOK_MESSAGE)
            else:
                self._apply(order, plan, now)
                self._finish(order, OrderStatus.FILLED, now)
        elif isinstance(config, SorLimitIoc):
            plan = self._plan_limit(
                book, order.user_id, order.side, order.limit_price, order.remaining
            )
            self._apply(order, plan, now)
            if order.remaining:
                self._finish(order, OrderStatus.CANCELLED, now, _IOC_MESSAGE)
            else:
                self._finish(order, OrderStatus.FILLED, now)
        else:
            self._match_and_rest(order, now)
        return order, False

    def _new_order(
        self, request: OrderRequest, limit_price: Decimal | None, now: float
    ) -> LiveOrder:
        self._order_seq += 1
        order = LiveOrder(
            order_id=self._new_id(),
            request=request,
            product=self._products[request.product_id],
            sequence=self._order_seq,
            limit_price=limit_price,
            now=now,
        )
        self._orders[order.order_id] = order
        self._by_client_id[(order.user_id, order.client_order_id)] = order.order_id
        self._user_orders.setdefault(order.user_id, []).append(order)
        self._touch(order)
        return order

    # == admission ================================================================================

    def _check(self, request: OrderRequest, now: float) -> _Admission | OrderRejected:
        """Everything that can refuse a new order, in a fixed order; changes nothing.

        First the rules of :mod:`.validation`, then what needs the engine's state:
        post-only crossing, liquidity for market orders, and funds.
        """
        product = self._products.get(request.product_id)
        if product is None:
            return OrderRejected.of(
                FailureKind.INVALID_PRODUCT_ID, f"unknown product {request.product_id!r}"
            )
        config = request.configuration
        if isinstance(config, UnsupportedConfiguration):
            return OrderRejected.of(
                FailureKind.UNSUPPORTED_ORDER_CONFIGURATION,
                f"{config.wire_key} orders are not supported by the simulator",
            )
        if isinstance(config, MarketIoc):
            return self._check_market(request, product, config)
        return self._check_limit(request, product, config, now)

    def _check_market(
        self, request: OrderRequest, product: ProductSpec, config: MarketIoc
    ) -> _Admission | OrderRejected:
        problem = market_problem(product, config)
        if problem is not None:
            return problem
        book = self._books[product.product_id]
        is_buy = request.side is Side.BUY
        plan = plan_match(
            book.asks if is_buy else book.bids,
            request.user_id,
            is_buy=is_buy,
            limit=None,
            increment=product.base_increment,
            taker_unit=self._taker_unit,
            base=config.base_size,
            budget=config.quote_size if is_buy else None,
            proceeds=None if is_buy else config.quote_size,
        )
        if config.quote_size is not None:
            if plan.base == 0 and plan.exhausted:
                return OrderRejected.of(
                    FailureKind.QUOTE_SIZE_TOO_SMALL,
                    f"quote_size {config.quote_size} does not buy one {product.base_increment}",
                )
            hold = config.quote_size if is_buy else plan.base
        elif is_buy:
            hold = plan.notional * self._taker_unit
        else:
            hold = config.base_size or _ZERO  # a market sell holds its whole size
        if plan.base == 0:
            return OrderRejected.of(
                FailureKind.INVALID_NO_LIQUIDITY,
                f"no {'asks' if is_buy else 'bids'} from other users on {product.product_id}",
            )
        return self._admit_funds(request, product, hold, None, plan)

    def _check_limit(
        self,
        request: OrderRequest,
        product: ProductSpec,
        config: LimitConfiguration,
        now: float,
    ) -> _Admission | OrderRejected:
        problem = limit_problem(product, config, now, self._last_price.get(product.product_id))
        if problem is not None:
            return problem
        price = config.limit_price.quantize(product.price_increment)
        post_only = isinstance(config, LimitGtc | LimitGtd) and config.post_only
        if post_only and self._books[product.product_id].crosses(request.side, price):
            return OrderRejected.of(
                FailureKind.INVALID_LIMIT_PRICE_POST_ONLY,
                f"post-only {request.side} at {price} would take liquidity",
            )
        size = config.base_size
        hold = size * price * self._hold_rate if request.side is Side.BUY else size
        return self._admit_funds(request, product, hold, price, None)

    def _admit_funds(
        self,
        request: OrderRequest,
        product: ProductSpec,
        hold: Decimal,
        limit_price: Decimal | None,
        plan: _Plan | None,
    ) -> _Admission | OrderRejected:
        currency = product.quote_currency if request.side is Side.BUY else product.base_currency
        available = self._ledger.available(request.user_id, currency)
        if hold > available:
            return OrderRejected.of(
                FailureKind.INSUFFICIENT_FUND,
                f"order needs {tidy(hold)} {currency}, {available} {currency} available",
            )
        return _Admission(hold_currency=currency, hold=hold, limit_price=limit_price, plan=plan)

    # == matching =================================================================================

    def _plan_limit(
        self, book: _Book, user_id: str, side: Side, limit: Decimal | None, size: Decimal
    ) -> _Plan:
        is_buy = side is Side.BUY
        return plan_match(
            book.asks if is_buy else book.bids,
            user_id,
            is_buy=is_buy,
            limit=limit,
            increment=book.product.base_increment,
            taker_unit=self._taker_unit,
            base=size,
        )

    def _match_and_rest(self, order: LiveOrder, now: float) -> None:
        """Match ``order`` as a limit taker, then rest what is left (GTC, GTD, stops)."""
        book = self._books[order.product.product_id]
        plan = self._plan_limit(book, order.user_id, order.side, order.limit_price, order.remaining)
        self._apply(order, plan, now)
        if order.remaining:
            book.resting_side(order.side).add(order)
            order.in_book = True
            self._touch(order)
        else:
            self._finish(order, OrderStatus.FILLED, now)

    def _apply(self, taker: LiveOrder, plan: _Plan, now: float) -> None:
        for maker, size in plan.steps:
            if size is None:
                self._finish(maker, OrderStatus.CANCELLED, now, _STP_MESSAGE)
            else:
                self._fill(taker, maker, size, now)

    def _fill(self, taker: LiveOrder, maker: LiveOrder, size: Decimal, now: float) -> None:
        product_id = maker.product.product_id
        price = maker.book_price
        notional = price * size
        trade_id = self._new_id()
        self._books[product_id].resting_side(maker.side).reduce(maker, size)
        trade = TradeExecuted(
            sequence=self._next_event_seq(),
            time=now,
            trade_id=trade_id,
            product_id=product_id,
            price=price,
            size=size,
            maker_side=maker.side,
            maker_order_id=maker.order_id,
            taker_order_id=taker.order_id,
        )
        self._events.append(trade)
        self._recent[product_id].append(trade)
        self._settle(maker, trade_id, price, size, notional, Liquidity.MAKER, now)
        self._settle(taker, trade_id, price, size, notional, Liquidity.TAKER, now)
        if not maker.remaining:
            self._finish(maker, OrderStatus.FILLED, now)
        self._last_price[product_id] = price
        low, high = self._traded_ranges.get(product_id, (price, price))
        self._traded_ranges[product_id] = (min(low, price), max(high, price))

    def _settle(
        self,
        order: LiveOrder,
        trade_id: str,
        price: Decimal,
        size: Decimal,
        notional: Decimal,
        liquidity: Liquidity,
        now: float,
    ) -> None:
        """Move the money for one side of a fill and record the fill.

        A buy takes this fill's share of its hold (``size x limit x (1 + worst rate)``, or
        the exact cost for a market buy), spends notional + fee, and gets the rest back;
        a sell gives up ``size`` of base from its hold and receives notional - fee.
        """
        product = order.product
        rate = self._fees.maker_rate if liquidity is Liquidity.MAKER else self._fees.taker_rate
        fee = notional * rate
        user = order.user_id
        if order.side is Side.BUY:
            cost = notional + fee
            limit = order.limit_price
            release = cost if limit is None else size * limit * self._hold_rate
            self._ledger.settle_from_hold(
                user, product.quote_currency, release=release, spend=cost, now=now
            )
            self._ledger.credit(user, product.base_currency, size, now)
        else:
            release = size
            self._ledger.settle_from_hold(
                user, product.base_currency, release=size, spend=size, now=now
            )
            self._ledger.credit(user, product.quote_currency, notional - fee, now)
        self._ledger.collect_fee(product.quote_currency, fee)
        order.hold -= release
        order.filled_size += size
        order.filled_value += notional
        order.total_fees += fee
        order.number_of_fills += 1
        order.last_fill_time = now
        order.updated_time = now
        self._touch(order)
        volume, fees = self._summaries.get(user, (_ZERO, _ZERO))
        self._summaries[user] = (volume + notional, fees + fee)
        self._fill_seq += 1
        fill = FillView(
            entry_id=self._new_id(),
            trade_id=trade_id,
            order_id=order.order_id,
            user_id=user,
            product_id=product.product_id,
            side=order.side,
            price=price,
            size=size,
            commission=tidy(fee),
            liquidity_indicator=liquidity,
            trade_time=now,
            sequence=self._fill_seq,
        )
        self._user_fills.setdefault(user, []).append(fill)
        self._events.append(FillRecorded(sequence=self._next_event_seq(), time=now, fill=fill))

    def _finish(self, order: LiveOrder, status: OrderStatus, now: float, message: str = "") -> None:
        """End a live order: out of the book (or the stop list), hold released, counted out."""
        product_id = order.product.product_id
        if order.in_book:
            self._books[product_id].resting_side(order.side).remove(order)
            order.in_book = False
        if order.pending_stop:
            del self._stops[product_id][order.order_id]
            order.pending_stop = False
        if order.hold:
            self._ledger.release_hold(order.user_id, order.hold_currency, order.hold, now)
            order.hold = _ZERO
        order.status = status
        order.updated_time = now
        if status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
            order.cancel_message = message
        self._open_counts[(order.user_id, product_id)] -= 1
        self._touch(order)

    # == stops and expiry =========================================================================

    def _run_stops(self, now: float) -> None:
        """Trigger the stops that this operation's trades reached, until no more trigger.

        Stops fire in the order they arrived; a triggered stop's own trades may fire more.
        """
        while self._traded_ranges:
            ranges, self._traded_ranges = self._traded_ranges, {}
            for product_id, (low, high) in ranges.items():
                pending = self._stops[product_id]
                for order in [o for o in pending.values() if o.stop_reached(low, high)]:
                    del pending[order.order_id]
                    order.pending_stop = False
                    order.trigger_status = TriggerStatus.STOP_TRIGGERED
                    order.updated_time = now
                    self._touch(order)
                    self._match_and_rest(order, now)

    def _expire_due(self, now: float) -> list[LiveOrder]:
        expired: list[LiveOrder] = []
        while self._expiries and self._expiries[0][0] <= now:
            _, _, order_id = heapq.heappop(self._expiries)
            order = self._orders[order_id]
            if order.status is OrderStatus.OPEN:
                self._finish(order, OrderStatus.EXPIRED, now, _EXPIRED_MESSAGE)
                expired.append(order)
        return expired

    # == cancel and edit ==========================================================================

    def _cancel_one(self, user_id: str, order_id: str, now: float) -> CancelResult:
        order = self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            reason = CancelFailureReason.UNKNOWN_CANCEL_ORDER
        elif order.status is OrderStatus.FILLED:
            reason = CancelFailureReason.ORDER_IS_FULLY_FILLED
        elif order.status is not OrderStatus.OPEN:
            reason = CancelFailureReason.DUPLICATE_CANCEL_REQUEST
        else:
            self._finish(order, OrderStatus.CANCELLED, now, _USER_CANCEL_MESSAGE)
            return CancelResult(
                order_id=order_id,
                success=True,
                failure_reason=CancelFailureReason.UNKNOWN_CANCEL_FAILURE_REASON,
            )
        return CancelResult(order_id=order_id, success=False, failure_reason=reason)

    def _edit(
        self, user_id: str, order_id: str, price: Decimal, size: Decimal, now: float
    ) -> tuple[EditFailureReason, PreviewFailureReason] | None:
        """Apply an edit, or say why not (edit reason, preview reason)."""
        reason = EditFailureReason
        no_preview_reason = PreviewFailureReason.UNKNOWN_PREVIEW_FAILURE_REASON
        order = self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            return reason.ORDER_NOT_FOUND, no_preview_reason
        config = order.config
        if not isinstance(config, LimitGtc):
            return reason.ONLY_LIMIT_ORDER_EDITS_SUPPORTED, no_preview_reason
        if order.status is not OrderStatus.OPEN:
            return reason.ONLY_OPEN_ORDERS_CAN_BE_EDITED, no_preview_reason
        product = order.product
        problem = edit_problem(product, price, size)
        if problem is not None:
            return problem
        if size <= order.filled_size:
            return reason.CANNOT_EDIT_TO_BELOW_FILLED_SIZE, no_preview_reason
        new_price = price.quantize(product.price_increment)
        old_size = order.base_size or _ZERO
        if new_price == order.limit_price and size == old_size:
            return reason.EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST, no_preview_reason
        book = self._books[product.product_id]
        if config.post_only and book.crosses(order.side, new_price):
            return (
                reason.INVALID_EDITED_PRICE,
                PreviewFailureReason.PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY,
            )
        new_remaining = size - order.filled_size
        is_buy = order.side is Side.BUY
        new_hold = new_remaining * new_price * self._hold_rate if is_buy else new_remaining
        extra = new_hold - order.hold
        if extra > self._ledger.available(user_id, order.hold_currency):
            return (
                reason.COMMANDER_REJECTED_EDIT_ORDER,
                PreviewFailureReason.PREVIEW_INSUFFICIENT_FUND,
            )
        # Accepted: adjust the book, the hold and the order, then match if it now crosses.
        resting = book.resting_side(order.side)
        keeps_priority = new_price == order.limit_price and size < old_size
        if keeps_priority:
            resting.reduce(order, order.remaining - new_remaining)
        else:
            resting.remove(order)
            order.in_book = False
        if extra > 0:
            self._ledger.place_hold(user_id, order.hold_currency, extra, now)
        elif extra < 0:
            self._ledger.release_hold(user_id, order.hold_currency, -extra, now)
        order.hold = new_hold
        order.base_size = size
        order.limit_price = new_price
        order.config = attrs.evolve(config, base_size=size, limit_price=price)
        order.edit_history.append(EditRecord(price=price, size=size, replace_accept_timestamp=now))
        order.updated_time = now
        self._touch(order)
        if not keeps_priority:
            self._match_and_rest(order, now)
        return None

    # == bookkeeping ==============================================================================

    def _finish_operation(self, now: float) -> None:
        """Trigger stops, then publish the operation's order and level updates."""
        self._run_stops(now)
        self._published = {order_id: order.view() for order_id, order in self._dirty.items()}
        for view in self._published.values():
            self._events.append(OrderUpdated(sequence=self._next_event_seq(), time=now, order=view))
        self._dirty.clear()
        for product_id, book in self._books.items():
            for side, levels in ((BookSide.BID, book.bids), (BookSide.OFFER, book.asks)):
                for price, before, after in levels.take_touched():
                    if before != after:
                        self._events.append(
                            LevelChanged(
                                sequence=self._next_event_seq(),
                                time=now,
                                product_id=product_id,
                                side=side,
                                price=price,
                                new_quantity=after,
                            )
                        )

    def _touch(self, order: LiveOrder) -> None:
        self._dirty.setdefault(order.order_id, order)

    def _next_event_seq(self) -> int:
        self._event_seq += 1
        return self._event_seq

    def _new_id(self) -> str:
        """A random (version 4) UUID string from the engine's seeded generator."""
        bits = self._rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)
        text = f"{bits | (0x4000 << 64) | (0x8000 << 48):032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def _book(self, product_id: str) -> _Book:
        book = self._books.get(product_id)
        if book is None:
            raise InvalidSpec(
                f"product_id: unknown product {product_id!r}; known: {sorted(self._books)}"
            )
        return book
