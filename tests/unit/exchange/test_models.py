"""Typed results and order requests read and written exactly as the Coinbase wire has them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from cjt_actors.errors import InvalidSpec, ResponseError
from cjt_actors.exchange._wire import (
    body_excerpt,
    converter,
    describe,
    format_time,
    parse_json_body,
    to_wire,
)
from cjt_actors.exchange.models import (
    RESPONSE_TYPES,
    AccountsPage,
    AccountType,
    CancelFailureReason,
    CancelOrdersResponse,
    Candles,
    EditFailureReason,
    EditOrderResult,
    FillsPage,
    GetAccountResponse,
    GetOrderResponse,
    KeyPermissions,
    LiquidityIndicator,
    MarketTrades,
    OrderPreview,
    OrdersPage,
    OrderStatus,
    PortfolioType,
    Product,
    ProductBook,
    ProductsPage,
    ProductType,
    ProductVenue,
    ServerTime,
    TimeInForce,
    TransactionSummary,
    parse,
)
from cjt_actors.exchange.orders import (
    CreateOrderResponse,
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
    PreviewFailureReason,
    Side,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
    UnrecognizedConfiguration,
    outcome_of,
)

# -- wire fixtures (shapes from reference/coinbase-api.md §2 and third-party captures) --------

ORDER: dict[str, Any] = {
    "order_id": "0000-000000-000000",
    "product_id": "BTC-USD",
    "user_id": "2222-000000-000000",
    "order_configuration": {
        "limit_limit_gtc": {"base_size": "0.001", "limit_price": "10000.00", "post_only": False}
    },
    "side": "BUY",
    "client_order_id": "11111-000000-000000",
    "status": "OPEN",
    "time_in_force": "GOOD_UNTIL_CANCELLED",
    "created_time": "2021-05-31T09:59:59Z",
    "completion_percentage": "50",
    "filled_size": "0.001",
    "average_filled_price": "50",
    "fee": "0.00",
    "number_of_fills": "2",
    "filled_value": "10000",
    "pending_cancel": False,
    "size_in_quote": False,
    "total_fees": "5.00",
    "size_inclusive_of_fees": False,
    "total_value_after_fees": "10000",
    "trigger_status": "INVALID_ORDER_TYPE",
    "order_type": "LIMIT",
    "reject_reason": "",
    "settled": False,
    "product_type": "SPOT",
    "reject_message": "",
    "cancel_message": "",
    "order_placement_source": "RETAIL_ADVANCED",
    "outstanding_hold_amount": "1.00",
    "is_liquidation": False,
    "last_fill_time": None,
    "edit_history": [
        {"price": "9000", "size": "0.002", "replace_accept_timestamp": "2021-05-31T10:00:00Z"}
    ],
    "leverage": "",
    "margin_type": "",
    "retail_portfolio_id": "",
    "originating_order_id": "",
    "attached_order_id": "",
}

PRODUCT: dict[str, Any] = {
    "product_id": "BTC-USD",
    "price": "68923.67",
    "price_percentage_change_24h": "-0.28560028286595",
    "volume_24h": "11005.02587005",
    "base_increment": "0.00000001",
    "quote_increment": "0.01",
    "quote_min_size": "1",
    "base_min_size": "0.00000001",
    "base_max_size": "3400",
    "status": "online",
    "product_type": "SPOT",
    "fcm_trading_session_details": None,
    "mid_market_price": "",
    "alias_to": ["BTC-USDC"],
    "price_increment": "0.01",
    "product_venue": "CBE",
    "new_at": "2023-01-01T00:00:00Z",  # a field the models do not know
    "best_bid_price": "",
}


def parse_get(payload: object, cls: type[Any]) -> Any:
    return parse(payload, cls, method="GET", path="/api/v3/brokerage/test")


# -- reading each response ------------------------------------------------------------------


def test_order_reads_every_documented_field() -> None:
    """An order snapshot drives reconciliation: every number must arrive exact and typed."""
    order = parse_get({"order": ORDER}, GetOrderResponse).order
    assert order.status is OrderStatus.OPEN
    assert order.side is Side.BUY
    assert order.time_in_force is TimeInForce.GOOD_UNTIL_CANCELLED
    assert order.order_configuration == LimitGtc(
        base_size=Decimal("0.001"), limit_price=Decimal("10000.00")
    )
    assert order.filled_size == Decimal("0.001")
    assert order.number_of_fills == 2
    assert order.created_time == datetime(2021, 5, 31, 9, 59, 59, tzinfo=UTC)
    assert order.edit_history[0].price == Decimal("9000")
    # "" and null are absence, not an unknown enum value or a zero.
    assert order.reject_reason is None
    assert order.margin_type is None
    assert order.leverage is None
    assert order.last_fill_time is None


def test_unknown_enum_values_and_fields_are_kept_or_ignored_not_refused() -> None:
    """The exchange adds statuses and fields without notice; a new one must not crash trading."""
    payload = {**ORDER, "status": "PARTIALLY_REPLACED", "brand_new_field": {"x": [1, 2]}}
    order = parse_get({"order": payload}, GetOrderResponse).order
    assert order.status == "PARTIALLY_REPLACED"
    assert isinstance(order.status, OrderStatus)
    assert not order.status.known
    assert OrderStatus.OPEN.known
    assert "PARTIALLY_REPLACED" not in [member.value for member in OrderStatus]


def test_an_unknown_enum_value_behaves_like_its_string() -> None:
    """Code that matches on the raw value, or keys a dict by it, keeps working."""
    assert Side("HOLD") == Side("HOLD") == "HOLD"
    assert hash(Side("HOLD")) == hash("HOLD")
    assert {Side("HOLD"): 1}["HOLD"] == 1  # type: ignore[index]
    assert Side("BUY") is Side.BUY
    with pytest.raises(ValueError, match="not a valid Side"):
        Side(3)  # type: ignore[arg-type]


def test_integers_arrive_as_numbers_or_digit_strings() -> None:
    """Counts are strings in some answers and numbers in others; 2.0 is still 2, 2.5 is not."""
    for raw, expected in (("2", 2), (2, 2), (Decimal("2.0"), 2), ("-3", -3), ("+4", 4)):
        page = parse_get({"orders": [{**ORDER, "number_of_fills": raw}]}, OrdersPage)
        assert page.orders[0].number_of_fills == expected
    for raw in (Decimal("2.5"), "2.5", "", "0x10", "٣", "1" * 41):
        with pytest.raises(ResponseError, match="expected an integer"):
            parse_get({"orders": [{**ORDER, "number_of_fills": raw}]}, OrdersPage)


@pytest.mark.parametrize(
    ("configuration", "kind"),
    [
        ({"trigger_bracket_gtc": {"base_size": "1", "limit_price": "2"}}, "trigger_bracket_gtc"),
        ({"limit_limit_gtc": {"base_size": "-1", "limit_price": "2"}}, "limit_limit_gtc"),
        ({"limit_limit_gtc": "nonsense"}, "limit_limit_gtc"),
        ({"a": {}, "b": {}}, ""),
    ],
)
def test_an_unmodelled_echoed_configuration_is_kept_verbatim(
    configuration: dict[str, Any], kind: str
) -> None:
    """An order of a kind we do not model (or with odd fields) is still an order to reconcile."""
    order = parse_get({"order": {**ORDER, "order_configuration": configuration}}, GetOrderResponse)
    echoed = order.order.order_configuration
    assert isinstance(echoed, UnrecognizedConfiguration)
    assert echoed.kind == kind
    assert json.loads(echoed.raw) == configuration


def test_accounts_page_reads_balances_exactly() -> None:
    """Balances are money: a decimal string must become the same Decimal, not a float."""
    page = parse_get(
        {
            "accounts": [
                {
                    "uuid": "8bfc20d7",
                    "name": "BTC Wallet",
                    "currency": "BTC",
                    "available_balance": {"value": "1.23456789", "currency": "BTC"},
                    "default": True,
                    "active": True,
                    "created_at": "2021-05-31T09:59:59Z",
                    "deleted_at": None,
                    "type": "ACCOUNT_TYPE_CRYPTO",
                    "ready": True,
                    "hold": {"value": "0.00500000", "currency": "BTC"},
                }
            ],
            "has_next": True,
            "cursor": "abc",
            "size": 1,
        },
        AccountsPage,
    )
    account = page.accounts[0]
    assert account.available_balance.value == Decimal("1.23456789")
    assert account.hold is not None
    assert account.hold.value == Decimal("0.005")
    assert account.type is AccountType.ACCOUNT_TYPE_CRYPTO
    assert (page.has_next, page.cursor, page.size) == (True, "abc", 1)


def test_product_reads_flat_with_empty_strings_as_absent() -> None:
    """GET /products/{id} is flat; Coinbase's "" for a missing price must not be a parse error."""
    product = parse_get(PRODUCT, Product)
    assert product.price == Decimal("68923.67")
    assert product.mid_market_price is None
    assert product.base_increment == Decimal("0.00000001")
    assert product.product_type is ProductType.SPOT
    assert product.product_venue is ProductVenue.CBE
    assert product.alias_to == ("BTC-USDC",)
    assert parse_get({"products": [PRODUCT], "num_products": 1}, ProductsPage).num_products == 1


