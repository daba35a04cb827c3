"""The trading pipeline of one run: every mailbox, every actor, the supervisors, the root wiring.

This module is the one place where the tree of DESIGN §2 is assembled, so every edge's
buffer and overflow policy is stated here, beside the mailbox that implements it::

    app
    ├── store supervisor ─ store            journal writer; outlives the trading tree so it
    │                                       records the emergency outcome too
    └── Root (signals, emergency protocol, exit code)
        └── trading supervisor              rest_for_one, intensity 5 / 60 s, then escalate
            ├── executor                    venue session, order lifecycle, reconciliation
            ├── risk                        pre-trade gate, trading state, positions and PnL
            ├── book                        L2 books, trust, bars
            ├── feed                        market-data websocket
            └── strategy:<name> ...         one child per configured strategy

Start order is dependency order: the executor has reconciled with the venue before risk can
forward anything to it; strategies start last. rest_for_one: when the book crashes, the feed
and the strategies restart after it, so the feed re-subscribes and the new book gets a fresh
snapshot; when a strategy crashes only the strategies after it restart.

The emergency protocol (DESIGN §3) is wired here: the root's halt hook sets the
:class:`~cjt_actors.halt.HaltLatch` that risk reads before approving anything; risk's kill
switch triggers the root; the root's cleanup step cancels every open order through the
executor's core and verifies none remain; the supervisor giving up reaches the root as
:class:`~cjt_actors.errors.SupervisorGaveUp`.

Cycles of blocking edges would deadlock (strategy → risk → executor → strategy): the strategy
never blocks on its intents (a full intents mailbox is a BACKPRESSURE denial), and every
actor reads each inbox in its own task.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import trio

from .actors.book import BookActor
from .actors.executor import ExecutorActor, ExecutorCommand
from .actors.feed import FeedActor, FeedMessage
from .actors.risk import ExecutorEvent, RiskActor, RiskIntent, RiskRecovery, StrategyEvent
from .actors.store import StoreActor
from .actors.strategy import StrategyActor, StrategyRecovery
from .channels import ConflatingMailbox, Mailbox, Outbox, Overflow
from .chaos import CrashSwitch
from .child import ChildSpec
from .emergency import Root, RootOutcome
from .exchange.ws import Connector
from .execution import ExecutionCore
from .halt import HaltLatch
from .journal import AsyncJournal
from .market_messages import BarClosed, BookUpdated, FeedStatusChanged, TradesReceived
from .messages import Event, StopReason
from .order_messages import HaltTrading, ResumeTrading
from .paper import PaperConfig, PaperVenue
from .policy import Backoff, Intensity, Strategy
from .products import ProductRules
from .recovery import read_journal_state
from .risk_rules import RiskLimits
from .status import StatusBoard
from .strategies.base import Strategy as TradingStrategy
from .supervisor import Supervisor
from .venue import Venue

__all__ = ["Pipeline", "PipelineSettings", "StrategySpec"]

# Mailbox sizes. Order and execution edges BLOCK (never drop) and are sized for bursts well
# beyond a strategy's rate limits; market-data edges conflate or drop the oldest.
#: Events waiting for the disk (risk's decisions, feed status, the book's trust changes,
#: supervision and emergency events); BLOCK: the journal loses nothing.
_JOURNAL_CAPACITY = 4096
_FRAMES_CAPACITY = 1024  #: feed -> book frames; BLOCK: a lost delta corrupts the book
_INTENTS_CAPACITY = 256  #: strategies -> risk; BLOCK, but strategies send without waiting
_COMMANDS_CAPACITY = 256  #: risk -> executor; BLOCK
_ORDER_EVENTS_CAPACITY = 1024  #: executor -> risk and -> each strategy; BLOCK
_FEED_STATUS_CAPACITY = 64  #: feed -> risk; DROP_OLDEST: only the latest status matters
_MARKET_EVENTS_CAPACITY = 256  #: book -> strategy trades and bars; DROP_OLDEST: advisory
_TRADES_CAPACITY = 1024  #: book -> paper executor trades; BLOCK: the queue model needs all

#: Stops someone asked for: with ``cancel_on_stop`` false they leave open orders working.
_REQUESTED_STOPS = frozenset({StopReason.SIGNAL, StopReason.OPERATOR, StopReason.FINISHED})


@attrs.frozen(kw_only=True)
class StrategySpec:
    """One configured strategy: its name and how to make a fresh instance."""

    name: str
    factory: Callable[[], TradingStrategy]


@attrs.frozen(kw_only=True)
class PipelineSettings:
    """Everything a paper-trading run needs, already loaded and validated."""

    products: Mapping[str, ProductRules]
    market_url: str
    strategies: tuple[StrategySpec, ...]
    namespace: str
    risk: RiskLimits = attrs.Factory(RiskLimits)
    paper: PaperConfig = attrs.Factory(PaperConfig)
    connector: Connector | None = None
    intensity: Intensity = attrs.Factory(lambda: Intensity(max_restarts=5, period=60.0))
    backoff: Backoff = attrs.Factory(Backoff)
    book_depth: int = 10
    bar_intervals: tuple[int, ...] = (1, 60)
    max_book_age: float = 10.0
    stale_after: float = 10.0
    timer_interval: float = 1.0
    emergency_timeout: float = 10.0
    seed: int | None = None
    cancel_on_stop: bool = True
    """False: a requested stop (signal, operator, duration) leaves open orders working and
    journals them (``OpenOrdersLeft``); emergencies always cancel."""


class Pipeline:
    """The mailboxes, actors and supervisors of one run (see the module docstring).

    Args:
        settings: what to trade and how.
        journal: the open journal (the caller closes it after :meth:`run`).
        board: where actors publish their status.
        handle_signals: let the root turn SIGINT/SIGTERM into the emergency protocol (only
            in the main thread; tests pass False).
        hard_exit: what the root calls for a hard exit (``os._exit`` by default).
        venue: where orders go; ``None`` (paper trading) makes a :class:`PaperVenue`
            that fills against the book's market data. Any other venue (``CoinbaseVenue``)
            gets no market data from the book: the exchange fills its orders.
        crash_switch: for failure scenarios and the chaos soak: every child of the trading
            supervisor runs wrapped by it (:meth:`CrashSwitch.wrap`, under its child name:
            ``executor``, ``risk``, ``book``, ``feed``, ``strategy:<name>``), so
            :meth:`CrashSwitch.crash` can crash it. None (the default) wraps nothing.
    """

    def __init__(
        self,
        settings: PipelineSettings,
        journal: AsyncJournal,
        *,
        board: StatusBoard,
        handle_signals: bool = True,
        hard_exit: Callable[[int], object] | None = None,
        venue: Venue | None = None,
        crash_switch: CrashSwitch | None = None,
    ) -> None:
        self.settings = settings
        self.crash_switch = crash_switch
        self.journal = journal
        self.board = board
        self.latch = HaltLatch()
        rng = random.Random(settings.seed)
        products = settings.products
        names = [spec.name for spec in settings.strategies]
        if len(set(names)) != len(names):
            raise ValueError(f"strategy names must be unique, got {names}")

        self.journal_box = Mailbox[Event]("journal", capacity=_JOURNAL_CAPACITY)
        extra: dict[str, Callable[[int], object]] = {}
        if hard_exit is not None:
            extra["hard_exit"] = hard_exit
        self.root = root = Root(
            handle_signals=handle_signals,
            observer=self.journal_box.sender(),
            cleanup_deadline=settings.emergency_timeout + 5.0,
            **extra,  # type: ignore[arg-type]
        )
        frames = Mailbox[FeedMessage]("feed->book", capacity=_FRAMES_CAPACITY)
        feed_status = Mailbox[FeedStatusChanged](
            "feed->risk", capacity=_FEED_STATUS_CAPACITY, overflow=Overflow.DROP_OLDEST
        )
        intents = Mailbox[RiskIntent]("strategies->risk", capacity=_INTENTS_CAPACITY)
        commands = Mailbox[ExecutorCommand]("risk->executor", capacity=_COMMANDS_CAPACITY)
        to_risk = Mailbox[ExecutorEvent]("executor->risk", capacity=_ORDER_EVENTS_CAPACITY)
        order_events = {
            name: Mailbox[StrategyEvent](f"orders->{name}", capacity=_ORDER_EVENTS_CAPACITY)
            for name in names
        }
        views_for = {
            name: _views(f"book->{name}", len(products)) for name in [*names, "risk", "executor"]
        }
        market_events = {
            name: Mailbox[TradesReceived | BarClosed](
                f"market->{name}", capacity=_MARKET_EVENTS_CAPACITY, overflow=Overflow.DROP_OLDEST
            )
            for name in names
        }
        trades = Mailbox[TradesReceived]("book->executor:trades", capacity=_TRADES_CAPACITY)
        self.intents = intents
        self.mailboxes: tuple[Mailbox[Any], ...] = (
            frames,
            feed_status,
            intents,
            commands,
            to_risk,
            *order_events.values(),
            *market_events.values(),
            trades,
        )
        self.view_mailboxes = tuple(views_for.values())

        paper: PaperVenue | None = None
        if venue is None:
            paper = PaperVenue(products, settings.paper, rng=random.Random(rng.random()))
            venue = paper
        self.venue: Venue = venue
        # Order requests are timed for /metrics (cjt_venue_request_seconds). Imported here:
        # the ops package reads pipelines, so importing it at the top would be circular.
        from .ops.timing import timed_venue

        self.core = ExecutionCore(timed_venue(self.venue), journal)

        async def recover_risk() -> RiskRecovery:
            state = await read_journal_state(journal)
            return RiskRecovery(
                fills=state.fills,
                working_orders=state.working_orders,
                last_state=state.last_trading_state,
                peak_equity=state.peak_equity,
            )

        def recover_strategy(name: str) -> Callable[[], Awaitable[StrategyRecovery]]:
            async def recover() -> StrategyRecovery:
                state = (await read_journal_state(journal)).for_strategy(name)
                return StrategyRecovery(working_orders=state.working_orders, fills=state.fills)

            return recover

        executor = ExecutorActor(
            core=self.core,
            commands=commands,
            to_risk=to_risk,
            to_strategies=order_events,
            observer=paper,
            market_views=views_for["executor"] if paper is not None else None,
            market_trades=trades if paper is not None else None,
            board=board,
            on_venue_refused=self._venue_refused,
        )
        risk = RiskActor(
            limits=settings.risk,
            products=products,
            intents=intents,
            order_events=to_risk,
            views=views_for["risk"],
            feed_status=feed_status,
            to_executor=commands,
            denials=order_events,
            journal=self.journal_box,
            halt=self.latch,
            kill_switch=self._kill_switch,
            recover=recover_risk,
            board=board,
            namespace=settings.namespace,
        )
        book = BookActor(
            products=products,
            inbox=frames,
            view_outboxes=tuple(
                box for name, box in views_for.items() if name != "executor" or paper is not None
            ),
            market_outboxes=tuple(market_events.values()),
            trade_outboxes=(trades,) if paper is not None else (),
            depth=settings.book_depth,
            bar_intervals=settings.bar_intervals,
            max_age=settings.max_book_age,
            board=board,
            trust_outbox=self.journal_box,
        )
        feed = FeedActor(
            products=tuple(products),
            rules=products,
            url=settings.market_url,
            to_book=frames,
            status_outboxes=(feed_status, self.journal_box),
            connector=settings.connector,
            stale_after=settings.stale_after,
            rng=random.Random(rng.random()),
            board=board,
        )
        strategies = [
            StrategyActor(
                name=spec.name,
                factory=spec.factory,
                products=products,
                views=views_for[spec.name],
                market=market_events[spec.name],
                order_events=order_events[spec.name],
                intents=intents,
                namespace=settings.namespace,
                timer_interval=settings.timer_interval,
                recover=recover_strategy(spec.name),
                board=board,
            )
            for spec in settings.strategies
        ]
        children = [
            ChildSpec(name="executor", run=executor.run, shutdown_timeout=5.0),
            ChildSpec(name="risk", run=risk.run),
            ChildSpec(name="book", run=book.run),
            ChildSpec(name="feed", run=feed.run),
            *(ChildSpec(name=f"strategy:{s.name}", run=s.run) for s in strategies),
        ]
        if crash_switch is not None:
            children = [attrs.evolve(c, run=crash_switch.wrap(c.name, c.run)) for c in children]
        self.trading = Supervisor(
            "trading",
            children,
            strategy=Strategy.REST_FOR_ONE,
            intensity=settings.intensity,
            backoff=settings.backoff,
            mailboxes=self.mailboxes,
            observer=self.journal_box.sender(),
            rng=random.Random(rng.random()),
        )
        store = StoreActor(journal=journal, inbox=self.journal_box, board=board)
        self.store = Supervisor(
            "store",
            [ChildSpec(name="store", run=store.run, shutdown_timeout=10.0)],
            mailboxes=[self.journal_box],
        )
        root.on_halt(self.latch.set)
        root.add_cleanup(
            "cancel open orders", self._emergency_cancel, timeout=settings.emergency_timeout
        )

    def _kill_switch(self, detail: str) -> None:
        self.root.trigger(StopReason.KILL_SWITCH, detail)

    def _venue_refused(self, detail: str) -> None:
        # A revoked key will not come back by restarting the executor: stop now.
        self.root.trigger(StopReason.VENUE_FATAL, detail)

    async def _emergency_cancel(self, reason: StopReason) -> None:
        if not self.settings.cancel_on_stop and reason in _REQUESTED_STOPS:
            await self.core.leave_open(f"{reason.value}: shutdown.on_stop = leave")
            return
        await self.core.emergency_cancel_all()

    async def run(self, *, duration: float | None = None) -> RootOutcome:
        """Run until a stop (signal, kill switch, give-up, ``duration``); return the outcome.

        The store starts first and stops last, after the root's cleanup, so the emergency's
        own events are journaled too.
        """
        async with trio.open_nursery() as nursery:
            await nursery.start(self.store.run)

            async def tree() -> None:
                async with trio.open_nursery() as inner:
                    if duration is not None:
                        inner.start_soon(self._stop_after, duration)
                    await self.trading.run()
                    inner.cancel_scope.cancel(reason="the trading tree returned")

            outcome = await self.root.run(tree)
            nursery.cancel_scope.cancel(reason="the run is over")
        return outcome

    async def _stop_after(self, duration: float) -> None:
        await trio.sleep(duration)
        self.root.trigger(StopReason.OPERATOR, f"the run's duration ({duration:g} s) is over")

    async def halt(self, detail: str, *, flatten: bool = False) -> None:
        """An operator's halt: risk enters HALTED (cancels still pass); with ``flatten``, it
        also cancels every working order and closes every position at market."""
        intent = HaltTrading(detail=detail, at=trio.current_time(), flatten=flatten)
        await self._send_intent(intent)

    async def resume(self, detail: str) -> None:
        """An operator's resume of a manual halt."""
        await self._send_intent(ResumeTrading(detail=detail, at=trio.current_time()))

    async def _send_intent(self, intent: RiskIntent) -> None:
        sender: Outbox[RiskIntent] = self.intents.sender()
        try:
            await sender.send(intent)
        finally:
            sender.close()


def _views(name: str, products: int) -> ConflatingMailbox[str, BookUpdated]:
    """Latest view per product: a slow consumer skips views, never queues them."""
    return ConflatingMailbox[str, BookUpdated](name, key=_product_of, max_keys=max(1, products))


def _product_of(update: BookUpdated) -> str:
    return update.view.product_id
