"""Coinbase Advanced Trade WebSocket frames as typed, frozen values, and the items a stream yields.

Why a module of its own: the connection loop (:mod:`.ws`) should only move bytes, count and
reconnect; everything that knows what a frame *means* lives here, where it can be tested and
property-tested without a socket. The wire format is ``reference/coinbase-api.md`` §4.

Three layers:

* :func:`parse_envelope` parses one text frame (``orjson.loads``, once) and checks the
  envelope every data frame carries (``channel``, ``sequence_num``, ``timestamp``,
  ``events``); an ``{"type": "error", ...}`` frame becomes an :class:`ErrorFrame`.
* :func:`decode_payload` turns the ``events`` of a known channel into a typed payload
  (:class:`Heartbeats`, :class:`L2Data`, :class:`MarketTrades`, :class:`Tickers`,
  :class:`UserOrders`, :class:`Subscriptions`). Money and sizes become ``Decimal``.
* The items :class:`~cjt_actors.exchange.ws.WebSocketClient` hands to its consumer: one
  :class:`Frame` per data frame, and status items (:class:`Connected`,
  :class:`SequenceGap`, :class:`MalformedFrame`...). :data:`StreamItem` is their union.

Anything malformed (not JSON, not an object, a missing key, a wrong type, a bad decimal)
raises :class:`FrameDecodeError`, whose message names the place and the problem, e.g.
``l2_data.events[0].updates[3].price_level: 'abc' is not a decimal``. Nothing else escapes a
decoder: no ``KeyError``, ``TypeError`` or ``decimal.InvalidOperation`` (property-tested).

Speed: ``l2_data`` is the hot channel (a BTC-USD snapshot has thousands of levels), so its
levels are plain tuples ``(side, price, new_quantity, event_time)`` built in one tight loop;
only when that loop fails does a second, careful pass find and name the bad level. One attrs
value per frame and per event, never per price level.

Decimals are checked to be finite and below 10**30 in magnitude: Coinbase never sends more,
and a value like ``1e999999999`` would pass ``Decimal()`` only to overflow later, inside
whichever actor first did arithmetic with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs
import orjson

from ..errors import DecodeError

if TYPE_CHECKING:
    from .l2ticks import L2TickData

__all__ = [
    "ARRIVAL_CHANNELS",
    "DECODED_CHANNELS",
    "ConnectFailed",
    "Connected",
    "Disconnected",
    "Envelope",
    "ErrorFrame",
    "EventType",
    "Frame",
    "FrameDecodeError",
    "FramePayload",
    "HeartbeatEvent",
    "Heartbeats",
    "L2Data",
    "L2Event",
    "L2Level",
    "MalformedFrame",
    "MarketTrades",
    "OutOfOrder",
    "Payload",
    "SequenceGap",
    "StatusItem",
    "StreamItem",
    "StreamStale",
    "StreamStatistics",
    "Subscribed",
    "Subscriptions",
    "Ticker",
    "TickerEvent",
    "Tickers",
    "Trade",
    "TradesEvent",
    "UnknownChannel",
    "UserEvent",
    "UserOrder",
    "UserOrders",
    "arrival_channel",
    "decode_frame",
    "decode_payload",
    "excerpt",
    "parse_envelope",
]

EventType: TypeAlias = Literal["snapshot", "update"]
BookSide: TypeAlias = Literal["bid", "offer"]
OrderSide: TypeAlias = Literal["BUY", "SELL"]

#: One price level of an ``l2_data`` event: ``(side, price_level, new_quantity, event_time)``.
#: ``new_quantity`` is the new absolute size at that price (not a delta); 0 removes the level.
L2Level: TypeAlias = tuple[BookSide, Decimal, Decimal, str]

#: Subscribe name -> the ``channel`` its frames arrive with (only ``level2`` differs).
ARRIVAL_CHANNELS: Final[Mapping[str, str]] = {"level2": "l2_data"}

_LIMIT: Final = Decimal("1e30")
_NEGATIVE_LIMIT: Final = -_LIMIT
_ZERO: Final = Decimal(0)
_EXCERPT_LENGTH: Final = 120
_SHOW_LENGTH: Final = 40


def arrival_channel(subscribe_name: str) -> str:
    """The ``channel`` frames of a subscription arrive with: ``level2`` -> ``l2_data``."""
    return ARRIVAL_CHANNELS.get(subscribe_name, subscribe_name)


class FrameDecodeError(DecodeError):
    """A WebSocket frame could not be decoded.

    Attributes:
        where: the field path (``frame``, ``l2_data.events[0].updates[3].price_level``...).
        problem: what was wrong there; quotes at most a short excerpt of the value.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


