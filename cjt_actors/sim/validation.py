"""The rules a new order (or an edit) must satisfy on its own, before the engine looks at
balances or the book: sizes, prices, increments, bounds, end times, stop prices.

Why a module of its own: these rules are what a client most often trips over (wrong
increment, too small), they must answer with Coinbase's exact reason pairs, and their order
decides which reason a doubly wrong order gets. Here they are pure functions of the product,
the order and two facts about the market (the time, the last trade price), listed once and
in order. The engine adds what needs its state: post-only crossing, liquidity, funds.

Values are checked for sanity (finite, at most 40 digits, magnitude within 1E+-30) before
any arithmetic, so an absurd input is a precision error, never an exception.
"""

from __future__ import annotations

from decimal import Decimal

from .orders import (
    EditFailureReason,
    FailureKind,
    LimitFok,
    LimitGtc,
    LimitGtd,
    MarketIoc,
    OrderRejected,
    PreviewFailureReason,
    SorLimitIoc,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
)
from .products import ProductSpec, is_multiple

__all__ = [
    "LimitConfiguration",
    "base_size_problem",
    "edit_problem",
    "limit_problem",
    "market_problem",
    "on_grid",
    "quote_size_problem",
    "sane",
]

#: Every configuration with a limit price.
LimitConfiguration = SorLimitIoc | LimitGtc | LimitGtd | LimitFok | StopLimitGtc | StopLimitGtd

_MAX_DIGITS = 40
_MAX_MAGNITUDE = 30


def sane(value: Decimal) -> bool:
    """Finite, with few enough digits and a small enough magnitude for exact arithmetic."""
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and len(value.as_tuple().digits) <= _MAX_DIGITS
        and -_MAX_MAGNITUDE <= value.adjusted() <= _MAX_MAGNITUDE
    )


def on_grid(value: Decimal, increment: Decimal) -> bool:
    """Sane and a whole multiple of ``increment``."""
    return sane(value) and is_multiple(value, increment)


