"""The simulator's REST API over loopback with plain httpx: error shapes, auth, rate limits.

What a client's error handling is written against: 404/400 bodies ``{error, error_details,
message}``, 400 ``proto: unknown field`` for a field Coinbase does not know, 401 with the
plain-text body ``Unauthorized`` for every kind of bad token, 429 with lower-case
``x-ratelimit-*`` headers, and lists that are ``[]`` (never ``null``) when empty. Tokens are
signed by the project's own :class:`~cjt_actors.exchange.auth.Credentials` for the host the
simulator was bound to, exactly as the trio client will sign them.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import trio

from cjt_actors.exchange.auth import Credentials
from cjt_actors.sim.simulator import SimulatorConfig
from cjt_actors.sim.wire import rfc3339

from .conftest import FAST_TICK, PREFIX, Served, ServeFactory, wait_until

D = Decimal


def _limit_buy(client_order_id: str, price: str = "50000", size: str = "0.001") -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": size, "limit_price": price}},
    }


def _market(client_order_id: str, side: str = "BUY", **size: str) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "product_id": "BTC-USD",
        "side": side,
        "order_configuration": {"market_market_ioc": size or {"quote_size": "100"}},
    }


def _fresh_credentials() -> Credentials:
    from cjt_actors.sim.simulator import Simulator

    credentials, _ = Simulator().generate_key()  # a key this test's simulator never saw
    return credentials


# -- error shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "details"),
    [
        ("/orders/historical/no-such-order", None, "order with this orderID was not found"),
        ("/products/DOGE-USD", None, "valid product_id is required"),
        ("/market/products/DOGE-USD", None, "valid product_id is required"),
        ("/products/DOGE-USD/ticker", {"limit": "5"}, "valid product_id is required"),
        ("/products/DOGE-USD/candles", None, "valid product_id is required"),
        ("/product_book", {"product_id": "DOGE-USD"}, "valid product_id is required"),
        ("/best_bid_ask", {"product_ids": "DOGE-USD"}, "valid product_id is required"),
        ("/accounts/no-such-account", None, "account not found"),
        ("/no/such/route", None, "no route /api/v3/brokerage/no/such/route"),
    ],
)
async def test_unknown_things_are_404_with_a_not_found_body(
    served: Served, path: str, params: dict[str, str] | None, details: str
) -> None:
    """A 404 names what was not found in Coinbase's JSON error shape."""
    response = await served.rest("GET", path, params=params)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "NOT_FOUND", "error_details": details, "message": details}


async def test_another_users_account_is_404(serve: ServeFactory) -> None:
    """An account uuid of another user is as unknown as a made-up one (no data leaks)."""
    async with serve() as served:
        served.sim.add_user("user-2")
        other = served.sim.engine.accounts("user-2")[0]
        response = await served.rest("GET", f"/accounts/{other.uuid}")
        assert response.status_code == 404


