"""The simulator's wire format (cjt_actors.sim.wire): times, order bodies, JSON shapes.

Every byte a client reads from the simulator passes through this module, and every order
body it sends is parsed here, so a shape or a parsing rule that differs from Coinbase's
would make the simulator accept or produce what the real exchange would not.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from cjt_actors.sim.accounts import AccountView
from cjt_actors.sim.engine import Engine
from cjt_actors.sim.events import BookSide, LevelChanged, TradeExecuted
from cjt_actors.sim.orders import (
    LimitFok,
    LimitGtc,
    LimitGtd,
    MarketIoc,
    OrderAccepted,
    OrderRequest,
    OrderView,
    Side,
    SorLimitIoc,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
    UnsupportedConfiguration,
)
from cjt_actors.sim.products import DEFAULT_PRODUCTS
from cjt_actors.sim.wire import (
    WireError,
    account_json,
    configuration_json,
    decimal_text,
    fill_json,
    l2_events,
    l2_snapshot_event,
    levels_json,
    order_json,
    parse_configuration,
    parse_create_order,
    parse_rfc3339,
    product_json,
    rfc3339,
    trade_events,
    user_order_json,
)

D = Decimal
NOW = 1_700_000_000.0
BTC = DEFAULT_PRODUCTS["BTC-USD"]


# -- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000000000Z"),
        (1_700_000_000.0, "2023-11-14T22:13:20.000000000Z"),
        (1_700_000_000.5, "2023-11-14T22:13:20.500000000Z"),
        (1.9999999999, "1970-01-01T00:00:02.000000000Z"),  # rounding carries into seconds
        (-0.25, "1969-12-31T23:59:59.750000000Z"),
    ],
)
def test_rfc3339_writes_utc_with_nanoseconds(epoch: float, text: str) -> None:
    """Coinbase's times have nine fractional digits and a Z; carries must not give .1000000000."""
    assert rfc3339(epoch) == text


@pytest.mark.parametrize("epoch", [0.0, 1.5, 1_700_000_000.123456, 1_999_999_999.999999, 86399.0])
def test_rfc3339_round_trips(epoch: float) -> None:
    """What the simulator writes, it reads back to the same instant (to the microsecond)."""
    assert parse_rfc3339(rfc3339(epoch)) == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2024-01-15T10:30:00Z", 1705314600.0),
        ("2024-01-15T10:30:00z", 1705314600.0),
        ("2024-01-15 10:30:00Z", 1705314600.0),
        ("2024-01-15t10:30:00Z", 1705314600.0),
        ("2024-01-15T10:30:00.5Z", 1705314600.5),
        ("2024-01-15T10:30:00.123456789Z", 1705314600.123456789),
        ("2024-01-15T12:30:00+02:00", 1705314600.0),
        ("2024-01-15T05:00:00-05:30", 1705314600.0),
        ("2024-01-15T10:30:00+00:00", 1705314600.0),
    ],
)
def test_parse_rfc3339_accepts_every_rfc3339_form(text: str, epoch: float) -> None:
    """Clients send Z or offsets, T or a space, 0 to 9 fractional digits: all are one instant."""
    assert parse_rfc3339(text) == pytest.approx(epoch, abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-01-15",
        "2024-01-15T10:30:00",  # no zone
        "2024-01-15T10:30Z",  # no seconds
        "2024-01-15T10:30:00.1234567890Z",  # ten fractional digits
        "2024-13-01T00:00:00Z",  # month 13
        "2024-02-30T00:00:00Z",  # no such day
        "2024-01-15T25:00:00Z",
        "2024-01-15T10:30:00+24:00",  # offset out of range
        "2024-01-15T10:30:00+0200",
        1705314600,
        None,
    ],
)
def test_parse_rfc3339_refuses_anything_else_with_invalid_argument(text: object) -> None:
    """A bad time is a 400 INVALID_ARGUMENT that quotes the bad value, never a crash."""
    with pytest.raises(WireError) as caught:
        parse_rfc3339(text)
    assert caught.value.error == "INVALID_ARGUMENT"
    assert repr(text) in caught.value.details
    assert str(caught.value).startswith("INVALID_ARGUMENT: ")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (D("0E-13"), "0"),
        (D("988.14180"), "988.1418"),
        (D("6E+4"), "60000"),
        (D("0.00000001"), "0.00000001"),
        (D("-1.50"), "-1.5"),
    ],
)
def test_decimal_text_is_plain_digits(value: Decimal | None, text: str) -> None:
    """Decimals go on the wire without exponents or trailing zeros; None is an empty string."""
    assert decimal_text(value) == text


