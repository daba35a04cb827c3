"""The feed actor: one message per frame, status changes in order with them, re-syncs, giving up.

Two exchanges, both in memory and in virtual time (autojump clock):

* the simulator (:class:`~cjt_actors.sim.inmemory.InMemoryExchange`), for behaviour against
  a real market and its fault switches (close, stall, skipped sequence numbers, garbage);
* a scripted fake at the WebSocket seam (trio-websocket on both ends of a memory stream),
  for exact frames the simulator never sends: a malformed ``l2_data`` frame, a frame mixing
  snapshot and live trades, error frames between confirmations, a refused connection.
"""

from __future__ import annotations

import errno
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest
import trio
import trio.testing
import trio_websocket
from trio_websocket import CloseReason, ConnectionClosed

from cjt_actors.actors.book import BookActor
from cjt_actors.actors.feed import FeedActor, FeedMessage, FeedRejected, FeedStatus
from cjt_actors.channels import ConflatingMailbox, Mailbox, Overflow
from cjt_actors.child import ChildContext
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.l2ticks import L2TickEvent
from cjt_actors.exchange.stream import Trade
from cjt_actors.market_messages import (
    BookUpdated,
    FeedState,
    FeedStatusChanged,
    L2FrameReceived,
    TradesReceived,
)
from cjt_actors.messages import Event
from cjt_actors.orderbook import TrustReason
from cjt_actors.policy import Backoff
from cjt_actors.products import ProductRules
from cjt_actors.sim.inmemory import InMemoryExchange
from cjt_actors.sim.simulator import Simulator, SimulatorConfig
from cjt_actors.status import StatusBoard

BTC = "BTC-USD"
#: Cents and satoshis, as the simulator's BTC-USD (and Coinbase's).
RULES = ProductRules(
    product_id=BTC,
    base_increment=Decimal("0.00000001"),
    price_increment=Decimal("0.01"),
    base_min_size=Decimal("0.00000001"),
    base_max_size=Decimal(3400),
    quote_min_size=Decimal(1),
)
URL = "ws://fake.exchange/"
EPOCH = 1_767_225_600.0  # the simulated exchange's wall clock at virtual time 0
#: Exact reconnect delays: 1, 2, 4, 4... seconds.
STEADY = Backoff(min=1.0, max=4.0, jitter=0.0, reset_after=30.0)
Clock = trio.testing.MockClock


def _context(incarnation: int = 1) -> ChildContext:
    return ChildContext(name="feed", path="test/feed", incarnation=incarnation, shutdown_timeout=1)


@attrs.define
class Outputs:
    """Everything the feed sent: to the book, to risk (DROP_OLDEST), to the journal (BLOCK)."""

    to_book: Mailbox[FeedMessage] = attrs.Factory(
        lambda: Mailbox[FeedMessage]("feed->book", capacity=16)
    )
    to_risk: Mailbox[FeedStatusChanged] = attrs.Factory(
        lambda: Mailbox[FeedStatusChanged]("feed->risk", capacity=64, overflow=Overflow.DROP_OLDEST)
    )
    to_journal: Mailbox[Event] = attrs.Factory(lambda: Mailbox[Event]("journal", capacity=256))
    board: StatusBoard = attrs.Factory(StatusBoard)
    book: list[FeedMessage] = attrs.Factory(list)

    async def collect(self) -> None:
        """Read the book's inbox as the book would (the feed waits on it: BLOCK)."""
        async for message in self.to_book.receiver():
            self.book.append(message)

    def feed(self, **settings: Any) -> FeedActor:
        settings.setdefault("products", (BTC,))
        settings.setdefault("rules", {BTC: RULES})
        settings.setdefault("backoff", STEADY)
        settings.setdefault("rng", random.Random(0))
        return FeedActor(
            to_book=self.to_book,
            status_outboxes=(self.to_risk, self.to_journal),
            board=self.board,
            **settings,
        )

    def statuses(self) -> list[FeedStatusChanged]:
        return [m for m in self.book if isinstance(m, FeedStatusChanged)]

    def states(self) -> list[FeedState]:
        return [s.state for s in self.statuses()]

    def l2(self) -> list[L2FrameReceived]:
        return [m for m in self.book if isinstance(m, L2FrameReceived)]

    def trades(self) -> list[TradesReceived]:
        return [m for m in self.book if isinstance(m, TradesReceived)]

    def status(self) -> FeedStatus:
        found = self.board.get("feed", FeedStatus)
        assert found is not None
        return found

    def drained(self, mailbox: Mailbox[Any]) -> list[Any]:
        receiver = mailbox.receiver()
        got = []
        while True:
            try:
                got.append(receiver.receive_nowait())
            except trio.WouldBlock:
                return got