async def test_a_wrong_method_is_405(served: Served) -> None:
    """A known path with the wrong method says so (not 404)."""
    response = await served.rest("DELETE", "/accounts")
    assert response.status_code == 405
    assert response.json()["error"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("path", "body", "details"),
    [
        ("/orders", {**_limit_buy("x"), "max_floor": "1"}, 'proto: unknown field "max_floor"'),
        (
            "/orders",
            {
                **_limit_buy("x"),
                "order_configuration": {
                    "limit_limit_gtc": {"base_size": "1", "limit_price": "1", "iceberg": True}
                },
            },
            'proto: unknown field "iceberg" in limit_limit_gtc',
        ),
        ("/orders/edit", {"order_id": "x", "price": "1", "size": "1", "cancel": True}, None),
        ("/orders/edit_preview", {"order_id": "x", "price": "1", "size": "1", "x": 1}, None),
    ],
)
async def test_unknown_fields_are_400_proto_unknown_field(
    served: Served, path: str, body: dict[str, Any], details: str | None
) -> None:
    """Coinbase rejects a body with a field it does not know; so must the simulator."""
    response = await served.rest("POST", path, json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "unknown"
    assert error["error_details"].startswith('proto: unknown field "')
    if details is not None:
        assert error["error_details"] == details
    assert served.sim.engine.list_orders("user-1") == []


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "needle"),
    [
        ("POST", "/orders", None, [1, 2], "must be a JSON object"),
        ("POST", "/orders", None, {**_limit_buy("x"), "side": "HOLD"}, "side"),
        ("POST", "/orders", None, {**_limit_buy(""), "client_order_id": ""}, "client_order_id"),
        ("POST", "/orders/preview", None, [], "product_id is required"),
        ("POST", "/orders/batch_cancel", None, {"order_ids": "abc"}, "list of strings"),
        ("POST", "/orders/batch_cancel", None, {"order_ids": ["x"] * 101}, "at most 100"),
        ("POST", "/orders/edit", None, {"price": "1", "size": "1"}, "order_id is required"),
        ("POST", "/orders/edit", None, {"order_id": "x"}, "needs a new price, a new size"),
        ("POST", "/orders/edit", None, {"order_id": "x", "price": "-1"}, "must be a positive"),
        ("POST", "/orders/edit", None, {"order_id": "x", "size": 5}, "expected a decimal string"),
        ("POST", "/orders/edit", None, {"order_id": "x", "size": "abc"}, "is not a decimal"),
        ("GET", "/accounts", {"limit": "many"}, None, "limit must be an integer"),
        ("GET", "/accounts", {"limit": "-1"}, None, "limit must be >= 0"),
        ("GET", "/orders/historical/batch", {"cursor": "abc"}, None, "invalid cursor"),
        ("GET", "/orders/historical/batch", {"order_status": "DONE"}, None, "order_status"),
        ("GET", "/products/BTC-USD/candles", {"granularity": "ONE_WEEK"}, None, "granularity"),
        ("GET", "/products/BTC-USD/candles", {"start": "yesterday"}, None, "UNIX seconds"),
        ("GET", "/products/BTC-USD/candles", {"start": "20", "end": "10"}, None, "before start"),
        ("GET", "/products/BTC-USD/candles", {"start": "0", "end": "60000"}, None, "350 candles"),
        ("GET", "/orders/historical/fills", {"start_sequence_timestamp": "x"}, None, "RFC 3339"),
    ],
)
async def test_bad_arguments_are_400_invalid_argument(
    served: Served,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: Any,
    needle: str,
) -> None:
    """A malformed request is a 400 INVALID_ARGUMENT that says what was wrong."""
    response = await served.rest(method, path, params=params, json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "INVALID_ARGUMENT"
    assert needle in error["error_details"]
    assert error["message"] == error["error_details"]


async def test_a_body_that_is_not_json_is_400(served: Served) -> None:
    """Garbage in a POST body is refused, not half-parsed."""
    path = PREFIX + "/orders"
    response = await served.http.post(
        path, content=b"{not json", headers=served.auth_headers("POST", path)
    )
    assert response.status_code == 400
    assert response.json()["error_details"] == "the request body is not valid JSON"


async def test_unsupported_configurations_fail_like_coinbase(served: Served) -> None:
    """A configuration the simulator does not implement is refused as unsupported (200)."""
    body = {
        **_limit_buy("bracket"),
        "order_configuration": {"trigger_bracket_gtc": {"base_size": "1"}},
    }
    created = (await served.rest("POST", "/orders", json=body)).json()
    assert created["success"] is False
    assert created["error_response"]["error"] == "UNSUPPORTED_ORDER_CONFIGURATION"
    assert created["order_configuration"] == {"trigger_bracket_gtc": {"base_size": "1"}}
    preview = (await served.rest("POST", "/orders/preview", json=body)).json()
    assert preview["errs"] == ["PREVIEW_INVALID_ORDER_CONFIG"]


# -- authentication ----------------------------------------------------------------------------


async def _assert_401(served: Served, headers: dict[str, str], path: str = "/accounts") -> None:
    response = await served.http.get(PREFIX + path, headers=headers)
    assert response.status_code == 401
    assert response.text == "Unauthorized"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.jwt"},
    ],
    ids=["no header", "basic", "bare bearer", "garbage token"],
)
async def test_missing_or_malformed_tokens_are_401_plain_text(
    served: Served, headers: dict[str, str]
) -> None:
    """No usable token: 401 with Coinbase's plain-text body."""
    await _assert_401(served, headers)


