"""A level-2 order book for one product: integer ticks, the best price kept incrementally, and
an explicit trust state.

Why this shape:

* **Integer ticks and units.** Prices are stored as ``price / price_increment`` and sizes as
  ``size / size_increment``, exact integers: hashing and comparing ints is many times cheaper
  than ``Decimal``, and a price that is not on the product's grid is caught (and named) at the
  edge instead of creating a phantom level. ``Decimal`` comes back only in queries.
* **Best price without scanning.** Each side keeps a dict ``tick -> units`` and a sorted list
  of its keys arranged so that the best level is *last* (bids by tick, offers by ``-tick``).
  The best price is ``keys[-1]``; deleting the best level is ``keys.pop()``; the next best is
  simply the new last element; ``top(n)`` is a slice. Because activity clusters at the touch,
  ``bisect.insort`` mostly moves only a few pointers. Never ``max()``/``min()`` per query (63 µs
  at 2,400 levels, ``reference/perf-limits.md`` §3). A lazy-deletion heap was measured as an
  alternative: about 20% faster per level update, but it cannot give ``top(n)`` without a
  scan, and the view needs top-N on every frame.
* **Trust as a state machine.** :class:`TrustState` ``EMPTY`` -> ``TRUSTED`` (a snapshot that is
  not crossed) -> ``UNTRUSTED`` with a :class:`TrustReason` (gap, crossed, reconnect, stale,
  malformed) -> ``TRUSTED`` again only on the next snapshot. Every move goes through one
  transition table, :data:`TRANSITIONS`; a move it does not list raises
  :class:`IllegalTransition`. Updates while untrusted are still applied (so the book is as good
  as it can be), but only a snapshot restores trust. The first reason is kept until then: it is
  the root cause.
* **No object per level.** Levels are tuples; the only attrs value is the per-frame conflated
  :class:`BookView` built by :meth:`L2Book.view`.

A book is locked or crossed when ``best bid >= best ask``: the exchange's matching engine never
leaves such a book, so it means our copy is wrong. It is checked once per snapshot and once per
:meth:`L2Book.apply_updates` call, never between the levels of one frame (a frame may pass
through a transiently crossed state while it is applied).

This module is pure and synchronous: times (``now``) are passed in by the caller (trio's clock).
"""

from __future__ import annotations

import decimal
import enum
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final, TypeAlias

import attrs

from .errors import CjtError
from .exchange.l2ticks import L2TickEvent, TickLevel
from .exchange.stream import L2Event, L2Level

__all__ = [
    "TRANSITIONS",
    "BookCounters",
    "BookError",
    "BookView",
    "IllegalTransition",
    "L2Book",
    "OffGridValue",
    "TickLevel",
    "TrustEvent",
    "TrustReason",
    "TrustState",
]

#: A price and the size resting there.
PriceSize: TypeAlias = tuple[Decimal, Decimal]

# Wide enough for any value the stream lets through (|x| < 1e30) over any sane increment.
_EXACT: Final = decimal.Context(prec=80, traps=[decimal.InvalidOperation, decimal.Overflow])
_PRICE_CACHE_SIZE: Final = 4096
_TWO: Final = Decimal(2)
_BPS: Final = Decimal(10_000)


class BookError(CjtError):
    """The book refused an input or a move."""


class OffGridValue(BookError, ValueError):
    """A price or size is not a non-negative multiple of the product's increment."""


class IllegalTransition(BookError):
    """The trust state machine was asked for a move its table does not allow."""


class TrustState(enum.Enum):
    """Whether the book can be relied upon."""

    EMPTY = "empty"  # no snapshot yet (or cleared)
    TRUSTED = "trusted"  # in sync since the last snapshot
    UNTRUSTED = "untrusted"  # possibly out of sync; waits for a snapshot


class TrustReason(enum.Enum):
    """Why a book is untrusted."""

    GAP = "gap"  # frames were lost (sequence gap)
    CROSSED = "crossed"  # best bid >= best ask
    RECONNECT = "reconnect"  # the connection was lost; a new snapshot is coming
    STALE = "stale"  # no update for too long
    MALFORMED = "malformed"  # a frame for this book could not be decoded or applied


