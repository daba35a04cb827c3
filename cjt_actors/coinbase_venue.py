"""The live venue: the executor's :class:`~cjt_actors.venue.Venue` over Coinbase's REST API and
its WebSocket ``user`` channel (or the simulator's, which speaks the same wire).

Why this shape: the executor must never have to know what HTTP status, cancel failure reason
or stream hiccup means for an order. This class answers in the lifecycle's vocabulary and
applies the ambiguous-outcome policy (:mod:`cjt_actors.lifecycle`) at the wire:

* ``submit``: :class:`~cjt_actors.lifecycle.Accepted` on ``success: true``;
  :class:`~cjt_actors.lifecycle.Rejected` only on proof that nothing was placed (the
  exchange's ``success: false``, a 4xx other than 429 that the client raises before any
  attempt could have placed the order, missing credentials, or an order this adapter cannot
  express, which is never sent); :class:`~cjt_actors.lifecycle.OutcomeUnknown` for
  everything else (timeouts, dropped connections, unreadable answers, 5xx, 429 after the
  retries). The ``client_order_id`` is sent as given: it is Coinbase's idempotency key.
* ``cancel``: ``CancelAcknowledged`` when the exchange accepted the cancel (the order is
  cancelled only when a report says so); ``CancelFailed`` with the exchange's own failure
  reason, ``ORDER_IS_FULLY_FILLED`` being the decisive one; any error talking to the
  exchange is ``CancelFailed("UNKNOWN_CANCEL_FAILURE: ...")``, ambiguous, so the executor
  looks the order up.
* ``lookup``: ``GET /orders/historical/{order_id}`` when the ``order_id`` of that
  ``client_order_id`` is known here (learnt from a submit, the user channel or a listing);
  otherwise the orders are listed newest first (``/orders/historical/batch``, of the
  order's product when known) and matched by ``client_order_id``, because neither
  Coinbase nor the simulator filters by it. At most ``lookup_depth`` orders are read, so
  "never heard of it" means "not among the newest ``lookup_depth``". That is safe: the
  executor then re-sends under the *same* ``client_order_id``, and the exchange answers a
  repeated id with the original order instead of placing a second one. A scan remembers
  the ids of the orders it passed, so recovery's lookups after it mostly cost one ``GET``.
* ``open_orders``: ``/orders/historical/batch?order_status=OPEN``, every page.

Reports (:meth:`CoinbaseVenue.run`): order snapshots come from the user channel (each
``UserOrder`` update, the snapshot sent on every (re)connect included) and from polling;
fills come only from ``/orders/historical/fills``, because the user channel carries
cumulative quantities, not executions. Three kinds of polls, one task:

* **orders**: the orders this venue placed, cancelled or looked up that are not known to
  have ended are compared with the open-order listing; those that left it are read back by
  id, 25 at a time, with the listing's ``order_ids`` filter (one request for each 25,
  not one ``get_order`` each: an emergency cancel leaves a hundred orders to read at once,
  and at 30 requests/s one by one that took three seconds). One the filtered listing does
  not return is read with ``get_order``, and one the exchange answers 404 for three polls
  in a row is no longer polled, with a warning. Their final snapshots are reported, in the
  order the orders became watched. A snapshot is reported when its status or quantities
  changed since the last report of this run.
* **fill debts**: whenever any snapshot (user channel, poll, lookup, listing) shows a
  cumulative quantity above the sum of the fills seen for that order, the order's fills are
  read by ``order_ids`` until they account for it (or ``max_fill_fetches`` polls gave up:
  counted and logged). This is what finds the fills of an order that filled while the
  executor was down, however old.
* **recent fills**: pages of ``fills_lookback`` fills, newest first, down to the first page
  holding a fill an earlier poll of this run saw (the first poll of a run reads one page).

Cadence (Hummingbot's adaptive polling): every ``poll_interval`` while the user channel is
trusted, and at once then every ``fast_poll_interval`` while it is not, or while a fill debt
is open. Without a user channel nothing is ever trusted, so polling is the stream. The
channel is trusted once it has been connected, with no gap, malformed or out-of-order frame,
for ``trust_after`` seconds; a disconnect, a failed connect, a stale stream, an error frame,
a sequence gap, a malformed or out-of-order frame all make it untrusted and trigger an
immediate poll (a reconnect too, to reconcile what happened while it was down). A user
update that raises an order's cumulative quantity triggers an immediate poll of its fills.

Reconciliation (issue 5): a reconnect of the user channel (not its first connect in a run:
the executor's start-up recovery covers that), a sequence gap, an out-of-order, malformed or
error frame, or the loss of a connection that was up, mean the reports may have missed
something. The run then pushes ``VenueSyncChanged(reconciling=True)`` (once, however many
disturbances follow), polls at once, and pushes ``VenueSyncChanged(reconciling=False)``
after the first poll that began after the latest disturbance and completed: open orders
re-read, fill debts paid, recent fills read down to the last one seen. Risk refuses new
orders in between (``RECONCILING``). A channel that stays down does not keep trading
refused: polling is then the stream, and one complete poll is a reconciliation.

Fills are reported every time a run first sees them: each run (each executor incarnation)
keeps its own bounded set of ``(order_id, trade_id)`` it has reported, so a new run repeats
the newest page once and the executor deduplicates by ``trade_id``. A fill is only marked
reported after the outbox took it, so a run cancelled mid-send loses nothing. Fills of
``trade_type`` other than ``FILL`` (reversals, corrections) are not reported, because the
lifecycle has no way to apply them; they are counted (``skipped_fills``) and logged.
Fills in quote units (``size_in_quote``) are converted to base units. Reports are sent one
at a time, first come first served (the user channel's task and the poller share a lock),
so the executor applies each one completely before the next, as with the paper venue.

Errors while polling are counted and retried with backoff (``fast_poll_interval``
doubling to 60 s); they never end the run. The exception: ``auth_failure_limit``
consecutive 401/403 answers (from any call of this venue) while polling raise
:class:`VenueUnauthorized` out of ``run`` (in the ExceptionGroup of its nursery), because a revoked key or a lost scope will not
heal by retrying: the executor crashes, its supervisor restarts it, and when that keeps
failing the root's emergency step runs (DESIGN §3, "a fatal venue condition").

Ownership and lifetime: the caller opens and closes the :class:`RestClient` and owns the
:class:`WebSocketClient` (this venue runs it inside :meth:`run`; it needs the ``user``
channel subscribed). The venue outlives executor incarnations: what it has learnt about
orders (ids, which ones are working, fill debts) persists; what a run has reported does
not. Only one run delivers at a time: a new run cancels the previous one and waits for it
(the WebSocket client refuses to run twice). ``submit``, ``cancel``, ``lookup`` and
``open_orders`` may be called concurrently with a run and with each other. A cancelled run
closes the user connection (the client sends 1001). What it had not yet handed to the outbox
is not marked reported: the next run re-reports every watched order's snapshot, reads the
newest page of fills and every open fill debt again.
"""

