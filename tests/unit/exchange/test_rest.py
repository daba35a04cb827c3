"""The REST client against a fake Coinbase (httpx.MockTransport): wire, errors, retries, secrets.

Every request the fake receives is checked the way Coinbase checks it: the JWT is verified
with the key's public half and its claims (``sub``, ``iss``, ``nbf``, ``exp``, ``uri``) must be
exactly right, so a test that passes here signs the way the exchange requires.
"""

from __future__ import annotations

import inspect
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import jwt
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec

from cjt_actors.errors import (
    BadRequest,
    CredentialsError,
    HTTPStatusError,
    InvalidSpec,
    NotFound,
    PermissionDenied,
    RateLimited,
    ResponseError,
    ServerError,
    TransportError,
    Unauthorized,
)
from cjt_actors.exchange._http import DEFAULT_RETRY_BACKOFF, RetryPolicy
from cjt_actors.exchange.auth import JWT_LIFETIME, Credentials
from cjt_actors.exchange.models import (
    CancelFailureReason,
    ContractExpiryType,
    Granularity,
    OrderStatus,
    ProductType,
    ProductVenue,
)
from cjt_actors.exchange.orders import (
    LimitFok,
    LimitGtc,
    LimitGtd,
    LimitIoc,
    MarketIoc,
    NewOrderFailureReason,
    OrderAccepted,
    OrderConfiguration,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderRequest,
    Side,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
)
from cjt_actors.exchange.ratelimit import RateLimit, RateLimiter
from cjt_actors.exchange.rest import API_PREFIX as API
from cjt_actors.exchange.rest import RestClient
from cjt_actors.policy import Backoff

KEY_NAME = "organizations/11111111-2222-3333-4444-555555555555/apiKeys/66666666-7777"
NOW = 1_767_225_600.0  # the wall clock of every token in these tests
BASE = "https://api.coinbase.com"
CREDENTIALS = Credentials(KEY_NAME, ec.generate_private_key(ec.SECP256R1()))

Reply = (
    httpx.Response
    | Exception
    | Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Awaitable[httpx.Response]]
)


class FakeCoinbase:
    """A MockTransport handler: verifies each request's JWT, records it, replies from a script.

    ``on(method, path, *replies)``: the replies are used in order; the last one repeats.
    """

    def __init__(
        self, *, host: str = "api.coinbase.com", credentials: Credentials | None = CREDENTIALS
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self.tokens: list[str] = []
        self._routes: dict[tuple[str, str], list[Reply]] = {}

    def on(self, method: str, path: str, *replies: Reply) -> FakeCoinbase:
        self._routes[(method, path)] = list(replies)
        return self

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(trio.current_time())
        if self.credentials is None:
            assert "authorization" not in request.headers
        else:
            self._verify(request)
        path = request.url.raw_path.split(b"?")[0].decode()  # as sent, percent-encoding kept
        replies = self._routes.get((request.method, path))
        assert replies is not None, f"unexpected {request.method} {path}"
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            answer = reply(request)
            return await answer if inspect.isawaitable(answer) else answer
        return reply

    def _verify(self, request: httpx.Request) -> None:
        assert self.credentials is not None
        scheme, _, token = request.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        claims = jwt.decode(
            token,
            self.credentials.public_key_pem(),
            algorithms=[self.credentials.algorithm],
            options={"verify_exp": False, "verify_nbf": False},
        )
        assert claims == {
            "sub": KEY_NAME,
            "iss": "cdp",
            "nbf": int(NOW),
            "exp": int(NOW) + JWT_LIFETIME,
            "uri": f"{request.method} {self.host}{request.url.raw_path.split(b'?')[0].decode()}",
        }
        assert jwt.get_unverified_header(token)["kid"] == KEY_NAME
        self.tokens.append(token)


def ok(
    document: object, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=document, headers=headers)


def text(status: int, body: str, content_type: str = "text/plain") -> httpx.Response:
    return httpx.Response(status, content=body.encode(), headers={"content-type": content_type})


def client_for(fake: FakeCoinbase, base_url: str = BASE, **kwargs: Any) -> RestClient:
    kwargs.setdefault("rng", random.Random(1))
    return RestClient(
        base_url,
        credentials=fake.credentials,
        transport=fake.transport(),
        now=lambda: NOW,
        **kwargs,
    )


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return request.url.params.multi_items()


# -- canned Coinbase bodies (shapes from reference/coinbase-api.md §2) -------------------------


def account(uuid: str) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": f"{uuid} wallet",
        "currency": "BTC",
        "available_balance": {"value": "1.5", "currency": "BTC"},
        "default": False,
        "active": True,
        "type": "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "hold": {"value": "0", "currency": "BTC"},
    }


def order(order_id: str, status: str = "OPEN") -> dict[str, Any]:
    return {
        "order_id": order_id,
        "product_id": "BTC-USD",
        "side": "BUY",
        "client_order_id": f"c-{order_id}",
        "status": status,
        "order_configuration": {
            "limit_limit_gtc": {"base_size": "0.01", "limit_price": "50000", "post_only": False}
        },
        "filled_size": "0",
        "number_of_fills": "0",
    }


def fill(trade_id: str) -> dict[str, Any]:
    return {
        "entry_id": f"e-{trade_id}",
        "trade_id": trade_id,
        "order_id": "o1",
        "trade_time": "2024-01-15T10:30:00Z",
        "trade_type": "FILL",
        "price": "45123.45",
        "size": "0.005",
        "commission": "1.14",
        "product_id": "BTC-USD",
        "liquidity_indicator": "MAKER",
        "side": "BUY",
    }


PRODUCT = {
    "product_id": "BTC-USD",
    "price": "68923.67",
    "base_increment": "0.00000001",
    "quote_increment": "0.01",
    "price_increment": "0.01",
    "status": "online",
    "product_type": "SPOT",
    "mid_market_price": "",
    "product_venue": "CBE",
}

BOOK = {
    "product_id": "BTC-USD",
    "bids": [{"price": "68923.66", "size": "0.17"}],
    "asks": [{"price": "68923.67", "size": "0.16"}],
    "time": "2026-04-07T00:28:59.662782Z",
}

ACCEPTED = {
    "success": True,
    "failure_reason": "UNKNOWN_FAILURE_REASON",
    "order_id": "oid-1",
    "success_response": {
        "order_id": "oid-1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "client_order_id": "cid-1",
        "attached_order_id": "",
    },
    "order_configuration": {"market_market_ioc": {"quote_size": "10", "rfq_disabled": False}},
}

REJECTED = {
    "success": False,
    "failure_reason": "UNKNOWN_FAILURE_REASON",
    "order_id": "",
    "error_response": {
        "error": "INSUFFICIENT_FUND",
        "message": "Insufficient balance in source account",
        "error_details": "",
        "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",
        "new_order_failure_reason": "INSUFFICIENT_FUND",
    },
    "order_configuration": {"market_market_ioc": {"quote_size": "10"}},
}

