"""Mailboxes: bounded, with a stated overflow policy, and never closed by a clone."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from cjt_actors import InvalidSpec, Mailbox, MailboxStatistics, Overflow


def drain(receiver: trio.MemoryReceiveChannel[int]) -> list[int]:
    values: list[int] = []
    while True:
        try:
            values.append(receiver.receive_nowait())
        except trio.WouldBlock:
            return values


# -- construction ----------------------------------------------------------------------------


class TestCapacityValidation:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"capacity": math.inf}, "capacity must be finite, got inf"),
            ({"capacity": -math.inf}, "capacity must be finite"),
            ({"capacity": -1}, "capacity must be >= 0, got -1"),
            ({"capacity": 2.0}, "capacity must be an int, got 2.0"),
            ({"capacity": math.nan}, "capacity must be an int"),
            ({"capacity": True}, "capacity must be an int, got True"),
            ({"capacity": "8"}, "capacity must be an int"),
            ({"capacity": 0, "overflow": Overflow.DROP_OLDEST}, "DROP_OLDEST needs a capacity"),
        ],
        ids=["inf", "minus_inf", "negative", "float", "nan", "bool", "str", "drop_oldest_zero"],
    )
    def test_invalid_capacity_is_refused(self, kwargs: dict[str, Any], message: str) -> None:
        """Every mailbox is bounded, and the error names the mailbox and the rule."""
        with pytest.raises(InvalidSpec) as info:
            Mailbox("orders", **kwargs)
        assert message in str(info.value)
        assert "'orders'" in str(info.value)

    def test_fresh_mailbox_statistics(self) -> None:
        """A new mailbox is empty, with only its own two endpoints open."""
        box = Mailbox[int]("m", capacity=3)
        assert box.statistics() == MailboxStatistics(
            name="m",
            capacity=3,
            overflow=Overflow.BLOCK,
            depth=0,
            sent=0,
            dropped=0,
            senders=1,
            receivers=1,
        )

    def test_repr_shows_name_capacity_policy_and_depth(self) -> None:
        """Logs and debuggers show mailboxes: say how full they are."""
        box = Mailbox[int]("quotes", capacity=2, overflow=Overflow.DROP_OLDEST)
        box.sender().send_nowait(1)
        assert repr(box) == "<Mailbox 'quotes' capacity=2 overflow=drop_oldest depth=1>"


# -- BLOCK -----------------------------------------------------------------------------------


class TestBlock:
    async def test_full_mailbox_blocks_the_producer(self, autojump_clock: Any) -> None:
        """Order events must never be dropped: a full mailbox makes the producer wait."""
        box = Mailbox[int]("orders", capacity=2)
        out, inbox = box.sender(), box.receiver()
        await out.send(1)
        await out.send(2)
        with trio.move_on_after(5.0) as waited:
            await out.send(3)
        assert waited.cancelled_caught
        assert trio.current_time() == 5.0
        assert box.statistics().depth == 2
        assert box.statistics().sent == 2  # the cancelled send was not counted

        done = trio.Event()

        async def produce() -> None:
            await out.send(3)
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()
            assert await inbox.receive() == 1
        assert done.is_set()
        assert drain(inbox) == [2, 3]
        assert box.statistics().sent == 3

    def test_send_nowait_raises_when_full_and_counts_only_deliveries(self) -> None:
        """A non-blocking producer learns that the mailbox is full; nothing is miscounted."""
        box = Mailbox[int]("m", capacity=1)
        out = box.sender()
        out.send_nowait(1)
        with pytest.raises(trio.WouldBlock):
            out.send_nowait(2)
        assert (box.statistics().sent, box.statistics().depth) == (1, 1)

    async def test_capacity_zero_is_a_rendezvous(self, autojump_clock: Any) -> None:
        """Capacity 0: a send completes only when a consumer takes the message."""
        box = Mailbox[str]("m", capacity=0)
        out, inbox = box.sender(), box.receiver()
        with pytest.raises(trio.WouldBlock):
            out.send_nowait("x")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(out.send, "hello")
            assert await inbox.receive() == "hello"
        assert box.statistics().sent == 1


# -- DROP_OLDEST -------------------------------------------------------------------------------


class TestDropOldest:
    async def test_full_mailbox_drops_the_oldest_and_counts_it(self, autojump_clock: Any) -> None:
        """Market data: the newest value matters more than a complete history."""
        box = Mailbox[int]("quotes", capacity=3, overflow=Overflow.DROP_OLDEST)
        out, inbox = box.sender(), box.receiver()
        for i in range(5):
            await out.send(i)
        out.send_nowait(5)
        assert trio.current_time() == 0.0  # never waited
        stats = box.statistics()
        assert (stats.depth, stats.sent, stats.dropped) == (3, 6, 3)
        assert drain(inbox) == [3, 4, 5]

    async def test_cancelled_send_queues_nothing(self, autojump_clock: Any) -> None:
        """Like trio's own send, a cancelled send has not happened: "sent" is never undone."""
        box = Mailbox[int]("quotes", capacity=1, overflow=Overflow.DROP_OLDEST)
        out, inbox = box.sender(), box.receiver()
        with trio.CancelScope() as scope:
            scope.cancel()
            await out.send(1)
        assert scope.cancelled_caught
        assert (box.statistics().sent, drain(inbox)) == (0, [])

    async def test_send_is_a_checkpoint(self, autojump_clock: Any) -> None:
        """A tight producer loop must still let other tasks run."""
        box = Mailbox[int]("quotes", capacity=1, overflow=Overflow.DROP_OLDEST)
        out = box.sender()
        ran = trio.Event()

        async def other() -> None:
            ran.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
            for i in range(3):
                await out.send(i)
            assert ran.is_set()

    def test_send_to_a_mailbox_without_consumers_drops_and_counts(self) -> None:
        """Market data with nobody left to read it is dropped and counted, never an error."""
        box = Mailbox[int]("quotes", capacity=1, overflow=Overflow.DROP_OLDEST)
        out = box.sender()
        box.close()
        out.send_nowait(1)
        out.send_nowait(2)
        out.send_nowait(3)
        assert box.statistics().dropped == 2
        out.close()
        assert box.statistics().senders == 0

    def test_full_drop_oldest_after_close_still_drops_while_a_consumer_remains(self) -> None:
        """close() promises BrokenResourceError only once every consumer clone is closed."""
        box = Mailbox[int]("quotes", capacity=1, overflow=Overflow.DROP_OLDEST)
        out, inbox = box.sender(), box.receiver()
        out.send_nowait(1)
        box.close()
        out.send_nowait(2)
        assert drain(inbox) == [2]


