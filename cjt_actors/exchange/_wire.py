"""The JSON conventions of the Coinbase wire, kept in one cattrs converter.

Coinbase sends every price, size and fee as a decimal *string*, enums as UPPER_SNAKE strings,
times as RFC 3339, and adds fields and enum values whenever it likes. The typed results in
:mod:`.models` and :mod:`.orders` only declare fields; the rules for reading and writing them
live here, so every model follows the same ones:

* **Decimals** come from strings (or JSON numbers, read exactly) and go out as plain
  decimal strings (``"0.00000001"``, never ``"1E-8"``, which Coinbase may refuse).
* **Unknown fields** are ignored. **Unknown enum values** are kept, not refused: a
  :class:`WireEnum` builds a pseudo-member for a value it does not know, so a new order
  status added by the exchange reads as ``OrderStatus('NEW_STATUS')`` with ``known`` false.
* **Absence**: ``null`` is the same as a missing field; for optional decimals, times and
  enums the empty string (Coinbase's favourite "no value") is absence too. A field without
  a default is required: a missing identity field or a missing list in a page is an error,
  never an empty default (an order list that silently reads as "no orders" is dangerous).
* **Bad shapes** become a :class:`~cjt_actors.errors.ResponseError` naming the request and
  the JSON path of every problem, never a bare ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import enum
import html
import json
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.cols
import cattrs.gen

from ..errors import ResponseError

__all__ = [
    "WIRE_NAME",
    "WireEnum",
    "body_excerpt",
    "converter",
    "describe",
    "format_decimal",
    "format_time",
    "parse_json_body",
    "structure_response",
    "to_wire",
]

T = TypeVar("T")

#: ``attrs.field(metadata={WIRE_NAME: "epochSeconds"})``: the JSON key, when it differs.
WIRE_NAME = "wire_name"

#: Longest integer string accepted (a sequence number or an epoch in ms is far shorter).
_MAX_INT_DIGITS = 40
#: Largest |exponent| of a decimal read from the wire (1e-40 .. 1e40).
_MAX_DECIMAL_EXPONENT = 40


class WireEnum(enum.StrEnum):
    """A wire enum that keeps values it does not know instead of refusing them.

    ``OrderStatus("SOMETHING_NEW")`` returns a pseudo-member whose ``value`` and ``name`` are
    the raw string and whose :attr:`known` is false; it compares equal to the string, so
    code can still match on it. Iterating the class lists only the declared members.
    """

    @classmethod
    def _missing_(cls, value: object) -> WireEnum | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        """Whether this is a declared member (false for a value the exchange added later)."""
        return type(self).__members__.get(self._name_) is self


# -- describing values in error messages ------------------------------------------------------


def describe(value: object, limit: int = 40) -> str:
    """A short, single-line description of a JSON value for an error message."""
    kind = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        Decimal: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    if isinstance(value, dict | list) or value is None:
        return kind
    text = repr(value) if isinstance(value, str) else str(value)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{kind} {text}"


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


def body_excerpt(content: bytes, limit: int = 100) -> str:
    """One line for an operator: an HTML page's ``<title>``, else the first ``limit`` chars."""
    match = _TITLE.search(content)
    if match:
        text = html.unescape(match.group(1).decode("utf-8", errors="replace"))
    else:
        text = content.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# -- scalar hooks ----------------------------------------------------------------------------


