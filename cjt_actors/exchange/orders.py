"""What an order placement sends, and the three things it can come back as.

The request side: one class per ``order_configuration`` variant Coinbase accepts, each
serialising (:func:`~._wire.to_wire`) to exactly the wire JSON (decimals as plain strings,
no ``null``\\ s, ``post_only`` always present on GTC/GTD limits as the SDK sends it), and
:class:`OrderRequest`, the whole ``POST /orders`` body. Values are checked when built
(positive finite decimals, an aware ``end_time``, one market size), so a malformed order
fails in the caller, not at the exchange.

The result side: a placement is :class:`OrderAccepted`, :class:`OrderRejected` (only on the
exchange's explicit ``success: false``) or :class:`OrderOutcomeUnknown` (the request may
have reached the exchange but no usable answer came back). These are values, not
exceptions, because "maybe placed" must never be mistaken for "not placed": the caller
reconciles an unknown outcome by ``client_order_id``, which is also Coinbase's
idempotency key (re-sending it never creates a second order).

Echoed configurations (``Order.order_configuration``) are read with the same classes; a
variant this module does not model (brackets, TWAP, whatever comes next) or one whose
fields do not fit is kept as :class:`UnrecognizedConfiguration` instead of failing the
whole order.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeAlias

import attrs
import cattrs

from ..errors import InvalidSpec
from ._wire import WireEnum, converter, describe, format_decimal

__all__ = [
    "CONFIGURATION_TYPES",
    "CreateOrderError",
    "CreateOrderOutcome",
    "CreateOrderResponse",
    "CreateOrderSuccess",
    "LimitFok",
    "LimitGtc",
    "LimitGtd",
    "LimitIoc",
    "MarginType",
    "MarketIoc",
    "NewOrderFailureReason",
    "OrderAccepted",
    "OrderConfiguration",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderRequest",
    "PreviewFailureReason",
    "Side",
    "StopDirection",
    "StopLimitGtc",
    "StopLimitGtd",
    "UnrecognizedConfiguration",
    "outcome_of",
]


class Side(WireEnum):
    BUY = "BUY"
    SELL = "SELL"


class StopDirection(WireEnum):
    STOP_DIRECTION_STOP_UP = "STOP_DIRECTION_STOP_UP"
    STOP_DIRECTION_STOP_DOWN = "STOP_DIRECTION_STOP_DOWN"


class MarginType(WireEnum):
    CROSS = "CROSS"
    ISOLATED = "ISOLATED"


class NewOrderFailureReason(WireEnum):
    """``error_response.new_order_failure_reason`` (list from third-party transcriptions)."""

    UNKNOWN_FAILURE_REASON = "UNKNOWN_FAILURE_REASON"
    UNSUPPORTED_ORDER_CONFIGURATION = "UNSUPPORTED_ORDER_CONFIGURATION"
    INVALID_SIDE = "INVALID_SIDE"
    INVALID_PRODUCT_ID = "INVALID_PRODUCT_ID"
    INVALID_SIZE_PRECISION = "INVALID_SIZE_PRECISION"
    INVALID_PRICE_PRECISION = "INVALID_PRICE_PRECISION"
    INSUFFICIENT_FUND = "INSUFFICIENT_FUND"
    INVALID_LEDGER_BALANCE = "INVALID_LEDGER_BALANCE"
    ORDER_ENTRY_DISABLED = "ORDER_ENTRY_DISABLED"
    INELIGIBLE_PAIR = "INELIGIBLE_PAIR"
    INVALID_LIMIT_PRICE_POST_ONLY = "INVALID_LIMIT_PRICE_POST_ONLY"
    INVALID_LIMIT_PRICE = "INVALID_LIMIT_PRICE"
    INVALID_NO_LIQUIDITY = "INVALID_NO_LIQUIDITY"
    INVALID_REQUEST = "INVALID_REQUEST"
    COMMANDER_REJECTED_NEW_ORDER = "COMMANDER_REJECTED_NEW_ORDER"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    IN_LIQUIDATION = "IN_LIQUIDATION"
    INVALID_MARGIN_TYPE = "INVALID_MARGIN_TYPE"
    INVALID_LEVERAGE = "INVALID_LEVERAGE"
    UNTRADABLE_PRODUCT = "UNTRADABLE_PRODUCT"
    INVALID_FCM_TRADING_SESSION = "INVALID_FCM_TRADING_SESSION"
    GEOFENCING_RESTRICTION = "GEOFENCING_RESTRICTION"


class PreviewFailureReason(WireEnum):
    """``preview_failure_reason`` and preview ``errs[]`` (partial list, third-party)."""

    UNKNOWN_PREVIEW_FAILURE_REASON = "UNKNOWN_PREVIEW_FAILURE_REASON"
    PREVIEW_MISSING_COMMISSION_RATE = "PREVIEW_MISSING_COMMISSION_RATE"
    PREVIEW_INVALID_SIDE = "PREVIEW_INVALID_SIDE"
    PREVIEW_INVALID_ORDER_CONFIG = "PREVIEW_INVALID_ORDER_CONFIG"
    PREVIEW_INVALID_PRODUCT_ID = "PREVIEW_INVALID_PRODUCT_ID"
    PREVIEW_INVALID_SIZE_PRECISION = "PREVIEW_INVALID_SIZE_PRECISION"
    PREVIEW_INVALID_PRICE_PRECISION = "PREVIEW_INVALID_PRICE_PRECISION"
    PREVIEW_MISSING_PRODUCT_PRICE_BOOK = "PREVIEW_MISSING_PRODUCT_PRICE_BOOK"
    PREVIEW_INVALID_LEDGER_BALANCE = "PREVIEW_INVALID_LEDGER_BALANCE"
    PREVIEW_INSUFFICIENT_LEDGER_BALANCE = "PREVIEW_INSUFFICIENT_LEDGER_BALANCE"
    PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY = "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"
    PREVIEW_INVALID_LIMIT_PRICE = "PREVIEW_INVALID_LIMIT_PRICE"
    PREVIEW_INVALID_NO_LIQUIDITY = "PREVIEW_INVALID_NO_LIQUIDITY"
    PREVIEW_INSUFFICIENT_FUND = "PREVIEW_INSUFFICIENT_FUND"
    PREVIEW_INVALID_COMMISSION_CONFIGURATION = "PREVIEW_INVALID_COMMISSION_CONFIGURATION"
    PREVIEW_INVALID_STOP_PRICE = "PREVIEW_INVALID_STOP_PRICE"
    PREVIEW_INVALID_BASE_SIZE_TOO_LARGE = "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
    PREVIEW_INVALID_BASE_SIZE_TOO_SMALL = "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
    PREVIEW_INVALID_QUOTE_SIZE_PRECISION = "PREVIEW_INVALID_QUOTE_SIZE_PRECISION"
    PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE = "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE"
    PREVIEW_INVALID_PRICE_TOO_LARGE = "PREVIEW_INVALID_PRICE_TOO_LARGE"
    PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL = "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"


# -- validators ------------------------------------------------------------------------------


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a finite Decimal > 0 (a float would already have lost precision)."""
    if not isinstance(value, Decimal):
        raise InvalidSpec(f"{attribute.name}: must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise InvalidSpec(f"{attribute.name}: must be a finite decimal > 0, got {value}")


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidSpec(f"{attribute.name}: must be a timezone-aware datetime, got {value!r}")


def _known(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, WireEnum) or not value.known:
        raise InvalidSpec(f"{attribute.name}: {value!r} is not a value the exchange accepts")


def _non_empty(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSpec(f"{attribute.name}: must be a non-empty string, got {value!r}")


# -- order configurations --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class MarketIoc:
    """``market_market_ioc``: a market order; exactly one of ``quote_size`` / ``base_size``.

    Coinbase usually wants ``quote_size`` for a BUY (spend this much) and ``base_size`` for a
    SELL (sell this much).
    """

    WIRE_KEY: ClassVar[str] = "market_market_ioc"
    quote_size: Decimal | None = attrs.field(default=None, validator=_optional_positive)
    base_size: Decimal | None = attrs.field(default=None, validator=_optional_positive)

    def __attrs_post_init__(self) -> None:
        if (self.quote_size is None) == (self.base_size is None):
            raise InvalidSpec("market_market_ioc: give exactly one of quote_size or base_size")


@attrs.frozen(kw_only=True)
class LimitIoc:
    """``sor_limit_ioc``: limit, immediate-or-cancel (smart order routing)."""

    WIRE_KEY: ClassVar[str] = "sor_limit_ioc"
    base_size: Decimal = attrs.field(validator=_positive)
    limit_price: Decimal = attrs.field(validator=_positive)


@attrs.frozen(kw_only=True)
class LimitGtc:
    """``limit_limit_gtc``: limit, good until cancelled; ``post_only`` makes it maker-only."""

    WIRE_KEY: ClassVar[str] = "limit_limit_gtc"
    base_size: Decimal = attrs.field(validator=_positive)
    limit_price: Decimal = attrs.field(validator=_positive)
    post_only: bool = False


@attrs.frozen(kw_only=True)
class LimitGtd:
    """``limit_limit_gtd``: limit, good until ``end_time``."""

    WIRE_KEY: ClassVar[str] = "limit_limit_gtd"
    base_size: Decimal = attrs.field(validator=_positive)
    limit_price: Decimal = attrs.field(validator=_positive)
    end_time: datetime = attrs.field(validator=_aware)
    post_only: bool = False


@attrs.frozen(kw_only=True)
class LimitFok:
    """``limit_limit_fok``: limit, fill-or-kill."""

    WIRE_KEY: ClassVar[str] = "limit_limit_fok"
    base_size: Decimal = attrs.field(validator=_positive)
    limit_price: Decimal = attrs.field(validator=_positive)


@attrs.frozen(kw_only=True)
class StopLimitGtc:
    """``stop_limit_stop_limit_gtc``: a limit order placed once the price crosses ``stop_price``."""

    WIRE_KEY: ClassVar[str] = "stop_limit_stop_limit_gtc"
    base_size: Decimal = attrs.field(validator=_positive)
    limit_price: Decimal = attrs.field(validator=_positive)
    stop_price: Decimal = attrs.field(validator=_positive)
    stop_direction: StopDirection = attrs.field(validator=_known)


@attrs.frozen(kw_only=True)
class StopLimitGtd:
    """``stop_limit_stop_limit_gtd``: a stop-limit good until ``end_time``."""

    WIRE_KEY: ClassVar[str] = "stop_limit_stop_limit_gtd"
    base_size: Decimal = attrs.field(validator=_positive)
    limit_price: Decimal = attrs.field(validator=_positive)
    stop_price: Decimal = attrs.field(validator=_positive)
    end_time: datetime = attrs.field(validator=_aware)
    stop_direction: StopDirection = attrs.field(validator=_known)


OrderConfiguration: TypeAlias = (
    MarketIoc | LimitIoc | LimitGtc | LimitGtd | LimitFok | StopLimitGtc | StopLimitGtd
)

#: Every variant this module can send, in the order of the reference's table.
CONFIGURATION_TYPES: tuple[type[OrderConfiguration], ...] = typing.get_args(OrderConfiguration)
_BY_KEY: dict[str, type[OrderConfiguration]] = {cls.WIRE_KEY: cls for cls in CONFIGURATION_TYPES}


def _canonical_json(value: object) -> str:
    # Parsed JSON holds only JSON types and Decimal (numbers are read exactly).
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), default=lambda item: format_decimal(item)
    )


