"""What the soak reads back from the journal, folded as it is read.

The soak re-reads the journal every second while the stack writes it; reading it whole each
time would cost more every second. :class:`JournalTally` keeps the last ``seq`` it has seen
and folds only the new entries (:meth:`JournalTally.ingest`) into what the checks and the
recovery measures need: the order intents, the fills by trade id, the books' trust
changes, the supervisors' crashes and starts, the emergency step's outcome.

It holds every intent and fill of the run (the end checks compare all of them with the
venue): a few hundred bytes per order, part of the memory the soak measures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from ..exchange.orders import Side
from ..journal import Entry
from ..market_messages import BookTrustChanged
from ..messages import ChildCrashed, ChildStarted, Message
from ..order_messages import EmergencyCancelFinished, OrderFilled, SubmitOrder

__all__ = ["KINDS", "JournalTally"]

#: The message kinds the tally reads (the journal filters by kind, so others are not decoded).
KINDS: tuple[type[Message], ...] = (
    SubmitOrder,
    OrderFilled,
    BookTrustChanged,
    ChildCrashed,
    ChildStarted,
    EmergencyCancelFinished,
)


class JournalTally:
    """The journal's facts the soak checks, folded incrementally (see the module docstring)."""

    def __init__(self) -> None:
        self.last_seq = 0
        self.intents: dict[str, SubmitOrder] = {}  #: the first intent per client_order_id
        self.fills: dict[str, list[OrderFilled]] = {}  #: every OrderFilled, by trade id
        self.trust: list[BookTrustChanged] = []
        self.children: list[ChildCrashed | ChildStarted] = []
        self.emergencies: list[EmergencyCancelFinished] = []

    def ingest(self, entries: Iterable[Entry]) -> int:
        """Fold ``entries`` (in seq order, after :attr:`last_seq`); return how many."""
        count = 0
        for seq, _, message in entries:
            count += 1
            self.last_seq = seq
            match message:
                case SubmitOrder():
                    self.intents.setdefault(message.client_order_id, message)
                case OrderFilled():
                    self.fills.setdefault(message.trade_id, []).append(message)
                case BookTrustChanged():
                    self.trust.append(message)
                case ChildCrashed() | ChildStarted():
                    self.children.append(message)
                case EmergencyCancelFinished():
                    self.emergencies.append(message)
                case _:
                    pass  # a kind the tally does not read (the caller's filter let it in)
        return count

    @property
    def fill_count(self) -> int:
        """Fills journaled, each trade id once."""
        return len(self.fills)

    def unique_fills(self) -> list[OrderFilled]:
        """The first journaled fill of each trade id."""
        return [fills[0] for fills in self.fills.values()]

    def positions(self) -> Mapping[str, Decimal]:
        """Base position per product from the fills (each trade id once), zeros left out."""
        totals: dict[str, Decimal] = {}
        for fill in self.unique_fills():
            signed = fill.size if fill.side is Side.BUY else -fill.size
            totals[fill.product_id] = totals.get(fill.product_id, Decimal(0)) + signed
        return {product: size for product, size in sorted(totals.items()) if size}
