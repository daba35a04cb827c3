"""Engine values to Coinbase JSON and back: the simulator's side of the wire format.

Everything a client reads from the simulator passes through here, so the shapes follow
``reference/coinbase-api.md`` field for field: decimals as strings, enums as their wire
strings, times as RFC 3339 with nanoseconds, lists never ``null``. Requests are parsed as
strictly as the real API parses them: an unknown field in an order body is a 400
(``proto: unknown field``), not silently ignored.

The simulator's own types live in :mod:`cjt_actors.sim.orders`; nothing here is shared with
the client (:mod:`cjt_actors.exchange`), so a test of the client against the simulator
checks two independent readings of the same wire format.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .accounts import AccountView
from .events import LevelChanged, TradeExecuted
from .orders import (
    FillView,
    LimitFok,
    LimitGtc,
    LimitGtd,
    MarketIoc,
    OrderConfiguration,
    OrderRequest,
    OrderView,
    Side,
    SorLimitIoc,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
    UnsupportedConfiguration,
)
from .products import ProductSpec, tidy

__all__ = [
    "WireError",
    "account_json",
    "configuration_json",
    "decimal_text",
    "fill_json",
    "l2_events",
    "order_json",
    "parse_create_order",
    "parse_rfc3339",
    "product_json",
    "rfc3339",
    "trade_events",
    "user_order_json",
]

JSON = dict[str, Any]


class WireError(Exception):
    """A request the real API would answer with 400: ``error`` code and human details."""

    def __init__(self, error: str, details: str) -> None:
        super().__init__(f"{error}: {details}")
        self.error = error
        self.details = details


# -- scalars -----------------------------------------------------------------------------------


def decimal_text(value: Decimal | None) -> str:
    """A decimal as the wire writes it: plain digits, no exponent, no trailing zeros."""
    return "" if value is None else format(tidy(value), "f")


def rfc3339(epoch: float) -> str:
    """Epoch seconds as RFC 3339 UTC with nanoseconds (``2024-01-15T10:30:00.123456789Z``)."""
    whole = int(epoch // 1)
    nanos = round((epoch - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    stamp = dt.datetime.fromtimestamp(whole, tz=dt.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(text: object) -> float:
    """RFC 3339 to epoch seconds; raises :class:`WireError` (INVALID_ARGUMENT) otherwise."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise WireError("INVALID_ARGUMENT", f"invalid RFC 3339 time {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        tz = (
            dt.UTC
            if zone in ("Z", "z")
            else dt.timezone(
                dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                * (1 if zone[0] == "+" else -1)
            )
        )
        stamp = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz
        )
    except ValueError as error:
        raise WireError("INVALID_ARGUMENT", f"invalid RFC 3339 time {text!r}: {error}") from None
    return stamp.timestamp() + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)


