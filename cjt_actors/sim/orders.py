"""The values the engine takes and gives back, shaped so each maps 1:1 onto the wire.

Why these shapes: the ASGI app turns them into Coinbase JSON without deciding anything.
Enum values are the wire strings (``CANCELLED``, ``STOP_DIRECTION_STOP_UP``, ``MAKER``), an
order configuration class carries its wire key (``limit_limit_gtc``) and the wire's field
names, and a rejection carries the exact ``error_response`` fields of a failed
``POST /orders`` (``reference/coinbase-api.md`` §2.5-2.9). Times are epoch seconds (floats);
the app formats them as RFC 3339. Decimals stay Decimals; the app writes them as strings.

Refusals are values, never exceptions: a rejected order is an :class:`OrderRejected`, a failed
cancel is a :class:`CancelResult` with ``success=False``, as on the wire (HTTP 200).
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import ClassVar

import attrs

__all__ = [
    "CancelFailureReason",
    "CancelResult",
    "EditFailureReason",
    "EditRecord",
    "EditResult",
    "FailureKind",
    "FillView",
    "LimitFok",
    "LimitGtc",
    "LimitGtd",
    "Liquidity",
    "MarketIoc",
    "NewOrderFailureReason",
    "OrderAccepted",
    "OrderConfiguration",
    "OrderPreview",
    "OrderRejected",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PlaceOutcome",
    "PreviewFailureReason",
    "RejectReason",
    "Side",
    "SorLimitIoc",
    "StopDirection",
    "StopLimitGtc",
    "StopLimitGtd",
    "TimeInForce",
    "TriggerStatus",
    "UnsupportedConfiguration",
]


# -- enums: the values are the wire strings --------------------------------------------------


class Side(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class StopDirection(enum.StrEnum):
    """Which way the last trade price must move to trigger a stop order."""

    STOP_UP = "STOP_DIRECTION_STOP_UP"  #: triggers when a trade prints at or above the stop
    STOP_DOWN = "STOP_DIRECTION_STOP_DOWN"  #: triggers when a trade prints at or below it


class OrderStatus(enum.StrEnum):
    """Order status as on the wire. A partly filled live order is ``OPEN`` with fills > 0.

    The engine never produces ``PENDING`` (every operation completes synchronously); it is
    here for the app's fault injection (an order whose ack was "lost").
    """

    PENDING = "PENDING"
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self not in (OrderStatus.PENDING, OrderStatus.OPEN)


class TimeInForce(enum.StrEnum):
    GOOD_UNTIL_CANCELLED = "GOOD_UNTIL_CANCELLED"
    GOOD_UNTIL_DATE_TIME = "GOOD_UNTIL_DATE_TIME"
    IMMEDIATE_OR_CANCEL = "IMMEDIATE_OR_CANCEL"
    FILL_OR_KILL = "FILL_OR_KILL"


class OrderType(enum.StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LIMIT = "STOP_LIMIT"


class TriggerStatus(enum.StrEnum):
    INVALID_ORDER_TYPE = "INVALID_ORDER_TYPE"  #: what Coinbase shows for non-stop orders
    STOP_PENDING = "STOP_PENDING"
    STOP_TRIGGERED = "STOP_TRIGGERED"


class RejectReason(enum.StrEnum):
    """``reject_reason`` of an order that was accepted but went straight to ``FAILED``."""

    REJECT_REASON_UNSPECIFIED = "REJECT_REASON_UNSPECIFIED"
    TOO_MANY_OPEN_ORDERS = "TOO_MANY_OPEN_ORDERS"


class Liquidity(enum.StrEnum):
    """A fill's ``liquidity_indicator``."""

    MAKER = "MAKER"
    TAKER = "TAKER"


