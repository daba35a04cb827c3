"""WebSocket streams without sockets: Connection, Hub, and the Simulator's publishing.

Sequence numbers are what a client uses to notice lost frames, so they must count every
frame (including ones a stall throws away) and nothing else (not error replies). Faults must
act on the right connections, a consumer that cannot keep up must be cut off rather than
buffered without bound, and the simulator must route each engine event to exactly the
subscribers that asked for it. Timing (heartbeats once a second) runs under trio's MockClock.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing

from cjt_actors.sim.faults import WsAction, WsActionKind
from cjt_actors.sim.orders import LimitGtc, MarketIoc, OrderRequest, Side
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig, _heartbeat_time
from cjt_actors.sim.streams import (
    ALL_CHANNELS,
    HEARTBEAT_INTERVAL,
    MARKET_CHANNELS,
    OUTGOING_CAPACITY,
    SUBSCRIBE_DEADLINE,
    USER_CHANNELS,
    Connection,
    Hub,
    Outgoing,
    _Close,
)

D = Decimal
NOW = 1_700_000_000.0


def _connection(endpoint: str = "market") -> Connection:
    return Connection(endpoint=endpoint, connection_id=0, now=lambda: NOW)


def drain(connection: Connection) -> list[Any]:
    """Everything queued for the client, text frames parsed as JSON when they are JSON."""
    items: list[Any] = []
    while True:
        try:
            item = connection.outgoing.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return items
        if isinstance(item, str):
            try:
                items.append(json.loads(item))
            except json.JSONDecodeError:
                items.append(item)
        else:
            items.append(item)


def _sequence(items: list[Any]) -> list[int]:
    return [i["sequence_num"] for i in items if isinstance(i, dict) and "sequence_num" in i]


# -- Connection --------------------------------------------------------------------------------


async def test_frames_carry_the_full_envelope_and_count_from_zero() -> None:
    """Every frame has the five envelope keys and sequence_num 0, 1, 2, ..."""
    connection = _connection()
    connection.frame("l2_data", [{"type": "snapshot"}])
    connection.frame("heartbeats", [])
    items = drain(connection)
    assert items[0] == {
        "channel": "l2_data",
        "client_id": "",
        "timestamp": "2023-11-14T22:13:20.000000000Z",
        "sequence_num": 0,
        "events": [{"type": "snapshot"}],
    }
    assert _sequence(items) == [0, 1]
    assert connection.sequence == 2


async def test_error_replies_have_no_envelope_and_no_sequence_number() -> None:
    """An error is `{"type":"error","message":...}` and does not advance the sequence."""
    connection = _connection()
    connection.error("unknown channel 'x'")
    connection.frame("subscriptions", [])
    assert drain(connection) == [
        {"type": "error", "message": "unknown channel 'x'"},
        {
            "channel": "subscriptions",
            "client_id": "",
            "timestamp": "2023-11-14T22:13:20.000000000Z",
            "sequence_num": 0,
            "events": [],
        },
    ]


async def test_heartbeats_count_per_connection() -> None:
    """heartbeat_counter is the connection's own count, independent of other frames."""
    connection = _connection()
    connection.frame("l2_data", [])
    connection.heartbeat("t0")
    connection.heartbeat("t1")
    beats = [i for i in drain(connection) if i["channel"] == "heartbeats"]
    assert [b["events"] for b in beats] == [
        [{"current_time": "t0", "heartbeat_counter": 0}],
        [{"current_time": "t1", "heartbeat_counter": 1}],
    ]
    assert _sequence(beats) == [1, 2]


async def test_the_subscriptions_frame_lists_channels_and_products_sorted() -> None:
    """The confirmation lists every channel with its products, in a stable order."""
    connection = _connection()
    connection.subscriptions = {"level2": {"ETH-USD", "BTC-USD"}, "heartbeats": set()}
    connection.subscriptions_frame()
    (frame,) = drain(connection)
    assert frame["events"] == [
        {"subscriptions": {"heartbeats": [], "level2": ["BTC-USD", "ETH-USD"]}}
    ]


