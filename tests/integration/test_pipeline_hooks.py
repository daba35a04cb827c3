"""The pipeline's hooks for the failure scenarios and the chaos soak, on the whole paper stack:
crashes injected into each actor (restarted, or escalated past the intensity) and the books'
trust changes in the journal.

The simulator runs in memory under trio's MockClock, as in test_paper_pipeline.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from cjt_actors.chaos import CrashSwitch
from cjt_actors.config import Config, load_strategies
from cjt_actors.emergency import ExitCode
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.rest import RestClient
from cjt_actors.journal import AsyncJournal
from cjt_actors.market_messages import BookTrustChanged
from cjt_actors.messages import ChildCrashed, EmergencyTriggered, Message, StopReason
from cjt_actors.pipeline import Pipeline, PipelineSettings
from cjt_actors.products import ProductRules
from cjt_actors.sim.inmemory import InMemoryExchange
from cjt_actors.sim.simulator import Simulator, SimulatorConfig
from cjt_actors.status import StatusBoard
from cjt_actors.summary import summarize

EPOCH = 1_767_225_600.0
PRODUCTS = ("BTC-USD", "ETH-USD")
CHILDREN = ("executor", "risk", "book", "feed", "strategy:mm")

Script = Callable[[Pipeline, CrashSwitch], Awaitable[None]]


async def _run(
    tmp_path: Path, *, duration: float, script: Script | None = None
) -> tuple[Pipeline, CrashSwitch, ExitCode, list[tuple[float, Message]]]:
    """A paper run of the default market maker with a crash switch; ``script`` runs beside it."""
    sim = Simulator(SimulatorConfig(seed=3, start_epoch=EPOCH, tick=0.25, auth="none"))
    exchange = InMemoryExchange(sim)
    switch = CrashSwitch()
    async with await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True) as journal:
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.run_background)
            async with RestClient(
                exchange.rest_url,
                credentials=None,
                transport=exchange.http_transport(),
                now=sim.epoch,
            ) as rest:
                rules = {p: ProductRules.from_product(await rest.get_product(p)) for p in PRODUCTS}
            settings = PipelineSettings(
                products=rules,
                market_url=exchange.ws_market_url,
                connector=exchange.connect,
                strategies=load_strategies(Config(), source="test"),
                namespace="test",
                seed=3,
            )
            pipeline = Pipeline(
                settings, journal, board=StatusBoard(), handle_signals=False, crash_switch=switch
            )
            if script is not None:
                nursery.start_soon(script, pipeline, switch)
            outcome = await pipeline.run(duration=duration)
            nursery.cancel_scope.cancel()
        entries = [(at, message) for _, at, message in await journal.read()]
    return pipeline, switch, outcome.exit_code, entries


def _trust(entries: list[tuple[float, Message]]) -> list[BookTrustChanged]:
    return [m for _, m in entries if isinstance(m, BookTrustChanged)]


async def test_the_journal_says_when_each_book_became_trusted(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    _, _, code, entries = await _run(tmp_path, duration=10)
    assert code == ExitCode.OK
    changes = _trust(entries)
    for product in PRODUCTS:
        mine = [(c.trusted, c.reason) for c in changes if c.product_id == product]
        assert mine == [(False, "EMPTY"), (True, "SNAPSHOT")]  # once each, not per frame
    # each row's journal time is the event's own time
    assert all(at == m.at for at, m in entries if isinstance(m, BookTrustChanged))


async def test_each_actor_crashed_by_the_switch_is_restarted(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """rest_for_one: a crash restarts the actor and every actor started after it."""

    async def crash_each(pipeline: Pipeline, switch: CrashSwitch) -> None:
        for name in CHILDREN:
            await trio.sleep(5)
            switch.crash(name, f"scripted crash of {name}")

    pipeline, switch, code, entries = await _run(tmp_path, duration=40, script=crash_each)
    assert code == ExitCode.OK  # five restarts in 60 s are within the intensity
    assert switch.delivered == dict.fromkeys(CHILDREN, 1)
    assert pipeline.trading.restart_counts() == {
        "executor": 1,
        "risk": 2,
        "book": 3,
        "feed": 4,
        "strategy:mm": 5,
    }
    crashes = [m for _, m in entries if isinstance(m, ChildCrashed)]
    assert [(c.child, c.error_type) for c in crashes] == [
        (name, "InjectedCrash") for name in CHILDREN
    ]
    assert crashes[2].error == "injected crash of actor 'book': scripted crash of book"
    # After the book's crash (t=15) its books were empty, then trusted again from the
    # snapshot the restarted feed brought, within a second.
    book_crash = next(c.at for c in crashes if c.child == "book")
    for product in PRODUCTS:
        after = [c for c in _trust(entries) if c.product_id == product and c.at >= book_crash]
        assert [(c.trusted, c.reason) for c in after[:2]] == [(False, "EMPTY"), (True, "SNAPSHOT")]
        assert after[1].at - book_crash < 1.0
    summary = summarize((0, at, m) for at, m in entries)
    assert summary.restarts == 15  # every incarnation started again: 1 + 2 + 3 + 4 + 5
    assert summary.fills > 0


async def test_crashes_past_the_intensity_reach_the_root(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def crash_loop(pipeline: Pipeline, switch: CrashSwitch) -> None:
        await trio.sleep(5)
        for _ in range(6):  # each is delivered to the next incarnation once it is ready
            switch.crash("risk", "crash loop")

    pipeline, switch, code, entries = await _run(tmp_path, duration=120, script=crash_loop)
    assert code == ExitCode.EMERGENCY
    assert switch.delivered == {"risk": 6}
    [triggered] = [m for _, m in entries if isinstance(m, EmergencyTriggered)]
    assert triggered.reason is StopReason.SUPERVISOR_GAVE_UP
    assert "InjectedCrash" in triggered.detail
    assert pipeline.latch.reason is StopReason.SUPERVISOR_GAVE_UP
    assert await pipeline.venue.open_orders() == ()


async def test_the_switch_knows_the_pipelines_actors(tmp_path: Path) -> None:
    switch = CrashSwitch()
    sim = Simulator(SimulatorConfig(seed=3, start_epoch=EPOCH, auth="none"))
    exchange = InMemoryExchange(sim)
    async with RestClient(
        exchange.rest_url, credentials=None, transport=exchange.http_transport(), now=sim.epoch
    ) as rest:
        products = {p: ProductRules.from_product(await rest.get_product(p)) for p in PRODUCTS}
    settings = PipelineSettings(
        products=products,
        market_url=exchange.ws_market_url,
        strategies=load_strategies(Config(), source="test"),
        namespace="test",
    )
    async with await AsyncJournal.open(tmp_path / "j.sqlite", inline=True) as journal:
        pipeline = Pipeline(
            settings, journal, board=StatusBoard(), handle_signals=False, crash_switch=switch
        )
    assert pipeline.crash_switch is switch
    assert switch.known == tuple(sorted(CHILDREN))
    with pytest.raises(InvalidSpec, match=r"no actor named 'store'; known actors: 'book', "):
        switch.crash("store")  # the store is not under the trading supervisor
