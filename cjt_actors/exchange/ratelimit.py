"""Client-side rate limiting for the Coinbase REST API: one token bucket per scope.

Coinbase allows about 30 requests/s per user on private endpoints and 10/s per IP on
public ones, and answers excess with 429 (sometimes an HTML page). Being refused costs more
than waiting, so requests wait for a token *before* they are sent:

* **Token buckets on trio's clock.** Each scope has a bucket of ``burst`` tokens refilled
  at ``rate`` per second. ``acquire`` takes a token, sleeping (``trio.sleep_until``) until
  one is due; waiters are served in arrival order because each reserves its slot when it
  arrives (the bucket may go negative). A cancelled wait gives its token back.
* **The server's view wins.** After each answer, ``x-ratelimit-remaining`` caps the local
  tokens and ``x-ratelimit-limit`` caps the rate (read as requests per second, the unit
  Coinbase states its limits in; never raised above the configured rate). When
  ``remaining`` reaches 0 the scope pauses until ``x-ratelimit-reset``.
* **A 429 pauses the scope** for a backoff (:class:`~cjt_actors.policy.Backoff`, growing
  with consecutive 429s, reset by any other answer), or longer if ``x-ratelimit-reset`` or
  ``Retry-After`` asks for it; no tokens accrue while paused.

``x-ratelimit-reset`` is not documented precisely. We read it as **seconds until the
reset if it is below 10^9** (no window is 31 years long), as **epoch milliseconds above
10^12**, and as **epoch seconds in between** (measured against the injectable wall clock
``now``). Every pause is capped at ``max_pause`` seconds, so a misread header cannot stall
trading for long.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Callable, Mapping

import attrs
import trio

from ..errors import InvalidSpec
from ..policy import Backoff

__all__ = [
    "PRIVATE_LIMIT",
    "PUBLIC_LIMIT",
    "RATE_LIMITED_PENALTY",
    "RateLimit",
    "RateLimiter",
    "Scope",
    "TokenBucket",
    "reset_delay",
]

#: Below this, ``x-ratelimit-reset`` is a number of seconds; above, an epoch.
_EPOCH_SECONDS_FROM = 1e9
#: Above this, ``x-ratelimit-reset`` is an epoch in milliseconds.
_EPOCH_MILLIS_FROM = 1e12


class Scope(enum.Enum):
    """Which limit a request counts against."""

    PUBLIC = "public"  #: per IP (``/time``, ``/market/...``)
    PRIVATE = "private"  #: per user (everything that needs a key)


@attrs.frozen(kw_only=True)
class RateLimit:
    """``rate`` requests per second on average, at most ``burst`` at once."""

    rate: float
    burst: int

    def __attrs_post_init__(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float):
            raise InvalidSpec(f"rate: must be a number of requests per second, got {self.rate!r}")
        if not math.isfinite(self.rate) or self.rate <= 0:
            raise InvalidSpec(f"rate: must be finite and > 0, got {self.rate!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise InvalidSpec(f"burst: must be an int >= 1, got {self.burst!r}")


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def reset_delay(raw: float, now_epoch: float) -> float:
    """Seconds until a window resets, from an ``x-ratelimit-reset`` value (see module doc)."""
    if raw < _EPOCH_SECONDS_FROM:
        return max(0.0, raw)
    epoch = raw / 1000.0 if raw >= _EPOCH_MILLIS_FROM else raw
    return max(0.0, epoch - now_epoch)


class TokenBucket:
    """One scope's bucket. Must be used inside trio (it reads ``trio.current_time()``)."""

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._rate = float(limit.rate)
        self._tokens = float(limit.burst)
        self._stamp: float | None = None
        self._paused_until: float | None = None

    @property
    def rate(self) -> float:
        """Current refill rate (the configured one, or lower if the server said so)."""
        return self._rate

    @property
    def paused_until(self) -> float | None:
        """trio time before which no request starts, or None."""
        return self._paused_until

    def available(self) -> float:
        """Tokens now (negative while requests queue for their slots)."""
        self._refill()
        return self._tokens

    def _refill(self) -> float:
        now = trio.current_time()
        if self._stamp is None:
            self._stamp = now
        elif now > self._stamp:
            elapsed = now - self._stamp
            self._tokens = min(float(self._limit.burst), self._tokens + elapsed * self._rate)
            self._stamp = now
        return now

    async def acquire(self) -> None:
        """Take a token, sleeping until it is due and any pause is over. Always a checkpoint."""
        now = self._refill()
        self._tokens -= 1.0
        ready_at = now if self._tokens >= 0 else now + (-self._tokens) / self._rate
        try:
            slept = False
            while True:
                wake = max(ready_at, self._paused_until or ready_at)
                if trio.current_time() >= wake:
                    break
                await trio.sleep_until(wake)
                slept = True
            if not slept:
                await trio.lowlevel.checkpoint()
        except BaseException:
            # Cancelled (or worse) before sending: the slot was never used.
            self._tokens = min(float(self._limit.burst), self._tokens + 1.0)
            raise

    def cap_rate(self, limit: float) -> None:
        """Refill at ``min(configured rate, limit)`` from now on."""
        self._refill()
        self._rate = min(float(self._limit.rate), limit)

    def cap_tokens(self, remaining: float) -> None:
        """The server says only ``remaining`` requests are left: hold no more tokens."""
        self._refill()
        self._tokens = min(self._tokens, remaining)

    def pause(self, seconds: float) -> None:
        """Start nothing for ``seconds`` (extends, never shortens, a pause under way)."""
        now = self._refill()
        until = now + seconds
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until
        self._tokens = min(self._tokens, 0.0)
        # No tokens accrue while paused: refilling resumes when the pause ends.
        self._stamp = max(now, self._paused_until)


