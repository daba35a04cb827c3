"""The order lifecycle: one record per ``client_order_id``, moved only by an explicit table.

Why this module exists: the failures traders fear most are lost orders, duplicate orders and
double-counted fills around timeouts, reconnects and crashes. They all come from deciding too
much on too little evidence: a timeout read as "rejected", a fill counted once from the user
channel and again from polling, a stale ``OPEN`` update resurrecting a filled order. This
module is the pure, synchronous core that refuses those mistakes. It has no I/O and no trio;
the executor actor feeds it events and acts on what it answers.

States (``FILLED``, ``CANCELLED``, ``REJECTED`` and ``EXPIRED`` are terminal)::

    PENDING           the intent and its client_order_id are journaled; nothing sent yet
    SUBMITTED         the create request left; no answer yet
    UNKNOWN           the create timed out, lost its connection or got an unreadable reply:
                      the order may or may not exist (never treated as rejected)
    OPEN              the venue has it, nothing filled
    PARTIALLY_FILLED  the venue has it, some filled
    CANCEL_PENDING    a cancel was asked for (by us, or the venue shows CANCEL_QUEUED)
    FILLED / CANCELLED / EXPIRED   the venue's final word
    REJECTED          the venue explicitly refused the order (``success: false``, or a
                      lookup showing status ``FAILED``); nothing else ever leads here

Each event is first classified into an :class:`EventKind` (a fill is ``FILL_PARTIAL`` or
``FILL_COMPLETE`` by whether it completes the order; a venue snapshot by its status and the
filled size known so far). Then ``(state, kind)`` is looked up in :data:`TRANSITIONS` (a move,
possibly to the same state) or :data:`ABSORBED` (a stale or duplicated event: the state stays,
the result says ``absorbed``); any other pair raises :class:`IllegalTransition`, because it
means our own bookkeeping is wrong (cancelling an order we never sent, the venue "rejecting"
an order it already acknowledged). The table, with ``*`` meaning every non-terminal state
(PENDING, SUBMITTED, UNKNOWN, OPEN, PARTIALLY_FILLED, CANCEL_PENDING)::

    kind                   from                                  -> to
    ---------------------  ------------------------------------  --------------------------
    SUBMITTED              PENDING                               -> SUBMITTED
    ACCEPTED               SUBMITTED, UNKNOWN                    -> OPEN
    REJECTED               SUBMITTED, UNKNOWN                    -> REJECTED
    OUTCOME_UNKNOWN        SUBMITTED, PENDING (crash recovery)   -> UNKNOWN
    LOOKUP_NOT_FOUND       UNKNOWN                               -> PENDING (re-send, same id)
    CANCEL_REQUESTED       OPEN, PARTIALLY_FILLED                -> CANCEL_PENDING
    CANCEL_ACKNOWLEDGED    OPEN, PARTIALLY_FILLED, CANCEL_PENDING -> CANCEL_PENDING
    CANCEL_FAILED_OPEN     CANCEL_PENDING                        -> OPEN (+ needs_lookup)
    CANCEL_FAILED_PARTIAL  CANCEL_PENDING                        -> PARTIALLY_FILLED (+ ditto)
    CANCEL_FAILED_FILLED   OPEN, PARTIALLY_FILLED, CANCEL_PENDING -> FILLED
    FILL_PARTIAL           * except CANCEL_PENDING               -> PARTIALLY_FILLED
    FILL_PARTIAL           CANCEL_PENDING                        -> CANCEL_PENDING
    FILL_COMPLETE          *                                     -> FILLED
    VENUE_OPEN             PENDING, SUBMITTED, UNKNOWN           -> OPEN
    VENUE_PARTIAL          PENDING, SUBMITTED, UNKNOWN, OPEN     -> PARTIALLY_FILLED
    VENUE_CANCEL_QUEUED    * except CANCEL_PENDING               -> CANCEL_PENDING
    VENUE_FILLED           *                                     -> FILLED
    VENUE_CANCELLED        *                                     -> CANCELLED
    EXPIRED                *                                     -> EXPIRED
    VENUE_FAILED           PENDING, SUBMITTED, UNKNOWN           -> REJECTED

    (CANCEL_FAILED_* is CancelFailed classified: FILLED for ORDER_IS_FULLY_FILLED, else
    PARTIAL or OPEN by whether any fill is known. FILL_* is a Fill with a new trade_id,
    COMPLETE when it brings the filled size to the order size. VENUE_* is a snapshot by
    status: PENDING/OPEN/QUEUED/EDIT_QUEUED -> VENUE_OPEN, or VENUE_PARTIAL once any fill is
    known; EXPIRED -> EXPIRED; FAILED -> VENUE_FAILED; anything else -> VENUE_UNRECOGNIZED.)

    absorbed (stale or duplicate; state unchanged):
    every kind in a terminal state (a late OPEN after FILLED, a second ACK, a cancel racing
    a fill); DUPLICATE_FILL and VENUE_UNRECOGNIZED everywhere; ACCEPTED and OUTCOME_UNKNOWN
    in OPEN, PARTIALLY_FILLED, CANCEL_PENDING (an ACK after fills, a late timeout of a
    retry); OUTCOME_UNKNOWN in UNKNOWN; LOOKUP_NOT_FOUND in PENDING and SUBMITTED (a lookup
    racing the request proves nothing); CANCEL_REQUESTED in CANCEL_PENDING; CANCEL_FAILED_OPEN
    and CANCEL_FAILED_PARTIAL in OPEN, PARTIALLY_FILLED; VENUE_OPEN in OPEN,
    PARTIALLY_FILLED, CANCEL_PENDING; VENUE_PARTIAL in PARTIALLY_FILLED, CANCEL_PENDING;
    VENUE_CANCEL_QUEUED in CANCEL_PENDING (a snapshot may predate our cancel).

    illegal (raises): everything else, e.g. SUBMITTED twice, SUBMITTED from UNKNOWN (look it
    up first), ACCEPTED/REJECTED before SUBMITTED, REJECTED or VENUE_FAILED after the venue
    acknowledged the order, any cancel event before the venue acknowledged it,
    LOOKUP_NOT_FOUND for an order the venue acknowledged.

Facts are kept even when the state does not move: a venue ``order_id`` learnt from a late
ACK, a snapshot's cumulative quantity (only ever raised, never lowered: snapshots arrive
late, twice and out of order), and fills. **Fills are never dropped**, not even in a terminal
state: money changed hands, so a fill with a new ``trade_id`` always counts (the state stays
put). A fill whose ``trade_id`` was seen before changes nothing. A fill that would take the
filled size past the order size raises :class:`OverFill` and changes nothing.

Ambiguous-outcome policy (anchors §7: Hummingbot #3374, #7211; freqtrade #3647):

* A create that timed out, lost its connection or got an unreadable reply is ``UNKNOWN``,
  never ``REJECTED``. Only the venue's explicit word (``Rejected``, or a lookup showing
  ``FAILED``) leads to ``REJECTED``.
* ``UNKNOWN`` is resolved by looking the order up by ``client_order_id``: a snapshot or a
  fill moves it to where the venue says. If the venue has no such order
  (``LookupNotFound``), it goes back to ``PENDING`` and the caller re-sends it with the
  *same* ``client_order_id`` (Coinbase's idempotency key: a repeat never makes a second
  order). A new id is never generated: the id is derived from the intent
  (:func:`derive_client_order_id`) and the record's id cannot be reassigned. The caller
  should allow a short grace period before trusting a "not found" for a fresh request.
* A cancel that fails for any reason other than ``ORDER_IS_FULLY_FILLED`` is ambiguous
  (the order may have filled or been cancelled meanwhile): the order returns to its working
  state with :attr:`TrackedOrder.needs_lookup` set, and the caller re-checks it by lookup
  before deciding anything else about it. A successful cancel acknowledgement only means
  "accepted" on Coinbase: the order stays ``CANCEL_PENDING`` until the venue reports it
  ``CANCELLED`` (or filled, or expired).

Positions (:class:`Position`) use the average-cost method; see its docstring.
"""

