"""Properties of the exchange models: lossless round trips, and no crash on any JSON at all.

The strategies are derived from the models' own type annotations, so a field added to a
model is covered without touching this file.
"""

from __future__ import annotations

import json
import random
import types
import typing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from cjt_actors.errors import ResponseError
from cjt_actors.exchange import models, orders
from cjt_actors.exchange._wire import WireEnum, converter, parse_json_body, to_wire
from cjt_actors.exchange.auth import Credentials
from cjt_actors.exchange.models import RESPONSE_TYPES, parse
from cjt_actors.exchange.orders import (
    CONFIGURATION_TYPES,
    LimitFok,
    LimitGtc,
    LimitGtd,
    LimitIoc,
    MarketIoc,
    OrderAccepted,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderRequest,
    Side,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
    UnrecognizedConfiguration,
)
from cjt_actors.exchange.rest import RestClient

PLACES = 8
DECIMALS = st.decimals(
    allow_nan=False, allow_infinity=False, places=PLACES, min_value=-(10**15), max_value=10**15
)
POSITIVE = st.decimals(
    allow_nan=False,
    allow_infinity=False,
    places=PLACES,
    min_value=Decimal("0.00000001"),
    max_value=10**15,
)
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
IDS = st.text(min_size=1, max_size=12).filter(str.strip)

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.decimals() | st.text(max_size=12)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
PLAIN_JSON = st.recursive(  # what json.loads gives back unchanged: no floats, no Decimals
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)

# -- strategies from annotations -------------------------------------------------------------

CONFIGURATION_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    MarketIoc: st.builds(MarketIoc, quote_size=POSITIVE) | st.builds(MarketIoc, base_size=POSITIVE),
    LimitIoc: st.builds(LimitIoc, base_size=POSITIVE, limit_price=POSITIVE),
    LimitGtc: st.builds(
        LimitGtc, base_size=POSITIVE, limit_price=POSITIVE, post_only=st.booleans()
    ),
    LimitGtd: st.builds(
        LimitGtd, base_size=POSITIVE, limit_price=POSITIVE, end_time=TIMES, post_only=st.booleans()
    ),
    LimitFok: st.builds(LimitFok, base_size=POSITIVE, limit_price=POSITIVE),
    StopLimitGtc: st.builds(
        StopLimitGtc,
        base_size=POSITIVE,
        limit_price=POSITIVE,
        stop_price=POSITIVE,
        stop_direction=st.sampled_from(StopDirection),
    ),
    StopLimitGtd: st.builds(
        StopLimitGtd,
        base_size=POSITIVE,
        limit_price=POSITIVE,
        stop_price=POSITIVE,
        end_time=TIMES,
        stop_direction=st.sampled_from(StopDirection),
    ),
}
assert set(CONFIGURATION_STRATEGIES) == set(CONFIGURATION_TYPES)
CONFIGURATIONS = st.one_of(list(CONFIGURATION_STRATEGIES.values()))
KNOWN_KEYS = {cls.WIRE_KEY for cls in CONFIGURATION_TYPES}
UNRECOGNIZED = st.dictionaries(
    st.text(max_size=20).filter(lambda key: key not in KNOWN_KEYS), PLAIN_JSON, max_size=3
).map(lambda document: UnrecognizedConfiguration(raw=orders._canonical_json(document)))

OVERRIDES: dict[type, st.SearchStrategy[Any]] = {
    **CONFIGURATION_STRATEGIES,
    UnrecognizedConfiguration: UNRECOGNIZED,
}


