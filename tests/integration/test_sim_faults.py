"""Every fault the simulator can inject, observed over real loopback connections.

A trading bot's recovery code (retries, reconciliation after a lost order response, gap
detection, reconnects) can only be trusted if the faults it is tested against really happen
on the wire. Each fault is switched on both ways a scenario may use, the Python API
(``sim.faults``) and the HTTP control API (``/sim/...``), and checked from the client's side.
The price-jump and exchange-down faults are also run in memory under trio's MockClock with
the project's own REST and WebSocket clients, as the failure scenarios run them.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected

from cjt_actors.errors import ServerError
from cjt_actors.exchange import stream
from cjt_actors.exchange.rest import RestClient
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.orderbook import L2Book
from cjt_actors.sim.faults import Faults, RestFaultKind
from cjt_actors.sim.inmemory import InMemoryExchange
from cjt_actors.sim.simulator import Simulator, SimulatorConfig
from cjt_actors.sim.streams import Connection

from .conftest import (
    PREFIX,
    WAIT,
    Served,
    ServeFactory,
    close_code,
    open_ws,
    receive,
    receive_until,
    send_json,
    wait_until,
)

VIA = pytest.mark.parametrize("via", ["python", "http"])


async def inject(
    served: Served, via: str, python: Callable[[Faults], None], path: str, body: dict[str, Any]
) -> None:
    """Switch a fault on through the Python API or the /sim HTTP control API."""
    if via == "python":
        python(served.sim.faults)
    else:
        response = await served.control("POST", path, body)
        assert response.status_code == 200, response.text


def _market_buy(client_order_id: str) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "100"}},
    }


def _limit_buy(client_order_id: str) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "50000"}},
    }


# -- REST faults -------------------------------------------------------------------------------


@VIA
async def test_server_errors_hit_only_matching_paths_then_stop(served: Served, via: str) -> None:
    """`fail_next(SERVER_ERROR, 2, path_prefix)` fails exactly the next two matching calls."""
    await inject(
        served,
        via,
        lambda f: f.fail_next(
            RestFaultKind.SERVER_ERROR, 2, path_prefix=PREFIX + "/orders", status=500
        ),
        "/faults/rest",
        {"kind": "server_error", "count": 2, "path_prefix": PREFIX + "/orders", "status": 500},
    )
    assert (await served.rest("GET", "/accounts")).status_code == 200
    for _ in range(2):
        failed = await served.rest("GET", "/orders/historical/batch")
        assert failed.status_code == 500
        assert failed.json()["error"] == "INTERNAL"
        assert "injected fault (server_error)" in failed.json()["message"]
    assert (await served.rest("GET", "/orders/historical/batch")).status_code == 200
    assert served.sim.faults.pending_rest_faults == 0


async def test_server_error_defaults_to_503(served: Served) -> None:
    """Without a status, a server error is a 503."""
    response = await served.control("POST", "/faults/rest", {"kind": "server_error"})
    assert response.json() == {"pending": 1}
    assert (await served.rest("GET", "/accounts")).status_code == 503


@VIA
async def test_rate_limited_fault_is_a_json_429(served: Served, via: str) -> None:
    """An injected 429 looks like Coinbase's own rate-limit answer."""
    await inject(
        served,
        via,
        lambda f: f.fail_next(RestFaultKind.RATE_LIMITED),
        "/faults/rest",
        {"kind": "rate_limited"},
    )
    response = await served.rest("GET", "/accounts")
    assert response.status_code == 429
    assert response.json()["error"] == "RATE_LIMIT_EXCEEDED"


@pytest.mark.parametrize(
    ("via", "status", "title"),
    [
        ("python", None, "502 Bad Gateway"),
        ("http", 429, "429 Too Many Requests"),
        ("python", 504, "504 Gateway Timeout"),
        ("http", 418, "418 Error"),
    ],
)
async def test_html_fault_answers_an_html_page(
    served: Served, via: str, status: int | None, title: str
) -> None:
    """A proxy's HTML error page, not JSON: clients must not assume a JSON body."""
    body: dict[str, Any] = {"kind": "html"}
    if status is not None:
        body["status"] = status
    await inject(
        served, via, lambda f: f.fail_next(RestFaultKind.HTML, status=status), "/faults/rest", body
    )
    response = await served.rest("GET", "/accounts")
    assert response.status_code == (status or 502)
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")
    assert f"<title>{title}</title>" in response.text
    with pytest.raises(json.JSONDecodeError):
        response.json()