from __future__ import annotations

import collections
import enum
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol, TypeAlias

import attrs

from .errors import CjtError, InvalidSpec
from .exchange.orders import Side

__all__ = [
    "ABSORBED",
    "FULLY_FILLED_CANCEL_REASON",
    "HISTORY_LIMIT",
    "NON_TERMINAL_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Accepted",
    "ApplyResult",
    "CancelAcknowledged",
    "CancelFailed",
    "CancelRequested",
    "ConflictingOrderId",
    "EventKind",
    "Expired",
    "Fill",
    "IllegalTransition",
    "LifecycleError",
    "Liquidity",
    "LookupNotFound",
    "OrderEvent",
    "OrderSnapshot",
    "OrderState",
    "OutcomeUnknown",
    "OverFill",
    "Position",
    "Rejected",
    "Submitted",
    "TrackedOrder",
    "Transition",
    "VenueOrderState",
    "derive_client_order_id",
]

HISTORY_LIMIT = 64
"""How many transitions a :class:`TrackedOrder` remembers (older ones are dropped)."""

FULLY_FILLED_CANCEL_REASON = "ORDER_IS_FULLY_FILLED"
"""The one cancel failure reason that is decisive: the order is filled (see the policy)."""


class OrderState(enum.Enum):
    """Where one order stands; see the module docstring for the meaning of each."""

    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    UNKNOWN = "UNKNOWN"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    CANCEL_PENDING = "CANCEL_PENDING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        """Whether no event can move the order out of this state."""
        return self in TERMINAL_STATES


class EventKind(enum.Enum):
    """What an event means for the table, once classified against the order."""

    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    LOOKUP_NOT_FOUND = "LOOKUP_NOT_FOUND"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCEL_ACKNOWLEDGED = "CANCEL_ACKNOWLEDGED"
    CANCEL_FAILED_OPEN = "CANCEL_FAILED_OPEN"
    CANCEL_FAILED_PARTIAL = "CANCEL_FAILED_PARTIAL"
    CANCEL_FAILED_FILLED = "CANCEL_FAILED_FILLED"
    FILL_PARTIAL = "FILL_PARTIAL"
    FILL_COMPLETE = "FILL_COMPLETE"
    DUPLICATE_FILL = "DUPLICATE_FILL"
    VENUE_OPEN = "VENUE_OPEN"
    VENUE_PARTIAL = "VENUE_PARTIAL"
    VENUE_CANCEL_QUEUED = "VENUE_CANCEL_QUEUED"
    VENUE_FILLED = "VENUE_FILLED"
    VENUE_CANCELLED = "VENUE_CANCELLED"
    VENUE_FAILED = "VENUE_FAILED"
    VENUE_UNRECOGNIZED = "VENUE_UNRECOGNIZED"
    EXPIRED = "EXPIRED"


_S = OrderState
_K = EventKind

TERMINAL_STATES: frozenset[OrderState] = frozenset(
    {_S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED}
)
NON_TERMINAL_STATES: tuple[OrderState, ...] = (
    _S.PENDING,
    _S.SUBMITTED,
    _S.UNKNOWN,
    _S.OPEN,
    _S.PARTIALLY_FILLED,
    _S.CANCEL_PENDING,
)
_NOT_YET_ACKNOWLEDGED = (_S.PENDING, _S.SUBMITTED, _S.UNKNOWN)
_WORKING = (_S.OPEN, _S.PARTIALLY_FILLED)

TRANSITIONS: Mapping[tuple[OrderState, EventKind], OrderState] = {
    # our own requests and their answers
    (_S.PENDING, _K.SUBMITTED): _S.SUBMITTED,
    (_S.SUBMITTED, _K.ACCEPTED): _S.OPEN,
    (_S.UNKNOWN, _K.ACCEPTED): _S.OPEN,
    (_S.SUBMITTED, _K.REJECTED): _S.REJECTED,
    (_S.UNKNOWN, _K.REJECTED): _S.REJECTED,
    (_S.PENDING, _K.OUTCOME_UNKNOWN): _S.UNKNOWN,
    (_S.SUBMITTED, _K.OUTCOME_UNKNOWN): _S.UNKNOWN,
    (_S.UNKNOWN, _K.LOOKUP_NOT_FOUND): _S.PENDING,
    # cancels
    (_S.OPEN, _K.CANCEL_REQUESTED): _S.CANCEL_PENDING,
    (_S.PARTIALLY_FILLED, _K.CANCEL_REQUESTED): _S.CANCEL_PENDING,
    (_S.OPEN, _K.CANCEL_ACKNOWLEDGED): _S.CANCEL_PENDING,
    (_S.PARTIALLY_FILLED, _K.CANCEL_ACKNOWLEDGED): _S.CANCEL_PENDING,
    (_S.CANCEL_PENDING, _K.CANCEL_ACKNOWLEDGED): _S.CANCEL_PENDING,
    (_S.CANCEL_PENDING, _K.CANCEL_FAILED_OPEN): _S.OPEN,
    (_S.CANCEL_PENDING, _K.CANCEL_FAILED_PARTIAL): _S.PARTIALLY_FILLED,
    (_S.OPEN, _K.CANCEL_FAILED_FILLED): _S.FILLED,
    (_S.PARTIALLY_FILLED, _K.CANCEL_FAILED_FILLED): _S.FILLED,
    (_S.CANCEL_PENDING, _K.CANCEL_FAILED_FILLED): _S.FILLED,
    # the venue's facts: fills, snapshots, expiry
    **{(s, _K.FILL_PARTIAL): _S.PARTIALLY_FILLED for s in NON_TERMINAL_STATES},
    (_S.CANCEL_PENDING, _K.FILL_PARTIAL): _S.CANCEL_PENDING,
    **{(s, _K.FILL_COMPLETE): _S.FILLED for s in NON_TERMINAL_STATES},
    **{(s, _K.VENUE_OPEN): _S.OPEN for s in _NOT_YET_ACKNOWLEDGED},
    **{(s, _K.VENUE_PARTIAL): _S.PARTIALLY_FILLED for s in (*_NOT_YET_ACKNOWLEDGED, _S.OPEN)},
    **{(s, _K.VENUE_CANCEL_QUEUED): _S.CANCEL_PENDING for s in (*_NOT_YET_ACKNOWLEDGED, *_WORKING)},
    **{(s, _K.VENUE_FILLED): _S.FILLED for s in NON_TERMINAL_STATES},
    **{(s, _K.VENUE_CANCELLED): _S.CANCELLED for s in NON_TERMINAL_STATES},
    **{(s, _K.EXPIRED): _S.EXPIRED for s in NON_TERMINAL_STATES},
    **{(s, _K.VENUE_FAILED): _S.REJECTED for s in _NOT_YET_ACKNOWLEDGED},
}
"""``(state, kind) -> new state``: every legal move (a move to the same state included)."""

ABSORBED: frozenset[tuple[OrderState, EventKind]] = frozenset(
    {(s, k) for s in TERMINAL_STATES for k in EventKind}
    | {(s, _K.DUPLICATE_FILL) for s in NON_TERMINAL_STATES}
    | {(s, _K.VENUE_UNRECOGNIZED) for s in NON_TERMINAL_STATES}
    | {(s, k) for s in (*_WORKING, _S.CANCEL_PENDING) for k in (_K.ACCEPTED, _K.OUTCOME_UNKNOWN)}
    | {
        (_S.UNKNOWN, _K.OUTCOME_UNKNOWN),
        (_S.PENDING, _K.LOOKUP_NOT_FOUND),
        (_S.SUBMITTED, _K.LOOKUP_NOT_FOUND),
        (_S.CANCEL_PENDING, _K.CANCEL_REQUESTED),
        (_S.OPEN, _K.VENUE_OPEN),
        (_S.PARTIALLY_FILLED, _K.VENUE_OPEN),
        (_S.CANCEL_PENDING, _K.VENUE_OPEN),
        (_S.PARTIALLY_FILLED, _K.VENUE_PARTIAL),
        (_S.CANCEL_PENDING, _K.VENUE_PARTIAL),
        (_S.CANCEL_PENDING, _K.VENUE_CANCEL_QUEUED),
    }
    | {(s, k) for s in _WORKING for k in (_K.CANCEL_FAILED_OPEN, _K.CANCEL_FAILED_PARTIAL)}
)
"""``(state, kind)`` pairs that are stale or duplicated: the state stays, nothing is wrong."""

assert not ABSORBED & TRANSITIONS.keys(), "a pair cannot both move and be absorbed"


# -- errors -------------------------------------------------------------------------------------


class LifecycleError(CjtError):
    """An event contradicts what the order record knows: our bookkeeping or the venue is wrong.

    Attributes:
        client_order_id: the order concerned.
    """

    def __init__(self, message: str, *, client_order_id: str) -> None:
        super().__init__(f"order {client_order_id!r}: {message}")
        self.client_order_id = client_order_id


class IllegalTransition(LifecycleError):
    """An event that the transition table forbids in the order's current state.

    Attributes:
        client_order_id, state, kind: the order, where it stood, and the classified event.
    """

    def __init__(self, *, client_order_id: str, state: OrderState, kind: EventKind) -> None:
        super().__init__(
            f"illegal transition: event {kind.value} in state {state.value}",
            client_order_id=client_order_id,
        )
        self.state = state
        self.kind = kind


class OverFill(LifecycleError):
    """A fill or a venue snapshot would make the filled size exceed the order size.

    The event is not applied. Attributes: ``size`` (the order's), ``filled`` (what would
    have been filled).
    """

    def __init__(
        self, *, client_order_id: str, size: Decimal, filled: Decimal, source: str
    ) -> None:
        super().__init__(
            f"{source} would fill {filled} of an order of size {size}",
            client_order_id=client_order_id,
        )
        self.size = size
        self.filled = filled


class ConflictingOrderId(LifecycleError):
    """The venue named a different ``order_id`` than the one already recorded."""

    def __init__(self, *, client_order_id: str, known: str, received: str) -> None:
        super().__init__(
            f"venue order_id {received!r} conflicts with the recorded {known!r}",
            client_order_id=client_order_id,
        )
        self.known = known
        self.received = received


# -- events -------------------------------------------------------------------------------------


def _positive(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise InvalidSpec(f"{attribute.name} must be a positive finite Decimal, got {value!r}")


def _finite(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not value.is_finite():
        raise InvalidSpec(f"{attribute.name} must be a finite Decimal, got {value!r}")


def _not_negative(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not value.is_finite() or value < 0:
        raise InvalidSpec(f"{attribute.name} must be a finite Decimal >= 0, got {value!r}")


def _non_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise InvalidSpec(f"{attribute.name} must not be empty")


def _buy_or_sell(_instance: object, attribute: attrs.Attribute[Side], value: Side) -> None:
    if value not in (Side.BUY, Side.SELL):
        raise InvalidSpec(f"{attribute.name} must be Side.BUY or Side.SELL, got {value!r}")


class Liquidity(enum.Enum):
    """Which side of the trade the order was on (decides the fee rate)."""

    MAKER = "MAKER"
    TAKER = "TAKER"
    UNKNOWN = "UNKNOWN"


@attrs.frozen(kw_only=True)
class Submitted:
    """The create request (or a re-send with the same ``client_order_id``) is leaving now."""


@attrs.frozen(kw_only=True)
class Accepted:
    """The venue took the order and named it."""

    order_id: str = attrs.field(validator=_non_empty)


@attrs.frozen(kw_only=True)
class Rejected:
    """The venue explicitly refused the order (``success: false``): nothing was placed."""

    reason: str


@attrs.frozen(kw_only=True)
class OutcomeUnknown:
    """The create got no usable answer (timeout, dropped connection, unreadable reply)."""

    reason: str


@attrs.frozen(kw_only=True)
class LookupNotFound:
    """A lookup by ``client_order_id`` found no such order at the venue."""


@attrs.frozen(kw_only=True)
class CancelRequested:
    """We are asking the venue to cancel the order."""


@attrs.frozen(kw_only=True)
class CancelAcknowledged:
    """The venue accepted the cancel request (not yet proof that the order is cancelled)."""


@attrs.frozen(kw_only=True)
class CancelFailed:
    """The venue refused the cancel; ``reason`` is its failure reason, e.g.
    ``ORDER_IS_FULLY_FILLED`` (decisive) or ``UNKNOWN_CANCEL_ORDER`` (ambiguous)."""

    reason: str


@attrs.frozen(kw_only=True)
class Expired:
    """The venue says the order expired (a GTD order reached its end time)."""


@attrs.frozen(kw_only=True)
class Fill:
    """One execution, identified by the venue's ``trade_id`` (the idempotency key)."""

    trade_id: str = attrs.field(validator=_non_empty)
    price: Decimal = attrs.field(validator=_positive)
    size: Decimal = attrs.field(validator=_positive)
    fee: Decimal = attrs.field(default=Decimal(0), validator=_finite)
    liquidity: Liquidity = Liquidity.UNKNOWN
    order_id: str = ""
    """The venue's order id, when the venue says it with the fill (Coinbase does): a fill can
    arrive before the create's answer, and then it is how the order learns its id."""


