"""``Journal.open`` and ``AsyncJournal.open`` take the wall clock that stamps each row.

A scenario run passes the simulator's virtual wall clock, so two runs of one seed write the
same file, ``wall`` column included.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from cjt_actors.journal import AsyncJournal, Journal
from cjt_actors.messages import ChildStarted


def started(n: int) -> ChildStarted:
    return ChildStarted(supervisor="root", at=float(n), child=f"child-{n}", incarnation=n)


def walls(path: Path) -> list[tuple[int, float | None]]:
    """The ``wall`` column, read with a plain connection (not through the journal)."""
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT seq, wall FROM events ORDER BY seq"))


def test_journal_open_stamps_rows_with_the_given_wall_clock(tmp_path: Path) -> None:
    wall = itertools.count(1_700_000_000.0, 0.5).__next__
    with Journal.open(tmp_path / "j.db", wall=wall) as journal:
        journal.append(started(1), at=1.0)
        journal.append_many([(started(2), 2.0), (started(3), 3.0)])
    assert walls(tmp_path / "j.db") == [
        (1, 1_700_000_000.0),
        (2, 1_700_000_000.5),
        (3, 1_700_000_001.0),
    ]


def test_journal_open_defaults_to_the_unix_time(tmp_path: Path) -> None:
    """The default is looked up when the row is written (``time.time``), not frozen."""
    with Journal.open(tmp_path / "j.db") as journal:
        journal.append(started(1), at=1.0)
    ((_, wall),) = walls(tmp_path / "j.db")
    assert wall is not None
    assert wall > 1_600_000_000.0  # a real Unix time, not trio's clock


@pytest.mark.parametrize("inline", [False, True])
async def test_async_journal_open_passes_the_wall_clock_through(
    tmp_path: Path, inline: bool
) -> None:
    wall = itertools.count(42.0).__next__
    journal = await AsyncJournal.open(tmp_path / "j.db", inline=inline, wall=wall)
    try:
        await journal.append(started(1), at=1.0)
        await journal.append(started(2), at=2.0)
        assert await journal.wall_times() == [(1, 42.0), (2, 43.0)]
    finally:
        await journal.aclose()
    assert journal.inline is inline


async def test_a_fixed_wall_clock_makes_two_runs_write_identical_rows(tmp_path: Path) -> None:
    """The point of the argument: the whole ``events`` table, ``wall`` included, repeats."""
    tables = []
    for name in ("a.db", "b.db"):
        wall = itertools.count(1_000.0, 0.25).__next__
        journal = await AsyncJournal.open(tmp_path / name, inline=True, wall=wall)
        try:
            for n in range(3):
                await journal.append(started(n), at=float(n))
        finally:
            await journal.aclose()
        with sqlite3.connect(tmp_path / name) as db:
            tables.append(list(db.execute("SELECT * FROM events ORDER BY seq")))
    assert tables[0] == tables[1]
    assert [row[-1] for row in tables[0]] == [1_000.0, 1_000.25, 1_000.5]
