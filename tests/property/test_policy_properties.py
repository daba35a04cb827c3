"""Property tests of the supervision policies as plain values: Backoff, Intensity, ChildSpec.

The reference for a backoff delay is the documented formula, computed exactly with
fractions: ``capped = min(max, min * 2**attempt)``, then shortened by up to ``jitter``:
``capped * (1 - jitter * u)`` for ``u`` in [0, 1).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cjt_actors import Backoff, ChildSpec, Intensity, InvalidSpec

seconds = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
tiny_or_zero = st.sampled_from([0.0, 5e-324, 1e-30, 1e-20])


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    low = draw(seconds | tiny_or_zero)
    high = draw(st.floats(min_value=low, max_value=max(low, 1e6) * 2, allow_nan=False))
    jitter = draw(st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0]))
    return Backoff(min=low, max=high, jitter=jitter, reset_after=draw(seconds))


jitter_draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def documented_capped(backoff: Backoff, attempt: int) -> float:
    """``min(max, min * 2**attempt)``, exactly (no overflow, no rounding before the min)."""
    return float(min(Fraction(backoff.max), Fraction(backoff.min) * 2**attempt))


@given(backoff=backoffs(), attempt=st.integers(0, 63), u=jitter_draws)
def test_backoff_delay_is_in_the_jitter_band_of_the_documented_formula(
    backoff: Backoff, attempt: int, u: float
) -> None:
    """(h) (1 - jitter) * capped <= delay <= capped, capped = min(max, min * 2**attempt).

    Jitter only ever shortens the delay, so ``max`` is a real bound an operator can rely on
    when sizing how long an exchange connection may stay down; and no jitter draw can make
    a restart faster than the band allows (a thundering herd against a rate-limited venue).
    """
    capped = documented_capped(backoff, attempt)
    delay = backoff.delay(attempt, u)
    assert (1 - backoff.jitter) * capped <= delay <= capped
    assert backoff.delay(attempt, 0.0) == capped  # no jitter draw: the formula itself


@example(backoff=Backoff(min=0.0, max=1.0, jitter=0.0), attempt=64, u=0.0)
@given(backoff=backoffs(), attempt=st.integers(0, 5000), u=jitter_draws)
def test_backoff_delay_follows_the_documented_formula_at_every_attempt(
    backoff: Backoff, attempt: int, u: float
) -> None:
    """The band holds for any attempt, not only below 64 (a crash loop can get there)."""
    capped = documented_capped(backoff, attempt)
    assert (1 - backoff.jitter) * capped <= backoff.delay(attempt, u) <= capped


@given(backoff=backoffs(), attempt=st.integers(0, 5000), u=jitter_draws)
def test_backoff_delay_is_monotone_and_never_exceeds_max(
    backoff: Backoff, attempt: int, u: float
) -> None:
    """(h) For a fixed jitter draw, a later attempt never waits less; no attempt exceeds max.

    A crash loop must back off further and further until the cap, never snap back to a
    short delay (unless a stable run reset it), and never wait longer than max.
    """
    delay = backoff.delay(attempt, u)
    assert 0.0 <= delay <= backoff.max
    assert delay <= backoff.delay(attempt + 1, u)


@given(attempt=st.integers(0, 10_000), u=jitter_draws)
def test_backoff_none_never_waits(attempt: int, u: float) -> None:
    """``Backoff.none()`` restarts at once, as OTP does, whatever the attempt."""
    assert Backoff.none().delay(attempt, u) == 0.0


# ------------------------------------------------------------------------------------------
# Validation: an independent statement of which values are valid, against the constructors.

anything = st.one_of(
    seconds,
    st.floats(),  # NaN, infinities, negatives
    st.integers(-5, 10**6),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.just(Fraction(1, 2)),
)


def is_seconds(value: Any) -> bool:
    """A finite, non-negative int or float (bools are not numbers here)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


@given(low=anything, high=anything, jitter=anything, reset_after=anything)
def test_backoff_accepts_exactly_the_valid_values(
    low: Any, high: Any, jitter: Any, reset_after: Any
) -> None:
    """(h) Backoff raises InvalidSpec (never TypeError or silence) iff a value is invalid.

    A supervision tree is built once at start-up; a malformed policy must stop it there,
    with a message naming the field, rather than surface as a strange delay mid-session.
    """
    valid = (
        all(is_seconds(v) for v in (low, high, jitter, reset_after)) and high >= low and jitter <= 1
    )
    if valid:
        Backoff(min=low, max=high, jitter=jitter, reset_after=reset_after)
    else:
        with pytest.raises(InvalidSpec):
            Backoff(min=low, max=high, jitter=jitter, reset_after=reset_after)


@given(backoff=backoffs(), attempt=st.integers(max_value=-1), u=jitter_draws)
def test_backoff_refuses_a_negative_attempt(backoff: Backoff, attempt: int, u: float) -> None:
    with pytest.raises(InvalidSpec):
        backoff.delay(attempt, u)


@given(max_restarts=anything, period=anything)
def test_intensity_accepts_exactly_the_valid_values(max_restarts: Any, period: Any) -> None:
    """(h) Intensity needs an int max_restarts >= 0 and a finite period > 0 seconds."""
    valid = (
        isinstance(max_restarts, int)
        and not isinstance(max_restarts, bool)
        and max_restarts >= 0
        and is_seconds(period)
        and period > 0
    )
    if valid:
        Intensity(max_restarts=max_restarts, period=period)
    else:
        with pytest.raises(InvalidSpec):
            Intensity(max_restarts=max_restarts, period=period)


async def _child(ctx: Any, *, task_status: Any) -> None:  # never run
    raise AssertionError


@given(shutdown_timeout=anything, start_timeout=anything)
def test_child_spec_timeouts_are_finite_positive_seconds(
    shutdown_timeout: Any, start_timeout: Any
) -> None:
    """Every cleanup is bounded: shutdown_timeout (and start_timeout, unless None) > 0, finite."""
    valid = (
        is_seconds(shutdown_timeout)
        and shutdown_timeout > 0
        and (start_timeout is None or (is_seconds(start_timeout) and start_timeout > 0))
    )
    if valid:
        ChildSpec(
            name="c", run=_child, shutdown_timeout=shutdown_timeout, start_timeout=start_timeout
        )
    else:
        with pytest.raises(InvalidSpec):
            ChildSpec(
                name="c",
                run=_child,
                shutdown_timeout=shutdown_timeout,
                start_timeout=start_timeout,
            )
