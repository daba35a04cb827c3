"""`cjt run --venue sim` in-process: the live runner against a simulator served on loopback.

Real sockets and real time (a few seconds per run). The subprocess version, killed with
SIGKILL at several points, is tests/e2e/test_cjt_run_kill9.py.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from cjt_actors.config import Config, JournalSection, OpsSection, RunSection, VenueSection
from cjt_actors.journal import AsyncJournal
from cjt_actors.live_run import run_live
from cjt_actors.order_messages import ReconciliationStateChanged, SubmitOrder
from cjt_actors.sim.server import serve_simulator
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig


async def test_a_live_run_trades_stops_cleanly_and_a_second_run_resumes_its_journal(
    tmp_path: Path,
) -> None:
    simulator = Simulator(SimulatorConfig(seed=5, tick=0.1))
    key_file = tmp_path / "key.json"
    simulator.write_key_file(key_file)
    journal_path = tmp_path / "live.sqlite"
    async with serve_simulator(simulator) as served:
        config = Config(
            journal=JournalSection(path=str(journal_path)),
            run=RunSection(status_interval=1.0, seed=6),
            ops=OpsSection(port=0),
            venue=VenueSection(
                kind="sim",
                rest_url=served.rest_url + "/api/v3/brokerage",
                ws_url=served.ws_market_url,
                user_ws_url=served.ws_user_url,
                key_file=str(key_file),
            ),
        )
        outputs = []
        for duration in (4, 3):
            out = io.StringIO()
            code = await run_live(
                config,
                config_source="<test>",
                duration=duration,
                out=out,
                handle_signals=False,
            )
            outputs.append(out.getvalue())
            assert code == 0, out.getvalue()
        open_at_sim = [
            o
            for o in simulator.engine.list_orders(DEFAULT_USER)
            if o.status.value in ("OPEN", "PENDING")
        ]
    first, second = outputs
    assert "cjt run: venue sim, config <test>, seed 6" in first
    assert re.search(r"^venue: http://127\.0\.0\.1:\d+ \(key <Credentials ES256", first, re.M)
    assert f"journal: {journal_path}\n" in first
    assert "resuming after" in second
    assert re.search(r"^ops: http://127\.0\.0\.1:\d+ \(/metrics", first, re.M), first
    assert re.search(r"^t=[123]s \| BTC-USD \S+/\S+ ok", first, re.M), first
    assert "== summary ==" in second
    assert open_at_sim == []  # both stops cancelled everything at the venue
    namespaces = re.findall(r"order ids (live-6-[0-9a-f]{8})", "".join(outputs))
    assert len(set(namespaces)) == 2  # a fresh client_order_id namespace per process
    # The second run trades again after a clean stop (SHUTDOWN is not carried over).
    async with await AsyncJournal.open(journal_path) as journal:
        entries = [m for _, _, m in await journal.read()]
    intents = [m for m in entries if isinstance(m, SubmitOrder)]
    starts = [
        m
        for m in entries
        if isinstance(m, ReconciliationStateChanged)
        and m.reconciling
        and m.trigger == "executor start-up"
    ]
    assert len(starts) == 2  # each run reconciled at start-up
    assert any(i.at < starts[1].at for i in intents)
    assert any(i.at > starts[1].at for i in intents), "the second run did not trade"
    # Every client_order_id reached the simulator at most once as an order.
    for intent in intents:
        placed = [
            o
            for o in simulator.engine.list_orders(DEFAULT_USER)
            if o.client_order_id == intent.client_order_id
        ]
        assert len(placed) <= 1, intent.client_order_id


async def test_an_ops_port_in_use_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    import gc
    import socket
    import warnings

    import pytest

    from cjt_actors.errors import InvalidSpec

    simulator = Simulator(SimulatorConfig(seed=5, tick=0.1))
    key_file = tmp_path / "key.json"
    simulator.write_key_file(key_file)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with serve_simulator(simulator) as served:
            config = Config(
                journal=JournalSection(path=str(tmp_path / "j.sqlite")),
                ops=OpsSection(port=port),
                venue=VenueSection(
                    kind="sim",
                    rest_url=served.rest_url,
                    ws_url=served.ws_market_url,
                    user_ws_url=served.ws_user_url,
                    key_file=str(key_file),
                ),
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                with pytest.raises(InvalidSpec, match=f"ops: cannot listen on 127.0.0.1:{port}"):
                    await run_live(
                        config,
                        config_source="<test>",
                        duration=5,
                        out=io.StringIO(),
                        handle_signals=False,
                    )
                gc.collect()  # a socket left to the collector would warn now
    assert [w.message for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert [o for o in simulator.engine.list_orders(DEFAULT_USER)] == []  # nothing traded
