"""`cjt report` on hand-built journals: the numbers, the time axis, the page and the errors."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import attrs
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from cjt_actors.errors import CjtError
from cjt_actors.exchange.orders import Side
from cjt_actors.journal import Journal
from cjt_actors.lifecycle import Liquidity
from cjt_actors.messages import Message
from cjt_actors.order_messages import (
    OrderFilled,
    PnlRecorded,
    PositionState,
    ReconciliationStateChanged,
    TradingState,
)
from cjt_actors.report import png_size, render_html, render_png, report_figure, write_report
from cjt_actors.report_data import (
    EXECUTOR_START_UP,
    IncarnationStart,
    ReportError,
    build_report_data,
    read_report_data,
)

D = Decimal

# -- building journals --------------------------------------------------------------------------


def _journal(path: Path, events: list[tuple[Message, float]]) -> Path:
    with Journal.open(path) as journal:
        for message, at in events:
            journal.append(message, at=at)
    return path


def _entries(events: list[tuple[Message, float]]) -> list[tuple[int, float, Message]]:
    return [(seq, at, message) for seq, (message, at) in enumerate(events, start=1)]


def _start_up(at: float, *, reconciling: bool = True, trigger: str = EXECUTOR_START_UP) -> Message:
    return ReconciliationStateChanged(
        venue="paper", reconciling=reconciling, trigger=trigger, at=at
    )


def _fill(
    trade: str,
    side: Side,
    price: str,
    size: str,
    fee: str,
    *,
    strategy: str = "mm",
    product: str = "BTC-USD",
    order: str = "order-1",
) -> OrderFilled:
    return OrderFilled(
        strategy=strategy,
        client_order_id=order,
        order_id="venue-1",
        product_id=product,
        side=side,
        trade_id=trade,
        price=D(price),
        size=D(size),
        fee=D(fee),
        liquidity=Liquidity.MAKER,
        at=0.0,
    )


def _pnl(
    equity: str, *, peak: str = "0", marks: dict[str, tuple[str, str | None]] | None = None
) -> PnlRecorded:
    """A snapshot; ``marks`` maps a product to (quantity, mark)."""
    positions = tuple(
        PositionState(
            product_id=product,
            quantity=D(quantity),
            average_cost=D(0),
            realized_pnl=D(0),
            fees=D(0),
            mark=None if mark is None else D(mark),
            unrealized_pnl=D(0),
        )
        for product, (quantity, mark) in (marks or {}).items()
    )
    return PnlRecorded(
        equity=D(equity),
        peak_equity=D(peak),
        drawdown=D(peak) - D(equity),
        realized_pnl=D(0),
        unrealized_pnl=D(0),
        fees=D(0),
        gross_exposure=D(0),
        open_orders=0,
        state=TradingState.ACTIVE,
        positions=positions,
        at=0.0,
    )


# -- reading the page back ------------------------------------------------------------------------


@attrs.define
class Cell:
    text: str = ""
    value: str | None = None


class _Tables(HTMLParser):
    """Every table of a page by id: its header texts and its body and foot rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[list[Cell]]]] = {}
        self._table: dict[str, list[list[Cell]]] = {}
        self._section = ""
        self._cell: Cell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(named["id"] or "", {})
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr":
            self._table.setdefault(self._section, []).append([])
        elif tag in ("td", "th"):
            self._cell = Cell(value=named.get("data-value"))

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._table[self._section][-1].append(self._cell)
            self._cell = None


def table(page: str, table_id: str, section: str = "tbody") -> list[dict[str, Cell]]:
    """The rows of one section of a table, each as {column header: cell}."""
    parser = _Tables()
    parser.feed(page)
    found = parser.tables[table_id]
    headers = [cell.text for cell in found["thead"][0]]
    return [dict(zip(headers, row, strict=True)) for row in found.get(section, [])]


def _x(line: Line2D) -> list[float]:
    return [float(x) for x in np.asarray(line.get_xdata(), dtype=float)]


def _y(line: Line2D) -> list[float]:
    return [float(y) for y in np.asarray(line.get_ydata(), dtype=float)]


