"""Scenario files: every shipped one loads; a bad one is reported whole, by key path."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from cjt_actors.config import Config
from cjt_actors.configfile import ConfigError
from cjt_actors.errors import InvalidSpec
from cjt_actors.pipeline import StrategySpec
from cjt_actors.scenarios import (
    ACTIONS,
    EXPECTATIONS,
    INVARIANTS,
    Scenario,
    ScenarioFileError,
    Step,
    load_scenario,
    scenario_files,
)
from cjt_actors.scenarios.actions import Crash, RestError, SequenceGap, WsDrop
from cjt_actors.scenarios.expectations import EmergencyOutcome, EventCount, ExitCodeIs
from cjt_actors.strategies.market_maker import MarketMaker

REPO = Path(__file__).resolve().parents[3]
SHIPPED = scenario_files([REPO / "scenarios"])

HEADER = 'description = "a test"\nseed = 1\nduration = 30.0\n'


def write(directory: Path, text: str, name: str = "case.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert caught.value.source == str(path)
    return [(p.path, p.message) for p in caught.value.problems]


# -- the shipped scenarios ---------------------------------------------------------------------


def test_the_scenarios_folder_holds_toml_and_python_scenarios() -> None:
    assert len(SHIPPED) >= 15
    assert any(p.suffix == ".py" for p in SHIPPED)
    assert any(p.suffix == ".toml" for p in SHIPPED)
    assert all(p.suffix in (".toml", ".py") for p in SHIPPED)  # README.md is not one
    assert sorted(SHIPPED) == SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.source == str(path)
    assert scenario.name == path.stem
    assert scenario.description
    assert scenario.expect, "a scenario that expects nothing proves nothing"
    assert all(0 <= step.at < scenario.duration for step in scenario.timeline)
    actors = scenario.actor_names()
    for step in scenario.timeline:
        assert step.action.describe()
        if isinstance(step.action, Crash):
            assert step.action.actor in actors
    for expectation in (*scenario.expect, *scenario.invariants()):
        assert expectation.describe()
    assert {s.name for s in scenario.strategy_specs()}


# -- which files ----------------------------------------------------------------------------------


def test_a_directory_stands_for_its_toml_and_python_files_sorted_without_helpers(
    tmp_path: Path,
) -> None:
    for name in ("b.toml", "a.py", "_helper.py", "_draft.toml", "notes.md", "c.toml.bak"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "folder.toml").mkdir()  # a directory with a scenario's suffix is no file
    single = tmp_path / "elsewhere.txt"

    files = scenario_files([tmp_path, single])

    assert files == [tmp_path / "a.py", tmp_path / "b.toml", single]


def test_a_file_with_another_suffix_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, "case.yaml")
    with pytest.raises(ScenarioFileError, match=r"case\.yaml: a scenario is a \.toml or \.py file"):
        load_scenario(path)


# -- TOML -----------------------------------------------------------------------------------------


def test_a_toml_scenario_reads_every_part(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name = "renamed"
        description = "d"
        seed = 3
        duration = 40
        venue = "paper"
        startup_patience = 5

        [config.market]
        products = ["ETH-USD"]

        [skip_invariants]
        positions_match_venue = "why not"

        [[timeline]]
        at = 10
        do = "sequence_gap"
        count = 2

        [[timeline]]
        at = 2.5
        do = "rest_error"
        seconds = 1.5

        [[expect]]
        check = "exit_code"
        code = "OK"
        """,
    )
    scenario = load_scenario(path)
    assert scenario.name == "renamed"
    assert (scenario.seed, scenario.duration, scenario.venue) == (3, 40.0, "paper")
    assert scenario.startup_patience == 5.0
    assert scenario.config.market.products == ("ETH-USD",)
    assert scenario.skip_invariants == {"positions_match_venue": "why not"}
    assert scenario.timeline == (
        Step(at=10.0, action=SequenceGap(count=2)),
        Step(at=2.5, action=RestError(seconds=1.5)),
    )
    assert isinstance(scenario.timeline[0].at, float)
    assert scenario.expect == (ExitCodeIs(code="OK"),)
    assert [i.name for i in scenario.invariants()] == [
        "no_duplicate_orders",
        "fills_journaled_once",
        "no_open_orders_at_end",
    ]