def enum_values(cls: type[WireEnum]) -> st.SearchStrategy[WireEnum]:
    """Declared members and values the exchange might add later (never "", which is absence)."""
    return st.sampled_from(list(cls)) | st.text(min_size=1, max_size=10).map(cls)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    if tp in OVERRIDES:
        return OVERRIDES[tp]
    if tp is Decimal:
        return DECIMALS
    if tp is datetime:
        return TIMES
    if tp is str:
        return st.text(max_size=8)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=-(2**63), max_value=2**63)
    if isinstance(tp, type) and issubclass(tp, WireEnum):
        return enum_values(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        if set(members) & set(CONFIGURATION_TYPES):
            inner: st.SearchStrategy[Any] = CONFIGURATIONS
            if UnrecognizedConfiguration in members:
                inner = inner | UNRECOGNIZED
        else:
            inner = st.one_of([strategy_for(arg) for arg in members])
        return st.none() | inner if type(None) in args else inner
    if origin is tuple:
        return st.lists(strategy_for(args[0]), max_size=2).map(tuple)
    if attrs.has(tp):
        attrs.resolve_types(tp)
        return st.builds(tp, **{f.name: strategy_for(f.type) for f in attrs.fields(tp)})
    raise AssertionError(f"no strategy for {tp!r}")


OVERRIDES[OrderRequest] = st.builds(
    OrderRequest,
    client_order_id=IDS,
    product_id=IDS,
    side=st.sampled_from(Side),
    order_configuration=CONFIGURATIONS,
    self_trade_prevention_id=st.none() | st.text(max_size=8),
    leverage=st.none() | POSITIVE,
    margin_type=st.none() | enum_values(orders.MarginType),
    retail_portfolio_id=st.none() | st.text(max_size=8),
)

MODEL_TYPES = sorted(
    {
        value
        for module in (models, orders)
        for name in module.__all__
        if isinstance(value := getattr(module, name), type) and attrs.has(value)
    },
    key=lambda cls: cls.__name__,
)


def _no_null_fields(value: object) -> bool:
    if isinstance(value, dict):
        return all(item is not None and _no_null_fields(item) for item in value.values())
    if isinstance(value, list):
        return all(_no_null_fields(item) for item in value if item is not None)
    return True


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", MODEL_TYPES, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_every_model_round_trips_through_the_wire(cls: type[Any], data: st.DataObject) -> None:
    """What we write we read back identically, decimals exact, through real JSON bytes."""
    value = data.draw(strategy_for(cls))
    unstructured = converter.unstructure(value)
    assert converter.structure(unstructured, cls) == value
    assert _no_null_fields(to_wire(value))
    body = json.dumps(unstructured).encode()
    document = parse_json_body(body, method="GET", path="/p", status=200)
    assert parse(document, cls, method="GET", path="/p") == value


# -- any JSON at all -------------------------------------------------------------------------


def _paths(value: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: object) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def check_decodes_or_response_error(payload: object, cls: type[Any]) -> None:
    try:
        result = parse(payload, cls, method="GET", path="/p")
    except ResponseError as error:
        message = str(error)
    else:
        assert isinstance(result, cls)
        return
    assert "GET /p -> 200: unexpected" in message


@pytest.mark.parametrize("cls", [*RESPONSE_TYPES, OrderRequest], ids=lambda cls: cls.__name__)
@given(payload=JSON)
def test_any_json_decodes_or_is_a_response_error(cls: type[Any], payload: object) -> None:
    """Whatever the exchange (or a proxy) sends, the decoder never dies with KeyError/TypeError."""
    check_decodes_or_response_error(payload, cls)


@pytest.mark.parametrize("cls", [*RESPONSE_TYPES, OrderRequest], ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_a_valid_answer_with_one_field_mangled_decodes_or_is_a_response_error(
    cls: type[Any], data: st.DataObject
) -> None:
    """Near misses reach deep into the models: each nested field must fail cleanly too."""
    document = to_wire(data.draw(strategy_for(cls)))
    paths = _paths(document)
    path = data.draw(st.sampled_from(paths))
    check_decodes_or_response_error(_replace(document, path, data.draw(JSON)), cls)


@given(body=st.binary(max_size=64) | JSON.map(lambda v: json.dumps(v, default=str).encode()))
def test_any_body_is_a_json_object_or_a_response_error(body: bytes) -> None:
    """The body parser is the first thing a hostile or broken answer meets."""
    try:
        document = parse_json_body(body, method="GET", path="/p", status=200)
    except ResponseError as error:
        message = str(error)
    else:
        assert isinstance(document, dict)
        return
    assert "GET /p -> 200: " in message


# -- order placement never raises on a 2xx ---------------------------------------------------

CREDENTIALS = Credentials.from_values(
    "organizations/o/apiKeys/k", "uPEi+5RqlRe+Ei3cNhFGRG3qDR6ujTz1xNRHUOIvo4M="
)
REQUEST = OrderRequest(
    client_order_id="cid-p",
    product_id="BTC-USD",
    side=Side.BUY,
    order_configuration=MarketIoc(quote_size=Decimal("10")),
)


@given(body=JSON.map(lambda v: json.dumps(v, default=str).encode()) | st.binary(max_size=32))
def test_any_2xx_answer_to_a_create_is_an_outcome_never_an_exception(body: bytes) -> None:
    """Whatever came back with 200, the caller gets a value; rejected only on success:false."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    async def place() -> object:
        async with RestClient(
            credentials=CREDENTIALS,
            transport=httpx.MockTransport(handler),
            rng=random.Random(0),
            now=lambda: 1_767_225_600.0,
        ) as client:
            return await client.create_order(REQUEST)

    outcome = trio.run(place, clock=trio.testing.MockClock(autojump_threshold=0))
    assert isinstance(outcome, OrderAccepted | OrderRejected | OrderOutcomeUnknown)
    if isinstance(outcome, OrderRejected):
        assert json.loads(body)["success"] is False
