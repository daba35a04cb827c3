"""The soak runner's bookkeeping, on a real pipeline that is built but never run, under
trio's MockClock: what a failing helper, an unsafe finding, a failed injection, a missing
/proc and an emergency stop do to the report. (The whole soak, in real time, is
tests/e2e/test_soak.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from cjt_actors.chaos import CrashSwitch
from cjt_actors.config import Config, load_strategies
from cjt_actors.emergency import ExitCode, RootOutcome
from cjt_actors.errors import InvalidSpec
from cjt_actors.journal import AsyncJournal
from cjt_actors.messages import StopReason
from cjt_actors.pipeline import Pipeline, PipelineSettings
from cjt_actors.products import ProductRules
from cjt_actors.sim.simulator import Simulator
from cjt_actors.soak import runner
from cjt_actors.soak.invariants import Finding
from cjt_actors.soak.monkey import FaultKind, Monkey, PlannedFault
from cjt_actors.soak.runner import SoakSettings, _Run
from cjt_actors.status import StatusBoard

RULES = ProductRules(
    product_id="BTC-USD",
    base_increment=Decimal("0.00000001"),
    price_increment=Decimal("0.01"),
    base_min_size=Decimal("0.00000001"),
    base_max_size=Decimal("1000"),
    quote_min_size=Decimal("1"),
)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[AsyncJournal]:
    async with await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True) as opened:
        yield opened


def _run(journal: AsyncJournal, tmp_path: Path, said: list[str], **settings: Any) -> _Run:
    pipeline = Pipeline(
        PipelineSettings(
            products={"BTC-USD": RULES},
            market_url="ws://127.0.0.1:9/",
            strategies=load_strategies(Config(), source="test"),
            namespace="soak-test",
        ),
        journal,
        board=StatusBoard(),
        handle_signals=False,
        crash_switch=CrashSwitch(),
    )
    simulator = Simulator()
    soak = SoakSettings(
        minutes=1.0, seed=1, journal=tmp_path / "journal.sqlite", venue="paper", **settings
    )
    return _Run(
        settings=soak,
        pipeline=pipeline,
        journal=journal,
        board=pipeline.board,
        simulator=None,
        monkey=Monkey(simulator.faults, pipeline.crash_switch),
        products=("BTC-USD",),
        say=said.append,
    )


async def test_a_failing_helper_is_a_violation_and_stops_the_run(
    journal: AsyncJournal, tmp_path: Path
) -> None:
    said: list[str] = []
    run = _run(journal, tmp_path, said)

    async def broken() -> None:
        await trio.sleep(1)
        raise RuntimeError("the disk is gone")

    await run._guarded("checker", broken)
    [violation] = run.log.violations
    assert (violation.check, violation.subject) == ("soak_error", "checker")
    assert violation.detail == "RuntimeError: the disk is gone"
    assert run.pipeline.root.reason is StopReason.OPERATOR
    assert "soak: the checker failed: RuntimeError: the disk is gone" in said


async def test_an_unsafe_finding_stops_the_run_once_and_is_recorded_once(
    journal: AsyncJournal, tmp_path: Path
) -> None:
    said: list[str] = []
    run = _run(journal, tmp_path, said)
    run.t0 = trio.current_time()
    duplicate = Finding(check="duplicate_order", subject="c1", detail="2 orders")
    run._record([duplicate, Finding(check="fill_twice", subject="t1", detail="2 times")])
    run._record([duplicate])
    run._record([Finding(check="order_without_intent", subject="x", detail="no intent")])
    assert [v.check for v in run.log.violations] == [
        "duplicate_order",
        "fill_twice",
        "order_without_intent",
    ]
    assert run.pipeline.root.reason is StopReason.OPERATOR
    assert [line for line in said if line.startswith("soak: unsafe")] == [
        "soak: unsafe: duplicate_order c1; stopping"
    ]
    assert "violation t=0.0s fill_twice t1: 2 times" in said


async def test_a_failed_injection_is_reported_and_the_plan_goes_on(
    journal: AsyncJournal, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    run = _run(journal, tmp_path, [])
    run.t0 = trio.current_time()
    faults = run.monkey.faults
    plan = [
        PlannedFault(at=1.0, kind=FaultKind.CRASH, place="nobody"),
        PlannedFault(at=2.0, kind=FaultKind.WS_STALL, place="market", hold=3.0),
        PlannedFault(at=2.5, kind=FaultKind.WS_DROP, place="user"),
    ]
    await run._inject(plan)
    assert trio.current_time() - run.t0 == pytest.approx(5.0)  # the stall's hold ended
    crash, stall, drop = run.injected
    assert crash.error.startswith("InvalidSpec: crash: no actor named 'nobody'")
    assert (stall.error, drop.error) == ("", "")
    assert [round(f.at, 3) for f in run.injected] == [1.0, 2.0, 2.5]
    assert faults.history == ["ws stall 0 market", "ws drop 0 user", "ws resume 0 market"]


async def test_without_proc_rss_is_unavailable_and_sampling_stops(
    journal: AsyncJournal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(journal, tmp_path, [])
    monkeypatch.setattr(runner, "read_rss", lambda: None)
    run._sample_rss()
    await run._rss_loop()  # returns at once: nothing to sample
    assert run.rss == []
    assert not run.rss_available
    report = run._report(_outcome(ExitCode.OK), duration=1.0)
    assert report.rss is None


async def test_progress_lines_come_at_the_interval(
    journal: AsyncJournal, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    said: list[str] = []
    run = _run(journal, tmp_path, said)
    run.t0 = trio.current_time()
    with trio.move_on_after(61):
        await run._progress_loop()
    assert said == [
        "t=15s: 0 faults, 0 restarts, 0 orders, 0 fills, 0 violations, rss unavailable",
        "t=30s: 0 faults, 0 restarts, 0 orders, 0 fills, 0 violations, rss unavailable",
        "t=45s: 0 faults, 0 restarts, 0 orders, 0 fills, 0 violations, rss unavailable",
        "t=60s: 0 faults, 0 restarts, 0 orders, 0 fills, 0 violations, rss unavailable",
    ]


def _outcome(code: ExitCode) -> RootOutcome:
    return RootOutcome(
        reason=StopReason.SUPERVISOR_GAVE_UP if code else StopReason.OPERATOR,
        detail="trading gave up: 6 restarts in 60 s" if code else "the duration is over",
        exit_code=code,
        steps=(),
        halt_errors=(),
        tree_stopped_in_time=True,
    )


async def test_an_emergency_exit_is_a_violation_of_its_own(
    journal: AsyncJournal, tmp_path: Path
) -> None:
    run = _run(journal, tmp_path, [])
    await run._final_checks(_outcome(ExitCode.EMERGENCY))
    checks = [(v.check, v.subject) for v in run.log.violations]
    # Never run: no emergency step journaled either.
    assert checks == [("emergency_step", "count"), ("pipeline_exit", "supervisor_gave_up")]
    assert "exited with code 3 (EMERGENCY)" in run.log.violations[1].detail
    assert run._report(_outcome(ExitCode.EMERGENCY), duration=1.0).exit_code == 1


def test_settings_scale_short_runs_and_refuse_no_time(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    long = SoakSettings(minutes=60, seed=1, journal=journal)
    assert (long.duration, long.warmup, long.cooldown, long.progress_interval) == (
        3600.0,
        10.0,
        15.0,
        30.0,
    )
    short = SoakSettings(minutes=0.5, seed=1, journal=journal, progress_every=None)
    assert (short.warmup, short.cooldown, short.progress_interval) == (6.0, 7.5, 7.5)
    assert SoakSettings(minutes=1, seed=1, journal=journal, progress_every=2).progress_interval == 2
    with pytest.raises(InvalidSpec, match="minutes: must be > 0"):
        SoakSettings(minutes=0, seed=1, journal=journal)
    with pytest.raises(InvalidSpec, match="fault_every: must be > 0"):
        SoakSettings(minutes=1, seed=1, journal=journal, fault_every=float("inf"))
    with pytest.raises(InvalidSpec, match="venue: must be 'sim' or 'paper'"):
        SoakSettings(minutes=1, seed=1, journal=journal, venue="coinbase")  # type: ignore[arg-type]


def test_excluded_kinds_are_left_out_of_the_venues_vocabulary(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    live = SoakSettings(minutes=1, seed=1, journal=journal, exclude=frozenset({FaultKind.CRASH}))
    assert FaultKind.CRASH not in live.kinds
    assert FaultKind.LOST_ORDER_RESPONSES in live.kinds
    paper = SoakSettings(minutes=1, seed=1, journal=journal, venue="paper")
    assert FaultKind.LOST_ORDER_RESPONSES not in paper.kinds
    assert FaultKind.CRASH in paper.kinds
