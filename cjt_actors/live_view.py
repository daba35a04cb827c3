"""The live terminal view of a paper run: books, positions and PnL, orders, actor health.

Why rich: a person watching a run on a terminal wants one screen that updates in place, not a
scrolling log; ``rich`` (a well-kept library) draws tables that fit the terminal and degrade
cleanly. The view only reads the status board (never actor state) and is redrawn from a
trio task at a fixed rate, with rich's own refresh thread off, so nothing touches the
terminal but this task. When stdout is not a terminal, ``cjt paper`` prints plain status
lines instead (:mod:`cjt_actors.status_line`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .actors.book import BookStatus
from .actors.feed import FeedStatus
from .actors.risk import RiskStatus
from .execution import ExecutionStatistics
from .orderbook import TrustState
from .status import StatusBoard

__all__ = ["render"]


def _num(value: Decimal | None, places: str = "0.01") -> str:
    if value is None:
        return "-"
    return f"{value.quantize(Decimal(places)):,}"


def _books(board: StatusBoard, products: Sequence[str]) -> Table:
    table = Table(title="books", expand=True)
    for column in ("product", "bid", "ask", "trust", "age s", "frames"):
        table.add_column(column, justify="left" if column in ("product", "trust") else "right")
    for product_id in products:
        book = board.get(f"book/{product_id}", BookStatus)
        if book is None:
            table.add_row(product_id, "-", "-", "waiting", "-", "0")
            continue
        trusted = book.state is TrustState.TRUSTED
        trust = Text(
            "trusted" if trusted else (book.reason.value if book.reason else book.state.value),
            style="green" if trusted else "red",
        )
        age = "-" if book.age is None else f"{book.age:.1f}"
        table.add_row(
            product_id,
            _num(book.best_bid),
            _num(book.best_ask),
            trust,
            age,
            str(book.counters.update_frames),
        )
    return table


def _risk(board: StatusBoard) -> Table:
    table = Table(title="positions and PnL", expand=True)
    for column in ("product", "position", "avg cost", "mark", "unrealized", "realized", "fees"):
        table.add_column(column, justify="left" if column == "product" else "right")
    risk = board.get("risk", RiskStatus)
    if risk is None:
        return table
    for p in risk.positions:
        table.add_row(
            p.product_id,
            f"{p.quantity.normalize():f}",
            _num(p.average_cost),
            _num(p.mark),
            _num(p.unrealized_pnl),
            _num(p.realized_pnl),
            _num(p.fees),
        )
    state_style = {"ACTIVE": "green", "REDUCING": "yellow"}.get(risk.state.value, "red")
    table.caption = Text.assemble(
        ("state ", "bold"),
        (risk.state.value, state_style),
        f"  equity {_num(risk.equity)}  drawdown {_num(risk.drawdown)}"
        f"  open orders {risk.open_orders}  denials "
        + (", ".join(f"{r} {n}" for r, n in risk.denials) or "none"),
    )
    return table


def _health(board: StatusBoard, restarts: Mapping[str, int], now: float) -> Table:
    table = Table(title="actors", expand=True)
    for column in ("actor", "restarts", "last update s", "detail"):
        table.add_column(column, justify="left" if column in ("actor", "detail") else "right")
    execution = board.get("executor", ExecutionStatistics)
    feed = board.get("feed", FeedStatus)
    details = {
        "executor": (
            ""
            if execution is None
            else f"orders {execution.submitted}, working {execution.working}, "
            f"fills {execution.fills}, rejected {execution.rejected}"
        ),
        "feed": ""
        if feed is None
        else f"{feed.state.value}, reconnects {feed.reconnects}, gaps {feed.gaps}",
    }
    for name, count in restarts.items():
        updated = board.updated_at(name)
        age = "-" if updated is None else f"{now - updated:.1f}"
        table.add_row(name, str(count), age, details.get(name, ""))
    return table


def render(
    board: StatusBoard,
    products: Sequence[str],
    *,
    restarts: Mapping[str, int],
    elapsed: float,
    now: float,
) -> Group:
    """Everything the live view shows, as one renderable."""
    return Group(
        Text(
            f"cjt paper: {elapsed:.0f} s  (Ctrl-C stops: open orders are cancelled)", style="bold"
        ),
        _books(board, products),
        _risk(board),
        _health(board, restarts, now),
    )
