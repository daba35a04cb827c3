"""Readiness from progress: is the system doing its job *now*, not merely alive?

A process can be up, every task waiting, and nothing moving: a feed stuck on a dead socket,
an actor blocked on a full mailbox. So readiness is judged by progress signals, each a
named check with the reason it failed:

* ``actor:<name>``: running under its supervisor, and its last status was posted less than
  :attr:`ReadinessPolicy.max_silence` seconds ago (every actor posts after its work and on
  its own timer, at least every few seconds, so silence means it is stuck);
* ``feed``: the market-data feed is CONNECTED;
* ``book:<product>``: every configured product's book is TRUSTED;
* ``executor``: the executor has reconciled with the venue (not reconciling now);
* ``trading``: risk is not HALTED.

Pure functions of an :class:`~cjt_actors.ops.source.OpsSnapshot`, so every rule is tested
without a server.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import attrs

from ..errors import InvalidSpec
from ..market_messages import FeedState
from ..order_messages import TradingState
from ..orderbook import TrustState
from ..supervisor import ChildState
from .source import ActorObservation, OpsSnapshot

__all__ = ["Check", "Readiness", "ReadinessPolicy", "assess"]


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        raise InvalidSpec(
            f"{attribute.name}: must be a finite number of seconds > 0, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class ReadinessPolicy:
    """How much silence is tolerated.

    ``max_silence``: seconds since an actor's last status after which it counts as stuck.
    The default leaves room for actors whose timers tick every second or two (the executor
    sweeps every 2 s) and for a loaded machine.
    """

    max_silence: float = attrs.field(default=30.0, validator=_positive_seconds)


@attrs.frozen(kw_only=True)
class Check:
    """One condition of readiness, and why it holds or not."""

    name: str
    ok: bool
    detail: str


@attrs.frozen(kw_only=True)
class Readiness:
    """Every check, in a stable order."""

    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)


def assess(snapshot: OpsSnapshot, policy: ReadinessPolicy) -> Readiness:
    """Judge ``snapshot`` by ``policy`` (see the module docstring for the checks)."""
    return Readiness(checks=tuple(_checks(snapshot, policy)))


def _checks(snapshot: OpsSnapshot, policy: ReadinessPolicy) -> Iterator[Check]:
    if not snapshot.actors:
        yield Check(name="actors", ok=False, detail="no supervised actor is known")
    for actor in snapshot.actors:
        yield _actor_check(actor, snapshot.now, policy.max_silence)

    feed = snapshot.feed
    if feed is None:
        yield Check(name="feed", ok=False, detail="the feed has not reported yet")
    else:
        yield Check(
            name="feed",
            ok=feed.state is FeedState.CONNECTED,
            detail=feed.state.value + (f": {feed.detail}" if feed.detail else ""),
        )

    for product in snapshot.products:
        book = snapshot.book_of(product)
        name = f"book:{product}"
        if book is None:
            yield Check(name=name, ok=False, detail="no book status yet")
            continue
        why = f" ({book.reason.value})" if book.reason is not None else ""
        yield Check(name=name, ok=book.state is TrustState.TRUSTED, detail=book.state.value + why)

    execution = snapshot.execution
    if execution is None:
        yield Check(name="executor", ok=False, detail="the executor has not reported yet")
    elif execution.reconciling:
        yield Check(name="executor", ok=False, detail="reconciling with the venue")
    else:
        yield Check(name="executor", ok=True, detail="reconciled")

    risk = snapshot.risk
    if risk is None:
        yield Check(name="trading", ok=False, detail="risk has not reported yet")
    else:
        detail = f"{risk.state.value} ({risk.reason}): {risk.detail}" if risk.reason else ""
        yield Check(
            name="trading",
            ok=risk.state is not TradingState.HALTED,
            detail=detail or risk.state.value,
        )


def _actor_check(actor: ActorObservation, now: float, max_silence: float) -> Check:
    name = f"actor:{actor.name}"
    if actor.state is not ChildState.RUNNING:
        return Check(name=name, ok=False, detail=f"{actor.state.value}, not running")
    if actor.last_update is None:
        return Check(name=name, ok=False, detail="running, but has never posted a status")
    silence = now - actor.last_update
    if silence > max_silence:
        return Check(
            name=name,
            ok=False,
            detail=f"no status for {silence:.1f} s (more than {max_silence:g} s): stuck?",
        )
    return Check(name=name, ok=True, detail=f"last status {silence:.1f} s ago")
