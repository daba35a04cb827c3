"""The live path under the simulator's fault injection, checked against the simulator's records.

Each test drives the whole executor path (the ``CoinbaseVenue`` over the REST client and the
user channel, the :class:`~cjt_actors.execution.ExecutionCore`, the write-ahead journal) into
one fault the exchange can throw at it, then checks the simulator's own records, never what
the bot believes:

* every ``client_order_id`` the journal holds reached the simulator as one order at most,
  and the simulator holds no order of ours the journal has no intent for;
* every fill the simulator made for us is journaled exactly once (one ``OrderFilled`` and
  one row of the ``fills`` table per ``trade_id``), with the simulator's price, size and fee;
* positions and cash rebuilt from the journal's fills equal the simulator's balances;
* the journal's order rows agree with the simulator on each order's filled size and end;
* after the emergency step no order of ours is open there (``remaining == 0``).

Two harnesses share one set of checks (:func:`check_against_the_simulator`):

* :meth:`Harness.pipeline`: the whole trading tree (market maker, risk, executor, feed) on
  the synthetic market, a background task injecting faults at fixed virtual times, stopped
  by its duration through the root's emergency step;
* :meth:`Harness.executor`: the executor actor under a supervisor with scripted
  :class:`SubmitOrder` / :class:`CancelOrder` commands on a quiet exchange (no synthetic
  market), where a second account trades against our orders when the script says so;
  afterwards the emergency step runs as the root would run it.

Everything is in memory (ASGI transport, in-memory WebSockets) under trio's ``MockClock``,
with fixed seeds and trio's scheduling made deterministic
(:func:`~cjt_actors.determinism.deterministic_scheduling`): a run is the same run every
time, so a failure here reproduces.
"""

from __future__ import annotations

import collections
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import orjson
import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection

