"""Conformance: the official SDK (coinbase-advanced-py 1.8.4) against the simulator.

The SDK is the independent reading of Coinbase's wire format: if its RESTClient, WSClient
and WSUserClient get what they expect from the simulator (right paths, right JWT checks,
JSON shapes its typed wrappers accept, lists never null, order failures as HTTP 200 with
``success: false``), then a client tested against the simulator is tested against something
the real exchange's own SDK recognises. Every assertion is on what the SDK returns.

TLS is not covered: ``serve_simulator`` serves plain HTTP and ``ws://`` only, so the SDK is
pointed at it with the scheme-rewriting adapter of ``reference/coinbase-api.md`` §5.5.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import trio
from coinbase.rest import RESTClient
from coinbase.websocket import WSClient, WSUserClient
from coinbase.websocket.types.websocket_response import WebsocketResponse
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cjt_actors.sim.wire import rfc3339

from .conftest import WAIT, PlainHttpAdapter, Served, in_thread, sdk_rest_client, wait_until

D = Decimal
ENVELOPE = {"channel", "client_id", "timestamp", "sequence_num", "events"}


@pytest.fixture
async def sdk(served: Served) -> AsyncIterator[RESTClient]:
    """The SDK's RESTClient pointed at the served simulator with its registered key."""
    client = sdk_rest_client(served)
    try:
        yield client
    finally:
        client.session.close()


def _order_id(response: Any) -> str:
    assert response.success, response.to_dict()
    order_id = response.success_response["order_id"]
    assert isinstance(order_id, str)
    assert order_id
    return order_id


def _write_foreign_key(path: Path, name: str) -> None:
    """A portal-style key file whose private key the simulator has never seen."""
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    path.write_text(json.dumps({"name": name, "privateKey": pem}))
    path.chmod(0o600)


# -- accounts, products, market data -----------------------------------------------------------


async def test_sdk_pages_through_accounts_with_limit_and_cursor(sdk: RESTClient) -> None:
    """A client that pages accounts one at a time must see every account exactly once."""
    currencies: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await in_thread(sdk.get_accounts, limit=1, cursor=cursor)
        assert page.size == len(page.accounts) == 1
        currencies.append(page.accounts[0].currency)
        if not page.has_next:
            assert page.cursor == ""
            break
        cursor = page.cursor
    assert sorted(currencies) == ["BTC", "ETH", "USD"]

    everything = await in_thread(sdk.get_accounts)
    usd = next(a for a in everything.accounts if a.currency == "USD")
    one = await in_thread(sdk.get_account, usd.uuid)
    assert one.account.uuid == usd.uuid
    assert one.account.available_balance == {"value": "100000", "currency": "USD"}
    assert one.account.hold == {"value": "0", "currency": "USD"}


async def test_sdk_lists_products_and_gets_one_flat(sdk: RESTClient) -> None:
    """GET /products/{id} is flat on the wire; the SDK's typed product reads its fields."""
    listing = await in_thread(sdk.get_products)
    assert [p.product_id for p in listing.products] == ["BTC-USD", "ETH-USD"]
    assert listing.num_products == 2
    product = await in_thread(sdk.get_product, "BTC-USD")
    assert product.product_id == "BTC-USD"
    assert (product.base_increment, product.price_increment) == ("0.00000001", "0.01")
    assert (product.base_min_size, product.quote_min_size) == ("0.00000001", "1")
    assert D(product.price) > 0
    filtered = await in_thread(sdk.get_products, product_ids=["ETH-USD"])
    assert [p.product_id for p in filtered.products] == ["ETH-USD"]


async def test_sdk_reads_the_book_and_best_bid_ask(sdk: RESTClient) -> None:
    """The book the SDK reads is ordered and consistent with best bid/ask."""
    book = await in_thread(sdk.get_product_book, "BTC-USD", limit=3)
    bids = [D(level["price"]) for level in book.pricebook.bids]
    asks = [D(level["price"]) for level in book.pricebook.asks]
    assert len(bids) == len(asks) == 3
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0]
    assert D(book.spread_absolute) == asks[0] - bids[0]
    both = await in_thread(sdk.get_best_bid_ask, ["BTC-USD", "ETH-USD"])
    assert [b.product_id for b in both.pricebooks] == ["BTC-USD", "ETH-USD"]
    btc = both.pricebooks[0]
    assert len(btc.bids) == len(btc.asks) == 1
    assert D(btc.bids[0]["price"]) < D(btc.asks[0]["price"])


