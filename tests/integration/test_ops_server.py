"""The ops endpoint served by Hypercorn over loopback, in front of a real paper pipeline.

The pipeline trades the in-memory simulator (no sockets for market data or orders) in real
time, since the endpoint itself is a real socket; the test scrapes and steers it over HTTP
as an operator would. Waits are bounded and on conditions, never fixed sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from cjt_actors.exchange.rest import RestClient
from cjt_actors.journal import AsyncJournal
from cjt_actors.messages import StopReason
from cjt_actors.ops import PipelineOpsSource, serve_ops
from cjt_actors.pipeline import Pipeline, PipelineSettings, StrategySpec
from cjt_actors.products import ProductRules
from cjt_actors.sim.inmemory import InMemoryExchange
from cjt_actors.sim.simulator import Simulator, SimulatorConfig
from cjt_actors.status import StatusBoard
from cjt_actors.strategies.market_maker import MarketMaker, MarketMakerParams

from .conftest import POLL

PRODUCTS = ("BTC-USD", "ETH-USD")
TOKEN = "integration-test-ops-token-0123"
#: Bound on waiting for the pipeline to do something (a shared 2-core machine is slow).
PATIENCE = 30.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def eventually(
    probe: Callable[[], Awaitable[bool]], what: str, *, timeout: float = PATIENCE
) -> None:
    """Return once ``probe()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    with trio.move_on_after(timeout):
        while not await probe():
            await trio.sleep(POLL * 10)
        return
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@attrs.define
class Ops:
    """An HTTP client of the ops endpoint, and the pipeline behind it."""

    http: httpx.AsyncClient
    pipeline: Pipeline
    sim: Simulator

    async def scrape(self) -> Samples:
        response = await self.http.get("/metrics")
        assert response.status_code == 200, response.text
        samples: Samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    async def status(self) -> Any:
        response = await self.http.get("/status")
        assert response.status_code == 200, response.text
        return response.json()


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def _market_maker() -> MarketMaker:
    return MarketMaker(MarketMakerParams(half_spread_bps=Decimal(1)))