async def test_a_stall_loses_frames_but_keeps_counting() -> None:
    """Stalled frames are lost; after resuming, the sequence shows the gap."""
    connection = _connection()
    connection.frame("l2_data", [])
    connection.apply(WsAction(kind=WsActionKind.STALL))
    assert connection.stalled
    connection.frame("l2_data", [])
    connection.heartbeat("t")
    connection.apply(WsAction(kind=WsActionKind.RESUME))
    connection.heartbeat("t")
    items = drain(connection)
    assert _sequence(items) == [0, 3]
    assert items[-1]["events"][0]["heartbeat_counter"] == 1


async def test_skip_sequence_jumps_the_next_frame() -> None:
    """skip_sequence(n): the next frame's number is n higher than it would have been."""
    connection = _connection()
    connection.frame("x", [])
    connection.apply(WsAction(kind=WsActionKind.SKIP_SEQUENCE, amount=4))
    connection.frame("x", [])
    connection.frame("x", [])
    assert _sequence(drain(connection)) == [0, 5, 6]


async def test_malformed_frames_cycle_through_the_kinds_of_garbage() -> None:
    """Injected garbage is not JSON, truncated JSON, wrongly typed JSON and HTML, in turn."""
    connection = _connection()
    connection.apply(WsAction(kind=WsActionKind.MALFORMED, amount=5))
    connection.frame("x", [])
    items = drain(connection)
    assert items[0] == "this is not json"
    assert items[1] == '{"channel": "l2_data", "events": ['
    assert items[2]["sequence_num"] == "x"
    assert items[2]["events"] == {}
    assert items[3].startswith("<html>")
    assert items[4] == "this is not json"
    assert _sequence(items[5:]) == [0]


async def test_drop_and_close_end_the_connection() -> None:
    """After a drop or close nothing more is queued; the writer sees the control item."""
    dropped = _connection()
    dropped.apply(WsAction(kind=WsActionKind.DROP))
    dropped.frame("x", [])
    assert dropped.closed
    assert drain(dropped) == [Outgoing.DROP]
    assert dropped.sequence == 0

    closed = _connection()
    closed.apply(WsAction(kind=WsActionKind.CLOSE, amount=1001))
    closed.heartbeat("t")
    assert closed.closed
    assert drain(closed) == [_Close(1001)]


async def test_faults_for_another_endpoint_are_ignored() -> None:
    """A fault aimed at the user endpoint leaves a market connection as it was."""
    connection = _connection("market")
    for kind in WsActionKind:
        connection.apply(WsAction(kind=kind, amount=1002, endpoint="user"))
    assert not connection.closed
    assert not connection.stalled
    assert drain(connection) == []
    connection.apply(WsAction(kind=WsActionKind.STALL, endpoint="market"))
    assert connection.stalled


async def test_a_consumer_too_slow_to_drain_is_cut_off() -> None:
    """Past the queue's capacity the connection is closed, not buffered without bound."""
    connection = _connection()
    connection.apply(WsAction(kind=WsActionKind.STALL))
    for _ in range(OUTGOING_CAPACITY):
        connection.error("e")
    assert not connection.closed
    connection.error("one too many")
    assert (connection.closed, connection.stalled) == (True, False)
    connection.error("after the close")  # the queue is closed: ignored
    connection.frame("x", [])
    items = drain(connection)
    assert len(items) == OUTGOING_CAPACITY
    assert all(item == {"type": "error", "message": "e"} for item in items)
    with pytest.raises(trio.EndOfChannel):
        connection.outgoing.receive_nowait()