@VIA
async def test_hang_fault_never_answers_until_the_client_times_out(
    served: Served, via: str
) -> None:
    """A hung request gives the client nothing; the next request is answered normally."""
    await inject(
        served, via, lambda f: f.fail_next(RestFaultKind.HANG), "/faults/rest", {"kind": "hang"}
    )
    started = trio.current_time()
    with pytest.raises(httpx.ReadTimeout):
        await served.rest("GET", "/accounts", http_timeout=0.3)
    assert trio.current_time() - started >= 0.3
    assert (await served.rest("GET", "/accounts")).status_code == 200


@VIA
async def test_a_lost_order_response_still_places_the_order(served: Served, via: str) -> None:
    """The create times out, yet the order is live: only reconciliation can know."""
    await inject(
        served,
        via,
        lambda f: f.lose_next_order_responses(1),
        "/faults/lose_order_responses",
        {"count": 1},
    )
    with pytest.raises(httpx.ReadTimeout):
        await served.rest("POST", "/orders", json=_limit_buy("lost-1"), http_timeout=0.5)

    listed = (await served.rest("GET", "/orders/historical/batch")).json()["orders"]
    assert [(o["client_order_id"], o["status"]) for o in listed] == [("lost-1", "OPEN")]
    order_id = listed[0]["order_id"]
    got = await served.rest("GET", f"/orders/historical/{order_id}")
    assert got.json()["order"]["client_order_id"] == "lost-1"
    counts = (await served.control("GET", "/orders/requests")).json()
    assert counts == {"create_requests": {"lost-1": 1}}

    # The safe retry reuses the client_order_id: same order, nothing new placed.
    retried = (await served.rest("POST", "/orders", json=_limit_buy("lost-1"))).json()
    assert retried["success"] is True
    assert retried["order_id"] == order_id
    assert len((await served.rest("GET", "/orders/historical/batch")).json()["orders"]) == 1
    counts = (await served.control("GET", "/orders/requests")).json()
    assert counts == {"create_requests": {"lost-1": 2}}


async def test_lost_order_responses_count_down(served: Served) -> None:
    """`lose_next_order_responses(2)` loses exactly two answers; other routes are unaffected."""
    served.sim.faults.lose_next_order_responses(2)
    assert (await served.rest("GET", "/accounts")).status_code == 200
    for index in range(2):
        with pytest.raises(httpx.ReadTimeout):
            await served.rest("POST", "/orders", json=_market_buy(f"m{index}"), http_timeout=0.3)
    answered = await served.rest("POST", "/orders", json=_market_buy("m2"))
    assert answered.json()["success"] is True
    assert len(served.sim.engine.list_orders("user-1")) == 3


@VIA
async def test_latency_delays_every_answer(served: Served, via: str) -> None:
    """Injected latency is added to every REST answer until set back to 0."""
    await inject(served, via, lambda f: f.set_latency(0.3), "/faults/latency", {"seconds": 0.3})
    started = trio.current_time()
    assert (await served.rest("GET", "/accounts")).status_code == 200
    assert trio.current_time() - started >= 0.3
    await inject(served, via, lambda f: f.set_latency(0), "/faults/latency", {"seconds": 0})
    started = trio.current_time()
    assert (await served.rest("GET", "/accounts")).status_code == 200
    assert trio.current_time() - started < 0.3


@VIA
async def test_a_revoked_key_is_refused_until_restored(served: Served, via: str) -> None:
    """Revoking a key makes REST answer 401 from the next request on; restoring undoes it."""
    body = {"key_name": served.key_name}
    await inject(served, via, lambda f: f.revoke_key(served.key_name), "/keys/revoke", body)
    refused = await served.rest("GET", "/accounts")
    assert (refused.status_code, refused.text) == (401, "Unauthorized")
    await inject(served, via, lambda f: f.restore_key(served.key_name), "/keys/restore", body)
    assert (await served.rest("GET", "/accounts")).status_code == 200


