"""The simulator's WebSocket endpoints over loopback with trio-websocket.

The client's stream code is written against these behaviours of the real service
(``reference/coinbase-api.md`` §4): a ``subscriptions`` frame after every (un)subscribe,
``level2`` arriving as ``l2_data`` starting with a snapshot, a per-connection
``sequence_num`` that grows by one on every frame, heartbeats once a second with a
per-connection counter, ``{"type":"error",...}`` replies, ``user`` refused without a JWT, and
a connection closed (1008) when no subscribe arrives in time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection

from cjt_actors.sim import streams, websocket
from cjt_actors.sim.simulator import SimulatorConfig
from cjt_actors.sim.wire import parse_create_order

from .conftest import (
    FAST_TICK,
    Served,
    ServeFactory,
    close_code,
    open_ws,
    receive,
    receive_until,
    send_json,
    wait_until,
)


async def subscribe(
    ws: WebSocketConnection,
    channel: str,
    products: Sequence[str] = (),
    *,
    jwt: str | None = None,
    kind: str = "subscribe",
) -> None:
    message: dict[str, Any] = {"type": kind, "channel": channel, "product_ids": list(products)}
    if jwt is not None:
        message["jwt"] = jwt
    await send_json(ws, message)


def is_channel(name: str, event_type: str | None = None) -> Any:
    def check(frame: Any) -> bool:
        if not isinstance(frame, dict) or frame.get("channel") != name:
            return False
        return event_type is None or frame["events"][0].get("type") == event_type

    return check


def _sequence_is_contiguous(frames: list[Any]) -> bool:
    numbers = [f["sequence_num"] for f in frames if isinstance(f, dict) and "sequence_num" in f]
    return numbers == list(range(numbers[0], numbers[0] + len(numbers)))


# -- subscribing -------------------------------------------------------------------------------


async def test_level2_subscribe_answers_subscriptions_then_a_snapshot(served: Served) -> None:
    """The first frames are the confirmation (sequence 0) and a full book snapshot (1)."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await subscribe(ws, "level2", ["BTC-USD"])
        confirmation = await receive(ws)
        assert confirmation["channel"] == "subscriptions"
        assert confirmation["sequence_num"] == 0
        assert confirmation["events"] == [{"subscriptions": {"level2": ["BTC-USD"]}}]
        snapshot = await receive(ws)
        assert snapshot["channel"] == "l2_data"
        assert snapshot["sequence_num"] == 1
        event = snapshot["events"][0]
        assert (event["type"], event["product_id"]) == ("snapshot", "BTC-USD")
        levels = served.sim.config.market.levels
        sides = [u["side"] for u in event["updates"]]
        assert sides.count("bid") == sides.count("offer") == levels
        updates = await receive_until(ws, is_channel("l2_data", "update"))
        assert _sequence_is_contiguous([confirmation, snapshot, *updates])
        update = updates[-1]["events"][0]["updates"][0]
        assert set(update) == {"side", "event_time", "price_level", "new_quantity"}


async def test_market_trades_and_ticker_subscriptions(served: Served) -> None:
    """market_trades starts with a snapshot list; a trade then reaches the ticker too."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await subscribe(ws, "market_trades", ["ETH-USD"])
        frames = await receive_until(ws, is_channel("market_trades", "snapshot"))
        assert isinstance(frames[-1]["events"][0]["trades"], list)
        await subscribe(ws, "ticker", ["ETH-USD"])
        await receive_until(ws, is_channel("subscriptions"))
        order = {
            "client_order_id": "t",
            "product_id": "ETH-USD",
            "side": "SELL",
            "order_configuration": {"market_market_ioc": {"base_size": "0.1"}},
        }
        assert (await served.rest("POST", "/orders", json=order)).json()["success"] is True
        ticker = (await receive_until(ws, is_channel("ticker")))[-1]["events"][0]
        assert ticker["type"] == "update"
        tick = ticker["tickers"][0]
        assert tick["product_id"] == "ETH-USD"
        assert tick["type"] == "ticker"
        assert float(tick["best_bid"]) < float(tick["best_ask"])


async def test_subscribing_again_to_the_same_product_sends_no_second_snapshot(
    served: Served,
) -> None:
    """Only newly added products get a snapshot; a repeat subscribe is just confirmed."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await subscribe(ws, "level2", ["BTC-USD"])
        await receive_until(ws, is_channel("l2_data", "snapshot"))
        await subscribe(ws, "level2", ["BTC-USD", "ETH-USD"])
        frames = await receive_until(
            ws,
            lambda f: (
                is_channel("l2_data", "snapshot")(f) and f["events"][0]["product_id"] == "ETH-USD"
            ),
        )
        snapshots = [f for f in frames if is_channel("l2_data", "snapshot")(f)]
        assert [s["events"][0]["product_id"] for s in snapshots] == ["ETH-USD"]


