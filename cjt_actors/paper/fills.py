"""The paper fill model: orders matched against the observed market, pure and synchronous.

Why a pure core: what a paper fill is worth depends entirely on these rules, so they must be
readable, testable one by one and deterministic. This module has no trio, no clock and no
randomness; ids come from counters. :class:`~cjt_actors.paper.venue.PaperVenue` wraps it
with the latency model and the report channel.

What the model sees is the public market: the latest :class:`~cjt_actors.orderbook.BookView`
of each product and every public trade. Paper orders are invisible to that market, which
shapes every rule below:

* **Takers walk the view.** A market order (always IOC, or FOK), a limit IOC/FOK, and the
  crossing part of a limit GTC fill as TAKER at the view's levels, best first (``asks`` for a
  buy, ``bids`` for a sell), never past the limit. FOK fills only if the visible liquidity
  covers the whole size, else nothing. What does not fill is cancelled (IOC, FOK, market).
* **Liquidity is used once.** The real book never sees our paper takers, so the next view
  still shows the size we "took". The model remembers, per displayed level, how much of it
  paper orders consumed, and carries that forward: when a later view shows the level with
  size ``s``, what we consumed becomes ``min(consumed, s)`` (others trading or cancelling
  shrink the level from the front; only growth beyond what we took is new liquidity). A
  level that a view covers but no longer shows is gone, and so is its record. Without this
  a level of 1 BTC shown in ten views would fill ten paper buys of 1 BTC.
* **Resting orders queue.** A limit GTC that does not fill at once rests at its price ``P``
  with ``queue_ahead``: the size the latest view shows at ``P`` on its side (0 if ``P`` is
  better than what is shown there or the level is empty; unknown if ``P`` is deeper than the
  view shows, until a view shows it). Each later trusted view caps it at the size shown at
  ``P`` (at most that much can be ahead of us). With ``queue_position=False`` the queue is
  always empty.
* **Trades fill resting orders as MAKER.** A public trade that hit our side
  (``maker_side`` is our side) at ``P`` first consumes ``queue_ahead``; what is left of the
  trade fills us. A trade at a price worse for its taker than ``P`` (a seller hitting a bid
  below our bid, a buyer lifting an ask above our ask) went through our price: we would have
  been hit first, so it fills us up to its size. One trade's size is shared, in priority
  order (best price, then earliest order), by every paper order it reaches. Snapshot
  trades (history replayed on subscribe) and repeated trade ids fill nothing.
* **Crossing views fill resting orders as MAKER.** A trusted view whose opposite side
  crosses a resting order's price (best ask at or below our bid) fills it at its own price,
  up to the crossing size not yet consumed. Untrusted views (gap, reconnect, crossed...)
  still serve as the latest picture for takers, but neither fill nor move resting orders:
  they may show liquidity that is not there.

A fill never exceeds the order's remaining size nor the liquidity it came from; its fee is
``price * size * rate`` (maker or taker rate), exact. Requests are validated like Coinbase
validates them, with Coinbase's reason codes (:data:`REJECT_REASONS`); a repeated
``client_order_id`` answers what the first request answered and never makes a second order.

Every step returns the reports it produced, as :data:`Emitted` pairs, in the order they
happened: each fill, then a status snapshot when the order ends (``FILLED``/``CANCELLED``).
"""

from __future__ import annotations

import collections
import decimal
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Final, TypeAlias

import attrs

from ..errors import InvalidSpec
from ..exchange.orders import Side
from ..exchange.stream import Trade
from ..lifecycle import (
    FULLY_FILLED_CANCEL_REASON,
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    Fill,
    Liquidity,
    Rejected,
    VenueOrderState,
)
from ..market_messages import TradesReceived
from ..order_messages import OrderType, SubmitOrder, TimeInForce
from ..orderbook import BookView
from ..products import ProductRules
from ..venue import CancelOutcome, SubmitOutcome, VenueOrder

__all__ = [
    "INVALID_BASE_SIZE_TOO_LARGE",
    "INVALID_BASE_SIZE_TOO_SMALL",
    "INVALID_LIMIT_PRICE",
    "INVALID_LIMIT_PRICE_POST_ONLY",
    "INVALID_PRICE_PRECISION",
    "INVALID_PRODUCT_ID",
    "INVALID_QUOTE_SIZE_TOO_SMALL",
    "INVALID_SIDE",
    "INVALID_SIZE_PRECISION",
    "REJECT_REASONS",
    "RETAIN_FINISHED",
    "TRADE_MEMORY",
    "UNKNOWN_CANCEL_ORDER",
    "UNSUPPORTED_ORDER_CONFIGURATION",
    "Emitted",
    "FillModel",
    "PaperConfig",
    "PaperStatistics",
]