async def test_channels_and_subscription_matching() -> None:
    """The market endpoint serves every channel; the user endpoint only user data."""
    assert _connection("market").channels == ALL_CHANNELS
    assert _connection("user").channels == USER_CHANNELS
    assert MARKET_CHANNELS["level2"] == "l2_data"
    connection = _connection()
    assert not connection.subscribed("level2")
    connection.subscriptions = {"level2": {"BTC-USD"}, "user": set()}
    assert connection.subscribed("level2", "BTC-USD")
    assert not connection.subscribed("level2", "ETH-USD")
    assert connection.subscribed("level2")
    assert connection.subscribed("user", "ETH-USD")  # no products: all products


def test_protocol_constants_match_coinbase() -> None:
    """Heartbeats once a second; 5 s to subscribe."""
    assert (HEARTBEAT_INTERVAL, SUBSCRIBE_DEADLINE) == (1.0, 5.0)


# -- Hub ---------------------------------------------------------------------------------------


async def test_the_hub_routes_market_user_and_heartbeat_frames_to_subscribers_only() -> None:
    """Each subscriber gets what it subscribed to, on the wire channel name, and no more."""
    hub = Hub(now=lambda: NOW)
    btc = hub.open("market")
    eth = hub.open("market")
    alice = hub.open("user")
    bob = hub.open("market")
    assert [c.id for c in hub.connections] == [0, 1, 2, 3]
    btc.subscriptions = {"level2": {"BTC-USD"}, "heartbeats": set()}
    eth.subscriptions = {"level2": {"ETH-USD"}}
    alice.subscriptions, alice.user = {"user": set()}, "alice"
    bob.subscriptions, bob.user = {"level2": {"BTC-USD"}}, "bob"  # user not subscribed

    hub.publish_market("level2", "BTC-USD", [{"type": "update"}])
    order = {"order_id": "o1", "product_id": "BTC-USD"}

    def event(orders: list[dict[str, object]]) -> dict[str, object]:
        return {"type": "update", "orders": orders}

    hub.publish_user("alice", [order], event)
    hub.publish_user("bob", [order], event)
    hub.heartbeat_all("now")
    assert [i["channel"] for i in drain(btc)] == ["l2_data", "heartbeats"]
    assert drain(eth) == []
    assert [i["channel"] for i in drain(alice)] == ["user"]
    assert [i["channel"] for i in drain(bob)] == ["l2_data"]

    hub.apply(WsAction(kind=WsActionKind.CLOSE, amount=1001, endpoint="user"))
    assert alice.closed
    assert not btc.closed
    hub.remove(alice)
    hub.remove(alice)  # twice is harmless
    assert alice not in hub.connections
    assert hub.open("user").id == 4  # ids are never reused


# -- the simulator's publishing ----------------------------------------------------------------


def _quiet_sim(**changes: Any) -> Simulator:
    sim = Simulator(SimulatorConfig(market_enabled=False, start_epoch=NOW, **changes))
    sim.open()
    return sim


def _place(sim: Simulator, user: str, side: Side, configuration: Any, cid: str) -> None:
    outcome = sim.engine.place(
        OrderRequest(
            user_id=user,
            client_order_id=cid,
            product_id="BTC-USD",
            side=side,
            configuration=configuration,
        ),
        now=sim.epoch(),
    )
    assert outcome.success, outcome
    sim.publish()


