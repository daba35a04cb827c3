"""Frame decoders: every channel's shape becomes typed values, every malformation a clear error."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest

from cjt_actors.errors import DecodeError
from cjt_actors.exchange.stream import (
    DECODED_CHANNELS,
    Envelope,
    ErrorFrame,
    Frame,
    FrameDecodeError,
    HeartbeatEvent,
    Heartbeats,
    L2Data,
    L2Event,
    MarketTrades,
    Subscriptions,
    Ticker,
    Tickers,
    Trade,
    UserOrder,
    UserOrders,
    arrival_channel,
    decode_frame,
    decode_payload,
    excerpt,
    parse_envelope,
)

TIMESTAMP = "2023-02-09T20:32:50.714964855Z"


def envelope(channel: str, events: list[Any], sequence_num: int = 7) -> dict[str, Any]:
    return {
        "channel": channel,
        "client_id": "",
        "timestamp": TIMESTAMP,
        "sequence_num": sequence_num,
        "events": events,
    }


def raw(document: object) -> str:
    return orjson.dumps(document).decode()


def decode(document: object) -> Frame:
    frame = decode_frame(raw(document), received_at=12.5)
    assert isinstance(frame, Frame)
    return frame


L2_FRAME = envelope(
    "l2_data",
    [
        {
            "type": "snapshot",
            "product_id": "BTC-USD",
            "updates": [
                {
                    "side": "bid",
                    "event_time": "2023-02-09T20:32:50.714964855Z",
                    "price_level": "21921.73",
                    "new_quantity": "0.06317902",
                },
                {
                    "side": "offer",
                    "event_time": "2023-02-09T20:32:50.714964855Z",
                    "price_level": "21921.74",
                    "new_quantity": "0",
                },
            ],
        }
    ],
)

TRADES_FRAME = envelope(
    "market_trades",
    [
        {
            "type": "update",
            "trades": [
                {
                    "trade_id": "000000000",
                    "product_id": "ETH-USD",
                    "price": "1260.01",
                    "size": "0.3",
                    "side": "BUY",
                    "time": "2019-08-14T20:42:27.265Z",
                }
            ],
        }
    ],
)

TICKER_FRAME = envelope(
    "ticker",
    [
        {
            "type": "snapshot",
            "tickers": [
                {
                    "type": "ticker",
                    "product_id": "BTC-USD",
                    "price": "21932.98",
                    "volume_24_h": "16038.28770938",
                    "low_24_h": "21835.29",
                    "high_24_h": "23011.18",
                    "low_52_w": "15460",
                    "high_52_w": "48240",
                    "price_percent_chg_24_h": "-4.15775596190603",
                    "best_bid": "21931.98",
                    "best_bid_quantity": "8000.21",
                    "best_ask": "21933.98",
                    "best_ask_quantity": "8038.07770938",
                }
            ],
        }
    ],
)

USER_ORDER = {
    "avg_price": "0",
    "cancel_reason": "",
    "client_order_id": "c0ffee",
    "completion_percentage": "0.00",
    "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE",
    "cumulative_quantity": "0",
    "filled_value": "0",
    "leaves_quantity": "0.000994",
    "limit_price": "20000",
    "number_of_fills": "0",
    "order_id": "XXX",
    "order_side": "BUY",
    "order_type": "Limit",
    "outstanding_hold_amount": "19.88",
    "post_only": "false",
    "product_id": "BTC-USD",
    "product_type": "SPOT",
    "reject_reason": "",
    "retail_portfolio_id": "portfolio",
    "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
    "status": "OPEN",
    "stop_price": "",
    "time_in_force": "GOOD_UNTIL_CANCELLED",
    "total_fees": "0",
    "total_value_after_fees": "0",
    "trigger_status": "INVALID_ORDER_TYPE",
    "creation_time": "2022-12-07T19:42:18.719312Z",
    "end_time": "0001-01-01T00:00:00Z",
    "start_time": "0001-01-01T00:00:00Z",
}

USER_FRAME = envelope(
    "user",
    [
        {
            "type": "snapshot",
            "orders": [USER_ORDER],
            "positions": {"perpetual_futures_positions": [], "expiring_futures_positions": []},
        }
    ],
)


# -- each channel ----------------------------------------------------------------------------------


def test_an_l2_snapshot_decodes_to_level_tuples_with_decimals() -> None:
    """The book needs exact prices and absolute quantities; 0 must survive as 0, not vanish."""
    frame = decode(L2_FRAME)
    assert frame.channel == "l2_data"
    assert frame.sequence_num == 7
    assert frame.timestamp == TIMESTAMP
    assert frame.received_at == 12.5
    assert frame.payload == L2Data(
        events=(
            L2Event(
                type="snapshot",
                product_id="BTC-USD",
                updates=(
                    ("bid", Decimal("21921.73"), Decimal("0.06317902"), TIMESTAMP),
                    ("offer", Decimal("21921.74"), Decimal("0"), TIMESTAMP),
                ),
            ),
        )
    )


@pytest.mark.parametrize("counter", [3049, "3049"])
def test_heartbeat_counters_are_accepted_as_numbers_or_strings(counter: object) -> None:
    """Docs show a string counter, live data has been seen as integers: accept both."""
    frame = decode(
        envelope(
            "heartbeats",
            [
                {
                    "current_time": "2023-06-23 20:31:56.121961769 +0000 UTC",
                    "heartbeat_counter": counter,
                }
            ],
        )
    )
    assert frame.payload == Heartbeats(
        events=(
            HeartbeatEvent(
                current_time="2023-06-23 20:31:56.121961769 +0000 UTC", heartbeat_counter=3049
            ),
        )
    )


def test_market_trades_name_the_maker_side() -> None:
    """Coinbase's `side` is the maker's; the field name says so, so nobody reads it as taker."""
    frame = decode(TRADES_FRAME)
    assert isinstance(frame.payload, MarketTrades)
    assert frame.payload.events[0].type == "update"
    assert frame.payload.events[0].trades == (
        Trade(
            trade_id="000000000",
            product_id="ETH-USD",
            price=Decimal("1260.01"),
            size=Decimal("0.3"),
            maker_side="BUY",
            time="2019-08-14T20:42:27.265Z",
        ),
    )


def test_a_ticker_decodes_every_statistic_as_decimal() -> None:
    """Strategies read best bid/ask and 24 h figures; negative percentages are valid."""
    frame = decode(TICKER_FRAME)
    assert isinstance(frame.payload, Tickers)
    ticker = frame.payload.events[0].tickers[0]
    assert ticker == Ticker(
        product_id="BTC-USD",
        price=Decimal("21932.98"),
        volume_24_h=Decimal("16038.28770938"),
        low_24_h=Decimal("21835.29"),
        high_24_h=Decimal("23011.18"),
        low_52_w=Decimal("15460"),
        high_52_w=Decimal("48240"),
        price_percent_chg_24_h=Decimal("-4.15775596190603"),
        best_bid=Decimal("21931.98"),
        best_bid_quantity=Decimal("8000.21"),
        best_ask=Decimal("21933.98"),
        best_ask_quantity=Decimal("8038.07770938"),
    )


def test_a_ticker_batch_without_best_bid_and_ask_leaves_them_none() -> None:
    """ticker_batch omits best bid/ask: missing statistics are None, not a malformed frame."""
    document = envelope(
        "ticker_batch",
        [{"type": "update", "tickers": [{"product_id": "BTC-USD", "price": "100.5"}]}],
    )
    frame = decode(document)
    assert isinstance(frame.payload, Tickers)
    assert frame.payload.events[0].tickers == (
        Ticker(product_id="BTC-USD", price=Decimal("100.5")),
    )


def test_a_user_order_decodes_all_fields() -> None:
    """The executor reconciles from these fields; empty amounts ("" stop price) are None."""
    frame = decode(USER_FRAME)
    assert isinstance(frame.payload, UserOrders)
    assert frame.payload.events[0].type == "snapshot"
    assert frame.payload.events[0].orders == (
        UserOrder(
            order_id="XXX",
            client_order_id="c0ffee",
            product_id="BTC-USD",
            order_side="BUY",
            status="OPEN",
            cumulative_quantity=Decimal("0"),
            leaves_quantity=Decimal("0.000994"),
            order_type="Limit",
            product_type="SPOT",
            time_in_force="GOOD_UNTIL_CANCELLED",
            post_only=False,
            limit_price=Decimal("20000"),
            stop_price=None,
            avg_price=Decimal("0"),
            filled_value=Decimal("0"),
            total_fees=Decimal("0"),
            total_value_after_fees=Decimal("0"),
            number_of_fills=0,
            completion_percentage=Decimal("0.00"),
            outstanding_hold_amount=Decimal("19.88"),
            cancel_reason="",
            reject_reason="",
            trigger_status="INVALID_ORDER_TYPE",
            retail_portfolio_id="portfolio",
            risk_managed_by="UNKNOWN_RISK_MANAGEMENT_TYPE",
            contract_expiry_type="UNKNOWN_CONTRACT_EXPIRY_TYPE",
            creation_time="2022-12-07T19:42:18.719312Z",
            start_time="0001-01-01T00:00:00Z",
            end_time="0001-01-01T00:00:00Z",
        ),
    )


def test_a_minimal_user_order_as_in_the_docs_decodes_with_defaults() -> None:
    """The documented example carries only some fields; the rest default, nothing crashes."""
    order = {
        "order_id": "XXX",
        "client_order_id": "YYY",
        "cumulative_quantity": "0",
        "leaves_quantity": "0.000994",
        "avg_price": "0",
        "total_fees": "0",
        "status": "OPEN",
        "product_id": "BTC-USD",
        "creation_time": "2022-12-07T19:42:18.719312Z",
        "order_side": "SELL",
        "order_type": "Limit",
        "post_only": True,
        "number_of_fills": 2,
    }
    frame = decode(envelope("user", [{"type": "update", "orders": [order]}]))
    assert isinstance(frame.payload, UserOrders)
    decoded = frame.payload.events[0].orders[0]
    assert decoded.order_side == "SELL"
    assert decoded.post_only is True
    assert decoded.number_of_fills == 2
    assert decoded.limit_price is None
    assert decoded.time_in_force == ""


@pytest.mark.parametrize(("value", "expected"), [("true", True), (False, False), (None, False)])
def test_post_only_accepts_json_and_string_booleans(value: object, expected: bool) -> None:
    """The SDK types post_only as a string; a JSON boolean or null must work as well."""
    order = dict(USER_ORDER, post_only=value)
    frame = decode(envelope("user", [{"type": "update", "orders": [order]}]))
    assert isinstance(frame.payload, UserOrders)
    assert frame.payload.events[0].orders[0].post_only is expected


def test_user_snapshot_batches_arrive_as_separate_events() -> None:
    """Open orders come 50 per snapshot event: every batch must be kept, in order."""
    first = dict(USER_ORDER, order_id="A")
    second = dict(USER_ORDER, order_id="B")
    frame = decode(
        envelope(
            "user",
            [{"type": "snapshot", "orders": [first]}, {"type": "snapshot", "orders": [second]}],
        )
    )
    assert isinstance(frame.payload, UserOrders)
    assert [event.orders[0].order_id for event in frame.payload.events] == ["A", "B"]


def test_subscriptions_become_pairs_in_wire_order() -> None:
    """The confirmation tells the consumer what the server thinks it is subscribed to."""
    frame = decode(
        envelope(
            "subscriptions",
            [{"subscriptions": {"level2": ["BTC-USD", "ETH-USD"], "heartbeats": ["heartbeats"]}}],
        )
    )
    assert frame.payload == Subscriptions(
        channels=(("level2", ("BTC-USD", "ETH-USD")), ("heartbeats", ("heartbeats",)))
    )


def test_an_unknown_channel_has_no_payload_but_a_valid_envelope() -> None:
    """Unknown channels are ignored by the client, which still needs their sequence number."""
    parsed = parse_envelope(raw(envelope("candles", [{"anything": 1}], sequence_num=3)))
    assert isinstance(parsed, Envelope)
    assert parsed.sequence_num == 3
    assert decode_payload(parsed) is None
    assert decode_frame(raw(envelope("candles", [])), received_at=0.0) is None
    assert "candles" not in DECODED_CHANNELS


def test_bytes_frames_decode_like_text() -> None:
    """A binary frame carrying JSON is read the same as a text frame."""
    frame = decode_frame(orjson.dumps(L2_FRAME), received_at=0.0)
    assert isinstance(frame, Frame)
    assert frame.channel == "l2_data"


def test_level2_arrives_as_l2_data() -> None:
    """Subscribe name and arrival name differ only for level2 (§4.1)."""
    assert arrival_channel("level2") == "l2_data"
    assert arrival_channel("market_trades") == "market_trades"


# -- error frames ----------------------------------------------------------------------------------


def test_an_error_message_becomes_an_error_frame() -> None:
    """Bad JWTs are reported this way; the consumer must see the server's words."""
    assert decode_frame(
        '{"type":"error","message":"authentication failure"}', received_at=0.0
    ) == ErrorFrame(message="authentication failure")