# -- payloads ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class HeartbeatEvent:
    """One heartbeat: the server's clock text as sent, and its counter (+1 per second)."""

    current_time: str
    heartbeat_counter: int


@attrs.frozen(kw_only=True)
class Heartbeats:
    """A ``heartbeats`` frame. A jump in ``heartbeat_counter`` reveals missed heartbeats."""

    events: tuple[HeartbeatEvent, ...]


@attrs.frozen(kw_only=True)
class L2Event:
    """Level-2 changes for one product. A ``snapshot`` is the whole book: replace, not merge."""

    type: EventType
    product_id: str
    updates: tuple[L2Level, ...]


@attrs.frozen(kw_only=True)
class L2Data:
    """An ``l2_data`` frame (subscribed as ``level2``)."""

    events: tuple[L2Event, ...]


@attrs.frozen(kw_only=True)
class Trade:
    """One public trade. ``maker_side`` is the side of the resting (maker) order: a trade
    with ``maker_side == "SELL"`` was a buyer lifting an offer (Coinbase's ``side`` field)."""

    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    maker_side: OrderSide
    time: str


@attrs.frozen(kw_only=True)
class TradesEvent:
    """Trades of one ``market_trades`` event (a snapshot holds the recent trades)."""

    type: EventType
    trades: tuple[Trade, ...]


@attrs.frozen(kw_only=True)
class MarketTrades:
    """A ``market_trades`` frame."""

    events: tuple[TradesEvent, ...]


@attrs.frozen(kw_only=True)
class Ticker:
    """One product's ticker. Only ``product_id`` and ``price`` are required; statistics the
    frame leaves out (``ticker_batch`` has no best bid/ask) are ``None``."""

    product_id: str
    price: Decimal
    volume_24_h: Decimal | None = None
    low_24_h: Decimal | None = None
    high_24_h: Decimal | None = None
    low_52_w: Decimal | None = None
    high_52_w: Decimal | None = None
    price_percent_chg_24_h: Decimal | None = None
    best_bid: Decimal | None = None
    best_bid_quantity: Decimal | None = None
    best_ask: Decimal | None = None
    best_ask_quantity: Decimal | None = None


@attrs.frozen(kw_only=True)
class TickerEvent:
    """Tickers of one ``ticker`` / ``ticker_batch`` event."""

    type: EventType
    tickers: tuple[Ticker, ...]


@attrs.frozen(kw_only=True)
class Tickers:
    """A ``ticker`` or ``ticker_batch`` frame."""

    events: tuple[TickerEvent, ...]


@attrs.frozen(kw_only=True)
class UserOrder:
    """The full current state of one of the user's orders (``reference`` §4.4), not a delta.

    Required: ``order_id``, ``product_id``, ``order_side``, ``status``,
    ``cumulative_quantity``, ``leaves_quantity``. Other amounts are ``None`` when absent or
    ``""`` (a market order has no ``limit_price``); other texts default to ``""``.
    """

    order_id: str
    client_order_id: str
    product_id: str
    order_side: OrderSide
    status: str
    cumulative_quantity: Decimal
    leaves_quantity: Decimal
    order_type: str = ""
    product_type: str = ""
    time_in_force: str = ""
    post_only: bool = False
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    avg_price: Decimal | None = None
    filled_value: Decimal | None = None
    total_fees: Decimal | None = None
    total_value_after_fees: Decimal | None = None
    number_of_fills: int | None = None
    completion_percentage: Decimal | None = None
    outstanding_hold_amount: Decimal | None = None
    cancel_reason: str = ""
    reject_reason: str = ""
    trigger_status: str = ""
    retail_portfolio_id: str = ""
    risk_managed_by: str = ""
    contract_expiry_type: str = ""
    creation_time: str = ""
    start_time: str = ""
    end_time: str = ""


@attrs.frozen(kw_only=True)
class UserEvent:
    """One ``user`` event. The open-order snapshot arrives in batches (50 orders each), as
    several ``snapshot`` events or frames; futures ``positions`` are not decoded."""

    type: EventType
    orders: tuple[UserOrder, ...]


