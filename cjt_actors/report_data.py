"""What ``cjt report`` shows, computed from a journal alone: series, fills and PnL by strategy.

Why a separate module from the drawing (:mod:`cjt_actors.report`): these are the numbers,
as ``Decimal`` and in journal order, so tests compare them with the journal exactly, and
the plot and the HTML page are two views of the same values (floats appear only where the
plot is drawn). The run-wide figures are :func:`cjt_actors.summary.summarize`'s, computed by
that function on the same entries, so the report and the end-of-run summary cannot disagree.

What is added to the summary:

* the equity series: one :class:`EquityPoint` per :class:`PnlRecorded` snapshot (equity,
  peak, drawdown and the position of every product, as risk recorded them);
* the fills, each trade id once (as the summary counts them), with the PnL each fill
  realized for its strategy;
* PnL by strategy: an average-cost :class:`~cjt_actors.lifecycle.Position` per strategy and
  product, fed that strategy's fills. Strategies are accounted separately, so when two
  trade the same product in opposite directions, the sum of their realized PnL differs from
  the run's (which nets their fills into one position), and so does the unrealized; fees
  add up exactly, and so does net PnL when every product traded has a mark.

The time axis. A row's ``at`` is the trio clock of the process that wrote it: it starts at
an arbitrary value in every process, so ``at`` from two processes (a daemon and its
restart) cannot be compared, and ``at`` is not monotonic over a journal. The order of
events is ``seq``. So the report's axis is *run time*: the journal is cut into
incarnations, each starting where an executor starts up (its
:class:`ReconciliationStateChanged` with trigger ``"executor start-up"``, reconciling),
and within one the offset of ``at`` from the incarnation's first event is used; each
incarnation continues where the previous one ended, so the time between a crash and the
restart is left out and the restart is marked instead. (An executor restarted by its
supervisor inside one process starts an incarnation too, and the plot marks it: nothing in
a row tells one process from the next, so its restart delay is left out as well.) Within
an incarnation, ``at`` a little out of ``seq`` order (two tasks journaling at once) is
clamped, so run time never goes backwards.

When the journal has wall-clock times (schema 2 writes one per row), they place events
instead: the axis is then real elapsed time since the first event, gaps while the daemon
was down included, and ``ReportData.wall_clock`` is true; restarts are still marked. Rows
written before schema 2 keep the run-time rule, and the wall clock continues from them.

Reading never changes the journal: the file is opened read-only (SQLite's ``mode=ro``), so a
report can be made while the daemon is writing it, of the events committed when it began.
"""

from __future__ import annotations

import collections
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from .errors import CjtError
from .journal import APPLICATION_ID, SCHEMA_VERSION, Entry, Journal, JournalError
from .lifecycle import Fill, Position
from .messages import Message
from .order_messages import OrderFilled, PnlRecorded, ReconciliationStateChanged
from .summary import RunSummary, summarize

__all__ = [
    "EXECUTOR_START_UP",
    "EquityPoint",
    "FillRow",
    "IncarnationStart",
    "ReportData",
    "ReportError",
    "StrategyPnl",
    "build_report_data",
    "read_report_data",
]

#: The trigger of the :class:`ReconciliationStateChanged` an executor journals as it starts
#: (:meth:`cjt_actors.execution.ExecutionCore.recover`): where an incarnation begins.
EXECUTOR_START_UP = "executor start-up"

_ZERO = Decimal(0)


class ReportError(CjtError):
    """A report could not be made: the journal is missing, unreadable or not a journal, or
    the report's files could not be written. The message names the file."""


@attrs.frozen(kw_only=True)
class IncarnationStart:
    """Where an incarnation after the first begins: its index (1, 2...), the ``seq`` of its
    start-up event and the run time (seconds) at which the plot marks it."""

    index: int
    seq: int
    elapsed: float


@attrs.frozen(kw_only=True)
class EquityPoint:
    """One :class:`PnlRecorded` snapshot, placed on the run-time axis.

    ``positions`` is every product's quantity in the snapshot, sorted by product.
    """

    seq: int
    elapsed: float
    incarnation: int
    equity: Decimal
    peak_equity: Decimal
    drawdown: Decimal
    positions: tuple[tuple[str, Decimal], ...]


@attrs.frozen(kw_only=True)
class FillRow:
    """One fill (a trade id, counted once), with the PnL it realized for its strategy
    (before fees) and that strategy's position in the product after it."""

    seq: int
    elapsed: float
    incarnation: int
    strategy: str
    client_order_id: str
    product_id: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: str
    trade_id: str
    realized_pnl: Decimal
    position_after: Decimal


