"""An Erlang/OTP supervisor on trio.

A trio nursery is one-cancels-all: one task's exception cancels its siblings. A trading
system needs the opposite for most failures (a crashed strategy must not take the order
executor with it), and the OTP vocabulary for choosing: restart strategies, restart types,
restart intensity, shutdown timeouts and escalation. This module provides that vocabulary on
top of trio's structured concurrency rather than instead of it:

* Each child runs in its own task under a **monitor** (``_Run._monitor``) with its own
  cancel scope. The monitor catches ``Exception`` only, so ``Cancelled``,
  ``KeyboardInterrupt`` and other ``BaseException``s are never swallowed, and reports the
  exit to the supervisor's loop. Siblings never see the error.
* The **loop** (``_Run._supervise``) is the only place that decides: it starts children in
  order (each must call ``task_status.started()``), applies the strategy and restart type to
  each exit, counts restarts in a sliding window, sleeps the backoff (as a deadline, so other
  exits are still handled meanwhile), and gives up when the window overflows.
* **Stopping** a child cancels its scope and waits for it; its cleanup gets
  ``shutdown_timeout`` (see :meth:`ChildContext.cleanup`). trio cannot kill a task, so a child
  that overruns is reported (:class:`~cjt_actors.messages.ChildShutdownOverran`) and waited
  for: two incarnations of one actor never run at once.
* **Shutdown is ordered.** The children run inside a shielded scope, so cancelling the
  supervisor from outside does not cancel them all at once: a watcher task outside the shield
  notices, and the loop stops the children in reverse start order (OTP), then the
  cancellation continues upward.
* **Giving up** stops the remaining children (reverse order) and raises
  :class:`~cjt_actors.errors.SupervisorGaveUp` from an ``ExceptionGroup`` of the failures in
  the window. A parent supervisor sees that as a child crash: escalation. It is raised after
  every nursery has closed, so it reaches the parent bare, not wrapped in a group.
* Every start, exit, crash, stop, restart decision, give-up and escalation is a typed event
  (:mod:`cjt_actors.messages`) sent to the optional observer outbox.

Semantics, defaults and the table against OTP are in ``docs/architecture.md``.
"""

from __future__ import annotations

import enum
import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, final

import attrs
import trio

from .channels import Mailbox, Outbox
from .child import ChildContext, ChildFunction, ChildSpec
from .errors import ChildStartError, InvalidSpec, SupervisorGaveUp
from .logs import actor_scope
from .messages import (
    ChildCrashed,
    ChildExited,
    ChildShutdownOverran,
    ChildStarted,
    ChildStopped,
    FailureEscalated,
    IntensityExceeded,
    RestartScheduled,
    SupervisorEvent,
    SupervisorStarted,
    SupervisorStopped,
)
from .policy import AutoShutdown, Backoff, Intensity, Restart, Strategy

__all__ = [
    "AutoShutdown",
    "Backoff",
    "ChildContext",
    "ChildFunction",
    "ChildSpec",
    "ChildState",
    "Intensity",
    "Restart",
    "Strategy",
    "Supervisor",
]

#: Longest error text carried in an event; exception messages can be long (HTML bodies).
_MAX_ERROR_TEXT = 500

#: Seconds past a child's shutdown deadline before it is reported as overrunning: the time
#: its cancelled cleanup scope needs to unwind.
OVERRUN_GRACE = 0.05


class ChildState(enum.Enum):
    """Where a child is in its life, as :meth:`Supervisor.child_states` reports it."""

    STARTING = "starting"  #: started, not yet ready
    RUNNING = "running"  #: ready and running
    STOPPING = "stopping"  #: cancelled by the supervisor, cleanup under way
    WAITING = "waiting"  #: a restart is scheduled (backoff)
    ENDED = "ended"  #: not running and no restart scheduled
    REMOVED = "removed"  #: a TEMPORARY child that ended: never started again