async def test_sdk_reads_trades_candles_and_server_time(served: Served, sdk: RESTClient) -> None:
    """After a trade, market trades and candles show it; the server time is the wall clock."""
    order = await in_thread(
        sdk.market_order_buy, client_order_id="buy-1", product_id="BTC-USD", quote_size="100"
    )
    _order_id(order)
    trades = await in_thread(sdk.get_market_trades, "BTC-USD", limit=5)
    assert 1 <= len(trades.trades) <= 5
    trade = trades.trades[0]
    assert trade.product_id == "BTC-USD"
    assert trade.side in ("BUY", "SELL")
    assert D(trade.price) > 0
    assert D(trade.size) > 0
    assert D(trades.best_bid) < D(trades.best_ask)

    now = int(time.time())
    candles = await in_thread(
        sdk.get_candles,
        "BTC-USD",
        start=str(now - 600),
        end=str(now + 60),
        granularity="ONE_MINUTE",
    )
    assert candles.candles, "the trade just made must be in a candle"
    newest = candles.candles[0]
    assert int(newest.start) % 60 == 0
    assert D(newest.low) <= D(newest.open) <= D(newest.high)
    assert D(newest.volume) > 0

    server = await in_thread(sdk.get_unix_time)
    assert abs(int(server.epoch_seconds) - time.time()) < 5
    assert int(server.epoch_millis) // 1000 == int(server.epoch_seconds)
    assert server.iso.endswith("Z")


async def test_sdk_public_endpoints_work_without_credentials(served: Served) -> None:
    """An SDK client with no key can use every public (`/market/...`, `/time`) endpoint."""
    client = RESTClient(base_url=served.endpoints.host, timeout=WAIT)
    client.session.mount(f"https://{served.endpoints.host}", PlainHttpAdapter())
    try:
        products = await in_thread(client.get_public_products)
        assert [p.product_id for p in products.products] == ["BTC-USD", "ETH-USD"]
        product = await in_thread(client.get_public_product, "ETH-USD")
        assert product.product_id == "ETH-USD"
        book = await in_thread(client.get_public_product_book, "ETH-USD", limit=1)
        assert len(book.pricebook.bids) == 1
        trades = await in_thread(client.get_public_market_trades, "ETH-USD", limit=1)
        assert trades.trades == [] or len(trades.trades) == 1
        now = int(time.time())
        candles = await in_thread(
            client.get_public_candles,
            "ETH-USD",
            start=str(now - 600),
            end=str(now),
            granularity="FIVE_MINUTE",
        )
        assert isinstance(candles.candles, list)
        assert int((await in_thread(client.get_unix_time)).epoch_seconds) > 0
    finally:
        client.session.close()


# -- orders ------------------------------------------------------------------------------------


def _later(seconds: float = 3600) -> str:
    return rfc3339(time.time() + seconds)


#: (SDK helper, its arguments, the wire key it sends, status right after placement)
PLACEMENTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("market_order_buy", {"quote_size": "100"}, "market_market_ioc", "FILLED"),
    ("market_order_sell", {"base_size": "0.001"}, "market_market_ioc", "FILLED"),
    (
        "limit_order_gtc_buy",
        {"base_size": "0.001", "limit_price": "50000"},
        "limit_limit_gtc",
        "OPEN",
    ),
    (
        "limit_order_gtd_sell",
        {"base_size": "0.001", "limit_price": "70000", "end_time": "LATER"},
        "limit_limit_gtd",
        "OPEN",
    ),
    (
        "limit_order_fok_buy",
        {"base_size": "0.001", "limit_price": "70000"},
        "limit_limit_fok",
        "FILLED",
    ),
    (
        "limit_order_fok_sell",
        {"base_size": "0.001", "limit_price": "70000"},
        "limit_limit_fok",
        "CANCELLED",
    ),
    (
        "limit_order_ioc_buy",
        {"base_size": "0.001", "limit_price": "70000"},
        "sor_limit_ioc",
        "FILLED",
    ),
    (
        "stop_limit_order_gtc_sell",
        {
            "base_size": "0.001",
            "limit_price": "39000",
            "stop_price": "40000",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN",
        },
        "stop_limit_stop_limit_gtc",
        "OPEN",
    ),
    (
        "stop_limit_order_gtd_buy",
        {
            "base_size": "0.001",
            "limit_price": "81000",
            "stop_price": "80000",
            "end_time": "LATER",
            "stop_direction": "STOP_DIRECTION_STOP_UP",
        },
        "stop_limit_stop_limit_gtd",
        "OPEN",
    ),
]