class OrderSnapshot(Protocol):
    """What :meth:`VenueOrderState.from_snapshot` reads (``stream.UserOrder`` fits)."""

    @property
    def order_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def cumulative_quantity(self) -> Decimal: ...
    @property
    def leaves_quantity(self) -> Decimal: ...
    @property
    def avg_price(self) -> Decimal | None: ...
    @property
    def total_fees(self) -> Decimal | None: ...


_OPEN_STATUSES = frozenset({"PENDING", "OPEN", "QUEUED", "EDIT_QUEUED"})
_STATUS_KINDS: Mapping[str, EventKind] = {
    "CANCEL_QUEUED": _K.VENUE_CANCEL_QUEUED,
    "FILLED": _K.VENUE_FILLED,
    "CANCELLED": _K.VENUE_CANCELLED,
    "EXPIRED": _K.EXPIRED,
    "FAILED": _K.VENUE_FAILED,
}


@attrs.frozen(kw_only=True)
class VenueOrderState:
    """The venue's full view of the order at some moment (user channel or REST lookup).

    Snapshots may arrive late, twice or out of order; the record never lowers its
    cumulative quantity because of one. ``status`` is the venue's (``OPEN``,
    ``CANCEL_QUEUED``, ``FILLED``, ``CANCELLED``, ``EXPIRED``, ``FAILED``...); a status it
    does not know changes nothing but the quantities. ``from_lookup`` marks the answer to
    a lookup the caller made (REST get/list orders): only such an answer clears
    :attr:`TrackedOrder.needs_lookup` on an order that stays where it was, since a pushed
    update may predate the ambiguity that raised the flag.
    """

    status: str
    cumulative_quantity: Decimal = attrs.field(validator=_not_negative)
    leaves_quantity: Decimal = attrs.field(validator=_not_negative)
    average_price: Decimal | None = None
    total_fees: Decimal | None = None
    order_id: str = ""
    from_lookup: bool = False

    @classmethod
    def from_snapshot(cls, order: OrderSnapshot, *, from_lookup: bool = False) -> VenueOrderState:
        """The lifecycle's view of a decoded venue order (e.g. ``stream.UserOrder``)."""
        return cls(
            from_lookup=from_lookup,
            status=str(order.status),
            cumulative_quantity=order.cumulative_quantity,
            leaves_quantity=order.leaves_quantity,
            average_price=order.avg_price,
            total_fees=order.total_fees,
            order_id=order.order_id,
        )


