"""The paper venue: the executor's :class:`~cjt_actors.venue.Venue` for paper trading.

Why a thin async shell around :class:`~cjt_actors.paper.fills.FillModel`: the fill rules are
pure and tested on their own; what this class adds is what makes paper behave like a remote
venue to the executor, and nothing else:

* **Latency.** ``submit`` and ``cancel`` sleep ``latency`` (plus a uniform jitter in
  ``[0, latency_jitter)`` drawn from the injected ``random.Random``) on trio's clock, then
  act on the *latest* market the venue has observed by then. A fill or a cancel can therefore
  race a request, as at a real venue. ``lookup`` and ``open_orders`` answer at once (after a
  checkpoint): they read the venue's own records.
* **Reports.** Every fill and every final status snapshot becomes a
  :class:`~cjt_actors.venue.VenueReport` stamped with ``trio.current_time()``, in the order
  the model produced them, in a buffer this object owns. :meth:`PaperVenue.run` drains it
  into the executor's outbox.

Inputs and where they come from (the executor calls all of these):

* ``submit``/``cancel``/``lookup``/``open_orders``: the executor's requests.
* ``observe_book`` (conflated :class:`~cjt_actors.market_messages.BookUpdated` views) and
  ``observe_trades`` (every :class:`~cjt_actors.market_messages.TradesReceived` frame), which
  the executor forwards from the book (:class:`~cjt_actors.venue.MarketObserver`).

The report buffer: bounded by ``report_capacity``, overflow policy BLOCK. A step (a submit,
a cancel, a view, a trades frame) first waits until the buffer is below capacity, then acts
and appends *all* its reports at once, synchronously. So the reports of one step are never
split, interleaved with another step's, or lost to a cancellation between the model moving
and the reports being queued; the buffer holds at most ``report_capacity - 1`` plus one
step's reports. When nobody drains it (between executor incarnations) it fills up and the
next step waits: backpressure reaches the executor's market forwarding, never a dropped fill.

Lifetime: the application owns the venue and it outlives executor restarts, so orders,
fills and undelivered reports persist across them. :meth:`PaperVenue.run` is started by each
executor incarnation (and by the emergency step); a report leaves the buffer only once the
outbox took it, so a run cancelled mid-send loses nothing and the next run delivers it first.
Only one run delivers at a time: a new run takes over from one still going, which then
returns (there is one executor, so that only happens while the old one is being torn down).
"""

from __future__ import annotations

import collections
import random
from collections.abc import Mapping, Sequence

import attrs
import trio

from ..channels import Outbox
from ..errors import InvalidSpec
from ..market_messages import BookUpdated, TradesReceived
from ..order_messages import SubmitOrder
from ..products import ProductRules
from ..venue import CancelOutcome, SubmitOutcome, VenueOrder, VenueReport, VenueSignal
from .fills import Emitted, FillModel, PaperConfig, PaperStatistics

__all__ = ["PaperVenue"]

_DEFAULT_CONFIG = PaperConfig()


@attrs.define(eq=False)
class _Delivery:
    """The run currently delivering reports: its scope (to take over) and when it ended."""

    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    finished: trio.Event = attrs.field(factory=trio.Event)


