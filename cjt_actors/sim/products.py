"""What the simulated exchange trades and what trading costs: products and the fee schedule.

Why a module of its own: the REST layer lists products from these values (GET /products) and
the engine checks every order against the very same values, so the increments and limits a
client reads on the wire can never disagree with the ones it is held to.

All amounts are ``Decimal``: an increment of ``0.00000001`` must be exact, and a float cannot
say whether ``0.3`` is a multiple of ``0.1``.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs

from ..errors import InvalidSpec

__all__ = [
    "DEFAULT_FEES",
    "DEFAULT_PRODUCTS",
    "FeeSchedule",
    "ProductSpec",
    "is_multiple",
    "tidy",
]

_ONE = Decimal(1)
_TIDY = decimal.Context(prec=100, traps=[])


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    """True when ``value`` is an exact whole multiple of ``increment``.

    A value too large for the decimal context to divide (``1E+100`` by ``0.01``) is not
    called a multiple: the caller rejects it as a precision error instead of crashing.
    """
    if not value.is_finite():
        return False
    try:
        return value % increment == 0
    except decimal.InvalidOperation:
        return False


def tidy(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and without an exponent: ``0E-13`` becomes ``0``,
    ``988.14180`` becomes ``988.1418``, ``6E+4`` becomes ``60000``. Same number, so the wire
    strings (``format(value, "f")``) are the ones a person expects."""
    if not value:
        return Decimal(0)
    normal = value.normalize(_TIDY)
    if normal == normal.to_integral_value(context=_TIDY):
        return normal.quantize(_ONE, context=_TIDY)  # 6E+4 -> 60000
    return normal


def _positive(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidSpec(f"{name}: must be a finite Decimal > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ProductSpec:
    """One spot product and its trading rules, named as on the wire (GET /products).

    * sizes (``base_size``) must be whole multiples of ``base_increment`` and lie within
      [``base_min_size``, ``base_max_size``];
    * limit and stop prices must be whole multiples of ``price_increment``;
    * a market buy's ``quote_size`` must be a multiple of ``quote_increment``, and every
      order's notional (size x limit price, or the quote size) must lie within
      [``quote_min_size``, ``quote_max_size``].
    """

    product_id: str
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal

    def __attrs_post_init__(self) -> None:
        where = f"product {self.product_id!r}"
        if not self.product_id:
            raise InvalidSpec("product_id: must not be empty")
        if not self.base_currency or not self.quote_currency:
            raise InvalidSpec(f"{where}: base_currency and quote_currency must not be empty")
        if self.base_currency == self.quote_currency:
            raise InvalidSpec(f"{where}: base and quote currency are both {self.base_currency!r}")
        for name in (
            "base_increment",
            "quote_increment",
            "price_increment",
            "base_min_size",
            "base_max_size",
            "quote_min_size",
            "quote_max_size",
        ):
            _positive(f"{where}: {name}", getattr(self, name))
        if self.base_min_size > self.base_max_size:
            raise InvalidSpec(
                f"{where}: base_min_size {self.base_min_size} > base_max_size {self.base_max_size}"
            )
        if self.quote_min_size > self.quote_max_size:
            raise InvalidSpec(
                f"{where}: quote_min_size {self.quote_min_size} > quote_max_size {self.quote_max_size}"
            )


def _rate(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    """attrs validator: a fee rate, a finite Decimal fraction in [0, 1)."""
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value < 1:
        raise InvalidSpec(f"{attribute.name}: must be a Decimal in [0, 1), got {value!r}")


@attrs.frozen(kw_only=True)
class FeeSchedule:
    """Maker and taker fee rates, as fractions of the notional (``0.006`` is 0.6 %).

    Fees are charged in the quote currency on every fill: ``notional x rate``, exactly, never
    rounded (see :mod:`.engine` for why that is the conservative choice).
    """

    maker_rate: Decimal = attrs.field(validator=_rate)
    taker_rate: Decimal = attrs.field(validator=_rate)

    @property
    def worst_rate(self) -> Decimal:
        """The larger of the two rates: what a buy order's hold reserves for fees."""
        return max(self.maker_rate, self.taker_rate)


#: Coinbase Advanced Trade's entry tier (under $1K of monthly volume): 0.6 % maker, 1.2 % taker.
DEFAULT_FEES = FeeSchedule(maker_rate=Decimal("0.006"), taker_rate=Decimal("0.012"))


def _spot(base: str, quote: str, *, base_max: str, quote_max: str = "150000000") -> ProductSpec:
    return ProductSpec(
        product_id=f"{base}-{quote}",
        base_currency=base,
        quote_currency=quote,
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        price_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
        base_max_size=Decimal(base_max),
        quote_min_size=Decimal("1"),
        quote_max_size=Decimal(quote_max),
    )


#: The products a default engine trades, with limits like Coinbase's own for these pairs.
DEFAULT_PRODUCTS: Mapping[str, ProductSpec] = MappingProxyType(
    {
        "BTC-USD": _spot("BTC", "USD", base_max="3400"),
        "ETH-USD": _spot("ETH", "USD", base_max="38000"),
    }
)
