"""The Coinbase Advanced Trade WebSocket client: connect, subscribe, watch, reconnect, forever.

Why it is built this way:

* **It runs inside its consumer's task.** ``await client.run(on_item, task_status=...)``
  awaits ``on_item`` inline for every item: no channel hop per frame (a hop costs several
  microseconds, ``reference/perf-limits.md``) and no dict ever crosses a channel. The feed
  actor is the client plus its ``on_item``.
* **It never stops on its own and never dies silently.** The official SDK stops reading on
  close codes 1000 and 1001 without telling anyone (``reference/coinbase-api.md`` §6 item 3);
  this client reconnects after *any* end: a close frame of any code, a dropped connection, a
  refused connection, a stale stream, an error frame. Every such event is an item
  (:class:`~.stream.Disconnected`, :class:`~.stream.ConnectFailed`...), so the consumer sees
  it. Only cancellation (and an exception raised by ``on_item`` itself) ends ``run``.
* **A silent connection is a dead connection.** ``heartbeats`` is always subscribed (1 frame
  per second, and it keeps quiet channels open, §6 item 11); no frame for ``stale_after``
  seconds yields :class:`~.stream.StreamStale`, closes the connection and reconnects.
* **Sequence numbers are checked per connection** (one counter per connection, +1 on every
  frame, subscriptions and heartbeats included, §4.5): a jump forward is a
  :class:`~.stream.SequenceGap` (the frame is still delivered; the book decides to re-sync),
  a number not above the last is an :class:`~.stream.OutOfOrder` and the frame is dropped.
* **Bad input never kills the stream.** A frame that cannot be decoded becomes a
  :class:`~.stream.MalformedFrame` (what was wrong, and where) and reading goes on; frames of
  channels without a decoder are counted and reported as :class:`~.stream.UnknownChannel`.
* **Error frames reconnect.** ``{"type": "error", ...}`` (bad JWT, wrong key type, unknown
  channel name) is surfaced as :class:`~.stream.ErrorFrame`; the client then closes the
  connection and reconnects with backoff, subscribing afresh with new JWTs, because a
  connection whose subscription was refused may still carry heartbeats and would otherwise
  look healthy forever. Giving up (say, after repeated authentication failures) is the
  consumer's decision: it counts ``ErrorFrame`` items and raises.
* **Backoff** is :class:`cjt_actors.policy.Backoff` (capped exponential, jitter that only
  shortens) with an injectable ``random.Random``; the attempt counter restarts after a
  connection that stayed up ``reset_after`` seconds.
* **The transport is injectable.** ``connect(url, max_message_size=...)`` returns an async
  context manager yielding a ``trio_websocket.WebSocketConnection``; the default,
  :func:`tcp_connector`, is trio-websocket over TCP (TLS for ``wss://``). Tests and the
  socket-less simulator mode connect over in-memory streams instead.
* **Big frames are normal.** A full BTC-USD ``level2`` snapshot is several MB (§6 item 7);
  the default message limit is 32 MiB (trio-websocket's own default is 1 MiB).

Subscribe messages (§4.2, §1.3): one per channel, all sent within ``subscribe_timeout``
(Coinbase disconnects a client that has not subscribed within 5 s); with credentials each
carries a freshly signed JWT, without credentials there is no ``jwt`` key.
"""

from __future__ import annotations

import enum
import math
import random
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, NoReturn, Protocol, final

import attrs
import orjson
import trio
import trio_websocket
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection

from ..errors import InvalidSpec
from ..listen import is_loopback_host
from ..policy import Backoff
from .auth import Credentials
from .stream import (
    Connected,
    ConnectFailed,
    Disconnected,
    Envelope,
    ErrorFrame,
    Frame,
    FrameDecodeError,
    FramePayload,
    MalformedFrame,
    OutOfOrder,
    SequenceGap,
    StreamItem,
    StreamStale,
    StreamStatistics,
    Subscribed,
    UnknownChannel,
    arrival_channel,
    decode_payload,
    excerpt,
    parse_envelope,
)

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MARKET_DATA_URL",
    "SUBSCRIBABLE_CHANNELS",
    "USER_DATA_URL",
    "Connector",
    "OnItem",
    "SequenceTracker",
    "Sequencing",
    "WebSocketClient",
    "tcp_connector",
]

