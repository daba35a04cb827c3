"""Every expectation judged on one real run (conftest.py's shared scenario): once in a form
that holds, once in a form that must fail, with the failure's message and moment.

Rules that can only break when the exchange or the journal is wrong are broken on a copy of
the record (``attrs.evolve``): a fill dropped, doubled or invented, an exchange that holds
an order twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs
import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.market_messages import BookTrustChanged
from cjt_actors.messages import ChildStarted, EmergencyTriggered, Message
from cjt_actors.order_messages import (
    EmergencyCancelFinished,
    OrderFilled,
    SubmitOrder,
)
from cjt_actors.scenarios import (
    EXPECTATIONS,
    INVARIANTS,
    Failure,
    RunRecord,
    Scenario,
    ScenarioResult,
)
from cjt_actors.scenarios.expectations import (
    BookRecovers,
    Denials,
    EmergencyOutcome,
    EventCount,
    ExitCodeIs,
    FillsJournaledOnce,
    FillsSeen,
    NoDuplicateOrders,
    NoOpenOrdersAtEnd,
    NoOrdersBetween,
    OrdersSubmitted,
    PositionIs,
    PositionsMatchVenue,
    RequestsAnswered,
    Restarts,
    StateNever,
    StateReached,
    StopReasonIs,
)
from cjt_actors.scenarios.record import ActionRecord, TimedEvent
from cjt_actors.scenarios.runner import judge
from cjt_actors.sim.orders import OrderView
from cjt_actors.sim.requestlog import ORDERS_PATH, LoggedRequest
from cjt_actors.sim.simulator import Simulator

Place = Callable[..., OrderView]

HALT_AT, RESUME_AT = 12.0, 15.0  # the shared run's operator halt and resume
GAP_AT = 5.0  # its sequence gap


def times_of(record: RunRecord, kind: type[Message]) -> list[float]:
    return [at for at, _ in record.of(kind)]


def without(record: RunRecord, drop: Callable[[TimedEvent], bool]) -> RunRecord:
    return attrs.evolve(record, events=tuple(e for e in record.events if not drop(e)))


def with_events(record: RunRecord, extra: Iterable[tuple[float, Message]]) -> RunRecord:
    added = tuple(
        TimedEvent(seq=100_000 + index, at=at, message=message)
        for index, (at, message) in enumerate(extra)
    )
    events = sorted((*record.events, *added), key=lambda e: e.at)  # stable: seq order kept
    return attrs.evolve(record, events=tuple(events))


def fills(record: RunRecord) -> list[tuple[float, OrderFilled]]:
    return record.of(OrderFilled)


def test_the_vocabulary_names_each_class_by_its_name() -> None:
    assert all(cls.name == name for name, cls in EXPECTATIONS.items())
    assert len(EXPECTATIONS) == 18, "a new expectation needs its tests here"
    assert {type(i).name for i in INVARIANTS} <= set(EXPECTATIONS)


def test_a_paper_record_has_no_exchange_side(record: RunRecord) -> None:
    assert record.venue_orders()
    assert record.venue_fills()
    paper = attrs.evolve(record, live=False)
    assert paper.venue_orders() == []
    assert paper.venue_fills() == {}


# -- invariants -------------------------------------------------------------------------------------


def test_the_invariants_hold_on_a_clean_run(shared_result: ScenarioResult) -> None:
    record = shared_result.record
    for invariant in INVARIANTS:
        assert invariant.check(record) == [], invariant.name
    assert shared_result.passed
    assert shared_result.failures == ()
    assert shared_result.checks == (
        "during the run: write-ahead, no duplicate, no invented fill",
        *(i.describe() for i in INVARIANTS),
    )
    assert record.violations == ()


def test_no_duplicate_orders_holds_and_bounds_the_creates(record: RunRecord) -> None:
    assert NoDuplicateOrders(max_creates=1).check(record) == []
    [failure] = NoDuplicateOrders(max_creates=0).check(record)
    assert failure.check == "no_duplicate_orders"
    assert failure.message.startswith("creates per client_order_id above 0: {")
    assert failure.message.count(": 1") == len(record.sim.create_requests) > 0
    assert failure.at is None


def test_no_duplicate_orders_finds_an_id_placed_twice_and_orders_without_intent(
    record: RunRecord, exchange: Simulator, place: Place
) -> None:
    place(exchange, "dup-1")
    place(exchange, "dup-1", again=True)
    place(exchange, "stranger-1")
    exchange.create_requests.update({"dup-1": 3, "stranger-1": 1})
    broken = attrs.evolve(record, sim=exchange)
    assert NoDuplicateOrders(max_creates=2).check(broken) == [
        Failure(check="no_duplicate_orders", message="placed more than once: {'dup-1': 2}"),
        Failure(
            check="no_duplicate_orders",
            message="orders with no journaled intent: ['dup-1', 'stranger-1']",
        ),
        Failure(
            check="no_duplicate_orders",
            message="creates per client_order_id above 2: {'dup-1': 3}",
        ),
    ]
    # Paper trading has no exchange to hold orders: nothing to judge.
    assert NoDuplicateOrders().check(attrs.evolve(broken, live=False)) == []


def test_fills_journaled_once_finds_a_fill_journaled_twice(record: RunRecord) -> None:
    at, first = fills(record)[0]
    doubled = with_events(record, [(at + 0.5, first)])
    expected = Failure(
        check="fills_journaled_once", message=f"fills journaled twice: [{first.trade_id!r}]", at=at
    )
    assert FillsJournaledOnce().check(doubled) == [expected]
    assert FillsJournaledOnce().check(attrs.evolve(doubled, live=False)) == [expected]


def test_fills_journaled_once_finds_a_missing_an_invented_and_a_wrong_fill(
    record: RunRecord,
) -> None:
    (_, missing), (wrong_at, wrong) = fills(record)[:2]
    altered = attrs.evolve(wrong, price=wrong.price + 1)
    invented = attrs.evolve(wrong, trade_id="invented-1")
    broken = with_events(
        without(
            record,
            lambda e: (
                isinstance(e.message, OrderFilled)
                and e.message.trade_id in (missing.trade_id, wrong.trade_id)
            ),
        ),
        [(wrong_at, altered), (3.5, invented)],
    )
    real = record.venue_fills()[wrong.trade_id]
    theirs = (real.order_id, real.side.value, real.price, real.size, real.commission)
    ours = (wrong.order_id, wrong.side.value, wrong.price + 1, wrong.size, wrong.fee)
    assert FillsJournaledOnce().check(broken) == [
        Failure(
            check="fills_journaled_once",
            message=f"exchange fills never journaled: [{missing.trade_id!r}]",
        ),
        Failure(
            check="fills_journaled_once",
            message=f"fill {wrong.trade_id}: journal {ours} != exchange {theirs}",
            at=wrong_at,
        ),
        Failure(
            check="fills_journaled_once",
            message="journaled fill invented-1 was never made by the exchange",
            at=3.5,
        ),
    ]
    assert FillsJournaledOnce().check(attrs.evolve(broken, live=False)) == []


def test_positions_match_the_venue_unless_a_fill_is_lost(record: RunRecord) -> None:
    assert PositionsMatchVenue().check(record) == []
    _, lost = fills(record)[-1]
    broken = without(
        record, lambda e: isinstance(e.message, OrderFilled) and e.message.trade_id == lost.trade_id
    )
    sign = 1 if lost.side.value == "BUY" else -1
    btc, usd = record.balance_change("BTC"), record.balance_change("USD")
    notional = lost.price * lost.size
    usd_seen = usd + sign * notional + lost.fee
    assert PositionsMatchVenue().check(broken) == [
        Failure(
            check="positions_match_venue",
            message=(
                f"BTC: the journal's fills say {btc - sign * lost.size:+f}, "
                f"the exchange's balance moved {btc:+f}"
            ),
        ),
        Failure(
            check="positions_match_venue",
            message=(
                f"USD: the journal's fills say {usd_seen:+f}, the exchange's balance moved {usd:+f}"
            ),
        ),
    ]
    assert PositionsMatchVenue().check(attrs.evolve(broken, live=False)) == []


def test_no_open_orders_at_the_end_live(
    record: RunRecord, exchange: Simulator, place: Place
) -> None:
    assert NoOpenOrdersAtEnd().check(record) == []
    place(exchange, "ask-1", side="SELL", price="1000", user="user-other")
    assert place(exchange, "filled-1", price="1000").status.value == "FILLED"
    place(exchange, "left-1", price="900")
    assert NoOpenOrdersAtEnd().check(attrs.evolve(record, sim=exchange)) == [
        Failure(
            check="no_open_orders_at_end",
            message="open after the stop: ['left-1']",
            at=record.ended_at,
        )
    ]


def test_no_open_orders_at_the_end_paper_reads_the_journal_s_orders(record: RunRecord) -> None:
    paper = attrs.evolve(record, live=False)
    assert paper.orders_table, "the journal's orders table is read"
    assert NoOpenOrdersAtEnd().check(paper) == []
    rows: dict[str, dict[str, Any]] = {
        "b": {"state": "OPEN"},
        "a": {"state": "UNKNOWN"},
        "c": {"state": "FILLED"},
        "d": {"state": "CANCEL_PENDING"},
        "e": {"state": "SUBMITTED"},
    }
    assert NoOpenOrdersAtEnd().check(attrs.evolve(paper, orders_table=rows)) == [
        Failure(
            check="no_open_orders_at_end",
            message="open after the stop: ['a', 'b', 'd', 'e']",
            at=record.ended_at,
        )
    ]


# -- trading state ------------------------------------------------------------------------------------


def test_state_reached_in_its_window(record: RunRecord) -> None:
    assert (
        StateReached(state="HALTED", reason="OPERATOR", after=11.0, before=13.0).check(record) == []
    )
    assert StateReached(state="ACTIVE", after=14.0).check(record) == []


def test_state_reached_too_late_fails_at_the_deadline_with_what_happened(record: RunRecord) -> None:
    expectation = StateReached(state="HALTED", before=11.5)
    assert expectation.describe() == "trading state HALTED between t=0 and t=11.5"
    assert expectation.check(record) == [
        Failure(
            check="trading_state",
            message=(
                "expected trading state HALTED between t=0 and t=11.5; "
                "state changes: HALTED/OPERATOR@12, ACTIVE/RESUMED@15, HALTED/SHUTDOWN@25"
            ),
            at=11.5,
        )
    ]


def test_state_reached_for_another_reason_fails_at_the_end(record: RunRecord) -> None:
    [failure] = StateReached(state="HALTED", reason="DAILY_LOSS_LIMIT").check(record)
    assert failure.message.startswith(
        "expected trading state HALTED (DAILY_LOSS_LIMIT) during the run; state changes: "
    )
    assert failure.at == record.ended_at
    quiet = without(record, lambda e: type(e.message).__name__ == "TradingStateChanged")
    [failure] = StateReached(state="HALTED").check(quiet)
    assert failure.message.endswith("; state changes: none")


def test_state_never(record: RunRecord) -> None:
    assert StateNever(state="REDUCING").check(record) == []
    # the stop at t=25 halts (SHUTDOWN) too: the window ends before it
    assert StateNever(state="HALTED", after=HALT_AT + 0.5, before=24.0).check(record) == []
    assert StateNever(state="HALTED", before=HALT_AT - 0.5).check(record) == []
    expectation = StateNever(state="HALTED")
    assert expectation.describe() == "never HALTED during the run"
    assert expectation.check(record) == [
        Failure(
            check="trading_state_never",
            message="entered HALTED (OPERATOR: operator: scenario)",
            at=HALT_AT,
        )
    ]


@pytest.mark.parametrize("cls", [StateReached, StateNever])
def test_a_state_window_must_not_end_before_it_begins(cls: type[Any]) -> None:
    with pytest.raises(InvalidSpec, match=r"^after \(5\.0\) must be <= before \(1\.0\)$"):
        cls(state="HALTED", after=5.0, before=1.0)
    with pytest.raises(ValueError, match="'CALM' is not a valid TradingState"):
        cls(state="CALM")


# -- orders, fills, denials, requests -------------------------------------------------------------------


def test_orders_submitted(record: RunRecord) -> None:
    assert OrdersSubmitted(after=RESUME_AT).check(record) == []
    halted = OrdersSubmitted(at_least=0, at_most=0, after=HALT_AT + 0.5, before=RESUME_AT - 0.1)
    assert halted.check(record) == []


def test_too_few_orders_fail_at_the_window_s_end(record: RunRecord) -> None:
    expectation = OrdersSubmitted(after=HALT_AT + 0.5, before=RESUME_AT - 0.1)
    assert expectation.check(record) == [
        Failure(
            check="orders",
            message="expected at least 1 orders between t=12.5 and t=14.9; saw 0",
            at=14.9,
        )
    ]


def test_too_many_orders_fail_at_the_first_one_too_many(record: RunRecord) -> None:
    times = times_of(record, SubmitOrder)
    assert OrdersSubmitted(at_least=0, at_most=2).check(record) == [
        Failure(
            check="orders",
            message=(f"expected at least 0 and at most 2 orders during the run; saw {len(times)}"),
            at=times[2],
        )
    ]
    with pytest.raises(InvalidSpec, match=r"^at_least: must be >= 0, got -1$"):
        OrdersSubmitted(at_least=-1)


def test_no_orders_between(record: RunRecord) -> None:
    assert NoOrdersBetween(after=HALT_AT + 0.5, before=RESUME_AT - 0.1).check(record) == []
    first_at, first = record.of(SubmitOrder)[0]
    create = next(r for r in record.requests if r.method == "POST" and r.path == ORDERS_PATH)
    expectation = NoOrdersBetween(after=0.0, before=25.0)
    assert expectation.describe() == "no order between t=0 and t=25"
    assert expectation.check(record) == [
        Failure(
            check="no_orders_between",
            message=f"order {first.client_order_id} journaled at t={first_at:g}",
            at=first_at,
        ),
        Failure(
            check="no_orders_between",
            message=f"create {create.client_order_id} reached the exchange at t={create.at:g}",
            at=create.at,
        ),
    ]


def test_fills_seen(record: RunRecord) -> None:
    count = len(fills(record))
    assert FillsSeen(after=RESUME_AT).check(record) == []
    assert FillsSeen(at_least=count, at_most=count).check(record) == []
    assert FillsSeen(at_least=count + 1).check(record) == [
        Failure(
            check="fills",
            message=f"expected at least {count + 1} fills during the run; saw {count}",
            at=record.ended_at,
        )
    ]


def test_denials(record: RunRecord) -> None:
    halted = Denials(
        reason="TRADING_HALTED", at_least=4, at_most=4, after=HALT_AT, before=RESUME_AT
    )
    assert halted.check(record) == []
    assert Denials(reason="TRADING_HALTED", at_most=1).check(record) == [
        Failure(
            check="denials",
            message=(
                "expected at least 1 and at most 1 denials TRADING_HALTED during the run; saw 4"
            ),
            at=13.0,
        )
    ]
    assert Denials(reason="PRICE_BAND").check(record) == [
        Failure(
            check="denials",
            message="expected at least 1 denials PRICE_BAND during the run; saw 0",
            at=record.ended_at,
        )
    ]


def test_requests_answered_counts_what_the_exchange_served(record: RunRecord) -> None:
    served = RequestsAnswered(
        status=503, method="POST", path="/orders", at_least=1, at_most=1, after=7.0, before=8.0
    )
    assert served.describe() == (
        "at least 1 and at most 1 requests POST /api/v3/brokerage/orders answered 503 "
        "between t=7 and t=8"
    )
    assert served.check(record) == []
    assert RequestsAnswered(status=503, at_most=1).check(record) == [
        Failure(
            check="requests",
            message=(
                "expected at least 1 and at most 1 requests any /api/v3/brokerage/* answered 503 "
                "during the run; saw 2"
            ),
            at=7.25,
        )
    ]


def test_requests_never_answered_are_status_0(record: RunRecord) -> None:
    never = RequestsAnswered(status=0, at_least=1, at_most=1)
    assert never.check(record) == [
        Failure(
            check="requests",
            message=(
                "expected at least 1 and at most 1 requests any /api/v3/brokerage/* "
                "never answered during the run; saw 0"
            ),
            at=record.ended_at,
        )
    ]
    lost = LoggedRequest(at=3.0, method="POST", path=ORDERS_PATH, client_order_id="lost-1")
    assert never.check(attrs.evolve(record, requests=(*record.requests, lost))) == []


def test_position_is_the_journal_s_and_the_exchange_s(record: RunRecord) -> None:
    held = record.balance_change("BTC")  # the exchange's side of the same number
    assert held != 0
    assert PositionIs(product="BTC-USD", size=held).check(record) == []
    assert PositionIs(product="ETH-USD").check(record) == []
    expectation = PositionIs(product="BTC-USD")
    assert expectation.describe() == "BTC-USD position 0 at the end"
    assert expectation.check(record) == [
        Failure(
            check="position",
            message=f"BTC-USD position {held:f}, expected 0",
            at=record.ended_at,
        )
    ]


# -- the market data --------------------------------------------------------------------------------


def trust(record: RunRecord) -> list[tuple[float, BookTrustChanged]]:
    return record.of(BookTrustChanged)


def test_the_book_recovers_from_the_gap(record: RunRecord) -> None:
    assert any(at == GAP_AT and not c.trusted and c.reason == "GAP" for at, c in trust(record))
    expectation = BookRecovers(after=4.0, within=1.0, product="BTC-USD")
    assert expectation.describe() == ("BTC-USD trusted again within 1 s of losing trust after t=4")
    assert expectation.check(record) == []
    assert BookRecovers(after=4.0, within=0.001).check(record) == []
    with pytest.raises(InvalidSpec, match="within: must be > 0"):
        BookRecovers(after=4.0, within=0.0)


def test_a_book_that_never_lost_trust_fails_unless_that_is_allowed(record: RunRecord) -> None:
    assert BookRecovers(after=6.0, within=5.0).check(record) == [
        Failure(
            check="book_recovers",
            message="BTC-USD: the book never lost trust after t=6 (did the fault bite?)",
            at=6.0,
        )
    ]
    assert BookRecovers(after=6.0, within=5.0, must_lose_trust=False).check(record) == []


def test_a_book_that_stays_untrusted_fails_at_the_limit(record: RunRecord) -> None:
    lost = without(
        record,
        lambda e: isinstance(e.message, BookTrustChanged) and e.message.trusted and e.at >= GAP_AT,
    )
    failure = Failure(
        check="book_recovers",
        message="BTC-USD: untrusted at t=5 (GAP), trusted again never (limit 1 s)",
        at=6.0,
    )
    assert BookRecovers(after=4.0, within=1.0).check(lost) == [failure]
    [(at, back)] = [(at, c) for at, c in trust(record) if at >= GAP_AT and c.trusted]
    late = with_events(lost, [(at + 2.5, back)])
    assert BookRecovers(after=4.0, within=1.0).check(late) == [
        attrs.evolve(
            failure,
            message="BTC-USD: untrusted at t=5 (GAP), trusted again after 2.5 s (limit 1 s)",
        )
    ]


def test_a_trust_regained_just_before_the_loss_is_not_a_recovery(record: RunRecord) -> None:
    """The book resynchronizes and loses trust again in the same virtual instant (frames are
    handled without virtual time passing), and never comes back: that is no recovery, though
    the SNAPSHOT carries the same time as the loss."""
    early = without(record, lambda e: isinstance(e.message, BookTrustChanged) and e.at >= 3.0)
    product = "BTC-USD"
    broken = with_events(
        early,
        [
            (3.0, BookTrustChanged(product_id=product, trusted=False, reason="GAP", at=3.0)),
            (5.0, BookTrustChanged(product_id=product, trusted=True, reason="SNAPSHOT", at=5.0)),
            (5.0, BookTrustChanged(product_id=product, trusted=False, reason="GAP", at=5.0)),
        ],
    )
    assert BookRecovers(after=4.0, within=2.0).check(broken) == [
        Failure(
            check="book_recovers",
            message="BTC-USD: untrusted at t=5 (GAP), trusted again never (limit 2 s)",
            at=7.0,
        )
    ]


def test_no_book_at_all_fails(record: RunRecord) -> None:
    blind = without(record, lambda e: isinstance(e.message, BookTrustChanged))
    assert BookRecovers(after=0.0, within=1.0).check(blind) == [
        Failure(check="book_recovers", message="no book ever reported its trust")
    ]
    assert BookRecovers(after=0.0, within=1.0, product="BTC-USD").check(blind) == [
        Failure(
            check="book_recovers",
            message="BTC-USD: the book never lost trust after t=0 (did the fault bite?)",
            at=0.0,
        )
    ]


# -- supervision and the stop ----------------------------------------------------------------------------


def test_restarts(record: RunRecord) -> None:
    assert Restarts(actor="strategy:mm", at_least=2, at_most=2).check(record) == []
    assert Restarts(actor="executor", at_most=0).check(record) == []
    assert record.restarts["strategy:mm"] == 2


def test_too_few_restarts_fail_at_the_end_and_too_many_at_the_one_too_many(
    record: RunRecord,
) -> None:
    assert Restarts(actor="strategy:mm", at_least=3).check(record) == [
        Failure(
            check="restarts",
            message="expected strategy:mm restarted at least 3 times; saw 2",
            at=record.ended_at,
        )
    ]
    starts = [at for at, s in record.of(ChildStarted) if s.child == "strategy:mm"]
    [failure] = Restarts(actor="strategy:mm", at_most=1).check(record)
    assert failure.message == "expected strategy:mm restarted at least 0, at most 1 times; saw 2"
    assert failure.at == starts[2]  # the second restart
    assert 11.0 < starts[2] < 12.0  # after the second crash, at t=11


def test_exit_code(record: RunRecord) -> None:
    assert ExitCodeIs(code="OK").check(record) == []
    expectation = ExitCodeIs(code="EMERGENCY")
    assert expectation.describe() == "exit code EMERGENCY (3)"
    assert expectation.check(record) == [
        Failure(
            check="exit_code",
            message=(
                "exit code OK, expected EMERGENCY "
                "(stop: operator: the run's duration (25 s) is over)"
            ),
            at=record.ended_at,
        )
    ]


def never_ran(record: RunRecord) -> RunRecord:
    return attrs.evolve(record, outcome=None, startup_error="the venue start-up failed: down")


@pytest.mark.parametrize(
    "expectation", [ExitCodeIs(code="OK"), StopReasonIs(reason="operator")], ids=lambda e: e.name
)
def test_a_tree_that_never_ran_fails_the_stop_s_checks(record: RunRecord, expectation: Any) -> None:
    assert expectation.check(never_ran(record)) == [
        Failure(
            check=expectation.name,
            message="the tree never ran (the venue start-up failed: down)",
        )
    ]


def test_stop_reason(record: RunRecord) -> None:
    [(stopped_at, _)] = record.of(EmergencyTriggered)
    assert stopped_at == 25.0
    assert StopReasonIs(reason="operator", after=24.0, before=26.0).check(record) == []
    expected = Failure(
        check="stop_reason",
        message=(
            "stopped for operator at t=25 (the run's duration (25 s) is over); "
            "expected stopped for kill_switch during the run"
        ),
        at=25.0,
    )
    assert StopReasonIs(reason="kill_switch").check(record) == [expected]
    [early] = StopReasonIs(reason="operator", before=20.0).check(record)
    assert early.message.endswith("expected stopped for operator between t=0 and t=20")
    untriggered = without(record, lambda e: isinstance(e.message, EmergencyTriggered))
    [failure] = StopReasonIs(reason="kill_switch").check(untriggered)
    assert failure.at == record.ended_at


def test_emergency_outcome(record: RunRecord) -> None:
    [(at, step)] = record.of(EmergencyCancelFinished)
    assert step.completed
    assert EmergencyOutcome(min_open_before=step.open_before).check(record) == []
    assert EmergencyOutcome(completed=False).check(record) == [
        Failure(check="emergency", message="completed=True", at=at)
    ]
    assert EmergencyOutcome(min_open_before=step.open_before + 1).check(record) == [
        Failure(
            check="emergency",
            message=f"only {step.open_before} orders were open before it",
            at=at,
        )
    ]


def test_an_emergency_that_left_orders_fails_unless_cut_short_was_expected(
    record: RunRecord,
) -> None:
    [(at, step)] = record.of(EmergencyCancelFinished)
    short = attrs.evolve(step, completed=False, remaining=1, remaining_ids=("left-1",))
    cut = with_events(
        without(record, lambda e: isinstance(e.message, EmergencyCancelFinished)), [(at, short)]
    )
    assert EmergencyOutcome(completed=False).check(cut) == []
    assert EmergencyOutcome().check(cut) == [
        Failure(check="emergency", message="completed=False; 1 remaining: ['left-1']", at=at)
    ]
    none = without(record, lambda e: isinstance(e.message, EmergencyCancelFinished))
    assert EmergencyOutcome().check(none) == [
        Failure(check="emergency", message="no emergency cancel-all was journaled")
    ]
    assert EmergencyOutcome(completed=False).describe() == (
        "the emergency cancel-all cut short (>= 0 open before)"
    )


# -- any journal event -------------------------------------------------------------------------------


def test_event_count_matches_fields_enums_by_value_and_bools_as_bools(record: RunRecord) -> None:
    gap = EventCount(type="FeedStatusChanged", where={"state": "gap"}, after=GAP_AT, before=GAP_AT)
    assert gap.describe() == "at least 1 FeedStatusChanged state=gap between t=5 and t=5"
    assert gap.check(record) == []
    reconciled = EventCount(
        type="ReconciliationStateChanged", where={"reconciling": False}, at_most=1
    )
    assert reconciled.check(record) == []
    third = EventCount(type="ChildStarted", where={"child": "strategy:mm", "incarnation": 2})
    assert third.check(record) == []
    as_text = EventCount(type="ReconciliationStateChanged", where={"reconciling": "false"})
    assert as_text.check(record) == [
        Failure(
            check="event",
            message=(
                "expected at least 1 ReconciliationStateChanged reconciling=false "
                "during the run; saw 0"
            ),
            at=record.ended_at,
        )
    ]


def test_event_count_too_many_fails_at_the_one_too_many(record: RunRecord) -> None:
    crashes = [e.at for e in record.events if type(e.message).__name__ == "ChildCrashed"]
    assert crashes == [9.0, 11.0]
    assert EventCount(type="ChildCrashed", at_most=1).check(record) == [
        Failure(
            check="event",
            message="expected at least 1, at most 1 ChildCrashed during the run; saw 2",
            at=11.0,
        )
    ]


def test_event_count_knows_the_message_types_and_their_fields() -> None:
    with pytest.raises(InvalidSpec, match=r"^type: 'Nope' is not a journaled message type"):
        EventCount(type="Nope")
    with pytest.raises(
        InvalidSpec,
        match=r"^where: ChildStarted has no field\(s\) \['colour'\] "
        r"\(it has \['at', 'child', 'incarnation', 'supervisor'\]\)$",
    ):
        EventCount(type="ChildStarted", where={"colour": "red"})


# -- the judgement ------------------------------------------------------------------------------------


@attrs.frozen
class Broken:
    """A Python scenario's own expectation, with a bug."""

    name: ClassVar[str] = "broken"

    def describe(self) -> str:
        return "a check that raises"

    def check(self, record: RunRecord) -> list[Failure]:
        raise LookupError("no such thing")


