"""The tick-to-trade stacks: the real pipeline of ``cjt paper`` and of ``cjt run`` against the
simulator, with probes attached from the outside, so the benchmark can time one order from
the arrival of the frame that prompted it to the moment the executor hands it to the venue.

What is timed, all on trio's clock of this process (``trio.current_time()``):

* **arrival**: ``SubmitOrder.trigger_at``, which the product fills in itself: the
  WebSocket client stamps every frame with ``trio.current_time()`` right after
  ``get_message()`` returns (``received_at``); the book keeps it as ``BookView.updated_at``;
  the strategy actor copies it into every order ``on_book`` asks for.
* **strategy**: when :class:`ProbeStrategy.on_book` runs (``ctx.now``, set by the actor
  just before the callback): feed -> book -> strategy, two hops.
* **executor**: when the executor's command loop takes the order from its mailbox
  (:meth:`ExecutionCore.register` is called there, in arrival order): + the strategy ->
  risk -> executor hops and risk's checks.
* **journal**: start and end of every journal call the executor makes for the order
  (:class:`ProbeJournal`, an :class:`~cjt_actors.journal.AsyncJournal` timing its
  order-keyed writes); those that end before the venue call are the write-ahead ones (today
  one commit: the intent with its PENDING -> SUBMITTED move). The journal is a real SQLite
  file with the production settings (WAL, ``synchronous=FULL``: one fsync per commit).
* **venue** (the END point): the entry of ``venue.submit``, through :class:`ProbeVenue`
  wrapped around the venue the executor's core calls.
* **transport** (live only): when httpx hands the create-order request to its transport
  (:class:`ProbeTransport`, wrapping httpx's default one), after the REST client's rate
  limiter, JWT signing and request building.

How the stacks are configured, and why: risk limits that approve every probe order
(:data:`BENCH_RISK`); the paper venue's modelled latency set to 0 (it runs after the end
point, but 50 ms of it per request would hold the executor's 16 request slots and queue
the next orders); for live, the REST rate limits of the client and of the simulator raised
to :data:`BENCH_REST_RATE` (Coinbase's 30 requests/s would make orders wait for tokens:
that would measure the limiter, not the pipeline). Everything else is what ``cjt paper`` and
``cjt run`` build from a default config: :func:`~cjt_actors.session.pipeline_settings`,
:class:`~cjt_actors.pipeline.Pipeline`, ``CoinbaseVenue`` with its user channel.

Nothing of the product is edited: the probes are a strategy of our own, a journal subclass,
a venue wrapper and an httpx transport wrapper; two attributes of the pipeline's
:class:`~cjt_actors.execution.ExecutionCore` (``venue`` and ``register``) are wrapped on the
instance after the pipeline is built (see :func:`instrument`). Cleaner hooks for the
product are named in the report of issue 8.

Run as a module, this file is the simulator process of the live stack
(``python -m tests.performance.latency_stack``, started by :class:`SimulatorProcess`): the
simulator as ``cjt sim`` serves it, with its REST rate limits raised (``cjt sim`` has no
option for that).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, NoReturn, Self

import attrs
import httpx
import orjson
import trio

from cjt_actors.actors.feed import FeedStatus
from cjt_actors.actors.strategy import StrategyStatus
from cjt_actors.channels import Outbox
from cjt_actors.coinbase_venue import CoinbaseVenue
from cjt_actors.config import Config
from cjt_actors.emergency import ExitCode, RootOutcome
from cjt_actors.exchange.auth import Credentials
from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.ratelimit import RateLimit, RateLimiter
from cjt_actors.exchange.rest import RestClient
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.execution import ExecutionCore
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import OrderState
from cjt_actors.messages import Message, StopReason
from cjt_actors.order_messages import (
    OrderDenied,
    OrderFilled,
    SubmitOrder,
)
from cjt_actors.orderbook import BookView
from cjt_actors.paper import PaperConfig
from cjt_actors.pipeline import Pipeline, StrategySpec
from cjt_actors.products import ProductRules
from cjt_actors.risk_rules import RiskLimits
from cjt_actors.session import pipeline_settings
from cjt_actors.status import StatusBoard
from cjt_actors.strategies.base import (
    BaseStrategy,
    Intent,
    OrderEvent,
    Replace,
    StrategyContext,
    Submit,
)
from cjt_actors.venue import (
    BatchCancelling,
    CancelOutcome,
    FillSettling,
    SubmitOutcome,
    Venue,
    VenueOrder,
    VenueSignal,
)

from .capture import PRODUCT_SPECS

__all__ = [
    "BENCH_RISK",
    "LiveEndpoints",
    "OrderStamps",
    "ProbeJournal",
    "ProbeStrategy",
    "ProbeTransport",
    "ProbeVenue",
    "SimulatorProcess",
    "StackRun",
    "TickToTradeProbe",
    "instrument",
    "paper_rules",
    "run_stack",
]

_REPO_ROOT: Final = Path(__file__).resolve().parents[2]

#: How far below the best bid the probe bids: never filled, never crossing (post-only), on
#: the replayed market and on the simulator's own (whose prices drift independently).
PROBE_DISTANCE: Final = Decimal("0.2")

#: Risk limits under which every probe order is approved: rates and open orders far above
#: what a replay asks for, a price band wide enough for a bid 20 % under the touch. Every
#: other limit keeps its default (a probe order is tiny, and never fills).
BENCH_RISK: Final = RiskLimits(
    max_open_orders=10_000,
    submit_rate=1_000_000,
    cancel_rate=1_000_000,
    price_band_bps=Decimal(5000),
)

#: REST rate limit of the simulator and of the client, requests per second (and burst):
#: far above what the replay asks for, so the client's token bucket never makes an order
#: wait (which would measure queueing at the limiter, not the pipeline).
BENCH_REST_RATE: Final = 100_000


# -- what is recorded -----------------------------------------------------------------------


@attrs.define(kw_only=True)
class OrderStamps:
    """Trio-clock moments of one probe order (``None``: that point was not reached).

    ``journal`` holds the ``(start, end)`` of every journal call the executor made for
    this order, in order; those that ended before the venue call are the write-ahead ones.
    """

    client_order_id: str
    product_id: str
    trigger_at: float
    strategy: float | None = None
    executor: float | None = None
    journal: list[tuple[float, float]] = attrs.Factory(list)
    venue: float | None = None
    transport: float | None = None

    @property
    def tick_to_trade(self) -> float | None:
        """Seconds from the frame's arrival to the entry of ``venue.submit``."""
        return None if self.venue is None else self.venue - self.trigger_at

    @property
    def write_ahead(self) -> float | None:
        """Seconds spent in the journal calls awaited before the venue call (waiting for
        the journal's writer included); ``None`` if the venue was not reached."""
        venue = self.venue
        if venue is None:
            return None
        return sum(end - start for start, end in self.journal if end <= venue)


