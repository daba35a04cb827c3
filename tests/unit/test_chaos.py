"""Crash injection under the real supervisor: a crash is an ordinary child crash, delivered
once per call, only to a ready incarnation, and never instead of a cancellation.

Every test runs under the autojump clock, so the times compared are exact virtual times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
import trio.testing

from cjt_actors.channels import Mailbox, Overflow
from cjt_actors.chaos import CrashRecord, CrashSwitch, InjectedCrash
from cjt_actors.child import ChildContext, ChildSpec
from cjt_actors.errors import InvalidSpec, SupervisorGaveUp
from cjt_actors.messages import (
    ChildCrashed,
    ChildStarted,
    ChildStopped,
    SupervisorEvent,
)
from cjt_actors.policy import Backoff, Intensity, Strategy
from cjt_actors.supervisor import Supervisor

Log = list[tuple[str, int, float]]  # (what, incarnation, when)


@attrs.define
class Toy:
    """A child that is ready after ``ready_after`` seconds and then runs until cancelled."""

    ready_after: float = 0.0
    log: Log = attrs.Factory(list)

    async def run(
        self, ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await trio.sleep(self.ready_after)
        task_status.started()
        self.log.append(("ready", ctx.incarnation, trio.current_time()))
        try:
            await trio.sleep_forever()
        finally:
            self.log.append(("unwound", ctx.incarnation, trio.current_time()))


@attrs.define
class Tree:
    supervisor: Supervisor
    switch: CrashSwitch
    events: trio.MemoryReceiveChannel[SupervisorEvent]

    def drain(self) -> list[SupervisorEvent]:
        got: list[SupervisorEvent] = []
        while True:
            try:
                got.append(self.events.receive_nowait())
            except trio.WouldBlock:
                return got

    def crashes(self) -> list[tuple[str, int, str, str, float]]:
        return [
            (e.child, e.incarnation, e.error_type, e.error, e.at)
            for e in self.drain()
            if isinstance(e, ChildCrashed)
        ]


def _tree(
    children: dict[str, Toy],
    *,
    backoff: Backoff | None = None,
    intensity: Intensity | None = None,
    strategy: Strategy = Strategy.ONE_FOR_ONE,
) -> Tree:
    switch = CrashSwitch()
    observer = Mailbox[SupervisorEvent]("events", capacity=256, overflow=Overflow.DROP_OLDEST)
    supervisor = Supervisor(
        "test",
        [ChildSpec(name=name, run=switch.wrap(name, toy.run)) for name, toy in children.items()],
        strategy=strategy,
        backoff=backoff or Backoff.none(),
        intensity=intensity,
        observer=observer.sender(),
    )
    return Tree(supervisor=supervisor, switch=switch, events=observer.receiver())


@asynccontextmanager
async def running(tree: Tree) -> AsyncIterator[Tree]:
    async with trio.open_nursery() as nursery:
        await nursery.start(tree.supervisor.run)
        yield tree
        nursery.cancel_scope.cancel()


async def test_a_crash_is_an_ordinary_crash_that_the_supervisor_restarts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b = Toy(), Toy()
    async with running(_tree({"a": a, "b": b})) as tree:
        tree.drain()
        await trio.sleep(5)
        tree.switch.crash("a", "scheduled at t=5")
        await trio.sleep(1)
        assert tree.crashes() == [
            ("a", 0, "InjectedCrash", "injected crash of actor 'a': scheduled at t=5", 5.0)
        ]
        assert tree.supervisor.restart_counts() == {"a": 1, "b": 0}  # one_for_one
        assert a.log == [("ready", 0, 0.0), ("unwound", 0, 5.0), ("ready", 1, 5.0)]
        assert b.log == [("ready", 0, 0.0)]
        assert tree.switch.delivered == {"a": 1}
        assert tree.switch.history == [
            CrashRecord(actor="a", incarnation=0, detail="scheduled at t=5", at=5.0)
        ]
        assert tree.switch.pending("a") == 0


async def test_the_wrapped_child_is_ready_exactly_when_the_real_one_is(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A crash asked for while the child starts waits until it is ready: never a start
    failure (which would fail the supervisor's own start)."""
    slow = Toy(ready_after=5.0)
    tree = _tree({"slow": slow})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tree.supervisor.run)
        await trio.sleep(2)
        tree.switch.crash("slow", "while starting")
        assert tree.switch.pending("slow") == 1
        await trio.sleep(1)
        assert tree.drain() == []  # not started yet, not crashed yet
        await trio.sleep(10)
        events = tree.drain()
        nursery.cancel_scope.cancel()
    started = [(e.incarnation, e.at) for e in events if isinstance(e, ChildStarted)]
    assert started == [(0, 5.0), (1, 10.0)]
    (crash,) = [e for e in events if isinstance(e, ChildCrashed)]
    assert (crash.incarnation, crash.at, crash.before_ready) == (0, 5.0, False)
    assert crash.error_type == "InjectedCrash"


async def test_a_crash_between_incarnations_is_delivered_to_the_next_one_when_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a = Toy(ready_after=1.0)
    backoff = Backoff(min=10.0, max=10.0, jitter=0.0, reset_after=60.0)
    async with running(_tree({"a": a}, backoff=backoff)) as tree:
        tree.switch.crash("a", "first")  # t=1: ready; restart due at t=11
        await trio.sleep(3)
        tree.switch.crash("a", "second")  # t=4: between incarnations
        assert tree.switch.pending("a") == 1
        await trio.sleep(20)
        assert [(c[1], c[3], c[4]) for c in tree.crashes()] == [
            (0, "injected crash of actor 'a': first", 1.0),
            (1, "injected crash of actor 'a': second", 12.0),  # restarted at 11, ready at 12
        ]
        assert tree.switch.delivered == {"a": 2}
        assert tree.switch.pending("a") == 0
        assert tree.supervisor.restart_count("a") == 2