from __future__ import annotations

import collections
import enum
import logging
from collections.abc import Hashable, Mapping, Sequence
from decimal import Decimal
from typing import Final, Generic, TypeVar

import attrs
import trio

from .channels import Outbox
from .errors import (
    CredentialsError,
    ExchangeError,
    HTTPStatusError,
    InvalidSpec,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthorized,
)
from .exchange import models
from .exchange.orders import (
    LimitFok,
    LimitGtc,
    LimitIoc,
    MarketIoc,
    OrderAccepted,
    OrderConfiguration,
    OrderRejected,
    OrderRequest,
    UnrecognizedConfiguration,
)
from .exchange.rest import RestClient
from .exchange.stream import (
    Connected,
    ConnectFailed,
    Disconnected,
    ErrorFrame,
    Frame,
    MalformedFrame,
    OutOfOrder,
    SequenceGap,
    StreamItem,
    StreamStale,
    UserOrder,
    UserOrders,
)
from .exchange.ws import WebSocketClient
from .lifecycle import (
    FULLY_FILLED_CANCEL_REASON,
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    Fill,
    Liquidity,
    OutcomeUnknown,
    Rejected,
    VenueOrderState,
)
from .order_messages import OrderType, SubmitOrder, TimeInForce
from .policy import Backoff
from .venue import (
    CancelOutcome,
    SubmitOutcome,
    VenueOrder,
    VenueRefused,
    VenueReport,
    VenueSignal,
    VenueSyncChanged,
)

__all__ = [
    "CoinbaseVenue",
    "CoinbaseVenueStatistics",
    "UserChannelState",
    "VenueUnauthorized",
    "order_request",
]

log = logging.getLogger("cjt_actors.coinbase_venue")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: How many ids, fills and snapshots the venue remembers (oldest forgotten first).
_MEMORY: Final = 10_000
#: Orders per page when scanning for a client_order_id.
_SCAN_PAGE: Final = 100
#: Order ids per filtered listing (orders that left the open listing, fills of fill debts).
#: Coinbase documents no cap for ``order_ids``; 25 ids keep the query string near 1 KB.
_IDS_PER_QUERY: Final = 25
#: Pages of recent fills one poll reads at most (a safety bound; hitting it is logged).
_MAX_FILL_PAGES: Final = 50
#: Polls in a row an order we watch may be "not found" before we stop polling it.
_MISSES_BEFORE_FORGETTING: Final = 3
_CANCEL_BATCH: Final = 100  #: order ids per batch_cancel request (Coinbase's limit)
#: What each user-channel disturbance is called in a reconciliation's trigger.
_DISTURBANCES: Final[Mapping[type, str]] = {
    SequenceGap: "sequence gap",
    OutOfOrder: "out-of-order frame",
    MalformedFrame: "malformed frame",
    ErrorFrame: "error frame",
    Disconnected: "disconnected",
    ConnectFailed: "connect failed",
    StreamStale: "stale (silent)",
}
#: Statuses after which an order never changes again.
_ENDED: Final = frozenset({"FILLED", "CANCELLED", "EXPIRED", "FAILED"})
_UNKNOWN_REASONS: Final = frozenset({"UNKNOWN_FAILURE_REASON", "UNKNOWN_PREVIEW_FAILURE_REASON"})


class VenueUnauthorized(ExchangeError, VenueRefused):
    """The exchange kept refusing this venue's key (401/403): revoked, expired or missing a
    scope. Raised out of :meth:`CoinbaseVenue.run`; retrying will not help."""


class UserChannelState(enum.Enum):
    """How far the user channel is trusted (see the module docstring)."""

    DISABLED = "disabled"  #: no user channel: polling only
    DOWN = "down"  #: not connected (yet), or reconnecting
    SETTLING = "settling"  #: connected, but not long enough since connecting or a gap
    TRUSTED = "trusted"  #: connected and clean for ``trust_after`` seconds


