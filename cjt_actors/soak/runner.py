"""One chaos soak: the whole stack in real time against the embedded simulator, under faults.

:func:`run_soak` serves the simulator on loopback (real sockets, Hypercorn, as ``cjt paper``
does), builds the trading pipeline as ``cjt run`` builds it against a simulator (the
:class:`~cjt_actors.coinbase_venue.CoinbaseVenue` over REST and the user channel, with a key
from :meth:`Simulator.generate_key`), or the paper venue (``venue="paper"``), and runs it on
trio's normal clock for the soak's duration. Beside it, four tasks:

* the **monkey** injects the seeded plan (:mod:`.monkey`): simulator faults and actor
  crashes through the pipeline's :class:`~cjt_actors.chaos.CrashSwitch`, undoing each
  holding fault when its time is up;
* the **checker** (every ``check_every`` seconds) folds the new journal entries
  (:class:`~.tally.JournalTally`) and checks the invariants against the simulator's records
  (:mod:`.invariants`); a finding is recorded once per check and subject, with its time; an
  unsafe one (the stack placing orders it cannot account for) stops the run through the
  root, like an operator would;
* the **sampler** reads the process's RSS every ``rss_every`` seconds (:mod:`.memory`);
* the **progress** line says how it goes every 30 s (four times in a shorter soak).

The run ends as any run does: the duration is over, the root triggers OPERATOR, the trading
tree stops and the root's cleanup cancels every open order at the venue and verifies that
none remain. Then the end checks run against the simulator, the recovery times are computed
from the journal (:mod:`.recovery`), and the report is returned. A stop by a signal or an
emergency ends the soak early the same way; an emergency is a violation (``pipeline_exit``).

Why 5 s per REST attempt (not the client's default 30 s): a lost order response costs a
whole attempt before the client asks again, and the soak should spend its minutes on
recovering from many faults, not on waiting out a few. And open orders are always cancelled
at the stop (``shutdown.on_stop = "leave"`` is overridden): the end checks judge the
emergency cancel-all. Everything else is as configured.

A helper task that fails (an unreadable journal, a bug here) is recorded as a
``soak_error`` violation and stops the run through the root: the emergency protocol still
runs, and the report still comes out.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

import attrs
import trio

from ..actors.risk import RiskStatus
from ..chaos import CrashSwitch
from ..coinbase_venue import CoinbaseVenue
from ..config import Config, load_strategies
from ..emergency import ExitCode, RootOutcome
from ..errors import InvalidSpec
from ..exchange.rest import RestClient
from ..exchange.ws import WebSocketClient
from ..journal import AsyncJournal
from ..messages import StopReason
from ..paper import PaperVenue
from ..pipeline import Pipeline
from ..products import ProductRules
from ..session import pipeline_settings
from ..sim.server import serve_simulator
from ..sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig
from ..status import StatusBoard
from .invariants import (
    UNSAFE,
    Finding,
    RiskAgreement,
    SimFill,
    SimOrder,
    ViolationLog,
    check_balances,
    check_emergency,
    check_fill_intents,
    check_fills,
    check_nothing_open,
    check_order_rows,
    check_orders,
    check_paper_totals,
)
from .kinds import PAPER_KINDS, SIM_KINDS, FaultKind
from .memory import MIB, RssSample, read_rss
from .monkey import (
    ENDPOINTS,
    Monkey,
    PlannedFault,
    crash_targets,
    plan_faults,
)
from .recovery import FaultMark, book_recoveries, restart_counts, restart_recoveries
from .report import InjectedFault, SoakReport
from .tally import KINDS, JournalTally

__all__ = ["ATTEMPT_TIMEOUT", "SoakSettings", "run_soak"]

#: Seconds a REST attempt may take before the client retries (see the module docstring).
ATTEMPT_TIMEOUT = 5.0
#: Actors whose crash restarts the book under rest_for_one (everything started before it).
_BOOK_RESTARTERS = frozenset({"executor", "risk", "book", "feed"})


@attrs.frozen(kw_only=True)
class SoakSettings:
    """What to soak and how. ``minutes`` of real time; faults every ``fault_every`` seconds
    on average; the warm-up and quiet cool-down scale with short runs (see
    :mod:`.monkey`)."""

    minutes: float = attrs.field()
    seed: int
    journal: Path
    venue: Literal["sim", "paper"] = attrs.field(default="sim")
    fault_every: float = attrs.field(default=5.0)
    exclude: frozenset[FaultKind] = frozenset()  #: kinds left out of the plan
    config: Config = attrs.Factory(Config)
    config_source: str = "<defaults>"
    check_every: float = 1.0
    rss_every: float = 5.0
    progress_every: float | None = None  #: None: every 30 s, or four lines in a shorter run
    handle_signals: bool = False

    @minutes.validator
    @fault_every.validator
    def _positive(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0 < value < math.inf:
            raise InvalidSpec(f"{attribute.name}: must be > 0 and finite, got {value!r}")

    @venue.validator
    def _known(self, _: object, value: str) -> None:
        if value not in ("sim", "paper"):
            raise InvalidSpec(f"venue: must be 'sim' or 'paper', got {value!r}")

    def __attrs_post_init__(self) -> None:
        if not self.kinds:
            raise InvalidSpec(f"exclude: leaves no kind of fault for the {self.venue} venue")

    @property
    def kinds(self) -> tuple[FaultKind, ...]:
        """The fault kinds of this venue, less the excluded ones."""
        every = SIM_KINDS if self.venue == "sim" else PAPER_KINDS
        return tuple(kind for kind in every if kind not in self.exclude)

    @property
    def duration(self) -> float:
        return self.minutes * 60.0

    @property
    def progress_interval(self) -> float:
        if self.progress_every is not None:
            return self.progress_every
        return min(30.0, self.duration / 4)

    @property
    def warmup(self) -> float:
        """No fault before the stack has started and traded a little."""
        return min(10.0, self.duration / 5)

    @property
    def cooldown(self) -> float:
        """No fault (and no fault holding) in the last part of the run."""
        return min(15.0, self.duration / 4)


async def run_soak(settings: SoakSettings, *, say: Callable[[str], None] = print) -> SoakReport:
    """Run one soak (see the module docstring) and return its report."""
    config = settings.config
    strategies = load_strategies(config, source=settings.config_source)
    live = settings.venue == "sim"
    intensity = config.supervision
    plan = plan_faults(
        seed=settings.seed,
        duration=settings.duration,
        mean_interval=settings.fault_every,
        kinds=settings.kinds,
        targets=crash_targets([s.name for s in strategies]),
        endpoints=ENDPOINTS if live else ("market",),
        products=config.market.products,
        warmup=settings.warmup,
        cooldown=settings.cooldown,
        crash_limit=max(1, intensity.max_restarts // 2),
        crash_window=intensity.period,
    )
    simulator = Simulator(
        SimulatorConfig(
            seed=settings.seed, tick=config.simulator.tick, auth="jwt" if live else "none"
        )
    )
    credentials = simulator.generate_key()[0] if live else None
    say(
        f"cjt soak: {settings.minutes:g} min, seed {settings.seed}, venue {settings.venue}, "
        f"{len(plan)} faults planned (one every ~{settings.fault_every:g}s)"
    )
    async with serve_simulator(simulator) as endpoints:
        say(f"simulator: {endpoints.rest_url}")
        rest = RestClient(
            endpoints.rest_url,
            credentials=credentials,
            attempt_timeout=ATTEMPT_TIMEOUT,
            rng=random.Random(settings.seed),
        )
        async with rest, await AsyncJournal.open(settings.journal) as journal:
            say(f"journal: {settings.journal}")
            rules = {
                p: ProductRules.from_product(await rest.get_product(p))
                for p in config.market.products
            }
            venue = None
            if live:
                venue = CoinbaseVenue(
                    rest,
                    user_channel=WebSocketClient(
                        channels={"user": []},
                        url=endpoints.ws_user_url,
                        credentials=credentials,
                        rng=random.Random(settings.seed + 1),
                    ),
                    name="sim",
                )
            switch = CrashSwitch()
            board = StatusBoard()
            pipeline = Pipeline(
                attrs.evolve(
                    pipeline_settings(
                        config,
                        products=rules,
                        market_url=endpoints.ws_market_url,
                        strategies=strategies,
                        namespace=f"soak-{settings.seed}",
                        seed=settings.seed,
                    ),
                    cancel_on_stop=True,  # the end checks need the emergency cancel-all
                ),
                journal,
                board=board,
                handle_signals=settings.handle_signals,
                venue=venue,
                crash_switch=switch,
            )
            run = _Run(
                settings=settings,
                pipeline=pipeline,
                journal=journal,
                board=board,
                simulator=simulator if live else None,
                monkey=Monkey(simulator.faults, switch),
                products=tuple(rules),
                say=say,
            )
            return await run.run(plan)


@attrs.define(kw_only=True, eq=False)
class _Run:
    """The state of one soak while it runs (see the module docstring)."""

    settings: SoakSettings
    pipeline: Pipeline
    journal: AsyncJournal
    board: StatusBoard
    simulator: Simulator | None  #: None on the paper venue
    monkey: Monkey
    products: tuple[str, ...]
    say: Callable[[str], None]
    tally: JournalTally = attrs.Factory(JournalTally)
    injected: list[InjectedFault] = attrs.Factory(list)
    log: ViolationLog = attrs.Factory(ViolationLog)
    rss: list[RssSample] = attrs.Factory(list)
    rss_available: bool = True
    risk: RiskAgreement = attrs.Factory(RiskAgreement)
    t0: float = 0.0
    _stopping: bool = False

    # -- the run ---------------------------------------------------------------------------

    async def run(self, plan: Sequence[PlannedFault]) -> SoakReport:
        self.t0 = trio.current_time()
        self._sample_rss()
        async with trio.open_nursery() as helpers:
            helpers.start_soon(self._guarded, "monkey", lambda: self._inject(plan))
            helpers.start_soon(self._guarded, "checker", self._check_loop)
            helpers.start_soon(self._guarded, "rss sampler", self._rss_loop)
            helpers.start_soon(self._guarded, "progress", self._progress_loop)
            outcome = await self.pipeline.run(duration=self.settings.duration)
            helpers.cancel_scope.cancel(reason="the soak's pipeline stopped")
        duration = trio.current_time() - self.t0
        self.monkey.settle()
        await self._final_checks(outcome)
        return self._report(outcome, duration)

    async def _guarded(self, name: str, task: Callable[[], Awaitable[None]]) -> None:
        """Run a helper; its failure is a violation and stops the run (never silent)."""
        try:
            await task()
        except Exception as error:
            self._record(
                [
                    Finding(
                        check="soak_error", subject=name, detail=f"{type(error).__name__}: {error}"
                    )
                ]
            )
            self._stop(f"soak: the {name} failed: {type(error).__name__}: {error}")

    def _now(self) -> float:
        return trio.current_time() - self.t0

    def _stop(self, detail: str) -> None:
        if not self._stopping:
            self._stopping = True
            self.say(detail)
            self.pipeline.root.trigger(StopReason.OPERATOR, detail)

    def _record(self, findings: Sequence[Finding]) -> None:
        """Record (and print) the findings not seen before; stop on an unsafe one."""
        new = self.log.record(findings, self._now())
        for violation in new:
            self.say(
                f"violation t={violation.at:.1f}s {violation.check} {violation.subject}: "
                f"{violation.detail}"
            )
        unsafe = [v for v in new if v.check in UNSAFE]
        if unsafe:
            self._stop(f"soak: unsafe: {unsafe[0].check} {unsafe[0].subject}; stopping")

    # -- the monkey -------------------------------------------------------------------------

    async def _inject(self, plan: Sequence[PlannedFault]) -> None:
        async with trio.open_nursery() as holds:
            for fault in plan:
                await trio.sleep_until(self.t0 + fault.at)
                try:
                    undo = self.monkey.inject(fault)
                except Exception as error:  # recorded in the report: the plan goes on
                    self.injected.append(self._injected(fault, f"{type(error).__name__}: {error}"))
                    continue
                self.injected.append(self._injected(fault))
                if undo is not None:
                    holds.start_soon(self._undo_at, self.t0 + fault.at + fault.hold, undo)

    def _injected(self, fault: PlannedFault, error: str = "") -> InjectedFault:
        now = trio.current_time()
        return InjectedFault(at=now - self.t0, clock=now, fault=fault, error=error)

    @staticmethod
    async def _undo_at(deadline: float, undo: Callable[[], None]) -> None:
        await trio.sleep_until(deadline)
        undo()

    # -- the checker ------------------------------------------------------------------------

    async def _check_loop(self) -> None:
        while True:
            await trio.sleep(self.settings.check_every)
            await self._check()

    async def _read_journal(self) -> None:
        self.tally.ingest(await self.journal.read(after_seq=self.tally.last_seq, kinds=KINDS))

    async def _check(self) -> None:
        """The continuous checks. Order matters (see :mod:`.invariants`): the simulator's
        orders before the journal, the journal before the simulator's fills."""
        tally = self.tally
        orders = self._sim_orders()
        await self._read_journal()
        findings: list[Finding] = []
        if self.simulator is not None:
            findings += check_orders(orders, tally.intents)
            findings += check_fills(tally.fills, self._sim_fills(), complete=False)
        else:
            findings += self._paper_totals(complete=False)
        findings += check_fill_intents(tally.unique_fills(), tally.intents)
        status = self.board.get("risk", RiskStatus)
        findings += self.risk.observe(
            trio.current_time(),
            tally.fill_count,
            tally.positions(),
            None if status is None else {p.product_id: p.quantity for p in status.positions},
            None if status is None else status.at,
        )
        self._record(findings)

    def _sim_orders(self) -> list[SimOrder]:
        if self.simulator is None:
            return []
        return [
            SimOrder(
                client_order_id=o.client_order_id,
                order_id=o.order_id,
                status=str(o.status),
                filled_size=o.filled_size,
            )
            for o in self.simulator.engine.list_orders(DEFAULT_USER)
        ]

    def _sim_fills(self) -> dict[str, SimFill]:
        assert self.simulator is not None
        return {
            f.trade_id: SimFill(
                trade_id=f.trade_id,
                order_id=f.order_id,
                product_id=f.product_id,
                side=f.side.value,
                price=f.price,
                size=f.size,
                fee=f.commission,
            )
            for f in self.simulator.engine.fills(DEFAULT_USER)
        }

    def _paper_totals(self, *, complete: bool) -> list[Finding]:
        venue = self.pipeline.venue
        assert isinstance(venue, PaperVenue)
        stats = venue.statistics()
        return check_paper_totals(
            self.tally.unique_fills(),
            venue_fills=stats.fills,
            venue_filled_base=stats.filled_base,
            venue_fees=stats.fees,
            complete=complete,
        )

    async def _final_checks(self, outcome: RootOutcome) -> None:
        """After the emergency step: the end checks of :mod:`.invariants`."""
        tally = self.tally
        orders = self._sim_orders()
        await self._read_journal()
        findings: list[Finding] = []
        if self.simulator is not None:
            findings += check_orders(orders, tally.intents)
            findings += check_fills(tally.fills, self._sim_fills(), complete=True)
            findings += check_nothing_open(orders)
            findings += check_order_rows(await self.journal.orders(), orders)
            findings += check_balances(
                tally.unique_fills(), self._balance_changes(), self._currencies()
            )
        else:
            findings += self._paper_totals(complete=True)
            venue = self.pipeline.venue
            findings += [
                Finding(
                    check="open_after_stop",
                    subject=order.client_order_id,
                    detail=f"the paper venue still has it {order.state.status} after the stop",
                )
                for order in await venue.open_orders()
            ]
        findings += check_fill_intents(tally.unique_fills(), tally.intents)
        findings += check_emergency(tally.emergencies)
        if outcome.exit_code != ExitCode.OK:
            findings.append(
                Finding(
                    check="pipeline_exit",
                    subject=outcome.reason.value,
                    detail=f"the pipeline exited with code {int(outcome.exit_code)} "
                    f"({outcome.exit_code.name}): {outcome.detail}",
                )
            )
        self._record(findings)

    def _currencies(self) -> dict[str, tuple[str, str]]:
        assert self.simulator is not None
        specs = self.simulator.engine.products
        return {p: (specs[p].base_currency, specs[p].quote_currency) for p in self.products}

    def _balance_changes(self) -> dict[str, Decimal]:
        assert self.simulator is not None
        sim = self.simulator
        changes: dict[str, Decimal] = {}
        for base, quote in self._currencies().values():
            for currency in (base, quote):
                account = sim.engine.account(DEFAULT_USER, currency)
                total = Decimal(0) if account is None else account.available + account.hold
                changes[currency] = total - Decimal(sim.config.balances.get(currency, 0))
        return changes

    # -- memory and progress ----------------------------------------------------------------

    def _sample_rss(self) -> None:
        rss = read_rss()
        if rss is None:
            self.rss_available = False
        else:
            self.rss.append(RssSample(at=self._now(), rss=rss))

    async def _rss_loop(self) -> None:
        while self.rss_available:
            await trio.sleep(self.settings.rss_every)
            self._sample_rss()

    async def _progress_loop(self) -> None:
        while True:
            await trio.sleep(self.settings.progress_interval)
            restarts = sum(restart_counts(self.tally.children).values())
            memory = f"{self.rss[-1].rss / MIB:.1f} MiB" if self.rss else "unavailable"
            self.say(
                f"t={self._now():.0f}s: {len(self.injected)} faults, {restarts} restarts, "
                f"{len(self.tally.intents)} orders, {self.tally.fill_count} fills, "
                f"{len(self.log.violations)} violations, rss {memory}"
            )

    # -- the report -------------------------------------------------------------------------

    def _report(self, outcome: RootOutcome, duration: float) -> SoakReport:
        marks = [
            FaultMark(
                at=f.clock,
                market_data=f.fault.hits_market_data,
                distrusts_book=f.fault.kind is FaultKind.CRASH
                and f.fault.place in _BOOK_RESTARTERS,
            )
            for f in self.injected
            if not f.error
        ]
        settings = self.settings
        return SoakReport(
            seed=settings.seed,
            venue=settings.venue,
            minutes=settings.minutes,
            fault_every=settings.fault_every,
            duration=duration,
            faults=tuple(self.injected),
            restarts=restart_counts(self.tally.children),
            book_recovery=book_recoveries(marks, self.tally.trust, self.products),
            restart_recovery=restart_recoveries(self.tally.children),
            orders=len(self.tally.intents),
            fills=self.tally.fill_count,
            violations=tuple(self.log.violations),
            rss=tuple(self.rss) if self.rss_available else None,
            pipeline_exit_code=int(outcome.exit_code),
            stop_reason=outcome.reason.value,
            stop_detail=outcome.detail,
            journal=str(self.settings.journal),
        )
