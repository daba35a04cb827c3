"""Property tests of mailboxes across restarts of the actors that use them.

Every example is a whole trio program under its own ``MockClock(autojump_threshold=0)``
(sync ``@given`` tests calling ``trio.run``; see test_supervisor_properties.py for why).
A producer sends a numbered sequence into a :class:`~cjt_actors.Mailbox`; a consumer,
supervised, reads it and crashes at drawn messages; the producer may be supervised too, crash
at drawn points and be restarted by a group restart. The consumer records each message
*before* it may crash on it, so the documented loss (the one message a crashing consumer had
taken) does not hide anything: what was recorded must be exactly what was sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from cjt_actors import (
    Backoff,
    ChildContext,
    ChildSpec,
    Intensity,
    Mailbox,
    Overflow,
    Strategy,
    Supervisor,
)

#: Virtual seconds after which an example is declared stuck (a lost message, a deadlock).
HANG_LIMIT = 100_000.0


class Boom(Exception):
    """A scripted crash."""


@dataclass
class Traffic:
    """What the producer and consumer did, across all their incarnations."""

    n: int
    consumer_crashes: frozenset[int]
    producer_crashes: frozenset[int]
    pace: tuple[float, ...]
    work: tuple[float, ...]
    sent: list[int] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    crashed: set[tuple[str, int]] = field(default_factory=set)
    next_to_send: int = 0
    all_received: trio.Event = field(default_factory=trio.Event)

    def crash_once(self, who: str, at: int) -> None:
        """Raise the first time ``who`` reaches a drawn crash point ``at``."""
        points = self.consumer_crashes if who == "consumer" else self.producer_crashes
        if at in points and (who, at) not in self.crashed:
            self.crashed.add((who, at))
            raise Boom(f"{who} crashes at message {at}")

    async def produce(self, out: Any, *, may_crash: bool) -> None:
        # A send cancelled by a restart did not happen (trio's guarantee), so the next
        # incarnation resends the same number: nothing lost, nothing doubled.
        while self.next_to_send < self.n:
            number = self.next_to_send
            await trio.sleep(self.pace[number % len(self.pace)])
            await out.send(number)
            self.sent.append(number)
            self.next_to_send += 1
            if may_crash:
                self.crash_once("producer", number)

    async def consume(self, inbox: trio.MemoryReceiveChannel[int]) -> None:
        async for number in inbox:
            self.received.append(number)  # recorded first: a crash cannot hide a loss
            if len(self.received) >= self.n:
                self.all_received.set()
            self.crash_once("consumer", number)
            await trio.sleep(self.work[number % len(self.work)])


delays = st.sampled_from([0.0, 0.0, 0.125, 0.5, 1.0])


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(
    n=st.integers(1, 30),
    capacity=st.integers(0, 4),
    consumer_crashes=st.frozensets(st.integers(0, 29), max_size=6),
    producer_crashes=st.frozensets(st.integers(0, 29), max_size=4),
    pace=st.lists(delays, min_size=1, max_size=4).map(tuple),
    work=st.lists(delays, min_size=1, max_size=4).map(tuple),
    strategy=st.sampled_from(Strategy),
    producer_supervised=st.booleans(),
    producer_first=st.booleans(),
    backoff=st.sampled_from([Backoff.none(), Backoff(min=0.125, max=1.0, jitter=0.5)]),
    seed=st.integers(0, 2**16),
    scheduling=st.random_module(),
)
def test_no_message_is_lost_or_doubled_across_restarts(
    n: int,
    capacity: int,
    consumer_crashes: frozenset[int],
    producer_crashes: frozenset[int],
    pace: tuple[float, ...],
    work: tuple[float, ...],
    strategy: Strategy,
    producer_supervised: bool,
    producer_first: bool,
    backoff: Backoff,
    seed: int,
    scheduling: Any,
) -> None:
    """(d) A BLOCK mailbox delivers every message exactly once, in order, across restarts.

    The consumer crashes at drawn messages (and, under ONE_FOR_ALL / REST_FOR_ONE, is also
    stopped by the producer's crashes), the producer crashes after drawn sends and may be
    stopped mid-send by the consumer's group restart. The mailbox outlives all of them, so
    the recorded sequence must equal the sent one: fills and order events are exactly the
    messages that must never be lost, doubled or reordered by an actor restart. Each
    incarnation's channel clones are released when it ends (no leak per restart).
    """
    mailbox: Mailbox[int] = Mailbox("orders", capacity=capacity, overflow=Overflow.BLOCK)
    traffic = Traffic(
        n=n,
        consumer_crashes=consumer_crashes,
        producer_crashes=producer_crashes,
        pace=pace,
        work=work,
    )

    async def consumer(ctx: ChildContext, *, task_status: trio.TaskStatus[None]) -> None:
        inbox = ctx.receiver(mailbox)
        task_status.started()
        await traffic.consume(inbox)

    async def producer(ctx: ChildContext, *, task_status: trio.TaskStatus[None]) -> None:
        out = ctx.sender(mailbox)
        task_status.started()
        await traffic.produce(out, may_crash=True)
        await trio.sleep_forever()

    specs = [ChildSpec(name="consumer", run=consumer)]
    if producer_supervised:
        producer_spec = ChildSpec(name="producer", run=producer)
        specs = [producer_spec, *specs] if producer_first else [*specs, producer_spec]
    supervisor = Supervisor(
        "pipeline",
        specs,
        strategy=strategy,
        intensity=Intensity(max_restarts=1000, period=1.0),
        backoff=backoff,
        mailboxes=[mailbox],
        rng=random.Random(seed),
    )

    async def main() -> None:
        with trio.move_on_after(HANG_LIMIT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(supervisor.run)
                if not producer_supervised:
                    out = mailbox.sender()
                    try:
                        await traffic.produce(out, may_crash=False)
                    finally:
                        out.close()
                await traffic.all_received.wait()
                nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert traffic.all_received.is_set(), f"stuck: received {traffic.received}, sent {traffic.sent}"
    assert traffic.sent == list(range(n))
    assert traffic.received == list(range(n))
    stats = mailbox.statistics()
    assert (stats.depth, stats.sent, stats.dropped) == (0, n, 0)
    # Only the mailbox's own endpoints are left: every incarnation closed its clones.
    assert (stats.senders, stats.receivers) == (1, 1)


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(
    n=st.integers(1, 40),
    capacity=st.integers(1, 4),
    consumer_crashes=st.frozensets(st.integers(0, 39), max_size=6),
    pace=st.lists(delays, min_size=1, max_size=4).map(tuple),
    work=st.lists(delays, min_size=1, max_size=4).map(tuple),
    scheduling=st.random_module(),
)
def test_drop_oldest_only_drops_and_counts_what_it_drops(
    n: int,
    capacity: int,
    consumer_crashes: frozenset[int],
    pace: tuple[float, ...],
    work: tuple[float, ...],
    scheduling: Any,
) -> None:
    """A DROP_OLDEST mailbox never reorders or doubles, and counts every message it drops.

    Market data may be dropped when the consumer lags or restarts, but what it does get must
    still be in order (a stale price after a newer one is worse than none), and the
    ``dropped`` counter is what the health check alarms on, so it must be exact:
    received + dropped == sent, across consumer restarts.
    """
    mailbox: Mailbox[int] = Mailbox("ticks", capacity=capacity, overflow=Overflow.DROP_OLDEST)
    traffic = Traffic(
        n=n,
        consumer_crashes=consumer_crashes,
        producer_crashes=frozenset(),
        pace=pace,
        work=work,
    )

    async def consumer(ctx: ChildContext, *, task_status: trio.TaskStatus[None]) -> None:
        inbox = ctx.receiver(mailbox)
        task_status.started()
        await traffic.consume(inbox)

    supervisor = Supervisor(
        "feed",
        [ChildSpec(name="consumer", run=consumer)],
        intensity=Intensity(max_restarts=1000, period=1.0),
        backoff=Backoff(min=0.125, max=1.0, jitter=0.0),
        mailboxes=[mailbox],
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(supervisor.run)
            out = mailbox.sender()
            await traffic.produce(out, may_crash=False)
            out.close()
            # Long enough (virtual time) for the consumer to drain whatever is left.
            await trio.sleep(10 * n + 100)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    received = traffic.received
    assert received == sorted(set(received)), "reordered or doubled"
    assert set(received) <= set(range(n))
    stats = mailbox.statistics()
    assert stats.depth == 0
    assert stats.sent == n
    assert len(received) + stats.dropped == n
    assert received[-1] == n - 1, "the newest message is never the one dropped"