MARKET_DATA_URL: Final = "wss://advanced-trade-ws.coinbase.com"
USER_DATA_URL: Final = "wss://advanced-trade-ws-user.coinbase.com"

#: 32 MiB: a full BTC-USD level2 snapshot is several MB; trio-websocket's default is 1 MiB.
DEFAULT_MAX_MESSAGE_SIZE: Final = 32 * 2**20

#: 0.5 s doubling to 30 s; jitter shortens a delay by up to half; a connection that stayed
#: up 30 s counts as stable. Coinbase allows about 8 connections per second per IP.
DEFAULT_BACKOFF: Final = Backoff(min=0.5, max=30.0, jitter=0.5, reset_after=30.0)

#: Subscribe names this client can decode (the frames of ``level2`` arrive as ``l2_data``).
SUBSCRIBABLE_CHANNELS: Final = frozenset(
    {"heartbeats", "level2", "market_trades", "ticker", "ticker_batch", "user"}
)
#: Channels whose frames are per product: a subscription must name at least one.
_NEED_PRODUCTS: Final = frozenset({"level2", "market_trades", "ticker", "ticker_batch"})
#: Channels that only authenticated connections may subscribe to.
_NEED_CREDENTIALS: Final = frozenset({"user"})
#: Known Coinbase channels without a decoder here (yet).
_NOT_DECODED: Final = frozenset({"candles", "status", "futures_balance_summary"})
#: At most this many distinct unknown channel names are counted separately.
_MAX_UNKNOWN_NAMES: Final = 64
#: Seconds at most to send the close frame when cancelled (the answer is not waited for).
_CANCEL_CLOSE_GRACE: Final = 0.1

OnItem = Callable[[StreamItem], Awaitable[None]]


class Connector(Protocol):
    """Opens one WebSocket connection: an async context manager yielding it, closing it on
    exit. Raising ``OSError`` or ``trio_websocket.HandshakeError`` means "could not connect"."""

    def __call__(
        self, url: str, *, max_message_size: int
    ) -> AbstractAsyncContextManager[WebSocketConnection]: ...


def tcp_connector(
    *,
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float = 10.0,
    disconnect_timeout: float = 2.0,
    receive_buffer_size: int = 64 * 1024,
) -> Connector:
    """trio-websocket over TCP, with TLS for ``wss://`` URLs.

    Args:
        ssl_context: for ``wss://``; ``None`` uses the system's default (verifying) context.
            Ignored for ``ws://``.
        connect_timeout: seconds for TCP, TLS and the WebSocket handshake together.
        disconnect_timeout: seconds for the closing handshake.
        receive_buffer_size: bytes per socket read (64 KiB reads cost far less per
            message than trio-websocket's default of 4 KiB).
    """

    @asynccontextmanager
    async def connect(url: str, *, max_message_size: int) -> AsyncIterator[WebSocketConnection]:
        # We open (and so own) the TCP/TLS stream rather than let open_websocket_url do it:
        # after a *server*-initiated close, trio-websocket's client reader stops at EOF
        # without closing its stream (a client waits for the server's TCP close), and the
        # socket is then only reclaimed by the garbage collector. Here it is always closed.
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        host_header = parts.hostname if port in (80, 443) else f"{parts.hostname}:{port}"
        resource = parts.path or "/"
        if parts.query:
            resource += "?" + parts.query
        stream: trio.abc.Stream
        with trio.fail_after(connect_timeout):
            if secure:
                stream = await trio.open_ssl_over_tcp_stream(
                    parts.hostname,
                    port,
                    ssl_context=ssl_context or ssl.create_default_context(),
                    https_compatible=True,
                )
            else:
                stream = await trio.open_tcp_stream(parts.hostname, port)
        try:
            async with trio.open_nursery() as nursery:
                with trio.fail_after(connect_timeout):
                    connection = await trio_websocket.wrap_client_stream(
                        nursery,
                        stream,  # any trio Stream works
                        host_header,
                        resource,
                        max_message_size=max_message_size,
                        receive_buffer_size=receive_buffer_size,
                    )
                try:
                    yield connection
                finally:
                    with trio.move_on_after(disconnect_timeout, shield=True):
                        await connection.aclose()
                    nursery.cancel_scope.cancel(reason="WebSocket connection closed")
        finally:
            with trio.move_on_after(disconnect_timeout, shield=True):
                await stream.aclose()

    return connect