from cjt_actors.actors.executor import ExecutorActor, ExecutorCommand
from cjt_actors.actors.risk import ExecutorEvent, StrategyEvent
from cjt_actors.channels import Mailbox, Outbox
from cjt_actors.child import ChildSpec
from cjt_actors.coinbase_venue import CoinbaseVenue, CoinbaseVenueStatistics
from cjt_actors.config import Config, load_strategies
from cjt_actors.determinism import deterministic_scheduling
from cjt_actors.emergency import ExitCode, RootOutcome
from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.ratelimit import RateLimiter
from cjt_actors.exchange.rest import RestClient, RetryPolicy
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.execution import ExecutionCore
from cjt_actors.journal import AsyncJournal, Entry
from cjt_actors.lifecycle import FULLY_FILLED_CANCEL_REASON, OrderState, TrackedOrder
from cjt_actors.market_messages import FeedState, FeedStatusChanged
from cjt_actors.order_messages import (
    CancelOrder,
    EmergencyCancelFinished,
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.pipeline import Pipeline, PipelineSettings
from cjt_actors.policy import Backoff
from cjt_actors.products import ProductRules
from cjt_actors.sim import orders as sim_orders
from cjt_actors.sim.faults import RestFaultKind
from cjt_actors.sim.inmemory import IN_MEMORY_HOST, InMemoryExchange
from cjt_actors.sim.rest import PREFIX
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig
from cjt_actors.status import StatusBoard
from cjt_actors.supervisor import Supervisor

D = Decimal
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the simulated exchange's virtual wall clock
PRODUCT = "BTC-USD"
BASE, QUOTE = "BTC", "USD"
ORDERS = PREFIX + "/orders"
BATCH_CANCEL = ORDERS + "/batch_cancel"
#: The client's retries: four attempts, short pauses (the defaults' shape, compressed).
RETRY = RetryPolicy(max_attempts=4, backoff=Backoff(min=0.1, max=1.0, jitter=0.0))
#: Seconds an attempt may take before the client gives up on its answer.
ATTEMPT_TIMEOUT = 3.0
#: The root's deadline for the emergency step (PipelineSettings' default).
EMERGENCY_TIMEOUT = 10.0
#: The account that trades against ours in the scripted tests.
OTHER_USER = "user-2"
#: Virtual seconds a scripted test waits for something before failing.
WITHIN = 30.0

Injector = Callable[["Live"], Awaitable[None]]


# -- what the exchange saw: every REST request and its answer --------------------------------


@attrs.define
class Request:
    at: float
    method: str
    path: str
    client_order_id: str = ""  #: of a create (``POST /orders``), read from its body
    status: int | None = None  #: None: no answer was ever sent (lost, or the client gave up)


class RequestLog:
    """ASGI middleware in front of the simulator's app: records each request and its status.

    The simulator counts creates per ``client_order_id`` but not what it answered; this log
    is how a test knows a 5xx or a 429 was really served, or a response really lost.

    It can also arm a fault at the moment a given request arrives (:meth:`on_next`): the
    simulator's REST faults match a path *prefix*, and every order route shares the create's
    path as a prefix, so only timing makes a burst start on a submit rather than a poll.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[Request] = []
        self._armed: dict[tuple[str, str], Callable[[], None]] = {}

    def on_next(self, method: str, path: str, action: Callable[[], None]) -> None:
        """Run ``action`` when the next ``method path`` request arrives, before the
        simulator sees it (so a fault it injects applies to that very request)."""
        self._armed[method, path] = action

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":  # pragma: no cover - the REST client speaks only HTTP
            await self.app(scope, receive, send)
            return
        request = Request(at=trio.current_time(), method=scope["method"], path=scope["path"])
        self.requests.append(request)
        action = self._armed.pop((request.method, request.path), None)
        if action is not None:
            action()
        # A create's body is read here, first: a faulted request never reaches the handler.
        buffered: list[Any] = []
        if (request.method, request.path) == ("POST", ORDERS):
            body = bytearray()
            while not buffered or buffered[-1].get("more_body", False):
                buffered.append(await receive())
                body.extend(buffered[-1].get("body", b""))
            request.client_order_id = orjson.loads(body)["client_order_id"]

        async def replay() -> Any:
            return buffered.pop(0) if buffered else await receive()

        async def spy(message: Any) -> None:
            if message["type"] == "http.response.start":
                request.status = message["status"]
            await send(message)

        await self.app(scope, replay, spy)

    def count(self, method: str, path: str, status: int | None) -> int:
        return sum(
            1 for r in self.requests if (r.method, r.path, r.status) == (method, path, status)
        )

    def first(self, status: int | None) -> Request:
        """The first request answered with ``status`` (None: never answered)."""
        found = [r for r in self.requests if r.status == status]
        assert found, f"no request was answered with {status}"
        return found[0]

    def creates(self, status: int | None) -> set[str]:
        """The ``client_order_id`` of every create answered with ``status``."""
        return {
            r.client_order_id
            for r in self.requests
            if (r.method, r.path, r.status) == ("POST", ORDERS, status)
        }

    def statuses(self, status: int) -> list[tuple[str, str]]:
        """(method, path) of every request answered with ``status``."""
        return [(r.method, r.path) for r in self.requests if r.status == status]


# -- the stack ---------------------------------------------------------------------------------


class CountingConnector:
    """The in-memory WebSocket connector (an ``exchange.ws.Connector``), counting
    connections per URL: how a test sees that a closed or dropped channel came back."""

    def __init__(self, exchange: InMemoryExchange) -> None:
        self.exchange = exchange
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(
        self, url: str, *, max_message_size: int
    ) -> AbstractAsyncContextManager[WebSocketConnection]:
        self.counts[url] += 1
        return self.exchange.connect(url, max_message_size=max_message_size)


@attrs.frozen(kw_only=True)
class Live:
    """The simulator in memory, and our REST client, user channel, venue and journal on it."""

    sim: Simulator
    exchange: InMemoryExchange
    connector: CountingConnector
    log: RequestLog
    rest: RestClient
    venue: CoinbaseVenue
    journal: AsyncJournal
    journal_path: Path
    t0: float

    async def at(self, seconds: float) -> None:
        """Sleep until ``seconds`` of virtual time after the stack was built."""
        await trio.sleep_until(self.t0 + seconds)


@attrs.frozen(kw_only=True)
class Run:
    """What a run left behind, read once everything had stopped."""

    sim: Simulator
    log: RequestLog
    entries: list[Entry]
    fills_table: dict[str, str]  #: the journal's ``fills`` table: trade_id -> order key
    order_rows: dict[str, dict[str, Any]]  #: the journal's ``orders`` table
    digest: str  #: the journal's hash (every table)
    venue: CoinbaseVenueStatistics
    connects: collections.Counter[str]
    outcome: RootOutcome | None = None

    def of(self, kind: type[Any]) -> list[Any]:
        return [m for _, _, m in self.entries if isinstance(m, kind)]

    def transitions(self, client_order_id: str) -> list[tuple[OrderState, OrderState]]:
        return [
            (u.previous, u.state)
            for u in self.of(OrderUpdated)
            if u.client_order_id == client_order_id
        ]


@attrs.define
class Desk:
    """A script's hands in the executor harness: commands, the other account, the clock."""

    live: Live
    core: ExecutionCore
    commands: Outbox[ExecutorCommand]

    @property
    def sim(self) -> Simulator:
        return self.live.sim

    async def submit(
        self, coid: str, side: Side, size: str, price: str, *, post_only: bool = True
    ) -> None:
        await self.commands.send(
            SubmitOrder(
                strategy="test",
                client_order_id=coid,
                product_id=PRODUCT,
                side=side,
                order_type=OrderType.LIMIT,
                size=D(size),
                limit_price=D(price),
                time_in_force=TimeInForce.GTC,
                post_only=post_only,
                at=trio.current_time(),
            )
        )

    async def cancel(self, coid: str) -> None:
        await self.commands.send(
            CancelOrder(
                strategy="test", client_order_id=coid, reason="test", at=trio.current_time()
            )
        )

    def order(self, coid: str) -> TrackedOrder:
        order = self.core.order(coid)
        assert order is not None, f"the executor has no order {coid!r}"
        return order

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait (in virtual time) until ``condition()`` holds; fail naming ``what``."""
        with trio.move_on_after(WITHIN):
            while not condition():
                await trio.sleep(0.05)
            return
        raise AssertionError(f"{what}: not within {WITHIN} s of virtual time")

    def other_account_sells(self, size: str) -> None:
        """Another account's market sell, straight into the engine (no checkpoint: nothing
        of ours runs between the trade and the script's next line)."""
        outcome = self.sim.engine.place(
            sim_orders.OrderRequest(
                user_id=OTHER_USER,
                client_order_id=f"other-{len(self.sim.engine.list_orders(OTHER_USER))}",
                product_id=PRODUCT,
                side=sim_orders.Side.SELL,
                configuration=sim_orders.MarketIoc(base_size=D(size)),
            ),
            now=self.sim.epoch(),
        )
        assert isinstance(outcome, sim_orders.OrderAccepted), outcome
        assert outcome.order.filled_size == D(size), "the other account's sell did not fill"
        self.sim.publish()  # the user channel hears of it, as after any REST call


Script = Callable[[Desk], Awaitable[None]]


class Harness:
    """Builds the stack, runs one scenario, and reads back what it left (see module doc)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.runs = 0

    @asynccontextmanager
    async def live(self, *, seed: int, market: bool, user_channel: bool) -> AsyncIterator[Live]:
        self.runs += 1
        sim = Simulator(
            SimulatorConfig(seed=seed, start_epoch=EPOCH, tick=0.25, market_enabled=market)
        )
        credentials, _ = sim.generate_key()
        exchange = InMemoryExchange(sim)
        connector = CountingConnector(exchange)
        log = RequestLog(sim.asgi)
        journal_path = self.tmp_path / f"journal-{self.runs}.sqlite"
        async with trio.open_nursery() as background:
            await background.start(sim.run_background)
            rest = RestClient(
                exchange.rest_url,
                credentials=credentials,
                transport=httpx.ASGITransport(app=log, client=(IN_MEMORY_HOST, 50000)),
                now=sim.epoch,
                retry=RETRY,
                attempt_timeout=ATTEMPT_TIMEOUT,
                # The default limits and 429 penalty, with the penalty's jitter seeded.
                rate_limiter=RateLimiter(rng=random.Random(seed)),
                rng=random.Random(seed),
            )
            channel = None
            if user_channel:
                channel = WebSocketClient(
                    channels={"user": []},
                    url=exchange.ws_user_url,
                    credentials=credentials,
                    connect=connector,
                    now=sim.epoch,
                    rng=random.Random(seed),
                )
            async with rest, await AsyncJournal.open(journal_path, inline=True) as journal:
                yield Live(
                    sim=sim,
                    exchange=exchange,
                    connector=connector,
                    log=log,
                    rest=rest,
                    venue=CoinbaseVenue(rest, user_channel=channel, trust_after=2.0),
                    journal=journal,
                    journal_path=journal_path,
                    t0=trio.current_time(),
                )
            background.cancel_scope.cancel()

    async def _read(self, live: Live, outcome: RootOutcome | None) -> Run:
        entries = await live.journal.read()
        rows = await live.journal.orders()
        digest = await live.journal.digest()
        with closing(sqlite3.connect(live.journal_path)) as db:
            fills = dict(db.execute("SELECT trade_id, order_key FROM fills").fetchall())
        return Run(
            sim=live.sim,
            log=live.log,
            entries=entries,
            fills_table=fills,
            order_rows=rows,
            digest=digest,
            venue=live.venue.statistics(),
            connects=live.connector.counts,
            outcome=outcome,
        )

    def pipeline(self, inject: Injector, *, duration: float = 40.0, seed: int = 8) -> Run:
        """The whole trading tree for ``duration`` virtual seconds, ``inject`` beside it."""
        with deterministic_scheduling(seed):
            return trio.run(self._pipeline, inject, duration, seed, clock=_clock())

    def executor(self, script: Script, *, seed: int = 5, user_channel: bool = True) -> Run:
        """The executor actor on a quiet exchange, driven by ``script``; then the emergency.

        Without ``user_channel`` the venue learns everything by polling and lookups.
        """
        with deterministic_scheduling(seed):
            return trio.run(self._executor, script, seed, user_channel, clock=_clock())

    async def _pipeline(self, inject: Injector, duration: float, seed: int) -> Run:
        async with self.live(seed=seed, market=True, user_channel=True) as live:
            rules = {PRODUCT: ProductRules.from_product(await live.rest.get_product(PRODUCT))}
            settings = PipelineSettings(
                products=rules,
                market_url=live.exchange.ws_market_url,
                connector=live.connector,
                strategies=load_strategies(Config(), source="test"),
                namespace="live-faults",
                emergency_timeout=EMERGENCY_TIMEOUT,
                seed=seed,
            )
            pipeline = Pipeline(
                settings, live.journal, board=StatusBoard(), handle_signals=False, venue=live.venue
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(inject, live)
                outcome = await pipeline.run(duration=duration)
                nursery.cancel_scope.cancel()
            return await self._read(live, outcome)

    async def _executor(self, script: Script, seed: int, user_channel: bool) -> Run:
        async with self.live(seed=seed, market=False, user_channel=user_channel) as live:
            live.sim.add_user(OTHER_USER)
            core = ExecutionCore(live.venue, live.journal)
            commands = Mailbox[ExecutorCommand]("test->executor", capacity=64)
            to_risk = Mailbox[ExecutorEvent]("executor->risk", capacity=1024)
            to_test = Mailbox[StrategyEvent]("executor->test", capacity=1024)
            actor = ExecutorActor(
                core=core, commands=commands, to_risk=to_risk, to_strategies={"test": to_test}
            )
            supervisor = Supervisor(
                "trading",
                [ChildSpec(name="executor", run=actor.run)],
                mailboxes=[commands, to_risk, to_test],
            )
            async with trio.open_nursery() as nursery:
                for box in (to_risk, to_test):
                    nursery.start_soon(_drain, box)
                await nursery.start(supervisor.run)
                sender = commands.sender()
                try:
                    await script(Desk(live=live, core=core, commands=sender))
                finally:
                    sender.close()
                nursery.cancel_scope.cancel()
            assert supervisor.restart_counts() == {"executor": 0}
            # What the root's cleanup step does once the tree has stopped.
            with trio.fail_after(EMERGENCY_TIMEOUT):
                await core.emergency_cancel_all()
            return await self._read(live, None)


def _clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead whenever every task is blocked."""
    return trio.testing.MockClock(autojump_threshold=0)


async def _drain(box: Mailbox[Any]) -> None:
    """Read a mailbox nobody else reads, so the executor never blocks on it."""
    async for _ in box.receiver():
        pass


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


# -- the checks every test makes -------------------------------------------------------------


def _balance(sim: Simulator, currency: str) -> Decimal:
    account = sim.engine.account(DEFAULT_USER, currency)
    total = D(0) if account is None else account.available + account.hold
    return total - D(sim.config.balances.get(currency, 0))


def check_against_the_simulator(run: Run) -> None:
    """The invariants of the module docstring, each against the simulator's own records."""
    sim = run.sim
    intents = {i.client_order_id for i in run.of(SubmitOrder)}
    ours = sim.engine.list_orders(DEFAULT_USER)
    assert intents, "no order was ever submitted"

    # No duplicate order, and nothing placed that the journal has no intent for.
    per_coid = collections.Counter(o.client_order_id for o in ours)
    duplicates = {coid: n for coid, n in per_coid.items() if n > 1}
    assert duplicates == {}, f"orders placed more than once: {duplicates}"
    assert set(per_coid) <= intents, f"orders without an intent: {set(per_coid) - intents}"
    assert set(sim.create_requests) <= intents

    # Every simulator fill of ours journaled exactly once, as the simulator recorded it.
    truth = {f.trade_id: f for f in sim.engine.fills(DEFAULT_USER)}
    assert truth, "the simulator made no fill for us: nothing below would be checked"
    journaled = run.of(OrderFilled)
    times = collections.Counter(f.trade_id for f in journaled)
    assert {t: n for t, n in times.items() if n > 1} == {}, "a fill journaled twice"
    missing = set(truth) - set(times)
    assert missing == set(), f"simulator fills never journaled: {sorted(missing)}"
    assert set(times) == set(truth), f"journaled fills the simulator never made: {times}"
    coid_of = {o.order_id: o.client_order_id for o in ours}
    assert run.fills_table == {t: coid_of[f.order_id] for t, f in truth.items()}
    for fill in journaled:
        real = truth[fill.trade_id]
        assert (fill.order_id, fill.side.value, fill.price, fill.size, fill.fee) == (
            real.order_id,
            real.side.value,
            real.price,
            real.size,
            real.commission,
        ), fill.trade_id

    # Positions and cash rebuilt from the journal equal the simulator's balances.
    position = sum((f.size if f.side is Side.BUY else -f.size for f in journaled), start=D(0))
    cash = sum(
        (
            -(f.price * f.size) - f.fee if f.side is Side.BUY else f.price * f.size - f.fee
            for f in journaled
        ),
        start=D(0),
    )
    assert position == _balance(sim, BASE)
    assert cash == _balance(sim, QUOTE)

    # The journal's order rows agree with the simulator on what happened to each order.
    for order in ours:
        row = run.order_rows[order.client_order_id]
        assert row["order_id"] == order.order_id
        assert D(row["filled_size"]) == order.filled_size, order.client_order_id
        assert row["state"] == order.status.value, (order.client_order_id, row["state"])

    # The emergency step: nothing of ours left open at the venue.
    finished = run.of(EmergencyCancelFinished)
    assert len(finished) == 1, f"the emergency step journaled {len(finished)} outcomes"
    assert finished[0].remaining == 0, finished[0]
    still_open = [o.client_order_id for o in ours if o.status.value in ("OPEN", "PENDING")]
    assert still_open == []
    if run.outcome is not None:
        assert run.outcome.exit_code == ExitCode.OK, run.outcome


# -- the whole pipeline under faults ---------------------------------------------------------


def test_a_lost_create_response_is_retried_under_the_same_id_and_places_one_order(
    harness: Harness,
) -> None:
    """The exchange takes four creates but never answers them: each order is live while the
    client waits, and its retry under the same ``client_order_id`` gets the original back."""

    async def inject(live: Live) -> None:
        await live.at(10)
        live.sim.faults.lose_next_order_responses(4)

    run = harness.pipeline(inject)
    check_against_the_simulator(run)
    assert run.log.count("POST", ORDERS, None) == 4  # the four responses really were lost
    lost = run.log.creates(None)
    assert lost, "no create lost its response"
    for coid in lost:
        # Sent again under its id, answered with the original: one order, journaled as it.
        assert run.sim.create_requests[coid] == 2, coid
        (placed,) = [
            o for o in run.sim.engine.list_orders(DEFAULT_USER) if o.client_order_id == coid
        ]
        assert run.order_rows[coid]["order_id"] == placed.order_id


@pytest.mark.parametrize(
    ("kind", "count", "status"),
    [
        (RestFaultKind.SERVER_ERROR, 6, 503),
        (RestFaultKind.HTML, 6, 502),
        (RestFaultKind.RATE_LIMITED, 3, 429),
    ],
)
def test_error_bursts_during_submits_lose_and_duplicate_nothing(
    harness: Harness,
    kind: RestFaultKind,
    count: int,
    status: int,
) -> None:
    """A burst of 5xx or 429 answers on the order routes while the market maker requotes."""

    async def inject(live: Live) -> None:
        await live.at(10)
        live.log.on_next(
            "POST", ORDERS, lambda: live.sim.faults.fail_next(kind, count, path_prefix=ORDERS)
        )

    run = harness.pipeline(inject)
    check_against_the_simulator(run)
    assert run.sim.faults.pending_rest_faults == 0
    assert len(run.log.statuses(status)) == count
    first = run.log.first(status)
    assert (first.method, first.path) == ("POST", ORDERS), "the burst did not start on a submit"
    coid = first.client_order_id
    # The refused attempts placed nothing; exactly one attempt of this create got through.
    assert run.sim.create_requests[coid] == 1
    moves = run.transitions(coid)
    if count >= RETRY.max_attempts:
        # Every attempt refused: UNKNOWN (never REJECTED), looked up, absent, so re-sent
        # under the same client_order_id.
        assert (OrderState.SUBMITTED, OrderState.UNKNOWN) in moves
        assert (OrderState.UNKNOWN, OrderState.PENDING) in moves
        assert moves.count((OrderState.PENDING, OrderState.SUBMITTED)) == 2
    else:
        assert (OrderState.SUBMITTED, OrderState.UNKNOWN) not in moves  # retries absorbed it
        assert moves.count((OrderState.PENDING, OrderState.SUBMITTED)) == 1


def test_a_429_storm_through_the_emergency_deadline_is_reported_not_hidden(
    harness: Harness,
) -> None:
    """Five 429s from t=36 s, the stop at t=40 s: the last ones answer the emergency step's
    own requests, and the client honours the exchange's "slow down" (1 s doubling to 16 s)
    past the step's 10 s deadline. The step cannot finish; what matters is that it says so:
    exit code 4 ("check the venue"), an EmergencyCancelFinished marked not completed whose
    ``remaining_ids`` name every order the simulator still has open (the ones to check),
    and no order the journal does not know about."""

    async def inject(live: Live) -> None:
        await live.at(36)
        live.sim.faults.fail_next(RestFaultKind.RATE_LIMITED, 5, path_prefix=ORDERS)

    run = harness.pipeline(inject, duration=40)
    served = run.log.statuses(429)
    assert len(served) >= 4, f"the burst was not served before the stop: {served}"
    assert run.outcome is not None
    assert run.outcome.exit_code == ExitCode.CLEANUP_INCOMPLETE
    [finished] = run.of(EmergencyCancelFinished)
    assert finished.completed is False
    open_at_sim = sorted(
        o.client_order_id
        for o in run.sim.engine.list_orders(DEFAULT_USER)
        if o.status.value in ("OPEN", "PENDING")
    )
    assert open_at_sim, "the storm did not outlast the deadline: nothing to report"
    assert set(open_at_sim) <= set(finished.remaining_ids), finished
    intents = {m.client_order_id for m in run.of(SubmitOrder)}
    assert set(open_at_sim) <= intents  # every order left open is one the journal knows


def test_a_dropped_user_channel_replays_fills_on_reconnect_and_each_counts_once(
    harness: Harness,
) -> None:
    replayable: list[int] = []

    async def inject(live: Live) -> None:
        live.sim.faults.set_replay_fills_on_reconnect(True)
        for at in (10, 20, 30):
            await live.at(at)
            replayable.append(len(live.sim.fills_to_replay(DEFAULT_USER)))
            live.sim.faults.drop_connections(endpoint="user")

    run = harness.pipeline(inject)
    check_against_the_simulator(run)
    assert replayable[-1] > 0, "there were no fill updates to replay"
    # Three drops, each reconnected; the emergency step's own run connects once more.
    assert run.connects[InMemoryExchange.ws_user_url] == 1 + 3 + 1
    assert run.venue.user_channel_connects == 1 + 3 + 1


def test_a_1001_close_of_every_websocket_reconnects_both_and_loses_nothing(
    harness: Harness,
) -> None:
    async def inject(live: Live) -> None:
        await live.at(10)
        live.sim.faults.close_connections(1001)

    run = harness.pipeline(inject)
    check_against_the_simulator(run)
    assert "ws close 1001 *" in run.sim.faults.history
    assert run.connects[InMemoryExchange.ws_market_url] == 2
    assert run.connects[InMemoryExchange.ws_user_url] == 1 + 1 + 1  # + the emergency's run
    reconnecting = [s for s in run.of(FeedStatusChanged) if s.state is FeedState.RECONNECTING]
    assert reconnecting, "the feed never reported its reconnect"


# -- the executor, scripted ------------------------------------------------------------------


@pytest.mark.parametrize("user_channel", [True, False])
def test_lost_responses_to_every_attempt_place_one_order_that_is_found_again(
    harness: Harness, user_channel: bool
) -> None:
    """No attempt of a create is answered, yet the order is live. With the user channel, its
    OPEN update says so while the client still waits; polling alone knows nothing of it, so
    the executor's lookup by ``client_order_id`` must find it (UNKNOWN -> OPEN): no re-send."""

    async def script(desk: Desk) -> None:
        desk.sim.faults.lose_next_order_responses(RETRY.max_attempts)
        await desk.submit("lost-1", Side.BUY, "0.01", "60000")
        await desk.until(lambda: desk.core.statistics().unknown == 1, "the unknown outcome")
        await desk.until(lambda: desk.order("lost-1").state is OrderState.OPEN, "OPEN")
        desk.other_account_sells("0.004")
        await desk.until(lambda: desk.order("lost-1").filled_size == D("0.004"), "the fill")

    run = harness.executor(script, user_channel=user_channel)
    check_against_the_simulator(run)
    assert run.sim.create_requests["lost-1"] == RETRY.max_attempts
    assert run.log.count("POST", ORDERS, None) == RETRY.max_attempts
    moves = run.transitions("lost-1")
    if not user_channel:
        assert moves[:3] == [
            (OrderState.PENDING, OrderState.SUBMITTED),
            (OrderState.SUBMITTED, OrderState.UNKNOWN),
            (OrderState.UNKNOWN, OrderState.OPEN),
        ]
        assert run.venue.lookups >= 1
    else:
        assert moves[:2] == [
            (OrderState.PENDING, OrderState.SUBMITTED),
            (OrderState.SUBMITTED, OrderState.OPEN),
        ]
    assert run.order_rows["lost-1"]["state"] == "CANCELLED"  # by the emergency step


def test_a_cancel_of_an_order_that_filled_meanwhile_ends_filled_with_its_fill(
    harness: Harness,
) -> None:
    async def script(desk: Desk) -> None:
        await desk.submit("gone-1", Side.BUY, "0.01", "60000")
        await desk.submit("rest-1", Side.SELL, "0.01", "70000")  # for the emergency step
        await desk.until(lambda: desk.order("gone-1").state is OrderState.OPEN, "OPEN")
        await desk.until(lambda: desk.order("rest-1").state is OrderState.OPEN, "OPEN")
        # The user channel stalls: the executor cannot hear of the fill before it cancels.
        desk.sim.faults.stall_connections(endpoint="user")
        desk.other_account_sells("0.01")
        await desk.cancel("gone-1")
        await desk.until(lambda: desk.order("gone-1").state is OrderState.FILLED, "FILLED")
        desk.sim.faults.resume_connections(endpoint="user")

    run = harness.executor(script)
    check_against_the_simulator(run)
    moves = [
        (u.previous, u.state, u.reason)
        for u in run.of(OrderUpdated)
        if u.client_order_id == "gone-1"
    ]
    # The cancel was sent after the fill, and the venue's answer is decisive: FILLED.
    assert moves[-2:] == [
        (OrderState.OPEN, OrderState.CANCEL_PENDING, ""),
        (OrderState.CANCEL_PENDING, OrderState.FILLED, FULLY_FILLED_CANCEL_REASON),
    ]
    assert run.log.count("POST", BATCH_CANCEL, 200) == 2  # this cancel, the emergency's
    assert run.venue.cancels_failed == 1
    assert list(run.fills_table.values()) == ["gone-1"]
    [finished] = run.of(EmergencyCancelFinished)
    assert finished.open_before == 1  # rest-1 only


def test_partial_fills_then_a_cancel_keep_every_fill_and_release_the_rest(
    harness: Harness,
) -> None:
    async def script(desk: Desk) -> None:
        await desk.submit("part-1", Side.BUY, "0.01", "60000")
        await desk.submit("rest-1", Side.SELL, "0.01", "70000")  # for the emergency step
        await desk.until(lambda: desk.order("part-1").state is OrderState.OPEN, "OPEN")
        desk.other_account_sells("0.003")
        await desk.until(lambda: desk.order("part-1").filled_size == D("0.003"), "0.003 filled")
        desk.other_account_sells("0.002")
        await desk.until(lambda: desk.order("part-1").filled_size == D("0.005"), "0.005 filled")
        assert desk.order("part-1").state is OrderState.PARTIALLY_FILLED
        await desk.cancel("part-1")
        await desk.until(lambda: desk.order("part-1").state is OrderState.CANCELLED, "CANCELLED")

    run = harness.executor(script)
    check_against_the_simulator(run)
    assert run.order_rows["part-1"]["state"] == "CANCELLED"
    assert D(run.order_rows["part-1"]["filled_size"]) == D("0.005")
    assert sorted(run.fills_table.values()) == ["part-1", "part-1"]
    usd = run.sim.engine.account(DEFAULT_USER, QUOTE)
    assert usd is not None
    assert usd.hold == 0  # the unfilled rest's reservation was released
    [finished] = run.of(EmergencyCancelFinished)
    assert finished.open_before == 1  # rest-1 only


def test_the_same_seed_gives_the_same_run(harness: Harness) -> None:
    """What makes a failure above reproducible: the journal is the same, byte for byte."""

    async def script(desk: Desk) -> None:
        await desk.submit("same-1", Side.BUY, "0.01", "60000")
        await desk.until(lambda: desk.order("same-1").state is OrderState.OPEN, "OPEN")
        desk.other_account_sells("0.004")
        await desk.until(lambda: desk.order("same-1").filled_size == D("0.004"), "the fill")

    first, second = harness.executor(script), harness.executor(script)
    check_against_the_simulator(first)
    assert first.digest == second.digest
