"""The WebSocket client: subscribe, decode, watch the silence, reconnect, and never die silently.

Most tests run a scripted fake exchange over in-memory streams (trio-websocket on both ends)
under the autojump clock, so every time in them is exact virtual time. Two tests use real
loopback TCP (plain and TLS) to prove the default transport works.
"""

from __future__ import annotations

import errno
import functools
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from decimal import Decimal
from typing import Any

import jwt
import orjson
import pytest
import trio
import trio.testing
import trio_websocket
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from trio_websocket import CloseReason, ConnectionClosed, DisconnectionTimeout

from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.auth import JWT_LIFETIME, Credentials
from cjt_actors.exchange.stream import (
    Connected,
    ConnectFailed,
    Disconnected,
    ErrorFrame,
    Frame,
    Heartbeats,
    L2Data,
    MalformedFrame,
    MarketTrades,
    OutOfOrder,
    SequenceGap,
    StreamItem,
    StreamStale,
    StreamStatistics,
    Subscribed,
    Subscriptions,
    Tickers,
    UnknownChannel,
    UserOrders,
)
from cjt_actors.exchange.ws import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Connector,
    SequenceTracker,
    Sequencing,
    WebSocketClient,
    tcp_connector,
)
from cjt_actors.policy import Backoff

KEY_NAME = "organizations/11111111-2222-3333-4444-555555555555/apiKeys/66666666-7777"
EPOCH = 1_767_225_600.0  # wall clock of virtual time 0: tokens never depend on the real clock
URL = "wss://fake.exchange"
#: Exact delays: 1, 2, 4, 8, 8... seconds; a connection up 10 s counts as stable.
STEADY = Backoff(min=1.0, max=8.0, jitter=0.0, reset_after=10.0)
BTC = ["BTC-USD"]

# -- the fake exchange ---------------------------------------------------------------------------

Script = Callable[["ServerConnection"], Awaitable[None]]


class ServerConnection:
    """One connection accepted by the fake exchange, as its script drives it."""

    def __init__(
        self, ws: trio_websocket.WebSocketConnection, stream: trio.abc.Stream, index: int
    ) -> None:
        self.ws = ws
        self.stream = stream
        self.index = index
        self.opened_at = trio.current_time()
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.sequence = 0
        self._news = trio.Event()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [message for _, message in self.received]

    async def read_forever(self) -> None:
        """Record every client message with its virtual arrival time."""
        try:
            while True:
                text = await self.ws.get_message()
                self.received.append((trio.current_time(), orjson.loads(text)))
                self._news.set()
                self._news = trio.Event()
        except ConnectionClosed:
            pass

    async def wait_for_messages(self, count: int) -> None:
        while len(self.received) < count:
            await self._news.wait()

    async def send(self, channel: str, events: list[Any], *, sequence: int | None = None) -> None:
        """A data frame with the full envelope; the counter goes on from `sequence`."""
        number = self.sequence if sequence is None else sequence
        self.sequence = number + 1
        await self.send_raw(
            orjson.dumps(
                {
                    "channel": channel,
                    "client_id": "",
                    "timestamp": f"2026-01-01T00:00:{number:02d}.000000001Z",
                    "sequence_num": number,
                    "events": events,
                }
            ).decode()
        )

    async def send_raw(self, text: str) -> None:
        await self.ws.send_message(text)

    async def heartbeat(self, counter: int = 0, *, sequence: int | None = None) -> None:
        await self.send(
            "heartbeats",
            [{"current_time": f"t{counter}", "heartbeat_counter": counter}],
            sequence=sequence,
        )

    async def confirm(self) -> None:
        """The `subscriptions` frame the real service sends after subscribing."""
        await self.send("subscriptions", [{"subscriptions": {"heartbeats": ["heartbeats"]}}])


