"""The ``/status`` document: what ``cjt status`` shows, as JSON.

Money and sizes are strings (``"-12.34"``): a JSON number is a float to most readers, and
the journal and risk never round. Times are ages in seconds (the daemon's clock means
nothing to the reader). A value not published yet is ``null``. Shape::

    {"ready": bool, "checks": [{"name", "ok", "detail"}],
     "trading": {"state", "reason", "detail", "kill_switch_tripped", "cooldown_seconds"} | null,
     "pnl": {"equity", "peak_equity", "drawdown", "day_pnl", "gross_exposure"} | null,
     "positions": [{"product", "quantity", "average_cost", "mark", "realized_pnl",
                    "unrealized_pnl", "fees"}],
     "orders": {"open", "working", "submitted", "fills", "rejected", "reconciling",
                "by_state": {state: count}} | null,
     "denials": {reason: count},
     "actors": [{"name", "state", "restarts", "last_status_age"}],
     "feed": {"state", "detail", "reconnects", "gaps", "last_frame_age"} | null,
     "books": [{"product", "state", "reason", "best_bid", "best_ask", "age"}],
     "strategies": [{"name", "submits", "cancels", "working_orders", "denials", "positions"}]}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .readiness import Readiness
from .source import OpsSnapshot

__all__ = ["status_document"]


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(now - at, 3)


def status_document(snapshot: OpsSnapshot, readiness: Readiness) -> dict[str, Any]:
    """``snapshot`` as the JSON-ready document described in the module docstring."""
    now = snapshot.now
    risk = snapshot.risk
    execution = snapshot.execution
    feed = snapshot.feed
    return {
        "ready": readiness.ready,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in readiness.checks],
        "trading": None
        if risk is None
        else {
            "state": risk.state.value,
            "reason": risk.reason,
            "detail": risk.detail,
            "kill_switch_tripped": risk.kill_switch_tripped,
            # A loss streak's pause: new orders denied COOLDOWN for this many more seconds.
            "cooldown_seconds": None
            if risk.cooldown_until is None or risk.cooldown_until <= snapshot.now
            else round(risk.cooldown_until - snapshot.now, 3),
        },
        "pnl": None
        if risk is None
        else {
            "equity": _amount(risk.equity),
            "peak_equity": _amount(risk.peak_equity),
            "drawdown": _amount(risk.drawdown),
            "day_pnl": _amount(risk.day_pnl),
            "gross_exposure": _amount(risk.gross_exposure),
        },
        "positions": []
        if risk is None
        else [
            {
                "product": p.product_id,
                "quantity": _amount(p.quantity),
                "average_cost": _amount(p.average_cost),
                "mark": _amount(p.mark),
                "realized_pnl": _amount(p.realized_pnl),
                "unrealized_pnl": _amount(p.unrealized_pnl),
                "fees": _amount(p.fees),
            }
            for p in risk.positions
        ],
        "orders": None
        if execution is None
        else {
            "open": None if risk is None else risk.open_orders,
            "working": execution.working,
            "submitted": execution.submitted,
            "fills": execution.fills,
            "rejected": execution.rejected,
            "reconciling": execution.reconciling,
            "by_state": {state.value: n for state, n in snapshot.orders_by_state if n},
        },
        "denials": {} if risk is None else dict(risk.denials),
        "actors": [
            {
                "name": a.name,
                "state": a.state.value,
                "restarts": a.restarts,
                "last_status_age": _age(now, a.last_update),
            }
            for a in snapshot.actors
        ],
        "feed": None
        if feed is None
        else {
            "state": feed.state.value,
            "detail": feed.detail,
            "reconnects": feed.reconnects,
            "gaps": feed.gaps,
            "last_frame_age": _age(now, feed.last_frame_at),
        },
        "books": [
            {
                "product": b.product_id,
                "state": b.state.value,
                "reason": None if b.reason is None else b.reason.value,
                "best_bid": _amount(b.best_bid),
                "best_ask": _amount(b.best_ask),
                "age": None if b.age is None else round(b.age, 3),
            }
            for b in snapshot.books
        ],
        "strategies": [
            {
                "name": s.name,
                "submits": s.submits_sent,
                "cancels": s.cancels_sent,
                "working_orders": s.working_orders,
                "denials": dict(s.denials),
                "positions": {product: str(quantity) for product, quantity in s.positions},
            }
            for s in snapshot.strategies
        ],
    }
