"""The Coinbase Advanced Trade REST client, on httpx under trio.

``RestClient`` is the only way the trading actors talk REST to the exchange (or to the
simulator). It knows the endpoints of ``reference/coinbase-api.md`` §2, turns arguments into
queries and bodies, and answers with the typed values of :mod:`.models`. The HTTP rules
(signing, rate limiting, retries, error mapping) are in :mod:`._http`.

Which calls are retried (on a transport error, 429 or 5xx) and why:

* every GET, and the batch cancel: repeating them changes nothing (a second cancel of the
  same order answers with a per-order failure such as ``DUPLICATE_CANCEL_REQUEST``, which
  after a retry may mean the first attempt worked);
* order creation: always re-sent with the **same** ``client_order_id``, which Coinbase
  treats as an idempotency key (a repeat answers with the original order);
* order preview: it has no side effects, so it is retried like a GET;
* **not** edit: an edit applied twice can race a fill in between. A failed edit raises, and
  the caller checks the order.

Order creation never raises for a lost or unreadable answer: it returns
:class:`~.orders.OrderOutcomeUnknown`, and :class:`~.orders.OrderRejected` only on the
exchange's explicit ``success: false``. Requests it refuses outright (400, 401, 403, 404, a
429 that outlived the retries) raise, unless an earlier attempt may have placed the order.

Market data without credentials uses the public ``/market/...`` twins of the product
endpoints (same shapes); with credentials, every request (``/time`` too) carries a JWT, as
the official SDK's do.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Self, TypeVar
from urllib.parse import quote

import httpx
import trio

from ..errors import CredentialsError, InvalidSpec, ResponseError, TransportError
from ._http import USER_AGENT, Call, Connection, RetryPolicy, default_timeout, validate_base_url
from ._wire import WireEnum, format_decimal, format_time, parse_json_body, to_wire
from .auth import Credentials
from .models import (
    Account,
    AccountsPage,
    BestBidAsk,
    CancelOrdersResponse,
    CancelResult,
    Candle,
    Candles,
    ContractExpiryType,
    EditOrderResult,
    Fill,
    FillsPage,
    GetAccountResponse,
    GetOrderResponse,
    Granularity,
    KeyPermissions,
    MarketTrades,
    Order,
    OrderPreview,
    OrdersPage,
    PriceBook,
    Product,
    ProductBook,
    ProductsPage,
    ProductType,
    ProductVenue,
    ServerTime,
    TransactionSummary,
    parse,
)
from .orders import (
    CreateOrderOutcome,
    CreateOrderResponse,
    OrderOutcomeUnknown,
    OrderRequest,
    outcome_of,
)
from .ratelimit import RateLimiter, Scope

__all__ = ["API_PREFIX", "RestClient", "RetryPolicy"]

T = TypeVar("T")

API_PREFIX = "/api/v3/brokerage"

#: Seconds the client may take to close its connections when the ``async with`` ends.
CLOSE_TIMEOUT = 5.0

QueryValue = str | int | bool | Decimal | datetime | WireEnum | Sequence[str] | None


def _query(**values: QueryValue) -> list[tuple[str, str]]:
    """Query pairs in argument order: None left out, sequences as repeated keys."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if value is None:
            continue
        items = [value] if isinstance(value, str | int | Decimal | datetime) else list(value)
        for item in items:
            if isinstance(item, bool):
                pairs.append((key, "true" if item else "false"))
            elif isinstance(item, Decimal):
                pairs.append((key, format_decimal(item)))
            elif isinstance(item, datetime):
                pairs.append((key, format_time(item)))
            else:
                pairs.append((key, str(item)))
    return pairs


