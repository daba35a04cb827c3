"""The run summary and the recovery state are folds over journal entries."""

from __future__ import annotations

from decimal import Decimal

from cjt_actors.exchange.orders import Side
from cjt_actors.journal import Entry
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.market_messages import FeedState, FeedStatusChanged
from cjt_actors.messages import ChildCrashed, Event, RestartScheduled, RootStopped, StopReason
from cjt_actors.order_messages import (
    DenyReason,
    EmergencyCancelFinished,
    IntentKind,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    PnlRecorded,
    PositionState,
    SubmitOrder,
    TimeInForce,
    TradingState,
    TradingStateChanged,
)
from cjt_actors.recovery import journal_state
from cjt_actors.summary import format_summary, summarize


def _fill(
    trade: str,
    side: Side,
    price: str,
    size: str,
    fee: str,
    *,
    strategy: str = "mm",
    liquidity: Liquidity = Liquidity.MAKER,
) -> OrderFilled:
    return OrderFilled(
        strategy=strategy,
        client_order_id=f"c-{trade}",
        order_id="o",
        product_id="BTC-USD",
        side=side,
        trade_id=trade,
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal(fee),
        liquidity=liquidity,
        at=1.0,
    )


def _update(
    coid: str, previous: OrderState, state: OrderState, strategy: str = "mm"
) -> OrderUpdated:
    return OrderUpdated(
        strategy=strategy,
        client_order_id=coid,
        order_id="o",
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal(1),
        limit_price=Decimal(1),
        previous=previous,
        state=state,
        filled_size=Decimal(0),
        average_price=None,
        reason="",
        at=1.0,
    )


def _pnl(drawdown: str, peak: str, mark: str) -> PnlRecorded:
    return PnlRecorded(
        equity=Decimal(0),
        peak_equity=Decimal(peak),
        drawdown=Decimal(drawdown),
        realized_pnl=Decimal(0),
        unrealized_pnl=Decimal(0),
        fees=Decimal(0),
        gross_exposure=Decimal(0),
        open_orders=0,
        state=TradingState.ACTIVE,
        positions=(
            PositionState(
                product_id="BTC-USD",
                quantity=Decimal(0),
                average_cost=Decimal(0),
                realized_pnl=Decimal(0),
                fees=Decimal(0),
                mark=Decimal(mark),
                unrealized_pnl=Decimal(0),
            ),
        ),
        at=1.0,
    )


def _entries(*messages: Event) -> list[Entry]:
    return [(n, float(n), m) for n, m in enumerate(messages, 1)]


SUBMIT = SubmitOrder(
    strategy="mm",
    client_order_id="c-1",
    product_id="BTC-USD",
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    size=Decimal(1),
    limit_price=Decimal(1),
    time_in_force=TimeInForce.GTC,
    post_only=True,
    at=0.0,
)


