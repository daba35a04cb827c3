"""How results read: the batch's table, the events around a failure, one message per line."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import attrs

from cjt_actors.exchange.orders import Side
from cjt_actors.market_messages import BookTrustChanged
from cjt_actors.messages import ChildStarted, Message
from cjt_actors.order_messages import (
    DenyReason,
    EmergencyCancelFinished,
    IntentKind,
    OrderDenied,
    OrderType,
    PnlRecorded,
    SubmitOrder,
    TimeInForce,
    TradingState,
)
from cjt_actors.scenarios import Failure, RunRecord, ScenarioResult
from cjt_actors.scenarios.display import (
    MAX_LINES,
    describe_message,
    failure_timeline,
    results_table,
)
from cjt_actors.scenarios.record import ActionRecord, TimedEvent
from cjt_actors.sim.requestlog import ORDERS_PATH, LoggedRequest

MARKER = ">>>>>>>>"


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def entries(timeline: str) -> list[tuple[float, str]]:
    """(time, rest of the line) of each line after the heading."""
    out = []
    for line in timeline.splitlines()[1:]:
        at, _, rest = line.strip().partition("  ")
        out.append((float(at), rest.strip()))
    return out


# -- the table ------------------------------------------------------------------------------------


def test_the_results_table_has_a_row_per_scenario_and_the_count(
    shared_result: ScenarioResult,
) -> None:
    record = shared_result.record
    failed = attrs.evolve(
        shared_result,
        scenario=attrs.evolve(shared_result.scenario, name="shared-but-failed"),
        failures=(Failure(check="x", message="m"), Failure(check="y", message="n")),
    )
    lines = results_table([shared_result, failed]).splitlines()

    assert cells(lines[0]) == [
        "scenario",
        "result",
        "virtual s",
        "real s",
        "orders",
        "fills",
        "restarts",
        "hash",
    ]
    assert set(lines[1]) == {"-", " "}
    kinds = [type(e.message).__name__ for e in record.events]
    assert cells(lines[2]) == [
        "shared",
        "pass",
        f"{record.ended_at:.1f}",
        f"{shared_result.real_seconds:.1f}",
        str(kinds.count("SubmitOrder")),
        str(kinds.count("OrderFilled")),
        "2",
        record.digest[:12],
    ]
    assert cells(lines[3])[:2] == ["shared-but-failed", "FAIL (2)"]
    assert lines[0].index("result") == lines[2].index("pass") == lines[3].index("FAIL")
    assert lines[0].index("hash") == lines[2].index(record.digest[:12])
    assert lines[4] == "1 of 2 scenarios passed"
    assert len(lines) == 5
    assert all(line == line.rstrip() for line in lines)


# -- the events around a failure ------------------------------------------------------------------


def test_a_failure_s_timeline_merges_faults_events_and_error_answers_around_it(
    record: RunRecord,
) -> None:
    text = failure_timeline(record, Failure(check="requests", message="m", at=7.25))
    lines = text.splitlines()
    assert lines[0] == "  events from t=-0.75 to t=11.25 (failure at t=7.25):"
    shown = entries(text)
    assert (7.0, "timeline  REST server_error x2 on /api/v3/brokerage/orders") in shown
    create = next(r for r in record.requests if r.status == 503 and r.method == "POST")
    assert (7.25, f"exchange  POST {ORDERS_PATH} {create.client_order_id} -> 503") in shown
    assert (7.25, "exchange  GET /api/v3/brokerage/orders/historical/batch -> 503") in shown
    assert (9.0, "timeline  crash strategy:mm x2 every 2 s") in shown
    assert not any("PnlRecorded" in line for line in lines)
    times = [at for at, _ in shown]
    assert times == sorted(times)
    assert all(-0.75 <= at <= 11.25 for at in times)
    assert len(shown) <= MAX_LINES + 1  # the marker's line comes on top


def test_the_marker_stands_where_the_failure_happened(record: RunRecord) -> None:
    text = failure_timeline(record, Failure(check="trading_state", message="m", at=12.0))
    shown = entries(text)
    marker = shown.index((12.0, f"{MARKER}  trading_state failed here"))
    halt = shown.index((12.0, "timeline  operator halt"))
    changed = shown.index(
        (
            12.0,
            "journal   TradingStateChanged previous=ACTIVE state=HALTED reason=OPERATOR "
            "detail=operator: scenario",
        )
    )
    assert halt < changed < marker, "what happened at the moment comes before the marker"
    assert all(at > 12.0 for at, _ in shown[marker + 1 :])
    assert all(at <= 12.0 for at, _ in shown[:marker])
    assert sum(MARKER in line for line in text.splitlines()) == 1


def test_a_failure_without_a_moment_is_shown_at_the_run_s_end(record: RunRecord) -> None:
    text = failure_timeline(record, Failure(check="exit_code", message="m"))
    assert text.splitlines()[0] == (
        f"  events from t={record.ended_at - 8:.2f} to t={record.ended_at + 4:.2f} "
        f"(failure at t={record.ended_at:.2f}):"
    )
    last = entries(text)[-1]
    assert last == (round(record.ended_at, 3), f"{MARKER}  exit_code failed here")
    assert "EmergencyCancelFinished" in text
    assert "timeline" not in text  # no fault in the run's last seconds


def test_at_most_max_lines_are_kept_the_nearest_to_the_moment(record: RunRecord) -> None:
    moment = 2.0
    shown = [
        (at, line)
        for at, line in entries(
            failure_timeline(record, Failure(check="c", message="m", at=moment))
        )
        if MARKER not in line
    ]
    around = [
        e
        for e in record.events
        if moment - 8 <= e.at <= moment + 4 and not isinstance(e.message, PnlRecorded)
    ]
    assert len(around) > MAX_LINES, "the shared run is busy enough to need the cut"
    assert len(shown) == MAX_LINES
    # The timeline's own steps always stay (the gap at t=5 explains what follows)...
    steps = [a for a in record.actions if moment - 8 <= a.at <= moment + 4]
    assert steps
    assert all(any(a.description in line for _, line in shown) for a in steps)
    # ...and the other lines are the nearest ones.
    farthest = max(abs(at - moment) for at, line in shown if "timeline  " not in line)
    dropped = [e for e in around if abs(e.at - moment) < farthest]
    kept = {line for _, line in shown}
    assert all(f"journal   {describe_message(e.message)}" in kept for e in dropped)


def denial(reason: str, at: float, n: int) -> tuple[float, Message]:
    return (
        at,
        OrderDenied(
            strategy="mm",
            client_order_id=f"c-{n}",
            product_id="BTC-USD",
            intent=IntentKind.SUBMIT,
            reason=DenyReason(reason),
            detail="risk: no",
            at=at,
        ),
    )


def synthetic(record: RunRecord, events: list[tuple[float, Message]]) -> RunRecord:
    return attrs.evolve(
        record,
        events=tuple(TimedEvent(seq=i + 1, at=at, message=m) for i, (at, m) in enumerate(events)),
        actions=(
            ActionRecord(at=1.0, description="operator halt"),
            ActionRecord(at=1.5, description="crash executor", error="no tree yet"),
        ),
        requests=(
            LoggedRequest(at=2.0, method="POST", path=ORDERS_PATH, client_order_id="c-9"),
            LoggedRequest(at=2.1, method="GET", path="/api/v3/brokerage/accounts", status=200),
            LoggedRequest(at=2.2, method="GET", path="/api/v3/brokerage/accounts", status=429),
        ),
    )


def test_runs_of_one_denial_reason_collapse_into_one_line(record: RunRecord) -> None:
    pnl = PnlRecorded(
        equity=Decimal(0),
        peak_equity=Decimal(0),
        drawdown=Decimal(0),
        realized_pnl=Decimal(0),
        unrealized_pnl=Decimal(0),
        fees=Decimal(0),
        gross_exposure=Decimal(0),
        open_orders=0,
        state=TradingState.HALTED,
        positions=(),
        at=1.05,
    )
    halted = [1.125, 1.25, 1.25, 1.375, 1.4375]  # five, before the step at t=1.5
    events = [
        *(denial("TRADING_HALTED", at, i) for i, at in enumerate(halted)),
        (1.5, pnl),  # quiet: neither shown nor breaking the run
        *(denial("TRADING_HALTED", at, 10 + i) for i, at in enumerate([1.625, 1.75])),
        *(denial("BOOK_STALE", at, 20 + i) for i, at in enumerate([1.875, 2.0])),
        *(denial("MAX_POSITION", at, 30 + i) for i, at in enumerate([2.5, 2.625, 2.75])),
        (2.875, ChildStarted(supervisor="trading", child="executor", incarnation=1, at=2.875)),
        *(denial("MAX_POSITION", at, 40 + i) for i, at in enumerate([3.0, 3.125, 3.25])),
    ]
    text = failure_timeline(synthetic(record, events), Failure(check="c", message="m", at=2.0))
    assert [line for line in text.splitlines()[1:]] == [
        "        1.000  timeline  operator halt",
        "        1.125  journal   OrderDenied reason=TRADING_HALTED x5 (until t=1.438)",
        "        1.500  timeline  crash executor  (NOT APPLIED: no tree yet)",
        "        1.625  journal   OrderDenied client_order_id=c-10 product_id=BTC-USD "
        "reason=TRADING_HALTED intent=submit detail=risk: no",
        "        1.750  journal   OrderDenied client_order_id=c-11 product_id=BTC-USD "
        "reason=TRADING_HALTED intent=submit detail=risk: no",
        "        1.875  journal   OrderDenied client_order_id=c-20 product_id=BTC-USD "
        "reason=BOOK_STALE intent=submit detail=risk: no",
        "        2.000  journal   OrderDenied client_order_id=c-21 product_id=BTC-USD "
        "reason=BOOK_STALE intent=submit detail=risk: no",
        f"        2.000  exchange  POST {ORDERS_PATH} c-9 -> no answer",
        f"        2.000  {MARKER}  c failed here",
        "        2.200  exchange  GET /api/v3/brokerage/accounts -> 429",
        "        2.500  journal   OrderDenied reason=MAX_POSITION x3 (until t=2.750)",
        "        2.875  journal   ChildStarted child=executor incarnation=1",
        "        3.000  journal   OrderDenied reason=MAX_POSITION x3 (until t=3.250)",
    ]


def test_a_denial_line_cut_before_its_reason_is_shown_as_it_is(record: RunRecord) -> None:
    long_id = "c" * 60
    events: list[tuple[float, Message]] = [
        (
            1.0 + i / 10,
            OrderDenied(
                strategy="mm",
                client_order_id=long_id,
                product_id="P" * 60,
                intent=IntentKind.SUBMIT,
                reason=DenyReason.PRICE_BAND,
                detail="far",
                at=1.0,
            ),
        )
        for i in range(3)
    ]
    text = failure_timeline(synthetic(record, events), Failure(check="c", message="m", at=1.0))
    denials = [line for line in text.splitlines() if "OrderDenied" in line]
    assert len(denials) == 3
    assert all(line.endswith("...") and "reason=" not in line for line in denials)


# -- one message, one line -------------------------------------------------------------------------


def submit(**changes: Any) -> SubmitOrder:
    order = SubmitOrder(
        strategy="mm",
        client_order_id="c-1",
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.500"),
        limit_price=Decimal("100.00"),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        at=3.0,
    )
    return attrs.evolve(order, **changes)


def test_describe_message_puts_the_telling_fields_first_and_values_short() -> None:
    assert describe_message(submit()) == (
        "SubmitOrder client_order_id=c-1 product_id=BTC-USD side=BUY order_type=limit "
        "size=0.5 limit_price=100 time_in_force=gtc post_only=False"
    )
    assert describe_message(submit(limit_price=None, trigger_at=1.25)).endswith(
        "time_in_force=gtc post_only=False trigger_at=1.25"
    )
    trust = BookTrustChanged(product_id="ETH-USD", trusted=False, reason="GAP", at=1.0)
    assert describe_message(trust) == "BookTrustChanged product_id=ETH-USD reason=GAP trusted=False"


def test_describe_message_leaves_out_empty_values_and_shortens_long_ones() -> None:
    finished = EmergencyCancelFinished(
        venue="sim",
        open_before=2,
        cancel_requests=2,
        remaining=0,
        remaining_ids=(),
        attempts=1,
        at=9.0,
    )
    assert describe_message(finished) == (
        "EmergencyCancelFinished venue=sim open_before=2 cancel_requests=2 remaining=0 "
        "attempts=1 completed=True"
    )
    long = describe_message(submit(client_order_id="x" * 80))
    assert f"client_order_id={'x' * 57}... " in long
    assert describe_message(submit(), width=30) == "SubmitOrder client_order_id..."
    assert len(describe_message(submit(), width=30)) == 30
