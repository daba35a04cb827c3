"""``cjt report JOURNAL``: a run's equity curve, drawdown, positions, fills and PnL by strategy.

Two files come out of one journal (read-only, see :mod:`cjt_actors.report_data` for the
numbers and the time axis):

* a PNG (matplotlib, panels sharing the run-time axis): equity with its running peak,
  drawdown below zero, and one panel per product with its position as a step line (base
  units of different products do not share a scale); every executor restart is a dotted
  vertical line across the panels;
* a self-contained HTML page: the run summary (``cjt paper``'s own lines), the PnL table by
  strategy with the run's netted totals, the fills table, and the PNG embedded as a data
  URI, so the page can be mailed or archived as one file.

Why the object-oriented matplotlib API (:class:`matplotlib.figure.Figure`, never
``pyplot``): pyplot keeps global state and picks a GUI backend from the environment; a
bare ``Figure`` renders with Agg, needs no display, and two reports made at once cannot
draw into each other's figure.

Every value written into the page is HTML-escaped (strategy names come from a config file,
order ids and error text from a venue), so the page shows text and never runs it. A number
is shown rounded and carries its exact value in ``data-value``, for whoever checks the page.
A journal with no fills or no PnL snapshots makes a report that says so.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .report_data import ReportData, ReportError, StrategyPnl, read_report_data
from .summary import format_summary

__all__ = [
    "PNG_DPI",
    "PNG_WIDTH",
    "ReportFiles",
    "png_size",
    "render_html",
    "render_png",
    "report_figure",
    "write_report",
]

#: The PNG's width in pixels and resolution; its height grows with the products
#: (:func:`png_size`).
PNG_WIDTH = 1200
PNG_DPI = 100

_EQUITY_COLOR = "#1f77b4"
_PEAK_COLOR = "#7f7f7f"
_DRAWDOWN_COLOR = "#d62728"
_POSITION_COLOR = "#2ca02c"
_RESTART_COLOR = "#555555"

#: Run-time units for the x axis: the largest whose span is at least two of them.
_UNITS = ((86_400.0, "days"), (3_600.0, "hours"), (60.0, "minutes"), (1.0, "seconds"))


@attrs.frozen(kw_only=True)
class ReportFiles:
    """The files :func:`write_report` wrote, and the figures they show."""

    png: Path
    html: Path
    data: ReportData


def _time_unit(span: float) -> tuple[float, str]:
    """Seconds per unit and its name for an axis ``span`` seconds long."""
    for seconds, name in _UNITS:
        if span >= 2 * seconds:
            return seconds, name
    return 1.0, "seconds"


def _floats(values: Iterable[Decimal]) -> list[float]:
    """The plotting boundary: the only place a Decimal becomes a float."""
    return [float(value) for value in values]


def _say_empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="grey")


def png_size(products: int) -> tuple[int, int]:
    """The PNG's (width, height) in pixels for a journal with ``products`` products: 600
    pixels for equity and drawdown, and 200 for each product's position panel."""
    return PNG_WIDTH, 600 + 200 * max(1, products)