@pytest.mark.parametrize(
    ("helper", "arguments", "wire_key", "status"),
    PLACEMENTS,
    ids=[f"{row[0]}-{row[3]}" for row in PLACEMENTS],
)
async def test_sdk_places_every_order_configuration(
    sdk: RESTClient, helper: str, arguments: dict[str, Any], wire_key: str, status: str
) -> None:
    """Every order helper of the SDK produces a body the simulator accepts and executes."""
    kwargs = {k: (_later() if v == "LATER" else v) for k, v in arguments.items()}
    response = await in_thread(
        getattr(sdk, helper), client_order_id=f"c-{helper}", product_id="BTC-USD", **kwargs
    )
    order_id = _order_id(response)
    assert response.success_response["client_order_id"] == f"c-{helper}"
    assert list(response.to_dict()["order_configuration"]) == [wire_key]
    got = (await in_thread(sdk.get_order, order_id)).order
    assert got.order_id == order_id
    assert got.status == status
    assert list(got.to_dict()["order_configuration"]) == [wire_key]
    if wire_key.startswith("stop_limit"):
        assert got.trigger_status == "STOP_PENDING"
    if status == "FILLED":
        assert int(got.number_of_fills) >= 1
        assert D(got.filled_size) > 0


async def test_sdk_gtd_orders_carry_their_end_time(sdk: RESTClient) -> None:
    """A GTD order reads back with its end time and GOOD_UNTIL_DATE_TIME."""
    end = _later(600)
    response = await in_thread(
        sdk.limit_order_gtd_buy,
        client_order_id="gtd",
        product_id="ETH-USD",
        base_size="0.01",
        limit_price="2000",
        end_time=end,
    )
    got = (await in_thread(sdk.get_order, _order_id(response))).order
    assert got.time_in_force == "GOOD_UNTIL_DATE_TIME"
    configured = got.to_dict()["order_configuration"]["limit_limit_gtd"]
    assert configured["end_time"][:19] == end[:19]
    assert configured["post_only"] is False


#: (SDK helper, arguments, error, preview_failure_reason)
REJECTIONS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "limit_order_gtc_buy",
        {"base_size": "0.001", "limit_price": "70000", "post_only": True},
        "INVALID_LIMIT_PRICE_POST_ONLY",
        "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
    ),
    (
        "limit_order_gtc_buy",
        {"base_size": "0.001", "limit_price": "50000.001"},
        "INVALID_PRICE_PRECISION",
        "PREVIEW_INVALID_PRICE_PRECISION",
    ),
    (
        "limit_order_gtc_buy",
        {"base_size": "0.0010000001", "limit_price": "50000"},
        "INVALID_SIZE_PRECISION",
        "PREVIEW_INVALID_SIZE_PRECISION",
    ),
    (
        "limit_order_gtc_sell",
        {"base_size": "0.000000001", "limit_price": "70000"},
        "UNKNOWN_FAILURE_REASON",
        "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
    ),
    (
        "limit_order_gtc_sell",
        {"base_size": "5000", "limit_price": "70000"},
        "UNKNOWN_FAILURE_REASON",
        "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE",
    ),
    (
        "market_order_buy",
        {"quote_size": "0.5"},
        "UNKNOWN_FAILURE_REASON",
        "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
    ),
    (
        "market_order_buy",
        {"quote_size": "100.001"},
        "INVALID_SIZE_PRECISION",
        "PREVIEW_INVALID_QUOTE_SIZE_PRECISION",
    ),
    (
        "limit_order_gtc_buy",
        {"base_size": "3", "limit_price": "50000"},
        "INSUFFICIENT_FUND",
        "PREVIEW_INSUFFICIENT_FUND",
    ),
    (
        "limit_order_gtc_sell",
        {"base_size": "2", "limit_price": "70000"},
        "INSUFFICIENT_FUND",
        "PREVIEW_INSUFFICIENT_FUND",
    ),
]


