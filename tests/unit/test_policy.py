"""Supervision policies as values: validation at construction, and the backoff arithmetic."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest

from cjt_actors import AutoShutdown, Backoff, Intensity, InvalidSpec, Restart, Strategy

# -- enums -----------------------------------------------------------------------------------


def test_enum_values_are_the_otp_names() -> None:
    """The values appear in events and configs; they must be the OTP vocabulary."""
    assert [s.value for s in Strategy] == ["one_for_one", "one_for_all", "rest_for_one"]
    assert [r.value for r in Restart] == ["permanent", "transient", "temporary"]
    assert [a.value for a in AutoShutdown] == ["never", "any_significant", "all_significant"]


# -- Intensity -------------------------------------------------------------------------------


class TestIntensity:
    def test_defaults_are_five_restarts_a_minute(self) -> None:
        """The documented default tolerates a flaky actor but escalates a crash loop."""
        assert Intensity() == Intensity(max_restarts=5, period=60.0)

    @pytest.mark.parametrize(("max_restarts", "period"), [(0, 1.0), (3, 0.001), (10, 3600)])
    def test_valid_values_are_kept(self, max_restarts: int, period: float) -> None:
        """Zero restarts (never restart) and any positive period are legitimate."""
        intensity = Intensity(max_restarts=max_restarts, period=period)
        assert (intensity.max_restarts, intensity.period) == (max_restarts, period)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_restarts": -1}, "max_restarts: must be >= 0"),
            ({"max_restarts": 1.5}, "max_restarts: must be an int"),
            ({"max_restarts": True}, "max_restarts: must be an int"),
            ({"max_restarts": "5"}, "max_restarts: must be an int"),
            ({"period": 0}, "period: must be > 0 seconds"),
            ({"period": -1.0}, "period: must be finite and >= 0"),
            ({"period": math.inf}, "period: must be finite"),
            ({"period": math.nan}, "period: must be finite"),
            ({"period": True}, "period: must be a number"),
            ({"period": "60"}, "period: must be a number"),
        ],
        ids=lambda v: repr(v) if not isinstance(v, str) else v.split(":")[0],
    )
    def test_invalid_values_are_refused_naming_the_field(
        self, kwargs: dict[str, Any], message: str
    ) -> None:
        """A bad policy must fail at construction, saying which field is wrong."""
        with pytest.raises(InvalidSpec) as info:
            Intensity(**kwargs)
        assert message in str(info.value)

    def test_is_a_frozen_keyword_only_value(self) -> None:
        """Policies are shared between supervisors; nobody may change one in place."""
        intensity = Intensity()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            intensity.max_restarts = 1  # type: ignore[misc]
        with pytest.raises(TypeError):
            Intensity(5, 60.0)  # type: ignore[misc]
        assert hash(intensity) == hash(Intensity())


# -- Backoff ---------------------------------------------------------------------------------


class TestBackoffValidation:
    def test_defaults(self) -> None:
        """0.1 s doubling to 10 s, 20 % jitter, reset after a minute of stable running."""
        assert Backoff() == Backoff(min=0.1, max=10.0, jitter=0.2, reset_after=60.0)

    def test_none_restarts_immediately(self) -> None:
        """Backoff.none() is OTP's behaviour: no delay, whatever the attempt or draw."""
        none = Backoff.none()
        assert (none.min, none.max, none.jitter, none.reset_after) == (0.0, 0.0, 0.0, 0.0)
        assert {none.delay(attempt, 0.99) for attempt in (0, 1, 10, 100)} == {0.0}

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"min": -0.1}, "min: must be finite and >= 0"),
            ({"min": math.nan}, "min: must be finite"),
            ({"max": math.inf}, "max: must be finite"),
            ({"max": "10"}, "max: must be a number"),
            ({"jitter": -0.5}, "jitter: must be finite and >= 0"),
            ({"jitter": 1.5}, "jitter: must be a fraction in [0, 1]"),
            ({"jitter": False}, "jitter: must be a number"),
            ({"reset_after": -1}, "reset_after: must be finite and >= 0"),
            ({"reset_after": None}, "reset_after: must be a number"),
            ({"min": 2.0, "max": 1.0}, "max: must be >= min (2.0)"),
        ],
        ids=[
            "negative_min",
            "nan_min",
            "inf_max",
            "str_max",
            "negative_jitter",
            "jitter_over_one",
            "bool_jitter",
            "negative_reset",
            "none_reset",
            "max_below_min",
        ],
    )
    def test_invalid_values_are_refused_naming_the_field(
        self, kwargs: dict[str, Any], message: str
    ) -> None:
        """A bad backoff must fail at construction, saying which field is wrong."""
        with pytest.raises(InvalidSpec) as info:
            Backoff(**kwargs)
        assert message in str(info.value)

    @pytest.mark.parametrize(
        "kwargs",
        [{"jitter": 0}, {"jitter": 1}, {"min": 1, "max": 1}, {"min": 0, "max": 0}],
        ids=["no_jitter", "full_jitter", "constant", "zero"],
    )
    def test_boundary_values_are_accepted(self, kwargs: dict[str, Any]) -> None:
        """jitter 0 and 1 and min == max are the edges of the valid range, not outside it."""
        backoff = Backoff(**kwargs)
        for field, value in kwargs.items():
            assert getattr(backoff, field) == value


