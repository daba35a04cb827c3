"""The risk actor: the pre-trade gate, the trading state, positions and PnL.

Every decision is made by the pure :class:`~cjt_actors.risk_rules.RiskEngine`; this module
feeds it, delivers its answers, and keeps what must survive a restart.

Receives (one reader task per inbox; each handler is synchronous up to its first await, so
the engine is never seen half-updated):
    * ``intents`` (:class:`SubmitOrder`, :class:`CancelOrder`, :class:`CancelAllOrders`,
      :class:`HaltTrading`, :class:`ResumeTrading`) from the strategies and the operator.
      Expected: BLOCK, a few hundred deep (strategies never wait on it: a full mailbox is
      their BACKPRESSURE denial).
      A :class:`HaltTrading` with ``flatten`` also sends the executor a
      :class:`CancelAllOrders` and one market order per open position that closes it
      (strategy ``risk:flatten``, ids from the run's ``namespace``).
    * ``order_events`` (:class:`OrderUpdated`, :class:`OrderFilled`, and the executor's own
      :class:`OrderDenied` of a submit risk approved; :class:`ReconciliationStateChanged`:
      while the executor reconciles every submit is denied ``RECONCILING``) from the
      executor.
      Expected: BLOCK, never dropped (positions are built from it).
    * ``views``: the latest :class:`BookUpdated` per product from the book (conflating:
      risk only needs the newest mid and trust state).
    * ``feed_status``: :class:`FeedStatusChanged` from the feed (DROP_OLDEST is fine: only
      the latest status matters).
    * a timer: every ``limits.pnl_interval`` seconds it re-evaluates the state and journals
      a :class:`PnlRecorded`.

Sends:
    * ``to_executor``: each approved intent, the very value approved (BLOCK: an executor
      that falls behind slows the approvals down, it never loses one).
    * ``denials[strategy]``: :class:`OrderDenied` to the strategy that asked (a strategy
      not in the mapping is still journaled).
    * ``journal``: every :class:`OrderDenied`, :class:`TradingStateChanged`,
      :class:`KillSwitchTripped`, and a :class:`PnlRecorded` after every state change and
      every ``pnl_interval``. Events are journaled in the order the engine produced them (a
      FIFO lock across the reader tasks), and a batch of state changes is written under a
      shielded deadline, so the journal's last state change is risk's last state.
    * ``board``: a :class:`RiskStatus` under ``name``, built when read from the engine as it
      is then (registered once per incarnation; every message and tick only touches the
      key, so no status is built on the order path: see :mod:`cjt_actors.status`).
    * ``kill_switch(detail)``: once per actor (across restarts), after the kill-switch
      batch is journaled (or its deadline passed). The app wires it to the root's trigger.

Emergency: the root sets the :class:`~cjt_actors.halt.HaltLatch` synchronously; from then
on every submit is refused, and the next evaluation (the next message or tick) reports
HALTED with reason ``EMERGENCY``.

Restart (PERMANENT): every incarnation calls ``recover()`` before it reports ready and
rebuilds positions (distinct fills), working orders and the last trading state from the
journal; then it adopts the memo of the previous incarnation in this process
(:class:`~cjt_actors.risk_rules.RiskMemo`: the state, the peak, the day clock of the daily
loss limit, the cooldown, the rate windows, the approvals not yet reported by the executor,
and the last feed status and book views, which nobody re-sends), fresher than the journal.
A crash never re-arms trading: a HALTED or REDUCING state is kept.

Cancelled: the readers stop where they are. An approved intent whose forward to the
executor was cancelled is withdrawn from the engine (it never reached the executor). A
batch of state changes being journaled is finished within the shutdown deadline.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import TypeAlias

import attrs
import trio

from ..channels import ConflatingMailbox, Mailbox, Outbox
from ..child import ChildContext
from ..halt import HaltLatch
from ..lifecycle import derive_client_order_id
from ..market_messages import BookUpdated, FeedStatusChanged
from ..messages import Event
from ..order_messages import (
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    HaltTrading,
    IntentKind,
    KillSwitchTripped,
    OrderDenied,
    OrderFilled,
    OrderUpdated,
    PositionState,
    ReconciliationStateChanged,
    ResumeTrading,
    SubmitOrder,
    TradingState,
    TradingStateChanged,
)
from ..products import ProductRules
from ..risk_rules import OPERATOR, Decision, RiskEngine, RiskLimits, RiskMemo
from ..status import StatusBoard
from .executor import ExecutorCommand

_log = logging.getLogger(__name__)

#: Rounds of closing orders a flatten sends at most (see ``_Gate._continue_flatten``).
_FLATTEN_ROUNDS = 5

__all__ = [
    "ExecutorEvent",
    "RiskActor",
    "RiskIntent",
    "RiskRecovery",
    "RiskStatus",
    "StrategyEvent",
]

RiskIntent: TypeAlias = SubmitOrder | CancelOrder | CancelAllOrders | HaltTrading | ResumeTrading
"""What strategies and the operator send to risk."""

StrategyEvent: TypeAlias = OrderUpdated | OrderFilled | OrderDenied
"""What a strategy's order-event mailbox carries (risk adds its denials)."""
ExecutorEvent: TypeAlias = OrderUpdated | OrderFilled | OrderDenied | ReconciliationStateChanged
"""What the executor sends risk: order events, its denials of approved submits, and when it
starts and stops reconciling with the venue."""


