"""A write-ahead journal in SQLite: what happened, durable before anyone acts on it.

Why: the executor must never lose or duplicate an order or a fill across a crash (DESIGN §7).
So an intent and its ``client_order_id`` are committed here *before* the request leaves, and a
fill (or an order transition) is committed *before* positions change. After ``kill -9`` a
restart reads the journal back and rebuilds from it; what is not here never happened.

Why SQLite in WAL mode: a real, crash-safe database in the standard library. WAL lets
readers run while the single writer appends, and a commit is one sequential append to the
``-wal`` file. ``synchronous=FULL`` fsyncs that file on *every* commit: the only setting
under which a committed intent survives a power cut or an OS crash, not just a process
crash (``NORMAL`` in WAL mode survives ``kill -9`` but may lose the last commits on power
loss). The cost is one fsync per commit, a few hundred to a few thousand commits a second
depending on the disk; :meth:`Journal.append_many`, :meth:`Journal.append_many_for_order` and
:meth:`Journal.append_moves` amortize it over a batch.

Why a thread (:class:`AsyncJournal`): ``sqlite3`` blocks, an fsync for milliseconds; the
trio event loop must not. Every call runs through :func:`trio.to_thread.run_sync` under a
``CapacityLimiter(1)``, so writes reach SQLite one at a time, in the order they were
awaited, and ``await journal.append(...)`` returns only after the commit. The connection is
opened with ``check_same_thread=False`` and only ever used under that limiter.

Tables (schema version 2; :data:`MIGRATIONS` lists the steps, applied in order on open):

* ``events(seq, at, kind, payload, wall)``: everything, in order. ``seq`` is
  ``INTEGER PRIMARY KEY AUTOINCREMENT`` (never reused; contiguous because rows are never
  deleted and a rolled-back insert gives its number back). ``at`` is whatever clock the
  caller passes (trio time in actors, so a virtual-time run is reproducible; each process's
  trio clock starts anywhere, so ``at`` is comparable within one process only). ``kind`` is
  the message class name. ``payload`` is canonical JSON: :func:`cjt_actors.codec.encode`
  dumped by orjson with sorted keys. ``wall`` is the Unix time of the write (schema 2;
  ``NULL`` for rows written before), for people and reports, never for decisions, and
  not part of the journal hash.
* ``fills(trade_id, order_key, seq)``: one row per trade id, pointing at its event (the
  payload lives once, in ``events``). The primary key makes ingestion idempotent: a fill
  replayed by the user channel, by polling or after a reconnect is recorded once.
* ``orders(client_order_id, state)``: the latest state of each order as canonical JSON, so
  a restart need not replay every event to know what is open.
* ``schema_version(version)``: one row. The file also carries ``PRAGMA application_id``
  :data:`APPLICATION_ID`, so an unrelated SQLite file is refused rather than written into.

The journal hash (:meth:`Journal.digest`) is SHA-256 over the canonical rows of the three
tables in key order, so it depends on content only (not on page size, vacuuming, WAL state
or how writes were batched): the same seed gives the same hash.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import orjson
import trio

from .codec import decode, encode
from .errors import CjtError, DecodeError
from .messages import Message

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AsyncJournal",
    "Entry",
    "Journal",
    "JournalError",
    "NotAJournal",
    "OrderMove",
    "UndecodableEntry",
    "UnsupportedSchema",
]

#: ``PRAGMA application_id`` of a journal file: "CJTJ" in ASCII.
APPLICATION_ID = 0x434A544A

#: The schema, as steps: ``MIGRATIONS[i]`` takes a file from version ``i`` to ``i + 1``.
#: Append a step to change the schema; never edit one that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (0)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX events_kind ON events (kind, seq)",
        """CREATE TABLE fills (
            trade_id TEXT PRIMARY KEY,
            order_key TEXT NOT NULL,
            seq INTEGER NOT NULL UNIQUE REFERENCES events (seq)
        )""",
        "CREATE INDEX fills_order_key ON fills (order_key)",
        """CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            state TEXT NOT NULL
        )""",
    ),
    # 2: the wall-clock time of each write (``at`` is each process's own trio clock, which
    # starts anywhere: only wall time orders events across restarts for people and reports).
    ("ALTER TABLE events ADD COLUMN wall REAL",),
)

#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)

#: One journal row as read back: ``(seq, at, message)``.
Entry = tuple[int, float, Message]

#: One order's move for :meth:`Journal.append_moves`: ``(message, at, client_order_id, state)``,
#: the event and the order's row after it.
OrderMove = tuple[Message, float, str, dict[str, Any]]

T = TypeVar("T")


class JournalError(CjtError):
    """The journal cannot be opened, or refused a value it could not store faithfully."""


class NotAJournal(JournalError):
    """The file is not SQLite, or is an SQLite file that is not a cjt_actors journal."""


class UnsupportedSchema(JournalError):
    """The file was written by a newer version of cjt_actors (a newer schema)."""


class UndecodableEntry(JournalError):
    """A stored payload no longer decodes to a message (its class changed or was removed)."""


def _check_finite(value: object, where: str) -> None:
    """Refuse NaN and infinities: orjson would write them as ``null`` and lose them."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JournalError(f"{where}: {value!r} is not a finite number; JSON cannot hold it")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_finite(item, f"{where}[{index}]")