HTML_429 = text(
    429,
    "<!DOCTYPE html><html><head><title>429 Too Many Requests</title></head>"
    "<body><h1>Slow down</h1></body></html>",
    "text/html",
)
HTML_502 = text(502, "<html><head><title>502 Bad Gateway</title></head></html>", "text/html")


def market_buy(client_order_id: str = "cid-1") -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        product_id="BTC-USD",
        side=Side.BUY,
        order_configuration=MarketIoc(quote_size=Decimal("10")),
    )


# -- construction and lifecycle --------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.coinbase.com",
        "http://10.0.0.1:8080",
        "http://[fe80::1]:80",
        "http://localhost.evil.com",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(base_url: str) -> None:
    """Tokens in clear over a network are stolen tokens: only loopback may use plain http."""
    with pytest.raises(InvalidSpec, match="plain http") as caught:
        RestClient(base_url, credentials=CREDENTIALS)
    assert base_url in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://api.coinbase.com",
        "api.coinbase.com",
        "https://",
        "https://user:pw@api.coinbase.com",
        "https://api.coinbase.com?x=1",
        "https://api.coinbase.com:notaport",
        b"https://api.coinbase.com",
    ],
)
def test_malformed_base_urls_are_refused(base_url: str) -> None:
    """A base URL the client cannot sign for must fail at construction, not at the first order."""
    with pytest.raises(InvalidSpec, match="base_url"):
        RestClient(base_url, credentials=None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": float("nan")},
        {"timeout": "10"},
        {"attempt_timeout": 0},
        {"attempt_timeout": float("inf")},
        {"credentials": "key"},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    """Nonsense timeouts or a secret passed as a bare string are caught at construction."""
    kwargs.setdefault("credentials", None)
    with pytest.raises(InvalidSpec):
        RestClient(BASE, **kwargs)


@pytest.mark.parametrize("max_attempts", [0, 1.5, True])
def test_bad_retry_policies_are_refused(max_attempts: Any) -> None:
    """A retry policy that never sends, or sends a fractional number of times, is a bug."""
    with pytest.raises(InvalidSpec, match="max_attempts"):
        RetryPolicy(max_attempts=max_attempts)


@pytest.mark.parametrize(
    ("base_url", "host", "path"),
    [
        ("https://127.0.0.1:8443", "127.0.0.1:8443", f"{API}/accounts"),
        ("https://api.coinbase.com:443", "api.coinbase.com:443", f"{API}/accounts"),
        ("http://127.0.0.1:18080", "127.0.0.1:18080", f"{API}/accounts"),
        ("http://localhost:9000/", "localhost:9000", f"{API}/accounts"),
        ("http://[::1]:9000", "[::1]:9000", f"{API}/accounts"),
        ("https://gateway.example/coinbase/", "gateway.example", f"/coinbase{API}/accounts"),
    ],
)
async def test_the_jwt_uri_uses_the_host_exactly_as_given(
    base_url: str, host: str, path: str
) -> None:
    """Coinbase (and the simulator) compare `uri` to the host the client was given, port included."""
    fake = FakeCoinbase(host=host).on("GET", path, ok({"accounts": [], "has_next": False}))
    async with client_for(fake, base_url) as client:
        await client.list_accounts(limit=5)
    assert fake.requests[0].url.path == path
    assert fake.requests[0].url.scheme == base_url.split(":")[0]
    assert len(fake.tokens) == 1  # verified by the fake: uri carries no query string


async def test_an_httpx_timeout_is_taken_as_is() -> None:
    """Callers who need a longer read than connect timeout pass an httpx.Timeout."""
    fake = FakeCoinbase().on("GET", f"{API}/key_permissions", ok({}))
    async with client_for(fake, timeout=httpx.Timeout(5.0, read=30.0)) as client:
        await client.get_key_permissions()
    assert fake.requests[0].extensions["timeout"]["read"] == 30.0
    assert fake.requests[0].extensions["timeout"]["connect"] == 5.0


async def test_the_client_must_be_open_and_opened_once() -> None:
    """Using a closed client is a programming error that must say what to do."""
    fake = FakeCoinbase()
    client = client_for(fake)
    with pytest.raises(RuntimeError, match="async with"):
        await client.get_server_time()
    async with client:
        with pytest.raises(RuntimeError, match="already open"):
            await client.__aenter__()
        assert "open" in repr(client)
    assert "closed" in repr(client)


async def test_requests_carry_user_agent_and_json_content_type_only_with_a_body() -> None:
    """POST bodies are JSON; GETs have no body (and no content type to confuse proxies)."""
    fake = FakeCoinbase()
    fake.on("GET", f"{API}/key_permissions", ok({"can_view": True}))
    fake.on("POST", f"{API}/orders/batch_cancel", ok({"results": []}))
    async with client_for(fake) as client:
        await client.get_key_permissions()
        await client.cancel_orders(["a"])
    get, post = fake.requests
    assert get.content == b""
    assert "content-type" not in get.headers
    assert post.headers["content-type"] == "application/json"
    assert get.headers["user-agent"].startswith("cjt-actors/")


# -- accounts --------------------------------------------------------------------------------


async def test_list_accounts_sends_its_query_and_reads_one_page() -> None:
    """One page with its cursor: the caller controls paging when it wants to."""
    fake = FakeCoinbase().on(
        "GET",
        f"{API}/accounts",
        ok({"accounts": [account("a1")], "has_next": True, "cursor": "c1", "size": 1}),
    )
    async with client_for(fake) as client:
        page = await client.list_accounts(limit=1, cursor="c0", retail_portfolio_id="pf")
    assert query(fake.requests[0]) == [
        ("limit", "1"),
        ("cursor", "c0"),
        ("retail_portfolio_id", "pf"),
    ]
    assert [a.uuid for a in page.accounts] == ["a1"]
    assert page.accounts[0].available_balance.value == Decimal("1.5")
    assert (page.has_next, page.cursor) == (True, "c1")


async def test_iter_accounts_follows_the_cursor_across_pages() -> None:
    """Balances of every account, not just the first 49: paging must follow has_next/cursor."""
    fake = FakeCoinbase().on(
        "GET",
        f"{API}/accounts",
        ok({"accounts": [account("a1"), account("a2")], "has_next": True, "cursor": "c1"}),
        ok({"accounts": [account("a3")], "has_next": True, "cursor": "c2"}),
        ok({"accounts": [account("a4")], "has_next": False, "cursor": ""}),
    )
    async with client_for(fake) as client:
        uuids = [a.uuid async for a in client.iter_accounts(limit=2)]
    assert uuids == ["a1", "a2", "a3", "a4"]
    assert [dict(query(r)).get("cursor") for r in fake.requests] == [None, "c1", "c2"]
    assert all(dict(query(r))["limit"] == "2" for r in fake.requests)


@pytest.mark.parametrize(
    ("second_page", "message"),
    [
        ({"accounts": [], "has_next": True, "cursor": "c1"}, "came back twice"),
        ({"accounts": [], "has_next": True, "cursor": ""}, "cursor is empty"),
    ],
)
async def test_paging_refuses_to_loop_forever(second_page: dict[str, Any], message: str) -> None:
    """A server bug that repeats a cursor must end in an error, not an endless loop."""
    fake = FakeCoinbase().on(
        "GET",
        f"{API}/accounts",
        ok({"accounts": [account("a1")], "has_next": True, "cursor": "c1"}),
        ok(second_page),
    )
    async with client_for(fake) as client:
        with pytest.raises(ResponseError, match=message):
            [a async for a in client.iter_accounts()]


async def test_get_account_unwraps_and_quotes_the_id() -> None:
    """An id is one path segment: it cannot add path components (`../orders`)."""
    fake = FakeCoinbase()
    fake.on("GET", f"{API}/accounts/a1", ok({"account": account("a1")}))
    fake.on("GET", f"{API}/accounts/..%2Forders", ok({"error": "NOT_FOUND"}, status=404))
    async with client_for(fake) as client:
        assert (await client.get_account("a1")).uuid == "a1"
        with pytest.raises(NotFound):
            await client.get_account("../orders")
        with pytest.raises(InvalidSpec, match="account_uuid"):
            await client.get_account("")
    assert fake.requests[1].url.raw_path == f"{API}/accounts/..%2Forders".encode()


# -- products and market data ----------------------------------------------------------------


async def test_list_products_repeats_array_keys_and_writes_booleans_lower_case() -> None:
    """Query arrays are repeated keys (product_ids=A&product_ids=B), as Coinbase parses them."""
    fake = FakeCoinbase().on(
        "GET", f"{API}/products", ok({"products": [PRODUCT], "num_products": 1})
    )
    async with client_for(fake) as client:
        page = await client.list_products(
            product_type=ProductType.SPOT,
            product_ids=["BTC-USD", "ETH-USD"],
            limit=5,
            offset=10,
            contract_expiry_type=ContractExpiryType.EXPIRING,
            get_tradability_status=True,
            get_all_products=False,
        )
    assert query(fake.requests[0]) == [
        ("limit", "5"),
        ("offset", "10"),
        ("product_type", "SPOT"),
        ("product_ids", "BTC-USD"),
        ("product_ids", "ETH-USD"),
        ("contract_expiry_type", "EXPIRING"),
        ("get_tradability_status", "true"),
        ("get_all_products", "false"),
    ]
    assert page.products[0].price_increment == Decimal("0.01")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.list_products(limit=0), "limit"),
        (lambda c: c.list_products(offset=-1), "offset"),
        (lambda c: c.list_products(product_ids="BTC-USD"), "product_ids"),
        (lambda c: c.list_products(product_ids=[""]), "product_ids"),
        (
            lambda c: c.get_candles("BTC-USD", start=1.5, end=2, granularity=Granularity.ONE_DAY),
            "start",
        ),
        (lambda c: c.cancel_orders([]), "order_ids"),
        (lambda c: c.edit_order("o1"), "price"),
        (lambda c: c.edit_order("o1", price=Decimal("-1")), "price"),
        (lambda c: c.create_order({"product_id": "BTC-USD"}), "OrderRequest"),
        (lambda c: c.preview_order(None), "OrderRequest"),
    ],
)
async def test_bad_arguments_fail_before_anything_is_sent(
    call: Callable[[RestClient], Awaitable[object]], message: str
) -> None:
    """Argument mistakes are caught locally with the argument's name, not by a 400."""
    fake = FakeCoinbase()
    async with client_for(fake) as client:
        with pytest.raises(InvalidSpec, match=message):
            await call(client)
    assert fake.requests == []


