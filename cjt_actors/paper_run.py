"""``cjt paper``: paper trading with one command, no keys, no internet.

What a run does, in order (each step prints one line, so a new user sees where things are):

1. load the config (defaults when no file; a bad file exits 2 naming the key);
2. start the loopback simulator in-process (``market.source = "simulator"``) or point at the
   real public Coinbase feed (``"coinbase"``);
3. read the products' increments and size limits from the venue's REST API;
4. open a fresh SQLite journal (its path is printed);
5. run the trading tree under the root until Ctrl-C, SIGTERM, ``--duration`` or an emergency,
   printing a status line every ``run.status_interval`` seconds;
6. the root's cleanup cancels every open paper order and verifies none remain;
7. print the summary, computed from the journal; exit with the root's exit code.

Ctrl-C is the normal way to stop: the root turns it into the emergency protocol (halt, cancel
the tree, cancel open orders), then the summary still prints. A second Ctrl-C exits at once.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import AsyncIterator
from typing import TextIO

import attrs

from . import session
from .config import Config, load_strategies
from .exchange.rest import RestClient
from .journal import AsyncJournal
from .pipeline import Pipeline
from .products import ProductRules
from .session import describe_product, pipeline_settings, run_with_display
from .sim.server import serve_simulator
from .sim.simulator import Simulator, SimulatorConfig
from .status import StatusBoard
from .summary import format_summary, summarize

__all__ = [
    "COINBASE_MARKET_URL",
    "COINBASE_REST_URL",
    "Venue",
    "fetch_product_rules",
    "run_paper",
]

COINBASE_MARKET_URL = "wss://advanced-trade-ws.coinbase.com"
COINBASE_REST_URL = "https://api.coinbase.com"


@attrs.frozen(kw_only=True)
class Venue:
    """Where market data and product rules come from for this run."""

    market_url: str
    rest_url: str
    description: str


@contextlib.asynccontextmanager
async def _market_source(config: Config) -> AsyncIterator[Venue]:
    market = config.market
    if market.source == "coinbase":
        yield Venue(
            market_url=market.url or COINBASE_MARKET_URL,
            rest_url=market.rest_url or COINBASE_REST_URL,
            description="the real Coinbase public feed",
        )
        return
    simulator = Simulator(
        SimulatorConfig(seed=config.simulator.seed, tick=config.simulator.tick, auth="none")
    )
    async with serve_simulator(simulator) as endpoints:
        yield Venue(
            market_url=market.url or endpoints.ws_market_url,
            rest_url=market.rest_url or endpoints.rest_url,
            description=f"the embedded simulator at {endpoints.rest_url} (seed {config.simulator.seed})",
        )


async def fetch_product_rules(rest_url: str, products: tuple[str, ...]) -> dict[str, ProductRules]:
    """Each product's increments and limits from the venue's public product endpoint."""
    async with RestClient(rest_url, credentials=None) as client:
        return {
            product_id: ProductRules.from_product(await client.get_product(product_id))
            for product_id in products
        }


async def run_paper(
    config: Config,
    *,
    config_source: str,
    duration: float | None = None,
    out: TextIO | None = None,
    handle_signals: bool = True,
) -> int:
    """Run one paper-trading session; return the process exit code."""
    strategies = load_strategies(config, source=config_source)
    seed = (
        config.run.seed if config.run.seed is not None else random.SystemRandom().randrange(2**32)
    )
    journal_path = session.journal_path(config, kind="paper")
    journal_path.parent.mkdir(parents=True, exist_ok=True)

    stream = sys.stdout if out is None else out

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    say(f"cjt paper: config {config_source}, seed {seed}")
    async with _market_source(config) as venue:
        say(f"market data: {venue.description}")
        rules = await fetch_product_rules(venue.rest_url, config.market.products)
        say("products: " + ", ".join(describe_product(r) for r in rules.values()))
        async with await AsyncJournal.open(journal_path) as journal:
            say(f"journal: {journal_path}")
            board = StatusBoard()
            settings = pipeline_settings(
                config,
                products=rules,
                market_url=venue.market_url,
                strategies=strategies,
                namespace=f"paper-{seed}",
                seed=seed,
            )
            pipeline = Pipeline(settings, journal, board=board, handle_signals=handle_signals)
            names = ", ".join(f"{s.name}" for s in strategies)
            say(f"trading: strategies {names}; Ctrl-C stops (open orders are cancelled)")
            outcome = await run_with_display(
                pipeline,
                products=tuple(rules),
                status_interval=config.run.status_interval,
                say=say,
                live_view=out is None and sys.stdout.isatty(),
                duration=duration,
            )
            summary = summarize(await journal.read())
            say(format_summary(summary))
            say(f"journal: {journal_path}")
    return int(outcome.exit_code)
