"""A venue wrapper that times every order request: the measurable part of tick-to-trade.

Why a wrapper: the executor's core calls the venue and nothing else sits between them, so
timing the calls here measures exactly the request round trip (the REST call to Coinbase
or the simulator, the paper venue's modelled latency) without touching the executor. Only
calls that *return* are observed: a cancelled call has no duration, and a venue raising is
a bug (see :mod:`cjt_actors.venue`), not a latency.

Both readings come from trio's clock inside one call, so the difference is a real duration.
(The time from the market-data frame that triggered a decision to the order going out is
not measured here: no message carries the frame's time that far.)

Wire it where the core is made: ``ExecutionCore(timed_venue(venue), journal)``; the
:class:`~cjt_actors.paper.venue.PaperVenue` stays the executor's market observer, the
wrapper only sees order requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import trio

from ..channels import Outbox
from ..latency import HistogramSnapshot, LatencyHistogram
from ..order_messages import SubmitOrder
from ..venue import (
    BatchCancelling,
    CancelOutcome,
    FillSettling,
    SubmitOutcome,
    Venue,
    VenueOrder,
    VenueSignal,
)

__all__ = ["TimedVenue", "timed_venue"]


class TimedVenue:
    """A :class:`~cjt_actors.venue.Venue` that delegates everything and times the requests.

    ``submit`` and ``cancel`` are timed (``lookup`` and ``open_orders`` are bookkeeping,
    not the order path). Use :func:`timed_venue`, which keeps batch cancelling available.
    """

    def __init__(self, venue: Venue) -> None:
        self.inner = venue
        self._histograms = {"submit": LatencyHistogram(), "cancel": LatencyHistogram()}

    def __repr__(self) -> str:
        return f"<TimedVenue {self.inner!r}>"

    @property
    def name(self) -> str:
        """The wrapped venue's name (the journal and the metrics label use it)."""
        return self.inner.name

    def latencies(self) -> Mapping[str, HistogramSnapshot]:
        """Per request kind (``submit``, ``cancel``, ``cancel_batch`` if batching)."""
        return {kind: histogram.snapshot() for kind, histogram in self._histograms.items()}

    def _observe(self, kind: str, started: float) -> None:
        self._histograms[kind].observe(trio.current_time() - started)

    async def settle(self, reports: Outbox[VenueSignal]) -> None:
        """The wrapped venue's :meth:`~cjt_actors.venue.FillSettling.settle`, if it has one
        (nothing to read otherwise: a paper venue's fills are never late)."""
        if isinstance(self.inner, FillSettling):
            await self.inner.settle(reports)

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.inner.run(reports, task_status=task_status)

    async def submit(self, order: SubmitOrder) -> SubmitOutcome:
        started = trio.current_time()
        outcome = await self.inner.submit(order)
        self._observe("submit", started)
        return outcome

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        started = trio.current_time()
        outcome = await self.inner.cancel(client_order_id, order_id)
        self._observe("cancel", started)
        return outcome

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        return await self.inner.lookup(client_order_id)

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        return await self.inner.open_orders()


class _TimedBatchVenue(TimedVenue):
    """The wrapper of a :class:`~cjt_actors.venue.BatchCancelling` venue (a separate class:
    the executor asks ``isinstance(venue, BatchCancelling)``, which must stay truthful)."""

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue)
        self._histograms["cancel_batch"] = LatencyHistogram()

    async def cancel_batch(self, orders: Sequence[tuple[str, str]]) -> tuple[CancelOutcome, ...]:
        assert isinstance(self.inner, BatchCancelling)
        started = trio.current_time()
        outcomes = await self.inner.cancel_batch(orders)
        self._observe("cancel_batch", started)
        return outcomes


def timed_venue(venue: Venue) -> TimedVenue:
    """``venue`` with its order requests timed; batch-cancelling if ``venue`` is."""
    if isinstance(venue, BatchCancelling):
        return _TimedBatchVenue(venue)
    return TimedVenue(venue)