async def test_get_product_reads_the_flat_product() -> None:
    """GET /products/{id} is not wrapped (unlike accounts and orders)."""
    fake = FakeCoinbase().on("GET", f"{API}/products/BTC-USD", ok(PRODUCT))
    async with client_for(fake) as client:
        product = await client.get_product("BTC-USD", get_tradability_status=True)
    assert product.product_id == "BTC-USD"
    assert product.product_venue is ProductVenue.CBE
    assert query(fake.requests[0]) == [("get_tradability_status", "true")]


async def test_product_book_and_best_bid_ask() -> None:
    """The two order-book reads: one product's depth, several products' tops."""
    fake = FakeCoinbase()
    fake.on(
        "GET",
        f"{API}/product_book",
        ok({"pricebook": BOOK, "last": "1", "mid_market": "68923.665"}),
    )
    fake.on(
        "GET", f"{API}/best_bid_ask", ok({"pricebooks": [BOOK, {**BOOK, "product_id": "ETH-USD"}]})
    )
    async with client_for(fake) as client:
        book = await client.get_product_book(
            "BTC-USD", limit=10, aggregation_price_increment=Decimal("0.10")
        )
        tops = await client.get_best_bid_ask(["BTC-USD", "ETH-USD"])
    assert query(fake.requests[0]) == [
        ("product_id", "BTC-USD"),
        ("limit", "10"),
        ("aggregation_price_increment", "0.10"),
    ]
    assert book.mid_market == Decimal("68923.665")
    assert book.pricebook.asks[0].price == Decimal("68923.67")
    assert query(fake.requests[1]) == [("product_ids", "BTC-USD"), ("product_ids", "ETH-USD")]
    assert [top.product_id for top in tops] == ["BTC-USD", "ETH-USD"]


async def test_candles_and_market_trades() -> None:
    """Candles take UNIX-second strings and a granularity name; trades come from /ticker."""
    fake = FakeCoinbase()
    candle = {
        "start": "1712192400",
        "low": "1",
        "high": "3",
        "open": "2",
        "close": "2.5",
        "volume": "9",
    }
    fake.on("GET", f"{API}/products/BTC-USD/candles", ok({"candles": [candle]}))
    fake.on(
        "GET",
        f"{API}/products/BTC-USD/ticker",
        ok(
            {
                "trades": [
                    {
                        "trade_id": "1",
                        "product_id": "BTC-USD",
                        "price": "5",
                        "size": "0.1",
                        "side": "SELL",
                        "time": "2026-04-07T00:28:58Z",
                    }
                ],
                "best_bid": "4.9",
                "best_ask": "5.1",
            }
        ),
    )
    async with client_for(fake) as client:
        candles = await client.get_candles(
            "BTC-USD", start=1712188800, end=1712192400, granularity=Granularity.ONE_HOUR, limit=2
        )
        trades = await client.get_market_trades("BTC-USD", limit=1, start=1712188800)
    assert query(fake.requests[0]) == [
        ("start", "1712188800"),
        ("end", "1712192400"),
        ("granularity", "ONE_HOUR"),
        ("limit", "2"),
    ]
    assert candles[0].close == Decimal("2.5")
    assert query(fake.requests[1]) == [("limit", "1"), ("start", "1712188800")]
    assert trades.trades[0].side is Side.SELL
    assert trades.best_bid == Decimal("4.9")


