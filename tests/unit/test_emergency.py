"""The emergency protocol: halt, cancel the tree with a reason, bounded cleanup, exit code."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
import trio
import trio.testing

from cjt_actors import ChildSpec, ExitCode, InvalidSpec, Mailbox, Root, Supervisor
from cjt_actors.messages import (
    CleanupStepFinished,
    EmergencyTriggered,
    Event,
    RootStopped,
    StepStatus,
    StopReason,
)
from cjt_actors.policy import Backoff, Intensity

# -- helpers ---------------------------------------------------------------------------------


class HardExitRecorder:
    """Stands in for os._exit: records the code instead of ending the test process."""

    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, code: int) -> None:
        self.codes.append(code)


def quiet_root(**kwargs: object) -> Root:
    """A root without signal handling (most tests do not send signals)."""
    kwargs.setdefault("handle_signals", False)
    return Root(**kwargs)  # type: ignore[arg-type]


def drain(receiver: trio.MemoryReceiveChannel[Event]) -> list[Event]:
    events = []
    while True:
        try:
            events.append(receiver.receive_nowait())
        except trio.WouldBlock:
            return events


def recording_step(log: list[str], name: str, seconds: float = 0.0) -> Callable[..., object]:
    async def step(reason: StopReason) -> None:
        log.append(f"{name} start ({reason.value})")
        await trio.sleep(seconds)
        log.append(f"{name} done")

    return step


# -- the paths and their exit codes ----------------------------------------------------------


async def test_a_tree_that_returns_runs_cleanup_and_exits_ok(autojump_clock: object) -> None:
    """A natural end (a `--duration` run) still cancels open orders: cleanup always runs."""
    log: list[str] = []
    root = quiet_root()
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all", 1.0), timeout=5)

    async def tree() -> None:
        await trio.sleep(3)
        log.append("tree returned")

    outcome = await root.run(tree)

    assert outcome.reason is StopReason.FINISHED
    assert outcome.exit_code is ExitCode.OK
    assert log == ["tree returned", "cancel-all start (finished)", "cancel-all done"]
    assert [(s.step, s.status) for s in outcome.steps] == [("cancel-all", StepStatus.COMPLETED)]
    assert outcome.steps[0].started_at == 3.0
    assert outcome.steps[0].duration == pytest.approx(1.0)
    assert outcome.tree_stopped_in_time


async def test_trigger_halts_first_then_cancels_the_tree_with_the_reason(
    autojump_clock: object,
) -> None:
    """Risk must be HALTED before any actor runs its cancellation cleanup (DESIGN §3 step 1)."""
    log: list[str] = []
    root = quiet_root()
    root.on_halt(lambda reason, detail: log.append(f"halt: {reason.value}: {detail}"))
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all"), timeout=5)
    seen: list[trio.Cancelled] = []

    async def tree() -> None:
        async def kill_switch() -> None:
            await trio.sleep(2)
            root.trigger(StopReason.KILL_SWITCH, "daily loss limit breached")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(kill_switch)
            try:
                await trio.sleep_forever()
            except trio.Cancelled as cancelled:
                log.append("tree cancelled")
                seen.append(cancelled)
                raise

    outcome = await root.run(tree)

    assert log == [
        "halt: kill_switch: daily loss limit breached",
        "tree cancelled",
        "cancel-all start (kill_switch)",
        "cancel-all done",
    ]
    assert "daily loss limit breached" in str(seen[0])
    assert outcome.reason is StopReason.KILL_SWITCH
    assert outcome.exit_code is ExitCode.EMERGENCY
    assert root.reason is StopReason.KILL_SWITCH


async def test_the_first_trigger_decides_the_reason(autojump_clock: object) -> None:
    """A later trigger (say, a signal during a kill-switch stop) must not rewrite history."""
    halts: list[StopReason] = []
    root = quiet_root()
    root.on_halt(lambda reason, detail: halts.append(reason))

    async def tree() -> None:
        root.trigger(StopReason.VENUE_FATAL, "key revoked")
        root.trigger(StopReason.OPERATOR, "operator stop")
        await trio.sleep_forever()

    outcome = await root.run(tree)

    assert outcome.reason is StopReason.VENUE_FATAL
    assert outcome.detail == "key revoked"
    assert halts == [StopReason.VENUE_FATAL]
    assert outcome.exit_code is ExitCode.EMERGENCY


async def test_an_operator_stop_exits_ok(autojump_clock: object) -> None:
    """A requested stop is not an emergency: exit 0 keeps a service manager from restarting."""
    root = quiet_root()

    async def tree() -> None:
        root.trigger(StopReason.OPERATOR, "cjt halt")
        await trio.sleep_forever()

    outcome = await root.run(tree)
    assert outcome.exit_code is ExitCode.OK
    assert outcome.reason is StopReason.OPERATOR


async def test_a_supervisor_giving_up_is_an_emergency(autojump_clock: object) -> None:
    """A crash loop that escalates to the top stops trading with exit code 3."""

    async def crashing(ctx: object, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        raise RuntimeError("strategy bug")

    trading = Supervisor(
        "trading",
        [ChildSpec(name="strategy", run=crashing)],
        intensity=Intensity(max_restarts=2, period=60),
        backoff=Backoff.none(),
    )
    log: list[str] = []
    root = quiet_root()
    root.on_halt(lambda reason, detail: log.append(f"halt {reason.value}"))
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all"), timeout=5)

    outcome = await root.run(trading.run)

    assert outcome.reason is StopReason.SUPERVISOR_GAVE_UP
    assert outcome.exit_code is ExitCode.EMERGENCY
    assert type(outcome.error).__name__ == "SupervisorGaveUp"
    assert "trading" in outcome.detail
    assert log == [
        "halt supervisor_gave_up",
        "cancel-all start (supervisor_gave_up)",
        "cancel-all done",
    ]
    assert trio.current_time() == 3.0  # three crashes, one second apart, no backoff


async def test_an_unexpected_error_in_the_tree_is_a_crash_with_cleanup(
    autojump_clock: object,
) -> None:
    """A bug still gets the orders cancelled; the exit code says it was a bug (1)."""
    log: list[str] = []
    root = quiet_root()
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all"), timeout=5)

    async def tree() -> None:
        await trio.sleep(1)
        raise ZeroDivisionError("oops")

    outcome = await root.run(tree)

    assert outcome.reason is StopReason.CRASHED
    assert outcome.exit_code is ExitCode.CRASHED
    assert isinstance(outcome.error, ZeroDivisionError)
    assert outcome.detail == "ZeroDivisionError: oops"
    assert log == ["cancel-all start (crashed)", "cancel-all done"]


async def test_several_errors_escaping_the_tree_are_kept_as_a_group(
    autojump_clock: object,
) -> None:
    """Hiding concurrency must not lose errors: two failures stay two."""
    root = quiet_root()

    async def fail(message: str) -> None:
        raise ValueError(message)  # no checkpoint first: both fail before any cancellation

    async def tree() -> None:
        await trio.sleep(1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail, "one")
            nursery.start_soon(fail, "two")

    outcome = await root.run(tree)

    assert outcome.exit_code is ExitCode.CRASHED
    assert isinstance(outcome.error, ExceptionGroup)
    assert sorted(str(e) for e in outcome.error.exceptions) == ["one", "two"]


# -- cleanup steps ---------------------------------------------------------------------------


async def test_steps_that_fail_or_time_out_are_recorded_and_the_rest_still_run(
    autojump_clock: object,
) -> None:
    """One broken cleanup step must not stop the next one from cancelling orders."""
    log: list[str] = []
    root = quiet_root()

    async def failing(reason: StopReason) -> None:
        raise ConnectionError("venue unreachable")

    root.add_cleanup("flush-journal", failing, timeout=5)
    root.add_cleanup("slow", recording_step(log, "slow", 10.0), timeout=2)
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all", 1.0), timeout=5)

    outcome = await root.run(forever_then_finish)

    statuses = {s.step: s for s in outcome.steps}
    assert statuses["flush-journal"].status is StepStatus.FAILED
    assert statuses["flush-journal"].error == "ConnectionError: venue unreachable"
    assert statuses["slow"].status is StepStatus.TIMED_OUT
    assert statuses["slow"].duration == pytest.approx(2.0)
    assert statuses["cancel-all"].status is StepStatus.COMPLETED
    assert log == ["slow start (finished)", "cancel-all start (finished)", "cancel-all done"]
    assert outcome.exit_code is ExitCode.CLEANUP_INCOMPLETE


async def forever_then_finish() -> None:
    await trio.sleep(1)


async def test_the_overall_deadline_times_out_the_current_step_and_skips_the_rest(
    autojump_clock: object,
) -> None:
    """Cleanup is bounded as a whole, not only step by step."""
    log: list[str] = []
    root = quiet_root(cleanup_deadline=5)
    root.add_cleanup("first", recording_step(log, "first", 3.0), timeout=4)
    root.add_cleanup("second", recording_step(log, "second", 3.0), timeout=4)
    root.add_cleanup("third", recording_step(log, "third", 1.0), timeout=4)

    outcome = await root.run(forever_then_finish)

    assert [(s.step, s.status) for s in outcome.steps] == [
        ("first", StepStatus.COMPLETED),
        ("second", StepStatus.TIMED_OUT),
        ("third", StepStatus.SKIPPED),
    ]
    assert "overall cleanup deadline" in outcome.steps[1].error
    assert trio.current_time() == pytest.approx(1 + 5)
    assert outcome.exit_code is ExitCode.CLEANUP_INCOMPLETE


async def test_a_failing_halt_hook_is_reported_and_the_protocol_goes_on(
    autojump_clock: object,
) -> None:
    """The emergency path must survive a broken hook; the exit code must not claim success."""
    log: list[str] = []

    def broken_hook(reason: StopReason, detail: str) -> None:
        raise RuntimeError("risk actor gone")

    root = quiet_root()
    root.on_halt(broken_hook)
    root.on_halt(lambda reason, detail: log.append("second hook"))
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all"), timeout=5)

    async def tree() -> None:
        root.trigger(StopReason.OPERATOR, "stop")
        await trio.sleep_forever()

    outcome = await root.run(tree)

    assert log == ["second hook", "cancel-all start (operator)", "cancel-all done"]
    assert len(outcome.halt_errors) == 1
    assert "broken_hook" in outcome.halt_errors[0]
    assert "RuntimeError: risk actor gone" in outcome.halt_errors[0]
    assert outcome.exit_code is ExitCode.CLEANUP_INCOMPLETE


async def test_cleanup_runs_even_when_the_root_is_interrupted(autojump_clock: object) -> None:
    """A KeyboardInterrupt that bypasses signal handling still gets the cleanup, then propagates."""
    log: list[str] = []
    root = quiet_root()
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all", 1.0), timeout=5)

    async def tree() -> None:
        await trio.sleep(1)
        raise KeyboardInterrupt

    with pytest.RaisesGroup(KeyboardInterrupt, flatten_subgroups=True):
        await root.run(tree)

    assert log == ["cancel-all start (crashed)", "cancel-all done"]
    assert root.reason is StopReason.CRASHED


async def test_a_tree_that_ignores_cancellation_does_not_delay_the_cleanup(
    autojump_clock: object,
) -> None:
    """Orders are cancelled after tree_stop_timeout even if an actor's cleanup hangs; then hard exit."""
    log: list[str] = []
    hard_exit = HardExitRecorder()
    root = quiet_root(tree_stop_timeout=2, exit_grace=3, hard_exit=hard_exit)
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all", 1.0), timeout=5)

    async def stubborn_tree() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):  # a buggy actor: shielded with no deadline
                await trio.sleep(100)
            log.append("tree finally ended")

    async def tree() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stubborn_tree)
            await trio.sleep(1)
            root.trigger(StopReason.OPERATOR, "stop")

    outcome = await root.run(tree)

    assert log == ["cancel-all start (operator)", "cancel-all done", "tree finally ended"]
    assert hard_exit.codes == [ExitCode.TREE_STUCK]
    assert not outcome.tree_stopped_in_time
    assert outcome.steps[0].started_at == pytest.approx(1 + 2)