@attrs.frozen(kw_only=True)
class UserOrders:
    """A ``user`` frame."""

    events: tuple[UserEvent, ...]


@attrs.frozen(kw_only=True)
class Subscriptions:
    """The server's ``subscriptions`` confirmation: (subscribe name, product ids) pairs, in
    the order sent. Arrives after every subscribe and unsubscribe."""

    channels: tuple[tuple[str, tuple[str, ...]], ...]


Payload: TypeAlias = Heartbeats | L2Data | MarketTrades | Tickers | UserOrders | Subscriptions
#: What a :class:`Frame` may carry: a payload, or ``l2_data`` in ticks when the client was
#: given :class:`~.l2ticks.L2TickDecoder` for it.
FramePayload: TypeAlias = "Payload | L2TickData"


# -- stream items -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Frame:
    """One decoded data frame.

    Attributes:
        channel: as it arrived (``l2_data`` for a ``level2`` subscription).
        sequence_num: the connection's frame counter.
        timestamp: the exchange's timestamp, as sent (RFC 3339, nanoseconds).
        received_at: trio's clock when the frame was read (:func:`trio.current_time`).
        payload: the decoded events.
    """

    channel: str
    sequence_num: int
    timestamp: str
    received_at: float
    payload: FramePayload


@attrs.frozen(kw_only=True)
class Connected:
    """A connection is open and every subscribe message has been sent on it.

    ``attempt`` is how many attempts in a row failed before this one (0: the first try).
    Sequence numbers start afresh on every connection.
    """

    url: str
    attempt: int


@attrs.frozen(kw_only=True)
class Subscribed:
    """Subscribe messages went out. ``channels`` are the names frames will *arrive* with
    (``l2_data``, not ``level2``), so they match :attr:`Frame.channel`."""

    channels: tuple[str, ...]


@attrs.frozen(kw_only=True)
class SequenceGap:
    """``sequence_num`` jumped forward: ``received - expected`` frames were lost.

    The counter is per connection, so the lost frames may belong to *any* channel of the
    connection; ``channel`` is only where the jump showed. A book must re-sync; a user-order
    view must reconcile over REST. The frame that showed the gap is delivered after this.
    """

    expected: int
    received: int
    channel: str


@attrs.frozen(kw_only=True)
class OutOfOrder:
    """A frame whose ``sequence_num`` is not above the last one (late or duplicate): it was
    dropped. ``count`` is the total dropped so far."""

    expected: int
    received: int
    channel: str
    count: int


@attrs.frozen(kw_only=True)
class StreamStale:
    """No frame for ``silent_for`` seconds (heartbeats come every second): the connection is
    presumed dead and is closed; a reconnect follows."""

    silent_for: float


@attrs.frozen(kw_only=True)
class Disconnected:
    """A connection ended. ``code`` is the WebSocket close code when the connection was closed
    or dropped (1006: no close frame), ``None`` when this client closed it (stale stream,
    error frame, reconnect request). The next attempt starts in ``retry_in`` seconds."""

    reason: str
    code: int | None
    retry_in: float


@attrs.frozen(kw_only=True)
class ConnectFailed:
    """A connection attempt failed (refused, TLS or handshake error, timeout)."""

    url: str
    attempt: int
    reason: str
    retry_in: float


@attrs.frozen(kw_only=True)
class ErrorFrame:
    """The server sent ``{"type": "error", "message": ...}`` (bad JWT, wrong key type, unknown
    channel name). The client closes the connection and reconnects with backoff; deciding to
    give up (say, after repeated authentication failures) is the consumer's call."""

    message: str


@attrs.frozen(kw_only=True)
class MalformedFrame:
    """A frame that could not be decoded was skipped.

    ``reason`` says what and where; ``excerpt`` is a short single-line start of the frame;
    ``channel`` is set when the envelope was readable (then its data is lost: for ``l2_data``
    or ``user`` treat it like a gap); ``count`` is the total skipped so far.
    """

    reason: str
    excerpt: str
    count: int
    channel: str | None = None


@attrs.frozen(kw_only=True)
class UnknownChannel:
    """Frames arrived on a channel this client does not decode; they are ignored. Reported the
    first time and then every so many frames; ``count`` is the total for that name."""

    name: str
    count: int