# -- Coinbase's reason codes ----------------------------------------------------------------------

INVALID_PRODUCT_ID: Final = "INVALID_PRODUCT_ID"
INVALID_SIDE: Final = "INVALID_SIDE"
UNSUPPORTED_ORDER_CONFIGURATION: Final = "UNSUPPORTED_ORDER_CONFIGURATION"
INVALID_BASE_SIZE_TOO_SMALL: Final = "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
INVALID_BASE_SIZE_TOO_LARGE: Final = "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
INVALID_SIZE_PRECISION: Final = "INVALID_SIZE_PRECISION"
INVALID_LIMIT_PRICE: Final = "INVALID_LIMIT_PRICE"
INVALID_PRICE_PRECISION: Final = "INVALID_PRICE_PRECISION"
INVALID_QUOTE_SIZE_TOO_SMALL: Final = "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
INVALID_LIMIT_PRICE_POST_ONLY: Final = "INVALID_LIMIT_PRICE_POST_ONLY"
UNKNOWN_CANCEL_ORDER: Final = "UNKNOWN_CANCEL_ORDER"

REJECT_REASONS: Final = (
    INVALID_PRODUCT_ID,
    INVALID_SIDE,
    UNSUPPORTED_ORDER_CONFIGURATION,
    INVALID_BASE_SIZE_TOO_SMALL,
    INVALID_BASE_SIZE_TOO_LARGE,
    INVALID_SIZE_PRECISION,
    INVALID_LIMIT_PRICE,
    INVALID_PRICE_PRECISION,
    INVALID_QUOTE_SIZE_TOO_SMALL,
    INVALID_LIMIT_PRICE_POST_ONLY,
)
"""Every reason a submit may be rejected with, in the order the checks run. The sizes out of
bounds have no specific ``new_order_failure_reason`` at Coinbase (it says
``UNKNOWN_FAILURE_REASON``); their ``preview_failure_reason`` names the problem, so that is used."""

TRADE_MEMORY: Final = 4096
"""How many recent trade ids the model remembers to ignore a repeated trade (bounded)."""

RETAIN_FINISHED: Final = 100_000
"""How many finished (filled, cancelled or rejected) orders the model remembers by default."""

Emitted: TypeAlias = tuple[str, Fill | VenueOrderState]
"""A report of the model: ``(client_order_id, event)``; the venue stamps the time."""

# Exact products: 80 digits hold price * size * rate for any value the wire lets through.
_EXACT: Final = decimal.Context(prec=80, traps=[decimal.InvalidOperation, decimal.Overflow])
_AVERAGE: Final = decimal.Context(prec=28)
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)

_SIDES: Final[frozenset[str]] = frozenset({Side.BUY, Side.SELL})
_OPEN: Final = "OPEN"
_FILLED: Final = "FILLED"
_CANCELLED: Final = "CANCELLED"


# -- configuration and statistics -----------------------------------------------------------------


