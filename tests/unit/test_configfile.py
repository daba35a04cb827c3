"""The strict TOML config loader: every type, every kind of problem, all of them at once."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

from cjt_actors.configfile import (
    ConfigError,
    ConfigProblem,
    _syntax_message,
    dump_defaults,
    load_toml,
    loads_toml,
    structure,
)
from cjt_actors.errors import CjtError, InvalidSpec

# ------------------------------------------------------------------------------------------
# Classes under test (module level: their string annotations resolve here).


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class FloatEnum(enum.Enum):
    HALF = 0.5


@attrs.frozen(kw_only=True)
class Scalars:
    text: str = "x"
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    price: Decimal = Decimal("1.5")


@attrs.frozen(kw_only=True)
class Choices:
    side: Side = Side.BUY
    level: Level = Level.LOW
    mode: Literal["fast", "slow"] = "fast"
    one: Literal[1, "one"] = 1


@attrs.frozen(kw_only=True)
class Containers:
    names: tuple[str, ...] = ()
    limits: Mapping[str, Decimal] = attrs.Factory(dict)
    counts: dict[str, int] = attrs.Factory(dict)
    maybe: int | None = None
    raw: Any = None


def _positive(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise InvalidSpec(f"{attribute.name} must be > 0, got {value}")


@attrs.frozen(kw_only=True)
class Limits:
    max_position: Mapping[str, Decimal] = attrs.Factory(dict)
    max_order: Decimal = attrs.field(default=Decimal(10), validator=_positive)


@attrs.frozen(kw_only=True)
class Leg:
    name: str
    weight: Decimal = Decimal(1)


@attrs.frozen(kw_only=True)
class Strategy:
    name: str
    params: Mapping[str, Any] = attrs.Factory(dict)
    legs: tuple[Leg, ...] = ()


@attrs.frozen(kw_only=True)
class App:
    title: str = "app"
    risk: Limits = Limits()
    strategies: tuple[Strategy, ...] = ()


@attrs.frozen(kw_only=True)
class Required:
    name: str
    size: int


@attrs.frozen(kw_only=True)
class Empty:
    pass


@attrs.frozen(kw_only=True)
class Span:
    low: int = 0
    high: int = 1

    def __attrs_post_init__(self) -> None:
        if self.low > self.high:
            raise InvalidSpec(f"low {self.low} > high {self.high}")


@attrs.frozen(kw_only=True)
class HasSpan:
    span: Span = Span()


@attrs.frozen(kw_only=True)
class MultiLine:
    value: int = 0

    def __attrs_post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative\n  value\n")
        if self.value == 1:
            raise ValueError


@attrs.frozen(kw_only=True)
class Buggy:
    value: int = 0

    def __attrs_post_init__(self) -> None:
        raise TypeError("a bug, not a config problem")


def _check_key(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not value.startswith("organizations/"):
        raise InvalidSpec(f"api_key_name must start with 'organizations/', got {value!r}")


@attrs.frozen(kw_only=True)
class Credentials:
    api_key_name: str = attrs.field(default="organizations/x", validator=_check_key, repr=False)
    api_secret: str = attrs.field(default="", repr=False)
    mode: Literal["live", "paper"] = "paper"


@attrs.frozen(kw_only=True)
class Secured:
    label: str = ""
    credentials: Credentials = Credentials()

    def __attrs_post_init__(self) -> None:
        if self.label:
            raise InvalidSpec(f"label {self.label!r} vs secret {self.credentials.api_secret!r}")


@attrs.frozen(kw_only=True)
class Tokens:
    tokens: Mapping[str, Any] = attrs.Factory(dict)
    size: int = 0

    def __attrs_post_init__(self) -> None:
        if self.size:
            raise InvalidSpec(f"size {self.size} with {dict(self.tokens)}")


@attrs.frozen(kw_only=True)
class Private:
    _secret_count: int = 0
    derived: int = attrs.field(init=False, default=0)


@attrs.frozen(kw_only=True)
class Node:
    name: str = "n"
    children: tuple[Node, ...] = ()


# ------------------------------------------------------------------------------------------
# Helpers


def problems_of(cls: type[Any], text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        loads_toml(cls, text, source="cfg.toml")
    return [(p.path, p.message) for p in caught.value.problems]


def only_problem(cls: type[Any], text: str) -> tuple[str, str]:
    (problem,) = problems_of(cls, text)
    return problem


# ------------------------------------------------------------------------------------------
# Scalars


def test_scalars_are_read_exactly() -> None:
    text = 'text = "hi"\ncount = -3\nratio = 2\nflag = true\nprice = 0.001\n'
    assert loads_toml(Scalars, text) == Scalars(
        text="hi", count=-3, ratio=2.0, flag=True, price=Decimal("0.001")
    )
    loaded = loads_toml(Scalars, "ratio = 0.1\nprice = 0.10")
    assert type(loaded.ratio) is float
    assert loaded.ratio == 0.1
    assert str(loaded.price) == "0.10"  # exact, trailing zero kept


def test_an_empty_file_gives_the_defaults() -> None:
    assert loads_toml(Scalars, "") == Scalars()


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("text = 5", "text", "expected a string, got integer 5"),
        ("count = true", "count", "expected an integer, got bool true"),
        ("count = 1.5", "count", "expected an integer, got float 1.5"),
        ('count = "1"', "count", "expected an integer, got string '1'"),
        ("ratio = false", "ratio", "expected a number, got bool false"),
        ('ratio = "1"', "ratio", "expected a number, got string '1'"),
        ("ratio = inf", "ratio", "expected a finite number, got float Infinity"),
        ("ratio = nan", "ratio", "expected a finite number, got float NaN"),
        ("ratio = 1e400", "ratio", "expected a finite number, got float 1E+400"),
        ('flag = "yes"', "flag", "expected true or false, got string 'yes'"),
        ("flag = 1", "flag", "expected true or false, got integer 1"),
        ("price = true", "price", "expected a decimal number, got bool true"),
        ('price = "abc"', "price", "expected a decimal number, got string 'abc'"),
        ('price = "NaN"', "price", "expected a finite decimal number, got string 'NaN'"),
        ("price = -inf", "price", "expected a finite decimal number, got float -Infinity"),
        ("price = [1]", "price", "expected a decimal number, got array of 1 item"),
        ("price = {}", "price", "expected a decimal number, got table"),
        (
            "text = 1979-05-27T07:32:00",
            "text",
            "expected a string, got datetime 1979-05-27T07:32:00",
        ),
        ("text = 1979-05-27", "text", "expected a string, got date 1979-05-27"),
        ("text = 07:32:00", "text", "expected a string, got time 07:32:00"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_an_excerpt(
    text: str, path: str, message: str
) -> None:
    assert only_problem(Scalars, text) == (path, message)


def test_decimals_also_come_from_integers_and_strings() -> None:
    assert loads_toml(Scalars, "price = 7").price == Decimal(7)
    assert str(loads_toml(Scalars, 'price = "0.00100"').price) == "0.00100"


def test_python_callers_get_the_same_strictness() -> None:
    """structure() takes data from code too: floats, huge integers, Nones and odd keys."""
    assert structure(Scalars, {"ratio": 0.25}, source="code").ratio == 0.25
    cases: list[tuple[dict[Any, Any], str]] = [
        ({"ratio": 10**400}, "ratio: expected a finite number, got integer 1000000000"),
        ({"ratio": float("nan")}, "ratio: expected a finite number, got float nan"),
        ({"ratio": Decimal("sNaN")}, "ratio: expected a finite number, got float sNaN"),
        ({"price": 0.1}, "price: expected a decimal number, got float 0.1 (a binary float"),
        ({"text": None}, "text: expected a string, got None"),
        ({"text": object()}, "text: expected a string, got object"),
    ]
    for data, start in cases:
        with pytest.raises(ConfigError) as caught:
            structure(Scalars, data, source="code")
        assert str(caught.value).startswith(f"code: {start}")


# ------------------------------------------------------------------------------------------
# Enums and literals


def test_enums_and_literals_are_read_by_value() -> None:
    text = 'side = "sell"\nlevel = 2\nmode = "slow"\none = "one"'
    assert loads_toml(Choices, text) == Choices(
        side=Side.SELL, level=Level.HIGH, mode="slow", one="one"
    )
    assert structure(Choices, {"side": Side.SELL}, source="code").side is Side.SELL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'side = "SELL"',
            "expected one of 'buy', 'sell', got string 'SELL' (did you mean 'sell'?)",
        ),
        ('side = "short"', "expected one of 'buy', 'sell', got string 'short'"),
        ("side = 1", "expected one of 'buy', 'sell', got integer 1"),
        ("level = 3", "expected one of 1, 2, got integer 3"),
        ('mode = "fst"', "expected one of 'fast', 'slow', got string 'fst' (did you mean 'fast'?)"),
        ("one = true", "expected one of 1, 'one', got bool true"),
    ],
)
def test_a_value_that_is_not_an_option_lists_the_options(text: str, message: str) -> None:
    assert only_problem(Choices, text)[1] == message


# ------------------------------------------------------------------------------------------
# Containers


def test_arrays_tables_optionals_and_any() -> None:
    text = """
        names = ["a", "b"]
        maybe = 3
        raw = {x = [1, 2.5], y = "z"}
        [limits]
        BTC-USD = 0.5
        "ETH.USD" = "2"
        [counts]
        a = 1
    """
    loaded = loads_toml(Containers, text)
    assert loaded.names == ("a", "b")
    assert loaded.limits == {"BTC-USD": Decimal("0.5"), "ETH.USD": Decimal(2)}
    assert loaded.counts == {"a": 1}
    assert loaded.maybe == 3
    assert loaded.raw == {"x": [1, Decimal("2.5")], "y": "z"}
    assert loads_toml(Containers, "").maybe is None
    assert structure(Containers, {"maybe": None}, source="code").maybe is None


def test_container_problems_name_the_index_or_key() -> None:
    text = """
        names = ["a", 2, "c", false]
        maybe = "three"
        [limits]
        BTC-USD = true
        "ETH.USD" = "x"
        "" = 1
        [counts]
        a = 1.5
    """
    assert problems_of(Containers, text) == [
        ("names[1]", "expected a string, got integer 2"),
        ("names[3]", "expected a string, got bool false"),
        ("maybe", "expected an integer, got string 'three'"),
        ("limits.BTC-USD", "expected a decimal number, got bool true"),
        ('limits."ETH.USD"', "expected a decimal number, got string 'x'"),
        ("counts.a", "expected an integer, got float 1.5"),
    ]


def test_the_shape_of_a_container_is_checked() -> None:
    assert problems_of(Containers, 'names = "abc"\nlimits = 5\ncounts = [1]') == [
        ("names", "expected an array, got string 'abc'"),
        ("limits", "expected a table, got integer 5"),
        ("counts", "expected a table, got array of 1 item"),
    ]


def test_a_table_key_from_code_must_be_a_string() -> None:
    with pytest.raises(ConfigError) as caught:
        structure(Containers, {"counts": {1: 2, "b": 3}}, source="code")
    assert str(caught.value) == "code: counts: keys must be strings, got 1"


# ------------------------------------------------------------------------------------------
# Nested classes, keys, validators


def test_nested_tables_and_arrays_of_tables() -> None:
    text = """
        title = "t"
        [risk.max_position]
        BTC-USD = 0.5
        [[strategies]]
        name = "mm"
        params = {half_spread_bps = 5, inner = {a = true}}
        [[strategies.legs]]
        name = "one"
        [[strategies]]
        name = "second"
    """
    loaded = loads_toml(App, text)
    assert loaded.risk == Limits(max_position={"BTC-USD": Decimal("0.5")})
    assert loaded.strategies == (
        Strategy(
            name="mm",
            params={"half_spread_bps": 5, "inner": {"a": True}},
            legs=(Leg(name="one"),),
        ),
        Strategy(name="second"),
    )


def test_every_problem_is_reported_in_file_order_with_its_path() -> None:
    text = """
        titel = "t"
        [risk]
        max_postion = {BTC-USD = 1}
        max_order = true
        [risk.max_position]
        ETH-USD = "lots"
        [[strategies]]
        name = "a"
        [[strategies.legs]]
        weight = 2
        [[strategies]]
        nme = "b"
        [wat]
    """
    with pytest.raises(ConfigError) as caught:
        loads_toml(App, text, source="paper.toml")
    assert str(caught.value).splitlines() == [
        "paper.toml: titel: unknown key 'titel' (did you mean 'title'?)",
        "paper.toml: risk.max_postion: unknown key 'max_postion' (did you mean 'max_position'?)",
        "paper.toml: risk.max_order: expected a decimal number, got bool true",
        "paper.toml: risk.max_position.ETH-USD: expected a decimal number, got string 'lots'",
        "paper.toml: strategies[0].legs[0].name: missing required key",
        "paper.toml: strategies[1].nme: unknown key 'nme' (did you mean 'name'?)",
        "paper.toml: strategies[1].name: missing required key",
        "paper.toml: wat: unknown key 'wat' (valid keys: title, risk, strategies)",
    ]
    assert caught.value.source == "paper.toml"
    assert caught.value.problems[0] == ConfigProblem(
        path="titel", message="unknown key 'titel' (did you mean 'title'?)"
    )
    assert isinstance(caught.value, CjtError)


def test_a_table_where_a_nested_class_belongs_must_be_a_table() -> None:
    assert only_problem(App, "risk = 5") == ("risk", "expected a table, got integer 5")
    assert only_problem(App, "strategies = [1]") == (
        "strategies[0]",
        "expected a table, got integer 1",
    )


def test_missing_required_keys_are_all_named() -> None:
    assert problems_of(Required, "") == [
        ("name", "missing required key"),
        ("size", "missing required key"),
    ]


def test_a_suggestion_ignores_case() -> None:
    assert only_problem(App, 'Title = "x"')[1] == "unknown key 'Title' (did you mean 'title'?)"


def test_a_table_without_keys_says_so() -> None:
    assert only_problem(Empty, "x = 1") == ("x", "unknown key 'x' (this table takes no keys)")


def test_a_validator_error_is_reported_at_its_class_path() -> None:
    assert only_problem(App, "[risk]\nmax_order = -1") == ("risk", "max_order must be > 0, got -1")
    assert only_problem(HasSpan, "[span]\nlow = 3") == ("span", "low 3 > high 1")
    with pytest.raises(ConfigError) as caught:
        loads_toml(Span, "low = 3", source="span.toml")
    assert str(caught.value) == "span.toml: low 3 > high 1"  # the top level has no path


def test_a_validator_message_stays_on_one_line() -> None:
    assert only_problem(MultiLine, "value = -1") == ("", "negative; value")
    assert only_problem(MultiLine, "value = 1") == ("", "ValueError")


def test_a_validator_is_not_run_on_a_table_with_problems() -> None:
    # max_order = -1 would trip the validator; the unknown key is the only thing reported.
    assert only_problem(App, "[risk]\nmax_order = -1\nx = 1")[0] == "risk.x"


def test_an_exception_other_than_valueerror_is_a_bug_and_propagates() -> None:
    with pytest.raises(TypeError, match="a bug"):
        loads_toml(Buggy, "")


def test_keys_are_the_init_aliases() -> None:
    assert loads_toml(Private, "secret_count = 2") == Private(secret_count=2)
    assert only_problem(Private, "derived = 1")[1] == (
        "unknown key 'derived' (valid keys: secret_count)"
    )


def test_a_recursive_class_is_supported() -> None:
    text = '[[children]]\nname = "a"\n[[children.children]]\nname = 5'
    assert only_problem(Node, text) == (
        "children[0].children[0].name",
        "expected a string, got integer 5",
    )


def test_structure_prefixes_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        structure(Leg, {"weigth": 1}, source="paper.toml", path="strategies[1].params")
    assert str(caught.value).splitlines() == [
        "paper.toml: strategies[1].params.weigth: unknown key 'weigth' (did you mean 'weight'?)",
        "paper.toml: strategies[1].params.name: missing required key",
    ]
    with pytest.raises(ConfigError, match=r"^p: x: expected a table, got integer 3$"):
        structure(Leg, 3, source="p", path="x")  # type: ignore[arg-type]
    assert structure(Leg, {"name": "a"}, source="p") == Leg(name="a")


# ------------------------------------------------------------------------------------------
# Secrets


def test_a_secret_value_is_never_shown() -> None:
    assert problems_of(Credentials, 'api_secret = 12345678\nmode = "secret-live"') == [
        ("api_secret", "expected a string, got integer (value hidden)"),
        ("mode", "expected one of 'live', 'paper', got string 'secret-live'"),
    ]
    assert only_problem(Credentials, "api_key_name = [1]")[1] == (
        "expected a string, got array of 1 item"
    )
    assert only_problem(Tokens, "tokens = 5")[1] == "expected a table, got integer (value hidden)"


def test_a_secret_is_redacted_from_a_validator_message() -> None:
    text = 'api_key_name = "my-very-secret-name"'
    assert only_problem(Credentials, text) == (
        "",
        "api_key_name must start with 'organizations/', got '<redacted>'",
    )
    nested = 'label = "x"\n[credentials]\napi_secret = "hunter2-but-longer"'
    message = only_problem(Secured, nested)[1]
    assert "hunter2" not in message
    assert message == "label 'x' vs secret '<redacted>'"


def test_a_secret_in_its_escaped_form_is_redacted_too() -> None:
    text = 'label = "x"\n[credentials]\napi_secret = "back\\\\slash"'
    message = only_problem(Secured, text)[1]
    assert "slash" not in message
    assert message == "label 'x' vs secret '<redacted>'"


def test_a_secret_inside_an_any_table_is_redacted() -> None:
    message = only_problem(Tokens, 'size = 1\n[tokens]\nfeed = "abcdefgh"\nn = 2')[1]
    assert message == "size 1 with {'feed': '<redacted>', 'n': 2}"


def test_a_short_secret_withholds_the_whole_message() -> None:
    text = 'label = "x"\n[credentials]\napi_secret = "pw"'
    assert only_problem(Secured, text)[1] == (
        "invalid (the message is withheld: it would show a secret)"
    )


# ------------------------------------------------------------------------------------------
# Files and syntax


def test_load_toml_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "app.toml"
    path.write_text('title = "from file"\n', encoding="utf-8")
    assert load_toml(App, path) == App(title="from file")
    assert load_toml(App, str(path)) == App(title="from file")


def test_problems_in_a_file_are_named_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "app.toml"
    path.write_text("title = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: title: expected a string, got integer 1$"):
        load_toml(App, path)


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_toml(App, missing)
    assert str(caught.value) == f"{missing}: cannot read the config file: No such file or directory"
    assert caught.value.__cause__ is None
    with pytest.raises(ConfigError, match="cannot read the config file: Is a directory"):
        load_toml(App, tmp_path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('title = "café"'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text: byte 0xe9 at offset 12$"):
        load_toml(App, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[risk\nx = 1",
            "invalid TOML at line 1, column 6: Expected ']' at the end of a table declaration",
        ),
        ('title = "a', "invalid TOML at end of document: Unterminated string"),
        ("a = 1\nb = = 2", "invalid TOML at line 2, column 5: Invalid value"),
    ],
)
def test_invalid_toml_says_where(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads_toml(App, text)
    assert caught.value.problems == (ConfigProblem(path="", message=message),)
    assert str(caught.value) == f"<string>: {message}"


def test_a_syntax_message_without_a_position_is_kept_whole() -> None:
    assert _syntax_message("odd") == "invalid TOML: odd"


def test_a_config_error_needs_a_problem() -> None:
    with pytest.raises(ValueError, match="at least one problem"):
        ConfigError(source="x", problems=())


def test_problems_render_with_and_without_a_path() -> None:
    assert ConfigProblem("a.b", "bad").render("f") == "f: a.b: bad"
    assert ConfigProblem("", "bad").render("f") == "f: bad"


# ------------------------------------------------------------------------------------------
# Excerpts


def test_long_values_are_cut_short() -> None:
    _, message = only_problem(Scalars, f'count = "{"x" * 100}"')
    assert message == f"expected an integer, got string '{'x' * 40}…'"
    _, message = only_problem(Scalars, f"text = {'9' * 60}")
    assert message == f"expected a string, got integer {'9' * 40}…"


# ------------------------------------------------------------------------------------------
# Types a config cannot have


@attrs.frozen
class WithList:
    items: list[int]


@attrs.frozen
class WithUnion:
    value: int | str


@attrs.frozen
class WithIntKeys:
    value: dict[int, str]


@attrs.frozen
class WithPair:
    value: tuple[int, int]


@attrs.frozen
class WithFloatEnum:
    value: FloatEnum


@attrs.frozen
class WithFloatLiteral:
    value: Literal[1.5]  # type: ignore[valid-type]


@attrs.frozen
class WithBadNested:
    inner: WithList


@attrs.frozen
class WithObject:
    value: object


@pytest.mark.parametrize(
    ("cls", "where"),
    [
        (WithList, "WithList.items"),
        (WithUnion, "WithUnion.value"),
        (WithIntKeys, "WithIntKeys.value"),
        (WithPair, "WithPair.value"),
        (WithFloatEnum, "WithFloatEnum.value"),
        (WithFloatLiteral, "WithFloatLiteral.value"),
        (WithBadNested, "WithList.items"),
        (WithObject, "WithObject.value"),
    ],
)
def test_an_unsupported_field_type_is_a_type_error_before_reading(
    cls: type[Any], where: str
) -> None:
    for call in (
        lambda: loads_toml(cls, "not even = = toml"),
        lambda: structure(cls, {}, source="x"),
        lambda: dump_defaults(cls),
    ):
        with pytest.raises(TypeError, match=rf"^{where}: a config field cannot be of type"):
            call()


def test_an_untyped_field_is_unsupported() -> None:
    cls = attrs.make_class("Untyped", {"value": attrs.field(default=1)})
    with pytest.raises(TypeError, match=r"Untyped\.value: a config field cannot be of type None"):
        loads_toml(cls, "")


def test_only_attrs_classes_can_be_loaded(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="is not an attrs class"):
        loads_toml(dict, "")
    with pytest.raises(TypeError, match="is not an attrs class"):
        load_toml(int, tmp_path / "never read.toml")


# ------------------------------------------------------------------------------------------
# dump_defaults


@attrs.frozen(kw_only=True)
class Everything:
    text: str = 'quote " backslash \\ tab \t bell \x07 del \x7f é'
    count: int = -7
    ratio: float = 1e16
    flag: bool = True
    price: Decimal = Decimal("0.001")
    big: Decimal = Decimal("1E+3")
    side: Side = Side.SELL
    level: Level = Level.HIGH
    mode: Literal["fast", "slow"] = "slow"
    names: tuple[str, ...] = ("a", "b c")
    limits: Mapping[str, Decimal] = attrs.Factory(lambda: {"BTC-USD": Decimal("0.5")})
    odd_keys: dict[str, int] = attrs.Factory(lambda: {"a.b": 1, "": 2, "ü": 3})
    maybe: int | None = None
    given: int | None = 4
    raw: Any = attrs.Factory(lambda: {"x": [1, "y", Decimal("2.5")], "z": {"w": False}})
    by_name: Mapping[str, Leg] = attrs.Factory(lambda: {"first": Leg(name="f")})
    span: Span = Span(low=-1)
    optional_span: Span | None = None
    legs: tuple[Leg, ...] = (Leg(name="a", weight=Decimal(2)), Leg(name="b"))
    no_legs: tuple[Leg, ...] = ()
    strategies: tuple[Strategy, ...] = (Strategy(name="s", params={"k": 1}, legs=(Leg(name="x"),)),)


def test_dump_defaults_round_trips() -> None:
    text = dump_defaults(Everything)
    assert loads_toml(Everything, text) == Everything()
    assert loads_toml(App, dump_defaults(App)) == App()
    assert loads_toml(Node, dump_defaults(Node)) == Node()


def test_dump_defaults_lays_out_tables_after_keys() -> None:
    assert dump_defaults(App) == (
        'title = "app"\nstrategies = []\n\n[risk]\nmax_position = {}\nmax_order = 10\n'
    )
    text = dump_defaults(Everything)
    assert '\n[[legs]]\nname = "a"\nweight = 2\n' in text
    assert (
        '\n[[strategies]]\nname = "s"\nparams = { k = 1 }\n\n[[strategies.legs]]\nname = "x"'
        in text
    )
    assert "\nno_legs = []\n" in text
    assert "\n[span]\nlow = -1\nhigh = 1\n" in text
    assert 'by_name = { first = { name = "f", weight = 1 } }' in text
    assert 'odd_keys = { "a.b" = 1, "" = 2, "ü" = 3 }' in text
    assert "# maybe = <an integer>  (optional, unset by default)" in text
    assert "# optional_span = <a table>  (optional, unset by default)" in text
    assert "given = 4\n" in text
    assert 'text = "quote \\" backslash \\\\ tab \\t bell \\u0007 del \\u007f é"' in text
    assert "ratio = 1e+16\n" in text
    assert "big = 1E+3\n" in text


def test_dump_defaults_of_an_empty_class_is_empty() -> None:
    assert dump_defaults(Empty) == ""


@attrs.frozen(kw_only=True)
class Documented:
    name: str
    side: Side
    mode: Literal["a", "b"] | None
    leg: Leg
    size: int = 3
    tags: tuple[str, ...] = attrs.Factory(lambda: ("t",))
    double: int = attrs.Factory(lambda self: self.size * 2, takes_self=True)
    limits: Limits = Limits()
    anything: Any = None


def test_dump_defaults_describes_what_it_cannot_fill() -> None:
    assert dump_defaults(Documented) == (
        "# name = <a string>  (required)\n"
        "# side = <one of 'buy', 'sell'>  (required)\n"
        "# mode = <one of 'a', 'b'>  (required)\n"
        "size = 3\n"
        'tags = ["t"]\n'
        "# double = <an integer>  (default computed from other fields)\n"
        "# anything = <any value>  (optional, unset by default)\n"
        "\n"
        "[leg]\n"
        "# name = <a string>  (required)\n"
        "weight = 1\n"
        "\n"
        "[limits]\n"
        "max_position = {}\n"
        "max_order = 10\n"
    )


@attrs.frozen
class NotFinite:
    value: float = float("inf")


@attrs.frozen
class NotFiniteDecimal:
    values: tuple[Decimal, ...] = (Decimal(1), Decimal("NaN"))


@attrs.frozen
class NoneInArray:
    values: tuple[int | None, ...] = (1, None)


def test_dump_defaults_refuses_what_toml_cannot_hold() -> None:
    with pytest.raises(InvalidSpec, match=r"^value: inf cannot be read back"):
        dump_defaults(NotFinite)
    with pytest.raises(InvalidSpec, match=r"^values\[1\]: NaN cannot be read back"):
        dump_defaults(NotFiniteDecimal)
    with pytest.raises(InvalidSpec, match=r"^values\[1\]: cannot write NoneType None as TOML"):
        dump_defaults(NoneInArray)


def test_dump_defaults_of_a_non_toml_value_in_any_is_refused() -> None:
    cls = attrs.make_class("Dated", {"when": attrs.field(type=Any, default=dt.date(2020, 1, 1))})
    with pytest.raises(InvalidSpec, match=r"^when: cannot write date datetime\.date"):
        dump_defaults(cls)
    cls = attrs.make_class("IntKeys", {"raw": attrs.field(type=Any, default={"a": {1: 2}})})
    with pytest.raises(InvalidSpec, match=r"^raw\.a: a TOML table's keys are strings, got \[1\]"):
        dump_defaults(cls)