@attrs.frozen(kw_only=True)
class UnrecognizedConfiguration:
    """An echoed ``order_configuration`` this client does not model, kept verbatim.

    ``raw`` is the configuration object as canonical JSON (sorted keys, decimals as strings).
    Read-only: it cannot be sent.
    """

    raw: str

    @property
    def kind(self) -> str:
        """The variant's key (``trigger_bracket_gtc``...), or "" if the object is not one key."""
        document = json.loads(self.raw)
        if isinstance(document, dict) and len(document) == 1:
            return str(next(iter(document)))
        return ""


_ReadConfiguration: TypeAlias = OrderConfiguration | UnrecognizedConfiguration
_ALL_READABLE = frozenset((*CONFIGURATION_TYPES, UnrecognizedConfiguration))


def _is_configuration_union(tp: object) -> bool:
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    members = {arg for arg in typing.get_args(tp) if arg is not type(None)}
    return bool(members) and members <= _ALL_READABLE and bool(members & set(CONFIGURATION_TYPES))


def _structure_configuration(value: object, tp: Any) -> object:
    members = set(typing.get_args(tp))
    if not isinstance(value, dict):
        raise ValueError(f"expected an order configuration object, got {describe(value)}")
    tolerant = UnrecognizedConfiguration in members
    if len(value) == 1:
        key, fields = next(iter(value.items()))
        cls = _BY_KEY.get(key)
        if cls is not None and cls in members:
            try:
                return converter.structure(fields, cls)
            except (cattrs.BaseValidationError, ValueError, TypeError, KeyError):
                if not tolerant:
                    raise
    if tolerant:
        return UnrecognizedConfiguration(raw=_canonical_json(value))
    raise ValueError(
        f"expected exactly one of {sorted(_BY_KEY)}, got keys {sorted(map(str, value))[:5]}"
    )