def test_market_data_shapes() -> None:
    """Book, candles, trades and time: the shapes the strategy and the clock sync rely on."""
    book = parse_get(
        {
            "pricebook": {
                "product_id": "BTC-USD",
                "bids": [{"price": "68923.66", "size": "0.17189468"}],
                "asks": [{"price": "68923.67", "size": "0.16987193"}],
                "time": "2026-04-07T00:28:59.662782Z",
            },
            "last": "68923.665",
            "spread_bps": "0.001450880372",
        },
        ProductBook,
    )
    assert book.pricebook.bids[0].price == Decimal("68923.66")
    assert book.mid_market is None
    candles = parse_get(
        {
            "candles": [
                {
                    "start": "1712192400",
                    "low": "1",
                    "high": "3",
                    "open": "2",
                    "close": "2.5",
                    "volume": "355.82896243",
                }
            ]
        },
        Candles,
    ).candles
    assert candles[0].start == 1712192400
    trades = parse_get(
        {
            "trades": [
                {
                    "trade_id": "995098663",
                    "product_id": "BTC-USD",
                    "price": "68923.67",
                    "size": "0.00064",
                    "time": "2026-04-07T00:28:58.544778Z",
                    "side": "SELL",
                    "bid": "",
                    "exchange": "coinbase",
                }
            ],
            "best_bid": "68923.66",
            "best_ask": "68923.67",
        },
        MarketTrades,
    )
    assert trades.trades[0].side is Side.SELL
    assert trades.best_ask == Decimal("68923.67")
    clock = parse_get(
        {
            "iso": "2024-01-15T10:30:00.123456789Z",
            "epochSeconds": "1705314600",
            "epochMillis": 1705314600123,
        },
        ServerTime,
    )
    assert clock.epoch_seconds == 1705314600
    assert clock.epoch_millis == 1705314600123
    assert clock.iso == datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=UTC)