class TickToTradeProbe:
    """Collects :class:`OrderStamps` from the probes, and what went wrong on the way.

    One probe per measured run (per pipeline): it is written by tasks of one trio run and
    read after it.
    """

    def __init__(self) -> None:
        self.orders: dict[str, OrderStamps] = {}
        self.emitted = 0
        """Submits the probe strategy asked for (each must reach the venue)."""
        self.arrived = 0
        """Probe orders that reached the venue."""
        self.problems: list[str] = []
        """Denials, rejections, fills, crashes: anything that makes a figure meaningless."""
        self._seen: dict[tuple[str, float], float] = {}

    # The probes call these, each at its point of the order's way.

    def strategy_saw(self, product_id: str, trigger_at: float, now: float) -> None:
        self._seen[(product_id, trigger_at)] = now
        self.emitted += 1

    def executor_took(self, command: SubmitOrder, now: float) -> None:
        if command.trigger_at is None:
            return
        self.orders[command.client_order_id] = OrderStamps(
            client_order_id=command.client_order_id,
            product_id=command.product_id,
            trigger_at=command.trigger_at,
            strategy=self._seen.pop((command.product_id, command.trigger_at), None),
            executor=now,
        )

    def journaled(self, client_order_id: str, span: tuple[float, float]) -> None:
        stamps = self.orders.get(client_order_id)
        if stamps is not None:
            stamps.journal.append(span)

    def venue_called(self, order: SubmitOrder, now: float) -> None:
        stamps = self.orders.get(order.client_order_id)
        if stamps is not None and stamps.venue is None:
            stamps.venue = now
            self.arrived += 1

    def transport_called(self, client_order_id: str, now: float) -> None:
        stamps = self.orders.get(client_order_id)
        if stamps is not None and stamps.transport is None:
            stamps.transport = now

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def completed(self) -> list[OrderStamps]:
        """Orders that reached the venue, by arrival of their frame."""
        done = [s for s in self.orders.values() if s.venue is not None]
        done.sort(key=lambda s: s.trigger_at)
        return done