def _decimal(value: object, field: str) -> Decimal:
    if not isinstance(value, str):
        raise WireError("INVALID_ARGUMENT", f"{field}: expected a decimal string, got {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise WireError("INVALID_ARGUMENT", f"{field}: {value!r} is not a decimal") from None
    if not result.is_finite() or result <= 0:
        raise WireError("INVALID_ARGUMENT", f"{field}: must be a positive number, got {value!r}")
    return result


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise WireError("INVALID_ARGUMENT", f"{field}: expected true or false, got {value!r}")
    return value


# -- requests ----------------------------------------------------------------------------------

_CREATE_FIELDS = {
    "client_order_id",
    "product_id",
    "side",
    "order_configuration",
    "self_trade_prevention_id",
    "leverage",
    "margin_type",
    "retail_portfolio_id",
    "preview_id",
}

# wire key -> (class, {field: required?})
_CONFIGURATIONS: Mapping[str, tuple[type[Any], Mapping[str, bool]]] = {
    "market_market_ioc": (MarketIoc, {"quote_size": False, "base_size": False}),
    "sor_limit_ioc": (SorLimitIoc, {"base_size": True, "limit_price": True}),
    "limit_limit_gtc": (LimitGtc, {"base_size": True, "limit_price": True, "post_only": False}),
    "limit_limit_gtd": (
        LimitGtd,
        {"base_size": True, "limit_price": True, "end_time": True, "post_only": False},
    ),
    "limit_limit_fok": (LimitFok, {"base_size": True, "limit_price": True}),
    "stop_limit_stop_limit_gtc": (
        StopLimitGtc,
        {"base_size": True, "limit_price": True, "stop_price": True, "stop_direction": True},
    ),
    "stop_limit_stop_limit_gtd": (
        StopLimitGtd,
        {
            "base_size": True,
            "limit_price": True,
            "stop_price": True,
            "end_time": True,
            "stop_direction": True,
        },
    ),
}


def parse_configuration(value: object) -> OrderConfiguration:
    """An ``order_configuration`` object: exactly one known variant with valid fields."""
    if not isinstance(value, dict) or len(value) != 1:
        raise WireError("INVALID_ARGUMENT", "order_configuration must have exactly one variant")
    ((key, fields),) = value.items()
    known = _CONFIGURATIONS.get(key)
    if known is None:
        return UnsupportedConfiguration(wire_key=str(key))
    cls, spec = known
    if not isinstance(fields, dict):
        raise WireError("INVALID_ARGUMENT", f"order_configuration.{key} must be an object")
    unknown = sorted(set(fields) - set(spec) - {"rfq_disabled"})
    if unknown:
        raise WireError("unknown", f'proto: unknown field "{unknown[0]}" in {key}')
    kwargs: dict[str, object] = {}
    for name, required in spec.items():
        where = f"order_configuration.{key}.{name}"
        if name not in fields or fields[name] is None:
            if required:
                raise WireError("INVALID_ARGUMENT", f"{where} is required")
            continue
        raw = fields[name]
        if name == "post_only":
            kwargs[name] = _bool(raw, where)
        elif name == "end_time":
            kwargs[name] = parse_rfc3339(raw)
        elif name == "stop_direction":
            try:
                kwargs[name] = StopDirection(raw)
            except ValueError:
                raise WireError("INVALID_ARGUMENT", f"{where}: unknown value {raw!r}") from None
        else:
            kwargs[name] = _decimal(raw, where)
    if cls is MarketIoc and ("quote_size" in kwargs) == ("base_size" in kwargs):
        raise WireError(
            "INVALID_ARGUMENT", "market_market_ioc needs exactly one of quote_size or base_size"
        )
    configuration: OrderConfiguration = cls(**kwargs)
    return configuration


def parse_create_order(body: object, user_id: str) -> OrderRequest:
    """A POST /orders body as an engine request; raises :class:`WireError` for a 400."""
    if not isinstance(body, dict):
        raise WireError("INVALID_ARGUMENT", "the request body must be a JSON object")
    unknown = sorted(set(body) - _CREATE_FIELDS)
    if unknown:
        raise WireError("unknown", f'proto: unknown field "{unknown[0]}"')
    client_order_id = body.get("client_order_id")
    if not isinstance(client_order_id, str) or not client_order_id:
        raise WireError("INVALID_ARGUMENT", "client_order_id is required")
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        raise WireError("INVALID_ARGUMENT", "product_id is required")
    try:
        side = Side(str(body.get("side")))
    except ValueError:
        raise WireError("INVALID_ARGUMENT", f"side: unknown value {body.get('side')!r}") from None
    return OrderRequest(
        user_id=user_id,
        client_order_id=client_order_id,
        product_id=product_id,
        side=side,
        configuration=parse_configuration(body.get("order_configuration")),
    )


# -- responses ---------------------------------------------------------------------------------


def configuration_json(configuration: OrderConfiguration) -> JSON:
    if isinstance(configuration, UnsupportedConfiguration):
        return {configuration.wire_key: {}}
    fields: JSON = {}
    for name in (
        "quote_size",
        "base_size",
        "limit_price",
        "stop_price",
        "end_time",
        "stop_direction",
        "post_only",
    ):
        if not hasattr(configuration, name):
            continue
        value = getattr(configuration, name)
        if value is None:
            continue
        if isinstance(value, Decimal):
            fields[name] = decimal_text(value)
        elif name == "end_time":
            fields[name] = rfc3339(value)
        elif isinstance(value, bool):
            fields[name] = value
        else:
            fields[name] = str(value)
    return {type(configuration).WIRE_KEY: fields}


def order_json(order: OrderView) -> JSON:
    """An order as GET /orders/historical/{id} returns it."""
    return {
        "order_id": order.order_id,
        "product_id": order.product_id,
        "user_id": order.user_id,
        "order_configuration": configuration_json(order.configuration),
        "side": order.side.value,
        "client_order_id": order.client_order_id,
        "status": order.status.value,
        "time_in_force": order.time_in_force.value,
        "created_time": rfc3339(order.created_time),
        "completion_percentage": decimal_text(order.completion_percentage),
        "filled_size": decimal_text(order.filled_size),
        "average_filled_price": decimal_text(order.average_filled_price),
        "fee": "",
        "number_of_fills": str(order.number_of_fills),
        "filled_value": decimal_text(order.filled_value),
        "pending_cancel": False,
        "size_in_quote": order.size_in_quote,
        "total_fees": decimal_text(order.total_fees),
        "size_inclusive_of_fees": order.size_inclusive_of_fees,
        "total_value_after_fees": decimal_text(order.total_value_after_fees),
        "trigger_status": order.trigger_status.value,
        "order_type": order.order_type.value,
        "reject_reason": order.reject_reason.value,
        "settled": order.settled,
        "product_type": "SPOT",
        "reject_message": order.reject_message,
        "cancel_message": order.cancel_message,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": decimal_text(order.outstanding_hold_amount),
        "is_liquidation": False,
        "last_fill_time": None if order.last_fill_time is None else rfc3339(order.last_fill_time),
        "edit_history": [
            {
                "price": decimal_text(edit.price),
                "size": decimal_text(edit.size),
                "replace_accept_timestamp": rfc3339(edit.replace_accept_timestamp),
            }
            for edit in order.edit_history
        ],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": "",
        "originating_order_id": "",
        "attached_order_id": "",
    }


def user_order_json(order: OrderView) -> JSON:
    """An order as the ``user`` WebSocket channel describes it (full current state)."""
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "product_id": order.product_id,
        "product_type": "SPOT",
        "order_side": order.side.value,
        "order_type": order.order_type.value,
        "status": order.status.value,
        "time_in_force": order.time_in_force.value,
        "post_only": order.post_only,
        "limit_price": decimal_text(order.limit_price),
        "stop_price": decimal_text(order.stop_price),
        "cumulative_quantity": decimal_text(order.filled_size),
        "leaves_quantity": decimal_text(order.leaves_quantity),
        "avg_price": decimal_text(order.average_filled_price),
        "filled_value": decimal_text(order.filled_value),
        "total_fees": decimal_text(order.total_fees),
        "total_value_after_fees": decimal_text(order.total_value_after_fees),
        "number_of_fills": str(order.number_of_fills),
        "completion_percentage": decimal_text(order.completion_percentage),
        "outstanding_hold_amount": decimal_text(order.outstanding_hold_amount),
        "cancel_reason": order.cancel_message,
        "reject_reason": order.reject_message,
        "trigger_status": order.trigger_status.value,
        "retail_portfolio_id": "",
        "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
        "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "creation_time": rfc3339(order.created_time),
        "start_time": "",
        "end_time": "" if order.end_time is None else rfc3339(order.end_time),
    }