class NewOrderFailureReason(enum.StrEnum):
    """``error_response.error`` / ``new_order_failure_reason`` of a failed POST /orders."""

    UNKNOWN_FAILURE_REASON = "UNKNOWN_FAILURE_REASON"
    UNSUPPORTED_ORDER_CONFIGURATION = "UNSUPPORTED_ORDER_CONFIGURATION"
    INVALID_SIDE = "INVALID_SIDE"
    INVALID_PRODUCT_ID = "INVALID_PRODUCT_ID"
    INVALID_SIZE_PRECISION = "INVALID_SIZE_PRECISION"
    INVALID_PRICE_PRECISION = "INVALID_PRICE_PRECISION"
    INSUFFICIENT_FUND = "INSUFFICIENT_FUND"
    INVALID_LIMIT_PRICE_POST_ONLY = "INVALID_LIMIT_PRICE_POST_ONLY"
    INVALID_LIMIT_PRICE = "INVALID_LIMIT_PRICE"
    INVALID_NO_LIQUIDITY = "INVALID_NO_LIQUIDITY"
    INVALID_REQUEST = "INVALID_REQUEST"


class PreviewFailureReason(enum.StrEnum):
    """``error_response.preview_failure_reason`` (and edit errors' ``preview_failure_reason``)."""

    UNKNOWN_PREVIEW_FAILURE_REASON = "UNKNOWN_PREVIEW_FAILURE_REASON"
    PREVIEW_INVALID_SIDE = "PREVIEW_INVALID_SIDE"
    PREVIEW_INVALID_ORDER_CONFIG = "PREVIEW_INVALID_ORDER_CONFIG"
    PREVIEW_INVALID_PRODUCT_ID = "PREVIEW_INVALID_PRODUCT_ID"
    PREVIEW_INVALID_SIZE_PRECISION = "PREVIEW_INVALID_SIZE_PRECISION"
    PREVIEW_INVALID_PRICE_PRECISION = "PREVIEW_INVALID_PRICE_PRECISION"
    PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY = "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"
    PREVIEW_INVALID_LIMIT_PRICE = "PREVIEW_INVALID_LIMIT_PRICE"
    PREVIEW_INVALID_NO_LIQUIDITY = "PREVIEW_INVALID_NO_LIQUIDITY"
    PREVIEW_INSUFFICIENT_FUND = "PREVIEW_INSUFFICIENT_FUND"
    PREVIEW_INVALID_STOP_PRICE = "PREVIEW_INVALID_STOP_PRICE"
    PREVIEW_INVALID_STOP_PRICE_PRECISION = "PREVIEW_INVALID_STOP_PRICE_PRECISION"
    PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE = "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
    PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE = "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE"
    PREVIEW_INVALID_BASE_SIZE_TOO_LARGE = "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
    PREVIEW_INVALID_BASE_SIZE_TOO_SMALL = "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
    PREVIEW_INVALID_QUOTE_SIZE_PRECISION = "PREVIEW_INVALID_QUOTE_SIZE_PRECISION"
    PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE = "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE"
    PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL = "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
    PREVIEW_INVALID_END_TIME = "PREVIEW_INVALID_END_TIME"


class CancelFailureReason(enum.StrEnum):
    """A cancel result's ``failure_reason``; ``UNKNOWN_CANCEL_FAILURE_REASON`` on success too."""

    UNKNOWN_CANCEL_FAILURE_REASON = "UNKNOWN_CANCEL_FAILURE_REASON"
    UNKNOWN_CANCEL_ORDER = "UNKNOWN_CANCEL_ORDER"
    DUPLICATE_CANCEL_REQUEST = "DUPLICATE_CANCEL_REQUEST"
    ORDER_IS_FULLY_FILLED = "ORDER_IS_FULLY_FILLED"


class EditFailureReason(enum.StrEnum):
    """An edit error's ``edit_failure_reason``."""

    UNKNOWN_EDIT_ORDER_FAILURE_REASON = "UNKNOWN_EDIT_ORDER_FAILURE_REASON"
    COMMANDER_REJECTED_EDIT_ORDER = "COMMANDER_REJECTED_EDIT_ORDER"
    CANNOT_EDIT_TO_BELOW_FILLED_SIZE = "CANNOT_EDIT_TO_BELOW_FILLED_SIZE"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ONLY_LIMIT_ORDER_EDITS_SUPPORTED = "ONLY_LIMIT_ORDER_EDITS_SUPPORTED"
    INVALID_EDITED_SIZE = "INVALID_EDITED_SIZE"
    INVALID_EDITED_PRICE = "INVALID_EDITED_PRICE"
    EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST = "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"
    ONLY_OPEN_ORDERS_CAN_BE_EDITED = "ONLY_OPEN_ORDERS_CAN_BE_EDITED"