# -- WebSocket faults --------------------------------------------------------------------------


def _connection(served: Served) -> Connection:
    connections = served.sim.hub.connections
    assert len(connections) == 1
    return connections[0]


async def _close_code(ws: Any) -> int:
    code, _ = await close_code(ws)
    return code


@pytest.mark.parametrize(("via", "endpoint"), [("python", ""), ("http", "market"), ("http", "")])
async def test_drop_closes_every_connection_with_1011(
    served: Served, via: str, endpoint: str
) -> None:
    """A dropped connection ends abnormally (1011), so clients reconnect."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "heartbeats", "product_ids": []})
        await receive(ws)
        await inject(
            served,
            via,
            lambda f: f.drop_connections(endpoint=endpoint),
            "/faults/ws",
            {"action": "drop", "endpoint": endpoint},
        )
        assert await _close_code(ws) == 1011


async def test_faults_for_one_endpoint_spare_the_other(served: Served) -> None:
    """A fault aimed at the user endpoint leaves market-data connections alone."""
    async with (
        open_ws(served.endpoints.ws_market_url) as market,
        open_ws(served.endpoints.ws_user_url) as user,
    ):
        await send_json(
            market, {"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]}
        )
        await send_json(user, {"type": "subscribe", "channel": "heartbeats", "product_ids": []})
        await receive(user)
        served.sim.faults.drop_connections(endpoint="user")
        assert await _close_code(user) == 1011
        served.sim.faults.skip_sequence(1, endpoint="user")
        served.sim.faults.stall_connections(endpoint="user")
        frames = [await receive(market) for _ in range(5)]
    assert [f["sequence_num"] for f in frames] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("via", "code", "body"),
    [
        ("python", 1001, {"action": "close", "amount": 1001}),
        ("http", 1001, {"action": "close"}),
        ("http", 4000, {"action": "close", "amount": 4000}),
    ],
)
async def test_close_sends_the_given_close_code(
    served: Served, via: str, code: int, body: dict[str, Any]
) -> None:
    """An orderly close with 1001 (the SDK's silent stop) or any other code."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "heartbeats", "product_ids": []})
        await receive(ws)
        await inject(served, via, lambda f: f.close_connections(code), "/faults/ws", body)
        assert await _close_code(ws) == code


@VIA
async def test_stall_stops_frames_and_the_sequence_jumps_after_resume(
    served: Served, via: str
) -> None:
    """Stalled frames are lost, not delayed: after resuming, the sequence shows the gap."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]})
        await receive_until(ws, lambda f: f["channel"] == "l2_data")
        connection = _connection(served)
        await inject(
            served, via, lambda f: f.stall_connections(), "/faults/ws", {"action": "stall"}
        )
        stalled_at = connection.sequence
        status = (await served.control("GET", "/status")).json()
        assert status["connections"][0]["stalled"] is True
        await wait_until(lambda: connection.sequence >= stalled_at + 3, "frames during the stall")
        await inject(
            served, via, lambda f: f.resume_connections(), "/faults/ws", {"action": "resume"}
        )
        frames = await receive_until(ws, lambda f: f["sequence_num"] >= stalled_at)
    numbers = [f["sequence_num"] for f in frames]
    assert numbers[-1] >= stalled_at + 3
    assert all(n < stalled_at for n in numbers[:-1])
    assert not any(stalled_at <= n < stalled_at + 3 for n in numbers)


@VIA
async def test_skip_sequence_makes_a_visible_gap(served: Served, via: str) -> None:
    """The next frame's sequence_num jumps by the amount; later frames continue from there.

    Where the jump falls is not predicted from the connection's counter: the market ticks in
    real time, so frames may leave between reading it and the fault arriving (over HTTP,
    CI saw one do so). The frames themselves must show one gap of the amount, then go on.
    """
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]})
        before = await receive_until(ws, lambda f: f["channel"] == "l2_data")
        last = before[-1]["sequence_num"]

        def jumped(frame: Any) -> bool:
            nonlocal last
            gap = frame["sequence_num"] - last
            last = frame["sequence_num"]
            return bool(gap != 1)

        await inject(
            served,
            via,
            lambda f: f.skip_sequence(5),
            "/faults/ws",
            {"action": "skip_sequence", "amount": 5},
        )
        frames = await receive_until(ws, jumped)
        frames += await receive_until(ws, lambda f: True)  # the one after the jump
    numbers = [f["sequence_num"] for f in before + frames]
    assert numbers[0] == 0
    gaps = [b - a for a, b in itertools.pairwise(numbers) if b - a != 1]
    assert gaps == [6]
    assert numbers[-1] == numbers[-2] + 1  # later frames continue from the jumped number


@VIA
async def test_malformed_frames_arrive_then_valid_frames_continue(served: Served, via: str) -> None:
    """Garbage frames reach the client; the stream then goes on with valid frames."""
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "level2", "product_ids": ["BTC-USD"]})
        await receive_until(ws, lambda f: isinstance(f, dict) and f["channel"] == "l2_data")
        await inject(
            served,
            via,
            lambda f: f.inject_malformed(5),
            "/faults/ws",
            {"action": "malformed", "amount": 5},
        )
        received: list[Any] = []
        with trio.fail_after(WAIT):
            while sum(1 for m in received if _is_garbage(m)) < 5 or _is_garbage(received[-1]):
                received.append(await receive(ws))
    garbage = [m for m in received if _is_garbage(m)]
    assert garbage[0] == "this is not json"
    assert garbage[1] == '{"channel": "l2_data", "events": ['
    assert isinstance(garbage[2], dict)
    assert garbage[2]["sequence_num"] == "x"
    assert garbage[3].startswith("<html>")
    assert garbage[4] == "this is not json"
    valid = [m for m in received if not _is_garbage(m)]
    numbers = [m["sequence_num"] for m in valid]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert received[-1]["channel"] == "l2_data"


def _is_garbage(message: Any) -> bool:
    return not isinstance(message, dict) or not isinstance(message.get("sequence_num"), int)


@VIA
async def test_fills_are_replayed_after_a_reconnect(served: Served, via: str) -> None:
    """With the replay fault, a re-subscribing user gets old fill updates again."""
    async with open_ws(served.endpoints.ws_user_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "user", "jwt": served.ws_jwt()})
        await receive_until(ws, lambda f: f["channel"] == "user")
        created = (await served.rest("POST", "/orders", json=_market_buy("filled"))).json()
        order_id = created["order_id"]
        first = await receive_until(
            ws, lambda f: f["channel"] == "user" and f["events"][0]["type"] == "update"
        )
        assert first[-1]["events"][0]["orders"][0]["status"] == "FILLED"
    await inject(
        served,
        via,
        lambda f: f.set_replay_fills_on_reconnect(True),
        "/faults/replay_fills",
        {"enabled": True},
    )
    async with open_ws(served.endpoints.ws_user_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "user", "jwt": served.ws_jwt()})
        frames = await receive_until(
            ws, lambda f: f["channel"] == "user" and f["events"][0]["type"] == "update"
        )
    kinds = [f["events"][0]["type"] for f in frames if f["channel"] == "user"]
    assert kinds == ["snapshot", "update"]
    replayed = frames[-1]["events"][0]["orders"]
    assert [(o["order_id"], o["status"]) for o in replayed] == [(order_id, "FILLED")]
    assert int(replayed[0]["number_of_fills"]) >= 1


async def test_without_the_replay_fault_a_reconnect_gets_only_the_snapshot(
    served: Served,
) -> None:
    """Normally nothing is replayed (Coinbase has no replay): the client must reconcile."""
    created = (await served.rest("POST", "/orders", json=_market_buy("filled"))).json()
    assert created["success"] is True
    disabled = await served.control("POST", "/faults/replay_fills", {"enabled": False})
    assert disabled.status_code == 200
    for _ in range(2):
        async with open_ws(served.endpoints.ws_user_url) as ws:
            await send_json(ws, {"type": "subscribe", "channel": "user", "jwt": served.ws_jwt()})
            await send_json(ws, {"type": "subscribe", "channel": "heartbeats"})
            frames = await receive_until(
                ws,
                lambda f: (
                    f["channel"] == "subscriptions"
                    and "heartbeats" in f["events"][0]["subscriptions"]
                ),
            )
        kinds = [f["events"][0]["type"] for f in frames if f["channel"] == "user"]
        assert kinds == ["snapshot"]


# -- the control API ---------------------------------------------------------------------------


async def test_deposit_credits_an_account(served: Served) -> None:
    """/sim/deposit adds funds (opening a new currency's account) and is visible over REST."""
    assert (
        await served.control("POST", "/deposit", {"currency": "USD", "amount": "50"})
    ).json() == {}
    new = await served.control(
        "POST", "/deposit", {"user": "user-1", "currency": "SOL", "amount": "3"}
    )
    assert new.status_code == 200
    accounts = (await served.rest("GET", "/accounts")).json()["accounts"]
    balances = {a["currency"]: a["available_balance"]["value"] for a in accounts}
    assert balances["USD"] == "100050"
    assert balances["SOL"] == "3"


async def test_status_reports_users_connections_faults_and_fills(served: Served) -> None:
    """/sim/status shows what a scenario needs to check: connections, faults, fills."""
    served.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, 2, path_prefix="/nowhere")
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "level2", "product_ids": ["ETH-USD"]})
        await receive_until(ws, lambda f: f["channel"] == "l2_data")
        await served.rest("POST", "/orders", json=_market_buy("one"))
        status = (await served.control("GET", "/status")).json()
    assert status["users"] == ["user-1"]
    (connection,) = status["connections"]
    assert connection["endpoint"] == "market"
    assert connection["subscriptions"] == {"level2": ["ETH-USD"]}
    assert connection["sequence"] >= 2
    assert connection["stalled"] is False
    assert status["pending_rest_faults"] == 2
    assert status["fault_history"] == ["rest server_error x2 /nowhere"]
    assert status["fills_recorded"] >= 2  # the user's fill and the maker's


