"""The whole trading tree against the simulator: paper trading, crash loops, kill switch.

Most runs here use the simulator without sockets (httpx's ASGI transport, WebSockets over
memory streams) under trio's MockClock, so a minute of trading takes a fraction of a second
and every run is the same. One run goes over real loopback sockets in real time, as
``cjt paper`` does.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from cjt_actors.actors.risk import RiskStatus
from cjt_actors.cli import main
from cjt_actors.config import (
    Config,
    JournalSection,
    RunSection,
    SimulatorSection,
    load_strategies,
)
from cjt_actors.determinism import deterministic_scheduling
from cjt_actors.emergency import ExitCode
from cjt_actors.exchange.rest import RestClient
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import OrderState
from cjt_actors.messages import ChildCrashed, EmergencyTriggered, StopReason
from cjt_actors.order_messages import (
    EmergencyCancelFinished,
    KillSwitchTripped,
    OrderFilled,
    OrderUpdated,
)
from cjt_actors.orderbook import BookView
from cjt_actors.paper_run import run_paper
from cjt_actors.pipeline import Pipeline, PipelineSettings, StrategySpec
from cjt_actors.products import ProductRules
from cjt_actors.risk_rules import RiskLimits
from cjt_actors.sim.inmemory import InMemoryExchange
from cjt_actors.sim.server import serve_simulator
from cjt_actors.sim.simulator import Simulator, SimulatorConfig
from cjt_actors.status import StatusBoard
from cjt_actors.strategies.base import StrategyContext
from cjt_actors.strategies.market_maker import MarketMaker, MarketMakerParams
from cjt_actors.summary import summarize

EPOCH = 1_767_225_600.0
PRODUCTS = ("BTC-USD", "ETH-USD")


async def _rules(rest_url: str, **client: object) -> dict[str, ProductRules]:
    async with RestClient(rest_url, credentials=None, **client) as rest:  # type: ignore[arg-type]
        return {p: ProductRules.from_product(await rest.get_product(p)) for p in PRODUCTS}


def _market_maker() -> tuple[StrategySpec, ...]:
    return load_strategies(Config(), source="test")


async def _run_in_memory(
    tmp_path: Path,
    strategies: Iterable[StrategySpec],
    *,
    duration: float,
    risk: RiskLimits | None = None,
    seed: int = 3,
) -> tuple[Pipeline, int, AsyncJournal]:
    sim = Simulator(SimulatorConfig(seed=seed, start_epoch=EPOCH, tick=0.25, auth="none"))
    exchange = InMemoryExchange(sim)
    journal = await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run_background)
        rules = await _rules(exchange.rest_url, transport=exchange.http_transport(), now=sim.epoch)
        settings = PipelineSettings(
            products=rules,
            market_url=exchange.ws_market_url,
            connector=exchange.connect,
            strategies=tuple(strategies),
            namespace="test",
            risk=risk if risk is not None else RiskLimits(),
            seed=seed,
        )
        pipeline = Pipeline(settings, journal, board=StatusBoard(), handle_signals=False)
        outcome = await pipeline.run(duration=duration)
        nursery.cancel_scope.cancel()
    return pipeline, int(outcome.exit_code), journal


async def test_paper_trading_places_fills_and_accounts_consistently(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    pipeline, exit_code, journal = await _run_in_memory(tmp_path, _market_maker(), duration=60)
    try:
        entries = await journal.read()
        summary = summarize(entries)
        assert exit_code == ExitCode.OK
        assert summary.orders > 0
        assert summary.fills > 0, "a minute of market making on the simulator saw no fill"
        fills = [m for _, _, m in entries if isinstance(m, OrderFilled)]
        assert len({f.trade_id for f in fills}) == len(fills)  # each fill journaled once
        for fill in fills:
            assert await journal.has_fill(fill.trade_id)
        # Risk's positions (built from the events it received) equal the journal's fills.
        risk = pipeline.board.get("risk", RiskStatus)
        assert risk is not None
        held = {p.product_id: p.quantity for p in risk.positions if p.quantity}
        assert held == {p: q for p, q in summary.positions if q}
        # The run ended through the emergency protocol: every paper order cancelled.
        assert await pipeline.venue.open_orders() == ()
        [finished] = [m for _, _, m in entries if isinstance(m, EmergencyCancelFinished)]
        assert finished.remaining == 0
        assert summary.exit_code == ExitCode.OK
        rows = await journal.orders()
        assert all(row["state"] not in ("OPEN", "PARTIALLY_FILLED") for row in rows.values())
        assert summary.stop_reason.startswith(StopReason.OPERATOR.value)
    finally:
        await journal.aclose()


class ExplodingMarketMaker(MarketMaker):
    """Quotes like the market maker, then raises on its fourth book view: a strategy bug."""

    def __init__(self) -> None:
        super().__init__(MarketMakerParams(half_spread_bps=Decimal(1)))
        self.views = 0

    def on_book(self, view: BookView, ctx: StrategyContext):  # type: ignore[no-untyped-def]
        self.views += 1
        if self.views > 3:
            raise RuntimeError("strategy bug: division by zero in the skew")
        return super().on_book(view, ctx)


async def test_a_crash_looping_strategy_escalates_and_every_order_is_cancelled(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    strategies = (StrategySpec(name="boom", factory=ExplodingMarketMaker),)
    pipeline, exit_code, journal = await _run_in_memory(tmp_path, strategies, duration=300)
    try:
        entries = [m for _, _, m in await journal.read()]
        crashes = [m for m in entries if isinstance(m, ChildCrashed)]
        assert exit_code == ExitCode.EMERGENCY
        assert len(crashes) == 6  # 5 restarts allowed in 60 s; the 6th crash escalates
        assert {c.child for c in crashes} == {"strategy:boom"}
        assert "division by zero" in crashes[0].error
        summary = summarize((0, 0.0, m) for m in entries)
        assert summary.stop_reason.startswith(StopReason.SUPERVISOR_GAVE_UP.value)
        assert summary.restarts == 5
        assert summary.orders > 0
        assert await pipeline.venue.open_orders() == ()
        [finished] = [m for m in entries if isinstance(m, EmergencyCancelFinished)]
        assert finished.remaining == 0
        # Risk was already stopped by its supervisor; the halt is the root's record.
        [triggered] = [m for m in entries if isinstance(m, EmergencyTriggered)]
        assert triggered.reason is StopReason.SUPERVISOR_GAVE_UP
        assert pipeline.latch.reason is StopReason.SUPERVISOR_GAVE_UP
    finally:
        await journal.aclose()


async def test_the_daily_loss_limit_trips_the_kill_switch(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    limits = RiskLimits(daily_loss_limit=Decimal("0.5"))  # the first fills' fees exceed it
    pipeline, exit_code, journal = await _run_in_memory(
        tmp_path, _market_maker(), duration=600, risk=limits
    )
    try:
        entries = [m for _, _, m in await journal.read()]
        assert exit_code == ExitCode.EMERGENCY
        [tripped] = [m for m in entries if isinstance(m, KillSwitchTripped)]
        assert "loss" in tripped.limit.lower() or "loss" in tripped.detail.lower()
        summary = summarize((0, 0.0, m) for m in entries)
        assert summary.stop_reason.startswith(StopReason.KILL_SWITCH.value)
        assert summary.net_pnl <= Decimal("-0.5")
        assert await pipeline.venue.open_orders() == ()
        states = [m.state for m in entries if isinstance(m, OrderUpdated)]
        assert OrderState.FILLED in states
    finally:
        await journal.aclose()


async def test_paper_trading_over_loopback_sockets(tmp_path: Path) -> None:
    """As ``cjt paper`` runs: the simulator served by hypercorn, real time, ten seconds."""
    sim = Simulator(SimulatorConfig(seed=5, tick=0.1, auth="none"))
    async with (
        serve_simulator(sim) as endpoints,
        await AsyncJournal.open(tmp_path / "journal.sqlite") as journal,
    ):
        rules = await _rules(endpoints.rest_url)
        settings = PipelineSettings(
            products=rules,
            market_url=endpoints.ws_market_url,
            strategies=_market_maker(),
            namespace="loopback",
            seed=5,
        )
        pipeline = Pipeline(settings, journal, board=StatusBoard(), handle_signals=False)
        outcome = await pipeline.run(duration=10)
        summary = summarize(await journal.read())
    assert outcome.exit_code == ExitCode.OK
    assert summary.orders > 0
    assert summary.fills > 0  # about one a second on this market (docs/paper.md)
    risk = pipeline.board.get("risk", RiskStatus)
    assert risk is not None
    held = {p.product_id: p.quantity for p in risk.positions if p.quantity}
    assert held == {p: q for p, q in summary.positions if q}
    assert "0 remaining" in summary.emergency_cancel
    # Every order the market maker made on a book view measured its tick-to-trade.
    measured = pipeline.core.tick_to_trade.snapshot()
    assert 0 < measured.count <= summary.orders
    assert measured.total / measured.count < 1.0  # seconds: a loopback run, not a stall


async def test_run_paper_prints_where_things_are_status_lines_and_the_summary(
    tmp_path: Path,
) -> None:
    """The `cjt paper` runner in-process (real time, loopback sockets, a few seconds)."""
    config = Config(
        simulator=SimulatorSection(tick=0.1),
        journal=JournalSection(path=str(tmp_path / "runs" / "j.sqlite")),
        run=RunSection(status_interval=1.0, seed=4),
    )
    out = io.StringIO()
    code = await run_paper(
        config, config_source="<test>", duration=3, out=out, handle_signals=False
    )
    text = out.getvalue()
    assert code == 0, text
    assert "cjt paper: config <test>, seed 4" in text
    assert "market data: the embedded simulator at http://127.0.0.1:" in text
    assert "products: BTC-USD (tick 0.01, lot 0.00000001), ETH-USD" in text
    assert f"journal: {tmp_path / 'runs' / 'j.sqlite'}" in text
    assert re.search(r"^t=[12]s \| BTC-USD ", text, re.MULTILINE), text
    assert "== summary ==" in text
    assert "stopped:     operator: the run's duration (3 s) is over (exit code 0)" in text


def test_cjt_paper_command_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cjt paper` through the CLI entry point: options override the config; bad input is 2."""
    journal = tmp_path / "cli.sqlite"
    code = main(
        [
            "paper",
            "--duration",
            "2",
            "--seed",
            "9",
            "--journal",
            str(journal),
            "--market",
            "simulator",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "seed 9" in out
    assert journal.exists()
    with pytest.raises(SystemExit) as caught:
        main(["paper", "--duration", "0"])
    assert caught.value.code == 2
    assert "--duration: must be > 0 seconds, got 0" in capsys.readouterr().err


def test_the_same_seed_gives_the_same_journal(tmp_path: Path) -> None:
    """A whole paper run in virtual time is reproducible: the journal digests are equal."""

    async def run(directory: Path) -> tuple[int, str]:
        _, code, journal = await _run_in_memory(directory, _market_maker(), duration=30)
        try:
            return code, await journal.digest()
        finally:
            await journal.aclose()

    results = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        with deterministic_scheduling(1):
            clock = trio.testing.MockClock(autojump_threshold=0)
            results.append(trio.run(run, tmp_path / name, clock=clock))
    assert results[0] == results[1]
    assert results[0][0] == ExitCode.OK