async def test_server_time_is_signed_when_the_client_has_a_key() -> None:
    """Like the SDK, an authenticated client signs public endpoints too."""
    fake = FakeCoinbase().on(
        "GET",
        f"{API}/time",
        ok(
            {
                "iso": "2024-01-15T10:30:00Z",
                "epochSeconds": "1705314600",
                "epochMillis": "1705314600000",
            }
        ),
    )
    async with client_for(fake) as client:
        clock = await client.get_server_time()
    assert clock.epoch_seconds == 1705314600
    assert clock.iso == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert len(fake.tokens) == 1


async def test_without_credentials_market_data_uses_the_public_twins_unsigned() -> None:
    """Paper trading and tools read prices without a key, through /market/... and no JWT."""
    fake = FakeCoinbase(credentials=None)
    fake.on("GET", f"{API}/market/products/BTC-USD", ok(PRODUCT))
    fake.on("GET", f"{API}/market/products", ok({"products": [PRODUCT]}))
    fake.on("GET", f"{API}/market/product_book", ok({"pricebook": BOOK}))
    fake.on("GET", f"{API}/market/products/BTC-USD/candles", ok({"candles": []}))
    fake.on("GET", f"{API}/market/products/BTC-USD/ticker", ok({"trades": []}))
    fake.on(
        "GET",
        f"{API}/time",
        ok({"iso": "2024-01-15T10:30:00Z", "epochSeconds": 1, "epochMillis": 1000}),
    )
    async with client_for(fake) as client:
        assert (await client.get_product("BTC-USD")).product_id == "BTC-USD"
        assert len((await client.list_products()).products) == 1
        assert (await client.get_product_book("BTC-USD")).pricebook.product_id == "BTC-USD"
        assert (
            await client.get_candles("BTC-USD", start=0, end=60, granularity=Granularity.ONE_MINUTE)
            == ()
        )
        assert (await client.get_market_trades("BTC-USD", limit=5)).trades == ()
        assert (await client.get_server_time()).epoch_millis == 1000
    assert len(fake.requests) == 6  # each checked unsigned by the fake


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.list_accounts(),
        lambda c: c.get_best_bid_ask(),
        lambda c: c.get_order("o1"),
        lambda c: c.create_order(market_buy()),
        lambda c: c.cancel_orders(["o1"]),
        lambda c: c.get_key_permissions(),
    ],
)
async def test_private_calls_without_credentials_send_nothing(
    call: Callable[[RestClient], Awaitable[object]],
) -> None:
    """A missing key is known before any I/O: fail locally, with a clear message."""
    fake = FakeCoinbase(credentials=None)
    async with client_for(fake) as client:
        with pytest.raises(CredentialsError, match="needs an API key"):
            await call(client)
    assert fake.requests == []


# -- orders ----------------------------------------------------------------------------------

END = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

CONFIGURATIONS: list[tuple[OrderConfiguration, dict[str, Any]]] = [
    (MarketIoc(quote_size=Decimal("10.00")), {"market_market_ioc": {"quote_size": "10.00"}}),
    (MarketIoc(base_size=Decimal("0.001")), {"market_market_ioc": {"base_size": "0.001"}}),
    (
        LimitIoc(base_size=Decimal("0.01"), limit_price=Decimal("50000")),
        {"sor_limit_ioc": {"base_size": "0.01", "limit_price": "50000"}},
    ),
    (
        LimitGtc(base_size=Decimal("0.01"), limit_price=Decimal("50000.5")),
        {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "50000.5", "post_only": False}},
    ),
    (
        LimitGtc(base_size=Decimal("0.01"), limit_price=Decimal("50000"), post_only=True),
        {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "50000", "post_only": True}},
    ),
    (
        LimitGtd(base_size=Decimal("0.01"), limit_price=Decimal("50000"), end_time=END),
        {
            "limit_limit_gtd": {
                "base_size": "0.01",
                "limit_price": "50000",
                "end_time": "2030-01-01T12:00:00Z",
                "post_only": False,
            }
        },
    ),
    (
        LimitFok(base_size=Decimal("0.01"), limit_price=Decimal("50000")),
        {"limit_limit_fok": {"base_size": "0.01", "limit_price": "50000"}},
    ),
    (
        StopLimitGtc(
            base_size=Decimal("0.01"),
            limit_price=Decimal("49000"),
            stop_price=Decimal("49500"),
            stop_direction=StopDirection.STOP_DIRECTION_STOP_DOWN,
        ),
        {
            "stop_limit_stop_limit_gtc": {
                "base_size": "0.01",
                "limit_price": "49000",
                "stop_price": "49500",
                "stop_direction": "STOP_DIRECTION_STOP_DOWN",
            }
        },
    ),
    (
        StopLimitGtd(
            base_size=Decimal("0.01"),
            limit_price=Decimal("51000"),
            stop_price=Decimal("50500"),
            end_time=END,
            stop_direction=StopDirection.STOP_DIRECTION_STOP_UP,
        ),
        {
            "stop_limit_stop_limit_gtd": {
                "base_size": "0.01",
                "limit_price": "51000",
                "stop_price": "50500",
                "end_time": "2030-01-01T12:00:00Z",
                "stop_direction": "STOP_DIRECTION_STOP_UP",
            }
        },
    ),
]


@pytest.mark.parametrize(
    ("configuration", "wire"), CONFIGURATIONS, ids=[type(c).__name__ for c, _ in CONFIGURATIONS]
)
async def test_create_order_sends_each_configuration_as_wire_json(
    configuration: OrderConfiguration, wire: dict[str, Any]
) -> None:
    """The body must be exactly what Coinbase accepts: decimal strings, no nulls, one variant."""
    fake = FakeCoinbase().on("POST", f"{API}/orders", ok(ACCEPTED))
    request = OrderRequest(
        client_order_id="cid-1",
        product_id="BTC-USD",
        side=Side.BUY,
        order_configuration=configuration,
    )
    async with client_for(fake) as client:
        outcome = await client.create_order(request)
    assert fake.bodies() == [
        {
            "client_order_id": "cid-1",
            "product_id": "BTC-USD",
            "side": "BUY",
            "order_configuration": wire,
        }
    ]
    assert outcome == OrderAccepted(
        client_order_id="cid-1", order_id="oid-1", product_id="BTC-USD", side=Side.BUY
    )


async def test_create_order_sends_the_optional_fields_given() -> None:
    """Leverage, margin type, portfolio and STP id travel only when set."""
    fake = FakeCoinbase().on("POST", f"{API}/orders", ok(ACCEPTED))
    request = OrderRequest(
        client_order_id="cid-1",
        product_id="BTC-PERP-INTX",
        side=Side.SELL,
        order_configuration=MarketIoc(base_size=Decimal("1")),
        self_trade_prevention_id="stp",
        leverage=Decimal("2.5"),
        margin_type="CROSS",  # type: ignore[arg-type]
        retail_portfolio_id="pf",
    )
    async with client_for(fake) as client:
        await client.create_order(request)
    body = fake.bodies()[0]
    assert {
        key: body[key]
        for key in ("self_trade_prevention_id", "leverage", "margin_type", "retail_portfolio_id")
    } == {
        "self_trade_prevention_id": "stp",
        "leverage": "2.5",
        "margin_type": "CROSS",
        "retail_portfolio_id": "pf",
    }