async def test_order_requests_count_every_submission_per_client_order_id(served: Served) -> None:
    """The "never sent twice" check: POST /orders received per client_order_id."""
    for client_order_id in ("a", "b", "a"):
        await served.rest("POST", "/orders", json=_limit_buy(client_order_id))
    response = await served.control("GET", "/orders/requests")
    assert response.json() == {"create_requests": {"a": 2, "b": 1}}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/faults/rest", b"{nope", "the body is not valid JSON"),
        ("/faults/rest", [1], "the body must be a JSON object"),
        ("/faults/rest", {}, "kind: required"),
        ("/faults/rest", {"kind": "teapot"}, "kind: one of"),
        ("/faults/rest", {"kind": "html", "count": "2"}, "count: expected int"),
        ("/faults/rest", {"kind": "html", "count": True}, "count: expected int"),
        ("/faults/rest", {"kind": "html", "count": 0}, "count: must be >= 1"),
        ("/faults/rest", {"kind": "html", "status": 200}, "status: must be an HTTP error"),
        ("/faults/lose_order_responses", {"count": 0}, "count: must be >= 1"),
        ("/faults/latency", {}, "seconds: required"),
        ("/faults/latency", {"seconds": -1}, "latency: must be in [0, 3600)"),
        ("/faults/latency", {"seconds": "1"}, "seconds: expected float"),
        ("/faults/ws", {"action": "explode"}, "action: one of"),
        ("/faults/ws", {"action": "drop", "endpoint": "admin"}, "endpoint: must be"),
        ("/faults/ws", {"action": "close", "amount": 999}, "code: must be a WebSocket close code"),
        ("/faults/ws", {"action": "skip_sequence", "amount": -2}, "count: must be >= 1"),
        ("/faults/ws", {"action": "malformed", "amount": -1}, "count: must be >= 1"),
        ("/faults/replay_fills", {"enabled": "yes"}, "enabled: expected bool"),
        ("/keys/revoke", {}, "key_name: required"),
        ("/keys/restore", {"key_name": 5}, "key_name: expected str"),
        ("/deposit", {"currency": "USD", "amount": "lots"}, "amount: not a decimal string"),
        ("/deposit", {"currency": "USD", "amount": "1", "user": "ghost"}, "unknown user 'ghost'"),
        ("/deposit", {"currency": "USD", "amount": "-1"}, "amount"),
        ("/deposit", {"amount": "1"}, "currency: required"),
    ],
)
async def test_the_control_api_refuses_bad_requests_saying_why(
    served: Served, path: str, body: Any, message: str
) -> None:
    """A scenario script with a typo gets a 400 naming the field, not a silent no-op."""
    if isinstance(body, bytes):
        response = await served.http.post("/sim" + path, content=body)
    else:
        response = await served.control("POST", path, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "INVALID_ARGUMENT"
    assert message in answer["message"]
    assert served.sim.faults.pending_rest_faults == 0
    assert served.sim.faults.latency == 0


async def test_ws_fault_over_http_reports_the_connections_it_reached(served: Served) -> None:
    """The control API answers how many connections were open when a WS fault was applied."""
    answer = await served.control("POST", "/faults/ws", {"action": "skip_sequence"})
    assert answer.json() == {"connections": 0}
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "heartbeats"})
        await receive(ws)
        answer = await served.control("POST", "/faults/ws", {"action": "malformed"})
        assert answer.json() == {"connections": 1}
        assert await receive(ws) == "this is not json"


