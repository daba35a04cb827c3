"""What every benchmark returns, the issue's targets, and the results file and table.

Why ratios: the machines this runs on are shared and their speed drifts by up to ~1.8x
within an hour (``reference/perf-limits.md``). So each benchmark measures the thing and its
reference side by side, interleaved round-robin within every repeat, and the targets are
ratios of medians from the same run; absolute figures are reported for context only.

A :class:`Metric` holds one value per repeat (each already a summary of that repeat, e.g. a
p99); the table shows the median. A :class:`Target` compares two medians (or a median and
a constant) and says whether the issue's goal was met.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from .capture import Capture

__all__ = [
    "TARGETS",
    "BenchContext",
    "Metric",
    "Target",
    "TargetResult",
    "environment",
    "evaluate",
    "markdown_table",
    "percentile",
    "rss_mib",
]


def _floats(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class Metric:
    """One measured quantity: one value per repeat, summarized by the median."""

    key: str
    label: str
    unit: str
    samples: tuple[float, ...] = attrs.field(converter=_floats)
    better: Literal["higher", "lower"]
    note: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.samples:
            raise ValueError(f"metric {self.key}: no samples")
        for value in self.samples:
            if not math.isfinite(value):
                raise ValueError(f"metric {self.key}: sample {value!r} is not finite")

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """(max - min) / median: how much the repeats disagreed."""
        median = self.median
        return 0.0 if median == 0 else (max(self.samples) - min(self.samples)) / abs(median)


@attrs.frozen(kw_only=True)
class BenchContext:
    """What a benchmark module's ``run(ctx)`` gets."""

    capture: Capture
    repeats: int
    quick: bool
    workdir: Path
    log: Callable[[str], None] = attrs.field(default=lambda text: print(text, file=sys.stderr))

    def progress(self, text: str) -> None:
        """One status line on stderr (the table goes to stdout)."""
        self.log(f"[bench {time.strftime('%H:%M:%S')}] {text}")


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (``fraction`` in [0, 1])."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def rss_mib() -> float:
    """This process's resident set size now, in MiB (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# -- targets --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Target:
    """A goal of the issue: ``key``'s median compared with ``factor`` x ``reference``'s
    median (a ratio), or with ``limit`` (an absolute bound) when there is no reference."""

    name: str
    key: str
    comparison: Literal[">=", "<="]
    reference: str | None = None
    factor: float = 1.0
    limit: float | None = None


@attrs.frozen(kw_only=True)
class TargetResult:
    target: Target
    measured: float | None  #: the ratio (with a reference) or the value; None: not measured
    bound: float
    met: bool | None  #: None: a metric it needs is missing

    @property
    def verdict(self) -> str:
        return "not measured" if self.met is None else ("met" if self.met else "MISSED")


#: The issue's targets. Tick-to-trade is judged paced (an idle pipeline woken by one frame,
#: what sporadic live traffic looks like); bursts are reported beside it.
TARGETS: tuple[Target, ...] = (
    Target(
        name="ingest >= 0.6x bare trio-websocket receive",
        key="ingest.cjt.frames_per_s",
        reference="ingest.bare.frames_per_s",
        comparison=">=",
        factor=0.6,
    ),
    Target(
        name="ingest >= 3x the SDK path",
        key="ingest.cjt.frames_per_s",
        reference="ingest.sdk.frames_per_s",
        comparison=">=",
        factor=3.0,
    ),
    Target(
        name="tick-to-trade p50 (paper, paced) <= 2x the 5-stage floor",
        key="t2t.paper.paced.p50",
        reference="t2t.floor.paced.p50",
        comparison="<=",
        factor=2.0,
    ),
    Target(
        name="tick-to-trade p99 (paper, paced) <= 250 us",
        key="t2t.paper.paced.p99",
        comparison="<=",
        limit=250.0,
    ),
    Target(
        name="tick-to-trade p50 (live vs simulator, paced) <= 2x the 5-stage floor",
        key="t2t.live.paced.p50",
        reference="t2t.floor.paced.p50",
        comparison="<=",
        factor=2.0,
    ),
    Target(
        name="tick-to-trade p99 (live vs simulator, paced) <= 250 us",
        key="t2t.live.paced.p99",
        comparison="<=",
        limit=250.0,
    ),
    Target(
        name="book >= 1 M level updates/s (best bid/ask after every event)",
        key="book.cjt.levels_per_s",
        comparison=">=",
        limit=1_000_000.0,
    ),
    Target(
        name="emergency with 100 open orders <= 1 s",
        key="emergency.cancel_100_s",
        comparison="<=",
        limit=1.0,
    ),
    Target(
        name="RSS growth <= 5% (1 M -> 2 M frames here; 1 M -> 10 M: docs/performance.md)",
        key="memory.growth_pct",
        comparison="<=",
        limit=5.0,
    ),
)


def evaluate(
    metrics: Mapping[str, Metric], targets: Sequence[Target] = TARGETS
) -> list[TargetResult]:
    """Each target's verdict from the medians of ``metrics``."""
    results = []
    for target in targets:
        metric = metrics.get(target.key)
        reference = metrics.get(target.reference) if target.reference else None
        if metric is None or (target.reference and reference is None):
            bound = target.factor if target.reference else (target.limit or 0.0)
            results.append(TargetResult(target=target, measured=None, bound=bound, met=None))
            continue
        if reference is not None:
            measured = metric.median / reference.median if reference.median else math.inf
            bound = target.factor
        else:
            assert target.limit is not None
            measured, bound = metric.median, target.limit
        met = measured >= bound if target.comparison == ">=" else measured <= bound
        results.append(TargetResult(target=target, measured=measured, bound=bound, met=met))
    return results


