"""A healthy, fully populated ops snapshot: the unit tests of cjt_actors.ops break it one
field at a time (``attrs.evolve``) to see each rule react."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cjt_actors.actors.book import BookActorStatus, BookStatus
from cjt_actors.actors.feed import FeedStatus
from cjt_actors.actors.risk import RiskStatus
from cjt_actors.actors.store import StoreStatus
from cjt_actors.actors.strategy import StrategyStatus
from cjt_actors.channels import MailboxStatistics, Overflow
from cjt_actors.execution import ExecutionStatistics
from cjt_actors.lifecycle import OrderState
from cjt_actors.market_messages import FeedState
from cjt_actors.ops import (
    ActorObservation,
    LatencyHistogram,
    LatencyObservation,
    MailboxObservation,
    OpsSnapshot,
)
from cjt_actors.order_messages import PositionState, TradingState
from cjt_actors.orderbook import BookCounters, TrustState
from cjt_actors.supervisor import ChildState

NOW = 1000.0
PRODUCTS = ("BTC-USD", "ETH-USD")


def book_status(product_id: str, *, state: TrustState = TrustState.TRUSTED) -> BookStatus:
    return BookStatus(
        product_id=product_id,
        state=state,
        reason=None,
        sequence=42,
        counters=BookCounters(
            snapshots=1,
            update_frames=120,
            levels_applied=900,
            untrusted_update_frames=0,
            unknown_deletes=0,
            gaps=2,
            reconnects=0,
            stale=0,
            malformed=0,
            crossed=0,
            trades=30,
        ),
        best_bid=Decimal("100.00"),
        best_ask=Decimal("100.02"),
        updated_at=NOW - 0.2,
        age=0.2,
        as_of=NOW,
    )


def risk_status(**changes: object) -> RiskStatus:
    fields: dict[str, object] = {
        "state": TradingState.ACTIVE,
        "reason": "",
        "detail": "",
        "equity": Decimal("12.5"),
        "peak_equity": Decimal("20"),
        "drawdown": Decimal("7.5"),
        "day_pnl": Decimal("-3.25"),
        "gross_exposure": Decimal("1500.10"),
        "positions": (
            PositionState(
                product_id="BTC-USD",
                quantity=Decimal("0.015"),
                average_cost=Decimal("100000"),
                realized_pnl=Decimal("4.5"),
                fees=Decimal("0.75"),
                mark=Decimal("100100"),
                unrealized_pnl=Decimal("1.5"),
            ),
            PositionState(
                product_id="ETH-USD",
                quantity=Decimal("-0.2"),
                average_cost=Decimal("3000"),
                realized_pnl=Decimal("0"),
                fees=Decimal("0.1"),
                mark=None,
                unrealized_pnl=Decimal("0"),
            ),
        ),
        "open_orders": 3,
        "approved": 17,
        "cancels": 9,
        "denials": (("MAX_POSITION", 2), ("TRADING_HALTED", 5)),
        "cooldown_until": None,
        "feed": "connected",
        "kill_switch_tripped": False,
        "unjournaled": 0,
        "at": NOW - 0.5,
    }
    fields.update(changes)
    return RiskStatus(**fields)  # type: ignore[arg-type]


def execution_statistics(*, reconciling: bool = False) -> ExecutionStatistics:
    return ExecutionStatistics(
        submitted=17,
        accepted=16,
        rejected=1,
        unknown=0,
        cancels_sent=9,
        fills=6,
        duplicate_fills=1,
        denied=0,
        working=3,
        foreign_reports=0,
        lookup_errors=0,
        reconciliations=1,
        reconciling=reconciling,
    )


def feed_status(state: FeedState = FeedState.CONNECTED) -> FeedStatus:
    return FeedStatus(
        state=state,
        detail="" if state is FeedState.CONNECTED else "connection lost",
        incarnation=1,
        frames=500,
        heartbeats=60,
        reconnects=2,
        gaps=1,
        resyncs=1,
        malformed=0,
        out_of_order=0,
        error_frames=0,
        last_frame_at=NOW - 0.1,
    )


def mailbox(name: str, consumer: str, *, sent: int, depth: int = 0) -> MailboxObservation:
    return MailboxObservation(
        consumer=consumer,
        kind="queue",
        statistics=MailboxStatistics(
            name=name,
            capacity=256,
            overflow=Overflow.BLOCK,
            depth=depth,
            sent=sent,
            dropped=0,
            senders=2,
            receivers=2,
        ),
    )


def healthy_snapshot() -> OpsSnapshot:
    histogram = LatencyHistogram((0.01, 0.1, 1.0))
    for seconds in (0.005, 0.05, 0.05, 2.0):
        histogram.observe(seconds)
    names = ("executor", "risk", "book", "feed", "strategy:mm", "store")
    return OpsSnapshot(
        now=NOW,
        products=PRODUCTS,
        actors=tuple(
            ActorObservation(
                name=name,
                state=ChildState.RUNNING,
                restarts=1 if name == "feed" else 0,
                last_update=NOW - 1.0,
            )
            for name in names
        ),
        mailboxes=(
            mailbox("strategies->risk", "risk", sent=40, depth=3),
            mailbox("orders->mm", "strategy:mm", sent=25),
        ),
        risk=risk_status(),
        execution=execution_statistics(),
        orders_by_state=((OrderState.OPEN, 3), (OrderState.FILLED, 6), (OrderState.PENDING, 0)),
        feed=feed_status(),
        book=BookActorStatus(
            incarnation=1,
            feed_state=FeedState.CONNECTED,
            l2_frames=300,
            trade_frames=80,
            views_published=250,
            bars_closed=12,
            late_trades=0,
            unknown_product_events=0,
            unknown_product_trades=0,
            apply_errors=0,
            last_apply_error="",
        ),
        books=tuple(book_status(p) for p in PRODUCTS),
        strategies=(
            StrategyStatus(
                name="mm",
                incarnation=1,
                submits_sent=20,
                cancels_sent=9,
                cancels_skipped=0,
                replaces_skipped=0,
                denials=(("MAX_POSITION", 2),),
                backpressure=1,
                undelivered_denials=0,
                held_submits=0,
                working_orders=3,
                positions=(("BTC-USD", Decimal("0.015")),),
            ),
        ),
        store=StoreStatus(written=400, batches=90, last_seq=400),
        latencies=(
            LatencyObservation(venue="paper", request="submit", histogram=histogram.snapshot()),
        ),
    )


@pytest.fixture
def snapshot() -> OpsSnapshot:
    """Every actor running and recent, feed connected, books trusted, trading ACTIVE."""
    return healthy_snapshot()
