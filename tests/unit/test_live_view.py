"""The live view renders what the status board holds (checked on the rendered text)."""

from __future__ import annotations

from decimal import Decimal

import trio
import trio.testing
from rich.console import Console

from cjt_actors.actors.book import BookStatus
from cjt_actors.actors.feed import FeedStatus
from cjt_actors.actors.risk import RiskStatus
from cjt_actors.execution import ExecutionStatistics
from cjt_actors.live_view import render
from cjt_actors.market_messages import FeedState
from cjt_actors.order_messages import PositionState, TradingState
from cjt_actors.orderbook import BookCounters, TrustReason, TrustState
from cjt_actors.status import StatusBoard

COUNTERS = BookCounters(
    snapshots=1,
    update_frames=42,
    levels_applied=0,
    untrusted_update_frames=0,
    unknown_deletes=0,
    gaps=0,
    reconnects=0,
    stale=0,
    malformed=0,
    crossed=0,
    trades=0,
)


def _text(board: StatusBoard, products: tuple[str, ...], now: float) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(
        render(
            board,
            products,
            restarts={"executor": 0, "feed": 2, "strategy:mm": 1},
            elapsed=12.0,
            now=now,
        )
    )
    return console.export_text()


async def test_the_view_shows_books_positions_and_actor_health(
    autojump_clock: trio.testing.MockClock,
) -> None:
    board = StatusBoard()
    empty = _text(board, ("BTC-USD",), now=0.0)
    assert "waiting" in empty
    assert "cjt paper: 12 s" in empty
    for product, state, reason in (
        ("BTC-USD", TrustState.TRUSTED, None),
        ("ETH-USD", TrustState.UNTRUSTED, TrustReason.GAP),
        ("SOL-USD", TrustState.EMPTY, None),
    ):
        board.publish(
            f"book/{product}",
            BookStatus(
                product_id=product,
                state=state,
                reason=reason,
                sequence=1,
                counters=COUNTERS,
                best_bid=Decimal("100.1"),
                best_ask=Decimal("100.2"),
                updated_at=0.0,
                age=None if product == "SOL-USD" else 1.5,
                as_of=1.5,
            ),
        )
    position = PositionState(
        product_id="BTC-USD",
        quantity=Decimal("0.002"),
        average_cost=Decimal("100"),
        realized_pnl=Decimal("1.5"),
        fees=Decimal("0.25"),
        mark=Decimal("101"),
        unrealized_pnl=Decimal("0.002"),
    )
    board.publish(
        "risk",
        RiskStatus(
            state=TradingState.REDUCING,
            reason="MAX_DRAWDOWN",
            detail="",
            equity=Decimal("-3"),
            peak_equity=Decimal(2),
            drawdown=Decimal(5),
            day_pnl=Decimal(-3),
            gross_exposure=Decimal(0),
            positions=(position,),
            open_orders=3,
            approved=9,
            cancels=2,
            denials=(("PRICE_BAND", 2),),
            cooldown_until=None,
            feed="connected",
            kill_switch_tripped=False,
            unjournaled=0,
            at=0.0,
        ),
    )
    board.publish(
        "executor",
        ExecutionStatistics(
            submitted=9,
            accepted=9,
            rejected=1,
            unknown=0,
            cancels_sent=2,
            fills=4,
            duplicate_fills=0,
            denied=0,
            working=3,
            foreign_reports=0,
        ),
    )
    board.publish(
        "feed",
        FeedStatus(
            state=FeedState.CONNECTED,
            detail="",
            incarnation=0,
            frames=10,
            heartbeats=1,
            reconnects=2,
            gaps=1,
            resyncs=1,
            malformed=0,
            out_of_order=0,
            error_frames=0,
            last_frame_at=0.0,
        ),
    )
    await trio.sleep(3)
    text = _text(board, ("BTC-USD", "ETH-USD", "SOL-USD"), now=trio.current_time())
    assert "100.10" in text
    assert "trusted" in text
    assert "gap" in text
    assert "empty" in text
    assert "0.002" in text
    assert "REDUCING" in text
    assert "PRICE_BAND 2" in text
    assert "orders 9, working 3, fills 4, rejected 1" in text
    assert "connected, reconnects 2, gaps 1" in text
    assert "strategy:mm" in text
    assert "3.0" in text  # seconds since the executor last published