OrderEvent: TypeAlias = (
    Submitted
    | Accepted
    | Rejected
    | OutcomeUnknown
    | LookupNotFound
    | CancelRequested
    | CancelAcknowledged
    | CancelFailed
    | Expired
    | Fill
    | VenueOrderState
)


# -- the record ---------------------------------------------------------------------------------


def derive_client_order_id(namespace: str, intent_id: str) -> str:
    """The ``client_order_id`` of an intent: the same intent always gets the same id.

    A UUID (version 5) of ``namespace`` and ``intent_id``, so a restart that replays the
    journal re-derives, never regenerates, the id the venue may already know.
    """
    if not namespace or not intent_id:
        raise InvalidSpec(
            f"derive_client_order_id needs a non-empty namespace and intent_id, "
            f"got {namespace!r}, {intent_id!r}"
        )
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cjt:{namespace}:{intent_id}"))


@attrs.frozen(kw_only=True)
class Transition:
    """One entry of an order's history: a legal move (absorbed events are not recorded)."""

    before: OrderState
    after: OrderState
    kind: EventKind


@attrs.frozen(kw_only=True)
class ApplyResult:
    """What :meth:`TrackedOrder.apply` did with one event.

    Attributes:
        kind: the event as classified.
        before, after: the state before and after (equal when absorbed).
        absorbed: the table absorbs this pair (a stale or duplicated event, or any event in
            a terminal state): the state did not move. Facts may still be recorded (a late
            ACK's order_id, a late fill). Never send anything on an absorbed ``Submitted``.
        new_fill: the fill, when it was counted now (feed exactly these to positions);
            ``None`` for a duplicate or a non-fill event.
    """

    kind: EventKind
    before: OrderState
    after: OrderState
    absorbed: bool
    new_fill: Fill | None = None


