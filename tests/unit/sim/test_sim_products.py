"""Products and fees of the simulator: the rules every order is checked against."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.sim.products import (
    DEFAULT_FEES,
    DEFAULT_PRODUCTS,
    FeeSchedule,
    ProductSpec,
    is_multiple,
    tidy,
)

D = Decimal

BTC = DEFAULT_PRODUCTS["BTC-USD"]


def test_default_products_have_coinbase_like_rules() -> None:
    """The default products carry the increments the brief and the real exchange use."""
    assert set(DEFAULT_PRODUCTS) >= {"BTC-USD", "ETH-USD"}
    assert BTC.price_increment == D("0.01")
    assert BTC.base_increment == D("0.00000001")
    assert BTC.base_min_size == D("0.00000001")
    assert BTC.quote_min_size == D("1")
    eth = DEFAULT_PRODUCTS["ETH-USD"]
    assert (eth.base_currency, eth.quote_currency) == ("ETH", "USD")
    assert eth.price_increment == D("0.01")
    assert eth.base_increment == D("0.00000001")


def test_default_products_cannot_be_changed() -> None:
    """A shared default must not be mutated by one engine for all the others."""
    with pytest.raises(TypeError):
        DEFAULT_PRODUCTS["X-Y"] = BTC  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"product_id": ""}, "product_id"),
        ({"base_currency": ""}, "must not be empty"),
        ({"quote_currency": "BTC"}, "both 'BTC'"),
        ({"base_increment": D(0)}, "base_increment"),
        ({"price_increment": D("-0.01")}, "price_increment"),
        ({"quote_max_size": D("NaN")}, "quote_max_size"),
        ({"base_min_size": D("5000")}, "base_min_size 5000 > base_max_size"),
        ({"quote_min_size": D("1E+10")}, "quote_min_size"),
    ],
)
def test_malformed_products_are_refused_with_the_field_named(
    changes: dict[str, object], message: str
) -> None:
    """A product that cannot be traded fails when it is built, saying which field is wrong."""
    with pytest.raises(InvalidSpec, match=message):
        attrs.evolve(BTC, **changes)


@pytest.mark.parametrize(
    ("value", "increment", "expected"),
    [
        (D("0.03"), D("0.01"), True),
        (D("0.035"), D("0.01"), False),
        (D("1.5"), D("0.5"), True),
        (D("1.25"), D("0.5"), False),
        (D("1E+100"), D("0.00000001"), False),  # too large to divide: not a multiple, no crash
        (D("NaN"), D("0.01"), False),
        (D("Infinity"), D("0.01"), False),
    ],
)
def test_is_multiple(value: Decimal, increment: Decimal, expected: bool) -> None:
    """Precision checks say yes only for exact multiples and never raise."""
    assert is_multiple(value, increment) is expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0E-13"), "0"),
        (D("988.14180000"), "988.1418"),
        (D("6E+4"), "60000"),
        (D("60000.00"), "60000"),
        (D("-1.50"), "-1.5"),
        (D("0.00000001"), "1E-8"),
    ],
)
def test_tidy_drops_trailing_zeros_and_positive_exponents(value: Decimal, text: str) -> None:
    """Views show numbers the way a person (and Coinbase) writes them, same value."""
    result = tidy(value)
    assert result == value
    assert str(result) == text
    assert "E+" not in format(result, "f")


def test_fee_schedule_worst_rate_and_validation() -> None:
    """Buy holds reserve the worst rate; a rate outside [0, 1) is refused."""
    assert FeeSchedule(maker_rate=D("0.004"), taker_rate=D("0.006")).worst_rate == D("0.006")
    assert FeeSchedule(maker_rate=D("0.01"), taker_rate=D("0")).worst_rate == D("0.01")
    assert DEFAULT_FEES.maker_rate < DEFAULT_FEES.taker_rate
    for bad in (D("1"), D("-0.001"), D("NaN")):
        with pytest.raises(InvalidSpec, match="maker_rate"):
            FeeSchedule(maker_rate=bad, taker_rate=D("0.01"))


def test_product_spec_is_a_frozen_value() -> None:
    """Products are shared between the app and the engine: nobody may change one in place."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        BTC.base_increment = D(1)  # type: ignore[misc]
    assert isinstance(BTC, ProductSpec)
