"""The ``l2_data`` decoder into ticks: exact, as strict as the Decimal decoder, errors by path."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cjt_actors.exchange.l2ticks import L2TickData, L2TickDecoder, L2TickEvent, step_parser
from cjt_actors.exchange.stream import FrameDecodeError, parse_envelope

D = Decimal
BTC = "BTC-USD"
CENTS, SATOSHIS = D("0.01"), D("0.00000001")


def frame(*events: dict[str, Any]) -> str:
    return orjson.dumps(
        {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": "2026-01-01T00:00:00Z",
            "sequence_num": 1,
            "events": list(events),
        }
    ).decode()


def event(kind: str, *levels: tuple[str, Any, Any], product: str = BTC) -> dict[str, Any]:
    return {
        "type": kind,
        "product_id": product,
        "updates": [
            {"side": side, "event_time": "t", "price_level": price, "new_quantity": size}
            for side, price, size in levels
        ],
    }


def decode(raw: str, increments: dict[str, tuple[Decimal, Decimal]] | None = None) -> L2TickData:
    envelope = parse_envelope(raw)
    assert not isinstance(envelope, str)
    decoder = L2TickDecoder(increments or {BTC: (CENTS, SATOSHIS)})
    return decoder(envelope)  # type: ignore[arg-type]


def test_levels_become_ticks_and_units_in_wire_order() -> None:
    data = decode(
        frame(
            event("snapshot", ("bid", "60000.27", "0.5"), ("offer", "60000.3", "1")),
            event("update", ("offer", "60000.30", "0")),
        )
    )
    assert data == L2TickData(
        events=(
            L2TickEvent(
                type="snapshot",
                product_id=BTC,
                levels=((True, 6_000_027, 50_000_000), (False, 6_000_030, 100_000_000)),
            ),
            L2TickEvent(type="update", product_id=BTC, levels=((False, 6_000_030, 0),)),
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60000", 6_000_000),
        ("60000.", 6_000_000),
        ("60000.270000", 6_000_027),
        ("0060000.27", 6_000_027),
        ("6.000027E+4", 6_000_027),  # Decimal's spellings take the careful path
        (" 60000.27 ", 6_000_027),
        ("0", 0),
        ("0.00", 0),
    ],
)
def test_every_spelling_decimal_accepts_gives_the_same_ticks(text: str, expected: int) -> None:
    assert step_parser(CENTS)(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("60000.005", "is not a multiple of the increment 0.01"),
        ("-1", "is negative"),
        ("ten", "is not a decimal"),
        ("", "is not a decimal"),
        (".", "is not a decimal"),
        ("NaN", "is not a decimal"),
        ("Infinity", "is not a decimal"),
        ("1e30", "is not a decimal"),
        ("1" * 31, "is not a decimal"),
        ("\u00b2", "is not a decimal"),  # a superscript two: isdigit() says yes, int() no
    ],
)
def test_a_value_off_the_grid_or_not_a_number_is_refused_with_the_reason(
    text: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        step_parser(CENTS)(text)


@pytest.mark.parametrize(
    ("increment", "text", "expected"),
    [
        (D("0.05"), "1.15", 23),
        (D("0.5"), "100.5", 201),
        (D("1"), "42", 42),
        (D("1E+1"), "420", 42),
        (D("0.010"), "0.03", 3),  # trailing zeros of the increment do not matter
    ],
)
def test_increments_that_are_not_a_power_of_ten(
    increment: Decimal, text: str, expected: int
) -> None:
    assert step_parser(increment)(text) == expected


def test_a_multiple_of_the_digits_but_not_of_the_increment_is_refused() -> None:
    with pytest.raises(ValueError, match=r"multiple of the increment 0\.05"):
        step_parser(D("0.05"))("1.17")


@pytest.mark.parametrize("increment", [D(0), D(-1), D("NaN"), 0.01])
def test_a_bad_increment_is_refused(increment: Any) -> None:
    with pytest.raises(ValueError, match="positive, finite Decimal"):
        step_parser(increment)


@given(
    steps=st.integers(min_value=0, max_value=10**18),
    increment=st.sampled_from([D("0.01"), D("0.00000001"), D("0.05"), D("1"), D("0.25")]),
    extra_zeros=st.integers(min_value=0, max_value=3),
    off=st.booleans(),
)
def test_parsing_agrees_with_exact_decimal_division(
    steps: int, increment: Decimal, extra_zeros: int, off: bool
) -> None:
    exact = decimal.Context(prec=80)
    value = exact.multiply(increment, steps)
    if off:
        value = exact.add(value, exact.divide(increment, 2))
    text = format(value, "f")
    if "." in text:
        text += "0" * extra_zeros
    parser = step_parser(increment)
    quotient, rest = exact.divmod(D(text), increment)
    if rest:
        with pytest.raises(ValueError, match="not a multiple"):
            parser(text)
    else:
        assert parser(text) == int(quotient)


def test_an_off_grid_level_names_its_place_and_the_increment() -> None:
    raw = frame(event("update", ("bid", "60000.27", "1"), ("offer", "60000.275", "1")))
    with pytest.raises(FrameDecodeError) as caught:
        decode(raw)
    assert caught.value.where == "l2_data.events[0].updates[1].price_level"
    assert caught.value.problem == "'60000.275' is not a multiple of the increment 0.01"


def test_a_size_below_the_size_increment_is_off_the_grid() -> None:
    raw = frame(event("update", ("bid", "1", "0.000000001")))
    with pytest.raises(FrameDecodeError, match=r"updates\[0\]\.new_quantity: '0.000000001'"):
        decode(raw)


@pytest.mark.parametrize(
    ("level", "where", "problem"),
    [
        (("ask", "1", "1"), "updates[0].side", "expected 'bid' or 'offer'"),
        (("bid", 1, "1"), "updates[0].price_level", "expected a decimal string"),
        (("bid", "0", "1"), "updates[0].price_level", "is not positive"),
        (("bid", "1", "-1"), "updates[0].new_quantity", "is negative"),
        (("bid", "1", None), "updates[0].new_quantity", "expected a decimal string"),
        (("bid", ["1"], "1"), "updates[0].price_level", "expected a decimal string"),
    ],
)
def test_bad_levels_are_named_as_the_decimal_decoder_names_them(
    level: tuple[str, Any, Any], where: str, problem: str
) -> None:
    with pytest.raises(FrameDecodeError) as caught:
        decode(frame(event("update", level)))
    assert caught.value.where == f"l2_data.events[0].{where}"
    assert problem in caught.value.problem


def test_a_level_without_an_event_time_is_refused() -> None:
    raw = frame(
        {"type": "update", "product_id": BTC, "updates": [{"side": "bid", "price_level": "1"}]}
    )
    with pytest.raises(FrameDecodeError, match="missing key 'new_quantity'"):
        decode(raw)
    late = event("update", ("bid", "1", "1"))
    late["updates"][0]["event_time"] = 7
    with pytest.raises(FrameDecodeError, match="event_time: expected a string"):
        decode(frame(late))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"type": "delta", "product_id": BTC, "updates": []}, "expected 'snapshot' or 'update'"),
        ({"type": "update", "product_id": 5, "updates": []}, "product_id: expected a string"),
        ({"type": "update", "product_id": BTC}, "missing key 'updates'"),
        ("nope", "expected an object"),
    ],
)
def test_a_bad_event_is_named(bad: Any, message: str) -> None:
    with pytest.raises(FrameDecodeError, match=message):
        decode(frame(bad))


def test_events_of_a_product_without_a_grid_keep_their_place_without_levels() -> None:
    data = decode(frame(event("update", ("bid", "1.001", "1"), product="ETH-USD")))
    assert data.events == (L2TickEvent(type="update", product_id="ETH-USD", levels=()),)
    with pytest.raises(FrameDecodeError, match=r"updates\[0\]\.side"):
        decode(frame(event("update", ("buy", "1", "1"), product="ETH-USD")))


def test_the_price_cache_stays_bounded_and_correct() -> None:
    decoder = L2TickDecoder({BTC: (CENTS, SATOSHIS)})
    for start in range(0, 20_000, 500):
        levels = [("bid", f"{p}.01", "1") for p in range(start + 1, start + 501)]
        envelope = parse_envelope(frame(event("update", *levels)))
        data = decoder(envelope)  # type: ignore[arg-type]
        assert data.events[0].levels[-1] == (True, (start + 500) * 100 + 1, 100_000_000)
    grid = decoder._grids[BTC]
    assert 0 < len(grid.prices) <= 8192