def _labelled(figure: Figure, label: str) -> Line2D:
    [line] = [line for axes in figure.axes for line in axes.lines if line.get_label() == label]
    return line


# -- tests ----------------------------------------------------------------------------------------


def test_an_empty_journal_makes_a_report_that_says_so(tmp_path: Path) -> None:
    path = _journal(tmp_path / "empty.sqlite", [])
    files = write_report(path, tmp_path / "out")
    assert files.png == tmp_path / "out" / "empty-report.png"
    assert files.html == tmp_path / "out" / "empty-report.html"
    assert (files.data.events, files.data.incarnations, files.data.equity) == (0, 0, ())
    page = files.html.read_text("utf-8")
    assert "The journal is empty: nothing was recorded." in page
    assert "No fills in this journal." in page
    assert "No strategy traded" in page
    assert "No PnL snapshots in this journal: nothing to plot." in page
    assert "<table" not in page
    with Image.open(files.png) as image:
        assert image.size == png_size(0) == (1200, 800)
    texts = {t.get_text() for axes in report_figure(files.data).axes for t in axes.texts}
    assert texts == {"no PnL snapshots in this journal"}


def test_a_journal_without_fills_or_positions_still_plots_equity(tmp_path: Path) -> None:
    events = [(_start_up(5.0), 5.0), (_pnl("0"), 6.0), (_pnl("-1"), 7.0)]
    files = write_report(_journal(tmp_path / "quiet.sqlite", events))
    assert files.png.parent == tmp_path  # next to the journal by default
    data = files.data
    assert (data.events, data.first_seq, data.last_seq, data.incarnations) == (3, 1, 3, 1)
    assert data.products == ()
    figure = report_figure(data)
    assert _y(_labelled(figure, "equity")) == [0.0, -1.0]
    assert _y(_labelled(figure, "drawdown")) == [0.0, -1.0]
    assert "no positions in the PnL snapshots" in {t.get_text() for t in figure.axes[2].texts}
    page = files.html.read_text("utf-8")
    assert "3 events (seq 1 to 3), 1 incarnation(s), 2 PnL snapshot(s), 0 fill(s)." in page
    assert "No fills in this journal." in page
    assert "nothing to plot" not in page


def test_restarts_start_incarnations_and_the_axis_leaves_the_downtime_out() -> None:
    events: list[tuple[Message, float]] = [
        (_pnl("0", marks={"BTC-USD": ("0", "100")}), 999.0),  # before the first start-up
        (_start_up(1000.0), 1000.0),  # the first start-up: incarnation 0 goes on
        (_pnl("1", peak="1"), 1001.0),
        (_pnl("2", peak="2"), 1003.0),
        (_fill("t1", Side.BUY, "100", "1", "0"), 1002.5),  # journaled late: clamped
        (_start_up(1003.1, reconciling=False), 1003.1),  # the end of a start-up
        (_start_up(1004.0, trigger="user channel gap"), 1004.0),  # not a start-up
        (_start_up(7.0), 7.0),  # a new process: its clock starts anywhere
        (_pnl("1", peak="2"), 9.0),
        (_start_up(12.0), 12.0),  # the executor restarted inside that process
        (_pnl("3", peak="3"), 13.0),
    ]
    data = build_report_data(_entries(events))
    assert data.restarts == (
        IncarnationStart(index=1, seq=8, elapsed=5.0),
        IncarnationStart(index=2, seq=10, elapsed=7.0),
    )
    assert data.incarnations == 3
    assert [(p.elapsed, p.incarnation) for p in data.equity] == [
        (0.0, 0),
        (2.0, 0),
        (4.0, 0),
        (7.0, 1),
        (8.0, 2),
    ]
    [fill] = data.fills
    assert (fill.seq, fill.elapsed, fill.incarnation) == (5, 4.0, 0)
    figure = report_figure(data)
    for axes in figure.axes:
        marks = [_x(line) for line in axes.lines if line.get_linestyle() == ":"]
        assert marks == [[5.0, 5.0], [7.0, 7.0]]
    labels = [line.get_label() for axes in figure.axes for line in axes.lines]
    assert labels.count("executor restart") == 1
    assert _x(_labelled(figure, "equity")) == [0.0, 2.0, 4.0, 7.0, 8.0]
    page = render_html(data, render_png(data))
    assert "11 events (seq 1 to 11), 3 incarnation(s)" in page
    assert [row["incarnation"].text for row in table(page, "fills")] == ["0"]