# -- the market: price jumps -------------------------------------------------------------------
#
# These run the simulator in memory under trio's MockClock (as the failure scenarios do), with
# the project's own clients, so "what clients receive" is what the bot would receive.

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the simulated exchange's virtual wall clock


def _control_client(exchange: InMemoryExchange) -> httpx.AsyncClient:
    """An HTTP client for the /sim control API of an in-memory simulator."""
    return httpx.AsyncClient(transport=exchange.http_transport(), base_url=exchange.rest_url)


@pytest.mark.parametrize(
    ("via", "product_id", "bps"),
    [("python", "BTC-USD", 500), ("http", "ETH-USD", -300), ("http", "BTC-USD", "12.5")],
)
async def test_a_price_jump_moves_the_level2_book_clients_receive(
    autojump_clock: trio.abc.Clock, via: str, product_id: str, bps: int | str
) -> None:
    """The book a client keeps from l2_data jumps by the asked bps, before any market step."""
    sim = Simulator(SimulatorConfig(seed=3, start_epoch=EPOCH))
    exchange = InMemoryExchange(sim)
    spec = sim.engine.products[product_id]
    book = L2Book(product_id, spec.price_increment, spec.base_increment)

    async def on_item(item: stream.StreamItem) -> None:
        if isinstance(item, stream.Frame) and isinstance(item.payload, stream.L2Data):
            for event in item.payload.events:
                book.apply_event(event, now=trio.current_time())

    async with _control_client(exchange) as control, trio.open_nursery() as nursery:
        await nursery.start(sim.run_background)
        client = WebSocketClient(
            channels={"level2": [product_id]},
            url=exchange.ws_market_url,
            connect=exchange.connect,
            now=sim.epoch,
            rng=random.Random(3),
        )
        await nursery.start(client.run, on_item)
        await trio.sleep(1.1)  # the market steps every 0.25 s: the jump falls between steps
        before = book.mid()
        assert before is not None
        if via == "python":
            sim.faults.jump_price(product_id, Decimal(bps))
        else:
            answer = await control.post(
                "/sim/faults/price_jump", json={"product_id": product_id, "bps": bps}
            )
            assert answer.status_code == 200, answer.text
            assert Decimal(answer.json()["mid"]) == sim.market.mid(product_id)
        await trio.sleep(0.01)  # the frames are delivered; the next step is at 1.25 s
        after, bid, ask = book.mid(), book.best_bid(), book.best_ask()
        nursery.cancel_scope.cancel()
    assert after == sim.market.mid(product_id)
    ratio = after / before
    assert abs(ratio - (1 + Decimal(bps) / 10_000)) < Decimal("0.0001")  # ticks round it only
    assert bid is not None
    assert ask is not None
    assert ask[0] - bid[0] == 2 * spec.price_increment  # the maker's touch, re-laid at once
    assert sim.faults.history == [f"price jump {product_id} {Decimal(bps):+f}bps"]