class Sequencing(enum.Enum):
    """How a frame's ``sequence_num`` relates to the frames before it on its connection."""

    FIRST = "first"  #: the first frame of the connection: the counter starts here
    NEXT = "next"  #: exactly one above the last
    GAP = "gap"  #: more than one above the last: frames were lost
    BEHIND = "behind"  #: not above the last: late or duplicate


class SequenceTracker:
    """The ``sequence_num`` bookkeeping of one connection (plain state, no I/O)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: int | None = None

    @property
    def expected(self) -> int | None:
        """The number the next frame should carry (``None`` before the first frame)."""
        return None if self._last is None else self._last + 1

    def observe(self, received: int) -> Sequencing:
        """Classify ``received``; the counter moves on unless the frame is BEHIND."""
        last = self._last
        if last is None:
            self._last = received
            return Sequencing.FIRST
        if received == last + 1:
            self._last = received
            return Sequencing.NEXT
        if received > last:
            self._last = received
            return Sequencing.GAP
        return Sequencing.BEHIND


@attrs.frozen(kw_only=True)
class _Ended:
    """How one connection attempt ended."""

    connected: bool
    reason: str
    code: int | None = None
    lasted: float = 0.0


@attrs.define
class _Counters:
    frames: int = 0
    connections: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    stale: int = 0
    gaps: int = 0
    out_of_order: int = 0
    malformed: int = 0
    error_frames: int = 0


#: What a transport can raise that means "no connection" or "the connection broke".
_TRANSPORT_ERRORS: Final = (
    HandshakeError,
    ConnectionClosed,
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
)


def _positive_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpec(f"{name}: must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidSpec(f"{name}: must be finite and > 0 seconds, got {value!r}")
    return float(value)


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSpec(f"{name}: must be an integer >= 1, got {value!r}")
    return value


def _check_url(url: str, *, authenticated: bool) -> str:
    if not isinstance(url, str):
        raise InvalidSpec(f"url: must be a string, got {type(url).__name__}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidSpec(f"url: must be ws://host[:port][/path] or wss://..., got {url!r}")
    if authenticated and parts.scheme == "ws" and not is_loopback_host(parts.hostname):
        raise InvalidSpec(
            f"url {url!r}: plain ws:// with credentials is allowed only to a loopback host "
            "(127.0.0.0/8, ::1, localhost); use wss:// (tokens must not cross a network "
            "in clear)"
        )
    return url


def _check_channels(
    channels: Mapping[str, Sequence[str]], authenticated: bool
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Validated (subscribe name, product ids) pairs, ``heartbeats`` first and always there."""
    if not isinstance(channels, Mapping):
        raise InvalidSpec(f"channels: must map channel names to product ids, got {channels!r}")
    checked: dict[str, tuple[str, ...]] = {"heartbeats": ()}
    for name, products in channels.items():
        where = f"channels[{name!r}]"
        if name not in SUBSCRIBABLE_CHANNELS:
            if name == "l2_data":
                hint = "subscribe to 'level2'; its frames arrive as 'l2_data'"
            elif name == "heartbeat":
                hint = "the channel is 'heartbeats' (Coinbase answers 'heartbeat' with an error)"
            elif name in _NOT_DECODED:
                hint = "this client has no decoder for it yet"
            else:
                hint = f"known channels: {', '.join(sorted(SUBSCRIBABLE_CHANNELS))}"
            raise InvalidSpec(f"{where}: cannot subscribe: {hint}")
        if isinstance(products, str) or not isinstance(products, Sequence):
            raise InvalidSpec(f"{where}: must be a list of product ids, got {products!r}")
        for product in products:
            if not isinstance(product, str) or not product.strip():
                raise InvalidSpec(
                    f"{where}: product ids must be non-empty strings, got {product!r}"
                )
        if len(set(products)) != len(products):
            raise InvalidSpec(f"{where}: duplicate product ids in {list(products)!r}")
        if name in _NEED_PRODUCTS and not products:
            raise InvalidSpec(f"{where}: name at least one product id")
        if name in _NEED_CREDENTIALS and not authenticated:
            raise InvalidSpec(f"{where}: the {name!r} channel needs credentials")
        checked[name] = tuple(products)
    return tuple(checked.items())