def test_with_wall_times_the_axis_is_real_elapsed_time_downtime_included(tmp_path: Path) -> None:
    """Two processes an hour apart: trio clocks say nothing across them, the wall does."""
    path = tmp_path / "j.sqlite"
    walls = iter([1_000.0, 1_002.0, 4_600.0, 4_605.0])
    with Journal.open(path) as journal:
        journal._wall = lambda: next(walls)
        journal.append(_start_up(50.0), at=50.0)
        journal.append(_pnl("1", peak="1"), at=52.0)
        journal.append(_start_up(7.0), at=7.0)  # the restart, an hour later
        journal.append(_pnl("2", peak="2"), at=12.0)
    data = read_report_data(path)
    assert data.wall_clock
    assert [p.elapsed for p in data.equity] == [2.0, 3605.0]
    assert data.restarts == (IncarnationStart(index=1, seq=3, elapsed=3600.0),)
    assert "wall clock" in report_figure(data).axes[-1].get_xlabel()


def test_pnl_by_strategy_accounts_each_strategy_with_its_fees(tmp_path: Path) -> None:
    events: list[tuple[Message, float]] = [
        (_fill("t1", Side.BUY, "100", "1", "0.10", strategy="alpha"), 1.0),
        (_fill("t2", Side.SELL, "105", "2", "0.20", strategy="beta", order="order-2"), 2.0),
        (_fill("t3", Side.SELL, "110", "1", "0.11", strategy="alpha", order="order-3"), 3.0),
        (_fill("t3", Side.SELL, "110", "1", "0.11", strategy="alpha", order="order-3"), 3.5),
        (_fill("t4", Side.BUY, "10", "0.5", "0.01", strategy="alpha", product="ETH-USD"), 4.0),
        (_pnl("5", marks={"BTC-USD": ("-2", "100"), "ETH-USD": ("0.5", "12")}), 5.0),
    ]
    files = write_report(_journal(tmp_path / "two.sqlite", events), tmp_path / "out")
    data = files.data
    alpha, beta = data.strategies
    # alpha: long 1 at 100, closed at 110 (+10); 0.5 ETH bought at 10, marked at 12 (+1).
    assert (alpha.strategy, alpha.fills, alpha.fees) == ("alpha", 3, D("0.22"))
    assert (alpha.realized_pnl, alpha.unrealized_pnl, alpha.net_pnl) == (D(10), D(1), D("10.78"))
    assert alpha.volume == (("BTC-USD", D(2)), ("ETH-USD", D("0.5")))
    assert alpha.notional == D(215)
    assert alpha.positions == (("BTC-USD", D(0)), ("ETH-USD", D("0.5")))
    # beta: short 2 at 105, marked at 100 (+10).
    assert (beta.fills, beta.fees, beta.realized_pnl, beta.unrealized_pnl) == (
        1,
        D("0.20"),
        D(0),
        D(10),
    )
    assert beta.net_pnl == D("9.80")
    # The run nets the strategies' fills into one position per product: the same fees and
    # net PnL (every product is marked), split differently between realized and unrealized.
    run = data.summary
    assert (run.fills, run.fees) == (4, alpha.fees + beta.fees)
    assert (run.realized_pnl, run.unrealized_pnl) == (D(5), D(16))
    assert run.net_pnl == alpha.net_pnl + beta.net_pnl == D("20.58")
    assert [(f.trade_id, f.realized_pnl, f.position_after) for f in data.fills] == [
        ("t1", D(0), D(1)),
        ("t2", D(0), D(-2)),
        ("t3", D(10), D(0)),
        ("t4", D(0), D("0.5")),
    ]
    page = files.html.read_text("utf-8")
    rows = {row["strategy"].text: row for row in table(page, "strategies")}
    assert set(rows) == {"alpha", "beta"}
    for row, pnl in ((rows["alpha"], alpha), (rows["beta"], beta)):
        assert row["fills"].text == str(pnl.fills)
        assert D(row["fees"].value or "") == pnl.fees
        assert D(row["realized (before fees)"].value or "") == pnl.realized_pnl
        assert D(row["net PnL"].value or "") == pnl.net_pnl
    assert rows["alpha"]["net PnL"].text == "10.78"
    assert rows["alpha"]["volume (base)"].text == "BTC-USD 2, ETH-USD 0.5"
    [total] = table(page, "strategies", "tfoot")
    assert total["strategy"].text == "all strategies (netted)"
    assert D(total["fees"].value or "") == run.fees
    assert D(total["net PnL"].value or "") == run.net_pnl
    fills = table(page, "fills")
    assert [row["trade id"].text for row in fills] == ["t1", "t2", "t3", "t4"]
    assert [row["realized"].text for row in fills] == ["0.00", "0.00", "10.00", "0.00"]
    assert fills[0]["fee"].text == "0.100000"


