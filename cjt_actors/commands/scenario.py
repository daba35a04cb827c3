"""``cjt scenario run|list|check``: scripted failure scenarios in virtual time.

``check`` reads files without running them; ``list`` names each with its description;
``vocabulary`` prints the fault and expectation vocabularies. ``run`` runs each scenario file (a directory stands for the scenarios in it) and prints a
line per scenario as it ends, the events around each failure, and a results table with each
run's virtual duration, real run time and journal hash. ``--repeat N`` runs each one N times
and fails a scenario whose hashes differ (the same seed must give the same run). Every file
is checked before anything runs: a bad one is reported by key path, exit 2.

Exit codes: 0 every scenario passed, 1 one failed (or was not reproducible), 2 a file is
invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import refuse

if TYPE_CHECKING:  # the scenario package is imported only when a subcommand runs
    from ..scenarios import Scenario, ScenarioResult

__all__ = ["add_parser"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scenario = commands.add_parser(
        "scenario",
        help="run scripted failure scenarios in virtual time",
        description=(
            "Scripted failure scenarios: the whole stack against the in-memory simulator, "
            "in virtual time, faults at fixed times, expectations checked. See "
            "docs/scenarios.md."
        ),
    )
    actions = scenario.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run",
        help="run scenario files and judge them",
        description="Run each scenario (a directory stands for its *.toml and *.py files).",
    )
    run.add_argument("paths", type=Path, nargs="+", metavar="FILE", help="scenario files or dirs")
    run.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each scenario N times; fail it if the journal hashes differ",
    )
    run.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep each run's journal in DIR (default: a temporary directory, removed)",
    )
    run.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="write results as JSON"
    )
    run.add_argument(
        "--log-level",
        default="CRITICAL",
        help=(
            "log records to stderr at this level and above (default CRITICAL: a scenario's "
            "faults make every actor log, and the timeline shows what matters)"
        ),
    )
    run.set_defaults(handler=_run)

    listing = actions.add_parser("list", help="list scenarios with their descriptions")
    listing.add_argument("paths", type=Path, nargs="*", default=[Path("scenarios")], metavar="FILE")
    listing.set_defaults(handler=_list)

    check = actions.add_parser("check", help="check scenario files without running them")
    check.add_argument("paths", type=Path, nargs="+", metavar="FILE")
    check.set_defaults(handler=_check)

    vocabulary = actions.add_parser(
        "vocabulary", help="print the fault and expectation vocabularies (Markdown)"
    )
    vocabulary.set_defaults(handler=_vocabulary)


def _vocabulary(args: argparse.Namespace) -> int:
    from ..scenarios.vocabulary import vocabulary_markdown

    print(vocabulary_markdown(), end="")
    return 0


def _load_all(paths: list[Path]) -> list[Scenario] | None:
    """Every scenario, or None after printing every problem found."""
    from ..configfile import ConfigError
    from ..errors import CjtError
    from ..scenarios import ScenarioFileError, load_scenario, scenario_files

    files = scenario_files(paths)
    if not files:
        refuse("scenario", f"no scenario files in {', '.join(map(str, paths))}")
        return None
    scenarios: list[Scenario] = []
    bad = False
    for path in files:
        try:
            scenarios.append(load_scenario(path))
        except ConfigError as error:
            print(str(error), file=sys.stderr)
            bad = True
        except (ScenarioFileError, CjtError) as error:
            print(f"cjt scenario: {error}", file=sys.stderr)
            bad = True
    return None if bad else scenarios


def _check(args: argparse.Namespace) -> int:
    scenarios = _load_all(args.paths)
    if scenarios is None:
        return 2
    print(f"{len(scenarios)} scenario file(s) are valid")
    return 0


def _list(args: argparse.Namespace) -> int:
    scenarios = _load_all(args.paths)
    if scenarios is None:
        return 2
    for scenario in scenarios:
        steps = len(scenario.timeline)
        print(
            f"{scenario.name:<32} {scenario.venue:<5} {scenario.duration:>6g} s  "
            f"{steps} step(s)  {scenario.description}"
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    from ..logs import configure_logging
    from ..scenarios import run_scenario
    from ..scenarios.display import failure_timeline, results_table

    configure_logging(level=args.log_level)
    if args.repeat < 1:
        return refuse("scenario", f"--repeat must be >= 1, got {args.repeat}")
    scenarios = _load_all(args.paths)
    if scenarios is None:
        return 2
    results: list[ScenarioResult] = []
    unreproducible: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="cjt-scenarios-") as scratch:
        workdir = args.keep if args.keep is not None else Path(scratch)
        for scenario in scenarios:
            runs = [run_scenario(scenario, workdir=workdir) for _ in range(args.repeat)]
            result = runs[0]
            results.append(result)
            hashes = [r.record.digest for r in runs]
            if len(set(hashes)) > 1:
                unreproducible[scenario.name] = hashes
            verdict = "pass" if result.passed else "FAIL"
            if scenario.name in unreproducible:
                verdict = "NOT REPRODUCIBLE"
            same = (
                f", {args.repeat} runs, same hash"
                if args.repeat > 1 and scenario.name not in unreproducible
                else ""
            )
            print(
                f"{verdict:<5} {scenario.name}: {result.record.ended_at:.1f} s virtual in "
                f"{result.real_seconds:.1f} s, hash {result.record.digest[:16]}{same}",
                flush=True,
            )
            shown: set[float | None] = set()
            for failure in result.failures:
                when = f" at t={failure.at:.2f}" if failure.at is not None else ""
                print(f"  {failure.check}{when}: {failure.message}")
            for failure in result.failures:
                if failure.at not in shown:  # one timeline per moment
                    shown.add(failure.at)
                    print(failure_timeline(result.record, failure))
            if scenario.name in unreproducible:
                print(f"  journal hashes differ between runs: {hashes}")
    print()
    print(results_table(results))
    if unreproducible:
        print(f"not reproducible: {', '.join(sorted(unreproducible))}")
    if args.json is not None:
        args.json.write_text(json.dumps(_as_json(results, unreproducible), indent=2) + "\n")
    failed = any(not r.passed for r in results) or bool(unreproducible)
    return 1 if failed else 0


def _as_json(
    results: Sequence[ScenarioResult], unreproducible: dict[str, list[str]]
) -> dict[str, object]:
    out = []
    for result in results:
        record = result.record
        out.append(
            {
                "name": result.scenario.name,
                "source": result.scenario.source,
                "passed": result.passed,
                "reproducible": result.scenario.name not in unreproducible,
                "virtual_seconds": round(record.ended_at, 3),
                "real_seconds": round(result.real_seconds, 3),
                "hash": record.digest,
                "restarts": record.restarts,
                "checks": list(result.checks),
                "failures": [
                    {"check": f.check, "at": f.at, "message": f.message} for f in result.failures
                ],
            }
        )
    return {"scenarios": out}