def test_fills_cancel_edit_preview_fees_and_permissions() -> None:
    """The rest of the order lifecycle's answers, each with its enums."""
    fills = parse_get(
        {
            "fills": [
                {
                    "entry_id": "22222",
                    "trade_id": "1111",
                    "order_id": "0000",
                    "trade_time": "2024-01-15T10:30:00Z",
                    "trade_type": "FILL",
                    "price": "45123.45",
                    "size": "0.005",
                    "commission": "1.14",
                    "sequence_timestamp": "2024-01-15T10:30:00.123456Z",
                    "liquidity_indicator": "MAKER",
                    "side": "BUY",
                }
            ],
            "cursor": "",
        },
        FillsPage,
    )
    assert fills.fills[0].commission == Decimal("1.14")
    assert fills.fills[0].liquidity_indicator is LiquidityIndicator.MAKER
    cancel = parse_get(
        {
            "results": [
                {
                    "success": True,
                    "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                    "order_id": "a",
                },
                {"success": False, "failure_reason": "DUPLICATE_CANCEL_REQUEST", "order_id": "b"},
            ]
        },
        CancelOrdersResponse,
    )
    assert cancel.results[1].failure_reason is CancelFailureReason.DUPLICATE_CANCEL_REQUEST
    edit = parse_get(
        {
            "success": False,
            "errors": [{"edit_failure_reason": "ONLY_OPEN_ORDERS_CAN_BE_EDITED"}],
        },
        EditOrderResult,
    )
    assert edit.errors[0].edit_failure_reason is EditFailureReason.ONLY_OPEN_ORDERS_CAN_BE_EDITED
    preview = parse_get(
        {
            "order_total": "101.5",
            "commission_total": "1.5",
            "errs": ["PREVIEW_INSUFFICIENT_FUND"],
            "warning": ["BIG_ORDER"],
            "is_max": False,
            "preview_id": "p-1",
        },
        OrderPreview,
    )
    assert preview.errs == (PreviewFailureReason.PREVIEW_INSUFFICIENT_FUND,)
    summary = parse_get(
        {
            "total_volume": 1000.5,  # a JSON number here, read exactly
            "total_fees": 0,
            "fee_tier": {
                "pricing_tier": "Advanced 1",
                "taker_fee_rate": "0.006",
                "maker_fee_rate": "0.004",
            },
            "margin_rate": {"value": "0.1"},
            "has_promo_fee": True,
        },
        TransactionSummary,
    )
    assert summary.total_volume == Decimal("1000.5")
    assert summary.fee_tier.taker_fee_rate == Decimal("0.006")
    assert summary.margin_rate is not None
    assert summary.margin_rate.value == Decimal("0.1")
    permissions = parse_get(
        {"can_view": True, "can_trade": True, "portfolio_type": "DEFAULT"}, KeyPermissions
    )
    assert permissions.can_trade
    assert not permissions.can_transfer
    assert permissions.portfolio_type is PortfolioType.DEFAULT
    assert (
        parse_get(
            {"account": {"uuid": "u", "currency": "USD", "available_balance": {"value": "1"}}},
            GetAccountResponse,
        ).account.uuid
        == "u"
    )


