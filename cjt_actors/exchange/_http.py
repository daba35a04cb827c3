"""One request to Coinbase, end to end: rate-limit, sign, send, retry, classify the answer.

:mod:`.rest` knows the endpoints; this module knows HTTP. It is kept apart so the rules
that protect money are in one place and tested once:

* **A fresh JWT per attempt.** ``uri`` = method, host[:port] exactly as given in the base
  URL, and the path as sent (no query string). The ``Authorization`` header is set on the
  request only, never on the client, and never reaches a message: an httpx exception is
  reported by its name and text in a new ``TransportError``, never chained (it holds the
  request, headers included).
* **Each attempt has a deadline as a whole** (``attempt_timeout``), on trio's clock, on top
  of httpx's per-phase timeouts: a server that drips bytes cannot hold a request forever.
* **Retries only where a repeat cannot hurt** (the caller says so per call): on transport
  errors, 429 and 5xx, at most ``RetryPolicy.max_attempts`` sends, waiting a capped,
  jittered exponential backoff (:class:`~cjt_actors.policy.Backoff`) on trio's clock. A 429
  waits in the rate limiter instead, which pauses the whole scope.
* **Ambiguity is tracked**, not guessed: an attempt that may have reached the exchange (a
  read timeout, a dropped connection, a 5xx) marks the exchange ambiguous, which is what
  lets an order placement say "outcome unknown" instead of "failed".
* **Errors are classified** into the :mod:`cjt_actors.errors` tree with the exchange's own
  ``error`` / ``error_details`` / ``message``; a body that is HTML or plain text (401s,
  many 429s and 5xx) is shown as its ``<title>`` or first characters on one line.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx
import trio

from .._version import __version__
from ..errors import (
    BadRequest,
    ExchangeError,
    HTTPStatusError,
    InvalidSpec,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)
from ..listen import is_loopback_host
from ..policy import Backoff
from ._wire import body_excerpt, parse_json_body
from .auth import Credentials
from .ratelimit import RateLimiter, Scope

__all__ = [
    "DEFAULT_RETRY_BACKOFF",
    "Call",
    "Connection",
    "Exchanged",
    "RetryPolicy",
    "default_timeout",
    "status_error",
    "validate_base_url",
]

log = logging.getLogger("cjt_actors.exchange.rest")

USER_AGENT = f"cjt-actors/{__version__}"

#: httpx exceptions after which the request certainly never left this process.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

_STATUS_ERRORS: dict[int, type[HTTPStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: PermissionDenied,
    404: NotFound,
    429: RateLimited,
}

_MAX_DETAILS = 300


#: Default wait between attempts: 0.25 s doubling to 4 s, up to half of it taken off by jitter.
DEFAULT_RETRY_BACKOFF = Backoff(min=0.25, max=4.0, jitter=0.5, reset_after=0.0)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often an idempotent request is sent at most, and how long to wait in between.

    The wait before attempt ``n + 1`` (``n`` >= 1) is ``backoff.delay(n - 1, u)``.
    """

    max_attempts: int = 4
    backoff: Backoff = DEFAULT_RETRY_BACKOFF

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise InvalidSpec(f"max_attempts: must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise InvalidSpec(f"max_attempts: must be >= 1, got {self.max_attempts}")


def validate_base_url(base_url: str) -> tuple[str, str]:
    """Check a base URL; return ``(origin + prefix, host[:port] as written)``.

    Raises:
        InvalidSpec: not http(s), no host, credentials/query/fragment in it, or plain
            ``http://`` to a host that is not loopback (tokens would cross the network
            in clear).
    """
    if not isinstance(base_url, str):
        raise InvalidSpec(f"base_url: must be a string, got {type(base_url).__name__}")
    try:
        parts = urlsplit(base_url)
        hostname = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise InvalidSpec(f"base_url {base_url!r}: {error}") from None
    if parts.scheme not in ("https", "http") or not hostname:
        raise InvalidSpec(f"base_url {base_url!r}: expected https://host[:port]")
    if "@" in parts.netloc:
        raise InvalidSpec("base_url: must not contain user info (credentials go in Credentials)")
    if parts.query or parts.fragment:
        raise InvalidSpec(f"base_url {base_url!r}: must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(hostname):
        raise InvalidSpec(
            f"base_url {base_url!r}: plain http is allowed only to a loopback host "
            "(127.0.0.0/8, ::1, localhost); use https"
        )
    prefix = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{prefix}", parts.netloc


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAILS else text[: _MAX_DETAILS - 1] + "…"


def status_error(response: httpx.Response, *, method: str, path: str) -> HTTPStatusError:
    """The exception for a non-2xx answer, with the exchange's own words where it gave any."""
    error = details = ""
    try:
        document = json.loads(response.content)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        error = _one_line(_text(document.get("error")))
        parts = [_text(document.get("error_details")), _text(document.get("message"))]
        details = _one_line("; ".join(dict.fromkeys(part for part in parts if part)))
    if not error and not details:
        details = body_excerpt(response.content) or response.reason_phrase
    status = response.status_code
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else HTTPStatusError)
    return cls(status=status, method=method, path=path, error=error, details=details)


@attrs.frozen(kw_only=True)
class Call:
    """One logical request (sent once or, when ``idempotent``, up to the retry limit)."""

    method: str
    path: str  #: under the base URL, without query string: ``/api/v3/brokerage/accounts``
    scope: Scope
    idempotent: bool
    params: Sequence[tuple[str, str]] = ()
    body: bytes | None = None


@attrs.frozen(kw_only=True)
class _Lost:
    """An attempt without an answer; ``maybe_sent`` unless it certainly never left."""

    error: TransportError
    maybe_sent: bool


@attrs.frozen(kw_only=True)
class Exchanged:
    """How a call ended: a 2xx ``response``, or the ``error`` of its last attempt.

    ``ambiguous``: some attempt may have reached the exchange without a usable answer.
    """

    response: httpx.Response | None
    error: ExchangeError | None
    attempts: int
    ambiguous: bool


class Connection:
    """An open httpx client plus everything a request needs. Made by ``RestClient``."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        origin: str,
        jwt_host: str,
        credentials: Credentials | None,
        limiter: RateLimiter,
        retry: RetryPolicy,
        attempt_timeout: float,
        rng: random.Random,
        now: Callable[[], float],
    ) -> None:
        self._client = client
        self._attempt_timeout = attempt_timeout
        self._origin = origin
        self._prefix = urlsplit(origin).path
        self._jwt_host = jwt_host
        self._credentials = credentials
        self._limiter = limiter
        self._retry = retry
        self._rng = rng
        self._now = now

    def _build(self, call: Call) -> httpx.Request:
        headers = {"Accept": "application/json"}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        request = self._client.build_request(
            call.method,
            self._origin + call.path,
            params=list(call.params) or None,
            content=call.body,
            headers=headers,
        )
        if self._credentials is not None:
            signed_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
            token = self._credentials.rest_jwt(
                call.method, self._jwt_host, signed_path, now=self._now
            )
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    def where(self, call: Call) -> str:
        """The request's full path (base URL prefix included), as errors name it."""
        return self._prefix + call.path

    async def exchange(self, call: Call) -> Exchanged:
        """Send ``call`` (retrying if it is idempotent) and report how it ended. Never raises
        an :class:`ExchangeError`; cancellation passes through."""
        where = self.where(call)
        attempts = 0
        ambiguous = False
        while True:
            attempts += 1
            await self._limiter.acquire(call.scope)
            error: ExchangeError
            answer = await self._attempt(call, where)
            if isinstance(answer, _Lost):
                error = answer.error
                ambiguous = ambiguous or answer.maybe_sent
            else:
                status = answer.status_code
                self._limiter.observe(call.scope, status, answer.headers)
                if 200 <= status < 300:
                    return Exchanged(
                        response=answer, error=None, attempts=attempts, ambiguous=ambiguous
                    )
                error = status_error(answer, method=call.method, path=where)
                if status >= 500:
                    ambiguous = True
                elif status != 429:
                    return Exchanged(
                        response=None, error=error, attempts=attempts, ambiguous=ambiguous
                    )
            if not call.idempotent or attempts >= self._retry.max_attempts:
                return Exchanged(response=None, error=error, attempts=attempts, ambiguous=ambiguous)
            if isinstance(error, RateLimited):
                log.warning(
                    "%s; retry %d/%d after the scope's pause",
                    error,
                    attempts,
                    self._retry.max_attempts - 1,
                )
                continue
            delay = self._retry.backoff.delay(attempts - 1, self._rng.random())
            log.warning(
                "%s; retry %d/%d in %.2f s", error, attempts, self._retry.max_attempts - 1, delay
            )
            await trio.sleep(delay)

    async def _attempt(self, call: Call, where: str) -> httpx.Response | _Lost:
        """One send, bounded by ``attempt_timeout`` as a whole (httpx bounds each phase)."""
        with trio.move_on_after(self._attempt_timeout):
            try:
                return await self._client.send(self._build(call))
            except httpx.RequestError as exc:
                # Reported by name only: the httpx exception holds the signed request.
                message = f"{type(exc).__name__}: {exc}".rstrip(": ")
                return _Lost(
                    error=TransportError(message, method=call.method, path=where),
                    maybe_sent=not isinstance(exc, _NOT_SENT),
                )
        return _Lost(
            error=TransportError(
                f"no answer within {self._attempt_timeout:g} s", method=call.method, path=where
            ),
            maybe_sent=True,
        )

    async def request_json(self, call: Call) -> dict[str, Any]:
        """Send ``call`` and return its JSON object body.

        Raises:
            TransportError, HTTPStatusError (and subclasses): the last attempt's failure.
            ResponseError: a 2xx whose body is not a JSON object.
        """
        outcome = await self.exchange(call)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.response is not None
        return parse_json_body(
            outcome.response.content,
            method=call.method,
            path=self.where(call),
            status=outcome.response.status_code,
        )


def default_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    """``timeout`` as an httpx.Timeout (a number applies to connect, read, write and pool)."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidSpec(f"timeout: must be seconds or an httpx.Timeout, got {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise InvalidSpec(f"timeout: must be finite and > 0 seconds, got {timeout!r}")
    return httpx.Timeout(float(timeout))
