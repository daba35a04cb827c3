"""The root of the process: run the trading tree, and stop it safely (DESIGN §3).

A trading bot's worst moment is its last one: a crash loop, a loss limit or an operator's
Ctrl-C must end with no order left working on the exchange. Structured cancellation gives
the shape of the answer; :class:`Root` is its one implementation:

1. **Halt.** Whatever triggers the stop (:meth:`Root.trigger`, a signal, the tree giving up)
   first calls the registered halt hooks, synchronously: risk enters HALTED before anything
   else can be scheduled.
2. **Cancel the tree** with a reason (``CancelScope.cancel(reason=...)``), and wait up to
   ``tree_stop_timeout`` for it to finish its ordered shutdown.
3. **Clean up**: run the registered cleanup steps one after another, each under its own
   timeout, all of them under ``cleanup_deadline`` in a shielded scope. A step that raises
   or times out is recorded and the next step still runs. Later issues register "cancel every
   open order, then verify none remain" here.
4. **Report**: the outcome (reason, each step's status, exit code) is returned and sent to
   the observer as :class:`~cjt_actors.messages.RootStopped`.

SIGINT and SIGTERM enter at step 1 through :func:`trio.open_signal_receiver`. A *second*
SIGINT is a hard exit (exit code 130) for the operator who cannot wait. If the tree is still
running after the cleanup and a grace period (an actor ignoring its cancellation), the
process exits hard as well (exit code 5): the cleanup has been done, and a stuck process
under a service manager is worse than a restarted one.

Exit codes (:class:`ExitCode`) say which path ran, most severe first: 4 when a cleanup step
did not complete (open orders may remain: look), 1 when the tree crashed with a bug, 3 when
an emergency trigger stopped trading, 0 for a requested or natural stop.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, final

import attrs
import trio

from .channels import Outbox
from .errors import InvalidSpec, SupervisorGaveUp
from .messages import (
    CleanupStepFinished,
    EmergencyTriggered,
    Event,
    RootStopped,
    StepStatus,
    StopReason,
)

__all__ = ["CleanupStep", "ExitCode", "Root", "RootOutcome"]


class ExitCode(enum.IntEnum):
    """The process exit code: which path the root took."""

    OK = 0  #: stopped on request or finished; every cleanup step completed
    CRASHED = 1  #: an unexpected exception escaped the tree (a bug); cleanup completed
    EMERGENCY = 3  #: kill switch, supervisor give-up or fatal venue; cleanup completed
    CLEANUP_INCOMPLETE = 4  #: a halt hook or cleanup step failed or timed out: check the venue
    TREE_STUCK = 5  #: cleanup done, but an actor ignored cancellation: hard exit
    HARD_EXIT = 130  #: a second SIGINT (128 + SIGINT, the shell's convention)


#: Triggers that stop trading because something is wrong (exit code 3), as opposed to a
#: requested or natural stop (exit code 0).
_EMERGENCIES = frozenset(
    {StopReason.KILL_SWITCH, StopReason.SUPERVISOR_GAVE_UP, StopReason.VENUE_FATAL}
)


@attrs.frozen(kw_only=True)
class CleanupStep:
    """A registered cleanup step: ``run(reason)`` gets at most ``timeout`` seconds."""

    name: str
    run: Callable[[StopReason], Awaitable[object]]
    timeout: float


@attrs.frozen(kw_only=True)
class RootOutcome:
    """What the root did: why it stopped, how each step ended, the exit code."""

    reason: StopReason
    detail: str
    exit_code: ExitCode
    steps: tuple[CleanupStepFinished, ...]
    halt_errors: tuple[str, ...]
    tree_stopped_in_time: bool
    #: The exception that ended the tree, when it crashed or gave up (not for transport).
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)


def _default_hard_exit(code: int) -> NoReturn:
    sys.stderr.write(f"cjt: hard exit ({code})\n")
    sys.stderr.flush()
    os._exit(code)


@final
class Root:
    """Runs the trading tree and owns the emergency protocol.

    Args:
        tree_stop_timeout: how long the cancelled tree gets for its ordered shutdown before
            the cleanup steps run anyway.
        cleanup_deadline: the bound on all cleanup steps together.
        exit_grace: after the cleanup, how much longer a stuck tree gets before a hard exit.
        handle_signals: install SIGINT/SIGTERM handling (main thread only).
        observer: where :class:`EmergencyTriggered`, :class:`CleanupStepFinished` and
            :class:`RootStopped` go.
        hard_exit: called with an exit code for the hard exits; ``os._exit`` by default.
    """

    def __init__(
        self,
        *,
        tree_stop_timeout: float = 10.0,
        cleanup_deadline: float = 30.0,
        exit_grace: float = 5.0,
        handle_signals: bool = True,
        observer: Outbox[Event] | None = None,
        hard_exit: Callable[[int], object] = _default_hard_exit,
    ) -> None:
        for name, value in (
            ("tree_stop_timeout", tree_stop_timeout),
            ("cleanup_deadline", cleanup_deadline),
            ("exit_grace", exit_grace),
        ):
            _check_seconds(name, value)
        self._tree_stop_timeout = tree_stop_timeout
        self._cleanup_deadline = cleanup_deadline
        self._exit_grace = exit_grace
        self._handle_signals = handle_signals
        self._observer = observer
        self._hard_exit = hard_exit
        self._halt_hooks: list[Callable[[StopReason, str], object]] = []
        self._steps: list[CleanupStep] = []
        self._tree_scope = trio.CancelScope()
        self._stop_requested = trio.Event()
        self._tree_done = trio.Event()
        self._reason: StopReason | None = None
        self._detail = ""
        self._triggered_at: float | None = None
        self._error: BaseException | None = None
        self._halt_errors: list[str] = []
        self._results: list[CleanupStepFinished] = []
        self._cleanup_ran = False
        self._started = False
        self._sigint_seen = False

    # -- registration ------------------------------------------------------------------------

    def on_halt(self, hook: Callable[[StopReason, str], object]) -> None:
        """Register a synchronous hook run first on any stop (risk: enter HALTED)."""
        self._halt_hooks.append(hook)

    def add_cleanup(
        self, name: str, run: Callable[[StopReason], Awaitable[object]], *, timeout: float
    ) -> None:
        """Register a cleanup step; steps run in registration order after the tree stops."""
        _check_seconds("timeout", timeout, positive=True)
        if any(step.name == name for step in self._steps):
            raise InvalidSpec(f"cleanup step {name!r} is already registered")
        self._steps.append(CleanupStep(name=name, run=run, timeout=timeout))

    # -- triggering --------------------------------------------------------------------------

    @property
    def reason(self) -> StopReason | None:
        """Why the root is stopping, once it is."""
        return self._reason

    def trigger(self, reason: StopReason, detail: str) -> None:
        """Start the emergency protocol: halt, then cancel the tree. Safe from any task.

        The first trigger decides the reason; later ones change nothing.
        """
        if self._reason is not None:
            return
        self._reason = reason
        self._detail = detail
        self._triggered_at = trio.current_time()
        for hook in self._halt_hooks:
            try:
                hook(reason, detail)
            except Exception as error:
                # Recorded in the outcome and the exit code; the protocol must go on.
                self._halt_errors.append(f"{_name(hook)}: {type(error).__name__}: {error}")
        self._tree_scope.cancel(reason=f"emergency stop ({reason.value}): {detail}")
        self._stop_requested.set()

    # -- running -----------------------------------------------------------------------------

    async def run(self, tree: Callable[[], Awaitable[object]]) -> RootOutcome:
        """Run ``tree`` until it ends or a trigger stops it; clean up; return the outcome."""
        if self._started:
            raise RuntimeError("a Root runs once; make a new one")
        self._started = True
        tree_stopped_in_time = False
        try:
            async with trio.open_nursery() as nursery:
                if self._handle_signals:
                    await nursery.start(self._watch_signals)
                nursery.start_soon(self._run_tree, tree)
                await self._stop_requested.wait()
                if self._triggered_at is not None:
                    await self._emit_triggered()
                with trio.move_on_after(self._tree_stop_timeout, shield=True):
                    await self._tree_done.wait()
                tree_stopped_in_time = self._tree_done.is_set()
                await self._cleanup()
                if not tree_stopped_in_time:
                    with trio.move_on_after(self._exit_grace, shield=True):
                        await self._tree_done.wait()
                    if not self._tree_done.is_set():
                        self._hard_exit(ExitCode.TREE_STUCK)
                nursery.cancel_scope.cancel(reason="root finished")
        finally:
            if not self._cleanup_ran:
                # Something we did not plan for (KeyboardInterrupt without signal handling,
                # our own caller cancelling us): the cleanup still runs, then it propagates.
                with trio.move_on_after(self._cleanup_deadline, shield=True):
                    await self._cleanup()
        return await self._finish(tree_stopped_in_time)

    async def _run_tree(self, tree: Callable[[], Awaitable[object]]) -> None:
        try:
            with self._tree_scope:
                try:
                    await tree()
                except* SupervisorGaveUp as group:
                    self._tree_failed(StopReason.SUPERVISOR_GAVE_UP, group)
                except* Exception as group:
                    self._tree_failed(StopReason.CRASHED, group)
            if self._reason is None:
                self._reason = StopReason.FINISHED
                self._detail = "the trading tree returned"
        finally:
            # Also on a BaseException (KeyboardInterrupt): run()'s own `finally` then records
            # the stop as CRASHED and still runs the cleanup before it propagates.
            self._tree_done.set()
            self._stop_requested.set()

    def _tree_failed(self, reason: StopReason, group: BaseExceptionGroup[BaseException]) -> None:
        error: BaseException = group.exceptions[0] if len(group.exceptions) == 1 else group
        if self._error is None:
            self._error = error
        self.trigger(reason, f"{type(error).__name__}: {error}")

    async def _watch_signals(self, *, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                if signum == signal.SIGINT:
                    if self._sigint_seen:
                        self._hard_exit(ExitCode.HARD_EXIT)
                        continue
                    self._sigint_seen = True
                self.trigger(StopReason.SIGNAL, f"received {name}")

    # -- cleanup -----------------------------------------------------------------------------

    async def _cleanup(self) -> None:
        self._cleanup_ran = True
        if self._reason is None:
            # Neither a trigger nor the tree's own end: a BaseException (KeyboardInterrupt
            # without signal handling) or our caller cancelling us.
            self._reason = StopReason.CRASHED
            self._detail = "interrupted before the trading tree finished"
        reason = self._reason
        done = 0
        with trio.move_on_after(self._cleanup_deadline, shield=True):
            for step in self._steps:
                self._results.append(await self._run_step(step, reason))
                done += 1
        now = trio.current_time()
        for index, step in enumerate(self._steps[done:]):
            # The overall deadline ended the step under way; the rest never started.
            status = StepStatus.TIMED_OUT if index == 0 else StepStatus.SKIPPED
            error = "the overall cleanup deadline passed" if index == 0 else ""
            self._results.append(
                CleanupStepFinished(
                    step=step.name, status=status, started_at=now, duration=0.0, error=error
                )
            )

    async def _run_step(self, step: CleanupStep, reason: StopReason) -> CleanupStepFinished:
        started = trio.current_time()
        status = StepStatus.COMPLETED
        error = ""
        with trio.move_on_after(step.timeout) as scope:
            try:
                await step.run(reason)
            except Exception as exc:
                status = StepStatus.FAILED
                error = f"{type(exc).__name__}: {exc}"
        if scope.cancelled_caught:
            status = StepStatus.TIMED_OUT
            error = f"did not finish within {step.timeout} s"
        return CleanupStepFinished(
            step=step.name,
            status=status,
            started_at=started,
            duration=trio.current_time() - started,
            error=error,
        )

    # -- reporting ---------------------------------------------------------------------------

    async def _emit_triggered(self) -> None:
        assert self._reason is not None
        assert self._triggered_at is not None
        await self._emit(
            EmergencyTriggered(reason=self._reason, detail=self._detail, at=self._triggered_at)
        )

    async def _finish(self, tree_stopped_in_time: bool) -> RootOutcome:
        assert self._reason is not None
        steps = tuple(self._results)
        if self._halt_errors or any(s.status is not StepStatus.COMPLETED for s in steps):
            code = ExitCode.CLEANUP_INCOMPLETE
        elif self._reason is StopReason.CRASHED:
            code = ExitCode.CRASHED
        elif self._reason in _EMERGENCIES:
            code = ExitCode.EMERGENCY
        else:
            code = ExitCode.OK
        with trio.move_on_after(self._exit_grace, shield=True):
            for step in steps:
                await self._emit(step)
            await self._emit(
                RootStopped(
                    reason=self._reason,
                    detail=self._detail,
                    exit_code=int(code),
                    steps=steps,
                    at=trio.current_time(),
                )
            )
        return RootOutcome(
            reason=self._reason,
            detail=self._detail,
            exit_code=code,
            steps=steps,
            halt_errors=tuple(self._halt_errors),
            tree_stopped_in_time=tree_stopped_in_time,
            error=self._error,
        )

    async def _emit(self, event: Event) -> None:
        if self._observer is not None:
            await self._observer.send(event)


def _check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidSpec(f"{name}: must be a number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0) or value == float("inf"):
        rule = "> 0" if positive else ">= 0"
        raise InvalidSpec(f"{name}: must be finite and {rule} seconds, got {value!r}")


def _name(hook: Callable[..., object]) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)