def test_judge_reports_everything_in_order_and_a_raising_check_as_a_failure(
    shared_result: ScenarioResult,
) -> None:
    record = attrs.evolve(
        shared_result.record,
        startup_error="the venue start-up failed: slow",
        actions=(
            ActionRecord(at=0.0, description="crash executor", error="not yet"),
            ActionRecord(at=1.0, description="drop every websocket"),
        ),
        violations=(Failure(check="during:write_ahead", message="early", at=2.0),),
    )
    scenario = attrs.evolve(shared_result.scenario, expect=(Broken(), StateNever(state="HALTED")))
    failures, checks = judge(scenario, record)
    assert failures == (
        Failure(check="startup", message="the venue start-up failed: slow", at=record.ended_at),
        Failure(check="timeline", message="crash executor: not yet", at=0.0),
        Failure(check="during:write_ahead", message="early", at=2.0),
        Failure(check="broken", message="the check itself raised LookupError: no such thing"),
        Failure(
            check="trading_state_never",
            message="entered HALTED (OPERATOR: operator: scenario)",
            at=HALT_AT,
        ),
    )
    assert checks[:3] == (
        "during the run: write-ahead, no duplicate, no invented fill",
        "a check that raises",
        "never HALTED during the run",
    )


def test_judge_of_a_paper_run_has_no_during_the_run_checks(
    shared_result: ScenarioResult,
) -> None:
    scenario = Scenario(name="p", description="d", seed=1, duration=25.0, venue="paper")
    failures, checks = judge(scenario, attrs.evolve(shared_result.record, live=False))
    assert failures == ()
    assert checks == tuple(i.describe() for i in INVARIANTS)


def test_expecting_a_cut_short_emergency_waives_no_open_orders_in_the_judgement(
    shared_result: ScenarioResult,
) -> None:
    left_open = attrs.evolve(
        shared_result.record, live=False, orders_table={"left-1": {"state": "OPEN"}}
    )
    base = Scenario(name="p", description="d", seed=1, duration=25.0, venue="paper")
    open_failure = Failure(
        check="no_open_orders_at_end",
        message="open after the stop: ['left-1']",
        at=left_open.ended_at,
    )
    failures, _ = judge(base, left_open)
    assert failures == (open_failure,)
    cut_short = attrs.evolve(base, expect=(EmergencyOutcome(completed=False),))
    failures, checks = judge(cut_short, left_open)
    [(at, _)] = left_open.of(EmergencyCancelFinished)
    assert failures == (Failure(check="emergency", message="completed=True", at=at),)
    assert NoOpenOrdersAtEnd().describe() not in checks
