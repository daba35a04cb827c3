"""Runs one scenario: the whole stack in memory, in virtual time, then the judgement.

The stack is the one ``cjt run --venue sim`` builds (REST client, user channel,
:class:`~cjt_actors.coinbase_venue.CoinbaseVenue`, the trading pipeline and its journal),
or ``cjt paper``'s, with two substitutions that change no code path above the transport:

* the simulator is reached through httpx's ASGI transport and trio-websocket over in-memory
  streams (:mod:`cjt_actors.sim.inmemory`), so no socket and no kernel is involved;
* the run is one ``trio.run`` under ``MockClock(autojump_threshold=0)`` with trio's
  scheduling made deterministic for the scenario's seed
  (:func:`~cjt_actors.determinism.deterministic_scheduling`), the journal written inline
  (no worker thread) and stamped with the simulator's virtual wall clock.

So a minute of trading takes a second or two, and the same seed gives the same run: the
journal's hash is printed, and two runs must print the same. Anything that reads the wall
clock or unseeded randomness inside the run breaks that, which is how such a bug shows.
(One exception does not: the API key's ECDSA signatures are random by nature; they never
reach the journal.)

t = 0 is the moment the simulator starts; steps at t = 0 are applied before the client
starts (so "the exchange is down at start-up" is a step at t = 0). The client's start-up
(key and product checks) then runs with ``startup_patience``; the trading tree runs until
``duration``, when the root's stop (and its cancel-all) begins.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import httpx
import trio
import trio.testing

from ..chaos import CrashSwitch
from ..coinbase_venue import CoinbaseVenue
from ..determinism import deterministic_scheduling
from ..emergency import RootOutcome
from ..errors import CjtError
from ..exchange.ratelimit import RateLimiter
from ..exchange.rest import RestClient
from ..exchange.ws import WebSocketClient
from ..journal import AsyncJournal
from ..pipeline import Pipeline
from ..products import ProductRules
from ..session import pipeline_settings
from ..sim.inmemory import IN_MEMORY_HOST, InMemoryExchange
from ..sim.requestlog import RequestLog
from ..sim.simulator import Simulator, SimulatorConfig
from ..startup import prepare_venue
from ..status import StatusBoard
from .monitor import InvariantMonitor
from .record import ActionRecord, Failure, RunRecord, TimedEvent
from .spec import Scenario, Step
from .world import World

__all__ = ["EPOCH", "ScenarioResult", "judge", "run_scenario"]

#: The simulated exchange's wall clock at t = 0: 2026-01-01T00:00:00Z.
EPOCH = 1_767_225_600.0


@attrs.frozen(kw_only=True)
class ScenarioResult:
    """A scenario's verdict, with what it was judged on."""

    scenario: Scenario
    record: RunRecord
    failures: tuple[Failure, ...]
    checks: tuple[str, ...]  #: every expectation and invariant judged, described
    real_seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures


def run_scenario(scenario: Scenario, *, workdir: Path) -> ScenarioResult:
    """Run ``scenario`` (its journal goes to ``workdir``) and judge it."""
    workdir.mkdir(parents=True, exist_ok=True)
    journal_path = workdir / f"{scenario.name}.sqlite"
    for leftover in (journal_path, *journal_path.parent.glob(journal_path.name + "-*")):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()  # for the report only; never read inside the run
    with deterministic_scheduling(scenario.seed):
        record = trio.run(
            _run, scenario, journal_path, clock=trio.testing.MockClock(autojump_threshold=0)
        )
    real = time.perf_counter() - started
    failures, checks = judge(scenario, record)
    return ScenarioResult(
        scenario=scenario, record=record, failures=failures, checks=checks, real_seconds=real
    )


def judge(scenario: Scenario, record: RunRecord) -> tuple[tuple[Failure, ...], tuple[str, ...]]:
    """Every failure of the run: start-up, timeline steps, invariants during the run, the
    scenario's expectations, the invariants at the end (in that order)."""
    failures: list[Failure] = []
    checks: list[str] = []
    if record.startup_error is not None:
        failures.append(Failure(check="startup", message=record.startup_error, at=record.ended_at))
    for action in record.actions:
        if action.error is not None:
            failures.append(
                Failure(
                    check="timeline",
                    message=f"{action.description}: {action.error}",
                    at=action.at,
                )
            )
    if record.live:
        checks.append("during the run: write-ahead, no duplicate, no invented fill")
    failures.extend(record.violations)
    for expectation in (*scenario.expect, *scenario.invariants()):
        checks.append(expectation.describe())
        try:
            failures.extend(expectation.check(record))
        except Exception as error:  # a broken check is a failure to report, not a crash
            failures.append(
                Failure(
                    check=expectation.name,
                    message=f"the check itself raised {type(error).__name__}: {error}",
                )
            )
    return tuple(failures), tuple(checks)


