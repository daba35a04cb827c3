"""Start-up with the venue down: ask until it answers, within a patience, then give up clearly.

Before ``cjt run`` opens its journal it asks the venue two things: may this key view and
trade, and is every product open for trading (:func:`~cjt_actors.interlock.check_venue`);
and what are the products' increments and size limits
(:meth:`~cjt_actors.products.ProductRules.from_product`). A daemon restarted by systemd in
the middle of an exchange maintenance, or while the network is coming up, gets no answer
to those questions. Failing at once would make systemd restart it every ``RestartSec``
with a traceback each time; retrying forever would hide a venue that is gone. So
:func:`prepare_venue` tells two kinds of failure apart:

* **Unreachable** (the venue may answer later): no answer (connection refused or dropped,
  a timeout: :class:`~cjt_actors.errors.TransportError`), a 5xx
  (:class:`~cjt_actors.errors.ServerError`), a 429
  (:class:`~cjt_actors.errors.RateLimited`), or a body that is not JSON where JSON was
  expected (a maintenance or proxy page: a :class:`~cjt_actors.errors.ResponseError`
  carrying a body excerpt). It retries with a :class:`~cjt_actors.policy.Backoff`, one line
  per failed attempt, until ``patience`` seconds of trio time have passed, then raises
  :class:`VenueUnavailable` (``cjt run`` exits with :data:`EXIT_VENUE_UNAVAILABLE`, which
  systemd's ``Restart=on-failure`` retries later).
* **Refused** (asking again will not help): a 401 or 403 (the key), an unknown product, a
  product disabled or cancel-only, a JSON answer of an unexpected shape. These fail at once
  with the interlock's :class:`~cjt_actors.interlock.LiveTradingRefused` (exit code 2:
  fix the configuration), whatever the patience.

One attempt asks the questions in order (the key's permissions, then each product once),
keeping the answers, refusals included, and stops at the first "unreachable" (or at a
refused key, which settles the matter). Only an attempt with no "unreachable" answer is
judged, by :func:`~cjt_actors.interlock.check_venue` itself replaying the answers (it gets
an object answering its two :class:`RestClient` calls from memory), so the interlock's rules
stay in one place and a flapping venue cannot turn "no answer" into a refusal half-way
through (``check_venue`` reports any failure of the venue as a refusal). The products'
rules come from the same answers: each product is asked for once per attempt.

The REST client retries each request a few times itself (its
:class:`~cjt_actors.exchange.rest.RetryPolicy`); an attempt here is one round of those. An
attempt under way is not cut short at the end of the patience (the client's own timeouts
bound it); no new attempt starts after it, and the last wait is shortened so that an
attempt starts at the deadline.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, TypeVar, cast

import attrs
import trio

from .errors import (
    CjtError,
    ExchangeError,
    InvalidSpec,
    RateLimited,
    ResponseError,
    ServerError,
    TransportError,
)
from .exchange.models import KeyPermissions, Product
from .exchange.rest import RestClient
from .interlock import check_venue
from .policy import Backoff
from .products import ProductRules

__all__ = [
    "DEFAULT_STARTUP_BACKOFF",
    "EXIT_VENUE_UNAVAILABLE",
    "VenueReady",
    "VenueUnavailable",
    "is_unreachable",
    "prepare_venue",
]

#: The process exit code of a start-up that gave up on an unreachable venue: sysexits.h's
#: EX_TEMPFAIL ("a temporary failure; the user is invited to retry"). Not 2, which means
#: "fix the configuration" and which systemd is told not to restart (docs/cjt.service).
EXIT_VENUE_UNAVAILABLE: Final = 75

#: Waits between attempts: 1 s doubling to 30 s, up to a fifth taken off by jitter.
DEFAULT_STARTUP_BACKOFF: Final = Backoff(min=1.0, max=30.0, jitter=0.2, reset_after=0.0)

T = TypeVar("T")

#: Longest error text quoted in a progress line or in :class:`VenueUnavailable`.
_MAX_ERROR_TEXT: Final = 200


class VenueUnavailable(CjtError):
    """The venue stayed unreachable for the whole start-up patience.

    Attributes:
        last_error: the last attempt's failure, as text (``Type: message``).
        patience: the patience, in seconds.
        attempts: how many attempts were made.
        waited: seconds (trio's clock) from the first attempt to giving up.
    """

    def __init__(self, *, last_error: str, patience: float, attempts: int, waited: float) -> None:
        super().__init__(
            f"the venue stayed unreachable: {attempts} attempt(s) over {waited:.0f} s "
            f"(venue.startup_patience = {patience:g} s); last error: {last_error}"
        )
        self.last_error = last_error
        self.patience = patience
        self.attempts = attempts
        self.waited = waited


@attrs.frozen(kw_only=True)
class VenueReady:
    """What the venue said at start-up: every product's rules, and the interlock's warnings
    (``limit_only`` and ``post_only`` products)."""

    rules: dict[str, ProductRules]
    warnings: tuple[str, ...]


def is_unreachable(error: ExchangeError) -> bool:
    """Whether ``error`` means "no usable answer now, maybe later" (see the module docstring)."""
    if isinstance(error, TransportError | ServerError | RateLimited):
        return True
    # A body that is not JSON at all (an HTML maintenance page) carries an excerpt of it;
    # a JSON document of the wrong shape does not, and will not change by asking again.
    return isinstance(error, ResponseError) and (bool(error.excerpt) or "is not JSON" in str(error))


async def prepare_venue(
    rest: RestClient,
    products: Sequence[str],
    *,
    patience: float,
    say: Callable[[str], None],
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
) -> VenueReady:
    """Ask the venue about the key and ``products``, retrying while it is unreachable.

    Args:
        rest: an open client (with the key).
        products: the product ids to trade.
        patience: seconds (trio's clock) to keep retrying an unreachable venue; 0 makes one
            attempt.
        say: prints one progress line per failed attempt.
        backoff: the waits between attempts (:data:`DEFAULT_STARTUP_BACKOFF`).
        rng: the jitter source; None waits without jitter (the backoff's longest delay).

    Raises:
        VenueUnavailable: still unreachable when the patience ran out.
        LiveTradingRefused: the venue refused: the key (401, 403, no view or trade
            permission), an unknown, disabled or cancel-only product, an answer of an
            unexpected shape. At once, whatever the patience.
        InvalidSpec: a negative or non-finite patience.
    """
    if isinstance(patience, bool) or not isinstance(patience, int | float):
        raise _invalid(f"patience: must be a number of seconds, got {patience!r}")
    if not 0 <= patience < float("inf"):
        raise _invalid(f"patience: must be finite and >= 0 seconds, got {patience!r}")
    backoff = DEFAULT_STARTUP_BACKOFF if backoff is None else backoff
    products = tuple(products)
    start = trio.current_time()
    deadline = start + patience
    attempt = 0
    while True:
        attempt += 1
        answers = await _Answers.ask(rest, products)
        trouble = answers.unreachable()
        if trouble is None:
            warnings = await check_venue(cast("RestClient", answers), products)
            return VenueReady(rules=answers.rules(), warnings=warnings)
        now = trio.current_time()
        text = _describe(trouble)
        if now >= deadline:
            raise VenueUnavailable(
                last_error=text, patience=patience, attempts=attempt, waited=now - start
            )
        u = 0.0 if rng is None else rng.random()
        delay = min(backoff.delay(attempt - 1, u), deadline - now)
        say(
            f"venue unreachable ({text}): retrying in {delay:.1f} s "
            f"(attempt {attempt}, {now - start:.0f} s of {patience:g} s patience)"
        )
        await trio.sleep(delay)


@attrs.define(kw_only=True)
class _Answers:
    """One attempt's answers, refusals included, replayed to :func:`check_venue`.

    It answers the two :class:`RestClient` calls ``check_venue`` makes, from memory.
    """

    permissions: KeyPermissions | ExchangeError
    products: Mapping[str, Product | ExchangeError]

    @classmethod
    async def ask(cls, rest: RestClient, products: Sequence[str]) -> _Answers:
        permissions = await _answer(rest.get_key_permissions())
        if isinstance(permissions, ExchangeError):
            # Unreachable: no point asking more now. Refused: check_venue stops there.
            return cls(permissions=permissions, products={})
        answers: dict[str, Product | ExchangeError] = {}
        for product_id in products:
            answers[product_id] = answer = await _answer(rest.get_product(product_id))
            if isinstance(answer, ExchangeError) and is_unreachable(answer):
                break
        return cls(permissions=permissions, products=answers)

    def unreachable(self) -> ExchangeError | None:
        """The first "unreachable" failure among the answers, if any."""
        for answer in (self.permissions, *self.products.values()):
            if isinstance(answer, ExchangeError) and is_unreachable(answer):
                return answer
        return None

    def rules(self) -> dict[str, ProductRules]:
        """Every product's rules (only called once :func:`check_venue` accepted them all)."""
        return {
            product_id: ProductRules.from_product(_replay(answer))
            for product_id, answer in self.products.items()
        }

    async def get_key_permissions(self) -> KeyPermissions:
        await trio.lowlevel.checkpoint()
        return _replay(self.permissions)

    async def get_product(self, product_id: str) -> Product:
        await trio.lowlevel.checkpoint()
        return _replay(self.products[product_id])


async def _answer(call: Awaitable[T]) -> T | ExchangeError:
    """What the venue answered: the value, or the failure as a value (kept for judging)."""
    try:
        return await call
    except ExchangeError as error:
        return error


def _replay(answer: T | ExchangeError) -> T:
    if isinstance(answer, ExchangeError):
        raise answer
    return answer


def _describe(error: ExchangeError) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 1] + "…"


def _invalid(message: str) -> InvalidSpec:
    return InvalidSpec(f"prepare_venue: {message}")
