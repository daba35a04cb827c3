"""The store actor: writes the events other actors report into the journal, in batches.

Receives: ``inbox`` (any registered :class:`~cjt_actors.messages.Event`): risk's decisions
and state changes, feed status, supervision events, the root's emergency events. A BLOCK
mailbox: what is journaled is never dropped; a producer that outruns the disk waits.

Sends: nothing. (The executor does *not* journal through here: its write-ahead records must
be durable before it acts, so it awaits :class:`~cjt_actors.journal.AsyncJournal` itself.)

Why batches: every commit is an fsync (``synchronous=FULL``); :meth:`AsyncJournal.append_many`
writes everything already queued (up to ``batch_size``) in one transaction, so a burst of
events costs one fsync, not one each. Writes run on the journal's worker thread, off the
event loop.

Logs: once a batch is durable, each notable event in it becomes one structured log line
(supervision events, trading-state changes, the kill switch, reconciliations, the feed's
state, the books' trust, the emergency's steps), so the log tells the story and the journal
holds the proof.

Time: each event is journaled with its own ``at`` (trio's clock) when it has one, else the
moment it is written.

Restart (PERMANENT): nothing to recover; the mailbox outlives the incarnation, so what was
queued when it crashed is written by the next one (the batch being written when it crashed is
lost only if the crash was in SQLite itself, which the journal reports).

Cancelled: it writes what is still queued, within its shutdown deadline
(:meth:`ChildContext.cleanup`), then returns.
"""

from __future__ import annotations

import logging

import attrs
import trio

from ..channels import Mailbox
from ..child import ChildContext
from ..journal import AsyncJournal
from ..logs import log_event, log_supervisor_event
from ..market_messages import BookTrustChanged, FeedStatusChanged
from ..messages import EmergencyTriggered, Event, StopReason, SupervisorEvent
from ..order_messages import (
    EmergencyCancelFinished,
    KillSwitchTripped,
    OpenOrdersLeft,
    ReconciliationStateChanged,
    TradingStateChanged,
)
from ..risk_rules import RESUMED, SHUTDOWN
from ..status import StatusBoard

__all__ = ["StoreActor", "StoreStatus"]


@attrs.frozen(kw_only=True)
class StoreStatus:
    """What the store has written (published on the status board as ``store``)."""

    written: int
    batches: int
    last_seq: int


@attrs.define(kw_only=True)
class StoreActor:
    """See the module docstring."""

    journal: AsyncJournal
    inbox: Mailbox[Event]
    batch_size: int = 256
    board: StatusBoard | None = None
    name: str = "store"
    _written: int = attrs.field(default=0, init=False)
    _batches: int = attrs.field(default=0, init=False)
    _last_seq: int = attrs.field(default=0, init=False)

    async def run(
        self, ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        inbox = ctx.receiver(self.inbox)
        task_status.started()
        try:
            async for first in inbox:
                await self._write([first, *_take_queued(inbox, self.batch_size - 1)])
        finally:
            # Shielded and bounded by this child's shutdown timeout (ctx.cleanup() is the same
            # scope; spelled out so linters see the shield and the deadline).
            with trio.move_on_after(ctx.shutdown_timeout, shield=True):
                while batch := _take_queued(inbox, self.batch_size):
                    await self._write(batch)

    async def _write(self, batch: list[Event]) -> None:
        now = trio.current_time()
        seqs = await self.journal.append_many((event, _at(event, now)) for event in batch)
        self._written += len(seqs)
        self._batches += 1
        self._last_seq = seqs[-1]
        for event in batch:
            _log(event)
        if self.board is not None:
            self.board.publish(
                self.name,
                StoreStatus(written=self._written, batches=self._batches, last_seq=self._last_seq),
            )


def _log(event: Event) -> None:
    """One structured line for a notable event (see "Logs" in the module docstring)."""
    match event:
        case SupervisorEvent():
            log_supervisor_event(event)
            return
        case TradingStateChanged():
            # A stop someone asked for, or a resume, is routine; every other move is news.
            routine = event.reason in (SHUTDOWN, RESUMED)
            actor, level = "risk", logging.INFO if routine else logging.WARNING
            message = (
                f"trading {event.previous.value} -> {event.state.value} ({event.reason}): "
                f"{event.detail}"
            )
        case KillSwitchTripped():
            actor, level = "risk", logging.ERROR
            message = f"kill switch: {event.limit}: {event.detail}"
        case ReconciliationStateChanged():
            verb = "reconciling with" if event.reconciling else "reconciled with"
            actor, level = "executor", logging.INFO
            message = f"{verb} {event.venue} ({event.trigger})"
        case FeedStatusChanged():
            actor, level = "feed", logging.INFO
            message = f"market data feed {event.state.value}: {event.detail}"
        case BookTrustChanged():
            # Trust lost to trouble is news; a snapshot, or the empty books of a start, is not.
            routine = event.trusted or event.reason == "EMPTY"
            actor, level = "book", logging.INFO if routine else logging.WARNING
            verdict = "trusted" if event.trusted else "not trusted"
            message = f"book {event.product_id} {verdict} ({event.reason})"
        case EmergencyTriggered():
            requested = event.reason in (StopReason.SIGNAL, StopReason.OPERATOR)
            actor, level = "root", logging.INFO if requested else logging.WARNING
            message = f"emergency protocol: {event.reason.value}: {event.detail}"
        case EmergencyCancelFinished():
            actor = "root"
            level = logging.ERROR if event.remaining else logging.INFO
            message = (
                f"emergency cancel: {event.open_before} open, {event.remaining} remaining "
                f"after {event.attempts} round(s)"
            )
        case OpenOrdersLeft():
            count = len(event.client_order_ids)
            actor, level = "root", logging.WARNING
            message = f"left {count} order(s) open: {event.reason}"
        case _:
            return
    # Logged here, once durable, in the name of the actor whose event it is.
    log_event(event, message, level=level, logger=_logger, actor=actor)


_logger = logging.getLogger("cjt_actors.store")


def _take_queued(inbox: trio.MemoryReceiveChannel[Event], limit: int) -> list[Event]:
    batch: list[Event] = []
    while len(batch) < limit:
        try:
            batch.append(inbox.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            break
    return batch


def _at(event: Event, default: float) -> float:
    at = getattr(event, "at", None)
    return at if isinstance(at, float) else default