# -- the probes -----------------------------------------------------------------------------


class ProbeStrategy(BaseStrategy):
    """On every new trusted book view: bid far below the touch, replacing its previous bid.

    A post-only limit buy :data:`PROBE_DISTANCE` under the best bid, of the product's
    minimum size (raised to its minimum notional), so it rests and never fills; the
    previous bid of the product is cancelled in the same breath (a :class:`Replace`), so
    open orders stay bounded (one per product, plus the cancels in flight). A view whose
    ``sequence`` did not move (a republished view: a trust change, the staleness timer) is
    not a new tick and asks for nothing.
    """

    def __init__(self, probe: TickToTradeProbe) -> None:
        self._probe = probe
        self._sequences: dict[str, int] = {}

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        product_id = view.product_id
        if (
            not view.trusted
            or view.best_bid is None
            or view.updated_at is None
            or self._sequences.get(product_id) == view.sequence
        ):
            return ()
        self._sequences[product_id] = view.sequence
        rules = ctx.rules(product_id)
        price = ctx.round_price(product_id, view.best_bid * (1 - PROBE_DISTANCE), Side.BUY)
        size = max(
            rules.base_min_size,
            ctx.round_size(product_id, rules.quote_min_size * 2 / price, up=True),
        )
        submit = Submit(
            product_id=product_id,
            side=Side.BUY,
            size=size,
            price=price,
            post_only=True,
            tag="probe",
        )
        self._probe.strategy_saw(product_id, view.updated_at, ctx.now)
        working = ctx.orders(product_id)
        if not working:
            return (submit,)
        # Normally one; more only if a cancel was refused, which on_order reports anyway.
        return (Replace(client_order_id=working[-1].client_order_id, submit=submit),)

    def on_order(self, event: OrderEvent, ctx: StrategyContext) -> Iterable[Intent]:
        if isinstance(event, OrderDenied):
            self._probe.problem(f"denied: {event.reason.value} {event.detail}")
        elif isinstance(event, OrderFilled):
            self._probe.problem(f"filled: {event.client_order_id} at {event.price}")
        elif event.state is OrderState.REJECTED:
            self._probe.problem(f"rejected: {event.client_order_id}: {event.reason}")
        return ()


class ProbeJournal(AsyncJournal):
    """The production journal, timing the calls the executor makes for one order (the
    write-ahead commits) into a :class:`TickToTradeProbe` set after opening.

    Both order-keyed writes are timed: ``append_for_order`` (one event with the order's
    row) and ``append_many_for_order`` (several events, one commit); each span covers the
    wait for the journal's single writer thread, the commit and its fsync.
    """

    probe: TickToTradeProbe | None = None

    async def append_for_order(
        self, message: Message, *, at: float, client_order_id: str, state: dict[str, Any]
    ) -> int:
        started = trio.current_time()
        seq = await super().append_for_order(
            message, at=at, client_order_id=client_order_id, state=state
        )
        self._record(client_order_id, started)
        return seq

    async def append_many_for_order(
        self,
        entries: Iterable[tuple[Message, float]],
        *,
        client_order_id: str,
        state: dict[str, Any],
    ) -> list[int]:
        started = trio.current_time()
        seqs = await super().append_many_for_order(
            entries, client_order_id=client_order_id, state=state
        )
        self._record(client_order_id, started)
        return seqs

    def _record(self, client_order_id: str, started: float) -> None:
        if self.probe is not None:
            self.probe.journaled(client_order_id, (started, trio.current_time()))


