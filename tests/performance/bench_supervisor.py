"""Supervisor: crash-to-restarted latency; emergency: trigger to "no open order on the venue".

Two measurements of the fault paths (issue 8, item 4), both with the product's real code:

**Restart latency** (:func:`restart_latencies`). A :class:`~cjt_actors.supervisor.Supervisor`
shaped like the trading supervisor (rest_for_one, an observer mailbox drained by a consumer as
the store drains the journal mailbox, two idle siblings started before the crashing child, so
only the crashing child restarts, as a strategy would) runs under trio's real clock. The
crashing child waits until every task is blocked (the tree is idle, as when a live actor hits
a bug), takes ``perf_counter_ns()`` and raises; its next incarnation takes ``perf_counter_ns()``
just before ``task_status.started()``. The difference is one sample: the monitor catching the
error, the supervisor's decision and its events, the backoff, the new task's start. Measured
twice, interleaved in each repeat:

* ``supervisor.restart_mechanism_us``: ``Backoff.none()``: the mechanism alone;
* ``supervisor.restart_ms``: the production backoff (``Backoff()``: 0.1 s, jitter 0.2) for a
  child's first restart after a stable run (``reset_after=0`` makes every crash a first one;
  consecutive crashes would double the delay up to 10 s on purpose). The backoff sleep dominates:
  this is what a crashed actor really waits for.

The intensity is raised so the supervisor never gives up; a run that saw fewer restarts than
asked raises.

**Emergency cancel** (:func:`emergency_cancel`). The simulator is served on loopback by
Hypercorn (:func:`~cjt_actors.sim.server.serve_simulator`, as ``cjt sim`` serves it, in this
process), with its request log in front. The live pipeline is assembled as ``cjt run``
assembles it (RestClient with a key from the simulator, user-channel WebSocketClient,
CoinbaseVenue, ``pipeline_settings`` of a default config; risk's open-order and submit-rate
limits raised to let 100 orders in). A strategy places 100 post-only limits 30-80 bps from mid
through risk and the executor; once all rest at the simulator and the executor holds them
OPEN (and half a second more), ``root.trigger(KILL_SWITCH)`` starts the product's emergency
protocol: halt, ordered stop of the trading tree, then the root's cleanup step
``ExecutionCore.emergency_cancel_all``. Inside the window: everything from the trigger until
the simulator's engine, looked at every millisecond, has no open order for the user. Also
reported, from the journal and the request log on the same clock (trio's): when the tree had
stopped, when the cancel request reached the simulator, when the run ended, and every REST
request made from the trigger on. A run that leaves an order open, or whose cancel-all does
not report 100 orders cancelled and none remaining, raises.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final

import attrs
import trio
import trio.testing

from cjt_actors.channels import Mailbox
from cjt_actors.child import ChildContext, ChildSpec
from cjt_actors.coinbase_venue import CoinbaseVenue
from cjt_actors.config import Config
from cjt_actors.emergency import ExitCode, RootOutcome
from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.rest import API_PREFIX, RestClient
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import OrderState
from cjt_actors.messages import CleanupStepFinished, StopReason, SupervisorEvent
from cjt_actors.order_messages import EmergencyCancelFinished
from cjt_actors.orderbook import BookView
from cjt_actors.pipeline import Pipeline, StrategySpec
from cjt_actors.policy import Backoff, Intensity, Strategy
from cjt_actors.products import ProductRules
from cjt_actors.session import pipeline_settings
from cjt_actors.sim.orders import OrderStatus
from cjt_actors.sim.requestlog import LoggedRequest, RequestLog
from cjt_actors.sim.server import serve_simulator
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig
from cjt_actors.status import StatusBoard
from cjt_actors.strategies.base import BaseStrategy, Intent, StrategyContext, Submit
from cjt_actors.supervisor import Supervisor

from .harness import BenchContext, Metric, percentile

__all__ = ["CrashForTheBenchmark", "restart_latencies", "run"]

_JOURNAL_CAPACITY: Final = 4096  #: the trading supervisor's observer mailbox (pipeline.py)


#: The restart-intensity window. The supervisor filters its restart history on every restart
#: (O(restarts in the window)); in production the history holds at most ``max_restarts + 1``
#: (6) entries, since more makes it give up. A window of a few milliseconds keeps the
#: benchmark's history as short, instead of growing with the number of crashes measured,
#: while ``max_restarts`` above the crash count means it never gives up.
_WINDOW: Final = 0.002


class CrashForTheBenchmark(Exception):
    """What the crashing child raises."""


@attrs.define
class _CrashLoop:
    """The crashing child: crash ``crashes`` times, record each crash-to-ready interval."""

    crashes: int
    latencies_ns: list[int] = attrs.Factory(list)
    raised_at: int | None = None
    done: trio.Event = attrs.Factory(trio.Event)

    async def run(
        self, ctx: ChildContext, /, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        ready = time.perf_counter_ns()
        if self.raised_at is not None:
            self.latencies_ns.append(ready - self.raised_at)
        task_status.started()
        if len(self.latencies_ns) >= self.crashes:
            self.done.set()
            await trio.sleep_forever()
        # Crash from an idle tree, not in the middle of the supervisor's own start bookkeeping.
        await trio.testing.wait_all_tasks_blocked()
        self.raised_at = time.perf_counter_ns()
        raise CrashForTheBenchmark(f"crash {len(self.latencies_ns) + 1}")


async def _idle(
    ctx: ChildContext, /, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    task_status.started()
    await trio.sleep_forever()


async def _restart_latencies(crashes: int, backoff: Backoff) -> list[int]:
    loop = _CrashLoop(crashes)
    events = Mailbox[SupervisorEvent]("supervisor->journal", capacity=_JOURNAL_CAPACITY)
    supervisor = Supervisor(
        "trading",
        [
            ChildSpec(name="executor", run=_idle),
            ChildSpec(name="risk", run=_idle),
            ChildSpec(name="strategy:crash", run=loop.run),
        ],
        strategy=Strategy.REST_FOR_ONE,
        intensity=Intensity(max_restarts=crashes + 10, period=_WINDOW),
        backoff=backoff,
        observer=events.sender(),
    )
    receiver = events.receiver()

    async def drain() -> None:
        async for _ in receiver:
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain)
        await nursery.start(supervisor.run)
        with trio.fail_after(60 + crashes * (backoff.max + 1)):
            await loop.done.wait()
        nursery.cancel_scope.cancel(reason="benchmark finished")
    if len(loop.latencies_ns) != crashes or supervisor.restart_count("strategy:crash") != crashes:
        raise RuntimeError(
            f"supervisor bench: asked for {crashes} restarts, measured {len(loop.latencies_ns)}, "
            f"the supervisor counted {supervisor.restart_count('strategy:crash')}"
        )
    return loop.latencies_ns


def restart_latencies(crashes: int, backoff: Backoff) -> list[int]:
    """Crash-to-ready intervals (ns) of ``crashes`` restarts under ``backoff`` (own trio.run)."""
    return trio.run(_restart_latencies, crashes, backoff)


#: Production defaults, each crash counted as the first after a stable run.
PRODUCTION_FIRST_RESTART: Final = attrs.evolve(Backoff(), reset_after=0.0)


def _restart_metrics(ctx: BenchContext) -> list[Metric]:
    mechanism_n, backoff_n = (50, 5) if ctx.quick else (300, 30)
    mechanism: dict[str, list[float]] = {"p50": [], "p99": []}
    production: dict[str, list[float]] = {"p50": [], "p99": []}
    for repeat in range(1, ctx.repeats + 1):
        for name, crashes, backoff, into, scale in (
            ("mechanism", mechanism_n, Backoff.none(), mechanism, 1e3),
            ("production backoff", backoff_n, PRODUCTION_FIRST_RESTART, production, 1e6),
        ):
            samples = sorted(restart_latencies(crashes, backoff))
            into["p50"].append(percentile(samples, 0.50) / scale)
            into["p99"].append(percentile(samples, 0.99) / scale)
            unit = "us" if scale == 1e3 else "ms"
            ctx.progress(
                f"supervisor: repeat {repeat}/{ctx.repeats} {name}: {crashes} restarts, "
                f"p50 {into['p50'][-1]:.1f} {unit}, p99 {into['p99'][-1]:.1f} {unit}"
            )
    tree = "rest_for_one supervisor, observer mailbox drained, crashing child last of 3"
    mechanism_note = f"Backoff.none(); {mechanism_n} crashes per repeat; {tree}"
    production_note = (
        f"Backoff() defaults (min 0.1 s, jitter 0.2), first restart after a stable run; "
        f"{backoff_n} crashes per repeat; {tree}"
    )
    return [
        Metric(
            key=f"supervisor.restart_mechanism_us.{q}",
            label=f"supervisor: crash to restarted, backoff zero (mechanism), {q}",
            unit="us",
            samples=tuple(mechanism[q]),
            better="lower",
            note=mechanism_note,
        )
        for q in ("p50", "p99")
    ] + [
        Metric(
            key=f"supervisor.restart_ms.{q}",
            label=f"supervisor: crash to restarted, production backoff, {q}",
            unit="ms",
            samples=tuple(production[q]),
            better="lower",
            note=production_note,
        )
        for q in ("p50", "p99")
    ]


# -- emergency: trigger to "no open order on the venue" ------------------------------------------

PRODUCT: Final = "BTC-USD"
ORDERS: Final = 100
_OPEN: Final = frozenset({OrderStatus.OPEN, OrderStatus.PENDING})
_POLL: Final = 0.001  #: seconds between looks at the simulator's engine
#: Seconds between the last order resting and the trigger: the acknowledgements' echoes
#: (user channel updates, the venue's poll) are over, the tree is in its steady state.
_SETTLE: Final = 0.5
_NOTIONAL: Final = Decimal(12)  #: quote currency per order (the product's minimum is 1)
_READY_TIMEOUT: Final = 60.0  #: seconds for the orders to rest (placing 100 takes ~4 s at 30/s)


@attrs.define
class _Ladder(BaseStrategy):
    """Places ``orders`` post-only limits 30 bps and more from mid (half bids, half asks),
    once, on the first trusted view: they rest, and the market does not reach them in the
    seconds the benchmark lasts."""

    orders: int
    placed: bool = False

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        if self.placed or not view.trusted or view.mid is None:
            return ()
        self.placed = True
        mid = view.mid
        size = ctx.round_size(view.product_id, _NOTIONAL / mid, up=True)
        intents: list[Intent] = []
        for index in range(self.orders):
            side = Side.BUY if index % 2 == 0 else Side.SELL
            offset = Decimal(30 + index // 2) / Decimal(10_000)
            raw = mid * (1 - offset) if side is Side.BUY else mid * (1 + offset)
            intents.append(
                Submit(
                    product_id=view.product_id,
                    side=side,
                    size=size,
                    price=ctx.round_price(view.product_id, raw, side),
                    post_only=True,
                    tag=f"ladder-{index}",
                )
            )
        return intents


class _LoggedSimulator:
    """The simulator with its :class:`RequestLog` in front, as :func:`serve_simulator`
    serves it (``asgi``, ``bind_host``, ``run_background``)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.log = RequestLog(sim.asgi)

    @property
    def asgi(self) -> RequestLog:
        return self.log

    def bind_host(self, host: str) -> None:
        self.sim.bind_host(host)

    async def run_background(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await self.sim.run_background(task_status=task_status)


@attrs.frozen(kw_only=True)
class EmergencyRun:
    """One emergency, in seconds from the trigger (trio's clock, which the root, the journal
    and the simulator's request log also use)."""

    orders: int
    tree_stopped_s: float  #: the cleanup step began (the trading tree had stopped)
    cancel_sent_s: float  #: the first cancel request reached the simulator
    cleared_s: float  #: the simulator's engine had no open order for the user
    stopped_s: float  #: ``Pipeline.run`` returned (cancel-all verified and journaled)
    requests: Mapping[str, int]  #: REST requests from the trigger to the end, per route


def _open_at(sim: Simulator) -> int:
    return len(sim.engine.list_orders(DEFAULT_USER, statuses=_OPEN))


def _any_open(sim: Simulator) -> bool:
    """Cheap enough to ask every millisecond beside the run (stops at the first open order)."""
    return bool(sim.engine.list_orders(DEFAULT_USER, statuses=_OPEN, limit=1))


_LISTS: Final = ("batch", "fills")


def _route(method: str, path: str) -> str:
    """``GET /orders/historical/{order_id}`` for every single-order lookup, else the path."""
    path = path.removeprefix(API_PREFIX)
    parts = path.split("/")
    if len(parts) == 4 and parts[1:3] == ["orders", "historical"] and parts[3] not in _LISTS:
        path = "/orders/historical/{order_id}"
    return f"{method} {path}"


def _is_cancel(request: LoggedRequest) -> bool:
    return request.method == "POST" and request.path == f"{API_PREFIX}/orders/batch_cancel"


async def _emergency(orders: int, workdir: Path, seed: int) -> EmergencyRun:
    """Serve a simulator on loopback, run the live pipeline against it (assembled as
    ``cjt run`` assembles it: RestClient, user-channel WebSocketClient, CoinbaseVenue,
    ``pipeline_settings`` of a default config), let a strategy rest ``orders`` orders, then
    trigger the root and watch the simulator's engine until none is open."""
    sim = Simulator(SimulatorConfig(seed=seed))
    credentials = sim.write_key_file(workdir / f"key-{seed}.json")
    served = _LoggedSimulator(sim)
    async with serve_simulator(served) as endpoints:
        rest = RestClient(endpoints.rest_url, credentials=credentials, rng=random.Random(seed))
        async with rest, await AsyncJournal.open(workdir / f"journal-{seed}.sqlite") as journal:
            rules = {PRODUCT: ProductRules.from_product(await rest.get_product(PRODUCT))}
            user_channel = WebSocketClient(
                channels={"user": []},
                url=endpoints.ws_user_url,
                credentials=credentials,
                rng=random.Random(seed + 1),
            )
            venue = CoinbaseVenue(rest, user_channel=user_channel, name="sim")
            defaults = pipeline_settings(
                Config(),
                products=rules,
                market_url=endpoints.ws_market_url,
                strategies=(StrategySpec(name="ladder", factory=lambda: _Ladder(orders)),),
                namespace=f"bench-{seed}",
                seed=seed,
            )
            # The default limits cap working orders at 20 and submits at 20/s.
            risk = attrs.evolve(defaults.risk, max_open_orders=2 * orders, submit_rate=2 * orders)
            settings = attrs.evolve(defaults, risk=risk)
            pipeline = Pipeline(
                settings, journal, board=StatusBoard(), handle_signals=False, venue=venue
            )
            outcomes: list[RootOutcome] = []
            cleared_at: list[float] = []
            ended = trio.Event()

            async def run_pipeline() -> None:
                outcomes.append(await pipeline.run())
                ended.set()

            async def watch(cleared: trio.Event) -> None:
                # Polling is the method: the engine has no event to wait on.
                while _any_open(sim):  # noqa: ASYNC110
                    await trio.sleep(_POLL)
                cleared_at.append(trio.current_time())
                cleared.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_pipeline)
                await _wait_for_orders(pipeline, sim, orders)
                await trio.sleep(_SETTLE)
                first_request = len(served.log.requests)
                cleared = trio.Event()
                nursery.start_soon(watch, cleared)
                triggered_at = trio.current_time()
                pipeline.root.trigger(StopReason.KILL_SWITCH, "benchmark: emergency cancel")
                with trio.fail_after(settings.emergency_timeout + 30):
                    await cleared.wait()
                    await ended.wait()
                stopped_at = trio.current_time()
            entries = [message for _, _, message in await journal.read()]
    return _checked(
        orders=orders,
        open_now=_open_at(sim),
        outcome=outcomes[0],
        journaled=entries,
        window=served.log.requests[first_request:],
        triggered_at=triggered_at,
        cleared_at=cleared_at,
        stopped_at=stopped_at,
    )