def test_every_problem_in_a_toml_file_is_reported_at_once_by_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        description = "bad"
        seed = "seven"
        duration = 30.0
        venue = "moon"

        [[timeline]]
        at = 5.0
        do = "sequence_gapp"

        [[timeline]]
        at = 5.0
        do = "sequence_gap"
        cuont = 3

        [[timeline]]
        at = 6.0
        do = "latency"
        seconds = "fast"

        [[timeline]]
        do = "ws_drop"

        [[timeline]]
        at = "soon"
        do = "ws_drop"

        [[timeline]]
        at = true
        do = "ws_drop"

        [[timeline]]
        at = 7.0
        count = 1

        [[timeline]]
        at = 8.0
        do = "malformed_frames"
        count = 0

        [[expect]]
        check = "book_recover"

        [[expect]]
        check = "event"
        type = "NoSuchMessage"

        [[expect]]
        check = "event"
        type = "FeedStatusChanged"
        where = { colour = "red" }

        [[expect]]
        check = "orders"
        after = 10.0
        before = 5.0
        """,
    )
    problems = problems_of(path)
    paths = [p for p, _ in problems]
    assert paths == [
        "seed",
        "venue",
        "timeline[0].do",
        "timeline[1].cuont",
        "timeline[2].seconds",
        "timeline[3].at",
        "timeline[4].at",
        "timeline[5].at",
        "timeline[6].do",
        "timeline[7]",
        "expect[0].check",
        "expect[1]",
        "expect[2]",
        "expect[3]",
    ]
    messages = dict(problems)
    assert messages["seed"].startswith("expected an integer")
    assert messages["timeline[0].do"].startswith(
        "unknown 'sequence_gapp' (did you mean 'sequence_gap'?); one of: crash, "
    )
    assert messages["timeline[1].cuont"] == "unknown key 'cuont' (did you mean 'count'?)"
    assert messages["timeline[2].seconds"] == "expected a number, got string 'fast'"
    for index in (3, 4, 5):  # missing, a string, a bool
        assert messages[f"timeline[{index}].at"] == "expected a number of seconds"
    assert messages["timeline[6].do"].startswith("missing or not a string; one of: crash, ")
    assert messages["timeline[7]"] == "count: must be >= 1, got 0"
    assert messages["expect[0].check"].startswith(
        "unknown 'book_recover' (did you mean 'book_recovers'?); one of: book_recovers, "
    )
    assert messages["expect[1]"].startswith(
        "type: 'NoSuchMessage' is not a journaled message type (known: BarClosed, "
    )
    assert messages["expect[2]"] == (
        "where: FeedStatusChanged has no field(s) ['colour'] "
        "(it has ['at', 'attempt', 'detail', 'state'])"
    )
    assert messages["expect[3]"] == "after (10.0) must be <= before (5.0)"


def test_the_vocabularies_are_listed_in_full_when_a_name_is_unknown(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + '[[timeline]]\nat = 1\ndo = "zzz"\n[[expect]]\ncheck = 3\n')
    assert problems_of(path) == [
        ("timeline[0].do", f"unknown 'zzz'; one of: {', '.join(sorted(ACTIONS))}"),
        ("expect[0].check", f"missing or not a string; one of: {', '.join(sorted(EXPECTATIONS))}"),
    ]


def test_timeline_and_expect_must_be_arrays_of_tables(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "timeline = 3\nexpect = [1]\n")
    assert problems_of(path) == [
        ("timeline", "expected an array of tables"),
        ("expect[0]", "expected a table"),
    ]


def test_a_missing_header_key_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, 'description = "x"\nseed = 1\n')
    assert problems_of(path) == [("duration", "missing required key")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            '[[timeline]]\nat = 50.0\ndo = "ws_drop"\n',
            ("timeline[0].at", "must be in [0, duration=30), got 50"),
            id="at-beyond-duration",
        ),
        pytest.param(
            '[[timeline]]\nat = -1\ndo = "ws_drop"\n',
            ("timeline[0].at", "must be in [0, duration=30), got -1"),
            id="at-negative",
        ),
        pytest.param(
            '[skip_invariants]\nno_such_rule = "why"\n',
            (
                "skip_invariants.no_such_rule",
                "no such invariant (known: ['fills_journaled_once', "
                "'no_duplicate_orders', 'no_open_orders_at_end', 'positions_match_venue'])",
            ),
            id="unknown-invariant",
        ),
        pytest.param(
            '[[timeline]]\nat = 1\ndo = "ws_drop"\n'
            '[[timeline]]\nat = 2\ndo = "crash"\nactor = "strategy:nope"\n',
            (
                "timeline[1].actor",
                "no actor 'strategy:nope' (the tree has executor, risk, book, feed, strategy:mm)",
            ),
            id="unknown-actor",
        ),
    ],
)
def test_a_scenario_level_problem_is_reported_by_key_path(
    tmp_path: Path, text: str, problem: tuple[str, str]
) -> None:
    path = write(tmp_path, HEADER + text)
    assert problems_of(path) == [problem]


def test_a_bad_duration_is_reported_by_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, 'description = "x"\nseed = 1\nduration = -1\n')
    assert problems_of(path) == [("duration", "must be > 0 virtual seconds, got -1.0")]


def test_a_crash_names_an_actor_of_the_configured_strategies(tmp_path: Path) -> None:
    text = HEADER + (
        '[[config.strategies]]\nname = "alpha"\n'
        '[[timeline]]\nat = 1\ndo = "crash"\nactor = "strategy:alpha"\n'
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.actor_names() == ["executor", "risk", "book", "feed", "strategy:alpha"]
    assert scenario.timeline[0].action == Crash(actor="strategy:alpha")
    assert [s.name for s in scenario.strategy_specs()] == ["alpha"]


def test_scenario_level_problems_are_reported_with_every_other_problem(tmp_path: Path) -> None:
    """The module's promise, "every mistake in a file is reported at once": a step beyond
    the duration, an unknown invariant and an unknown actor are mistakes like a misspelt
    ``do``, and must be listed with it (not only once everything else is fixed, one at a
    time)."""
    path = write(
        tmp_path,
        HEADER
        + textwrap.dedent(
            """\
        [skip_invariants]
        no_such_rule = "why"

        [[timeline]]
        at = 50.0
        do = "ws_drop"

        [[timeline]]
        at = 1.0
        do = "crash"
        actor = "strategy:nope"

        [[timeline]]
        at = 2.0
        do = "sequence_gapp"
        """
        ),
    )
    assert sorted(p for p, _ in problems_of(path)) == [
        "skip_invariants.no_such_rule",
        "timeline[0].at",
        "timeline[1].actor",
        "timeline[2].do",
    ]


def test_a_file_that_is_not_toml_is_refused_with_where(tmp_path: Path) -> None:
    path = write(tmp_path, "description = \n")
    with pytest.raises(ScenarioFileError, match=r"case\.toml: not valid TOML: .*line 1"):
        load_scenario(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match=r"gone\.toml: No such file or directory"):
        load_scenario(tmp_path / "gone.toml")


# -- Python ---------------------------------------------------------------------------------------

PYTHON_SCENARIO = """\
from cjt_actors.pipeline import StrategySpec
from cjt_actors.scenarios import Scenario, Step
from cjt_actors.scenarios.actions import Crash
from cjt_actors.scenarios.expectations import ExitCodeIs
from cjt_actors.strategies.market_maker import MarketMaker

