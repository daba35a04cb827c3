"""A short chaos soak (what `nox -s soak -- --minutes N` runs for hours): real time, real
loopback sockets, the whole stack under seeded random faults.

The command runs in this process (its parser from ``cjt_actors.commands.soak``, then its
``run``), so the soak's modules are measured by the suite's coverage. About 25 s of real
time for the live venue and 10 s for the paper venue; nothing here depends on how fast the machine is: the
assertions are about what happened (faults injected, actors restarted, invariants held),
never about how long it took.

The seeds are chosen so that their plans deal every kind of fault the run includes,
crashes and market-data faults among them: a plan is a pure function of the seed
(``tests/unit/soak``), so these runs always see the same faults.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pytest

from cjt_actors.commands import soak
from cjt_actors.soak.kinds import FaultKind
from cjt_actors.soak.report import JSON_KEYS


def _soak(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cjt")
    soak.add_parser(parser.add_subparsers())
    args = parser.parse_args(["soak", *argv])
    code: int = args.handler(args)
    return code


def test_a_short_live_soak_injects_faults_restarts_actors_and_breaks_no_invariant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "soak.json"
    code = _soak(
        *("--minutes", "0.4", "--seed", "8", "--fault-every", "0.8"),
        *("--out", str(out), "--journal", str(tmp_path / "journal.sqlite")),
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "== chaos soak ==" in printed
    assert "violations     none" in printed
    assert "result         PASS (exit code 0)" in printed

    report = json.loads(out.read_text())
    assert tuple(report) == JSON_KEYS
    assert report["violations"] == [], report["violations"]
    assert report["exit_code"] == 0
    assert report["venue"] == "sim"
    assert report["seed"] == 8
    # Faults of several kinds, actor crashes among them, none refused by the simulator.
    by_kind = report["faults"]["by_kind"]
    kinds = {key.split(":")[0] for key in by_kind}
    assert kinds == {kind.value for kind in FaultKind}, by_kind  # every kind, once a round
    assert any(key.startswith("crash:") for key in by_kind), by_kind
    assert all(fault["error"] == "" for fault in report["faults"]["list"])
    # Actors restarted, and recoveries were measured.
    assert report["restarts"]["total"] >= 1
    recovery = report["recovery"]
    assert recovery["crash_to_restarted_actor"]["samples"] >= 1
    assert recovery["crash_to_restarted_actor"]["unrecovered"] == 0
    assert recovery["fault_to_trusted_book"]["samples"] >= 1
    # It traded, and memory was sampled over time.
    assert report["orders"] > 0
    assert report["fills"] > 0
    if sys.platform.startswith("linux"):
        assert len(report["rss"]["samples"]) >= 3
        assert report["rss"]["growth"] is not None
    else:
        assert report["rss"]["available"] is False
    # It ended with the root's emergency stop, requested by the duration, cleanly.
    assert report["pipeline"]["stop_reason"] == "operator"
    assert report["pipeline"]["exit_code"] == 0


def test_a_short_paper_soak_checks_what_applies_to_paper(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = _soak(
        *("--minutes", "0.15", "--seed", "3", "--fault-every", "1", "--venue", "paper"),
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "seed 3, venue paper" in printed
    assert "violations     none" in printed
    restarts = re.search(r"^restarts +(\d+): ", printed, re.MULTILINE)
    assert restarts is not None, printed
    assert int(restarts.group(1)) >= 1  # the plan crashes the executor, then risk
    faults = re.search(r"^faults +(\d+): (.*)$", printed, re.MULTILINE)
    assert faults is not None, printed
    assert int(faults.group(1)) >= 1
    kinds = {entry.split()[0].split(":")[0] for entry in faults.group(2).split(", ")}
    assert kinds <= {
        *("ws_drop", "ws_stall", "ws_close_1001", "ws_skip_sequence", "ws_malformed"),
        *("price_jump", "exchange_down", "crash"),
    }
    assert "report:" not in printed  # no --out, no JSON