# -- parsing POST /orders ----------------------------------------------------------------------


def _body(configuration: Any, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_order_id": "c1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": configuration,
    }
    body.update(changes)
    return body


END = "2024-01-15T10:30:00Z"
END_EPOCH = 1705314600.0


@pytest.mark.parametrize(
    ("configuration", "expected"),
    [
        ({"market_market_ioc": {"quote_size": "100"}}, MarketIoc(quote_size=D("100"))),
        (
            {"market_market_ioc": {"base_size": "0.5", "quote_size": None}},
            MarketIoc(base_size=D("0.5")),
        ),
        (
            {"sor_limit_ioc": {"base_size": "1", "limit_price": "10", "rfq_disabled": True}},
            SorLimitIoc(base_size=D("1"), limit_price=D("10")),
        ),
        (
            {"limit_limit_gtc": {"base_size": "1", "limit_price": "10", "post_only": True}},
            LimitGtc(base_size=D("1"), limit_price=D("10"), post_only=True),
        ),
        (
            {"limit_limit_gtc": {"base_size": "1", "limit_price": "10"}},
            LimitGtc(base_size=D("1"), limit_price=D("10"), post_only=False),
        ),
        (
            {
                "limit_limit_gtd": {
                    "base_size": "1",
                    "limit_price": "10",
                    "end_time": END,
                    "post_only": False,
                }
            },
            LimitGtd(base_size=D("1"), limit_price=D("10"), end_time=END_EPOCH),
        ),
        (
            {"limit_limit_fok": {"base_size": "1", "limit_price": "10"}},
            LimitFok(base_size=D("1"), limit_price=D("10")),
        ),
        (
            {
                "stop_limit_stop_limit_gtc": {
                    "base_size": "1",
                    "limit_price": "10",
                    "stop_price": "11",
                    "stop_direction": "STOP_DIRECTION_STOP_UP",
                }
            },
            StopLimitGtc(
                base_size=D("1"),
                limit_price=D("10"),
                stop_price=D("11"),
                stop_direction=StopDirection.STOP_UP,
            ),
        ),
        (
            {
                "stop_limit_stop_limit_gtd": {
                    "base_size": "1",
                    "limit_price": "10",
                    "stop_price": "9",
                    "end_time": END,
                    "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                }
            },
            StopLimitGtd(
                base_size=D("1"),
                limit_price=D("10"),
                stop_price=D("9"),
                end_time=END_EPOCH,
                stop_direction=StopDirection.STOP_DOWN,
            ),
        ),
        (
            {"trigger_bracket_gtc": {"anything": "goes"}},
            UnsupportedConfiguration(wire_key="trigger_bracket_gtc"),
        ),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else "",
)
def test_parse_create_order_reads_every_configuration(configuration: Any, expected: Any) -> None:
    """Each order_configuration variant becomes the engine's value with exact Decimals."""
    request = parse_create_order(_body(configuration, side="SELL"), "user-9")
    assert request == OrderRequest(
        user_id="user-9",
        client_order_id="c1",
        product_id="BTC-USD",
        side=Side.SELL,
        configuration=expected,
    )


def test_parse_create_order_accepts_every_documented_top_level_field() -> None:
    """Optional fields the SDK may send (leverage, portfolio, ...) are not unknown fields."""
    body = _body(
        {"market_market_ioc": {"quote_size": "1"}},
        self_trade_prevention_id="stp",
        leverage="1",
        margin_type="CROSS",
        retail_portfolio_id="p",
        preview_id="x",
    )
    assert parse_create_order(body, "u").configuration == MarketIoc(quote_size=D("1"))


GTC = {"limit_limit_gtc": {"base_size": "1", "limit_price": "10"}}


@pytest.mark.parametrize(
    ("body", "error", "details"),
    [
        ([], "INVALID_ARGUMENT", "the request body must be a JSON object"),
        (_body(GTC, max_floor="1"), "unknown", 'proto: unknown field "max_floor"'),
        (_body(GTC, a=1, b=2), "unknown", 'proto: unknown field "a"'),
        (_body(GTC, client_order_id=""), "INVALID_ARGUMENT", "client_order_id is required"),
        (_body(GTC, client_order_id=5), "INVALID_ARGUMENT", "client_order_id is required"),
        (
            {k: v for k, v in _body(GTC).items() if k != "product_id"},
            "INVALID_ARGUMENT",
            "product_id is required",
        ),
        (_body(GTC, side="buy"), "INVALID_ARGUMENT", "side: unknown value 'buy'"),
        (
            {k: v for k, v in _body(GTC).items() if k != "side"},
            "INVALID_ARGUMENT",
            "side: unknown value None",
        ),
        (_body(None), "INVALID_ARGUMENT", "order_configuration must have exactly one variant"),
        (_body({}), "INVALID_ARGUMENT", "order_configuration must have exactly one variant"),
        (
            _body({**GTC, "limit_limit_fok": {}}),
            "INVALID_ARGUMENT",
            "order_configuration must have exactly one variant",
        ),
        (
            _body({"limit_limit_gtc": "1@10"}),
            "INVALID_ARGUMENT",
            "order_configuration.limit_limit_gtc must be an object",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": "1", "limit_price": "10", "max_floor": "1"}}),
            "unknown",
            'proto: unknown field "max_floor" in limit_limit_gtc',
        ),
        (
            _body({"limit_limit_gtc": {"base_size": "1"}}),
            "INVALID_ARGUMENT",
            "order_configuration.limit_limit_gtc.limit_price is required",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": None, "limit_price": "10"}}),
            "INVALID_ARGUMENT",
            "order_configuration.limit_limit_gtc.base_size is required",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": 1, "limit_price": "10"}}),
            "INVALID_ARGUMENT",
            "base_size: expected a decimal string, got 1",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": "one", "limit_price": "10"}}),
            "INVALID_ARGUMENT",
            "base_size: 'one' is not a decimal",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": "0", "limit_price": "10"}}),
            "INVALID_ARGUMENT",
            "base_size: must be a positive number, got '0'",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": "-1", "limit_price": "10"}}),
            "INVALID_ARGUMENT",
            "must be a positive number",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": "NaN", "limit_price": "10"}}),
            "INVALID_ARGUMENT",
            "must be a positive number",
        ),
        (
            _body({"limit_limit_gtc": {"base_size": "Infinity", "limit_price": "10"}}),
            "INVALID_ARGUMENT",
            "must be a positive number",
        ),
        (
            _body(
                {"limit_limit_gtc": {"base_size": "1", "limit_price": "10", "post_only": "true"}}
            ),
            "INVALID_ARGUMENT",
            "post_only: expected true or false, got 'true'",
        ),
        (
            _body({"limit_limit_gtd": {"base_size": "1", "limit_price": "10", "end_time": "soon"}}),
            "INVALID_ARGUMENT",
            "invalid RFC 3339 time 'soon'",
        ),
        (
            _body(
                {
                    "stop_limit_stop_limit_gtc": {
                        "base_size": "1",
                        "limit_price": "10",
                        "stop_price": "11",
                        "stop_direction": "UP",
                    }
                }
            ),
            "INVALID_ARGUMENT",
            "stop_direction: unknown value 'UP'",
        ),
        (
            _body({"market_market_ioc": {}}),
            "INVALID_ARGUMENT",
            "market_market_ioc needs exactly one of quote_size or base_size",
        ),
        (
            _body({"market_market_ioc": {"quote_size": "1", "base_size": "1"}}),
            "INVALID_ARGUMENT",
            "market_market_ioc needs exactly one of quote_size or base_size",
        ),
    ],
)
def test_parse_create_order_refuses_bad_bodies_as_coinbase_does(
    body: Any, error: str, details: str
) -> None:
    """Each malformed body is a 400 with Coinbase's error code and a message naming the field."""
    with pytest.raises(WireError) as caught:
        parse_create_order(body, "u")
    assert caught.value.error == error
    assert details in caught.value.details


def test_parse_configuration_alone_is_what_edits_reuse() -> None:
    """The edit route validates price and size through the same configuration parser."""
    parsed = parse_configuration({"limit_limit_gtc": {"base_size": "2", "limit_price": "3"}})
    assert parsed == LimitGtc(base_size=D("2"), limit_price=D("3"))


# -- response shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configuration", "expected"),
    [
        (MarketIoc(quote_size=D("100.50")), {"market_market_ioc": {"quote_size": "100.5"}}),
        (MarketIoc(base_size=D("1")), {"market_market_ioc": {"base_size": "1"}}),
        (
            LimitGtc(base_size=D("1"), limit_price=D("10")),
            {"limit_limit_gtc": {"base_size": "1", "limit_price": "10", "post_only": False}},
        ),
        (
            LimitGtd(base_size=D("1"), limit_price=D("10"), end_time=END_EPOCH, post_only=True),
            {
                "limit_limit_gtd": {
                    "base_size": "1",
                    "limit_price": "10",
                    "end_time": "2024-01-15T10:30:00.000000000Z",
                    "post_only": True,
                }
            },
        ),
        (
            StopLimitGtd(
                base_size=D("1"),
                limit_price=D("10"),
                stop_price=D("9"),
                end_time=END_EPOCH,
                stop_direction=StopDirection.STOP_DOWN,
            ),
            {
                "stop_limit_stop_limit_gtd": {
                    "base_size": "1",
                    "limit_price": "10",
                    "stop_price": "9",
                    "end_time": "2024-01-15T10:30:00.000000000Z",
                    "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                }
            },
        ),
        (UnsupportedConfiguration(wire_key="trigger_bracket_gtc"), {"trigger_bracket_gtc": {}}),
    ],
)
def test_configuration_json_echoes_the_wire_shape(configuration: Any, expected: Any) -> None:
    """Orders read back with the configuration in the shape it was sent."""
    assert configuration_json(configuration) == expected


@pytest.mark.parametrize(
    ("configuration", "side", "wire_key"),
    [
        ({"market_market_ioc": {"quote_size": "100"}}, "BUY", "market_market_ioc"),
        ({"sor_limit_ioc": {"base_size": "0.001", "limit_price": "70000"}}, "BUY", "sor_limit_ioc"),
        (
            {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "50000"}},
            "BUY",
            "limit_limit_gtc",
        ),
        (
            {
                "limit_limit_gtd": {
                    "base_size": "0.001",
                    "limit_price": "50000",
                    "end_time": rfc3339(NOW + 60),
                }
            },
            "BUY",
            "limit_limit_gtd",
        ),
        (
            {"limit_limit_fok": {"base_size": "0.001", "limit_price": "50000"}},
            "BUY",
            "limit_limit_fok",
        ),
        (
            {
                "stop_limit_stop_limit_gtc": {
                    "base_size": "0.001",
                    "limit_price": "49000",
                    "stop_price": "50000",
                    "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                }
            },
            "SELL",
            "stop_limit_stop_limit_gtc",
        ),
    ],
)
def test_order_json_round_trips_through_the_parser(
    configuration: dict[str, Any], side: str, wire_key: str
) -> None:
    """An order read back re-parses to the configuration that was placed (one reading)."""
    engine = _engine_with_book()
    body = _body(configuration, side=side)
    request = parse_create_order(body, "alice")
    outcome = engine.place(request, now=NOW)
    assert isinstance(outcome, OrderAccepted), outcome
    shown = order_json(outcome.order)
    assert list(shown["order_configuration"]) == [wire_key]
    assert parse_configuration(shown["order_configuration"]) == request.configuration
    assert shown["side"] == side
    assert shown["created_time"] == rfc3339(NOW)


ORDER_FIELDS = {
    "order_id", "product_id", "user_id", "order_configuration", "side", "client_order_id",
    "status", "time_in_force", "created_time", "completion_percentage", "filled_size",
    "average_filled_price", "fee", "number_of_fills", "filled_value", "pending_cancel",
    "size_in_quote", "total_fees", "size_inclusive_of_fees", "total_value_after_fees",
    "trigger_status", "order_type", "reject_reason", "settled", "product_type",
    "reject_message", "cancel_message", "order_placement_source", "outstanding_hold_amount",
    "is_liquidation", "last_fill_time", "edit_history", "leverage", "margin_type",
    "retail_portfolio_id", "originating_order_id", "attached_order_id",
}  # fmt: skip


def _engine_with_book() -> Engine:
    """An engine where "maker" rests 0.01 BTC at 60000 and 0.01 BTC bid at 59000."""
    engine = Engine(seed=3)
    for user in ("maker", "alice"):
        engine.deposit(user, "USD", D("1000000"), now=NOW)
        engine.deposit(user, "BTC", D("10"), now=NOW)
    for side, price in ((Side.SELL, "60000"), (Side.BUY, "59000")):
        engine.place(
            OrderRequest(
                user_id="maker",
                client_order_id=f"m-{side}",
                product_id="BTC-USD",
                side=side,
                configuration=LimitGtc(base_size=D("0.01"), limit_price=D(price)),
            ),
            now=NOW,
        )
    engine.drain_events()
    return engine


def _place(engine: Engine, configuration: Any, side: Side = Side.BUY, cid: str = "x") -> OrderView:
    outcome = engine.place(
        OrderRequest(
            user_id="alice",
            client_order_id=cid,
            product_id="BTC-USD",
            side=side,
            configuration=configuration,
        ),
        now=NOW + 1,
    )
    assert isinstance(outcome, OrderAccepted), outcome
    return outcome.order


def test_order_json_of_a_filled_order_has_every_field_with_wire_types() -> None:
    """The full order object: every documented field, strings for decimals and counts."""
    engine = _engine_with_book()
    order = _place(engine, MarketIoc(quote_size=D("121.44")))
    shown = order_json(order)
    assert set(shown) == ORDER_FIELDS
    assert shown["status"] == "FILLED"
    assert shown["filled_size"] == "0.002"
    assert shown["average_filled_price"] == "60000"
    assert shown["number_of_fills"] == "1"
    assert shown["completion_percentage"] == "100"
    assert shown["size_in_quote"] is True
    assert shown["last_fill_time"] == rfc3339(NOW + 1)
    assert shown["order_type"] == "MARKET"
    assert shown["time_in_force"] == "IMMEDIATE_OR_CANCEL"
    assert shown["edit_history"] == []
    assert shown["settled"] is True
    assert shown["product_type"] == "SPOT"
    assert shown["fee"] == ""


def test_order_json_of_a_resting_order_and_its_edit_history() -> None:
    """A resting order reads back with no last fill (null) and every edit in its history."""
    engine = _engine_with_book()
    order = _place(engine, LimitGtc(base_size=D("0.001"), limit_price=D("50000")))
    assert order_json(order)["last_fill_time"] is None
    result = engine.edit("alice", order.order_id, price=D("50001"), size=D("0.002"), now=NOW + 2)
    assert result.success
    assert result.order is not None
    shown = order_json(result.order)
    assert shown["edit_history"] == [
        {"price": "50001", "size": "0.002", "replace_accept_timestamp": rfc3339(NOW + 2)}
    ]
    assert shown["order_configuration"]["limit_limit_gtc"]["limit_price"] == "50001"
    assert shown["status"] == "OPEN"
    assert shown["settled"] is False


USER_ORDER_FIELDS = {
    "order_id", "client_order_id", "product_id", "product_type", "order_side", "order_type",
    "status", "time_in_force", "post_only", "limit_price", "stop_price", "cumulative_quantity",
    "leaves_quantity", "avg_price", "filled_value", "total_fees", "total_value_after_fees",
    "number_of_fills", "completion_percentage", "outstanding_hold_amount", "cancel_reason",
    "reject_reason", "trigger_status", "retail_portfolio_id", "risk_managed_by",
    "contract_expiry_type", "creation_time", "start_time", "end_time",
}  # fmt: skip


def test_user_order_json_has_the_user_channel_fields() -> None:
    """The user channel's order carries its own field names (order_side, leaves_quantity...)."""
    engine = _engine_with_book()
    stop = _place(
        engine,
        StopLimitGtd(
            base_size=D("0.001"),
            limit_price=D("49000"),
            stop_price=D("50000"),
            end_time=NOW + 60,
            stop_direction=StopDirection.STOP_DOWN,
        ),
        side=Side.SELL,
    )
    shown = user_order_json(stop)
    assert set(shown) == USER_ORDER_FIELDS
    assert (shown["order_side"], shown["status"], shown["trigger_status"]) == (
        "SELL",
        "OPEN",
        "STOP_PENDING",
    )
    assert (shown["limit_price"], shown["stop_price"]) == ("49000", "50000")
    assert shown["leaves_quantity"] == "0.001"
    assert shown["cumulative_quantity"] == "0"
    assert shown["end_time"] == rfc3339(NOW + 60)
    assert shown["post_only"] is False
    market = _place(engine, MarketIoc(base_size=D("0.001")), cid="m")
    shown = user_order_json(market)
    assert (shown["limit_price"], shown["stop_price"], shown["end_time"]) == ("", "", "")


def test_fill_json_shape() -> None:
    """A fill: decimals as strings, the maker/taker flag, the trade time twice."""
    engine = _engine_with_book()
    order = _place(engine, MarketIoc(base_size=D("0.001")), side=Side.SELL)
    (fill,) = engine.fills("alice", order_ids=[order.order_id])
    shown = fill_json(fill)
    assert shown == {
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": order.order_id,
        "trade_time": rfc3339(NOW + 1),
        "trade_type": "FILL",
        "price": "59000",
        "size": "0.001",
        "commission": "0.708",
        "product_id": "BTC-USD",
        "sequence_timestamp": rfc3339(NOW + 1),
        "liquidity_indicator": "TAKER",
        "size_in_quote": False,
        "user_id": "alice",
        "side": "SELL",
        "retail_portfolio_id": "",
    }


@pytest.mark.parametrize(
    ("currency", "kind"), [("BTC", "ACCOUNT_TYPE_CRYPTO"), ("USD", "ACCOUNT_TYPE_FIAT")]
)
def test_account_json_shape(currency: str, kind: str) -> None:
    """Balances are {value, currency} objects; fiat and crypto accounts are typed."""
    view = AccountView(
        uuid="u-1",
        user_id="alice",
        currency=currency,
        available=D("1.50"),
        hold=D("0"),
        created_at=NOW,
        updated_at=NOW + 1,
    )
    shown = account_json(view)
    assert shown["available_balance"] == {"value": "1.5", "currency": currency}
    assert shown["hold"] == {"value": "0", "currency": currency}
    assert shown["type"] == kind
    assert shown["name"] == f"{currency} Wallet"
    assert (shown["created_at"], shown["updated_at"]) == (rfc3339(NOW), rfc3339(NOW + 1))
    assert shown["deleted_at"] is None
    assert shown["uuid"] == "u-1"


def test_product_json_shape() -> None:
    """Product increments and limits are the engine's own, as strings; absent prices are ""."""
    shown = product_json(BTC, price=D("60000.00"), mid=None)
    assert shown["product_id"] == "BTC-USD"
    assert shown["price"] == "60000"
    assert shown["mid_market_price"] == ""
    assert (shown["base_increment"], shown["quote_increment"], shown["price_increment"]) == (
        "0.00000001",
        "0.01",
        "0.01",
    )
    assert (shown["base_min_size"], shown["base_max_size"]) == ("0.00000001", "3400")
    assert (shown["base_currency_id"], shown["quote_currency_id"]) == ("BTC", "USD")
    assert shown["alias_to"] == []
    assert shown["status"] == "online"
    assert shown["trading_disabled"] is False
    assert shown["product_type"] == "SPOT"


def test_levels_and_l2_events() -> None:
    """Level changes group per product into update events with absolute new quantities."""
    assert levels_json([(D("1.10"), D("2"))]) == [{"price": "1.1", "size": "2"}]
    changes = [
        LevelChanged(
            sequence=1, time=NOW, product_id="BTC-USD", side=BookSide.BID,
            price=D("59000"), new_quantity=D("0"),
        ),
        LevelChanged(
            sequence=2, time=NOW, product_id="ETH-USD", side=BookSide.OFFER,
            price=D("3000"), new_quantity=D("1.5"),
        ),
        LevelChanged(
            sequence=3, time=NOW + 1, product_id="BTC-USD", side=BookSide.OFFER,
            price=D("60000"), new_quantity=D("0.25"),
        ),
    ]  # fmt: skip
    events = l2_events(changes)
    assert list(events) == ["BTC-USD", "ETH-USD"]
    assert events["BTC-USD"] == {
        "type": "update",
        "product_id": "BTC-USD",
        "updates": [
            {
                "side": "bid",
                "event_time": rfc3339(NOW),
                "price_level": "59000",
                "new_quantity": "0",
            },
            {
                "side": "offer",
                "event_time": rfc3339(NOW + 1),
                "price_level": "60000",
                "new_quantity": "0.25",
            },
        ],
    }
    assert l2_events([]) == {}


def test_l2_snapshot_event_lists_bids_then_offers() -> None:
    """The snapshot is every level, bids first, all stamped with the snapshot time."""
    event = l2_snapshot_event(
        "BTC-USD", [(D("2"), D("1"))], [(D("3"), D("4")), (D("5"), D("6"))], NOW
    )
    assert event["type"] == "snapshot"
    assert event["product_id"] == "BTC-USD"
    assert [(u["side"], u["price_level"], u["new_quantity"]) for u in event["updates"]] == [
        ("bid", "2", "1"),
        ("offer", "3", "4"),
        ("offer", "5", "6"),
    ]
    assert {u["event_time"] for u in event["updates"]} == {rfc3339(NOW)}
    assert l2_snapshot_event("BTC-USD", [], [], NOW)["updates"] == []


def test_trade_events_group_per_product_with_the_maker_side() -> None:
    """market_trades carries the maker's side, per product, as update or snapshot."""
    trades = [
        TradeExecuted(
            sequence=i, time=NOW + i, trade_id=f"t{i}", product_id=product,
            price=D("10.0"), size=D("0.50"), maker_side=side,
            maker_order_id="m", taker_order_id="t",
        )
        for i, (product, side) in enumerate(
            [("BTC-USD", Side.SELL), ("ETH-USD", Side.BUY), ("BTC-USD", Side.BUY)]
        )
    ]  # fmt: skip
    events = trade_events(trades)
    assert [t["trade_id"] for t in events["BTC-USD"]["trades"]] == ["t0", "t2"]
    assert events["BTC-USD"]["type"] == "update"
    assert events["BTC-USD"]["trades"][0] == {
        "trade_id": "t0",
        "product_id": "BTC-USD",
        "price": "10",
        "size": "0.5",
        "side": "SELL",
        "time": rfc3339(NOW),
    }
    assert trade_events(trades, kind="snapshot")["ETH-USD"]["type"] == "snapshot"
    assert trades[0].taker_side is Side.BUY


def test_time_parsing_uses_utc_not_the_local_zone() -> None:
    """A Z time is UTC whatever the machine's zone (the test compares to datetime's reading)."""
    expected = dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.UTC).timestamp()
    assert parse_rfc3339("2024-01-15T10:30:00Z") == expected