class FakeExchange:
    """A scripted exchange: connection k runs scripts[k] (the last script repeats).

    Its side of each connection runs in `nursery` (the test's), outside the client's cancel
    scopes, as a real server would; the client's side runs in the connector's own nursery,
    as with trio-websocket's `open_websocket_url`.
    """

    def __init__(self, nursery: trio.Nursery, *scripts: Script, refuse: int = 0) -> None:
        self.nursery = nursery
        self.scripts = scripts or (idle,)
        self.refuse = refuse
        self.attempts: list[float] = []
        self.connections: list[ServerConnection] = []

    @asynccontextmanager
    async def connect(
        self, url: str, *, max_message_size: int
    ) -> AsyncIterator[trio_websocket.WebSocketConnection]:
        assert url == URL
        self.attempts.append(trio.current_time())
        if len(self.attempts) <= self.refuse:
            raise OSError(errno.ECONNREFUSED, "Connection refused")
        client_stream, server_stream = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self._serve, server_stream)
        try:
            async with trio.open_nursery() as reader:
                ws = await trio_websocket.wrap_client_stream(
                    reader, client_stream, "fake.exchange", "/", max_message_size=max_message_size
                )
                try:
                    yield ws
                finally:
                    with trio.move_on_after(1, shield=True):
                        await ws.aclose()
                    reader.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Transparent like trio-websocket's open_websocket: a lone exception (the
            # consumer's, or a Cancelled) leaves unwrapped, the group kept as its cause.
            (alone,) = group.exceptions if len(group.exceptions) == 1 else (None,)
            if alone is None:
                raise
            raise alone from group

    async def _serve(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(
                nursery, stream, max_message_size=DEFAULT_MAX_MESSAGE_SIZE
            )
            ws = await request.accept()
            connection = ServerConnection(ws, stream, len(self.connections))
            self.connections.append(connection)
            nursery.start_soon(connection.read_forever)
            # The client may go away while the script is talking: then the script ends.
            with suppress(ConnectionClosed):
                await self.scripts[min(connection.index, len(self.scripts) - 1)](connection)


async def idle(connection: ServerConnection) -> None:
    """Confirm, then one heartbeat a second forever (a healthy quiet market)."""
    await connection.wait_for_messages(1)
    await connection.confirm()
    counter = 0
    while True:
        await trio.sleep(1)
        counter += 1
        await connection.heartbeat(counter)


def then_close(code: int, *, after: float = 0.0) -> Script:
    """Confirm, send heartbeats for `after` seconds, then close with `code`."""

    async def script(connection: ServerConnection) -> None:
        await connection.wait_for_messages(1)
        await connection.confirm()
        with trio.move_on_after(after):
            await idle_heartbeats(connection)
        await connection.ws.aclose(code, "bye")

    return script


def sending(*frames: str | tuple[str, list[Any]], pause: float = 0.0) -> Script:
    """Wait for the subscribes, then send each frame (raw text, or channel + events)."""

    async def script(connection: ServerConnection) -> None:
        await connection.wait_for_messages(1)
        for frame in frames:
            if isinstance(frame, str):
                await connection.send_raw(frame)
            else:
                await connection.send(*frame)
            await trio.sleep(pause)
        await idle_heartbeats(connection)

    return script


async def idle_heartbeats(connection: ServerConnection) -> None:
    while True:
        await trio.sleep(1)
        await connection.heartbeat()


class Recorder:
    """An on_item that records items and the virtual time each arrived."""

    def __init__(self) -> None:
        self.items: list[StreamItem] = []
        self.times: list[float] = []

    async def __call__(self, item: StreamItem) -> None:
        self.items.append(item)
        self.times.append(trio.current_time())

    def of(self, kind: type[Any]) -> list[Any]:
        return [item for item in self.items if isinstance(item, kind)]

    def frames(self, channel: str | None = None) -> list[Frame]:
        return [f for f in self.of(Frame) if channel is None or f.channel == channel]

    def kinds(self) -> list[str]:
        return [type(item).__name__ for item in self.items]


def client_for(exchange: FakeExchange, **kwargs: Any) -> WebSocketClient:
    kwargs.setdefault("channels", {"level2": BTC})
    kwargs.setdefault("backoff", STEADY)
    kwargs.setdefault("rng", random.Random(0))
    return WebSocketClient(url=URL, connect=exchange.connect, **kwargs)


async def run_for(client: WebSocketClient, seconds: float) -> Recorder:
    """Run the client for `seconds` of virtual time and return what it handed out."""
    recorder = Recorder()
    with trio.move_on_after(seconds):
        await client.run(recorder)
    return recorder


def ec_credentials() -> Credentials:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    return Credentials.from_values(KEY_NAME, pem)


def l2_event(product: str, *levels: tuple[str, str, str], kind: str = "update") -> dict[str, Any]:
    return {
        "type": kind,
        "product_id": product,
        "updates": [
            {"side": side, "event_time": "e", "price_level": price, "new_quantity": quantity}
            for side, price, quantity in levels
        ],
    }


# -- subscribing ---------------------------------------------------------------------------------


async def test_subscribes_one_message_per_channel_heartbeats_first_at_connect(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Coinbase drops a client that has not subscribed within 5 s, and quiet channels close
    after 60-90 s without heartbeats: every channel is subscribed at once, heartbeats first."""
    exchange = FakeExchange(nursery)
    client = client_for(exchange, channels={"level2": ["BTC-USD", "ETH-USD"], "market_trades": BTC})
    recorder = await run_for(client, 3)

    (connection,) = exchange.connections
    assert connection.messages == [
        {"type": "subscribe", "product_ids": [], "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "market_trades"},
    ]
    assert [at for at, _ in connection.received] == [0.0, 0.0, 0.0]
    assert recorder.items[:2] == [
        Connected(url=URL, attempt=0),
        Subscribed(channels=("heartbeats", "l2_data", "market_trades")),
    ]


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ({"heartbeats": [], "ticker": BTC}, ["heartbeats", "ticker"]),
        ({"ticker": BTC, "heartbeats": ["BTC-USD"]}, ["heartbeats", "ticker"]),
        ({}, ["heartbeats"]),
    ],
)
async def test_heartbeats_are_always_subscribed_exactly_once(
    autojump_clock: object,
    channels: dict[str, list[str]],
    expected: list[str],
    nursery: trio.Nursery,
) -> None:
    """Heartbeats keep the connection alive and feed the watchdog; one subscription is enough."""
    exchange = FakeExchange(nursery)
    await run_for(client_for(exchange, channels=channels), 1)
    assert [m["channel"] for m in exchange.connections[0].messages] == expected


async def test_every_subscribe_carries_a_freshly_signed_jwt(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Coinbase wants a new JWT per (un)subscribe (2-minute expiry), on reconnects too."""
    credentials = ec_credentials()
    exchange = FakeExchange(nursery, then_close(1001, after=30), idle)
    client = client_for(
        exchange,
        channels={"level2": BTC, "user": []},
        credentials=credentials,
        now=lambda: EPOCH + trio.current_time(),
    )
    await run_for(client, 40)

    first, second = exchange.connections
    assert len(first.messages) == len(second.messages) == 3
    nonces = set()
    for connection in (first, second):
        for message in connection.messages:
            token = message["jwt"]
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                credentials.public_key_pem(),
                algorithms=["ES256"],
                options={"verify_exp": False, "verify_nbf": False},
            )
            assert header["kid"] == KEY_NAME
            assert claims["sub"] == KEY_NAME
            assert claims["iss"] == "cdp"
            assert claims["nbf"] == int(EPOCH + connection.opened_at)
            assert claims["exp"] == claims["nbf"] + JWT_LIFETIME
            assert "uri" not in claims
            nonces.add(header["nonce"])
    assert len(nonces) == 6
    assert second.opened_at > first.opened_at


async def test_without_credentials_no_jwt_key_is_sent(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Public channels work unauthenticated; an empty jwt would be refused."""
    exchange = FakeExchange(nursery)
    await run_for(client_for(exchange), 1)
    assert all("jwt" not in message for message in exchange.connections[0].messages)


async def test_started_waits_for_the_first_subscribed_connection(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A supervisor starts the next actor only when the feed is really subscribed."""
    exchange = FakeExchange(nursery, refuse=2)
    client = client_for(exchange)
    recorder = Recorder()
    async with trio.open_nursery() as tasks:
        await tasks.start(client.run, recorder)
        assert trio.current_time() == 3.0  # refused at 0 and 1 (backoff 1 s, then 2 s)
        assert recorder.kinds() == ["ConnectFailed", "ConnectFailed", "Connected", "Subscribed"]
        await exchange.connections[0].wait_for_messages(2)  # already sent: no time passes
        assert trio.current_time() == 3.0
        assert client.connected
        tasks.cancel_scope.cancel()
    assert not client.connected


async def test_subscribing_that_hangs_is_abandoned_and_retried(autojump_clock: object) -> None:
    """Coinbase closes a connection not subscribed within 5 s: better to retry ourselves."""

    class Stuck:
        async def send_message(self, message: str) -> None:
            await trio.sleep_forever()

        async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
            await trio.lowlevel.checkpoint()

    attempts: list[float] = []

    @asynccontextmanager
    async def connect(url: str, *, max_message_size: int) -> AsyncIterator[Any]:
        attempts.append(trio.current_time())
        yield Stuck()

    client = WebSocketClient(
        url=URL, channels={}, connect=connect, backoff=STEADY, subscribe_timeout=5.0
    )
    recorder = await run_for(client, 20)
    assert attempts == [0.0, 6.0, 13.0]  # 5 s timeout, then 1 s and 2 s of backoff
    disconnected = recorder.of(Disconnected)
    assert disconnected[0] == Disconnected(
        reason="subscribing took longer than 5 s", code=None, retry_in=1.0
    )
    assert recorder.of(Connected) == []


# -- decoding ----------------------------------------------------------------------------------


async def test_each_channel_is_decoded_into_one_typed_frame(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Consumers get typed, Decimal-valued payloads, one item per frame, stamped on trio's clock."""
    order = {
        "order_id": "o1",
        "client_order_id": "c1",
        "product_id": "BTC-USD",
        "order_side": "BUY",
        "status": "OPEN",
        "cumulative_quantity": "0",
        "leaves_quantity": "1",
    }
    trade = {
        "trade_id": "t1",
        "product_id": "BTC-USD",
        "price": "100.5",
        "size": "0.25",
        "side": "SELL",
        "time": "x",
    }
    exchange = FakeExchange(
        nursery,
        sending(
            ("subscriptions", [{"subscriptions": {"level2": BTC}}]),
            ("heartbeats", [{"current_time": "now", "heartbeat_counter": "41"}]),
            ("l2_data", [l2_event("BTC-USD", ("bid", "100", "2"), kind="snapshot")]),
            ("market_trades", [{"type": "update", "trades": [trade]}]),
            ("ticker", [{"type": "update", "tickers": [{"product_id": "BTC-USD", "price": "1"}]}]),
            ("user", [{"type": "snapshot", "orders": [order]}]),
            pause=0.5,
        ),
    )
    recorder = await run_for(client_for(exchange), 3)

    frames = recorder.frames()[:6]
    assert [f.channel for f in frames] == [
        "subscriptions",
        "heartbeats",
        "l2_data",
        "market_trades",
        "ticker",
        "user",
    ]
    assert [f.sequence_num for f in frames] == [0, 1, 2, 3, 4, 5]
    assert [f.received_at for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert frames[0].timestamp == "2026-01-01T00:00:00.000000001Z"
    assert isinstance(frames[0].payload, Subscriptions)
    assert isinstance(frames[1].payload, Heartbeats)
    assert frames[1].payload.events[0].heartbeat_counter == 41
    assert isinstance(frames[2].payload, L2Data)
    assert frames[2].payload.events[0].updates == (("bid", Decimal(100), Decimal(2), "e"),)
    assert isinstance(frames[3].payload, MarketTrades)
    assert frames[3].payload.events[0].trades[0].maker_side == "SELL"
    assert isinstance(frames[4].payload, Tickers)
    assert isinstance(frames[5].payload, UserOrders)
    assert frames[5].payload.events[0].orders[0].leaves_quantity == Decimal(1)


async def test_a_multi_megabyte_snapshot_is_accepted(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A BTC-USD level2 snapshot is several MB; small frame limits fail silently elsewhere."""
    levels = [("bid" if i % 2 else "offer", f"{10_000 + i}.25", f"{i}.5") for i in range(40_000)]
    snapshot = orjson.dumps(
        {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": "t",
            "sequence_num": 0,
            "events": [l2_event("BTC-USD", *levels, kind="snapshot")],
        }
    ).decode()
    assert len(snapshot) > 3_000_000
    exchange = FakeExchange(nursery, sending(snapshot))
    recorder = await run_for(client_for(exchange), 2)

    (frame,) = recorder.frames("l2_data")
    assert isinstance(frame.payload, L2Data)
    updates = frame.payload.events[0].updates
    assert len(updates) == 40_000
    assert updates[0] == ("offer", Decimal("10000.25"), Decimal("0.5"), "e")
    assert updates[-1] == ("bid", Decimal("49999.25"), Decimal("39999.5"), "e")
    assert recorder.of(Disconnected) == []


async def test_a_frame_over_the_size_limit_is_reported_and_reconnected(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A too-small limit must be loud (close code 1009 in the item), never a silent stall."""
    big = "x" * 5000
    exchange = FakeExchange(nursery, sending(big), idle)
    recorder = await run_for(client_for(exchange, max_message_size=4096), 3)
    disconnected = recorder.of(Disconnected)[0]
    assert disconnected.code == 1009
    assert "MESSAGE_TOO_BIG" in disconnected.reason
    assert len(exchange.connections) == 2


# -- sequence numbers ------------------------------------------------------------------------------


async def test_a_forward_jump_is_a_gap_and_a_step_back_is_dropped(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A gap means lost data (the book must re-sync); a late or repeated frame must not be
    applied twice. Both are reported, neither stops the stream."""

    async def script(connection: ServerConnection) -> None:
        await connection.wait_for_messages(1)
        for number in (0, 1, 2, 5, 4, 5, 6):
            await connection.heartbeat(number, sequence=number)
        await trio.sleep_forever()

    exchange = FakeExchange(nursery, script)
    client = client_for(exchange)
    recorder = await run_for(client, 3)

    sequence_items = [
        item for item in recorder.items if isinstance(item, Frame | SequenceGap | OutOfOrder)
    ]
    summary = [item.sequence_num if isinstance(item, Frame) else item for item in sequence_items]
    assert summary == [
        0,
        1,
        2,
        SequenceGap(expected=3, received=5, channel="heartbeats"),
        5,
        OutOfOrder(expected=6, received=4, channel="heartbeats", count=1),
        OutOfOrder(expected=6, received=5, channel="heartbeats", count=2),
        6,
    ]
    statistics = client.statistics()
    assert (statistics.gaps, statistics.out_of_order, statistics.frames) == (1, 2, 5)


async def test_sequence_numbers_start_afresh_on_every_connection(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """The counter is per connection: a reconnect starting at 0 again is not out of order."""

    async def script(connection: ServerConnection) -> None:
        await connection.wait_for_messages(1)
        for number in range(3):
            await connection.heartbeat(number)
        await connection.ws.aclose(1000)

    exchange = FakeExchange(nursery, script, idle)
    recorder = await run_for(client_for(exchange), 5)
    assert recorder.of(OutOfOrder) == []
    assert recorder.of(SequenceGap) == []
    assert [f.sequence_num for f in recorder.frames()][:5] == [0, 1, 2, 0, 1]


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        ([7], [Sequencing.FIRST]),
        ([0, 1, 2], [Sequencing.FIRST, Sequencing.NEXT, Sequencing.NEXT]),
        ([0, 3, 4], [Sequencing.FIRST, Sequencing.GAP, Sequencing.NEXT]),
        ([5, 5, 4, 6], [Sequencing.FIRST, Sequencing.BEHIND, Sequencing.BEHIND, Sequencing.NEXT]),
    ],
)
def test_the_sequence_tracker_classifies_each_number(
    numbers: list[int], expected: list[Sequencing]
) -> None:
    """The tracker is the whole gap policy; it must move on after gaps, never after steps back."""
    tracker = SequenceTracker()
    assert tracker.expected is None
    assert [tracker.observe(number) for number in numbers] == expected
    assert tracker.expected == max(numbers) + 1


# -- the watchdog and reconnects -------------------------------------------------------------------


async def test_a_silent_stream_is_stale_closed_and_resubscribed(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """The SDK's worst failure is a feed that stops without a word; silence must end the
    connection, and the next one must subscribe everything again."""

    async def stall_after_three(connection: ServerConnection) -> None:
        await connection.wait_for_messages(2)
        await connection.confirm()
        for counter in (1, 2, 3):
            await trio.sleep(1)
            await connection.heartbeat(counter)
        await trio.sleep_forever()

    exchange = FakeExchange(nursery, stall_after_three, idle)
    client = client_for(exchange, stale_after=5.0)
    recorder = await run_for(client, 12)

    stale_at = recorder.times[recorder.items.index(recorder.of(StreamStale)[0])]
    assert stale_at == 8.0  # last heartbeat at 3, five silent seconds
    assert recorder.of(StreamStale) == [StreamStale(silent_for=5.0)]
    assert recorder.of(Disconnected)[0] == Disconnected(
        reason="stale: no frame for 5.0 s", code=None, retry_in=1.0
    )
    first, second = exchange.connections
    assert first.ws.closed is not None
    assert first.ws.closed.code == 1000
    assert second.opened_at == 9.0
    assert second.messages == first.messages
    assert client.statistics().stale == 1


async def test_a_slow_consumer_is_not_mistaken_for_a_silent_stream(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Time spent inside on_item is not silence: frames queue up meanwhile."""
    exchange = FakeExchange(nursery)
    client = client_for(exchange, stale_after=2.0)
    recorder = Recorder()

    async def slow(item: StreamItem) -> None:
        await recorder(item)
        if isinstance(item, Frame):
            await trio.sleep(3)

    with trio.move_on_after(20):
        await client.run(slow)
    assert recorder.of(StreamStale) == []
    assert len(exchange.connections) == 1


@pytest.mark.parametrize("code", [1000, 1001, 1011, 4000])
async def test_any_close_code_reconnects(
    autojump_clock: object, code: int, nursery: trio.Nursery
) -> None:
    """The official SDK stops silently on 1000 and 1001; a trading feed must always come back."""
    exchange = FakeExchange(nursery, then_close(code, after=2), idle)
    recorder = await run_for(client_for(exchange), 5)

    (disconnected,) = recorder.of(Disconnected)
    assert disconnected.code == code
    assert type(disconnected.code) is int  # not wsproto's enum: items must stay plain values
    assert disconnected.reason.startswith(f"connection closed: {code} ")
    assert disconnected.reason.endswith(": bye")
    assert disconnected.retry_in == 1.0
    assert len(exchange.connections) == 2
    assert exchange.connections[1].opened_at == 3.0
    assert recorder.of(Connected)[1] == Connected(url=URL, attempt=1)


async def test_a_dropped_connection_without_close_frame_reconnects(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A dead TCP connection (no close frame) is reported as 1006 and retried."""

    async def drop(connection: ServerConnection) -> None:
        await connection.wait_for_messages(1)
        await connection.confirm()
        await trio.sleep(1)
        await connection.stream.aclose()

    exchange = FakeExchange(nursery, drop, idle)
    recorder = await run_for(client_for(exchange), 4)
    assert recorder.of(Disconnected)[0].code == 1006
    assert len(exchange.connections) == 2


async def test_failed_connects_back_off_exponentially(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Hammering a refusing exchange gets an IP rate-limited; the delays double up to a cap."""
    exchange = FakeExchange(nursery, refuse=5)
    client = client_for(exchange, backoff=Backoff(min=1.0, max=4.0, jitter=0.0, reset_after=10))
    recorder = await run_for(client, 20)

    assert exchange.attempts == [0.0, 1.0, 3.0, 7.0, 11.0, 15.0]
    failures = recorder.of(ConnectFailed)
    assert [(f.attempt, f.retry_in) for f in failures] == [
        (0, 1.0),
        (1, 2.0),
        (2, 4.0),
        (3, 4.0),
        (4, 4.0),
    ]
    assert "Connection refused" in failures[0].reason
    assert failures[0].url == URL
    assert recorder.of(Connected) == [Connected(url=URL, attempt=5)]
    assert client.statistics().connect_failures == 5


async def test_jitter_comes_from_the_injected_random_source(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A seeded Random makes a run reproducible, jitter included."""
    backoff = Backoff(min=1.0, max=8.0, jitter=0.5, reset_after=10)
    exchange = FakeExchange(nursery, refuse=3)
    await run_for(client_for(exchange, backoff=backoff, rng=random.Random(42)), 30)

    replay = random.Random(42)
    expected = [0.0]
    for attempt in range(3):
        expected.append(expected[-1] + backoff.delay(attempt, replay.random()))
    assert exchange.attempts == pytest.approx(expected)
    assert exchange.attempts[1] < 1.0  # jitter shortened the first delay


async def test_the_backoff_starts_over_after_a_stable_connection(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A connection that lasted is not part of a failure streak: the next retry is quick."""
    exchange = FakeExchange(nursery, then_close(1001, after=15), then_close(1001), idle, refuse=2)
    recorder = await run_for(client_for(exchange), 30)
    assert [f.retry_in for f in recorder.of(ConnectFailed)] == [1.0, 2.0]
    assert [d.retry_in for d in recorder.of(Disconnected)] == [1.0, 2.0]  # not 4.0, then 8.0
    assert [c.attempt for c in recorder.of(Connected)] == [2, 1, 2]
    assert exchange.attempts == [0.0, 1.0, 3.0, 19.0, 21.0]


async def test_an_error_frame_is_surfaced_then_the_client_reconnects(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """'authentication failure' must reach the consumer (who may escalate); the connection is
    replaced, since a refused subscription can leave heartbeats flowing on a useless socket."""
    credentials = ec_credentials()
    exchange = FakeExchange(
        nursery, sending('{"type":"error","message":"authentication failure"}'), idle
    )
    client = client_for(exchange, credentials=credentials)
    recorder = await run_for(client, 5)

    assert recorder.of(ErrorFrame) == [ErrorFrame(message="authentication failure")]
    assert recorder.of(Disconnected)[0] == Disconnected(
        reason="error frame: authentication failure", code=None, retry_in=1.0
    )
    first, second = exchange.connections
    assert [m["jwt"] for m in first.messages] != [m["jwt"] for m in second.messages]
    assert client.statistics().error_frames == 1


async def test_a_long_non_ascii_error_message_still_closes_cleanly(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """The close reason quotes the server's message; a close frame holds only 123 bytes."""
    message = "échec d'authentification " * 20
    error = orjson.dumps({"type": "error", "message": message}).decode()
    exchange = FakeExchange(nursery, sending(error), idle)
    recorder = await run_for(client_for(exchange), 3)

    assert recorder.of(ErrorFrame) == [ErrorFrame(message=message)]
    first = exchange.connections[0].ws.closed
    assert first is not None
    assert first.code == 1000
    assert first.reason is not None
    assert first.reason.startswith("error frame: échec")
    assert len(first.reason.encode()) <= 123
    assert len(exchange.connections) == 2


async def test_an_error_while_closing_an_ended_connection_still_reconnects(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A close handshake that times out must not stop the stream."""
    exchange = FakeExchange(nursery, then_close(1001), idle)

    @asynccontextmanager
    async def flaky_close(url: str, *, max_message_size: int) -> AsyncIterator[Any]:
        async with exchange.connect(url, max_message_size=max_message_size) as ws:
            yield ws
        raise DisconnectionTimeout

    client = WebSocketClient(url=URL, channels={}, connect=flaky_close, backoff=STEADY)
    recorder = await run_for(client, 3)
    assert len(exchange.connections) == 2
    assert recorder.of(Disconnected)[0].code == 1001


# -- bad input --------------------------------------------------------------------------------------

BAD_DECIMAL = orjson.dumps(
    {
        "channel": "l2_data",
        "client_id": "",
        "timestamp": "t",
        "sequence_num": 1,
        "events": [l2_event("BTC-USD", ("bid", "abc", "1"))],
    }
).decode()


@pytest.mark.parametrize(
    ("frame", "reason", "channel"),
    [
        ("not json", "frame: not JSON", None),
        ("<html>\n<head><title>502 Bad Gateway</title></head>\n</html>", "frame: not JSON", None),
        ('{"channel": "l2_data"}', "frame: missing key 'sequence_num'", None),
        (
            '{"channel":"l2_data","sequence_num":"1","timestamp":"t","events":[]}',
            "frame.sequence_num: expected a non-negative integer, got a string ('1')",
            None,
        ),
        (
            BAD_DECIMAL,
            "l2_data.events[0].updates[0].price_level: 'abc' is not a decimal",
            "l2_data",
        ),
    ],
)
async def test_a_malformed_frame_is_reported_and_reading_goes_on(
    autojump_clock: object, frame: str, reason: str, channel: str | None, nursery: trio.Nursery
) -> None:
    """One bad frame must cost one frame, never the feed; the report says what and where."""
    exchange = FakeExchange(
        nursery, sending(frame, ("heartbeats", [{"current_time": "t", "heartbeat_counter": 2}]))
    )
    client = client_for(exchange)
    recorder = await run_for(client, 3)

    (malformed,) = recorder.of(MalformedFrame)
    assert malformed.reason == reason
    assert malformed.channel == channel
    assert malformed.count == 1
    assert "\n" not in malformed.excerpt
    assert len(malformed.excerpt) <= 120
    after = recorder.items[recorder.items.index(malformed) + 1 :]
    assert any(isinstance(item, Frame) and item.channel == "heartbeats" for item in after)
    assert recorder.of(Disconnected) == []
    assert client.statistics().malformed == 1


async def test_unknown_channels_are_ignored_and_counted(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """New channels may appear (docs); they must not crash the client nor flood the consumer."""

    async def script(connection: ServerConnection) -> None:
        await connection.wait_for_messages(1)
        for _ in range(7):
            await connection.send("candles", [{"type": "update", "candles": []}])
        await connection.heartbeat()
        await trio.sleep_forever()

    exchange = FakeExchange(nursery, script)
    client = client_for(exchange, unknown_report_every=3)
    recorder = await run_for(client, 2)

    assert recorder.of(UnknownChannel) == [
        UnknownChannel(name="candles", count=1),
        UnknownChannel(name="candles", count=3),
        UnknownChannel(name="candles", count=6),
    ]
    assert recorder.of(SequenceGap) == []  # their sequence numbers still count
    assert [f.sequence_num for f in recorder.frames()] == [7]
    assert client.statistics().unknown == (("candles", 7),)


async def test_a_flood_of_unknown_channel_names_is_counted_in_bounded_memory(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """A hostile or broken server inventing names must not grow the counters without bound."""

    async def script(connection: ServerConnection) -> None:
        await connection.wait_for_messages(1)
        for number in range(70):
            await connection.send(f"made-up-{number}", [])
        await trio.sleep_forever()

    exchange = FakeExchange(nursery, script)
    client = client_for(exchange)
    await run_for(client, 2)
    unknown = dict(client.statistics().unknown)
    assert len(unknown) == 65
    assert unknown["(other)"] == 6


# -- the consumer and cancellation ------------------------------------------------------------------


async def test_cancelling_the_client_closes_the_connection_with_1001(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Stopping must say goodbye properly and leave no task behind."""
    exchange = FakeExchange(nursery)
    client = client_for(exchange)
    with trio.move_on_after(5) as scope:
        await client.run(Recorder())
    assert scope.cancelled_caught
    (connection,) = exchange.connections
    assert connection.ws.closed is not None
    assert connection.ws.closed.code == 1001
    assert not client.connected


async def test_a_cancelled_client_stops_at_once_and_still_sends_its_close_frame(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Cancelled, the connection's reader goes with the client, so the exchange's answer to
    the close frame can never be read: stopping must not wait for it. It did, for the whole
    grace (0.1 s per WebSocket, 0.2 s of every tree stop with the market feed and the user
    channel); now no virtual time passes between the cancel and the return, and the
    exchange still receives the 1001 close frame."""
    exchange = FakeExchange(nursery)
    client = client_for(exchange)
    async with trio.open_nursery() as tasks:
        await tasks.start(client.run, Recorder())
        await trio.sleep(1.5)  # connected, subscribed, reading heartbeats
        cancelled_at = trio.current_time()
        tasks.cancel_scope.cancel()
    assert trio.current_time() == cancelled_at
    assert not client.connected
    (connection,) = exchange.connections
    await trio.testing.wait_all_tasks_blocked()
    assert connection.ws.closed is not None
    assert (connection.ws.closed.code, connection.ws.closed.reason) == (1001, "client stopping")


@pytest.mark.parametrize("refuse", [0, 100])
async def test_the_client_can_be_run_again_after_cancellation(
    autojump_clock: object, refuse: int, nursery: trio.Nursery
) -> None:
    """A supervisor restarts the feed by running the same client again, whatever it was doing
    when it was cancelled (reading, or waiting out a backoff)."""
    exchange = FakeExchange(nursery, refuse=refuse)
    client = client_for(exchange)
    await run_for(client, 2)
    await run_for(client, 2)
    assert len(exchange.attempts) >= 2


async def test_running_one_client_twice_at_once_is_refused(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Two loops on one client would interleave their sequence bookkeeping."""
    client = client_for(FakeExchange(nursery))
    async with trio.open_nursery() as tasks:
        await tasks.start(client.run, Recorder())
        with pytest.raises(RuntimeError, match="already running"):
            await client.run(Recorder())
        tasks.cancel_scope.cancel()


@pytest.mark.parametrize("error", [ValueError("bug in the book"), OSError("disk full")])
async def test_an_exception_from_on_item_propagates_unchanged(
    autojump_clock: object, error: Exception, nursery: trio.Nursery
) -> None:
    """The consumer's failure is a crash for its supervisor, never a disguised reconnect, even
    when it is an OSError like the transport's."""
    exchange = FakeExchange(nursery)
    client = client_for(exchange)

    async def on_item(item: StreamItem) -> None:
        if isinstance(item, Frame):
            raise error

    with pytest.raises(type(error)) as caught:
        await client.run(on_item)
    assert caught.value is error
    assert len(exchange.attempts) == 1
    assert exchange.connections[0].ws.closed is not None
    assert exchange.connections[0].ws.closed.code == 1001


# -- control: resubscribe and reconnect -------------------------------------------------------------


async def test_resubscribe_sends_unsubscribe_then_subscribe_with_fresh_jwts(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """After a gap the book needs a fresh snapshot; resubscribing gets one without reconnecting."""
    credentials = ec_credentials()
    exchange = FakeExchange(nursery)
    client = client_for(
        exchange, channels={"level2": ["BTC-USD", "ETH-USD"]}, credentials=credentials
    )
    results: list[bool] = []

    async def on_item(item: StreamItem) -> None:
        if isinstance(item, SequenceGap | Frame) and not results:
            results.append(await client.resubscribe("l2_data", ["ETH-USD"]))

    with trio.move_on_after(3):
        await client.run(on_item)
    assert results == [True]
    messages = exchange.connections[0].messages
    assert [(m["type"], m["channel"], m["product_ids"]) for m in messages[2:]] == [
        ("unsubscribe", "level2", ["ETH-USD"]),
        ("subscribe", "level2", ["ETH-USD"]),
    ]
    assert len({m["jwt"] for m in messages}) == 4
    assert len(exchange.connections) == 1
    assert await client.resubscribe("level2") is False  # not connected any more


@pytest.mark.parametrize(
    ("channel", "products", "message"),
    [
        ("ticker", None, "'ticker' is not subscribed"),
        ("level2", ["DOGE-USD"], "['DOGE-USD'] are not subscribed on 'level2'"),
    ],
)
async def test_resubscribe_refuses_what_was_never_subscribed(
    channel: str, products: list[str] | None, message: str, nursery: trio.Nursery
) -> None:
    """Resubscribing cannot widen the subscription behind the configuration's back."""
    client = client_for(FakeExchange(nursery))
    with pytest.raises(InvalidSpec, match=message.replace("[", r"\[").replace("]", r"\]")):
        await client.resubscribe(channel, products)


async def test_reconnect_from_another_task_replaces_the_connection(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """The book may decide a full reconnect is the safest re-sync; it takes effect at once."""
    exchange = FakeExchange(nursery)
    client = client_for(exchange)
    recorder = Recorder()
    assert client.reconnect("not yet") is False
    async with trio.open_nursery() as tasks:
        await tasks.start(client.run, recorder)
        await trio.sleep(2.5)
        assert client.reconnect("book re-sync") is True
        await trio.sleep(2)
        tasks.cancel_scope.cancel()

    assert recorder.of(Disconnected)[0] == Disconnected(
        reason="reconnect requested: book re-sync", code=None, retry_in=1.0
    )
    assert recorder.times[recorder.items.index(recorder.of(Disconnected)[0])] == 2.5
    assert len(exchange.connections) == 2


async def test_reconnect_from_on_item_takes_effect_after_the_item(
    autojump_clock: object, nursery: trio.Nursery
) -> None:
    """Called inline from on_item, the request is honoured before the next read."""
    exchange = FakeExchange(nursery)
    client = client_for(exchange)
    recorder = Recorder()

    async def on_item(item: StreamItem) -> None:
        await recorder(item)
        if (
            isinstance(item, Frame)
            and item.channel == "heartbeats"
            and len(exchange.connections) == 1
        ):
            client.reconnect("from on_item")

    with trio.move_on_after(4):
        await client.run(on_item)
    assert recorder.of(Disconnected)[0].reason == "reconnect requested: from on_item"
    assert len(exchange.connections) == 2


async def test_statistics_add_up(autojump_clock: object, nursery: trio.Nursery) -> None:
    """Metrics and health checks read these counters."""
    exchange = FakeExchange(nursery, then_close(1000, after=1.5), idle, refuse=1)
    client = client_for(exchange)
    assert client.statistics() == StreamStatistics()
    await run_for(client, 6)
    statistics = client.statistics()
    assert statistics.connect_failures == 1
    assert statistics.connections == 2
    assert statistics.disconnects == 1
    assert statistics.frames > 0


# -- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": {"heartbeat": []}}, "the channel is 'heartbeats'"),
        ({"channels": {"l2_data": BTC}}, "subscribe to 'level2'"),
        ({"channels": {"candles": BTC}}, "no decoder"),
        ({"channels": {"orders": BTC}}, "known channels: heartbeats, level2"),
        ({"channels": {"level2": "BTC-USD"}}, "must be a list of product ids"),
        ({"channels": {"level2": []}}, "at least one product id"),
        ({"channels": {"level2": ["BTC-USD", "BTC-USD"]}}, "duplicate product ids"),
        ({"channels": {"level2": [""]}}, "non-empty strings"),
        ({"channels": {"user": []}}, "needs credentials"),
        ({"channels": ["level2"]}, "must map channel names"),
        ({"url": "https://advanced-trade-ws.coinbase.com"}, "url: must be ws://"),
        ({"url": "wss://"}, "url: must be ws://"),
        ({"url": 5}, "url: must be a string"),
        ({"stale_after": 0}, "stale_after: must be finite and > 0"),
        ({"stale_after": float("nan")}, "stale_after: must be finite"),
        ({"subscribe_timeout": "5"}, "subscribe_timeout: must be a number"),
        ({"max_message_size": 0}, "max_message_size: must be an integer >= 1"),
        ({"unknown_report_every": True}, "unknown_report_every: must be an integer"),
        ({"backoff": 1.0}, "backoff: expected a Backoff"),
        ({"credentials": "key"}, "credentials: expected Credentials"),
    ],
)
def test_bad_configuration_is_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    """A misspelled channel (Coinbase answers 'heartbeat' with 'authentication failure') or a
    bad URL must fail at start-up with a message naming it, not in production."""
    kwargs.setdefault("channels", {"level2": BTC})
    with pytest.raises(InvalidSpec, match=message):
        WebSocketClient(**kwargs)


def test_the_repr_names_the_stream_and_hides_the_key() -> None:
    """Reprs end up in logs: they say what the stream is, never which key signs it."""
    client = WebSocketClient(channels={"level2": BTC, "user": []}, credentials=ec_credentials())
    text = repr(client)
    assert text == (
        "<WebSocketClient wss://advanced-trade-ws.coinbase.com [heartbeats,level2,user] "
        "authenticated>"
    )
    assert KEY_NAME not in text
    assert client.url == "wss://advanced-trade-ws.coinbase.com"
    assert client.subscriptions == (("heartbeats", ()), ("level2", ("BTC-USD",)), ("user", ()))


# -- transports that misbehave -----------------------------------------------------------------------


class StubSocket:
    """A stand-in connection: `sends` messages go through, then sending raises `closed`; it
    delivers `frames`, then waits forever."""

    def __init__(self, *, sends: int, closed: ConnectionClosed, frames: list[str]) -> None:
        self.sends = sends
        self.closed = closed
        self.frames = list(frames)
        self.sent: list[str] = []

    async def send_message(self, message: str) -> None:
        await trio.lowlevel.checkpoint()
        if len(self.sent) >= self.sends:
            raise self.closed
        self.sent.append(message)

    async def get_message(self) -> str:
        if self.frames:
            await trio.lowlevel.checkpoint()
            return self.frames.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        await trio.lowlevel.checkpoint()


def stub_connector(*sockets: StubSocket) -> Connector:
    remaining = list(sockets)

    @asynccontextmanager
    async def connect(url: str, *, max_message_size: int) -> AsyncIterator[Any]:
        yield remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return connect


HEARTBEAT = orjson.dumps(
    {
        "channel": "heartbeats",
        "client_id": "",
        "timestamp": "t",
        "sequence_num": 0,
        "events": [{"current_time": "t", "heartbeat_counter": 1}],
    }
).decode()


async def test_a_close_while_subscribing_is_a_disconnect(autojump_clock: object) -> None:
    """The server may close before all subscribes are out (a policy violation, say)."""
    policy = ConnectionClosed(CloseReason(1008, "policy"))
    socket = StubSocket(sends=1, closed=policy, frames=[])
    client = WebSocketClient(
        url=URL, channels={"level2": BTC}, connect=stub_connector(socket), backoff=STEADY
    )
    recorder = await run_for(client, 0.5)
    assert recorder.of(Disconnected) == [
        Disconnected(
            reason="connection closed: 1008 POLICY_VIOLATION: policy", code=1008, retry_in=1.0
        )
    ]
    assert recorder.of(Connected) == []


async def test_resubscribe_on_a_connection_that_just_closed_says_so(
    autojump_clock: object,
) -> None:
    """A re-sync request racing a disconnect is harmless: the next connection subscribes."""
    socket = StubSocket(
        sends=2, closed=ConnectionClosed(CloseReason(1001, None)), frames=[HEARTBEAT]
    )
    client = WebSocketClient(
        url=URL, channels={"level2": BTC}, connect=stub_connector(socket), backoff=STEADY
    )
    results: list[bool] = []

    async def on_item(item: StreamItem) -> None:
        if isinstance(item, Frame):
            results.append(await client.resubscribe("level2"))

    with trio.move_on_after(0.5):
        await client.run(on_item)
    assert results == [False]


async def test_a_connector_raising_exception_groups_is_understood(autojump_clock: object) -> None:
    """A connector built on a nursery raises ExceptionGroups: a group of transport errors is
    still a failed connect, not a crash."""

    @asynccontextmanager
    async def grouping(url: str, *, max_message_size: int) -> AsyncIterator[Any]:
        raise ExceptionGroup("connect", [OSError(errno.ECONNREFUSED, "Connection refused")])
        yield  # pragma: no cover

    client = WebSocketClient(url=URL, channels={}, connect=grouping, backoff=STEADY)
    recorder = await run_for(client, 2.5)
    failures = recorder.of(ConnectFailed)
    assert len(failures) == 2
    assert failures[0].reason == (
        "connect failed: ConnectionRefusedError: [Errno 111] Connection refused"
    )


async def test_a_consumer_error_inside_a_group_is_not_mistaken_for_the_transport(
    autojump_clock: object,
) -> None:
    """Only groups made entirely of transport errors mean "reconnect"; anything else escapes."""

    @asynccontextmanager
    async def grouping(url: str, *, max_message_size: int) -> AsyncIterator[Any]:
        socket = StubSocket(sends=10, closed=ConnectionClosed(None), frames=[HEARTBEAT])
        try:
            yield socket
        except Exception as error:
            raise ExceptionGroup("connection", [error, trio.BrokenResourceError()]) from None

    async def on_item(item: StreamItem) -> None:
        if isinstance(item, Frame):
            raise KeyError("consumer bug")

    client = WebSocketClient(url=URL, channels={}, connect=grouping, backoff=STEADY)
    with pytest.raises(ExceptionGroup) as caught:
        await client.run(on_item)
    assert caught.group_contains(KeyError, match="consumer bug")


# -- real sockets ---------------------------------------------------------------------------------------


async def loopback_handler(
    request: trio_websocket.WebSocketRequest,
    on_close: Callable[[CloseReason | None], None] | None = None,
) -> None:
    """A minimal exchange: confirm the subscription, send a level2 snapshot and heartbeats;
    then tell ``on_close`` how the client closed."""
    ws = await request.accept()
    subscribes = [orjson.loads(await ws.get_message()) for _ in range(2)]
    frames = [
        (
            "subscriptions",
            [{"subscriptions": {s["channel"]: s["product_ids"] for s in subscribes}}],
        ),
        ("l2_data", [l2_event("BTC-USD", ("bid", "99.5", "3"), kind="snapshot")]),
        ("heartbeats", [{"current_time": "now", "heartbeat_counter": 1}]),
    ]
    for number, (channel, events) in enumerate(frames):
        document = {
            "channel": channel,
            "client_id": "",
            "timestamp": "t",
            "sequence_num": number,
            "events": events,
        }
        await ws.send_message(orjson.dumps(document).decode())
    with suppress(ConnectionClosed):
        await ws.get_message()
    if on_close is not None:
        on_close(ws.closed)


async def collect_until_heartbeat(client: WebSocketClient) -> Recorder:
    recorder = Recorder()
    with trio.fail_after(10):  # a safety net on the real clock; the exchange answers at once
        async with trio.open_nursery() as nursery:

            async def on_item(item: StreamItem) -> None:
                await recorder(item)
                if isinstance(item, Frame) and item.channel == "heartbeats":
                    nursery.cancel_scope.cancel()

            nursery.start_soon(client.run, on_item)
    return recorder


def check_loopback_run(recorder: Recorder) -> None:
    assert [f.channel for f in recorder.frames()] == ["subscriptions", "l2_data", "heartbeats"]
    subscriptions = recorder.frames()[0].payload
    assert subscriptions == Subscriptions(channels=(("heartbeats", ()), ("level2", ("BTC-USD",))))
    snapshot = recorder.frames()[1].payload
    assert isinstance(snapshot, L2Data)
    assert snapshot.events[0].updates == (("bid", Decimal("99.5"), Decimal(3), "e"),)
    assert recorder.of(MalformedFrame) == []


async def test_the_default_transport_works_over_loopback_tcp() -> None:
    """Everything else uses in-memory streams; this proves the real TCP path end to end,
    down to the close frame a cancelled client sends before dropping the connection."""
    closes: list[CloseReason | None] = []
    closed = trio.Event()

    def on_close(reason: CloseReason | None) -> None:
        closes.append(reason)
        closed.set()

    handler = functools.partial(loopback_handler, on_close=on_close)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        client = WebSocketClient(
            url=f"ws://127.0.0.1:{server.port}", channels={"level2": BTC}, stale_after=30
        )
        recorder = await collect_until_heartbeat(client)
        with trio.fail_after(10):
            await closed.wait()
        nursery.cancel_scope.cancel()
    check_loopback_run(recorder)
    [reason] = closes
    assert reason is not None
    assert (reason.code, reason.reason) == (1001, "client stopping")


async def test_the_default_transport_speaks_tls() -> None:
    """wss:// verifies the server certificate against the given trust store."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    connector: Connector = tcp_connector(ssl_context=client_context)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            trio_websocket.serve_websocket, loopback_handler, "127.0.0.1", 0, server_context
        )
        client = WebSocketClient(
            url=f"wss://127.0.0.1:{server.port}",
            channels={"level2": BTC},
            connect=connector,
            stale_after=30,
        )
        recorder = await collect_until_heartbeat(client)
        nursery.cancel_scope.cancel()
    check_loopback_run(recorder)


async def test_a_refused_tcp_connection_is_reported_with_its_cause() -> None:
    """Operators need 'connection refused', not a bare HandshakeError."""
    with trio.socket.socket() as probe:  # find a free port, then leave it closed
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = WebSocketClient(url=f"ws://127.0.0.1:{port}", channels={})
    recorder = Recorder()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def on_item(item: StreamItem) -> None:
                await recorder(item)
                nursery.cancel_scope.cancel()

            nursery.start_soon(client.run, on_item)
    (failed,) = recorder.of(ConnectFailed)
    assert failed.reason.startswith("connect failed: OSError")
    assert "refused" in failed.reason.lower()


def test_close_reasons_are_reported_with_code_and_name() -> None:
    """Operators read "1008 POLICY_VIOLATION: policy", not an enum repr or a bare number."""
    from cjt_actors.exchange.ws import _close_reason

    assert _close_reason(ConnectionClosed(CloseReason(1008, "policy"))) == (
        "connection closed: 1008 POLICY_VIOLATION: policy",
        1008,
    )
    assert _close_reason(ConnectionClosed(None)) == ("connection closed", None)