@asynccontextmanager
async def feeding(outputs: Outputs, actor: FeedActor) -> AsyncIterator[None]:
    """Run the feed (and a reader of the book's inbox) until the block ends, then cancel it."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outputs.collect)
        await nursery.start(actor.run, _context())
        yield
        nursery.cancel_scope.cancel()


# -- the simulator -------------------------------------------------------------------------------


@asynccontextmanager
async def simulator(nursery: trio.Nursery, seed: int = 1) -> AsyncIterator[InMemoryExchange]:
    sim = Simulator(SimulatorConfig(seed=seed, start_epoch=EPOCH, tick=0.25))
    await nursery.start(sim.run_background)
    yield InMemoryExchange(sim)


def sim_feed(outputs: Outputs, exchange: InMemoryExchange, **settings: Any) -> FeedActor:
    return outputs.feed(
        url=exchange.ws_market_url,
        connector=exchange.connect,
        wall_clock=exchange.sim.epoch,
        **settings,
    )


async def test_frames_become_one_message_each_in_order_with_the_statuses(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async with simulator(nursery) as exchange:
        await trio.sleep(10)  # some trading first, so the trades snapshot is not empty
        outputs = Outputs()
        async with feeding(outputs, sim_feed(outputs, exchange)):
            await trio.sleep(5)
    kinds = [type(m).__name__ for m in outputs.book]
    assert kinds[:4] == [
        "FeedStatusChanged",
        "FeedStatusChanged",
        "L2FrameReceived",
        "TradesReceived",
    ]
    assert outputs.states() == [FeedState.CONNECTING, FeedState.CONNECTED]
    first = outputs.l2()[0]
    assert [(e.type, e.product_id) for e in first.events] == [("snapshot", BTC)]
    assert len(first.events[0].levels) > 10  # the whole book in one message
    assert outputs.trades()[0].snapshot
    # the market moves every 0.25 s: updates, one message per frame, in wire order
    updates = outputs.l2()[1:]
    assert len(updates) > 5
    assert all(e.type == "update" for m in updates for e in m.events)
    numbers = [m.sequence_num for m in outputs.book if not isinstance(m, FeedStatusChanged)]
    assert numbers == sorted(set(numbers))
    # heartbeats were counted, never forwarded
    status = outputs.status()
    assert status.heartbeats >= 4
    assert status.frames == len(numbers) + status.heartbeats + 3  # + 3 subscription confirmations
    assert status.last_frame_at is not None
    assert status.last_frame_at > 14
    assert (status.state, status.incarnation, status.reconnects, status.gaps) == (
        FeedState.CONNECTED,
        1,
        0,
        0,
    )


async def test_a_server_close_is_a_reconnect_with_a_fresh_snapshot(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async with simulator(nursery) as exchange:
        outputs = Outputs()
        async with feeding(outputs, sim_feed(outputs, exchange)):
            await trio.sleep(2)
            exchange.sim.faults.close_connections(1001)
            await trio.sleep(5)
    statuses = outputs.statuses()
    assert [s.state for s in statuses] == [
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.RECONNECTING,
        FeedState.CONNECTED,
    ]
    reconnecting = statuses[2]
    assert "1001" in reconnecting.detail
    assert "retry in 1.0 s" in reconnecting.detail
    assert reconnecting.attempt == 1
    assert statuses[3].attempt == 0
    # the book gets a new snapshot after the status, in order
    after = outputs.book[outputs.book.index(statuses[3]) :]
    first_l2 = next(m for m in after if isinstance(m, L2FrameReceived))
    assert first_l2.events[0].type == "snapshot"
    assert exchange.connections_opened == 2
    assert outputs.status().reconnects == 1
    # risk and the journal got the same statuses
    assert outputs.drained(outputs.to_risk) == statuses
    assert outputs.drained(outputs.to_journal) == statuses


async def test_a_stalled_stream_turns_stale_and_is_replaced(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async with simulator(nursery) as exchange:
        outputs = Outputs()
        async with feeding(outputs, sim_feed(outputs, exchange, stale_after=3.0)):
            await trio.sleep(2)
            exchange.sim.faults.stall_connections()
            await trio.sleep(8)
    assert outputs.states() == [
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.STALE,
        FeedState.RECONNECTING,
        FeedState.CONNECTED,
    ]
    stale = outputs.statuses()[2]
    assert stale.detail == "no frame for 3.0 s"
    assert exchange.connections_opened == 2
    assert sum(1 for m in outputs.l2() if m.events[0].type == "snapshot") == 2


async def test_a_sequence_gap_resubscribes_level2_on_the_same_connection(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async with simulator(nursery) as exchange:
        outputs = Outputs()
        async with feeding(outputs, sim_feed(outputs, exchange)):
            await trio.sleep(2)
            exchange.sim.faults.skip_sequence(3)
            await trio.sleep(3)
    statuses = outputs.statuses()
    assert [s.state for s in statuses] == [
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.GAP,
        FeedState.CONNECTED,
    ]
    gap = statuses[2]
    assert gap.detail.startswith("sequence_num jumped from ")
    assert "3 frame(s) lost" in gap.detail
    # no reconnect: a fresh snapshot on the same connection, after the gap
    assert exchange.connections_opened == 1
    after = outputs.book[outputs.book.index(gap) :]
    assert any(isinstance(m, L2FrameReceived) and m.events[0].type == "snapshot" for m in after)
    status = outputs.status()
    assert (status.gaps, status.resyncs, status.reconnects) == (1, 1, 0)


async def test_garbage_frames_are_counted_and_the_stream_goes_on(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    """Frames whose envelope cannot be read: no channel to blame, nothing to distrust yet."""
    async with simulator(nursery) as exchange:
        outputs = Outputs()
        async with feeding(outputs, sim_feed(outputs, exchange)):
            await trio.sleep(2)
            exchange.sim.faults.inject_malformed(2)
            await trio.sleep(2)
    assert outputs.states() == [FeedState.CONNECTING, FeedState.CONNECTED]
    assert outputs.status().malformed == 2
    assert outputs.l2()[-1].received_at > 3


async def test_refused_subscriptions_raise_feed_rejected_after_max_error_frames(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async with simulator(nursery) as exchange:
        outputs = Outputs()
        nursery.start_soon(outputs.collect)
        nope = attrs.evolve(RULES, product_id="NOPE-USD")
        feed = sim_feed(
            outputs, exchange, products=("NOPE-USD",), rules={"NOPE-USD": nope}, max_error_frames=3
        )
        with pytest.raises(FeedRejected) as raised:
            await feed.run(_context())
    rejected = raised.value
    assert rejected.error_frames == 3
    assert "NOPE-USD" in rejected.last_error
    assert "3 error frames in a row" in str(rejected)
    errors = [s.detail for s in outputs.statuses() if "from the exchange" in s.detail]
    assert [d.split(" from")[0] for d in errors] == [
        "error frame 1/3",
        "error frame 2/3",
        "error frame 3/3",
    ]
    last = outputs.statuses()[-1]  # given up: no reconnect follows the third
    assert (last.state, last.detail) == (FeedState.RECONNECTING, errors[-1])
    assert exchange.connections_opened == 3
    assert trio.current_time() < 10  # backoff 1 + 2 s, and no further attempt


async def test_the_feed_and_the_book_together_distrust_on_a_gap_and_recover(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    """The whole market-data path against the simulator's market and grid."""
    async with simulator(nursery) as exchange:
        spec = exchange.sim.config.products[0]
        rules = ProductRules(
            product_id=spec.product_id,
            base_increment=spec.base_increment,
            price_increment=spec.price_increment,
            base_min_size=spec.base_min_size,
            base_max_size=spec.base_max_size,
            quote_min_size=spec.quote_min_size,
        )
        inbox = Mailbox[FeedMessage]("feed->book", capacity=16)
        views = ConflatingMailbox[str, BookUpdated](
            "views", key=lambda u: u.view.product_id, max_keys=4
        )
        book = BookActor(products={BTC: rules}, inbox=inbox, view_outboxes=(views,))
        feed = FeedActor(
            products=(BTC,),
            rules={BTC: rules},
            to_book=inbox,
            url=exchange.ws_market_url,
            connector=exchange.connect,
            rng=random.Random(0),
        )
        seen: list[tuple[float, bool, TrustReason | None]] = []

        async def watch() -> None:
            async for update in views.receiver():
                seen.append((trio.current_time(), update.view.trusted, update.view.trust_reason))

        async with trio.open_nursery() as actors:
            actors.start_soon(watch)
            await actors.start(book.run, _context())
            await actors.start(feed.run, _context())
            await trio.sleep(2)
            assert seen[-1][1:] == (True, None)
            exchange.sim.faults.skip_sequence(1)
            await trio.sleep(2)
            actors.cancel_scope.cancel()
    untrusted = [s for s in seen if s[2] is TrustReason.GAP]
    assert untrusted
    assert seen[-1][1:] == (True, None)  # the resubscription's snapshot restored trust
    assert seen[-1][0] > untrusted[0][0]
    assert exchange.connections_opened == 1