async def test_an_expired_token_is_401(served: Served) -> None:
    """A token signed 1000 s ago (exp long past) is refused."""
    path = PREFIX + "/accounts"
    token = served.credentials.rest_jwt(
        "GET", served.endpoints.host, path, now=lambda: time.time() - 1000
    )
    await _assert_401(served, {"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    ("method", "host", "path"),
    [
        ("POST", None, "/accounts"),
        ("GET", "127.0.0.1:1", "/accounts"),
        ("GET", None, "/orders/historical/batch"),
    ],
    ids=["other method", "other host", "other path"],
)
async def test_a_token_for_another_uri_is_401(
    served: Served, method: str, host: str | None, path: str
) -> None:
    """The uri claim binds a token to one method, host and path: a replay elsewhere fails."""
    token = served.credentials.rest_jwt(method, host or served.endpoints.host, PREFIX + path)
    await _assert_401(served, {"Authorization": f"Bearer {token}"})


async def test_a_token_naming_api_coinbase_com_is_accepted(served: Served) -> None:
    """Clients that hard-code Coinbase's host in the uri claim still work."""
    path = PREFIX + "/accounts"
    token = served.credentials.rest_jwt("GET", "api.coinbase.com", path)
    response = await served.http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_query_strings_are_not_part_of_the_uri_claim(served: Served) -> None:
    """The token is signed without the query string (§1.2) and still matches."""
    response = await served.rest("GET", "/accounts", params={"limit": "1"})
    assert response.status_code == 200
    assert len(response.json()["accounts"]) == 1


async def test_an_unknown_key_is_401(served: Served) -> None:
    """A well-formed token from a key the exchange does not know is refused."""
    await _assert_401(
        served, served.auth_headers("GET", PREFIX + "/accounts", credentials=_fresh_credentials())
    )


async def test_a_revoked_key_is_401_until_restored(served: Served) -> None:
    """Revoking a key takes effect on the next request; restoring it re-admits the key."""
    assert (await served.rest("GET", "/accounts")).status_code == 200
    served.sim.faults.revoke_key(served.key_name)
    await _assert_401(served, served.auth_headers("GET", PREFIX + "/accounts"))
    served.sim.faults.restore_key(served.key_name)
    assert (await served.rest("GET", "/accounts")).status_code == 200


async def test_public_routes_need_no_token_and_ignore_auth(served: Served) -> None:
    """/time and /market/... answer without a token, as Coinbase's public endpoints do."""
    for path in ("/time", "/market/products", "/market/products/BTC-USD"):
        response = await served.rest("GET", path, signed=False)
        assert response.status_code == 200, path
    book = await served.rest(
        "GET", "/market/product_book", params={"product_id": "BTC-USD"}, signed=False
    )
    assert book.json()["pricebook"]["product_id"] == "BTC-USD"


async def test_auth_none_accepts_unsigned_requests_as_the_default_user(
    serve: ServeFactory,
) -> None:
    """With auth="none" (local use) an unsigned request acts as user-1."""
    async with serve(SimulatorConfig(auth="none", tick=FAST_TICK)) as served:
        response = await served.rest("POST", "/orders", json=_limit_buy("open"), signed=False)
        assert response.json()["success"] is True
        assert len(served.sim.engine.list_orders("user-1")) == 1


# -- rate limits -------------------------------------------------------------------------------


async def test_a_burst_over_the_private_rate_gets_429_with_headers(serve: ServeFactory) -> None:
    """Past the per-key rate, requests get 429; every answer carries x-ratelimit-* headers."""
    async with serve(SimulatorConfig(private_rate=5, tick=FAST_TICK)) as served:
        responses = [await served.rest("GET", "/accounts") for _ in range(30)]
        statuses = [r.status_code for r in responses]
        assert statuses.count(429) >= 15
        assert statuses[:5] == [200] * 5
        ok, limited = responses[0], next(r for r in responses if r.status_code == 429)
        assert ok.headers["x-ratelimit-limit"] == "5"
        assert int(ok.headers["x-ratelimit-remaining"]) == 4
        assert limited.json()["error"] == "RATE_LIMIT_EXCEEDED"
        assert limited.headers["x-ratelimit-limit"] == "5"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert 0 < float(limited.headers["x-ratelimit-reset"]) <= 0.2
        # Headers are lower-case on the wire (the SDK looks them up case-sensitively).
        assert "x-ratelimit-limit" in [k.decode() for k, _ in limited.headers.raw]

        # Tokens come back at the configured rate (one every 0.2 s).
        started = trio.current_time()
        with trio.fail_after(1):
            while True:
                if (await served.rest("GET", "/accounts")).status_code == 200:
                    break
                await trio.sleep(0.02)
        assert trio.current_time() - started <= 0.5


async def test_a_burst_over_the_public_rate_gets_429(serve: ServeFactory) -> None:
    """Public endpoints have their own per-address bucket."""
    async with serve(SimulatorConfig(public_rate=3, tick=FAST_TICK)) as served:
        statuses = [(await served.rest("GET", "/time", signed=False)).status_code for _ in range(8)]
        assert statuses[:3] == [200] * 3
        assert 429 in statuses
        # The private bucket is separate: still available.
        assert (await served.rest("GET", "/accounts")).status_code == 200


# -- lists are never null ----------------------------------------------------------------------


async def test_empty_lists_are_empty_arrays_never_null(serve: ServeFactory) -> None:
    """The SDK crashes on `null` where a list belongs; every empty list must be `[]`."""
    quiet = SimulatorConfig(market_enabled=False, balances={}, tick=FAST_TICK)
    async with serve(quiet) as served:
        now = int(time.time())
        checks: list[tuple[str, dict[str, str] | None, list[str]]] = [
            ("/accounts", None, ["accounts"]),
            ("/orders/historical/batch", None, ["orders"]),
            ("/orders/historical/fills", None, ["fills"]),
            ("/product_book", {"product_id": "BTC-USD"}, ["pricebook", "bids"]),
            ("/product_book", {"product_id": "BTC-USD"}, ["pricebook", "asks"]),
            ("/best_bid_ask", None, ["pricebooks", "0", "bids"]),
            ("/products/BTC-USD/ticker", {"limit": "10"}, ["trades"]),
            (
                "/products/BTC-USD/candles",
                {"start": str(now - 600), "end": str(now), "granularity": "ONE_MINUTE"},
                ["candles"],
            ),
            ("/products", None, ["products", "0", "alias_to"]),
        ]
        for path, params, keys in checks:
            value: Any = (await served.rest("GET", path, params=params)).json()
            for key in keys:
                value = value[int(key)] if key.isdigit() else value[key]
            assert value == [], (path, keys)
        book = (await served.rest("GET", "/product_book", params={"product_id": "BTC-USD"})).json()
        assert (book["last"], book["mid_market"], book["spread_bps"]) == ("", "", "")
        product = (await served.rest("GET", "/products/BTC-USD")).json()
        assert product["price"] == ""
        assert product["mid_market_price"] == ""
        bba = (await served.rest("GET", "/products/BTC-USD/ticker", params={"limit": "1"})).json()
        assert (bba["best_bid"], bba["best_ask"]) == ("", "")


# -- orders over plain HTTP --------------------------------------------------------------------


async def test_products_page_by_offset_and_limit(served: Served) -> None:
    """GET /products pages with offset/limit and always reports the total."""
    page = (await served.rest("GET", "/products", params={"limit": "1", "offset": "1"})).json()
    assert [p["product_id"] for p in page["products"]] == ["ETH-USD"]
    assert page["num_products"] == 2


async def test_fills_filter_by_product_trade_and_time(served: Served) -> None:
    """Fill filters narrow the list (by product, trade id and start time)."""
    for index in range(2):
        body = _market(f"m{index}")
        assert (await served.rest("POST", "/orders", json=body)).json()["success"] is True
    fills = (await served.rest("GET", "/orders/historical/fills")).json()["fills"]
    assert len(fills) >= 2
    trade_id = fills[0]["trade_id"]
    by_trade = await served.rest("GET", "/orders/historical/fills", params={"trade_ids": trade_id})
    assert [f["trade_id"] for f in by_trade.json()["fills"]] == [trade_id]
    by_product = await served.rest(
        "GET", "/orders/historical/fills", params={"product_ids": "ETH-USD"}
    )
    assert by_product.json()["fills"] == []
    future = await served.rest(
        "GET",
        "/orders/historical/fills",
        params={"start_sequence_timestamp": rfc3339(time.time() + 60)},
    )
    assert future.json()["fills"] == []
    past = await served.rest(
        "GET",
        "/orders/historical/fills",
        params={"start_sequence_timestamp": rfc3339(time.time() - 60)},
    )
    assert len(past.json()["fills"]) == len(fills)


async def test_fills_filtered_by_trade_id_find_older_fills(served: Served) -> None:
    """Filtering by trade id must find the fill however many newer fills exist."""
    for index in range(3):
        assert (await served.rest("POST", "/orders", json=_market(f"m{index}"))).json()["success"]
    fills = (await served.rest("GET", "/orders/historical/fills")).json()["fills"]
    oldest = fills[-1]["trade_id"]
    found = await served.rest(
        "GET", "/orders/historical/fills", params={"trade_ids": oldest, "limit": "1"}
    )
    assert [f["trade_id"] for f in found.json()["fills"]] == [oldest]


async def test_gtd_orders_expire_on_the_market_loop(served: Served) -> None:
    """A GTD order's end time passes while nobody calls: it reads back EXPIRED."""
    body = _limit_buy("gtd")
    body["order_configuration"] = {
        "limit_limit_gtd": {
            "base_size": "0.001",
            "limit_price": "50000",
            "end_time": rfc3339(time.time() + 0.3),
            "post_only": False,
        }
    }
    created = (await served.rest("POST", "/orders", json=body)).json()
    order_id = created["success_response"]["order_id"]
    account = served.sim.engine.account("user-1", "USD")
    assert account is not None
    assert account.hold > 0

    def expired() -> bool:
        view = served.sim.engine.get_order("user-1", order_id)
        return view is not None and view.status.value == "EXPIRED"

    await wait_until(expired, "the GTD order to expire")
    got = (await served.rest("GET", f"/orders/historical/{order_id}")).json()["order"]
    assert got["status"] == "EXPIRED"
    account = served.sim.engine.account("user-1", "USD")
    assert account is not None
    assert account.hold == 0


async def test_a_partially_filled_order_reads_back_open_with_progress(
    serve: ServeFactory,
) -> None:
    """A resting order hit by another user's market order shows its progress, still OPEN."""
    async with serve(SimulatorConfig(market_enabled=False, tick=FAST_TICK)) as served:
        body = {
            "client_order_id": "rest-sell",
            "product_id": "BTC-USD",
            "side": "SELL",
            "order_configuration": {
                "limit_limit_gtc": {"base_size": "0.01", "limit_price": "60000", "post_only": True}
            },
        }
        created = (await served.rest("POST", "/orders", json=body)).json()
        order_id = created["success_response"]["order_id"]
        taker, _ = served.sim.generate_key("user-2")
        bought = await served.rest(
            "POST", "/orders", json=_market("taker", quote_size="121.44"), credentials=taker
        )
        assert bought.json()["success"] is True
        got = (await served.rest("GET", f"/orders/historical/{order_id}")).json()["order"]
        assert got["status"] == "OPEN"
        assert got["filled_size"] == "0.002"
        assert got["completion_percentage"] == "20"
        assert got["number_of_fills"] == "1"
        fills = (
            await served.rest("GET", "/orders/historical/fills", params={"order_ids": order_id})
        ).json()["fills"]
        assert [(f["liquidity_indicator"], f["size"], f["price"]) for f in fills] == [
            ("MAKER", "0.002", "60000")
        ]
        theirs = (await served.rest("GET", "/orders/historical/fills", credentials=taker)).json()[
            "fills"
        ]
        assert [f["liquidity_indicator"] for f in theirs] == ["TAKER"]


async def test_candles_cover_only_trades_inside_the_window(served: Served) -> None:
    """A window before every trade has no candles; one around the trade has it."""
    assert (await served.rest("POST", "/orders", json=_market("c"))).json()["success"]
    now = int(time.time())
    params = {"granularity": "ONE_MINUTE"}
    before = await served.rest(
        "GET",
        "/products/BTC-USD/candles",
        params={**params, "start": str(now - 7200), "end": str(now - 3600)},
    )
    assert before.json() == {"candles": []}
    around = await served.rest(
        "GET",
        "/products/BTC-USD/candles",
        params={**params, "start": str(now - 60), "end": str(now + 60)},
    )
    traded_at = served.sim.engine.recent_trades("BTC-USD")[0].time
    starts = [int(candle["start"]) for candle in around.json()["candles"]]
    assert int(traded_at // 60 * 60) in starts
    assert starts == sorted(starts, reverse=True)  # newest first


async def test_the_endpoints_describe_one_loopback_port(served: Served) -> None:
    """REST, both WebSockets and the JWT host all name the one port the server bound."""
    endpoints = served.endpoints
    assert endpoints.host == f"127.0.0.1:{endpoints.port}"
    assert endpoints.rest_url == f"http://{endpoints.host}"
    assert endpoints.ws_market_url == f"ws://{endpoints.host}/"
    assert endpoints.ws_user_url == f"ws://{endpoints.host}/ws/user"
    assert served.sim.asgi is served.sim.asgi  # built once


async def test_a_zero_limit_page_still_lets_pagination_end(served: Served) -> None:
    """Following has_next/cursor must always make progress, whatever limit was asked."""
    page = (await served.rest("GET", "/accounts", params={"limit": "0"})).json()
    assert not page["has_next"] or page["cursor"] not in ("", "0")


async def test_a_counted_bad_request_still_carries_rate_limit_headers(served: Served) -> None:
    """A request that consumed a rate-limit token reports the bucket like any other answer."""
    path = PREFIX + "/orders"
    response = await served.http.post(
        path, content=b"{not json", headers=served.auth_headers("POST", path)
    )
    assert response.status_code == 400
    assert "x-ratelimit-remaining" in response.headers