@attrs.frozen(kw_only=True)
class RiskRecovery:
    """What the journal says, for a starting incarnation.

    Attributes:
        fills: every fill (repeats by ``trade_id`` are ignored).
        working_orders: the latest :class:`OrderUpdated` of each non-terminal order.
        last_state: risk's last journaled :class:`TradingStateChanged`, if any.
        peak_equity: the highest equity risk journaled, if any.
    """

    fills: tuple[OrderFilled, ...] = ()
    working_orders: tuple[OrderUpdated, ...] = ()
    last_state: TradingStateChanged | None = None
    peak_equity: Decimal | None = None


@attrs.frozen(kw_only=True)
class RiskStatus:
    """Risk as the status line and health checks see it (on the board as ``risk``).

    ``denials`` counts refusals by :class:`DenyReason` code since the actor was made (across
    restarts); ``approved`` and ``cancels`` count forwarded submits and cancels likewise.
    ``unjournaled`` counts state-change batches whose journaling missed its deadline.
    ``gross_exposure`` is the worst case risk checks against (working orders included),
    unlike :attr:`PnlRecorded.gross_exposure` (positions only).

    Built when read, from the engine as it is then. ``at`` is when risk last handled a
    message or a tick (trio's clock): the moment the figures are of, since the engine only
    changes in those handlers. It stops moving while risk is down or stuck, which is how a
    reader tells a live risk from the last picture of a dead one.
    """

    state: TradingState
    reason: str
    detail: str
    equity: Decimal
    peak_equity: Decimal
    drawdown: Decimal
    day_pnl: Decimal
    gross_exposure: Decimal
    positions: tuple[PositionState, ...]
    open_orders: int
    approved: int
    cancels: int
    denials: tuple[tuple[str, int], ...]
    cooldown_until: float | None
    feed: str
    kill_switch_tripped: bool
    unjournaled: int
    at: float
    reconciling: bool = False


