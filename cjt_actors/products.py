"""What the trading side must know about a product: its increments and size limits.

Why a separate, small value: risk checks orders against these rules, the book converts prices
to ticks with them, and the paper venue rounds fills with them. They come from the venue
(``GET /market/products/{id}``, :meth:`ProductRules.from_product`) so that paper and live
trading check the same numbers the exchange would.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from .errors import InvalidSpec
from .exchange.models import Product

__all__ = ["ProductRules"]


def _positive(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidSpec(f"{attribute.name} must be a positive finite Decimal, got {value!r}")


@attrs.frozen(kw_only=True)
class ProductRules:
    """Increments and limits of one product, in base units (sizes) and quote units (prices)."""

    product_id: str
    base_increment: Decimal = attrs.field(validator=_positive)
    price_increment: Decimal = attrs.field(validator=_positive)
    base_min_size: Decimal = attrs.field(validator=_positive)
    base_max_size: Decimal = attrs.field(validator=_positive)
    quote_min_size: Decimal = attrs.field(validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not self.product_id:
            raise InvalidSpec("product_id must not be empty")
        if self.base_min_size > self.base_max_size:
            raise InvalidSpec(
                f"{self.product_id}: base_min_size {self.base_min_size} > "
                f"base_max_size {self.base_max_size}"
            )

    @classmethod
    def from_product(cls, product: Product) -> ProductRules:
        """The rules of a product as the venue describes it.

        Raises:
            InvalidSpec: the venue left out an increment or a size limit (naming which), or
                the product is disabled for trading.
        """
        missing = [
            name
            for name in ("base_increment", "base_min_size", "base_max_size", "quote_min_size")
            if getattr(product, name) is None
        ]
        price_increment = product.price_increment or product.quote_increment
        if price_increment is None:
            missing.append("price_increment")
        if missing:
            raise InvalidSpec(
                f"product {product.product_id}: the venue did not say {', '.join(missing)}"
            )
        if product.is_disabled or product.trading_disabled:
            raise InvalidSpec(f"product {product.product_id}: trading is disabled at the venue")
        return cls(
            product_id=product.product_id,
            base_increment=_present(product.base_increment),
            price_increment=_present(price_increment),
            base_min_size=_present(product.base_min_size),
            base_max_size=_present(product.base_max_size),
            quote_min_size=_present(product.quote_min_size),
        )


def _present(value: Decimal | None) -> Decimal:
    """Narrow a value already checked to be present (for the type checker)."""
    if value is None:  # pragma: no cover - from_product lists missing values first
        raise AssertionError("checked above")
    return value