# -- clones and closing ------------------------------------------------------------------------


class TestClonesAndClose:
    @pytest.mark.parametrize("overflow", list(Overflow))
    def test_closing_clones_never_closes_the_mailbox(self, overflow: Overflow) -> None:
        """A crashing consumer closes its clone; producers must not notice (no Broken)."""
        box = Mailbox[int]("m", capacity=4, overflow=overflow)
        out = box.sender()
        first = box.receiver()
        out.send_nowait(1)
        first.close()
        out.send_nowait(2)  # no BrokenResourceError: the mailbox still holds a receiver
        second = box.receiver()
        assert drain(second) == [1, 2]
        out.close()
        box.sender().send_nowait(3)
        assert drain(second) == [3]

    def test_statistics_count_open_clones(self) -> None:
        """Leaked clones show up in the statistics."""
        box = Mailbox[int]("m", capacity=4)
        senders = [box.sender() for _ in range(3)]
        receivers = [box.receiver() for _ in range(2)]
        assert (box.statistics().senders, box.statistics().receivers) == (4, 3)
        senders[0].close()
        receivers[0].close()
        assert (box.statistics().senders, box.statistics().receivers) == (3, 2)

    async def test_consumers_see_end_of_channel_once_all_producers_close(
        self, autojump_clock: Any
    ) -> None:
        """After close(), consumers drain what is left, then learn the stream ended."""
        box = Mailbox[int]("m", capacity=4)
        out, inbox = box.sender(), box.receiver()
        out.send_nowait(1)
        box.close()
        assert await inbox.receive() == 1
        with trio.move_on_after(1.0) as waiting:  # a producer clone is still open
            await inbox.receive()
        assert waiting.cancelled_caught
        out.close()
        with pytest.raises(trio.EndOfChannel):
            await inbox.receive()

    async def test_producers_see_broken_once_all_consumers_close(self, autojump_clock: Any) -> None:
        """After close(), producers fail as soon as nobody can ever receive."""
        box = Mailbox[int]("m", capacity=4)
        out, inbox = box.sender(), box.receiver()
        box.close()
        await out.send(1)  # a consumer clone is still open
        inbox.close()
        with pytest.raises(trio.BrokenResourceError):
            await out.send(2)

    def test_close_is_idempotent_and_new_clones_are_refused(self) -> None:
        """close() may run twice in cleanup; no actor may join a closed mailbox."""
        box = Mailbox[int]("m", capacity=1)
        box.close()
        box.close()
        with pytest.raises(trio.ClosedResourceError):
            box.sender()
        with pytest.raises(trio.ClosedResourceError):
            box.receiver()