# -- the environment and the table ------------------------------------------------------------

_PACKAGES = (
    "trio",
    "trio-websocket",
    "wsproto",
    "orjson",
    "attrs",
    "cattrs",
    "httpx",
    "hypercorn",
    "coinbase-advanced-py",
    "websockets",
    "sortedcontainers",
)


def environment() -> dict[str, Any]:
    """The machine, Python and package versions, and the commit: what a figure depends on."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "commit": commit,
        "packages": versions,
        "loop_iteration_ns": _loop_iteration_ns(),
    }


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):  # pragma: no cover
        return None


def _loop_iteration_ns() -> float:
    """An empty ``for`` iteration, in ns: the yardstick perf-limits.md scales figures by."""
    best = math.inf
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(1_000_000):
            pass
        best = min(best, (time.perf_counter_ns() - start) / 1_000_000)
    return round(best, 1)


def _number(value: float, unit: str) -> str:
    if unit in {"frames/s", "levels/s", "msgs/s"}:
        if value >= 1_000_000:
            return f"{value / 1_000_000:.2f} M"
        return f"{value / 1000:.1f} k"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown_table(metrics: Sequence[Metric], results: Sequence[TargetResult]) -> str:
    """The figures (median, spread, repeats) and the targets, as two Markdown tables."""
    lines = [
        "| measure | median | unit | spread | repeats |",
        "|---|---:|---|---:|---:|",
    ]
    for metric in metrics:
        lines.append(
            f"| {metric.label} | {_number(metric.median, metric.unit)} | {metric.unit} "
            f"| {metric.spread:.0%} | {len(metric.samples)} |"
        )
    lines += ["", "| target | measured | goal | verdict |", "|---|---:|---:|---|"]
    for result in results:
        target = result.target
        if target.reference:
            measured = "-" if result.measured is None else f"{result.measured:.2f}x"
            goal = f"{target.comparison} {result.bound:g}x"
        else:
            metric_unit = next((m.unit for m in metrics if m.key == target.key), "")
            measured = (
                "-" if result.measured is None else f"{_number(result.measured, metric_unit)}"
            )
            goal = f"{target.comparison} {_number(result.bound, metric_unit)} {metric_unit}"
        lines.append(f"| {target.name} | {measured} | {goal} | {result.verdict} |")
    return "\n".join(lines)
