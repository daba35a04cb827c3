"""``cjt report JOURNAL``: an equity curve with drawdown and positions (PNG) and an HTML page
with the summary, per-strategy PnL and fees, and every fill, from a journal (read-only, so
it works on a running daemon's journal too)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import refuse

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="write a PNG and an HTML report from a journal",
        description=(
            "Read JOURNAL (read-only) and write <stem>-report.png (equity, drawdown, "
            "positions per product) and <stem>-report.html (summary, per-strategy PnL and "
            "fees, the fills table) next to it, or into --out."
        ),
    )
    report.add_argument("journal", type=Path, help="the SQLite journal of a run")
    report.add_argument("--out", type=Path, default=None, help="directory for the two files")
    report.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..report import write_report  # matplotlib is slow to import: only when asked
    from ..report_data import ReportError

    try:
        files = write_report(args.journal, args.out)
    except ReportError as error:
        return refuse("report", str(error))
    data = files.data
    print(f"cjt report: {data.summary.fills} fills, {len(data.strategies)} strategies")
    print(f"  {files.png}")
    print(f"  {files.html}")
    return 0
