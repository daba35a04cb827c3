"""A latency histogram with fixed buckets, observed in seconds of trio's clock.

Why not ``prometheus_client.Histogram``: that one lives in a process-wide registry and is
updated from anywhere, with a lock. Here the measuring code (a venue wrapper, say) owns a
plain object, the ops endpoint only reads :meth:`LatencyHistogram.snapshot` at scrape time,
and everything happens on the one trio thread, so there is nothing to lock and nothing
global. The buckets are fixed at construction so the exposed series never change shape.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import final

import attrs

from .errors import InvalidSpec

__all__ = ["DEFAULT_BUCKETS", "TICK_TO_TRADE_BUCKETS", "HistogramSnapshot", "LatencyHistogram"]

#: Upper bounds in seconds: from a loopback round trip (about a millisecond) to a request
#: that spent its whole timeout (ten seconds) waiting.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


#: Upper bounds in seconds for tick-to-trade (a frame's arrival to the order request leaving
#: the executor): in-process work, so from 25 microseconds to a second.
TICK_TO_TRADE_BUCKETS: tuple[float, ...] = (
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


@attrs.frozen(kw_only=True)
class HistogramSnapshot:
    """A histogram at one moment, as Prometheus exposes it.

    ``cumulative[i]`` counts the observations ``<= bounds[i]``; ``count`` counts them all
    (the ``+Inf`` bucket), ``total`` is their sum in seconds.
    """

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    total: float


@final
class LatencyHistogram:
    """Observed durations in fixed buckets.

    Args:
        bounds: the buckets' upper bounds in seconds: finite, positive, strictly increasing
            (``+Inf`` is implied).

    Raises:
        InvalidSpec: for malformed bounds.
    """

    __slots__ = ("_bounds", "_count", "_counts", "_total")

    def __init__(self, bounds: Sequence[float] = DEFAULT_BUCKETS) -> None:
        checked = tuple(bounds)
        if not checked or not all(
            isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b) and b > 0
            for b in checked
        ):
            raise InvalidSpec(
                f"histogram bounds: must be finite numbers of seconds > 0, got {bounds!r}"
            )
        if any(a >= b for a, b in itertools.pairwise(checked)):
            raise InvalidSpec(f"histogram bounds: must be strictly increasing, got {bounds!r}")
        self._bounds = tuple(float(b) for b in checked)
        self._counts = [0] * (len(checked) + 1)  # per bucket, the last one is (max, +Inf)
        self._count = 0
        self._total = 0.0

    def __repr__(self) -> str:
        return f"<LatencyHistogram count={self._count} sum={self._total:.6f}s>"

    def observe(self, seconds: float) -> None:
        """Count one duration (a difference of two readings of trio's clock).

        Raises:
            InvalidSpec: for a negative or non-finite duration (a clock mix-up: two readings
                of one monotonic clock cannot give one).
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise InvalidSpec(f"a latency must be a finite duration >= 0 s, got {seconds!r}")
        self._counts[bisect.bisect_left(self._bounds, seconds)] += 1
        self._count += 1
        self._total += seconds

    def snapshot(self) -> HistogramSnapshot:
        """The counts so far (a copy: later observations do not change it)."""
        cumulative: list[int] = []
        running = 0
        for count in self._counts[:-1]:
            running += count
            cumulative.append(running)
        return HistogramSnapshot(
            bounds=self._bounds, cumulative=tuple(cumulative), count=self._count, total=self._total
        )