def _is_transport_failure(error: BaseException) -> bool:
    """Whether ``error`` means "no connection" or "the connection broke"; an exception group
    (a connector built on a nursery raises those) only if every exception in it does."""
    if isinstance(error, BaseExceptionGroup):
        return all(_is_transport_failure(inner) for inner in error.exceptions)
    return isinstance(error, _TRANSPORT_ERRORS)


def _describe(error: BaseException) -> str:
    """An exception as one short line with its causes (trio-websocket wraps the OSError
    that says "connection refused" in a HandshakeError, trio in an ExceptionGroup)."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in error.exceptions)
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    cause = error.__cause__
    if cause is not None:
        text += f" ({_describe(cause)})"
    return excerpt(text, 200)


def _skip_closing_handshake(ws: WebSocketConnection) -> None:
    """Make the next ``ws.aclose()`` send its close frame and close the stream at once,
    without waiting for the peer's close frame.

    Why: ``aclose()`` sends the close frame, then waits on an event that only the
    connection's reader task sets, when the peer's close frame arrives (or the stream
    breaks). Once that task is cancelled nothing can set it, and ``aclose()`` sits out its
    whole deadline; with two WebSockets stopped one after the other, every stop of the tree
    took 0.2 s more. trio-websocket (0.12) has no public way to close without the
    handshake: this sets that event (``_close_handshake``) itself, as trio-websocket does
    when the handshake cannot happen (``_abort_web_socket``: "we didn't really handshake,
    but we want any task waiting on this event (e.g. self.aclose()) to resume"). Should a
    later version rename it, this does nothing and ``aclose()`` waits out its deadline
    again: slower, never wrong (tests/unit/exchange/test_ws.py notices). Best effort, as
    before: over TCP, closing with unread data makes the kernel reset the connection, and a
    peer may then lose a close frame it had not read yet.
    """
    handshake = getattr(ws, "_close_handshake", None)
    if isinstance(handshake, trio.Event):
        handshake.set()


def _close_reason(closed: ConnectionClosed) -> tuple[str, int | None]:
    reason = closed.reason
    if reason is None:
        return "connection closed", None
    detail = f": {excerpt(reason.reason, 100)}" if reason.reason else ""
    code = int(reason.code)  # wsproto hands out an IntEnum for known codes
    return f"connection closed: {code} {reason.name}{detail}", code


@final
class WebSocketClient:
    """One logical Coinbase WebSocket stream that reconnects for as long as it runs.

    Args:
        channels: subscribe name -> product ids, e.g. ``{"level2": ["BTC-USD"],
            "market_trades": ["BTC-USD"]}``. ``heartbeats`` is always added (with no product
            ids) unless given. ``user`` needs ``credentials`` and may have no product ids
            (= all products).
        url: ``wss://`` or ``ws://`` URL (default: the market-data endpoint; the ``user``
            channel is served by :data:`USER_DATA_URL`).
        credentials: sign a fresh JWT into every (un)subscribe message; ``None`` sends none.
        connect: the transport (default: :func:`tcp_connector`).
        backoff: delays between attempts (default :data:`DEFAULT_BACKOFF`).
        rng: the jitter's random source; pass a seeded one for reproducible runs.
        stale_after: seconds without a frame after which the connection is presumed dead.
        subscribe_timeout: seconds to send all subscribe messages (Coinbase allows 5).
        close_timeout: seconds this client waits for a closing handshake it started.
        max_message_size: the largest frame accepted, in characters; a bigger one closes
            the connection with code 1009 (reported, then a reconnect).
        unknown_report_every: an :class:`~.stream.UnknownChannel` item is emitted for the
            first frame of an unknown channel and then every this many frames.
        now: wall-clock epoch seconds for JWT claims.
        decoders: arrival channel -> a decoder of its envelopes that replaces the default
            (:func:`~.stream.decode_payload`) for that channel; it raises
            :class:`~.stream.FrameDecodeError` for a bad frame. The feed decodes ``l2_data``
            straight into ticks this way (:class:`~.l2ticks.L2TickDecoder`).

    Raises:
        InvalidSpec: an argument is malformed (named in the message).
    """

    def __init__(
        self,
        *,
        channels: Mapping[str, Sequence[str]],
        url: str = MARKET_DATA_URL,
        credentials: Credentials | None = None,
        connect: Connector | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        rng: random.Random | None = None,
        stale_after: float = 5.0,
        subscribe_timeout: float = 5.0,
        close_timeout: float = 2.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        unknown_report_every: int = 100,
        now: Callable[[], float] = time.time,
        decoders: Mapping[str, Callable[[Envelope], FramePayload]] | None = None,
    ) -> None:
        if credentials is not None and not isinstance(credentials, Credentials):
            raise InvalidSpec(
                f"credentials: expected Credentials, got {type(credentials).__name__}"
            )
        if not isinstance(backoff, Backoff):
            raise InvalidSpec(f"backoff: expected a Backoff, got {backoff!r}")
        self._url = _check_url(url, authenticated=credentials is not None)
        self._credentials = credentials
        self._subscriptions = _check_channels(channels, credentials is not None)
        self._arrival_names = tuple(arrival_channel(name) for name, _ in self._subscriptions)
        self._connect: Connector = connect if connect is not None else tcp_connector()
        self._backoff = backoff
        self._rng = rng if rng is not None else random.Random()
        self._stale_after = _positive_seconds("stale_after", stale_after)
        self._subscribe_timeout = _positive_seconds("subscribe_timeout", subscribe_timeout)
        self._close_timeout = _positive_seconds("close_timeout", close_timeout)
        self._max_message_size = _positive_int("max_message_size", max_message_size)
        self._unknown_report_every = _positive_int("unknown_report_every", unknown_report_every)
        self._now = now
        self._decoders = dict(decoders or {})
        self._counters = _Counters()
        self._unknown: dict[str, int] = {}
        self._running = False
        self._ws: WebSocketConnection | None = None
        self._waiting: trio.CancelScope | None = None
        self._reconnect_reason: str | None = None

    # -- queries -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._url

    @property
    def subscriptions(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(subscribe name, product ids) pairs, in the order they are sent."""
        return self._subscriptions

    @property
    def connected(self) -> bool:
        """Whether a connection is open and subscribed right now."""
        return self._ws is not None

    def statistics(self) -> StreamStatistics:
        """Counters since this client was created."""
        c = self._counters
        return StreamStatistics(
            frames=c.frames,
            connections=c.connections,
            connect_failures=c.connect_failures,
            disconnects=c.disconnects,
            stale=c.stale,
            gaps=c.gaps,
            out_of_order=c.out_of_order,
            malformed=c.malformed,
            error_frames=c.error_frames,
            unknown=tuple(sorted(self._unknown.items())),
        )

    def __repr__(self) -> str:
        names = ",".join(name for name, _ in self._subscriptions)
        auth = "authenticated" if self._credentials is not None else "public"
        return f"<WebSocketClient {self._url} [{names}] {auth}>"

    # -- control ---------------------------------------------------------------------------------

    async def resubscribe(self, channel: str, product_ids: Sequence[str] | None = None) -> bool:
        """Unsubscribe and subscribe again on the open connection (fresh JWTs): the way to
        get a fresh ``level2`` snapshot after a gap without reconnecting.

        ``channel`` is a subscribe name or an arrival name (``l2_data``); ``product_ids``
        defaults to all the channel's products and must be among them.

        Returns:
            False when there is no open connection (the next one subscribes anyway) or it
            closed while sending.

        Raises:
            InvalidSpec: the channel or a product is not subscribed by this client.
        """
        names = {arrival_channel(name): name for name, _ in self._subscriptions}
        name = names.get(channel, channel)
        configured = dict(self._subscriptions).get(name)
        if configured is None:
            raise InvalidSpec(f"channel: {channel!r} is not subscribed by this client")
        products = configured if product_ids is None else tuple(product_ids)
        strangers = [product for product in products if product not in configured]
        if strangers:
            raise InvalidSpec(f"product_ids: {strangers!r} are not subscribed on {name!r}")
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send_message(self._control("unsubscribe", name, products))
            await ws.send_message(self._control("subscribe", name, products))
        except ConnectionClosed:
            return False
        return True

    def reconnect(self, reason: str) -> bool:
        """Close the open connection and connect again (with the usual backoff).

        Safe to call from ``on_item`` or from another task. Returns False when there is no
        open connection.
        """
        if self._ws is None:
            return False
        self._reconnect_reason = reason
        if self._waiting is not None:
            self._waiting.cancel()
        return True

    # -- the loop --------------------------------------------------------------------------------

    async def run(
        self, on_item: OnItem, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Connect, subscribe and hand every item to ``on_item``, reconnecting forever.

        ``task_status.started()`` is called once, when the first connection has sent its
        subscribe messages. Only cancellation ends this, or an exception from ``on_item``
        (which propagates unchanged). Cancelling it closes the connection with code 1001.
        """
        if self._running:
            raise RuntimeError("this WebSocketClient is already running")
        self._running = True
        started = False

        def ready() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        failures = 0
        try:
            while True:
                ended = await self._session(on_item, failures, ready)
                if ended.connected and ended.lasted >= self._backoff.reset_after:
                    failures = 0
                delay = self._backoff.delay(failures, self._rng.random())
                if ended.connected:
                    self._counters.disconnects += 1
                    await on_item(
                        Disconnected(reason=ended.reason, code=ended.code, retry_in=delay)
                    )
                else:
                    self._counters.connect_failures += 1
                    await on_item(
                        ConnectFailed(
                            url=self._url, attempt=failures, reason=ended.reason, retry_in=delay
                        )
                    )
                failures += 1
                await trio.sleep(delay)
        finally:
            self._running = False

    async def _session(self, on_item: OnItem, attempt: int, ready: Callable[[], None]) -> _Ended:
        """One connection, from connecting to closed."""
        opened = False
        ended: _Ended | None = None
        try:
            async with self._connect(self._url, max_message_size=self._max_message_size) as ws:
                opened = True
                try:
                    ended = await self._serve(ws, on_item, attempt, ready)
                except trio.Cancelled:
                    # The connection's reader task is cancelled with us, so the peer's close
                    # frame can never be read: send ours (bounded: a peer that stopped
                    # reading cannot hold the stop up) and drop the stream, without waiting
                    # for an answer (that would hold up every stop by the whole bound).
                    _skip_closing_handshake(ws)
                    with trio.move_on_after(_CANCEL_CLOSE_GRACE, shield=True):
                        await ws.aclose(1001, "client stopping")
                    raise
                finally:
                    self._ws = None
                    self._waiting = None
                    code, why = (1001, "client stopping") if ended is None else (1000, ended.reason)
                    with trio.move_on_after(self._close_timeout, shield=True):
                        await ws.aclose(code, why)  # wsproto cuts the reason to 123 bytes
        except Exception as error:
            if not _is_transport_failure(error):
                raise
            if not opened:
                return _Ended(connected=False, reason=f"connect failed: {_describe(error)}")
            if ended is None:
                # The body catches transport errors where they happen, so this came from
                # on_item: it is the consumer's to handle, not a reason to reconnect.
                raise
            # Closing a connection that had already ended failed: it is over either way.
        assert ended is not None
        return ended

    async def _serve(
        self, ws: WebSocketConnection, on_item: OnItem, attempt: int, ready: Callable[[], None]
    ) -> _Ended:
        """Subscribe, then read until the connection ends; say how it ended."""
        connected_at = trio.current_time()

        def ended(reason: str, code: int | None = None) -> _Ended:
            lasted = trio.current_time() - connected_at
            return _Ended(connected=True, reason=reason, code=code, lasted=lasted)

        try:
            with trio.fail_after(self._subscribe_timeout):
                for name, products in self._subscriptions:
                    await ws.send_message(self._control("subscribe", name, products))
        except trio.TooSlowError:
            return ended(f"subscribing took longer than {self._subscribe_timeout:g} s")
        except ConnectionClosed as closed:
            return ended(*_close_reason(closed))

        self._reconnect_reason = None
        self._ws = ws
        self._counters.connections += 1
        await on_item(Connected(url=self._url, attempt=attempt))
        await on_item(Subscribed(channels=self._arrival_names))
        ready()

        tracker = SequenceTracker()
        last_frame_at = trio.current_time()
        while True:
            requested = self._requested_reconnect()
            if requested is not None:
                return ended(f"reconnect requested: {requested}")
            with trio.move_on_after(self._stale_after) as waiting:
                self._waiting = waiting
                try:
                    raw = await ws.get_message()
                except ConnectionClosed as closed:
                    return ended(*_close_reason(closed))
                finally:
                    self._waiting = None
            if waiting.cancelled_caught:
                if self._requested_reconnect() is not None:
                    continue
                silent_for = trio.current_time() - last_frame_at
                self._counters.stale += 1
                await on_item(StreamStale(silent_for=silent_for))
                return ended(f"stale: no frame for {silent_for:.1f} s")
            last_frame_at = trio.current_time()
            error = await self._dispatch(raw, last_frame_at, tracker, on_item)
            if error is not None:
                return ended(f"error frame: {excerpt(error.message, 80)}")

    def _requested_reconnect(self) -> str | None:
        """Why :meth:`reconnect` was called on this connection (a method, because ``on_item``
        and other tasks may set it at any await)."""
        return self._reconnect_reason

    async def _dispatch(
        self,
        raw: str | bytes,
        received_at: float,
        tracker: SequenceTracker,
        on_item: OnItem,
    ) -> ErrorFrame | None:
        """Turn one frame into items; return the error frame if it was one."""
        try:
            envelope = parse_envelope(raw)
        except FrameDecodeError as error:
            await self._malformed(on_item, error, raw, None)
            return None
        if isinstance(envelope, ErrorFrame):
            self._counters.error_frames += 1
            await on_item(envelope)
            return envelope

        channel = envelope.channel
        expected = tracker.expected
        verdict = tracker.observe(envelope.sequence_num)
        if verdict is Sequencing.GAP:
            assert expected is not None
            self._counters.gaps += 1
            await on_item(
                SequenceGap(expected=expected, received=envelope.sequence_num, channel=channel)
            )
        elif verdict is Sequencing.BEHIND:
            assert expected is not None
            self._counters.out_of_order += 1
            await on_item(
                OutOfOrder(
                    expected=expected,
                    received=envelope.sequence_num,
                    channel=channel,
                    count=self._counters.out_of_order,
                )
            )
            return None

        try:
            decoder = self._decoders.get(channel)
            payload = decode_payload(envelope) if decoder is None else decoder(envelope)
        except FrameDecodeError as error:
            await self._malformed(on_item, error, raw, channel)
            return None
        if payload is None:
            await self._unknown_channel(on_item, channel)
            return None
        self._counters.frames += 1
        await on_item(
            Frame(
                channel=channel,
                sequence_num=envelope.sequence_num,
                timestamp=envelope.timestamp,
                received_at=received_at,
                payload=payload,
            )
        )
        return None

    async def _malformed(
        self, on_item: OnItem, error: FrameDecodeError, raw: str | bytes, channel: str | None
    ) -> None:
        self._counters.malformed += 1
        await on_item(
            MalformedFrame(
                reason=str(error),
                excerpt=excerpt(raw),
                count=self._counters.malformed,
                channel=channel,
            )
        )

    async def _unknown_channel(self, on_item: OnItem, channel: str) -> None:
        name = excerpt(channel, 64)
        if name not in self._unknown and len(self._unknown) >= _MAX_UNKNOWN_NAMES:
            name = "(other)"
        count = self._unknown[name] = self._unknown.get(name, 0) + 1
        if count == 1 or count % self._unknown_report_every == 0:
            await on_item(UnknownChannel(name=name, count=count))

    def _control(self, kind: str, channel: str, products: Sequence[str]) -> str:
        """A subscribe or unsubscribe message; with credentials, signed by a fresh JWT."""
        message: dict[str, object] = {
            "type": kind,
            "product_ids": list(products),
            "channel": channel,
        }
        if self._credentials is not None:
            message["jwt"] = self._credentials.ws_jwt(now=self._now)
        return orjson.dumps(message).decode()