@attrs.frozen(kw_only=True)
class StrategyPnl:
    """One strategy's fills and PnL over the whole journal, in quote currency.

    ``realized_pnl`` is before fees; ``unrealized_pnl`` marks the strategy's open positions
    at the marks of the journal's last :class:`PnlRecorded` (a product without a mark there
    adds nothing); ``net_pnl`` is ``realized_pnl - fees + unrealized_pnl``.
    """

    strategy: str
    fills: int
    volume: tuple[tuple[str, Decimal], ...]  #: base units traded, per product
    notional: Decimal
    fees: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    net_pnl: Decimal
    positions: tuple[tuple[str, Decimal], ...]


@attrs.frozen(kw_only=True)
class ReportData:
    """Everything a report shows. ``source`` names the journal; ``events`` counts the rows
    read (``first_seq``..``last_seq``, both 0 for an empty journal); ``products`` lists every
    product in the equity snapshots' positions, sorted."""

    source: str
    events: int
    first_seq: int
    last_seq: int
    summary: RunSummary
    equity: tuple[EquityPoint, ...]
    fills: tuple[FillRow, ...]
    strategies: tuple[StrategyPnl, ...]
    restarts: tuple[IncarnationStart, ...]
    products: tuple[str, ...]
    wall_clock: bool = False  #: the axis is wall-clock time (see the module docstring)

    @property
    def incarnations(self) -> int:
        """How many incarnations the journal holds (0 when it is empty)."""
        return len(self.restarts) + 1 if self.events else 0


def _is_start_up(message: Message) -> bool:
    return (
        isinstance(message, ReconciliationStateChanged)
        and message.reconciling
        and message.trigger == EXECUTOR_START_UP
    )


@attrs.define
class _Timeline:
    """Places events on the run-time axis (see the module docstring), in ``seq`` order."""

    incarnation: int = 0
    seen_start_up: bool = False
    base_at: float | None = None
    offset: float = 0.0
    elapsed: float = 0.0
    restarts: list[IncarnationStart] = attrs.Factory(list)
    walls: Mapping[int, float | None] = attrs.Factory(dict)
    wall0: float | None = None
    wall_clock: bool = False

    def place(self, seq: int, at: float, message: Message) -> float:
        """The event's time on the axis; a start-up after the first starts an incarnation."""
        start_up = _is_start_up(message)
        restarted = start_up and self.seen_start_up
        if restarted:
            self.incarnation += 1
            self.offset = self.elapsed
            self.base_at = at
        if self.base_at is None:
            self.base_at = at
        wall = self.walls.get(seq)
        if wall is not None and self.wall0 is None:
            self.wall0 = wall - self.elapsed  # continue from rows without a wall time
        if wall is not None and self.wall0 is not None:
            placed = wall - self.wall0
            self.wall_clock = True
        else:
            placed = self.offset + (at - self.base_at)
        self.elapsed = max(self.elapsed, placed)
        if restarted:
            self.restarts.append(
                IncarnationStart(index=self.incarnation, seq=seq, elapsed=self.elapsed)
            )
        self.seen_start_up = self.seen_start_up or start_up
        return self.elapsed


@attrs.define
class _StrategyBook:
    """One strategy's positions (average cost, per product), volume and notional."""

    positions: dict[str, Position] = attrs.Factory(dict)
    volume: collections.defaultdict[str, Decimal] = attrs.Factory(
        lambda: collections.defaultdict(Decimal)
    )
    notional: Decimal = _ZERO

    def apply(self, fill: OrderFilled) -> tuple[Decimal, Decimal]:
        """Count a fill; the PnL it realized and the position after it."""
        position = self.positions.setdefault(fill.product_id, Position(product_id=fill.product_id))
        realized = position.apply(
            fill.side,
            Fill(trade_id=fill.trade_id, price=fill.price, size=fill.size, fee=fill.fee),
        )
        self.volume[fill.product_id] += fill.size
        self.notional += fill.price * fill.size
        return realized, position.quantity

    def pnl(self, strategy: str, marks: dict[str, Decimal]) -> StrategyPnl:
        positions = self.positions.values()
        realized = sum((p.realized_pnl for p in positions), _ZERO)
        fees = sum((p.fees for p in positions), _ZERO)
        unrealized = sum(
            (p.unrealized_pnl(marks[p.product_id]) for p in positions if p.product_id in marks),
            _ZERO,
        )
        return StrategyPnl(
            strategy=strategy,
            fills=sum(p.fill_count for p in positions),
            volume=tuple(sorted(self.volume.items())),
            notional=self.notional,
            fees=fees,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            net_pnl=realized - fees + unrealized,
            positions=tuple(sorted((p.product_id, p.quantity) for p in positions)),
        )


