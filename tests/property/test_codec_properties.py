"""Property tests of the message codec: round trips, and no crash on any input.

Message strategies are derived from the registered classes' field types, so a message class
added later is covered as soon as it is registered (and a field type this file does not know
fails loudly, asking for a strategy, rather than being skipped).
"""

from __future__ import annotations

import enum
import json
import types
import typing
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cjt_actors.codec import decode, encode
from cjt_actors.errors import DecodeError
from cjt_actors.messages import MESSAGE_TYPES, Message, all_message_types

# ------------------------------------------------------------------------------------------
# Strategies for messages, from their field types.


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the field type ``tp``, as a sender could build them."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers()
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)  # finite, -0.0 included
    if tp is str:
        return st.text()
    if tp is Decimal:
        return st.decimals(allow_nan=False, allow_infinity=False)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(tp)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=4).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy_for(a) for a in args))
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a) for a in args))
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and attrs.has(tp):
        return message_of(tp)
    raise NotImplementedError(f"no strategy for field type {tp!r}: extend strategy_for()")


def message_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{a.name: strategy_for(hints[a.name]) for a in attrs.fields(cls)})


def test_every_registered_message_has_a_strategy() -> None:
    """The strategies below cover every registered class (a new field type fails here)."""
    assert all_message_types(), "no registered messages: the codec tests would test nothing"
    for cls in all_message_types():
        message_of(cls).validate()


messages = st.sampled_from(all_message_types()).flatmap(message_of)

# JSON as json.loads returns it (NaN and Infinity included: Python's json accepts them).
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def decodes_or_refuses(payload: object) -> Message | None:
    """decode()'s whole contract on bad input: a message, or DecodeError, nothing else."""
    try:
        return decode(payload)
    except DecodeError:
        return None


# ------------------------------------------------------------------------------------------
# Round trips.


@given(messages)
def test_decode_inverts_encode(message: Message) -> None:
    """(g) decode(encode(m)) == m for every registered message, also through JSON text.

    The codec is the seam a multi-process transport will use: an order event or a
    supervision event must arrive as exactly the value that was sent (same class, same
    fields, money not rounded), whatever the transport does to plain JSON.
    """
    payload = encode(message)
    assert payload["type"] == type(message).__name__
    assert decode(payload) == message
    text = json.dumps(payload, allow_nan=False)  # plain JSON only: no NaN, no Python objects
    again = decode(json.loads(text))
    assert again == message
    assert type(again) is type(message)
    assert encode(again) == payload


# ------------------------------------------------------------------------------------------
# Bad input: DecodeError or a message, never another exception.


@given(json_values)
def test_decode_of_any_json_value_returns_a_message_or_raises_decode_error(value: Any) -> None:
    """(g) decode() of arbitrary JSON never raises KeyError, TypeError, AttributeError...

    A transport hands decode() whatever arrived; a peer on another version, a bug or an
    attacker can send anything. One malformed payload must be refused with DecodeError
    (which the reader logs and skips), not crash the actor that reads the wire.
    """
    result = decodes_or_refuses(value)
    assert result is None or isinstance(result, Message)


@given(
    name=st.sampled_from(sorted(MESSAGE_TYPES)),
    fields=st.dictionaries(st.text(), json_values, max_size=6),
)
def test_decode_of_a_known_type_with_arbitrary_fields_never_crashes(
    name: str, fields: dict[str, Any]
) -> None:
    """The same with a valid ``type``, so the arbitrary fields reach the converter."""
    result = decodes_or_refuses({**fields, "type": name})
    assert result is None or isinstance(result, Message)


def json_type(value: Any) -> str:
    return (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else type(value).__name__
    )


#: One value of each JSON type, small ones first (what a confused peer would send).
other_json = st.one_of(
    st.text(max_size=3),
    st.integers(-2, 2),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=2), max_size=2),
    st.dictionaries(st.text(max_size=2), st.text(max_size=2), max_size=2),
    json_values,
)


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A valid payload with one field dropped, added, or given a value of another JSON type,
    possibly inside a nested message (``RootStopped.steps``)."""
    payload = encode(draw(messages))

    def mutate(obj: dict[str, Any]) -> dict[str, Any]:
        obj = dict(obj)
        nested = [k for k, v in obj.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
        kind = draw(st.sampled_from(["retype", "drop", "add", "nested"]))
        if kind == "nested" and nested:
            key = draw(st.sampled_from(nested))
            items = list(obj[key])
            i = draw(st.integers(0, len(items) - 1))
            items[i] = mutate(items[i])
            obj[key] = items
        elif kind == "drop" and obj:
            del obj[draw(st.sampled_from(sorted(obj)))]  # "type" included
        elif kind == "add":
            obj[draw(st.text().filter(lambda k: k not in obj))] = draw(json_values)
        elif obj:
            key = draw(st.sampled_from(sorted(obj)))
            old = obj[key]
            obj[key] = draw(other_json.filter(lambda v: json_type(v) != json_type(old)))
        return obj

    return mutate(payload)


@given(mutated_payloads())
def test_decode_of_a_mutated_payload_returns_a_message_or_raises_decode_error(
    payload: dict[str, Any],
) -> None:
    """(g) A valid payload with a field dropped, added or of the wrong type: DecodeError.

    These are the realistic failures: a peer one version ahead (an extra field), one behind
    (a missing field), or a bug (a number as a string). Each must be refused cleanly.
    """
    result = decodes_or_refuses(payload)
    assert result is None or isinstance(result, Message)


@example(payload={"type": "SupervisorStarted", "supervisor": "s", "at": 0.0, "children": "ab"})
@given(mutated_payloads())
def test_decode_accepts_only_what_encode_produces(payload: dict[str, Any]) -> None:
    """Whatever decode() accepts, encode() gives back unchanged: the codec never coerces.

    The codec refuses cattrs' coercions ("1" -> 1, 0 -> False) because a wire format that
    guesses turns a peer's bug into a wrong value. A supervisor's child list sent as the
    string "ab" must be refused, not read as the two children "a" and "b".
    """
    result = decodes_or_refuses(payload)
    if result is not None:
        # Every field sent comes back as sent; fields left at their default may be omitted.
        cls = MESSAGE_TYPES[payload["type"]]
        assert without_defaults(cls, encode(result)) == without_defaults(cls, payload)


def without_defaults(cls: type[Any], data: Any) -> Any:
    """``data`` (an encoded ``cls``) without the fields that hold their default value."""
    if not isinstance(data, dict):
        return data
    hints = typing.get_type_hints(cls)
    fields = {a.name: a for a in attrs.fields(cls)}
    out = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is not None and field.default is not attrs.NOTHING:
            default = field.default
            if value == (default.value if isinstance(default, enum.Enum) else default):
                continue
        args = typing.get_args(hints[key]) if field is not None else ()
        if isinstance(value, list) and args and attrs.has(args[0]):
            value = [without_defaults(args[0], item) for item in value]
        out[key] = value
    return out


@example(extra_key=1)
@given(extra_key=st.integers() | st.none() | st.booleans() | st.floats(allow_nan=False))
def test_decode_of_a_dict_with_a_non_string_key_raises_decode_error(extra_key: Any) -> None:
    """decode(payload: object) promises DecodeError for bad input, whatever the transport.

    JSON objects only have string keys, but the codec is meant to sit under any transport;
    a map with an integer key must be refused like any other malformed payload.
    """
    payload: dict[Any, Any] = {
        "type": "SupervisorStopped",
        "supervisor": "s",
        "at": 0.0,
        "reason": "r",
    }
    payload[extra_key] = 1
    with pytest.raises(DecodeError):
        decode(payload)
