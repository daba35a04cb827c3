"""Typed results of the Coinbase Advanced Trade REST API, as frozen attrs values.

Each class mirrors a JSON object of the wire (``reference/coinbase-api.md`` §2) field for
field, so reading one is a single converter call (:func:`parse`) and a reader can check a
field against the reference by name. The reading rules (decimal strings to ``Decimal``,
unknown fields ignored, unknown enum values kept, ``null`` and ``""`` as absence) are in
:mod:`._wire`; order requests and placement outcomes are in :mod:`.orders`.

What is required and what is not: identity fields (``order_id``, ``product_id``...), the
numbers a result exists for (a fill's price and size, a candle's prices) and the list in
a page are required, because a silent default there would be a lie ("no open orders").
Everything else defaults to ``None``, ``""``, ``False`` or ``()``.

Numbers: money, sizes, prices and rates are ``Decimal``; counts, sequence numbers and
epoch seconds are ``int`` (read from a JSON number or a digit string); times are aware
``datetime``\\ s. Nested objects the client does not use (futures session details, PnL
configuration) are not modelled and are ignored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import attrs

from ._wire import WIRE_NAME, WireEnum, structure_response
from .orders import (
    CreateOrderResponse,
    MarginType,
    OrderConfiguration,
    PreviewFailureReason,
    Side,
    UnrecognizedConfiguration,
)

__all__ = [
    "RESPONSE_TYPES",
    "Account",
    "AccountType",
    "AccountsPage",
    "BestBidAsk",
    "CancelFailureReason",
    "CancelOrdersResponse",
    "CancelResult",
    "Candle",
    "Candles",
    "ContractExpiryType",
    "EditError",
    "EditFailureReason",
    "EditHistoryEntry",
    "EditOrderError",
    "EditOrderResult",
    "FeeTier",
    "Fill",
    "FillsPage",
    "GetAccountResponse",
    "GetOrderResponse",
    "GoodsAndServicesTax",
    "Granularity",
    "KeyPermissions",
    "LiquidityIndicator",
    "MarginRate",
    "MarketTrade",
    "MarketTrades",
    "Money",
    "Order",
    "OrderPlacementSource",
    "OrderPreview",
    "OrderStatus",
    "OrderType",
    "OrdersPage",
    "PortfolioType",
    "PriceBook",
    "PriceLevel",
    "Product",
    "ProductBook",
    "ProductType",
    "ProductVenue",
    "ProductsPage",
    "RejectReason",
    "ServerTime",
    "TimeInForce",
    "TradeType",
    "TransactionSummary",
    "TriggerStatus",
    "parse",
]

T = TypeVar("T")

# -- enums (lists from the reference; several are third-party transcriptions) ----------------


class AccountType(WireEnum):
    ACCOUNT_TYPE_UNSPECIFIED = "ACCOUNT_TYPE_UNSPECIFIED"
    ACCOUNT_TYPE_CRYPTO = "ACCOUNT_TYPE_CRYPTO"
    ACCOUNT_TYPE_FIAT = "ACCOUNT_TYPE_FIAT"
    ACCOUNT_TYPE_VAULT = "ACCOUNT_TYPE_VAULT"


class ProductType(WireEnum):
    UNKNOWN_PRODUCT_TYPE = "UNKNOWN_PRODUCT_TYPE"
    SPOT = "SPOT"
    FUTURE = "FUTURE"


class ProductVenue(WireEnum):
    UNKNOWN_VENUE_TYPE = "UNKNOWN_VENUE_TYPE"
    CBE = "CBE"
    FCM = "FCM"
    INTX = "INTX"


class ContractExpiryType(WireEnum):
    UNKNOWN_CONTRACT_EXPIRY_TYPE = "UNKNOWN_CONTRACT_EXPIRY_TYPE"
    EXPIRING = "EXPIRING"
    PERPETUAL = "PERPETUAL"


class Granularity(WireEnum):
    """Candle width (``/products/{id}/candles?granularity=``)."""

    UNKNOWN_GRANULARITY = "UNKNOWN_GRANULARITY"
    ONE_MINUTE = "ONE_MINUTE"
    FIVE_MINUTE = "FIVE_MINUTE"
    FIFTEEN_MINUTE = "FIFTEEN_MINUTE"
    THIRTY_MINUTE = "THIRTY_MINUTE"
    ONE_HOUR = "ONE_HOUR"
    TWO_HOUR = "TWO_HOUR"
    SIX_HOUR = "SIX_HOUR"
    ONE_DAY = "ONE_DAY"


class OrderStatus(WireEnum):
    PENDING = "PENDING"
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    UNKNOWN_ORDER_STATUS = "UNKNOWN_ORDER_STATUS"
    QUEUED = "QUEUED"
    CANCEL_QUEUED = "CANCEL_QUEUED"
    EDIT_QUEUED = "EDIT_QUEUED"


class TimeInForce(WireEnum):
    UNKNOWN_TIME_IN_FORCE = "UNKNOWN_TIME_IN_FORCE"
    GOOD_UNTIL_DATE_TIME = "GOOD_UNTIL_DATE_TIME"
    GOOD_UNTIL_CANCELLED = "GOOD_UNTIL_CANCELLED"
    IMMEDIATE_OR_CANCEL = "IMMEDIATE_OR_CANCEL"
    FILL_OR_KILL = "FILL_OR_KILL"


class OrderType(WireEnum):
    UNKNOWN_ORDER_TYPE = "UNKNOWN_ORDER_TYPE"
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    BRACKET = "BRACKET"


class TriggerStatus(WireEnum):
    UNKNOWN_TRIGGER_STATUS = "UNKNOWN_TRIGGER_STATUS"
    INVALID_ORDER_TYPE = "INVALID_ORDER_TYPE"
    STOP_PENDING = "STOP_PENDING"
    STOP_TRIGGERED = "STOP_TRIGGERED"


class RejectReason(WireEnum):
    REJECT_REASON_UNSPECIFIED = "REJECT_REASON_UNSPECIFIED"
    HOLD_FAILURE = "HOLD_FAILURE"
    TOO_MANY_OPEN_ORDERS = "TOO_MANY_OPEN_ORDERS"
    REJECT_REASON_INSUFFICIENT_FUNDS = "REJECT_REASON_INSUFFICIENT_FUNDS"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"


class OrderPlacementSource(WireEnum):
    RETAIL_SIMPLE = "RETAIL_SIMPLE"
    RETAIL_ADVANCED = "RETAIL_ADVANCED"


class LiquidityIndicator(WireEnum):
    UNKNOWN_LIQUIDITY_INDICATOR = "UNKNOWN_LIQUIDITY_INDICATOR"
    MAKER = "MAKER"
    TAKER = "TAKER"


class TradeType(WireEnum):
    FILL = "FILL"
    REVERSAL = "REVERSAL"
    CORRECTION = "CORRECTION"
    SYNTHETIC = "SYNTHETIC"


class CancelFailureReason(WireEnum):
    UNKNOWN_CANCEL_FAILURE_REASON = "UNKNOWN_CANCEL_FAILURE_REASON"  #: also sent on success
    INVALID_CANCEL_REQUEST = "INVALID_CANCEL_REQUEST"
    UNKNOWN_CANCEL_ORDER = "UNKNOWN_CANCEL_ORDER"
    COMMANDER_REJECTED_CANCEL_ORDER = "COMMANDER_REJECTED_CANCEL_ORDER"
    DUPLICATE_CANCEL_REQUEST = "DUPLICATE_CANCEL_REQUEST"
    INVALID_CANCEL_PRODUCT_ID = "INVALID_CANCEL_PRODUCT_ID"
    INVALID_CANCEL_FCM_TRADING_SESSION = "INVALID_CANCEL_FCM_TRADING_SESSION"
    NOT_ALLOWED_TO_CANCEL = "NOT_ALLOWED_TO_CANCEL"
    ORDER_IS_FULLY_FILLED = "ORDER_IS_FULLY_FILLED"
    ORDER_IS_BEING_REPLACED = "ORDER_IS_BEING_REPLACED"


class EditFailureReason(WireEnum):
    UNKNOWN_EDIT_ORDER_FAILURE_REASON = "UNKNOWN_EDIT_ORDER_FAILURE_REASON"
    COMMANDER_REJECTED_EDIT_ORDER = "COMMANDER_REJECTED_EDIT_ORDER"
    CANNOT_EDIT_TO_BELOW_FILLED_SIZE = "CANNOT_EDIT_TO_BELOW_FILLED_SIZE"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    CALLER_ID_MISMATCH = "CALLER_ID_MISMATCH"
    ONLY_LIMIT_ORDER_EDITS_SUPPORTED = "ONLY_LIMIT_ORDER_EDITS_SUPPORTED"
    INVALID_EDITED_SIZE = "INVALID_EDITED_SIZE"
    INVALID_EDITED_PRICE = "INVALID_EDITED_PRICE"
    INVALID_ORIGINAL_SIZE = "INVALID_ORIGINAL_SIZE"
    INVALID_ORIGINAL_PRICE = "INVALID_ORIGINAL_PRICE"
    EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST = "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"
    ONLY_OPEN_ORDERS_CAN_BE_EDITED = "ONLY_OPEN_ORDERS_CAN_BE_EDITED"


class PortfolioType(WireEnum):
    UNDEFINED = "UNDEFINED"
    DEFAULT = "DEFAULT"
    CONSUMER = "CONSUMER"
    INTX = "INTX"


# -- accounts --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Money:
    value: Decimal
    currency: str = ""


@attrs.frozen(kw_only=True)
class Account:
    uuid: str
    currency: str
    available_balance: Money
    name: str = ""
    default: bool = False
    active: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    type: AccountType | None = None
    ready: bool = False
    hold: Money | None = None
    retail_portfolio_id: str = ""
    platform: str = ""


@attrs.frozen(kw_only=True)
class AccountsPage:
    """``GET /accounts``: one page; more while ``has_next`` (pass ``cursor`` back)."""

    accounts: tuple[Account, ...]
    has_next: bool = False
    cursor: str = ""
    size: int = 0


@attrs.frozen(kw_only=True)
class GetAccountResponse:
    account: Account


# -- products and market data ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Product:
    """A tradable pair. Sizes must be multiples of ``base_increment``, prices of ``price_increment``."""

    product_id: str
    price: Decimal | None = None
    price_percentage_change_24h: Decimal | None = None
    volume_24h: Decimal | None = None
    volume_percentage_change_24h: Decimal | None = None
    base_increment: Decimal | None = None
    quote_increment: Decimal | None = None
    price_increment: Decimal | None = None
    quote_min_size: Decimal | None = None
    quote_max_size: Decimal | None = None
    base_min_size: Decimal | None = None
    base_max_size: Decimal | None = None
    base_name: str = ""
    quote_name: str = ""
    watched: bool = False
    is_disabled: bool = False
    new: bool = False
    status: str = ""
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    trading_disabled: bool = False
    auction_mode: bool = False
    product_type: ProductType | None = None
    quote_currency_id: str = ""
    base_currency_id: str = ""
    mid_market_price: Decimal | None = None
    alias: str = ""
    alias_to: tuple[str, ...] = ()
    base_display_symbol: str = ""
    quote_display_symbol: str = ""
    view_only: bool = False
    display_name: str = ""
    product_venue: ProductVenue | None = None
    approximate_quote_24h_volume: Decimal | None = None


@attrs.frozen(kw_only=True)
class ProductsPage:
    products: tuple[Product, ...]
    num_products: int = 0


@attrs.frozen(kw_only=True)
class PriceLevel:
    price: Decimal
    size: Decimal


@attrs.frozen(kw_only=True)
class PriceBook:
    product_id: str
    bids: tuple[PriceLevel, ...] = ()
    asks: tuple[PriceLevel, ...] = ()
    time: datetime | None = None


@attrs.frozen(kw_only=True)
class ProductBook:
    """``GET /product_book``."""

    pricebook: PriceBook
    last: Decimal | None = None
    mid_market: Decimal | None = None
    spread_bps: Decimal | None = None
    spread_absolute: Decimal | None = None


@attrs.frozen(kw_only=True)
class BestBidAsk:
    """``GET /best_bid_ask``: one top-of-book per product."""

    pricebooks: tuple[PriceBook, ...]


@attrs.frozen(kw_only=True)
class Candle:
    start: int  #: UNIX seconds (a string on the wire)
    low: Decimal
    high: Decimal
    open: Decimal
    close: Decimal
    volume: Decimal


@attrs.frozen(kw_only=True)
class Candles:
    candles: tuple[Candle, ...]


@attrs.frozen(kw_only=True)
class MarketTrade:
    trade_id: str
    price: Decimal
    size: Decimal
    product_id: str = ""
    time: datetime | None = None
    side: Side | None = None  #: the maker's side
    exchange: str = ""


@attrs.frozen(kw_only=True)
class MarketTrades:
    """``GET /products/{id}/ticker``: recent trades and the current best bid and ask."""

    trades: tuple[MarketTrade, ...]
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None


@attrs.frozen(kw_only=True)
class ServerTime:
    """``GET /time`` (camelCase on the wire; the epochs are strings there)."""

    iso: datetime
    epoch_seconds: int = attrs.field(metadata={WIRE_NAME: "epochSeconds"})
    epoch_millis: int = attrs.field(metadata={WIRE_NAME: "epochMillis"})


# -- orders and fills ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EditHistoryEntry:
    price: Decimal | None = None
    size: Decimal | None = None
    replace_accept_timestamp: datetime | None = None


@attrs.frozen(kw_only=True)
class Order:
    """An order as ``/orders/historical/...`` reports it (open or closed).

    A partially filled live order stays ``OPEN`` with ``filled_size`` > 0.
    """

    order_id: str
    product_id: str
    side: Side
    status: OrderStatus
    client_order_id: str = ""
    user_id: str = ""
    order_configuration: OrderConfiguration | UnrecognizedConfiguration | None = None
    time_in_force: TimeInForce | None = None
    created_time: datetime | None = None
    completion_percentage: Decimal | None = None
    filled_size: Decimal | None = None
    average_filled_price: Decimal | None = None
    fee: Decimal | None = None
    number_of_fills: int = 0
    filled_value: Decimal | None = None
    pending_cancel: bool = False
    size_in_quote: bool = False
    total_fees: Decimal | None = None
    size_inclusive_of_fees: bool = False
    total_value_after_fees: Decimal | None = None
    trigger_status: TriggerStatus | None = None
    order_type: OrderType | None = None
    reject_reason: RejectReason | None = None
    settled: bool = False
    product_type: ProductType | None = None
    reject_message: str = ""
    cancel_message: str = ""
    order_placement_source: OrderPlacementSource | None = None
    outstanding_hold_amount: Decimal | None = None
    is_liquidation: bool = False
    last_fill_time: datetime | None = None
    edit_history: tuple[EditHistoryEntry, ...] = ()
    leverage: Decimal | None = None
    margin_type: MarginType | None = None
    retail_portfolio_id: str = ""
    originating_order_id: str = ""
    attached_order_id: str = ""


@attrs.frozen(kw_only=True)
class OrdersPage:
    """``GET /orders/historical/batch``: one page; more while ``has_next``."""

    orders: tuple[Order, ...]
    sequence: int = 0
    has_next: bool = False
    cursor: str = ""


@attrs.frozen(kw_only=True)
class GetOrderResponse:
    order: Order


@attrs.frozen(kw_only=True)
class Fill:
    trade_id: str
    order_id: str
    price: Decimal
    size: Decimal
    entry_id: str = ""
    trade_time: datetime | None = None
    trade_type: TradeType | None = None
    commission: Decimal | None = None
    product_id: str = ""
    sequence_timestamp: datetime | None = None
    liquidity_indicator: LiquidityIndicator | None = None
    size_in_quote: bool = False
    user_id: str = ""
    side: Side | None = None
    retail_portfolio_id: str = ""


@attrs.frozen(kw_only=True)
class FillsPage:
    """``GET /orders/historical/fills``: no ``has_next`` here; more while ``cursor`` is set."""

    fills: tuple[Fill, ...]
    cursor: str = ""


@attrs.frozen(kw_only=True)
class CancelResult:
    """One order of a batch cancel. ``success`` means the cancel was *accepted*."""

    success: bool
    order_id: str = ""
    failure_reason: CancelFailureReason | None = None


@attrs.frozen(kw_only=True)
class CancelOrdersResponse:
    results: tuple[CancelResult, ...]


@attrs.frozen(kw_only=True)
class EditError:
    edit_failure_reason: EditFailureReason | None = None
    preview_failure_reason: PreviewFailureReason | None = None


@attrs.frozen(kw_only=True)
class EditOrderError:
    error_details: str = ""
    edit_order_failure_reason: EditFailureReason | None = None


@attrs.frozen(kw_only=True)
class EditOrderResult:
    """``POST /orders/edit``: ``success`` false comes with ``errors`` (not an HTTP error)."""

    success: bool
    errors: tuple[EditError, ...] = ()
    error_response: EditOrderError | None = None


@attrs.frozen(kw_only=True)
class OrderPreview:
    """``POST /orders/preview``: what the order would cost, and why it would fail."""

    order_total: Decimal | None = None
    commission_total: Decimal | None = None
    errs: tuple[PreviewFailureReason, ...] = ()
    warning: tuple[str, ...] = ()
    quote_size: Decimal | None = None
    base_size: Decimal | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    is_max: bool = False
    order_margin_total: Decimal | None = None
    leverage: Decimal | None = None
    long_leverage: Decimal | None = None
    short_leverage: Decimal | None = None
    slippage: Decimal | None = None
    preview_id: str = ""
    current_liquidation_buffer: Decimal | None = None
    projected_liquidation_buffer: Decimal | None = None
    max_leverage: Decimal | None = None


# -- fees and key ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FeeTier:
    pricing_tier: str = ""
    usd_from: Decimal | None = None
    usd_to: Decimal | None = None
    taker_fee_rate: Decimal | None = None  #: a fraction: "0.006" is 0.6 %
    maker_fee_rate: Decimal | None = None
    aop_from: Decimal | None = None
    aop_to: Decimal | None = None


@attrs.frozen(kw_only=True)
class MarginRate:
    value: Decimal | None = None


@attrs.frozen(kw_only=True)
class GoodsAndServicesTax:
    rate: Decimal | None = None
    type: str = ""


@attrs.frozen(kw_only=True)
class TransactionSummary:
    """``GET /transaction_summary``: the fee tier (volumes may be JSON numbers here)."""

    fee_tier: FeeTier
    total_volume: Decimal | None = None
    total_fees: Decimal | None = None
    margin_rate: MarginRate | None = None
    goods_and_services_tax: GoodsAndServicesTax | None = None
    advanced_trade_only_volume: Decimal | None = None
    advanced_trade_only_fees: Decimal | None = None
    coinbase_pro_volume: Decimal | None = None
    coinbase_pro_fees: Decimal | None = None
    total_balance: Decimal | None = None
    has_promo_fee: bool = False


@attrs.frozen(kw_only=True)
class KeyPermissions:
    """``GET /key_permissions``: what the API key may do (absent means no)."""

    can_view: bool = False
    can_trade: bool = False
    can_transfer: bool = False
    portfolio_uuid: str = ""
    portfolio_type: PortfolioType | None = None


#: Every top-level response body the client reads, for tests and tools.
RESPONSE_TYPES: tuple[type, ...] = (
    AccountsPage,
    GetAccountResponse,
    ProductsPage,
    Product,
    ProductBook,
    BestBidAsk,
    Candles,
    MarketTrades,
    ServerTime,
    CreateOrderResponse,
    OrderPreview,
    CancelOrdersResponse,
    EditOrderResult,
    GetOrderResponse,
    OrdersPage,
    FillsPage,
    TransactionSummary,
    KeyPermissions,
)


def parse(payload: object, cls: type[T], *, method: str, path: str, status: int = 200) -> T:
    """Read a parsed JSON body as ``cls``.

    Raises:
        ResponseError: the body does not fit; names the request and each JSON path.
    """
    return structure_response(payload, cls, method=method, path=path, status=status)
