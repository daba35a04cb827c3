"""Token buckets on trio's clock: requests wait for a token instead of earning a 429."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.ratelimit import (
    RATE_LIMITED_PENALTY,
    RateLimit,
    RateLimiter,
    Scope,
    TokenBucket,
    reset_delay,
)
from cjt_actors.policy import Backoff

EPOCH = 1_767_225_600.0  # the fixed wall clock of these tests


def limiter(**kwargs: object) -> RateLimiter:
    kwargs.setdefault("rng", random.Random(3))
    kwargs.setdefault("now", lambda: EPOCH)
    return RateLimiter(**kwargs)  # type: ignore[arg-type]


async def acquire_times(bucket: TokenBucket, count: int) -> list[float]:
    start = trio.current_time()
    times = []
    for _ in range(count):
        await bucket.acquire()
        times.append(round(trio.current_time() - start, 9))
    return times


async def test_a_full_bucket_allows_a_burst_then_the_rate(autojump_clock: object) -> None:
    """`burst` requests go at once; after that one every 1/rate seconds, never faster."""
    bucket = TokenBucket(RateLimit(rate=5, burst=3))
    assert await acquire_times(bucket, 6) == [0.0, 0.0, 0.0, 0.2, 0.4, 0.6]


async def test_idle_time_refills_up_to_burst_only(autojump_clock: object) -> None:
    """A quiet minute must not bank 1800 tokens: the bucket holds `burst` at most."""
    bucket = TokenBucket(RateLimit(rate=10, burst=2))
    await bucket.acquire()
    await trio.sleep(60)
    assert bucket.available() == 2.0
    assert await acquire_times(bucket, 3) == [0.0, 0.0, 0.1]


async def test_concurrent_waiters_are_served_in_arrival_order(autojump_clock: object) -> None:
    """Each waiter reserves its slot on arrival: no thundering herd, no starvation."""
    bucket = TokenBucket(RateLimit(rate=4, burst=1))
    served: list[tuple[int, float]] = []

    async def request(index: int) -> None:
        await bucket.acquire()
        served.append((index, trio.current_time()))

    async with trio.open_nursery() as nursery:
        for index in range(4):
            nursery.start_soon(request, index)
            await trio.testing.wait_all_tasks_blocked()
    assert served == [(0, 0.0), (1, 0.25), (2, 0.5), (3, 0.75)]


async def test_a_cancelled_wait_gives_its_token_back(autojump_clock: object) -> None:
    """A request abandoned while waiting was never sent; its slot goes to the next one."""
    bucket = TokenBucket(RateLimit(rate=1, burst=1))
    await bucket.acquire()
    with trio.move_on_after(0.5):
        await bucket.acquire()  # would wait 1 s
    assert bucket.available() == pytest.approx(0.5)  # refunded, plus 0.5 s of refill
    await bucket.acquire()
    assert trio.current_time() == pytest.approx(1.0)


async def test_acquire_is_a_checkpoint_even_with_tokens_to_spare(autojump_clock: object) -> None:
    """trio's rule: an async call can be cancelled; a free token must not skip that."""
    bucket = TokenBucket(RateLimit(rate=1, burst=5))
    with trio.CancelScope() as scope:
        scope.cancel()
        await bucket.acquire()
    assert scope.cancelled_caught
    assert bucket.available() == 5.0  # refunded


async def test_remaining_zero_pauses_until_reset(autojump_clock: object) -> None:
    """The server's count beats ours: remaining 0 means wait for the window to reset."""
    rates = limiter()
    await rates.acquire(Scope.PRIVATE)
    pause = rates.observe(
        Scope.PRIVATE,
        200,
        {"x-ratelimit-limit": "30", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2.5"},
    )
    assert pause == 2.5
    await rates.acquire(Scope.PRIVATE)
    assert trio.current_time() == pytest.approx(2.5)
    # The public scope is separate and unaffected.
    before = trio.current_time()
    await rates.acquire(Scope.PUBLIC)
    assert trio.current_time() == before


async def test_remaining_caps_local_tokens(autojump_clock: object) -> None:
    """We may think we have 30 tokens; if the server says 2 remain, we have 2."""
    rates = limiter()
    rates.observe(Scope.PRIVATE, 200, {"x-ratelimit-remaining": "2"})
    assert rates.bucket(Scope.PRIVATE).available() == 2.0
    assert rates.bucket(Scope.PRIVATE).paused_until is None


async def test_a_lower_server_limit_lowers_the_rate_but_never_raises_it(
    autojump_clock: object,
) -> None:
    """Coinbase tightens limits in volatile periods; it cannot talk us above our configuration."""
    rates = limiter()
    rates.observe(Scope.PUBLIC, 200, {"x-ratelimit-limit": "4"})
    assert rates.bucket(Scope.PUBLIC).rate == 4.0
    rates.observe(Scope.PUBLIC, 200, {"x-ratelimit-limit": "1000"})
    assert rates.bucket(Scope.PUBLIC).rate == 10.0


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (3.0, 3.0),  # seconds until reset
        (0.0, 0.0),
        (-4.0, 0.0),
        (EPOCH + 7, 7.0),  # epoch seconds
        ((EPOCH + 1.5) * 1000, 1.5),  # epoch milliseconds
        (EPOCH - 100, 0.0),  # an epoch already past
    ],
)
def test_reset_header_readings(raw: float, seconds: float) -> None:
    """The reset header's unit is undocumented: small is seconds, large is an epoch (s or ms)."""
    assert reset_delay(raw, EPOCH) == pytest.approx(seconds)


