"""One line that says how a run is doing, from the status board (printed every few seconds).

Why one line: it goes to a terminal or a log file alike, a person can scan a column of them,
and ``grep`` can pick a field out. It reads only published snapshots, never actor state.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from .actors.book import BookStatus
from .actors.feed import FeedStatus
from .actors.risk import RiskStatus
from .execution import ExecutionStatistics
from .orderbook import TrustState
from .status import StatusBoard

__all__ = ["status_line"]


def _price(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def status_line(
    board: StatusBoard, products: Sequence[str], *, now: float, restarts: int = 0
) -> str:
    """``t=…s | BTC-USD 100/101 ok | … | risk ACTIVE equity … | orders … | feed …``."""
    parts = [f"t={now:.0f}s"]
    for product_id in products:
        book = board.get(f"book/{product_id}", BookStatus)
        if book is None:
            parts.append(f"{product_id} -")
            continue
        trust = (
            "ok"
            if book.state is TrustState.TRUSTED
            else (book.reason.value if book.reason is not None else book.state.value)
        )
        parts.append(f"{product_id} {_price(book.best_bid)}/{_price(book.best_ask)} {trust}")
    risk = board.get("risk", RiskStatus)
    if risk is not None:
        held = " ".join(
            f"{p.product_id.split('-')[0]} {p.quantity.normalize():f}"
            for p in risk.positions
            if p.quantity
        )
        parts.append(
            f"risk {risk.state.value} equity {_money(risk.equity)} dd {_money(risk.drawdown)}"
            + (f" pos {held}" if held else "")
        )
    execution = board.get("executor", ExecutionStatistics)
    if execution is not None:
        parts.append(
            f"orders {execution.submitted} open {execution.working} fills {execution.fills}"
        )
    feed = board.get("feed", FeedStatus)
    if feed is not None:
        parts.append(f"feed {feed.state.value} reconnects {feed.reconnects}")
    parts.append(f"restarts {restarts}")
    return " | ".join(parts)
