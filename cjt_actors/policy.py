"""Supervision policies as plain values: restart strategy, restart type, intensity, backoff.

These are separate from the supervisor so they can be validated when a tree is built and
reasoned about (and property-tested) without running anything.

Defaults, against Erlang/OTP's (see ``docs/architecture.md`` for the full table):

* OTP's intensity is 1 restart in 5 s; ours is **5 restarts in 60 s**. OTP restarts
  immediately, so its window only has to catch a tight loop. We restart with a backoff
  (0.1 s doubling to 10 s), so a tight crash loop needs ~3 s to make five restarts
  (0.1 + 0.2 + 0.4 + 0.8 + 1.6) and escalates within seconds, while an actor that crashes
  once a minute (a flaky websocket, say) is restarted forever without taking trading down.
* OTP has no backoff; Akka's ``BackoffSupervisor`` does. Ours is Akka's exponential backoff
  with one change: jitter only ever *shortens* the delay, so ``max`` is a real upper bound.
"""

from __future__ import annotations

import enum
import math

import attrs

from .errors import InvalidSpec

__all__ = ["AutoShutdown", "Backoff", "Intensity", "Restart", "Strategy"]


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them must be restarted."""

    ONE_FOR_ONE = "one_for_one"  #: only the child that exited
    ONE_FOR_ALL = "one_for_all"  #: all children: the others are stopped, then all restart
    REST_FOR_ONE = "rest_for_one"  #: the child and those started after it


class Restart(enum.Enum):
    """When a child that exited is restarted (OTP restart types)."""

    PERMANENT = "permanent"  #: always
    TRANSIENT = "transient"  #: only after an abnormal exit (it raised)
    TEMPORARY = "temporary"  #: never, not even when a sibling's restart stopped it


class AutoShutdown(enum.Enum):
    """Whether a supervisor ends itself when *significant* children end (OTP 24, EEP 56)."""

    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"  #: when any significant child ends for good
    ALL_SIGNIFICANT = "all_significant"  #: when the last significant child ends for good


def _finite_non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """attrs validator: a finite, non-negative number of seconds (or fraction)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpec(f"{attribute.name}: must be a number, got {value!r}")
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise InvalidSpec(f"{attribute.name}: must be finite and >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Intensity:
    """At most ``max_restarts`` restarts within ``period`` seconds, else the supervisor gives up.

    Counted per supervisor, all children together (OTP). A group restart (one_for_all,
    rest_for_one) counts once. A restart at time ``t`` is in the window at ``now`` while
    ``now - t <= period`` (OTP's inclusive bound).
    """

    max_restarts: int = 5
    period: float = attrs.field(default=60.0, validator=_finite_non_negative)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_restarts, bool) or not isinstance(self.max_restarts, int):
            raise InvalidSpec(f"max_restarts: must be an int, got {self.max_restarts!r}")
        if self.max_restarts < 0:
            raise InvalidSpec(f"max_restarts: must be >= 0, got {self.max_restarts}")
        if self.period <= 0:
            raise InvalidSpec(f"period: must be > 0 seconds, got {self.period!r}")


@attrs.frozen(kw_only=True)
class Backoff:
    """Delay before a restart: exponential, capped, jittered, and reset after a stable run.

    The delay before a child's restart number ``attempt`` (0 for the first restart after a
    stable run) is ``min(max, min * 2**attempt)`` shortened by up to ``jitter`` (a fraction):
    ``capped * (1 - jitter * u)`` for ``u`` uniform in [0, 1). A child that ran for at least
    ``reset_after`` seconds before it exited starts again from attempt 0.

    ``Backoff.none()`` restarts immediately, as OTP does.
    """

    min: float = attrs.field(default=0.1, validator=_finite_non_negative)
    max: float = attrs.field(default=10.0, validator=_finite_non_negative)
    jitter: float = attrs.field(default=0.2, validator=_finite_non_negative)
    reset_after: float = attrs.field(default=60.0, validator=_finite_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.max < self.min:
            raise InvalidSpec(f"max: must be >= min ({self.min!r}), got {self.max!r}")
        if self.jitter > 1:
            raise InvalidSpec(f"jitter: must be a fraction in [0, 1], got {self.jitter!r}")

    @classmethod
    def none(cls) -> Backoff:
        """No delay at all: restart at once (OTP behaviour)."""
        return cls(min=0.0, max=0.0, jitter=0.0, reset_after=0.0)

    def delay(self, attempt: int, u: float) -> float:
        """Seconds to wait before restart ``attempt``; ``u`` in [0, 1) is the jitter draw."""
        if attempt < 0:
            raise InvalidSpec(f"attempt: must be >= 0, got {attempt}")
        if self.min == 0:
            capped = 0.0
        elif attempt > 2100:  # min * 2**2100 exceeds any float, even for the smallest min
            capped = self.max
        else:
            try:
                grown = math.ldexp(self.min, attempt)  # exact min * 2**attempt
            except OverflowError:
                grown = math.inf
            capped = min(self.max, grown)
        return capped * (1.0 - self.jitter * u)