async def test_unsubscribe_stops_a_product_then_the_channel(served: Served) -> None:
    """Unsubscribing products stops their frames; with no products, the whole channel."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await subscribe(ws, "level2", ["BTC-USD", "ETH-USD"])
        await receive_until(
            ws,
            lambda f: (
                is_channel("l2_data", "snapshot")(f) and f["events"][0]["product_id"] == "ETH-USD"
            ),
        )
        await subscribe(ws, "level2", ["BTC-USD"], kind="unsubscribe")
        frames = await receive_until(ws, is_channel("subscriptions"))
        assert frames[-1]["events"][0]["subscriptions"] == {"level2": ["ETH-USD"]}
        after = [await receive(ws) for _ in range(5)]
        assert all(f["events"][0]["product_id"] == "ETH-USD" for f in after)

        await subscribe(ws, "heartbeats")
        await subscribe(ws, "level2", kind="unsubscribe")
        frames = await receive_until(
            ws,
            lambda f: (
                is_channel("subscriptions")(f) and "level2" not in f["events"][0]["subscriptions"]
            ),
        )
        assert frames[-1]["events"][0]["subscriptions"] == {"heartbeats": []}
        after = await receive_until(ws, is_channel("heartbeats"))
        assert not [f for f in after if is_channel("l2_data")(f)][2:], "l2 frames kept coming"
        await subscribe(ws, "market_trades", ["BTC-USD"], kind="unsubscribe")
        confirmation = (await receive_until(ws, is_channel("subscriptions")))[-1]
        assert confirmation["events"][0]["subscriptions"] == {"heartbeats": []}


async def test_user_channel_needs_a_valid_jwt(served: Served) -> None:
    """`user` without a token, or with a bad one, is an authentication failure."""
    async with open_ws(served.endpoints.ws_user_url) as ws:
        await subscribe(ws, "user")
        assert await receive(ws) == {"type": "error", "message": "authentication failure"}
        await subscribe(ws, "user", jwt="not-a-token")
        assert await receive(ws) == {"type": "error", "message": "authentication failure"}
        served.sim.faults.revoke_key(served.key_name)
        await subscribe(ws, "user", jwt=served.ws_jwt())
        assert await receive(ws) == {"type": "error", "message": "authentication failure"}
        served.sim.faults.restore_key(served.key_name)
        await subscribe(ws, "user", jwt=served.ws_jwt())
        confirmation = await receive(ws)
        assert confirmation["channel"] == "subscriptions"
        assert confirmation["sequence_num"] == 0  # errors carry no sequence number
        snapshot = await receive(ws)
        assert snapshot["channel"] == "user"
        assert snapshot["events"][0]["type"] == "snapshot"
        assert snapshot["events"][0]["orders"] == []


@pytest.mark.parametrize("endpoint", ["ws_user_url", "ws_market_url"])
async def test_user_channel_streams_order_updates(served: Served, endpoint: str) -> None:
    """The user channel (own endpoint or market failover) sends each order's full state."""
    async with open_ws(getattr(served.endpoints, endpoint)) as ws:
        await subscribe(ws, "user", jwt=served.ws_jwt())
        await receive_until(ws, is_channel("user", "snapshot"))
        body = {
            "client_order_id": "u1",
            "product_id": "BTC-USD",
            "side": "BUY",
            "order_configuration": {
                "limit_limit_gtc": {"base_size": "0.001", "limit_price": "50000"}
            },
        }
        created = (await served.rest("POST", "/orders", json=body)).json()
        order_id = created["success_response"]["order_id"]
        update = (await receive_until(ws, is_channel("user", "update")))[-1]["events"][0]
        order = update["orders"][0]
        assert (order["order_id"], order["status"], order["client_order_id"]) == (
            order_id,
            "OPEN",
            "u1",
        )
        assert order["leaves_quantity"] == "0.001"
        assert order["limit_price"] == "50000"
        await served.rest("POST", "/orders/batch_cancel", json={"order_ids": [order_id]})
        update = (await receive_until(ws, is_channel("user", "update")))[-1]["events"][0]
        assert update["orders"][0]["status"] == "CANCELLED"