def _id(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidSpec(f"{name}: must be a non-empty string, got {value!r}")
    return value


def _segment(name: str, value: str) -> str:
    """A path segment, checked and percent-encoded (an id must not be able to add a path)."""
    return quote(_id(name, value), safe="")


def _limit(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidSpec(f"{name}: must be an int >= 1, got {value!r}")
    return value


def _ids(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise InvalidSpec(f"{name}: must be a sequence of strings, not one string")
    items = list(values)
    for item in items:
        if not isinstance(item, str) or not item:
            raise InvalidSpec(f"{name}: every item must be a non-empty string, got {item!r}")
    return items


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


class RestClient:
    """An async context manager owning one ``httpx.AsyncClient``.

    Args:
        base_url: ``https://host[:port][/prefix]``; ``http://`` only to a loopback host.
            The JWT ``uri`` uses host[:port] exactly as written here.
        credentials: the CDP key, or None for public market data only.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        timeout: seconds for each of connect, read, write and pool, or an httpx.Timeout.
        attempt_timeout: seconds one attempt may take in all, on trio's clock.
        retry: attempts and backoff for idempotent calls.
        rate_limiter: share one between clients that use the same key; default 30/s
            private, 10/s public.
        rng: jitter source for retry backoff and the default limiter's 429 penalty (seed it
            for reproducible runs).
        now: wall clock for JWT ``nbf``/``exp``.

    Raises:
        InvalidSpec: a bad ``base_url`` (including plain http to a non-loopback host),
            timeout or argument.
    """

    def __init__(
        self,
        base_url: str = "https://api.coinbase.com",
        *,
        credentials: Credentials | None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = 10.0,
        attempt_timeout: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
        rate_limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if credentials is not None and not isinstance(credentials, Credentials):
            raise InvalidSpec(
                f"credentials: must be Credentials or None, got {type(credentials).__name__}"
            )
        self._origin, self._jwt_host = validate_base_url(base_url)
        self._credentials = credentials
        self._transport = transport
        self._timeout = default_timeout(timeout)
        if (
            isinstance(attempt_timeout, bool)
            or not isinstance(attempt_timeout, int | float)
            or not math.isfinite(attempt_timeout)
            or attempt_timeout <= 0
        ):
            raise InvalidSpec(
                f"attempt_timeout: must be finite and > 0 seconds, got {attempt_timeout!r}"
            )
        self._attempt_timeout = float(attempt_timeout)
        self._retry = retry
        self._rng = rng if rng is not None else random.Random()
        if rate_limiter is None:
            # A seeded client seeds its default limiter's jitter too (reproducible runs),
            # from a copy of its state, so the retries' own draws do not change.
            jitter = random.Random()
            jitter.setstate(self._rng.getstate())
            rate_limiter = RateLimiter(rng=jitter, now=now)
        self._limiter = rate_limiter
        self._now = now
        self._client: httpx.AsyncClient | None = None
        self._connection: Connection | None = None

    def __repr__(self) -> str:
        state = "open" if self._connection is not None else "closed"
        return f"<RestClient {self._origin} credentials={self._credentials!r} {state}>"

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._limiter

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._client is not None:
            raise RuntimeError("RestClient is already open; use one `async with` at a time")
        client = httpx.AsyncClient(
            transport=self._transport,
            timeout=self._timeout,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )
        self._client = client
        self._connection = Connection(
            client=client,
            origin=self._origin,
            jwt_host=self._jwt_host,
            credentials=self._credentials,
            limiter=self._limiter,
            retry=self._retry,
            attempt_timeout=self._attempt_timeout,
            rng=self._rng,
            now=self._now,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        client, self._client, self._connection = self._client, None, None
        if client is not None:
            with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await client.aclose()

    def _open(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("RestClient is not open: use `async with RestClient(...) as client`")
        return self._connection

    def _require_credentials(self, what: str) -> None:
        if self._credentials is None:
            raise CredentialsError(f"{what} needs an API key; this client has no credentials")

    # -- plumbing ----------------------------------------------------------------------------

    async def _get(
        self,
        path: str,
        cls: type[T],
        params: Sequence[tuple[str, str]] = (),
        *,
        scope: Scope = Scope.PRIVATE,
    ) -> T:
        if scope is Scope.PRIVATE:
            self._require_credentials(f"GET {path}")
        connection = self._open()
        call = Call(method="GET", path=path, scope=scope, idempotent=True, params=params)
        document = await connection.request_json(call)
        return parse(document, cls, method="GET", path=connection.where(call))

    async def _post(self, path: str, cls: type[T], body: object, *, idempotent: bool) -> T:
        self._require_credentials(f"POST {path}")
        connection = self._open()
        call = Call(
            method="POST", path=path, scope=Scope.PRIVATE, idempotent=idempotent, body=_json(body)
        )
        document = await connection.request_json(call)
        return parse(document, cls, method="POST", path=connection.where(call))

    def _market(self, private_path: str) -> tuple[str, Scope]:
        """The product endpoint to use: private with a key, the public twin without."""
        if self._credentials is not None:
            return f"{API_PREFIX}{private_path}", Scope.PRIVATE
        return f"{API_PREFIX}/market{private_path}", Scope.PUBLIC

    # -- accounts ----------------------------------------------------------------------------

    async def list_accounts(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        retail_portfolio_id: str | None = None,
    ) -> AccountsPage:
        """One page of accounts (``limit`` at most 250); pass ``page.cursor`` for the next."""
        params = _query(
            limit=_limit("limit", limit), cursor=cursor, retail_portfolio_id=retail_portfolio_id
        )
        return await self._get(f"{API_PREFIX}/accounts", AccountsPage, params)

    async def iter_accounts(
        self, *, limit: int | None = None, retail_portfolio_id: str | None = None
    ) -> AsyncIterator[Account]:
        """Every account, page after page (``limit`` is the page size)."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.list_accounts(
                limit=limit, cursor=cursor, retail_portfolio_id=retail_portfolio_id
            )
            for account in page.accounts:
                yield account
            if not page.has_next:
                return
            cursor = self._next_cursor(page.cursor, seen, f"{API_PREFIX}/accounts")

    async def get_account(self, account_uuid: str) -> Account:
        path = f"{API_PREFIX}/accounts/{_segment('account_uuid', account_uuid)}"
        return (await self._get(path, GetAccountResponse)).account

    @staticmethod
    def _next_cursor(cursor: str, seen: set[str], path: str) -> str:
        """The cursor for the next page, refusing an empty or repeated one (no endless loop)."""
        if not cursor:
            raise ResponseError(
                "has_next is true but the cursor is empty", method="GET", path=path, status=200
            )
        if cursor in seen:
            raise ResponseError(
                f"cursor {cursor[:40]!r} came back twice", method="GET", path=path, status=200
            )
        seen.add(cursor)
        return cursor

    # -- products and market data ------------------------------------------------------------

    async def list_products(
        self,
        *,
        product_type: ProductType | None = None,
        product_ids: Sequence[str] = (),
        limit: int | None = None,
        offset: int | None = None,
        contract_expiry_type: ContractExpiryType | None = None,
        get_tradability_status: bool | None = None,
        get_all_products: bool | None = None,
    ) -> ProductsPage:
        path, scope = self._market("/products")
        if offset is not None and (
            isinstance(offset, bool) or not isinstance(offset, int) or offset < 0
        ):
            raise InvalidSpec(f"offset: must be an int >= 0, got {offset!r}")
        params = _query(
            limit=_limit("limit", limit),
            offset=offset,
            product_type=product_type,
            product_ids=_ids("product_ids", product_ids),
            contract_expiry_type=contract_expiry_type,
            get_tradability_status=get_tradability_status,
            get_all_products=get_all_products,
        )
        return await self._get(path, ProductsPage, params, scope=scope)

    async def get_product(
        self, product_id: str, *, get_tradability_status: bool | None = None
    ) -> Product:
        """One product (the wire returns it flat, not wrapped)."""
        path, scope = self._market(f"/products/{_segment('product_id', product_id)}")
        params = _query(get_tradability_status=get_tradability_status)
        return await self._get(path, Product, params, scope=scope)

    async def get_product_book(
        self,
        product_id: str,
        *,
        limit: int | None = None,
        aggregation_price_increment: Decimal | None = None,
    ) -> ProductBook:
        path, scope = self._market("/product_book")
        params = _query(
            product_id=_id("product_id", product_id),
            limit=_limit("limit", limit),
            aggregation_price_increment=aggregation_price_increment,
        )
        return await self._get(path, ProductBook, params, scope=scope)

    async def get_best_bid_ask(self, product_ids: Sequence[str] = ()) -> tuple[PriceBook, ...]:
        """Top of book per product (all products if none given). Needs credentials."""
        params = _query(product_ids=_ids("product_ids", product_ids))
        return (await self._get(f"{API_PREFIX}/best_bid_ask", BestBidAsk, params)).pricebooks

    async def get_candles(
        self,
        product_id: str,
        *,
        start: int,
        end: int,
        granularity: Granularity,
        limit: int | None = None,
    ) -> tuple[Candle, ...]:
        """Candles between ``start`` and ``end`` (UNIX seconds; at most 350 per request)."""
        for name, value in (("start", start), ("end", end)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidSpec(f"{name}: must be UNIX seconds as an int, got {value!r}")
        path, scope = self._market(f"/products/{_segment('product_id', product_id)}/candles")
        params = _query(
            start=str(start), end=str(end), granularity=granularity, limit=_limit("limit", limit)
        )
        return (await self._get(path, Candles, params, scope=scope)).candles

    async def get_market_trades(
        self, product_id: str, *, limit: int, start: int | None = None, end: int | None = None
    ) -> MarketTrades:
        """The last ``limit`` trades (``/products/{id}/ticker``) and the best bid and ask."""
        path, scope = self._market(f"/products/{_segment('product_id', product_id)}/ticker")
        params = _query(limit=_limit("limit", limit), start=start, end=end)
        return await self._get(path, MarketTrades, params, scope=scope)

    async def get_server_time(self) -> ServerTime:
        """The exchange's clock (public; signed anyway when the client has a key)."""
        return await self._get(f"{API_PREFIX}/time", ServerTime, scope=Scope.PUBLIC)

    # -- orders ------------------------------------------------------------------------------

    async def create_order(self, order: OrderRequest) -> CreateOrderOutcome:
        """Place an order. Never raises for a lost answer: see the module docstring.

        Returns:
            OrderAccepted, OrderRejected (only on ``success: false``), or
            OrderOutcomeUnknown (reconcile by ``order.client_order_id``).

        Raises:
            BadRequest, Unauthorized, PermissionDenied, NotFound, RateLimited,
            HTTPStatusError: the exchange refused the request itself and no attempt can
                have placed the order.
            CredentialsError: the client has no credentials (nothing was sent).
        """
        if not isinstance(order, OrderRequest):
            raise InvalidSpec(f"order: must be an OrderRequest, got {type(order).__name__}")
        self._require_credentials("create_order")
        connection = self._open()
        call = Call(
            method="POST",
            path=f"{API_PREFIX}/orders",
            scope=Scope.PRIVATE,
            idempotent=True,  # same client_order_id on every attempt
            body=_json(to_wire(order)),
        )
        where = connection.where(call)
        ended = await connection.exchange(call)

        def unknown(reason: str) -> OrderOutcomeUnknown:
            return OrderOutcomeUnknown(
                client_order_id=order.client_order_id,
                product_id=order.product_id,
                reason=reason,
                attempts=ended.attempts,
            )

        if ended.response is not None:
            try:
                document = parse_json_body(
                    ended.response.content,
                    method="POST",
                    path=where,
                    status=ended.response.status_code,
                )
                response = parse(
                    document,
                    CreateOrderResponse,
                    method="POST",
                    path=where,
                    status=ended.response.status_code,
                )
            except ResponseError as unreadable:
                return unknown(f"unreadable answer: {unreadable}")
            return outcome_of(response, order, attempts=ended.attempts)
        failure = ended.error
        assert failure is not None
        if ended.ambiguous:
            return unknown(
                f"{failure} (attempts: {ended.attempts}; one may have reached the exchange)"
            )
        if isinstance(failure, TransportError):
            return unknown(f"{failure} (attempts: {ended.attempts}; none connected)")
        raise failure

    async def preview_order(self, order: OrderRequest) -> OrderPreview:
        """What ``order`` would cost and why it would fail; places nothing (retried safely)."""
        if not isinstance(order, OrderRequest):
            raise InvalidSpec(f"order: must be an OrderRequest, got {type(order).__name__}")
        body = to_wire(order)
        # The preview endpoint takes the create body minus these (unknown fields are refused).
        body.pop("client_order_id", None)
        body.pop("self_trade_prevention_id", None)
        return await self._post(f"{API_PREFIX}/orders/preview", OrderPreview, body, idempotent=True)

    async def cancel_orders(self, order_ids: Sequence[str]) -> tuple[CancelResult, ...]:
        """Ask to cancel ``order_ids``; per-order results (success = the cancel was accepted)."""
        ids = _ids("order_ids", order_ids)
        if not ids:
            raise InvalidSpec("order_ids: give at least one order id")
        response = await self._post(
            f"{API_PREFIX}/orders/batch_cancel",
            CancelOrdersResponse,
            {"order_ids": ids},
            idempotent=True,
        )
        return response.results

    async def edit_order(
        self, order_id: str, *, price: Decimal | None = None, size: Decimal | None = None
    ) -> EditOrderResult:
        """Change a resting GTC limit order's price and/or size. Sent once, never retried.

        Raises:
            TransportError, ServerError: the edit may or may not have been applied; read
                the order before trying again.
        """
        body: dict[str, str] = {"order_id": _id("order_id", order_id)}
        for name, value in (("price", price), ("size", size)):
            if value is not None:
                if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                    raise InvalidSpec(f"{name}: must be a finite Decimal > 0, got {value!r}")
                body[name] = format_decimal(value)
        if len(body) == 1:
            raise InvalidSpec("edit_order: give a new price, a new size, or both")
        return await self._post(
            f"{API_PREFIX}/orders/edit", EditOrderResult, body, idempotent=False
        )

    async def get_order(self, order_id: str) -> Order:
        path = f"{API_PREFIX}/orders/historical/{_segment('order_id', order_id)}"
        return (await self._get(path, GetOrderResponse)).order

    async def list_orders(
        self,
        *,
        order_ids: Sequence[str] = (),
        product_ids: Sequence[str] = (),
        order_status: Sequence[str] = (),
        limit: int | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        order_types: Sequence[str] = (),
        order_side: str | None = None,
        cursor: str | None = None,
        product_type: str | None = None,
        order_placement_source: str | None = None,
        contract_expiry_type: str | None = None,
        asset_filters: Sequence[str] = (),
        retail_portfolio_id: str | None = None,
        time_in_forces: Sequence[str] = (),
        sort_by: str | None = None,
    ) -> OrdersPage:
        """One page of orders, filtered (``order_status=["OPEN"]`` for the resting ones)."""
        params = _query(
            order_ids=_ids("order_ids", order_ids),
            product_ids=_ids("product_ids", product_ids),
            order_status=_ids("order_status", order_status),
            limit=_limit("limit", limit),
            start_date=start_date,
            end_date=end_date,
            order_types=_ids("order_types", order_types),
            order_side=order_side,
            cursor=cursor,
            product_type=product_type,
            order_placement_source=order_placement_source,
            contract_expiry_type=contract_expiry_type,
            asset_filters=_ids("asset_filters", asset_filters),
            retail_portfolio_id=retail_portfolio_id,
            time_in_forces=_ids("time_in_forces", time_in_forces),
            sort_by=sort_by,
        )
        return await self._get(f"{API_PREFIX}/orders/historical/batch", OrdersPage, params)

    async def iter_orders(
        self,
        *,
        order_ids: Sequence[str] = (),
        product_ids: Sequence[str] = (),
        order_status: Sequence[str] = (),
        limit: int | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        order_side: str | None = None,
        product_type: str | None = None,
        retail_portfolio_id: str | None = None,
    ) -> AsyncIterator[Order]:
        """Every matching order, page after page (``limit`` is the page size)."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.list_orders(
                order_ids=order_ids,
                product_ids=product_ids,
                order_status=order_status,
                limit=limit,
                start_date=start_date,
                end_date=end_date,
                order_side=order_side,
                cursor=cursor,
                product_type=product_type,
                retail_portfolio_id=retail_portfolio_id,
            )
            for order in page.orders:
                yield order
            if not page.has_next:
                return
            cursor = self._next_cursor(page.cursor, seen, f"{API_PREFIX}/orders/historical/batch")

    async def list_fills(
        self,
        *,
        order_ids: Sequence[str] = (),
        trade_ids: Sequence[str] = (),
        product_ids: Sequence[str] = (),
        start_sequence_timestamp: datetime | None = None,
        end_sequence_timestamp: datetime | None = None,
        retail_portfolio_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        sort_by: str | None = None,
    ) -> FillsPage:
        """One page of fills; the next page exists while ``page.cursor`` is not empty."""
        params = _query(
            order_ids=_ids("order_ids", order_ids),
            trade_ids=_ids("trade_ids", trade_ids),
            product_ids=_ids("product_ids", product_ids),
            start_sequence_timestamp=start_sequence_timestamp,
            end_sequence_timestamp=end_sequence_timestamp,
            retail_portfolio_id=retail_portfolio_id,
            limit=_limit("limit", limit),
            cursor=cursor,
            sort_by=sort_by,
        )
        return await self._get(f"{API_PREFIX}/orders/historical/fills", FillsPage, params)

    async def iter_fills(
        self,
        *,
        order_ids: Sequence[str] = (),
        trade_ids: Sequence[str] = (),
        product_ids: Sequence[str] = (),
        start_sequence_timestamp: datetime | None = None,
        end_sequence_timestamp: datetime | None = None,
        retail_portfolio_id: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Fill]:
        """Every matching fill: pages follow while the cursor is set and pages are not empty."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.list_fills(
                order_ids=order_ids,
                trade_ids=trade_ids,
                product_ids=product_ids,
                start_sequence_timestamp=start_sequence_timestamp,
                end_sequence_timestamp=end_sequence_timestamp,
                retail_portfolio_id=retail_portfolio_id,
                limit=limit,
                cursor=cursor,
            )
            for fill in page.fills:
                yield fill
            if not page.cursor or not page.fills:
                return
            cursor = self._next_cursor(page.cursor, seen, f"{API_PREFIX}/orders/historical/fills")

    # -- fees and key ------------------------------------------------------------------------

    async def get_transaction_summary(
        self,
        *,
        product_type: ProductType | None = None,
        contract_expiry_type: ContractExpiryType | None = None,
        product_venue: ProductVenue | None = None,
    ) -> TransactionSummary:
        """The fee tier (maker/taker rates) and traded volume."""
        params = _query(
            product_type=product_type,
            contract_expiry_type=contract_expiry_type,
            product_venue=product_venue,
        )
        return await self._get(f"{API_PREFIX}/transaction_summary", TransactionSummary, params)

    async def get_key_permissions(self) -> KeyPermissions:
        """What this API key may do (``can_trade``...)."""
        return await self._get(f"{API_PREFIX}/key_permissions", KeyPermissions)
