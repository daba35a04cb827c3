"""The status board: frozen snapshots, and sources built when read."""

from __future__ import annotations

import attrs
import trio
import trio.testing

from cjt_actors.status import StatusBoard


@attrs.frozen
class Count:
    value: int


async def test_a_published_snapshot_is_read_back_by_kind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    board = StatusBoard()
    board.publish("a", Count(1))
    assert board.get("a", Count) == Count(1)
    assert board.get("a", str) is None
    assert board.get("missing", Count) is None
    assert board.updated_at("a") == 0.0


async def test_a_source_is_built_on_every_read_and_touch_records_progress(
    autojump_clock: trio.testing.MockClock,
) -> None:
    board = StatusBoard()
    state = {"value": 0}
    builds: list[int] = []

    def build() -> Count:
        builds.append(state["value"])
        return Count(state["value"])

    board.publish_source("feed", build)
    assert builds == []  # publishing builds nothing
    state["value"] = 3
    await trio.sleep(2)
    board.touch("feed", trio.current_time())
    assert board.get("feed", Count) == Count(3)
    assert board.updated_at("feed") == 2.0
    assert dict(board.snapshots()) == {"feed": Count(3)}
    assert builds == [3, 3]
    board.publish("feed", Count(9))  # a frozen value replaces the source
    assert board.get("feed", Count) == Count(9)
    assert builds == [3, 3]
    assert "feed" in repr(board)
