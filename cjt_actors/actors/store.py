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

Time: each event is journaled with its own ``at`` (trio's clock) when it has one, else the
moment it is written.

Restart (PERMANENT): nothing to recover; the mailbox outlives the incarnation, so what was
queued when it crashed is written by the next one (the batch being written when it crashed is
lost only if the crash was in SQLite itself, which the journal reports).

Cancelled: it writes what is still queued, within its shutdown deadline
(:meth:`ChildContext.cleanup`), then returns.
"""

from __future__ import annotations

import attrs
import trio

from ..channels import Mailbox
from ..child import ChildContext
from ..journal import AsyncJournal
from ..messages import Event
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
        if self.board is not None:
            self.board.publish(
                self.name,
                StoreStatus(written=self._written, batches=self._batches, last_seq=self._last_seq),
            )


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