async def test_the_observer_sees_trigger_steps_and_stop_in_order(autojump_clock: object) -> None:
    """These events are what the journal records about a shutdown (issue: journal)."""
    events = Mailbox[Event]("root-events", capacity=100)
    receiver = events.receiver()
    root = quiet_root(observer=events.sender())
    root.add_cleanup("cancel-all", recording_step([], "cancel-all"), timeout=5)

    async def tree() -> None:
        await trio.sleep(2)
        root.trigger(StopReason.KILL_SWITCH, "drawdown")
        await trio.sleep_forever()

    outcome = await root.run(tree)
    seen = drain(receiver)

    assert [type(e) for e in seen] == [EmergencyTriggered, CleanupStepFinished, RootStopped]
    triggered, step, stopped = seen
    assert isinstance(triggered, EmergencyTriggered)
    assert triggered.reason is StopReason.KILL_SWITCH
    assert triggered.at == 2.0
    assert isinstance(stopped, RootStopped)
    assert stopped.exit_code == ExitCode.EMERGENCY
    assert stopped.steps == outcome.steps == (step,)


# -- signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_runs_the_protocol_and_exits_ok(
    autojump_clock: object, signum: signal.Signals
) -> None:
    """systemd's stop (SIGTERM) and Ctrl-C both cancel orders and exit 0."""
    log: list[str] = []
    hard_exit = HardExitRecorder()
    root = Root(hard_exit=hard_exit)
    root.add_cleanup("cancel-all", recording_step(log, "cancel-all"), timeout=5)

    async def tree() -> None:
        os.kill(os.getpid(), signum)
        await trio.sleep_forever()

    outcome = await root.run(tree)

    assert outcome.reason is StopReason.SIGNAL
    assert outcome.detail == f"received {signum.name}"
    assert outcome.exit_code is ExitCode.OK
    assert log == ["cancel-all start (signal)", "cancel-all done"]
    assert hard_exit.codes == []


