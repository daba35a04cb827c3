"""The soak's report: one value (:class:`SoakReport`), printed as a table and written as JSON.

The JSON document (:meth:`SoakReport.to_json`) has these keys (:data:`JSON_KEYS`); times are
seconds, memory bytes unless the key says MiB:

``seed``, ``venue`` (``sim`` or ``paper``), ``minutes`` (asked for), ``duration_s`` (ran),
``fault_every_s``;
``faults``: ``total``, ``by_kind`` (``ws_drop:market``, ``crash:book``, ...), ``list`` of
``{at_s, kind, detail, error}`` (``error`` is empty unless the injection itself failed);
``restarts``: ``total``, ``by_actor``;
``recovery``: ``fault_to_trusted_book`` and ``crash_to_restarted_actor``, each with
``samples``, ``p50_s``, ``p99_s``, ``max_s`` (``null`` without samples), ``no_effect``,
``unrecovered`` (see :mod:`cjt_actors.soak.recovery` for how they are counted);
``orders`` (intents journaled), ``fills`` (trade ids journaled);
``violations``: ``[{at_s, check, subject, detail}]``;
``rss``: ``available``, ``samples`` ``[{at_s, bytes}]``, ``growth`` (``null`` with fewer
than two samples, else ``first_quarter_median_bytes``, ``last_quarter_median_bytes``,
``mib``, ``percent``);
``pipeline``: ``exit_code``, ``stop_reason``, ``detail``;
``journal`` (its path); ``exit_code`` (the soak's: 0, or 1 with any violation).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .invariants import Violation
from .memory import MIB, RssSample, rss_growth
from .monkey import PlannedFault
from .recovery import Recovery

__all__ = ["JSON_KEYS", "InjectedFault", "SoakReport", "format_report"]

#: The top-level keys of :meth:`SoakReport.to_json`.
JSON_KEYS = (
    "seed",
    "venue",
    "minutes",
    "duration_s",
    "fault_every_s",
    "faults",
    "restarts",
    "recovery",
    "orders",
    "fills",
    "violations",
    "rss",
    "pipeline",
    "journal",
    "exit_code",
)

#: Samples shown in the table's RSS line (the JSON has them all).
_RSS_SHOWN = 12


@attrs.frozen(kw_only=True)
class InjectedFault:
    """A planned fault as it was injected: seconds since the soak's start (``at``) and on
    trio's clock (``clock``, to pair it with journaled events); ``error`` says why the
    injection itself failed (empty when it did not)."""

    at: float
    clock: float
    fault: PlannedFault
    error: str = ""


@attrs.frozen(kw_only=True)
class SoakReport:
    """Everything a soak measured (see the module docstring for its JSON form)."""

    seed: int
    venue: str
    minutes: float
    fault_every: float
    duration: float
    faults: tuple[InjectedFault, ...]
    restarts: Mapping[str, int]
    book_recovery: Recovery
    restart_recovery: Recovery
    orders: int
    fills: int
    violations: tuple[Violation, ...]
    rss: tuple[RssSample, ...] | None  #: None: RSS unavailable on this platform
    pipeline_exit_code: int
    stop_reason: str
    stop_detail: str
    journal: str

    @property
    def exit_code(self) -> int:
        """0 when every invariant held (and the pipeline stopped cleanly), else 1."""
        return 1 if self.violations else 0

    def faults_by_kind(self) -> dict[str, int]:
        counts = Counter(f.fault.key for f in self.faults if not f.error)
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (keys: :data:`JSON_KEYS`)."""
        growth = rss_growth(self.rss) if self.rss is not None else None
        return {
            "seed": self.seed,
            "venue": self.venue,
            "minutes": self.minutes,
            "duration_s": round(self.duration, 3),
            "fault_every_s": self.fault_every,
            "faults": {
                "total": sum(1 for f in self.faults if not f.error),
                "by_kind": self.faults_by_kind(),
                "list": [
                    {
                        "at_s": round(f.at, 3),
                        "kind": f.fault.key,
                        "detail": f.fault.describe(),
                        "error": f.error,
                    }
                    for f in self.faults
                ],
            },
            "restarts": {"total": sum(self.restarts.values()), "by_actor": dict(self.restarts)},
            "recovery": {
                "fault_to_trusted_book": _recovery_json(self.book_recovery),
                "crash_to_restarted_actor": _recovery_json(self.restart_recovery),
            },
            "orders": self.orders,
            "fills": self.fills,
            "violations": [
                {"at_s": round(v.at, 3), "check": v.check, "subject": v.subject, "detail": v.detail}
                for v in self.violations
            ],
            "rss": {
                "available": self.rss is not None,
                "samples": [{"at_s": round(s.at, 3), "bytes": s.rss} for s in self.rss or ()],
                "growth": None
                if growth is None
                else {
                    "first_quarter_median_bytes": growth.first,
                    "last_quarter_median_bytes": growth.last,
                    "mib": round(growth.mib, 3),
                    "percent": round(growth.percent, 3),
                },
            },
            "pipeline": {
                "exit_code": self.pipeline_exit_code,
                "stop_reason": self.stop_reason,
                "detail": self.stop_detail,
            },
            "journal": self.journal,
            "exit_code": self.exit_code,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _recovery_json(recovery: Recovery) -> dict[str, Any]:
    return {
        "samples": recovery.count,
        "p50_s": _rounded(recovery.p50),
        "p99_s": _rounded(recovery.p99),
        "max_s": _rounded(recovery.max),
        "no_effect": recovery.no_effect,
        "unrecovered": recovery.unrecovered,
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def _recovery_row(name: str, recovery: Recovery) -> str:
    return (
        f"  {name:<26} {recovery.count:>7} {_seconds(recovery.p50):>8} "
        f"{_seconds(recovery.p99):>8} {_seconds(recovery.max):>8} "
        f"{recovery.no_effect:>9} {recovery.unrecovered:>11}"
    )


def _rss_lines(samples: Sequence[RssSample] | None) -> list[str]:
    if samples is None:
        return ["rss            unavailable (no /proc/self/statm on this platform)"]
    if not samples:
        return ["rss            no samples"]
    step = max(1, -(-len(samples) // _RSS_SHOWN))
    shown = [*samples[::step]]
    if shown[-1] is not samples[-1]:
        shown.append(samples[-1])
    lines = [
        f"rss            {len(samples)} samples (MiB): "
        + ", ".join(f"t={s.at:.0f}s {s.rss / MIB:.1f}" for s in shown)
    ]
    growth = rss_growth(samples)
    if growth is not None:
        lines.append(
            f"  growth       {growth.mib:+.2f} MiB ({growth.percent:+.1f}%): median of the "
            f"last {growth.per_quarter} samples against the first {growth.per_quarter} "
            "(the whole process: the stack and the embedded simulator's history)"
        )
    return lines


def format_report(report: SoakReport) -> str:
    """The report as the table ``cjt soak`` prints."""
    total = sum(1 for f in report.faults if not f.error)
    failed = [f for f in report.faults if f.error]
    lines = [
        "== chaos soak ==",
        f"duration       {report.duration:.1f}s ({report.minutes:g} min asked), "
        f"seed {report.seed}, venue {report.venue}, a fault every ~{report.fault_every:g}s",
        f"faults         {total}: {_counts(report.faults_by_kind())}",
    ]
    lines += [f"  not injected t={f.at:.1f}s {f.fault.describe()}: {f.error}" for f in failed]
    lines += [
        f"restarts       {sum(report.restarts.values())}: {_counts(report.restarts)}",
        f"{'recovery':<28} {'samples':>7} {'p50':>8} {'p99':>8} {'max':>8} "
        f"{'no effect':>9} {'unrecovered':>11}",
        _recovery_row("fault -> trusted book", report.book_recovery),
        _recovery_row("crash -> restarted actor", report.restart_recovery),
        f"orders         {report.orders} intents journaled, {report.fills} fills",
    ]
    if report.violations:
        lines.append(f"violations     {len(report.violations)}")
        lines += [f"  t={v.at:.1f}s {v.check} {v.subject}: {v.detail}" for v in report.violations]
    else:
        lines.append("violations     none")
    lines += _rss_lines(report.rss)
    lines += [
        f"pipeline       exit code {report.pipeline_exit_code} "
        f"({report.stop_reason}: {report.stop_detail})",
        f"journal        {report.journal}",
        f"result         {'PASS' if report.exit_code == 0 else 'FAIL'} "
        f"(exit code {report.exit_code})",
    ]
    return "\n".join(lines)