def _unstructure_configuration(value: object) -> object:
    if isinstance(value, UnrecognizedConfiguration):
        return json.loads(value.raw)
    if isinstance(value, CONFIGURATION_TYPES):
        return {value.WIRE_KEY: converter.unstructure(value, type(value))}
    return converter.unstructure(value)


converter.register_structure_hook_func(_is_configuration_union, _structure_configuration)
converter.register_unstructure_hook_func(_is_configuration_union, _unstructure_configuration)


# -- the request -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OrderRequest:
    """The body of ``POST /orders`` (and, without ``client_order_id``, of a preview).

    ``client_order_id`` is chosen by the caller on purpose: it is the idempotency key that
    makes retries safe and lets an unknown outcome be reconciled, so generate one per
    trading intent (``uuid.uuid4().hex``) and reuse it only to re-send that intent.
    """

    client_order_id: str = attrs.field(validator=_non_empty)
    product_id: str = attrs.field(validator=_non_empty)
    side: Side = attrs.field(validator=_known)
    order_configuration: OrderConfiguration
    self_trade_prevention_id: str | None = None
    leverage: Decimal | None = attrs.field(default=None, validator=_optional_positive)
    margin_type: MarginType | None = None
    retail_portfolio_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.order_configuration, CONFIGURATION_TYPES):
            raise InvalidSpec(
                "order_configuration: must be one of "
                f"{', '.join(cls.__name__ for cls in CONFIGURATION_TYPES)}, "
                f"got {type(self.order_configuration).__name__}"
            )