# -- refusing what does not fit --------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "cls", "where"),
    [
        ({"orders": None, "has_next": False}, OrdersPage, "$.orders"),
        ({"has_next": False}, OrdersPage, "$.orders"),
        ({"orders": "none"}, OrdersPage, "$.orders"),
        ({"orders": [{**ORDER, "filled_size": "lots"}]}, OrdersPage, "$.orders[0].filled_size"),
        (
            {"orders": [{**ORDER, "number_of_fills": True}]},
            OrdersPage,
            "$.orders[0].number_of_fills",
        ),
        ({"orders": [{**ORDER, "pending_cancel": "no"}]}, OrdersPage, "$.orders[0].pending_cancel"),
        ({"orders": [{**ORDER, "status": 7}]}, OrdersPage, "$.orders[0].status"),
        (
            {"orders": [{**ORDER, "created_time": "yesterday"}]},
            OrdersPage,
            "$.orders[0].created_time",
        ),
        ({"orders": [{**ORDER, "product_id": 5}]}, OrdersPage, "$.orders[0].product_id"),
        ({"order": {**ORDER, "order_id": None}}, GetOrderResponse, "$.order.order_id"),
        (
            {
                "candles": [
                    {
                        "start": "1.5",
                        "low": "1",
                        "high": "1",
                        "open": "1",
                        "close": "1",
                        "volume": "1",
                    }
                ]
            },
            Candles,
            "$.candles[0].start",
        ),
        (
            {"fills": [{"trade_id": "t", "order_id": "o", "price": "NaN", "size": "1"}]},
            FillsPage,
            "$.fills[0].price",
        ),
        (
            {"fills": [{"trade_id": "t", "order_id": "o", "price": "1", "size": "1E+41"}]},
            FillsPage,
            "$.fills[0].size",
        ),
        (
            {"fills": [{"trade_id": "t", "order_id": "o", "price": "1" * 50, "size": "1"}]},
            FillsPage,
            "$.fills[0].price",
        ),
        ([], AccountsPage, "$"),
    ],
)
def test_a_shape_that_does_not_fit_is_a_response_error_naming_the_path(
    payload: object, cls: type[Any], where: str
) -> None:
    """A page that silently reads as empty would be a lie ("no open orders"): refuse it, loudly."""
    with pytest.raises(ResponseError) as caught:
        parse_get(payload, cls)
    assert where in str(caught.value)
    assert "GET /api/v3/brokerage/test -> 200" in str(caught.value)