SCENARIO = Scenario(
    name="py",
    description="a Python scenario",
    seed=2,
    duration=10.0,
    strategies=(StrategySpec(name="{strategy}", factory=MarketMaker),),
    timeline=(Step(at=1.0, action=Crash(actor="strategy:quoter")),),
    expect=(ExitCodeIs(code="OK"),),
)
"""


def test_a_python_scenario_is_its_module_s_scenario_with_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, PYTHON_SCENARIO.format(strategy="quoter"), "py_case.py")
    scenario = load_scenario(path)
    assert scenario.name == "py"
    assert scenario.source == str(path)
    assert scenario.actor_names()[-1] == "strategy:quoter"
    assert [s.name for s in scenario.strategy_specs()] == ["quoter"]


def test_a_python_scenario_s_own_mistake_is_raised_as_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, PYTHON_SCENARIO.format(strategy="other"), "py_case.py")
    with pytest.raises(InvalidSpec, match=r"timeline\[0\]\.actor: no actor 'strategy:quoter'"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = 1\n", r"py_case\.py: defines no SCENARIO \(a cjt_actors\.scenarios\.Scenario\)"),
        ("SCENARIO = 3\n", r"py_case\.py: defines no SCENARIO"),
        ("x = 1 / 0\n", r"py_case\.py: ZeroDivisionError: division by zero"),
        ("import cjt_actors.no_such_module\n", r"py_case\.py: ModuleNotFoundError: "),
    ],
)
def test_a_python_file_without_a_scenario_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text, "py_case.py")
    with pytest.raises(ScenarioFileError, match=message):
        load_scenario(path)


# -- Scenario itself --------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [0.0, -5.0, math.inf, math.nan])
def test_a_scenario_needs_a_finite_positive_duration(duration: float) -> None:
    with pytest.raises(InvalidSpec, match=r"^duration: must be > 0 virtual seconds"):
        Scenario(name="s", description="d", seed=1, duration=duration)


def test_a_cut_short_emergency_waives_no_open_orders_at_the_end() -> None:
    def names(*expect: EmergencyOutcome) -> list[str]:
        scenario = Scenario(name="s", description="d", seed=1, duration=10.0, expect=expect)
        return [i.name for i in scenario.invariants()]

    every = [i.name for i in INVARIANTS]
    assert names() == every
    assert names(EmergencyOutcome(completed=True)) == every
    assert names(EmergencyOutcome(completed=False)) == [
        "no_duplicate_orders",
        "fills_journaled_once",
        "positions_match_venue",
    ]


def test_skipped_invariants_are_not_held_and_the_others_are() -> None:
    scenario = Scenario(
        name="s",
        description="d",
        seed=1,
        duration=10.0,
        skip_invariants={"fills_journaled_once": "why", "no_duplicate_orders": "why"},
        expect=(EmergencyOutcome(completed=False),),
    )
    assert [i.name for i in scenario.invariants()] == ["positions_match_venue"]


def test_a_python_scenario_s_strategies_replace_the_config_s() -> None:
    scenario = Scenario(
        name="s",
        description="d",
        seed=1,
        duration=10.0,
        config=Config(),
        strategies=(StrategySpec(name="x", factory=MarketMaker),),
        timeline=(Step(at=0.0, action=WsDrop()),),
        expect=(EventCount(type="ChildStarted", where={"child": "strategy:x"}),),
    )
    assert scenario.actor_names() == ["executor", "risk", "book", "feed", "strategy:x"]
    assert scenario.strategy_specs() == scenario.strategies
    assert Scenario(name="t", description="d", seed=1, duration=1.0).actor_names()[-1] == (
        "strategy:mm"
    )