async def test_create_order_rejection_is_a_value_with_the_exchange_reasons() -> None:
    """HTTP 200 with success:false is a rejection, not an error, and is not retried."""
    fake = FakeCoinbase().on("POST", f"{API}/orders", ok(REJECTED))
    async with client_for(fake) as client:
        outcome = await client.create_order(market_buy())
    assert outcome == OrderRejected(
        client_order_id="cid-1",
        error="INSUFFICIENT_FUND",
        message="Insufficient balance in source account",
        error_details="",
        preview_failure_reason="PREVIEW_INSUFFICIENT_FUND",  # type: ignore[arg-type]
        new_order_failure_reason=NewOrderFailureReason.INSUFFICIENT_FUND,
    )
    assert len(fake.requests) == 1


async def test_create_order_retries_with_the_same_client_order_id(autojump_clock: object) -> None:
    """A lost answer is re-sent with the same idempotency key, so it cannot place twice."""
    fake = FakeCoinbase().on(
        "POST",
        f"{API}/orders",
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
        ok(ACCEPTED),
    )
    async with client_for(fake) as client:
        outcome = await client.create_order(market_buy("cid-1"))
    assert isinstance(outcome, OrderAccepted)
    assert outcome.order_id == "oid-1"
    bodies = fake.bodies()
    assert len(bodies) == 3
    assert all(body == bodies[0] for body in bodies)
    assert {body["client_order_id"] for body in bodies} == {"cid-1"}
    assert len(set(fake.tokens)) == 3  # a fresh JWT for every attempt


@pytest.mark.parametrize(
    ("replies", "attempts", "reason"),
    [
        pytest.param([httpx.ReadTimeout("timed out")], 4, "ReadTimeout", id="timeouts"),
        pytest.param(
            [httpx.RemoteProtocolError("dropped")], 4, "RemoteProtocolError", id="dropped"
        ),
        pytest.param([httpx.ConnectError("refused")], 4, "none connected", id="never-connected"),
        pytest.param([HTML_502], 4, "502: 502 Bad Gateway", id="5xx"),
        pytest.param(
            [text(200, "<html><title>Maintenance</title></html>", "text/html")],
            1,
            "Maintenance",
            id="html-200",
        ),
        pytest.param([ok({"order_id": "x"})], 1, "success", id="no-success-field"),
        pytest.param([ok({"success": "yes"})], 1, "success", id="odd-success-field"),
        pytest.param([ok({"success": True, "order_id": ""})], 1, "no order_id", id="no-order-id"),
        pytest.param(
            [httpx.ReadTimeout("timed out"), ok({"error": "INVALID_ARGUMENT"}, status=400)],
            2,
            "may have reached",
            id="timeout-then-400",
        ),
        pytest.param(
            [httpx.ReadTimeout("timed out"), HTML_429], 4, "may have reached", id="timeout-then-429"
        ),
        pytest.param([HTML_502, text(401, "Unauthorized")], 2, "401", id="5xx-then-401"),
    ],
)
async def test_create_order_without_a_usable_answer_is_outcome_unknown(
    autojump_clock: object, replies: list[Reply], attempts: int, reason: str
) -> None:
    """Maybe-placed is never reported as failed: the caller must reconcile, not re-place."""
    fake = FakeCoinbase().on("POST", f"{API}/orders", *replies)
    async with client_for(fake) as client:
        outcome = await client.create_order(market_buy("cid-9"))
    assert isinstance(outcome, OrderOutcomeUnknown)
    assert (outcome.client_order_id, outcome.product_id) == ("cid-9", "BTC-USD")
    assert outcome.attempts == attempts == len(fake.requests)
    assert reason in outcome.reason
    assert all(body["client_order_id"] == "cid-9" for body in fake.bodies())


@pytest.mark.parametrize(
    ("replies", "error", "attempts"),
    [
        pytest.param(
            [ok({"error": "INVALID_ARGUMENT", "error_details": "bad size"}, status=400)],
            BadRequest,
            1,
            id="400",
        ),
        pytest.param([text(401, "Unauthorized")], Unauthorized, 1, id="401"),
        pytest.param(
            [ok({"error": "PERMISSION_DENIED"}, status=403)], PermissionDenied, 1, id="403"
        ),
        pytest.param([ok({"error": "NOT_FOUND"}, status=404)], NotFound, 1, id="404"),
        pytest.param([HTML_429], RateLimited, 4, id="429-after-retries"),
        pytest.param(
            [httpx.ConnectError("refused"), ok({"error": "INVALID_ARGUMENT"}, status=400)],
            BadRequest,
            2,
            id="unsent-then-400",
        ),
    ],
)
async def test_create_order_refused_outright_raises(
    autojump_clock: object, replies: list[Reply], error: type[Exception], attempts: int
) -> None:
    """When no attempt can have placed the order, the refusal is definite: raise it."""
    fake = FakeCoinbase().on("POST", f"{API}/orders", *replies)
    async with client_for(fake) as client:
        with pytest.raises(error):
            await client.create_order(market_buy())
    assert len(fake.requests) == attempts


async def test_preview_order_is_retried_and_sends_no_client_order_id(
    autojump_clock: object,
) -> None:
    """Preview places nothing, so it is retried; its body is the create body minus the ids."""
    fake = FakeCoinbase().on(
        "POST",
        f"{API}/orders/preview",
        httpx.ReadTimeout("timed out"),
        ok(
            {
                "order_total": "10.06",
                "commission_total": "0.06",
                "errs": [],
                "warning": ["SMALL_ORDER"],
                "preview_id": "pv",
            }
        ),
    )
    request = OrderRequest(
        client_order_id="cid-1",
        product_id="BTC-USD",
        side=Side.BUY,
        order_configuration=MarketIoc(quote_size=Decimal("10")),
        self_trade_prevention_id="stp",
    )
    async with client_for(fake) as client:
        preview = await client.preview_order(request)
    assert preview.commission_total == Decimal("0.06")
    assert preview.warning == ("SMALL_ORDER",)
    assert fake.bodies()[1] == {
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "10"}},
    }