async def _run(scenario: Scenario, journal_path: Path) -> RunRecord:
    live = scenario.venue == "sim"
    config = scenario.config
    seed = scenario.seed
    sim = Simulator(
        SimulatorConfig(
            seed=seed,
            start_epoch=EPOCH,
            tick=config.simulator.tick,
            auth="jwt" if live else "none",
        )
    )
    exchange = InMemoryExchange(sim)
    log = RequestLog(sim.asgi)
    credentials, key = sim.generate_key() if live else (None, None)
    crashes = CrashSwitch()
    actions: list[ActionRecord] = []
    t0 = trio.current_time()
    outcome: RootOutcome | None = None
    startup_error: str | None = None
    restarts: dict[str, int] = {}
    monitor: InvariantMonitor | None = None

    async with trio.open_nursery() as background:
        await background.start(sim.run_background)
        world = World(
            sim=sim,
            crashes=crashes,
            nursery=background,
            t0=t0,
            live=live,
            key_name=None if key is None else key["name"],
        )
        now_steps = [s for s in scenario.timeline if s.at <= 0]
        later_steps = sorted(
            (s for s in scenario.timeline if s.at > 0), key=lambda s: s.at
        )  # stable: steps at one time keep the file's order
        for step in now_steps:
            await _apply(world, step, actions)
        unplayed = list(later_steps)  # _play removes each step it applies
        background.start_soon(_play, world, unplayed, actions)

        def note(line: str) -> None:
            actions.append(ActionRecord(at=world.now(), description=f"start-up: {line}"))

        rest = RestClient(
            exchange.rest_url,
            credentials=credentials,
            transport=httpx.ASGITransport(app=log, client=(IN_MEMORY_HOST, 50000)),
            now=sim.epoch,
            rate_limiter=RateLimiter(rng=random.Random(seed)),
            rng=random.Random(seed),
        )
        async with (
            rest,
            await AsyncJournal.open(journal_path, inline=True, wall=sim.epoch) as journal,
        ):
            rules: dict[str, ProductRules] | None = None
            try:
                rules = await _start_up(rest, scenario, live=live, note=note)
            except CjtError as error:
                startup_error = f"the venue start-up failed: {error}"
            if rules is not None:
                settings = attrs.evolve(
                    pipeline_settings(
                        config,
                        products=rules,
                        market_url=exchange.ws_market_url,
                        strategies=scenario.strategy_specs(),
                        namespace=f"scn{seed}",
                        seed=seed,
                    ),
                    connector=exchange.connect,
                )
                venue = None
                if live:
                    user_channel = WebSocketClient(
                        channels={"user": []},
                        url=exchange.ws_user_url,
                        credentials=credentials,
                        connect=exchange.connect,
                        now=sim.epoch,
                        rng=random.Random(seed + 1),
                    )
                    venue = CoinbaseVenue(rest, user_channel=user_channel, name="sim")
                pipeline = Pipeline(
                    settings,
                    journal,
                    board=StatusBoard(),
                    handle_signals=False,
                    venue=venue,
                    crash_switch=crashes,
                )
                world.pipeline = pipeline
                async with trio.open_nursery() as watching:
                    if live:
                        monitor = InvariantMonitor(sim, journal, t0=t0)
                        watching.start_soon(monitor.run)
                    outcome = await pipeline.run(duration=max(scenario.duration - world.now(), 0.0))
                    watching.cancel_scope.cancel(reason="the run is over")
                if monitor is not None:
                    await monitor.check()  # once more, on the final state
                restarts = dict(pipeline.trading.restart_counts())
            ended_at = world.now()
            for step in unplayed:  # the run stopped before their time (an emergency)
                actions.append(
                    ActionRecord(
                        at=step.at,
                        description=step.action.describe(),
                        error=f"not applied: the run had ended at t={ended_at:g}",
                    )
                )
            entries = await journal.read()
            orders_table = await journal.orders()
            digest = await journal.digest()
        background.cancel_scope.cancel(reason="the scenario is over")

    return RunRecord(
        name=scenario.name,
        live=live,
        seed=seed,
        duration=scenario.duration,
        ended_at=ended_at,
        events=tuple(TimedEvent(seq=seq, at=at - t0, message=m) for seq, at, m in entries),
        actions=tuple(actions),
        requests=tuple(attrs.evolve(r, at=r.at - t0) for r in log.requests),
        sim=sim,
        outcome=outcome,
        restarts=restarts,
        digest=digest,
        orders_table=orders_table,
        violations=tuple(monitor.violations.values()) if monitor is not None else (),
        startup_error=startup_error,
    )


async def _start_up(
    rest: RestClient, scenario: Scenario, *, live: bool, note: Callable[[str], None]
) -> dict[str, ProductRules]:
    """What ``cjt run`` does before trading (key and product checks, patient with an exchange
    that is down), or what ``cjt paper`` does (read the products)."""
    products = scenario.config.market.products
    if live:
        ready = await prepare_venue(rest, products, patience=scenario.startup_patience, say=note)
        for warning in ready.warnings:
            note(f"warning: {warning}")
        return dict(ready.rules)
    return {p: ProductRules.from_product(await rest.get_product(p)) for p in products}


async def _play(world: World, unplayed: list[Step], actions: list[ActionRecord]) -> None:
    """Apply each step at its time, removing it from ``unplayed`` once applied."""
    while unplayed:
        step = unplayed[0]
        await trio.sleep_until(world.t0 + step.at)
        del unplayed[0]
        await _apply(world, step, actions)


async def _apply(world: World, step: Step, actions: list[ActionRecord]) -> None:
    description = step.action.describe()
    try:
        await step.action.apply(world)
    except (CjtError, RuntimeError) as error:
        # The step could not be applied (an unknown product, a crash before the tree
        # exists): a scenario failure, recorded with its time, not a crash of the run.
        actions.append(ActionRecord(at=world.now(), description=description, error=str(error)))
        return
    actions.append(ActionRecord(at=world.now(), description=description))