class ProbeVenue:
    """A :class:`~cjt_actors.venue.Venue` that stamps the entry of every ``submit`` (the end
    point of tick-to-trade) and delegates everything to the venue it wraps."""

    def __init__(self, venue: Venue, probe: TickToTradeProbe) -> None:
        self.inner = venue
        self._probe = probe

    @property
    def name(self) -> str:
        return self.inner.name

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.inner.run(reports, task_status=task_status)

    async def submit(self, order: SubmitOrder) -> SubmitOutcome:
        self._probe.venue_called(order, trio.current_time())
        return await self.inner.submit(order)

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        return await self.inner.cancel(client_order_id, order_id)

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        return await self.inner.lookup(client_order_id)

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        return await self.inner.open_orders()

    async def settle(self, reports: Outbox[VenueSignal]) -> None:
        if isinstance(self.inner, FillSettling):
            await self.inner.settle(reports)


class _ProbeBatchVenue(ProbeVenue):
    """:class:`ProbeVenue` of a batch-cancelling venue (the executor's emergency step asks
    ``isinstance(venue, BatchCancelling)``, which must stay truthful)."""

    async def cancel_batch(self, orders: Sequence[tuple[str, str]]) -> tuple[CancelOutcome, ...]:
        assert isinstance(self.inner, BatchCancelling)
        return await self.inner.cancel_batch(orders)


def probe_venue(venue: Venue, probe: TickToTradeProbe) -> ProbeVenue:
    """``venue`` with ``submit`` stamped; batch-cancelling if ``venue`` is."""
    if isinstance(venue, BatchCancelling):
        return _ProbeBatchVenue(venue, probe)
    return ProbeVenue(venue, probe)


class ProbeTransport(httpx.AsyncBaseTransport):
    """httpx's default transport, stamping the moment a create-order request reaches it
    (``POST .../orders``; the ``client_order_id`` is read from the JSON body, outside the
    timed point)."""

    def __init__(self, probe: TickToTradeProbe) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._probe = probe

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/orders"):
            now = trio.current_time()
            body = orjson.loads(request.content)
            coid = body.get("client_order_id") if isinstance(body, dict) else None
            if isinstance(coid, str):
                self._probe.transport_called(coid, now)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def instrument(pipeline: Pipeline, probe: TickToTradeProbe) -> None:
    """Attach the venue and executor probes to a built (not yet running) pipeline.

    The core's venue is wrapped (its ``submit`` is the END point) and its ``register`` (which
    the executor's command loop calls as it takes each submit from its mailbox) is
    wrapped on the instance to stamp that moment. A hook the product could offer instead:
    an observer on :class:`ExecutionCore` told of each command and each venue request.
    """
    core: ExecutionCore = pipeline.core
    core.venue = probe_venue(core.venue, probe)
    register = core.register

    def stamped_register(command: SubmitOrder) -> bool:
        probe.executor_took(command, trio.current_time())
        return register(command)

    core.register = stamped_register  # type: ignore[method-assign]


# -- products -------------------------------------------------------------------------------


def paper_rules(products: Sequence[str]) -> dict[str, ProductRules]:
    """The rules ``cjt paper`` would read from the simulator's REST API, without asking it:
    the capture's product table (the capture is the simulator's market)."""
    rules = {}
    for product_id in products:
        spec = PRODUCT_SPECS.get(product_id)
        if spec is None:
            raise ValueError(
                f"product {product_id} is not one of the capture's ({', '.join(PRODUCT_SPECS)})"
            )
        rules[product_id] = ProductRules(
            product_id=product_id,
            base_increment=spec.base_increment,
            price_increment=spec.price_increment,
            base_min_size=spec.base_min_size,
            base_max_size=spec.base_max_size,
            quote_min_size=spec.quote_min_size,
        )
    return rules


# -- running one stack ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LiveEndpoints:
    """Where the simulator process listens, and its API key file."""

    rest_url: str
    ws_user_url: str
    key_file: Path


@attrs.frozen(kw_only=True)
class StackRun:
    """What one measured run of a stack left behind."""

    probe: TickToTradeProbe
    feed: FeedStatus
    strategy: StrategyStatus | None
    outcome: RootOutcome


def _no_hard_exit(code: int) -> NoReturn:
    raise RuntimeError(f"the root asked for a hard exit ({code}): the trading tree is stuck")


