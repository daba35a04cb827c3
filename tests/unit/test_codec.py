"""The codec: every message to JSON types and back, with errors that say where."""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import pytest

from cjt_actors.codec import _structure_decimal, decode, encode
from cjt_actors.errors import DecodeError
from cjt_actors.messages import (
    ChildCrashed,
    CleanupStepFinished,
    Event,
    RootStopped,
    StepStatus,
    StopReason,
)


def _stopped() -> RootStopped:
    return RootStopped(
        reason=StopReason.KILL_SWITCH,
        detail="daily loss limit",
        exit_code=3,
        steps=(
            CleanupStepFinished(
                step="cancel-all", status=StepStatus.COMPLETED, started_at=1.5, duration=0.25
            ),
        ),
        at=2.0,
    )


def test_a_nested_message_survives_a_json_round_trip() -> None:
    """What a transport carries between processes must come back equal."""
    message = _stopped()
    wire = json.dumps(encode(message))
    assert decode(json.loads(wire)) == message
    assert json.loads(wire)["type"] == "RootStopped"
    assert json.loads(wire)["reason"] == "kill_switch"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: p.pop("detail"), r"required field missing @ \$\.detail"),
        (lambda p: p.update(extra=1), r"extra fields found \(extra\)"),
        (lambda p: p.update(exit_code="3"), r"expected int @ \$\.exit_code"),
        (lambda p: p.update(exit_code=True), r"\$\.exit_code"),
        (lambda p: p.update(at="soon"), r"\$\.at"),
        (lambda p: p.update(at=float("nan")), r"expected float @ \$\.at"),
        (lambda p: p.update(detail=5), r"\$\.detail"),
        (lambda p: p["steps"][0].update(status="done"), r"\$\.steps\[0\]\.status"),
        (lambda p: p.update(type="NoSuchMessage"), r"unknown message type 'NoSuchMessage'"),
        (lambda p: p.pop("type"), r"\$\.type: missing"),
    ],
)
def test_bad_payloads_get_a_decode_error_naming_the_field(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    """Bad input gets a clear error that says what was wrong and where, and nothing else."""
    payload = encode(_stopped())
    mutate(payload)
    with pytest.raises(DecodeError, match=expected):
        decode(payload)


def test_a_non_object_payload_is_refused() -> None:
    """A list or a string where an object was expected is a decode error, not a crash."""
    with pytest.raises(DecodeError, match="expected an object, got list"):
        decode([])


def test_booleans_are_not_taken_for_numbers() -> None:
    """cattrs would coerce; a wire format must not (True is not exit code 1)."""
    payload = encode(
        ChildCrashed(
            supervisor="root",
            at=1.0,
            child="feed",
            incarnation=0,
            ran_for=1.0,
            error_type="ValueError",
            error="x",
            before_ready=False,
        )
    )
    payload["before_ready"] = 0
    with pytest.raises(DecodeError, match="before_ready"):
        decode(payload)
    payload["before_ready"] = False
    payload["ran_for"] = True
    with pytest.raises(DecodeError, match="ran_for"):
        decode(payload)


def test_encode_refuses_unregistered_messages() -> None:
    """An unregistered class could not be decoded at the other end: refuse at the sender."""

    @attrs.frozen(kw_only=True)
    class Unregistered(Event):
        x: int

    with pytest.raises(TypeError, match="not a registered message"):
        encode(Unregistered(x=1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.50", Decimal("1.50")), ("-0.00000001", Decimal("-0.00000001")), ("7", Decimal(7))],
)
def test_decimals_decode_exactly(value: object, expected: Decimal) -> None:
    """Money travels as strings so no float ever rounds it."""
    result = _structure_decimal(value, Decimal)
    assert result == expected
    assert str(result) == str(expected)


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", 1.5, 7, True, None])
def test_non_decimal_values_are_refused(value: object) -> None:
    """NaN, infinities and floats are not money; an int is refused too: encode() writes
    strings, and one value has one spelling on the wire."""
    with pytest.raises(ValueError, match="decimal"):
        _structure_decimal(value, Decimal)


def test_wire_enums_decode_to_members_and_refuse_unknown_values() -> None:
    """A StrEnum field (Side) decodes to the member, never a bare string or an invented one."""
    from decimal import Decimal

    from cjt_actors.exchange.orders import Side
    from cjt_actors.order_messages import OrderType, SubmitOrder, TimeInForce

    order = SubmitOrder(
        strategy="mm",
        client_order_id="c",
        product_id="BTC-USD",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        size=Decimal("1"),
        limit_price=Decimal("2"),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        at=0.0,
    )
    back = decode(encode(order))
    assert back == order
    assert isinstance(back, SubmitOrder)
    assert back.side is Side.SELL
    for bad in ("SHORT", 1):
        with pytest.raises(DecodeError, match=r"expected Side @ \$\.side") as caught:
            decode({**encode(order), "side": bad})
        assert isinstance(caught.value.__cause__, Exception)
