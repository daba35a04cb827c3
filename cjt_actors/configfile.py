"""Strict TOML configuration files: every mistake found at once, each named by its key path.

A config file is read into a frozen attrs class (:func:`load_toml`, :func:`loads_toml`), or a
table already read is checked against one (:func:`structure`, for nested pieces such as a
strategy's ``params``). Nothing is coerced and nothing is ignored: an unknown key, a missing
required key, a value of the wrong type and a value the class's validators refuse are all
problems, and :class:`ConfigError` lists every one of them, one per line, as
``<source>: <key path>: <problem>``::

    paper.toml: risk.max_postion: unknown key 'max_postion' (did you mean 'max_position'?)
    paper.toml: strategies[1].params.half_spread_bps: expected a decimal number, got bool true

Why a small walker over attrs fields rather than cattrs: here the messages *are* the product.
cattrs can collect errors, but its paths and wording are its own (``@ $.a``), and the
suggestions, the secret redaction and the TOML-specific wording would each need a layer on
top; a small walker, in this one module, says exactly what is meant.

Field types understood: ``str``, ``int`` (not bool), ``float`` (a TOML integer or float,
finite), ``bool``, ``Decimal`` (TOML is parsed with ``parse_float=Decimal``, so ``0.001``
stays exact; decimal strings and integers are taken too), enums (by value, case-sensitive),
``Literal``, ``tuple[X, ...]`` (arrays), ``Mapping[str, X]`` / ``dict[str, X]`` (tables),
``X | None``, nested attrs classes, and ``Any`` (passed through as read). Any other field type
is a programming error (``TypeError``), found before any value is read. TOML has no null: an
optional field is set by giving a value and unset by leaving the key out.

Secrets: a value under a key whose name contains ``secret``, ``private_key``, ``api_key``,
``token`` or ``password`` is never shown in a message, not even inside a validator's message
(it is redacted there).

:func:`dump_defaults` writes a class's defaults as TOML (for docs and ``cjt check-config``);
for a class whose fields all have defaults, :func:`loads_toml` reads it back to an equal value.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import difflib
import enum
import math
import re
import tomllib
import types
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import attrs

from .errors import CjtError, InvalidSpec

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "dump_defaults",
    "load_toml",
    "loads_toml",
    "structure",
]

T = TypeVar("T")

_SECRET_MARKERS: Final = ("secret", "private_key", "api_key", "token", "password")
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
_EXCERPT_CHARS: Final = 40
# A secret this short would mangle a message if replaced, so the message is withheld.
_MIN_REDACTED_SECRET: Final = 4
_UNIONS: Final = (typing.Union, types.UnionType)
_MAPPINGS: Final = (dict, collections.abc.Mapping)
# attrs' stubs describe Factory as a function; at runtime it is a class.
_FACTORY_TYPE: Final[type[Any]] = type(attrs.Factory(dict))


# -- errors -----------------------------------------------------------------------------------


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a config: where (a key path such as ``risk.max_position.BTC-USD``
    or ``strategies[1].params``; "" for the file as a whole) and what."""

    path: str
    message: str

    def render(self, source: str) -> str:
        """The problem as one line: ``<source>: <path>: <message>``."""
        if self.path:
            return f"{source}: {self.path}: {self.message}"
        return f"{source}: {self.message}"


class ConfigError(CjtError):
    """A config file or table cannot be used; the message lists every problem, one per line.

    Attributes:
        source: the file's path (or ``"<string>"``, or what the caller named it).
        problems: every problem found, in the order of the file.
    """

    def __init__(self, *, source: str, problems: Sequence[ConfigProblem]) -> None:
        if not problems:
            raise ValueError("a ConfigError needs at least one problem")
        super().__init__("\n".join(problem.render(source) for problem in problems))
        self.source = source
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)


# -- public API -------------------------------------------------------------------------------


