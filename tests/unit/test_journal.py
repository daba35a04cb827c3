"""The write-ahead journal: durable, ordered, idempotent for fills, refuses what is not ours."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from cjt_actors.errors import CjtError
from cjt_actors.journal import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    AsyncJournal,
    Journal,
    JournalError,
    NotAJournal,
    OrderMove,
    UndecodableEntry,
    UnsupportedSchema,
)
from cjt_actors.messages import (
    ChildStarted,
    CleanupStepFinished,
    Message,
    RootStopped,
    StepStatus,
    StopReason,
    SupervisorStarted,
)

# -- helpers ---------------------------------------------------------------------------------


def started(n: int, at: float = 0.0) -> ChildStarted:
    """A small registered event, distinct per ``n``."""
    return ChildStarted(supervisor="root", at=at, child=f"child-{n}", incarnation=n)


def root_stopped() -> RootStopped:
    """A nested message with an enum, a tuple of messages and a default field."""
    step = CleanupStepFinished(
        step="cancel-all", status=StepStatus.COMPLETED, started_at=1.0, duration=0.5
    )
    return RootStopped(
        reason=StopReason.SIGNAL, detail="ctrl-c", exit_code=0, steps=(step,), at=2.0
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A fresh journal file, closed after the test."""
    with Journal.open(tmp_path / "j.db") as j:
        yield j


def raw(path: Path) -> sqlite3.Connection:
    """A second, plain connection to tamper with a journal file."""
    return sqlite3.connect(path, isolation_level=None)


# -- opening ---------------------------------------------------------------------------------