def test_an_error_message_without_text_still_surfaces() -> None:
    """An error frame of an unexpected shape must not be mistaken for noise."""
    parsed = parse_envelope('{"type":"error","reason":"bad\\nthing"}')
    assert isinstance(parsed, ErrorFrame)
    assert "bad" in parsed.message
    assert "\n" not in parsed.message


# -- malformed frames ---------------------------------------------------------------------------------


def mutated(document: dict[str, Any], path: tuple[object, ...], value: object) -> dict[str, Any]:
    """A deep copy of `document` with the value at `path` replaced (or deleted if DELETE)."""
    copied = copy.deepcopy(document)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copied


DELETE = object()
L2_UPDATE = ("events", 0, "updates", 0)

MALFORMED: list[tuple[str, str]] = [
    ("not json at all", "frame: not JSON"),
    ("<html><head><title>502 Bad Gateway</title></head></html>", "frame: not JSON"),
    ("", "frame: not JSON"),
    ("[1, 2, 3]", "frame: expected a JSON object, got a list"),
    ('"text"', "frame: expected a JSON object, got a string ('text')"),
    ("{}", "frame: missing key 'channel'"),
    (
        '{"type": "subscriptions"}',
        "frame: no 'channel', and message type 'subscriptions' is unknown",
    ),
    (raw(mutated(L2_FRAME, ("channel",), 5)), "frame.channel: expected a string, got a number (5)"),
    (raw(mutated(L2_FRAME, ("sequence_num",), DELETE)), "frame: missing key 'sequence_num'"),
    (
        raw(mutated(L2_FRAME, ("sequence_num",), "8")),
        "frame.sequence_num: expected a non-negative integer, got a string ('8')",
    ),
    (
        raw(mutated(L2_FRAME, ("sequence_num",), True)),
        "frame.sequence_num: expected a non-negative integer, got a boolean",
    ),
    (
        raw(mutated(L2_FRAME, ("sequence_num",), -1)),
        "frame.sequence_num: expected a non-negative integer, got a number (-1)",
    ),
    (raw(mutated(L2_FRAME, ("timestamp",), None)), "frame.timestamp: expected a string, got null"),
    (raw(mutated(L2_FRAME, ("events",), {})), "frame.events: expected a list, got an object"),
    (
        raw(mutated(L2_FRAME, ("events", 0), [])),
        "l2_data.events[0]: expected an object, got a list",
    ),
    (
        raw(mutated(L2_FRAME, ("events", 0, "type"), "delta")),
        "l2_data.events[0].type: expected 'snapshot' or 'update', got a string ('delta')",
    ),
    (
        raw(mutated(L2_FRAME, ("events", 0, "product_id"), DELETE)),
        "l2_data.events[0]: missing key 'product_id'",
    ),
    (
        raw(mutated(L2_FRAME, ("events", 0, "updates"), "none")),
        "l2_data.events[0].updates: expected a list, got a string ('none')",
    ),
    (
        raw(mutated(L2_FRAME, ("events", 0, "updates", 1), 3)),
        "l2_data.events[0].updates[1]: expected an object, got a number (3)",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "price_level"), "abc")),
        "l2_data.events[0].updates[0].price_level: 'abc' is not a decimal",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "price_level"), "NaN")),
        "l2_data.events[0].updates[0].price_level: 'NaN' is not a decimal",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "price_level"), "Infinity")),
        "l2_data.events[0].updates[0].price_level: 'Infinity' is not a decimal",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "price_level"), "1e999999999")),
        "l2_data.events[0].updates[0].price_level: '1e999999999' is not a decimal",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "price_level"), 21921.73)),
        "l2_data.events[0].updates[0].price_level: expected a decimal string, got a number (21921.73)",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "price_level"), "0")),
        "l2_data.events[0].updates[0].price_level: '0' is not positive",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "new_quantity"), "-1")),
        "l2_data.events[0].updates[0].new_quantity: '-1' is negative",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "side"), "ask")),
        "l2_data.events[0].updates[0].side: expected 'bid' or 'offer', got a string ('ask')",
    ),
    (
        raw(mutated(L2_FRAME, (*L2_UPDATE, "event_time"), DELETE)),
        "l2_data.events[0].updates[0]: missing key 'event_time'",
    ),
    (
        raw(mutated(L2_FRAME, ("events", 0, "product_id"), ["BTC-USD"])),
        "l2_data.events[0].product_id: expected a string, got a list",
    ),
    (
        raw(mutated(TRADES_FRAME, ("events", 0, "trades", 0, "trade_id"), 5)),
        "market_trades.events[0].trades[0].trade_id: expected a string, got a number (5)",
    ),
    (
        raw(mutated(TRADES_FRAME, ("events", 0, "trades", 0, "side"), "buy")),
        "market_trades.events[0].trades[0].side: expected 'BUY' or 'SELL', got a string ('buy')",
    ),
    (
        raw(mutated(TRADES_FRAME, ("events", 0, "trades", 0, "size"), "-0.3")),
        "market_trades.events[0].trades[0].size: '-0.3' is not positive",
    ),
    (
        raw(mutated(TICKER_FRAME, ("events", 0, "tickers", 0, "best_bid"), "x")),
        "ticker.events[0].tickers[0].best_bid: 'x' is not a decimal",
    ),
    (
        raw(mutated(USER_FRAME, ("events", 0, "orders", 0, "number_of_fills"), "1.5")),
        "user.events[0].orders[0].number_of_fills: expected a non-negative integer, got a string ('1.5')",
    ),
    (
        raw(mutated(USER_FRAME, ("events", 0, "orders", 0, "post_only"), "yes")),
        "user.events[0].orders[0].post_only: expected a boolean, got a string ('yes')",
    ),
    (
        raw(mutated(USER_FRAME, ("events", 0, "orders", 0, "order_type"), 1)),
        "user.events[0].orders[0].order_type: expected a string, got a number (1)",
    ),
    (
        raw(mutated(USER_FRAME, ("events", 0, "orders", 0, "cumulative_quantity"), DELETE)),
        "user.events[0].orders[0]: missing key 'cumulative_quantity'",
    ),
    (
        raw(envelope("heartbeats", [{"current_time": "t", "heartbeat_counter": "9" * 30}])),
        "heartbeats.events[0].heartbeat_counter: expected a non-negative integer, got a string",
    ),
    (
        raw(envelope("subscriptions", [{"subscriptions": {"level2": "BTC-USD"}}])),
        "subscriptions.events[0].subscriptions.level2: expected a list, got a string ('BTC-USD')",
    ),
    (
        raw(envelope("subscriptions", [{"subscriptions": {"level2": ["BTC-USD", 1]}}])),
        "subscriptions.events[0].subscriptions.level2[1]: expected a string, got a number (1)",
    ),
]