async def _wait_for_orders(pipeline: Pipeline, sim: Simulator, orders: int) -> None:
    """Until ``orders`` rest at the simulator and the executor holds each of them OPEN."""
    with trio.move_on_after(_READY_TIMEOUT):
        while True:
            known = [o for o in pipeline.core.working_orders() if o.state is OrderState.OPEN]
            if len(known) == orders and _open_at(sim) == orders:
                return
            await trio.sleep(0.02)
    raise RuntimeError(
        f"emergency bench: {orders} orders never rested within {_READY_TIMEOUT:g} s: the "
        f"simulator shows {_open_at(sim)} open, the executor "
        f"{dict(pipeline.core.orders_by_state())}"
    )


def _checked(
    *,
    orders: int,
    open_now: int,
    outcome: RootOutcome,
    journaled: Sequence[object],
    window: Sequence[LoggedRequest],
    triggered_at: float,
    cleared_at: Sequence[float],
    stopped_at: float,
) -> EmergencyRun:
    """The run's figures, after checking that the emergency really did its work."""
    finished = [m for m in journaled if isinstance(m, EmergencyCancelFinished)]
    steps = [m for m in journaled if isinstance(m, CleanupStepFinished)]
    cancels = [r for r in window if _is_cancel(r)]
    if open_now or not cleared_at:
        raise RuntimeError(f"emergency bench: {open_now} orders still open at the simulator")
    if outcome.exit_code is not ExitCode.EMERGENCY or len(finished) != 1 or not steps:
        raise RuntimeError(
            f"emergency bench: the run ended with {outcome.exit_code!r}, steps "
            f"{[(s.step, s.status.value, s.error) for s in outcome.steps]}, "
            f"journaled cancel-all outcomes {finished}"
        )
    [result] = finished
    if result.remaining or result.open_before != orders or not cancels:
        raise RuntimeError(
            f"emergency bench: the cancel-all reports {result}, {len(cancels)} cancel requests"
        )
    return EmergencyRun(
        orders=orders,
        tree_stopped_s=steps[0].started_at - triggered_at,
        cancel_sent_s=cancels[0].at - triggered_at,
        cleared_s=cleared_at[0] - triggered_at,
        stopped_s=stopped_at - triggered_at,
        requests=dict(Counter(_route(r.method, r.path) for r in window)),
    )