# -- the response and the outcome ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CreateOrderSuccess:
    order_id: str = ""
    product_id: str = ""
    side: Side | None = None
    client_order_id: str = ""
    attached_order_id: str = ""


@attrs.frozen(kw_only=True)
class CreateOrderError:
    error: str = ""
    message: str = ""
    error_details: str = ""
    preview_failure_reason: PreviewFailureReason | None = None
    new_order_failure_reason: NewOrderFailureReason | None = None


@attrs.frozen(kw_only=True)
class CreateOrderResponse:
    """``POST /orders`` as the wire has it (HTTP 200 for both success and rejection).

    Only what decides the outcome is read: the echoed configuration and the top-level
    ``failure_reason`` are ignored, so an odd value there cannot turn an answer into an
    unreadable one.
    """

    success: bool
    order_id: str = ""
    success_response: CreateOrderSuccess | None = None
    error_response: CreateOrderError | None = None


@attrs.frozen(kw_only=True)
class OrderAccepted:
    """The exchange took the order (``success: true``). It may still fill, rest or expire."""

    client_order_id: str
    order_id: str
    product_id: str = ""
    side: Side | None = None
    attached_order_id: str = ""


@attrs.frozen(kw_only=True)
class OrderRejected:
    """The exchange said ``success: false``: nothing was placed. The reasons are its own."""

    client_order_id: str
    error: str = ""
    message: str = ""
    error_details: str = ""
    preview_failure_reason: PreviewFailureReason | None = None
    new_order_failure_reason: NewOrderFailureReason | None = None


@attrs.frozen(kw_only=True)
class OrderOutcomeUnknown:
    """The request may have reached the exchange, but no usable answer came back.

    The order may or may not exist. Reconcile by ``client_order_id`` (list orders, or
    re-send the same request: the exchange answers a repeated ``client_order_id`` with the
    original order instead of placing a second one).

    Attributes:
        reason: what went wrong, for the operator (``ReadTimeout``, ``503 after 4
            attempts``, ``unreadable 200 answer: ...``).
        attempts: how many times the request was sent.
    """

    client_order_id: str
    product_id: str
    reason: str
    attempts: int


CreateOrderOutcome: TypeAlias = OrderAccepted | OrderRejected | OrderOutcomeUnknown


def outcome_of(
    response: CreateOrderResponse, request: OrderRequest, *, attempts: int
) -> CreateOrderOutcome:
    """Turn the wire answer into an outcome. Rejected only on an explicit ``success: false``."""
    if not response.success:
        error = response.error_response or CreateOrderError()
        return OrderRejected(
            client_order_id=request.client_order_id,
            error=error.error,
            message=error.message,
            error_details=error.error_details,
            preview_failure_reason=error.preview_failure_reason,
            new_order_failure_reason=error.new_order_failure_reason,
        )
    success = response.success_response or CreateOrderSuccess()
    order_id = success.order_id or response.order_id
    if not order_id:
        return OrderOutcomeUnknown(
            client_order_id=request.client_order_id,
            product_id=request.product_id,
            reason="success: true but no order_id in the answer",
            attempts=attempts,
        )
    return OrderAccepted(
        client_order_id=success.client_order_id or request.client_order_id,
        order_id=order_id,
        product_id=success.product_id or request.product_id,
        side=success.side or request.side,
        attached_order_id=success.attached_order_id,
    )