@asynccontextmanager
async def running_pipeline(
    tmp_path: Path, *, token: str | None, stale_after: float = 10.0
) -> AsyncIterator[Ops]:
    sim = Simulator(SimulatorConfig(seed=11, tick=0.1, auth="none"))
    exchange = InMemoryExchange(sim)
    async with (
        await AsyncJournal.open(tmp_path / "journal.sqlite") as journal,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(sim.run_background)
        async with RestClient(
            exchange.rest_url, credentials=None, transport=exchange.http_transport()
        ) as rest:
            rules = {p: ProductRules.from_product(await rest.get_product(p)) for p in PRODUCTS}
        settings = PipelineSettings(
            products=rules,
            market_url=exchange.ws_market_url,
            connector=exchange.connect,
            strategies=(StrategySpec(name="mm", factory=_market_maker),),
            namespace="ops",
            seed=11,
            stale_after=stale_after,
        )
        pipeline = Pipeline(settings, journal, board=StatusBoard(), handle_signals=False)
        async with serve_ops(PipelineOpsSource(pipeline), token=token) as url:
            assert url.startswith("http://127.0.0.1:")
            headers = {} if token is None else {"authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
                done = trio.Event()

                async def run() -> None:
                    await pipeline.run()
                    done.set()

                nursery.start_soon(run)
                try:
                    yield Ops(http=http, pipeline=pipeline, sim=sim)
                finally:
                    pipeline.root.trigger(StopReason.OPERATOR, "the test is over")
                    with trio.fail_after(PATIENCE):
                        await done.wait()
        nursery.cancel_scope.cancel()


async def test_metrics_readiness_and_control_of_a_running_paper_pipeline(
    tmp_path: Path,
) -> None:
    async with running_pipeline(tmp_path, token=None) as ops:

        async def ready() -> bool:
            return (await ops.http.get("/readyz")).status_code == 200

        await eventually(ready, "/readyz to say ready")
        assert (await ops.http.get("/healthz")).text == "ok\n"

        # -- the counters move between two scrapes -----------------------------------------
        first = await ops.scrape()

        async def traded() -> bool:
            latest = await ops.scrape()
            return value(latest, "cjt_orders_submitted_total") > value(
                first, "cjt_orders_submitted_total"
            ) and value(latest, "cjt_journal_events_total") > value(
                first, "cjt_journal_events_total"
            )

        await eventually(traded, "orders to be submitted after the first scrape")
        second = await ops.scrape()
        assert value(second, "cjt_feed_frames_total") > value(first, "cjt_feed_frames_total")
        assert total(second, "cjt_mailbox_messages_total") > total(
            first, "cjt_mailbox_messages_total"
        )
        feed_to_book = {"mailbox": "feed->book", "kind": "queue", "actor": "book"}
        assert value(second, "cjt_mailbox_messages_total", **feed_to_book) > value(
            first, "cjt_mailbox_messages_total", **feed_to_book
        )
        assert value(second, "cjt_ready") == 1
        assert value(second, "cjt_trading_state", state="ACTIVE") == 1
        assert value(second, "cjt_feed_state", state="connected") == 1
        assert value(second, "cjt_book_trusted", product="BTC-USD") == 1
        assert value(second, "cjt_actor_state", actor="strategy:mm", state="running") == 1
        submit = {"venue": "paper", "request": "submit"}
        assert value(second, "cjt_venue_request_seconds_count", **submit) > 0
        assert (
            value(second, "cjt_orders", state="OPEN")
            + value(second, "cjt_orders", state="CANCELLED")
            > 0
        )

        # -- an operator's halt stops new orders ---------------------------------------------
        response = await ops.http.post("/halt", json={"detail": "integration test"})
        assert response.status_code == 202
        assert response.json() == {"sent": "HaltTrading", "detail": "integration test"}

        async def halted() -> bool:
            state: str = (await ops.status())["trading"]["state"]
            return state == "HALTED"

        await eventually(halted, "risk to enter HALTED")
        readyz = await ops.http.get("/readyz")
        assert readyz.status_code == 503
        assert [c["name"] for c in readyz.json()["failed"]] == ["trading"]
        assert "operator: integration test" in readyz.json()["failed"][0]["detail"]

        at_halt = await ops.scrape()

        async def refused() -> bool:
            latest = await ops.scrape()
            return value(latest, "cjt_risk_denials_total", reason="TRADING_HALTED") > value(
                at_halt, "cjt_risk_denials_total", reason="TRADING_HALTED"
            )

        await eventually(refused, "the strategy's submits to be denied TRADING_HALTED")
        after = await ops.scrape()
        assert value(after, "cjt_risk_approved_orders_total") == value(
            at_halt, "cjt_risk_approved_orders_total"
        )
        assert value(after, "cjt_trading_state", state="HALTED") == 1
        assert value(after, "cjt_ready") == 0

        # -- and a resume restores trading ------------------------------------------------------
        response = await ops.http.post("/resume", json={"detail": "back to work"})
        assert response.status_code == 202

        async def approving() -> bool:
            latest = await ops.scrape()
            return value(latest, "cjt_trading_state", state="ACTIVE") == 1 and value(
                latest, "cjt_risk_approved_orders_total"
            ) > value(after, "cjt_risk_approved_orders_total")

        await eventually(approving, "risk to approve orders again after the resume")
        await eventually(ready, "/readyz to be ready again")
        status = await ops.status()
        assert status["trading"]["reason"] == "RESUMED"
        assert status["feed"]["state"] == "connected"
        assert {b["product"] for b in status["books"]} == set(PRODUCTS)
        assert {a["name"] for a in status["actors"]} >= {"executor", "risk", "store"}


async def test_a_stalled_feed_makes_it_unready_until_the_feed_recovers(tmp_path: Path) -> None:
    async with running_pipeline(tmp_path, token=None, stale_after=1.0) as ops:

        async def ready() -> bool:
            return (await ops.http.get("/readyz")).status_code == 200

        failures: list[set[str]] = []

        async def unready() -> bool:
            readyz = await ops.http.get("/readyz")
            failures.append({c["name"] for c in readyz.json()["failed"]})
            return readyz.status_code == 503

        await eventually(ready, "/readyz to say ready")
        ops.sim.faults.stall_connections()  # open, but silent
        await eventually(unready, "/readyz to notice the stalled feed")
        assert failures[-1] & {"feed", "book:BTC-USD", "book:ETH-USD"}, failures[-1]
        # The feed replaces the silent connection; the new one gets fresh snapshots.
        await eventually(ready, "/readyz to be ready after the feed reconnected")
        samples = await ops.scrape()
        assert value(samples, "cjt_feed_reconnects_total") >= 1


async def test_an_oversized_chunked_control_body_is_refused_while_read(tmp_path: Path) -> None:
    """No Content-Length to refuse it by: the body is read up to the limit, then refused."""
    async with running_pipeline(tmp_path, token=None) as ops:

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 1024

        response = await ops.http.post("/halt", content=chunks())
        assert response.status_code == 413
        status = await ops.status()
        assert status["trading"] is None or status["trading"]["state"] != "HALTED"


async def test_a_stopped_pipeline_is_not_ready(tmp_path: Path) -> None:
    async with running_pipeline(tmp_path, token=None) as ops:

        async def stopped() -> bool:
            readyz = await ops.http.get("/readyz")
            names = {c["name"] for c in readyz.json()["failed"]}
            return readyz.status_code == 503 and "actor:feed" in names

        async def ready() -> bool:
            return (await ops.http.get("/readyz")).status_code == 200

        await eventually(ready, "/readyz to say ready")
        ops.pipeline.root.trigger(StopReason.OPERATOR, "stopping early")
        await eventually(stopped, "/readyz to report the stopped actors")
        assert (await ops.http.get("/healthz")).status_code == 200  # still alive


@pytest.mark.parametrize("path", ["/metrics", "/status", "/readyz"])
async def test_over_loopback_with_a_token(tmp_path: Path, path: str) -> None:
    async with running_pipeline(tmp_path, token=TOKEN) as ops:
        assert (await ops.http.get(path)).status_code in (200, 503)  # the client sends it
        anonymous = await ops.http.get(path, headers={"authorization": ""})
        assert anonymous.status_code == 401
        assert TOKEN not in anonymous.text
        assert (await ops.http.get("/healthz", headers={"authorization": ""})).status_code == 200