def load_toml(cls: type[T], path: str | Path) -> T:
    """Read the TOML file at ``path`` into ``cls``.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 or not TOML, or does not fit
            ``cls`` (every problem listed).
        TypeError: ``cls`` is not an attrs class, or has a field type this module cannot read.
    """
    _check_class(cls)
    source = str(path)
    # `from None` throughout: the causes add nothing the message lacks, and a decode error's
    # repr would show bytes of the file, which may hold a secret.
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise _error(source, "", f"cannot read the config file: {reason}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text: byte 0x{raw[error.start]:02x} at offset {error.start}"
        raise _error(source, "", message) from None
    return loads_toml(cls, text, source=source)


def loads_toml(cls: type[T], text: str, *, source: str = "<string>") -> T:
    """Parse ``text`` as TOML into ``cls``; ``source`` names it in messages.

    Raises:
        ConfigError: not TOML (with tomllib's line and column), or it does not fit ``cls``.
        TypeError: as :func:`load_toml`.
    """
    _check_class(cls)
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise _error(source, "", _syntax_message(str(error))) from None
    return structure(cls, data, source=source)


def structure(cls: type[T], data: Mapping[str, Any], *, source: str, path: str = "") -> T:
    """Check the table ``data`` (as tomllib returns it) against ``cls`` and build the value.

    ``path`` is where ``data`` sits in its file (``"strategies[0].params"``): it prefixes
    every problem's path.

    Raises:
        ConfigError: every problem found.
        TypeError: as :func:`load_toml`.
    """
    _check_class(cls)
    walker = _Structurer()
    result = walker.value(data, cls, path)
    if walker.problems:
        raise ConfigError(source=source, problems=walker.problems)
    return typing.cast(T, result)


def dump_defaults(cls: type[Any]) -> str:
    """``cls``'s defaults as TOML text.

    Nested attrs values become ``[tables]``, tuples of them ``[[arrays of tables]]``, and
    everything else ``key = value``. A required field, or one whose default is None (TOML has
    no null) or is computed from other fields, is a comment naming what it takes.

    Raises:
        InvalidSpec: a default TOML cannot hold (a NaN or infinite number, a None in an array).
        TypeError: as :func:`load_toml`.
    """
    _check_class(cls)
    lines: list[str] = []
    _write_table(lines, cls, _default_values(cls), ())
    text = "\n".join(lines).strip("\n")
    return text + "\n" if text else ""


# -- fields and supported types ---------------------------------------------------------------


@attrs.frozen
class _Field:
    key: str  # the TOML key, which is also the __init__ keyword (attrs' alias)
    name: str  # the attribute
    type: Any
    default: Any  # attrs.NOTHING when required


# Caches of what depends only on a class; weak, so classes made at run time can go.
_FIELDS: Final[weakref.WeakKeyDictionary[type[Any], Mapping[str, _Field]]] = (
    weakref.WeakKeyDictionary()
)
_CHECKED: Final[weakref.WeakSet[type[Any]]] = weakref.WeakSet()


def _fields(cls: type[Any]) -> Mapping[str, _Field]:
    """The ``__init__`` fields of ``cls`` by TOML key, in declaration order."""
    cached = _FIELDS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    fields: dict[str, _Field] = {}
    for attribute in attrs.fields(cls):
        if attribute.init:
            key = attribute.alias or attribute.name
            tp = hints.get(attribute.name, attribute.type)
            fields[key] = _Field(key=key, name=attribute.name, type=tp, default=attribute.default)
    _FIELDS[cls] = result = types.MappingProxyType(fields)
    return result


def _check_class(cls: type[Any]) -> None:
    """Refuse, before reading anything, a class with a field type no TOML value can fill."""
    if not (isinstance(cls, type) and attrs.has(cls)):
        raise TypeError(f"{cls!r} is not an attrs class")
    if cls not in _CHECKED:
        _check_type(cls, cls.__qualname__, set())
        _CHECKED.add(cls)


def _check_type(tp: Any, where: str, seen: set[type[Any]]) -> None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp in _SCALARS:
        return
    if origin is None and isinstance(tp, type):
        if attrs.has(tp):
            if tp not in seen:
                seen.add(tp)
                for field in _fields(tp).values():
                    _check_type(field.type, f"{tp.__qualname__}.{field.key}", seen)
            return
        if issubclass(tp, enum.Enum) and all(_is_toml_atom(m.value) for m in tp):
            return
    elif origin is Literal and all(_is_toml_atom(arg) for arg in args):
        return
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _check_type(args[0], where, seen)
    elif origin in _MAPPINGS and len(args) == 2 and args[0] is str:
        return _check_type(args[1], where, seen)
    elif origin in _UNIONS and len(args) == 2 and type(None) in args:
        return _check_type(_optional_arm(tp), where, seen)
    raise TypeError(f"{where}: a config field cannot be of type {tp!r}")


def _is_toml_atom(value: object) -> bool:
    return type(value) in (str, int, bool)


def _optional_arm(tp: Any) -> Any:
    (arm,) = (arg for arg in typing.get_args(tp) if arg is not type(None))
    return arm


# -- reading ----------------------------------------------------------------------------------


class _Rejected(Exception):
    """A value does not fit its type.

    ``expected`` says what would, when it is more than the type's own description
    (:func:`_expected`); ``hint`` is appended to the message.
    """

    def __init__(self, expected: str = "", hint: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.hint = hint


def _to_str(value: object) -> str:
    if not isinstance(value, str):
        raise _Rejected()
    return value


def _to_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Rejected()
    return value


def _to_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Rejected()
    return value


def _to_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _Rejected()
    if isinstance(value, Decimal) and not value.is_finite():
        raise _Rejected("a finite number")  # float() of a signalling NaN would raise
    try:
        result = float(value)
    except OverflowError:  # an integer beyond a float's range
        raise _Rejected("a finite number") from None
    if not math.isfinite(result):  # inf, nan, or a decimal beyond a float's range
        raise _Rejected("a finite number")
    return result


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, float):  # only from Python callers: TOML floats arrive as Decimal
        raise _Rejected(hint=" (a binary float is inexact: use a decimal string)")
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _Rejected()
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise _Rejected() from None
    if not result.is_finite():
        raise _Rejected("a finite decimal number")
    return result


_SCALAR_NAMES: Final[Mapping[Any, str]] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    Decimal: "a decimal number",
}
_SCALARS: Final[Mapping[Any, Callable[[object], object]]] = {
    str: _to_str,
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    Decimal: _to_decimal,
}