_N = NewOrderFailureReason
_P = PreviewFailureReason


class FailureKind(enum.Enum):
    """Every way the engine (or the app, for what only it can see) refuses a new order.

    Each kind is its wire pair (``error``/``new_order_failure_reason``,
    ``preview_failure_reason``) and a default message. Where Coinbase has no specific
    ``NewOrderFailureReason`` (sizes out of bounds, stop price on the wrong side of the last
    trade, a past end time) the error is ``UNKNOWN_FAILURE_REASON`` and the preview reason
    says what was wrong, as Coinbase's own responses do.
    """

    INVALID_REQUEST = (_N.INVALID_REQUEST, _P.UNKNOWN_PREVIEW_FAILURE_REASON, "Invalid request")
    INVALID_SIDE = (_N.INVALID_SIDE, _P.PREVIEW_INVALID_SIDE, "Invalid order side")
    INVALID_PRODUCT_ID = (
        _N.INVALID_PRODUCT_ID,
        _P.PREVIEW_INVALID_PRODUCT_ID,
        "Invalid product_id",
    )
    UNSUPPORTED_ORDER_CONFIGURATION = (
        _N.UNSUPPORTED_ORDER_CONFIGURATION,
        _P.PREVIEW_INVALID_ORDER_CONFIG,
        "Unsupported order configuration",
    )
    INVALID_SIZE_PRECISION = (
        _N.INVALID_SIZE_PRECISION,
        _P.PREVIEW_INVALID_SIZE_PRECISION,
        "Too many decimals in order size",
    )
    INVALID_QUOTE_SIZE_PRECISION = (
        _N.INVALID_SIZE_PRECISION,
        _P.PREVIEW_INVALID_QUOTE_SIZE_PRECISION,
        "Too many decimals in order quote size",
    )
    INVALID_PRICE_PRECISION = (
        _N.INVALID_PRICE_PRECISION,
        _P.PREVIEW_INVALID_PRICE_PRECISION,
        "Too many decimals in order price",
    )
    INVALID_STOP_PRICE_PRECISION = (
        _N.INVALID_PRICE_PRECISION,
        _P.PREVIEW_INVALID_STOP_PRICE_PRECISION,
        "Too many decimals in order stop price",
    )
    INVALID_LIMIT_PRICE = (
        _N.INVALID_LIMIT_PRICE,
        _P.PREVIEW_INVALID_LIMIT_PRICE,
        "Limit price must be positive",
    )
    INVALID_STOP_PRICE = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_STOP_PRICE,
        "Stop price must be positive",
    )
    STOP_PRICE_ABOVE_LAST_TRADE_PRICE = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE,
        "Stop price must be below the last trade price for a stop-down order",
    )
    STOP_PRICE_BELOW_LAST_TRADE_PRICE = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE,
        "Stop price must be above the last trade price for a stop-up order",
    )
    BASE_SIZE_TOO_SMALL = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_SMALL,
        "Order size is below the product's minimum",
    )
    BASE_SIZE_TOO_LARGE = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_BASE_SIZE_TOO_LARGE,
        "Order size is above the product's maximum",
    )
    QUOTE_SIZE_TOO_SMALL = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL,
        "Order value is below the product's minimum",
    )
    QUOTE_SIZE_TOO_LARGE = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE,
        "Order value is above the product's maximum",
    )
    INVALID_END_TIME = (
        _N.UNKNOWN_FAILURE_REASON,
        _P.PREVIEW_INVALID_END_TIME,
        "End time must be in the future",
    )
    INVALID_LIMIT_PRICE_POST_ONLY = (
        _N.INVALID_LIMIT_PRICE_POST_ONLY,
        _P.PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY,
        "Post-only order would cross the book",
    )
    INVALID_NO_LIQUIDITY = (
        _N.INVALID_NO_LIQUIDITY,
        _P.PREVIEW_INVALID_NO_LIQUIDITY,
        "No liquidity to fill a market order",
    )
    INSUFFICIENT_FUND = (
        _N.INSUFFICIENT_FUND,
        _P.PREVIEW_INSUFFICIENT_FUND,
        "Insufficient balance in source account",
    )

    @property
    def error(self) -> NewOrderFailureReason:
        return self.value[0]

    @property
    def preview_failure_reason(self) -> PreviewFailureReason:
        return self.value[1]

    @property
    def default_message(self) -> str:
        return self.value[2]