def report_figure(data: ReportData) -> Figure:
    """The panels as a matplotlib figure (what :func:`render_png` saves): equity and its
    peak, drawdown, then one panel per product for its position (base units differ between
    products, so they do not share a scale).

    Lines carry labels (``equity``, ``peak``, ``drawdown``, and the product id in its
    position panel), so a test can read back exactly what was plotted.
    """
    width, height = png_size(len(data.products))
    figure = Figure(figsize=(width / PNG_DPI, height / PNG_DPI), dpi=PNG_DPI, layout="constrained")
    panels = max(1, len(data.products))
    equity_axes, drawdown_axes, *position_axes = figure.subplots(
        2 + panels, 1, sharex=True, squeeze=False, height_ratios=(2, 1, *([1] * panels))
    )[:, 0]
    # parse_math off: a ``$`` in a path is text, not the start of a formula.
    title = f"{data.source or 'journal'}: equity, drawdown and positions"
    figure.suptitle(title, parse_math=False)
    points = data.equity
    seconds, unit = _time_unit(points[-1].elapsed if points else 0.0)
    x = [point.elapsed / seconds for point in points]
    marker = "." if len(points) < 100 else None
    if points:
        equity_axes.plot(
            x, _floats(p.equity for p in points), label="equity", color=_EQUITY_COLOR, marker=marker
        )
        equity_axes.plot(
            x, _floats(p.peak_equity for p in points), label="peak", color=_PEAK_COLOR, ls="--"
        )
        underwater = _floats(-p.drawdown for p in points)
        drawdown_axes.fill_between(x, underwater, 0.0, color=_DRAWDOWN_COLOR, alpha=0.3)
        drawdown_axes.plot(x, underwater, label="drawdown", color=_DRAWDOWN_COLOR)
        snapshots = [dict(p.positions) for p in points]
        for axes, product in zip(position_axes, data.products, strict=False):
            held = [snapshot.get(product, Decimal(0)) for snapshot in snapshots]
            axes.step(
                x, _floats(held), where="post", label=product, color=_POSITION_COLOR, marker=marker
            )
            axes.axhline(0.0, color="black", linewidth=0.5)
            axes.set_ylabel(f"{product}\nposition (base)", parse_math=False)
        if not data.products:
            _say_empty(position_axes[0], "no positions in the PnL snapshots")
    else:
        for axes in (equity_axes, drawdown_axes, *position_axes):
            _say_empty(axes, "no PnL snapshots in this journal")
    for axes in (equity_axes, drawdown_axes, *position_axes):
        for number, restart in enumerate(data.restarts):
            axes.axvline(
                restart.elapsed / seconds,
                color=_RESTART_COLOR,
                linestyle=":",
                label="executor restart" if number == 0 and axes is equity_axes else None,
            )
        axes.grid(visible=True, alpha=0.3)
    if points or data.restarts:
        equity_axes.legend(loc="upper left", fontsize="small")
    equity_axes.set_ylabel("equity (quote)")
    drawdown_axes.set_ylabel("drawdown (quote)")
    if not data.products:
        position_axes[0].set_ylabel("position (base)")
    position_axes[-1].set_xlabel(
        f"time since the first event ({unit}, wall clock; restarts dotted)"
        if data.wall_clock
        else f"run time ({unit}; time between incarnations left out, restarts dotted)"
    )
    return figure


def render_png(data: ReportData) -> bytes:
    """The figure as PNG bytes, :func:`png_size` pixels."""
    buffer = io.BytesIO()
    # No "Software" text chunk naming the matplotlib version.
    report_figure(data).savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


# -- the HTML page ------------------------------------------------------------------------------


def _e(value: object) -> str:
    """``value`` as text safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros (``1E+1`` -> ``10``)."""
    text = f"{value.normalize():f}"
    return "0" if text == "-0" else text


def _rounded(value: Decimal, places: int) -> str:
    """``value`` to ``places`` decimals with thousands separators, never ``-0.00``."""
    shown = value.quantize(Decimal(1).scaleb(-places))
    return f"{abs(shown) if shown == 0 else shown:,}"


def _number(value: Decimal, places: int | None = 2) -> str:
    """A numeric cell: rounded to ``places`` (exact when ``None``), exact in ``data-value``."""
    shown = _plain(value) if places is None else _rounded(value, places)
    return f'<td class="num" data-value="{_e(value)}">{_e(shown)}</td>'


def _text(value: object) -> str:
    return f"<td>{_e(value)}</td>"


