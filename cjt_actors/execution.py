"""The executor's bookkeeping: orders journaled ahead, moved by the lifecycle table, reported.

Why a core separate from the actor (:mod:`cjt_actors.actors.executor`): two callers need the
same rules. The executor actor drives it while the tree runs; the root's emergency step
(DESIGN §3) drives it after the tree was cancelled, to cancel every working order and to
journal what the venue reports meanwhile. The core holds no task of its own and never
reaches into another actor; it publishes through a callable the caller gives it.

The write-ahead rule (DESIGN §7), in the order things happen:

1. a :class:`~cjt_actors.order_messages.SubmitOrder` is journaled *before* the venue hears
   of it, with its move to SUBMITTED and the order's row, in one transaction (one fsync:
   :meth:`AsyncJournal.append_many_for_order`);
2. every legal lifecycle move is journaled as an :class:`OrderUpdated` with the order's new
   row, then published;
3. every fill is journaled by ``trade_id`` (idempotent, with the order's row) *before* it is
   published, so positions (risk) only ever change after the fill is durable;
4. memory never runs ahead of the journal: a move made in memory is committed even if a
   cancellation arrives while its write waits its turn (the write is shielded), because
   the emergency step decides what to look up from memory.

The emergency step moves many orders at once, so it journals their moves a transaction (one
fsync) at a time rather than one per order (:meth:`AsyncJournal.append_moves`): a cancel
batch's requests, before the batch request leaves; the batch's answers; a burst of venue
reports. The rows and their order are those of moving one order at a time.

Recovery (each executor incarnation, :meth:`ExecutionCore.recover`): the journal is replayed
(intents, transitions, fills) into :class:`~cjt_actors.lifecycle.TrackedOrder` records; every
order not in a terminal state is then looked up at the venue and moved to what the venue says.
An order the venue has never heard of is treated by the ambiguous-outcome policy: a request
that may never have left (PENDING, SUBMITTED, UNKNOWN) is re-sent under the *same*
``client_order_id``. Orders the venue reports that the journal lacks are counted as external
and left alone. (Issue 5 hardens this path for the live venue: polling, grace periods.)

Cancels of orders the venue has not acknowledged yet are remembered and sent once it has: a
market maker that requotes faster than the venue answers must not lose its cancel.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeAlias, final

import attrs
import trio

from .errors import CjtError, ExchangeError
from .journal import AsyncJournal
from .latency import TICK_TO_TRADE_BUCKETS, LatencyHistogram
from .lifecycle import (
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    CancelRequested,
    Expired,
    Fill,
    LifecycleError,
    LookupNotFound,
    OrderEvent,
    OrderState,
    OutcomeUnknown,
    Rejected,
    Submitted,
    TrackedOrder,
    VenueOrderState,
)
from .logs import log_event
from .messages import Message
from .order_messages import (
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    EmergencyCancelFinished,
    IntentKind,
    OpenOrdersLeft,
    OrderDenied,
    OrderFilled,
    OrderUpdated,
    ReconciliationStateChanged,
    SubmitOrder,
)
from .venue import (
    BatchCancelling,
    FillSettling,
    Venue,
    VenueOrder,
    VenueReport,
    VenueSignal,
    VenueSyncChanged,
)

_log = logging.getLogger(__name__)

__all__ = [
    "ExecutionCore",
    "ExecutionStatistics",
    "ExecutorOutput",
    "OrdersRemainOpen",
    "Publish",
    "RecoveryReport",
]

#: What the executor tells the rest of the tree.
ExecutorOutput: TypeAlias = OrderUpdated | OrderFilled | OrderDenied | ReconciliationStateChanged
Publish: TypeAlias = Callable[[ExecutorOutput], Awaitable[None]]

#: An event the emergency step applies to many orders at once, journaled in one commit.
_StagedEvent: TypeAlias = (
    CancelRequested | CancelAcknowledged | CancelFailed | VenueOrderState | Expired
)
#: A move applied in memory, not yet journaled: the update and the order's new row.
_Move: TypeAlias = tuple[OrderUpdated, dict[str, Any]]

_CANCELLABLE = frozenset({OrderState.OPEN, OrderState.PARTIALLY_FILLED})
_AWAITING_ACK = frozenset({OrderState.PENDING, OrderState.SUBMITTED, OrderState.UNKNOWN})
_EMERGENCY_PARALLEL_CANCELS = 16  #: cancels in flight at once in the emergency step
_PARTIAL_OUTCOME_TIMEOUT = 2.0  #: seconds to journal the outcome of a step cut short


async def _publish_nothing(_: ExecutorOutput) -> None:
    """The emergency step's publisher: the tree is gone, nobody is listening."""
    await trio.lowlevel.checkpoint()


def _commit_of_a_move() -> trio.CancelScope:
    """The scope of the journal write of a move already made in memory: shielded.

    Why: the journal's write cannot be abandoned once its thread runs, but it first waits its
    turn at a checkpoint, and a cancellation delivered there skipped it. The order was then
    moved in memory and not in the journal, and the emergency step, which reads memory,
    never looked it up again: a clean stop could end with the journal saying CANCEL_PENDING
    for an order the exchange had cancelled. Shielded, the write waits its turn and
    commits, and the cancellation is delivered at the next checkpoint after it. The wait is
    bounded by the journal's queue (local commits, one at a time), as the write itself is.
    Writes made *before* the move (a fill's) need no shield: cancelled first, neither
    happens. Nor does a fresh intent's (:meth:`ExecutionCore._record_move`).
    """
    return trio.CancelScope(shield=True)