def test_many_problems_are_summarised() -> None:
    """A thoroughly wrong answer yields a bounded message, not a page of text."""
    bad = {"fills": [{"trade_id": 1, "order_id": 2, "price": "x", "size": "y"}] * 3}
    with pytest.raises(ResponseError, match=r"\(\+\d+ more\)"):
        parse_get(bad, FillsPage)


def test_parse_json_body_reads_numbers_exactly_and_refuses_non_objects() -> None:
    """0.1 as a JSON number must stay 0.1; NaN, arrays and broken JSON are not answers."""
    assert parse_json_body(b'{"v": 0.1}', method="GET", path="/p", status=200) == {
        "v": Decimal("0.1")
    }
    for body, message in [
        (b'{"v": NaN}', "body is not JSON"),
        (b"[1]", "expected a JSON object, got an array"),
        (b"<html><title>Oops</title></html>", "(body: Oops)"),
        (b"[" * 100_000, "nested too deeply"),
    ]:
        with pytest.raises(ResponseError) as caught:
            parse_json_body(body, method="GET", path="/p", status=200)
        assert message in str(caught.value)


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        (
            b"<html><head><title>429 Too Many\n Requests &amp; more</title></head></html>",
            "429 Too Many Requests & more",
        ),
        (b"<HTML><TITLE>Bad Gateway</TITLE>", "Bad Gateway"),
        (b"Unauthorized\n", "Unauthorized"),
        (b"line one\n\n   line two", "line one line two"),
        (b"x" * 150, "x" * 99 + "…"),
        (b"\xff\xfeok", "\ufffd\ufffdok"),
        (b"", ""),
    ],
)
def test_body_excerpt_is_one_short_line(body: bytes, excerpt: str) -> None:
    """An operator reads error bodies in one log line: an HTML page's title, else its start."""
    assert body_excerpt(body) == excerpt


def test_describe_is_short_and_names_the_kind() -> None:
    """Error messages quote wire values, but never a whole body."""
    assert describe("x" * 100).startswith("a string 'xxx")
    assert len(describe("x" * 100)) < 60
    assert describe({"a": 1}) == "an object"
    assert describe(None) == "null"
    assert describe(True) == "a boolean True"


# -- what orders send ------------------------------------------------------------------------


def test_decimals_in_range_are_read_whatever_their_notation() -> None:
    """1E-8 and 0.00000001 are the same size; 0 with any exponent is zero, not out of range."""
    for raw, expected in (("1E-8", "0.00000001"), ("0E-50", "0"), ("1e40", "1E40"), (7, "7")):
        fill = parse_get(
            {"fills": [{"trade_id": "t", "order_id": "o", "price": raw, "size": "1"}]}, FillsPage
        ).fills[0]
        assert fill.price == Decimal(expected)