def fill_json(fill: FillView) -> JSON:
    """A fill as GET /orders/historical/fills returns it."""
    return {
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "trade_time": rfc3339(fill.trade_time),
        "trade_type": fill.trade_type,
        "price": decimal_text(fill.price),
        "size": decimal_text(fill.size),
        "commission": decimal_text(fill.commission),
        "product_id": fill.product_id,
        "sequence_timestamp": rfc3339(fill.trade_time),
        "liquidity_indicator": fill.liquidity_indicator.value,
        "size_in_quote": fill.size_in_quote,
        "user_id": fill.user_id,
        "side": fill.side.value,
        "retail_portfolio_id": "",
    }


def account_json(account: AccountView) -> JSON:
    crypto = account.currency not in ("USD", "EUR", "GBP")
    return {
        "uuid": account.uuid,
        "name": f"{account.currency} Wallet",
        "currency": account.currency,
        "available_balance": {
            "value": decimal_text(account.available),
            "currency": account.currency,
        },
        "default": True,
        "active": True,
        "created_at": rfc3339(account.created_at),
        "updated_at": rfc3339(account.updated_at),
        "deleted_at": None,
        "type": "ACCOUNT_TYPE_CRYPTO" if crypto else "ACCOUNT_TYPE_FIAT",
        "ready": True,
        "hold": {"value": decimal_text(account.hold), "currency": account.currency},
        "retail_portfolio_id": "",
        "platform": "ACCOUNT_PLATFORM_CONSUMER",
    }


