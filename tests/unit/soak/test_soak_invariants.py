"""The soak's invariants on crafted records: each check finds what it must, and only that;
and the journal tally that feeds them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cjt_actors.exchange.orders import Side
from cjt_actors.journal import Entry
from cjt_actors.lifecycle import Liquidity
from cjt_actors.market_messages import BookTrustChanged
from cjt_actors.messages import ChildCrashed, ChildStarted, Message
from cjt_actors.order_messages import (
    CancelOrder,
    EmergencyCancelFinished,
    OrderFilled,
    OrderType,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.soak.invariants import (
    UNSAFE,
    Finding,
    RiskAgreement,
    SimFill,
    SimOrder,
    Violation,
    balance_changes_from_fills,
    check_balances,
    check_emergency,
    check_fill_intents,
    check_fills,
    check_nothing_open,
    check_order_rows,
    check_orders,
    check_paper_totals,
)
from cjt_actors.soak.tally import KINDS, JournalTally

D = Decimal
CURRENCIES = {"BTC-USD": ("BTC", "USD"), "ETH-USD": ("ETH", "USD")}


def _intent(coid: str, size: str = "0.01", product: str = "BTC-USD") -> SubmitOrder:
    return SubmitOrder(
        strategy="mm",
        client_order_id=coid,
        product_id=product,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=D(size),
        limit_price=D("60000"),
        time_in_force=TimeInForce.GTC,
        post_only=True,
        at=1.0,
    )


def _fill(
    trade_id: str,
    coid: str = "c1",
    *,
    side: Side = Side.BUY,
    price: str = "60000",
    size: str = "0.01",
    fee: str = "0.6",
    product: str = "BTC-USD",
    order_id: str = "o1",
) -> OrderFilled:
    return OrderFilled(
        strategy="mm",
        client_order_id=coid,
        order_id=order_id,
        product_id=product,
        side=side,
        trade_id=trade_id,
        price=D(price),
        size=D(size),
        fee=D(fee),
        liquidity=Liquidity.MAKER,
        at=2.0,
    )


def _sim_fill(trade_id: str, **overrides: object) -> SimFill:
    fields: dict[str, object] = {
        "trade_id": trade_id,
        "order_id": "o1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "price": D("60000"),
        "size": D("0.01"),
        "fee": D("0.6"),
    }
    fields.update(overrides)
    return SimFill(**fields)  # type: ignore[arg-type]


def _order(coid: str, order_id: str = "o1", status: str = "OPEN", filled: str = "0") -> SimOrder:
    return SimOrder(client_order_id=coid, order_id=order_id, status=status, filled_size=D(filled))


def _checks(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.check, f.subject) for f in findings]


# -- orders --------------------------------------------------------------------------------------


def test_orders_each_placed_once_with_an_intent_are_fine() -> None:
    assert check_orders([_order("c1"), _order("c2", "o2")], {"c1", "c2", "c3"}) == []


def test_an_order_placed_twice_and_an_order_nobody_intended_are_found_and_unsafe() -> None:
    findings = check_orders([_order("c1", "o1"), _order("c1", "o2"), _order("x9", "o3")], {"c1"})
    assert _checks(findings) == [("duplicate_order", "c1"), ("order_without_intent", "x9")]
    assert "['o1', 'o2']" in findings[0].detail
    assert {f.check for f in findings} <= UNSAFE


def test_nothing_open_after_the_stop() -> None:
    orders = [
        _order("c1", status="CANCELLED"),
        _order("c2", status="OPEN"),
        _order("c3", status="PENDING"),
        _order("c4", status="FILLED"),
    ]
    assert _checks(check_nothing_open(orders)) == [
        ("open_after_stop", "c2"),
        ("open_after_stop", "c3"),
    ]


def test_order_rows_agree_with_the_venue_on_id_filled_size_and_state() -> None:
    rows = {
        "c1": {"order_id": "o1", "filled_size": "0.01", "state": "FILLED"},
        "c2": {"order_id": "o2", "filled_size": "0", "state": "OPEN"},
    }
    orders = [
        _order("c1", "o1", "FILLED", "0.0100"),  # Decimal equality: trailing zeros are equal
        _order("c2", "o2", "CANCELLED", "0"),
        _order("c3", "o3", "CANCELLED", "0"),
    ]
    findings = check_order_rows(rows, orders)
    assert _checks(findings) == [("order_row_mismatch", "c2"), ("order_row_missing", "c3")]
    assert "journal (order_id, filled, state) = (o2, 0, OPEN)" in findings[0].detail


# -- fills ---------------------------------------------------------------------------------------


def test_journaled_fills_that_are_the_venues_are_fine_and_may_lag_while_running() -> None:
    journal = {"t1": [_fill("t1")]}
    venue = {"t1": _sim_fill("t1"), "t2": _sim_fill("t2")}
    assert check_fills(journal, venue, complete=False) == []
    assert _checks(check_fills(journal, venue, complete=True)) == [("fill_missing", "t2")]


def test_a_fill_journaled_twice_unknown_or_different_is_found() -> None:
    journal = {
        "t1": [_fill("t1"), _fill("t1")],
        "t2": [_fill("t2", price="60001")],
        "t3": [_fill("t3")],
    }
    venue = {"t1": _sim_fill("t1"), "t2": _sim_fill("t2")}
    findings = check_fills(journal, venue, complete=False)
    assert _checks(findings) == [
        ("fill_twice", "t1"),
        ("fill_mismatch", "t2"),
        ("fill_unknown_to_venue", "t3"),
    ]
    assert "@ 60001" in findings[1].detail
    assert "@ 60000" in findings[1].detail


@pytest.mark.parametrize(
    "difference",
    [{"side": "SELL"}, {"size": D("0.02")}, {"fee": D("0.5")}, {"order_id": "o9"}],
)
def test_every_field_of_a_fill_is_compared(difference: dict[str, object]) -> None:
    findings = check_fills(
        {"t1": [_fill("t1")]}, {"t1": _sim_fill("t1", **difference)}, complete=True
    )
    assert _checks(findings) == [("fill_mismatch", "t1")]


def test_fills_need_an_intent_and_may_not_exceed_its_size() -> None:
    intents = {"c1": _intent("c1", "0.01"), "c2": _intent("c2", "0.02")}
    fills = [
        _fill("t1", "c1", size="0.006"),
        _fill("t2", "c1", size="0.005"),
        _fill("t3", "c2", size="0.02"),
        _fill("t4", "zz"),
    ]
    findings = check_fill_intents(fills, intents)
    assert _checks(findings) == [("fill_without_intent", "t4"), ("overfilled", "c1")]
    assert "0.011" in findings[1].detail


# -- balances ------------------------------------------------------------------------------------


def test_balance_changes_follow_buys_and_sells_less_fees() -> None:
    fills = [
        _fill("t1", side=Side.BUY, price="60000", size="0.01", fee="0.6"),
        _fill("t2", side=Side.SELL, price="61000", size="0.004", fee="0.2"),
        _fill("t3", side=Side.SELL, price="3000", size="1", fee="1", product="ETH-USD"),
    ]
    moved = balance_changes_from_fills(fills, CURRENCIES)
    assert moved == {
        "BTC": D("0.006"),
        "USD": D("-600") - D("0.6") + D("244") - D("0.2") + D("3000") - D("1"),
        "ETH": D("-1"),
    }
    assert check_balances(fills, moved, CURRENCIES) == []


def test_a_balance_the_fills_do_not_explain_is_found() -> None:
    fills = [_fill("t1", side=Side.BUY, price="60000", size="0.01", fee="0.6")]
    changes = {"BTC": D("0.01"), "USD": D("-600.6"), "ETH": D("0.5")}
    findings = check_balances(fills, changes, CURRENCIES)
    assert _checks(findings) == [("balance_mismatch", "ETH")]
    assert "by 0" in findings[0].detail
    assert "moved by 0.5" in findings[0].detail


# -- the emergency step and the paper venue ------------------------------------------------------


def _finished(remaining: int = 0, completed: bool = True) -> EmergencyCancelFinished:
    return EmergencyCancelFinished(
        venue="sim",
        open_before=3,
        cancel_requests=1,
        remaining=remaining,
        remaining_ids=tuple(f"c{i}" for i in range(remaining)),
        attempts=1,
        at=9.0,
        completed=completed,
    )


def test_the_emergency_step_runs_once_completes_and_leaves_nothing() -> None:
    assert check_emergency([_finished()]) == []
    assert _checks(check_emergency([])) == [("emergency_step", "count")]
    assert _checks(check_emergency([_finished(), _finished()])) == [("emergency_step", "count")]
    incomplete = check_emergency([_finished(remaining=2, completed=False)])
    assert _checks(incomplete) == [("emergency_step", "outcome")]
    assert "['c0', 'c1']" in incomplete[0].detail
    assert _checks(check_emergency([_finished(remaining=1)])) == [("emergency_step", "outcome")]


def test_paper_totals_agree_with_the_paper_venues_counters() -> None:
    fills = [_fill("t1", size="0.01", fee="0.6"), _fill("t2", size="0.02", fee="1.2")]
    counters = {"venue_fills": 2, "venue_filled_base": D("0.03"), "venue_fees": D("1.8")}
    assert check_paper_totals(fills, complete=True, **counters) == []  # type: ignore[arg-type]
    more = {**counters, "venue_fills": 3}
    assert check_paper_totals(fills, complete=False, **more) == []  # type: ignore[arg-type]
    missing = check_paper_totals(fills, complete=True, **more)  # type: ignore[arg-type]
    assert _checks(missing) == [("fill_missing", "paper")]
    fewer = {**counters, "venue_fills": 1}
    assert _checks(check_paper_totals(fills, complete=False, **fewer)) == [  # type: ignore[arg-type]
        ("fill_unknown_to_venue", "paper")
    ]


# -- risk's positions ----------------------------------------------------------------------------


def test_risk_may_lag_the_journal_until_the_fills_settle() -> None:
    agreement = RiskAgreement(settle=2)
    journal = {"BTC-USD": D("0.01")}
    behind: dict[str, Decimal] = {}
    assert agreement.observe(1.0, 1, journal, behind, 1.5) == []  # fills just changed
    assert agreement.observe(2.0, 1, journal, behind, 2.5) == []  # settling
    findings = agreement.observe(3.0, 1, journal, behind, 3.5)
    assert _checks(findings) == [("risk_positions", "BTC-USD")]
    assert "risk holds 0, the journal's fills add up to 0.01" in findings[0].detail
    # A new fill starts the wait again.
    assert agreement.observe(4.0, 2, {"BTC-USD": D("0.02")}, behind, 4.5) == []


def test_risk_that_has_not_published_since_the_fills_changed_is_not_judged() -> None:
    agreement = RiskAgreement(settle=1)
    journal = {"BTC-USD": D("0.01")}
    assert agreement.observe(1.0, 1, journal, {}, 0.5) == []
    assert agreement.observe(2.0, 1, journal, {}, 0.9) == []  # risk down (restarting)
    assert agreement.observe(3.0, 1, journal, None, None) == []  # nothing published at all
    assert _checks(agreement.observe(4.0, 1, journal, {}, 3.9)) == [("risk_positions", "BTC-USD")]


def test_risk_in_agreement_is_fine_and_zero_positions_are_absent_ones() -> None:
    agreement = RiskAgreement(settle=1)
    for now in (1.0, 2.0, 3.0):
        assert (
            agreement.observe(
                now,
                4,
                {"BTC-USD": D("0.01")},
                {
                    "BTC-USD": D("0.010"),
                    "ETH-USD": D("0"),
                },
                now + 0.5,
            )
            == []
        )


def test_settle_must_be_positive() -> None:
    with pytest.raises(ValueError, match="settle"):
        RiskAgreement(settle=0)


def test_a_violation_is_a_finding_with_its_time() -> None:
    finding = Finding(check="fill_twice", subject="t1", detail="journaled 2 times")
    assert Violation.of(finding, 12.5) == Violation(
        at=12.5, check="fill_twice", subject="t1", detail="journaled 2 times"
    )


# -- the tally -----------------------------------------------------------------------------------


def _entries(*messages: Message, start: int = 1) -> list[Entry]:
    return [(start + i, float(i), m) for i, m in enumerate(messages)]


def test_the_tally_folds_what_the_checks_need_and_remembers_where_it_stopped() -> None:
    tally = JournalTally()
    first = _entries(
        _intent("c1"),
        _intent("c1", size="9"),  # the same id again: the first intent stays
        _fill("t1", "c1", size="0.004"),
        BookTrustChanged(product_id="BTC-USD", trusted=False, reason="GAP", at=1.0),
        ChildStarted(supervisor="trading", at=0.0, child="book", incarnation=0),
    )
    assert tally.ingest(first) == 5
    assert tally.last_seq == 5
    second = _entries(
        _fill("t1", "c1", size="0.004"),
        _fill("t2", "c1", size="0.003", side=Side.SELL, product="BTC-USD"),
        _fill("t3", "c9", size="1", product="ETH-USD"),
        ChildCrashed(
            supervisor="trading",
            at=3.0,
            child="book",
            incarnation=0,
            ran_for=3.0,
            error_type="InjectedCrash",
            error="boom",
            before_ready=False,
        ),
        _finished(),
        CancelOrder(strategy="mm", client_order_id="c1", reason="requote", at=4.0),
        start=6,
    )
    assert tally.ingest(second) == 6
    assert tally.last_seq == 11
    assert tally.intents["c1"].size == D("0.01")
    assert tally.fill_count == 3
    assert [len(tally.fills[t]) for t in ("t1", "t2", "t3")] == [2, 1, 1]
    assert [f.trade_id for f in tally.unique_fills()] == ["t1", "t2", "t3"]
    assert tally.positions() == {"BTC-USD": D("0.001"), "ETH-USD": D("1")}
    assert len(tally.trust) == 1
    assert [type(e).__name__ for e in tally.children] == ["ChildStarted", "ChildCrashed"]
    assert len(tally.emergencies) == 1
    assert CancelOrder not in KINDS  # the journal's filter would not even decode it


def test_positions_that_net_to_zero_are_left_out() -> None:
    tally = JournalTally()
    tally.ingest(_entries(_fill("t1", side=Side.BUY), _fill("t2", side=Side.SELL)))
    assert tally.positions() == {}
