"""OHLCV bars built from public trades, with a bounded history strategies can read.

Why a module of its own: price history is what momentum-style strategies consume, and it must
not depend on the book or on trio. A :class:`BarBuilder` is fed trades (price, size, time in
seconds) and, when a trade or a :meth:`BarBuilder.tick` call crosses into a later interval,
hands back the bars it completed; :class:`MultiBarBuilder` does the same for several intervals
at once (1 s and 60 s, say).

Decisions, stated once:

* **Alignment.** A bar covers ``[start, start + interval)`` with ``start`` a multiple of the
  interval (whole seconds since the epoch of whatever clock the times come from).
* **Empty intervals produce no bar.** A bar is evidence of trading; carrying the last close
  forward would invent bars with zero volume that look like data. A strategy that needs a
  regular series sees the holes in the ``start`` times and can fill them itself.
* **Late trades.** A trade older than the open bar (or, with no open bar, than the end of the
  last completed one) is dropped and counted (:attr:`BarBuilder.late_trades`): a bar already
  handed out cannot change, and bars are only ever emitted in time order. Inside the open bar,
  order of arrival does not matter: ``open`` is the earliest trade by time (first arrival on a
  tie), ``close`` the latest (last arrival on a tie).
* **Money is Decimal.** Prices and sizes are added and compared as given, never as floats.
* **Bounded memory.** Completed bars go into a ``deque(maxlen=history)``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from decimal import Decimal

import attrs

from .errors import CjtError, InvalidSpec

__all__ = ["Bar", "BarBuilder", "InvalidTrade", "MultiBarBuilder"]


class InvalidTrade(CjtError, ValueError):
    """A trade cannot go into a bar: a non-positive or non-finite price or size, or a bad time."""


@attrs.frozen(kw_only=True)
class Bar:
    """One interval of trading: ``[start, start + interval)`` in seconds."""

    start: int
    interval: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trade_count: int

    @property
    def end(self) -> int:
        """The first second after the bar."""
        return self.start + self.interval


class _OpenBar:
    """The bar being built: mutable, private, one per builder."""

    __slots__ = (
        "close",
        "close_time",
        "high",
        "low",
        "open",
        "open_time",
        "start",
        "trade_count",
        "volume",
    )

    def __init__(self, start: int, price: Decimal, size: Decimal, time: float) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.open_time = self.close_time = time
        self.volume = size
        self.trade_count = 1

    def add(self, price: Decimal, size: Decimal, time: float) -> None:
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        if time < self.open_time:
            self.open, self.open_time = price, time
        if time >= self.close_time:
            self.close, self.close_time = price, time
        self.volume += size
        self.trade_count += 1

    def freeze(self, interval: int) -> Bar:
        return Bar(
            start=self.start,
            interval=interval,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            trade_count=self.trade_count,
        )


class BarBuilder:
    """Builds bars of one interval from trades and keeps the last ``history`` of them.

    Args:
        interval_seconds: the bar length, a positive whole number of seconds.
        history: how many completed bars to keep (oldest dropped first).

    Raises:
        InvalidSpec: an argument is not a positive integer.
    """

    __slots__ = ("_bars", "_closed_until", "_current", "interval", "late_trades")

    def __init__(self, interval_seconds: int, *, history: int = 1000) -> None:
        for name, value in (("interval_seconds", interval_seconds), ("history", history)):
            if type(value) is not int or value <= 0:
                raise InvalidSpec(f"BarBuilder {name} must be a positive integer, got {value!r}")
        self.interval = interval_seconds
        self._bars: deque[Bar] = deque(maxlen=history)
        self._current: _OpenBar | None = None
        self._closed_until: int | None = None  # end of the last completed interval
        self.late_trades = 0

    def __repr__(self) -> str:
        return f"<BarBuilder {self.interval}s: {len(self._bars)} bars, {self.late_trades} late>"

    def align(self, time: float) -> int:
        """The start of the interval ``time`` falls in (``//`` floors exactly, where
        ``floor(time / interval)`` can round a tiny negative time up to 0)."""
        return int(time // self.interval) * self.interval

    def add_trade(self, price: Decimal, size: Decimal, time: float) -> list[Bar]:
        """Add one trade; returns the bars it completed (empty, or the one it closed).

        Raises:
            InvalidTrade: the price or size is not a positive finite Decimal, or the time is not
                finite. Nothing changes.
        """
        if not (isinstance(price, Decimal) and price.is_finite() and price > 0) or not (
            isinstance(size, Decimal) and size.is_finite() and size > 0
        ):
            raise InvalidTrade(f"trade price {price!r} and size {size!r} must be positive Decimals")
        if not math.isfinite(time):
            raise InvalidTrade(f"trade time {time!r} is not finite")
        start = self.align(time)
        current = self._current
        if current is not None:
            if start == current.start:
                current.add(price, size, time)
                return []
            if start < current.start:
                self.late_trades += 1
                return []
        elif self._closed_until is not None and start < self._closed_until:
            self.late_trades += 1
            return []
        completed = self._complete()
        self._current = _OpenBar(start, price, size, time)
        return completed

    def add_trades(self, trades: Iterable[tuple[Decimal, Decimal, float]]) -> list[Bar]:
        """Add ``(price, size, time)`` trades in order; returns every bar they completed."""
        completed: list[Bar] = []
        for price, size, time in trades:
            completed += self.add_trade(price, size, time)
        return completed

    def tick(self, now: float) -> list[Bar]:
        """Complete the open bar if ``now`` is past its end (call it on a timer, so a quiet
        market still closes its last bar); returns the bar completed, if any."""
        current = self._current
        if current is not None and now >= current.start + self.interval:
            return self._complete()
        return []

    def _complete(self) -> list[Bar]:
        current = self._current
        if current is None:
            return []
        bar = current.freeze(self.interval)
        self._bars.append(bar)
        self._closed_until = bar.end
        self._current = None
        return [bar]

    @property
    def bars(self) -> tuple[Bar, ...]:
        """The completed bars kept, oldest first."""
        return tuple(self._bars)

    def last(self, n: int) -> tuple[Bar, ...]:
        """The ``n`` most recent completed bars, oldest first."""
        if n <= 0:
            return ()
        bars = self._bars
        return tuple(bars[i] for i in range(max(0, len(bars) - n), len(bars)))

    @property
    def current(self) -> Bar | None:
        """The bar still being built (as a value), or ``None``."""
        current = self._current
        return None if current is None else current.freeze(self.interval)


class MultiBarBuilder:
    """One :class:`BarBuilder` per interval, fed the same trades.

    Raises:
        InvalidSpec: no interval, a repeated one, or a bad interval or history.
    """

    __slots__ = ("_builders",)

    def __init__(self, intervals_seconds: Iterable[int], *, history: int = 1000) -> None:
        intervals = list(intervals_seconds)
        if not intervals:
            raise InvalidSpec("MultiBarBuilder needs at least one interval")
        if len(set(intervals)) != len(intervals):
            raise InvalidSpec(f"MultiBarBuilder intervals repeat: {intervals!r}")
        self._builders = {
            interval: BarBuilder(interval, history=history) for interval in sorted(intervals)
        }

    @property
    def intervals(self) -> tuple[int, ...]:
        """The intervals, shortest first."""
        return tuple(self._builders)

    def builder(self, interval_seconds: int) -> BarBuilder:
        """The builder of one interval.

        Raises:
            KeyError: no builder has that interval (the message lists those that exist).
        """
        try:
            return self._builders[interval_seconds]
        except KeyError:
            raise KeyError(
                f"no {interval_seconds!r}s bars; intervals are {self.intervals!r}"
            ) from None

    def add_trade(self, price: Decimal, size: Decimal, time: float) -> list[Bar]:
        """Add one trade to every interval; returns the bars completed, shortest interval first.

        Raises:
            InvalidTrade: as :meth:`BarBuilder.add_trade` (checked before any builder changes).
        """
        completed: list[Bar] = []
        for builder in self._builders.values():
            completed += builder.add_trade(price, size, time)
        return completed

    def tick(self, now: float) -> list[Bar]:
        """:meth:`BarBuilder.tick` on every interval."""
        completed: list[Bar] = []
        for builder in self._builders.values():
            completed += builder.tick(now)
        return completed