async def test_publish_routes_engine_events_to_their_channels() -> None:
    """A trade reaches level2, market_trades and ticker subscribers and each user's channel."""
    sim = _quiet_sim()
    sim.add_user("bob")
    market = sim.hub.open("market")
    market.subscriptions = {
        "level2": {"BTC-USD"},
        "market_trades": {"BTC-USD"},
        "ticker": {"BTC-USD"},
    }
    alice_ws = sim.hub.open("user")
    alice_ws.subscriptions, alice_ws.user = {"user": set()}, DEFAULT_USER
    bob_ws = sim.hub.open("user")
    bob_ws.subscriptions, bob_ws.user = {"user": set()}, "bob"

    _place(sim, DEFAULT_USER, Side.SELL, LimitGtc(base_size=D("0.01"), limit_price=D("60000")), "a")
    assert [i["channel"] for i in drain(market)] == ["l2_data"]
    assert [i["events"][0]["orders"][0]["status"] for i in drain(alice_ws)] == ["OPEN"]
    assert drain(bob_ws) == []

    _place(sim, "bob", Side.BUY, MarketIoc(base_size=D("0.004")), "b")
    channels = [i["channel"] for i in drain(market)]
    assert channels == ["l2_data", "market_trades", "ticker"]
    assert [i["events"][0]["orders"][0]["number_of_fills"] for i in drain(alice_ws)] == ["1"]
    assert [i["events"][0]["orders"][0]["status"] for i in drain(bob_ws)] == ["FILLED"]
    assert sim.fills_recorded == 2
    assert [o["client_order_id"] for o in sim.fills_to_replay("bob")] == ["b"]
    assert sim.fills_to_replay("nobody") == []


async def test_the_ticker_shows_the_last_price_and_the_touch() -> None:
    """The ticker event after a trade has the trade price and the best bid and ask."""
    sim = _quiet_sim()
    sim.add_user("bob")
    ws = sim.hub.open("market")
    ws.subscriptions = {"ticker": {"BTC-USD"}}
    _place(sim, DEFAULT_USER, Side.SELL, LimitGtc(base_size=D("0.01"), limit_price=D("60000")), "a")
    _place(sim, "bob", Side.BUY, MarketIoc(base_size=D("0.01")), "b")
    (frame,) = drain(ws)
    ticker = frame["events"][0]["tickers"][0]
    assert (ticker["price"], ticker["best_bid"], ticker["best_ask"]) == ("60000", "", "")
    _place(sim, "bob", Side.BUY, LimitGtc(base_size=D("0.01"), limit_price=D("59000")), "c")
    _place(sim, DEFAULT_USER, Side.SELL, LimitGtc(base_size=D("0.02"), limit_price=D("61000")), "d")
    _place(sim, "bob", Side.BUY, MarketIoc(base_size=D("0.001")), "e")
    (frame,) = drain(ws)
    ticker = frame["events"][0]["tickers"][0]
    assert (ticker["price"], ticker["best_bid"], ticker["best_ask"]) == ("61000", "59000", "61000")
    assert (ticker["best_bid_quantity"], ticker["best_ask_quantity"]) == ("0.01", "0.019")


async def test_the_synthetic_traders_have_no_user_channel() -> None:
    """Maker and taker orders never appear on any user channel."""
    sim = Simulator(SimulatorConfig(start_epoch=NOW, tick=0.05))
    ws = sim.hub.open("user")
    ws.subscriptions, ws.user = {"user": set()}, DEFAULT_USER
    sim.open()
    for _ in range(20):
        sim.step(0.25)
    assert drain(ws) == []
    assert sim.fills_recorded > 0  # the market did trade


async def test_user_snapshots_come_in_batches_of_fifty() -> None:
    """Coinbase's snapshot batching: 120 open orders are three snapshot events; none is one."""
    sim = _quiet_sim()
    empty = sim.user_snapshot(DEFAULT_USER)
    assert [e["orders"] for e in empty] == [[]]
    assert empty[0]["type"] == "snapshot"
    for index in range(120):
        _place(
            sim,
            DEFAULT_USER,
            Side.BUY,
            LimitGtc(base_size=D("0.0001"), limit_price=D("50000")),
            f"o{index}",
        )
    batches = sim.user_snapshot(DEFAULT_USER)
    assert [len(b["orders"]) for b in batches] == [50, 50, 20]
    assert {o["status"] for b in batches for o in b["orders"]} == {"OPEN"}