@attrs.frozen(kw_only=True)
class RecoveryReport:
    """What :meth:`ExecutionCore.recover` found."""

    replayed_orders: int
    working_orders: int
    resolved_by_lookup: int
    resent: int
    external_orders: tuple[str, ...]
    fills_sought: tuple[str, ...] = ()  #: ended orders whose fills the journal lacks


@attrs.frozen(kw_only=True)
class ExecutionStatistics:
    """Counts since the core was made (it outlives executor restarts)."""

    submitted: int
    accepted: int
    rejected: int
    unknown: int
    cancels_sent: int
    fills: int
    duplicate_fills: int
    denied: int
    working: int
    foreign_reports: int
    lookup_errors: int = 0  #: lookups the venue could not answer (retried by the sweep)
    reconciliations: int = 0  #: times the executor started reconciling (start-ups included)
    reconciling: bool = False  #: reconciling now: risk denies new orders


@final
class ExecutionCore:
    """Orders of one venue, journaled ahead and moved only by the lifecycle table.

    Args:
        venue: where orders go.
        journal: the write-ahead journal.
        max_resends: how many times an order the venue has never heard of is re-sent (same
            ``client_order_id``) before it is left in PENDING and reported.
    """

    def __init__(self, venue: Venue, journal: AsyncJournal, *, max_resends: int = 3) -> None:
        self.venue = venue
        self.journal = journal
        self.max_resends = max_resends
        self._orders: dict[str, TrackedOrder] = {}
        #: The orders not yet seen ended, oldest intent first: the working ones, plus those
        #: that ended since the last query. Queries cost O(working), not O(every order the
        #: journal holds), which grows for as long as the daemon trades.
        self._unended: dict[str, TrackedOrder] = {}
        #: The orders that left ``_unended``, by state: final, as an ended order never moves.
        self._ended_by_state: collections.Counter[OrderState] = collections.Counter()
        self._intents: dict[str, SubmitOrder] = {}
        self._cancel_when_acknowledged: set[str] = set()
        self._unsent: set[str] = set()  #: registered, intent not yet journaled
        self._emergency_reports = 0
        self._reconciling = False
        #: Tick-to-trade of the orders this process submitted: a frame's arrival to the
        #: create request handed to the venue (see :meth:`_request`).
        self.tick_to_trade = LatencyHistogram(TICK_TO_TRADE_BUCKETS)
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "submitted",
                "accepted",
                "rejected",
                "unknown",
                "cancels_sent",
                "fills",
                "duplicate_fills",
                "denied",
                "foreign_reports",
                "lookup_errors",
                "reconciliations",
            ),
            0,
        )

    def __repr__(self) -> str:
        return f"<ExecutionCore venue={self.venue.name!r} orders={len(self._orders)}>"

    # -- queries -----------------------------------------------------------------------------

    def order(self, client_order_id: str) -> TrackedOrder | None:
        """The tracked order, or ``None`` (a read-only use is expected)."""
        return self._orders.get(client_order_id)

    def working_orders(self) -> list[TrackedOrder]:
        """Orders not in a terminal state, oldest intent first."""
        ended = [coid for coid, order in self._unended.items() if order.terminal]
        for coid in ended:
            self._ended_by_state[self._unended.pop(coid).state] += 1
        return list(self._unended.values())

    def orders_by_state(self) -> dict[OrderState, int]:
        """How many orders this core knows in each state (ended ones included)."""
        counts: dict[OrderState, int] = dict.fromkeys(OrderState, 0)
        for order in self.working_orders():
            counts[order.state] += 1
        for state, ended in self._ended_by_state.items():
            counts[state] += ended
        return counts

    def statistics(self) -> ExecutionStatistics:
        return ExecutionStatistics(
            working=len(self.working_orders()), reconciling=self._reconciling, **self._counts
        )

    # -- recovery ----------------------------------------------------------------------------

    @property
    def reconciling(self) -> bool:
        """Between a :class:`ReconciliationStateChanged` saying so and the one ending it."""
        return self._reconciling

    async def recover(self, publish: Publish) -> RecoveryReport:
        """Rebuild the orders from the journal, then align them with the venue.

        Reconciling from the first line to the last: a :class:`ReconciliationStateChanged`
        is journaled and published before (``reconciling``) and after (not), so risk denies
        new orders in between, whatever incarnation of risk is listening.
        """
        await self._reconciliation(True, "executor start-up", publish)
        report = await self._recover(publish)
        await self._reconciliation(False, "executor start-up", publish)
        return report

    async def on_sync(self, signal: VenueSyncChanged, publish: Publish) -> None:
        """The venue says its reports may have missed something, or that it caught up."""
        await self._reconciliation(signal.reconciling, signal.trigger, publish)

    async def _reconciliation(self, reconciling: bool, trigger: str, publish: Publish) -> None:
        self._reconciling = reconciling
        if reconciling:
            self._counts["reconciliations"] += 1
        event = ReconciliationStateChanged(
            venue=self.venue.name,
            reconciling=reconciling,
            trigger=trigger,
            at=trio.current_time(),
        )
        await self.journal.append(event, at=event.at)
        await publish(event)

    async def _recover(self, publish: Publish) -> RecoveryReport:
        self._orders.clear()
        self._unended.clear()
        self._ended_by_state.clear()
        self._intents.clear()
        self._cancel_when_acknowledged.clear()
        self._unsent.clear()
        entries = await self.journal.read(kinds=(SubmitOrder, OrderUpdated, OrderFilled))
        for _seq, _at, message in entries:
            self._replay(message)
        self._unended = dict(self._orders)  # the first query sets the ended ones apart
        replayed = len(self._orders)
        resolved = resent = 0
        for order in self.working_orders():
            answered, found = await self._lookup(order)
            if not answered:
                continue  # the venue could not say: nothing is decided, the sweep asks again
            if found is not None:
                await self._apply(order, attrs.evolve(found.state, from_lookup=True), publish)
                resolved += 1
            elif await self._not_at_venue(order, publish):
                resent += 1
        # An order that ended with fills the journal never saw (killed between the venue's
        # word and its fills): reading it makes a live venue fetch that order's fills.
        owed = [o for o in self._orders.values() if o.terminal and o.missing_fill_size > 0]
        for order in owed:
            await self._lookup(order)
        listed = await self.venue.open_orders()
        external = tuple(
            sorted(o.client_order_id for o in listed if o.client_order_id not in self._orders)
        )
        return RecoveryReport(
            replayed_orders=replayed,
            working_orders=len(self.working_orders()),
            resolved_by_lookup=resolved,
            resent=resent,
            external_orders=external,
            fills_sought=tuple(o.client_order_id for o in owed),
        )

    def _replay(self, message: object) -> None:
        match message:
            case SubmitOrder() if message.client_order_id not in self._orders:
                self._intents[message.client_order_id] = message
                self._orders[message.client_order_id] = _new_order(message)
            case OrderUpdated(client_order_id=coid) if coid in self._orders:
                order = self._orders[coid]
                order.state = message.state
                if message.order_id:
                    order.order_id = message.order_id
                order.last_reason = message.reason
                known = message.size if message.state is OrderState.FILLED else Decimal(0)
                if message.venue_filled_size is not None:
                    known = max(known, message.venue_filled_size)
                order.venue_cumulative_quantity = max(order.venue_cumulative_quantity, known)
                if message.previous is OrderState.PENDING and message.state is (
                    OrderState.SUBMITTED
                ):
                    order.submit_attempts += 1
            case OrderFilled(client_order_id=coid) if coid in self._orders:
                order = self._orders[coid]
                if message.order_id and not order.order_id:
                    order.order_id = message.order_id
                if message.trade_id not in order.trade_ids:
                    order.trade_ids.add(message.trade_id)
                    order.filled_size += message.size
                    order.filled_notional += message.price * message.size
                    order.fees += message.fee
            case _:
                pass  # a transition or fill of an order whose intent predates the journal

    # -- commands ----------------------------------------------------------------------------

    def register(self, command: SubmitOrder) -> bool:
        """Record a new intent in memory (PENDING) before its task runs; False if a duplicate.

        Why separate from :meth:`submit`: the executor runs each command in its own task and
        trio may start those tasks in any order. Registering in the command loop, in arrival
        order, means a cancel that follows its submit always finds the order (and waits for
        the venue's acknowledgement) instead of being refused as unknown.
        """
        coid = command.client_order_id
        if coid in self._orders:
            return False
        self._orders[coid] = self._unended[coid] = _new_order(command)
        self._intents[coid] = command
        self._unsent.add(coid)
        return True

    async def submit(self, command: SubmitOrder, publish: Publish) -> None:
        """Journal the intent with its move to SUBMITTED (one commit), then send it; every
        answer moves the order by the table."""
        coid = command.client_order_id
        if coid not in self._unsent and not self.register(command):
            await self.deny_duplicate(command, publish)
            return
        self._unsent.discard(coid)
        order = self._orders[coid]
        intent_at = trio.current_time()
        if order.state is OrderState.PENDING:
            # One transaction, so one fsync before the request leaves (the commit is most of
            # tick-to-trade): the SubmitOrder, its PENDING -> SUBMITTED OrderUpdated and the
            # SUBMITTED row: the rows of journaling the intent (row PENDING) and then the
            # move (row SUBMITTED), in the same order, so replay and recovery cannot tell the
            # difference (a run's journal hash can: one await fewer lets concurrent tasks
            # interleave their rows differently). Crash safety: a crash before the
            # commit loses an intent that was never sent; a crash after it and before the
            # request leaves finds a SUBMITTED order, which is what SUBMITTED has always
            # meant ("may have left"): recovery looks it up, and an order the venue never
            # saw goes SUBMITTED -> UNKNOWN -> PENDING and is re-sent under the same
            # client_order_id (:meth:`_not_at_venue`). In memory the order still moves
            # PENDING -> SUBMITTED by the table, and the update is published before the
            # request leaves, as on a re-send.
            before = order.state
            order.apply(Submitted())
            await self._record_move(order, command, before, publish, intent_at=intent_at)
        else:
            # Moved before its request left (a venue report named a client_order_id this
            # process had not sent yet): the general path, the intent with the row it has,
            # then the move, which the table refuses or absorbs.
            await self.journal.append_for_order(
                command, at=intent_at, client_order_id=coid, state=_row(order, command)
            )
            await self._apply(order, Submitted(), publish)
        await self._request(order, publish, trigger_at=command.trigger_at)

    async def deny_duplicate(self, command: SubmitOrder, publish: Publish) -> None:
        """Refuse an intent whose ``client_order_id`` was used before (nothing is sent)."""
        await self._deny(
            command.strategy,
            command.client_order_id,
            command.product_id,
            IntentKind.SUBMIT,
            DenyReason.DUPLICATE_ORDER,
            "client_order_id already used",
            publish,
        )

    async def _send(self, order: TrackedOrder, publish: Publish) -> None:
        """Send again an order back in PENDING (its intent is already journaled)."""
        await self._apply(order, Submitted(), publish)
        await self._request(order, publish)

    async def _request(
        self, order: TrackedOrder, publish: Publish, *, trigger_at: float | None = None
    ) -> None:
        """Hand the create request of an order now SUBMITTED (journaled, published) to the
        venue; ``trigger_at`` (fresh intents only) is its frame's arrival, for tick-to-trade."""
        intent = self._intents[order.client_order_id]
        self._counts["submitted"] += 1
        if trigger_at is not None:
            # From the frame's arrival to the request being handed to the venue: strategy,
            # risk, the write-ahead commit and the SUBMITTED update's publish included; the
            # venue call itself is not (TimedVenue times that). Only fresh intents: a re-sent
            # one's trigger is history.
            self.tick_to_trade.observe(max(0.0, trio.current_time() - trigger_at))
        outcome = await self.venue.submit(intent)
        match outcome:
            case Accepted():
                self._counts["accepted"] += 1
            case Rejected():
                self._counts["rejected"] += 1
            case OutcomeUnknown():
                self._counts["unknown"] += 1
        await self._apply(order, outcome, publish)
        if order.state is OrderState.UNKNOWN:
            await self._resolve(order, publish)
        if order.client_order_id in self._cancel_when_acknowledged:
            await self._cancel_if_working(order, publish)

    async def cancel(self, command: CancelOrder, publish: Publish) -> None:
        """Cancel one order; a cancel before the venue's acknowledgement waits for it."""
        order = self._orders.get(command.client_order_id)
        if order is None or order.terminal:
            state = "unknown" if order is None else order.state.value
            product = "" if order is None else order.product_id
            await self._deny(
                command.strategy,
                command.client_order_id,
                product,
                IntentKind.CANCEL,
                DenyReason.UNKNOWN_ORDER,
                f"order is {state}",
                publish,
            )
            return
        self._cancel_when_acknowledged.add(order.client_order_id)
        await self._cancel_if_working(order, publish)

    async def cancel_all(self, command: CancelAllOrders, publish: Publish) -> None:
        """Cancel every working order (of one product when ``product_id`` is set)."""
        for order in self.working_orders():
            if command.product_id and order.product_id != command.product_id:
                continue
            self._cancel_when_acknowledged.add(order.client_order_id)
            await self._cancel_if_working(order, publish)

    async def _cancel_if_working(self, order: TrackedOrder, publish: Publish) -> None:
        if order.terminal:
            self._cancel_when_acknowledged.discard(order.client_order_id)
            return
        if order.state not in _CANCELLABLE:
            return  # not acknowledged yet (sent when it is), or already cancelling
        self._cancel_when_acknowledged.discard(order.client_order_id)
        await self._apply(order, CancelRequested(), publish)
        self._counts["cancels_sent"] += 1
        outcome = await self.venue.cancel(order.client_order_id, order.order_id)
        await self._apply(order, outcome, publish)
        if order.needs_lookup:
            await self._resolve(order, publish)

    async def _lookup(self, order: TrackedOrder) -> tuple[bool, VenueOrder | None]:
        """``(True, record or None)`` if the venue answered; ``(False, None)`` if it could not
        (an exchange error): then nothing may be decided about the order, which keeps
        ``needs_lookup`` so :meth:`resolve_pending` asks again. Absence is only ever read
        from an answer, never from an error."""
        try:
            return True, await self.venue.lookup(order.client_order_id)
        except ExchangeError:
            self._counts["lookup_errors"] += 1
            order.needs_lookup = True
            return False, None

    async def resolve_pending(self, publish: Publish) -> int:
        """Look up every working order still in doubt (``needs_lookup``); returns how many
        remain in doubt. The executor runs this periodically."""
        for order in self.working_orders():
            if order.needs_lookup:
                await self._resolve(order, publish)
        return sum(1 for order in self.working_orders() if order.needs_lookup)

    async def _resolve(self, order: TrackedOrder, publish: Publish) -> None:
        """Ask the venue about an order whose state is in doubt, and believe the answer."""
        answered, found = await self._lookup(order)
        if not answered:
            return
        if found is not None:
            await self._apply(order, attrs.evolve(found.state, from_lookup=True), publish)
            return
        await self._not_at_venue(order, publish)

    async def _not_at_venue(self, order: TrackedOrder, publish: Publish) -> bool:
        """The venue answered that it has never heard of ``order``; True if it was re-sent.

        A request that may never have left (PENDING, SUBMITTED before a restart, UNKNOWN) is
        sent again under the *same* ``client_order_id``, at most ``max_resends`` times. An
        order the venue had acknowledged and no longer knows stays working with
        ``needs_lookup`` set: nothing proves it was cancelled or filled, so it is never
        silently dropped.
        """
        if order.state not in _AWAITING_ACK:
            order.needs_lookup = True
            return False
        if order.state is OrderState.SUBMITTED:
            await self._apply(order, OutcomeUnknown(reason="no answer before a restart"), publish)
        if order.state is OrderState.UNKNOWN:
            await self._apply(order, LookupNotFound(), publish)
        order.needs_lookup = False
        if order.submit_attempts > self.max_resends:
            return False  # left PENDING, visible in the journal and the status
        await self._send(order, publish)
        return True

    # -- venue reports -----------------------------------------------------------------------

    async def on_report(self, report: VenueReport, publish: Publish) -> None:
        """Apply one venue report; fills are journaled (idempotently) before publishing."""
        order = self._orders.get(report.client_order_id)
        if order is None:
            self._counts["foreign_reports"] += 1
            return
        await self._apply(order, report.event, publish)
        if order.client_order_id in self._cancel_when_acknowledged:
            await self._cancel_if_working(order, publish)

    # -- the one place orders move -------------------------------------------------------------

    async def _apply(self, order: TrackedOrder, event: OrderEvent, publish: Publish) -> None:
        intent = self._intents[order.client_order_id]
        if isinstance(event, Fill):
            await self._apply_fill(order, intent, event, publish)
            return
        before, known_id = order.state, order.order_id
        result = order.apply(event)
        if not result.absorbed:
            await self._record_move(order, intent, before, publish)
        elif order.order_id != known_id:
            # A late answer taught an order that had already ended (filled before the
            # create's answer came) its venue id: the row must say it too.
            with _commit_of_a_move():
                await self.journal.upsert_order(order.client_order_id, _row(order, intent))

    async def _record_move(
        self,
        order: TrackedOrder,
        intent: SubmitOrder,
        before: OrderState,
        publish: Publish,
        *,
        intent_at: float | None = None,
    ) -> None:
        """Journal a legal move with the order's new row, then publish it. With
        ``intent_at``, the intent itself is journaled first, in the same transaction.

        A fresh intent's commit is not shielded: cancelled before it commits, the intent
        was never durable and is never sent, and the order stays SUBMITTED in memory (not
        ended, so the emergency step still looks it up). Shielded, a stop at that moment
        would leave a durable intent that the next start sends."""
        update = _update(order, intent, before)
        entries: list[tuple[Message, float]] = [(update, update.at)]
        if intent_at is not None:
            entries.insert(0, (intent, intent_at))
        with trio.CancelScope(shield=intent_at is None):
            await self.journal.append_many_for_order(
                entries, client_order_id=order.client_order_id, state=_row(order, intent)
            )
        _log_move(update)
        await publish(update)

    def _stage(self, order: TrackedOrder, event: _StagedEvent, moves: list[_Move]) -> bool:
        """:meth:`_apply` without the journal: move ``order`` by the table, in memory; a
        legal move joins ``moves`` (its update and the order's new row) for
        :meth:`_record_moves`. True when the table absorbed the event but the order learnt
        its venue id from it (a late snapshot of an order that had ended; never a cancel
        event): its row must then be written on its own, as :meth:`_apply` does. Raises
        what :meth:`TrackedOrder.apply` raises, having changed nothing."""
        intent = self._intents[order.client_order_id]
        before, known_id = order.state, order.order_id
        if not order.apply(event).absorbed:
            moves.append((_update(order, intent, before), _row(order, intent)))
            return False
        return order.order_id != known_id

    async def _record_moves(self, moves: list[_Move]) -> None:
        """Journal the staged moves of many orders in one transaction (one fsync, where a
        :meth:`_record_move` per order costs one each), then log them. Nothing is published:
        the emergency step, the only caller, runs after the tree is gone."""
        if not moves:
            return
        with _commit_of_a_move():
            await self.journal.append_moves(
                [(update, update.at, update.client_order_id, row) for update, row in moves]
            )
        for update, _ in moves:
            _log_move(update)

    async def _apply_fill(
        self, order: TrackedOrder, intent: SubmitOrder, fill: Fill, publish: Publish
    ) -> None:
        order.classify(fill)  # raises OverFill before anything is written
        if fill.trade_id in order.trade_ids:
            self._counts["duplicate_fills"] += 1
            return
        filled = OrderFilled(
            strategy=intent.strategy,
            client_order_id=order.client_order_id,
            order_id=order.order_id or fill.order_id,
            product_id=order.product_id,
            side=order.side,
            trade_id=fill.trade_id,
            price=fill.price,
            size=fill.size,
            fee=fill.fee,
            liquidity=fill.liquidity,
            at=trio.current_time(),
        )
        before = order.state
        probe = _copy(order)
        probe.apply(fill)
        new = await self.journal.record_fill(
            fill.trade_id,
            order.client_order_id,
            filled,
            at=filled.at,
            order_state=_row(probe, intent),
        )
        moved_meanwhile = order.state is not before
        result = order.apply(fill)
        if moved_meanwhile:
            # The order moved while the fill was being written (a cancel's answer, a
            # snapshot): that move's row was taken without this fill, and was written after
            # the fill's. Write the row again, with both.
            with _commit_of_a_move():
                await self.journal.upsert_order(order.client_order_id, _row(order, intent))
        if not new:
            self._counts["duplicate_fills"] += 1
            return
        self._counts["fills"] += 1
        log_event(
            filled,
            f"fill {filled.trade_id}: {filled.side.value} {filled.size} {filled.product_id} "
            f"@ {filled.price} (order {filled.client_order_id})",
            logger=_log,
        )
        await publish(filled)
        if not result.absorbed:
            await self._record_move(order, intent, before, publish)

    async def _deny(
        self,
        strategy: str,
        client_order_id: str,
        product_id: str,
        intent: IntentKind,
        reason: DenyReason,
        detail: str,
        publish: Publish,
    ) -> None:
        self._counts["denied"] += 1
        denied = OrderDenied(
            strategy=strategy,
            client_order_id=client_order_id,
            product_id=product_id,
            intent=intent,
            reason=reason,
            detail=f"executor: {detail}",
            at=trio.current_time(),
        )
        await self.journal.append(denied, at=denied.at)
        log_event(denied, f"denied {denied.client_order_id}: {denied.reason.value}", logger=_log)
        await publish(denied)

    # -- the emergency step --------------------------------------------------------------------

    async def emergency_cancel_all(
        self, *, attempts: int = 5, pause: float = 0.2, settle: float = 0.05
    ) -> EmergencyCancelFinished:
        """Cancel every order the venue reports working, re-read, repeat until none remain.

        Cancels go in batches when the venue is :class:`BatchCancelling`, else at most
        ``_EMERGENCY_PARALLEL_CANCELS`` at a time. Once none remain (or the attempts are
        spent), every order the journal still holds as working is looked up and its final
        state journaled. Runs after the tree was cancelled (the caller bounds it with a
        shielded deadline). Journals :class:`EmergencyCancelFinished`, with ``completed``
        false when something cut the step short (what the last read showed); raises :class:`OrdersRemainOpen` if the
        venue still reports working orders after the last attempt, so the root's step is
        marked failed and the exit code says "check the venue".
        """
        started = trio.current_time()
        progress = _EmergencyProgress(known=tuple(o.client_order_id for o in self.working_orders()))
        outcome: EmergencyCancelFinished | None = None
        try:
            outcome = await self._emergency_rounds(progress, attempts, pause, settle)
        finally:
            if outcome is None:
                # Cut short (the deadline, a second signal, a venue error): journal what is
                # known under a shield of its own; whatever stopped the step goes on.
                with trio.move_on_after(_PARTIAL_OUTCOME_TIMEOUT, shield=True):
                    partial = progress.outcome(self.venue.name, completed=False, ended=self._ended)
                    await self.journal.append(partial, at=partial.at)
        await self.journal.append(outcome, at=outcome.at)
        await self._settle_fills()
        if outcome.remaining:
            raise OrdersRemainOpen(outcome, started)
        return outcome

    async def _settle_fills(self) -> None:
        """Journal the fills the exchange made while the tree was stopping: the venue's
        reporting loop stopped with the tree, so without this last read a quote filled
        during the cancel-all would reach the journal only at the next start (or never).
        Risk and the strategies are gone: the journal is what counts, nothing is published."""
        if not isinstance(self.venue, FillSettling):
            return
        before = self._counts["fills"]
        try:
            await self.venue.settle(_SettleSink(self))
        except ExchangeError as error:
            _log.warning(
                "after the cancel-all, the last read of fills failed (%s); the next start's "
                "recovery reads them",
                error,
            )
            return
        late = self._counts["fills"] - before
        if late:
            _log.info("%d fill(s) made while the tree was stopping were journaled", late)

    async def leave_open(self, reason: str) -> OpenOrdersLeft:
        """Journal the orders the venue reports open, left working on purpose (a requested
        stop with ``shutdown.on_stop = "leave"``); none is cancelled."""
        listed = await self.venue.open_orders()
        left = OpenOrdersLeft(
            venue=self.venue.name,
            reason=reason,
            client_order_ids=tuple(sorted(o.client_order_id for o in listed)),
            at=trio.current_time(),
        )
        await self.journal.append(left, at=left.at)
        return left

    def _ended(self, client_order_id: str) -> bool:
        order = self._orders.get(client_order_id)
        return order is not None and order.terminal

    async def _emergency_rounds(
        self, progress: _EmergencyProgress, attempts: int, pause: float, settle: float
    ) -> EmergencyCancelFinished:
        open_before = await self.venue.open_orders()
        progress.read(open_before, first=True)
        remaining: tuple[VenueOrder, ...] = open_before
        sent = tries = 0
        reports: trio.MemorySendChannel[VenueSignal]
        reports, inbox = trio.open_memory_channel[VenueSignal](256)
        # Three phases, so no report is dropped and nothing races the last lookups: (1) the
        # venue reports while the cancels go out; (2) it is stopped and its channel closed,
        # and the drain journals every report it had handed over (cancelling the drain
        # with the venue lost those still queued or being written); (3) with nothing else
        # running, every order still working is looked up and its end journaled.
        async with trio.open_nursery() as draining:
            draining.start_soon(self._drain_reports, inbox)
            async with reports, trio.open_nursery() as reporting:
                await reporting.start(self.venue.run, reports)
                limiter = trio.CapacityLimiter(_EMERGENCY_PARALLEL_CANCELS)
                while remaining and tries < attempts:
                    tries += 1
                    progress.attempts = tries
                    if isinstance(self.venue, BatchCancelling):
                        await self._emergency_cancel_batch(self.venue, remaining)
                    else:
                        async with trio.open_nursery() as cancels:
                            for venue_order in remaining:
                                cancels.start_soon(self._emergency_cancel, venue_order, limiter)
                    sent += len(remaining)
                    progress.sent(len(remaining))
                    remaining = await self.venue.open_orders()
                    progress.read(remaining)
                    if remaining and tries < attempts:
                        await trio.sleep(pause)
                # Let the venue deliver the reports of the last cancels: wait for a quiet
                # period (no new report for ``settle`` seconds).
                seen = -1
                while seen != self._emergency_reports:
                    seen = self._emergency_reports
                    await trio.sleep(settle)
                reporting.cancel_scope.cancel(reason="emergency cancels sent")
        # A venue that reports by polling may not have told us yet how each order ended:
        # ask, so the journal ends with every order's final state.
        for order in self.working_orders():
            answered, found = await self._lookup(order)
            if answered and found is not None and not order.terminal:
                await self._apply(
                    order, attrs.evolve(found.state, from_lookup=True), _publish_nothing
                )
        return EmergencyCancelFinished(
            venue=self.venue.name,
            open_before=len(open_before),
            cancel_requests=sent,
            remaining=len(remaining),
            remaining_ids=tuple(sorted(o.client_order_id for o in remaining)),
            attempts=tries,
            at=trio.current_time(),
        )

    async def _emergency_cancel_batch(
        self, venue: BatchCancelling, remaining: tuple[VenueOrder, ...]
    ) -> None:
        """Cancel ``remaining`` in batch requests, with two commits whatever their number.

        Write-ahead as everywhere: every order's move to CANCEL_PENDING is committed before
        the request leaves, but all of them in one transaction (with 100 orders, a commit
        each cost 0.1-0.5 s of fsyncs before the venue heard anything). The venue's answers
        are journaled the same way, in one more. The moves, rows and their order are those
        of applying the events one order at a time. The in-memory moves are made with no
        await between them, so a venue report handled meanwhile (:meth:`_drain_reports`)
        moves its order before or after the whole batch, and is journaled on the same side
        of it (the journal takes writes in the order they are asked for).
        """
        requested: list[_Move] = []
        for venue_order in remaining:
            order = self._orders.get(venue_order.client_order_id)
            if order is not None and order.state in _CANCELLABLE:
                self._stage(order, CancelRequested(), requested)
        await self._record_moves(requested)
        outcomes = await venue.cancel_batch(
            [(o.client_order_id, o.state.order_id) for o in remaining]
        )
        answered: list[_Move] = []
        for venue_order, outcome in zip(remaining, outcomes, strict=True):
            order = self._orders.get(venue_order.client_order_id)
            # As _apply_if_legal: the table refuses cancel answers before an ACK.
            if order is not None and not order.terminal and order.state not in _AWAITING_ACK:
                self._stage(order, outcome, answered)
        await self._record_moves(answered)

    async def _emergency_cancel(
        self, venue_order: VenueOrder, limiter: trio.CapacityLimiter
    ) -> None:
        async with limiter:
            order = self._orders.get(venue_order.client_order_id)
            if order is not None and order.state in _CANCELLABLE:
                await self._apply(order, CancelRequested(), _publish_nothing)
            outcome = await self.venue.cancel(
                venue_order.client_order_id, venue_order.state.order_id
            )
            if order is not None and not order.terminal:
                await self._apply_if_legal(order, outcome)

    async def _apply_if_legal(
        self, order: TrackedOrder, outcome: CancelAcknowledged | CancelFailed
    ) -> None:
        if order.state in _AWAITING_ACK:
            return  # the table refuses cancel answers before an ACK; the re-read decides
        await self._apply(order, outcome, _publish_nothing)

    async def _drain_reports(self, inbox: trio.MemoryReceiveChannel[VenueSignal]) -> None:
        """Apply the venue's reports while the emergency step runs, a group commit at a
        time: whatever queued up while the last group was being journaled is the next
        group, so a poll that finds 100 orders cancelled costs a few commits, not 100."""
        async for first in inbox:
            signals = [first]
            while True:
                try:
                    signals.append(inbox.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            self._emergency_reports += len(signals)
            await self._apply_reports([s for s in signals if isinstance(s, VenueReport)])

    async def _apply_reports(self, reports: list[VenueReport]) -> None:
        """:meth:`on_report` for each report, publishing nothing, with the moves that status
        snapshots and expiries make journaled in one transaction. A fill, a report of an
        order owed a cancel, or a snapshot that taught an ended order its venue id first
        writes what is staged, then takes its usual path: the journal keeps the order in
        which the reports came. A report the table refuses is raised, as by
        :meth:`on_report`, once the moves staged before it are journaled."""
        staged: list[_Move] = []
        refused: LifecycleError | None = None
        for report in reports:
            order = self._orders.get(report.client_order_id)
            if order is None:
                self._counts["foreign_reports"] += 1
                continue
            event = report.event
            if isinstance(event, Fill) or order.client_order_id in self._cancel_when_acknowledged:
                await self._record_moves(staged)
                staged = []
                await self.on_report(report, _publish_nothing)
                continue
            try:
                rewrite_row = self._stage(order, event, staged)
            except LifecycleError as error:
                refused = error
                break
            if rewrite_row:
                await self._record_moves(staged)
                staged = []
                intent = self._intents[order.client_order_id]
                with _commit_of_a_move():
                    await self.journal.upsert_order(order.client_order_id, _row(order, intent))
        await self._record_moves(staged)
        if refused is not None:
            raise refused


@attrs.define(kw_only=True)
class _EmergencyProgress:
    """What the emergency step knows so far, for an outcome journaled after a cut-off."""

    known: tuple[str, ...]  #: working in the journal when the step began
    open_before: int | None = None
    last_read: tuple[str, ...] | None = None
    cancel_requests: int = 0
    attempts: int = 0

    def read(self, orders: tuple[VenueOrder, ...], *, first: bool = False) -> None:
        if first:
            self.open_before = len(orders)
        self.last_read = tuple(sorted(o.client_order_id for o in orders))

    def sent(self, count: int) -> None:
        self.cancel_requests += count

    def outcome(
        self, venue: str, *, completed: bool, ended: Callable[[str], bool]
    ) -> EmergencyCancelFinished:
        """The outcome so far: the orders the last read showed open (or all known working
        ones, if nothing could be read), less those since reported ended. A superset of
        what is still open: "check these", never "these are fine"."""
        seen = self.last_read if self.last_read is not None else tuple(sorted(self.known))
        remaining = tuple(coid for coid in seen if not ended(coid))
        return EmergencyCancelFinished(
            venue=venue,
            open_before=len(self.known) if self.open_before is None else self.open_before,
            cancel_requests=self.cancel_requests,
            remaining=len(remaining),
            remaining_ids=remaining,
            attempts=self.attempts,
            at=trio.current_time(),
            completed=completed,
        )


class OrdersRemainOpen(CjtError):
    """The emergency step ended with orders still working at the venue."""

    def __init__(self, outcome: EmergencyCancelFinished, started: float) -> None:
        super().__init__(
            f"{outcome.remaining} order(s) still working at {outcome.venue} after "
            f"{outcome.attempts} cancel round(s): {', '.join(outcome.remaining_ids[:10])}"
        )
        self.outcome = outcome
        self.started = started


# -- helpers -------------------------------------------------------------------------------------


def _new_order(command: SubmitOrder) -> TrackedOrder:
    return TrackedOrder(
        client_order_id=command.client_order_id,
        product_id=command.product_id,
        side=command.side,
        size=command.size,
        limit_price=command.limit_price,
    )


def _copy(order: TrackedOrder) -> TrackedOrder:
    copy = attrs.evolve(order)
    copy.trade_ids = set(order.trade_ids)
    return copy


def _update(order: TrackedOrder, intent: SubmitOrder, before: OrderState) -> OrderUpdated:
    return OrderUpdated(
        strategy=intent.strategy,
        client_order_id=order.client_order_id,
        order_id=order.order_id,
        product_id=order.product_id,
        side=order.side,
        order_type=intent.order_type,
        size=order.size,
        limit_price=order.limit_price,
        previous=before,
        state=order.state,
        filled_size=order.filled_size,
        average_price=order.average_fill_price,
        reason=order.last_reason,
        at=trio.current_time(),
        venue_filled_size=order.venue_cumulative_quantity,
    )


def _log_move(update: OrderUpdated) -> None:
    level = logging.WARNING if update.state is OrderState.UNKNOWN else logging.INFO
    why = f" ({update.reason})" if update.reason else ""
    log_event(
        update,
        f"order {update.client_order_id} {update.previous.value} -> {update.state.value}{why}",
        level=level,
        logger=_log,
    )


def _row(order: TrackedOrder, intent: SubmitOrder) -> dict[str, Any]:
    """The order's row in the journal's ``orders`` table (JSON types only)."""

    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "strategy": intent.strategy,
        "product_id": order.product_id,
        "side": order.side.value,
        "order_type": intent.order_type.value,
        "size": str(order.size),
        "limit_price": text(order.limit_price),
        "state": order.state.value,
        "order_id": order.order_id,
        "filled_size": str(order.filled_size),
        "average_price": text(order.average_fill_price),
        "fees": str(order.fees),
        "trade_ids": sorted(order.trade_ids),
        "submit_attempts": order.submit_attempts,
        "reason": order.last_reason,
    }


@final
class _SettleSink:
    """The venue's outbox during :meth:`ExecutionCore._settle_fills`: reports are applied
    (journaled) and published to nobody; reconciliation signals mean nothing any more."""

    __slots__ = ("_core",)

    def __init__(self, core: ExecutionCore) -> None:
        self._core = core

    async def send(self, value: VenueSignal, /) -> None:
        if isinstance(value, VenueReport):
            await self._core.on_report(value, _publish_to_nobody)

    def send_nowait(self, value: VenueSignal, /) -> None:
        raise trio.WouldBlock  # applying a report awaits the journal

    def close(self) -> None:
        """Nothing to release."""


async def _publish_to_nobody(event: ExecutorOutput) -> None:
    await trio.lowlevel.checkpoint()