@pytest.mark.parametrize(
    ("helper", "arguments", "error", "preview_reason"),
    REJECTIONS,
    ids=[row[3] + ("" if row[0] != "limit_order_gtc_sell" else "-sell") for row in REJECTIONS],
)
async def test_sdk_sees_rejections_as_success_false_with_coinbase_reasons(
    served: Served,
    sdk: RESTClient,
    helper: str,
    arguments: dict[str, Any],
    error: str,
    preview_reason: str,
) -> None:
    """A refused order is HTTP 200 + success false (not an exception) and places nothing."""
    response = await in_thread(
        getattr(sdk, helper), client_order_id="refused", product_id="BTC-USD", **arguments
    )
    assert response.success is False
    assert response.order_id == ""
    assert response.error_response["error"] == error
    assert response.error_response["new_order_failure_reason"] == error
    assert response.error_response["preview_failure_reason"] == preview_reason
    assert response.error_response["message"]
    listed = await in_thread(sdk.list_orders)
    assert listed.orders == []


async def test_sdk_previews_orders(sdk: RESTClient) -> None:
    """Previews price an order without placing it, and report refusals in `errs`."""
    limit = await in_thread(
        sdk.preview_limit_order_gtc_buy, product_id="BTC-USD", base_size="0.01", limit_price="50000"
    )
    assert limit.errs == []
    assert D(limit.base_size) == D("0.01")
    assert D(limit.quote_size) == D("500")
    assert D(limit.commission_total) == D("3")  # resting: maker fee 0.6 %
    assert D(limit.order_total) == D("503")
    market = await in_thread(sdk.preview_market_order_buy, product_id="BTC-USD", quote_size="100")
    assert market.errs == []
    assert D(market.best_bid) < D(market.best_ask)
    refused = await in_thread(
        sdk.preview_limit_order_gtc_buy, product_id="BTC-USD", base_size="10", limit_price="50000"
    )
    assert refused.errs == ["PREVIEW_INSUFFICIENT_FUND"]
    assert (await in_thread(sdk.list_orders)).orders == []


async def test_sdk_lists_orders_with_filters_and_cursor_pages(sdk: RESTClient) -> None:
    """Filters and cursor pages give each order once, newest first."""
    placed = []
    for index, (product, price) in enumerate(
        [("BTC-USD", "50000"), ("ETH-USD", "2000"), ("BTC-USD", "50001")]
    ):
        response = await in_thread(
            sdk.limit_order_gtc_buy,
            client_order_id=f"list-{index}",
            product_id=product,
            base_size="0.01",
            limit_price=price,
        )
        placed.append(_order_id(response))
    btc = await in_thread(sdk.list_orders, product_ids=["BTC-USD"])
    assert [o.order_id for o in btc.orders] == [placed[2], placed[0]]
    assert btc.has_next is False

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        page = await in_thread(sdk.list_orders, order_status=["OPEN"], limit=1, cursor=cursor)
        seen.extend(o.order_id for o in page.orders)
        if not page.has_next:
            break
        cursor = page.cursor
    assert seen == placed[::-1]

    by_id = await in_thread(sdk.list_orders, order_ids=[placed[1]])
    assert [o.product_id for o in by_id.orders] == ["ETH-USD"]
    cancelled = await in_thread(sdk.list_orders, order_status=["CANCELLED"])
    assert cancelled.orders == []