@attrs.frozen(kw_only=True)
class CoinbaseVenueStatistics:
    """Counts since the venue was made, and the user channel's state."""

    submits: int
    accepted: int
    rejected: int
    unknown_outcomes: int
    cancels: int
    cancels_acknowledged: int
    cancels_failed: int
    lookups: int
    polls: int
    poll_errors: int
    order_reports: int
    fills_reported: int
    skipped_fills: int  #: trade types other than FILL, or unusable numbers (logged)
    fill_debts_open: int  #: orders whose snapshot shows more filled than their fills
    fill_debts_abandoned: int  #: debts given up after ``max_fill_fetches`` polls
    auth_failures: int  #: 401/403 answers, all calls
    user_channel: UserChannelState
    user_channel_connects: int
    user_channel_reconnects: int
    user_channel_disruptions: int  #: gaps, malformed or out-of-order frames, error frames


@attrs.define
class _Counts:
    submits: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown_outcomes: int = 0
    cancels: int = 0
    cancels_acknowledged: int = 0
    cancels_failed: int = 0
    lookups: int = 0
    polls: int = 0
    poll_errors: int = 0
    order_reports: int = 0
    fills_reported: int = 0
    skipped_fills: int = 0
    fill_debts_abandoned: int = 0
    auth_failures: int = 0
    user_channel_connects: int = 0
    user_channel_disruptions: int = 0


class _Bounded(Generic[K, V]):
    """A mapping that forgets its least recently written entries beyond ``limit``."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int = _MEMORY) -> None:
        self._items: collections.OrderedDict[K, V] = collections.OrderedDict()
        self._limit = limit

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)


@attrs.define(eq=False)
class _Run:
    """What one run has reported (fresh per run, so a new executor incarnation hears it all)."""

    reports: Outbox[VenueSignal]
    wake: trio.Event = attrs.field(factory=trio.Event)
    reported: _Bounded[tuple[str, str], None] = attrs.field(factory=_Bounded)
    recent_seen: _Bounded[tuple[str, str], None] = attrs.field(factory=_Bounded)
    snapshots: _Bounded[str, tuple[str, Decimal, Decimal]] = attrs.field(factory=_Bounded)
    first_recent_poll: bool = True
    connects: int = 0
    #: Reconciliation: ``in_sync`` until a disturbance; again once a poll that began after
    #: the latest disturbance (``disturbances`` counts them) completed.
    in_sync: bool = True
    disturbances: int = 0
    trigger: str = ""
    #: One report at a time, first come first served: the user channel and the poller both
    #: report, and the executor applies each report completely before the next.
    sending: trio.Lock = attrs.field(factory=trio.Lock)

    async def send(self, client_order_id: str, event: Fill | VenueOrderState) -> None:
        async with self.sending:
            report = VenueReport(
                client_order_id=client_order_id, event=event, at=trio.current_time()
            )
            await self.reports.send(report)

    async def signal(self, reconciling: bool) -> None:
        async with self.sending:
            change = VenueSyncChanged(
                reconciling=reconciling, trigger=self.trigger, at=trio.current_time()
            )
            await self.reports.send(change)


@attrs.define(eq=False)
class _Delivery:
    """The run currently delivering: its scope (to take over) and when it ended."""

    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    finished: trio.Event = attrs.field(factory=trio.Event)


# -- requests -----------------------------------------------------------------------------------


def order_request(order: SubmitOrder) -> OrderRequest:
    """The ``POST /orders`` body for ``order``.

    LIMIT+GTC is ``limit_limit_gtc`` (with ``post_only``), LIMIT+IOC ``sor_limit_ioc``,
    LIMIT+FOK ``limit_limit_fok``, MARKET (GTC or IOC: a market order never rests) is
    ``market_market_ioc`` with ``base_size``.

    Raises:
        InvalidSpec: Coinbase has no such order: post-only with IOC/FOK or a market order,
            a market FOK, a limit order without a price, or a malformed size or price.
    """
    size, price, tif = order.size, order.limit_price, order.time_in_force
    configuration: OrderConfiguration
    if order.order_type is OrderType.MARKET:
        if order.post_only or tif is TimeInForce.FOK or price is not None:
            raise InvalidSpec(
                "a market order is sent as market_market_ioc: it takes no post_only, "
                f"fill-or-kill or limit price (post_only={order.post_only}, "
                f"time_in_force={tif.value}, limit_price={price})"
            )
        configuration = MarketIoc(base_size=size)
    elif price is None:
        raise InvalidSpec("a limit order needs a limit_price")
    elif tif is TimeInForce.GTC:
        configuration = LimitGtc(base_size=size, limit_price=price, post_only=order.post_only)
    elif order.post_only:
        raise InvalidSpec(f"Coinbase has no post-only {tif.value} limit order")
    elif tif is TimeInForce.IOC:
        configuration = LimitIoc(base_size=size, limit_price=price)
    else:
        configuration = LimitFok(base_size=size, limit_price=price)
    return OrderRequest(
        client_order_id=order.client_order_id,
        product_id=order.product_id,
        side=order.side,
        order_configuration=configuration,
    )


def _rejection_reason(rejected: OrderRejected) -> str:
    """The exchange's most specific code, then its words: ``INVALID_LIMIT_PRICE_POST_ONLY: ...``."""
    code = ""
    for candidate in (rejected.new_order_failure_reason, rejected.preview_failure_reason):
        if candidate is not None and candidate.value not in _UNKNOWN_REASONS:
            code = candidate.value
            break
    code = code or rejected.error or "UNKNOWN_FAILURE_REASON"
    detail = rejected.error_details or rejected.message
    return f"{code}: {detail}" if detail else code


# -- reading the exchange's records --------------------------------------------------------------


