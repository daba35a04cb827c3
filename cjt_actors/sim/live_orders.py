"""An order's live state inside the engine, and how it looks on the wire.

Why apart from the engine: the engine changes an order in many places (fills, holds,
edits, triggers, endings); keeping the state in one slotted class and its single way out
(:meth:`LiveOrder.view`, a frozen :class:`~.orders.OrderView`) in one module means every
field the wire shows is derived in exactly one place, never assembled ad hoc.

A ``LiveOrder`` never leaves the engine; callers only ever see views.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal

from .orders import (
    EditRecord,
    LimitFok,
    LimitGtc,
    LimitGtd,
    MarketIoc,
    OrderConfiguration,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    RejectReason,
    Side,
    SorLimitIoc,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
    TimeInForce,
    TriggerStatus,
)
from .products import ProductSpec, tidy

__all__ = ["RESTING_TYPES", "LiveOrder"]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_PERCENT_QUANTUM = Decimal("0.01")
_AVERAGE_QUANTUM = Decimal("1E-10")
#: For display values only (average price, completion percentage): rounds, never traps.
_ROUND = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_EVEN, traps=[])

_TRAITS: Mapping[type[OrderConfiguration], tuple[TimeInForce, OrderType]] = {
    MarketIoc: (TimeInForce.IMMEDIATE_OR_CANCEL, OrderType.MARKET),
    SorLimitIoc: (TimeInForce.IMMEDIATE_OR_CANCEL, OrderType.LIMIT),
    LimitGtc: (TimeInForce.GOOD_UNTIL_CANCELLED, OrderType.LIMIT),
    LimitGtd: (TimeInForce.GOOD_UNTIL_DATE_TIME, OrderType.LIMIT),
    LimitFok: (TimeInForce.FILL_OR_KILL, OrderType.LIMIT),
    StopLimitGtc: (TimeInForce.GOOD_UNTIL_CANCELLED, OrderType.STOP_LIMIT),
    StopLimitGtd: (TimeInForce.GOOD_UNTIL_DATE_TIME, OrderType.STOP_LIMIT),
}
#: The configurations that may rest in the book (and so count toward the open-order limit).
RESTING_TYPES = (LimitGtc, LimitGtd, StopLimitGtc, StopLimitGtd)


def average_price(value: Decimal, size: Decimal, product: ProductSpec) -> Decimal:
    """``value / size`` for display: on the price grid when that is exact, else 10 decimals."""
    if not size:
        return _ZERO
    average = _ROUND.divide(value, size)
    on_grid = average.quantize(product.price_increment, context=_ROUND)
    if _ROUND.multiply(on_grid, size) == value:
        return on_grid
    return average.quantize(_AVERAGE_QUANTUM, context=_ROUND)


class LiveOrder:
    """An accepted order's mutable state: what the engine updates as it trades."""

    __slots__ = (
        "base_size",
        "cancel_message",
        "client_order_id",
        "config",
        "created_time",
        "edit_history",
        "end_time",
        "filled_size",
        "filled_value",
        "hold",
        "hold_currency",
        "in_book",
        "last_fill_time",
        "limit_price",
        "number_of_fills",
        "order_id",
        "order_type",
        "pending_stop",
        "product",
        "quote_size",
        "reject_message",
        "reject_reason",
        "sequence",
        "side",
        "status",
        "stop_direction",
        "stop_price",
        "time_in_force",
        "total_fees",
        "trigger_status",
        "updated_time",
        "user_id",
    )

    def __init__(
        self,
        *,
        order_id: str,
        request: OrderRequest,
        product: ProductSpec,
        sequence: int,
        limit_price: Decimal | None,
        now: float,
    ) -> None:
        config = request.configuration
        self.order_id = order_id
        self.client_order_id = request.client_order_id
        self.user_id = request.user_id
        self.product = product
        self.side = request.side
        self.config = config
        self.sequence = sequence
        self.created_time = now
        self.updated_time = now
        self.status = OrderStatus.OPEN
        self.time_in_force, self.order_type = _TRAITS[type(config)]
        self.base_size: Decimal | None = getattr(config, "base_size", None)
        self.quote_size: Decimal | None = getattr(config, "quote_size", None)
        #: The limit price on the product's price grid (None for market orders).
        self.limit_price = limit_price
        self.stop_price: Decimal | None = None
        self.stop_direction: StopDirection | None = None
        self.trigger_status = TriggerStatus.INVALID_ORDER_TYPE
        if isinstance(config, StopLimitGtc | StopLimitGtd):
            self.stop_price = config.stop_price
            self.stop_direction = config.stop_direction
            self.trigger_status = TriggerStatus.STOP_PENDING
        self.end_time: float | None = (
            config.end_time if isinstance(config, LimitGtd | StopLimitGtd) else None
        )
        self.filled_size = _ZERO
        self.filled_value = _ZERO
        self.total_fees = _ZERO
        self.number_of_fills = 0
        #: What this order still reserves, in ``hold_currency``.
        self.hold = _ZERO
        self.hold_currency = (
            product.quote_currency if request.side is Side.BUY else product.base_currency
        )
        self.last_fill_time: float | None = None
        self.reject_reason = RejectReason.REJECT_REASON_UNSPECIFIED
        self.reject_message = ""
        self.cancel_message = ""
        self.edit_history: list[EditRecord] = []
        self.in_book = False
        self.pending_stop = False

    @property
    def book_price(self) -> Decimal:
        """The price it rests at (only orders with a limit price ever rest)."""
        if self.limit_price is None:
            raise AssertionError(f"order {self.order_id} has no limit price to rest at")
        return self.limit_price

    @property
    def remaining(self) -> Decimal:
        """Unfilled base size (zero for an order sized in quote)."""
        return _ZERO if self.base_size is None else self.base_size - self.filled_size

    def stop_reached(self, low: Decimal, high: Decimal) -> bool:
        """Did trades printed between ``low`` and ``high`` reach this pending stop?"""
        if self.stop_price is None:
            raise AssertionError(f"order {self.order_id} has no stop price")
        if self.stop_direction is StopDirection.STOP_UP:
            return high >= self.stop_price
        return low <= self.stop_price

    def view(self) -> OrderView:
        """The order's full current state, as GET /orders/historical/{id} shows it."""
        status = self.status
        is_buy = self.side is Side.BUY
        filled_value, fees = self.filled_value, self.total_fees
        if status is OrderStatus.FILLED:
            completion = _HUNDRED
        else:
            if self.base_size is not None:
                whole, done = self.base_size, self.filled_size
            else:
                whole = self.quote_size or _ZERO
                done = _ROUND.add(filled_value, fees) if is_buy else filled_value
            completion = (
                _ROUND.divide(_ROUND.multiply(done, _HUNDRED), whole).quantize(
                    _PERCENT_QUANTUM, rounding=decimal.ROUND_DOWN, context=_ROUND
                )
                if whole
                else _ZERO
            )
        sized_in_quote = self.quote_size is not None
        return OrderView(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            user_id=self.user_id,
            product_id=self.product.product_id,
            side=self.side,
            configuration=self.config,
            status=status,
            time_in_force=self.time_in_force,
            order_type=self.order_type,
            created_time=self.created_time,
            updated_time=self.updated_time,
            sequence=self.sequence,
            filled_size=self.filled_size,
            filled_value=tidy(filled_value),
            average_filled_price=average_price(filled_value, self.filled_size, self.product),
            number_of_fills=self.number_of_fills,
            total_fees=tidy(fees),
            total_value_after_fees=tidy(
                _ROUND.add(filled_value, fees) if is_buy else _ROUND.subtract(filled_value, fees)
            ),
            completion_percentage=completion,
            leaves_quantity=self.remaining if status is OrderStatus.OPEN else _ZERO,
            outstanding_hold_amount=tidy(self.hold),
            size_in_quote=sized_in_quote,
            size_inclusive_of_fees=sized_in_quote and is_buy,
            trigger_status=self.trigger_status,
            reject_reason=self.reject_reason,
            reject_message=self.reject_message,
            cancel_message=self.cancel_message,
            last_fill_time=self.last_fill_time,
            edit_history=tuple(self.edit_history),
        )
