"""The executor actor with the real paper venue and a real journal, in virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from cjt_actors.actors.executor import ExecutorActor, ExecutorCommand
from cjt_actors.actors.risk import ExecutorEvent, StrategyEvent
from cjt_actors.channels import ConflatingMailbox, Mailbox, Outbox
from cjt_actors.child import ChildSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.stream import L2Level, Trade
from cjt_actors.execution import ExecutionCore, ExecutionStatistics
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import OrderState
from cjt_actors.market_messages import BookUpdated, TradesReceived
from cjt_actors.order_messages import (
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    ReconciliationStateChanged,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.orderbook import L2Book
from cjt_actors.paper import PaperVenue
from cjt_actors.products import ProductRules
from cjt_actors.status import StatusBoard
from cjt_actors.supervisor import Supervisor
from cjt_actors.venue import VenueSignal, VenueSyncChanged

D = Decimal
BTC = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.0001"),
    price_increment=D("0.01"),
    base_min_size=D("0.0001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)


def _view() -> BookUpdated:
    book = L2Book("BTC-USD", BTC.price_increment, BTC.base_increment)
    levels: list[L2Level] = [("bid", D("99.99"), D("1"), ""), ("offer", D("100.01"), D("1"), "")]
    book.apply_snapshot(levels, now=0.0)
    return BookUpdated(view=book.view(now=0.0))


def _order(coid: str, price: str = "99.98") -> SubmitOrder:
    return SubmitOrder(
        strategy="mm",
        client_order_id=coid,
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=D("0.5"),
        limit_price=D(price),
        time_in_force=TimeInForce.GTC,
        post_only=True,
        at=0.0,
    )


class Harness:
    def __init__(self, journal: AsyncJournal) -> None:
        self.venue = PaperVenue({"BTC-USD": BTC})
        self.core = ExecutionCore(self.venue, journal)
        self.commands = Mailbox[ExecutorCommand]("commands", capacity=16)
        self.to_risk = Mailbox[ExecutorEvent]("risk", capacity=64)
        self.to_mm = Mailbox[StrategyEvent]("mm", capacity=64)
        self.views = ConflatingMailbox[str, BookUpdated](
            "views", key=lambda u: u.view.product_id, max_keys=1
        )
        self.trades = Mailbox[TradesReceived]("trades", capacity=16)
        self.board = StatusBoard()
        self.actor = ExecutorActor(
            core=self.core,
            commands=self.commands,
            to_risk=self.to_risk,
            to_strategies={"mm": self.to_mm},
            observer=self.venue,
            market_views=self.views,
            market_trades=self.trades,
            board=self.board,
        )
        self.supervisor = Supervisor(
            "t",
            [ChildSpec(name="executor", run=self.actor.run)],
            mailboxes=[self.commands, self.to_risk, self.to_mm, self.trades],
        )

    def drain(self, box: Mailbox[ExecutorEvent] | Mailbox[StrategyEvent]) -> list[object]:
        receiver = box.receiver()
        out: list[object] = []
        while True:
            try:
                out.append(receiver.receive_nowait())
            except trio.WouldBlock:
                return out


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[AsyncJournal]:
    async with await AsyncJournal.open(tmp_path / "j.sqlite", inline=True) as journal:
        yield journal


def _states(events: list[object], coid: str) -> list[OrderState]:
    return [e.state for e in events if isinstance(e, OrderUpdated) and e.client_order_id == coid]


async def test_orders_flow_to_the_venue_and_events_to_risk_and_the_owner(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock
) -> None:
    h = Harness(journal)
    send = h.commands.sender()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.supervisor.run)
        h.views.put(_view())
        await trio.sleep(1)
        await send.send(_order("a"))
        await send.send(_order("a"))  # a duplicate: denied, never sent twice
        await send.send(_order("b"))
        await send.send(CancelOrder(strategy="mm", client_order_id="b", reason="x", at=0.0))
        await trio.sleep(1)
        # A sell prints at 99.98 through the queue (nothing ahead of a new level): a fill.
        trade = Trade(
            trade_id="t1",
            product_id="BTC-USD",
            price=D("99.97"),
            size=D("2"),
            maker_side="BUY",
            time="",
        )
        await h.trades.sender().send(
            TradesReceived(sequence_num=2, received_at=1.0, snapshot=False, trades=(trade,))
        )
        await trio.sleep(1)
        await send.send(CancelAllOrders(reason="x", product_id="", at=0.0))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert h.supervisor.restart_counts() == {"executor": 0}
    risk = h.drain(h.to_risk)
    mm = h.drain(h.to_mm)
    # "b" was cancelled right after its submit, before the venue's acknowledgement: the
    # cancel waited for it instead of being refused as unknown.
    assert _states(mm, "b")[-1] is OrderState.CANCELLED
    assert _states(mm, "a")[-1] is OrderState.FILLED
    denials = [e for e in mm if isinstance(e, OrderDenied)]
    assert [(d.client_order_id, d.reason) for d in denials] == [("a", DenyReason.DUPLICATE_ORDER)]
    assert denials[0] in risk  # risk stops counting its approval as in flight
    fills = [e for e in risk if isinstance(e, OrderFilled)]
    assert [(f.trade_id, f.size) for f in fills] == [("paper-fill-1", D("0.5"))]
    assert fills == [e for e in mm if isinstance(e, OrderFilled)]
    assert await journal.has_fill("paper-fill-1")
    stats = h.board.get("executor", ExecutionStatistics)
    assert stats is not None
    assert (stats.submitted, stats.fills, stats.working) == (2, 1, 0)
    assert h.actor.recovery is not None
    assert h.actor.recovery.replayed_orders == 0


async def test_the_statistics_are_built_when_read_never_per_order(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statistics pass over every order ever made: commands, reports and sweeps only
    touch the executor's key (progress for the health checks); a read builds them."""
    builds: list[float] = []
    published: list[str] = []
    statistics = ExecutionCore.statistics
    publish = StatusBoard.publish

    def counting(core: ExecutionCore) -> ExecutionStatistics:
        builds.append(trio.current_time())
        return statistics(core)

    def recording(board: StatusBoard, name: str, snapshot: object) -> None:
        published.append(name)
        publish(board, name, snapshot)

    monkeypatch.setattr(ExecutionCore, "statistics", counting)
    monkeypatch.setattr(StatusBoard, "publish", recording)
    h = Harness(journal)
    send = h.commands.sender()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.supervisor.run)
        recovered = h.board.updated_at("executor")
        h.views.put(_view())
        await trio.sleep(1)
        await send.send(_order("a"))
        await send.send(_order("b"))
        await trio.sleep(0.1)  # before the first sweep
        touched = h.board.updated_at("executor")
        assert recovered is not None
        assert touched is not None
        assert recovered + 1 <= touched  # the orders touched it
        await trio.sleep(1)  # and a sweep
        trade = Trade(
            trade_id="t1",
            product_id="BTC-USD",
            price=D("99.97"),
            size=D("2"),
            maker_side="BUY",
            time="",
        )
        await h.trades.sender().send(
            TradesReceived(sequence_num=2, received_at=2.0, snapshot=False, trades=(trade,))
        )
        await trio.sleep(0.5)
        assert (builds, published) == ([], [])  # nothing built or posted a status
        stats = h.board.get("executor", ExecutionStatistics)
        assert builds == [trio.current_time()]  # one build, at the read
        assert stats is not None
        assert (stats.submitted, stats.fills, stats.working) == (2, 2, 0)
        await send.send(_order("c", price="99.90"))
        await trio.sleep(0.5)
        stats = h.board.get("executor", ExecutionStatistics)
        assert stats is not None
        assert (stats.submitted, stats.working, len(builds)) == (3, 1, 2)  # a new read, fresh
        nursery.cancel_scope.cancel()


