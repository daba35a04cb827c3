"""The seam between the executor and wherever orders go (DESIGN §4).

Why one protocol: paper trading and live trading must share the executor, the journal and the
risk path, or paper results say nothing about live behaviour. So the executor only ever talks
to a :class:`Venue`; :class:`~cjt_actors.paper.venue.PaperVenue` fills orders against the
observed market, ``CoinbaseVenue`` (issue 5) sends them to Coinbase or the simulator.

What a venue answers is the lifecycle's vocabulary (:mod:`cjt_actors.lifecycle`), so the
ambiguous-outcome rules live in one place:

* :meth:`Venue.submit` answers ``Accepted`` (the venue has it), ``Rejected`` (the venue's
  explicit refusal) or ``OutcomeUnknown`` (no usable answer: never read as a rejection).
* :meth:`Venue.cancel` answers ``CancelAcknowledged`` (the request was taken; the order is
  cancelled only when a report says so) or ``CancelFailed`` with the venue's reason.
* Fills and status changes arrive as :class:`VenueReport` values pushed by :meth:`Venue.run`
  into the executor's outbox, in the order the venue produced them. A report may repeat or
  arrive before the ``submit`` call returns; the lifecycle absorbs both.
* :meth:`Venue.lookup` and :meth:`Venue.open_orders` are the venue's own records: what
  reconciliation and the emergency step trust.
* A venue that can cancel many orders in one request implements :class:`BatchCancelling`
  too; the emergency step then cancels in batches (fewer requests against the rate limit
  when it matters most), otherwise one order at a time.
* A venue whose report stream can miss things (a live venue's user channel reconnecting or
  showing a gap) pushes :class:`VenueSyncChanged` into the same outbox: ``reconciling``
  while it reads the venue's records to catch up, then not, once a complete read that
  started after the disturbance succeeded. Risk refuses new orders (``RECONCILING``) in
  between. The paper venue cannot miss anything and never sends one.

A venue raising from ``submit`` or ``cancel`` is a bug in the venue, not an outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias, runtime_checkable

import attrs
import trio

from .channels import Outbox
from .lifecycle import (
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    Expired,
    Fill,
    OutcomeUnknown,
    Rejected,
    VenueOrderState,
)
from .market_messages import BookUpdated, TradesReceived
from .order_messages import SubmitOrder

__all__ = [
    "BatchCancelling",
    "CancelOutcome",
    "FillSettling",
    "MarketObserver",
    "SubmitOutcome",
    "Venue",
    "VenueOrder",
    "VenueRefused",
    "VenueReport",
    "VenueSignal",
    "VenueSyncChanged",
]


class VenueRefused(Exception):
    """Raised out of a venue's ``run`` when the venue refuses this session for good (a
    revoked or expired key, a lost permission): retrying, or restarting the executor, cannot
    help, so the executor asks the root for the emergency stop (``VENUE_FATAL``) at once
    rather than crash-looping until its supervisor gives up. A marker class: a venue's own
    exception derives from it and from its error hierarchy."""


SubmitOutcome: TypeAlias = Accepted | Rejected | OutcomeUnknown
CancelOutcome: TypeAlias = CancelAcknowledged | CancelFailed


@attrs.frozen(kw_only=True)
class VenueReport:
    """Something the venue says happened to one order: a fill, a status snapshot, an expiry.

    ``at`` is trio's clock when the venue produced (paper) or received (live) it.
    """

    client_order_id: str
    event: Fill | VenueOrderState | Expired
    at: float


@attrs.frozen(kw_only=True)
class VenueSyncChanged:
    """The venue's reports may have missed something (``reconciling``), or it has caught up.

    ``trigger`` says what happened in words (``"user channel reconnected"``, ``"user channel
    sequence gap"``...); ``at`` is trio's clock.
    """

    reconciling: bool
    trigger: str
    at: float


VenueSignal: TypeAlias = VenueReport | VenueSyncChanged
"""What a venue's :meth:`Venue.run` pushes to the executor."""


@attrs.frozen(kw_only=True)
class VenueOrder:
    """The venue's record of one order (a lookup's or a listing's answer)."""

    client_order_id: str
    product_id: str
    state: VenueOrderState


class Venue(Protocol):
    """Where orders go. See the module docstring for the contract of each answer."""

    @property
    def name(self) -> str:
        """A short name for logs, metrics and the journal (``paper``, ``coinbase``...)."""
        ...

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Push every report into ``reports`` until cancelled (the executor owns this task)."""
        ...

    async def submit(self, order: SubmitOrder) -> SubmitOutcome:
        """Place ``order`` under its ``client_order_id`` (a repeat never makes a second order)."""
        ...

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        """Ask the venue to cancel one order (``order_id`` may be empty if never learnt)."""
        ...

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        """The venue's record of one order, or ``None`` if it has never heard of it."""
        ...

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        """Every order the venue considers working."""
        ...


class MarketObserver(Protocol):
    """A venue that needs the market data the book sees (the paper venue fills against it).

    The executor feeds it every :class:`BookUpdated` view and every :class:`TradesReceived`
    frame it gets from the book, in order.
    """

    async def observe_book(self, update: BookUpdated) -> None: ...

    async def observe_trades(self, trades: TradesReceived) -> None: ...


@runtime_checkable
class FillSettling(Protocol):
    """A venue that can read, once more, what happened to our orders after its ``run`` has
    stopped: the emergency step's last move, so fills the exchange made while the tree was
    stopping (a quote filled during the cancel-all) are journaled before the process ends,
    not discovered by the next start."""

    async def settle(self, reports: Outbox[VenueSignal]) -> None:
        """Read order states and fills once (paying fill debts) into ``reports``."""
        ...


@runtime_checkable
class BatchCancelling(Protocol):
    """A venue that cancels many orders per request (Coinbase's ``batch_cancel``)."""

    async def cancel_batch(self, orders: Sequence[tuple[str, str]]) -> tuple[CancelOutcome, ...]:
        """Cancel ``(client_order_id, order_id)`` pairs; one outcome per pair, same order.

        Outcomes mean what :meth:`Venue.cancel`'s do; a request that failed is a
        ``CancelFailed`` for each of its orders (ambiguous: the caller re-reads the venue).
        """
        ...
