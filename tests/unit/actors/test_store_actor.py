"""The store actor journals what it is sent, in batches, and drains its inbox when stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from cjt_actors.actors.store import StoreActor, StoreStatus
from cjt_actors.channels import Mailbox
from cjt_actors.child import ChildSpec
from cjt_actors.journal import AsyncJournal
from cjt_actors.market_messages import FeedState, FeedStatusChanged
from cjt_actors.messages import Event
from cjt_actors.order_messages import KillSwitchTripped
from cjt_actors.status import StatusBoard
from cjt_actors.supervisor import Supervisor


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[AsyncJournal]:
    async with await AsyncJournal.open(tmp_path / "j.sqlite", inline=True) as journal:
        yield journal


def _status(n: int) -> FeedStatusChanged:
    return FeedStatusChanged(state=FeedState.CONNECTED, detail=f"#{n}", attempt=0, at=float(n))


async def test_events_are_journaled_in_order_with_their_own_time(journal: AsyncJournal) -> None:
    inbox = Mailbox[Event]("journal", capacity=64)
    board = StatusBoard()
    store = StoreActor(journal=journal, inbox=inbox, batch_size=4, board=board)
    supervisor = Supervisor("s", [ChildSpec(name="store", run=store.run)], mailboxes=[inbox])
    sender = inbox.sender()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        for n in range(10):
            sender.send_nowait(_status(n))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    entries = await journal.read()
    assert [m for _, _, m in entries] == [_status(n) for n in range(10)]
    assert [at for _, at, _ in entries] == [float(n) for n in range(10)]
    status = board.get("store", StoreStatus)
    assert status is not None
    assert status.written == 10
    assert status.batches >= 3  # 10 queued events in batches of at most 4
    assert status.last_seq == entries[-1][0]


async def test_what_is_queued_when_it_is_stopped_is_still_written(journal: AsyncJournal) -> None:
    inbox = Mailbox[Event]("journal", capacity=64)
    store = StoreActor(journal=journal, inbox=inbox)
    supervisor = Supervisor("s", [ChildSpec(name="store", run=store.run)], mailboxes=[inbox])
    sender = inbox.sender()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        event = KillSwitchTripped(limit="daily_loss", detail="x", at=1.5)
        sender.send_nowait(event)
        nursery.cancel_scope.cancel()  # before the store had a chance to run
    assert [m for _, _, m in await journal.read()] == [event]


async def test_events_without_a_time_get_the_moment_they_are_written(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock
) -> None:
    from cjt_actors.market_messages import BookUpdated
    from cjt_actors.orderbook import BookView

    view = BookView(
        product_id="BTC-USD",
        best_bid=None,
        best_bid_size=None,
        best_ask=None,
        best_ask_size=None,
        mid=None,
        spread=None,
        bids=(),
        asks=(),
        last_trade_price=None,
        last_trade_size=None,
        trusted=False,
        trust_reason=None,
        updated_at=None,
        as_of=0.0,
        sequence=0,
    )
    inbox = Mailbox[Event]("journal", capacity=8)
    store = StoreActor(journal=journal, inbox=inbox)
    supervisor = Supervisor("s", [ChildSpec(name="store", run=store.run)], mailboxes=[inbox])
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await trio.sleep(5)
        inbox.sender().send_nowait(BookUpdated(view=view))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    [(_, at, message)] = await journal.read()
    assert message == BookUpdated(view=view)
    assert at == trio.current_time() == 5.0


async def test_durable_notable_events_are_logged_in_the_name_of_their_actor(
    journal: AsyncJournal, caplog: pytest.LogCaptureFixture
) -> None:
    from cjt_actors.messages import ChildStarted

    inbox = Mailbox[Event]("journal", capacity=64)
    store = StoreActor(journal=journal, inbox=inbox)
    supervisor = Supervisor("s", [ChildSpec(name="store", run=store.run)], mailboxes=[inbox])
    events: list[Event] = [
        _status(1),
        KillSwitchTripped(limit="daily_loss_limit", detail="-1000 <= -500", at=2.0),
        ChildStarted(supervisor="trading", child="risk", incarnation=1, at=3.0),
    ]
    caplog.set_level("INFO")
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        for event in events:
            inbox.sender().send_nowait(event)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    logged = [
        (r.actor, r.event, r.levelname)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", "")
        in {"feed_status_changed", "kill_switch_tripped", "child_started"}
    ]
    assert logged == [
        ("feed", "feed_status_changed", "INFO"),
        ("risk", "kill_switch_tripped", "ERROR"),
        ("supervisor:trading", "child_started", "INFO"),
    ]
