"""Recovery times, measured from the journal: how long the stack took to heal after a fault.

Two measures, each from facts the stack journals itself (trio's clock, like the soak's own
record of when it injected each fault, so the times are comparable within one process):

**Fault -> trusted book** (:func:`book_recoveries`). For each fault that hit the market data
(a WebSocket fault on the market endpoint, an exchange outage) and for each product: the
first :class:`~cjt_actors.market_messages.BookTrustChanged` that says the product's book is
*not* trusted, at or after the injection and before the next fault that could distrust the
book (the next market-data fault, or a crash of the executor, the book or the feed, which
restart the book under rest_for_one); then the next change that says it is trusted again.
The sample is the time from the injection to that trusted change. So:

* a fault that never made the book untrusted in its window (a stall resumed before the
  watchdog fired, malformed frames the decoder refused as a whole, a book already
  untrusted) is **not a sample**: it is counted as ``no_effect``;
* a book still untrusted when the journal ends is counted as ``unrecovered``;
* a later fault landing while the book is still untrusted makes the earlier sample
  longer, not a second sample (the later fault finds the book untrusted: no effect).

**Crash -> restarted actor** (:func:`restart_recoveries`): each
:class:`~cjt_actors.messages.ChildCrashed` to the next
:class:`~cjt_actors.messages.ChildStarted` of the same child of the same supervisor (any
crash, injected or not). It includes the supervisor's restart backoff and the time the
actor takes to become ready again (the executor reconciles with the venue first).

Percentiles are nearest-rank (:func:`percentile`): the p-th percentile of ``n`` sorted samples
is the one at rank ``ceil(p / 100 * n)``, always an observed value, so p99 of fewer than
100 samples is the maximum.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import attrs

from ..market_messages import BookTrustChanged
from ..messages import ChildCrashed, ChildStarted

__all__ = [
    "FaultMark",
    "Recovery",
    "book_recoveries",
    "percentile",
    "restart_counts",
    "restart_recoveries",
]


@attrs.frozen(kw_only=True)
class FaultMark:
    """A fault as the recovery measures need it: when it landed, what it can disturb."""

    at: float
    market_data: bool  #: it hit the market-data connection: a sample may start here
    distrusts_book: bool  #: it may distrust the book (ends the window of the fault before)


@attrs.frozen(kw_only=True)
class Recovery:
    """One measure's samples (seconds) and the faults that gave none."""

    samples: tuple[float, ...] = ()
    no_effect: int = 0  #: faults that never broke what this measure watches
    unrecovered: int = 0  #: broken, and not healed before the journal ended

    @property
    def count(self) -> int:
        return len(self.samples)

    def quantile(self, p: float) -> float | None:
        """The nearest-rank ``p``-th percentile, ``None`` without samples."""
        return percentile(self.samples, p) if self.samples else None

    @property
    def p50(self) -> float | None:
        return self.quantile(50)

    @property
    def p99(self) -> float | None:
        return self.quantile(99)

    @property
    def max(self) -> float | None:
        return max(self.samples, default=None)


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``.

    Raises:
        ValueError: no values, or ``p`` out of (0, 100].
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"p: must be in (0, 100], got {p!r}")
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[rank - 1]


def book_recoveries(
    faults: Sequence[FaultMark],
    changes: Sequence[BookTrustChanged],
    products: Sequence[str],
) -> Recovery:
    """Fault -> trusted book, per market-data fault and product (see the module docstring).

    ``faults`` and ``changes`` in time order (the journal's order for ``changes``).
    """
    samples: list[float] = []
    no_effect = unrecovered = 0
    distrusting = [f.at for f in faults if f.distrusts_book or f.market_data]
    by_product: dict[str, list[BookTrustChanged]] = {p: [] for p in products}
    for change in changes:
        if change.product_id in by_product:
            by_product[change.product_id].append(change)
    for fault in faults:
        if not fault.market_data:
            continue
        window_end = min((at for at in distrusting if at > fault.at), default=math.inf)
        for product in products:
            history = by_product[product]
            lost = next(
                (
                    i
                    for i, c in enumerate(history)
                    if not c.trusted and fault.at <= c.at < window_end
                ),
                None,
            )
            if lost is None:
                no_effect += 1
                continue
            healed = next((c for c in history[lost + 1 :] if c.trusted), None)
            if healed is None:
                unrecovered += 1
            else:
                samples.append(healed.at - fault.at)
    return Recovery(samples=tuple(samples), no_effect=no_effect, unrecovered=unrecovered)


def restart_recoveries(events: Iterable[ChildCrashed | ChildStarted]) -> Recovery:
    """Crash -> restarted actor: each crash to the next start of that child (journal order)."""
    samples: list[float] = []
    crashed: dict[tuple[str, str], float] = {}
    for event in events:
        key = (event.supervisor, event.child)
        if isinstance(event, ChildCrashed):
            crashed.setdefault(key, event.at)  # crashed again before restarting: the first
        elif key in crashed:
            samples.append(event.at - crashed.pop(key))
    return Recovery(samples=tuple(samples), unrecovered=len(crashed))


def restart_counts(events: Iterable[ChildCrashed | ChildStarted]) -> Mapping[str, int]:
    """Restarts per child name: every start but each child's first (incarnation 0)."""
    counts: Counter[str] = Counter()
    for event in events:
        if isinstance(event, ChildStarted) and event.incarnation > 0:
            counts[event.child] += 1
    return dict(sorted(counts.items()))
