"""Property tests of the WebSocket frame decoders and of the client's handling of bad streams.

The decoders face whatever the network delivers, so their contract is total: any input
either decodes or raises FrameDecodeError; never KeyError, TypeError, IndexError,
AttributeError or decimal.InvalidOperation. Hypothesis feeds them arbitrary JSON, arbitrary
text and bytes, and valid frames with one random part mutated. Valid level2 frames must
decode to exactly the prices and quantities that were sent, trailing zeros included.

The client test runs whole trio programs (sync ``@given`` calling ``trio.run`` under a
``MockClock``): a random mix of well-formed frames with arbitrary sequence numbers and
malformed frames never stops the stream, and the items follow the sequence-number rules.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import orjson
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from cjt_actors.exchange.stream import (
    DECODED_CHANNELS,
    ErrorFrame,
    Frame,
    FrameDecodeError,
    L2Data,
    MalformedFrame,
    OutOfOrder,
    SequenceGap,
    StreamItem,
    decode_frame,
)
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.policy import Backoff

# -- strategies ---------------------------------------------------------------------------------

#: Strings that look almost like decimals, or like other things decoders might confuse.
TRICKY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-0",
        "-1",
        "1e999999999",
        "-1e999999999",
        "1E-999999999",
        "NaN",
        "sNaN",
        "-Infinity",
        "Infinity",
        "1_000",
        " 1 ",
        "١٢",
        "0x10",
        "9" * 40,
        "snapshot",
        "update",
        "bid",
        "offer",
        "BUY",
        "SELL",
        "true",
        "false",
        "error",
        "l2_data",
        "heartbeats",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    TRICKY_STRINGS,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), TRICKY_STRINGS), children, max_size=4),
    ),
    max_leaves=20,
)

#: Plain decimal strings as Coinbase writes them: digits, optional fraction, trailing zeros.
DECIMAL_TEXT = st.builds(
    lambda units, fraction: f"{units}.{fraction}" if fraction else str(units),
    st.integers(min_value=0, max_value=10**12),
    st.text(alphabet="0123456789", max_size=10),
)
POSITIVE_TEXT = DECIMAL_TEXT.filter(lambda text: Decimal(text) > 0)
PRODUCT = st.sampled_from(["BTC-USD", "ETH-USD", "SOL-USD"])
EVENT_TYPE = st.sampled_from(["snapshot", "update"])
TIME = st.text(max_size=30)


def envelope(channel: str, sequence_num: int, events: list[Any]) -> dict[str, Any]:
    return {
        "channel": channel,
        "client_id": "",
        "timestamp": "2023-02-09T20:32:50.714964855Z",
        "sequence_num": sequence_num,
        "events": events,
    }


L2_UPDATE = st.fixed_dictionaries(
    {
        "side": st.sampled_from(["bid", "offer"]),
        "event_time": TIME,
        "price_level": POSITIVE_TEXT,
        "new_quantity": DECIMAL_TEXT,
    }
)
L2_EVENT = st.fixed_dictionaries(
    {"type": EVENT_TYPE, "product_id": PRODUCT, "updates": st.lists(L2_UPDATE, max_size=8)}
)
TRADE = st.fixed_dictionaries(
    {
        "trade_id": st.text(max_size=10),
        "product_id": PRODUCT,
        "price": POSITIVE_TEXT,
        "size": POSITIVE_TEXT,
        "side": st.sampled_from(["BUY", "SELL"]),
        "time": TIME,
    }
)
TICKER = st.fixed_dictionaries(
    {"product_id": PRODUCT, "price": POSITIVE_TEXT},
    optional={
        "best_bid": DECIMAL_TEXT,
        "best_ask": DECIMAL_TEXT,
        "volume_24_h": DECIMAL_TEXT,
        "price_percent_chg_24_h": DECIMAL_TEXT.map(lambda text: f"-{text}"),
    },
)
ORDER = st.fixed_dictionaries(
    {
        "order_id": st.text(max_size=10),
        "client_order_id": st.text(max_size=10),
        "product_id": PRODUCT,
        "order_side": st.sampled_from(["BUY", "SELL"]),
        "status": st.sampled_from(["PENDING", "OPEN", "FILLED", "CANCELLED"]),
        "cumulative_quantity": DECIMAL_TEXT,
        "leaves_quantity": DECIMAL_TEXT,
    },
    optional={
        "limit_price": st.one_of(st.just(""), DECIMAL_TEXT),
        "post_only": st.sampled_from([True, False, "true", "false"]),
        "number_of_fills": st.one_of(
            st.integers(min_value=0, max_value=10**6), st.integers(0, 10**6).map(str)
        ),
        "order_type": st.sampled_from(["Limit", "Market"]),
    },
)


@st.composite
def valid_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed frame of any decoded channel."""
    channel = draw(st.sampled_from(sorted(DECODED_CHANNELS)))
    events: list[Any]
    if channel == "l2_data":
        events = draw(st.lists(L2_EVENT, min_size=1, max_size=3))
    elif channel == "market_trades":
        events = draw(
            st.lists(
                st.fixed_dictionaries({"type": EVENT_TYPE, "trades": st.lists(TRADE, max_size=4)}),
                max_size=2,
            )
        )
    elif channel in ("ticker", "ticker_batch"):
        events = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"type": EVENT_TYPE, "tickers": st.lists(TICKER, max_size=3)}
                ),
                max_size=2,
            )
        )
    elif channel == "user":
        events = draw(
            st.lists(
                st.fixed_dictionaries({"type": EVENT_TYPE, "orders": st.lists(ORDER, max_size=3)}),
                max_size=2,
            )
        )
    elif channel == "heartbeats":
        counter = st.one_of(st.integers(0, 10**9), st.integers(0, 10**9).map(str))
        events = draw(
            st.lists(
                st.fixed_dictionaries({"current_time": TIME, "heartbeat_counter": counter}),
                max_size=2,
            )
        )
    else:
        table = st.dictionaries(st.text(max_size=10), st.lists(PRODUCT, max_size=3), max_size=3)
        events = draw(st.lists(st.fixed_dictionaries({"subscriptions": table}), max_size=2))
    return envelope(channel, draw(st.integers(0, 2**63 - 1)), events)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON tree, the root included."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def check_decodes_or_refuses(raw: str | bytes) -> Frame | ErrorFrame | None:
    """The decoders' whole contract: a result, or FrameDecodeError; nothing else escapes."""
    refusal: FrameDecodeError | None = None
    result: Frame | ErrorFrame | None = None
    try:
        result = decode_frame(raw, received_at=0.0)
    except FrameDecodeError as error:
        refusal = error
    if refusal is not None:
        assert "\n" not in str(refusal)
        assert len(str(refusal)) < 400
        return None
    assert result is None or isinstance(result, Frame | ErrorFrame)
    return result