class PaperVenue:
    """Fills orders against the observed market (see the module docstring).

    Args:
        products: the rules of every tradable product, by ``product_id``.
        config: fees, latency and the queue model.
        rng: where the latency jitter comes from (required when ``latency_jitter > 0``, so a
            seed fixes the whole run).
        name: the venue's name in logs, metrics and the journal.
        report_capacity: how many reports may wait for the executor before steps block.

    Raises:
        InvalidSpec: a malformed argument, named.
    """

    def __init__(
        self,
        products: Mapping[str, ProductRules],
        config: PaperConfig = _DEFAULT_CONFIG,
        *,
        rng: random.Random | None = None,
        name: str = "paper",
        report_capacity: int = 4096,
    ) -> None:
        if not isinstance(config, PaperConfig):
            raise InvalidSpec(f"PaperVenue: config must be a PaperConfig, got {config!r}")
        if not name:
            raise InvalidSpec("PaperVenue: name must not be empty")
        if (
            isinstance(report_capacity, bool)
            or not isinstance(report_capacity, int)
            or report_capacity < 1
        ):
            raise InvalidSpec(
                f"PaperVenue: report_capacity must be an integer >= 1, got {report_capacity!r}"
            )
        if config.latency_jitter > 0 and rng is None:
            raise InvalidSpec(
                "PaperVenue: latency_jitter > 0 needs an rng (a seeded random.Random)"
            )
        self._model = FillModel(products, config)
        self._config = config
        self._rng = rng
        self._name = name
        self._capacity = report_capacity
        self._pending: collections.deque[VenueReport] = collections.deque()
        self._arrived = trio.lowlevel.ParkingLot()  # run() waits here for reports
        self._space = trio.lowlevel.ParkingLot()  # steps wait here for room in the buffer
        self._delivery: _Delivery | None = None

    def __repr__(self) -> str:
        return (
            f"<PaperVenue {self._name!r} orders={self._model.statistics().orders} "
            f"pending_reports={len(self._pending)}>"
        )

    @property
    def name(self) -> str:
        """The venue's name (``paper`` by default)."""
        return self._name

    @property
    def config(self) -> PaperConfig:
        """The configuration it was made with."""
        return self._config

    # -- the report channel ---------------------------------------------------------------

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver every report into ``reports``, oldest first, until cancelled.

        Ready (``task_status.started()``) once it is the one delivering. Returns early only
        when a newer run took over. An error from ``reports`` propagates; the report that
        could not be sent stays first in line for the next run.
        """
        while self._delivery is not None:
            previous = self._delivery
            previous.scope.cancel(reason="a newer PaperVenue.run took over")
            await previous.finished.wait()
        delivery = self._delivery = _Delivery()
        try:
            with delivery.scope:
                task_status.started()
                await self._deliver(reports)
        finally:
            # A newer run waits for `finished` before it claims `_delivery`: this is still ours.
            self._delivery = None
            delivery.finished.set()

    async def _deliver(self, reports: Outbox[VenueSignal]) -> None:
        pending = self._pending
        while True:
            while not pending:
                await self._arrived.park()
            # A trio send that raises (cancelled, broken) did not send: keep the report.
            await reports.send(pending[0])
            pending.popleft()
            self._space.unpark_all()

    async def _room(self) -> None:
        """Checkpoint, then wait until the buffer is below capacity (BLOCK policy)."""
        await trio.lowlevel.checkpoint()
        while len(self._pending) >= self._capacity:
            await self._space.park()

    def _queue(self, emitted: Sequence[Emitted]) -> None:
        if not emitted:
            return
        now = trio.current_time()
        self._pending.extend(
            VenueReport(client_order_id=client_order_id, event=event, at=now)
            for client_order_id, event in emitted
        )
        self._arrived.unpark_all()

    def _latency(self) -> float:
        jitter = self._config.latency_jitter
        if jitter > 0:
            assert self._rng is not None, "checked in __init__"
            return self._config.latency + self._rng.random() * jitter
        return self._config.latency

    # -- requests -------------------------------------------------------------------------

    async def submit(self, order: SubmitOrder) -> SubmitOutcome:
        """Place ``order`` after the latency; a repeated ``client_order_id`` answers what the
        first request answered and makes no second order."""
        await trio.sleep(self._latency())
        await self._room()
        outcome, emitted = self._model.submit(order)
        self._queue(emitted)
        return outcome

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        """Cancel a working order after the latency (it may fill meanwhile)."""
        await trio.sleep(self._latency())
        await self._room()
        outcome, emitted = self._model.cancel(client_order_id, order_id)
        self._queue(emitted)
        return outcome

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        """The venue's record of an accepted order (``from_lookup`` set), or ``None``."""
        await trio.lowlevel.checkpoint()
        return self._model.lookup(client_order_id)

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        """Every resting order, oldest first."""
        await trio.lowlevel.checkpoint()
        return self._model.open_orders()

    # -- market data ----------------------------------------------------------------------

    async def observe_book(self, update: BookUpdated) -> None:
        """Take a product's latest view (it may fill resting orders it crosses)."""
        await self._room()
        self._queue(self._model.observe_book(update.view))

    async def observe_trades(self, trades: TradesReceived) -> None:
        """Let a frame of public trades reach the resting orders they would have hit."""
        await self._room()
        self._queue(self._model.observe_trades(trades))

    def statistics(self) -> PaperStatistics:
        """Counters since the venue was made, and the reports waiting for the executor."""
        return attrs.evolve(self._model.statistics(), pending_reports=len(self._pending))