def product_json(spec: ProductSpec, *, price: Decimal | None, mid: Decimal | None) -> JSON:
    return {
        "product_id": spec.product_id,
        "price": decimal_text(price),
        "price_percentage_change_24h": "0",
        "volume_24h": "0",
        "volume_percentage_change_24h": "0",
        "base_increment": decimal_text(spec.base_increment),
        "quote_increment": decimal_text(spec.quote_increment),
        "quote_min_size": decimal_text(spec.quote_min_size),
        "quote_max_size": decimal_text(spec.quote_max_size),
        "base_min_size": decimal_text(spec.base_min_size),
        "base_max_size": decimal_text(spec.base_max_size),
        "base_name": spec.base_currency,
        "quote_name": spec.quote_currency,
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "online",
        "cancel_only": False,
        "limit_only": False,
        "post_only": False,
        "trading_disabled": False,
        "auction_mode": False,
        "product_type": "SPOT",
        "quote_currency_id": spec.quote_currency,
        "base_currency_id": spec.base_currency,
        "fcm_trading_session_details": None,
        "mid_market_price": decimal_text(mid),
        "alias": "",
        "alias_to": [],
        "base_display_symbol": spec.base_currency,
        "quote_display_symbol": spec.quote_currency,
        "view_only": False,
        "price_increment": decimal_text(spec.price_increment),
        "display_name": spec.product_id,
        "product_venue": "CBE",
        "approximate_quote_24h_volume": "0",
        "future_product_details": None,
    }


def levels_json(levels: Iterable[tuple[Decimal, Decimal]]) -> list[JSON]:
    return [{"price": decimal_text(p), "size": decimal_text(s)} for p, s in levels]


def l2_events(
    changes: Sequence[LevelChanged], *, snapshot_of: Mapping[str, Any] | None = None
) -> dict[str, JSON]:
    """``l2_data`` update events, one per product, from the engine's level changes."""
    by_product: dict[str, JSON] = {}
    for change in changes:
        event = by_product.setdefault(
            change.product_id, {"type": "update", "product_id": change.product_id, "updates": []}
        )
        event["updates"].append(
            {
                "side": change.side.value,
                "event_time": rfc3339(change.time),
                "price_level": decimal_text(change.price),
                "new_quantity": decimal_text(change.new_quantity),
            }
        )
    return by_product


def l2_snapshot_event(
    product_id: str,
    bids: Iterable[tuple[Decimal, Decimal]],
    asks: Iterable[tuple[Decimal, Decimal]],
    now: float,
) -> JSON:
    stamp = rfc3339(now)
    updates = [
        {
            "side": "bid",
            "event_time": stamp,
            "price_level": decimal_text(p),
            "new_quantity": decimal_text(s),
        }
        for p, s in bids
    ] + [
        {
            "side": "offer",
            "event_time": stamp,
            "price_level": decimal_text(p),
            "new_quantity": decimal_text(s),
        }
        for p, s in asks
    ]
    return {"type": "snapshot", "product_id": product_id, "updates": updates}


def trade_events(trades: Sequence[TradeExecuted], kind: str = "update") -> dict[str, JSON]:
    """``market_trades`` events, one per product."""
    by_product: dict[str, JSON] = {}
    for trade in trades:
        event = by_product.setdefault(trade.product_id, {"type": kind, "trades": []})
        event["trades"].append(
            {
                "trade_id": trade.trade_id,
                "product_id": trade.product_id,
                "price": decimal_text(trade.price),
                "size": decimal_text(trade.size),
                "side": trade.maker_side.value,
                "time": rfc3339(trade.time),
            }
        )
    return by_product