async def test_each_call_is_one_crash(autojump_clock: trio.testing.MockClock) -> None:
    async with running(_tree({"a": Toy()})) as tree:
        for n in range(3):
            tree.switch.crash("a", f"#{n}")
        await trio.sleep(1)
        assert [(c[1], c[3]) for c in tree.crashes()] == [
            (n, f"injected crash of actor 'a': #{n}") for n in range(3)
        ]
        assert tree.supervisor.restart_count("a") == 3


async def test_crashes_beyond_the_intensity_escalate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tree = _tree({"a": Toy(), "b": Toy()}, intensity=Intensity(max_restarts=2, period=60.0))
    gave_up: list[BaseException] = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(tree.supervisor.run)
            for n in range(3):
                tree.switch.crash("b" if n % 2 else "a", f"#{n}")
                await trio.sleep(1)
    except* SupervisorGaveUp as group:
        gave_up.extend(group.exceptions)
    (error,) = gave_up
    assert isinstance(error, SupervisorGaveUp)
    assert [type(c) for c in error.causes] == [InjectedCrash] * 3
    assert [c.actor for c in error.causes] == ["a", "b", "a"]  # type: ignore[attr-defined]
    assert tree.switch.delivered == {"a": 2, "b": 1}


async def test_a_stop_wins_over_a_crash_asked_for_at_the_same_moment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The switch's scope catches only its own cancellation: Cancelled is never swallowed."""
    toy = Toy()
    switch = CrashSwitch()
    run = switch.wrap("a", toy.run)
    context = ChildContext(name="a", path="t/a", incarnation=0, shutdown_timeout=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(run, context)
        switch.crash("a", "too late")
        nursery.cancel_scope.cancel()  # before the child gets to run again
    assert toy.log == [("ready", 0, 0.0), ("unwound", 0, 0.0)]
    assert switch.delivered == {}
    assert switch.pending("a") == 1  # kept for the next incarnation


async def test_a_child_that_fails_on_its_own_keeps_the_crash_for_its_next_incarnation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Fragile(Toy):
        async def run(
            self,
            ctx: ChildContext,
            *,
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            if ctx.incarnation in (1, 2):
                task_status.started()
                raise ValueError("a bug of its own")  # before any checkpoint
            await super().run(ctx, task_status=task_status)

    async with running(_tree({"a": Fragile()})) as tree:
        tree.switch.crash("a", "one")
        tree.switch.crash("a", "two")
        await trio.sleep(1)
        assert [(c[1], c[2], c[3]) for c in tree.crashes()] == [
            (0, "InjectedCrash", "injected crash of actor 'a': one"),
            (1, "ValueError", "a bug of its own"),  # "two" was due, but it failed first
            (2, "ValueError", "a bug of its own"),
            (3, "InjectedCrash", "injected crash of actor 'a': two"),
        ]
        assert tree.switch.delivered == {"a": 2}


async def test_a_child_that_returns_when_ready_still_crashes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A crash asked for is delivered even if the incarnation ends before a checkpoint."""

    async def brief(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()

    switch = CrashSwitch()
    run = switch.wrap("brief", brief)
    switch.crash("brief")
    context = ChildContext(name="brief", path="t/brief", incarnation=7, shutdown_timeout=1.0)
    with pytest.raises(InjectedCrash, match="injected crash of actor 'brief': injected") as caught:
        await run(context)
    assert (caught.value.actor, caught.value.detail) == ("brief", "injected")
    assert switch.history[0].incarnation == 7
    assert run.__name__ == "crashable[brief]"  # type: ignore[attr-defined]


async def test_an_ended_child_does_not_crash_later(autojump_clock: trio.testing.MockClock) -> None:
    async def brief(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()

    switch = CrashSwitch()
    run = switch.wrap("brief", brief)
    await run(ChildContext(name="brief", path="t/brief", incarnation=0, shutdown_timeout=1.0))
    switch.crash("brief")  # no incarnation: it waits for the next one
    assert (switch.delivered, switch.pending("brief")) == ({}, 1)


def test_an_unknown_actor_is_refused_with_the_known_names() -> None:
    switch = CrashSwitch()
    with pytest.raises(InvalidSpec, match=r"no actor named 'book'; known actors: none"):
        switch.crash("book")
    switch.wrap("risk", Toy().run)
    switch.wrap("book", Toy().run)
    assert switch.known == ("book", "risk")
    with pytest.raises(InvalidSpec, match=r"no actor named 'feed'; known actors: 'book', 'risk'"):
        switch.crash("feed")
    assert switch.pending("feed") == 0


async def test_a_supervisor_stopping_a_crashed_childs_sibling_is_a_plain_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """rest_for_one: the crash is the crashed child's; the siblings after it are stopped."""
    first, second = Toy(), Toy()
    async with running(_tree({"a": first, "b": second}, strategy=Strategy.REST_FOR_ONE)) as tree:
        tree.drain()
        tree.switch.crash("a")
        await trio.sleep(1)
        events = tree.drain()
    assert [(e.child, e.error_type) for e in events if isinstance(e, ChildCrashed)] == [
        ("a", "InjectedCrash")
    ]
    assert [e.child for e in events if isinstance(e, ChildStopped)] == ["b"]
    assert tree.switch.delivered == {"a": 1}
