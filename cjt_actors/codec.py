"""Messages to plain JSON types and back: the seam a multi-process transport will use.

Every registered message (:func:`cjt_actors.messages.register`) encodes to a ``dict`` of JSON
types with its class name under ``"type"``; :func:`decode` rebuilds the exact value. Money
travels as decimal strings (never floats, so nothing is rounded on the way), enums as their
values, tuples as lists.

Bad input gets a :class:`~cjt_actors.errors.DecodeError` that says what was wrong and where
(``$.steps[0].status: 'done' is not a valid StepStatus``), never a bare ``KeyError``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import cattrs

from .errors import DecodeError
from .messages import MESSAGE_TYPES, Message

__all__ = ["decode", "encode"]


def _structure_decimal(value: object, _: type) -> Decimal:
    if not isinstance(value, str | int) or isinstance(value, bool):
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


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _structure_decimal)
    # cattrs' defaults coerce ("1" -> 1, 1 -> "1", 0 -> False): a wire format must not.
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
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