_frozen = attrs.setters.frozen


@attrs.define(kw_only=True, eq=False)
class TrackedOrder:
    """Everything known about one order, keyed by its ``client_order_id``.

    Mutable, but only through :meth:`apply`; the identity fields (id, product, side, size,
    limit price) cannot be reassigned. ``filled_size`` is the sum of the distinct fills
    applied (what positions are built from); ``venue_cumulative_quantity`` is the highest
    cumulative quantity any venue snapshot or decisive cancel failure reported, so
    :attr:`missing_fill_size` says how much filled size is known but not yet seen as fills.
    """

    client_order_id: str = attrs.field(validator=_non_empty, on_setattr=_frozen)
    product_id: str = attrs.field(validator=_non_empty, on_setattr=_frozen)
    side: Side = attrs.field(validator=_buy_or_sell, on_setattr=_frozen)
    size: Decimal = attrs.field(validator=_positive, on_setattr=_frozen)
    limit_price: Decimal | None = attrs.field(default=None, on_setattr=_frozen)
    order_id: str = ""
    state: OrderState = OrderState.PENDING
    filled_size: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    venue_cumulative_quantity: Decimal = Decimal(0)
    venue_average_price: Decimal | None = None
    trade_ids: set[str] = attrs.field(factory=set)
    submit_attempts: int = 0
    needs_lookup: bool = False
    """The venue must be asked about this order before anything else is decided: set in
    UNKNOWN and after an ambiguous cancel failure; cleared by leaving UNKNOWN, by a lookup's
    answer (``LookupNotFound`` or a ``VenueOrderState`` with ``from_lookup``), or by a
    terminal state."""
    last_reason: str = ""
    history: collections.deque[Transition] = attrs.field(
        factory=lambda: collections.deque(maxlen=HISTORY_LIMIT)
    )

    @limit_price.validator
    def _check_limit_price(
        self, attribute: attrs.Attribute[Decimal | None], value: Decimal | None
    ) -> None:
        if value is not None:
            _positive(self, attribute, value)  # type: ignore[arg-type]

    @property
    def average_fill_price(self) -> Decimal | None:
        """Size-weighted average price of the fills applied, or ``None`` before any."""
        if not self.filled_size:
            return None
        return self.filled_notional / self.filled_size

    @property
    def remaining_size(self) -> Decimal:
        """Size not yet filled, by the fills seen."""
        return self.size - self.filled_size

    @property
    def missing_fill_size(self) -> Decimal:
        """Filled size the venue reported that no fill seen so far accounts for."""
        return max(Decimal(0), self.venue_cumulative_quantity - self.filled_size)

    @property
    def terminal(self) -> bool:
        """Whether the order reached a final state."""
        return self.state.terminal

    def classify(self, event: OrderEvent) -> EventKind:
        """The table's name for ``event`` against this order (raises on contradictions)."""
        match event:
            case Submitted():
                return _K.SUBMITTED
            case Accepted(order_id=order_id):
                self._check_order_id(order_id)
                return _K.ACCEPTED
            case Rejected():
                return _K.REJECTED
            case OutcomeUnknown():
                return _K.OUTCOME_UNKNOWN
            case LookupNotFound():
                return _K.LOOKUP_NOT_FOUND
            case CancelRequested():
                return _K.CANCEL_REQUESTED
            case CancelAcknowledged():
                return _K.CANCEL_ACKNOWLEDGED
            case CancelFailed(reason=reason):
                if reason == FULLY_FILLED_CANCEL_REASON:
                    return _K.CANCEL_FAILED_FILLED
                return _K.CANCEL_FAILED_PARTIAL if self._known_filled() else _K.CANCEL_FAILED_OPEN
            case Expired():
                return _K.EXPIRED
            case Fill():
                return self._classify_fill(event)
            case VenueOrderState():
                return self._classify_snapshot(event)
        raise AssertionError(f"not an order event: {event!r}")  # pragma: no cover

    def apply(self, event: OrderEvent) -> ApplyResult:
        """Apply one event: move the state by the table, record the facts, answer what happened.

        Raises :class:`IllegalTransition`, :class:`OverFill` or :class:`ConflictingOrderId`
        without changing anything.
        """
        kind = self.classify(event)
        before = self.state
        if (before, kind) in TRANSITIONS:
            after, absorbed = TRANSITIONS[before, kind], False
        elif (before, kind) in ABSORBED:
            after, absorbed = before, True
        else:
            raise IllegalTransition(client_order_id=self.client_order_id, state=before, kind=kind)
        new_fill = self._record_facts(event, kind)
        if not absorbed:
            self.state = after
            self.history.append(Transition(before=before, after=after, kind=kind))
            if kind is _K.SUBMITTED:
                self.submit_attempts += 1
        if self.state is _S.UNKNOWN:
            self.needs_lookup = True
        elif self.state.terminal or before is _S.UNKNOWN:
            self.needs_lookup = False
        return ApplyResult(
            kind=kind, before=before, after=after, absorbed=absorbed, new_fill=new_fill
        )

    # -- internals ------------------------------------------------------------------------------

    def _known_filled(self) -> Decimal:
        return max(self.filled_size, self.venue_cumulative_quantity)

    def _check_order_id(self, order_id: str) -> None:
        if order_id and self.order_id and order_id != self.order_id:
            raise ConflictingOrderId(
                client_order_id=self.client_order_id, known=self.order_id, received=order_id
            )

    def _classify_fill(self, fill: Fill) -> EventKind:
        if fill.trade_id in self.trade_ids:
            return _K.DUPLICATE_FILL
        filled = self.filled_size + fill.size
        if filled > self.size:
            raise OverFill(
                client_order_id=self.client_order_id,
                size=self.size,
                filled=filled,
                source=f"fill {fill.trade_id!r}",
            )
        return _K.FILL_COMPLETE if filled == self.size else _K.FILL_PARTIAL

    def _classify_snapshot(self, snapshot: VenueOrderState) -> EventKind:
        self._check_order_id(snapshot.order_id)
        if snapshot.cumulative_quantity > self.size:
            raise OverFill(
                client_order_id=self.client_order_id,
                size=self.size,
                filled=snapshot.cumulative_quantity,
                source=f"venue snapshot ({snapshot.status})",
            )
        if snapshot.status in _OPEN_STATUSES:
            known = max(self._known_filled(), snapshot.cumulative_quantity)
            return _K.VENUE_PARTIAL if known else _K.VENUE_OPEN
        return _STATUS_KINDS.get(snapshot.status, _K.VENUE_UNRECOGNIZED)

    def _record_facts(self, event: OrderEvent, kind: EventKind) -> Fill | None:
        match event:
            case Accepted(order_id=order_id):
                self.order_id = order_id
            case Rejected(reason=reason) | OutcomeUnknown(reason=reason):
                self.last_reason = reason
            case LookupNotFound():
                self.needs_lookup = False
            case CancelFailed(reason=reason):
                self.last_reason = reason
                if kind is _K.CANCEL_FAILED_FILLED:
                    self.venue_cumulative_quantity = self.size
                else:
                    self.needs_lookup = True
            case Fill() if kind is not _K.DUPLICATE_FILL:
                if event.order_id and not self.order_id:
                    self.order_id = event.order_id
                self.trade_ids.add(event.trade_id)
                self.filled_size += event.size
                self.filled_notional += event.price * event.size
                self.fees += event.fee
                return event
            case VenueOrderState():
                if event.from_lookup:
                    self.needs_lookup = False
                if event.order_id:
                    self.order_id = event.order_id
                if event.cumulative_quantity >= self.venue_cumulative_quantity:
                    self.venue_cumulative_quantity = event.cumulative_quantity
                    if event.average_price is not None:
                        self.venue_average_price = event.average_price
        return None