@pytest.mark.parametrize("bps", [400, "-2.5"])
async def test_price_jump_over_http_answers_the_new_mid(
    serve: ServeFactory, bps: int | str
) -> None:
    """With the market standing still (a long tick), the answered mid is exactly the jump."""
    async with serve(SimulatorConfig(tick=60)) as served:
        answer = await served.control(
            "POST", "/faults/price_jump", {"product_id": "BTC-USD", "bps": bps}
        )
        status = (await served.control("GET", "/status")).json()
    expected = {400: "62400.00", "-2.5": "59985.00"}[bps]
    assert answer.json() == {"mid": expected}
    assert status["fault_history"] == [f"price jump BTC-USD {Decimal(bps):+f}bps"]


# -- the gateway: the exchange down ------------------------------------------------------------


def _rejected_with_503(error: ConnectionRejected) -> bool:
    return error.status_code == 503 and b"<title>503 Service Unavailable</title>" in (
        error.body or b""
    )


@VIA
async def test_while_down_the_gateway_answers_503_pages_and_refuses_handshakes(
    served: Served, via: str
) -> None:
    """REST gets the load balancer's HTML 503, WebSockets are dropped and refused with a 503,
    the /sim routes keep working, and pending faults wait for the exchange to come back."""
    served.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, path_prefix=PREFIX + "/orders")
    async with open_ws(served.endpoints.ws_market_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "heartbeats", "product_ids": []})
        await receive(ws)
        await inject(
            served,
            via,
            lambda f: f.set_exchange_down(True),
            "/faults/exchange_down",
            {"down": True},
        )
        assert await _close_code(ws) == 1011

    for path, signed in ((PREFIX + "/accounts", True), (PREFIX + "/time", False)):
        response = await served.rest("GET", path.removeprefix(PREFIX), signed=signed)
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert "<title>503 Service Unavailable</title>" in response.text
    assert (await served.http.get("/api/v3/anything/else")).status_code == 503
    for url in (served.endpoints.ws_market_url, served.endpoints.ws_user_url):
        with pytest.RaisesGroup(
            pytest.RaisesExc(ConnectionRejected, check=_rejected_with_503),
            flatten_subgroups=True,
        ):
            async with open_ws(url):
                pass  # pragma: no cover - the handshake is refused
    status = (await served.control("GET", "/status")).json()
    assert status["exchange_down"] is True
    assert status["connections"] == []
    assert status["pending_rest_faults"] == 1

    await inject(
        served, via, lambda f: f.set_exchange_down(False), "/faults/exchange_down", {"down": False}
    )
    assert (await served.rest("GET", "/accounts")).status_code == 200
    assert (await served.rest("GET", "/orders/historical/batch")).status_code == 503  # pending
    assert (await served.rest("GET", "/orders/historical/batch")).status_code == 200
    assert (await served.http.get("/api/v3/anything/else")).status_code == 404
    async with open_ws(served.endpoints.ws_user_url) as ws:
        await send_json(ws, {"type": "subscribe", "channel": "heartbeats", "product_ids": []})
        assert (await receive(ws))["channel"] == "subscriptions"
    assert served.sim.faults.history == [
        "rest server_error x1 /api/v3/brokerage/orders",
        "exchange down",
        "exchange up",
    ]


