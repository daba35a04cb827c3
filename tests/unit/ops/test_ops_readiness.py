"""Readiness checks: each progress signal, broken alone, fails its own named check."""

from __future__ import annotations

import attrs
import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.market_messages import FeedState
from cjt_actors.ops import OpsSnapshot, ReadinessPolicy, assess
from cjt_actors.order_messages import TradingState
from cjt_actors.orderbook import TrustReason, TrustState
from cjt_actors.supervisor import ChildState

POLICY = ReadinessPolicy(max_silence=30.0)


def failed(snapshot: OpsSnapshot) -> dict[str, str]:
    readiness = assess(snapshot, POLICY)
    assert readiness.ready is (not readiness.failed)
    return {check.name: check.detail for check in readiness.failed}


def test_a_healthy_snapshot_is_ready_and_names_every_check(snapshot: OpsSnapshot) -> None:
    readiness = assess(snapshot, POLICY)
    assert readiness.ready
    assert readiness.failed == ()
    assert [c.name for c in readiness.checks] == [
        "actor:executor",
        "actor:risk",
        "actor:book",
        "actor:feed",
        "actor:strategy:mm",
        "actor:store",
        "feed",
        "book:BTC-USD",
        "book:ETH-USD",
        "executor",
        "trading",
    ]
    details = {c.name: c.detail for c in readiness.checks}
    assert details["trading"] == "ACTIVE"
    assert details["feed"] == "connected"
    assert details["actor:risk"] == "last status 1.0 s ago"


def test_an_actor_silent_longer_than_the_threshold_is_stuck(snapshot: OpsSnapshot) -> None:
    actors = list(snapshot.actors)
    actors[1] = attrs.evolve(actors[1], last_update=snapshot.now - 30.5)
    assert failed(attrs.evolve(snapshot, actors=tuple(actors))) == {
        "actor:risk": "no status for 30.5 s (more than 30 s): stuck?"
    }
    # Exactly at the threshold is still progress.
    actors[1] = attrs.evolve(actors[1], last_update=snapshot.now - 30.0)
    assert failed(attrs.evolve(snapshot, actors=tuple(actors))) == {}


def test_the_threshold_is_configurable(snapshot: OpsSnapshot) -> None:
    strict = ReadinessPolicy(max_silence=0.5)
    names = {c.name for c in assess(snapshot, strict).failed}
    assert names == {f"actor:{a.name}" for a in snapshot.actors}  # each is 1 s quiet


@pytest.mark.parametrize("state", [ChildState.WAITING, ChildState.STARTING, ChildState.ENDED])
def test_an_actor_not_running_is_unready(snapshot: OpsSnapshot, state: ChildState) -> None:
    actors = list(snapshot.actors)
    actors[3] = attrs.evolve(actors[3], state=state)
    assert failed(attrs.evolve(snapshot, actors=tuple(actors))) == {
        "actor:feed": f"{state.value}, not running"
    }


def test_an_actor_that_never_posted_is_unready(snapshot: OpsSnapshot) -> None:
    actors = list(snapshot.actors)
    actors[0] = attrs.evolve(actors[0], last_update=None)
    assert failed(attrs.evolve(snapshot, actors=tuple(actors))) == {
        "actor:executor": "running, but has never posted a status"
    }


def test_no_actors_at_all_is_unready(snapshot: OpsSnapshot) -> None:
    assert failed(attrs.evolve(snapshot, actors=())) == {"actors": "no supervised actor is known"}


@pytest.mark.parametrize("state", [s for s in FeedState if s is not FeedState.CONNECTED])
def test_a_feed_not_connected_is_unready(snapshot: OpsSnapshot, state: FeedState) -> None:
    assert snapshot.feed is not None
    feed = attrs.evolve(snapshot.feed, state=state, detail="connection lost")
    assert failed(attrs.evolve(snapshot, feed=feed)) == {"feed": f"{state.value}: connection lost"}


def test_an_untrusted_or_missing_book_is_unready(snapshot: OpsSnapshot) -> None:
    eth = attrs.evolve(snapshot.books[1], state=TrustState.UNTRUSTED, reason=TrustReason.GAP)
    assert failed(attrs.evolve(snapshot, books=(snapshot.books[0], eth))) == {
        "book:ETH-USD": "untrusted (gap)"
    }
    empty = attrs.evolve(snapshot.books[0], state=TrustState.EMPTY)
    assert failed(attrs.evolve(snapshot, books=(empty,))) == {
        "book:BTC-USD": "empty",
        "book:ETH-USD": "no book status yet",
    }


def test_a_reconciling_executor_is_unready(snapshot: OpsSnapshot) -> None:
    assert snapshot.execution is not None
    execution = attrs.evolve(snapshot.execution, reconciling=True)
    assert failed(attrs.evolve(snapshot, execution=execution)) == {
        "executor": "reconciling with the venue"
    }


def test_halted_trading_is_unready_but_reducing_is_not(snapshot: OpsSnapshot) -> None:
    assert snapshot.risk is not None
    halted = attrs.evolve(
        snapshot.risk, state=TradingState.HALTED, reason="OPERATOR", detail="operator: lunch"
    )
    assert failed(attrs.evolve(snapshot, risk=halted)) == {
        "trading": "HALTED (OPERATOR): operator: lunch"
    }
    reducing = attrs.evolve(snapshot.risk, state=TradingState.REDUCING, reason="MAX_DRAWDOWN")
    assert failed(attrs.evolve(snapshot, risk=reducing)) == {}


def test_nothing_published_yet_fails_each_status_check(snapshot: OpsSnapshot) -> None:
    bare = attrs.evolve(snapshot, feed=None, books=(), execution=None, risk=None)
    assert failed(bare) == {
        "feed": "the feed has not reported yet",
        "book:BTC-USD": "no book status yet",
        "book:ETH-USD": "no book status yet",
        "executor": "the executor has not reported yet",
        "trading": "risk has not reported yet",
    }


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan"), True, "30"])
def test_a_malformed_threshold_is_refused(value: object) -> None:
    with pytest.raises(InvalidSpec, match="max_silence: must be a finite number of seconds"):
        ReadinessPolicy(max_silence=value)  # type: ignore[arg-type]
