"""A scenario: what runs, what goes wrong and when, what must still be true; and its files.

A scenario file is TOML (most) or Python (when TOML cannot say it: a strategy with a bug, an
action or a check of its own). The TOML form::

    description = "A level2 sequence gap: books untrusted, then resynchronized"
    seed = 7
    duration = 60.0                 # virtual seconds until the stop
    venue = "sim"                   # "sim": live orders to the simulator; "paper"

    [config]                        # any cjt config (paper.toml's keys), merged on the defaults
    market.products = ["BTC-USD", "ETH-USD"]

    [[timeline]]
    at = 20.0
    do = "sequence_gap"             # the fault vocabulary: cjt_actors.scenarios.actions
    count = 3

    [[expect]]
    check = "book_recovers"         # the expectations: cjt_actors.scenarios.expectations
    after = 20.0
    within = 5.0

Every mistake in a file is reported at once, by key path (``timeline[2].cuont: unknown key
'cuont' (did you mean 'count'?)``), by the same strict walker the config files use.

A Python scenario is a module defining ``SCENARIO``, a :class:`Scenario` built from the same
classes (see ``scenarios/strategy_crash_loop.py``).

Why "sim" live trading is the default venue: most faults worth scripting are the exchange's
(lost acknowledgements, 5xx, 429, a revoked key), and only the live path meets them; "paper"
runs the same market-data faults through the paper venue.
"""

from __future__ import annotations

import importlib.util
import math
import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs

from ..config import Config, load_strategies
from ..configfile import ConfigError, ConfigProblem, structure
from ..errors import CjtError, InvalidSpec
from ..pipeline import StrategySpec
from .actions import ACTIONS, Action, Crash
from .expectations import EXPECTATIONS, INVARIANTS, EmergencyOutcome, Expectation

__all__ = [
    "Scenario",
    "ScenarioFileError",
    "Step",
    "load_scenario",
    "scenario_files",
    "scenario_problems",
]

#: The suffixes a scenario file may have.
SUFFIXES = (".toml", ".py")


class ScenarioFileError(CjtError):
    """A scenario file could not be read (not TOML, no ``SCENARIO``, an import error)."""


@attrs.frozen(kw_only=True)
class Step:
    """One timeline entry: ``action`` at ``at`` virtual seconds after t = 0."""

    at: float
    action: Action


@attrs.frozen(kw_only=True)
class Scenario:
    """See the module docstring.

    Attributes:
        skip_invariants: invariant names (:data:`INVARIANTS`) this scenario cannot hold,
            each with why (for example, a key revoked for good: the exchange's last fills
            can no longer be read). Shown in every result.
        strategies: Python scenarios only: the strategies to run instead of the config's.
        startup_patience: how long the start-up waits for an unreachable exchange.
    """

    name: str
    description: str
    seed: int
    duration: float
    venue: Literal["sim", "paper"] = "sim"
    config: Config = attrs.Factory(Config)
    timeline: tuple[Step, ...] = ()
    expect: tuple[Expectation, ...] = ()
    skip_invariants: Mapping[str, str] = attrs.Factory(dict)
    strategies: tuple[StrategySpec, ...] | None = None
    startup_patience: float = 300.0
    source: str = "<python>"

    def __attrs_post_init__(self) -> None:
        problems = scenario_problems(
            duration=self.duration,
            steps=list(enumerate(self.timeline)),
            skip_invariants=self.skip_invariants,
            actors=self.actor_names(),
        )
        if problems:
            raise InvalidSpec("; ".join(f"{path}: {message}" for path, message in problems))

    def actor_names(self) -> list[str]:
        names = (
            [s.name for s in self.strategies]
            if self.strategies is not None
            else [s.name for s in self.config.strategies]
        )
        return ["executor", "risk", "book", "feed", *(f"strategy:{n}" for n in names)]

    def strategy_specs(self) -> tuple[StrategySpec, ...]:
        if self.strategies is not None:
            return self.strategies
        return load_strategies(self.config, source=self.source)

    def invariants(self) -> tuple[Expectation, ...]:
        """The invariants this scenario holds (a cut-short emergency leaves orders open by
        definition, so expecting one waives "no open orders at the end")."""
        waived = set(self.skip_invariants)
        if any(isinstance(e, EmergencyOutcome) and not e.completed for e in self.expect):
            waived.add("no_open_orders_at_end")
        return tuple(i for i in INVARIANTS if i.name not in waived)


def scenario_problems(
    *,
    duration: float,
    steps: Sequence[tuple[int, Step]],
    skip_invariants: Mapping[str, str],
    actors: Sequence[str],
) -> list[tuple[str, str]]:
    """Every problem of a scenario as a whole, as (key path, message): a duration that is
    not positive, a step outside [0, duration), a crash of an actor the tree does not
    have, an invariant to skip that does not exist. ``steps`` keep their file index."""
    problems: list[tuple[str, str]] = []
    if not (math.isfinite(duration) and duration > 0):
        problems.append(("duration", f"must be > 0 virtual seconds, got {duration}"))
    known = {i.name for i in INVARIANTS}
    for name in sorted(set(skip_invariants) - known):
        problems.append((f"skip_invariants.{name}", f"no such invariant (known: {sorted(known)})"))
    for index, step in steps:
        if not 0 <= step.at < duration:
            problems.append(
                (f"timeline[{index}].at", f"must be in [0, duration={duration:g}), got {step.at:g}")
            )
        if isinstance(step.action, Crash) and step.action.actor not in actors:
            problems.append(
                (
                    f"timeline[{index}].actor",
                    f"no actor {step.action.actor!r} (the tree has {', '.join(actors)})",
                )
            )
    return problems