async def test_a_second_sigint_is_a_hard_exit(autojump_clock: object) -> None:
    """An operator who presses Ctrl-C twice must not be kept waiting by a slow cleanup."""
    hard_exit = HardExitRecorder()
    root = Root(hard_exit=hard_exit)

    async def impatient_cleanup(reason: StopReason) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        await trio.sleep(1)

    root.add_cleanup("slow", impatient_cleanup, timeout=5)

    async def tree() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        await trio.sleep_forever()

    await root.run(tree)

    assert hard_exit.codes == [ExitCode.HARD_EXIT]
    assert ExitCode.HARD_EXIT == 130


async def test_a_repeated_sigterm_is_not_a_hard_exit(autojump_clock: object) -> None:
    """A service manager repeating SIGTERM must not cut the order cancellation short."""
    hard_exit = HardExitRecorder()
    log: list[str] = []
    root = Root(hard_exit=hard_exit)

    async def cleanup(reason: StopReason) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await trio.sleep(1)
        log.append("cleanup finished")

    root.add_cleanup("cancel-all", cleanup, timeout=5)

    async def tree() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await trio.sleep_forever()

    outcome = await root.run(tree)

    assert hard_exit.codes == []
    assert log == ["cleanup finished"]
    assert outcome.exit_code is ExitCode.OK