async def test_sdk_cancels_a_batch(sdk: RESTClient) -> None:
    """Batch cancel answers per id; cancelled orders read back CANCELLED, unknown ids fail."""
    ids = [
        _order_id(
            await in_thread(
                sdk.limit_order_gtc_buy,
                client_order_id=f"cancel-{i}",
                product_id="BTC-USD",
                base_size="0.001",
                limit_price="50000",
            )
        )
        for i in range(2)
    ]
    result = await in_thread(sdk.cancel_orders, [*ids, "no-such-order"])
    assert [(r["order_id"], r["success"]) for r in result.results] == [
        (ids[0], True),
        (ids[1], True),
        ("no-such-order", False),
    ]
    assert result.results[2]["failure_reason"] == "UNKNOWN_CANCEL_ORDER"
    listed = await in_thread(sdk.list_orders, order_status=["CANCELLED"])
    assert sorted(o.order_id for o in listed.orders) == sorted(ids)
    again = await in_thread(sdk.cancel_orders, ids[:1])
    assert again.results[0]["success"] is False


async def test_sdk_edits_an_open_limit_order(sdk: RESTClient) -> None:
    """Edit preview and edit change a resting GTC order's price and size, with history."""
    order_id = _order_id(
        await in_thread(
            sdk.limit_order_gtc_buy,
            client_order_id="edit-me",
            product_id="BTC-USD",
            base_size="0.001",
            limit_price="50000",
        )
    )
    preview = await in_thread(sdk.preview_edit_order, order_id, size="0.002", price="50001")
    assert preview.errors == []
    assert D(preview.base_size) == D("0.002")
    assert D(preview.quote_size) == D("100.002")
    edited = await in_thread(sdk.edit_order, order_id, size="0.002", price="50001")
    assert edited.success is True
    got = (await in_thread(sdk.get_order, order_id)).order
    configured = got.to_dict()["order_configuration"]["limit_limit_gtc"]
    assert (configured["limit_price"], configured["base_size"]) == ("50001", "0.002")
    assert [(e["price"], e["size"]) for e in got.edit_history] == [("50001", "0.002")]

    missing = await in_thread(sdk.edit_order, "no-such-order", size="0.002", price="50001")
    assert missing.success is False
    assert missing.errors[0]["edit_failure_reason"] == "ORDER_NOT_FOUND"
    missing_preview = await in_thread(
        sdk.preview_edit_order, "no-such-order", size="0.002", price="50001"
    )
    assert missing_preview.errors[0]["edit_failure_reason"] == "ORDER_NOT_FOUND"


async def test_sdk_lists_fills_with_cursor(sdk: RESTClient) -> None:
    """Fills of the user's trades read back per order and page by cursor."""
    first = _order_id(
        await in_thread(
            sdk.market_order_buy, client_order_id="f1", product_id="BTC-USD", quote_size="50"
        )
    )
    second = _order_id(
        await in_thread(
            sdk.market_order_sell, client_order_id="f2", product_id="BTC-USD", base_size="0.0005"
        )
    )
    mine = await in_thread(sdk.get_fills, order_ids=[first])
    assert mine.fills
    assert {f.order_id for f in mine.fills} == {first}
    fill = mine.fills[0]
    assert fill.liquidity_indicator == "TAKER"
    assert fill.side == "BUY"
    assert D(fill.commission) > 0
    assert D(fill.price) > 0
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        page = await in_thread(sdk.get_fills, limit=1, cursor=cursor)
        seen.extend(f.entry_id for f in page.fills)
        if not page.cursor:
            break
        cursor = page.cursor
    everything = await in_thread(sdk.get_fills)
    assert seen == [f.entry_id for f in everything.fills]
    assert {f.order_id for f in everything.fills} == {first, second}


async def test_sdk_reused_client_order_id_returns_the_original_order(
    served: Served, sdk: RESTClient
) -> None:
    """Retrying a placement with the same client_order_id must never place a second order."""
    arguments = {
        "client_order_id": "idempotent",
        "product_id": "BTC-USD",
        "base_size": "0.001",
        "limit_price": "50000",
    }
    first = _order_id(await in_thread(sdk.limit_order_gtc_buy, **arguments))
    again = _order_id(await in_thread(sdk.limit_order_gtc_buy, **arguments))
    different = _order_id(
        await in_thread(sdk.limit_order_gtc_buy, **{**arguments, "limit_price": "49000"})
    )
    assert again == first == different
    listed = await in_thread(sdk.list_orders)
    assert [o.order_id for o in listed.orders] == [first]
    assert served.sim.create_requests["idempotent"] == 3