class TestBackoffDelay:
    @pytest.mark.parametrize(
        ("attempt", "expected"),
        [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 6.0), (5, 6.0), (63, 6.0), (64, 6.0)],
    )
    def test_doubles_from_min_and_is_capped_at_max(self, attempt: int, expected: float) -> None:
        """Without jitter the delay is exactly min * 2**attempt, capped at max."""
        backoff = Backoff(min=0.5, max=6.0, jitter=0.0)
        assert backoff.delay(attempt, 0.7) == expected

    @pytest.mark.parametrize("attempt", [64, 1023, 1024, 10**6])
    def test_huge_attempts_do_not_overflow(self, attempt: int) -> None:
        """A child restarted forever must keep getting the cap, not an OverflowError."""
        assert Backoff(min=1.0, max=8.0, jitter=0.0).delay(attempt, 0.0) == 8.0

    def test_large_min_times_power_of_two_is_still_capped(self) -> None:
        """min * 2**63 can overflow to inf for huge mins; the cap still applies."""
        backoff = Backoff(min=1e300, max=1e300, jitter=0.0)
        assert backoff.delay(63, 0.0) == 1e300

    @pytest.mark.parametrize(
        ("u", "expected"),
        [(0.0, 4.0), (0.5, 3.0), (0.25, 3.5)],
    )
    def test_jitter_only_shortens(self, u: float, expected: float) -> None:
        """delay = capped * (1 - jitter * u): u = 0 gives the full delay, never more."""
        assert Backoff(min=4.0, max=4.0, jitter=0.5).delay(0, u) == expected

    @pytest.mark.parametrize("jitter", [0.0, 0.2, 1.0])
    @pytest.mark.parametrize("attempt", [0, 3, 10])
    def test_jittered_delay_is_within_bounds(self, jitter: float, attempt: int) -> None:
        """For u in [0, 1) the delay lies in [capped * (1 - jitter), capped]: max is a real bound."""
        backoff = Backoff(min=0.1, max=10.0, jitter=jitter)
        capped = min(10.0, 0.1 * 2**attempt)
        assert backoff.delay(attempt, 0.0) == capped
        for u in (0.1, 0.5, 0.9, math.nextafter(1.0, 0.0)):
            # closed at the bottom: in floats, 1 - jitter * u can round to exactly 1 - jitter
            assert capped * (1 - jitter) <= backoff.delay(attempt, u) <= capped

    def test_negative_attempt_is_refused(self) -> None:
        """A negative attempt is a bug in the caller, reported as such."""
        with pytest.raises(InvalidSpec, match=r"attempt: must be >= 0, got -1"):
            Backoff().delay(-1, 0.0)