# -- argument checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tree_stop_timeout": -1}, "tree_stop_timeout"),
        ({"cleanup_deadline": float("inf")}, "cleanup_deadline"),
        ({"exit_grace": float("nan")}, "exit_grace"),
        ({"cleanup_deadline": "5"}, "cleanup_deadline"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(
    kwargs: dict[str, object], message: str
) -> None:
    """A misconfigured emergency path must fail at start-up, not during an emergency."""
    with pytest.raises(InvalidSpec, match=message):
        Root(**kwargs)  # type: ignore[arg-type]


def test_step_timeouts_must_be_positive_and_names_unique() -> None:
    """An unbounded or ambiguous cleanup step is refused when it is registered."""
    root = Root()

    async def step(reason: StopReason) -> None:
        return None

    with pytest.raises(InvalidSpec, match="timeout"):
        root.add_cleanup("a", step, timeout=0)
    root.add_cleanup("a", step, timeout=1)
    with pytest.raises(InvalidSpec, match="already registered"):
        root.add_cleanup("a", step, timeout=1)


async def test_a_root_runs_only_once(autojump_clock: object) -> None:
    """Its scope and events are single-use; reuse would silently skip the protocol."""
    root = quiet_root()
    await root.run(forever_then_finish)
    with pytest.raises(RuntimeError, match="runs once"):
        await root.run(forever_then_finish)


async def test_a_trigger_before_the_tree_starts_cancels_it_at_once(
    autojump_clock: object,
) -> None:
    """A kill switch hit during start-up must not let the tree trade first."""
    ran: list[str] = []
    root = quiet_root()
    root.trigger(StopReason.OPERATOR, "stop before start")

    async def tree() -> None:
        await trio.sleep(0.5)
        ran.append("traded")

    outcome = await root.run(tree)
    assert ran == []
    assert outcome.reason is StopReason.OPERATOR