async def test_sdk_reads_transaction_summary_and_key_permissions(sdk: RESTClient) -> None:
    """Fee rates and volume come back in the shapes the SDK's fee types carry."""
    before = await in_thread(sdk.get_transaction_summary)
    assert before.total_volume == 0
    assert before.fee_tier["maker_fee_rate"] == "0.006"
    assert before.fee_tier["taker_fee_rate"] == "0.012"
    _order_id(
        await in_thread(
            sdk.market_order_buy, client_order_id="vol", product_id="BTC-USD", quote_size="100"
        )
    )
    after = await in_thread(sdk.get_transaction_summary)
    assert 0 < after.total_volume <= 100
    assert after.total_fees > 0
    permissions = await in_thread(sdk.get_api_key_permissions)
    assert (permissions.can_view, permissions.can_trade, permissions.can_transfer) == (
        True,
        True,
        False,
    )
    assert permissions.portfolio_type == "DEFAULT"


# -- authentication ----------------------------------------------------------------------------


async def test_sdk_unsigned_request_fails_with_http_error_401(served: Served) -> None:
    """A private endpoint called without a token is refused with 401 and a plain-text body."""
    client = RESTClient(base_url=served.endpoints.host, timeout=WAIT)  # no key: no token
    client.session.mount(f"https://{served.endpoints.host}", PlainHttpAdapter())
    try:
        with pytest.raises(requests.HTTPError) as caught:
            await in_thread(client.get, "/api/v3/brokerage/accounts", public=True)
    finally:
        client.session.close()
    assert caught.value.response is not None
    assert caught.value.response.status_code == 401
    assert caught.value.response.text == "Unauthorized"
    assert str(caught.value).startswith("401 Client Error")


@pytest.mark.parametrize("which", ["unknown key", "wrong private key"])
async def test_sdk_wrongly_signed_request_fails_with_http_error_401(
    served: Served, tmp_path: Path, which: str
) -> None:
    """Tokens from an unknown key, or signed by the wrong private key, are refused (401)."""
    name = "organizations/x/apiKeys/unknown" if which == "unknown key" else served.key_name
    key_file = tmp_path / "foreign.json"
    _write_foreign_key(key_file, name)
    client = sdk_rest_client(served, key_file=key_file)
    try:
        with pytest.raises(requests.HTTPError) as caught:
            await in_thread(client.get_accounts)
    finally:
        client.session.close()
    assert caught.value.response is not None
    assert caught.value.response.status_code == 401


# -- WebSocket ---------------------------------------------------------------------------------