async def test_cancel_orders_is_retried_and_reads_per_order_results(autojump_clock: object) -> None:
    """Cancelling twice is harmless; the per-order results say which cancels were accepted."""
    fake = FakeCoinbase().on(
        "POST",
        f"{API}/orders/batch_cancel",
        HTML_502,
        ok(
            {
                "results": [
                    {
                        "success": True,
                        "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                        "order_id": "o1",
                    },
                    {"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": "o2"},
                ]
            }
        ),
    )
    async with client_for(fake) as client:
        results = await client.cancel_orders(["o1", "o2"])
    assert fake.bodies() == [{"order_ids": ["o1", "o2"]}] * 2
    assert [(r.order_id, r.success) for r in results] == [("o1", True), ("o2", False)]
    assert results[1].failure_reason is CancelFailureReason.UNKNOWN_CANCEL_ORDER


async def test_edit_order_sends_price_and_size_and_reads_the_result() -> None:
    """An edit changes a resting order in place; failures come back as values with reasons."""
    fake = FakeCoinbase().on(
        "POST",
        f"{API}/orders/edit",
        ok({"success": True, "errors": []}),
        ok(
            {
                "success": False,
                "errors": [{"edit_failure_reason": "ONLY_OPEN_ORDERS_CAN_BE_EDITED"}],
            }
        ),
    )
    async with client_for(fake) as client:
        assert (await client.edit_order("o1", price=Decimal("50100"), size=Decimal("0.02"))).success
        failed = await client.edit_order("o1", size=Decimal("1E-2"))
    assert fake.bodies() == [
        {"order_id": "o1", "price": "50100", "size": "0.02"},
        {"order_id": "o1", "size": "0.01"},
    ]
    assert not failed.success
    assert failed.errors[0].edit_failure_reason == "ONLY_OPEN_ORDERS_CAN_BE_EDITED"


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (HTML_502, ServerError),
        (httpx.ReadTimeout("timed out"), TransportError),
        (HTML_429, RateLimited),
    ],
)
async def test_edit_order_is_never_retried(reply: Reply, error: type[Exception]) -> None:
    """An edit repeated after a lost answer could land after a fill: send it once, let the caller look."""
    fake = FakeCoinbase().on("POST", f"{API}/orders/edit", reply)
    async with client_for(fake) as client:
        with pytest.raises(error):
            await client.edit_order("o1", price=Decimal("1"))
    assert len(fake.requests) == 1


async def test_get_order_and_list_orders() -> None:
    """The reconciliation reads: one order by id, a filtered page of orders."""
    fake = FakeCoinbase()
    fake.on("GET", f"{API}/orders/historical/o1", ok({"order": order("o1", "FILLED")}))
    fake.on(
        "GET",
        f"{API}/orders/historical/batch",
        ok({"orders": [order("o2")], "sequence": "12", "has_next": False, "cursor": ""}),
    )
    async with client_for(fake) as client:
        one = await client.get_order("o1")
        page = await client.list_orders(
            order_status=[OrderStatus.OPEN, OrderStatus.PENDING],
            product_ids=["BTC-USD"],
            order_ids=["o2", "o3"],
            limit=50,
            start_date=datetime(2024, 1, 1, tzinfo=UTC),
            order_types=["LIMIT"],
            order_side="BUY",
            cursor="c9",
            product_type="SPOT",
            order_placement_source="RETAIL_ADVANCED",
            contract_expiry_type="UNKNOWN_CONTRACT_EXPIRY_TYPE",
            asset_filters=["BTC"],
            retail_portfolio_id="pf",
            time_in_forces=["GOOD_UNTIL_CANCELLED"],
            sort_by="LAST_FILL_TIME",
            end_date=datetime(2024, 2, 1, tzinfo=UTC),
        )
    assert one.status is OrderStatus.FILLED
    assert page.sequence == 12
    assert query(fake.requests[1]) == [
        ("order_ids", "o2"),
        ("order_ids", "o3"),
        ("product_ids", "BTC-USD"),
        ("order_status", "OPEN"),
        ("order_status", "PENDING"),
        ("limit", "50"),
        ("start_date", "2024-01-01T00:00:00Z"),
        ("end_date", "2024-02-01T00:00:00Z"),
        ("order_types", "LIMIT"),
        ("order_side", "BUY"),
        ("cursor", "c9"),
        ("product_type", "SPOT"),
        ("order_placement_source", "RETAIL_ADVANCED"),
        ("contract_expiry_type", "UNKNOWN_CONTRACT_EXPIRY_TYPE"),
        ("asset_filters", "BTC"),
        ("retail_portfolio_id", "pf"),
        ("time_in_forces", "GOOD_UNTIL_CANCELLED"),
        ("sort_by", "LAST_FILL_TIME"),
    ]


async def test_iter_orders_follows_the_cursor_across_pages() -> None:
    """Reconciling open orders must see all of them, however many pages."""
    fake = FakeCoinbase().on(
        "GET",
        f"{API}/orders/historical/batch",
        ok({"orders": [order("o1"), order("o2")], "has_next": True, "cursor": "c1"}),
        ok({"orders": [order("o3")], "has_next": True, "cursor": "c2"}),
        ok({"orders": [], "has_next": False, "cursor": ""}),
    )
    async with client_for(fake) as client:
        ids = [o.order_id async for o in client.iter_orders(order_status=["OPEN"], limit=2)]
    assert ids == ["o1", "o2", "o3"]
    assert [dict(query(r)).get("cursor") for r in fake.requests] == [None, "c1", "c2"]
    assert all(("order_status", "OPEN") in query(r) for r in fake.requests)


async def test_list_fills_and_iter_fills_follow_the_cursor_until_empty() -> None:
    """Fills have no has_next: pages continue while a cursor comes back (and pages are not empty)."""
    fake = FakeCoinbase().on(
        "GET",
        f"{API}/orders/historical/fills",
        ok({"fills": [fill("t1"), fill("t2")], "cursor": "c1"}),
        ok({"fills": [fill("t3")], "cursor": "c2"}),
        ok({"fills": [fill("t4")], "cursor": ""}),
    )
    async with client_for(fake) as client:
        trades = [
            f.trade_id
            async for f in client.iter_fills(
                order_ids=["o1"],
                trade_ids=["t1"],
                product_ids=["BTC-USD"],
                start_sequence_timestamp=datetime(2024, 1, 1, tzinfo=UTC),
                retail_portfolio_id="pf",
                limit=2,
            )
        ]
    assert trades == ["t1", "t2", "t3", "t4"]
    assert [dict(query(r)).get("cursor") for r in fake.requests] == [None, "c1", "c2"]
    assert query(fake.requests[0])[:4] == [
        ("order_ids", "o1"),
        ("trade_ids", "t1"),
        ("product_ids", "BTC-USD"),
        ("start_sequence_timestamp", "2024-01-01T00:00:00Z"),
    ]


async def test_iter_fills_stops_on_an_empty_page_even_with_a_cursor() -> None:
    """A cursor on an empty page would otherwise be followed forever."""
    fake = FakeCoinbase().on(
        "GET", f"{API}/orders/historical/fills", ok({"fills": [], "cursor": "c-stale"})
    )
    async with client_for(fake) as client:
        assert [f async for f in client.iter_fills()] == []
    assert len(fake.requests) == 1