class TrustEvent(enum.Enum):
    """What happens to a book, as the trust state machine sees it."""

    SNAPSHOT = "snapshot"
    UPDATE = "update"
    CROSSED = "crossed"
    GAP = "gap"
    RECONNECT = "reconnect"
    STALE = "stale"
    MALFORMED = "malformed"
    RESET = "reset"


_EVENT_REASON: Final[Mapping[TrustEvent, TrustReason]] = {
    TrustEvent.CROSSED: TrustReason.CROSSED,
    TrustEvent.GAP: TrustReason.GAP,
    TrustEvent.RECONNECT: TrustReason.RECONNECT,
    TrustEvent.STALE: TrustReason.STALE,
    TrustEvent.MALFORMED: TrustReason.MALFORMED,
}
_REASON_EVENT: Final[Mapping[TrustReason, TrustEvent]] = {r: e for e, r in _EVENT_REASON.items()}
_REASON_COUNTER: Final[Mapping[TrustReason, str]] = {
    TrustReason.GAP: "gaps",
    TrustReason.CROSSED: "crossed",
    TrustReason.RECONNECT: "reconnects",
    TrustReason.STALE: "stale",
    TrustReason.MALFORMED: "malformed",
}

_E, _T, _U = TrustState.EMPTY, TrustState.TRUSTED, TrustState.UNTRUSTED

#: (state, event) -> next state. Anything missing is illegal: an update before any snapshot
#: (there is nothing to update) and "crossed" on an empty book (it cannot be).
#: Losing data before the first snapshot leaves the book EMPTY: there is nothing to distrust.
TRANSITIONS: Final[Mapping[tuple[TrustState, TrustEvent], TrustState]] = {
    (_E, TrustEvent.SNAPSHOT): _T,
    (_E, TrustEvent.GAP): _E,
    (_E, TrustEvent.RECONNECT): _E,
    (_E, TrustEvent.STALE): _E,
    (_E, TrustEvent.MALFORMED): _E,
    (_E, TrustEvent.RESET): _E,
    (_T, TrustEvent.SNAPSHOT): _T,
    (_T, TrustEvent.UPDATE): _T,
    (_T, TrustEvent.CROSSED): _U,
    (_T, TrustEvent.GAP): _U,
    (_T, TrustEvent.RECONNECT): _U,
    (_T, TrustEvent.STALE): _U,
    (_T, TrustEvent.MALFORMED): _U,
    (_T, TrustEvent.RESET): _E,
    (_U, TrustEvent.SNAPSHOT): _T,
    (_U, TrustEvent.UPDATE): _U,
    (_U, TrustEvent.CROSSED): _U,
    (_U, TrustEvent.GAP): _U,
    (_U, TrustEvent.RECONNECT): _U,
    (_U, TrustEvent.STALE): _U,
    (_U, TrustEvent.MALFORMED): _U,
    (_U, TrustEvent.RESET): _E,
}


@attrs.frozen(kw_only=True)
class BookCounters:
    """What happened to one book since it was created (for metrics and health checks)."""

    snapshots: int
    update_frames: int
    levels_applied: int
    untrusted_update_frames: int
    unknown_deletes: int
    gaps: int
    reconnects: int
    stale: int
    malformed: int
    crossed: int
    trades: int


@attrs.frozen(kw_only=True)
class BookView:
    """A conflated, immutable picture of one book, for strategy and risk.

    ``bids`` and ``asks`` are the top levels, best first. ``mid`` and ``spread`` are ``None``
    unless both sides have a level. ``updated_at`` is the caller's clock at the last snapshot or
    update (``None`` before any), ``as_of`` when the view was taken; ``sequence`` counts the
    snapshots and update frames applied, so a consumer can tell whether anything changed.
    """

    product_id: str
    best_bid: Decimal | None
    best_bid_size: Decimal | None
    best_ask: Decimal | None
    best_ask_size: Decimal | None
    mid: Decimal | None
    spread: Decimal | None
    bids: tuple[PriceSize, ...]
    asks: tuple[PriceSize, ...]
    last_trade_price: Decimal | None
    last_trade_size: Decimal | None
    trusted: bool
    trust_reason: TrustReason | None
    updated_at: float | None
    as_of: float
    sequence: int

    @property
    def age(self) -> float | None:
        """Seconds between the last change and the moment the view was taken."""
        return None if self.updated_at is None else self.as_of - self.updated_at


