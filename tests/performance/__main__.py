"""``python -m tests.performance`` (``nox -s bench``): every benchmark, one table, one JSON file.

Each module's ``run(ctx)`` returns its :class:`~.harness.Metric` list; this runs them in a
fixed order on one capture, evaluates the issue's targets on the medians, prints the table
and writes the results (machine, versions, method notes, every sample) as JSON. With
``--record`` the JSON and the table also go to ``docs/performance.json`` and between the
markers of ``docs/performance.md``.

A benchmark that fails (its work did not happen, or it raised) is reported with its
traceback, its targets show "not measured", and the exit status is 1: a number is never
reported for work that was not done.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from .capture import load_capture
from .harness import BenchContext, Metric, environment, evaluate, markdown_table

MODULES = (
    "bench_decode",
    "bench_book",
    "bench_ingest",
    "bench_latency",
    "bench_supervisor",
    "bench_memory",
    "bench_orders",
)
ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.performance", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measure (3)")
    parser.add_argument(
        "--only", action="append", choices=MODULES, help="run only this module (repeatable)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / ".cache" / "bench" / "results.json",
        help="where the results go (default: .cache/bench/results.json)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="also write docs/performance.json and the table in docs/performance.md",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    started = time.perf_counter()
    capture = load_capture(level_updates=50_000 if args.quick else 1_000_000)
    print(
        f"capture: {len(capture.frames):,} frames, {capture.level_updates:,} level updates, "
        f"{capture.trades:,} trades, products {', '.join(capture.products)} "
        f"(sha256 {capture.sha256[:12]}), loaded in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    metrics: list[Metric] = []
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cjt-bench-") as scratch:
        for name in args.only or MODULES:
            ctx = BenchContext(
                capture=capture,
                repeats=repeats,
                quick=args.quick,
                workdir=Path(scratch) / name,
            )
            ctx.workdir.mkdir()
            ctx.progress(f"{name}: starting")
            module_started = time.perf_counter()
            try:
                module = importlib.import_module(f"{__package__}.{name}")
                metrics.extend(module.run(ctx))
            except Exception:  # reported below and in the exit status, never hidden
                failures[name] = traceback.format_exc()
                ctx.progress(f"{name}: FAILED\n{failures[name]}")
            timings[name] = round(time.perf_counter() - module_started, 1)
            ctx.progress(f"{name}: done in {timings[name]} s")

    by_key = {metric.key: metric for metric in metrics}
    results = evaluate(by_key)
    table = markdown_table(metrics, results)
    print(table)
    document = _document(args, repeats, capture, metrics, results, failures, timings, started)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults: {args.json}", file=sys.stderr)
    if args.record:
        _record(document, table)
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def _document(
    args: argparse.Namespace,
    repeats: int,
    capture: Any,
    metrics: list[Metric],
    results: Any,
    failures: dict[str, str],
    timings: dict[str, float],
    started: float,
) -> dict[str, Any]:
    return {
        "command": "nox -s bench" + (" -- --quick" if args.quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "environment": environment(),
        "repeats": repeats,
        "quick": args.quick,
        "capture": {
            "frames": len(capture.frames),
            "level_updates": capture.level_updates,
            "trades": capture.trades,
            "products": list(capture.products),
            "sha256": capture.sha256,
        },
        "metrics": {
            metric.key: {
                "label": metric.label,
                "unit": metric.unit,
                "median": metric.median,
                "spread": metric.spread,
                "samples": list(metric.samples),
                "better": metric.better,
                "note": metric.note,
            }
            for metric in metrics
        },
        "targets": [
            {
                "name": result.target.name,
                "measured": result.measured,
                "bound": result.bound,
                "comparison": result.target.comparison,
                "ratio": result.target.reference is not None,
                "verdict": result.verdict,
            }
            for result in results
        ],
        "failures": failures,
        "seconds": {"total": round(time.perf_counter() - started, 1), **timings},
    }


def _record(document: dict[str, Any], table: str) -> None:
    (ROOT / "docs" / "performance.json").write_text(json.dumps(document, indent=2) + "\n")
    page = ROOT / "docs" / "performance.md"
    text = page.read_text()
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise SystemExit(f"{page}: the markers {BEGIN} ... {END} are missing")
    env = document["environment"]
    header = (
        f"Recorded {document['date']} at commit {env['commit']}: {env['cpu']}, "
        f"{env['cpus']} CPUs, Python {env['python']}; an empty loop iteration took "
        f"{env['loop_iteration_ns']} ns; {document['repeats']} repeats, medians; the whole "
        f"run took {document['seconds']['total']:.0f} s."
    )
    page.write_text(text[: begin + len(BEGIN)] + f"\n{header}\n\n{table}\n" + text[end:])


if __name__ == "__main__":
    raise SystemExit(main())