async def test_transaction_summary_and_key_permissions() -> None:
    """Fees decide whether a trade pays; permissions decide whether trading can start at all."""
    fake = FakeCoinbase()
    fake.on(
        "GET",
        f"{API}/transaction_summary",
        ok(
            {
                "total_volume": 1234.5,
                "total_fees": 5,
                "fee_tier": {
                    "pricing_tier": "Advanced 1",
                    "usd_from": "0",
                    "usd_to": "1000",
                    "taker_fee_rate": "0.006",
                    "maker_fee_rate": "0.004",
                },
                "goods_and_services_tax": {"rate": "0.1", "type": "INCLUSIVE"},
            }
        ),
    )
    fake.on(
        "GET",
        f"{API}/key_permissions",
        ok(
            {
                "can_view": True,
                "can_trade": True,
                "can_transfer": False,
                "portfolio_uuid": "pf",
                "portfolio_type": "DEFAULT",
            }
        ),
    )
    async with client_for(fake) as client:
        summary = await client.get_transaction_summary(
            product_type=ProductType.SPOT, product_venue=ProductVenue.CBE
        )
        permissions = await client.get_key_permissions()
    assert query(fake.requests[0]) == [("product_type", "SPOT"), ("product_venue", "CBE")]
    assert summary.fee_tier.maker_fee_rate == Decimal("0.004")
    assert summary.total_volume == Decimal("1234.5")
    assert permissions.can_trade
    assert permissions.portfolio_uuid == "pf"


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "code", "details"),
    [
        pytest.param(
            ok(
                {
                    "error": "INVALID_ARGUMENT",
                    "error_details": "start and end must be within 350 candles",
                    "message": "start and end must be within 350 candles",
                },
                status=400,
            ),
            BadRequest,
            "INVALID_ARGUMENT",
            "start and end must be within 350 candles",
            id="400",
        ),
        pytest.param(
            text(401, "Unauthorized"), Unauthorized, "", "Unauthorized", id="401-plain-text"
        ),
        pytest.param(
            ok(
                {
                    "error": "PERMISSION_DENIED",
                    "error_details": "Missing required scopes",
                    "message": "Missing required scopes",
                },
                status=403,
            ),
            PermissionDenied,
            "PERMISSION_DENIED",
            "Missing required scopes",
            id="403",
        ),
        pytest.param(
            ok({"error": "unknown", "error_details": "Missing required scopes"}, status=403),
            PermissionDenied,
            "unknown",
            "Missing required scopes",
            id="403-unknown",
        ),
        pytest.param(
            ok(
                {
                    "error": "NOT_FOUND",
                    "error_details": "order with this orderID was not found",
                    "message": "not found",
                },
                status=404,
            ),
            NotFound,
            "NOT_FOUND",
            "order with this orderID was not found; not found",
            id="404",
        ),
        pytest.param(HTML_429, RateLimited, "", "429 Too Many Requests", id="429-html"),
        pytest.param(HTML_502, ServerError, "", "502 Bad Gateway", id="502-html"),
        pytest.param(
            text(
                503,
                "<html><body>" + "Service down for maintenance. " * 10 + "</body></html>",
                "text/html",
            ),
            ServerError,
            "",
            "<html><body>Service down for maintenance. Service down",
            id="503-html-no-title",
        ),
        pytest.param(
            ok({"error": "INTERNAL", "message": "boom"}, status=500),
            ServerError,
            "INTERNAL",
            "boom",
            id="500-json",
        ),
        pytest.param(httpx.Response(418), HTTPStatusError, "", "I'm a teapot", id="418-empty"),
        pytest.param(
            httpx.Response(302, headers={"location": "https://elsewhere"}),
            HTTPStatusError,
            "",
            "Found",
            id="302",
        ),
    ],
)
async def test_error_statuses_map_to_the_exception_tree(
    autojump_clock: object, reply: Reply, error: type[HTTPStatusError], code: str, details: str
) -> None:
    """Callers branch on the class and log the exchange's words: both must be right."""
    fake = FakeCoinbase().on("GET", f"{API}/orders/historical/o1", reply)
    async with client_for(fake) as client:
        with pytest.raises(HTTPStatusError) as caught:
            await client.get_order("o1")
    raised = caught.value
    assert type(raised) is error
    assert raised.error == code
    assert raised.details.startswith(details)
    assert len(raised.details) <= 300
    assert "\n" not in raised.details
    assert (raised.method, raised.path) == ("GET", f"{API}/orders/historical/o1")
    assert f"GET {API}/orders/historical/o1 -> {raised.status}" in str(raised)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            text(200, "<html><head><title>Just a moment...</title></head></html>", "text/html"),
            "body is not JSON (body: Just a moment...)",
        ),
        (ok([1, 2]), "expected a JSON object, got an array"),
        (ok({"order": {"order_id": "o1"}}), "required field missing @ $.order.product_id"),
        (
            ok({"order": {**order("o1"), "filled_size": "a lot"}}),
            "expected a decimal string, got a string 'a lot' @ $.order.filled_size",
        ),
    ],
)
async def test_an_unusable_2xx_is_a_response_error_naming_the_path(
    reply: Reply, message: str
) -> None:
    """A 200 we cannot read must not be guessed at: say which request and what was wrong."""
    fake = FakeCoinbase().on("GET", f"{API}/orders/historical/o1", reply)
    async with client_for(fake) as client:
        with pytest.raises(ResponseError) as caught:
            await client.get_order("o1")
    assert f"GET {API}/orders/historical/o1 -> 200" in str(caught.value)
    assert message in str(caught.value)


# -- retries ---------------------------------------------------------------------------------


async def test_get_retries_5xx_with_seeded_backoff_then_succeeds(autojump_clock: object) -> None:
    """Capped exponential backoff with jitter, on trio's clock, reproducible with a seeded rng."""
    fake = FakeCoinbase().on(
        "GET", f"{API}/key_permissions", HTML_502, HTML_502, ok({"can_view": True})
    )
    async with client_for(fake, rng=random.Random(42)) as client:
        assert (await client.get_key_permissions()).can_view
    draws = random.Random(42)
    first = DEFAULT_RETRY_BACKOFF.delay(0, draws.random())
    second = DEFAULT_RETRY_BACKOFF.delay(1, draws.random())
    assert fake.times == pytest.approx([0.0, first, first + second])
    assert 0.125 <= first <= 0.25
    assert 0.25 <= second <= 0.5


@pytest.mark.parametrize(
    ("reply", "name"),
    [
        (httpx.ReadTimeout("timed out"), "ReadTimeout"),
        (httpx.ConnectError("connection refused"), "ConnectError"),
        (httpx.RemoteProtocolError("server disconnected"), "RemoteProtocolError"),
        (httpx.DecodingError("bad gzip"), "DecodingError"),
    ],
)
async def test_get_gives_transport_error_after_the_last_attempt(
    autojump_clock: object, reply: Exception, name: str
) -> None:
    """No answer at all, after every attempt: a TransportError naming the request and the cause."""
    fake = FakeCoinbase().on("GET", f"{API}/accounts", reply)
    async with client_for(fake) as client:
        with pytest.raises(TransportError) as caught:
            await client.list_accounts(limit=3)
    assert len(fake.requests) == 4
    assert (caught.value.method, caught.value.path) == ("GET", f"{API}/accounts")
    assert name in str(caught.value)
    assert caught.value.__cause__ is None  # the httpx exception holds the signed request