async def run_stack(
    kind: Literal["paper", "live"],
    *,
    market_url: str,
    products: Sequence[str],
    journal_path: Path,
    frames: int,
    settle: float,
    live: LiveEndpoints | None = None,
    seed: int = 8,
) -> StackRun:
    """Run one pipeline against the replay at ``market_url`` until its feed has read
    ``frames`` frames and every order the probe asked for reached the venue (then
    ``settle`` seconds more, to catch stragglers), and stop it as an operator would.

    Raises:
        RuntimeError: the run did not happen as measured runs must (see :func:`_checked`).
    """
    probe = TickToTradeProbe()
    async with contextlib.AsyncExitStack() as stack:
        journal = await ProbeJournal.open(journal_path)
        stack.push_async_exit(journal)
        if not isinstance(journal, ProbeJournal):  # AsyncJournal.open builds its own class
            raise TypeError(f"ProbeJournal.open made a {type(journal).__name__}")
        journal.probe = probe
        venue: Venue | None = None
        if kind == "paper":
            rules = paper_rules(products)
            config = Config(risk=BENCH_RISK, paper=PaperConfig(latency=0.0))
        else:
            if live is None:
                raise ValueError("a live stack needs the simulator's endpoints")
            credentials = Credentials.from_file(live.key_file)
            limit = RateLimit(rate=BENCH_REST_RATE, burst=BENCH_REST_RATE)
            rest = RestClient(
                live.rest_url,
                credentials=credentials,
                transport=ProbeTransport(probe),
                rate_limiter=RateLimiter(private=limit, public=limit),
                rng=random.Random(seed),
            )
            await stack.enter_async_context(rest)
            rules = {p: ProductRules.from_product(await rest.get_product(p)) for p in products}
            user_channel = WebSocketClient(
                channels={"user": []},
                url=live.ws_user_url,
                credentials=credentials,
                rng=random.Random(seed + 1),
            )
            venue = CoinbaseVenue(rest, user_channel=user_channel, name="sim")
            config = Config(risk=BENCH_RISK)
        settings = pipeline_settings(
            config,
            products=rules,
            market_url=market_url,
            strategies=(StrategySpec(name="probe", factory=lambda: ProbeStrategy(probe)),),
            # Fresh client_order_ids per run, as `cjt run` makes them per process: the
            # simulator outlives the runs and answers a repeated id with the first order.
            namespace=f"bench-{kind}-{os.getpid()}-{secrets.token_hex(4)}",
            seed=seed,
        )
        board = StatusBoard()
        pipeline = Pipeline(
            settings,
            journal,
            board=board,
            handle_signals=False,
            hard_exit=_no_hard_exit,
            venue=venue,
        )
        instrument(pipeline, probe)
        outcome: RootOutcome | None = None
        async with trio.open_nursery() as nursery:

            async def run() -> None:
                nonlocal outcome
                outcome = await pipeline.run()
                # Stopped by us, or on its own (an emergency): either way, stop waiting.
                nursery.cancel_scope.cancel(reason="the pipeline stopped")

            nursery.start_soon(run)
            await _wait_done(board, probe, frames=frames, settle=settle)
            pipeline.root.trigger(StopReason.OPERATOR, "the benchmark's replay is over")
        if outcome is None:
            raise RuntimeError(f"tick-to-trade ({kind}): the pipeline did not stop")
        feed = board.get("feed", FeedStatus)
        if feed is None:
            raise RuntimeError(f"{kind}: the feed never published its status")
        run_result = StackRun(
            probe=probe,
            feed=feed,
            strategy=board.get("strategy:probe", StrategyStatus),
            outcome=outcome,
        )
    return _checked(kind, run_result, frames=frames)


async def _wait_done(
    board: StatusBoard, probe: TickToTradeProbe, *, frames: int, settle: float
) -> None:
    """Until the feed has read every frame and every probe order reached the venue, and
    nothing changed for ``settle`` seconds. (A poll every 0.1 s: a few microseconds on
    the measured event loop, like the product's own one-second timers.)"""
    last: tuple[int, int, int] | None = None
    quiet_since = trio.current_time()
    while True:
        await trio.sleep(0.1)
        feed = board.get("feed", FeedStatus)
        read = 0 if feed is None else feed.frames
        state = (read, probe.emitted, probe.arrived)
        now = trio.current_time()
        if state != last:
            last, quiet_since = state, now
        elif read >= frames and probe.arrived >= probe.emitted and now - quiet_since >= settle:
            return