def _base_size(configuration: object) -> Decimal | None:
    if isinstance(configuration, UnrecognizedConfiguration) or configuration is None:
        return None
    size = getattr(configuration, "base_size", None)
    return size if isinstance(size, Decimal) else None


def _order_state(order: models.Order, *, from_lookup: bool) -> VenueOrderState:
    """A REST order as the lifecycle sees it. ``leaves_quantity`` is not on the REST order:
    it is the configured base size less the filled size while the order works, else 0."""
    status = str(order.status)
    filled = order.filled_size or Decimal(0)
    base = _base_size(order.order_configuration)
    leaves = Decimal(0)
    if base is not None and status not in _ENDED:
        leaves = max(leaves, base - filled)
    return VenueOrderState(
        status=status,
        cumulative_quantity=filled,
        leaves_quantity=leaves,
        average_price=order.average_filled_price if filled else None,
        total_fees=order.total_fees,
        order_id=order.order_id,
        from_lookup=from_lookup,
    )


def _client_order_id(client_order_id: str, order_id: str) -> str:
    """An order placed without a ``client_order_id`` (by hand, elsewhere) goes by its own id."""
    return client_order_id or order_id


def _snapshot_key(state: VenueOrderState) -> tuple[str, Decimal, Decimal]:
    return (state.status, state.cumulative_quantity, state.leaves_quantity)


_LIQUIDITY: Final = {"MAKER": Liquidity.MAKER, "TAKER": Liquidity.TAKER}


def _fill(fill: models.Fill) -> Fill:
    """A REST fill as the lifecycle's :class:`Fill` (raises InvalidSpec for unusable numbers)."""
    size = fill.size
    if fill.size_in_quote:
        if fill.price <= 0:
            raise InvalidSpec(f"fill {fill.trade_id!r}: price {fill.price} is not positive")
        size = fill.size / fill.price
    indicator = fill.liquidity_indicator
    return Fill(
        trade_id=fill.trade_id,
        price=fill.price,
        size=size,
        fee=fill.commission if fill.commission is not None else Decimal(0),
        liquidity=_LIQUIDITY.get(str(indicator), Liquidity.UNKNOWN),
        order_id=fill.order_id,
    )


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        raise InvalidSpec(f"{name}: must be a number of seconds > 0, got {value!r}")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSpec(f"{name}: must be an int >= 1, got {value!r}")
    return value


# -- the venue -----------------------------------------------------------------------------------


