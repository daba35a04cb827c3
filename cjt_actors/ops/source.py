"""What the ops endpoint reads and steers: one narrow protocol, one immutable snapshot.

Why a snapshot and not a handful of getters: ``/metrics``, ``/readyz`` and ``/status``
each look at many actors at once, and should see them at *one* instant. Reading everything
into a frozen :class:`OpsSnapshot` in one synchronous call (no await, so no actor can run
in between) gives that, and it makes the server trivially testable: a fake source returns
a hand-made snapshot. The running pipeline's source is
:class:`~cjt_actors.ops.pipeline_source.PipelineOpsSource`.

Times are trio's clock (``now`` and every ``last_update``); ages are differences of the two.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from ..actors.book import BookActorStatus, BookStatus
from ..actors.feed import FeedStatus
from ..actors.risk import RiskStatus
from ..actors.store import StoreStatus
from ..actors.strategy import StrategyStatus
from ..channels import MailboxStatistics
from ..execution import ExecutionStatistics
from ..latency import HistogramSnapshot
from ..lifecycle import OrderState
from ..supervisor import ChildState

__all__ = [
    "ActorObservation",
    "LatencyObservation",
    "MailboxObservation",
    "OpsSnapshot",
    "OpsSource",
]


@attrs.frozen(kw_only=True)
class ActorObservation:
    """One supervised actor: its supervisor's view and when it last published a status.

    Publishing is the progress signal: every actor publishes after the work it does and on
    its own timer, so an old ``last_update`` means it is stuck, whatever its state says.
    """

    name: str
    state: ChildState
    restarts: int
    last_update: float | None  #: trio's clock at its last publish; ``None``: never


@attrs.frozen(kw_only=True)
class MailboxObservation:
    """One mailbox, the actor that reads it (``""`` if unknown) and its kind: ``queue`` (a
    :class:`~cjt_actors.channels.Mailbox`) or ``views`` (a conflating mailbox of book views).

    Name and kind identify a mailbox (the pipeline names the executor's trades queue and
    its views mailbox alike).
    """

    consumer: str
    kind: str
    statistics: MailboxStatistics


@attrs.frozen(kw_only=True)
class LatencyObservation:
    """Round trips of one kind of request to one venue."""

    venue: str
    request: str  #: ``submit``, ``cancel``, ``cancel_batch``
    histogram: HistogramSnapshot


@attrs.frozen(kw_only=True)
class OpsSnapshot:
    """Everything the endpoint shows, read at one instant. ``None``/empty: not published yet."""

    now: float
    products: tuple[str, ...]  #: the configured products (each needs a trusted book)
    actors: tuple[ActorObservation, ...]
    mailboxes: tuple[MailboxObservation, ...] = ()
    risk: RiskStatus | None = None
    execution: ExecutionStatistics | None = None
    orders_by_state: tuple[tuple[OrderState, int], ...] = ()  #: every order the executor knows
    feed: FeedStatus | None = None
    book: BookActorStatus | None = None
    books: tuple[BookStatus, ...] = ()
    strategies: tuple[StrategyStatus, ...] = ()
    store: StoreStatus | None = None
    latencies: tuple[LatencyObservation, ...] = ()
    tick_to_trade: HistogramSnapshot | None = None  #: frame arrival -> request leaving

    def book_of(self, product_id: str) -> BookStatus | None:
        """The book status of ``product_id``, if published."""
        return next((b for b in self.books if b.product_id == product_id), None)


class OpsSource(Protocol):
    """What the ops endpoint needs from a running system.

    All methods are called on the trio thread that runs the system.
    """

    def snapshot(self) -> OpsSnapshot:
        """Everything, at this instant (synchronous: nothing runs while it reads)."""
        ...

    async def halt(self, detail: str, *, flatten: bool = False) -> None:
        """Ask risk to halt trading (cancels still pass); ``detail`` says why; ``flatten``
        also cancels every working order and closes every position.

        Returns once the request is queued for risk. Cancelled means not queued.
        """
        ...

    async def resume(self, detail: str) -> None:
        """Ask risk to lift an operator's halt; same delivery rules as :meth:`halt`."""
        ...