def test_decimals_go_out_in_plain_notation() -> None:
    """Decimal('1E-8') printed by str() is '1E-8', which the exchange may refuse."""
    assert to_wire(MarketIoc(base_size=Decimal("1E-8"))) == {"base_size": "0.00000001"}
    assert to_wire(LimitFok(base_size=Decimal("1E+2"), limit_price=Decimal("5"))) == {
        "base_size": "100",
        "limit_price": "5",
    }


def test_times_go_out_as_rfc3339_utc() -> None:
    """end_time in any zone is the same instant on the wire, written with a Z."""
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2024, 1, 15, 12, 30, tzinfo=plus_two)) == "2024-01-15T10:30:00Z"
    assert format_time(datetime(2024, 1, 15, 10, 30)) == "2024-01-15T10:30:00Z"


def test_request_body_leaves_out_absent_fields() -> None:
    """Coinbase refuses unknown or null fields; the body holds exactly what was given."""
    request = OrderRequest(
        client_order_id="cid-1",
        product_id="BTC-USD",
        side=Side.SELL,
        order_configuration=MarketIoc(base_size=Decimal("0.5")),
        retail_portfolio_id="pf",
    )
    assert to_wire(request) == {
        "client_order_id": "cid-1",
        "product_id": "BTC-USD",
        "side": "SELL",
        "order_configuration": {"market_market_ioc": {"base_size": "0.5"}},
        "retail_portfolio_id": "pf",
    }


END = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MarketIoc(),
        lambda: MarketIoc(quote_size=Decimal("1"), base_size=Decimal("1")),
        lambda: MarketIoc(quote_size=Decimal("0")),
        lambda: MarketIoc(quote_size=Decimal("-5")),
        lambda: MarketIoc(quote_size=Decimal("NaN")),
        lambda: MarketIoc(quote_size=1.5),  # type: ignore[arg-type]
        lambda: LimitIoc(base_size=Decimal("1"), limit_price=Decimal("Infinity")),
        lambda: LimitGtd(
            base_size=Decimal("1"), limit_price=Decimal("1"), end_time=datetime(2030, 1, 1)
        ),
        lambda: StopLimitGtc(
            base_size=Decimal("1"),
            limit_price=Decimal("1"),
            stop_price=Decimal("1"),
            stop_direction=StopDirection("SIDEWAYS"),
        ),
        lambda: OrderRequest(
            client_order_id="",
            product_id="BTC-USD",
            side=Side.BUY,
            order_configuration=MarketIoc(quote_size=Decimal(1)),
        ),
        lambda: OrderRequest(
            client_order_id="c",
            product_id=" ",
            side=Side.BUY,
            order_configuration=MarketIoc(quote_size=Decimal(1)),
        ),
        lambda: OrderRequest(
            client_order_id="c",
            product_id="BTC-USD",
            side=Side("HOLD"),
            order_configuration=MarketIoc(quote_size=Decimal(1)),
        ),
        lambda: OrderRequest(
            client_order_id="c",
            product_id="BTC-USD",
            side=Side.BUY,
            order_configuration={"market_market_ioc": {}},  # type: ignore[arg-type]
        ),
        lambda: OrderRequest(
            client_order_id="c",
            product_id="BTC-USD",
            side=Side.BUY,
            order_configuration=MarketIoc(quote_size=Decimal(1)),
            leverage=Decimal(0),
        ),
    ],
)
def test_malformed_orders_fail_in_the_caller(build: Any) -> None:
    """A bad order must fail before it is sent, with a message naming the field."""
    with pytest.raises(InvalidSpec):
        build()


