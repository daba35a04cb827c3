"""The end-of-run summary, computed from the journal alone.

Why from the journal and not from the actors' counters: the journal is what the run *did*
(it is written ahead), it survives the actors, and a summary that recomputes PnL from the
journaled fills is a check on the live accounting rather than a copy of it. The same code
can summarize any journal after the fact (``cjt report`` builds on it).

What it reports: orders (intents, and their final states), fills, traded volume and notional,
fees, realized PnL (average cost, recomputed from the fills), unrealized PnL and marks from
risk's last snapshot, the maximum drawdown risk recorded, supervisor restarts, feed
reconnects, denials by reason, trading-state changes, and how the run ended (the root's
reason and exit code, the emergency cancel's outcome).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from decimal import Decimal

import attrs

from .journal import Entry
from .lifecycle import Fill, Liquidity, Position
from .market_messages import FeedState, FeedStatusChanged
from .messages import ChildCrashed, RestartScheduled, RootStopped
from .order_messages import (
    EmergencyCancelFinished,
    OpenOrdersLeft,
    OrderDenied,
    OrderFilled,
    OrderUpdated,
    PnlRecorded,
    SubmitOrder,
    TradingStateChanged,
)

__all__ = ["RunSummary", "format_summary", "summarize"]

_ZERO = Decimal(0)


@attrs.frozen(kw_only=True)
class RunSummary:
    """Everything the summary prints, as values (tests and reports read these)."""

    orders: int
    final_states: tuple[tuple[str, int], ...]
    fills: int
    maker_fills: int
    taker_fills: int
    volume: tuple[tuple[str, Decimal], ...]  #: base units traded, per product
    notional: Decimal  #: quote value traded
    fees: Decimal
    realized_pnl: Decimal  #: before fees
    unrealized_pnl: Decimal
    net_pnl: Decimal  #: realized - fees + unrealized
    positions: tuple[tuple[str, Decimal], ...]
    max_drawdown: Decimal
    crashes: int
    restarts: int
    reconnects: int
    denials: tuple[tuple[str, int], ...]
    state_changes: tuple[str, ...]
    stop_reason: str
    exit_code: int | None
    emergency_cancel: str


def summarize(entries: Iterable[Entry]) -> RunSummary:
    """Fold journal entries into a :class:`RunSummary`."""
    orders = 0
    final: dict[str, str] = {}
    fills: dict[str, OrderFilled] = {}
    denials: collections.Counter[str] = collections.Counter()
    crashes = restarts = reconnects = 0
    state_changes: list[str] = []
    last_pnl: PnlRecorded | None = None
    max_drawdown = _ZERO
    stop_reason = "not recorded (the run did not finish cleanly)"
    exit_code: int | None = None
    emergency = "not run"
    for _seq, _at, message in entries:
        match message:
            case SubmitOrder():
                orders += 1
            case OrderUpdated():
                final[message.client_order_id] = message.state.value
            case OrderFilled():
                fills.setdefault(message.trade_id, message)
            case OrderDenied():
                denials[message.reason.value] += 1
            case ChildCrashed():
                crashes += 1
            case RestartScheduled():
                restarts += len(message.children)
            case FeedStatusChanged() if message.state is FeedState.RECONNECTING:
                reconnects += 1
            case TradingStateChanged():
                state_changes.append(
                    f"{message.previous.value} -> {message.state.value} ({message.reason})"
                )
            case PnlRecorded():
                last_pnl = message
                max_drawdown = max(max_drawdown, message.drawdown)
            case RootStopped():
                stop_reason = f"{message.reason.value}: {message.detail}"
                exit_code = message.exit_code
            case OpenOrdersLeft():
                emergency = (
                    f"left {len(message.client_order_ids)} order(s) open on purpose "
                    f"({message.reason})" + _listing(message.client_order_ids)
                )
            case EmergencyCancelFinished():
                emergency = (
                    f"{message.open_before} open, {message.cancel_requests} cancel requests, "
                    f"{message.remaining} remaining after {message.attempts} round(s)"
                )
                if not message.completed:
                    emergency += ", CUT SHORT: check the venue" + _listing(message.remaining_ids)
            case _:
                pass
    positions: dict[str, Position] = {}
    volume: collections.defaultdict[str, Decimal] = collections.defaultdict(Decimal)
    notional = _ZERO
    maker = taker = 0
    for fill in fills.values():
        position = positions.setdefault(fill.product_id, Position(product_id=fill.product_id))
        position.apply(
            fill.side,
            Fill(trade_id=fill.trade_id, price=fill.price, size=fill.size, fee=fill.fee),
        )
        volume[fill.product_id] += fill.size
        notional += fill.price * fill.size
        maker += fill.liquidity is Liquidity.MAKER
        taker += fill.liquidity is Liquidity.TAKER
    realized = sum((p.realized_pnl for p in positions.values()), _ZERO)
    fees = sum((p.fees for p in positions.values()), _ZERO)
    unrealized = _ZERO
    if last_pnl is not None:
        marks = {p.product_id: p.mark for p in last_pnl.positions}
        for product_id, position in positions.items():
            mark = marks.get(product_id)
            if mark is not None:
                unrealized += position.unrealized_pnl(mark)
    return RunSummary(
        orders=orders,
        final_states=tuple(sorted(collections.Counter(final.values()).items())),
        fills=len(fills),
        maker_fills=maker,
        taker_fills=taker,
        volume=tuple(sorted(volume.items())),
        notional=notional,
        fees=fees,
        realized_pnl=realized,
        unrealized_pnl=unrealized,
        net_pnl=realized - fees + unrealized,
        positions=tuple(sorted((k, p.quantity) for k, p in positions.items())),
        max_drawdown=max_drawdown,
        crashes=crashes,
        restarts=restarts,
        reconnects=reconnects,
        denials=tuple(sorted(denials.items())),
        state_changes=tuple(state_changes),
        stop_reason=stop_reason,
        exit_code=exit_code,
        emergency_cancel=emergency,
    )


def _listing(ids: tuple[str, ...], shown: int = 5) -> str:
    """`` (a, b and 3 more)``, or nothing for no ids."""
    if not ids:
        return ""
    more = len(ids) - shown
    return f" ({', '.join(ids[:shown])}{f' and {more} more' if more > 0 else ''})"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def format_summary(summary: RunSummary) -> str:
    """The summary as the lines ``cjt paper`` prints at the end."""
    pairs = ", ".join
    lines = [
        "== summary ==",
        f"orders:      {summary.orders} "
        f"({pairs(f'{state} {count}' for state, count in summary.final_states) or 'none'})",
        f"fills:       {summary.fills} (maker {summary.maker_fills}, taker {summary.taker_fills})",
        f"volume:      {pairs(f'{p} {v.normalize():f}' for p, v in summary.volume) or 'none'}"
        f"  notional {_money(summary.notional)}",
        f"fees:        {_money(summary.fees)}",
        f"realized:    {_money(summary.realized_pnl)} (before fees)",
        f"unrealized:  {_money(summary.unrealized_pnl)}",
        f"net pnl:     {_money(summary.net_pnl)}",
        f"positions:   {pairs(f'{p} {q.normalize():f}' for p, q in summary.positions) or 'flat'}",
        f"max drawdown: {_money(summary.max_drawdown)}",
        f"restarts:    {summary.restarts} (crashes {summary.crashes})",
        f"reconnects:  {summary.reconnects}",
        f"denials:     {pairs(f'{r} {n}' for r, n in summary.denials) or 'none'}",
        f"risk states: {'; '.join(summary.state_changes) or 'ACTIVE throughout'}",
        f"emergency cancel: {summary.emergency_cancel}",
        f"stopped:     {summary.stop_reason}"
        + ("" if summary.exit_code is None else f" (exit code {summary.exit_code})"),
    ]
    return "\n".join(lines)
