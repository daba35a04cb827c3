"""The ops source of a running :class:`~cjt_actors.pipeline.Pipeline`.

Reads only what the pipeline already makes observable: the status board (each actor's
latest frozen status, and when it was posted), the supervisors' child states and restart
counts, the mailboxes' statistics, and the executor's orders. Steers only through the
pipeline's operator commands (:meth:`Pipeline.halt`, :meth:`Pipeline.resume`), which go to
risk through its intents mailbox like any strategy's intent: the ops endpoint never touches
actor state.

Board keys are the actors' names (``executor``, ``risk``, ``book``, ``feed``, ``store``,
``strategy:<name>``) and ``book/<product>`` for each book.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, final

import trio

from ..actors.book import BookActorStatus, BookStatus
from ..actors.feed import FeedStatus
from ..actors.risk import RiskStatus
from ..actors.store import StoreStatus
from ..actors.strategy import StrategyStatus
from ..channels import ConflatingMailbox, Mailbox
from ..execution import ExecutionStatistics
from ..lifecycle import OrderState
from ..pipeline import Pipeline
from .source import ActorObservation, LatencyObservation, MailboxObservation, OpsSnapshot
from .timing import TimedVenue

__all__ = ["PipelineOpsSource", "mailbox_consumer"]

#: The actors the pipeline names on its own (anything else after "->" is a strategy).
_FIXED_ACTORS = frozenset({"book", "executor", "feed", "risk", "store"})


@final
class PipelineOpsSource:
    """An :class:`~cjt_actors.ops.source.OpsSource` over ``pipeline`` (which may or may not
    be running: before and after its run every actor reads as ENDED)."""

    __slots__ = ("_pipeline", "_strategies")

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._strategies = tuple(spec.name for spec in pipeline.settings.strategies)

    def __repr__(self) -> str:
        return f"<PipelineOpsSource strategies={list(self._strategies)}>"

    def snapshot(self) -> OpsSnapshot:
        pipeline = self._pipeline
        board = pipeline.board
        products = tuple(pipeline.settings.products)
        return OpsSnapshot(
            now=trio.current_time(),
            products=products,
            actors=tuple(self._actors()),
            mailboxes=tuple(self._mailboxes()),
            risk=board.get("risk", RiskStatus),
            execution=board.get("executor", ExecutionStatistics),
            orders_by_state=self._orders_by_state(),
            feed=board.get("feed", FeedStatus),
            book=board.get("book", BookActorStatus),
            books=tuple(
                book
                for product in products
                if (book := board.get(f"book/{product}", BookStatus)) is not None
            ),
            strategies=tuple(
                status
                for name in self._strategies
                if (status := board.get(f"strategy:{name}", StrategyStatus)) is not None
            ),
            store=board.get("store", StoreStatus),
            latencies=self._latencies(),
            tick_to_trade=pipeline.core.tick_to_trade.snapshot(),
        )

    async def halt(self, detail: str, *, flatten: bool = False) -> None:
        await self._pipeline.halt(detail, flatten=flatten)

    async def resume(self, detail: str) -> None:
        await self._pipeline.resume(detail)

    def _actors(self) -> Iterator[ActorObservation]:
        board = self._pipeline.board
        for supervisor in (self._pipeline.trading, self._pipeline.store):
            restarts = supervisor.restart_counts()
            for name, state in supervisor.child_states().items():
                yield ActorObservation(
                    name=name,
                    state=state,
                    restarts=restarts.get(name, 0),
                    last_update=board.updated_at(name),
                )

    def _mailboxes(self) -> Iterator[MailboxObservation]:
        pipeline = self._pipeline
        boxes: tuple[Mailbox[Any] | ConflatingMailbox[Any, Any], ...] = (
            *pipeline.mailboxes,
            *pipeline.view_mailboxes,
            pipeline.journal_box,
        )
        for box in boxes:
            yield MailboxObservation(
                consumer=mailbox_consumer(box.name, self._strategies),
                kind="views" if isinstance(box, ConflatingMailbox) else "queue",
                statistics=box.statistics(),
            )

    def _orders_by_state(self) -> tuple[tuple[OrderState, int], ...]:
        counts = self._pipeline.core.orders_by_state()
        return tuple((state, counts[state]) for state in OrderState)

    def _latencies(self) -> tuple[LatencyObservation, ...]:
        venue = self._pipeline.core.venue
        if not isinstance(venue, TimedVenue):
            return ()
        return tuple(
            LatencyObservation(venue=venue.name, request=request, histogram=histogram)
            for request, histogram in venue.latencies().items()
        )


def mailbox_consumer(mailbox: str, strategies: Collection[str]) -> str:
    """The actor reading ``mailbox``, from the pipeline's ``"<from>-><to>"`` names.

    The pipeline does not say who reads what, so this leans on its naming convention:
    ``journal`` is the store's; ``orders->X`` and ``market->X`` are strategy X's, and so is
    ``book->X`` unless X is risk or the executor; a ``:suffix`` names one of several
    mailboxes between the same two actors. An unknown name gets ``""`` rather than a
    wrong actor.
    """
    if mailbox == "journal":
        return "store"
    source, arrow, to = mailbox.partition("->")
    if not arrow:
        return ""
    to = to.partition(":")[0]  # "book->executor:trades": the executor's trades queue
    if source in ("orders", "market") or (source == "book" and to not in _FIXED_ACTORS):
        return f"strategy:{to}" if to in strategies else ""
    return to if to in _FIXED_ACTORS else ""