@attrs.define(kw_only=True)
class RiskActor:
    """See the module docstring."""

    limits: RiskLimits
    products: Mapping[str, ProductRules]
    intents: Mailbox[RiskIntent]
    order_events: Mailbox[ExecutorEvent]
    views: ConflatingMailbox[str, BookUpdated]
    feed_status: Mailbox[FeedStatusChanged]
    to_executor: Mailbox[ExecutorCommand]
    denials: Mapping[str, Mailbox[StrategyEvent]]
    journal: Mailbox[Event]
    halt: HaltLatch
    kill_switch: Callable[[str], None]
    recover: Callable[[], Awaitable[RiskRecovery]]
    board: StatusBoard | None = None
    name: str = "risk"
    namespace: str = "risk"
    """Where the ``client_order_id`` of a flatten's orders come from (the run's namespace)."""
    # Carried across incarnations on purpose (see "Restart" in the module docstring).
    _memo: RiskMemo | None = attrs.field(default=None, init=False)
    _started_at: float | None = attrs.field(default=None, init=False)
    _kill_switch_called: bool = attrs.field(default=False, init=False)
    _denial_counts: collections.Counter[DenyReason] = attrs.field(
        factory=collections.Counter, init=False
    )
    _approved: int = attrs.field(default=0, init=False)
    _cancels: int = attrs.field(default=0, init=False)
    _unjournaled: int = attrs.field(default=0, init=False)
    _evaluated_at: float = attrs.field(default=0.0, init=False)
    _flattens: int = attrs.field(default=0, init=False)
    _flatten_rounds_left: int = attrs.field(default=0, init=False)

    async def run(
        self, ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        recovery = await self.recover()
        now = trio.current_time()
        if self._started_at is None:
            self._started_at = now
        engine = RiskEngine(
            self.limits, self.products, started_at=self._started_at, latch=self.halt
        )
        engine.restore(
            fills=recovery.fills,
            working_orders=recovery.working_orders,
            last_state=recovery.last_state,
            peak_equity=recovery.peak_equity,
            now=now,
        )
        if self._memo is not None:
            engine.adopt(self._memo)
        if self.board is not None:
            # Built when read: risk is on the order path, its readers are not. No checkpoint
            # until the first evaluation below, so no reader sees this engine unevaluated.
            self.board.publish_source(self.name, partial(self._status, engine))
        gate = _Gate(
            actor=self,
            engine=engine,
            ctx=ctx,
            executor=ctx.sender(self.to_executor),
            journal=ctx.sender(self.journal),
            strategies={name: ctx.sender(box) for name, box in self.denials.items()},
        )
        intents = ctx.receiver(self.intents)
        order_events = ctx.receiver(self.order_events)
        feed_status = ctx.receiver(self.feed_status)
        async with trio.open_nursery() as nursery:
            await gate.after(now)  # e.g. the latch was set while risk was down
            nursery.start_soon(gate.read_intents, intents)
            nursery.start_soon(gate.read_order_events, order_events)
            nursery.start_soon(gate.read_views, self.views)
            nursery.start_soon(gate.read_feed_status, feed_status)
            nursery.start_soon(gate.tick)
            task_status.started()

    def _remember(self, engine: RiskEngine, now: float) -> None:
        """Keep the engine's memo for the next incarnation (synchronously, so no crash or
        cancellation can fall between a decision and its memo); mark the status as changed
        (it is built when read: :meth:`_status`)."""
        self._memo = engine.memo()
        self._evaluated_at = now
        if self.board is not None:
            self.board.touch(self.name, now)

    def _flatten_id(self, product_id: str) -> str:
        self._flattens += 1
        return derive_client_order_id(self.namespace, f"risk:flatten:{self._flattens}")

    def _trip(self, detail: str) -> None:
        if not self._kill_switch_called:
            self._kill_switch_called = True
            self.kill_switch(detail)

    def _status(self, engine: RiskEngine) -> RiskStatus:
        """The status of ``engine`` as it is now (the board's source, see :meth:`run`)."""
        now = self._evaluated_at
        pnl = engine.snapshot(now)
        feed = engine.feed_state
        return RiskStatus(
            state=engine.state,
            reason=engine.state_reason,
            detail=engine.state_detail,
            equity=pnl.equity,
            peak_equity=pnl.peak_equity,
            drawdown=pnl.drawdown,
            day_pnl=engine.day_pnl(),
            gross_exposure=engine.gross_exposure(),
            positions=pnl.positions,
            open_orders=pnl.open_orders,
            approved=self._approved,
            cancels=self._cancels,
            denials=tuple(sorted((r.value, n) for r, n in self._denial_counts.items())),
            cooldown_until=engine.cooldown_until,
            feed="unknown" if feed is None else feed.value,
            kill_switch_tripped=engine.kill_switch_tripped,
            unjournaled=self._unjournaled,
            at=now,
            reconciling=engine.reconciling,
        )


@attrs.define(kw_only=True, eq=False)
class _Gate:
    """One incarnation's engine and channel ends, and the handlers of its reader tasks."""

    actor: RiskActor
    engine: RiskEngine
    ctx: ChildContext
    executor: Outbox[ExecutorCommand]
    journal: Outbox[Event]
    strategies: Mapping[str, Outbox[StrategyEvent]]
    # FIFO: journal writes from several tasks land in the order they were produced.
    lock: trio.StrictFIFOLock = attrs.field(factory=trio.StrictFIFOLock)

    # -- readers ------------------------------------------------------------------------------

    async def read_intents(self, inbox: trio.MemoryReceiveChannel[RiskIntent]) -> None:
        engine = self.engine
        async for intent in inbox:
            now = trio.current_time()
            match intent:
                case SubmitOrder():
                    await self._submit(intent, now)
                case CancelOrder():
                    await self._cancel(intent, now)
                case CancelAllOrders():
                    engine.check_cancel_all(intent, now)
                    await self.executor.send(intent)
                    self.actor._cancels += 1
                case HaltTrading():
                    engine.halt(OPERATOR, f"operator: {intent.detail}", now=now)
                    if intent.flatten:
                        await self._flatten(intent.detail, now)
                case ResumeTrading():
                    decision = engine.resume(intent.detail, now=now)
                    if not decision.approved:
                        _log.warning(
                            "resume refused: %s",
                            decision.detail,
                            extra={"event": "resume_refused", "detail_": intent.detail},
                        )
                case _:
                    raise AssertionError(f"not a risk intent: {intent!r}")
            await self.after(now)

    async def read_order_events(self, inbox: trio.MemoryReceiveChannel[ExecutorEvent]) -> None:
        engine = self.engine
        async for event in inbox:
            now = trio.current_time()
            if isinstance(event, OrderFilled):
                engine.on_order_filled(event, now)
            elif isinstance(event, OrderDenied):
                engine.on_order_denied(event)
            elif isinstance(event, ReconciliationStateChanged):
                engine.on_reconciliation(event)
            else:
                engine.on_order_updated(event)
            await self.after(now)
            await self._continue_flatten(now)

    async def read_views(self, views: ConflatingMailbox[str, BookUpdated]) -> None:
        async for update in views.receiver():
            self.engine.on_view(update.view)
            await self.after(trio.current_time())

    async def read_feed_status(self, inbox: trio.MemoryReceiveChannel[FeedStatusChanged]) -> None:
        async for status in inbox:
            self.engine.on_feed_status(status)
            await self.after(trio.current_time())

    async def tick(self) -> None:
        interval = self.actor.limits.pnl_interval
        due = trio.current_time()
        while True:
            # A fixed cadence; a tick delayed past the next one skips it rather than bunch up.
            due = max(due + interval, trio.current_time())
            await trio.sleep_until(due)
            await self.after(trio.current_time(), snapshot=True)

    # -- handlers ------------------------------------------------------------------------------

    async def _submit(self, order: SubmitOrder, now: float) -> None:
        decision = self.engine.check_submit(order, now)
        if not decision.approved:
            await self._deny(
                IntentKind.SUBMIT,
                order.strategy,
                order.client_order_id,
                order.product_id,
                decision,
                now,
            )
            return
        self.actor._remember(self.engine, now)
        try:
            await self.executor.send(order)
        except BaseException:
            # Not sent (a cancelled send never delivers): it must not count as working.
            self.engine.withdraw(order)
            self.actor._remember(self.engine, now)
            raise
        self.actor._approved += 1

    async def _flatten(self, detail: str, now: float) -> None:
        """Cancel every working order; close the positions once no order works any more."""
        await self.executor.send(
            CancelAllOrders(reason=f"flatten: {detail}", product_id="", at=now)
        )
        self.actor._cancels += 1
        self.actor._flatten_rounds_left = _FLATTEN_ROUNDS
        await self._continue_flatten(now)

    async def _continue_flatten(self, now: float) -> None:
        """One round of a flatten, if one is under way and nothing works any more.

        Why wait for every order to end: a quote that fills between the cancel-all and its
        cancel changes the position after it was read; closing orders sized before that
        would leave it open. Each round closes what the position is once everything has
        settled; a fill that still lands later gets another round (at most
        ``_FLATTEN_ROUNDS``, so a venue that refuses market orders cannot loop forever).
        """
        actor = self.actor
        if actor._flatten_rounds_left <= 0 or not self.engine.settled:
            return  # an order works, or fills the venue reported have not arrived yet
        orders, dust = self.engine.flatten_orders(actor._flatten_id, now=now)
        if not orders:
            actor._flatten_rounds_left = 0
            for what in dust:
                _log.warning("flatten: %s: left as it is", what, extra={"event": "flatten_dust"})
            _log.info("flatten: no position left to close", extra={"event": "flatten_done"})
            return
        actor._flatten_rounds_left -= 1
        actor._remember(self.engine, now)
        for order in orders:
            await self.executor.send(order)
            actor._approved += 1
        if actor._flatten_rounds_left == 0:
            _log.warning(
                "flatten: %d rounds sent; positions may remain: check /status",
                _FLATTEN_ROUNDS,
                extra={"event": "flatten_gave_up"},
            )

    async def _cancel(self, cancel: CancelOrder, now: float) -> None:
        decision = self.engine.check_cancel(cancel, now)
        if decision.approved:
            await self.executor.send(cancel)
            self.actor._cancels += 1
            return
        product = self.engine.product_of(cancel.client_order_id) or ""
        await self._deny(
            IntentKind.CANCEL, cancel.strategy, cancel.client_order_id, product, decision, now
        )

    async def _deny(
        self,
        kind: IntentKind,
        strategy: str,
        client_order_id: str,
        product_id: str,
        decision: Decision,
        now: float,
    ) -> None:
        assert decision.reason is not None
        self.actor._denial_counts[decision.reason] += 1
        denied = OrderDenied(
            strategy=strategy,
            client_order_id=client_order_id,
            product_id=product_id,
            intent=kind,
            reason=decision.reason,
            detail=f"risk: {decision.detail}",
            at=now,
        )
        async with self.lock:
            await self.journal.send(denied)
        owner = self.strategies.get(strategy)
        if owner is not None:
            await owner.send(denied)

    async def after(self, now: float, *, snapshot: bool = False) -> None:
        """Evaluate and remember (synchronously), then journal what changed."""
        engine = self.engine
        events = engine.evaluate(now)
        self.actor._remember(engine, now)
        if events:
            await self._journal_changes(events, now)
        elif snapshot:
            async with self.lock:
                await self.journal.send(engine.snapshot(now))

    async def _journal_changes(self, events: list[Event], now: float) -> None:
        trip = next((e.detail for e in events if isinstance(e, KillSwitchTripped)), None)
        try:
            with self.ctx.cleanup() as scope:
                async with self.lock:
                    for event in events:
                        await self.journal.send(event)
                    await self.journal.send(self.engine.snapshot(now))
            if scope.cancelled_caught:
                self.actor._unjournaled += 1
                self.actor._remember(self.engine, trio.current_time())
        finally:
            if trip is not None:
                self.actor._trip(trip)