StatusItem: TypeAlias = (
    Connected
    | Subscribed
    | SequenceGap
    | OutOfOrder
    | StreamStale
    | Disconnected
    | ConnectFailed
    | ErrorFrame
    | MalformedFrame
    | UnknownChannel
)
StreamItem: TypeAlias = Frame | StatusItem


@attrs.frozen(kw_only=True)
class StreamStatistics:
    """Counters since the client was created (for metrics and health checks)."""

    frames: int = 0
    connections: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    stale: int = 0
    gaps: int = 0
    out_of_order: int = 0
    malformed: int = 0
    error_frames: int = 0
    unknown: tuple[tuple[str, int], ...] = ()


# -- the envelope -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Envelope:
    """A parsed data frame whose ``events`` are not decoded yet (see :func:`decode_payload`)."""

    channel: str
    sequence_num: int
    timestamp: str
    events: list[Any]


def excerpt(raw: str | bytes, limit: int = _EXCERPT_LENGTH) -> str:
    """The start of a frame on one line (whitespace runs collapsed), at most ``limit`` chars."""
    text = (
        raw[: limit * 4].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[: limit * 4]
    )
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _show(value: object) -> str:
    """A value for an error message: its repr, short and on one line."""
    text = repr(value)
    return text if len(text) <= _SHOW_LENGTH else text[: _SHOW_LENGTH - 1] + "…"


