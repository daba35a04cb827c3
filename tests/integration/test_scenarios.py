"""Scenarios run whole: reproducible by seed, a start-up that never succeeds, and
``cjt scenario run|list|check`` through the CLI's entry point.

Each run is the whole stack in virtual time (about a second of real time for the short
scenarios here), so the runs are few and short; the expectations themselves are tested on
one shared run in tests/unit/scenarios.
"""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from cjt_actors.cli import main
from cjt_actors.logs import configure_logging
from cjt_actors.scenarios import (
    Failure,
    ScenarioResult,
    load_scenario,
    run_scenario,
    scenario_files,
)
from cjt_actors.scenarios.vocabulary import vocabulary_markdown

REPO = Path(__file__).resolve().parents[2]

#: Live trading until an operator's stop at t=6; the user channel drops at t=3, the strategy
#: crashes once at t=4.
TINY = """\
description = "tiny: the user channel drops, an operator stops the run"
seed = 3
duration = 8.0

[config.market]
products = ["BTC-USD"]

[config.risk]
loss_streak = 1000

[[timeline]]
at = 3.0
do = "ws_drop"
endpoint = "user"

[[timeline]]
at = 4.0
do = "crash"
actor = "strategy:mm"

[[timeline]]
at = 6.0
do = "stop"

[[expect]]
check = "orders"
at_least = 2
before = 3.0

[[expect]]
check = "stop_reason"
reason = "operator"
after = 6.0
before = 6.5

[[expect]]
check = "exit_code"
code = "OK"
"""

#: Paper trading, with two steps that cannot be applied at t=0 (the tree does not exist yet;
#: paper has no key) and an expectation the halt at t=2 breaks.
FAILING = """\
description = "paper: steps refused at t=0, and a halt the expectations forbid"
seed = 4
duration = 5.0
venue = "paper"

[config.market]
products = ["BTC-USD"]

[[timeline]]
at = 0.0
do = "crash"
actor = "executor"

[[timeline]]
at = 0.0
do = "revoke_key"

[[timeline]]
at = 2.0
do = "halt"

[[expect]]
check = "trading_state_never"
state = "HALTED"
"""

#: A Python scenario whose own action leaks state from one run into the next: the halt's
#: detail (journaled) counts the runs, so two runs in one process journal different things.
LEAKY = """\
from typing import ClassVar

import attrs

from cjt_actors.config import Config, MarketSection
from cjt_actors.scenarios import Scenario, Step
from cjt_actors.scenarios.actions import Halt
from cjt_actors.scenarios.expectations import StateReached


@attrs.frozen
class NumberedHalt:
    name: ClassVar[str] = "numbered_halt"
    runs: ClassVar[list[int]] = []

    def describe(self) -> str:
        return "operator halt, numbered"

    async def apply(self, world):
        self.runs.append(1)
        await Halt(detail=f"run {len(self.runs)}").apply(world)


SCENARIO = Scenario(
    name="leaky",
    description="state leaks between runs",
    seed=6,
    duration=3.0,
    venue="paper",
    config=Config(market=MarketSection(products=("BTC-USD",))),
    timeline=(Step(at=1.0, action=NumberedHalt()),),
    expect=(StateReached(state="HALTED"),),
)
"""

#: The exchange is down from the start; the start-up gives up at t=2, before it is back at 5.
UNREACHABLE = """\
description = "the exchange comes up too late"
seed = 8
duration = 10.0
startup_patience = 2.0

[[timeline]]
at = 0.0
do = "exchange_down"

[[timeline]]
at = 5.0
do = "exchange_up"

[[expect]]
check = "exit_code"
code = "OK"
"""


