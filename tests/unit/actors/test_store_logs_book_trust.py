"""The store logs the books' trust changes once they are durable, in the book's name."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from cjt_actors.actors.store import StoreActor
from cjt_actors.channels import Mailbox
from cjt_actors.child import ChildSpec
from cjt_actors.journal import AsyncJournal
from cjt_actors.market_messages import BookTrustChanged
from cjt_actors.messages import Event
from cjt_actors.supervisor import Supervisor


async def test_trust_lost_to_trouble_is_a_warning_and_the_rest_is_routine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    changes = [
        BookTrustChanged(product_id="BTC-USD", trusted=False, reason="EMPTY", at=1.0),
        BookTrustChanged(product_id="BTC-USD", trusted=True, reason="SNAPSHOT", at=2.0),
        BookTrustChanged(product_id="BTC-USD", trusted=False, reason="GAP", at=3.0),
    ]
    inbox = Mailbox[Event]("journal", capacity=8)
    caplog.set_level("INFO")
    async with await AsyncJournal.open(tmp_path / "j.sqlite", inline=True) as journal:
        store = StoreActor(journal=journal, inbox=inbox)
        supervisor = Supervisor("s", [ChildSpec(name="store", run=store.run)], mailboxes=[inbox])
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            sender = inbox.sender()
            for change in changes:
                sender.send_nowait(change)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert [message for _, _, message in await journal.read()][-3:] == changes
    logged = [
        (r.actor, r.levelname, r.getMessage(), r.reason)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", "") == "book_trust_changed"
    ]
    assert logged == [
        ("book", "INFO", "book BTC-USD not trusted (EMPTY)", "EMPTY"),
        ("book", "INFO", "book BTC-USD trusted (SNAPSHOT)", "SNAPSHOT"),
        ("book", "WARNING", "book BTC-USD not trusted (GAP)", "GAP"),
    ]