def _rate(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or not _ZERO <= value < _ONE:
        raise InvalidSpec(
            f"PaperConfig.{attribute.name} must be a Decimal in [0, 1), got {value!r}"
        )


def _seconds(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidSpec(
            f"PaperConfig.{attribute.name} must be a finite number of seconds >= 0, got {value!r}"
        )


def _flag(_instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise InvalidSpec(f"PaperConfig.{attribute.name} must be true or false, got {value!r}")


@attrs.frozen(kw_only=True)
class PaperConfig:
    """The paper venue's knobs (the ``[paper]`` section of the config file).

    Attributes:
        maker_fee_rate, taker_fee_rate: fraction of the notional charged per fill (Coinbase's
            entry tier by default: 0.6 % maker, 1.2 % taker).
        latency: seconds between a submit or cancel call and the venue acting on it.
        latency_jitter: a uniform extra delay in ``[0, latency_jitter)``, drawn from the
            venue's injected ``random.Random``.
        queue_position: model the queue ahead of a resting order; ``False`` fills a resting
            order as soon as a trade prints at its price (optimistic).
    """

    maker_fee_rate: Decimal = attrs.field(default=Decimal("0.006"), validator=_rate)
    taker_fee_rate: Decimal = attrs.field(default=Decimal("0.012"), validator=_rate)
    latency: float = attrs.field(default=0.05, validator=_seconds)
    latency_jitter: float = attrs.field(default=0.0, validator=_seconds)
    queue_position: bool = attrs.field(default=True, validator=_flag)


@attrs.frozen(kw_only=True)
class PaperStatistics:
    """What the paper venue did since it was made (for the status line and the summary).

    ``orders`` counts accepted orders, ``rejects`` rejected submits, ``cancels`` orders that
    ended cancelled (by a cancel request or an IOC/FOK remainder), ``open_orders`` orders
    resting now; ``filled_base`` and ``fees`` sum every fill; ``pending_reports`` counts
    reports waiting for the executor (the venue fills it in).
    """

    orders: int
    fills: int
    rejects: int
    cancels: int
    open_orders: int
    filled_base: Decimal
    fees: Decimal
    pending_reports: int = 0


# -- records --------------------------------------------------------------------------------------


@attrs.define(kw_only=True, eq=False)
class _Order:
    """One accepted paper order."""

    client_order_id: str
    order_id: str
    product_id: str
    buy: bool
    size: Decimal
    limit_price: Decimal | None
    arrival: int  # time priority among paper orders
    filled: Decimal = _ZERO
    notional: Decimal = _ZERO
    fees: Decimal = _ZERO
    status: str = _OPEN
    queue_ahead: Decimal | None = None  # None: P deeper than any view showed yet

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled

    @property
    def price(self) -> Decimal:
        """The resting price (only resting orders, which are limits, ask for it)."""
        assert self.limit_price is not None, "a resting order has a limit price"
        return self.limit_price

    def priority(self) -> tuple[Decimal, int]:
        """Sort key: best price first, then the earliest order."""
        return (-self.price if self.buy else self.price), self.arrival

    def state(self, *, from_lookup: bool = False) -> VenueOrderState:
        working = self.status == _OPEN
        return VenueOrderState(
            status=self.status,
            cumulative_quantity=self.filled,
            leaves_quantity=self.remaining if working else _ZERO,
            average_price=_AVERAGE.divide(self.notional, self.filled) if self.filled else None,
            total_fees=self.fees,
            order_id=self.order_id,
            from_lookup=from_lookup,
        )


@attrs.define(kw_only=True, eq=False)
class _Market:
    """What the model knows of one product: the latest view, the liquidity paper orders
    consumed from displayed levels, and the orders resting there (in arrival order)."""

    rules: ProductRules
    view: BookView | None = None
    consumed: dict[tuple[bool, Decimal], Decimal] = attrs.field(factory=dict)
    """``(ask side?, price) -> size`` paper takers or crossings used of that displayed level."""
    resting: dict[str, _Order] = attrs.field(factory=dict)

    def levels(self, asks: bool) -> tuple[tuple[Decimal, Decimal], ...]:
        view = self.view
        if view is None:
            return ()
        return view.asks if asks else view.bids

    def available(self, asks: bool, limit: Decimal | None) -> list[tuple[Decimal, Decimal]]:
        """The ``(price, size)`` a taker could use on one side, best first, not past ``limit``."""
        found: list[tuple[Decimal, Decimal]] = []
        for price, shown in self.levels(asks):
            if limit is not None and ((price > limit) if asks else (price < limit)):
                break
            left = shown - self.consumed.get((asks, price), _ZERO)
            if price > 0 and left > 0:
                found.append((price, left))
        return found

    def consume(self, asks: bool, price: Decimal, size: Decimal) -> None:
        key = (asks, price)
        self.consumed[key] = self.consumed.get(key, _ZERO) + size

    def carry_consumption(self, view: BookView) -> None:
        """Carry what paper orders consumed into a new view (see the module docstring)."""
        for key in list(self.consumed):
            asks, price = key
            shown = _shown(view.asks if asks else view.bids, price, asks=asks)
            if shown is None:
                continue  # deeper than this view shows: nothing learnt
            kept = min(self.consumed[key], shown)
            if kept > 0:
                self.consumed[key] = kept
            else:
                del self.consumed[key]


def _shown(
    levels: tuple[tuple[Decimal, Decimal], ...], price: Decimal, *, asks: bool
) -> Decimal | None:
    """The size a view shows at ``price`` on one side: the level's size, 0 when the view covers
    ``price`` (better than its worst level shown, or the side is empty) but has no level
    there, ``None`` when ``price`` is deeper than the view shows."""
    if not levels:
        return _ZERO
    for level_price, size in levels:
        if level_price == price:
            return size
    worst = levels[-1][0]
    covered = (price <= worst) if asks else (price >= worst)
    return _ZERO if covered else None


def _positive(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value > 0


def _on_grid(value: Decimal, increment: Decimal) -> bool:
    try:
        return not _EXACT.remainder(value, increment)
    except decimal.InvalidOperation:  # too many digits to divide exactly: not on the grid
        return False


# -- the model ------------------------------------------------------------------------------------


class FillModel:
    """The paper venue's order book of paper orders, matched against the observed market.

    Args:
        products: the rules of every tradable product, by ``product_id``.
        config: fee rates and the queue model (latency is the venue's business).
        retain_finished: how many finished orders (and rejected ids) to remember, newest
            kept. Working orders are always kept. A forgotten order is unknown to ``lookup``
            and ``cancel``, and its ``client_order_id`` would be taken as new: the bound keeps
            a long paper run's memory flat, and the default is far beyond any recovery's
            horizon (the executor only looks up orders it still considers working).

    Each method acts at once and returns what it produced; see the module docstring for the
    rules. Nothing here raises for a bad request: a bad order is a :class:`Rejected`.
    """

    def __init__(
        self,
        products: Mapping[str, ProductRules],
        config: PaperConfig,
        *,
        retain_finished: int = RETAIN_FINISHED,
    ) -> None:
        if (
            isinstance(retain_finished, bool)
            or not isinstance(retain_finished, int)
            or retain_finished < 1
        ):
            raise InvalidSpec(
                f"FillModel: retain_finished must be an integer >= 1, got {retain_finished!r}"
            )
        for key, rules in products.items():
            if key != rules.product_id:
                raise InvalidSpec(
                    f"FillModel: products[{key!r}] holds the rules of {rules.product_id!r}"
                )
        self.config = config
        self._markets = {key: _Market(rules=rules) for key, rules in products.items()}
        self._orders: dict[str, _Order] = {}
        self._by_order_id: dict[str, _Order] = {}
        self._answers: dict[str, SubmitOutcome] = {}
        self._retain = retain_finished
        self._finished: collections.deque[str] = collections.deque()  # oldest first
        self._recent_trades: collections.OrderedDict[tuple[str, str], None] = (
            collections.OrderedDict()
        )
        self._order_count = 0
        self._fill_count = 0
        self._rejects = 0
        self._cancels = 0
        self._filled_base = _ZERO
        self._fees = _ZERO

    def __repr__(self) -> str:
        return f"<FillModel products={len(self._markets)} orders={len(self._orders)}>"

    # -- requests -------------------------------------------------------------------------

    def submit(self, order: SubmitOrder) -> tuple[SubmitOutcome, list[Emitted]]:
        """Validate, place and match ``order`` against the latest view of its product."""
        known = self._answers.get(order.client_order_id)
        if known is not None:
            return known, []
        reason = self._problem(order)
        if reason is not None:
            self._rejects += 1
            rejected = Rejected(reason=reason)
            self._answers[order.client_order_id] = rejected
            self._forget_beyond_retention(order.client_order_id)
            return rejected, []
        market = self._markets[order.product_id]
        self._order_count += 1
        record = _Order(
            client_order_id=order.client_order_id,
            order_id=f"paper-{self._order_count}",
            product_id=order.product_id,
            buy=order.side == Side.BUY,
            size=order.size,
            limit_price=order.limit_price,
            arrival=self._order_count,
        )
        self._orders[record.client_order_id] = record
        self._by_order_id[record.order_id] = record
        accepted = Accepted(order_id=record.order_id)
        self._answers[record.client_order_id] = accepted

        emitted: list[Emitted] = []
        liquidity = market.available(asks=record.buy, limit=record.limit_price)
        all_or_none = order.time_in_force is TimeInForce.FOK
        if all_or_none and sum(size for _price, size in liquidity) < record.size:
            liquidity = []
        for price, size in liquidity:
            if not record.remaining:
                break
            taken = min(size, record.remaining)
            market.consume(record.buy, price, taken)
            self._fill(record, price, taken, Liquidity.TAKER, emitted)
        if not record.remaining:
            self._close(market, record, _FILLED, emitted)
        elif order.order_type is OrderType.MARKET or order.time_in_force is not TimeInForce.GTC:
            self._close(market, record, _CANCELLED, emitted)
        else:
            record.queue_ahead = self._initial_queue(market, record)
            market.resting[record.client_order_id] = record
        return accepted, emitted

    def cancel(self, client_order_id: str, order_id: str) -> tuple[CancelOutcome, list[Emitted]]:
        """Cancel a working order, found by ``order_id`` when given (Coinbase's key), else by
        ``client_order_id``; both must name the same order."""
        record = self._by_order_id.get(order_id) if order_id else self._orders.get(client_order_id)
        if record is None or record.client_order_id != client_order_id:
            return CancelFailed(reason=UNKNOWN_CANCEL_ORDER), []
        if record.status == _FILLED:
            return CancelFailed(reason=FULLY_FILLED_CANCEL_REASON), []
        if record.status != _OPEN:
            return CancelFailed(reason=UNKNOWN_CANCEL_ORDER), []
        emitted: list[Emitted] = []
        self._close(self._markets[record.product_id], record, _CANCELLED, emitted)
        return CancelAcknowledged(), emitted

    def lookup(self, client_order_id: str) -> VenueOrder | None:
        """The record of an accepted order (a rejected one was never placed: ``None``)."""
        record = self._orders.get(client_order_id)
        return None if record is None else _venue_order(record)

    def open_orders(self) -> tuple[VenueOrder, ...]:
        """Every resting order, oldest first."""
        working = [o for market in self._markets.values() for o in market.resting.values()]
        working.sort(key=lambda o: o.arrival)
        return tuple(_venue_order(o) for o in working)

    def statistics(self) -> PaperStatistics:
        return PaperStatistics(
            orders=self._order_count,
            fills=self._fill_count,
            rejects=self._rejects,
            cancels=self._cancels,
            open_orders=sum(len(m.resting) for m in self._markets.values()),
            filled_base=self._filled_base,
            fees=self._fees,
        )

    # -- market data ----------------------------------------------------------------------

    def observe_book(self, view: BookView) -> list[Emitted]:
        """Take ``view`` as the product's latest picture; fill resting orders it crosses."""
        market = self._markets.get(view.product_id)
        if market is None:
            return []
        market.carry_consumption(view)
        market.view = view
        emitted: list[Emitted] = []
        if not view.trusted:
            return emitted
        for record in sorted(market.resting.values(), key=_Order.priority):
            for price, size in market.available(asks=record.buy, limit=record.price):
                taken = min(size, record.remaining)
                market.consume(record.buy, price, taken)
                self._fill(record, record.price, taken, Liquidity.MAKER, emitted)
                if not record.remaining:
                    break
            if not record.remaining:
                self._close(market, record, _FILLED, emitted)
                continue
            shown = _shown(
                view.bids if record.buy else view.asks, record.price, asks=not record.buy
            )
            if shown is not None:
                record.queue_ahead = (
                    shown if record.queue_ahead is None else min(record.queue_ahead, shown)
                )
        return emitted

    def observe_trades(self, frame: TradesReceived) -> list[Emitted]:
        """Let each public trade of ``frame`` reach the resting orders it would have hit."""
        emitted: list[Emitted] = []
        if frame.snapshot:
            return emitted  # history from before the subscription: it filled nobody of ours
        for trade in frame.trades:
            market = self._markets.get(trade.product_id)
            if market is None or not self._first_time(trade):
                continue
            if market.resting and _positive(trade.price) and _positive(trade.size):
                self._trade(market, trade, emitted)
        return emitted

    # -- internals ------------------------------------------------------------------------

    def _first_time(self, trade: Trade) -> bool:
        if not trade.trade_id:
            return True
        key = (trade.product_id, trade.trade_id)
        if key in self._recent_trades:
            return False
        self._recent_trades[key] = None
        if len(self._recent_trades) > TRADE_MEMORY:
            self._recent_trades.popitem(last=False)
        return True

    def _trade(self, market: _Market, trade: Trade, emitted: list[Emitted]) -> None:
        hit_bids = trade.maker_side == Side.BUY
        if not hit_bids and trade.maker_side != Side.SELL:
            return
        left = trade.size  # what of the trade no paper order has taken yet
        queue_model = self.config.queue_position
        for record in sorted(market.resting.values(), key=_Order.priority):
            if record.buy != hit_bids:
                continue
            price = record.price
            if (trade.price < price) if record.buy else (trade.price > price):
                record.queue_ahead = _ZERO  # the trade swept our level: nobody is ahead
                taken = min(record.remaining, left)
            elif trade.price == price:
                if not queue_model:
                    taken = min(record.remaining, left)
                elif record.queue_ahead is None:
                    taken = _ZERO  # where we stand is unknown: no fill from trades at P
                else:
                    taken = min(record.remaining, max(_ZERO, left - record.queue_ahead))
                    record.queue_ahead = max(_ZERO, record.queue_ahead - trade.size)
            else:
                continue  # a better price than ours traded: it never reached us
            if taken > 0:
                left -= taken
                self._fill(record, price, taken, Liquidity.MAKER, emitted)
                if not record.remaining:
                    self._close(market, record, _FILLED, emitted)

    def _initial_queue(self, market: _Market, record: _Order) -> Decimal | None:
        if not self.config.queue_position:
            return _ZERO
        if market.view is None:
            return None
        return _shown(market.levels(asks=not record.buy), record.price, asks=not record.buy)

    def _fill(
        self,
        record: _Order,
        price: Decimal,
        size: Decimal,
        liquidity: Liquidity,
        emitted: list[Emitted],
    ) -> None:
        rate = (
            self.config.maker_fee_rate
            if liquidity is Liquidity.MAKER
            else self.config.taker_fee_rate
        )
        fee = _EXACT.multiply(_EXACT.multiply(price, size), rate)
        self._fill_count += 1
        fill = Fill(
            trade_id=f"paper-fill-{self._fill_count}",
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
        )
        record.filled = _EXACT.add(record.filled, size)
        record.notional = _EXACT.add(record.notional, _EXACT.multiply(price, size))
        record.fees = _EXACT.add(record.fees, fee)
        self._filled_base = _EXACT.add(self._filled_base, size)
        self._fees = _EXACT.add(self._fees, fee)
        emitted.append((record.client_order_id, fill))

    def _close(self, market: _Market, record: _Order, status: str, emitted: list[Emitted]) -> None:
        record.status = status
        record.queue_ahead = None
        market.resting.pop(record.client_order_id, None)
        if status == _CANCELLED:
            self._cancels += 1
        emitted.append((record.client_order_id, record.state()))
        self._forget_beyond_retention(record.client_order_id)

    def _forget_beyond_retention(self, client_order_id: str) -> None:
        """Record that ``client_order_id`` finished; forget the oldest finished beyond the bound."""
        finished = self._finished
        finished.append(client_order_id)
        while len(finished) > self._retain:
            oldest = finished.popleft()
            del self._answers[oldest]
            record = self._orders.pop(oldest, None)
            if record is not None:
                del self._by_order_id[record.order_id]

    def _problem(self, order: SubmitOrder) -> str | None:
        """The reason Coinbase would reject ``order`` with, or ``None``; checks run in the
        order of :data:`REJECT_REASONS` (so a doubly wrong order gets the first reason)."""
        market = self._markets.get(order.product_id)
        if market is None:
            return INVALID_PRODUCT_ID
        if order.side not in _SIDES:  # a wire enum keeps unknown values as pseudo-members
            return INVALID_SIDE
        market_order = order.order_type is OrderType.MARKET
        if (market_order and order.limit_price is not None) or (
            order.post_only and (market_order or order.time_in_force is not TimeInForce.GTC)
        ):
            return UNSUPPORTED_ORDER_CONFIGURATION  # Coinbase has no such configuration
        rules = market.rules
        size = order.size
        if not _positive(size) or size < rules.base_min_size:
            return INVALID_BASE_SIZE_TOO_SMALL
        if size > rules.base_max_size:
            return INVALID_BASE_SIZE_TOO_LARGE
        if not _on_grid(size, rules.base_increment):
            return INVALID_SIZE_PRECISION
        if market_order:
            return None
        limit = order.limit_price
        if limit is None or not _positive(limit):
            return INVALID_LIMIT_PRICE
        if not _on_grid(limit, rules.price_increment):
            return INVALID_PRICE_PRECISION
        if _EXACT.multiply(size, limit) < rules.quote_min_size:
            return INVALID_QUOTE_SIZE_TOO_SMALL
        if order.post_only and market.available(asks=order.side == Side.BUY, limit=limit):
            return INVALID_LIMIT_PRICE_POST_ONLY
        return None


def _venue_order(record: _Order) -> VenueOrder:
    return VenueOrder(
        client_order_id=record.client_order_id,
        product_id=record.product_id,
        state=record.state(from_lookup=True),
    )