def emergency_cancel(orders: int, workdir: Path, seed: int) -> EmergencyRun:
    """One emergency with ``orders`` open orders, in its own ``trio.run`` (see
    :func:`_emergency`). Raises RuntimeError if the orders never rested or if any is left."""
    return trio.run(_emergency, orders, workdir, seed)


def _emergency_metrics(ctx: BenchContext) -> list[Metric]:
    runs: list[EmergencyRun] = []
    for repeat in range(1, ctx.repeats + 1):
        done = emergency_cancel(ORDERS, ctx.workdir, seed=repeat)
        runs.append(done)
        ctx.progress(
            f"emergency: repeat {repeat}/{ctx.repeats}: tree stopped "
            f"{done.tree_stopped_s * 1e3:.0f} ms, cancel sent {done.cancel_sent_s * 1e3:.0f} ms, "
            f"{ORDERS} orders cleared {done.cleared_s * 1e3:.0f} ms, run ended "
            f"{done.stopped_s * 1e3:.0f} ms after the trigger; "
            f"{sum(done.requests.values())} REST requests {dict(done.requests)}"
        )
    method = (
        f"{ORDERS} post-only orders resting at the simulator (served on loopback in the same "
        "process) through the live pipeline (CoinbaseVenue, REST + user channel); "
        "root.trigger(KILL_SWITCH): halt, ordered tree stop, "
        "ExecutionCore.emergency_cancel_all"
    )
    breakdown = ", ".join(f"{k} x{v}" for k, v in sorted(runs[-1].requests.items()))

    def metric(key: str, label: str, values: Iterable[float], note: str) -> Metric:
        return Metric(
            key=key, label=label, unit="s", samples=tuple(values), better="lower", note=note
        )

    return [
        metric(
            "emergency.cancel_100_s",
            f"emergency: trigger to no open order at the simulator, {ORDERS} orders",
            (r.cleared_s for r in runs),
            f"{method}; the simulator's engine looked at every {_POLL * 1e3:g} ms",
        ),
        metric(
            "emergency.tree_stop_s",
            "emergency: trigger to the cleanup step (trading tree stopped)",
            (r.tree_stopped_s for r in runs),
            "CleanupStepFinished.started_at - trigger (journal)",
        ),
        metric(
            "emergency.cancel_sent_s",
            "emergency: trigger to the cancel request at the simulator",
            (r.cancel_sent_s for r in runs),
            "first POST orders/batch_cancel in the simulator's request log - trigger",
        ),
        metric(
            "emergency.stop_100_s",
            "emergency: trigger to the run's end (cancel-all verified and journaled)",
            (r.stopped_s for r in runs),
            method,
        ),
        Metric(
            key="emergency.rest_requests",
            label=f"emergency: REST requests from trigger to the run's end, {ORDERS} orders",
            unit="requests",
            samples=tuple(float(sum(r.requests.values())) for r in runs),
            better="lower",
            note=f"the simulator's request log; last repeat: {breakdown}",
        ),
    ]


def run(ctx: BenchContext) -> list[Metric]:
    """The restart latencies, then the emergency cancel."""
    return _restart_metrics(ctx) + _emergency_metrics(ctx)