# -- order configurations: one class per wire variant -----------------------------------------


@attrs.frozen(kw_only=True)
class MarketIoc:
    """``market_market_ioc``: exactly one of ``quote_size`` (a buy's spend, fees included;
    a sell's gross proceeds) or ``base_size``."""

    WIRE_KEY: ClassVar[str] = "market_market_ioc"
    quote_size: Decimal | None = None
    base_size: Decimal | None = None


@attrs.frozen(kw_only=True)
class SorLimitIoc:
    """``sor_limit_ioc``: fill what crosses now, cancel the rest."""

    WIRE_KEY: ClassVar[str] = "sor_limit_ioc"
    base_size: Decimal
    limit_price: Decimal


@attrs.frozen(kw_only=True)
class LimitGtc:
    """``limit_limit_gtc``: rest until filled or cancelled."""

    WIRE_KEY: ClassVar[str] = "limit_limit_gtc"
    base_size: Decimal
    limit_price: Decimal
    post_only: bool = False


@attrs.frozen(kw_only=True)
class LimitGtd:
    """``limit_limit_gtd``: rest until ``end_time`` (epoch seconds), then expire."""

    WIRE_KEY: ClassVar[str] = "limit_limit_gtd"
    base_size: Decimal
    limit_price: Decimal
    end_time: float
    post_only: bool = False


@attrs.frozen(kw_only=True)
class LimitFok:
    """``limit_limit_fok``: fill completely now or not at all."""

    WIRE_KEY: ClassVar[str] = "limit_limit_fok"
    base_size: Decimal
    limit_price: Decimal


@attrs.frozen(kw_only=True)
class StopLimitGtc:
    """``stop_limit_stop_limit_gtc``: a GTC limit order that enters the book once a trade
    prints at or beyond ``stop_price`` in ``stop_direction``."""

    WIRE_KEY: ClassVar[str] = "stop_limit_stop_limit_gtc"
    base_size: Decimal
    limit_price: Decimal
    stop_price: Decimal
    stop_direction: StopDirection


@attrs.frozen(kw_only=True)
class StopLimitGtd:
    """``stop_limit_stop_limit_gtd``: a stop-limit order that expires at ``end_time``."""

    WIRE_KEY: ClassVar[str] = "stop_limit_stop_limit_gtd"
    base_size: Decimal
    limit_price: Decimal
    stop_price: Decimal
    end_time: float
    stop_direction: StopDirection


@attrs.frozen(kw_only=True)
class UnsupportedConfiguration:
    """A variant the engine does not trade (``trigger_bracket_gtc``...): always refused with
    ``UNSUPPORTED_ORDER_CONFIGURATION``. ``wire_key`` is the key the client sent."""

    wire_key: str


OrderConfiguration = (
    MarketIoc
    | SorLimitIoc
    | LimitGtc
    | LimitGtd
    | LimitFok
    | StopLimitGtc
    | StopLimitGtd
    | UnsupportedConfiguration
)


# -- requests and results -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OrderRequest:
    """A POST /orders body, parsed: who, which idempotency key, what."""

    user_id: str
    client_order_id: str
    product_id: str
    side: Side
    configuration: OrderConfiguration


@attrs.frozen(kw_only=True)
class EditRecord:
    """One accepted edit, as in an order's ``edit_history``."""

    price: Decimal
    size: Decimal
    replace_accept_timestamp: float