# -- positions ----------------------------------------------------------------------------------


@attrs.define(kw_only=True, eq=False)
class Position:
    """Net base position, realized PnL and fees of one product, from its fills.

    Average-cost method: ``average_cost`` is the average price of the open position. A fill
    that opens or adds to it (same direction, or from flat) blends its price in, weighted by
    size. A fill in the other direction first closes up to the open size, realizing
    ``closed * (price - average_cost)`` for a long (the opposite for a short), leaving
    ``average_cost`` unchanged; any remainder opens a new position at the fill's price. A
    flat position has ``average_cost`` 0. ``realized_pnl`` is before fees; ``fees`` are
    summed separately (a negative fee is a rebate) and ``net_realized_pnl`` subtracts them.

    It does not deduplicate: feed it only :attr:`ApplyResult.new_fill` values, so the
    order records (which deduplicate by ``trade_id``) are the one gate.
    """

    product_id: str = attrs.field(validator=_non_empty)
    quantity: Decimal = Decimal(0)
    average_cost: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fill_count: int = 0

    @property
    def net_realized_pnl(self) -> Decimal:
        """Realized PnL after fees."""
        return self.realized_pnl - self.fees

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """PnL of the open position if it were closed at ``mark`` (fees not included)."""
        return self.quantity * (mark - self.average_cost)

    def apply(self, side: Side, fill: Fill) -> Decimal:
        """Count one fill of an order on ``side``; return the PnL it realized (before fees)."""
        if side not in (Side.BUY, Side.SELL):
            raise InvalidSpec(f"Position.apply: side must be Side.BUY or Side.SELL, got {side!r}")
        signed = fill.size if side == Side.BUY else -fill.size
        held = self.quantity
        realized = Decimal(0)
        if held == 0 or (held > 0) == (signed > 0):
            total = abs(held) + fill.size
            self.average_cost = (abs(held) * self.average_cost + fill.size * fill.price) / total
        else:
            closed = min(fill.size, abs(held))
            direction = 1 if held > 0 else -1
            realized = closed * (fill.price - self.average_cost) * direction
            if fill.size > abs(held):
                self.average_cost = fill.price
            elif fill.size == abs(held):
                self.average_cost = Decimal(0)
        self.quantity = held + signed
        self.realized_pnl += realized
        self.fees += fill.fee
        self.fill_count += 1
        return realized