# -- decoders ------------------------------------------------------------------------------------


@given(document=JSON)
def test_arbitrary_json_decodes_or_is_refused(document: object) -> None:
    """Whatever JSON arrives, the decoder answers with an item or a FrameDecodeError."""
    check_decodes_or_refuses(orjson.dumps(document))


@given(raw=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_text_and_bytes_decode_or_are_refused(raw: str | bytes) -> None:
    """Non-JSON (HTML error pages, truncated frames, binary noise) is refused cleanly."""
    check_decodes_or_refuses(raw)


@given(
    channel=st.one_of(st.sampled_from(sorted(DECODED_CHANNELS)), st.text(max_size=10)),
    sequence_num=st.one_of(st.integers(0, 2**63 - 1), JSON),
    events=JSON,
)
def test_envelopes_with_arbitrary_events_decode_or_are_refused(
    channel: str, sequence_num: object, events: object
) -> None:
    """A valid-looking envelope around garbage reaches every per-channel decoder."""
    check_decodes_or_refuses(
        orjson.dumps(envelope(channel, 0, []) | {"sequence_num": sequence_num, "events": events})
    )


@given(frame=valid_frames())
def test_valid_frames_of_every_channel_decode(frame: dict[str, Any]) -> None:
    """Well-formed frames are never refused."""
    result = decode_frame(orjson.dumps(frame), received_at=1.5)
    assert isinstance(result, Frame)
    assert result.channel == frame["channel"]
    assert result.sequence_num == frame["sequence_num"]


@given(frame=valid_frames(), data=st.data())
def test_mutated_valid_frames_decode_or_are_refused(
    frame: dict[str, Any], data: st.DataObject
) -> None:
    """One part of a good frame changed (a value swapped, a key deleted or added) never makes
    a decoder raise anything but FrameDecodeError."""
    document = copy.deepcopy(frame)
    path = data.draw(st.sampled_from(paths(document)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if not path:
        document = data.draw(JSON)
    else:
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        if action == "replace":
            parent[path[-1]] = data.draw(JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.one_of(st.text(max_size=8), TRICKY_STRINGS))] = data.draw(JSON)
        else:
            parent.insert(path[-1], data.draw(JSON))
    check_decodes_or_refuses(orjson.dumps(document))


@given(events=st.lists(L2_EVENT, min_size=1, max_size=4), sequence_num=st.integers(0, 10**9))
def test_level2_frames_decode_to_exactly_the_levels_sent(
    events: list[dict[str, Any]], sequence_num: int
) -> None:
    """The book is only as right as these numbers: every price and quantity comes out as the
    exact Decimal of its wire text (same digits, same exponent), in order, with its side."""
    result = decode_frame(orjson.dumps(envelope("l2_data", sequence_num, events)), received_at=0.0)
    assert isinstance(result, Frame)
    assert isinstance(result.payload, L2Data)
    assert len(result.payload.events) == len(events)
    for decoded, sent in zip(result.payload.events, events, strict=True):
        assert decoded.type == sent["type"]
        assert decoded.product_id == sent["product_id"]
        assert len(decoded.updates) == len(sent["updates"])
        for (side, price, quantity, event_time), update in zip(
            decoded.updates, sent["updates"], strict=True
        ):
            assert side == update["side"]
            assert event_time == update["event_time"]
            assert price.as_tuple() == Decimal(update["price_level"]).as_tuple()
            assert quantity.as_tuple() == Decimal(update["new_quantity"]).as_tuple()
            assert str(price) == str(Decimal(update["price_level"]))


# -- the client under a hostile stream ----------------------------------------------------------------

MALFORMED_FRAMES = [
    "not json",
    "<html><body>502</body></html>",
    "[]",
    '{"channel": "l2_data"}',
    '{"type": "subscriptions"}',
    '{"channel":"heartbeats","client_id":"","timestamp":"t","sequence_num":"3","events":[]}',
]
LAST = 10**6  #: the sequence number of the sentinel frame that ends every script


def heartbeat(sequence_num: int) -> str:
    events = [{"current_time": "t", "heartbeat_counter": sequence_num}]
    return orjson.dumps(envelope("heartbeats", sequence_num, events)).decode()


class ScriptedSocket:
    """A connection that accepts the subscribes and delivers `frames`, then stays silent."""

    def __init__(self, frames: list[str]) -> None:
        self.frames = frames

    async def send_message(self, message: str) -> None:
        await trio.lowlevel.checkpoint()

    async def get_message(self) -> str:
        if self.frames:
            await trio.lowlevel.checkpoint()
            return self.frames.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        await trio.lowlevel.checkpoint()


def expected_kinds(script: list[int | str]) -> list[str]:
    """What the sequence-number rules say the consumer sees, frame by frame."""
    kinds: list[str] = []
    last: int | None = None
    for frame in [*script, LAST]:
        if isinstance(frame, str):
            kinds.append("MalformedFrame")
        elif last is None or frame == last + 1:
            kinds.append("Frame")
            last = frame
        elif frame > last:
            kinds += ["SequenceGap", "Frame"]
            last = frame
        else:
            kinds.append("OutOfOrder")
    return kinds


async def feed(frames: list[str]) -> list[StreamItem]:
    items: list[StreamItem] = []

    @asynccontextmanager
    async def connect(url: str, *, max_message_size: int) -> AsyncIterator[Any]:
        yield ScriptedSocket(list(frames))

    client = WebSocketClient(
        url="ws://scripted",
        channels={},
        connect=connect,
        backoff=Backoff(min=1, max=1, jitter=0, reset_after=1),
        stale_after=5,
    )
    with trio.CancelScope() as scope:

        async def on_item(item: StreamItem) -> None:
            items.append(item)
            if isinstance(item, Frame) and item.sequence_num == LAST:
                scope.cancel()

        with trio.fail_after(60):
            await client.run(on_item)
    return items


@given(
    script=st.lists(st.one_of(st.integers(0, 40), st.sampled_from(MALFORMED_FRAMES)), max_size=25)
)
def test_no_mix_of_frames_stops_the_stream(script: list[int | str]) -> None:
    """Gaps, repeats, late frames and garbage in any order: each is reported as the rules say,
    delivered frames keep rising, and the stream is still alive for the last frame."""
    frames = [frame if isinstance(frame, str) else heartbeat(frame) for frame in script]
    items = trio.run(
        feed, [*frames, heartbeat(LAST)], clock=trio.testing.MockClock(autojump_threshold=0)
    )
    data = [
        type(item).__name__
        for item in items
        if isinstance(item, Frame | SequenceGap | OutOfOrder | MalformedFrame)
    ]
    assert data == expected_kinds(script)
    delivered = [item.sequence_num for item in items if isinstance(item, Frame)]
    assert delivered == sorted(set(delivered))
    assert delivered[-1] == LAST
    assert [type(item).__name__ for item in items[:2]] == ["Connected", "Subscribed"]
