"""How scenario results read: one table for the batch, a timeline around each failure.

A failure message says *what* did not hold; the timeline says *why*, in the order things
happened: the timeline's faults, the journal's events (state changes, order moves,
reconnects, crashes, restarts) and the exchange's error answers, merged by virtual time
around the failure's moment. Chatty events (PnL snapshots) are left out.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from decimal import Decimal

import attrs

from ..messages import Message
from ..order_messages import PnlRecorded
from .record import Failure, RunRecord
from .runner import ScenarioResult

__all__ = ["describe_message", "failure_timeline", "results_table"]

#: Seconds of events shown before and after a failure's moment.
BEFORE, AFTER = 8.0, 4.0
#: At most this many lines per failure (the ones nearest the moment).
MAX_LINES = 40
_QUIET: tuple[type[Message], ...] = (PnlRecorded,)
_FIRST_FIELDS = ("child", "client_order_id", "product_id", "previous", "state", "reason")
_SKIPPED_FIELDS = frozenset({"at", "supervisor", "strategy"})


def results_table(results: Sequence[ScenarioResult]) -> str:
    """One line per scenario: verdict, virtual and real seconds, activity, the hash."""
    header = ("scenario", "result", "virtual s", "real s", "orders", "fills", "restarts", "hash")
    rows = [header]
    for result in results:
        record = result.record
        orders = sum(1 for e in record.events if type(e.message).__name__ == "SubmitOrder")
        fills = sum(1 for e in record.events if type(e.message).__name__ == "OrderFilled")
        rows.append(
            (
                result.scenario.name,
                "pass" if result.passed else f"FAIL ({len(result.failures)})",
                f"{record.ended_at:.1f}",
                f"{result.real_seconds:.1f}",
                str(orders),
                str(fills),
                str(sum(record.restarts.values())),
                record.digest[:12],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} of {len(results)} scenarios passed")
    return "\n".join(line.rstrip() for line in lines)


def failure_timeline(record: RunRecord, failure: Failure) -> str:
    """The events around ``failure`` (the whole run's last seconds if it has no moment)."""
    moment = failure.at if failure.at is not None else record.ended_at
    # A stable sort by time alone: events of one instant keep the journal's order.
    lines = sorted(
        (line for line in _everything(record) if moment - BEFORE <= line[0] <= moment + AFTER),
        key=lambda line: line[0],
    )
    if len(lines) > MAX_LINES:
        # The timeline's own steps always stay: they are what explains the rest.
        steps = [i for i, line in enumerate(lines) if line[1] == "timeline"]
        others = [i for i, line in enumerate(lines) if line[1] != "timeline"]
        nearest = sorted(others, key=lambda i: abs(lines[i][0] - moment))
        keep = set(steps) | set(nearest[: max(0, MAX_LINES - len(steps))])
        lines = [lines[i] for i in sorted(keep)]
    lines = _collapse(lines)
    out = [
        f"  events from t={moment - BEFORE:.2f} to t={moment + AFTER:.2f} (failure at t={moment:.2f}):"
    ]
    marked = False
    for at, source, text in lines:
        if not marked and at > moment:
            out.append(f"    {moment:9.3f}  >>>>>>>>  {failure.check} failed here")
            marked = True
        out.append(f"    {at:9.3f}  {source:<8}  {text}")
    if not marked:
        out.append(f"    {moment:9.3f}  >>>>>>>>  {failure.check} failed here")
    return "\n".join(out)


def _collapse(lines: list[tuple[float, str, str]]) -> list[tuple[float, str, str]]:
    """Runs of denials for one reason become one line: a halted strategy is refused every
    second, and forty identical lines would hide the three that explain them."""
    out: list[tuple[float, str, str]] = []
    run: list[tuple[float, str, str]] = []

    def flush() -> None:
        if len(run) <= 2:
            out.extend(run)
        else:
            first, last = run[0], run[-1]
            reason = _denial_reason(first[2])
            out.append(
                (
                    first[0],
                    first[1],
                    f"OrderDenied reason={reason} x{len(run)} (until t={last[0]:.3f})",
                )
            )
        run.clear()

    for line in lines:
        reason = _denial_reason(line[2])
        if run and (reason is None or reason != _denial_reason(run[0][2])):
            flush()
        if reason is None:
            out.append(line)
        else:
            run.append(line)
    flush()
    return out


def _denial_reason(text: str) -> str | None:
    if not text.startswith("OrderDenied "):
        return None
    for part in text.split():
        if part.startswith("reason="):
            return part.removeprefix("reason=")
    return None


def _everything(record: RunRecord) -> Iterable[tuple[float, str, str]]:
    for action in record.actions:
        error = f"  (NOT APPLIED: {action.error})" if action.error else ""
        yield action.at, "timeline", action.description + error
    for event in record.events:
        if not isinstance(event.message, _QUIET):
            yield event.at, "journal", describe_message(event.message)
    for request in record.requests:
        if request.status is None or request.status >= 400:
            answer = "no answer" if request.status is None else str(request.status)
            coid = f" {request.client_order_id}" if request.client_order_id else ""
            yield request.at, "exchange", f"{request.method} {request.path}{coid} -> {answer}"


def describe_message(message: Message, *, width: int = 140) -> str:
    """``OrderUpdated client_order_id=... previous=OPEN state=FILLED ...`` on one line."""
    values = {f.name: getattr(message, f.name) for f in attrs.fields(type(message))}
    names = [n for n in _FIRST_FIELDS if n in values]
    names += [n for n in values if n not in names and n not in _SKIPPED_FIELDS]
    parts = [type(message).__name__]
    for name in names:
        value = values[name]
        if value is None or value == "" or value == ():
            continue
        parts.append(f"{name}={_short(value)}")
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 3] + "..."


def _short(value: object) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
