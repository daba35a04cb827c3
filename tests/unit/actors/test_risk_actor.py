"""The risk actor with real mailboxes under trio's MockClock: what it forwards, denies,
journals, publishes and recovers, and its kill switch."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import pytest
import trio
import trio.testing

from cjt_actors.actors.executor import ExecutorCommand
from cjt_actors.actors.risk import (
    RiskActor,
    RiskIntent,
    RiskRecovery,
    RiskStatus,
    StrategyEvent,
)
from cjt_actors.channels import ConflatingMailbox, Mailbox
from cjt_actors.child import ChildSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.halt import HaltLatch
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.market_messages import BookUpdated, FeedState, FeedStatusChanged
from cjt_actors.messages import Event, StopReason
from cjt_actors.order_messages import (
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    HaltTrading,
    IntentKind,
    KillSwitchTripped,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    PnlRecorded,
    ResumeTrading,
    SubmitOrder,
    TimeInForce,
    TradingState,
    TradingStateChanged,
)
from cjt_actors.orderbook import BookView
from cjt_actors.policy import Backoff
from cjt_actors.products import ProductRules
from cjt_actors.risk_rules import (
    DAILY_LOSS_LIMIT,
    EMERGENCY,
    FLATTEN_STRATEGY,
    OPERATOR,
    RESUMED,
    SHUTDOWN,
    RiskEngine,
    RiskLimits,
)
from cjt_actors.status import StatusBoard
from cjt_actors.supervisor import Supervisor

D = Decimal
T = TypeVar("T")
BTC = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.00000001"),
    price_increment=D("0.01"),
    base_min_size=D("0.00001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)


def view(bid: str = "49990", ask: str = "50010") -> BookUpdated:
    now = trio.current_time()
    best_bid, best_ask = D(bid), D(ask)
    return BookUpdated(
        view=BookView(
            product_id="BTC-USD",
            best_bid=best_bid,
            best_bid_size=D(1),
            best_ask=best_ask,
            best_ask_size=D(1),
            mid=(best_bid + best_ask) / 2,
            spread=best_ask - best_bid,
            bids=((best_bid, D(1)),),
            asks=((best_ask, D(1)),),
            last_trade_price=None,
            last_trade_size=None,
            trusted=True,
            trust_reason=None,
            updated_at=now,
            as_of=now,
            sequence=1,
        )
    )


def submit(coid: str = "c1", *, strategy: str = "mm", size: str = "0.01") -> SubmitOrder:
    return SubmitOrder(
        strategy=strategy,
        client_order_id=coid,
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=D(size),
        limit_price=D(50000),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        at=0.0,
    )


def fill(
    trade_id: str, *, side: Side = Side.BUY, price: str = "50000", size: str = "0.1"
) -> OrderFilled:
    return OrderFilled(
        strategy="mm",
        client_order_id="c-" + trade_id,
        order_id="v",
        product_id="BTC-USD",
        side=side,
        trade_id=trade_id,
        price=D(price),
        size=D(size),
        fee=D(0),
        liquidity=Liquidity.TAKER,
        at=0.0,
    )


def updated(order: SubmitOrder, state: OrderState) -> OrderUpdated:
    return OrderUpdated(
        strategy=order.strategy,
        client_order_id=order.client_order_id,
        order_id="v",
        product_id=order.product_id,
        side=order.side,
        order_type=order.order_type,
        size=order.size,
        limit_price=order.limit_price,
        previous=OrderState.PENDING,
        state=state,
        filled_size=D(0),
        average_price=None,
        reason="",
        at=0.0,
    )


def connected() -> FeedStatusChanged:
    return FeedStatusChanged(state=FeedState.CONNECTED, detail="", attempt=0, at=0.0)


def drain(box: Mailbox[T]) -> list[T]:
    inbox = box.receiver()
    out: list[T] = []
    try:
        while True:
            out.append(inbox.receive_nowait())
    except trio.WouldBlock:
        return out
    finally:
        inbox.close()


def without_pnl(events: list[Event]) -> list[Event]:
    return [e for e in events if not isinstance(e, PnlRecorded)]


@attrs.define
class Rig:
    """The actor's mailboxes, a board, a latch and a recorder for the kill switch."""

    limits: RiskLimits = attrs.Factory(RiskLimits)
    intents: Mailbox[RiskIntent] = attrs.Factory(lambda: Mailbox[RiskIntent]("i", capacity=64))
    order_events: Mailbox[OrderUpdated | OrderFilled] = attrs.Factory(
        lambda: Mailbox[OrderUpdated | OrderFilled]("o", capacity=64)
    )
    views: ConflatingMailbox[str, BookUpdated] = attrs.Factory(
        lambda: ConflatingMailbox[str, BookUpdated](
            "v", key=lambda u: u.view.product_id, max_keys=4
        )
    )
    feed_status: Mailbox[FeedStatusChanged] = attrs.Factory(
        lambda: Mailbox[FeedStatusChanged]("f", capacity=8)
    )
    to_executor: Mailbox[ExecutorCommand] = attrs.Factory(
        lambda: Mailbox[ExecutorCommand]("x", capacity=64)
    )
    strategy: Mailbox[StrategyEvent] = attrs.Factory(
        lambda: Mailbox[StrategyEvent]("s", capacity=64)
    )
    journal: Mailbox[Event] = attrs.Factory(lambda: Mailbox[Event]("j", capacity=256))
    latch: HaltLatch = attrs.Factory(HaltLatch)
    board: StatusBoard = attrs.Factory(StatusBoard)
    kills: list[str] = attrs.Factory(list)
    recovery: RiskRecovery = attrs.Factory(RiskRecovery)
    recoveries: int = 0

    def actor(self) -> RiskActor:
        async def recover() -> RiskRecovery:
            self.recoveries += 1
            await trio.lowlevel.checkpoint()
            return self.recovery

        return RiskActor(
            limits=self.limits,
            products={"BTC-USD": BTC},
            intents=self.intents,
            order_events=self.order_events,
            views=self.views,
            feed_status=self.feed_status,
            to_executor=self.to_executor,
            denials={"mm": self.strategy},
            journal=self.journal,
            halt=self.latch,
            kill_switch=self.kills.append,
            recover=recover,
            board=self.board,
        )

    def send(self, message: Any) -> None:
        match message:
            case BookUpdated():
                self.views.put(message)
            case FeedStatusChanged():
                self.feed_status.sender().send_nowait(message)
            case OrderUpdated() | OrderFilled():
                self.order_events.sender().send_nowait(message)
            case _:
                self.intents.sender().send_nowait(message)

    def status(self) -> RiskStatus:
        status = self.board.get("risk", RiskStatus)
        assert status is not None
        return status


