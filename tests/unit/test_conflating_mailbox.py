"""The conflating mailbox: latest value per key, fair order, bounded, never blocks a producer."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from cjt_actors.channels import ConflatingMailbox, Overflow
from cjt_actors.errors import InvalidSpec


def _box(max_keys: int = 4) -> ConflatingMailbox[str, tuple[str, int]]:
    return ConflatingMailbox[str, tuple[str, int]]("views", key=lambda v: v[0], max_keys=max_keys)


def test_a_newer_value_replaces_the_pending_one_in_place() -> None:
    box = _box()
    sender = box.sender()
    sender.send_nowait(("BTC", 1))
    sender.send_nowait(("ETH", 1))
    sender.send_nowait(("BTC", 2))  # replaces BTC 1, keeps BTC ahead of ETH
    receiver = box.receiver()
    assert receiver.receive_nowait() == ("BTC", 2)
    assert receiver.receive_nowait() == ("ETH", 1)
    with pytest.raises(trio.WouldBlock):
        receiver.receive_nowait()
    stats = box.statistics()
    assert (stats.sent, stats.dropped, stats.depth) == (3, 1, 0)
    assert stats.overflow is Overflow.DROP_OLDEST


def test_too_many_keys_drop_the_oldest_pending_value() -> None:
    box = _box(max_keys=2)
    for key in ("a", "b", "c"):
        box.put((key, 0))
    receiver = box.receiver()
    assert [receiver.receive_nowait(), receiver.receive_nowait()] == [("b", 0), ("c", 0)]
    assert box.statistics().dropped == 1


async def test_a_waiting_consumer_wakes_and_sees_the_latest_value() -> None:
    box = _box()
    got: list[tuple[str, int]] = []

    async def consume() -> None:
        got.append(await box.receiver().receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        await box.sender().send(("BTC", 7))
    assert got == [("BTC", 7)]


async def test_close_lets_the_consumer_drain_then_ends_iteration() -> None:
    box = _box()
    box.put(("BTC", 1))
    box.close()
    assert [value async for value in box.receiver()] == [("BTC", 1)]
    with pytest.raises(trio.ClosedResourceError):
        box.put(("BTC", 2))
    assert box.statistics().receivers == 0


async def test_closed_handles_refuse_but_leave_the_mailbox_open() -> None:
    box = _box()
    sender, receiver = box.sender(), box.receiver()
    sender.close()
    receiver.close()
    with pytest.raises(trio.ClosedResourceError):
        sender.send_nowait(("BTC", 1))
    with pytest.raises(trio.ClosedResourceError):
        await receiver.receive()
    box.sender().send_nowait(("BTC", 1))
    assert box.receiver().receive_nowait() == ("BTC", 1)


@pytest.mark.parametrize("max_keys", [0, -1, True, 1.5])
def test_max_keys_must_be_a_positive_int(max_keys: object) -> None:
    with pytest.raises(InvalidSpec, match="max_keys"):
        ConflatingMailbox[str, int]("x", key=str, max_keys=max_keys)  # type: ignore[arg-type]


def test_repr_names_the_mailbox() -> None:
    assert "views" in repr(_box())


def test_a_lazy_value_is_built_when_taken_and_never_if_superseded() -> None:
    box = _box()
    built: list[int] = []

    def builder(n: int) -> object:
        def build() -> tuple[str, int]:
            built.append(n)
            return ("BTC", n)

        return build

    box.put_lazy("BTC", builder(1))  # type: ignore[arg-type]
    box.put_lazy("BTC", builder(2))  # type: ignore[arg-type]
    box.put(("ETH", 7))
    assert built == []  # nothing is built until a consumer takes it
    receiver = box.receiver()
    assert receiver.receive_nowait() == ("BTC", 2)
    assert built == [2]  # the superseded one never was
    assert receiver.receive_nowait() == ("ETH", 7)
    assert box.statistics().dropped == 1
    box.close()
    with pytest.raises(trio.ClosedResourceError):
        box.put_lazy("BTC", builder(3))  # type: ignore[arg-type]