#: Coinbase's stated limits: 30 requests/s per user, 10/s per IP.
PRIVATE_LIMIT = RateLimit(rate=30, burst=30)
PUBLIC_LIMIT = RateLimit(rate=10, burst=10)
#: Pause after consecutive 429s in a scope: 1 s doubling to 16 s, jitter shortens by <= 20 %.
RATE_LIMITED_PENALTY = Backoff(min=1.0, max=16.0, jitter=0.2, reset_after=0.0)


class RateLimiter:
    """The buckets of one API key (share it between clients that use the same key).

    Args:
        private, public: the limits (Coinbase: 30/s per user, 10/s per IP).
        penalty: the pause after a 429, by number of consecutive 429s in the scope.
        max_pause: upper bound on any pause, from a 429 or from headers.
        rng: jitter source for ``penalty`` (seed it in tests).
        now: wall clock, only to read an epoch ``x-ratelimit-reset``.
    """

    def __init__(
        self,
        *,
        private: RateLimit = PRIVATE_LIMIT,
        public: RateLimit = PUBLIC_LIMIT,
        penalty: Backoff = RATE_LIMITED_PENALTY,
        max_pause: float = 60.0,
        rng: random.Random | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not math.isfinite(max_pause) or max_pause <= 0:
            raise InvalidSpec(f"max_pause: must be finite and > 0 seconds, got {max_pause!r}")
        self._buckets = {Scope.PRIVATE: TokenBucket(private), Scope.PUBLIC: TokenBucket(public)}
        self._strikes = dict.fromkeys(Scope, 0)
        self._penalty = penalty
        self._max_pause = max_pause
        self._rng = rng if rng is not None else random.Random()
        self._now = now

    def bucket(self, scope: Scope) -> TokenBucket:
        return self._buckets[scope]

    async def acquire(self, scope: Scope) -> None:
        """Wait for a token of ``scope`` (see :meth:`TokenBucket.acquire`)."""
        await self._buckets[scope].acquire()

    def observe(self, scope: Scope, status: int, headers: Mapping[str, str]) -> float:
        """Adjust ``scope`` from an answer; return the pause it caused (0.0 if none)."""
        bucket = self._buckets[scope]
        limit = _header_number(headers, "x-ratelimit-limit")
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = _header_number(headers, "x-ratelimit-reset")
        reset_in = reset_delay(reset, self._now()) if reset is not None else None
        if limit is not None and limit > 0:
            bucket.cap_rate(limit)
        if remaining is not None:
            bucket.cap_tokens(max(0.0, remaining))
        pause = 0.0
        if status == 429:
            pause = self._penalty.delay(self._strikes[scope], self._rng.random())
            self._strikes[scope] += 1
            retry_after = _header_number(headers, "retry-after")
            pause = max(pause, reset_in or 0.0, retry_after or 0.0)
        else:
            self._strikes[scope] = 0
            if remaining is not None and remaining <= 0 and reset_in is not None:
                pause = reset_in
        pause = min(pause, self._max_pause)
        if pause > 0:
            bucket.pause(pause)
        return pause