def _checked(kind: str, run: StackRun, *, frames: int) -> StackRun:
    """``run`` if it measured what it claims; else a RuntimeError saying what went wrong."""
    errors = list(run.probe.problems[:5])
    if len(run.probe.problems) > 5:
        errors.append(f"... and {len(run.probe.problems) - 5} more")
    feed = run.feed
    if feed.frames < frames:
        errors.append(f"the feed read {feed.frames} of {frames} frames")
    if feed.reconnects or feed.gaps or feed.malformed or feed.out_of_order:
        errors.append(
            f"the feed was disturbed: {feed.reconnects} reconnects, {feed.gaps} gaps, "
            f"{feed.malformed} malformed, {feed.out_of_order} out of order"
        )
    completed = run.probe.completed()
    if len(completed) < run.probe.emitted:
        errors.append(
            f"{run.probe.emitted - len(completed)} of {run.probe.emitted} probe orders never "
            "reached the venue"
        )
    if not completed:
        errors.append("no probe order reached the venue")
    strategy = run.strategy
    if strategy is not None and (strategy.backpressure or strategy.denials):
        errors.append(f"strategy denials: {strategy.denials}")
    if run.outcome.exit_code is not ExitCode.OK:
        errors.append(f"the run stopped with {run.outcome.exit_code.name}: {run.outcome.detail}")
    if errors:
        raise RuntimeError(f"tick-to-trade ({kind}): " + "; ".join(errors))
    return run


# -- the simulator process ------------------------------------------------------------------


class SimulatorProcess:
    """The simulator in a process of its own, served on loopback as ``cjt sim`` serves it
    (JWT auth, the synthetic market running), trading the capture's products, with REST
    limits of :data:`BENCH_REST_RATE`.

    A separate process because ``cjt run`` talks to an exchange elsewhere: the simulator's
    matching, HTTP server and market must not run on the measured process's event loop.
    A context manager; leaving it terminates the process (killed if it lingers).
    """

    def __init__(self, workdir: Path, *, seed: int = 8, start_timeout: float = 30.0) -> None:
        self._workdir = workdir
        self._seed = seed
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self.endpoints: LiveEndpoints | None = None

    def __enter__(self) -> Self:
        key_file = Path(tempfile.mkdtemp(prefix="sim-", dir=self._workdir)) / "key.json"
        self._proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "tests.performance.latency_stack"),
                *("--key-file", str(key_file), "--seed", str(self._seed)),
            ],
            cwd=_REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(_REPO_ROOT)},
        )
        try:
            line = self._first_line()
            data = json.loads(line)
            self.endpoints = LiveEndpoints(
                rest_url=data["rest_url"], ws_user_url=data["ws_user_url"], key_file=key_file
            )
        except BaseException:
            self._stop()
            raise
        return self

    def _first_line(self) -> str:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        stdout = proc.stdout
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self._start_timeout)
        if not lines or not lines[0].strip():
            raise RuntimeError(
                f"the simulator process did not start within {self._start_timeout} s "
                f"(exit code {proc.poll()})"
            )
        return lines[0]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def _serve_simulator(key_file: Path, seed: int) -> None:
    """The child: serve until SIGTERM, SIGINT or the parent closing our stdin."""
    from cjt_actors.sim.server import serve_simulator
    from cjt_actors.sim.simulator import Simulator, SimulatorConfig

    simulator = Simulator(
        SimulatorConfig(
            products=tuple(PRODUCT_SPECS.values()),
            seed=seed,
            private_rate=BENCH_REST_RATE,
            public_rate=BENCH_REST_RATE,
        )
    )
    simulator.write_key_file(key_file)

    async def serve() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with serve_simulator(simulator) as endpoints:
                print(
                    json.dumps(
                        {"rest_url": endpoints.rest_url, "ws_user_url": endpoints.ws_user_url}
                    ),
                    flush=True,
                )
                async with trio.open_nursery() as nursery:

                    async def parent_gone() -> None:
                        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
                        nursery.cancel_scope.cancel()

                    nursery.start_soon(parent_gone)
                    async for _ in signals:
                        nursery.cancel_scope.cancel()
                        break

    trio.run(serve)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the live stack's simulator process")
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    _serve_simulator(args.key_file, args.seed)


if __name__ == "__main__":
    main()