@pytest.fixture
def rig() -> Rig:
    return Rig()


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


@pytest.fixture
async def running(rig: Rig, autojump_clock: trio.testing.MockClock) -> AsyncIterator[Rig]:
    """The actor under a supervisor, with the feed up and a fresh book."""
    async with trio.open_nursery() as nursery:
        supervisor = Supervisor("t", [ChildSpec(name="risk", run=rig.actor().run)])
        await nursery.start(supervisor.run)
        rig.send(connected())
        rig.send(view())
        await settle()
        yield rig
        nursery.cancel_scope.cancel()


# -- intents ------------------------------------------------------------------------------------


async def test_an_approved_submit_reaches_the_executor_unchanged(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    order = submit()
    running.send(order)
    await settle()
    assert drain(running.to_executor) == [order]
    assert drain(running.strategy) == []
    assert without_pnl(drain(running.journal)) == []
    status = running.status()
    assert (status.approved, status.open_orders, status.state) == (1, 1, TradingState.ACTIVE)
    assert status.feed == "connected"


async def test_a_denial_reaches_the_strategy_and_the_journal(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    running.send(submit(size="0"))
    await settle()
    [denied] = drain(running.strategy)
    assert isinstance(denied, OrderDenied)
    assert (denied.strategy, denied.client_order_id, denied.product_id) == ("mm", "c1", "BTC-USD")
    assert (denied.intent, denied.reason) == (IntentKind.SUBMIT, DenyReason.INVALID_ORDER)
    assert denied.detail == "risk: size 0 is not positive"
    assert without_pnl(drain(running.journal)) == [denied]
    assert drain(running.to_executor) == []
    assert running.status().denials == (("INVALID_ORDER", 1),)


async def test_a_denial_for_an_unknown_strategy_is_still_journaled(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    running.send(submit(strategy="ghost", size="0"))
    await settle()
    [denied] = without_pnl(drain(running.journal))
    assert isinstance(denied, OrderDenied)
    assert denied.strategy == "ghost"
    assert drain(running.strategy) == []


async def test_cancels_are_forwarded_or_denied(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    running.send(submit("c1"))
    await settle()
    good = CancelOrder(strategy="mm", client_order_id="c1", reason="requote", at=0.0)
    theirs = CancelOrder(strategy="other", client_order_id="c1", reason="", at=0.0)
    ghost = CancelOrder(strategy="mm", client_order_id="ghost", reason="", at=0.0)
    everything = CancelAllOrders(reason="flatten", product_id="", at=0.0)
    for message in (good, theirs, ghost, everything):
        running.send(message)
    await settle()
    assert drain(running.to_executor) == [submit("c1"), good, everything]
    denials = without_pnl(drain(running.journal))
    assert [(d.reason, d.product_id, d.intent) for d in denials if isinstance(d, OrderDenied)] == [
        (DenyReason.NOT_OWNER, "BTC-USD", IntentKind.CANCEL),
        (DenyReason.UNKNOWN_ORDER, "", IntentKind.CANCEL),
    ]
    [mine] = drain(running.strategy)  # "other" has no mailbox here
    assert isinstance(mine, OrderDenied)
    assert mine.reason is DenyReason.UNKNOWN_ORDER
    assert running.status().cancels == 2


async def test_an_operator_halt_and_resume(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    running.send(HaltTrading(detail="lunch", at=0.0))
    await settle()
    change, snapshot = drain(running.journal)[-2:]
    assert isinstance(change, TradingStateChanged)
    assert (change.state, change.reason, change.detail) == (
        TradingState.HALTED,
        OPERATOR,
        "operator: lunch",
    )
    assert isinstance(snapshot, PnlRecorded)
    assert snapshot.state is TradingState.HALTED
    running.send(submit())
    running.send(CancelAllOrders(reason="", product_id="", at=0.0))
    await settle()
    [denied] = drain(running.strategy)
    assert isinstance(denied, OrderDenied)
    assert denied.reason is DenyReason.TRADING_HALTED
    assert drain(running.to_executor) == [CancelAllOrders(reason="", product_id="", at=0.0)]
    running.send(ResumeTrading(detail="back", at=0.0))
    running.send(view())
    running.send(submit("c2"))
    await settle()
    assert [e.reason for e in drain(running.journal) if isinstance(e, TradingStateChanged)] == [
        RESUMED
    ]
    assert drain(running.to_executor) == [submit("c2")]


async def test_a_halt_with_flatten_cancels_everything_and_closes_positions_at_market(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    running.send(fill("t1", size="0.300000071"))  # long, with a remainder below the lot
    await settle()
    running.send(HaltTrading(detail="flatten now", at=0.0, flatten=True))
    await settle()
    cancel_all, close = drain(running.to_executor)
    assert cancel_all == CancelAllOrders(reason="flatten: flatten now", product_id="", at=0.0)
    assert isinstance(close, SubmitOrder)
    assert (close.strategy, close.side, close.order_type) == (
        FLATTEN_STRATEGY,
        Side.SELL,
        OrderType.MARKET,
    )
    assert close.size == D("0.30000007")  # rounded down to the base increment
    assert running.status().state is TradingState.HALTED
    # Halted, a strategy's new orders are still refused; the closing one went through.
    running.send(submit("c9"))
    await settle()
    [denied] = drain(running.strategy)
    assert isinstance(denied, OrderDenied)
    assert denied.reason is DenyReason.TRADING_HALTED


async def test_a_flatten_closes_again_what_fills_after_the_cancel_all(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    """A quote that fills between the cancel-all and its cancel moves the position after the
    closing order was sized: a second round closes the rest, once nothing works any more."""
    running.send(fill("t1", size="0.3"))
    await settle()
    running.send(HaltTrading(detail="close", at=0.0, flatten=True))
    await settle()
    _, close = drain(running.to_executor)
    assert isinstance(close, SubmitOrder)
    running.send(fill("t2", size="0.1"))  # a late quote fill: long 0.4 now
    await settle()
    assert drain(running.to_executor) == []  # the closing order still works: wait
    # The venue says FILLED before the fill itself arrives (state by the user channel,
    # fills by polling): the position is not known yet, so no new round.
    running.send(updated(close, OrderState.FILLED))
    await settle()
    assert drain(running.to_executor) == []
    running.send(
        attrs.evolve(fill("t3", side=Side.SELL, size="0.3"), client_order_id=close.client_order_id)
    )
    await settle()
    [again] = drain(running.to_executor)
    assert isinstance(again, SubmitOrder)
    assert (again.side, again.size, again.strategy) == (Side.SELL, D("0.1"), FLATTEN_STRATEGY)
    assert again.client_order_id != close.client_order_id  # a fresh id each round
    running.send(
        attrs.evolve(fill("t4", side=Side.SELL, size="0.1"), client_order_id=again.client_order_id)
    )
    running.send(updated(again, OrderState.FILLED))
    await settle()
    assert drain(running.to_executor) == []  # flat: the flatten is over
    assert [p.quantity for p in running.status().positions] == [D(0)]


async def test_feed_status_and_order_events_move_the_picture(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    running.send(FeedStatusChanged(state=FeedState.RECONNECTING, detail="", attempt=1, at=0.0))
    await settle()  # each inbox has its own reader: no order between inboxes
    running.send(submit("c1"))
    await settle()
    [denied] = drain(running.strategy)
    assert isinstance(denied, OrderDenied)
    assert denied.reason is DenyReason.FEED_DOWN
    assert running.status().feed == "reconnecting"
    running.send(connected())
    running.send(fill("t1"))
    running.send(fill("t1"))  # a repeat
    running.send(updated(submit("w"), OrderState.OPEN))
    running.send(view(bid="50990", ask="51010"))
    await settle()
    status = running.status()
    assert [(p.product_id, p.quantity) for p in status.positions] == [("BTC-USD", D("0.1"))]
    assert status.open_orders == 1
    # Marked at the last view's mid at once (built when read, no timer needed): 0.1 * 1000.
    assert status.equity == D(100)


async def test_the_status_is_built_when_read_never_per_message(
    rig: Rig, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Risk is on the order path: a message or a tick only touches its key (progress for the
    health checks); a read builds the status from the engine as it is then."""
    builds: list[float] = []
    published: list[str] = []
    status_of = RiskActor._status
    publish = StatusBoard.publish

    def counting(actor: RiskActor, engine: RiskEngine) -> RiskStatus:
        builds.append(trio.current_time())
        return status_of(actor, engine)

    def recording(board: StatusBoard, name: str, snapshot: object) -> None:
        published.append(name)
        publish(board, name, snapshot)

    monkeypatch.setattr(RiskActor, "_status", counting)
    monkeypatch.setattr(StatusBoard, "publish", recording)
    async with trio.open_nursery() as nursery:
        await nursery.start(Supervisor("t", [ChildSpec(name="risk", run=rig.actor().run)]).run)
        rig.send(connected())
        rig.send(view())
        await settle()
        for message in (
            submit("c1"),
            submit("c2"),
            fill("t1"),
            view(bid="50990", ask="51010"),
            FeedStatusChanged(state=FeedState.RECONNECTING, detail="", attempt=1, at=0.0),
        ):
            await trio.sleep(0.125)
            rig.send(message)
            await settle()
            assert rig.board.updated_at("risk") == trio.current_time()  # each one touched it
        await trio.sleep(1)  # and a tick of the timer
        touched = rig.board.updated_at("risk")
        assert touched is not None
        assert trio.current_time() - 1 < touched < trio.current_time()  # the tick touched it
        assert (builds, published) == ([], [])  # ... and none built or posted a status
        await trio.sleep(0.1)
        status = rig.status()
        assert builds == [trio.current_time()]  # one build, at the read
        assert (status.approved, status.open_orders, status.feed) == (2, 2, "reconnecting")
        assert [(p.product_id, p.quantity) for p in status.positions] == [("BTC-USD", D("0.1"))]
        assert status.equity == D(100)  # marked at the last view's mid
        assert status.at == touched  # the figures are as of the last message or tick
        rig.send(fill("t2"))
        await settle()
        assert [p.quantity for p in rig.status().positions] == [D("0.2")]  # a new read, fresh
        assert len(builds) == 2
        nursery.cancel_scope.cancel()


# -- the timer, the latch and the kill switch ---------------------------------------------------


async def test_pnl_is_recorded_on_the_timer(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    drain(running.journal)
    start = trio.current_time()
    await trio.sleep(3.5)
    snapshots = drain(running.journal)
    assert all(isinstance(s, PnlRecorded) for s in snapshots)
    times = [s.at for s in snapshots if isinstance(s, PnlRecorded)]
    assert len(times) == 3
    assert start < times[0] < times[-1] <= start + 3.5
    assert [b - a for a, b in itertools.pairwise(times)] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        (StopReason.SIGNAL, SHUTDOWN),
        (StopReason.OPERATOR, SHUTDOWN),
        (StopReason.FINISHED, SHUTDOWN),
        (StopReason.SUPERVISOR_GAVE_UP, EMERGENCY),
        (StopReason.KILL_SWITCH, EMERGENCY),
        (StopReason.VENUE_FATAL, EMERGENCY),
        (StopReason.CRASHED, EMERGENCY),
    ],
)
async def test_the_latch_halts_at_the_next_evaluation(
    running: Rig, autojump_clock: trio.testing.MockClock, stop: StopReason, reason: str
) -> None:
    running.latch.set(stop, "why")
    await trio.sleep(1.5)  # the next tick evaluates
    [change] = without_pnl(drain(running.journal))
    assert isinstance(change, TradingStateChanged)
    assert (change.previous, change.state, change.reason) == (
        TradingState.ACTIVE,
        TradingState.HALTED,
        reason,
    )
    assert running.status().state is TradingState.HALTED
    assert running.kills == []  # the latch is the root's doing, not a kill switch


async def test_the_kill_switch_is_called_once(
    running: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    running.send(fill("t1", price="60000"))  # -1000 at mid 50000
    await settle()
    events = without_pnl(drain(running.journal))
    assert [type(e) for e in events] == [TradingStateChanged, KillSwitchTripped]
    change, trip = events
    assert isinstance(change, TradingStateChanged)
    assert isinstance(trip, KillSwitchTripped)
    assert change.reason == DAILY_LOSS_LIMIT
    assert running.kills == [trip.detail]
    running.send(fill("t2", price="70000"))
    await trio.sleep(2)
    assert running.kills == [trip.detail]
    assert running.status().kill_switch_tripped


def test_the_kill_switch_callback_is_guarded_across_engines(rig: Rig) -> None:
    # The engine trips once per state lineage; the actor adds its own guard (one call per
    # actor, whatever the engines say).
    actor = rig.actor()
    actor._trip("first")
    actor._trip("second")
    assert rig.kills == ["first"]


async def test_the_kill_switch_is_called_even_if_the_journal_is_stuck(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rig = Rig(journal=Mailbox[Event]("stuck", capacity=0))  # nobody reads it
    async with trio.open_nursery() as nursery:
        spec = ChildSpec(name="risk", run=rig.actor().run, shutdown_timeout=2.0)
        await nursery.start(Supervisor("t", [spec]).run)
        rig.send(connected())
        rig.send(view())
        await settle()
        rig.send(fill("t1", price="60000"))
        await trio.sleep(2.5)
        assert len(rig.kills) == 1
        assert rig.status().unjournaled == 1
        nursery.cancel_scope.cancel()


# -- restarts -----------------------------------------------------------------------------------


async def test_a_new_process_recovers_halted_state_positions_and_orders(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    working = submit("w")
    rig.recovery = RiskRecovery(
        fills=(fill("t1"), fill("t1")),
        working_orders=(updated(working, OrderState.OPEN),),
        last_state=TradingStateChanged(
            previous=TradingState.ACTIVE,
            state=TradingState.HALTED,
            reason=OPERATOR,
            detail="lunch",
            at=0.0,
        ),
        peak_equity=D(42),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(Supervisor("t", [ChildSpec(name="risk", run=rig.actor().run)]).run)
        rig.send(connected())
        rig.send(view())
        await settle()
        rig.send(submit("c9"))
        await settle()
        status = rig.status()
        assert (status.state, status.reason) == (TradingState.HALTED, OPERATOR)
        assert [(p.product_id, p.quantity) for p in status.positions] == [("BTC-USD", D("0.1"))]
        assert (status.open_orders, status.peak_equity) == (1, D(42))
        [denied] = drain(rig.strategy)
        assert isinstance(denied, OrderDenied)
        assert denied.reason is DenyReason.TRADING_HALTED
        nursery.cancel_scope.cancel()


async def test_a_crash_restart_keeps_the_state_the_journal_has_not_caught_up_with(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    actor = rig.actor()
    supervisor = Supervisor(
        "t", [ChildSpec(name="risk", run=actor.run)], backoff=Backoff(min=0.1, max=0.1)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        rig.send(connected())
        rig.send(view())
        await settle()
        rig.send(HaltTrading(detail="x", at=0.0))
        rig.send(submit("flying"))
        await settle()
        assert rig.recoveries == 1
        # an order event the actor cannot take crashes it (a bug); it is restarted
        rig.send(fill("bad", side=Side("SIDEWAYS")))
        await trio.sleep(1)
        assert rig.recoveries == 2
        # the journal (rig.recovery) knows nothing: the memo keeps the halt
        rig.send(submit("c2"))
        await settle()
        assert rig.status().state is TradingState.HALTED
        denials = [d.reason for d in drain(rig.strategy) if isinstance(d, OrderDenied)]
        assert denials == [DenyReason.TRADING_HALTED, DenyReason.TRADING_HALTED]
        nursery.cancel_scope.cancel()


async def test_an_approval_whose_forward_was_cancelled_is_withdrawn(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    rig.to_executor = Mailbox[ExecutorCommand]("x", capacity=0)  # nobody takes it
    actor = rig.actor()
    async with trio.open_nursery() as nursery:
        await nursery.start(Supervisor("t", [ChildSpec(name="risk", run=actor.run)]).run)
        rig.send(connected())
        rig.send(view())
        await settle()
        rig.send(submit("c1"))
        await settle()
        assert rig.status().open_orders == 1  # approved, blocked on the way
        nursery.cancel_scope.cancel()
    rig.to_executor = Mailbox[ExecutorCommand]("x2", capacity=8)
    actor.to_executor = rig.to_executor
    async with trio.open_nursery() as nursery:
        await nursery.start(Supervisor("t", [ChildSpec(name="risk", run=actor.run)]).run)
        # the feed status and the view of the first incarnation are remembered
        rig.send(submit("c1"))  # the same id: it never reached the executor
        await settle()
        assert drain(rig.to_executor) == [submit("c1")]
        assert rig.status().open_orders == 1
        nursery.cancel_scope.cancel()
