"""`cjt report` on the journal of a real paper run: the files show what the journal holds.

The run is ``cjt paper``'s runner in-process (the simulator over loopback sockets, real
time, five seconds, two market makers), so the journal is what a user's run writes. The
report is then checked on content: the fills table row by row against the journal's fills,
PnL by strategy against an average-cost computation written out here, the totals against
the run summary, the plotted lines against the journal's PnL snapshots, and the PNG
decoded (its size and the colours of its lines).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from collections import defaultdict
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import trio
from PIL import Image

from cjt_actors.config import (
    DEFAULT_STRATEGY,
    Config,
    JournalSection,
    RunSection,
    SimulatorSection,
    StrategyEntry,
)
from cjt_actors.exchange.orders import Side
from cjt_actors.journal import Entry, Journal
from cjt_actors.order_messages import OrderFilled, PnlRecorded
from cjt_actors.paper_run import run_paper
from cjt_actors.report import png_size, report_figure, write_report
from cjt_actors.risk_rules import RiskLimits
from cjt_actors.summary import format_summary, summarize

D = Decimal


class _Tables(HTMLParser):
    """Table id -> section -> rows of (text, data-value) cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[list[tuple[str, str | None]]]]] = {}
        self._table: dict[str, list[list[tuple[str, str | None]]]] = {}
        self._section = ""
        self._cell: list[str] | None = None
        self._value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(named["id"] or "", {})
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr":
            self._table.setdefault(self._section, []).append([])
        elif tag in ("td", "th"):
            self._cell, self._value = [], named.get("data-value")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._table[self._section][-1].append(("".join(self._cell), self._value))
            self._cell = None


def _rows(page: str, table_id: str, section: str = "tbody") -> list[dict[str, tuple[str, str]]]:
    """Rows as {header: (text, exact value or the text)}."""
    parser = _Tables()
    parser.feed(page)
    found = parser.tables[table_id]
    headers = [text for text, _ in found["thead"][0]]
    return [
        {
            header: (text, text if value is None else value)
            for header, (text, value) in zip(headers, row, strict=True)
        }
        for row in found.get(section, [])
    ]


def _average_cost(fills: list[OrderFilled], marks: dict[str, Decimal]) -> dict[str, Decimal]:
    """Realized and unrealized PnL of one strategy's fills, average cost per product."""
    held: dict[str, Decimal] = defaultdict(Decimal)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    realized = D(0)
    for fill in fills:
        product, signed = fill.product_id, fill.size if fill.side is Side.BUY else -fill.size
        quantity = held[product]
        if quantity == 0 or (quantity > 0) == (signed > 0):
            cost[product] = (abs(quantity) * cost[product] + fill.size * fill.price) / (
                abs(quantity) + fill.size
            )
        else:
            closed = min(fill.size, abs(quantity))
            realized += closed * (fill.price - cost[product]) * (1 if quantity > 0 else -1)
            if fill.size > abs(quantity):
                cost[product] = fill.price
        held[product] = quantity + signed
    unrealized = sum((q * (marks[p] - cost[p]) for p, q in held.items() if q and p in marks), D(0))
    fees = sum((f.fee for f in fills), D(0))
    return {
        "fills": D(len(fills)),
        "fees": fees,
        "realized": realized,
        "unrealized": unrealized,
        "net": realized - fees + unrealized,
    }


def _paper_run(tmp_path: Path) -> Path:
    journal = tmp_path / "runs" / "paper.sqlite"
    config = Config(
        simulator=SimulatorSection(tick=0.1),
        strategies=(
            DEFAULT_STRATEGY,
            StrategyEntry(name="wide", params={"half_spread_bps": D(2)}),
        ),
        risk=RiskLimits(pnl_interval=0.25),
        journal=JournalSection(path=str(journal)),
        run=RunSection(status_interval=5.0, seed=11),
    )
    out = io.StringIO()
    run = functools.partial(
        run_paper, config, config_source="<report test>", duration=5, out=out, handle_signals=False
    )
    assert trio.run(run) == 0, out.getvalue()
    return journal