# -- files ----------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Header:
    """The top-level keys of a TOML scenario other than ``timeline`` and ``expect``."""

    description: str
    seed: int
    duration: float
    name: str | None = None
    venue: Literal["sim", "paper"] = "sim"
    config: Config = attrs.Factory(Config)
    skip_invariants: Mapping[str, str] = attrs.Factory(dict)
    startup_patience: float = 300.0


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """The scenario files named, a directory standing for its ``*.toml`` and ``*.py`` files
    (sorted; files starting with ``_`` are helpers, not scenarios)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.suffix in SUFFIXES and not p.name.startswith("_") and p.is_file()
                )
            )
        else:
            files.append(path)
    return files


def load_scenario(path: Path) -> Scenario:
    """Read one scenario file.

    Raises:
        ConfigError: every problem in a TOML file, by key path.
        ScenarioFileError: unreadable file, bad TOML syntax, a Python file without
            ``SCENARIO``, a wrong suffix.
    """
    if path.suffix == ".toml":
        return _load_toml(path)
    if path.suffix == ".py":
        return _load_python(path)
    raise ScenarioFileError(f"{path}: a scenario is a .toml or .py file")


def _load_python(path: Path) -> Scenario:
    spec = importlib.util.spec_from_file_location(f"cjt_scenario_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ScenarioFileError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except CjtError:
        raise
    except Exception as error:
        raise ScenarioFileError(f"{path}: {type(error).__name__}: {error}") from error
    scenario = getattr(module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        raise ScenarioFileError(f"{path}: defines no SCENARIO (a cjt_actors.scenarios.Scenario)")
    return attrs.evolve(scenario, source=str(path))


def _load_toml(path: Path) -> Scenario:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioFileError(f"{path}: {error.strerror or error}") from None
    try:
        document = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioFileError(f"{path}: not valid TOML: {error}") from None
    problems: list[ConfigProblem] = []
    timeline_data = document.pop("timeline", [])
    expect_data = document.pop("expect", [])
    header = _collect(problems, _Header, document, source, "")
    steps = _entries(problems, timeline_data, "timeline", "do", ACTIONS, source)
    expectations = _entries(problems, expect_data, "expect", "check", EXPECTATIONS, source)
    if header is not None:
        actors = [
            "executor",
            "risk",
            "book",
            "feed",
            *(f"strategy:{s.name}" for s in header.config.strategies),
        ]
        whole = scenario_problems(
            duration=header.duration,
            steps=[(index, Step(at=at, action=action)) for index, at, action in steps],
            skip_invariants=header.skip_invariants,
            actors=actors,
        )
        problems.extend(ConfigProblem(path=path, message=message) for path, message in whole)
    if problems or header is None:
        raise ConfigError(source=source, problems=tuple(problems))
    return Scenario(
        name=header.name or path.stem,
        description=header.description,
        seed=header.seed,
        duration=header.duration,
        venue=header.venue,
        config=header.config,
        timeline=tuple(Step(at=at, action=action) for _, at, action in steps),
        expect=tuple(e for _, _, e in expectations),
        skip_invariants=header.skip_invariants,
        startup_patience=header.startup_patience,
        source=source,
    )


def _collect(
    problems: list[ConfigProblem], cls: type[Any], data: Any, source: str, path: str
) -> Any:
    try:
        return structure(cls, data, source=source, path=path)
    except ConfigError as error:
        problems.extend(error.problems)
        return None


def _entries(
    problems: list[ConfigProblem],
    data: object,
    table: str,
    tag: str,
    vocabulary: Mapping[str, type[Any]],
    source: str,
) -> list[tuple[int, float, Any]]:
    """Each ``[[table]]`` entry: its ``tag`` picks the class, the other keys fill it."""
    if not isinstance(data, list):
        problems.append(ConfigProblem(path=table, message="expected an array of tables"))
        return []
    out: list[tuple[int, float, Any]] = []
    for index, entry in enumerate(data):
        where = f"{table}[{index}]"
        if not isinstance(entry, dict):
            problems.append(ConfigProblem(path=where, message="expected a table"))
            continue
        fields = dict(entry)
        name = fields.pop(tag, None)
        if not isinstance(name, str) or name not in vocabulary:
            problems.append(
                ConfigProblem(path=f"{where}.{tag}", message=_unknown(name, vocabulary))
            )
            continue
        at = 0.0
        if table == "timeline":
            raw = fields.pop("at", None)
            if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
                problems.append(
                    ConfigProblem(path=f"{where}.at", message="expected a number of seconds")
                )
                continue
            at = float(raw)
        value = _collect(problems, vocabulary[name], fields, source, where)
        if value is not None:
            out.append((index, at, value))
    return out


def _unknown(name: object, vocabulary: Mapping[str, type[Any]]) -> str:
    import difflib

    options = sorted(vocabulary)
    if not isinstance(name, str):
        return f"missing or not a string; one of: {', '.join(options)}"
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {name!r}{hint}; one of: {', '.join(options)}"