def _fold(
    entries: Iterable[Entry],
    source: str,
    summary: RunSummary,
    walls: Mapping[int, float | None] | None = None,
) -> ReportData:
    timeline = _Timeline(walls=walls or {})
    books: dict[str, _StrategyBook] = {}
    seen_trades: set[str] = set()
    fills: list[FillRow] = []
    equity: list[EquityPoint] = []
    products: set[str] = set()
    marks: dict[str, Decimal] = {}
    events = first_seq = last_seq = 0
    for seq, at, message in entries:
        events += 1
        first_seq = first_seq or seq
        last_seq = seq
        elapsed = timeline.place(seq, at, message)
        match message:
            case OrderFilled() if message.trade_id not in seen_trades:
                seen_trades.add(message.trade_id)
                book = books.setdefault(message.strategy, _StrategyBook())
                realized, after = book.apply(message)
                fills.append(
                    FillRow(
                        seq=seq,
                        elapsed=elapsed,
                        incarnation=timeline.incarnation,
                        strategy=message.strategy,
                        client_order_id=message.client_order_id,
                        product_id=message.product_id,
                        side=message.side.value,
                        price=message.price,
                        size=message.size,
                        fee=message.fee,
                        liquidity=message.liquidity.value,
                        trade_id=message.trade_id,
                        realized_pnl=realized,
                        position_after=after,
                    )
                )
            case PnlRecorded():
                held = tuple(sorted((p.product_id, p.quantity) for p in message.positions))
                products.update(product for product, _ in held)
                marks = {p.product_id: p.mark for p in message.positions if p.mark is not None}
                equity.append(
                    EquityPoint(
                        seq=seq,
                        elapsed=elapsed,
                        incarnation=timeline.incarnation,
                        equity=message.equity,
                        peak_equity=message.peak_equity,
                        drawdown=message.drawdown,
                        positions=held,
                    )
                )
            case _:
                pass
    return ReportData(
        source=source,
        events=events,
        first_seq=first_seq,
        last_seq=last_seq,
        summary=summary,
        equity=tuple(equity),
        fills=tuple(fills),
        strategies=tuple(books[name].pnl(name, marks) for name in sorted(books)),
        restarts=tuple(timeline.restarts),
        products=tuple(sorted(products)),
        wall_clock=timeline.wall_clock,
    )


def build_report_data(entries: Sequence[Entry], *, source: str = "") -> ReportData:
    """The report of journal entries held in memory (in ``seq`` order)."""
    return _fold(entries, source, summarize(entries))


def _open_read_only(path: Path) -> Journal:
    """Open ``path`` read-only and check that it is a journal this version can read."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        if application_id != APPLICATION_ID:
            raise ReportError(
                f"{path}: an SQLite database but not a cjt_actors journal "
                f"(application_id {application_id:#x})"
            )
        version = db.execute("SELECT version FROM schema_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ReportError(
                f"{path}: journal schema version {version} is newer than this cjt_actors "
                f"supports (version {SCHEMA_VERSION}); upgrade cjt_actors"
            )
    except BaseException:
        db.close()
        raise
    return Journal(db, path)


def _has_wall_column(journal: Journal) -> bool:
    columns = journal._db.execute("PRAGMA table_info(events)").fetchall()
    return any(column[1] == "wall" for column in columns)


def read_report_data(path: str | Path) -> ReportData:
    """Read the journal at ``path`` (read-only) and compute its report.

    Raises:
        ReportError: no such file; not SQLite; SQLite but not a journal; a newer schema; a
            damaged database or an entry that no longer decodes. Names ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such journal file")
    try:
        journal = _open_read_only(path)
        with journal:
            last = journal.last_seq()

            def entries() -> Iterator[Entry]:
                """The events committed when the report began (later ones are left out, so
                both passes read the same events)."""
                return itertools.takewhile(lambda entry: entry[0] <= last, journal.read())

            # Two streaming passes rather than a list of every event: a daemon's journal
            # holds weeks of them.
            summary = summarize(entries())
            walls = dict(journal.wall_times()) if _has_wall_column(journal) else {}
            return _fold(entries(), str(path), summary, walls)
    except (sqlite3.Error, JournalError) as error:
        raise ReportError(f"{path}: cannot read the journal: {error}") from error
