"""What a paper run and a live run share: settings from the config, the journal's path, the
status display.

Why a module of its own: ``cjt paper`` and ``cjt run`` differ only in where orders go (the
paper venue or a real one) and where the market comes from; everything a user configures
about strategies, risk, supervision and the market must mean the same in both, so it is
turned into :class:`~cjt_actors.pipeline.PipelineSettings` in one place.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from pathlib import Path

import trio

from .config import Config
from .emergency import RootOutcome
from .pipeline import Pipeline, PipelineSettings, StrategySpec
from .policy import Backoff, Intensity
from .products import ProductRules
from .status_line import status_line

__all__ = [
    "describe_product",
    "journal_path",
    "pipeline_settings",
    "print_status",
    "run_with_display",
    "show_live",
]


def pipeline_settings(
    config: Config,
    *,
    products: Mapping[str, ProductRules],
    market_url: str,
    strategies: tuple[StrategySpec, ...],
    namespace: str,
    seed: int,
) -> PipelineSettings:
    """The pipeline settings a config asks for (URLs and products resolved by the caller)."""
    return PipelineSettings(
        products=products,
        market_url=market_url,
        strategies=strategies,
        namespace=namespace,
        risk=config.risk,
        paper=config.paper,
        intensity=Intensity(
            max_restarts=config.supervision.max_restarts, period=config.supervision.period
        ),
        backoff=Backoff(min=config.supervision.backoff_min, max=config.supervision.backoff_max),
        book_depth=config.market.book_depth,
        bar_intervals=config.market.bar_intervals,
        max_book_age=config.market.max_book_age,
        stale_after=config.market.stale_after,
        emergency_timeout=config.run.emergency_timeout,
        seed=seed,
        cancel_on_stop=config.shutdown.on_stop == "cancel",
    )


def journal_path(config: Config, *, kind: str) -> Path:
    """The configured journal path, or ``runs/<kind>-<UTC timestamp>.sqlite``."""
    if config.journal.path is not None:
        return Path(config.journal.path)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{kind}-{stamp}.sqlite"


def describe_product(rules: ProductRules) -> str:
    """``BTC-USD (tick 0.01, lot 0.00000001)``: one product as a start-up line shows it."""
    tick = rules.price_increment.normalize()
    lot = rules.base_increment.normalize()
    return f"{rules.product_id} (tick {tick:f}, lot {lot:f})"


async def run_with_display(
    pipeline: Pipeline,
    *,
    products: tuple[str, ...],
    status_interval: float,
    say: Callable[[str], None],
    live_view: bool,
    duration: float | None,
) -> RootOutcome:
    """Run the pipeline with the live view (a terminal) or status lines; its outcome."""
    async with trio.open_nursery() as nursery:
        if live_view:
            nursery.start_soon(show_live, pipeline, products)
        else:
            nursery.start_soon(print_status, pipeline, products, status_interval, say)
        outcome = await pipeline.run(duration=duration)
        nursery.cancel_scope.cancel(reason="the run is over")
    return outcome


async def print_status(
    pipeline: Pipeline,
    products: tuple[str, ...],
    interval: float,
    say: Callable[[str], None],
) -> None:
    """A status line every ``interval`` seconds until cancelled (logs, pipes)."""
    started = trio.current_time()
    while True:
        await trio.sleep(interval)
        restarts = sum(pipeline.trading.restart_counts().values())
        elapsed = trio.current_time() - started
        say(status_line(pipeline.board, products, now=elapsed, restarts=restarts))


async def show_live(pipeline: Pipeline, products: tuple[str, ...]) -> None:
    """Redraw the live view twice a second until cancelled (a terminal only)."""
    from rich.console import Group
    from rich.live import Live

    from .live_view import render

    started = trio.current_time()

    def view() -> Group:
        now = trio.current_time()
        return render(
            pipeline.board,
            products,
            restarts=pipeline.trading.restart_counts(),
            elapsed=now - started,
            now=now,
        )

    with Live(view(), auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:
        while True:
            await trio.sleep(0.5)
            live.update(view(), refresh=True)