def test_every_value_in_the_page_is_escaped(tmp_path: Path) -> None:
    name = "<script>alert('x')</script>"
    sneaky = '" onmouseover="alert(1)'
    events: list[tuple[Message, float]] = [
        (_fill("t1", Side.BUY, "100", "1", "0.1", strategy=name, order="a&b"), 1.0),
        (_fill(sneaky, Side.SELL, "101", "1", "0.1", strategy=sneaky, order="c"), 2.0),
    ]
    directory = tmp_path / "<b>runs&co$_^$"  # "$_^$" would be a broken formula to matplotlib
    directory.mkdir()
    files = write_report(_journal(directory / "<i>.sqlite", events), tmp_path / "out")
    page = files.html.read_text("utf-8")
    assert "<script>" not in page
    assert "<b>" not in page
    assert "<i>" not in page
    assert 'onmouseover="' not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "a&amp;b" in page
    # Read back, the page shows the names as they are.
    strategies = table(page, "strategies")
    assert sorted(row["strategy"].text for row in strategies) == sorted([name, sneaky])
    assert [row["client order id"].text for row in table(page, "fills")] == ["a&b", "c"]


def test_the_time_axis_unit_follows_the_span_and_long_series_have_no_markers() -> None:
    def span(seconds: float, points: int = 2) -> tuple[str, list[tuple[Message, float]]]:
        step = seconds / (points - 1)
        return "", [(_pnl("0"), i * step) for i in range(points)]

    for seconds, unit in ((30.0, "seconds"), (300.0, "minutes"), (3 * 3600.0, "hours")):
        data = build_report_data(_entries(span(seconds)[1]))
        figure = report_figure(data)
        assert f"run time ({unit};" in figure.axes[-1].get_xlabel()
        assert _labelled(figure, "equity").get_marker() == "."
    events = span(3 * 86_400.0, points=150)[1]
    events.append((_fill("late", Side.BUY, "1", "1", "0"), 3723.45))
    data = build_report_data(_entries(events))
    figure = report_figure(data)
    assert "run time (days;" in figure.axes[-1].get_xlabel()
    assert _x(_labelled(figure, "equity"))[-1] == pytest.approx(3.0)
    assert _labelled(figure, "equity").get_marker() == "None"
    page = render_html(data, b"")
    assert [row["run time"].text for row in table(page, "fills")] == ["72:00:00.0"]
    assert "<title>cjt report: journal</title>" in page


