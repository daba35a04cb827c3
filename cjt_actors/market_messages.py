"""Market-data messages: what the feed tells the book, and what the book tells everyone else.

Why these shapes (DESIGN §2, "Channels and backpressure"):

* **One message per frame, never per level.** A trio memory-channel hop costs microseconds
  (``reference/perf-limits.md``); an ``l2_data`` frame may carry hundreds of levels. The
  feed forwards a frame's decoded events whole (:class:`L2FrameReceived`,
  :class:`TradesReceived`), ``l2_data`` already in integer ticks
  (:class:`~cjt_actors.exchange.l2ticks.L2TickDecoder`): the book only applies them.
* **Conflated views.** Strategy and risk want the *latest* picture of a product, not every
  intermediate one: :class:`BookUpdated` carries an immutable
  :class:`~cjt_actors.orderbook.BookView` and travels through a
  :class:`~cjt_actors.channels.ConflatingMailbox` keyed by product, so a slow consumer sees
  fewer, newer views and never a backlog.
* **Status as events.** Connection changes are facts (:class:`FeedStatusChanged`) that the
  book (distrust on reconnect or gap) and risk (feed down) act on. The book's own trust
  changes are facts too (:class:`BookTrustChanged`), journaled so a run's record says when
  and why a book could not be traded on.

Times: ``at`` and ``received_at`` are trio's clock (:func:`trio.current_time`).
"""

from __future__ import annotations

import enum

import attrs

from .bars import Bar
from .exchange.l2ticks import L2TickEvent
from .exchange.stream import Trade
from .messages import Event, register
from .orderbook import BookView

__all__ = [
    "BarClosed",
    "BookTrustChanged",
    "BookUpdated",
    "FeedState",
    "FeedStatusChanged",
    "L2FrameReceived",
    "TradesReceived",
]


class FeedState(enum.Enum):
    """Where the market-data connection stands."""

    CONNECTING = "connecting"  #: the first connection attempt is under way
    CONNECTED = "connected"  #: subscribed; frames are flowing
    RECONNECTING = "reconnecting"  #: the connection ended (or never came up); retrying
    GAP = "gap"  #: a sequence number was skipped: some frames were lost
    STALE = "stale"  #: nothing arrived for too long; the connection is being replaced


@register
@attrs.frozen(kw_only=True)
class FeedStatusChanged(Event):
    """The market-data connection changed state.

    ``detail`` says why in words (a close code, an error frame's text, the expected and
    received sequence numbers); ``attempt`` counts connection attempts since the last
    stable connection (0 while connected).
    """

    state: FeedState
    detail: str
    attempt: int
    at: float


@register
@attrs.frozen(kw_only=True)
class L2FrameReceived(Event):
    """One ``l2_data`` frame: every event in it (snapshots and updates), in wire order, each
    level in the product's ticks and size units."""

    sequence_num: int
    received_at: float
    events: tuple[L2TickEvent, ...]


@register
@attrs.frozen(kw_only=True)
class TradesReceived(Event):
    """One ``market_trades`` frame's trades, in wire order (snapshot trades included)."""

    sequence_num: int
    received_at: float
    snapshot: bool
    trades: tuple[Trade, ...]


@register
@attrs.frozen(kw_only=True)
class BookUpdated(Event):
    """The latest view of one product's book (conflated: intermediate views may be skipped)."""

    view: BookView


@register
@attrs.frozen(kw_only=True)
class BookTrustChanged(Event):
    """One product's book became trusted, stopped being trusted, or is untrusted anew.

    Sent by the book actor only when ``(trusted, reason)`` changes, never per frame.
    ``reason`` is why, as a constant a scenario can compare: ``"SNAPSHOT"`` when it becomes
    trusted; when it is not, the :class:`~cjt_actors.orderbook.TrustReason` name (``"GAP"``,
    ``"RECONNECT"``, ``"STALE"``, ``"MALFORMED"``, ``"CROSSED"``), or ``"EMPTY"`` for the
    empty books a starting book actor has before any snapshot. ``at`` is trio's clock.
    """

    product_id: str
    trusted: bool
    reason: str
    at: float


@register
@attrs.frozen(kw_only=True)
class BarClosed(Event):
    """An OHLCV bar of ``product_id`` completed (bars with no trades are not emitted)."""

    product_id: str
    bar: Bar
    at: float