def test_open_creates_a_wal_journal_with_full_sync_and_the_current_schema(tmp_path: Path) -> None:
    """Durability before the venue hears of an intent needs WAL + synchronous=FULL."""
    path = tmp_path / "j.db"
    with Journal.open(path) as journal:
        db = journal._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert journal.path == path
    with raw(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_each_row_gets_its_wall_time_which_the_digest_ignores(tmp_path: Path) -> None:
    """``at`` is each process's trio clock; only ``wall`` orders rows across restarts."""
    clock = iter([1_700_000_000.0, 1_700_000_001.5, 1_800_000_000.0, 1_800_000_009.0])
    with Journal.open(tmp_path / "a.db") as a:
        a._wall = lambda: next(clock)
        a.append(started(1), at=5.0)
        a.append(started(2), at=6.0)
        first = a.wall_times()
        digest = a.digest()
    with Journal.open(tmp_path / "b.db") as b:
        b._wall = lambda: next(clock)
        b.append(started(1), at=5.0)
        b.append(started(2), at=6.0)
        assert b.wall_times() == [(1, 1_800_000_000.0), (2, 1_800_000_009.0)]
        assert b.wall_times(since=1) == [(2, 1_800_000_009.0)]
        assert b.digest() == digest  # same content, other wall times: same hash
    assert first == [(1, 1_700_000_000.0), (2, 1_700_000_001.5)]


def test_a_schema_1_journal_is_migrated_and_its_old_rows_have_no_wall_time(
    tmp_path: Path,
) -> None:
    from cjt_actors.journal import MIGRATIONS

    path = tmp_path / "old.db"
    with raw(path) as db:  # a journal as version 1 wrote it
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("UPDATE schema_version SET version = 1")
        db.execute("INSERT INTO events (at, kind, payload) VALUES (1.0, 'x', '{}')")
    with Journal.open(path) as journal:
        journal.append(started(2), at=2.0)
        walls = journal.wall_times()
    assert walls[0] == (1, None)
    assert walls[1][0] == 2
    assert walls[1][1] is not None
    with raw(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


def test_reopening_keeps_the_content(tmp_path: Path) -> None:
    """A restart reads back what the last run wrote (no re-migration, no loss)."""
    path = tmp_path / "j.db"
    with Journal.open(path) as journal:
        journal.append(started(1), at=1.0)
        before = journal.digest()
    with Journal.open(path) as journal:
        assert [m for _, _, m in journal.read()] == [started(1)]
        assert journal.digest() == before


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    """Writing into a file a newer version laid out could corrupt it: refuse, say why."""
    path = tmp_path / "j.db"
    Journal.open(path).close()
    with raw(path) as db:
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(UnsupportedSchema) as caught:
        Journal.open(path)
    message = str(caught.value)
    assert f"version {SCHEMA_VERSION + 1}" in message
    assert f"version {SCHEMA_VERSION})" in message
    assert isinstance(caught.value, JournalError)
    assert isinstance(caught.value, CjtError)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    """Pointing --journal at the wrong file must not crash obscurely or overwrite it."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(NotAJournal, match="not an SQLite database"):
        Journal.open(path)
    assert path.read_bytes().startswith(b"these are not")


@pytest.mark.parametrize("application_id", [0, 0x1234])
def test_an_sqlite_file_that_is_not_a_journal_is_refused(
    tmp_path: Path, application_id: int
) -> None:
    """Another program's database is never migrated into a journal."""
    path = tmp_path / "other.db"
    with raw(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
        db.execute(f"PRAGMA application_id={application_id}")
    with pytest.raises(NotAJournal, match="not a cjt_actors journal"):
        Journal.open(path)


def test_an_in_memory_database_is_refused_because_it_cannot_be_wal() -> None:
    """A journal that cannot be durable must not pretend to be."""
    with pytest.raises(JournalError, match="could not enable WAL"):
        Journal.open(":memory:")


def test_an_empty_sqlite_file_is_initialised(tmp_path: Path) -> None:
    """A zero-byte file (touch) is a fresh database, so it becomes a journal."""
    path = tmp_path / "empty.db"
    path.touch()
    with Journal.open(path) as journal:
        assert journal.last_seq() == 0


def test_a_migration_that_fails_leaves_the_file_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations run in one transaction: a failed step leaves no half-built schema."""
    import cjt_actors.journal as module

    monkeypatch.setattr(module, "MIGRATIONS", ((*module.MIGRATIONS[0], "NOT SQL"),))
    path = tmp_path / "j.db"
    with pytest.raises(sqlite3.OperationalError):
        Journal.open(path)
    with raw(path) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


# -- writing and reading -----------------------------------------------------------------------


def test_append_returns_contiguous_seqs_and_read_gives_the_messages_back(journal: Journal) -> None:
    """Order is the journal's point: seqs count up by one, reads are in seq order."""
    messages: list[Message] = [started(1), root_stopped(), started(2)]
    seqs = [journal.append(m, at=float(i)) for i, m in enumerate(messages)]
    assert seqs == [1, 2, 3]
    assert list(journal.read()) == [
        (1, 0.0, messages[0]),
        (2, 1.0, messages[1]),
        (3, 2.0, messages[2]),
    ]
    assert journal.last_seq() == 3


def test_read_filters_by_seq_kind_and_limit(journal: Journal) -> None:
    """Rebuilds read from a checkpoint and by kind; paging needs a limit."""
    journal.append_many([(started(1), 1.0), (root_stopped(), 2.0), (started(2), 3.0)])
    assert [s for s, _, _ in journal.read(after_seq=1)] == [2, 3]
    assert [s for s, _, _ in journal.read(kinds=[ChildStarted])] == [1, 3]
    assert [s for s, _, _ in journal.read(kinds=["RootStopped"])] == [2]
    assert [s for s, _, _ in journal.read(kinds=[])] == []
    assert [s for s, _, _ in journal.read(limit=2)] == [1, 2]


def test_payloads_are_canonical_json_with_sorted_keys(journal: Journal) -> None:
    """The journal hash depends on the text: it must not depend on dict order."""
    journal.append(started(7), at=1.5)
    (kind, payload) = journal._db.execute("SELECT kind, payload FROM events").fetchone()
    assert kind == "ChildStarted"
    assert payload == (
        '{"at":0.0,"child":"child-7","incarnation":7,"supervisor":"root","type":"ChildStarted"}'
    )


def test_append_many_is_all_or_nothing(journal: Journal) -> None:
    """A batch with one bad entry writes none of it (no half-recorded intent group)."""
    journal.append(started(0), at=0.0)
    with pytest.raises(JournalError):
        journal.append_many([(started(1), 1.0), (started(2), float("nan"))])
    assert journal.last_seq() == 1
    assert journal.append_many([]) == []
    assert journal.append_many([(started(1), 1.0), (started(2), 2.0)]) == [2, 3]


def test_a_failure_inside_the_transaction_rolls_back_and_keeps_seq_contiguous(
    journal: Journal,
) -> None:
    """A rolled-back insert gives its seq back: seqs stay contiguous after errors."""
    journal.append(started(1), at=1.0)
    journal._db.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'x'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        journal.append(started(2), at=2.0)
    journal._db.execute("DROP TRIGGER fail")
    assert journal.append(started(3), at=3.0) == 2


@pytest.mark.parametrize(
    ("message", "at", "match"),
    [
        (started(1), float("inf"), "at=inf"),
        (started(1, at=float("nan")), 0.0, r"ChildStarted\.at: nan"),
        (ChildStarted(supervisor="r", at=0.0, child="c", incarnation=2**70), 0.0, "ChildStarted"),
        (
            SupervisorStarted(supervisor="r", at=0.0, children=("a",)),
            0.0,
            None,
        ),
    ],
)
def test_values_json_cannot_hold_are_refused_before_anything_is_written(
    journal: Journal, message: Message, at: float, match: str | None
) -> None:
    """orjson would write NaN as null (unreadable later): refuse at the door instead."""
    if match is None:
        assert journal.append(message, at=at) == 1
        return
    with pytest.raises(JournalError, match=match):
        journal.append(message, at=at)
    assert journal.last_seq() == 0


def test_a_nested_non_finite_value_is_named_by_its_path(journal: Journal) -> None:
    """The error says where the bad number is, inside nested messages too."""
    step = CleanupStepFinished(
        step="s", status=StepStatus.FAILED, started_at=0.0, duration=float("-inf")
    )
    message = RootStopped(reason=StopReason.CRASHED, detail="", exit_code=1, steps=(step,), at=0)
    with pytest.raises(JournalError, match=r"RootStopped\.steps\[0\]\.duration: -inf"):
        journal.append(message, at=0.0)


def test_an_unregistered_message_is_refused(journal: Journal) -> None:
    """Only what the codec can rebuild is journaled."""
    with pytest.raises(TypeError, match="not a registered message"):
        journal.append(Message(), at=0.0)


@pytest.mark.parametrize(
    ("payload", "why"),
    [("{not json", "unexpected|expected"), ('{"type": "Vanished"}', "unknown message type")],
)
def test_a_payload_that_no_longer_decodes_names_its_seq(
    journal: Journal, payload: str, why: str
) -> None:
    """After a message class changes, the operator must learn which entry broke."""
    journal.append_many([(started(1), 1.0), (started(2), 2.0)])
    journal._db.execute("UPDATE events SET payload = ? WHERE seq = 2", (payload,))
    entries = journal.read()
    assert next(entries)[0] == 1
    with pytest.raises(UndecodableEntry, match=r"seq 2 \(ChildStarted\) no longer decodes"):
        next(entries)
    with pytest.raises(UndecodableEntry, match=why):
        list(journal.read(after_seq=1))


# -- fills and orders --------------------------------------------------------------------------


def test_record_fill_is_idempotent_by_trade_id(journal: Journal) -> None:
    """A fill replayed after a reconnect must not be counted twice."""
    assert journal.record_fill("t-1", "coid-1", started(1), at=1.0) is True
    assert journal.record_fill("t-1", "coid-1", started(1), at=2.0) is False
    assert journal.record_fill("t-2", "coid-1", started(2), at=3.0) is True
    assert journal.has_fill("t-1")
    assert journal.has_fill("t-2")
    assert not journal.has_fill("t-3")
    assert [(s, m) for s, _, m in journal.read()] == [(1, started(1)), (2, started(2))]
    rows = journal._db.execute("SELECT trade_id, order_key, seq FROM fills ORDER BY 1").fetchall()
    assert rows == [("t-1", "coid-1", 1), ("t-2", "coid-1", 2)]


def test_a_refused_fill_writes_neither_event_nor_trade_id(journal: Journal) -> None:
    """Event and trade id are one transaction: never one without the other."""
    with pytest.raises(JournalError):
        journal.record_fill("t-1", "c", started(1), at=float("nan"))
    assert not journal.has_fill("t-1")
    assert journal.last_seq() == 0


def test_upsert_order_keeps_the_latest_state(journal: Journal) -> None:
    """A restart needs each order's last state without replaying everything."""
    journal.upsert_order("c-1", {"state": "OPEN", "filled": "0"})
    journal.upsert_order("c-2", {"state": "OPEN", "filled": "0"})
    journal.upsert_order("c-1", {"state": "FILLED", "filled": "1.5"})
    assert journal.orders() == {
        "c-1": {"state": "FILLED", "filled": "1.5"},
        "c-2": {"state": "OPEN", "filled": "0"},
    }


def test_append_many_for_order_writes_the_events_in_order_with_the_last_state(
    journal: Journal,
) -> None:
    """An intent and its first move in one commit: the rows of two append_for_order calls."""
    journal.append(started(0), at=0.0)
    seqs = journal.append_many_for_order(
        [(started(1), 1.0), (started(2), 2.0)], client_order_id="c", state={"state": "SUBMITTED"}
    )
    assert seqs == [2, 3]
    assert [(s, at, m) for s, at, m in journal.read()] == [
        (1, 0.0, started(0)),
        (2, 1.0, started(1)),
        (3, 2.0, started(2)),
    ]
    assert journal.orders() == {"c": {"state": "SUBMITTED"}}
    assert journal.append_for_order(started(3), at=3.0, client_order_id="c", state={}) == 4


def test_append_many_for_order_is_one_transaction(journal: Journal) -> None:
    """One BEGIN and one COMMIT (one fsync) for every event and the row."""
    statements: list[str] = []
    journal._db.set_trace_callback(statements.append)
    journal.append_many_for_order(
        [(started(n), float(n)) for n in range(3)], client_order_id="c", state={"state": "X"}
    )
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]


@pytest.mark.parametrize(
    "failure",
    ["a refused event", "a refused state", "the row's write fails", "no event"],
)
def test_append_many_for_order_is_all_or_nothing(journal: Journal, failure: str) -> None:
    """Whatever fails, no event of the batch and no row is left: never an intent without
    its move, never a row without its events; and seqs stay contiguous."""
    journal.append_for_order(started(0), at=0.0, client_order_id="c", state={"state": "PENDING"})
    entries = [(started(1), 1.0), (started(2), 2.0)]
    state: dict[str, object] = {"state": "SUBMITTED"}
    expected: type[Exception] = JournalError
    if failure == "a refused event":
        entries[1] = (started(2), float("nan"))
    elif failure == "a refused state":
        state = {"state": float("inf")}
    elif failure == "no event":
        entries, expected = [], ValueError
    else:
        journal._db.execute(
            "CREATE TRIGGER fail BEFORE UPDATE ON orders BEGIN SELECT RAISE(ABORT, 'x'); END"
        )
        expected = sqlite3.IntegrityError
    with pytest.raises(expected):
        journal.append_many_for_order(entries, client_order_id="c", state=state)
    journal._db.execute("DROP TRIGGER IF EXISTS fail")
    assert journal.last_seq() == 1
    assert journal.orders() == {"c": {"state": "PENDING"}}
    assert journal.append(started(3), at=3.0) == 2


def test_append_moves_writes_each_move_in_order_with_its_order_row(journal: Journal) -> None:
    """The moves of many orders in one call: the rows of append_for_order once per move, in
    the same order (an order named twice keeps its last state)."""
    journal.append(started(0), at=0.0)
    seqs = journal.append_moves(
        [
            (started(1), 1.0, "a", {"state": "CANCEL_PENDING"}),
            (started(2), 2.0, "b", {"state": "CANCEL_PENDING"}),
            (started(3), 3.0, "a", {"state": "CANCELLED"}),
        ]
    )
    assert seqs == [2, 3, 4]
    assert [(s, at, m) for s, at, m in journal.read(after_seq=1)] == [
        (2, 1.0, started(1)),
        (3, 2.0, started(2)),
        (4, 3.0, started(3)),
    ]
    assert journal.orders() == {"a": {"state": "CANCELLED"}, "b": {"state": "CANCEL_PENDING"}}


def test_append_moves_is_one_transaction_and_nothing_is_none(journal: Journal) -> None:
    """One BEGIN and one COMMIT (one fsync) for every move of the batch; an empty batch
    opens no transaction at all."""
    statements: list[str] = []
    journal._db.set_trace_callback(statements.append)
    journal.append_moves([(started(n), float(n), f"c-{n}", {"n": n}) for n in range(100)])
    assert journal.append_moves([]) == []
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert journal.last_seq() == 100
    assert len(journal.orders()) == 100


@pytest.mark.parametrize("failure", ["a refused event", "a refused state", "a row's write fails"])
def test_append_moves_is_all_or_nothing(journal: Journal, failure: str) -> None:
    """Whatever fails, no move of the batch is left, neither event nor row (never a cancel
    request journaled for half the orders), and seqs stay contiguous."""
    journal.append_for_order(started(0), at=0.0, client_order_id="a", state={"state": "OPEN"})
    moves: list[OrderMove] = [
        (started(1), 1.0, "a", {"state": "CANCEL_PENDING"}),
        (started(2), 2.0, "b", {"state": "CANCEL_PENDING"}),
    ]
    expected: type[Exception] = JournalError
    if failure == "a refused event":
        moves[1] = (started(2), float("nan"), "b", {"state": "CANCEL_PENDING"})
    elif failure == "a refused state":
        moves[1] = (started(2), 2.0, "b", {"state": float("inf")})
    else:
        journal._db.execute(
            "CREATE TRIGGER fail BEFORE INSERT ON orders WHEN NEW.client_order_id = 'b' "
            "BEGIN SELECT RAISE(ABORT, 'x'); END"
        )
        expected = sqlite3.IntegrityError
    with pytest.raises(expected):
        journal.append_moves(moves)
    journal._db.execute("DROP TRIGGER IF EXISTS fail")
    assert journal.last_seq() == 1
    assert journal.orders() == {"a": {"state": "OPEN"}}
    assert journal.append(started(3), at=3.0) == 2


@pytest.mark.parametrize(
    ("state", "match"),
    [({"x": float("nan")}, r"order 'c'\.x: nan"), ({"x": object()}, "cannot be stored as JSON")],
)
def test_upsert_order_refuses_what_json_cannot_hold(
    journal: Journal, state: dict[str, object], match: str
) -> None:
    """An order state that would not read back identically is refused."""
    with pytest.raises(JournalError, match=match):
        journal.upsert_order("c", state)
    assert journal.orders() == {}


# -- digest ----------------------------------------------------------------------------------


def write_sample(journal: Journal, *, batched: bool) -> None:
    """The same content, written in one batch or one event at a time."""
    entries = [(started(i), float(i)) for i in range(5)]
    if batched:
        journal.append_many(entries)
    else:
        for message, at in entries:
            journal.append(message, at=at)
    journal.record_fill("t", "c", root_stopped(), at=9.0)
    journal.upsert_order("c", {"state": "FILLED"})


def test_equal_journals_have_equal_digests_whatever_the_file_layout(tmp_path: Path) -> None:
    """Same seed, same hash: batching, page size, vacuum and checkpoints must not matter."""
    a = Journal.open(tmp_path / "a.db")
    with raw(tmp_path / "b.db") as db:
        db.execute("PRAGMA page_size=512")
        db.execute("VACUUM")
    b = Journal.open(tmp_path / "b.db")
    write_sample(a, batched=True)
    write_sample(b, batched=False)
    b._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    b._db.execute("VACUUM")
    assert a.digest() == b.digest()
    assert len(a.digest()) == 64
    a.close()
    b.close()


@pytest.mark.parametrize(
    "change",
    [
        lambda j: j.append(started(99), at=0.0),
        lambda j: j.upsert_order("c", {"state": "OPEN"}),
        lambda j: j.record_fill("t-other", "c", started(0), at=0.0),
        lambda j: j._db.execute("UPDATE events SET at = at + 1 WHERE seq = 1"),
    ],
    ids=["event", "order", "fill", "time"],
)
def test_different_journals_have_different_digests(tmp_path: Path, change: object) -> None:
    """The hash covers events, their times, fills and order states."""
    with Journal.open(tmp_path / "a.db") as a, Journal.open(tmp_path / "b.db") as b:
        write_sample(a, batched=True)
        write_sample(b, batched=True)
        assert a.digest() == b.digest()
        change(b)  # type: ignore[operator]
        assert a.digest() != b.digest()


def test_an_empty_journal_has_the_digest_of_nothing(journal: Journal) -> None:
    """Empty is a content like any other: the SHA-256 of no bytes."""
    assert journal.digest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# -- crash safety ----------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from cjt_actors.journal import Journal
    from cjt_actors.messages import ChildStarted

    journal = Journal.open(sys.argv[1])
    mode = sys.argv[2]
    def event(n):
        return ChildStarted(supervisor="root", at=float(n), child=f"c{n}", incarnation=n)
    if mode == "mid-transaction":
        journal.append_many([(event(n), float(n)) for n in range(3)])
        journal._db.execute("BEGIN IMMEDIATE")
        journal._insert(journal._row(event(3), 3.0))
        os.kill(os.getpid(), signal.SIGKILL)
    n = 0
    while True:
        journal.append(event(n), at=float(n))
        print(n, flush=True)
        n += 1
    """
)


def start_writer(path: Path, mode: str) -> subprocess.Popen[str]:
    """A separate process writing to the journal, to be killed with SIGKILL."""
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )


def assert_prefix_of_the_write_loop(path: Path, at_least: int) -> str:
    """Reopen after the crash: a contiguous prefix of the events, all decodable."""
    with Journal.open(path) as journal:
        entries = list(journal.read())
        assert len(entries) >= at_least
        for index, (seq, at, message) in enumerate(entries):
            assert seq == index + 1
            assert at == float(index)
            assert message == ChildStarted(
                supervisor="root", at=float(index), child=f"c{index}", incarnation=index
            )
        digest = journal.digest()
    with Journal.open(path) as journal:
        assert journal.digest() == digest  # reopening (WAL recovery done) changes nothing
    return digest


def test_kill_9_during_a_write_loop_leaves_a_contiguous_prefix(tmp_path: Path) -> None:
    """After kill -9 every acknowledged event is there, and nothing torn or out of order."""
    path = tmp_path / "j.db"
    writer = start_writer(path, "loop")
    assert writer.stdout is not None
    acknowledged = 0
    for _ in range(20):  # acknowledged: the writer printed after append() returned
        acknowledged = int(writer.stdout.readline()) + 1
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert_prefix_of_the_write_loop(path, at_least=acknowledged)


def test_kill_9_inside_an_open_transaction_loses_only_that_transaction(tmp_path: Path) -> None:
    """An uncommitted write is rolled back on recovery; every committed one survives."""
    path = tmp_path / "j.db"
    writer = start_writer(path, "mid-transaction")
    writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert_prefix_of_the_write_loop(path, at_least=3)
    with Journal.open(path) as journal:
        assert journal.last_seq() == 3
        assert journal.append(started(0), at=0.0) == 4  # the lost seq is reused, no gap


# -- the async wrapper -----------------------------------------------------------------------


async def test_async_journal_keeps_the_order_of_concurrent_appends(tmp_path: Path) -> None:
    """Writes queued from many tasks reach SQLite one at a time, in the order they queued."""
    async with await AsyncJournal.open(tmp_path / "j.db") as journal:
        order: list[int] = []
        seqs: dict[int, int] = {}

        async def writer(n: int) -> None:
            order.append(n)
            seqs[n] = await journal.append(started(n), at=float(n))

        async with trio.open_nursery() as nursery:
            for n in range(20):
                nursery.start_soon(writer, n)
        assert [seqs[n] for n in order] == list(range(1, 21))
        assert [m for _, _, m in await journal.read()] == [started(n) for n in order]


async def test_async_journal_exposes_every_method(tmp_path: Path) -> None:
    """Each async method gives what the sync core gives."""
    path = tmp_path / "j.db"
    async with await AsyncJournal.open(path) as journal:
        assert journal.path == path
        assert await journal.append_many([(started(1), 1.0), (started(2), 2.0)]) == [1, 2]
        assert await journal.record_fill("t", "c", started(3), at=3.0) is True
        assert await journal.record_fill("t", "c", started(3), at=3.0) is False
        assert await journal.has_fill("t")
        await journal.upsert_order("c", {"state": "FILLED"})
        assert await journal.orders() == {"c": {"state": "FILLED"}}
        assert await journal.last_seq() == 3
        pending = {"state": "PENDING"}
        seq = await journal.append_for_order(started(4), at=4.0, client_order_id="d", state=pending)
        assert seq == 4
        batch = iter([(started(5), 5.0), (started(6), 6.0)])
        submitted = {"state": "SUBMITTED"}
        seqs = await journal.append_many_for_order(batch, client_order_id="d", state=submitted)
        assert seqs == [5, 6]
        assert (await journal.orders())["d"] == submitted
        moves = iter([(started(7), 7.0, "d", {"state": "OPEN"}), (started(8), 8.0, "e", {})])
        assert await journal.append_moves(moves) == [7, 8]
        assert (await journal.orders())["d"] == {"state": "OPEN"}
        assert [
            s for s, _, _ in await journal.read(after_seq=1, kinds=["ChildStarted"], limit=1)
        ] == [2]
        digest = await journal.digest()
    with Journal.open(path) as sync:
        assert sync.digest() == digest


async def test_a_write_cancelled_while_in_the_thread_still_commits(tmp_path: Path) -> None:
    """Cancelled must never mean "maybe written": a started write finishes and commits."""
    async with await AsyncJournal.open(tmp_path / "j.db") as journal:
        real_append = journal._journal.append
        entered = trio.Event()

        def append_that_reports_it_started(message: Message, *, at: float) -> int:
            trio.from_thread.run_sync(entered.set)
            return real_append(message, at=at)

        journal._journal.append = append_that_reports_it_started  # type: ignore[method-assign]

        async def cancel_once_started(scope: trio.CancelScope) -> None:
            await entered.wait()
            scope.cancel()

        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_once_started, scope)
                await journal.append(started(1), at=1.0)
                await trio.sleep_forever()  # the cancellation lands here at the latest
        assert scope.cancelled_caught
        assert await journal.last_seq() == 1


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
async def test_a_write_cancelled_before_its_turn_writes_nothing_in_either_mode(
    tmp_path: Path, inline: bool
) -> None:
    """Both modes keep one contract: cancelled before starting means not written."""
    async with await AsyncJournal.open(tmp_path / "j.db", inline=inline) as journal:
        assert journal.inline is inline
        with trio.CancelScope() as scope:
            scope.cancel()
            await journal.append(started(1), at=1.0)
        assert scope.cancelled_caught
        assert await journal.append(started(2), at=2.0) == 1


async def test_inline_mode_takes_no_virtual_time_under_an_autojump_clock(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """Scenario runs must not depend on disk speed: inline writes leave virtual time alone."""
    async with await AsyncJournal.open(tmp_path / "j.db", inline=True) as journal:
        before = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 0.001)  # a deadline a threaded write could jump to
            for n in range(30):
                assert await journal.append(started(n), at=trio.current_time()) == n + 1
                assert trio.current_time() == before
        assert [at for _, at, _ in await journal.read()] == [before] * 30
