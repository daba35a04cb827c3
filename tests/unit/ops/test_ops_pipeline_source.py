"""The pipeline's ops source on a pipeline that is built but not running: what it reads
before anything is published, and how it names mailboxes' readers and steers risk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import OrderState
from cjt_actors.ops import PipelineOpsSource, TimedVenue
from cjt_actors.ops.pipeline_source import mailbox_consumer
from cjt_actors.order_messages import HaltTrading, ResumeTrading
from cjt_actors.pipeline import Pipeline, PipelineSettings, StrategySpec
from cjt_actors.products import ProductRules
from cjt_actors.status import StatusBoard
from cjt_actors.strategies.market_maker import MarketMaker
from cjt_actors.supervisor import ChildState

PRODUCTS = {
    p: ProductRules(
        product_id=p,
        base_increment=Decimal("0.0001"),
        price_increment=Decimal("0.01"),
        base_min_size=Decimal("0.0001"),
        base_max_size=Decimal("100"),
        quote_min_size=Decimal("1"),
    )
    for p in ("BTC-USD", "ETH-USD")
}


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    journal = await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True)
    settings = PipelineSettings(
        products=PRODUCTS,
        market_url="ws://127.0.0.1:9/",
        strategies=(
            StrategySpec(name="mm", factory=MarketMaker),
            StrategySpec(name="other", factory=MarketMaker),
        ),
        namespace="unit",
    )
    try:
        yield Pipeline(settings, journal, board=StatusBoard(), handle_signals=False)
    finally:
        await journal.aclose()


async def test_before_the_run_every_actor_is_ended_and_nothing_is_published(
    pipeline: Pipeline, autojump_clock: trio.testing.MockClock
) -> None:
    source = PipelineOpsSource(pipeline)
    assert repr(source) == "<PipelineOpsSource strategies=['mm', 'other']>"
    snapshot = source.snapshot()
    assert snapshot.now == trio.current_time()
    assert snapshot.products == ("BTC-USD", "ETH-USD")
    assert [(a.name, a.state, a.restarts, a.last_update) for a in snapshot.actors] == [
        (name, ChildState.ENDED, 0, None)
        for name in ("executor", "risk", "book", "feed", "strategy:mm", "strategy:other", "store")
    ]
    assert (snapshot.risk, snapshot.execution, snapshot.feed, snapshot.book) == (None,) * 4
    assert (snapshot.books, snapshot.strategies, snapshot.store) == ((), (), None)
    assert snapshot.orders_by_state == tuple((state, 0) for state in OrderState)
    # The pipeline times its venue's requests; none has been made yet.
    assert [(o.request, o.histogram.count) for o in snapshot.latencies] == [
        ("submit", 0),
        ("cancel", 0),
    ]


async def test_every_mailbox_of_the_pipeline_has_a_known_reader(pipeline: Pipeline) -> None:
    mailboxes = PipelineOpsSource(pipeline).snapshot().mailboxes
    readers = {(m.statistics.name, m.kind): m.consumer for m in mailboxes}
    assert len(readers) == len(mailboxes)  # name and kind identify each one
    assert readers == {
        ("feed->book", "queue"): "book",
        ("feed->risk", "queue"): "risk",
        ("strategies->risk", "queue"): "risk",
        ("risk->executor", "queue"): "executor",
        ("executor->risk", "queue"): "risk",
        ("orders->mm", "queue"): "strategy:mm",
        ("orders->other", "queue"): "strategy:other",
        ("market->mm", "queue"): "strategy:mm",
        ("market->other", "queue"): "strategy:other",
        ("book->executor:trades", "queue"): "executor",
        ("book->mm", "views"): "strategy:mm",
        ("book->other", "views"): "strategy:other",
        ("book->risk", "views"): "risk",
        ("book->executor", "views"): "executor",
        ("journal", "queue"): "store",
    }


@pytest.mark.parametrize(
    ("mailbox", "reader"),
    [
        ("journal", "store"),
        ("orders->mm", "strategy:mm"),
        ("orders->risk", ""),  # not a strategy of this run
        ("book->ghost", ""),
        ("somewhere->nobody", ""),
        ("no arrow", ""),
    ],
)
def test_unknown_mailbox_names_get_no_reader(mailbox: str, reader: str) -> None:
    assert mailbox_consumer(mailbox, ("mm",)) == reader


async def test_halt_and_resume_go_to_risks_intents(
    pipeline: Pipeline, autojump_clock: trio.testing.MockClock
) -> None:
    source = PipelineOpsSource(pipeline)
    await source.halt("maintenance")
    await source.resume("done")
    inbox = pipeline.intents.receiver()
    halt, resume = inbox.receive_nowait(), inbox.receive_nowait()
    assert isinstance(halt, HaltTrading)
    assert halt.detail == "maintenance"
    assert isinstance(resume, ResumeTrading)
    assert resume.detail == "done"


async def test_a_timed_venue_exposes_its_latencies(pipeline: Pipeline) -> None:
    assert isinstance(pipeline.core.venue, TimedVenue)  # the pipeline times its venue
    latencies = PipelineOpsSource(pipeline).snapshot().latencies
    assert [(o.venue, o.request, o.histogram.count) for o in latencies] == [
        ("paper", "submit", 0),
        ("paper", "cancel", 0),
    ]