@final
class Supervisor:
    """Runs children under OTP semantics. Use :meth:`run` directly, or nest it via :meth:`as_child`.

    Args:
        name: the supervisor's name; its path when run at the top of a tree.
        children: child specs in start order (stop order is the reverse).
        strategy: ONE_FOR_ONE (default), ONE_FOR_ALL or REST_FOR_ONE.
        intensity: the restart window (default 5 restarts in 60 s; see
            :mod:`cjt_actors.policy` for why not OTP's 1 in 5 s).
        backoff: the default restart backoff of every child (a spec may set its own).
        auto_shutdown: whether significant children ending ends the supervisor.
        mailboxes: the mailboxes this supervisor owns. They live as long as the supervisor
            object, across restarts of its children and of the supervisor itself, so no
            queued message is lost to a restart. Exposed for statistics.
        observer: where supervision events go. With a BLOCK mailbox the supervisor waits for
            a slow observer, up to ``observer_timeout`` per event; an event that cannot be
            delivered in that time is dropped and counted in ``events_dropped`` (a stuck
            observer must not keep the tree from stopping). With DROP_OLDEST it never waits.
        observer_timeout: see ``observer``; default 5 s.
        rng: the random source of backoff jitter; pass a seeded one for reproducible runs.

    Raises:
        InvalidSpec: no children, duplicate names, wrong policy types, or significant
            children without an auto_shutdown (OTP rejects that too).
    """

    def __init__(
        self,
        name: str,
        children: Sequence[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: Intensity | None = None,
        backoff: Backoff | None = None,
        auto_shutdown: AutoShutdown = AutoShutdown.NEVER,
        mailboxes: Sequence[Mailbox[Any]] = (),
        observer: Outbox[SupervisorEvent] | None = None,
        observer_timeout: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise InvalidSpec(
                f"supervisor name must be a non-empty string without '/', got {name!r}"
            )
        children = tuple(children)
        if not children:
            raise InvalidSpec(f"supervisor {name!r}: needs at least one child")
        if not all(isinstance(c, ChildSpec) for c in children):
            raise InvalidSpec(f"supervisor {name!r}: children must be ChildSpec values")
        names = [c.name for c in children]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidSpec(f"supervisor {name!r}: duplicate child names {duplicates}")
        if not isinstance(strategy, Strategy):
            raise InvalidSpec(f"supervisor {name!r}: strategy must be a Strategy, got {strategy!r}")
        if not isinstance(auto_shutdown, AutoShutdown):
            raise InvalidSpec(
                f"supervisor {name!r}: auto_shutdown must be an AutoShutdown, got {auto_shutdown!r}"
            )
        if intensity is not None and not isinstance(intensity, Intensity):
            raise InvalidSpec(
                f"supervisor {name!r}: intensity must be an Intensity, got {intensity!r}"
            )
        if backoff is not None and not isinstance(backoff, Backoff):
            raise InvalidSpec(f"supervisor {name!r}: backoff must be a Backoff, got {backoff!r}")
        if observer_timeout <= 0 or observer_timeout != observer_timeout:
            raise InvalidSpec(
                f"supervisor {name!r}: observer_timeout must be > 0 seconds, got {observer_timeout!r}"
            )
        significant = [c.name for c in children if c.significant]
        if significant and auto_shutdown is AutoShutdown.NEVER:
            raise InvalidSpec(
                f"supervisor {name!r}: children {significant} are significant, "
                "which needs auto_shutdown ANY_SIGNIFICANT or ALL_SIGNIFICANT"
            )
        self.name = name
        self.children = children
        self.strategy = strategy
        self.intensity = intensity if intensity is not None else Intensity()
        self.backoff = backoff if backoff is not None else Backoff()
        self.auto_shutdown = auto_shutdown
        self.mailboxes: tuple[Mailbox[Any], ...] = tuple(mailboxes)
        self._observer = observer
        self._observer_timeout = observer_timeout
        self._rng = rng if rng is not None else random.Random()
        self._restarts = dict.fromkeys(names, 0)
        self._ever_started: set[str] = set()
        self.events_dropped = 0
        self._current: _Run | None = None

    def __repr__(self) -> str:
        state = "running" if self._current is not None else "idle"
        return (
            f"<Supervisor {self.name!r} {self.strategy.value} "
            f"children={[c.name for c in self.children]} {state}>"
        )

    # -- queries -----------------------------------------------------------------------------

    def restart_count(self, child: str) -> int:
        """How many times ``child`` has been started again after its first start.

        Counted across the supervisor's own restarts. Raises KeyError for an unknown name.
        """
        return self._restarts[child]

    def restart_counts(self) -> Mapping[str, int]:
        """:meth:`restart_count` for every child, in start order."""
        return dict(self._restarts)

    def child_states(self) -> Mapping[str, ChildState]:
        """Every child's :class:`ChildState` (all ENDED when the supervisor is not running)."""
        run = self._current
        if run is None:
            return {c.name: ChildState.ENDED for c in self.children}
        return {slot.spec.name: slot.state for slot in run.slots}

    # -- running -----------------------------------------------------------------------------

    def as_child(
        self,
        *,
        name: str | None = None,
        restart: Restart = Restart.PERMANENT,
        shutdown_timeout: float | None = None,
        start_timeout: float | None = None,
        backoff: Backoff | None = None,
        significant: bool = False,
    ) -> ChildSpec:
        """A spec that runs this supervisor as a child of another (a nested tree).

        The default shutdown timeout is the sum of the children's plus one second: enough for
        the ordered, one-by-one stop of every child (OTP uses ``infinity`` for supervisors;
        we keep every shutdown bounded).
        """
        if shutdown_timeout is None:
            shutdown_timeout = sum(c.shutdown_timeout for c in self.children) + 1.0
        return ChildSpec(
            name=self.name if name is None else name,
            run=self.run,
            restart=restart,
            shutdown_timeout=shutdown_timeout,
            start_timeout=start_timeout,
            backoff=backoff,
            significant=significant,
        )

    async def run(
        self,
        ctx: ChildContext | None = None,
        /,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start the children in order, report ready, and supervise until stopped.

        Returns when cancelled (after stopping every child in reverse order: the
        cancellation then propagates) or after an auto-shutdown.

        Raises:
            ChildStartError: a child failed before it was ready during the initial start;
                the children already started were stopped first.
            SupervisorGaveUp: the restart intensity was exceeded; every child was stopped.
            RuntimeError: this supervisor object is already running.
        """
        if self._current is not None:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        path = self.name if ctx is None else ctx.path
        run = _Run(self, path)
        self._current = run
        try:
            result = await run.execute(task_status)
        finally:
            self._current = None
        if result is not None:
            raise result


# ------------------------------------------------------------------------------------------
# One run of a supervisor: the state a restart of the supervisor itself starts afresh (OTP:
# a new supervisor process has an empty restart history).


@attrs.define(eq=False)
class _Incarnation:
    """One start of one child, from ``start`` to the end of its monitor."""

    slot: _Slot
    number: int
    ctx: ChildContext
    started_at: float
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    exited: trio.Event = attrs.Factory(trio.Event)
    ready_at: float | None = None
    ended_at: float | None = None
    error: Exception | None = None
    handled: bool = False  #: the loop has dealt with this exit (stop or exit report)

    @property
    def ran_for(self) -> float:
        begin = self.started_at if self.ready_at is None else self.ready_at
        end = self.ended_at if self.ended_at is not None else trio.current_time()
        return end - begin


@attrs.define(eq=False)
class _Slot:
    """A child spec's place in the supervisor, across its incarnations."""

    spec: ChildSpec
    index: int
    backoff: Backoff
    state: ChildState = ChildState.ENDED
    running: _Incarnation | None = None
    incarnations: int = 0
    attempt: int = 0  #: consecutive restarts, for the backoff
    due: float | None = None  #: when a scheduled restart is due


@final
class _Readiness:
    """Wraps the child's ``task_status`` to record when it reported ready."""

    def __init__(
        self,
        task_status: trio.TaskStatus[None],
        incarnation: _Incarnation,
        nursery: trio.Nursery,
    ) -> None:
        self._task_status = task_status
        self._incarnation = incarnation
        self._nursery = nursery
        self._task = trio.lowlevel.current_task()

    def started(self, value: None = None) -> None:
        self._task_status.started()
        # trio ignores started() when the start was already cancelled (start timeout, or our
        # shutdown): the task then stays out of our nursery and dies at its next checkpoint.
        # Only a task that really moved into our nursery is ready.
        if self._task.parent_nursery is self._nursery:
            self._incarnation.ready_at = trio.current_time()


class _Run:
    def __init__(self, supervisor: Supervisor, path: str) -> None:
        self.sup = supervisor
        self.path = path
        self.slots = [
            _Slot(spec=spec, index=i, backoff=spec.backoff or supervisor.backoff)
            for i, spec in enumerate(supervisor.children)
        ]
        # Exit reports waiting for the loop. Bounded by construction, not by a buffer size:
        # each slot has at most one live incarnation, each incarnation reports at most once,
        # and a report made stale by a stop is removed when the stop handles it.
        self._exits: deque[_Incarnation] = deque()
        self._wakeup = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._shutdown = False
        self._finished = False
        self._start_scope: trio.CancelScope | None = None
        self._restart_times: list[float] = []
        self._failures: list[tuple[float, Exception]] = []

    # -- structure ---------------------------------------------------------------------------

    async def execute(self, task_status: trio.TaskStatus[None]) -> BaseException | None:
        """Run the loop inside a shield, with a watcher outside it; return what to raise."""
        async with trio.open_nursery() as guard:
            guard.start_soon(self._watch_for_cancellation)
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as children:
                    self._nursery = children
                    result = await self._supervise(task_status)
                    self._finished = True
                    # Every child has been stopped by now; this only ends the nursery.
                    children.cancel_scope.cancel(reason=f"supervisor {self.path} exiting")
            guard.cancel_scope.cancel(reason=f"supervisor {self.path} exiting")
        return result

    async def _watch_for_cancellation(self) -> None:
        """Outside the shield: turn the caller's cancellation into an ordered shutdown."""
        try:
            await trio.sleep_forever()
        finally:
            self._request_shutdown()

    def _shutting_down(self) -> bool:
        # A method, not the attribute: another task (the watcher) sets it between awaits.
        return self._shutdown

    def _request_shutdown(self) -> None:
        if self._shutting_down() or self._finished:
            return
        self._shutdown = True
        if self._start_scope is not None:
            self._start_scope.cancel(reason=f"supervisor {self.path} shutting down")
        self._wakeup.set()

    # -- the loop ----------------------------------------------------------------------------

    async def _supervise(self, task_status: trio.TaskStatus[None]) -> BaseException | None:
        for slot in self.slots:
            if self._shutting_down():
                await self._finish("shutdown")
                return None
            failed = await self._start(slot)
            if failed is not None:
                failed.handled = True
                await self._emit(self._exit_event(failed))
                await self._stop_all(f"child {slot.spec.name!r} failed to start")
                await self._emit(
                    SupervisorStopped(
                        supervisor=self.path, at=trio.current_time(), reason="start_failed"
                    )
                )
                error = ChildStartError(self.path, slot.spec.name)
                error.__cause__ = failed.error
                return error
        if self._shutting_down():
            await self._finish("shutdown")
            return None
        await self._emit(
            SupervisorStarted(
                supervisor=self.path,
                at=trio.current_time(),
                children=tuple(s.spec.name for s in self.slots),
            )
        )
        task_status.started()

        while True:
            if self._shutting_down():
                await self._finish("shutdown")
                return None
            due = self._next_due()
            if due is not None:
                due.due = None
                failed = await self._start(due)
                if failed is not None:
                    # A restart that fails before ready is a crash like any other (OTP).
                    outcome = await self._on_exit(failed)
                    if outcome is not _CONTINUE:
                        return outcome
                continue
            if self._exits:
                outcome = await self._on_exit(self._exits.popleft())
                if outcome is not _CONTINUE:
                    return outcome
                continue
            deadline = min((s.due for s in self.slots if s.due is not None), default=math.inf)
            self._wakeup = trio.Event()  # no checkpoint between this and the wait
            with trio.move_on_at(deadline):
                await self._wakeup.wait()

    def _next_due(self) -> _Slot | None:
        now = trio.current_time()
        for slot in self.slots:  # start order: a group restarts in order
            if slot.due is not None and slot.due <= now:
                return slot
        return None

    # -- starting ----------------------------------------------------------------------------

    async def _start(self, slot: _Slot) -> _Incarnation | None:
        """Start one incarnation and wait until it is ready.

        Returns the incarnation if it failed before it was ready (its ``error`` says why),
        else None: it is running, or the start was abandoned for a shutdown.
        """
        assert self._nursery is not None
        spec = slot.spec
        number = slot.incarnations
        slot.incarnations += 1
        if spec.name in self.sup._ever_started:
            self.sup._restarts[spec.name] += 1  # also when a restart of ours started it again
        self.sup._ever_started.add(spec.name)
        now = trio.current_time()
        incarnation = _Incarnation(
            slot=slot,
            number=number,
            ctx=ChildContext(
                name=spec.name,
                path=f"{self.path}/{spec.name}",
                incarnation=number,
                shutdown_timeout=spec.shutdown_timeout,
            ),
            started_at=now,
        )
        slot.state = ChildState.STARTING
        failure: Exception | None = None
        with trio.CancelScope() as start_scope:
            if spec.start_timeout is not None:
                start_scope.deadline = now + spec.start_timeout
            self._start_scope = start_scope
            try:
                await self._nursery.start(self._monitor, incarnation)
            except ChildStartError as error:
                cause = error.__cause__
                failure = cause if isinstance(cause, Exception) else error
            finally:
                self._start_scope = None
        if incarnation.ready_at is None:
            slot.state = ChildState.ENDED
            if failure is None:
                if self._shutting_down():
                    return None
                failure = trio.TooSlowError(
                    f"child {spec.name!r} was not ready within its start timeout "
                    f"({spec.start_timeout} s)"
                )
            incarnation.error = failure
            return incarnation
        slot.running = incarnation
        slot.state = ChildState.RUNNING
        await self._emit(
            ChildStarted(
                supervisor=self.path, at=trio.current_time(), child=spec.name, incarnation=number
            )
        )
        return None

    async def _monitor(
        self, incarnation: _Incarnation, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Run one incarnation; catch its ``Exception``s (only); report how it ended."""
        assert self._nursery is not None
        readiness = _Readiness(task_status, incarnation, self._nursery)
        try:
            try:
                # The child's name is the logging actor of its task and every task it starts.
                with incarnation.scope, actor_scope(incarnation.ctx.name):
                    await incarnation.slot.spec.run(incarnation.ctx, task_status=readiness)
            finally:
                incarnation.ctx._release()
                incarnation.ended_at = trio.current_time()
        except Exception as error:
            incarnation.error = error
        finally:
            incarnation.exited.set()
        if incarnation.ready_at is None:
            cause = incarnation.error or RuntimeError(
                "returned without calling task_status.started()"
            )
            raise ChildStartError(self.path, incarnation.slot.spec.name) from cause
        if not incarnation.ctx.stop_requested:
            self._exits.append(incarnation)
            self._wakeup.set()

    # -- deciding ----------------------------------------------------------------------------

    async def _on_exit(self, incarnation: _Incarnation) -> BaseException | _Continue | None:
        """Apply restart type, intensity and strategy to a child's own exit."""
        incarnation.handled = True
        slot = incarnation.slot
        spec = slot.spec
        if slot.running is incarnation:
            slot.running = None
        slot.state = ChildState.ENDED
        await self._emit(self._exit_event(incarnation))
        now = trio.current_time()
        error = incarnation.error
        if incarnation.ran_for >= slot.backoff.reset_after:
            slot.attempt = 0

        if spec.restart is Restart.TEMPORARY or (
            spec.restart is Restart.TRANSIENT and error is None
        ):
            if spec.restart is Restart.TEMPORARY:
                slot.state = ChildState.REMOVED
            return await self._maybe_auto_shutdown(slot)

        # Intensity: OTP's add_restart: keep restarts with t >= now - period, add now.
        horizon = now - self.sup.intensity.period
        self._restart_times = [t for t in self._restart_times if t >= horizon]
        self._restart_times.append(now)
        if error is not None:
            self._failures.append((now, error))
        self._failures = [(t, e) for t, e in self._failures if t >= horizon]
        if len(self._restart_times) > self.sup.intensity.max_restarts:
            return await self._give_up()

        group = self._group(slot)
        for member in reversed(group):
            if member is not slot and member.running is not None:
                await self._stop(
                    member, f"{self.sup.strategy.value} restart after {spec.name!r} exited"
                )
        restart = [m for m in group if m is slot or m.spec.restart is not Restart.TEMPORARY]
        for member in group:
            if member not in restart:
                member.state = ChildState.REMOVED
                member.due = None
        attempt = slot.attempt
        delay = slot.backoff.delay(attempt, self.sup._rng.random())
        slot.attempt += 1
        at = trio.current_time()
        for member in restart:
            member.due = at + delay
            member.state = ChildState.WAITING
        await self._emit(
            RestartScheduled(
                supervisor=self.path,
                at=at,
                cause=spec.name,
                children=tuple(m.spec.name for m in restart),
                attempt=attempt,
                delay=delay,
            )
        )
        return _CONTINUE

    def _group(self, slot: _Slot) -> list[_Slot]:
        """The slots a restart of ``slot`` involves, in start order (removed ones excluded)."""
        strategy = self.sup.strategy
        if strategy is Strategy.ONE_FOR_ONE:
            candidates = [slot]
        elif strategy is Strategy.ONE_FOR_ALL:
            candidates = list(self.slots)
        else:
            candidates = self.slots[slot.index :]
        return [s for s in candidates if s is slot or s.state is not ChildState.REMOVED]

    async def _maybe_auto_shutdown(self, slot: _Slot) -> BaseException | _Continue | None:
        mode = self.sup.auto_shutdown
        if not slot.spec.significant or mode is AutoShutdown.NEVER:
            return _CONTINUE
        if mode is AutoShutdown.ALL_SIGNIFICANT:
            for other in self.slots:
                if other.spec.significant and (other.running is not None or other.due is not None):
                    return _CONTINUE
        await self._finish("auto_shutdown")
        return None

    async def _give_up(self) -> BaseException:
        now = trio.current_time()
        intensity = self.sup.intensity
        await self._emit(
            IntensityExceeded(
                supervisor=self.path,
                at=now,
                restarts=len(self._restart_times),
                max_restarts=intensity.max_restarts,
                period=intensity.period,
            )
        )
        await self._stop_all("restart intensity exceeded")
        causes = [error for _, error in self._failures]
        await self._emit(
            FailureEscalated(
                supervisor=self.path,
                at=trio.current_time(),
                causes=tuple(_describe(e) for e in causes),
            )
        )
        await self._emit(
            SupervisorStopped(supervisor=self.path, at=trio.current_time(), reason="gave_up")
        )
        gave_up = SupervisorGaveUp(self.path, causes, restarts=len(self._restart_times))
        if causes:
            gave_up.__cause__ = ExceptionGroup(f"failures that made {self.path} give up", causes)
        return gave_up

    async def _finish(self, reason: str) -> None:
        await self._stop_all(reason)
        await self._emit(
            SupervisorStopped(supervisor=self.path, at=trio.current_time(), reason=reason)
        )

    # -- stopping ----------------------------------------------------------------------------

    async def _stop_all(self, why: str) -> None:
        """Stop every running child in reverse start order; forget scheduled restarts."""
        for slot in reversed(self.slots):
            slot.due = None
            if slot.state is ChildState.WAITING:
                slot.state = ChildState.ENDED
            if slot.running is not None:
                await self._stop(slot, why)

    async def _stop(self, slot: _Slot, why: str) -> None:
        """Cancel one child, give its cleanup ``shutdown_timeout``, wait for it to end."""
        incarnation = slot.running
        assert incarnation is not None
        slot.running = None
        incarnation.handled = True
        if (
            incarnation in self._exits
        ):  # a report it already queued is superseded (OTP unlink_flush)
            self._exits.remove(incarnation)
        exited_on_its_own = incarnation.exited.is_set()
        if not exited_on_its_own:
            slot.state = ChildState.STOPPING
            incarnation.ctx._request_stop(trio.current_time())
            incarnation.scope.cancel(reason=f"supervisor {self.path}: {why}")
            # The child's own cleanup scope (ctx.cleanup()) ends at stop + shutdown_timeout;
            # it then needs a moment to unwind, so the overrun verdict waits a little longer.
            with trio.move_on_after(slot.spec.shutdown_timeout + OVERRUN_GRACE):
                await incarnation.exited.wait()
            if not incarnation.exited.is_set():
                await self._emit(
                    ChildShutdownOverran(
                        supervisor=self.path,
                        at=trio.current_time(),
                        child=slot.spec.name,
                        incarnation=incarnation.number,
                        timeout=slot.spec.shutdown_timeout,
                    )
                )
                await incarnation.exited.wait()
        slot.state = ChildState.ENDED
        if incarnation.error is not None or exited_on_its_own:
            await self._emit(self._exit_event(incarnation))
        else:
            await self._emit(
                ChildStopped(
                    supervisor=self.path,
                    at=trio.current_time(),
                    child=slot.spec.name,
                    incarnation=incarnation.number,
                    ran_for=incarnation.ran_for,
                    why=why,
                )
            )

    # -- events ------------------------------------------------------------------------------

    def _exit_event(self, incarnation: _Incarnation) -> SupervisorEvent:
        now = trio.current_time()
        name = incarnation.slot.spec.name
        error = incarnation.error
        if error is None:
            return ChildExited(
                supervisor=self.path,
                at=now,
                child=name,
                incarnation=incarnation.number,
                ran_for=incarnation.ran_for,
            )
        root_cause = _root_cause(error)
        return ChildCrashed(
            supervisor=self.path,
            at=now,
            child=name,
            incarnation=incarnation.number,
            ran_for=incarnation.ran_for,
            error_type=type(root_cause).__name__,
            error=_truncate(str(root_cause)),
            before_ready=incarnation.ready_at is None,
        )

    async def _emit(self, event: SupervisorEvent) -> None:
        observer = self.sup._observer
        if observer is not None:
            with trio.move_on_after(self.sup._observer_timeout) as scope:
                await observer.send(event)
            if scope.cancelled_caught:
                self.sup.events_dropped += 1


class _Continue(enum.Enum):
    """The loop goes on (distinct from ``None``, which means "return normally")."""

    CONTINUE = "continue"


_CONTINUE = _Continue.CONTINUE


def _root_cause(error: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (an actor's nursery wraps what
    one of its tasks raised); a group of several is reported as the group."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 1] + "…"


def _describe(error: BaseException) -> str:
    return _truncate(f"{type(error).__name__}: {error}")