def test_positions_are_plotted_per_product_and_a_negative_zero_is_not_shown(
    tmp_path: Path,
) -> None:
    events: list[tuple[Message, float]] = [
        (_pnl("0", marks={"ETH-USD": ("1", None)}), 1.0),
        (_pnl("-1", peak="0", marks={"ETH-USD": ("2", "10"), "BTC-USD": ("-0.5", "100")}), 2.0),
        (_fill("t1", Side.SELL, "100.004", "1", "0"), 3.0),
        (_pnl("-1", marks={"BTC-USD": ("-1", "100.005")}), 4.0),
    ]
    files = write_report(_journal(tmp_path / "p.sqlite", events))
    data = files.data
    assert data.products == ("BTC-USD", "ETH-USD")
    figure = report_figure(data)
    assert len(figure.axes) == 4  # equity, drawdown, one per product
    assert _y(_labelled(figure, "BTC-USD")) == [0.0, -0.5, -1.0]
    assert _y(_labelled(figure, "ETH-USD")) == [1.0, 2.0, 0.0]
    with Image.open(files.png) as image:
        assert image.size == png_size(2) == (1200, 1000)
    [mm] = data.strategies
    assert mm.unrealized_pnl == D("-0.001")  # short 1 at 100.004, marked at 100.005
    [row] = table(files.html.read_text("utf-8"), "strategies")
    assert row["unrealized"].text == "0.00"
    assert D(row["unrealized"].value or "") == D("-0.001")


def test_a_report_never_changes_the_journal_and_reads_next_to_a_writer(tmp_path: Path) -> None:
    path = _journal(tmp_path / "live.sqlite", [(_pnl("1"), 1.0)])
    with Journal.open(path) as writer:
        writer.append(_pnl("2"), at=2.0)
        data = read_report_data(path)  # the writer is still open: its commits are read
        assert [p.equity for p in data.equity] == [D(1), D(2)]
        writer.append(_pnl("3"), at=3.0)
        assert len(read_report_data(path).equity) == 3
    before = path.read_bytes()
    write_report(path, tmp_path / "out")
    assert path.read_bytes() == before


def test_a_missing_or_broken_journal_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(ReportError, match=r"nope\.sqlite: no such journal file"):
        write_report(missing)
    with pytest.raises(ReportError, match="no such journal file"):
        read_report_data(tmp_path)  # a directory

    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just some text " * 100)
    with pytest.raises(ReportError, match=r"notes\.txt: cannot read the journal"):
        read_report_data(text)

    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(ReportError, match=r"empty\.sqlite: .*not a cjt_actors journal"):
        read_report_data(empty)
    assert empty.read_bytes() == b""  # and it was not made into one

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(ReportError, match=r"other\.sqlite: .*not a cjt_actors journal"):
        read_report_data(other)


def _raw(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


def test_a_damaged_journal_is_a_clear_error(tmp_path: Path) -> None:
    newer = _journal(tmp_path / "newer.sqlite", [])
    _raw(newer, "UPDATE schema_version SET version = 99")
    with pytest.raises(ReportError, match=r"newer\.sqlite: journal schema version 99 is newer"):
        read_report_data(newer)

    undecodable = _journal(tmp_path / "bad.sqlite", [(_pnl("1"), 1.0)])
    _raw(
        undecodable,
        "INSERT INTO events (at, kind, payload) VALUES (2.0, 'Gone', '{\"type\": \"Gone\"}')",
    )
    with pytest.raises(ReportError, match=r"bad\.sqlite: cannot read the journal: .*seq 2") as err:
        read_report_data(undecodable)
    assert isinstance(err.value, CjtError)

    tableless = tmp_path / "tableless.sqlite"
    _raw(tableless, "PRAGMA application_id = 1128944714")
    with pytest.raises(ReportError, match=r"tableless\.sqlite: cannot read the journal"):
        read_report_data(tableless)


def test_an_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    path = _journal(tmp_path / "j.sqlite", [(_pnl("1"), 1.0)])
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ReportError, match=r"file: cannot create the report directory"):
        write_report(path, blocker)
    out = tmp_path / "out"
    (out / "j-report.html").mkdir(parents=True)  # a directory where the page goes
    with pytest.raises(ReportError, match=r"j-report\.html: cannot write the report"):
        write_report(path, out)
    assert sorted(p.name for p in out.iterdir()) == ["j-report.html", "j-report.png"]
