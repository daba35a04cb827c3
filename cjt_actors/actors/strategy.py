"""The strategy actor: runs one configured strategy, turns its intents into commands for risk.

Receives:
    * ``views`` (:class:`BookUpdated`), from the book: a :class:`ConflatingMailbox` keyed by
      product (one pending view per product; a slow strategy skips views, never queues them).
    * ``market`` (:class:`TradesReceived`, :class:`BarClosed`), from the book: DROP_OLDEST
      (advisory data; a strategy that falls behind loses the oldest frames, counted there).
    * ``order_events`` (:class:`OrderUpdated`, :class:`OrderFilled`, :class:`OrderDenied`),
      from the executor and risk: BLOCK, never dropped (the producers wait for us).
    * a timer: ``on_timer`` every ``timer_interval`` seconds of trio's clock.

Sends:
    * ``intents`` (:class:`SubmitOrder`, :class:`CancelOrder`), to risk, **without ever
      waiting** (``send_nowait``). The intents edge is part of a cycle of blocking edges,
      strategy -> risk -> executor -> strategy: if the strategy waited on a full intents
      mailbox while the executor waited on the strategy's full order-events mailbox, nobody
      would move again. So a full intents mailbox turns the intent into a local
      :class:`OrderDenied` with :attr:`DenyReason.BACKPRESSURE`: the context drops the order
      at once, the denial is counted, and the strategy hears of it through ``on_order`` like
      any other denial, after a checkpoint (from a small queue with its own task, so a
      strategy that re-submits on every denial cannot recurse or starve risk).
    * its status (:class:`StrategyStatus`) on the board, as ``strategy:<name>``: built when
      read from the incarnation's counters and context as they are then (registered once
      per incarnation; each callback only touches the key, so the order path builds no
      status: see :mod:`cjt_actors.status`).

What it expects of the mailboxes (the pipeline makes them): ``intents`` BLOCK, sized for a
burst of every strategy's quotes at once (a few hundred): full means risk is behind, and
the strategy then gets denials, not a stall; ``order_events`` BLOCK (never drop); ``market``
DROP_OLDEST; ``views`` conflating with one key per product.

How intents become commands: :class:`Submit` -> :class:`SubmitOrder` (``MARKET`` when the
price is ``None``), :class:`Cancel` -> :class:`CancelOrder`, :class:`Replace` -> a
:class:`CancelOrder` then a :class:`SubmitOrder` (not atomic). A cancel of an order that is
not working, or is already being cancelled, is not sent (counted as skipped). Every order's
``client_order_id`` is :func:`~cjt_actors.lifecycle.derive_client_order_id` of the run's
``namespace`` and ``"<name>:<incarnation>:<n>"``: it never repeats within a run, across
restarts included.

**Pause after a denial.** When risk or the executor denies a submit, new submits for that
product are held back (not sent, not recorded, counted as ``held_submits``) for
``denial_pause`` seconds of trio's clock. Why: a strategy that re-quotes on every event would
otherwise answer each denial with a new submit at once, and while trading is HALTED or
RECONCILING that is a loop of thousands of intents and journaled denials a second between
strategy, risk and back. A held submit is as if the strategy had not asked: it asks again
on a later callback. Cancels are never held.

One reader task per inbox plus the timer task; callbacks are synchronous, so the context
never changes while one runs.

Restart (PERMANENT, last children of the trading supervisor): every incarnation builds a new
strategy with ``factory`` (fresh state), then seeds the context from ``recover`` (this
strategy's working orders and fills from the journal), so a restarted market maker replaces
its old quotes instead of stacking new ones. Events still queued in the mailboxes are read
after the seed; the context refuses the stale ones (see :class:`StrategyState`).

Failure: an exception from a strategy callback is not caught: it crashes the actor, the
supervisor restarts it, and repeated crashes escalate. Cancelled: it just stops (nothing to
flush: every intent was sent or denied synchronously; quotes left working are the root's
emergency step's business).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, ParamSpec

import attrs
import trio

from ..channels import ConflatedReceiver, ConflatingMailbox, Mailbox, Outbox
from ..child import ChildContext
from ..errors import InvalidSpec
from ..lifecycle import derive_client_order_id
from ..market_messages import BarClosed, BookUpdated, TradesReceived
from ..order_messages import (
    CancelOrder,
    DenyReason,
    IntentKind,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
)
from ..products import ProductRules
from ..status import StatusBoard
from ..strategies.base import (
    DEFAULT_BAR_HISTORY,
    Cancel,
    Intent,
    OrderEvent,
    Replace,
    Strategy,
    StrategyState,
    Submit,
)

__all__ = ["StrategyActor", "StrategyRecovery", "StrategyStatus"]

P = ParamSpec("P")

_BACKPRESSURE_DENIALS: Final = 256
"""Local denials waiting to be told to the strategy. More than that (a strategy that keeps
submitting into a full mailbox) are counted as undelivered: the context already dropped
those orders, only the notification is lost."""


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidSpec(f"StrategyActor.{attribute.name} must be a non-empty str, got {value!r}")


def _non_negative_seconds(
    instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise InvalidSpec(
            f"StrategyActor.{attribute.name} must be a finite number of seconds >= 0, got {value!r}"
        )


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise InvalidSpec(
            f"StrategyActor.{attribute.name} must be a positive, finite number of seconds, "
            f"got {value!r}"
        )


@attrs.frozen(kw_only=True)
class StrategyRecovery:
    """What the journal knows about one strategy: its working orders and its fills."""

    working_orders: tuple[OrderUpdated, ...] = ()
    fills: tuple[OrderFilled, ...] = ()


@attrs.frozen(kw_only=True)
class StrategyStatus:
    """One incarnation's counters (published on the board as ``strategy:<name>``).

    ``denials`` is ``(reason code, count)`` pairs, sorted; ``positions`` likewise by product.
    """

    name: str
    incarnation: int
    submits_sent: int
    cancels_sent: int
    cancels_skipped: int
    replaces_skipped: int
    denials: tuple[tuple[str, int], ...]
    backpressure: int
    undelivered_denials: int
    held_submits: int
    working_orders: int
    positions: tuple[tuple[str, Decimal], ...]


@attrs.define(kw_only=True)
class StrategyActor:
    """See the module docstring."""

    name: str = attrs.field(validator=_non_empty)
    factory: Callable[[], Strategy]
    products: Mapping[str, ProductRules]
    views: ConflatingMailbox[str, BookUpdated]
    market: Mailbox[TradesReceived | BarClosed]
    order_events: Mailbox[OrderUpdated | OrderFilled | OrderDenied]
    intents: Mailbox[Any]
    """Risk's inbox. ``Any`` because that mailbox also carries operator commands (halt,
    resume) and a :class:`Mailbox` is invariant; this actor only ever puts
    :class:`SubmitOrder` and :class:`CancelOrder` in it (its sender is typed so)."""
    namespace: str = attrs.field(validator=_non_empty)
    timer_interval: float = attrs.field(default=1.0, validator=_positive_seconds)
    denial_pause: float = attrs.field(default=1.0, validator=_non_negative_seconds)
    recover: Callable[[], Awaitable[StrategyRecovery]] | None = None
    board: StatusBoard | None = None
    bar_history: int = DEFAULT_BAR_HISTORY

    async def run(
        self, ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        strategy = self.factory()
        state = StrategyState(self.name, self.products, bar_history=self.bar_history)
        if self.recover is not None:
            recovery = await self.recover()
            state.seed(recovery.working_orders, recovery.fills)
        driver = _Driver(
            name=self.name,
            namespace=self.namespace,
            incarnation=ctx.incarnation,
            strategy=strategy,
            state=state,
            intents=ctx.sender(self.intents),
            board=self.board,
            denial_pause=self.denial_pause,
        )
        views = self.views.receiver()
        market = ctx.receiver(self.market)
        order_events = ctx.receiver(self.order_events)
        driver.publish_source()
        try:
            driver.dispatch(strategy.on_start, state)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_views, views, driver)
                nursery.start_soon(self._read_market, market, driver)
                nursery.start_soon(self._read_order_events, order_events, driver)
                nursery.start_soon(driver.deliver_local_denials)
                nursery.start_soon(self._tick, driver)
                task_status.started()
        finally:
            views.close()

    @staticmethod
    async def _read_views(views: ConflatedReceiver[BookUpdated], driver: _Driver) -> None:
        async for update in views:
            driver.state.record_view(update.view)
            # The frame that changed the book is what this view's orders answer to.
            driver.trigger_at = update.view.updated_at
            try:
                driver.dispatch(driver.strategy.on_book, update.view, driver.state)
            finally:
                driver.trigger_at = None

    @staticmethod
    async def _read_market(
        market: trio.MemoryReceiveChannel[TradesReceived | BarClosed], driver: _Driver
    ) -> None:
        async for event in market:
            if isinstance(event, TradesReceived):
                driver.dispatch(driver.strategy.on_trades, event, driver.state)
            else:
                driver.state.record_bar(event)
                driver.dispatch(driver.strategy.on_bar, event, driver.state)

    @staticmethod
    async def _read_order_events(
        events: trio.MemoryReceiveChannel[OrderUpdated | OrderFilled | OrderDenied],
        driver: _Driver,
    ) -> None:
        async for event in events:
            driver.order_event(event)

    async def _tick(self, driver: _Driver) -> None:
        """``on_timer`` every interval; ticks missed while the loop was busy are skipped,
        not bunched (a strategy gets one tick, then the next an interval later)."""
        interval = self.timer_interval
        deadline = trio.current_time() + interval
        while True:
            await trio.sleep_until(deadline)
            driver.dispatch(driver.strategy.on_timer, driver.state)
            deadline += interval
            now = trio.current_time()
            if deadline <= now:
                deadline = now + interval


class _Driver:
    """One incarnation's glue between the strategy and the intents mailbox."""

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        incarnation: int,
        strategy: Strategy,
        state: StrategyState,
        intents: Outbox[SubmitOrder | CancelOrder],
        board: StatusBoard | None,
        denial_pause: float = 0.0,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.incarnation = incarnation
        self.strategy = strategy
        self.state = state
        self.intents = intents
        self.board = board
        self._status_key = f"strategy:{name}"
        self._sequence = 0
        self._denials: collections.deque[OrderDenied] = collections.deque()
        self._denials_waiting = trio.lowlevel.ParkingLot()
        self._counts = collections.Counter[str]()
        self._denied = collections.Counter[str]()
        self._denial_pause = denial_pause
        #: While ``on_book`` runs: when the frame behind its view arrived (tick-to-trade).
        self.trigger_at: float | None = None
        self._paused_until: dict[str, float] = {}

    # -- callbacks ----------------------------------------------------------------------------

    def dispatch(
        self, callback: Callable[P, Iterable[Intent]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Run one callback (``now`` set first) and send what it asks for, in order."""
        now = trio.current_time()
        self.state.set_now(now)
        intents: Iterable[object] = callback(*args, **kwargs)
        for intent in intents:
            self._send(intent)
        self._touch(now)

    def order_event(self, event: OrderEvent) -> None:
        """Apply an order event; tell the strategy unless it was stale or a replay."""
        if isinstance(event, OrderDenied):
            self._denied[event.reason.value] += 1
            if event.intent is IntentKind.SUBMIT and self._denial_pause > 0:
                until = trio.current_time() + self._denial_pause
                self._paused_until[event.product_id] = until
        if self.state.apply(event):
            self.dispatch(self.strategy.on_order, event, self.state)
        else:
            self._touch(trio.current_time())

    async def deliver_local_denials(self) -> None:
        """Tell the strategy of backpressure denials, one per checkpoint."""
        while True:
            while not self._denials:
                await self._denials_waiting.park()
            self.dispatch(self.strategy.on_order, self._denials.popleft(), self.state)
            await trio.lowlevel.checkpoint()

    # -- intents ------------------------------------------------------------------------------

    def _send(self, intent: object) -> None:
        match intent:
            case Submit():
                self._submit(intent)
            case Cancel():
                if self._cancellable(intent.client_order_id):
                    self._cancel(intent.client_order_id, intent.reason)
                else:
                    self._counts["cancels_skipped"] += 1
            case Replace():
                self._replace(intent)
            case _:
                raise InvalidSpec(
                    f"strategy {self.name!r} returned {intent!r}: intents are Submit, Cancel "
                    f"or Replace"
                )

    def _cancellable(self, client_order_id: str) -> bool:
        """Working, and no cancel of it asked for yet."""
        state = self.state
        return client_order_id in state.working_orders and not state.is_cancelling(client_order_id)

    def _replace(self, replace: Replace) -> None:
        coid = replace.client_order_id
        if coid not in self.state.working_orders:
            self._counts["replaces_skipped"] += 1
            return
        if self.state.is_cancelling(coid):
            self._submit(replace.submit)  # its cancel is already on its way
        elif self._cancel(coid, replace.reason):
            self._submit(replace.submit)
        else:
            # Sending the new order without the cancel would stack a second one.
            self._refuse_submit(replace.submit, "the cancel of the replaced order")

    def _submit(self, submit: Submit) -> None:
        now = trio.current_time()
        if now < self._paused_until.get(submit.product_id, -math.inf):
            self._counts["held_submits"] += 1
            return
        order = SubmitOrder(
            strategy=self.name,
            client_order_id=self._next_id(),
            product_id=submit.product_id,
            side=submit.side,
            order_type=OrderType.MARKET if submit.price is None else OrderType.LIMIT,
            size=submit.size,
            limit_price=submit.price,
            time_in_force=submit.time_in_force,
            post_only=submit.post_only,
            at=now,
            trigger_at=self.trigger_at,
        )
        try:
            self.intents.send_nowait(order)
        except trio.WouldBlock:
            self._backpressure(order.client_order_id, order.product_id, IntentKind.SUBMIT, "")
        else:
            self._counts["submits_sent"] += 1
            self.state.record_submit(order, submit.tag)

    def _refuse_submit(self, submit: Submit, what: str) -> None:
        self._backpressure(self._next_id(), submit.product_id, IntentKind.SUBMIT, what)

    def _cancel(self, client_order_id: str, reason: str) -> bool:
        command = CancelOrder(
            strategy=self.name,
            client_order_id=client_order_id,
            reason=reason,
            at=trio.current_time(),
        )
        try:
            self.intents.send_nowait(command)
        except trio.WouldBlock:
            product = self.state.working_orders[client_order_id].product_id
            self._backpressure(client_order_id, product, IntentKind.CANCEL, "")
            return False
        self._counts["cancels_sent"] += 1
        self.state.record_cancel(client_order_id)
        return True

    def _next_id(self) -> str:
        self._sequence += 1
        return derive_client_order_id(
            self.namespace, f"{self.name}:{self.incarnation}:{self._sequence}"
        )

    def _backpressure(
        self, client_order_id: str, product_id: str, intent: IntentKind, what: str
    ) -> None:
        self._counts["backpressure"] += 1
        self._denied[DenyReason.BACKPRESSURE.value] += 1
        subject = f"{what} could not be sent" if what else "not sent"
        denied = OrderDenied(
            strategy=self.name,
            client_order_id=client_order_id,
            product_id=product_id,
            intent=intent,
            reason=DenyReason.BACKPRESSURE,
            detail=f"strategy: the intents mailbox is full; {subject}",
            at=trio.current_time(),
        )
        self.state.apply(denied)
        if len(self._denials) >= _BACKPRESSURE_DENIALS:
            self._counts["undelivered_denials"] += 1
            return
        self._denials.append(denied)
        self._denials_waiting.unpark_all()

    # -- status -------------------------------------------------------------------------------

    def publish_source(self) -> None:
        """Register this incarnation's status on the board, built when read (:meth:`status`)."""
        if self.board is not None:
            self.board.publish_source(self._status_key, self.status)

    def status(self) -> StrategyStatus:
        """The counters and the context as they are now (the board's source)."""
        counts = self._counts
        return StrategyStatus(
            name=self.name,
            incarnation=self.incarnation,
            submits_sent=counts["submits_sent"],
            cancels_sent=counts["cancels_sent"],
            cancels_skipped=counts["cancels_skipped"],
            replaces_skipped=counts["replaces_skipped"],
            denials=tuple(sorted(self._denied.items())),
            backpressure=counts["backpressure"],
            undelivered_denials=counts["undelivered_denials"],
            held_submits=counts["held_submits"],
            working_orders=len(self.state.working_orders),
            positions=tuple(sorted(self.state.positions.items())),
        )

    def _touch(self, now: float) -> None:
        """Mark the status as changed at ``now`` (it is built when read)."""
        if self.board is not None:
            self.board.touch(self._status_key, now)