def format_decimal(value: Decimal) -> str:
    """Plain notation, as the exchange writes it: ``Decimal("1E-8")`` -> ``"0.00000001"``."""
    return format(value, "f")


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: ``2024-01-15T10:30:00Z`` (naive values are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _structure_decimal(value: object, _: object = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"expected a decimal string, got {describe(value)}")
    try:
        result = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise ValueError(f"expected a decimal string, got {describe(value)}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite decimal, got {describe(value)}")
    if result and abs(result.adjusted()) > _MAX_DECIMAL_EXPONENT:
        # No price, size or fee is 10^40; such a value is a broken or hostile answer, and
        # formatting or computing with it could take unbounded time and memory.
        raise ValueError(f"decimal out of range: {describe(value)}")
    return result


def _structure_int(value: object, _: object = None) -> int:
    """An integer, from a JSON number or a string of digits (counts, epochs, sequences)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and 0 < len(value) <= _MAX_INT_DIGITS:
        text = value[1:] if value[:1] in "+-" else value
        if text.isascii() and text.isdigit():
            return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise ValueError(f"expected an integer, got {describe(value)}")


def _structure_str(value: object, _: object = None) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {describe(value)}")
    return value


def _structure_bool(value: object, _: object = None) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {describe(value)}")
    return value


def _structure_datetime(value: object, _: object = None) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 time string, got {describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected an RFC 3339 time, got {describe(value)}") from None
    # fromisoformat takes nanoseconds (truncated to microseconds) and 'Z' on 3.11+.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _structure_enum(value: object, cls: type[WireEnum]) -> WireEnum:
    if not isinstance(value, str):
        raise ValueError(f"expected a {cls.__name__} string, got {describe(value)}")
    return cls(value)


# -- container hooks -------------------------------------------------------------------------


def _union_args(tp: object) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _is_blankable_optional(tp: object) -> bool:
    """``X | None`` where the wire's empty string also means "no value"."""
    args = _union_args(tp)
    if len(args) != 2 or type(None) not in args:
        return False
    (inner,) = (arg for arg in args if arg is not type(None))
    return inner in (Decimal, datetime) or (isinstance(inner, type) and issubclass(inner, WireEnum))


def _blankable_optional_factory(tp: Any, conv: cattrs.Converter) -> Callable[[object, Any], Any]:
    (inner,) = (arg for arg in _union_args(tp) if arg is not type(None))
    hook = conv.get_structure_hook(inner)

    def structure(value: object, _: object = None) -> object:
        if value is None or value == "":
            return None
        return hook(value, inner)

    return structure


def _is_homogeneous_tuple(tp: object) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_factory(tp: Any, conv: cattrs.Converter) -> Callable[[object, Any], tuple[Any, ...]]:
    inner = cattrs.cols.homogenous_tuple_structure_factory(tp, conv)

    def structure(value: object, _: object = None) -> tuple[Any, ...]:
        # Without this check a string would be structured as a tuple of its characters.
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected an array, got {describe(value)}")
        result: tuple[Any, ...] = inner(value, tp)
        return result

    return structure


def _renames(cls: type) -> dict[str, Any]:
    return {
        field.name: cattrs.gen.override(rename=field.metadata[WIRE_NAME])
        for field in attrs.fields(cls)
        if WIRE_NAME in field.metadata
    }


def _attrs_structure_factory(cls: type[T], conv: cattrs.Converter) -> Callable[[object, Any], T]:
    inner = cattrs.gen.make_dict_structure_fn(cls, conv, **_renames(cls))

    def structure(value: object, _: object = None) -> T:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, got {describe(value)}")
        # null is absence: the field's default applies, or it is reported missing.
        present = {key: item for key, item in value.items() if item is not None}
        return inner(present, cls)

    return structure


def _attrs_unstructure_factory(cls: type, conv: cattrs.Converter) -> Callable[[Any], Any]:
    return cattrs.gen.make_dict_unstructure_fn(cls, conv, **_renames(cls))


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=True)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(Decimal, format_decimal)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, format_time)
    # cattrs' defaults coerce ("1" -> 1, 1 -> "1", 0 -> False): a wire reader must not.
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    # Class hooks dispatch on the MRO: every WireEnum is a str, so it needs its own.
    conv.register_structure_hook(WireEnum, _structure_enum)
    conv.register_unstructure_hook_func(
        lambda tp: isinstance(tp, type) and issubclass(tp, WireEnum), lambda member: member.value
    )
    conv.register_structure_hook_factory(_is_blankable_optional, _blankable_optional_factory)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_factory)
    conv.register_structure_hook_factory(attrs.has, _attrs_structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, _attrs_unstructure_factory)
    return conv


#: The one converter every exchange model is read and written with.
converter = _make_converter()


# -- entry points ----------------------------------------------------------------------------


def _format_problem(error: BaseException, _: type | None) -> str:
    if isinstance(error, KeyError):
        return "required field missing"
    return str(error) or type(error).__name__


def structure_response(payload: object, cls: type[T], *, method: str, path: str, status: int) -> T:
    """Read ``payload`` (parsed JSON) as a ``cls``.

    Raises:
        ResponseError: the payload does not fit ``cls``; the message names the request and
            the JSON path of each problem (``$.accounts[0].available_balance.value``).
    """
    try:
        return converter.structure(payload, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as error:
        problems = cattrs.transform_error(error, path="$", format_exception=_format_problem)
        shown = "; ".join(problems[:5]) + (
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise ResponseError(
            f"unexpected {cls.__name__} shape: {shown}", method=method, path=path, status=status
        ) from None


def parse_json_body(content: bytes, *, method: str, path: str, status: int) -> dict[str, Any]:
    """The body as a JSON object, numbers read exactly (``Decimal``), ``NaN`` refused.

    Raises:
        ResponseError: not UTF-8 JSON, or not an object at the top level.
    """

    def refuse_constant(name: str) -> object:
        raise ValueError(f"{name} is not a JSON number")

    try:
        document = json.loads(content, parse_float=Decimal, parse_constant=refuse_constant)
    except (ValueError, RecursionError) as error:
        what = "body is not JSON" if isinstance(error, ValueError) else "JSON nested too deeply"
        raise ResponseError(
            what, method=method, path=path, status=status, excerpt=body_excerpt(content)
        ) from None
    if not isinstance(document, dict):
        raise ResponseError(
            f"expected a JSON object, got {describe(document)}",
            method=method,
            path=path,
            status=status,
        )
    return document


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_drop_nulls(item) for item in value]
    return value


def to_wire(value: object) -> Any:
    """``value`` as JSON types with every ``null`` left out (Coinbase refuses unknown nulls)."""
    return _drop_nulls(converter.unstructure(value))