def _choose(value: object, options: Sequence[object]) -> object:
    """The option equal to ``value`` and of its type (so ``true`` is not ``1``)."""
    for option in options:
        if type(option) is type(value) and option == value:
            return option
    close = _closest(value, [o for o in options if isinstance(o, str)])
    raise _Rejected(hint=f" (did you mean {close!r}?)" if close is not None else "")


class _Structurer:
    """One walk over one table: collects problems, and the secrets it must not repeat."""

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []
        self.secrets: set[str] = set()

    def value(self, value: object, tp: Any, path: str) -> object:
        """``value`` as ``tp``, or ``_INVALID`` after recording why not."""
        secret = _is_secret(path)
        if secret:
            self.secrets.update(_strings_in(value))
        try:
            return self._convert(value, tp, path)
        except _Rejected as rejected:
            expected = rejected.expected or _expected(tp)
            got = _excerpt(value, hide=secret)
            self.problems.append(
                ConfigProblem(path, f"expected {expected}, got {got}{rejected.hint}")
            )
            return _INVALID

    def _convert(self, value: object, tp: Any, path: str) -> object:
        origin = typing.get_origin(tp)
        if tp is Any:
            return value
        if origin is None and isinstance(tp, type):
            if attrs.has(tp):
                return self._attrs_class(value, tp, path)
            if issubclass(tp, enum.Enum):
                return value if isinstance(value, tp) else tp(_choose(value, [*_values(tp)]))
            return _SCALARS[tp](value)
        if origin is Literal:
            return _choose(value, typing.get_args(tp))
        if origin is tuple:
            return self._array(value, typing.get_args(tp)[0], path)
        if origin in _UNIONS:
            return None if value is None else self._convert(value, _optional_arm(tp), path)
        return self._table(value, typing.get_args(tp)[1], path)  # a mapping: see _check_type

    def _array(self, value: object, item_type: Any, path: str) -> object:
        if not isinstance(value, list | tuple):
            raise _Rejected()
        items = [self.value(item, item_type, f"{path}[{i}]") for i, item in enumerate(value)]
        return _INVALID if any(item is _INVALID for item in items) else tuple(items)

    def _table(self, value: object, item_type: Any, path: str) -> object:
        if not isinstance(value, Mapping):
            raise _Rejected()
        result: dict[str, object] = {}
        valid = True
        for key, item in value.items():
            if not isinstance(key, str):  # only from Python callers: TOML keys are strings
                self.problems.append(ConfigProblem(path, f"keys must be strings, got {key!r}"))
                valid = False
                continue
            result[key] = self.value(item, item_type, _key_path(path, key))
            valid = valid and result[key] is not _INVALID
        return result if valid else _INVALID

    def _attrs_class(self, value: object, cls: type[Any], path: str) -> object:
        if not isinstance(value, Mapping):
            raise _Rejected()
        fields = _fields(cls)
        kwargs: dict[str, object] = {}
        valid = True
        for key, item in value.items():  # in the file's order, so problems are too
            field = fields.get(key)
            if field is None:
                self.problems.append(
                    ConfigProblem(_key_path(path, str(key)), _unknown_key(str(key), fields))
                )
                valid = False
                continue
            kwargs[key] = self.value(item, field.type, _key_path(path, key))
            valid = valid and kwargs[key] is not _INVALID
        for key, field in fields.items():
            if field.default is attrs.NOTHING and key not in value:
                self.problems.append(ConfigProblem(_key_path(path, key), "missing required key"))
                valid = False
        if not valid:
            return _INVALID  # its validators would only trip over what is already reported
        try:
            return cls(**kwargs)
        except ValueError as error:  # InvalidSpec included; anything else is a bug: raise
            self.problems.append(ConfigProblem(path, self._redact(_one_line(error))))
            return _INVALID

    def _redact(self, message: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            for form in (repr(secret)[1:-1], secret):  # the longer first
                if form and form in message:
                    if len(secret) < _MIN_REDACTED_SECRET:
                        return "invalid (the message is withheld: it would show a secret)"
                    message = message.replace(form, "<redacted>")
        return message


_INVALID: Final = object()  # a value whose problems are already recorded


def _values(cls: type[enum.Enum]) -> list[object]:
    return [member.value for member in cls]


def _is_secret(path: str) -> bool:
    lowered = path.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def _strings_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings_in(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings_in(item)]
    return []


def _key_path(path: str, key: str) -> str:
    return f"{path}.{_toml_key(key)}" if path else _toml_key(key)


def _closest(word: object, options: Sequence[str]) -> str | None:
    """The option ``word`` most likely misspells, if one is close (case is ignored here)."""
    if not isinstance(word, str):
        return None
    folded = {option.casefold(): option for option in reversed(options)}  # first one wins
    close = difflib.get_close_matches(word.casefold(), list(folded), n=1)
    return folded[close[0]] if close else None


def _unknown_key(key: str, fields: Mapping[str, _Field]) -> str:
    close = _closest(key, list(fields))
    if close is not None:
        return f"unknown key {key!r} (did you mean {close!r}?)"
    if fields:
        return f"unknown key {key!r} (valid keys: {', '.join(fields)})"
    return f"unknown key {key!r} (this table takes no keys)"


def _excerpt(value: object, *, hide: bool) -> str:
    """A short description of a value as the file wrote it: ``bool true``, ``string 'x'``."""
    kind, shown = _describe(value)
    if not shown:
        return kind
    return f"{kind} (value hidden)" if hide else f"{kind} {shown}"


def _describe(value: object) -> tuple[str, str]:
    if isinstance(value, bool):
        return "bool", _show(value)
    if isinstance(value, int):
        return "integer", _cut(str(value))
    if isinstance(value, Decimal | float):
        return "float", _cut(str(value))
    if isinstance(value, str):
        return "string", repr(_cut(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return type(value).__name__, value.isoformat()
    if isinstance(value, list | tuple):
        return f"array of {len(value)} item{'' if len(value) == 1 else 's'}", ""
    if isinstance(value, Mapping):
        return "table", ""
    if value is None:
        return "None", ""
    return type(value).__name__, ""


def _cut(text: str) -> str:
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


def _syntax_message(message: str) -> str:
    # tomllib's messages end with "(at line 3, column 10)" or "(at end of document)".
    match = re.fullmatch(r"(?s)(.*) \((at [^()]*)\)", message)
    if match is None:
        return f"invalid TOML: {message}"
    return f"invalid TOML {match.group(2)}: {match.group(1)}"


def _error(source: str, path: str, message: str) -> ConfigError:
    return ConfigError(source=source, problems=[ConfigProblem(path, message)])


# -- writing ----------------------------------------------------------------------------------

_REQUIRED: Final = "required"
_COMPUTED: Final = "default computed from other fields"


@attrs.frozen
class _Unset:
    """A field :func:`dump_defaults` can only describe: required, or computed."""

    why: str


def _default_values(cls: type[Any]) -> dict[str, object]:
    fields = _fields(cls)
    if all(field.default is not attrs.NOTHING for field in fields.values()):
        return _instance_values(cls())  # factories, converters and all, as the class does
    values: dict[str, object] = {}
    for key, field in fields.items():
        default = field.default
        if default is attrs.NOTHING:
            values[key] = _Unset(_REQUIRED)
        elif isinstance(default, _FACTORY_TYPE):
            values[key] = _Unset(_COMPUTED) if default.takes_self else default.factory()
        else:
            values[key] = default
    return values


def _instance_values(instance: object) -> dict[str, object]:
    fields = _fields(type(instance))
    return {key: getattr(instance, field.name) for key, field in fields.items()}


def _write_table(
    lines: list[str], cls: type[Any], values: Mapping[str, object], where: tuple[str, ...]
) -> None:
    """Keys first, then sub-tables, then arrays of tables: TOML needs that order."""
    tables: list[tuple[str, type[Any], Mapping[str, object]]] = []
    arrays: list[tuple[str, tuple[Any, ...]]] = []
    for key, field in _fields(cls).items():
        value = values[key]
        tp = field.type
        if isinstance(value, _Unset) and isinstance(tp, type) and attrs.has(tp):
            tables.append((key, tp, _default_values(tp)))  # show what the table takes
        elif isinstance(value, _Unset) or value is None:
            why = value.why if isinstance(value, _Unset) else "optional, unset by default"
            lines.append(f"# {_toml_key(key)} = <{_expected(tp)}>  ({why})")
        elif attrs.has(type(value)):
            tables.append((key, type(value), _instance_values(value)))
        elif isinstance(value, tuple) and value and all(attrs.has(type(v)) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_inline(value, _dotted((*where, key)))}")
    for key, table_cls, table_values in tables:
        lines += ["", f"[{_dotted((*where, key))}]"]
        _write_table(lines, table_cls, table_values, (*where, key))
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{_dotted((*where, key))}]]"]
            _write_table(lines, type(item), _instance_values(item), (*where, key))


def _inline(value: object, path: str) -> str:
    if isinstance(value, enum.Enum):
        return _inline(value.value, path)
    if isinstance(value, bool):
        return _show(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)  # "0.001", "1E+3": TOML numbers, read back exactly
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, float | Decimal):
        raise InvalidSpec(f"{path}: {value} cannot be read back from a config file")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping) or attrs.has(type(value)):
        pairs = value if isinstance(value, Mapping) else _instance_values(value)
        if not all(isinstance(k, str) for k in pairs):
            raise InvalidSpec(f"{path}: a TOML table's keys are strings, got {list(pairs)!r}")
        body = ", ".join(
            f"{_toml_key(k)} = {_inline(v, _key_path(path, k))}"
            for k, v in pairs.items()
            if not (v is None and attrs.has(type(value)))  # None: the field's default
        )
        return f"{{ {body} }}" if body else "{}"
    raise InvalidSpec(f"{path}: cannot write {type(value).__name__} {value!r} as TOML")


def _expected(tp: Any) -> str:
    """What a field of type ``tp`` takes, in the words of the error messages."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in _UNIONS:
        return _expected(_optional_arm(tp))
    if origin is Literal:
        return "one of " + ", ".join(_show(arg) for arg in args)
    if origin is tuple:
        return "an array"
    if origin in _MAPPINGS or attrs.has(tp):
        return "a table"
    if tp is Any:
        return "any value"
    if issubclass(tp, enum.Enum):
        return "one of " + ", ".join(_show(v) for v in _values(tp))
    return _SCALAR_NAMES[tp]


_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " " or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _dotted(keys: tuple[str, ...]) -> str:
    return ".".join(_toml_key(key) for key in keys)
