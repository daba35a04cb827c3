"""The live-trading interlock: what must be true before ``cjt run`` sends a single order.

Why a gate of its own: the costliest mistakes of a trading bot happen before it trades (the
wrong account, a key that cannot trade, a product in cancel-only mode, a test config pointed
at the real exchange). Each is cheap to check at start-up and expensive to find out from a
rejected order at 3 a.m. So :func:`check_config` refuses, from the config alone, a real
exchange without ``live.enabled = true`` and the acknowledgement word for word, and plain
``http``/``ws`` to anything but loopback; :func:`check_venue` then asks the venue whether the
key may view and trade and whether every product is open for trading. Every problem is
collected, not only the first, and :class:`LiveTradingRefused` lists them all (the CLI exits
with code 2, like any configuration mistake).

The simulator goes through the same venue checks (its key permissions and products answer
like Coinbase's), so the gate itself is tested end to end here.
"""

from __future__ import annotations

import urllib.parse

import attrs

from .config import (
    COINBASE_REST_URL,
    COINBASE_USER_WS_URL,
    COINBASE_WS_URL,
    LIVE_ACKNOWLEDGEMENT,
    Config,
)
from .errors import CjtError, ExchangeError, NotFound
from .exchange.rest import API_PREFIX, RestClient
from .listen import is_loopback_host

__all__ = ["LiveTradingRefused", "VenueEndpoints", "check_config", "check_venue"]


class LiveTradingRefused(CjtError):
    """``cjt run`` will not trade: every reason, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("live trading refused:\n" + "\n".join(f"  - {p}" for p in problems))


@attrs.frozen(kw_only=True)
class VenueEndpoints:
    """Where the venue listens: REST origin (without ``/api/v3/brokerage``), market-data
    and user WebSockets."""

    rest_url: str
    ws_url: str
    user_ws_url: str


def _origin(url: str) -> str:
    trimmed = url.rstrip("/")
    return trimmed[: -len(API_PREFIX)] if trimmed.endswith(API_PREFIX) else trimmed


def check_config(config: Config) -> VenueEndpoints:
    """The venue's endpoints, if the config may trade on it; else :class:`LiveTradingRefused`.

    ``venue.kind = "sim"``: the three URLs are required and must be loopback (http/ws or
    https/wss). ``"coinbase"``: ``live.enabled`` and ``live.acknowledge`` ==
    :data:`LIVE_ACKNOWLEDGEMENT`; URLs default to Coinbase's and must be https/wss.
    """
    venue, live = config.venue, config.live
    problems: list[str] = []
    if venue.kind == "sim":
        urls = {"rest_url": venue.rest_url, "ws_url": venue.ws_url}
        urls["user_ws_url"] = venue.user_ws_url
        for key, url in urls.items():
            if url is None:
                problems.append(
                    f"venue.{key}: required for venue.kind = 'sim' (`cjt sim` prints it)"
                )
    else:
        urls = {
            "rest_url": venue.rest_url or COINBASE_REST_URL,
            "ws_url": venue.ws_url or COINBASE_WS_URL,
            "user_ws_url": venue.user_ws_url or COINBASE_USER_WS_URL,
        }
        if not live.enabled:
            problems.append(
                "live.enabled: must be true to trade on the real exchange (venue.kind = "
                "'coinbase'); it is false"
            )
        if live.acknowledge != LIVE_ACKNOWLEDGEMENT:
            problems.append(f"live.acknowledge: must read, word for word, {LIVE_ACKNOWLEDGEMENT!r}")
    resolved: dict[str, str] = {}
    for key, url in urls.items():
        if url is None:
            continue
        resolved[key] = url
        problem = _url_problem(
            key, url, real_exchange=venue.kind == "coinbase", websocket=key != "rest_url"
        )
        if problem:
            problems.append(problem)
    if problems:
        raise LiveTradingRefused(problems)
    return VenueEndpoints(
        rest_url=_origin(resolved["rest_url"]),
        ws_url=resolved["ws_url"],
        user_ws_url=resolved["user_ws_url"],
    )


def _url_problem(key: str, url: str, *, real_exchange: bool, websocket: bool) -> str:
    secure, plain = ("wss", "ws") if websocket else ("https", "http")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in (secure, plain) or not host:
        return f"venue.{key}: expected {secure}://host[:port]... or {plain}://, got {url!r}"
    if parts.scheme == plain and not is_loopback_host(host):
        return (
            f"venue.{key}: {url!r} is plain {plain}:// to {host!r}, which is not loopback; "
            f"plain {plain} only to 127.0.0.0/8, ::1 or localhost (tokens must not cross a "
            "network in clear)"
        )
    if not real_exchange and not is_loopback_host(host):
        return (
            f"venue.{key}: {url!r} is not a loopback address; a 'sim' venue is a `cjt sim` "
            "on this machine (use venue.kind = 'coinbase' for the real exchange)"
        )
    return ""


async def check_venue(rest: RestClient, products: tuple[str, ...]) -> tuple[str, ...]:
    """Ask the venue whether this key may trade ``products``; return the warnings.

    Raises :class:`LiveTradingRefused` listing every problem: the key cannot view or trade,
    a product is unknown, disabled, not online, or cancel-only. ``limit_only`` and
    ``post_only`` products are warnings (a market maker trades them; a taker cannot).
    """
    problems: list[str] = []
    warnings: list[str] = []
    try:
        permissions = await rest.get_key_permissions()
    except ExchangeError as error:
        raise LiveTradingRefused([f"key permissions: the venue did not answer: {error}"]) from None
    if not permissions.can_view:
        problems.append("key permissions: the key may not view the account (can_view false)")
    if not permissions.can_trade:
        problems.append("key permissions: the key may not trade (can_trade false)")
    for product_id in products:
        try:
            product = await rest.get_product(product_id)
        except NotFound:
            problems.append(f"market.products: {product_id!r} does not exist at the venue")
            continue
        except ExchangeError as error:
            problems.append(f"market.products: {product_id!r}: the venue did not answer: {error}")
            continue
        if product.is_disabled or product.trading_disabled:
            problems.append(f"market.products: {product_id!r} is disabled for trading")
        elif product.cancel_only:
            problems.append(f"market.products: {product_id!r} is cancel-only")
        elif product.status and product.status.lower() != "online":
            problems.append(f"market.products: {product_id!r} status is {product.status!r}")
        if product.limit_only:
            warnings.append(f"{product_id} is limit-only: market orders will be rejected")
        if product.post_only:
            warnings.append(f"{product_id} is post-only: orders that take will be rejected")
    if problems:
        raise LiveTradingRefused(problems)
    return tuple(warnings)