class CoinbaseVenue:
    """Coinbase Advanced Trade (or the simulator) as the executor's venue.

    Args:
        rest: an open REST client with credentials (the caller opens and closes it).
        user_channel: a WebSocket client subscribed to ``user`` (the venue runs it inside
            :meth:`run`), or None to rely on polling alone.
        poll_interval: seconds between polls while the user channel is trusted.
        fast_poll_interval: seconds between polls while it is not, or a fill debt is open.
        name: the venue's name in logs, metrics and the journal.
        fills_lookback: fills per page of the recent-fills poll (at most 1000 per request).
        trust_after: seconds a clean connection must last before the channel is trusted.
        lookup_depth: how many orders a lookup without a known ``order_id`` reads at most.
        auth_failure_limit: consecutive 401/403 answers after which :meth:`run` raises
            :class:`VenueUnauthorized`.
        max_fill_fetches: polls spent on one order's fill debt before giving up on it.

    Raises:
        InvalidSpec: a malformed argument, or a WebSocket client without the ``user`` channel.
    """

    def __init__(
        self,
        rest: RestClient,
        *,
        user_channel: WebSocketClient | None,
        poll_interval: float = 5.0,
        fast_poll_interval: float = 0.5,
        name: str = "coinbase",
        fills_lookback: int = 100,
        trust_after: float = 10.0,
        lookup_depth: int = 1000,
        auth_failure_limit: int = 3,
        max_fill_fetches: int = 10,
    ) -> None:
        if not isinstance(rest, RestClient):
            raise InvalidSpec(f"rest: must be a RestClient, got {type(rest).__name__}")
        if user_channel is not None and "user" not in dict(user_channel.subscriptions):
            raise InvalidSpec(f"user_channel: {user_channel!r} does not subscribe to 'user'")
        if not isinstance(name, str) or not name:
            raise InvalidSpec(f"name: must be a non-empty string, got {name!r}")
        self._rest = rest
        self._channel = user_channel
        self._poll_interval = _positive("poll_interval", poll_interval)
        self._fast_poll_interval = _positive("fast_poll_interval", fast_poll_interval)
        if self._fast_poll_interval > self._poll_interval:
            raise InvalidSpec(
                f"fast_poll_interval ({fast_poll_interval}) must not exceed "
                f"poll_interval ({poll_interval})"
            )
        self._name = name
        self._fills_lookback = min(_count("fills_lookback", fills_lookback), 1000)
        self._trust_after = _positive("trust_after", trust_after)
        self._lookup_depth = _count("lookup_depth", lookup_depth)
        self._auth_failure_limit = _count("auth_failure_limit", auth_failure_limit)
        self._max_fill_fetches = _count("max_fill_fetches", max_fill_fetches)
        self._error_backoff = Backoff(
            min=self._fast_poll_interval, max=60.0, jitter=0.0, reset_after=0.0
        )
        self._counts = _Counts()
        self._auth_failures_in_row = 0
        # What the venue has learnt about orders (kept across runs).
        self._coid_by_order: _Bounded[str, str] = _Bounded()
        self._order_by_coid: _Bounded[str, str] = _Bounded()
        self._product_by_coid: _Bounded[str, str] = _Bounded()
        self._working: dict[str, str] = {}  #: order_id -> client_order_id, not known ended
        self._fill_sizes: _Bounded[tuple[str, str], Decimal] = _Bounded()
        self._filled: _Bounded[str, Decimal] = _Bounded()  #: order_id -> sum of fills seen
        self._debts: dict[str, tuple[Decimal, int]] = {}  #: order_id -> (cumulative, polls)
        self._misses: dict[str, int] = {}  #: order_id -> 404s in a row while polled
        # The user channel and the delivering run.
        self._channel_state = (
            UserChannelState.DISABLED if user_channel is None else UserChannelState.DOWN
        )
        self._trusted_at = 0.0
        self._run: _Run | None = None
        self._delivery: _Delivery | None = None

    def __repr__(self) -> str:
        return f"<CoinbaseVenue {self._name!r} user_channel={self._channel_state.value}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def user_channel_state(self) -> UserChannelState:
        return self._channel_state

    def statistics(self) -> CoinbaseVenueStatistics:
        counts = attrs.asdict(self._counts)
        connects = self._counts.user_channel_connects
        return CoinbaseVenueStatistics(
            **counts,
            fill_debts_open=len(self._debts),
            user_channel=self._channel_state,
            user_channel_reconnects=max(0, connects - 1),
        )

    # -- requests ----------------------------------------------------------------------------

    async def submit(self, order: SubmitOrder) -> SubmitOutcome:
        """Place ``order`` under its ``client_order_id``; see the module docstring."""
        self._counts.submits += 1
        coid = order.client_order_id
        try:
            request = order_request(order)
        except InvalidSpec as error:
            await trio.lowlevel.checkpoint()
            return self._rejected(f"UNSUPPORTED_ORDER_CONFIGURATION: not sent: {error}")
        self._product_by_coid.put(coid, order.product_id)
        try:
            outcome = await self._rest.create_order(request)
        except HTTPStatusError as error:
            self._rest_failed(error)
            if isinstance(error, RateLimited) or error.status >= 500:
                # A 429 that outlived the retries placed nothing, but it is no refusal of
                # the order: the executor looks it up and re-sends it under the same id.
                return self._unknown(f"HTTP {error.status}: {error}")
            return self._rejected(f"HTTP {error.status}: {error}")
        except CredentialsError as error:
            return self._rejected(f"CREDENTIALS: not sent: {error}")
        except ExchangeError as error:  # pragma: no cover - the client answers these as values
            return self._unknown(str(error))
        if isinstance(outcome, OrderAccepted):
            self._rest_succeeded()
            self._counts.accepted += 1
            self._learn(outcome.order_id, coid, working=True)
            return Accepted(order_id=outcome.order_id)
        if isinstance(outcome, OrderRejected):
            self._rest_succeeded()
            return self._rejected(_rejection_reason(outcome))
        return self._unknown(outcome.reason)

    def _rejected(self, reason: str) -> Rejected:
        self._counts.rejected += 1
        return Rejected(reason=reason)

    def _unknown(self, reason: str) -> OutcomeUnknown:
        self._counts.unknown_outcomes += 1
        return OutcomeUnknown(reason=reason)

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        """Ask the exchange to cancel one order (looked up first if ``order_id`` is empty)."""
        self._counts.cancels += 1
        if not order_id:
            try:
                found = await self.lookup(client_order_id)
            except ExchangeError as error:
                return self._cancel_failed(f"UNKNOWN_CANCEL_FAILURE: lookup failed: {error}")
            if found is None:
                return self._cancel_failed(
                    "UNKNOWN_CANCEL_ORDER: the venue has no order with this client_order_id"
                )
            order_id = found.state.order_id
        try:
            results = await self._rest.cancel_orders([order_id])
        except ExchangeError as error:
            self._rest_failed(error)
            return self._cancel_failed(f"UNKNOWN_CANCEL_FAILURE: {error}")
        self._rest_succeeded()
        result = next((r for r in results if r.order_id == order_id), None)
        if result is None and len(results) == 1:
            result = results[0]
        return self._cancel_outcome(client_order_id, order_id, result)

    async def cancel_batch(self, orders: Sequence[tuple[str, str]]) -> tuple[CancelOutcome, ...]:
        """Cancel ``(client_order_id, order_id)`` pairs, up to ``_CANCEL_BATCH`` per request
        (Coinbase's batch limit); the REST client's token bucket paces the requests.

        Pairs without an ``order_id`` go through :meth:`cancel` (which looks the order up
        first). A request that fails is ``UNKNOWN_CANCEL_FAILURE`` for each of its orders.
        """
        outcomes: dict[int, CancelOutcome] = {}
        known = [(i, coid, oid) for i, (coid, oid) in enumerate(orders) if oid]
        for i, (coid, oid) in enumerate(orders):
            if not oid:
                outcomes[i] = await self.cancel(coid, "")
        for start in range(0, len(known), _CANCEL_BATCH):
            chunk = known[start : start + _CANCEL_BATCH]
            self._counts.cancels += len(chunk)
            try:
                results = await self._rest.cancel_orders([oid for _, _, oid in chunk])
            except ExchangeError as error:
                self._rest_failed(error)
                for i, _, _ in chunk:
                    outcomes[i] = self._cancel_failed(f"UNKNOWN_CANCEL_FAILURE: {error}")
                continue
            self._rest_succeeded()
            by_order = {r.order_id: r for r in results}
            for i, coid, oid in chunk:
                outcomes[i] = self._cancel_outcome(coid, oid, by_order.get(oid))
        return tuple(outcomes[i] for i in range(len(orders)))

    def _cancel_outcome(
        self, client_order_id: str, order_id: str, result: models.CancelResult | None
    ) -> CancelOutcome:
        if result is None:
            return self._cancel_failed(
                f"UNKNOWN_CANCEL_FAILURE: no result for order {order_id} in the answer"
            )
        self._learn(order_id, client_order_id, working=True)
        self._wake()  # with no trusted stream, the poll is what reports the outcome
        if result.success:
            self._counts.cancels_acknowledged += 1
            return CancelAcknowledged()
        reason = result.failure_reason
        if reason == models.CancelFailureReason.ORDER_IS_FULLY_FILLED:
            return self._cancel_failed(FULLY_FILLED_CANCEL_REASON)
        return self._cancel_failed(
            "UNKNOWN_CANCEL_FAILURE_REASON" if reason is None else str(reason.value)
        )

    def _cancel_failed(self, reason: str) -> CancelFailed:
        self._counts.cancels_failed += 1
        return CancelFailed(reason=reason)

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        """The exchange's record of the order with this ``client_order_id``, or None if none
        of the newest ``lookup_depth`` orders has it (see the module docstring).

        Raises:
            ExchangeError: the exchange could not be asked (after the client's retries).
        """
        self._counts.lookups += 1
        found: models.Order | None = None
        known = self._order_by_coid.get(client_order_id)
        if known is not None:
            try:
                found = await self._rest.get_order(known)
            except NotFound:
                found = None
        if found is None:
            found = await self._scan(client_order_id)
        if found is None:
            return None
        return self._venue_order(found, from_lookup=True, ours=True)

    async def _scan(self, client_order_id: str) -> models.Order | None:
        product = self._product_by_coid.get(client_order_id)
        products = (product,) if product is not None else ()
        cursor: str | None = None
        read = 0
        while read < self._lookup_depth:
            page = await self._rest.list_orders(
                product_ids=products,
                limit=min(_SCAN_PAGE, self._lookup_depth - read),
                cursor=cursor,
            )
            for order in page.orders:
                if order.client_order_id == client_order_id:
                    return order
                # Learnt on the way: recovery looks up many orders, the next one may be here.
                if order.client_order_id and order.client_order_id not in self._order_by_coid:
                    self._learn(order.order_id, order.client_order_id, working=False)
            read += len(page.orders)
            if not page.has_next or not page.cursor or not page.orders:
                break
            cursor = page.cursor
        return None

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        """Every order the exchange lists as open (``order_status=OPEN``), all pages.

        Raises:
            ExchangeError: the exchange could not be asked (after the client's retries).
        """
        listed = [order async for order in self._rest.iter_orders(order_status=("OPEN",))]
        return tuple(
            self._venue_order(order, from_lookup=True, ours=False)
            for order in listed
            if str(order.status) not in _ENDED
        )

    def _venue_order(self, order: models.Order, *, from_lookup: bool, ours: bool) -> VenueOrder:
        coid = _client_order_id(order.client_order_id, order.order_id)
        state = _order_state(order, from_lookup=from_lookup)
        ended = state.status in _ENDED
        self._learn(order.order_id, coid, working=ours and not ended)
        if ended:
            self._working.pop(order.order_id, None)
        self._note_cumulative(order.order_id, state.cumulative_quantity)
        return VenueOrder(client_order_id=coid, product_id=order.product_id, state=state)

    # -- what the venue learns ----------------------------------------------------------------

    def _learn(self, order_id: str, client_order_id: str, *, working: bool) -> None:
        self._coid_by_order.put(order_id, client_order_id)
        self._order_by_coid.put(client_order_id, order_id)
        if working:
            self._working[order_id] = client_order_id

    def _note_cumulative(self, order_id: str, cumulative: Decimal) -> None:
        """Open a fill debt if the venue says more filled than the fills seen account for."""
        if cumulative > (self._filled.get(order_id) or 0):
            _, polls = self._debts.get(order_id, (cumulative, 0))
            self._debts[order_id] = (cumulative, polls)
            self._wake()

    def _note_fill(self, order_id: str, trade_id: str, size: Decimal) -> None:
        key = (order_id, trade_id)
        if key in self._fill_sizes:
            return
        self._fill_sizes.put(key, size)
        total = (self._filled.get(order_id) or Decimal(0)) + size
        self._filled.put(order_id, total)
        debt = self._debts.get(order_id)
        if debt is not None and total >= debt[0]:
            del self._debts[order_id]

    def _rest_succeeded(self) -> None:
        self._auth_failures_in_row = 0

    def _rest_failed(self, error: ExchangeError) -> None:
        if isinstance(error, Unauthorized | PermissionDenied):
            self._counts.auth_failures += 1
            self._auth_failures_in_row += 1

    def _wake(self) -> None:
        if self._run is not None:
            self._run.wake.set()

    # -- reports --------------------------------------------------------------------------------

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Push order snapshots and fills into ``reports`` until cancelled.

        Ready at once (the user channel connects in the background; until it is trusted,
        polling runs fast). Raises :class:`VenueUnauthorized` (see the module docstring), or
        whatever ``reports.send`` raises.
        """
        while self._delivery is not None:
            previous = self._delivery
            previous.scope.cancel(reason="a newer CoinbaseVenue.run took over")
            await previous.finished.wait()
        delivery = self._delivery = _Delivery()
        run = self._run = _Run(reports=reports)
        try:
            with delivery.scope:
                async with trio.open_nursery() as nursery:
                    if self._channel is not None:
                        self._channel_state = UserChannelState.DOWN

                        async def on_item(item: StreamItem) -> None:
                            await self._on_user_item(run, item)

                        nursery.start_soon(self._channel.run, on_item)
                    nursery.start_soon(self._poll_loop, run)
                    task_status.started()
        finally:
            if self._channel is not None:
                self._channel_state = UserChannelState.DOWN
            self._run = None
            self._delivery = None
            delivery.finished.set()

    # the user channel

    async def _on_user_item(self, run: _Run, item: StreamItem) -> None:
        now = trio.current_time()
        match item:
            case Frame(payload=UserOrders(events=events)):
                for event in events:
                    for order in event.orders:
                        await self._report_user_order(run, order)
            case Connected():
                self._counts.user_channel_connects += 1
                run.connects += 1
                self._settle(now)
                if run.connects > 1:
                    await self._disturbed(run, "user channel reconnected")
            case SequenceGap() | OutOfOrder() | MalformedFrame() | ErrorFrame():
                # Only ever within a connection: distrusted until it has been clean a while.
                self._counts.user_channel_disruptions += 1
                self._settle(now)
                await self._disturbed(run, f"user channel: {_DISTURBANCES[type(item)]}")
            case Disconnected() | ConnectFailed() | StreamStale():
                was_up = self._channel_state is not UserChannelState.DOWN
                self._channel_state = UserChannelState.DOWN
                self._wake()
                if was_up:
                    await self._disturbed(run, f"user channel: {_DISTURBANCES[type(item)]}")
            case _:
                pass  # heartbeats, subscription confirmations, unknown channels

    async def _disturbed(self, run: _Run, trigger: str) -> None:
        """The reports may have missed something: reconciling until a poll catches up."""
        run.disturbances += 1
        run.trigger = trigger
        self._wake()
        if run.in_sync:
            run.in_sync = False
            await run.signal(True)

    def _settle(self, now: float) -> None:
        """Connected, or disturbed while connected: trusted again after ``trust_after``."""
        self._channel_state = UserChannelState.SETTLING
        self._trusted_at = now + self._trust_after
        self._wake()

    async def _report_user_order(self, run: _Run, order: UserOrder) -> None:
        coid = _client_order_id(order.client_order_id, order.order_id)
        state = VenueOrderState.from_snapshot(order)
        self._coid_by_order.put(order.order_id, coid)
        self._order_by_coid.put(coid, order.order_id)
        if state.status in _ENDED:
            self._working.pop(order.order_id, None)
        self._note_cumulative(order.order_id, state.cumulative_quantity)
        run.snapshots.put(order.order_id, _snapshot_key(state))
        await run.send(coid, state)
        self._counts.order_reports += 1

    # polling

    def _interval(self) -> float:
        settling = self._channel_state is UserChannelState.SETTLING
        if settling and trio.current_time() >= self._trusted_at:
            self._channel_state = UserChannelState.TRUSTED
        if self._channel_state is UserChannelState.TRUSTED and not self._debts:
            return self._poll_interval
        return self._fast_poll_interval

    async def _poll_loop(self, run: _Run) -> None:
        failures = 0
        while True:
            run.wake = trio.Event()
            disturbances = run.disturbances
            try:
                await self._poll(run)
            except ExchangeError as error:
                failures += 1
                self._counts.poll_errors += 1
                self._rest_failed(error)
                if self._auth_failures_in_row >= self._auth_failure_limit:
                    raise VenueUnauthorized(
                        f"venue {self._name!r}: the exchange refused the key "
                        f"{self._auth_failures_in_row} times in a row ({error}); "
                        "check that the key exists, is not revoked and may view and trade"
                    ) from error
                delay = self._error_backoff.delay(failures - 1, 0.0)
                log.warning("venue %r: poll failed (%s); next in %.2f s", self._name, error, delay)
                await trio.sleep(delay)
                continue
            failures = 0
            self._rest_succeeded()
            if not run.in_sync and run.disturbances == disturbances:
                run.in_sync = True
                await run.signal(False)
            with trio.move_on_after(self._interval()):
                await run.wake.wait()

    async def settle(self, reports: Outbox[VenueSignal]) -> None:
        """One more poll after :meth:`run` stopped (the emergency step): every order still
        watched, every open fill debt, the newest fills, reported into ``reports``
        (:class:`~cjt_actors.venue.FillSettling`)."""
        await self._poll(_Run(reports=reports))

    async def _poll(self, run: _Run) -> None:
        self._counts.polls += 1
        await self._poll_orders(run)
        await self._poll_debts(run)
        await self._poll_recent_fills(run)

    async def _poll_orders(self, run: _Run) -> None:
        if not self._working:
            return
        watched = list(self._working)
        listed = {o.order_id: o async for o in self._rest.iter_orders(order_status=("OPEN",))}
        missing = [order_id for order_id in watched if order_id not in listed]
        # Read a batch when its first order is reached, not all up front: a snapshot is then
        # no older when reported than one read by itself just before would be, give or take
        # the rest of its batch.
        batches = (
            missing[start : start + _IDS_PER_QUERY]
            for start in range(0, len(missing), _IDS_PER_QUERY)
        )
        read: dict[str, models.Order | None] = {}
        for order_id in watched:
            order = listed.get(order_id)
            if order is None:
                if order_id not in read:
                    read.update(await self._read_orders(next(batches)))
                order = read[order_id]
                if order is None:
                    self._missed(order_id)
                    continue
            self._misses.pop(order_id, None)
            await self._report_order(run, order)

    async def _read_orders(self, order_ids: Sequence[str]) -> dict[str, models.Order | None]:
        """Each order of ``order_ids`` as the exchange has it, None for one it answers 404 for.

        One page of the listing filtered by ``order_ids``, sized to hold them all; then
        ``get_order`` for any it left out, so an order is never judged gone on the listing's
        word alone, and an exchange that served the page unfiltered costs one request, not a
        walk through the account's history.
        """
        wanted = set(order_ids)
        read: dict[str, models.Order | None] = {}
        page = await self._rest.list_orders(order_ids=order_ids, limit=len(order_ids))
        for order in page.orders:
            if order.order_id in wanted:
                read[order.order_id] = order
        for order_id in order_ids:
            if order_id not in read:
                try:
                    read[order_id] = await self._rest.get_order(order_id)
                except NotFound:
                    read[order_id] = None
        return {order_id: read[order_id] for order_id in order_ids}

    def _missed(self, order_id: str) -> None:
        """An order we watch answers 404: give up on it only after a few polls in a row
        (an exchange may not serve an order it has just taken on every node at once)."""
        misses = self._misses.get(order_id, 0) + 1
        if misses < _MISSES_BEFORE_FORGETTING:
            self._misses[order_id] = misses
            return
        del self._misses[order_id]
        self._working.pop(order_id, None)
        log.warning(
            "venue %r: order %s was not found %d polls in a row; it is not polled any more",
            self._name,
            order_id,
            misses,
        )

    async def _report_order(self, run: _Run, order: models.Order) -> None:
        coid = self._working.get(order.order_id) or _client_order_id(
            order.client_order_id, order.order_id
        )
        state = _order_state(order, from_lookup=False)
        if state.status in _ENDED:
            self._working.pop(order.order_id, None)
        self._note_cumulative(order.order_id, state.cumulative_quantity)
        key = _snapshot_key(state)
        if run.snapshots.get(order.order_id) == key:
            return
        await run.send(coid, state)
        run.snapshots.put(order.order_id, key)
        self._counts.order_reports += 1

    async def _poll_debts(self, run: _Run) -> None:
        owed = list(self._debts)
        for start in range(0, len(owed), _IDS_PER_QUERY):
            batch = owed[start : start + _IDS_PER_QUERY]
            fills = [f async for f in self._rest.iter_fills(order_ids=batch)]
            for fill in reversed(fills):
                await self._report_fill(run, fill)
            for order_id in batch:
                debt = self._debts.get(order_id)
                if debt is None:
                    continue
                cumulative, polls = debt
                if polls + 1 < self._max_fill_fetches:
                    self._debts[order_id] = (cumulative, polls + 1)
                    continue
                del self._debts[order_id]
                self._counts.fill_debts_abandoned += 1
                log.warning(
                    "venue %r: order %s shows %s filled but its fills add up to %s after %d "
                    "polls; giving up on the difference",
                    self._name,
                    order_id,
                    cumulative,
                    self._filled.get(order_id) or 0,
                    polls + 1,
                )

    async def _poll_recent_fills(self, run: _Run) -> None:
        cursor: str | None = None
        fills: list[models.Fill] = []
        for _ in range(_MAX_FILL_PAGES):
            page = await self._rest.list_fills(limit=self._fills_lookback, cursor=cursor)
            fills.extend(page.fills)
            seen = any((f.order_id, f.trade_id) in run.recent_seen for f in page.fills)
            if seen or run.first_recent_poll or not page.cursor or not page.fills:
                break
            cursor = page.cursor
        else:
            log.warning(
                "venue %r: more than %d pages of new fills in one poll; older ones are left "
                "to the fill debts of their orders",
                self._name,
                _MAX_FILL_PAGES,
            )
        run.first_recent_poll = False
        # Oldest first; a fill counts as seen by this poll only once it is reported, so a
        # poll that fails half-way is read again down to where it stopped.
        for fill in reversed(fills):
            await self._report_fill(run, fill)
            run.recent_seen.put((fill.order_id, fill.trade_id), None)

    async def _report_fill(self, run: _Run, raw: models.Fill) -> None:
        """Report a fill unless this run already did (an unusable one is only counted)."""
        key = (raw.order_id, raw.trade_id)
        if key in run.reported:
            return
        fill = self._usable(raw)
        if fill is not None:
            coid = await self._owner(raw.order_id)
            await run.send(coid, fill)
            self._counts.fills_reported += 1
            self._note_fill(raw.order_id, raw.trade_id, fill.size)
        run.reported.put(key, None)

    def _usable(self, raw: models.Fill) -> Fill | None:
        trade_type = raw.trade_type
        problem = ""
        fill: Fill | None = None
        if trade_type is not None and trade_type != models.TradeType.FILL:
            problem = f"trade_type {trade_type.value} cannot be applied to an order"
        else:
            try:
                fill = _fill(raw)
            except InvalidSpec as error:
                problem = str(error)
        if fill is None:
            self._counts.skipped_fills += 1
            log.warning(
                "venue %r: fill %s of order %s not reported: %s",
                self._name,
                raw.trade_id,
                raw.order_id,
                problem,
            )
        return fill

    async def _owner(self, order_id: str) -> str:
        """The ``client_order_id`` of a fill's order (read from the exchange if not known)."""
        coid = self._coid_by_order.get(order_id)
        if coid is not None:
            return coid
        try:
            order = await self._rest.get_order(order_id)
        except NotFound:
            coid = order_id
        else:
            coid = _client_order_id(order.client_order_id, order_id)
        self._coid_by_order.put(order_id, coid)
        return coid
