"""The soak's report: the printed table and the JSON document, on a crafted report."""

from __future__ import annotations

import json
from typing import Any

import attrs

from cjt_actors.soak.invariants import Violation
from cjt_actors.soak.memory import MIB, RssSample
from cjt_actors.soak.monkey import FaultKind, PlannedFault
from cjt_actors.soak.recovery import Recovery
from cjt_actors.soak.report import JSON_KEYS, InjectedFault, SoakReport, format_report


def _injected(at: float, fault: PlannedFault, error: str = "") -> InjectedFault:
    return InjectedFault(at=at, clock=1000.0 + at, fault=fault, error=error)


def _report(**overrides: Any) -> SoakReport:
    fields: dict[str, Any] = {
        "seed": 7,
        "venue": "sim",
        "minutes": 2.0,
        "fault_every": 5.0,
        "duration": 126.25,
        "faults": (
            _injected(10.5, PlannedFault(at=10.0, kind=FaultKind.WS_DROP, place="market")),
            _injected(20.0, PlannedFault(at=20.0, kind=FaultKind.CRASH, place="book")),
            _injected(30.0, PlannedFault(at=30.0, kind=FaultKind.WS_DROP, place="market")),
            _injected(
                40.0,
                PlannedFault(at=40.0, kind=FaultKind.CRASH, place="nobody"),
                error="InvalidSpec: crash: no actor named 'nobody'",
            ),
        ),
        "restarts": {"book": 1, "feed": 1, "strategy:mm": 1},
        "book_recovery": Recovery(samples=(0.5, 1.5, 3.0), no_effect=2),
        "restart_recovery": Recovery(samples=(0.125,)),
        "orders": 150,
        "fills": 30,
        "violations": (),
        "rss": tuple(RssSample(at=5.0 * i, rss=(60 + i) * MIB) for i in range(26)),
        "pipeline_exit_code": 0,
        "stop_reason": "operator",
        "stop_detail": "the run's duration (120 s) is over",
        "journal": "/tmp/soak/journal.sqlite",
    }
    fields.update(overrides)
    return SoakReport(**fields)


def test_the_json_has_the_documented_keys_and_survives_a_round_trip() -> None:
    document = json.loads(json.dumps(_report().to_json()))
    assert tuple(document) == JSON_KEYS
    assert document["faults"]["total"] == 3  # the failed injection is listed, not counted
    assert document["faults"]["by_kind"] == {"crash:book": 1, "ws_drop:market": 2}
    assert document["faults"]["list"][3]["error"].startswith("InvalidSpec")
    assert document["restarts"] == {
        "total": 3,
        "by_actor": {"book": 1, "feed": 1, "strategy:mm": 1},
    }
    assert document["recovery"]["fault_to_trusted_book"] == {
        "samples": 3,
        "p50_s": 1.5,
        "p99_s": 3.0,
        "max_s": 3.0,
        "no_effect": 2,
        "unrecovered": 0,
    }
    assert document["recovery"]["crash_to_restarted_actor"]["p50_s"] == 0.125
    rss = document["rss"]
    assert rss["available"] is True
    assert len(rss["samples"]) == 26
    assert rss["samples"][1] == {"at_s": 5.0, "bytes": 61 * MIB}
    # 26 samples: quarters of 6; medians 62.5 and 82.5 MiB.
    assert rss["growth"]["mib"] == 20.0
    assert rss["growth"]["percent"] == round(100 * 20 / 62.5, 3)
    assert document["pipeline"] == {
        "exit_code": 0,
        "stop_reason": "operator",
        "detail": "the run's duration (120 s) is over",
    }
    assert document["exit_code"] == 0


def test_a_violation_makes_exit_code_1_in_both_forms() -> None:
    violation = Violation(at=42.25, check="fill_twice", subject="t-9", detail="journaled 2 times")
    report = _report(violations=(violation,))
    assert report.exit_code == 1
    document = report.to_json()
    assert document["exit_code"] == 1
    assert document["violations"] == [
        {"at_s": 42.25, "check": "fill_twice", "subject": "t-9", "detail": "journaled 2 times"}
    ]
    table = format_report(report)
    assert "violations     1\n  t=42.2s fill_twice t-9: journaled 2 times" in table
    assert table.endswith("result         FAIL (exit code 1)")


def test_the_table_says_everything_on_one_line_each() -> None:
    table = format_report(_report())
    lines = table.splitlines()
    assert lines[0] == "== chaos soak =="
    assert lines[1] == ("duration       126.2s (2 min asked), seed 7, venue sim, a fault every ~5s")
    assert lines[2] == "faults         3: crash:book 1, ws_drop:market 2"
    assert lines[3] == (
        "  not injected t=40.0s crash:nobody: InvalidSpec: crash: no actor named 'nobody'"
    )
    assert lines[4] == "restarts       3: book 1, feed 1, strategy:mm 1"
    header, book, crash = lines[5:8]
    assert header.split() == [
        *("recovery", "samples", "p50", "p99", "max", "no", "effect", "unrecovered")
    ]
    assert book.split() == [
        *("fault", "->", "trusted", "book", "3", "1.50s", "3.00s", "3.00s", "2", "0")
    ]
    assert crash.split()[-6:] == ["1", "0.12s", "0.12s", "0.12s", "0", "0"]
    # The columns line up under their headers.
    assert header.index("samples") + len("samples") == book.index(" 3 ") + 2
    assert "orders         150 intents journaled, 30 fills" in lines
    assert "violations     none" in lines
    rss = next(line for line in lines if line.startswith("rss"))
    assert rss.startswith("rss            26 samples (MiB): t=0s 60.0, t=15s 63.0,")
    assert rss.endswith("t=125s 85.0")  # the last sample always shows
    assert rss.count("t=") == 10  # every third sample, and the last
    growth = next(line for line in lines if line.startswith("  growth"))
    assert growth.startswith("  growth       +20.00 MiB (+32.0%): median of the last 6")
    assert "pipeline       exit code 0 (operator: the run's duration (120 s) is over)" in lines
    assert lines[-1] == "result         PASS (exit code 0)"


def test_nothing_injected_and_no_samples_say_so() -> None:
    report = _report(
        faults=(),
        restarts={},
        book_recovery=Recovery(),
        restart_recovery=Recovery(),
        rss=(),
    )
    table = format_report(report)
    assert "faults         0: none" in table
    assert "restarts       0: none" in table
    assert "rss            no samples" in table
    assert table.count("      -        -        -") == 2
    document = report.to_json()
    assert document["rss"] == {"available": True, "samples": [], "growth": None}
    assert document["recovery"]["fault_to_trusted_book"]["p50_s"] is None


def test_rss_unavailable_says_so() -> None:
    report = _report(rss=None)
    assert "rss            unavailable" in format_report(report)
    assert report.to_json()["rss"] == {"available": False, "samples": [], "growth": None}


def test_one_sample_shows_without_growth() -> None:
    report = attrs.evolve(_report(), rss=(RssSample(at=0.0, rss=64 * MIB),))
    table = format_report(report)
    assert "rss            1 samples (MiB): t=0s 64.0" in table
    assert "growth" not in table