def _canonical(value: object, where: str) -> str:
    """``value`` as canonical JSON text (sorted keys, no whitespace)."""
    _check_finite(value, where)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as error:
        raise JournalError(f"{where}: cannot be stored as JSON: {error}") from error


def _finite_time(at: float) -> float:
    at = float(at)
    if not math.isfinite(at):
        raise JournalError(f"at={at!r}: an event time must be a finite number")
    return at


class Journal:
    """The synchronous core: one SQLite connection, one writer. Not safe to share between
    threads on its own: :class:`AsyncJournal` serializes access to it."""

    def __init__(
        self, connection: sqlite3.Connection, path: Path, *, wall: Callable[[], float] = time.time
    ) -> None:
        """Use :meth:`open`; this takes a connection that :meth:`open` has prepared.
        ``wall`` stamps each row's ``wall`` column (tests may fix it)."""
        self._db = connection
        self.path = path
        self._wall = wall

    # -- opening and closing ----------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, wall: Callable[[], float] = time.time) -> Journal:
        """Open (creating or migrating) the journal at ``path``.

        ``wall`` stamps each row's ``wall`` column: the Unix time by default; a scenario run
        passes the simulator's virtual wall clock, so every column of its rows is reproducible.

        Raises:
            NotAJournal: the file is not SQLite, or not a journal.
            UnsupportedSchema: the file has a newer schema than this code knows.
            JournalError: WAL mode could not be enabled (an in-memory database, say).
        """
        path = Path(path)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            cls._prepare(db, path)
        except BaseException:
            db.close()
            raise
        return cls(db, path, wall=wall)

    @staticmethod
    def _prepare(db: sqlite3.Connection, path: Path) -> None:
        try:
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as error:
            raise NotAJournal(f"{path}: not an SQLite database ({error})") from error
        if application_id != APPLICATION_ID and (application_id != 0 or tables):
            raise NotAJournal(
                f"{path}: an SQLite database but not a cjt_actors journal "
                f"(application_id {application_id:#x}, tables {sorted(tables)})"
            )
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise JournalError(f"{path}: could not enable WAL mode (got {mode!r})")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("BEGIN IMMEDIATE")
        try:
            version = 0
            if "schema_version" in tables:
                version = db.execute("SELECT version FROM schema_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UnsupportedSchema(
                    f"{path}: journal schema version {version} is newer than this "
                    f"cjt_actors supports (version {SCHEMA_VERSION}); upgrade cjt_actors"
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    db.execute(statement)
            db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection (everything written is already committed)."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def _transaction(self, body: Callable[[], T]) -> T:
        """Run ``body`` in one write transaction: all of it is committed, or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = body()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return result

    # -- writing ----------------------------------------------------------------------------

    @staticmethod
    def _row(message: Message, at: float) -> tuple[float, str, str]:
        kind = type(message).__name__
        payload = _canonical(encode(message), kind)
        return (_finite_time(at), kind, payload)

    def _insert(self, row: tuple[float, str, str]) -> int:
        cursor = self._db.execute(
            "INSERT INTO events (at, kind, payload, wall) VALUES (?, ?, ?, ?)",
            (*row, self._wall()),
        )
        seq = cursor.lastrowid
        assert seq is not None  # an INSERT into a rowid table always sets it
        return seq

    def append(self, message: Message, *, at: float) -> int:
        """Commit one event; returns its ``seq``. Durable when this returns.

        Raises:
            TypeError: ``message`` is not a registered message.
            JournalError: a field (or ``at``) JSON cannot hold faithfully (NaN, a huge int).
        """
        row = self._row(message, at)
        return self._transaction(lambda: self._insert(row))

    def append_many(self, entries: Iterable[tuple[Message, float]]) -> list[int]:
        """Commit ``(message, at)`` pairs in one transaction (one fsync); returns their seqs.

        All or nothing: if any pair is refused, none is written.
        """
        rows = [self._row(message, at) for message, at in entries]
        return self._transaction(lambda: [self._insert(row) for row in rows])

    def record_fill(
        self,
        trade_id: str,
        order_key: str,
        message: Message,
        *,
        at: float,
        order_state: dict[str, Any] | None = None,
    ) -> bool:
        """Commit a fill event and its ``trade_id`` together; False if the trade id is known.

        Idempotent: the second and later calls for a trade id write nothing, so a fill
        replayed after a reconnect or seen by both the stream and polling counts once. With
        ``order_state``, the order's row (keyed by ``order_key``) is replaced in the same
        transaction, so the fill and the order it changes are durable together or not at all.
        """
        row = self._row(message, at)
        order_text = (
            None if order_state is None else _canonical(order_state, f"order {order_key!r}")
        )

        def body() -> bool:
            known = self._db.execute("SELECT 1 FROM fills WHERE trade_id = ?", (trade_id,))
            if known.fetchone() is not None:
                return False
            seq = self._insert(row)
            self._db.execute(
                "INSERT INTO fills (trade_id, order_key, seq) VALUES (?, ?, ?)",
                (trade_id, order_key, seq),
            )
            if order_text is not None:
                self._upsert(order_key, order_text)
            return True

        return self._transaction(body)

    def _upsert(self, client_order_id: str, text: str) -> None:
        self._db.execute(
            "INSERT INTO orders (client_order_id, state) VALUES (?, ?) "
            "ON CONFLICT (client_order_id) DO UPDATE SET state = excluded.state",
            (client_order_id, text),
        )

    def upsert_order(self, client_order_id: str, state: dict[str, Any]) -> None:
        """Commit the latest state of an order (a dict of JSON types), replacing the last."""
        text = _canonical(state, f"order {client_order_id!r}")
        self._transaction(lambda: self._upsert(client_order_id, text))

    def append_for_order(
        self, message: Message, *, at: float, client_order_id: str, state: dict[str, Any]
    ) -> int:
        """Commit an event and the order's new state in one transaction; returns the seq.

        What the executor uses for transitions: the event log and the orders table can
        never disagree after a crash.
        """
        return self.append_many_for_order(
            [(message, at)], client_order_id=client_order_id, state=state
        )[0]

    def append_many_for_order(
        self,
        entries: Iterable[tuple[Message, float]],
        *,
        client_order_id: str,
        state: dict[str, Any],
    ) -> list[int]:
        """Commit ``(message, at)`` pairs, in order, and the order's state after the last of
        them, in one transaction (one fsync); returns their seqs.

        The rows are those of :meth:`append_for_order` called once per pair (each with the
        state the order had after it), less the intermediate order rows that the next call
        would have replaced: the same content, one commit. The executor writes a fresh
        intent and its PENDING -> SUBMITTED move this way. All or nothing: if a pair or the
        state is refused, or the write fails, nothing is written.

        Raises:
            ValueError: ``entries`` is empty (an order row with no event behind it).
        """
        rows = [self._row(message, at) for message, at in entries]
        if not rows:
            raise ValueError(f"order {client_order_id!r}: no event to journal with its state")
        text = _canonical(state, f"order {client_order_id!r}")

        def body() -> list[int]:
            seqs = [self._insert(row) for row in rows]
            self._upsert(client_order_id, text)
            return seqs

        return self._transaction(body)

    def append_moves(self, moves: Iterable[OrderMove]) -> list[int]:
        """Commit ``(message, at, client_order_id, state)`` moves of any orders, in order, in
        one transaction (one fsync); returns their seqs.

        The rows are exactly those of :meth:`append_for_order` called once per move, in the
        same order (an order named twice keeps the state of its last move): the same content,
        so the same journal hash, one commit instead of one per move. The emergency step
        journals the cancel requests of a whole batch this way before the batch request
        leaves. All or nothing: if a move is refused (an event or a state JSON cannot hold)
        or the write fails, nothing is written. No moves, no transaction.
        """
        rows = [
            (self._row(message, at), coid, _canonical(state, f"order {coid!r}"))
            for message, at, coid, state in moves
        ]
        if not rows:
            return []

        def body() -> list[int]:
            seqs: list[int] = []
            for row, coid, text in rows:
                seqs.append(self._insert(row))
                self._upsert(coid, text)
            return seqs

        return self._transaction(body)

    # -- reading ----------------------------------------------------------------------------

    def read(
        self,
        after_seq: int = 0,
        kinds: Iterable[str | type[Message]] | None = None,
        limit: int | None = None,
    ) -> Iterator[Entry]:
        """Events with ``seq > after_seq`` in seq order, optionally only of some ``kinds``.

        Raises (while iterating):
            UndecodableEntry: a stored payload no longer decodes; names its seq and kind.
        """
        sql = "SELECT seq, at, kind, payload FROM events WHERE seq > ?"
        params: list[object] = [after_seq]
        if kinds is not None:
            names = [k if isinstance(k, str) else k.__name__ for k in kinds]
            sql += f" AND kind IN ({', '.join('?' * len(names))})"
            params.extend(names)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        for seq, at, kind, payload in self._db.execute(sql, params):
            yield (seq, at, self._decode(seq, kind, payload))

    @staticmethod
    def _decode(seq: int, kind: str, payload: str) -> Message:
        try:
            return decode(orjson.loads(payload))
        except (orjson.JSONDecodeError, DecodeError) as error:
            raise UndecodableEntry(
                f"journal entry seq {seq} ({kind}) no longer decodes: {error}"
            ) from error

    def last_seq(self) -> int:
        """The seq of the last event, 0 if none."""
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    def has_fill(self, trade_id: str) -> bool:
        """Whether a fill with this trade id is recorded."""
        row = self._db.execute("SELECT 1 FROM fills WHERE trade_id = ?", (trade_id,))
        return row.fetchone() is not None

    def wall_times(self, since: int = 0) -> list[tuple[int, float | None]]:
        """``(seq, wall)`` of every event after ``since``; ``wall`` is None for rows written
        before schema 2."""
        rows = self._db.execute("SELECT seq, wall FROM events WHERE seq > ? ORDER BY seq", (since,))
        return [(seq, wall) for seq, wall in rows]

    def orders(self) -> dict[str, dict[str, Any]]:
        """The latest state of every order, by client order id."""
        rows = self._db.execute("SELECT client_order_id, state FROM orders ORDER BY 1")
        return {coid: orjson.loads(state) for coid, state in rows}

    def digest(self) -> str:
        """The journal hash: hex SHA-256 over the content of every table, in key order."""
        hasher = hashlib.sha256()
        queries: Sequence[tuple[str, str]] = (
            ("event", "SELECT seq, at, kind, payload FROM events ORDER BY seq"),
            ("fill", "SELECT trade_id, order_key, seq FROM fills ORDER BY trade_id"),
            ("order", "SELECT client_order_id, state FROM orders ORDER BY client_order_id"),
        )
        for tag, sql in queries:
            for row in self._db.execute(sql):
                hasher.update(orjson.dumps([tag, *row]) + b"\n")
        return hasher.hexdigest()


class AsyncJournal:
    """:class:`Journal` for trio: every call runs in a worker thread, one at a time, in order.

    ``inline=True`` runs each call on the event loop's own thread instead, blocking it. That
    is for virtual-time runs (scenarios under :class:`trio.testing.MockClock`): with an
    autojump clock a task waiting on a worker thread counts as idle, so virtual time may jump
    to the next deadline while a write is in flight (python-trio/trio#456), which makes runs
    depend on disk speed, and each threaded call costs tens of milliseconds of real time.
    Inline, a write takes no virtual time at all, so the same seed gives the same run.

    Calls are not abandoned on cancellation: a write that has reached its thread finishes and
    commits, then the cancellation is delivered; a call cancelled while still waiting for its
    turn writes nothing. Either way "cancelled" never means "maybe written".
    """

    def __init__(self, journal: Journal, *, inline: bool = False) -> None:
        """Wrap an open :class:`Journal`; prefer :meth:`open`, which opens off the loop."""
        self._journal = journal
        self._limiter = trio.CapacityLimiter(1)
        self.inline = inline

    @classmethod
    async def open(
        cls, path: str | Path, *, inline: bool = False, wall: Callable[[], float] = time.time
    ) -> AsyncJournal:
        """Open (creating or migrating) the journal at ``path`` (in a worker thread unless
        ``inline``); ``wall`` is :meth:`Journal.open`'s."""
        if inline:
            await trio.lowlevel.checkpoint()
            return cls(Journal.open(path, wall=wall), inline=True)
        journal = await trio.to_thread.run_sync(lambda: Journal.open(path, wall=wall))
        return cls(journal)

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._journal.path

    async def _run(self, fn: Callable[[], T]) -> T:
        if self.inline:
            # Same contract as the thread: cancelled before it starts, nothing is written;
            # once started, it commits, and a cancellation can only arrive after.
            await trio.lowlevel.checkpoint_if_cancelled()
            result = fn()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return result
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)

    async def append(self, message: Message, *, at: float) -> int:
        """:meth:`Journal.append`; returns after the commit."""
        return await self._run(lambda: self._journal.append(message, at=at))

    async def append_many(self, entries: Iterable[tuple[Message, float]]) -> list[int]:
        """:meth:`Journal.append_many`; returns after the commit."""
        batch = list(entries)
        return await self._run(lambda: self._journal.append_many(batch))

    async def record_fill(
        self,
        trade_id: str,
        order_key: str,
        message: Message,
        *,
        at: float,
        order_state: dict[str, Any] | None = None,
    ) -> bool:
        """:meth:`Journal.record_fill`; returns after the commit."""
        return await self._run(
            lambda: self._journal.record_fill(
                trade_id, order_key, message, at=at, order_state=order_state
            )
        )

    async def append_for_order(
        self, message: Message, *, at: float, client_order_id: str, state: dict[str, Any]
    ) -> int:
        """:meth:`Journal.append_for_order`; returns after the commit."""
        return await self._run(
            lambda: self._journal.append_for_order(
                message, at=at, client_order_id=client_order_id, state=state
            )
        )

    async def append_many_for_order(
        self,
        entries: Iterable[tuple[Message, float]],
        *,
        client_order_id: str,
        state: dict[str, Any],
    ) -> list[int]:
        """:meth:`Journal.append_many_for_order`; returns after the commit."""
        batch = list(entries)
        return await self._run(
            lambda: self._journal.append_many_for_order(
                batch, client_order_id=client_order_id, state=state
            )
        )

    async def append_moves(self, moves: Iterable[OrderMove]) -> list[int]:
        """:meth:`Journal.append_moves`; returns after the commit."""
        batch = list(moves)
        return await self._run(lambda: self._journal.append_moves(batch))

    async def upsert_order(self, client_order_id: str, state: dict[str, Any]) -> None:
        """:meth:`Journal.upsert_order`; returns after the commit."""
        await self._run(lambda: self._journal.upsert_order(client_order_id, state))

    async def read(
        self,
        after_seq: int = 0,
        kinds: Iterable[str | type[Message]] | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """:meth:`Journal.read` as a list (page with ``after_seq`` and ``limit``)."""
        return await self._run(lambda: list(self._journal.read(after_seq, kinds, limit)))

    async def last_seq(self) -> int:
        """:meth:`Journal.last_seq`."""
        return await self._run(self._journal.last_seq)

    async def has_fill(self, trade_id: str) -> bool:
        """:meth:`Journal.has_fill`."""
        return await self._run(lambda: self._journal.has_fill(trade_id))

    async def orders(self) -> dict[str, dict[str, Any]]:
        """:meth:`Journal.orders`."""
        return await self._run(self._journal.orders)

    async def wall_times(self, since: int = 0) -> list[tuple[int, float | None]]:
        """:meth:`Journal.wall_times`."""
        return await self._run(lambda: self._journal.wall_times(since))

    async def digest(self) -> str:
        """:meth:`Journal.digest`."""
        return await self._run(self._journal.digest)

    async def aclose(self) -> None:
        """Close the connection once every call already queued has finished."""
        await self._run(self._journal.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        with trio.move_on_after(10, shield=True):
            await self.aclose()