def _positive(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value > 0


def base_size_problem(product: ProductSpec, base_size: Decimal) -> OrderRejected | None:
    """Bounds first (a size below the minimum is "too small" even if also too precise)."""
    if not _positive(base_size) or base_size < product.base_min_size:
        return OrderRejected.of(
            FailureKind.BASE_SIZE_TOO_SMALL,
            f"base_size {base_size} is below {product.product_id}'s minimum {product.base_min_size}",
        )
    if base_size > product.base_max_size:
        return OrderRejected.of(
            FailureKind.BASE_SIZE_TOO_LARGE,
            f"base_size {base_size} is above {product.product_id}'s maximum {product.base_max_size}",
        )
    if not on_grid(base_size, product.base_increment):
        return OrderRejected.of(
            FailureKind.INVALID_SIZE_PRECISION,
            f"base_size {base_size} is not a multiple of {product.base_increment}",
        )
    return None


def quote_size_problem(product: ProductSpec, quote_size: Decimal) -> OrderRejected | None:
    """A notional (or a market order's quote size) within the product's quote bounds."""
    if not _positive(quote_size) or quote_size < product.quote_min_size:
        return OrderRejected.of(
            FailureKind.QUOTE_SIZE_TOO_SMALL,
            f"order value {quote_size} is below {product.product_id}'s minimum {product.quote_min_size}",
        )
    if quote_size > product.quote_max_size:
        return OrderRejected.of(
            FailureKind.QUOTE_SIZE_TOO_LARGE,
            f"order value {quote_size} is above {product.product_id}'s maximum {product.quote_max_size}",
        )
    return None


def market_problem(product: ProductSpec, config: MarketIoc) -> OrderRejected | None:
    """Exactly one size, within bounds and on its grid."""
    if (config.quote_size is None) == (config.base_size is None):
        return OrderRejected.of(
            FailureKind.UNSUPPORTED_ORDER_CONFIGURATION,
            "market_market_ioc needs exactly one of quote_size and base_size",
        )
    if config.base_size is not None:
        return base_size_problem(product, config.base_size)
    quote_size = config.quote_size
    if quote_size is None:  # pragma: no cover - excluded by the exactly-one check
        raise AssertionError("market order without a size")
    problem = quote_size_problem(product, quote_size)
    if problem is None and not on_grid(quote_size, product.quote_increment):
        problem = OrderRejected.of(
            FailureKind.INVALID_QUOTE_SIZE_PRECISION,
            f"quote_size {quote_size} is not a multiple of {product.quote_increment}",
        )
    return problem


def limit_problem(
    product: ProductSpec, config: LimitConfiguration, now: float, last_price: Decimal | None
) -> OrderRejected | None:
    """Size, then price (positive, on the grid), then notional, then stop, then end time."""
    problem = base_size_problem(product, config.base_size)
    if problem is not None:
        return problem
    limit_price = config.limit_price
    if not _positive(limit_price):
        return OrderRejected.of(
            FailureKind.INVALID_LIMIT_PRICE, f"limit_price {limit_price} must be positive"
        )
    if not on_grid(limit_price, product.price_increment):
        return OrderRejected.of(
            FailureKind.INVALID_PRICE_PRECISION,
            f"limit_price {limit_price} is not a multiple of {product.price_increment}",
        )
    problem = quote_size_problem(product, config.base_size * limit_price)
    if problem is not None:
        return problem
    if isinstance(config, StopLimitGtc | StopLimitGtd):
        problem = _stop_problem(product, config, last_price)
        if problem is not None:
            return problem
    if isinstance(config, LimitGtd | StopLimitGtd) and not config.end_time > now:
        return OrderRejected.of(
            FailureKind.INVALID_END_TIME, f"end_time {config.end_time} is not after {now}"
        )
    return None


def _stop_problem(
    product: ProductSpec, config: StopLimitGtc | StopLimitGtd, last_price: Decimal | None
) -> OrderRejected | None:
    """A positive stop on the grid, on the side of the last trade that it waits for."""
    stop = config.stop_price
    if not _positive(stop):
        return OrderRejected.of(
            FailureKind.INVALID_STOP_PRICE, f"stop_price {stop} must be positive"
        )
    if not on_grid(stop, product.price_increment):
        return OrderRejected.of(
            FailureKind.INVALID_STOP_PRICE_PRECISION,
            f"stop_price {stop} is not a multiple of {product.price_increment}",
        )
    if last_price is None:
        return None
    if config.stop_direction is StopDirection.STOP_UP and stop <= last_price:
        return OrderRejected.of(
            FailureKind.STOP_PRICE_BELOW_LAST_TRADE_PRICE,
            f"stop-up stop_price {stop} is not above the last trade price {last_price}",
        )
    if config.stop_direction is StopDirection.STOP_DOWN and stop >= last_price:
        return OrderRejected.of(
            FailureKind.STOP_PRICE_ABOVE_LAST_TRADE_PRICE,
            f"stop-down stop_price {stop} is not below the last trade price {last_price}",
        )
    return None


def edit_problem(
    product: ProductSpec, price: Decimal, size: Decimal
) -> tuple[EditFailureReason, PreviewFailureReason] | None:
    """Is (price, size) a valid limit order on its own? The edit's (edit, preview) reasons."""
    preview = PreviewFailureReason
    if not _positive(price):
        return EditFailureReason.INVALID_EDITED_PRICE, preview.PREVIEW_INVALID_LIMIT_PRICE
    if not on_grid(price, product.price_increment):
        return EditFailureReason.INVALID_EDITED_PRICE, preview.PREVIEW_INVALID_PRICE_PRECISION
    problem = base_size_problem(product, size) or quote_size_problem(product, size * price)
    if problem is not None:
        return EditFailureReason.INVALID_EDITED_SIZE, problem.preview_failure_reason
    return None