def hang(seconds: float) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    async def reply(request: httpx.Request) -> httpx.Response:
        await trio.sleep(seconds)
        return ok({})

    return reply


async def test_an_attempt_that_hangs_is_cut_at_its_deadline(autojump_clock: object) -> None:
    """A server that never answers costs attempt_timeout per attempt, on trio's clock."""
    fake = FakeCoinbase().on("GET", f"{API}/key_permissions", hang(3600))
    async with client_for(fake, attempt_timeout=5, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(TransportError, match="no answer within 5 s"):
            await client.get_key_permissions()
    assert len(fake.requests) == 2
    assert fake.times[1] == pytest.approx(
        5 + DEFAULT_RETRY_BACKOFF.delay(0, random.Random(1).random())
    )


async def test_a_create_that_hangs_is_outcome_unknown(autojump_clock: object) -> None:
    """No answer to a placement is "maybe placed", never "failed"."""
    fake = FakeCoinbase().on("POST", f"{API}/orders", hang(3600))
    async with client_for(fake, attempt_timeout=5) as client:
        outcome = await client.create_order(market_buy("cid-h"))
    assert isinstance(outcome, OrderOutcomeUnknown)
    assert "no answer within 5 s" in outcome.reason
    assert outcome.attempts == 4


async def test_the_attempt_cap_is_configurable(autojump_clock: object) -> None:
    """One attempt means no retry at all (for callers that do their own)."""
    fake = FakeCoinbase().on("GET", f"{API}/accounts", HTML_502)
    async with client_for(fake, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ServerError):
            await client.list_accounts()
    assert len(fake.requests) == 1


async def test_a_429_retry_waits_out_the_scope_pause(autojump_clock: object) -> None:
    """A 429 means slow down: the retry waits for the limiter's pause, not a blind backoff."""
    penalty = Backoff(min=2.0, max=2.0, jitter=0.0, reset_after=0.0)
    fake = FakeCoinbase().on("GET", f"{API}/accounts", HTML_429, ok({"accounts": []}))
    limiter = RateLimiter(penalty=penalty, rng=random.Random(0))
    async with client_for(fake, rate_limiter=limiter) as client:
        await client.list_accounts()
        await client.list_accounts()
    # The retry goes when the pause ends; after it requests resume at the steady rate
    # (no tokens accrued while paused), not in a burst.
    assert fake.times == pytest.approx([0.0, 2.0, 2.0 + 2 / 30])
    assert client.rate_limiter is limiter


# -- rate limiting through the client --------------------------------------------------------


async def test_requests_wait_for_tokens(autojump_clock: object) -> None:
    """The client never sends faster than the configured rate, whatever its callers do."""
    limiter = RateLimiter(private=RateLimit(rate=10, burst=2))
    fake = FakeCoinbase().on("GET", f"{API}/key_permissions", ok({}))
    async with client_for(fake, rate_limiter=limiter) as client:
        for _ in range(5):
            await client.get_key_permissions()
    assert fake.times == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3])


async def test_remaining_zero_pauses_the_next_request_until_reset(autojump_clock: object) -> None:
    """x-ratelimit-remaining 0 with a reset in 3 s: the next request waits 3 s instead of a 429."""
    fake = FakeCoinbase().on(
        "GET",
        f"{API}/key_permissions",
        ok(
            {},
            headers={
                "x-ratelimit-limit": "30",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": "3",
            },
        ),
        ok({}),
    )
    async with client_for(fake) as client:
        await client.get_key_permissions()
        await client.get_key_permissions()
    assert fake.times == pytest.approx([0.0, 3.0])


# -- secrets ---------------------------------------------------------------------------------


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def assert_no_secret(text_: str, secrets: Sequence[str]) -> None:
    for secret in secrets:
        assert secret not in text_
    assert "Bearer" not in text_


async def test_tokens_and_key_names_never_reach_errors_reprs_or_logs(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A leaked JWT is a two-minute trading key; a key name is half of a credential."""
    caplog.set_level(logging.DEBUG)

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake = FakeCoinbase()
    fake.on("GET", f"{API}/accounts", timeout)
    fake.on("GET", f"{API}/key_permissions", text(401, "Unauthorized"))
    fake.on("GET", f"{API}/orders/historical/o1", text(200, "not json"))
    fake.on("POST", f"{API}/orders", timeout)
    fake.on("POST", f"{API}/orders/batch_cancel", HTML_502)
    errors: list[BaseException] = []
    async with client_for(fake) as client:
        for call in (
            client.list_accounts(),
            client.get_key_permissions(),
            client.get_order("o1"),
            client.cancel_orders(["o1"]),
        ):
            with pytest.raises(Exception) as caught:  # noqa: PT011 - each is a different class
                await call
            errors.append(caught.value)
        unknown = await client.create_order(market_buy())
        shown = repr(client)
    assert isinstance(unknown, OrderOutcomeUnknown)
    secrets = [*fake.tokens, KEY_NAME, KEY_NAME.rsplit("/", 1)[-1]]
    assert len(fake.tokens) == 4 + 1 + 1 + 4 + 4
    assert [type(e) for e in errors] == [TransportError, Unauthorized, ResponseError, ServerError]
    for error in errors:
        for link in _chain(error):
            assert not isinstance(link, httpx.HTTPError)
            assert_no_secret(f"{link!s} {link!r} {vars(link)!r}", secrets)
    assert_no_secret(f"{unknown!r}", secrets)
    assert_no_secret(shown, secrets)
    assert CREDENTIALS.fingerprint in shown
    assert caplog.records, "retries are logged"
    for record in caplog.records:
        assert_no_secret(record.getMessage(), secrets)


# -- the real httpx transport under trio -----------------------------------------------------


async def test_httpx_default_transport_works_inside_trio() -> None:
    """httpx runs on trio through anyio: a real loopback socket, the default transport, no mocks."""
    received: list[bytes] = []

    async def serve(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(65536)
        received.append(data)
        body = b'{"iso":"2024-01-15T10:30:00Z","epochSeconds":"1705314600","epochMillis":"1705314600000"}'
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        await stream.send_all(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await stream.aclose()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            async with RestClient(f"http://127.0.0.1:{port}", credentials=None) as client:
                clock = await client.get_server_time()
            nursery.cancel_scope.cancel()
    assert clock.epoch_seconds == 1705314600
    assert received[0].startswith(f"GET {API}/time HTTP/1.1\r\n".encode())
    assert b"authorization" not in received[0].lower()