@attrs.frozen(kw_only=True)
class OrderView:
    """An order's full current state (GET /orders/historical/{id}, and a user-channel update).

    ``configuration`` is the order as it stands now (an edit changes it). ``sequence`` is the
    order's creation number: unique and increasing, it is a stable cursor for pagination.
    ``leaves_quantity`` is the unfilled base size of a live order, zero once it has ended.
    """

    order_id: str
    client_order_id: str
    user_id: str
    product_id: str
    side: Side
    configuration: OrderConfiguration
    status: OrderStatus
    time_in_force: TimeInForce
    order_type: OrderType
    created_time: float
    updated_time: float
    sequence: int
    filled_size: Decimal
    filled_value: Decimal
    average_filled_price: Decimal
    number_of_fills: int
    total_fees: Decimal
    total_value_after_fees: Decimal
    completion_percentage: Decimal
    leaves_quantity: Decimal
    outstanding_hold_amount: Decimal
    size_in_quote: bool
    size_inclusive_of_fees: bool
    trigger_status: TriggerStatus
    reject_reason: RejectReason
    reject_message: str
    cancel_message: str
    last_fill_time: float | None
    edit_history: tuple[EditRecord, ...]

    @property
    def settled(self) -> bool:
        """True once the order can change no more."""
        return self.status.is_terminal

    @property
    def limit_price(self) -> Decimal | None:
        return getattr(self.configuration, "limit_price", None)

    @property
    def stop_price(self) -> Decimal | None:
        return getattr(self.configuration, "stop_price", None)

    @property
    def base_size(self) -> Decimal | None:
        return getattr(self.configuration, "base_size", None)

    @property
    def quote_size(self) -> Decimal | None:
        return getattr(self.configuration, "quote_size", None)

    @property
    def end_time(self) -> float | None:
        return getattr(self.configuration, "end_time", None)

    @property
    def post_only(self) -> bool:
        return bool(getattr(self.configuration, "post_only", False))


@attrs.frozen(kw_only=True)
class OrderAccepted:
    """POST /orders succeeded (``success: true``). ``duplicate`` is True when the
    ``client_order_id`` had been used before: ``order`` is then the original order, and
    nothing new was placed."""

    success: ClassVar[bool] = True
    order: OrderView
    duplicate: bool = False

    @property
    def order_id(self) -> str:
        return self.order.order_id


@attrs.frozen(kw_only=True)
class OrderRejected:
    """POST /orders failed (HTTP 200, ``success: false``): the ``error_response`` fields."""

    success: ClassVar[bool] = False
    error: NewOrderFailureReason
    message: str
    error_details: str
    preview_failure_reason: PreviewFailureReason
    new_order_failure_reason: NewOrderFailureReason

    @classmethod
    def of(cls, kind: FailureKind, details: str = "") -> OrderRejected:
        """The rejection for ``kind``; ``details`` goes to ``error_details``."""
        return cls(
            error=kind.error,
            message=kind.default_message,
            error_details=details,
            preview_failure_reason=kind.preview_failure_reason,
            new_order_failure_reason=kind.error,
        )


PlaceOutcome = OrderAccepted | OrderRejected


@attrs.frozen(kw_only=True)
class OrderPreview:
    """POST /orders/preview: what the order would cost if it filled completely now.

    The part that crosses the book is priced level by level at the taker rate; any
    remainder at its limit price at the maker rate. ``order_total`` is what a buy pays
    (notional + commission) or a sell receives (notional - commission).
    """

    base_size: Decimal
    quote_size: Decimal
    commission_total: Decimal
    order_total: Decimal
    average_filled_price: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None
    slippage: Decimal


@attrs.frozen(kw_only=True)
class CancelResult:
    """One entry of POST /orders/batch_cancel's ``results``."""

    order_id: str
    success: bool
    failure_reason: CancelFailureReason


@attrs.frozen(kw_only=True)
class EditResult:
    """POST /orders/edit's answer; ``order`` is the edited order's state on success."""

    order_id: str
    success: bool
    edit_failure_reason: EditFailureReason
    preview_failure_reason: PreviewFailureReason
    order: OrderView | None = None


@attrs.frozen(kw_only=True)
class FillView:
    """One fill (GET /orders/historical/fills). ``sequence`` is unique and increasing: a
    stable cursor. ``entry_id`` is unique per fill; the two sides of one trade share
    ``trade_id``."""

    entry_id: str
    trade_id: str
    order_id: str
    user_id: str
    product_id: str
    side: Side
    price: Decimal
    size: Decimal
    commission: Decimal
    liquidity_indicator: Liquidity
    trade_time: float
    sequence: int
    size_in_quote: bool = False
    trade_type: str = "FILL"
