"""The simulator's REST API under ``/api/v3/brokerage``, as Coinbase answers it.

Every request goes through the same steps, in the order the real service appears to apply
them: injected latency, the gateway (while the ``exchange down`` fault is on, every path
under ``/api/v3`` gets the load balancer's HTML 503 page and pending faults stay pending for
later), injected faults (:mod:`.faults`), authentication (401 with the plain-text
body ``Unauthorized``), the rate limit (429), then the route. Every answer from the rate
limit on carries lower-case ``x-ratelimit-*`` headers; injected faults, 401s and unknown
routes come before it and carry none. Routes answer with the shapes of
``reference/coinbase-api.md`` §2: order placement failures are HTTP 200 with
``success: false``; lists are ``[]``, never ``null``; ``GET /products/{id}`` is flat.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs
import orjson
import trio
from starlette.requests import Request
from starlette.responses import Response

from .auth import AuthFailure
from .faults import RestFaultKind
from .orders import OrderAccepted, OrderRejected, OrderStatus
from .simulator import DEFAULT_USER, Simulator
from .wire import (
    WireError,
    account_json,
    decimal_text,
    fill_json,
    levels_json,
    order_json,
    parse_create_order,
    parse_rfc3339,
    product_json,
    rfc3339,
)

__all__ = ["API_ROOT", "PREFIX", "RestApi", "unavailable_page"]

#: Everything under here is the exchange behind its gateway (and down when the gateway is).
API_ROOT = "/api/v3"
PREFIX = API_ROOT + "/brokerage"
JSON = dict[str, Any]

_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} {reason}</title></head>"
    "<body><h1>{status} {reason}</h1><p>cloudflare</p></body></html>"
)
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class _HttpError(Exception):
    def __init__(self, status: int, error: str, details: str) -> None:
        super().__init__(details)
        self.status, self.error, self.details = status, error, details


@attrs.define
class _Bucket:
    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


Handler = Callable[["_Call"], Awaitable[JSON]]


@attrs.define
class _Call:
    """One request as a route sees it."""

    request: Request
    user: str
    params: Mapping[str, str]
    body: Any


class RestApi:
    """An ASGI endpoint for every ``/api/v3/...`` path (routes under ``/api/v3/brokerage``;
    the rest are 404s, or 503s while the exchange is down)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._buckets: dict[str, _Bucket] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        r = self._route
        r("GET", "/accounts", self.list_accounts)
        r("GET", "/accounts/(?P<account_uuid>[^/]+)", self.get_account)
        r("GET", "/products", self.list_products)
        r("GET", "/products/(?P<product_id>[^/]+)", self.get_product)
        r("GET", "/products/(?P<product_id>[^/]+)/candles", self.candles)
        r("GET", "/products/(?P<product_id>[^/]+)/ticker", self.market_trades)
        r("GET", "/product_book", self.product_book)
        r("GET", "/best_bid_ask", self.best_bid_ask)
        r("GET", "/time", self.server_time, public=True)
        r("GET", "/market/products", self.list_products, public=True)
        r("GET", "/market/products/(?P<product_id>[^/]+)", self.get_product, public=True)
        r("GET", "/market/products/(?P<product_id>[^/]+)/candles", self.candles, public=True)
        r("GET", "/market/products/(?P<product_id>[^/]+)/ticker", self.market_trades, public=True)
        r("GET", "/market/product_book", self.product_book, public=True)
        r("POST", "/orders", self.create_order)
        r("POST", "/orders/preview", self.preview_order)
        r("POST", "/orders/batch_cancel", self.batch_cancel)
        r("POST", "/orders/edit", self.edit_order)
        r("POST", "/orders/edit_preview", self.edit_preview)
        r("GET", "/orders/historical/batch", self.list_orders)
        r("GET", "/orders/historical/fills", self.list_fills)
        r("GET", "/orders/historical/(?P<order_id>[^/]+)", self.get_order)
        r("GET", "/transaction_summary", self.transaction_summary)
        r("GET", "/key_permissions", self.key_permissions)

    def _route(self, method: str, pattern: str, handler: Handler, *, public: bool = False) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler, public))

    # -- the pipeline ------------------------------------------------------------------------

    async def __call__(self, request: Request) -> Response:
        path = request.url.path
        sub = path.removeprefix(PREFIX) if path.startswith(PREFIX + "/") else None
        sim = self.sim
        sim.open()
        if sim.faults.latency:
            await trio.sleep(sim.faults.latency)
        if sim.faults.exchange_down:
            return unavailable_page()
        fault = sim.faults.take_rest_fault(path)
        if fault is not None:
            if fault.kind is RestFaultKind.HANG:
                await trio.sleep_forever()
            if fault.kind is RestFaultKind.HTML:
                return _html(fault.status)
            error = "RATE_LIMIT_EXCEEDED" if fault.status == 429 else "INTERNAL"
            return _error(fault.status, error, f"injected fault ({fault.kind.value})")

        match = None
        handler: Handler | None = None
        public = False
        allowed: set[str] = set()
        for method, pattern, candidate, is_public in self._routes:
            found = pattern.match(sub) if sub is not None else None
            if found is None:
                continue
            allowed.add(method)
            if method == request.method:
                match, handler, public = found, candidate, is_public
                break
        if handler is None or match is None:
            if allowed:
                return _error(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here")
            return _error(404, "NOT_FOUND", f"no route {path}")

        user = DEFAULT_USER
        if sim.config.auth == "jwt" and not public:
            try:
                key = sim.verifier.verify_rest(
                    request.headers.get("authorization"), request.method, path
                )
            except AuthFailure:
                return Response("Unauthorized", status_code=401, media_type="text/plain")
            resolved = sim.user_for_key(key)
            if resolved is None:  # pragma: no cover - the verifier only knows registered keys
                return Response("Unauthorized", status_code=401, media_type="text/plain")
            user = resolved

        identity = (
            f"key:{user}" if not public else f"ip:{request.client.host if request.client else '?'}"
        )
        rate = sim.config.public_rate if public else sim.config.private_rate
        bucket = self._buckets.setdefault(
            identity, _Bucket(rate=rate, tokens=rate, updated=trio.current_time())
        )
        if not bucket.take(trio.current_time()):
            return _with_limits(_error(429, "RATE_LIMIT_EXCEEDED", "Too many requests"), bucket)

        body: Any = None
        if request.method == "POST":
            raw = await request.body()
            try:
                body = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                return _with_limits(
                    _error(400, "INVALID_ARGUMENT", "the request body is not valid JSON"), bucket
                )
        params = {**match.groupdict()}
        try:
            result = await handler(_Call(request=request, user=user, params=params, body=body))
        except WireError as error:
            return _with_limits(_error(400, error.error, error.details), bucket)
        except _HttpError as error:
            return _with_limits(_error(error.status, error.error, error.details), bucket)
        return _with_limits(Response(orjson.dumps(result), media_type="application/json"), bucket)

    # -- accounts ----------------------------------------------------------------------------

    async def list_accounts(self, call: _Call) -> JSON:
        accounts = sorted(self.sim.engine.accounts(call.user), key=lambda a: a.currency)
        limit = _int_param(call.request, "limit", default=49, maximum=250)
        start = _cursor(call.request)
        page = accounts[start : start + limit]
        more = start + limit < len(accounts)
        return {
            "accounts": [account_json(a) for a in page],
            "has_next": more,
            "cursor": str(start + limit) if more else "",
            "size": len(page),
        }

    async def get_account(self, call: _Call) -> JSON:
        account = self.sim.engine.account_by_uuid(call.params["account_uuid"])
        if account is None or account.user_id != call.user:
            raise _HttpError(404, "NOT_FOUND", "account not found")
        return {"account": account_json(account)}

    # -- products and market data ------------------------------------------------------------

    def _product(self, product_id: str) -> JSON:
        engine = self.sim.engine
        spec = engine.products.get(product_id)
        if spec is None:
            raise _HttpError(404, "NOT_FOUND", "valid product_id is required")
        bid, ask = engine.best_bid_ask(product_id)
        mid = (bid[0] + ask[0]) / 2 if bid and ask else None
        return product_json(spec, price=engine.last_trade_price(product_id) or mid, mid=mid)

    async def list_products(self, call: _Call) -> JSON:
        wanted = call.request.query_params.getlist("product_ids")
        ids = [p for p in self.sim.engine.products if not wanted or p in wanted]
        offset = _int_param(call.request, "offset", default=0, maximum=10**6)
        limit = _int_param(call.request, "limit", default=len(ids) or 1, maximum=10**6)
        page = ids[offset : offset + limit]
        return {"products": [self._product(p) for p in page], "num_products": len(ids)}

    async def get_product(self, call: _Call) -> JSON:
        return self._product(call.params["product_id"])

    async def product_book(self, call: _Call) -> JSON:
        product_id = call.request.query_params.get("product_id", "")
        if product_id not in self.sim.engine.products:
            raise _HttpError(404, "NOT_FOUND", "valid product_id is required")
        limit = _int_param(call.request, "limit", default=0, maximum=10**6) or None
        book = self.sim.engine.snapshot(product_id, depth=limit)
        bid = book.bids[0][0] if book.bids else None
        ask = book.asks[0][0] if book.asks else None
        mid = (bid + ask) / 2 if bid is not None and ask is not None else None
        spread = ask - bid if bid is not None and ask is not None else None
        return {
            "pricebook": {
                "product_id": product_id,
                "bids": levels_json(book.bids),
                "asks": levels_json(book.asks),
                "time": rfc3339(self.sim.epoch()),
            },
            "last": decimal_text(self.sim.engine.last_trade_price(product_id)),
            "mid_market": decimal_text(mid),
            "spread_bps": decimal_text(spread / mid * 10000) if spread is not None and mid else "",
            "spread_absolute": decimal_text(spread),
        }

    async def best_bid_ask(self, call: _Call) -> JSON:
        wanted = call.request.query_params.getlist("product_ids") or list(self.sim.engine.products)
        books = []
        for product_id in wanted:
            if product_id not in self.sim.engine.products:
                raise _HttpError(404, "NOT_FOUND", "valid product_id is required")
            bid, ask = self.sim.engine.best_bid_ask(product_id)
            books.append(
                {
                    "product_id": product_id,
                    "bids": levels_json([bid] if bid else []),
                    "asks": levels_json([ask] if ask else []),
                    "time": rfc3339(self.sim.epoch()),
                }
            )
        return {"pricebooks": books}

    async def market_trades(self, call: _Call) -> JSON:
        product_id = call.params["product_id"]
        if product_id not in self.sim.engine.products:
            raise _HttpError(404, "NOT_FOUND", "valid product_id is required")
        limit = _int_param(call.request, "limit", default=100, maximum=1000)
        trades = self.sim.engine.recent_trades(product_id, limit=limit)
        bid, ask = self.sim.engine.best_bid_ask(product_id)
        return {
            "trades": [
                {
                    "trade_id": t.trade_id,
                    "product_id": t.product_id,
                    "price": decimal_text(t.price),
                    "size": decimal_text(t.size),
                    "time": rfc3339(t.time),
                    "side": t.maker_side.value,
                    "exchange": "CBE",
                }
                for t in trades
            ],
            "best_bid": decimal_text(bid[0]) if bid else "",
            "best_ask": decimal_text(ask[0]) if ask else "",
        }

    async def candles(self, call: _Call) -> JSON:
        """Candles built from the trades the simulator remembers (newest first)."""
        product_id = call.params["product_id"]
        if product_id not in self.sim.engine.products:
            raise _HttpError(404, "NOT_FOUND", "valid product_id is required")
        query = call.request.query_params
        seconds = _GRANULARITY.get(query.get("granularity", "ONE_MINUTE"))
        if seconds is None:
            raise WireError("INVALID_ARGUMENT", f"unknown granularity {query.get('granularity')!r}")
        try:
            start = int(query.get("start", "0"))
            end = int(query.get("end", str(int(self.sim.epoch()))))
        except ValueError:
            raise WireError("INVALID_ARGUMENT", "start and end must be UNIX seconds") from None
        if end < start:
            raise WireError("INVALID_ARGUMENT", "end must not be before start")
        if (end - start) // seconds > 350:
            raise WireError("INVALID_ARGUMENT", "start and end must be within 350 candles")
        buckets: dict[int, list[Decimal]] = {}
        volumes: dict[int, Decimal] = {}
        for trade in reversed(self.sim.engine.recent_trades(product_id)):
            if not start <= trade.time < end + seconds:
                continue
            bucket = int(trade.time // seconds * seconds)
            buckets.setdefault(bucket, []).append(trade.price)
            volumes[bucket] = volumes.get(bucket, Decimal(0)) + trade.size
        candles = [
            {
                "start": str(bucket),
                "low": decimal_text(min(prices)),
                "high": decimal_text(max(prices)),
                "open": decimal_text(prices[0]),
                "close": decimal_text(prices[-1]),
                "volume": decimal_text(volumes[bucket]),
            }
            for bucket, prices in sorted(buckets.items(), reverse=True)
        ]
        return {"candles": candles}

    async def server_time(self, call: _Call) -> JSON:
        now = self.sim.epoch()
        return {
            "iso": rfc3339(now),
            "epochSeconds": str(int(now)),
            "epochMillis": str(int(now * 1000)),
        }

    # -- orders ------------------------------------------------------------------------------

    async def create_order(self, call: _Call) -> JSON:
        request = parse_create_order(call.body, call.user)
        self.sim.create_requests[request.client_order_id] += 1
        outcome = self.sim.engine.place(request, now=self.sim.epoch())
        self.sim.publish()
        if self.sim.faults.take_lost_order_response():
            await trio.sleep_forever()  # accepted (or not) but never answered
        configuration = call.body.get("order_configuration", {})
        if isinstance(outcome, OrderAccepted):
            order = outcome.order
            return {
                "success": True,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": order.order_id,
                "success_response": {
                    "order_id": order.order_id,
                    "product_id": order.product_id,
                    "side": order.side.value,
                    "client_order_id": order.client_order_id,
                    "attached_order_id": "",
                },
                "order_configuration": configuration,
            }
        return _rejection(outcome, configuration)

    async def preview_order(self, call: _Call) -> JSON:
        body = dict(call.body) if isinstance(call.body, dict) else {}
        body.setdefault("client_order_id", "preview")
        request = parse_create_order(body, call.user)
        preview = self.sim.engine.preview(request, now=self.sim.epoch())
        if isinstance(preview, OrderRejected):
            return {
                "order_total": "0",
                "commission_total": "0",
                "errs": [preview.preview_failure_reason.value],
                "warning": [],
                "quote_size": "0",
                "base_size": "0",
                "best_bid": "",
                "best_ask": "",
                "is_max": False,
                "slippage": "0",
                "preview_id": "",
            }
        return {
            "order_total": decimal_text(preview.order_total),
            "commission_total": decimal_text(preview.commission_total),
            "errs": [],
            "warning": [],
            "quote_size": decimal_text(preview.quote_size),
            "base_size": decimal_text(preview.base_size),
            "best_bid": decimal_text(preview.best_bid),
            "best_ask": decimal_text(preview.best_ask),
            "is_max": False,
            "average_filled_price": decimal_text(preview.average_filled_price),
            "slippage": decimal_text(preview.slippage),
            "preview_id": "",
        }

    async def batch_cancel(self, call: _Call) -> JSON:
        ids = call.body.get("order_ids") if isinstance(call.body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise WireError("INVALID_ARGUMENT", "order_ids must be a list of strings")
        if len(ids) > 100:
            raise WireError("INVALID_ARGUMENT", "at most 100 order_ids per request")
        results = self.sim.engine.cancel(call.user, ids, now=self.sim.epoch())
        self.sim.publish()
        return {
            "results": [
                {
                    "success": r.success,
                    "failure_reason": r.failure_reason.value,
                    "order_id": r.order_id,
                }
                for r in results
            ]
        }

    def _edit_args(self, call: _Call) -> tuple[str, Decimal, Decimal]:
        """order_id, new price and new size; a missing price or size keeps the order's own."""
        body = call.body if isinstance(call.body, dict) else {}
        unknown = sorted(set(body) - {"order_id", "price", "size"})
        if unknown:
            raise WireError("unknown", f'proto: unknown field "{unknown[0]}"')
        order_id = body.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            raise WireError("INVALID_ARGUMENT", "order_id is required")
        if body.get("price") is None and body.get("size") is None:
            raise WireError("INVALID_ARGUMENT", "an edit needs a new price, a new size, or both")
        order = self.sim.engine.get_order(call.user, order_id)
        current_price = order.limit_price if order is not None else None
        current_size = order.base_size if order is not None else None
        price = _decimal_field(body, "price", current_price)
        size = _decimal_field(body, "size", current_size)
        return order_id, price, size

    async def edit_order(self, call: _Call) -> JSON:
        order_id, price, size = self._edit_args(call)
        result = self.sim.engine.edit(
            call.user, order_id, price=price, size=size, now=self.sim.epoch()
        )
        self.sim.publish()
        if result.success:
            return {"success": True, "errors": [], "success_response": {"order_id": order_id}}
        return {
            "success": False,
            "errors": [
                {
                    "edit_failure_reason": result.edit_failure_reason.value,
                    "preview_failure_reason": result.preview_failure_reason.value,
                }
            ],
        }

    async def edit_preview(self, call: _Call) -> JSON:
        order_id, price, size = self._edit_args(call)
        order = self.sim.engine.get_order(call.user, order_id)
        if order is None:
            return {
                "errors": [
                    {
                        "edit_failure_reason": "ORDER_NOT_FOUND",
                        "preview_failure_reason": "UNKNOWN_PREVIEW_FAILURE_REASON",
                    }
                ]
            }
        fee = self.sim.config.fees.maker_rate * price * size
        return {
            "errors": [],
            "slippage": "0",
            "order_total": decimal_text(price * size + fee),
            "commission_total": decimal_text(fee),
            "quote_size": decimal_text(price * size),
            "base_size": decimal_text(size),
            "best_bid": "",
            "best_ask": "",
            "average_filled_price": "0",
        }

    async def get_order(self, call: _Call) -> JSON:
        order = self.sim.engine.get_order(call.user, call.params["order_id"])
        if order is None:
            raise _HttpError(404, "NOT_FOUND", "order with this orderID was not found")
        return {"order": order_json(order)}

    async def list_orders(self, call: _Call) -> JSON:
        query = call.request.query_params
        statuses = []
        for status in query.getlist("order_status"):
            try:
                statuses.append(OrderStatus(status))
            except ValueError:
                raise WireError("INVALID_ARGUMENT", f"unknown order_status {status!r}") from None
        limit = _int_param(call.request, "limit", default=100, maximum=1000)
        before = _sequence_cursor(call.request)
        orders = self.sim.engine.list_orders(
            call.user,
            product_ids=query.getlist("product_ids") or None,
            statuses=statuses or None,
            order_ids=query.getlist("order_ids") or None,
            before_sequence=before,
            limit=limit + 1,
        )
        page, more = orders[:limit], len(orders) > limit
        return {
            "orders": [order_json(o) for o in page],
            "sequence": "0",
            "has_next": more,
            "cursor": str(page[-1].sequence) if more and page else "",
        }

    async def list_fills(self, call: _Call) -> JSON:
        query = call.request.query_params
        limit = _int_param(call.request, "limit", default=100, maximum=1000)
        trade_ids = set(query.getlist("trade_ids"))
        start = query.get("start_sequence_timestamp")
        since = parse_rfc3339(start) if start else None
        filtered = bool(trade_ids) or since is not None
        fills = self.sim.engine.fills(
            call.user,
            order_ids=query.getlist("order_ids") or None,
            product_ids=query.getlist("product_ids") or None,
            before_sequence=_sequence_cursor(call.request),
            limit=None if filtered else limit + 1,  # filter first, then page
        )
        if trade_ids:
            fills = [f for f in fills if f.trade_id in trade_ids]
        if since is not None:
            fills = [f for f in fills if f.trade_time >= since]
        page, more = fills[:limit], len(fills) > limit
        return {
            "fills": [fill_json(f) for f in page],
            "cursor": str(page[-1].sequence) if more and page else "",
        }

    # -- account-level -----------------------------------------------------------------------

    async def transaction_summary(self, call: _Call) -> JSON:
        summary = self.sim.engine.trading_summary(call.user)
        fees = self.sim.config.fees
        return {
            "total_volume": float(summary.total_volume),
            "total_fees": float(summary.total_fees),
            "fee_tier": {
                "pricing_tier": "Advanced 1",
                "usd_from": "0",
                "usd_to": "10000",
                "taker_fee_rate": decimal_text(fees.taker_rate),
                "maker_fee_rate": decimal_text(fees.maker_rate),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": float(summary.total_volume),
            "advanced_trade_only_fees": float(summary.total_fees),
            "coinbase_pro_volume": 0,
            "coinbase_pro_fees": 0,
            "total_balance": "",
            "has_promo_fee": False,
        }

    async def key_permissions(self, call: _Call) -> JSON:
        return {
            "can_view": True,
            "can_trade": True,
            "can_transfer": False,
            "portfolio_uuid": f"portfolio-{call.user}",
            "portfolio_type": "DEFAULT",
        }


_GRANULARITY = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}


def _rejection(outcome: OrderRejected, configuration: object) -> JSON:
    return {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": outcome.error.value,
            "message": outcome.message,
            "error_details": outcome.error_details,
            "preview_failure_reason": outcome.preview_failure_reason.value,
            "new_order_failure_reason": outcome.new_order_failure_reason.value,
        },
        "order_configuration": configuration,
    }


def _decimal_field(body: dict[str, Any], name: str, current: Decimal | None) -> Decimal:
    raw = body.get(name)
    if raw is None:
        if current is None:  # unknown order: the engine answers with its failure reason
            return Decimal(1)
        return current
    if not isinstance(raw, str):
        raise WireError("INVALID_ARGUMENT", f"{name}: expected a decimal string, got {raw!r}")
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise WireError("INVALID_ARGUMENT", f"{name}: {raw!r} is not a decimal") from None
    if not value.is_finite() or value <= 0:
        raise WireError("INVALID_ARGUMENT", f"{name}: must be a positive number, got {raw!r}")
    return value


def _int_param(request: Request, name: str, *, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WireError("INVALID_ARGUMENT", f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise WireError("INVALID_ARGUMENT", f"{name} must be >= 0")
    if value == 0 and name == "limit":
        return default  # 0 means "the default page size", never an empty page that never ends
    return min(value, maximum)


def _cursor(request: Request) -> int:
    return _int_param(request, "cursor", default=0, maximum=10**9)


def _sequence_cursor(request: Request) -> int | None:
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise WireError("INVALID_ARGUMENT", f"invalid cursor {raw!r}") from None


def _error(status: int, error: str, details: str) -> Response:
    body = {"error": error, "error_details": details, "message": details}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _html(status: int) -> Response:
    page = _HTML_PAGE.format(status=status, reason=_REASONS.get(status, "Error"))
    return Response(page, status_code=status, media_type="text/html")


def unavailable_page() -> Response:
    """The gateway's answer while the exchange is down: an HTML 503 (a load balancer's
    maintenance page, not the exchange's JSON), for REST requests and WebSocket handshakes."""
    return _html(503)


def _with_limits(response: Response, bucket: _Bucket) -> Response:
    response.headers["x-ratelimit-limit"] = str(int(bucket.rate))
    response.headers["x-ratelimit-remaining"] = str(max(0, math.floor(bucket.tokens)))
    refill = 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / bucket.rate
    response.headers["x-ratelimit-reset"] = f"{refill:.3f}"
    return response
