"""Resident memory over a soak: samples from ``/proc/self/statm``, and whether it grew.

Why RSS and not ``tracemalloc``: RSS is what the operator's machine pays for and what an
OOM killer judges, it includes memory outside Python's allocator (SQLite's page cache,
OpenSSL, trio-websocket buffers), and reading it costs one small file read, so sampling it
does not disturb what is measured. Linux only: elsewhere :func:`read_rss` says ``None`` and
the report says "unavailable".

What is measured is the whole process: the trading stack *and* the embedded simulator. The
simulator keeps every order and fill it has seen, as an exchange's history does (its
synthetic market places and cancels orders several times a second), so part of any growth
over a long soak is the simulator's, not the stack's: the report says so beside the figure.

Growth (:func:`rss_growth`): the median of the last quarter of the samples against the
median of the first quarter. Medians of quarters rather than first and last samples,
because start-up allocates (imports, caches, the first snapshots) and single samples
jitter with the garbage collector and the allocator's arenas.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path

import attrs

__all__ = ["MIB", "RssGrowth", "RssSample", "read_rss", "rss_growth"]

MIB = 1024 * 1024
_STATM = Path("/proc/self/statm")


@attrs.frozen(kw_only=True)
class RssSample:
    """The resident set size ``at`` seconds from the soak's start."""

    at: float
    rss: int  #: bytes


@attrs.frozen(kw_only=True)
class RssGrowth:
    """The last quarter's median RSS against the first quarter's."""

    first: float  #: bytes: median of the first quarter of the samples
    last: float  #: bytes: median of the last quarter
    per_quarter: int  #: samples in each quarter

    @property
    def bytes(self) -> float:
        return self.last - self.first

    @property
    def mib(self) -> float:
        return self.bytes / MIB

    @property
    def percent(self) -> float:
        return 100.0 * self.bytes / self.first


def read_rss(statm: Path = _STATM) -> int | None:
    """This process's resident set size in bytes, or ``None`` where ``statm`` is not there
    (not Linux) or cannot be read."""
    try:
        fields = statm.read_text().split()
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def rss_growth(samples: Sequence[RssSample]) -> RssGrowth | None:
    """Growth from the first quarter's median to the last quarter's, ``None`` with fewer
    than two samples. A quarter is ``len(samples) // 4`` samples, and at least one."""
    if len(samples) < 2:
        return None
    quarter = max(1, len(samples) // 4)
    first = statistics.median(s.rss for s in samples[:quarter])
    last = statistics.median(s.rss for s in samples[-quarter:])
    return RssGrowth(first=float(first), last=float(last), per_quarter=quarter)