async def test_a_user_with_many_open_orders_gets_the_snapshot_in_batches_of_50(
    served: Served,
) -> None:
    """Coinbase sends open orders 50 per snapshot event; clients must merge the batches."""
    for index in range(51):
        body = {
            "client_order_id": f"many-{index}",
            "product_id": "BTC-USD",
            "side": "BUY",
            "order_configuration": {
                "limit_limit_gtc": {"base_size": "0.0001", "limit_price": "50000"}
            },
        }
        assert served.sim.engine.place(
            parse_create_order(body, "user-1"),
            now=served.sim.epoch(),
        ).success
    async with open_ws(served.endpoints.ws_user_url) as ws:
        await subscribe(ws, "user", jwt=served.ws_jwt())
        frames = await receive_until(
            ws,
            lambda f: is_channel("user", "snapshot")(f) and len(f["events"][0]["orders"]) == 1,
        )
        sizes = [len(f["events"][0]["orders"]) for f in frames if is_channel("user")(f)]
        assert sizes == [50, 1]


async def test_user_channel_product_filter(served: Served) -> None:
    """A user subscription for some products carries only those products' orders."""
    async with open_ws(served.endpoints.ws_user_url) as ws:
        await subscribe(ws, "user", ["ETH-USD"], jwt=served.ws_jwt())
        await receive_until(ws, is_channel("user", "snapshot"))
        for product, price in (("BTC-USD", "50000"), ("ETH-USD", "2000")):
            body = {
                "client_order_id": product,
                "product_id": product,
                "side": "BUY",
                "order_configuration": {
                    "limit_limit_gtc": {"base_size": "0.01", "limit_price": price}
                },
            }
            assert (await served.rest("POST", "/orders", json=body)).json()["success"]
        frames = await receive_until(ws, is_channel("user", "update"))
        products = [o["product_id"] for f in frames for o in f["events"][0]["orders"]]
        assert products == ["ETH-USD"]


# -- heartbeats and the subscribe deadline -----------------------------------------------------


async def test_heartbeats_once_a_second_with_a_per_connection_counter(served: Served) -> None:
    """Each connection counts its own heartbeats from 0, one a second."""

    def counters(frames: list[Any]) -> list[int]:
        return [f["events"][0]["heartbeat_counter"] for f in frames if is_channel("heartbeats")(f)]

    async with (
        open_ws(served.endpoints.ws_market_url) as first,
        open_ws(served.endpoints.ws_user_url) as second,
    ):
        await subscribe(first, "heartbeats")
        beats_first = await receive_until(first, is_channel("heartbeats"))
        await subscribe(second, "heartbeats")
        beats_second = await receive_until(second, is_channel("heartbeats"))
        beats_first += await receive_until(first, is_channel("heartbeats"))

    assert counters(beats_first) == [0, 1]
    assert counters(beats_second) == [0]
    stamps = [
        dt.datetime.fromisoformat(f["timestamp"][:26])
        for f in beats_first
        if is_channel("heartbeats")(f)
    ]
    assert 0.8 <= (stamps[1] - stamps[0]).total_seconds() <= 1.2
    current = beats_first[-1]["events"][0]["current_time"]
    assert " +0000 UTC m=+" in current


async def test_the_subscribe_deadline_is_five_seconds() -> None:
    """Coinbase closes a connection that has not subscribed within 5 s."""
    assert streams.SUBSCRIBE_DEADLINE == 5.0
    assert vars(websocket)["SUBSCRIBE_DEADLINE"] == 5.0  # the value the endpoint reads