@VIA
async def test_an_outage_is_survived_by_the_clients_and_the_market_moves_on(
    autojump_clock: trio.abc.Clock, via: str
) -> None:
    """In memory, with our clients: REST raises ServerError(503), both WebSocket clients are
    dropped and keep retrying with growing delays, the market trades on behind the gateway,
    and once the exchange is up again everything reconnects and answers."""
    sim = Simulator(SimulatorConfig(seed=4, start_epoch=EPOCH))
    credentials, _ = sim.generate_key()
    exchange = InMemoryExchange(sim)
    seen: dict[str, list[stream.StreamItem]] = {"market": [], "user": []}

    def collect(name: str) -> Callable[[stream.StreamItem], Awaitable[None]]:
        async def on_item(item: stream.StreamItem) -> None:
            if not isinstance(item, stream.Frame):
                seen[name].append(item)

        return on_item

    async with (
        _control_client(exchange) as control,
        RestClient(
            exchange.rest_url,
            credentials=credentials,
            transport=exchange.http_transport(),
            now=sim.epoch,
            rng=random.Random(4),
        ) as rest,
        trio.open_nursery() as nursery,
    ):

        async def switch(down: bool) -> None:
            if via == "python":
                sim.faults.set_exchange_down(down)
            else:
                answer = await control.post("/sim/faults/exchange_down", json={"down": down})
                assert answer.json() == {"exchange_down": down}

        await nursery.start(sim.run_background)
        clients = {
            "market": WebSocketClient(
                channels={"level2": ["BTC-USD"]},
                url=exchange.ws_market_url,
                connect=exchange.connect,
                now=sim.epoch,
                rng=random.Random(4),
            ),
            "user": WebSocketClient(
                channels={"user": []},
                url=exchange.ws_user_url,
                credentials=credentials,
                connect=exchange.connect,
                now=sim.epoch,
                rng=random.Random(5),
            ),
        }
        for name, client in clients.items():
            await nursery.start(client.run, collect(name))
        assert (await rest.list_accounts()).accounts
        await trio.sleep(1.0)

        await switch(True)
        with pytest.raises(ServerError) as caught:
            await rest.list_accounts()
        assert caught.value.status == 503
        assert "503 Service Unavailable" in str(caught.value)
        fills_when_down = sim.fills_recorded
        await trio.sleep(20.0)
        assert sim.hub.connections == []
        assert not any(client.connected for client in clients.values())
        assert sim.fills_recorded > fills_when_down  # the takers kept trading

        await switch(False)
        with trio.fail_after(60):
            while not all(client.connected for client in clients.values()):
                await trio.sleep(0.1)
        assert (await rest.list_accounts()).accounts
        nursery.cancel_scope.cancel()

    for name, items in seen.items():
        kinds = [type(item).__name__ for item in items]
        assert kinds[:3] == ["Connected", "Subscribed", "Disconnected"], name
        dropped = items[2]
        assert isinstance(dropped, stream.Disconnected)
        assert dropped.code == 1011
        failures = [item for item in items if isinstance(item, stream.ConnectFailed)]
        assert len(failures) >= 4, name
        assert all("ConnectionRejected" in failure.reason for failure in failures)
        assert failures[3].retry_in > failures[0].retry_in  # backing off, not hammering
        assert kinds[-2:] == ["Connected", "Subscribed"], name
        assert kinds.count("Connected") == 2, name


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/faults/price_jump", {"bps": 5}, "product_id: required"),
        ("/faults/price_jump", {"product_id": "BTC-USD"}, "bps: required"),
        ("/faults/price_jump", {"product_id": 7, "bps": 5}, "product_id: expected str"),
        ("/faults/price_jump", {"product_id": "BTC-USD", "bps": 2.5}, "bps: expected an int or"),
        ("/faults/price_jump", {"product_id": "BTC-USD", "bps": True}, "bps: expected an int or"),
        ("/faults/price_jump", {"product_id": "BTC-USD", "bps": "lots"}, "not a decimal string"),
        ("/faults/price_jump", {"product_id": "BTC-USD", "bps": 0}, "bps: must be non-zero"),
        ("/faults/price_jump", {"product_id": "BTC-USD", "bps": "-10000"}, "strictly between"),
        ("/faults/price_jump", {"product_id": "BTC-USD", "bps": "NaN"}, "bps: must be non-zero"),
        (
            "/faults/price_jump",
            {"product_id": "DOGE-USD", "bps": 5},
            "unknown product 'DOGE-USD' (known: BTC-USD, ETH-USD)",
        ),
        ("/faults/exchange_down", {}, "down: required"),
        ("/faults/exchange_down", {"down": "yes"}, "down: expected bool"),
        ("/faults/exchange_down", {"down": 1}, "down: expected bool"),
    ],
)
async def test_the_market_and_gateway_routes_refuse_bad_requests_saying_why(
    served: Served, path: str, body: Any, message: str
) -> None:
    """A typo in a scenario's price jump or outage is a 400 naming the field, and no-op."""
    mid = served.sim.market.mid("BTC-USD")
    response = await served.control("POST", path, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "INVALID_ARGUMENT"
    assert message in answer["message"]
    assert served.sim.faults.history == []
    assert served.sim.faults.exchange_down is False
    assert abs(served.sim.market.mid("BTC-USD") - mid) < mid / 100  # only the random walk
