"""The executor actor: turns approved intents into venue requests and venue reports into events.

Receives:
    * ``commands`` (:class:`SubmitOrder`, :class:`CancelOrder`, :class:`CancelAllOrders`),
      from risk only: every command here was approved. BLOCK mailbox: never dropped.
    * with a paper venue: ``market_views`` (conflated :class:`BookUpdated` per product) and
      ``market_trades`` (every :class:`TradesReceived`, BLOCK: the queue-position model must
      see every trade), from the book, handed to the venue's :class:`MarketObserver` side.
    * the venue's reports (fills, status snapshots), through a channel private to each
      incarnation: each report is journaled inside the venue's ``send``, so the venue only
      forgets a report once it is durable (nothing sits in a buffer a crash would lose).
      The venue's :class:`~cjt_actors.venue.VenueSyncChanged` arrive the same way.

Sends:
    * :class:`OrderUpdated` and :class:`OrderFilled` to risk (``to_risk``) and to the strategy
      that owns the order (``to_strategies[name]``); :class:`OrderDenied` (a cancel of an
      order that is no longer working) to that strategy. BLOCK mailboxes: never dropped.
    * :class:`ReconciliationStateChanged` to risk: reconciling during recovery at every
      start, and whenever the venue says its reports may have missed something.
    * Everything it decides is journaled first (:mod:`cjt_actors.execution`).
    * ``board`` (optional): the core's :class:`~cjt_actors.execution.ExecutionStatistics`
      under ``name``, from the first recovery on. Built when read (the statistics count the
      working orders, a pass over every order): each command, report and sweep only touches
      the key, so the order path builds no status (see :mod:`cjt_actors.status`).

Concurrency: each command runs in its own task, at most ``max_in_flight`` at once (a venue
round trip must not hold up the next order; the limiter keeps the mailbox's backpressure).
The lifecycle table makes interleavings safe: a cancel that arrives before the venue
acknowledged the order is sent once it has.

Restart (PERMANENT, first child of the trading supervisor): a new incarnation replays the
journal and looks every working order up at the venue before it reports ready, so nothing
can ask it to trade before it knows where it stands (DESIGN §2 start order). The
:class:`~cjt_actors.execution.ExecutionCore` and the venue outlive incarnations (the app
owns them); the core's records are rebuilt from the journal on every start.

A venue that refuses the session for good (:class:`~cjt_actors.venue.VenueRefused`: a
revoked key) is not a crash a restart can mend: the executor calls ``on_venue_refused``
(the pipeline's: the root's ``VENUE_FATAL`` stop, so every order is cancelled at once) and
then lets the error end this incarnation as usual.

Cancelled: it stops taking commands; a request in flight is abandoned where it stands (the
journal says SUBMITTED or CANCEL_PENDING, which recovery and the emergency step resolve).
Cancelling every working order is not its job when stopped but the root's emergency step,
which runs :meth:`ExecutionCore.emergency_cancel_all` under a shielded deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import final

import attrs
import trio

from ..channels import ConflatingMailbox, Mailbox
from ..child import ChildContext
from ..execution import ExecutionCore, ExecutorOutput, Publish, RecoveryReport
from ..market_messages import BookUpdated, TradesReceived
from ..order_messages import (
    CancelAllOrders,
    CancelOrder,
    IntentKind,
    OrderDenied,
    OrderFilled,
    OrderUpdated,
    ReconciliationStateChanged,
    SubmitOrder,
)
from ..status import StatusBoard
from ..venue import MarketObserver, VenueRefused, VenueReport, VenueSignal

__all__ = ["ExecutorActor", "ExecutorCommand"]

ExecutorCommand = SubmitOrder | CancelOrder | CancelAllOrders


@attrs.define(kw_only=True)
class ExecutorActor:
    """See the module docstring. ``observer`` is the venue's market side (paper only)."""

    core: ExecutionCore
    commands: Mailbox[ExecutorCommand]
    to_risk: Mailbox[ExecutorOutput]
    to_strategies: Mapping[str, Mailbox[OrderUpdated | OrderFilled | OrderDenied]]
    observer: MarketObserver | None = None
    market_views: ConflatingMailbox[str, BookUpdated] | None = None
    market_trades: Mailbox[TradesReceived] | None = None
    max_in_flight: int = 16
    lookup_interval: float = 2.0
    board: StatusBoard | None = None
    name: str = "executor"
    on_venue_refused: Callable[[str], None] | None = None
    """Called with the reason when the venue refuses the session for good (see above)."""
    recovery: RecoveryReport | None = attrs.field(default=None, init=False)
    """What the latest incarnation's recovery found (for the status line and tests)."""

    async def run(
        self, ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        to_risk = ctx.sender(self.to_risk)
        to_strategies = {name: ctx.sender(box) for name, box in self.to_strategies.items()}

        async def publish(event: ExecutorOutput) -> None:
            # Risk gets every order event, and the denials of submits it had approved (so
            # it stops counting them as in flight); cancel denials concern the strategy only.
            if not isinstance(event, OrderDenied) or event.intent is IntentKind.SUBMIT:
                await to_risk.send(event)
            if isinstance(event, ReconciliationStateChanged):
                return  # risk's business: strategies hear of it as RECONCILING denials
            owner = to_strategies.get(event.strategy)
            if owner is not None:
                await owner.send(event)

        self.recovery = await self.core.recover(publish)
        if self.board is not None:
            self.board.publish_source(self.name, self.core.statistics)
        commands = ctx.receiver(self.commands)
        try:
            await self._serve(ctx, commands, publish, task_status)
        except* VenueRefused as refused:
            if self.on_venue_refused is not None:
                first: BaseException = refused
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                self.on_venue_refused(f"the venue refuses this session: {first}")
            raise

    async def _serve(
        self,
        ctx: ChildContext,
        commands: trio.MemoryReceiveChannel[ExecutorCommand],
        publish: Publish,
        task_status: trio.TaskStatus[None],
    ) -> None:
        async with trio.open_nursery() as nursery:
            # Reports are applied inside the venue's `send`: the venue forgets a report only
            # once it is journaled, so an executor that dies loses no fill in a buffer.
            await nursery.start(self.core.venue.run, _ReportSink(self, publish))
            if self.observer is not None:
                if self.market_views is not None:
                    nursery.start_soon(self._forward_views, self.observer, self.market_views)
                if self.market_trades is not None:
                    trades = ctx.receiver(self.market_trades)
                    nursery.start_soon(self._forward_trades, self.observer, trades)
            nursery.start_soon(self._sweep, publish)
            task_status.started()
            limiter = trio.CapacityLimiter(self.max_in_flight)
            async for command in commands:
                # Submits are registered here, in arrival order, before their tasks run in
                # whatever order trio picks: a cancel that follows always finds its order.
                duplicate = isinstance(command, SubmitOrder) and not self.core.register(command)
                # A token per command, held by a fresh borrower: two equal commands (a
                # duplicate intent) are still two borrowers.
                borrower = object()
                await limiter.acquire_on_behalf_of(borrower)
                nursery.start_soon(self._handle, command, duplicate, publish, limiter, borrower)

    async def _handle(
        self,
        command: ExecutorCommand,
        duplicate: bool,
        publish: Publish,
        limiter: trio.CapacityLimiter,
        borrower: object,
    ) -> None:
        try:
            match command:
                case SubmitOrder() if duplicate:
                    await self.core.deny_duplicate(command, publish)
                case SubmitOrder():
                    await self.core.submit(command, publish)
                case CancelOrder():
                    await self.core.cancel(command, publish)
                case CancelAllOrders():
                    await self.core.cancel_all(command, publish)
        finally:
            limiter.release_on_behalf_of(borrower)
        self._touch()

    async def _sweep(self, publish: Publish) -> None:
        """Every ``lookup_interval``, ask the venue about the orders still in doubt (a lookup
        that failed, an order the venue no longer knows): doubt is resolved by the venue's
        answer, never by time passing."""
        while True:
            await trio.sleep(self.lookup_interval)
            await self.core.resolve_pending(publish)
            self._touch()

    async def apply_report(self, report: VenueReport, publish: Publish) -> None:
        """Apply one venue report (journaled before this returns) and mark the status changed."""
        await self.core.on_report(report, publish)
        self._touch()

    async def _forward_views(
        self, observer: MarketObserver, views: ConflatingMailbox[str, BookUpdated]
    ) -> None:
        async for update in views.receiver():
            await observer.observe_book(update)

    async def _forward_trades(
        self, observer: MarketObserver, trades: trio.MemoryReceiveChannel[TradesReceived]
    ) -> None:
        async for frame in trades:
            await observer.observe_trades(frame)

    def _touch(self) -> None:
        """Mark the status as changed now (it is built when read: :meth:`run`)."""
        if self.board is not None:
            self.board.touch(self.name, trio.current_time())


@final
class _ReportSink:
    """The executor as the venue's outbox: ``send`` returns once the report is journaled."""

    __slots__ = ("_executor", "_publish")

    def __init__(self, executor: ExecutorActor, publish: Publish) -> None:
        self._executor = executor
        self._publish = publish

    async def send(self, value: VenueSignal, /) -> None:
        if isinstance(value, VenueReport):
            await self._executor.apply_report(value, self._publish)
        else:
            await self._executor.core.on_sync(value, self._publish)
            self._executor._touch()

    def send_nowait(self, value: VenueSignal, /) -> None:
        raise trio.WouldBlock  # applying a report awaits the journal: never synchronous

    def close(self) -> None:
        """Nothing to release: the sink holds no channel."""
        self._publish = _closed


async def _closed(event: object) -> None:
    raise trio.ClosedResourceError("the executor incarnation that owned this sink has ended")