# -- a scripted exchange ----------------------------------------------------------------------


class Server:
    """The exchange's side of one connection, driven by a test's script."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.sequence = 0
        self.received: list[dict[str, Any]] = []
        self.closed: CloseReason | None = None
        self._news = trio.Event()

    async def read_forever(self) -> None:
        try:
            while True:
                self.received.append(orjson.loads(await self.ws.get_message()))
                self._news.set()
                self._news = trio.Event()
        except ConnectionClosed as closed:
            self.closed = closed.reason

    async def subscribed(self, count: int = 3) -> None:
        """Wait for the client's subscribe messages (heartbeats, level2, market_trades)."""
        while len(self.received) < count:
            await self._news.wait()

    async def send(self, channel: str, events: list[Any], *, sequence: int | None = None) -> None:
        number = self.sequence if sequence is None else sequence
        self.sequence = number + 1
        frame = {
            "channel": channel,
            "client_id": "",
            "timestamp": "2026-01-01T00:00:00.000000001Z",
            "sequence_num": number,
            "events": events,
        }
        await self.ws.send_message(orjson.dumps(frame).decode())

    async def confirm(self, products: Sequence[str] = (BTC,)) -> None:
        listing = {"heartbeats": ["heartbeats"], "level2": products, "market_trades": products}
        await self.send("subscriptions", [{"subscriptions": listing}])

    async def error(self, message: str) -> None:
        await self.ws.send_message(orjson.dumps({"type": "error", "message": message}).decode())

    async def heartbeats(self) -> None:
        counter = 0
        while True:
            await trio.sleep(1)
            counter += 1
            await self.send("heartbeats", [{"current_time": "t", "heartbeat_counter": counter}])