def _check_increment(name: str, value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise BookError(f"{name} must be a positive, finite Decimal, got {value!r}")
    return value


class L2Book:
    """The level-2 book of one product (see the module docstring for the design).

    Args:
        product_id: e.g. ``"BTC-USD"``; events for another product are refused.
        price_increment: the product's price tick (``quote_increment``), e.g. ``Decimal("0.01")``.
        size_increment: the product's size step (``base_increment``).

    Raises:
        BookError: an increment is not a positive, finite Decimal.
    """

    __slots__ = (
        "_ask_keys",
        "_ask_sizes",
        "_bid_keys",
        "_bid_sizes",
        "_counts",
        "_last_trade",
        "_last_update_time",
        "_levels_applied",
        "_prices",
        "_reason",
        "_sequence",
        "_sizes",
        "_snapshots",
        "_state",
        "_unknown_deletes",
        "price_increment",
        "product_id",
        "size_increment",
    )

    def __init__(self, product_id: str, price_increment: Decimal, size_increment: Decimal) -> None:
        self.product_id = product_id
        self.price_increment = _check_increment("price_increment", price_increment)
        self.size_increment = _check_increment("size_increment", size_increment)
        self._bid_sizes: dict[int, int] = {}
        self._ask_sizes: dict[int, int] = {}
        self._bid_keys: list[int] = []  # ascending ticks: best bid last
        self._ask_keys: list[int] = []  # ascending -ticks: best ask last
        self._state = TrustState.EMPTY
        self._reason: TrustReason | None = None
        self._last_update_time: float | None = None
        self._last_trade: PriceSize | None = None
        self._prices: dict[int, Decimal] = {}
        self._sizes: dict[int, Decimal] = {}
        self._sequence = 0
        self._snapshots = 0
        self._levels_applied = 0
        self._unknown_deletes = 0
        self._counts: dict[str, int] = dict.fromkeys(
            ("untrusted_update_frames", "gaps", "reconnects", "stale", "malformed", "crossed"), 0
        )
        self._counts["trades"] = 0

    def __repr__(self) -> str:
        reason = f" ({self._reason.value})" if self._reason is not None else ""
        return (
            f"<L2Book {self.product_id} {self._state.value}{reason}: "
            f"{len(self._bid_sizes)} bids, {len(self._ask_sizes)} asks>"
        )

    # -- conversions ----------------------------------------------------------------------

    def to_ticks(self, price: Decimal) -> int:
        """``price`` in ticks. Raises :class:`OffGridValue` naming it when off the grid."""
        return self._steps(price, self.price_increment, "price")

    def to_units(self, size: Decimal) -> int:
        """``size`` in units of ``size_increment``; :class:`OffGridValue` when off the grid."""
        return self._steps(size, self.size_increment, "size")

    def price_of(self, ticks: int) -> Decimal:
        """The price of ``ticks`` (cached: prices near the touch repeat frame after frame)."""
        cache = self._prices
        price = cache.get(ticks)
        if price is None:
            if len(cache) >= _PRICE_CACHE_SIZE:
                cache.clear()
            price = cache[ticks] = _EXACT.multiply(self.price_increment, ticks)
        return price

    def size_of(self, units: int) -> Decimal:
        """The size of ``units`` (cached: the top levels' sizes repeat from view to view)."""
        cache = self._sizes
        size = cache.get(units)
        if size is None:
            if len(cache) >= _PRICE_CACHE_SIZE:
                cache.clear()
            size = cache[units] = _EXACT.multiply(self.size_increment, units)
        return size

    def _steps(self, value: Decimal, increment: Decimal, what: str) -> int:
        if not isinstance(value, Decimal) or not value.is_finite():
            raise OffGridValue(f"{self.product_id}: {what} {value!r} is not a finite Decimal")
        try:
            steps, rest = _EXACT.divmod(value, increment)
        except decimal.InvalidOperation:
            raise OffGridValue(
                f"{self.product_id}: {what} {value} is too large for the increment {increment}"
            ) from None
        if rest or steps < 0:
            raise OffGridValue(
                f"{self.product_id}: {what} {value} is not a non-negative multiple of "
                f"the increment {increment}"
            )
        return int(steps)

    def _convert(self, levels: Iterable[L2Level]) -> list[TickLevel]:
        converted: list[TickLevel] = []
        for side, price, size, _time in levels:
            if side == "bid":
                is_bid = True
            elif side == "offer":
                is_bid = False
            else:
                raise OffGridValue(
                    f"{self.product_id}: level side {side!r} is neither 'bid' nor 'offer'"
                )
            converted.append((is_bid, self.to_ticks(price), self.to_units(size)))
        return converted

    def _converted_or_distrust(self, levels: Iterable[L2Level]) -> list[TickLevel]:
        try:
            return self._convert(levels)
        except OffGridValue:
            self.distrust(TrustReason.MALFORMED)
            raise

    # -- applying data ----------------------------------------------------------------------

    def apply_event(self, event: L2Event, *, now: float) -> None:
        """Apply one ``l2_data`` event: a snapshot replaces the book, an update merges.

        Raises:
            BookError: the event is for another product (the book is left untouched).
            OffGridValue, IllegalTransition: as :meth:`apply_snapshot` / :meth:`apply_updates`.
        """
        if event.product_id != self.product_id:
            raise BookError(f"book {self.product_id} was given an event for {event.product_id!r}")
        if event.type == "snapshot":
            self.apply_snapshot(event.updates, now=now)
        else:
            self.apply_updates(event.updates, now=now)

    def apply_tick_event(self, event: L2TickEvent, *, now: float) -> None:
        """:meth:`apply_event` for an event decoded into ticks (the feed's hot path).

        Raises:
            BookError: the event is for another product (the book is left untouched).
            IllegalTransition: an update before any snapshot.
        """
        if event.product_id != self.product_id:
            raise BookError(f"book {self.product_id} was given an event for {event.product_id!r}")
        if event.type == "snapshot":
            self.apply_tick_snapshot(event.levels, now=now)
        else:
            self.apply_tick_updates(event.levels, now=now)

    def apply_snapshot(self, levels: Iterable[L2Level], *, now: float) -> None:
        """Replace the whole book; it becomes TRUSTED, or UNTRUSTED (CROSSED) if crossed.

        Raises:
            OffGridValue: a level is off the grid or has an unknown side; nothing is applied
                and the book is marked untrusted (MALFORMED) if it had been synced.
        """
        self.apply_tick_snapshot(self._converted_or_distrust(levels), now=now)

    def apply_updates(self, levels: Iterable[L2Level], *, now: float) -> None:
        """Merge one frame of changes (absolute sizes; 0 deletes the level).

        Raises:
            OffGridValue: as :meth:`apply_snapshot` (nothing of the frame is applied).
            IllegalTransition: no snapshot was applied yet.
        """
        self.apply_tick_updates(self._converted_or_distrust(levels), now=now)

    def apply_tick_snapshot(self, levels: Iterable[TickLevel], *, now: float) -> None:
        """:meth:`apply_snapshot` for levels already in ticks and units (validated by the caller)."""
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for is_bid, tick, units in levels:
            side = bids if is_bid else asks
            if units:
                side[tick] = units
            else:
                side.pop(tick, None)
        self._bid_sizes = bids
        self._ask_sizes = asks
        self._bid_keys = sorted(bids)
        self._ask_keys = sorted(-tick for tick in asks)
        self._move(TrustEvent.SNAPSHOT)
        self._snapshots += 1
        self._sequence += 1
        self._last_update_time = now
        if self.crossed():
            self._move(TrustEvent.CROSSED)

    def apply_tick_updates(self, levels: Iterable[TickLevel], *, now: float) -> None:
        """:meth:`apply_updates` for levels already in ticks and units: the hot path.

        Ticks and units are trusted to be non-negative integers (the feed converted them).

        Raises:
            IllegalTransition: no snapshot was applied yet.
        """
        if self._state is TrustState.EMPTY:
            raise IllegalTransition(
                f"book {self.product_id}: an update arrived before any snapshot"
            )
        bid_sizes = self._bid_sizes
        ask_sizes = self._ask_sizes
        bid_keys = self._bid_keys
        ask_keys = self._ask_keys
        applied = 0
        unknown = 0
        for is_bid, tick, units in levels:
            applied += 1
            if is_bid:
                sizes, keys, key = bid_sizes, bid_keys, tick
            else:
                sizes, keys, key = ask_sizes, ask_keys, -tick
            if units:
                if tick not in sizes:
                    insort(keys, key)
                sizes[tick] = units
            elif tick in sizes:
                del sizes[tick]
                if keys[-1] == key:
                    keys.pop()
                else:
                    del keys[bisect_left(keys, key)]
            else:
                unknown += 1
        self._levels_applied += applied
        if unknown:
            self._unknown_deletes += unknown
        self._sequence += 1
        self._last_update_time = now
        if self._state is TrustState.UNTRUSTED:
            self._counts["untrusted_update_frames"] += 1
        elif bid_keys and ask_keys and bid_keys[-1] >= -ask_keys[-1]:
            self._move(TrustEvent.CROSSED)

    def record_trade(self, price: Decimal, size: Decimal) -> None:
        """Remember the last public trade (shown in :meth:`view`)."""
        self._last_trade = (price, size)
        self._counts["trades"] += 1

    # -- trust ------------------------------------------------------------------------------

    def distrust(self, reason: TrustReason) -> None:
        """Mark the book untrusted until the next snapshot (a gap, reconnect, stale feed...).

        The first reason is kept while untrusted. An EMPTY book stays EMPTY, except that
        ``CROSSED`` on an empty book is illegal.
        """
        self._move(_REASON_EVENT[reason])

    def check_stale(self, now: float, max_age: float) -> bool:
        """Distrust (STALE) a trusted book not updated for more than ``max_age`` seconds.

        Returns whether this call marked it stale.
        """
        last = self._last_update_time
        if self._state is TrustState.TRUSTED and last is not None and now - last > max_age:
            self._move(TrustEvent.STALE)
            return True
        return False

    def clear(self) -> None:
        """Forget every level and go back to EMPTY (e.g. the product was unsubscribed)."""
        self._move(TrustEvent.RESET)
        self._bid_sizes, self._ask_sizes = {}, {}
        self._bid_keys, self._ask_keys = [], []

    def _move(self, event: TrustEvent) -> None:
        state = self._state
        try:
            target = TRANSITIONS[state, event]
        except KeyError:
            raise IllegalTransition(
                f"book {self.product_id}: {event.value!r} is not allowed in state {state.value!r}"
            ) from None
        reason = _EVENT_REASON.get(event)
        if reason is not None:
            self._counts[_REASON_COUNTER[reason]] += 1
        if target is TrustState.UNTRUSTED:
            if state is not TrustState.UNTRUSTED:
                self._reason = reason
        else:
            self._reason = None
        self._state = target

    @property
    def state(self) -> TrustState:
        """The trust state."""
        return self._state

    @property
    def trusted(self) -> bool:
        """Whether the book is in sync since its last snapshot."""
        return self._state is TrustState.TRUSTED

    @property
    def trust_reason(self) -> TrustReason | None:
        """Why the book is untrusted (the first reason since it was last trusted)."""
        return self._reason

    @property
    def last_update_time(self) -> float | None:
        """The caller's clock at the last snapshot or update frame (``None`` before any)."""
        return self._last_update_time

    @property
    def sequence(self) -> int:
        """How many snapshots and update frames were applied."""
        return self._sequence

    @property
    def counters(self) -> BookCounters:
        """The counters, as a value."""
        return BookCounters(
            snapshots=self._snapshots,
            update_frames=self._sequence - self._snapshots,
            levels_applied=self._levels_applied,
            unknown_deletes=self._unknown_deletes,
            **self._counts,
        )

    # -- queries ----------------------------------------------------------------------------

    def best_bid_ticks(self) -> tuple[int, int] | None:
        """The best bid as ``(ticks, units)``, or ``None`` when there is no bid."""
        keys = self._bid_keys
        if not keys:
            return None
        tick = keys[-1]
        return tick, self._bid_sizes[tick]

    def best_ask_ticks(self) -> tuple[int, int] | None:
        """The best ask as ``(ticks, units)``, or ``None`` when there is no offer."""
        keys = self._ask_keys
        if not keys:
            return None
        tick = -keys[-1]
        return tick, self._ask_sizes[tick]

    def best_bid(self) -> PriceSize | None:
        """The best bid ``(price, size)``, or ``None``."""
        best = self.best_bid_ticks()
        return None if best is None else (self.price_of(best[0]), self.size_of(best[1]))

    def best_ask(self) -> PriceSize | None:
        """The best ask ``(price, size)``, or ``None``."""
        best = self.best_ask_ticks()
        return None if best is None else (self.price_of(best[0]), self.size_of(best[1]))

    def mid(self) -> Decimal | None:
        """The mid price, or ``None`` unless both sides have a level (exact: half a tick at most)."""
        if not self._bid_keys or not self._ask_keys:
            return None
        return _EXACT.divide(self.price_of(self._bid_keys[-1] - self._ask_keys[-1]), _TWO)

    def spread(self) -> Decimal | None:
        """Best ask minus best bid, or ``None`` unless both sides have a level."""
        if not self._bid_keys or not self._ask_keys:
            return None
        return self.price_of(-self._ask_keys[-1] - self._bid_keys[-1])

    def crossed(self) -> bool:
        """Whether best bid >= best ask (locked counts as crossed)."""
        bids, asks = self._bid_keys, self._ask_keys
        return bool(bids) and bool(asks) and bids[-1] >= -asks[-1]

    def top_bids(self, n: int) -> tuple[PriceSize, ...]:
        """The ``n`` best bids, best first."""
        sizes, price_of, size_of = self._bid_sizes, self.price_of, self.size_of
        return tuple([(price_of(t), size_of(sizes[t])) for t in self._bid_keys[: -n - 1 : -1]])

    def top_asks(self, n: int) -> tuple[PriceSize, ...]:
        """The ``n`` best asks, best first."""
        sizes, price_of, size_of = self._ask_sizes, self.price_of, self.size_of
        return tuple([(price_of(-k), size_of(sizes[-k])) for k in self._ask_keys[: -n - 1 : -1]])

    def top(self, n: int) -> tuple[tuple[PriceSize, ...], tuple[PriceSize, ...]]:
        """``(top_bids(n), top_asks(n))``."""
        return self.top_bids(n), self.top_asks(n)

    def levels(self) -> tuple[dict[int, int], dict[int, int]]:
        """Copies of both sides as ``{ticks: units}`` (for tests and tools; O(n))."""
        return dict(self._bid_sizes), dict(self._ask_sizes)

    def depth_within(self, bps: Decimal | int) -> tuple[Decimal, Decimal] | None:
        """Total (bid size, ask size) priced within ``bps`` basis points of mid, or ``None``
        unless both sides have a level. Walks only the levels inside the band."""
        mid = self.mid()
        if mid is None:
            return None
        band = _EXACT.divide(_EXACT.multiply(mid, Decimal(bps)), _BPS)
        increment = self.price_increment
        # Bids at or above mid - band; asks at or below mid + band (ticks rounded inward).
        low_tick = int(
            _EXACT.divide(mid - band, increment).to_integral_value(decimal.ROUND_CEILING)
        )
        high_tick = int(_EXACT.divide(mid + band, increment).to_integral_value(decimal.ROUND_FLOOR))
        bid_keys, ask_keys = self._bid_keys, self._ask_keys
        bid_units = sum(self._bid_sizes[t] for t in bid_keys[bisect_left(bid_keys, low_tick) :])
        ask_units = sum(self._ask_sizes[-k] for k in ask_keys[bisect_left(ask_keys, -high_tick) :])
        return self.size_of(bid_units), self.size_of(ask_units)

    def view(self, depth: int = 5, *, now: float) -> BookView:
        """The conflated view (one attrs value; call it at most once per frame)."""
        bids = self.top_bids(depth)
        asks = self.top_asks(depth)
        best_bid = bids[0] if bids else self.best_bid()
        best_ask = asks[0] if asks else self.best_ask()
        last_trade = self._last_trade
        return BookView(
            product_id=self.product_id,
            best_bid=None if best_bid is None else best_bid[0],
            best_bid_size=None if best_bid is None else best_bid[1],
            best_ask=None if best_ask is None else best_ask[0],
            best_ask_size=None if best_ask is None else best_ask[1],
            mid=self.mid(),
            spread=self.spread(),
            bids=bids,
            asks=asks,
            last_trade_price=None if last_trade is None else last_trade[0],
            last_trade_size=None if last_trade is None else last_trade[1],
            trusted=self._state is TrustState.TRUSTED,
            trust_reason=self._reason,
            updated_at=self._last_update_time,
            as_of=now,
            sequence=self._sequence,
        )
