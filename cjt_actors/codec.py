"""Messages to plain JSON types and back: the seam a multi-process transport will use.

Every registered message (:func:`cjt_actors.messages.register`) encodes to a ``dict`` of JSON
types with its class name under ``"type"``; :func:`decode` rebuilds the exact value. Money
travels as decimal strings (never floats, so nothing is rounded on the way), enums as their
values, tuples as lists.

Bad input gets a :class:`~cjt_actors.errors.DecodeError` that says what was wrong and where
(``$.steps[0].status: 'done' is not a valid StepStatus``), never a bare ``KeyError``.
"""

from __future__ import annotations

import enum
import math
import typing
from decimal import Decimal, InvalidOperation
from typing import Any

import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote

from .errors import DecodeError
from .messages import MESSAGE_TYPES, Message

__all__ = ["decode", "encode"]


def _structure_decimal(value: object, _: type) -> Decimal:
    # Only the string encode() writes: an int would decode, then re-encode differently (the
    # wire format has one spelling per value, so a transport can compare payloads).
    if not isinstance(value, str):
        raise ValueError(f"expected a decimal string, got {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal")
    return result


def _structure_float(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")  # NaN != NaN: no round trip
    return float(value)


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _structure_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _structure_str_enum(value: object, cls: type[enum.StrEnum]) -> enum.StrEnum:
    # Registered for StrEnum itself: str precedes Enum in a StrEnum's MRO, so without this
    # the plain-str hook would win and hand back a bare string instead of the member.
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    members = list(cls)
    if value not in {member.value for member in members}:
        raise ValueError(
            f"{value!r} is not a valid {cls.__name__} (one of {[m.value for m in members]})"
        )
    return cls(value)


def _is_variadic_tuple(cls: Any) -> bool:
    args = typing.get_args(cls)
    return typing.get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)

    def structure_tuple(value: object, cls: Any) -> tuple[Any, ...]:
        # cattrs would turn a string into a tuple of its characters; JSON arrays only.
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        (item_type, _) = typing.get_args(cls)
        items: list[Any] = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                items.append(converter.structure(item, item_type))
            except Exception as error:  # collected, re-raised below with its index
                error.add_note(
                    IterableValidationNote(f"Structuring {cls} @ index {index}", index, item_type)
                )
                errors.append(error)
        if errors:
            raise IterableValidationError(f"While structuring {cls!r}", errors, cls)
        return tuple(items)

    converter.register_structure_hook_func(_is_variadic_tuple, structure_tuple)
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _structure_decimal)
    # cattrs' defaults coerce ("1" -> 1, 1 -> "1", 0 -> False): a wire format must not.
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(enum.StrEnum, _structure_str_enum)
    return converter


_converter = _make_converter()


def encode(message: Message) -> dict[str, Any]:
    """``message`` as a dict of JSON types, with its class name under ``"type"``."""
    name = type(message).__name__
    if MESSAGE_TYPES.get(name) is not type(message):
        raise TypeError(f"{name} is not a registered message")
    payload: dict[str, Any] = _converter.unstructure(message)
    return {"type": name, **payload}


def decode(payload: object) -> Message:
    """Rebuild a message from :func:`encode`'s output.

    Raises:
        DecodeError: not a dict, no or unknown ``type``, a missing or extra field, or a
            field of the wrong type; the message names the field's path.
    """
    if not isinstance(payload, dict):
        raise DecodeError(f"$: expected an object, got {type(payload).__name__}")
    if not all(isinstance(key, str) for key in payload):
        raise DecodeError("$: every key must be a string")
    fields = dict(payload)
    name = fields.pop("type", None)
    if not isinstance(name, str):
        raise DecodeError("$.type: missing or not a string")
    cls = MESSAGE_TYPES.get(name)
    if cls is None:
        raise DecodeError(f"$.type: unknown message type {name!r}")
    try:
        message: Message = _converter.structure(fields, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
        details = (
            cattrs.transform_error(error)
            if isinstance(error, cattrs.BaseValidationError)
            else [str(error)]
        )
        raise DecodeError(f"{name}: " + "; ".join(details)) from error
    return message