async def test_no_subscribe_before_the_deadline_closes_with_1008(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A silent connection is closed (policy violation); a subscribed one is not."""
    monkeypatch.setattr(websocket, "SUBSCRIBE_DEADLINE", 0.2)
    async with (
        open_ws(served.endpoints.ws_market_url) as idle,
        open_ws(served.endpoints.ws_market_url) as active,
    ):
        await subscribe(active, "level2", ["BTC-USD"])
        code, before = await close_code(idle)
        assert code == 1008
        assert before == []
        # The subscribed connection outlives the deadline: give its deadline timer (started
        # with the idle one's, so already due) a margin, then it must still be streaming.
        await trio.sleep(0.1)
        frames = await receive_until(active, is_channel("l2_data", "update"))
        assert frames


async def test_a_connection_that_only_sent_bad_subscribes_is_closed_at_the_deadline(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error reply is not a subscription: the deadline still applies."""
    monkeypatch.setattr(websocket, "SUBSCRIBE_DEADLINE", 0.2)
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await subscribe(ws, "candles", ["BTC-USD"])
        code, before = await close_code(ws)
        assert code == 1008
        assert before == [{"type": "error", "message": "unknown channel 'candles'"}]


# -- error replies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message", "reply"),
    [
        ("ws_market_url", "{oops", "malformed JSON"),
        ("ws_market_url", '["subscribe"]', "unknown message type"),
        ("ws_market_url", '{"type": "ping"}', "unknown message type"),
        (
            "ws_market_url",
            '{"type": "subscribe", "channel": "candles"}',
            "unknown channel 'candles'",
        ),
        ("ws_market_url", '{"type": "subscribe", "channel": 7}', "unknown channel 7"),
        (
            "ws_market_url",
            '{"type": "subscribe", "channel": "heartbeat"}',
            "authentication failure",
        ),
        (
            "ws_user_url",
            '{"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]}',
            "unknown channel 'level2'",
        ),
        (
            "ws_market_url",
            '{"type": "subscribe", "channel": "level2", "product_ids": "BTC-USD"}',
            "product_ids must be a list of strings",
        ),
        (
            "ws_market_url",
            '{"type": "subscribe", "channel": "level2", "product_ids": ["DOGE-USD"]}',
            "unknown product_ids ['DOGE-USD']",
        ),
        (
            "ws_market_url",
            '{"type": "subscribe", "channel": "level2", "product_ids": []}',
            "level2 needs product_ids",
        ),
        (
            "ws_market_url",
            '{"type": "subscribe", "channel": "ticker", "product_ids": ["BTC-USD"], "jwt": "bad"}',
            "authentication failure",
        ),
    ],
    ids=[
        "not json",
        "not an object",
        "unknown type",
        "unknown channel",
        "non-string channel",
        "misspelt heartbeats",
        "market channel on user endpoint",
        "product_ids not a list",
        "unknown product",
        "level2 without products",
        "bad jwt on a public channel",
    ],
)
async def test_bad_messages_get_an_error_reply(
    served: Served, url: str, message: str, reply: str
) -> None:
    """A bad message gets `{"type":"error"}` (no envelope) and the connection stays usable."""
    async with open_ws(getattr(served.endpoints, url)) as ws:
        await ws.send_message(message)
        assert await receive(ws) == {"type": "error", "message": reply}
        await subscribe(ws, "heartbeats")
        confirmation = await receive(ws)
        assert confirmation["channel"] == "subscriptions"
        assert confirmation["sequence_num"] == 0


async def test_a_binary_frame_gets_an_error_reply(served: Served) -> None:
    """The protocol is JSON text; a binary frame is refused like malformed JSON."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await ws.send_message(b"\x00\x01")
        assert await receive(ws) == {"type": "error", "message": "malformed JSON"}
        await subscribe(ws, "heartbeats")
        assert (await receive(ws))["channel"] == "subscriptions"


async def _wait_for_no_connections(served: Served) -> None:
    await wait_until(lambda: not served.sim.hub.connections, "the hub to forget the connection")


async def test_closed_connections_are_forgotten(serve: ServeFactory) -> None:
    """A client that leaves is removed from the hub (no frames queued for the dead)."""
    async with serve(SimulatorConfig(tick=FAST_TICK)) as served:
        async with open_ws(served.endpoints.ws_market_url) as ws:
            await subscribe(ws, "level2", ["BTC-USD"])
            await receive_until(ws, is_channel("l2_data", "snapshot"))
            assert len(served.sim.hub.connections) == 1
        await _wait_for_no_connections(served)


async def test_with_auth_none_the_user_channel_needs_no_jwt(serve: ServeFactory) -> None:
    """Local use without keys: `user` without a token streams the default user's orders."""
    async with serve(SimulatorConfig(auth="none", tick=FAST_TICK)) as served:
        async with open_ws(served.endpoints.ws_user_url) as ws:
            await subscribe(ws, "user")
            frames = await receive_until(ws, is_channel("user", "snapshot"))
            assert [f["channel"] for f in frames] == ["subscriptions", "user"]
        assert served.sim.user_channel_seen == {"user-1"}


async def test_a_client_that_falls_too_far_behind_is_closed_with_1008(served: Served) -> None:
    """A consumer whose queue overflows is cut off after what was queued is delivered."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await subscribe(ws, "heartbeats")
        await receive(ws)
        served.sim.faults.inject_malformed(streams.OUTGOING_CAPACITY + 100)
        code, before = await close_code(ws)
    assert code == 1008
    assert streams.OUTGOING_CAPACITY <= len(before) <= streams.OUTGOING_CAPACITY + 2