def test_cjt_report_on_a_real_paper_run(tmp_path: Path) -> None:
    journal_path = _paper_run(tmp_path)
    with Journal.open(journal_path) as journal:
        entries: list[Entry] = list(journal.read())
        digest = journal.digest()
    fills: dict[str, tuple[int, OrderFilled]] = {}
    for seq, _at, message in entries:
        if isinstance(message, OrderFilled):
            fills.setdefault(message.trade_id, (seq, message))
    snapshots = [(seq, m) for seq, _at, m in entries if isinstance(m, PnlRecorded)]
    assert fills, "five seconds of market making on the simulator saw no fill"
    assert len(snapshots) >= 10  # every 0.25 s

    files = write_report(journal_path, tmp_path / "report")
    data = files.data
    with Journal.open(journal_path) as journal:
        assert journal.digest() == digest  # the report changed nothing
    summary = summarize(entries)
    assert data.summary == summary
    page = files.html.read_text("utf-8")

    # The fills table: one row per journaled fill, in journal order.
    rows = _rows(page, "fills")
    assert len(rows) == len(fills) == summary.fills
    for row, (seq, fill) in zip(rows, fills.values(), strict=True):
        assert row["trade id"][0] == fill.trade_id
        assert row["seq"][0] == str(seq)
        assert row["strategy"][0] == fill.strategy
        assert (row["product"][0], row["side"][0]) == (fill.product_id, fill.side.value)
        assert (D(row["price"][1]), D(row["size"][1]), D(row["fee"][1])) == (
            fill.price,
            fill.size,
            fill.fee,
        )

    # PnL by strategy, against the computation above and the run summary.
    marks = {p.product_id: p.mark for p in snapshots[-1][1].positions if p.mark is not None}
    by_strategy: dict[str, list[OrderFilled]] = defaultdict(list)
    for _seq, fill in fills.values():
        by_strategy[fill.strategy].append(fill)
    strategies = {row["strategy"][0]: row for row in _rows(page, "strategies")}
    assert set(strategies) == set(by_strategy)
    columns = {
        "fills": "fills",
        "fees": "fees",
        "realized": "realized (before fees)",
        "unrealized": "unrealized",
        "net": "net PnL",
    }
    for name, strategy_fills in by_strategy.items():
        expected = _average_cost(strategy_fills, marks)
        for key, column in columns.items():
            assert abs(D(strategies[name][column][1]) - expected[key]) < D("1e-18"), (name, key)
    assert sum(D(row["fees"][1]) for row in strategies.values()) == summary.fees
    assert summary.fees == sum((fill.fee for _seq, fill in fills.values()), D(0))
    net = sum((D(row["net PnL"][1]) for row in strategies.values()), D(0))
    assert abs(net - summary.net_pnl) < D("1e-18")
    [total] = _rows(page, "strategies", "tfoot")
    assert (D(total["fees"][1]), D(total["net PnL"][1])) == (summary.fees, summary.net_pnl)
    assert D(total["realized (before fees)"][1]) == summary.realized_pnl
    summary_block = re.search(r'<pre id="summary">(.*?)</pre>', page, re.DOTALL)
    assert summary_block is not None
    assert html.unescape(summary_block.group(1)) == format_summary(summary)

    # The series: exactly the journal's snapshots, in order, and what was plotted.
    assert [(p.seq, p.equity, p.drawdown) for p in data.equity] == [
        (seq, m.equity, m.drawdown) for seq, m in snapshots
    ]
    elapsed = [p.elapsed for p in data.equity]
    assert elapsed == sorted(elapsed)
    assert 4.0 < elapsed[-1] < 10.0  # one incarnation of a five-second run
    assert data.restarts == ()
    figure = report_figure(data)
    lines = {str(line.get_label()): line for axes in figure.axes for line in axes.lines}
    assert np.asarray(lines["equity"].get_ydata(), dtype=float).tolist() == [
        float(m.equity) for _, m in snapshots
    ]
    assert np.asarray(lines["drawdown"].get_ydata(), dtype=float).tolist() == [
        -float(m.drawdown) for _, m in snapshots
    ]
    traded = sorted({fill.product_id for _seq, fill in fills.values()})
    assert set(traded) <= set(data.products)
    for product in data.products:
        quantities = [
            next((float(p.quantity) for p in m.positions if p.product_id == product), 0.0)
            for _, m in snapshots
        ]
        assert np.asarray(lines[product].get_ydata(), dtype=float).tolist() == quantities

    # The PNG decodes at the advertised size and shows the lines; the page embeds it.
    with Image.open(files.png) as image:
        assert image.size == png_size(len(data.products))
        colours = {rgb: n for n, rgb in image.convert("RGB").getcolors(1 << 24) or []}
    assert colours.get((0x1F, 0x77, 0xB4), 0) > 100  # the equity line
    assert colours.get((0xD6, 0x27, 0x28), 0) > 100  # the drawdown line
    assert colours.get((0x2C, 0xA0, 0x2C), 0) > 100  # the position lines
    embedded = re.search(r'<img id="equity" src="data:image/png;base64,([^"]+)"', page)
    assert embedded is not None
    assert base64.b64decode(embedded.group(1)) == files.png.read_bytes()
