"""The whole trading tree on the live path: CoinbaseVenue against the simulator's engine.

The same pipeline as paper trading, but orders go to the simulator's matching engine over
its REST API and come back over its user channel and fill polling, as they would on Coinbase.
Checked against the simulator's own records: each client_order_id reached it once, every fill
it made for us is journaled exactly once, and the emergency leaves no order open there.
No sockets (ASGI transport, in-memory WebSockets), virtual time.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import trio
import trio.testing

from cjt_actors.coinbase_venue import CoinbaseVenue
from cjt_actors.config import Config, load_strategies
from cjt_actors.emergency import ExitCode, RootOutcome
from cjt_actors.exchange.rest import RestClient
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.journal import AsyncJournal, Entry
from cjt_actors.order_messages import (
    EmergencyCancelFinished,
    OpenOrdersLeft,
    OrderFilled,
    ReconciliationStateChanged,
    SubmitOrder,
)
from cjt_actors.pipeline import Pipeline, PipelineSettings
from cjt_actors.products import ProductRules
from cjt_actors.sim.inmemory import InMemoryExchange
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig
from cjt_actors.status import StatusBoard
from cjt_actors.summary import summarize

EPOCH = 1_767_225_600.0


async def _run_live(
    tmp_path: Path,
    sim: Simulator,
    *,
    seed: int,
    duration: float,
    user_channel: bool,
    cancel_on_stop: bool = True,
    during: Callable[[], Awaitable[None]] | None = None,
) -> tuple[RootOutcome, list[Entry]]:
    """The market maker's whole tree on ``CoinbaseVenue`` against ``sim`` in memory, for
    ``duration`` virtual seconds (``during`` runs beside it); its outcome and journal."""
    credentials, _ = sim.generate_key()
    exchange = InMemoryExchange(sim)
    async with trio.open_nursery() as background:
        await background.start(sim.run_background)
        rest = RestClient(
            exchange.rest_url,
            credentials=credentials,
            transport=exchange.http_transport(),
            now=sim.epoch,
            rng=random.Random(seed),
        )
        async with rest, await AsyncJournal.open(tmp_path / "j.sqlite", inline=True) as journal:
            rules = {p: ProductRules.from_product(await rest.get_product(p)) for p in ("BTC-USD",)}
            channel = (
                WebSocketClient(
                    channels={"user": []},
                    url=exchange.ws_user_url,
                    credentials=credentials,
                    connect=exchange.connect,
                    now=sim.epoch,
                    rng=random.Random(seed),
                )
                if user_channel
                else None
            )
            venue = CoinbaseVenue(rest, user_channel=channel, trust_after=2.0)
            settings = PipelineSettings(
                products=rules,
                market_url=exchange.ws_market_url,
                connector=exchange.connect,
                strategies=load_strategies(Config(), source="test"),
                namespace=f"live-test-{seed}",
                seed=seed,
                cancel_on_stop=cancel_on_stop,
            )
            pipeline = Pipeline(
                settings, journal, board=StatusBoard(), handle_signals=False, venue=venue
            )
            if during is not None:
                background.start_soon(during)
            outcome = await pipeline.run(duration=duration)
            entries = await journal.read()
        background.cancel_scope.cancel()
    return outcome, entries


async def test_live_path_against_the_simulator_loses_and_duplicates_nothing(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    sim = Simulator(SimulatorConfig(seed=8, start_epoch=EPOCH, tick=0.25))

    async def disturb_the_user_channel() -> None:
        await trio.sleep(40)
        sim.faults.skip_sequence(2, endpoint="user")
        await trio.sleep(30)
        sim.faults.drop_connections(endpoint="user")

    outcome, entries = await _run_live(
        tmp_path, sim, seed=8, duration=120, user_channel=True, during=disturb_the_user_channel
    )
    assert outcome.exit_code == ExitCode.OK
    messages = [m for _, _, m in entries]
    intents = [m for m in messages if isinstance(m, SubmitOrder)]
    assert intents, "the market maker placed no order"
    # Each intent reached the simulator at most once (never a duplicate order).
    for intent in intents:
        assert sim.create_requests[intent.client_order_id] <= 1, intent.client_order_id
        placed = [
            o
            for o in sim.engine.list_orders(DEFAULT_USER)
            if o.client_order_id == intent.client_order_id
        ]
        assert len(placed) <= 1
    # Every fill the simulator made for us is journaled exactly once, and nothing else is.
    journaled = [m for m in messages if isinstance(m, OrderFilled)]
    truth = {f.trade_id for f in sim.engine.fills(DEFAULT_USER)}
    assert truth, "two minutes of market making on the simulator's engine saw no fill"
    assert sorted(f.trade_id for f in journaled) == sorted(truth)
    # The emergency left nothing open at the venue.
    open_at_sim = [
        o for o in sim.engine.list_orders(DEFAULT_USER) if o.status.value in ("OPEN", "PENDING")
    ]
    assert open_at_sim == []
    [finished] = [m for m in messages if isinstance(m, EmergencyCancelFinished)]
    assert finished.remaining == 0
    # Reconciliation: at start-up, after the sequence gap, after the drop (and its
    # reconnect); risk denied new orders while each ran, and trading went on after them.
    changes = [m for m in messages if isinstance(m, ReconciliationStateChanged)]
    assert [c.reconciling for c in changes] == [True, False] * (len(changes) // 2)
    triggers = [c.trigger for c in changes if c.reconciling]
    assert triggers[0] == "executor start-up"
    assert "user channel: sequence gap" in triggers
    assert any("disconnected" in t or "reconnected" in t for t in triggers), triggers
    last_reconciled = changes[-1].at
    assert any(i.at > last_reconciled for i in intents), "no order after the last reconciliation"
    # Positions from the journal equal the simulator's view of our fills.
    summary = summarize(entries)
    signed = sum(
        (f.size if f.side.value == "BUY" else -f.size) for f in sim.engine.fills(DEFAULT_USER)
    )
    assert dict(summary.positions).get("BTC-USD", Decimal(0)) == signed


async def test_a_requested_stop_with_on_stop_leave_leaves_the_orders_and_says_which(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    sim = Simulator(SimulatorConfig(seed=9, start_epoch=EPOCH, tick=0.25))
    outcome, journaled = await _run_live(
        tmp_path, sim, seed=9, duration=8, user_channel=False, cancel_on_stop=False
    )
    entries = [m for _, _, m in journaled]
    assert outcome.exit_code == ExitCode.OK
    assert not [m for m in entries if isinstance(m, EmergencyCancelFinished)]
    [left] = [m for m in entries if isinstance(m, OpenOrdersLeft)]
    open_at_sim = sorted(
        o.client_order_id
        for o in sim.engine.list_orders(DEFAULT_USER)
        if o.status.value in ("OPEN", "PENDING")
    )
    assert open_at_sim, "the market maker had no quote working at the stop"
    assert list(left.client_order_ids) == open_at_sim
    assert summarize((0, 0.0, m) for m in entries).emergency_cancel.startswith(
        f"left {len(open_at_sim)} order(s) open on purpose"
    )