async def test_a_429_pauses_the_scope_with_growing_backoff(autojump_clock: object) -> None:
    """Repeated 429s back off further each time; any other answer resets the count."""
    penalty = Backoff(min=1.0, max=8.0, jitter=0.0, reset_after=0.0)
    rates = limiter(penalty=penalty)
    assert [rates.observe(Scope.PRIVATE, 429, {}) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert rates.observe(Scope.PRIVATE, 200, {}) == 0.0
    assert rates.observe(Scope.PRIVATE, 429, {}) == 1.0
    await rates.acquire(Scope.PRIVATE)
    # The longest pause (8 s) started at t=0 and no token accrues while paused.
    assert trio.current_time() == pytest.approx(8.0)


async def test_a_429_honours_reset_and_retry_after_and_the_cap(autojump_clock: object) -> None:
    """The server's own hint wins when it is longer; a misread header is bounded by max_pause."""
    rates = limiter(max_pause=30.0)
    assert rates.observe(Scope.PUBLIC, 429, {"retry-after": "12"}) == 12.0
    assert rates.observe(Scope.PUBLIC, 429, {"x-ratelimit-reset": "20"}) == 20.0
    assert rates.observe(Scope.PUBLIC, 429, {"x-ratelimit-reset": str(EPOCH + 10_000)}) == 30.0


async def test_default_429_pause_is_jittered_within_the_penalty_bounds(
    autojump_clock: object,
) -> None:
    """Jitter only shortens: the first pause is between (1 - jitter) * min and min."""
    pause = limiter().observe(Scope.PRIVATE, 429, {})
    low = RATE_LIMITED_PENALTY.min * (1 - RATE_LIMITED_PENALTY.jitter)
    assert low <= pause <= RATE_LIMITED_PENALTY.min


async def test_garbage_headers_are_ignored(autojump_clock: object) -> None:
    """A proxy's odd header must not stall or crash the client."""
    rates = limiter()
    headers = {"x-ratelimit-limit": "lots", "x-ratelimit-remaining": "nan", "x-ratelimit-reset": ""}
    assert rates.observe(Scope.PRIVATE, 200, headers) == 0.0
    assert rates.bucket(Scope.PRIVATE).rate == 30.0
    assert rates.bucket(Scope.PRIVATE).available() == 30.0


async def test_a_pause_extends_but_never_shortens(autojump_clock: object) -> None:
    """Two answers arriving out of order must not cut a longer pause short."""
    bucket = TokenBucket(RateLimit(rate=10, burst=10))
    bucket.pause(5.0)
    bucket.pause(1.0)
    assert bucket.paused_until == pytest.approx(5.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0, "burst": 1},
        {"rate": -1.0, "burst": 1},
        {"rate": float("inf"), "burst": 1},
        {"rate": True, "burst": 1},
        {"rate": "30", "burst": 1},
        {"rate": 1, "burst": 0},
        {"rate": 1, "burst": 1.5},
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, object]) -> None:
    """A limiter built with nonsense would either stall trading or ignore the exchange."""
    with pytest.raises(InvalidSpec):
        RateLimit(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_pause", [0.0, -1.0, float("nan")])
def test_bad_max_pause_is_refused(max_pause: float) -> None:
    """The pause cap is the safety net for misread headers; it must be a real bound."""
    with pytest.raises(InvalidSpec, match="max_pause"):
        RateLimiter(max_pause=max_pause)