async def test_a_user_subscription_sends_the_snapshot_and_replays_only_with_the_fault() -> None:
    """A re-subscribe gets the snapshot, plus recent fill updates only when the fault is on."""
    sim = _quiet_sim()
    sim.add_user("bob")
    _place(sim, "bob", Side.SELL, LimitGtc(base_size=D("0.01"), limit_price=D("60000")), "r")
    _place(sim, DEFAULT_USER, Side.BUY, MarketIoc(base_size=D("0.004")), "m")

    anonymous = sim.hub.open("user")
    sim.on_user_subscribed(anonymous, reconnect=True)
    assert drain(anonymous) == []

    connection = sim.hub.open("user")
    connection.user = DEFAULT_USER
    sim.on_user_subscribed(connection, reconnect=True)
    assert [i["events"][0]["type"] for i in drain(connection)] == ["snapshot"]
    sim.faults.set_replay_fills_on_reconnect(True)
    sim.on_user_subscribed(connection, reconnect=False)
    assert [i["events"][0]["type"] for i in drain(connection)] == ["snapshot"]
    sim.on_user_subscribed(connection, reconnect=True)
    items = drain(connection)
    assert [i["events"][0]["type"] for i in items] == ["snapshot", "update"]
    assert [o["client_order_id"] for o in items[1]["events"][0]["orders"]] == ["m"]

    fresh = sim.hub.open("user")
    sim.add_user("carol")
    fresh.user = "carol"
    sim.on_user_subscribed(fresh, reconnect=True)  # nothing to replay for carol
    assert [i["events"][0]["type"] for i in drain(fresh)] == ["snapshot"]


async def test_snapshots_for_new_market_subscriptions() -> None:
    """l2 and trade snapshots reflect the book and the recent trades (an empty list if none)."""
    sim = _quiet_sim()
    assert sim.trades_snapshot("BTC-USD") == {"type": "snapshot", "trades": []}
    assert sim.l2_snapshot("BTC-USD")["updates"] == []
    sim.add_user("bob")
    _place(sim, "bob", Side.SELL, LimitGtc(base_size=D("0.01"), limit_price=D("60000")), "s")
    _place(sim, DEFAULT_USER, Side.BUY, MarketIoc(base_size=D("0.004")), "b")
    book = sim.l2_snapshot("BTC-USD")
    assert [(u["side"], u["price_level"], u["new_quantity"]) for u in book["updates"]] == [
        ("offer", "60000", "0.006")
    ]
    trades = sim.trades_snapshot("BTC-USD")
    assert trades["type"] == "snapshot"
    assert [(t["price"], t["size"], t["side"]) for t in trades["trades"]] == [
        ("60000", "0.004", "SELL")
    ]


def test_heartbeat_time_looks_like_coinbases_go_time_string() -> None:
    """`2023-11-14 22:13:20.5 +0000 UTC m=+12.000000001` (Go's time.Time String form)."""
    assert (
        _heartbeat_time(NOW + 0.5, 12.000000001)
        == "2023-11-14 22:13:20.500000000 +0000 UTC m=+12.000000001"
    )


async def test_background_heartbeats_arrive_once_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The simulator's heartbeat loop beats every subscribed connection once per second."""
    sim = Simulator(SimulatorConfig(start_epoch=NOW, tick=0.25, market_enabled=False))
    subscribed = sim.hub.open("market")
    subscribed.subscriptions = {"heartbeats": set()}
    silent = sim.hub.open("market")
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run_background)
        await trio.sleep(3.5)
        nursery.cancel_scope.cancel()
    beats = drain(subscribed)
    assert [b["events"][0]["heartbeat_counter"] for b in beats] == [0, 1, 2]
    assert [b["timestamp"] for b in beats] == [
        "2023-11-14T22:13:21.000000000Z",
        "2023-11-14T22:13:22.000000000Z",
        "2023-11-14T22:13:23.000000000Z",
    ]
    assert beats[0]["events"][0]["current_time"].startswith("2023-11-14 22:13:21.000000000 +0000")
    assert drain(silent) == []
