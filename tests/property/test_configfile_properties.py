"""Property tests of the config loader, over config classes Hypothesis makes up.

Each generated class is a frozen attrs class whose fields (names from a fixed, well-separated
word list) take the supported types: scalars, enums, literals, arrays, tables, optionals,
``Any``, nested classes and arrays of them, every field with a default. Two properties:

* ``dump_defaults`` then ``loads_toml`` gives back the defaults, equal;
* a key renamed by one character is reported at its path, suggesting the original key.
"""

from __future__ import annotations

import difflib
import enum
import string
import tomllib
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cjt_actors.configfile import ConfigError, ConfigProblem, dump_defaults, loads_toml, structure

# Far enough apart that difflib maps every one-character edit of a name back to it
# (test_the_names_are_far_apart checks this; "papa" is left out because "ppa" fails it).
NAMES = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
EDIT_LETTERS = string.ascii_lowercase + "_"


class Color(enum.StrEnum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


Direction = Literal["up", "down", 7, True]

SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=6),
    int: st.integers(),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
    Decimal: st.decimals(allow_nan=False, allow_infinity=False),
    Color: st.sampled_from(Color),
    Size: st.sampled_from(Size),
    Direction: st.sampled_from(typing.get_args(Direction)),
}
# What a TOML file can hold under an `Any` key, as tomllib gives it back (floats are
# Decimals there, so Python floats are left out).
TOML_VALUES = st.recursive(
    st.booleans()
    | st.integers()
    | st.text(max_size=4)
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)

TypedValues = tuple[Any, st.SearchStrategy[Any]]
# Field types are built at run time; typed Any so that mypy lets them take variables.
TUPLE: Any = tuple
MAPPING: Any = Mapping
OPTIONAL: Any = typing.Optional


@st.composite
def scalar_type(draw: st.DrawFn) -> TypedValues:
    tp = draw(st.sampled_from(list(SCALARS)))
    return tp, SCALARS[tp]


@st.composite
def field_type(draw: st.DrawFn, depth: int) -> tuple[Any, st.SearchStrategy[Any], bool]:
    """A field type, a strategy for its values, and whether its default must be None."""
    kinds = ["scalar", "array", "table", "optional", "any"]
    if depth < 2:
        kinds += ["class", "classes"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("class", "classes"):
        cls, instances = draw(config_class(depth + 1))
        if kind == "class":
            return cls, instances, False
        return TUPLE[cls, ...], st.lists(instances, max_size=2).map(tuple), False
    if kind == "any":
        return Any, TOML_VALUES, False
    tp, values = draw(scalar_type())
    if kind == "array":
        return TUPLE[tp, ...], st.lists(values, max_size=3).map(tuple), False
    if kind == "table":
        return MAPPING[str, tp], st.dictionaries(st.text(max_size=5), values, max_size=3), False
    if kind == "optional":
        # TOML has no null: an optional field is unset by leaving its key out, so its
        # default is None (a value inside an instance may still be None or not).
        return OPTIONAL[tp], st.none() | values, True
    return tp, values, False


@st.composite
def config_class(
    draw: st.DrawFn, depth: int = 0, min_fields: int = 0
) -> tuple[type[Any], st.SearchStrategy[Any]]:
    """A frozen attrs class with defaults for every field, and a strategy for instances."""
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=min_fields, max_size=4))
    fields: dict[str, Any] = {}
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    for name in names:
        tp, values, none_default = draw(field_type(depth))
        default = None if none_default else draw(values)
        fields[name] = attrs.field(type=tp, default=default)
        strategies[name] = values
    cls = attrs.make_class(f"Config{depth}", fields, frozen=True, kw_only=True)
    return cls, st.fixed_dictionaries(strategies).map(lambda kwargs: cls(**kwargs))


def test_the_names_are_far_apart() -> None:
    """The mutation property relies on this: one edit of a name is closest to that name."""
    for name in NAMES:
        for mutated in one_edit_away(name):
            if mutated not in NAMES:
                assert difflib.get_close_matches(mutated, NAMES, n=1) == [name], mutated


def one_edit_away(word: str) -> list[str]:
    inserted = [word[:i] + c + word[i:] for i in range(len(word) + 1) for c in EDIT_LETTERS]
    deleted = [word[:i] + word[i + 1 :] for i in range(len(word))]
    replaced = [word[:i] + c + word[i + 1 :] for i in range(len(word)) for c in EDIT_LETTERS]
    return inserted + deleted + replaced


@given(config_class())
def test_dumped_defaults_load_back_equal(generated: tuple[type[Any], Any]) -> None:
    cls, _ = generated
    text = dump_defaults(cls)
    assert loads_toml(cls, text) == cls(), text


# ------------------------------------------------------------------------------------------
# One key renamed by one character


def key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key  # NAMES and their edits are bare TOML keys


def class_tables(
    cls: type[Any], table: dict[str, Any], path: str
) -> list[tuple[str, dict[str, Any], list[str]]]:
    """Every table of ``table`` that an attrs class reads: (path, the table, its keys)."""
    keys = [field.name for field in attrs.fields(cls)]
    found = [(path, table, keys)]
    for field in attrs.fields(cls):
        value = table.get(field.name)
        origin, args = typing.get_origin(field.type), typing.get_args(field.type)
        if attrs.has(field.type) and isinstance(value, dict):
            found += class_tables(field.type, value, key_path(path, field.name))
        elif origin is tuple and attrs.has(args[0]) and isinstance(value, list):
            for index, item in enumerate(value):
                found += class_tables(args[0], item, f"{key_path(path, field.name)}[{index}]")
    return found


@given(config_class(min_fields=1), st.data())
def test_a_misspelt_key_is_named_with_the_original_suggested(
    generated: tuple[type[Any], Any], data: st.DataObject
) -> None:
    cls, _ = generated
    document = tomllib.loads(dump_defaults(cls), parse_float=Decimal)
    candidates = [
        (path, table, keys, key)
        for path, table, keys in class_tables(cls, document, "")
        for key in table
    ]
    assume(candidates)  # else every key is unset (an optional left out)
    path, table, keys, original = data.draw(st.sampled_from(candidates))
    misspelt = data.draw(
        st.sampled_from([m for m in one_edit_away(original) if m not in keys]), label="misspelt"
    )
    table[misspelt] = table.pop(original)
    with pytest.raises(ConfigError) as caught:
        structure(cls, document, source="mutated.toml")
    expected = ConfigProblem(
        path=key_path(path, misspelt),
        message=f"unknown key {misspelt!r} (did you mean {original!r}?)",
    )
    assert expected in caught.value.problems
    assert f"mutated.toml: {expected.path}: {expected.message}" in str(caught.value).splitlines()