Script = Callable[[Server], Awaitable[None]]


class FakeExchange:
    """Connection k runs scripts[k] (the last one repeats); the first `refuse` attempts fail."""

    def __init__(self, nursery: trio.Nursery, *scripts: Script, refuse: int = 0) -> None:
        self.nursery = nursery
        self.scripts = scripts
        self.refuse = refuse
        self.attempts = 0
        self.servers: list[Server] = []

    @asynccontextmanager
    async def connect(
        self, url: str, *, max_message_size: int
    ) -> AsyncIterator[trio_websocket.WebSocketConnection]:
        assert url == URL
        self.attempts += 1
        if self.attempts <= self.refuse:
            raise OSError(errno.ECONNREFUSED, "Connection refused")
        client_stream, server_stream = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self._serve, server_stream)
        async with trio.open_nursery() as reader:
            ws = await trio_websocket.wrap_client_stream(
                reader,
                client_stream,  # type: ignore[arg-type]  # any trio Stream works
                "fake.exchange",
                "/",
                max_message_size=max_message_size,
            )
            try:
                yield ws
            finally:
                with trio.move_on_after(1, shield=True):
                    await ws.aclose()
                reader.cancel_scope.cancel()

    async def _serve(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            server = Server(await request.accept())
            script = self.scripts[min(len(self.servers), len(self.scripts) - 1)]
            self.servers.append(server)
            nursery.start_soon(server.read_forever)
            with suppress(ConnectionClosed):
                await script(server)


def fake_feed(outputs: Outputs, exchange: FakeExchange, **settings: Any) -> FeedActor:
    return outputs.feed(url=URL, connector=exchange.connect, **settings)


def l2_event(kind: str, *levels: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "type": kind,
        "product_id": BTC,
        "updates": [
            {"side": side, "event_time": "e", "price_level": price, "new_quantity": quantity}
            for side, price, quantity in levels
        ],
    }


def trades_event(kind: str, *prices: str) -> dict[str, Any]:
    return {
        "type": kind,
        "trades": [
            {
                "trade_id": f"{kind}-{index}",
                "product_id": BTC,
                "price": price,
                "size": "0.5",
                "side": "SELL",
                "time": "2026-01-01T00:00:00Z",
            }
            for index, price in enumerate(prices)
        ],
    }


async def test_a_frame_of_each_kind_is_forwarded_whole_or_counted(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async def script(server: Server) -> None:
        await server.subscribed()
        await server.confirm()
        await server.send(
            "l2_data", [l2_event("snapshot", ("bid", "10", "1"), ("offer", "11", "2"))]
        )
        await server.send("l2_data", [l2_event("update", ("bid", "10", "0")), l2_event("update")])
        # Coinbase sends one event per market_trades frame; a frame mixing kinds is split by kind
        await server.send(
            "market_trades",
            [
                trades_event("snapshot", "10", "11"),
                trades_event("snapshot"),
                trades_event("update", "12"),
                trades_event("update", "13"),
            ],
        )
        await server.send(
            "ticker", [{"type": "update", "tickers": [{"product_id": BTC, "price": "1"}]}]
        )
        await server.send("candles", [{}])
        await server.send("heartbeats", [{"current_time": "t", "heartbeat_counter": 1}], sequence=6)
        await server.send("heartbeats", [{"current_time": "t", "heartbeat_counter": 1}], sequence=6)
        await server.heartbeats()

    exchange = FakeExchange(nursery, script)
    outputs = Outputs()
    async with feeding(outputs, fake_feed(outputs, exchange)):
        await trio.sleep(2.5)
    snapshot, update = outputs.l2()
    assert snapshot == L2FrameReceived(
        sequence_num=1,
        received_at=0.0,
        events=(
            # in cents and satoshis: decoded straight into the book's ticks and units
            L2TickEvent(
                type="snapshot",
                product_id=BTC,
                levels=((True, 1000, 100_000_000), (False, 1100, 200_000_000)),
            ),
        ),
    )
    assert [e.type for e in update.events] == ["update", "update"]
    old, live = outputs.trades()
    assert (old.snapshot, [t.trade_id for t in old.trades]) == (True, ["snapshot-0", "snapshot-1"])
    assert (live.snapshot, [t.price for t in live.trades]) == (False, [Decimal(12), Decimal(13)])
    assert old.sequence_num == live.sequence_num == 3
    assert live.trades[0] == Trade(
        trade_id="update-0",
        product_id=BTC,
        price=Decimal(12),
        size=Decimal("0.5"),
        maker_side="SELL",
        time="2026-01-01T00:00:00Z",
    )
    status = outputs.status()
    assert status.out_of_order == 1
    assert status.heartbeats == 1 + 2  # the duplicate was dropped; two more in 2.5 s
    assert outputs.states() == [FeedState.CONNECTING, FeedState.CONNECTED]


async def test_a_malformed_l2_frame_is_a_gap_and_resubscribes_level2(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async def script(server: Server) -> None:
        await server.subscribed()
        await server.confirm()
        await server.send("l2_data", [l2_event("snapshot", ("bid", "10", "1"))])
        await server.send("l2_data", [l2_event("update", ("bid", "ten", "1"))])
        await server.send("market_trades", [{"type": "update", "trades": [{"price": "x"}]}])
        await server.subscribed(5)
        await server.send("l2_data", [l2_event("snapshot", ("bid", "10", "2"))])
        await server.heartbeats()

    exchange = FakeExchange(nursery, script)
    outputs = Outputs()
    async with feeding(outputs, fake_feed(outputs, exchange)):
        await trio.sleep(1.5)
    (server,) = exchange.servers
    assert [(m["type"], m["channel"]) for m in server.received[3:]] == [
        ("unsubscribe", "level2"),
        ("subscribe", "level2"),
    ]
    assert server.received[4]["product_ids"] == [BTC]
    statuses = outputs.statuses()
    assert [s.state for s in statuses] == [
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.GAP,
        FeedState.CONNECTED,
    ]
    assert "malformed l2_data frame" in statuses[2].detail
    assert "updates[0].price_level" in statuses[2].detail
    # GAP reaches the book between the two snapshots; a lost trades frame is only counted
    kinds = [type(m).__name__ for m in outputs.book[2:]]
    assert kinds == ["L2FrameReceived", "FeedStatusChanged", "FeedStatusChanged", "L2FrameReceived"]
    status = outputs.status()
    assert (status.malformed, status.gaps, status.resyncs) == (2, 0, 1)


async def test_a_complete_confirmation_resets_the_error_count(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async def refused(server: Server) -> None:
        await server.subscribed()
        await server.error("authentication failure")

    async def confirmed_then_refused(server: Server) -> None:
        await server.subscribed()
        await server.confirm(products=())  # heartbeats only: not a confirmation of ours
        await server.confirm()
        await server.error("authentication failure")

    async def partly_confirmed_then_refused(server: Server) -> None:
        await server.subscribed()
        await server.confirm(products=("ETH-USD",))
        await server.error("authentication failure")

    exchange = FakeExchange(
        nursery, refused, confirmed_then_refused, partly_confirmed_then_refused, refused
    )
    outputs = Outputs()
    nursery.start_soon(outputs.collect)
    with pytest.raises(FeedRejected) as raised:
        await fake_feed(outputs, exchange, max_error_frames=2).run(_context())
    # refused (1); confirmed (0) and refused (1); confirmed in part only, refused (2): given up.
    # Without the reset it would have given up one connection earlier; had the partial
    # confirmation counted, one later.
    assert raised.value.error_frames == 2
    assert raised.value.last_error == "authentication failure"
    assert len(exchange.servers) == 3
    assert outputs.status().error_frames == 3
    assert outputs.status().state is FeedState.RECONNECTING


async def test_a_refused_connection_is_reported_and_retried(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async def script(server: Server) -> None:
        await server.subscribed()
        await server.confirm()
        await server.heartbeats()

    exchange = FakeExchange(nursery, script, refuse=2)
    outputs = Outputs()
    async with feeding(outputs, fake_feed(outputs, exchange)):
        await trio.sleep(5)
    statuses = outputs.statuses()
    assert [s.state for s in statuses] == [
        FeedState.CONNECTING,
        FeedState.RECONNECTING,
        FeedState.RECONNECTING,
        FeedState.CONNECTED,
    ]
    assert "connect failed" in statuses[1].detail
    assert "Connection refused" in statuses[1].detail
    assert [s.attempt for s in statuses] == [0, 1, 2, 0]
    assert statuses[3].at == 3.0  # retried after 1 s, then 2 s
    assert outputs.status().reconnects == 2


async def test_cancelling_it_closes_the_connection(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async def script(server: Server) -> None:
        await server.subscribed()
        await server.confirm()
        await server.heartbeats()

    exchange = FakeExchange(nursery, script)
    outputs = Outputs()
    async with feeding(outputs, fake_feed(outputs, exchange)):
        await trio.sleep(1.5)
    await trio.sleep(1)
    (server,) = exchange.servers
    assert server.closed is not None
    assert server.closed.code == 1001


async def test_a_full_risk_mailbox_never_holds_the_feed_up(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    """DROP_OLDEST status outboxes get send_nowait: risk keeps the latest, the feed goes on."""

    async def script(server: Server) -> None:
        await server.subscribed()
        await server.ws.aclose(1011, "going away")

    exchange = FakeExchange(nursery, script)
    outputs = Outputs(
        to_risk=Mailbox[FeedStatusChanged]("feed->risk", capacity=1, overflow=Overflow.DROP_OLDEST)
    )
    async with feeding(outputs, fake_feed(outputs, exchange)):
        await trio.sleep(10)
    assert len(exchange.servers) >= 4
    (latest,) = outputs.drained(outputs.to_risk)
    assert latest == outputs.statuses()[-1]
    assert outputs.to_risk.statistics().dropped == len(outputs.statuses()) - 1
    assert outputs.drained(outputs.to_journal) == outputs.statuses()  # BLOCK: every one


async def test_without_a_board_or_status_outboxes_it_feeds_the_book_all_the_same(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    async def script(server: Server) -> None:
        await server.subscribed()
        await server.send("l2_data", [l2_event("snapshot", ("bid", "10", "1"))])
        await server.heartbeats()

    exchange = FakeExchange(nursery, script)
    outputs = Outputs()
    feed = FeedActor(
        products=(BTC,),
        rules={BTC: RULES},
        to_book=outputs.to_book,
        url=URL,
        connector=exchange.connect,
    )
    async with feeding(outputs, feed):
        await trio.sleep(1)
    assert len(outputs.l2()) == 1
    assert outputs.board.snapshots() == {}


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"products": ()}, "products: must be a non-empty tuple"),
        ({"products": [BTC]}, "products: must be a non-empty tuple"),
        ({"products": (BTC, BTC)}, "duplicate product ids"),
        ({"products": ("",)}, "product ids must be non-empty strings"),
        ({"products": (BTC, "ETH-USD")}, "rules: no increments for ETH-USD"),
        ({"url": "https://example.com"}, "url: must be ws://"),
        ({"stale_after": 0}, "stale_after: must be finite and > 0"),
        ({"stale_after": True}, "stale_after: must be a number of seconds"),
        ({"max_error_frames": 0}, "max_error_frames: must be an integer >= 1"),
        ({"max_error_frames": 1.5}, "max_error_frames: must be an integer >= 1"),
    ],
)
def test_bad_settings_are_refused_at_construction(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        Outputs().feed(**settings)


def test_its_repr_shows_no_credentials() -> None:
    credentials, _ = Simulator().generate_key()
    feed = Outputs().feed(credentials=credentials)
    assert "credentials" not in repr(feed)
    assert feed.credentials is credentials


async def test_a_full_book_inbox_holds_the_feed_and_loses_no_frame(
    autojump_clock: Clock, nursery: trio.Nursery
) -> None:
    """BLOCK: a book slower than the market makes the feed wait (and stop reading)
    instead of dropping; every frame still arrives, in order, with no gap."""
    async with simulator(nursery) as exchange:
        outputs = Outputs(to_book=Mailbox[FeedMessage]("feed->book", capacity=1))
        depths: list[int] = []

        async def slow_book() -> None:
            async for message in outputs.to_book.receiver():
                outputs.book.append(message)
                depths.append(outputs.to_book.statistics().depth)
                await trio.sleep(0.6)  # the market steps every 0.25 s

        async with trio.open_nursery() as inner:
            inner.start_soon(slow_book)
            await inner.start(sim_feed(outputs, exchange).run, _context())
            await trio.sleep(10)
            inner.cancel_scope.cancel()
    assert max(depths) == 1  # the inbox was full: the feed was held
    frames = outputs.l2()
    assert len(frames) > 5
    numbers = [f.sequence_num for f in frames]
    assert numbers == sorted(numbers)
    assert FeedState.GAP not in outputs.states()