def _kind(value: object) -> str:
    """The JSON kind of a parsed value, for "expected X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({_show(value)})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, list):
        return "a list"
    return "an object"


def parse_envelope(raw: str | bytes) -> Envelope | ErrorFrame:
    """Parse one text frame: a data frame's envelope, or the server's error message.

    Raises:
        FrameDecodeError: not JSON, not an object, or an envelope key missing or mistyped.
    """
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameDecodeError("frame", "not JSON") from None
    if type(document) is not dict:
        raise FrameDecodeError("frame", f"expected a JSON object, got {_kind(document)}")
    if "channel" not in document:
        kind = document.get("type")
        if kind == "error":
            message = document.get("message")
            return ErrorFrame(
                message=message if type(message) is str else excerpt(orjson.dumps(document))
            )
        if kind is not None:
            raise FrameDecodeError(
                "frame", f"no 'channel', and message type {_show(kind)} is unknown"
            )
        raise FrameDecodeError("frame", "missing key 'channel'")
    channel = document["channel"]
    if type(channel) is not str:
        raise FrameDecodeError("frame.channel", f"expected a string, got {_kind(channel)}")
    sequence_num = _field(document, "sequence_num", "frame")
    if type(sequence_num) is not int or sequence_num < 0:
        raise FrameDecodeError(
            "frame.sequence_num", f"expected a non-negative integer, got {_kind(sequence_num)}"
        )
    timestamp = _field(document, "timestamp", "frame")
    if type(timestamp) is not str:
        raise FrameDecodeError("frame.timestamp", f"expected a string, got {_kind(timestamp)}")
    events = _field(document, "events", "frame")
    if type(events) is not list:
        raise FrameDecodeError("frame.events", f"expected a list, got {_kind(events)}")
    return Envelope(channel=channel, sequence_num=sequence_num, timestamp=timestamp, events=events)


def decode_payload(envelope: Envelope) -> Payload | None:
    """Decode the events of a known channel; ``None`` for a channel without a decoder.

    Raises:
        FrameDecodeError: an event does not have the channel's shape.
    """
    decoder = _DECODERS.get(envelope.channel)
    if decoder is None:
        return None
    return decoder(envelope.events, envelope.channel)


def decode_frame(raw: str | bytes, *, received_at: float) -> Frame | ErrorFrame | None:
    """Parse and decode one frame in one go (``None``: a channel without a decoder).

    The client uses :func:`parse_envelope` and :func:`decode_payload` separately, so it can
    track sequence numbers of frames it does not decode; this is for tests and tools.

    Raises:
        FrameDecodeError: the frame is malformed.
    """
    parsed = parse_envelope(raw)
    if isinstance(parsed, ErrorFrame):
        return parsed
    payload = decode_payload(parsed)
    if payload is None:
        return None
    return Frame(
        channel=parsed.channel,
        sequence_num=parsed.sequence_num,
        timestamp=parsed.timestamp,
        received_at=received_at,
        payload=payload,
    )


# -- field helpers --------------------------------------------------------------------------------


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise FrameDecodeError(where, f"missing key {key!r}") from None


def _object(value: object, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise FrameDecodeError(where, f"expected an object, got {_kind(value)}")
    return value


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = _field(obj, key, where)
    if type(value) is not list:
        raise FrameDecodeError(f"{where}.{key}", f"expected a list, got {_kind(value)}")
    return value


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = _field(obj, key, where)
    if type(value) is not str:
        raise FrameDecodeError(f"{where}.{key}", f"expected a string, got {_kind(value)}")
    return value


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise FrameDecodeError(f"{where}.{key}", f"expected a string, got {_kind(value)}")
    return value


def _to_decimal(value: object, where: str) -> Decimal:
    """A finite decimal below 10**30 in magnitude, from a JSON string (the wire's only form)."""
    if type(value) is not str:
        raise FrameDecodeError(where, f"expected a decimal string, got {_kind(value)}")
    try:
        number = Decimal(value)
        if _NEGATIVE_LIMIT < number < _LIMIT:
            return number
    except ArithmeticError:  # InvalidOperation: not a number, or a NaN compared
        pass
    raise FrameDecodeError(where, f"{_show(value)} is not a decimal")


def _decimal(obj: dict[str, Any], key: str, where: str) -> Decimal:
    return _to_decimal(_field(obj, key, where), f"{where}.{key}")


def _positive(obj: dict[str, Any], key: str, where: str) -> Decimal:
    number = _decimal(obj, key, where)
    if number <= 0:
        raise FrameDecodeError(f"{where}.{key}", f"{_show(obj[key])} is not positive")
    return number


def _optional_decimal(obj: dict[str, Any], key: str, where: str) -> Decimal | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    return _to_decimal(value, f"{where}.{key}")


def _count(value: object, where: str) -> int:
    """A non-negative integer, sent as a JSON number or as a string of digits."""
    if type(value) is int and value >= 0:
        return value
    if type(value) is str and 0 < len(value) <= 19 and value.isascii() and value.isdigit():
        return int(value)
    raise FrameDecodeError(where, f"expected a non-negative integer, got {_kind(value)}")


def _event_type(obj: dict[str, Any], where: str) -> EventType:
    value = _field(obj, "type", where)
    if value == "snapshot":
        return "snapshot"
    if value == "update":
        return "update"
    raise FrameDecodeError(f"{where}.type", f"expected 'snapshot' or 'update', got {_kind(value)}")


def _order_side(obj: dict[str, Any], key: str, where: str) -> OrderSide:
    value = _field(obj, key, where)
    if value == "BUY":
        return "BUY"
    if value == "SELL":
        return "SELL"
    raise FrameDecodeError(f"{where}.{key}", f"expected 'BUY' or 'SELL', got {_kind(value)}")


def _events(events: list[Any], channel: str) -> list[tuple[str, dict[str, Any]]]:
    """Each event as (its path, the object), or an error naming the first that is not one."""
    paths = []
    for index, event in enumerate(events):
        where = f"{channel}.events[{index}]"
        paths.append((where, _object(event, where)))
    return paths


# -- per-channel decoders ---------------------------------------------------------------------------


def _heartbeats(events: list[Any], channel: str) -> Heartbeats:
    return Heartbeats(
        events=tuple(
            HeartbeatEvent(
                current_time=_str(event, "current_time", where),
                heartbeat_counter=_count(
                    _field(event, "heartbeat_counter", where), f"{where}.heartbeat_counter"
                ),
            )
            for where, event in _events(events, channel)
        )
    )


class _BadLevel(Exception):
    """Internal: the fast l2 loop met something it will let the careful pass explain."""


def _l2_levels(raw: list[Any], where: Callable[[], str]) -> tuple[L2Level, ...]:
    """All levels of one event, fast; on any problem, the careful pass names it.

    ``where`` builds the path of the list only when it is needed: for an error message.
    """
    levels: list[L2Level] = []
    append = levels.append
    try:
        for update in raw:
            side = update["side"]
            price_text = update["price_level"]
            quantity_text = update["new_quantity"]
            event_time = update["event_time"]
            if (
                (side != "bid" and side != "offer")
                or type(price_text) is not str
                or type(quantity_text) is not str
                or type(event_time) is not str
            ):
                raise _BadLevel
            price = Decimal(price_text)
            quantity = Decimal(quantity_text)
            if not (_ZERO < price < _LIMIT and _ZERO <= quantity < _LIMIT):
                raise _BadLevel
            append((side, price, quantity, event_time))
    except (_BadLevel, KeyError, TypeError, ArithmeticError):
        path = where()
        for index, update in enumerate(raw):
            _l2_level(update, f"{path}[{index}]")
        raise FrameDecodeError(path, "could not be decoded") from None  # pragma: no cover
    return tuple(levels)


def _l2_level(update: object, where: str) -> L2Level:
    """One level, checked field by field (the slow path that names the problem)."""
    obj = _object(update, where)
    side = _field(obj, "side", where)
    if side != "bid" and side != "offer":
        raise FrameDecodeError(f"{where}.side", f"expected 'bid' or 'offer', got {_kind(side)}")
    price = _positive(obj, "price_level", where)
    quantity = _decimal(obj, "new_quantity", where)
    if quantity < 0:
        raise FrameDecodeError(f"{where}.new_quantity", f"{_show(obj['new_quantity'])} is negative")
    return (side, price, quantity, _str(obj, "event_time", where))


def _l2_event_fields(event: Any, channel: str, index: int) -> tuple[EventType, str, list[Any]]:
    """An ``l2_data`` event's type, product and raw updates: a fast path for the well-formed
    case, the path of the problem built only on error (shared with :mod:`.l2ticks`)."""
    try:
        kind = event["type"]
        product_id = event["product_id"]
        updates = event["updates"]
        if (
            (kind != "snapshot" and kind != "update")
            or type(product_id) is not str
            or type(updates) is not list
        ):
            raise _BadLevel
    except (_BadLevel, KeyError, TypeError):
        where = f"{channel}.events[{index}]"
        obj = _object(event, where)
        _event_type(obj, where)
        _str(obj, "product_id", where)
        _list(obj, "updates", where)
        raise FrameDecodeError(where, "could not be decoded") from None  # pragma: no cover
    return kind, product_id, updates


def _l2_event(event: Any, channel: str, index: int) -> L2Event:
    """One ``l2_data`` event with Decimal levels."""
    kind, product_id, updates = _l2_event_fields(event, channel, index)
    return L2Event(
        type=kind,
        product_id=product_id,
        updates=_l2_levels(updates, lambda: f"{channel}.events[{index}].updates"),
    )


def _l2_data(events: list[Any], channel: str) -> L2Data:
    return L2Data(events=tuple([_l2_event(event, channel, i) for i, event in enumerate(events)]))


def _trade(value: object, where: str) -> Trade:
    obj = _object(value, where)
    return Trade(
        trade_id=_str(obj, "trade_id", where),
        product_id=_str(obj, "product_id", where),
        price=_positive(obj, "price", where),
        size=_positive(obj, "size", where),
        maker_side=_order_side(obj, "side", where),
        time=_str(obj, "time", where),
    )


def _market_trades(events: list[Any], channel: str) -> MarketTrades:
    return MarketTrades(
        events=tuple(
            TradesEvent(
                type=_event_type(event, where),
                trades=tuple(
                    _trade(trade, f"{where}.trades[{index}]")
                    for index, trade in enumerate(_list(event, "trades", where))
                ),
            )
            for where, event in _events(events, channel)
        )
    )


def _ticker(value: object, where: str) -> Ticker:
    obj = _object(value, where)
    return Ticker(
        product_id=_str(obj, "product_id", where),
        price=_positive(obj, "price", where),
        volume_24_h=_optional_decimal(obj, "volume_24_h", where),
        low_24_h=_optional_decimal(obj, "low_24_h", where),
        high_24_h=_optional_decimal(obj, "high_24_h", where),
        low_52_w=_optional_decimal(obj, "low_52_w", where),
        high_52_w=_optional_decimal(obj, "high_52_w", where),
        price_percent_chg_24_h=_optional_decimal(obj, "price_percent_chg_24_h", where),
        best_bid=_optional_decimal(obj, "best_bid", where),
        best_bid_quantity=_optional_decimal(obj, "best_bid_quantity", where),
        best_ask=_optional_decimal(obj, "best_ask", where),
        best_ask_quantity=_optional_decimal(obj, "best_ask_quantity", where),
    )


def _tickers(events: list[Any], channel: str) -> Tickers:
    return Tickers(
        events=tuple(
            TickerEvent(
                type=_event_type(event, where),
                tickers=tuple(
                    _ticker(ticker, f"{where}.tickers[{index}]")
                    for index, ticker in enumerate(_list(event, "tickers", where))
                ),
            )
            for where, event in _events(events, channel)
        )
    )


def _flag(obj: dict[str, Any], key: str, where: str) -> bool:
    """A boolean sent as JSON ``true``/``false`` or as the strings ``"true"``/``"false"``."""
    value = obj.get(key)
    if value is None:
        return False
    if type(value) is bool:
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise FrameDecodeError(f"{where}.{key}", f"expected a boolean, got {_kind(value)}")


def _user_order(value: object, where: str) -> UserOrder:
    obj = _object(value, where)
    fills = obj.get("number_of_fills")
    return UserOrder(
        order_id=_str(obj, "order_id", where),
        client_order_id=_optional_str(obj, "client_order_id", where),
        product_id=_str(obj, "product_id", where),
        order_side=_order_side(obj, "order_side", where),
        status=_str(obj, "status", where),
        cumulative_quantity=_decimal(obj, "cumulative_quantity", where),
        leaves_quantity=_decimal(obj, "leaves_quantity", where),
        order_type=_optional_str(obj, "order_type", where),
        product_type=_optional_str(obj, "product_type", where),
        time_in_force=_optional_str(obj, "time_in_force", where),
        post_only=_flag(obj, "post_only", where),
        limit_price=_optional_decimal(obj, "limit_price", where),
        stop_price=_optional_decimal(obj, "stop_price", where),
        avg_price=_optional_decimal(obj, "avg_price", where),
        filled_value=_optional_decimal(obj, "filled_value", where),
        total_fees=_optional_decimal(obj, "total_fees", where),
        total_value_after_fees=_optional_decimal(obj, "total_value_after_fees", where),
        number_of_fills=None if fills is None else _count(fills, f"{where}.number_of_fills"),
        completion_percentage=_optional_decimal(obj, "completion_percentage", where),
        outstanding_hold_amount=_optional_decimal(obj, "outstanding_hold_amount", where),
        cancel_reason=_optional_str(obj, "cancel_reason", where),
        reject_reason=_optional_str(obj, "reject_reason", where),
        trigger_status=_optional_str(obj, "trigger_status", where),
        retail_portfolio_id=_optional_str(obj, "retail_portfolio_id", where),
        risk_managed_by=_optional_str(obj, "risk_managed_by", where),
        contract_expiry_type=_optional_str(obj, "contract_expiry_type", where),
        creation_time=_optional_str(obj, "creation_time", where),
        start_time=_optional_str(obj, "start_time", where),
        end_time=_optional_str(obj, "end_time", where),
    )


def _user(events: list[Any], channel: str) -> UserOrders:
    return UserOrders(
        events=tuple(
            UserEvent(
                type=_event_type(event, where),
                orders=tuple(
                    _user_order(order, f"{where}.orders[{index}]")
                    for index, order in enumerate(_list(event, "orders", where))
                ),
            )
            for where, event in _events(events, channel)
        )
    )


def _subscriptions(events: list[Any], channel: str) -> Subscriptions:
    channels: dict[str, tuple[str, ...]] = {}
    for where, event in _events(events, channel):
        table = _object(_field(event, "subscriptions", where), f"{where}.subscriptions")
        for name, products in table.items():
            path = f"{where}.subscriptions.{name}"
            if type(products) is not list:
                raise FrameDecodeError(path, f"expected a list, got {_kind(products)}")
            for index, product in enumerate(products):
                if type(product) is not str:
                    raise FrameDecodeError(
                        f"{path}[{index}]", f"expected a string, got {_kind(product)}"
                    )
            channels[name] = tuple(products)
    return Subscriptions(channels=tuple(channels.items()))


_DECODERS: Final[Mapping[str, Callable[[list[Any], str], Payload]]] = {
    "heartbeats": _heartbeats,
    "l2_data": _l2_data,
    "market_trades": _market_trades,
    "ticker": _tickers,
    "ticker_batch": _tickers,
    "user": _user,
    "subscriptions": _subscriptions,
}

#: The ``channel`` names this module decodes (as they arrive).
DECODED_CHANNELS: Final = frozenset(_DECODERS)