def test_every_configuration_round_trips_as_an_echo() -> None:
    """What we send is what we can read back from an order's echo."""
    configurations: list[OrderConfiguration] = [
        MarketIoc(quote_size=Decimal("10")),
        LimitIoc(base_size=Decimal("1"), limit_price=Decimal("2")),
        LimitGtc(base_size=Decimal("1"), limit_price=Decimal("2"), post_only=True),
        LimitGtd(base_size=Decimal("1"), limit_price=Decimal("2"), end_time=END),
        LimitFok(base_size=Decimal("1"), limit_price=Decimal("2")),
        StopLimitGtc(
            base_size=Decimal("1"),
            limit_price=Decimal("2"),
            stop_price=Decimal("3"),
            stop_direction=StopDirection.STOP_DIRECTION_STOP_DOWN,
        ),
        StopLimitGtd(
            base_size=Decimal("1"),
            limit_price=Decimal("2"),
            stop_price=Decimal("3"),
            end_time=END,
            stop_direction=StopDirection.STOP_DIRECTION_STOP_UP,
        ),
    ]
    for configuration in configurations:
        wire = {type(configuration).WIRE_KEY: to_wire(configuration)}
        order = parse_get({"order": {**ORDER, "order_configuration": wire}}, GetOrderResponse)
        assert order.order.order_configuration == configuration


def test_a_request_configuration_must_be_one_known_variant() -> None:
    """OrderRequest's configuration reads strictly: an unknown variant cannot be sent."""
    request = OrderRequest(
        client_order_id="c",
        product_id="BTC-USD",
        side=Side.BUY,
        order_configuration=MarketIoc(quote_size=Decimal("1")),
    )
    wire = converter.unstructure(request)
    assert converter.structure(wire, OrderRequest) == request
    configurations: list[object] = [
        {"twap": {}},
        "market",
        {"market_market_ioc": {"quote_size": "-1"}},
    ]
    for configuration in configurations:
        with pytest.raises(ResponseError, match=r"@ \$\.order_configuration"):
            parse_get({**wire, "order_configuration": configuration}, OrderRequest)


# -- the placement outcome -------------------------------------------------------------------

REQUEST = OrderRequest(
    client_order_id="cid-7",
    product_id="ETH-USD",
    side=Side.BUY,
    order_configuration=MarketIoc(quote_size=Decimal("25")),
)


def create(payload: dict[str, Any]) -> Any:
    response = parse(payload, CreateOrderResponse, method="POST", path="/orders")
    return outcome_of(response, REQUEST, attempts=1)


def test_outcome_success_and_failure() -> None:
    """success true is accepted with the exchange's id; success false carries its reasons."""
    accepted = create(
        {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": "oid",
            "success_response": {
                "order_id": "oid",
                "product_id": "ETH-USD",
                "side": "BUY",
                "client_order_id": "cid-7",
            },
            "order_configuration": {
                "market_market_ioc": {"quote_size": "25", "rfq_disabled": False}
            },
        }
    )
    assert accepted == OrderAccepted(
        client_order_id="cid-7", order_id="oid", product_id="ETH-USD", side=Side.BUY
    )
    rejected = create(
        {
            "success": False,
            "order_id": "",
            "error_response": {
                "error": "INSUFFICIENT_FUND",
                "message": "Insufficient balance in source account",
                "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",
                "new_order_failure_reason": "INSUFFICIENT_FUND",
            },
        }
    )
    assert isinstance(rejected, OrderRejected)
    assert rejected.new_order_failure_reason is NewOrderFailureReason.INSUFFICIENT_FUND
    assert rejected.message == "Insufficient balance in source account"
    assert create({"success": False}) == OrderRejected(client_order_id="cid-7")


def test_outcome_success_without_an_order_id_is_unknown_not_accepted() -> None:
    """Without the exchange's order id we cannot track the order: reconcile it instead."""
    outcome = create({"success": True, "order_id": ""})
    assert isinstance(outcome, OrderOutcomeUnknown)
    assert outcome.client_order_id == "cid-7"
    assert "no order_id" in outcome.reason
    assert create({"success": True, "order_id": "top"}).order_id == "top"


def test_response_types_are_all_attrs_classes() -> None:
    """The property suite and the simulator iterate RESPONSE_TYPES: it must list readers only."""
    assert len(set(RESPONSE_TYPES)) == len(RESPONSE_TYPES) == 18
    for cls in RESPONSE_TYPES:
        with pytest.raises(ResponseError):
            parse_get("not an object", cls)