def _clock(seconds: float) -> str:
    """Run time as ``h:mm:ss.s`` (rounded to the tenth first, so never ``0:00:60.0``)."""
    tenths = round(seconds * 10)
    minutes, tenth = divmod(tenths, 600)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{tenth // 10:02d}.{tenth % 10}"


def _listing(pairs: Sequence[tuple[str, Decimal]]) -> str:
    return ", ".join(f"{product} {_plain(amount)}" for product, amount in pairs) or "-"


def _head(columns: Sequence[str]) -> str:
    return "<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr></thead>"


_STRATEGY_COLUMNS = (
    "strategy",
    "fills",
    "volume (base)",
    "notional",
    "realized (before fees)",
    "fees",
    "unrealized",
    "net PnL",
    "positions",
)


def _strategy_row(row: StrategyPnl) -> str:
    return (
        f'<tr data-strategy="{_e(row.strategy)}">'
        + _text(row.strategy)
        + _text(row.fills)
        + _text(_listing(row.volume))
        + _number(row.notional)
        + _number(row.realized_pnl)
        + _number(row.fees)
        + _number(row.unrealized_pnl)
        + _number(row.net_pnl)
        + _text(_listing(row.positions))
        + "</tr>"
    )


def _strategies_section(data: ReportData) -> str:
    if not data.strategies:
        return '<p class="empty">No strategy traded: there are no fills in this journal.</p>'
    run = data.summary
    total = (
        '<tr data-strategy="">'
        + _text("all strategies (netted)")
        + _text(run.fills)
        + _text(_listing(run.volume))
        + _number(run.notional)
        + _number(run.realized_pnl)
        + _number(run.fees)
        + _number(run.unrealized_pnl)
        + _number(run.net_pnl)
        + _text(_listing(run.positions))
        + "</tr>"
    )
    body = "".join(_strategy_row(row) for row in data.strategies)
    return (
        '<table id="strategies">'
        + _head(_STRATEGY_COLUMNS)
        + f"<tbody>{body}</tbody><tfoot>{total}</tfoot></table>"
        + '<p class="note">Each strategy is accounted on its own (average cost, per '
        "product); the last row is the run's, where fills of different strategies in one "
        "product net, which moves PnL between realized and unrealized but changes neither "
        "the fees nor the net PnL. Unrealized PnL uses the marks of the last PnL snapshot.</p>"
    )


_FILL_COLUMNS = (
    "seq",
    "run time",
    "incarnation",
    "strategy",
    "product",
    "side",
    "price",
    "size",
    "fee",
    "liquidity",
    "realized",
    "strategy position after",
    "trade id",
    "client order id",
)


def _fills_section(data: ReportData) -> str:
    if not data.fills:
        return '<p class="empty">No fills in this journal.</p>'
    rows = "".join(
        f'<tr data-trade-id="{_e(f.trade_id)}">'
        + _text(f.seq)
        + _text(_clock(f.elapsed))
        + _text(f.incarnation)
        + _text(f.strategy)
        + _text(f.product_id)
        + _text(f.side)
        + _number(f.price, None)
        + _number(f.size, None)
        + _number(f.fee, 6)
        + _text(f.liquidity)
        + _number(f.realized_pnl)
        + _number(f.position_after, None)
        + _text(f.trade_id)
        + _text(f.client_order_id)
        + "</tr>"
        for f in data.fills
    )
    return f'<table id="fills">{_head(_FILL_COLUMNS)}<tbody>{rows}</tbody></table>'


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: bold; }
p.empty { font-style: italic; color: #666; }
p.note { font-size: 0.85em; color: #555; }
img { max-width: 100%; height: auto; }
"""


def render_html(data: ReportData, png: bytes) -> str:
    """The report page, with ``png`` (from :func:`render_png`) embedded as a data URI."""
    width, height = png_size(len(data.products))
    source = data.source or "journal"
    if data.events:
        extent = (
            f"{data.events} events (seq {data.first_seq} to {data.last_seq}), "
            f"{data.incarnations} incarnation(s), {len(data.equity)} PnL snapshot(s), "
            f"{len(data.fills)} fill(s)."
        )
    else:
        extent = "The journal is empty: nothing was recorded."
    image = base64.b64encode(png).decode("ascii")
    plot_note = (
        ""
        if data.equity
        else '<p class="empty">No PnL snapshots in this journal: nothing to plot.</p>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>cjt report: {_e(source)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>cjt report</h1>\n<p>Journal <code>{_e(source)}</code>: {_e(extent)}</p>\n"
        "<h2>Equity, drawdown and positions</h2>\n"
        f'{plot_note}<img id="equity" src="data:image/png;base64,{image}" width="{width}" '
        f'height="{height}" alt="equity, drawdown and positions over run time">\n'
        f'<h2>Summary</h2>\n<pre id="summary">{_e(format_summary(data.summary))}</pre>\n'
        f"<h2>PnL by strategy</h2>\n{_strategies_section(data)}\n"
        f"<h2>Fills</h2>\n{_fills_section(data)}\n</body>\n</html>\n"
    )


# -- writing ------------------------------------------------------------------------------------


def _write(path: Path, content: bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(content)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise ReportError(f"{path}: cannot write the report: {error}") from error


def write_report(journal_path: str | Path, out_dir: str | Path | None = None) -> ReportFiles:
    """Read the journal at ``journal_path`` and write ``<stem>-report.png`` and
    ``<stem>-report.html`` into ``out_dir`` (created if needed; the journal's own directory
    by default). Blocking: call it from a thread in an async context.

    Raises:
        ReportError: the journal is missing, unreadable or not a journal, or ``out_dir``
            cannot be created or written; the message names the path.
    """
    journal_path = Path(journal_path)
    data = read_report_data(journal_path)
    directory = journal_path.parent if out_dir is None else Path(out_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{directory}: cannot create the report directory: {error}") from error
    png = render_png(data)
    files = ReportFiles(
        png=directory / f"{journal_path.stem}-report.png",
        html=directory / f"{journal_path.stem}-report.html",
        data=data,
    )
    _write(files.png, png)
    _write(files.html, render_html(data, png).encode("utf-8"))
    return files
