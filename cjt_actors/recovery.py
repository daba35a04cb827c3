"""What a restarted actor reads back from the journal.

Why: under OTP semantics a restarted actor starts from a clean state, but some state must
survive a crash or the crash itself becomes dangerous. A restarted risk actor that forgot its
positions would approve orders past the limits; one that forgot a HALTED state would re-arm
trading after the very crash loop that should stop it; a restarted market maker that forgot
its quotes would stack a second set on top. The journal already holds all of it (it is
written ahead), so recovery is a read, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from .journal import AsyncJournal, Entry
from .lifecycle import TERMINAL_STATES
from .order_messages import OrderFilled, OrderUpdated, PnlRecorded, TradingStateChanged

__all__ = ["JournalState", "journal_state", "read_journal_state"]


@attrs.frozen(kw_only=True)
class JournalState:
    """The trading facts the journal holds, as of one read.

    Attributes:
        fills: every distinct fill (by ``trade_id``), in journal order.
        working_orders: the latest :class:`OrderUpdated` of every order not in a terminal
            state, in the order the orders were first seen.
        last_trading_state: risk's last state change, if any.
        last_pnl: risk's last PnL snapshot, if any.
        peak_equity: the highest equity any snapshot recorded, if any.
    """

    fills: tuple[OrderFilled, ...]
    working_orders: tuple[OrderUpdated, ...]
    last_trading_state: TradingStateChanged | None
    last_pnl: PnlRecorded | None
    peak_equity: Decimal | None

    def for_strategy(self, name: str) -> JournalState:
        """Only the fills and orders of one strategy (the risk-wide fields are kept)."""
        return attrs.evolve(
            self,
            fills=tuple(f for f in self.fills if f.strategy == name),
            working_orders=tuple(o for o in self.working_orders if o.strategy == name),
        )


_KINDS = (OrderFilled, OrderUpdated, TradingStateChanged, PnlRecorded)


def journal_state(entries: Iterable[Entry]) -> JournalState:
    """Fold journal entries (any kinds; others are ignored) into a :class:`JournalState`."""
    fills: dict[str, OrderFilled] = {}
    latest: dict[str, OrderUpdated] = {}
    last_state: TradingStateChanged | None = None
    last_pnl: PnlRecorded | None = None
    peak: Decimal | None = None
    for _seq, _at, message in entries:
        match message:
            case OrderFilled():
                fills.setdefault(message.trade_id, message)
            case OrderUpdated():
                latest[message.client_order_id] = message
            case TradingStateChanged():
                last_state = message
            case PnlRecorded():
                last_pnl = message
                peak = message.peak_equity if peak is None else max(peak, message.peak_equity)
            case _:
                pass
    working = tuple(u for u in latest.values() if u.state not in TERMINAL_STATES)
    return JournalState(
        fills=tuple(fills.values()),
        working_orders=working,
        last_trading_state=last_state,
        last_pnl=last_pnl,
        peak_equity=peak,
    )


async def read_journal_state(journal: AsyncJournal) -> JournalState:
    """Read the journal (off the event loop) and fold it."""
    return journal_state(await journal.read(kinds=_KINDS))