@pytest.mark.parametrize(("frame", "message"), MALFORMED)
def test_malformed_frames_raise_an_error_that_names_place_and_problem(
    frame: str, message: str
) -> None:
    """An operator must be able to tell from the message alone what the exchange sent wrong."""
    with pytest.raises(FrameDecodeError) as caught:
        decode_frame(frame, received_at=0.0)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, DecodeError)
    assert "\n" not in str(caught.value)


def test_a_decode_error_keeps_place_and_problem_apart() -> None:
    """Metrics group malformed frames by place; the attributes make that possible."""
    frame = raw(mutated(L2_FRAME, (*L2_UPDATE, "new_quantity"), "lots"))
    with pytest.raises(FrameDecodeError) as caught:
        decode_frame(frame, received_at=0.0)
    assert caught.value.where == "l2_data.events[0].updates[0].new_quantity"
    assert caught.value.problem == "'lots' is not a decimal"


def test_a_long_bad_value_is_shortened_in_the_message() -> None:
    """Error messages quote a bad value, but never a whole multi-megabyte string."""
    frame = raw(mutated(L2_FRAME, (*L2_UPDATE, "price_level"), "x" * 10_000))
    with pytest.raises(FrameDecodeError) as caught:
        decode_frame(frame, received_at=0.0)
    assert len(str(caught.value)) < 120


# -- excerpts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short", "short"),
        ("<html>\n  <title>502</title>\n</html>", "<html> <title>502</title> </html>"),
        (b"\xff\xfebytes", "\ufffd\ufffdbytes"),
        ("a" * 500, "a" * 119 + "…"),
    ],
)
def test_excerpts_are_short_and_single_line(text: str | bytes, expected: str) -> None:
    """Excerpts go into log lines and metrics labels: one line, bounded, never raising."""
    assert excerpt(text) == expected