async def test_a_restarted_executor_recovers_its_orders_from_the_journal(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock
) -> None:
    h = Harness(journal)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.supervisor.run)
        h.views.put(_view())
        await h.commands.sender().send(_order("a"))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    again = Harness(journal)
    again.venue = h.venue  # the venue outlives executor incarnations
    again.core = ExecutionCore(h.venue, journal)
    again.actor.core = again.core
    async with trio.open_nursery() as nursery:
        await nursery.start(again.supervisor.run)
        nursery.cancel_scope.cancel()
    assert again.actor.recovery is not None
    assert again.actor.recovery.replayed_orders == 1
    assert again.actor.recovery.resolved_by_lookup == 1
    order = again.core.order("a")
    assert order is not None
    assert order.state is OrderState.OPEN


async def test_the_report_sink_only_takes_reports_it_can_journal(journal: AsyncJournal) -> None:
    from cjt_actors.actors.executor import _ReportSink
    from cjt_actors.lifecycle import Fill
    from cjt_actors.venue import VenueReport

    h = Harness(journal)
    published: list[object] = []

    async def publish(event: object) -> None:
        published.append(event)

    await h.core.submit(_order("a"), publish)
    sink = _ReportSink(h.actor, publish)
    report = VenueReport(
        client_order_id="a", event=Fill(trade_id="t", price=D("99.98"), size=D("0.1")), at=0.0
    )
    with pytest.raises(trio.WouldBlock):
        sink.send_nowait(report)  # applying a report awaits the journal
    await sink.send(report)
    assert await journal.has_fill("t")
    sink.close()
    second = VenueReport(
        client_order_id="a", event=Fill(trade_id="u", price=D("99.98"), size=D("0.1")), at=0.0
    )
    with pytest.raises(trio.ClosedResourceError):
        await sink.send(second)
    assert [e.trade_id for e in published if isinstance(e, OrderFilled)] == ["t"]


class _SignallingVenue(PaperVenue):
    """The paper venue, plus the sync signals a live venue sends after a user-channel gap."""

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(super().run, reports)
            task_status.started()
            await trio.sleep(1)
            await reports.send(VenueSyncChanged(reconciling=True, trigger="gap", at=1.0))
            await trio.sleep(1)
            await reports.send(VenueSyncChanged(reconciling=False, trigger="gap", at=2.0))


async def test_recovery_and_the_venues_sync_signals_reach_risk_and_the_journal(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock
) -> None:
    """Risk denies RECONCILING between the two events: at every start of the executor, and
    whenever the venue says its reports may have missed something. Strategies are not told
    (they learn it from denials)."""
    h = Harness(journal)
    h.core.venue = _SignallingVenue({"BTC-USD": BTC})
    async with trio.open_nursery() as nursery:
        await nursery.start(h.supervisor.run)
        await trio.sleep(1.5)
        stats = h.board.get("executor", ExecutionStatistics)
        assert stats is not None
        assert (stats.reconciling, stats.reconciliations) == (True, 2)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    changes = [e for e in h.drain(h.to_risk) if isinstance(e, ReconciliationStateChanged)]
    assert [(c.reconciling, c.trigger) for c in changes] == [
        (True, "executor start-up"),
        (False, "executor start-up"),
        (True, "gap"),
        (False, "gap"),
    ]
    assert {c.venue for c in changes} == {"paper"}
    journaled = [m for _, _, m in await journal.read(kinds=(ReconciliationStateChanged,))]
    assert journaled == changes
    assert not any(isinstance(e, ReconciliationStateChanged) for e in h.drain(h.to_mm))
    assert h.core.statistics().reconciling is False