class Inbox:
    """Frames the SDK hands to on_message (on its own thread), kept in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: list[str] = []

    def __call__(self, text: str) -> None:
        with self._lock:
            self._texts.append(text)

    @property
    def frames(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(text) for text in self._texts]

    def count(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for frame in self.frames if predicate(frame))


def _check_envelopes(frames: list[dict[str, Any]]) -> None:
    """Every frame has the full envelope, the SDK's parser accepts it, and the
    per-connection sequence_num starts at 0 and grows by exactly 1."""
    assert frames
    for frame in frames:
        assert set(frame) == ENVELOPE, frame
        assert frame["client_id"] == ""
        assert frame["timestamp"].endswith("Z")
        parsed = WebsocketResponse(json.loads(json.dumps(frame)))
        assert parsed.channel == frame["channel"]
        assert len(parsed.events) == len(frame["events"])
    assert [f["sequence_num"] for f in frames] == list(range(len(frames)))


async def test_sdk_ws_client_receives_valid_market_data(served: Served) -> None:
    """WSClient gets subscriptions, an l2 snapshot then updates, trades and heartbeats."""
    inbox = Inbox()
    client = WSClient(
        key_file=str(served.key_file),
        base_url=served.endpoints.ws_market_url,
        on_message=inbox,
        timeout=int(WAIT),
        retry=False,
    )
    await in_thread(client.open)
    try:
        await in_thread(client.subscribe, ["BTC-USD"], ["level2", "market_trades", "heartbeats"])
        await wait_until(
            lambda: inbox.count(lambda f: f["channel"] == "subscriptions") == 3,
            "three subscriptions frames",
        )
        trade = await served.rest(
            "POST",
            "/orders",
            json={
                "client_order_id": "ws-trade",
                "product_id": "BTC-USD",
                "side": "BUY",
                "order_configuration": {"market_market_ioc": {"quote_size": "100"}},
            },
        )
        assert trade.json()["success"] is True
        await wait_until(
            lambda: (
                inbox.count(lambda f: f["channel"] == "heartbeats") >= 1
                and inbox.count(
                    lambda f: f["channel"] == "market_trades" and f["events"][0]["type"] == "update"
                )
                >= 1
                and inbox.count(lambda f: f["channel"] == "l2_data") >= 2
            ),
            "heartbeats, trade updates and l2 updates",
        )
    finally:
        with trio.move_on_after(WAIT, shield=True):
            await in_thread(client.close)

    frames = inbox.frames
    _check_envelopes(frames)
    subscriptions = [f for f in frames if f["channel"] == "subscriptions"]
    assert subscriptions[-1]["events"][0]["subscriptions"] == {
        "heartbeats": ["BTC-USD"],  # the SDK sends the same product_ids on every channel
        "level2": ["BTC-USD"],
        "market_trades": ["BTC-USD"],
    }
    l2 = [f["events"][0] for f in frames if f["channel"] == "l2_data"]
    assert l2[0]["type"] == "snapshot"
    assert l2[0]["product_id"] == "BTC-USD"
    assert {u["side"] for u in l2[0]["updates"]} == {"bid", "offer"}
    assert all(event["type"] == "update" for event in l2[1:])
    trades = [f["events"][0] for f in frames if f["channel"] == "market_trades"]
    assert trades[0]["type"] == "snapshot"
    assert any(t["product_id"] == "BTC-USD" for event in trades[1:] for t in event["trades"])
    counters = [f["events"][0]["heartbeat_counter"] for f in frames if f["channel"] == "heartbeats"]
    assert counters == list(range(len(counters)))


async def test_sdk_ws_user_client_receives_snapshot_then_order_updates(
    served: Served, sdk: RESTClient
) -> None:
    """WSUserClient on the user endpoint sees its open orders, then each change to them."""
    resting = _order_id(
        await in_thread(
            sdk.limit_order_gtc_buy,
            client_order_id="before",
            product_id="BTC-USD",
            base_size="0.001",
            limit_price="50000",
        )
    )
    inbox = Inbox()
    client = WSUserClient(
        key_file=str(served.key_file),
        base_url=served.endpoints.ws_user_url,
        on_message=inbox,
        timeout=int(WAIT),
        retry=False,
    )
    await in_thread(client.open)
    try:
        await in_thread(client.user, ["BTC-USD"])
        await wait_until(
            lambda: inbox.count(lambda f: f["channel"] == "user") >= 1, "the user snapshot"
        )
        placed = _order_id(
            await in_thread(
                sdk.limit_order_gtc_sell,
                client_order_id="after",
                product_id="BTC-USD",
                base_size="0.001",
                limit_price="70000",
            )
        )
        await in_thread(sdk.cancel_orders, [placed])

        def statuses() -> list[str]:
            return [
                order["status"]
                for f in inbox.frames
                if f["channel"] == "user" and f["events"][0]["type"] == "update"
                for order in f["events"][0]["orders"]
                if order["order_id"] == placed
            ]

        await wait_until(lambda: "CANCELLED" in statuses(), "the cancel update")
    finally:
        with trio.move_on_after(WAIT, shield=True):
            await in_thread(client.close)

    frames = inbox.frames
    _check_envelopes(frames)
    user = [f["events"][0] for f in frames if f["channel"] == "user"]
    assert user[0]["type"] == "snapshot"
    assert [o["order_id"] for o in user[0]["orders"]] == [resting]
    assert user[0]["positions"] == {
        "perpetual_futures_positions": [],
        "expiring_futures_positions": [],
    }
    assert statuses()[0] == "OPEN"
    assert statuses()[-1] == "CANCELLED"
    parsed = WebsocketResponse(json.loads(json.dumps(frames[-1])))
    assert parsed.events[0].orders[0].order_id == placed