def test_summary_recomputes_pnl_from_fills_and_counts_what_happened() -> None:
    entries = _entries(
        SUBMIT,
        SUBMIT,
        _update("c-1", OrderState.SUBMITTED, OrderState.OPEN),
        _update("c-1", OrderState.OPEN, OrderState.FILLED),
        _update("c-2", OrderState.SUBMITTED, OrderState.CANCELLED),
        _fill("t1", Side.BUY, "100", "2", "1.2"),
        _fill("t1", Side.BUY, "100", "2", "1.2"),  # a replay: counted once
        _fill("t2", Side.SELL, "110", "1", "0.66", liquidity=Liquidity.TAKER),
        OrderDenied(
            strategy="mm",
            client_order_id="x",
            product_id="BTC-USD",
            intent=IntentKind.SUBMIT,
            reason=DenyReason.PRICE_BAND,
            detail="",
            at=1.0,
        ),
        ChildCrashed(
            supervisor="t",
            at=1.0,
            child="strategy:mm",
            incarnation=0,
            ran_for=1.0,
            error_type="ValueError",
            error="boom",
            before_ready=False,
        ),
        RestartScheduled(
            supervisor="t",
            at=1.0,
            cause="strategy:mm",
            children=("strategy:mm",),
            attempt=0,
            delay=0.1,
        ),
        FeedStatusChanged(state=FeedState.RECONNECTING, detail="1011", attempt=1, at=2.0),
        FeedStatusChanged(state=FeedState.CONNECTED, detail="", attempt=0, at=3.0),
        TradingStateChanged(
            previous=TradingState.ACTIVE,
            state=TradingState.REDUCING,
            reason="MAX_DRAWDOWN",
            detail="",
            at=4.0,
        ),
        _pnl("5", "10", "120"),
        _pnl("3", "10", "120"),
        EmergencyCancelFinished(
            venue="paper",
            open_before=2,
            cancel_requests=2,
            remaining=0,
            remaining_ids=(),
            attempts=1,
            at=5.0,
        ),
        RootStopped(
            reason=StopReason.SIGNAL, detail="received SIGINT", exit_code=0, steps=(), at=5.0
        ),
    )
    summary = summarize(entries)
    assert summary.orders == 2
    assert summary.final_states == (("CANCELLED", 1), ("FILLED", 1))
    assert (summary.fills, summary.maker_fills, summary.taker_fills) == (2, 1, 1)
    assert summary.volume == (("BTC-USD", Decimal(3)),)
    assert summary.notional == Decimal(310)
    assert summary.realized_pnl == Decimal(10)  # 1 closed at 110 against a cost of 100
    assert summary.fees == Decimal("1.86")
    assert summary.unrealized_pnl == Decimal(20)  # 1 still held, marked at 120
    assert summary.net_pnl == Decimal(10) - Decimal("1.86") + Decimal(20)
    assert summary.positions == (("BTC-USD", Decimal(1)),)
    assert summary.max_drawdown == Decimal(5)
    assert (summary.crashes, summary.restarts, summary.reconnects) == (1, 1, 1)
    assert summary.denials == (("PRICE_BAND", 1),)
    assert summary.state_changes == ("ACTIVE -> REDUCING (MAX_DRAWDOWN)",)
    assert summary.exit_code == 0
    text = format_summary(summary)
    assert "fills:       2 (maker 1, taker 1)" in text
    assert "net pnl:     28.14" in text
    assert "signal: received SIGINT (exit code 0)" in text
    assert "2 open, 2 cancel requests, 0 remaining" in text


def test_an_empty_journal_summarizes_to_nothing_happened() -> None:
    summary = summarize([])
    assert summary.fills == 0
    assert summary.exit_code is None
    text = format_summary(summary)
    assert "denials:     none" in text
    assert "positions:   flat" in text
    assert "not recorded" in text


def test_journal_state_keeps_working_orders_fills_and_risk_state() -> None:
    halted = TradingStateChanged(
        previous=TradingState.ACTIVE,
        state=TradingState.HALTED,
        reason="OPERATOR",
        detail="",
        at=1.0,
    )
    state = journal_state(
        _entries(
            _update("a", OrderState.SUBMITTED, OrderState.OPEN),
            _update("b", OrderState.SUBMITTED, OrderState.OPEN, strategy="other"),
            _update("a", OrderState.OPEN, OrderState.FILLED),
            _update("c", OrderState.SUBMITTED, OrderState.PARTIALLY_FILLED),
            _fill("t1", Side.BUY, "1", "1", "0"),
            _fill("t1", Side.BUY, "1", "1", "0"),
            _fill("t2", Side.BUY, "1", "1", "0", strategy="other"),
            halted,
            _pnl("0", "12", "1"),
            _pnl("0", "7", "1"),
            SUBMIT,
        )
    )
    assert [o.client_order_id for o in state.working_orders] == ["b", "c"]
    assert [f.trade_id for f in state.fills] == ["t1", "t2"]
    assert state.last_trading_state == halted
    assert state.peak_equity == Decimal(12)
    assert state.last_pnl is not None
    assert state.last_pnl.peak_equity == Decimal(7)
    mine = state.for_strategy("mm")
    assert [o.client_order_id for o in mine.working_orders] == ["c"]
    assert [f.trade_id for f in mine.fills] == ["t1"]
    assert mine.last_trading_state == halted