def write(directory: Path, text: str, name: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``cjt scenario run`` installs a log handler on the root logger (on the captured
    stderr) and leaves it, as a process that exits would: take it out again."""
    yield
    configure_logging(stream=io.StringIO()).close()


# -- reproducible by seed ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_run_and_another_seed_another(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, TINY, "tiny.toml"))
    workdir = tmp_path / "runs"
    first = run_scenario(scenario, workdir=workdir)
    second = run_scenario(scenario, workdir=workdir)  # over the first's journal
    other = run_scenario(attrs.evolve(scenario, seed=scenario.seed + 1), workdir=tmp_path / "x")

    assert first.passed, first.failures
    assert first.record.events, "the run journaled nothing"
    assert second.record.digest == first.record.digest
    assert len(second.record.events) == len(first.record.events)
    assert [(e.at, e.message) for e in second.record.events] == [
        (e.at, e.message) for e in first.record.events
    ]
    assert second.record.ended_at == first.record.ended_at
    assert other.record.digest != first.record.digest
    assert sorted(p.name for p in workdir.iterdir() if p.suffix == ".sqlite") == ["tiny.sqlite"]
    [(stopped_at, _)] = [
        (e.at, e) for e in first.record.events if type(e.message).__name__ == "EmergencyTriggered"
    ]
    assert stopped_at == 6.0, "the stop step stops the run at its time"


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> ScenarioResult:
    directory = tmp_path_factory.mktemp("unreachable")
    scenario = load_scenario(write(directory, UNREACHABLE, "unreachable.toml"))
    return run_scenario(scenario, workdir=directory)


def test_a_start_up_that_never_succeeds_is_a_failure_not_a_crash(
    unreachable: ScenarioResult,
) -> None:
    record = unreachable.record
    assert record.outcome is None
    assert record.events == ()
    assert record.startup_error is not None
    assert record.startup_error.startswith("the venue start-up failed: ")
    assert record.ended_at >= 2.0
    notes = [a.description for a in record.actions if a.description.startswith("start-up: ")]
    assert notes, "each failed attempt is noted on the timeline"
    assert record.actions[0].description == "exchange down"
    assert unreachable.failures[0] == Failure(
        check="startup", message=record.startup_error, at=record.ended_at
    )
    assert Failure(check="exit_code", message=f"the tree never ran ({record.startup_error})") in (
        unreachable.failures
    )
    assert all(r.status == 503 for r in record.requests)


def test_a_step_the_run_ended_before_is_reported_not_dropped(unreachable: ScenarioResult) -> None:
    """The run ended at t~2 (the start-up gave up): the step at t=5 never happened. A
    scenario whose timeline was not played in full must say so, or its author believes the
    exchange came back at t=5 and the start-up still failed."""
    record = unreachable.record
    assert record.ended_at < 5.0
    applied = [a.description for a in record.actions if a.error is None]
    assert "exchange up" not in applied
    assert any(
        f.check == "timeline" and "exchange up" in f.message for f in unreachable.failures
    ), unreachable.failures


# -- cjt scenario check / list -------------------------------------------------------------------------


def test_check_accepts_the_shipped_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    count = len(scenario_files([REPO / "scenarios"]))
    assert main(["scenario", "check", str(REPO / "scenarios")]) == 0
    assert capsys.readouterr().out == f"{count} scenario file(s) are valid\n"


def test_check_prints_every_problem_of_every_file_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, TINY, "good.toml")
    bad = write(
        tmp_path,
        'description = "x"\nseed = 1\nduration = 5\n[[timeline]]\nat = 1\ndo = "ws_dorp"\n',
        "bad.toml",
    )
    empty = write(tmp_path, "x = 1\n", "empty.py")
    wrong = write(
        tmp_path,
        "from cjt_actors.scenarios import Scenario\n"
        "SCENARIO = Scenario(name='w', description='d', seed=1, duration=0.0)\n",
        "wrong.py",
    )

    assert main(["scenario", "check", str(good), str(bad), str(empty), str(wrong)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{bad}: timeline[0].do: unknown 'ws_dorp' (did you mean 'ws_drop'?)" in captured.err
    assert f"cjt scenario: {empty}: defines no SCENARIO" in captured.err
    assert "cjt scenario: duration: must be > 0 virtual seconds, got 0.0" in captured.err


def test_check_of_a_folder_without_scenarios_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenario", "check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"cjt scenario: no scenario files in {tmp_path}\n"


def test_list_shows_each_scenario_s_venue_duration_steps_and_description(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)  # the default is ./scenarios
    assert main(["scenario", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    files = scenario_files([Path("scenarios")])
    assert len(lines) == len(files)
    gap = load_scenario(Path("scenarios/level2_sequence_gap.toml"))
    assert (
        f"{'level2_sequence_gap':<32} sim   {gap.duration:>6g} s  1 step(s)  {gap.description}"
        in lines
    )
    assert any(line.startswith(f"{'paper_feed_faults':<32} paper ") for line in lines)


def test_vocabulary_prints_the_generated_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "vocabulary"]) == 0
    out = capsys.readouterr().out
    assert out == vocabulary_markdown()
    assert "| `rest_error` |" in out
    assert "| `book_recovers` |" in out


def test_list_of_a_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "description = \n", "bad.toml")
    assert main(["scenario", "list", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"cjt scenario: {bad}: not valid TOML: ")


# -- cjt scenario run ------------------------------------------------------------------------------------


def test_run_of_a_passing_scenario_twice_prints_the_same_hash_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, TINY, "tiny.toml")
    report, keep = tmp_path / "out.json", tmp_path / "kept"

    code = main(
        ["scenario", "run", str(path), "--repeat", "2", "--json", str(report), "--keep", str(keep)]
    )

    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("pass  tiny: ")
    assert lines[0].endswith(", 2 runs, same hash")
    assert lines[1] == ""
    assert lines[2].split() == [
        "scenario", "result", "virtual", "s", "real", "s", "orders", "fills", "restarts", "hash"
    ]  # fmt: skip
    assert lines[4].split()[:2] == ["tiny", "pass"]
    assert lines[-1] == "1 of 1 scenarios passed"
    assert (keep / "tiny.sqlite").is_file()

    document = json.loads(report.read_text(encoding="utf-8"))
    [entry] = document["scenarios"]
    assert set(entry) == {
        "name",
        "source",
        "passed",
        "reproducible",
        "virtual_seconds",
        "real_seconds",
        "hash",
        "restarts",
        "checks",
        "failures",
    }
    assert entry["name"] == "tiny"
    assert entry["source"] == str(path)
    assert entry["passed"] is True
    assert entry["reproducible"] is True
    assert entry["failures"] == []
    assert lines[0].split("hash ")[1].startswith(entry["hash"][:16])
    assert entry["restarts"] == {
        "executor": 0,
        "risk": 0,
        "book": 0,
        "feed": 0,
        "strategy:mm": 1,
    }
    assert entry["checks"][:2] == [
        "during the run: write-ahead, no duplicate, no invented fill",
        "at least 2 orders between t=0 and t=3",
    ]
    assert 6.0 <= entry["virtual_seconds"] < 8.0


def test_run_of_a_failing_scenario_prints_each_failure_and_its_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, FAILING, "failing.toml")
    report = tmp_path / "out.json"

    assert main(["scenario", "run", str(path), "--json", str(report)]) == 1

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("FAIL  failing: ")
    refused = (
        "  timeline at t=0.00: crash executor: crash executor at t=0: the trading tree has "
        "not started yet (the venue start-up is still waiting)"
    )
    assert lines[1] == refused
    assert lines[2] == (
        "  timeline at t=0.00: revoke the API key: revoke_key: a paper scenario has no API "
        "key to revoke"
    )
    assert lines[3].startswith(
        "  trading_state_never at t=2.00: entered HALTED (OPERATOR: operator: scenario)"
    )
    # One timeline per moment: t=0 (both refused steps) and t=2.
    assert [line for line in lines if line.startswith("  events from")] == [
        "  events from t=-8.00 to t=4.00 (failure at t=0.00):",
        "  events from t=-6.00 to t=6.00 (failure at t=2.00):",
    ]
    assert "    0.000  timeline  crash executor  (NOT APPLIED: crash executor at t=0" in out
    assert "    2.000  timeline  operator halt" in out
    assert "    2.000  >>>>>>>>  trading_state_never failed here" in out
    assert "FAIL (3)" in out
    assert lines[-1] == "0 of 1 scenarios passed"

    [entry] = json.loads(report.read_text(encoding="utf-8"))["scenarios"]
    assert entry["passed"] is False
    assert [(f["check"], f["at"]) for f in entry["failures"]] == [
        ("timeline", 0.0),
        ("timeline", 0.0),
        ("trading_state_never", 2.0),
    ]
    assert "during the run: write-ahead, no duplicate, no invented fill" not in entry["checks"]


def test_run_fails_a_scenario_whose_runs_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, LEAKY, "leaky.py")

    assert main(["scenario", "run", str(path), "--repeat", "2"]) == 1

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("NOT REPRODUCIBLE leaky: ")
    assert "same hash" not in lines[0]
    assert lines[1].startswith("  journal hashes differ between runs: ['")
    assert lines[-1] == "not reproducible: leaky"
    assert "1 of 1 scenarios passed" in lines, "each run passed its expectations"


def test_run_refuses_a_repeat_below_1_and_a_bad_file_before_running_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, TINY, "tiny.toml")
    assert main(["scenario", "run", str(good), "--repeat", "0"]) == 2
    assert capsys.readouterr().err == "cjt scenario: --repeat must be >= 1, got 0\n"

    bad = write(tmp_path, 'description = "x"\nseed = 1\nduration = 5\nvenu = "sim"\n', "bad.toml")
    assert main(["scenario", "run", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "", "nothing ran"
    assert f"{bad}: venu: unknown key 'venu' (did you mean 'venue'?)" in captured.err
