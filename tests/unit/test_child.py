"""ChildSpec validation and ChildContext: cleanup deadlines and per-incarnation clones."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
import trio

from cjt_actors import Backoff, ChildContext, ChildSpec, InvalidSpec, Mailbox, Restart


async def idle(ctx: ChildContext, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


def context(**kwargs: Any) -> ChildContext:
    kwargs = {"name": "c", "path": "root/c", "incarnation": 0, "shutdown_timeout": 2.0} | kwargs
    return ChildContext(**kwargs)


# -- ChildSpec -------------------------------------------------------------------------------


class TestChildSpec:
    def test_defaults(self) -> None:
        """Permanent, 5 s to clean up (OTP's worker default), no start timeout, own backoff unset."""
        spec = ChildSpec(name="a", run=idle)
        assert spec.restart is Restart.PERMANENT
        assert (spec.shutdown_timeout, spec.start_timeout) == (5.0, None)
        assert (spec.backoff, spec.significant) == (None, False)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"restart": Restart.TRANSIENT, "significant": True},
            {"restart": Restart.TEMPORARY, "significant": True},
            {"shutdown_timeout": 0.001, "start_timeout": 30},
            {"backoff": Backoff.none()},
        ],
        ids=["transient_significant", "temporary_significant", "timeouts", "backoff"],
    )
    def test_valid_specs_are_kept(self, kwargs: dict[str, Any]) -> None:
        """Every documented combination is accepted as given."""
        spec = ChildSpec(name="a", run=idle, **kwargs)
        for field, value in kwargs.items():
            assert getattr(spec, field) == value

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"name": ""}, "child name must be a non-empty string"),
            ({"name": "a/b"}, "without '/'"),
            ({"name": " a"}, "surrounding spaces"),
            ({"name": "a\n"}, "surrounding spaces"),
            ({"name": 7}, "child name must be"),
            ({"shutdown_timeout": 0}, "shutdown_timeout: must be finite and > 0"),
            ({"shutdown_timeout": -1.0}, "shutdown_timeout: must be finite and > 0"),
            ({"shutdown_timeout": math.inf}, "shutdown_timeout: must be finite"),
            ({"shutdown_timeout": math.nan}, "shutdown_timeout: must be finite"),
            ({"shutdown_timeout": True}, "shutdown_timeout: must be a number of seconds"),
            ({"shutdown_timeout": None}, "shutdown_timeout: must be a number of seconds"),
            ({"start_timeout": 0.0}, "start_timeout: must be finite and > 0"),
            ({"start_timeout": math.inf}, "start_timeout: must be finite"),
            ({"start_timeout": "1"}, "start_timeout: must be a number of seconds"),
            ({"restart": "permanent"}, "restart must be a Restart"),
            ({"significant": True}, "only TRANSIENT or TEMPORARY children can be significant"),
        ],
        ids=[
            "empty_name",
            "slash_in_name",
            "leading_space",
            "trailing_newline",
            "name_not_str",
            "zero_shutdown",
            "negative_shutdown",
            "infinite_shutdown",
            "nan_shutdown",
            "bool_shutdown",
            "none_shutdown",
            "zero_start",
            "infinite_start",
            "str_start",
            "str_restart",
            "significant_permanent",
        ],
    )
    def test_invalid_specs_are_refused_naming_the_problem(
        self, kwargs: dict[str, Any], message: str
    ) -> None:
        """A bad spec fails when the tree is built, with a message that says why."""
        kwargs = {"name": "a", "run": idle} | kwargs
        with pytest.raises(InvalidSpec) as info:
            ChildSpec(**kwargs)
        assert message in str(info.value)

    def test_is_frozen(self) -> None:
        """A spec is shared by every incarnation; it must not change under them."""
        spec = ChildSpec(name="a", run=idle)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            spec.name = "b"  # type: ignore[misc]


# -- ChildContext ----------------------------------------------------------------------------


class TestChildContext:
    def test_attributes_and_repr(self) -> None:
        """A child knows who it is and which incarnation; the repr says so."""
        ctx = context(incarnation=3)
        assert (ctx.name, ctx.path, ctx.incarnation, ctx.shutdown_timeout) == (
            "c",
            "root/c",
            3,
            2.0,
        )
        assert repr(ctx) == "<ChildContext 'root/c' incarnation=3>"

    def test_stop_request_is_recorded_once(self) -> None:
        """The first stop request fixes the cleanup deadline; later ones cannot extend it."""
        ctx = context()
        assert ctx.stop_requested is False
        ctx._request_stop(10.0)
        ctx._request_stop(20.0)
        assert ctx.stop_requested is True
        assert ctx._stop_requested_at == 10.0

    async def test_cleanup_without_a_stop_ends_shutdown_timeout_from_now(
        self, autojump_clock: Any
    ) -> None:
        """A child failing on its own still gets a bounded, shielded cleanup."""
        await trio.sleep(5.0)
        scope = context(shutdown_timeout=2.0).cleanup()
        assert (scope.deadline, scope.shield) == (7.0, True)

    async def test_cleanup_after_a_stop_ends_at_stop_time_plus_timeout(
        self, autojump_clock: Any
    ) -> None:
        """Time already spent after the stop request counts against the cleanup budget."""
        ctx = context(shutdown_timeout=2.0)
        ctx._request_stop(1.0)
        await trio.sleep(1.5)
        with ctx.cleanup() as scope:
            await trio.sleep(10.0)
        assert scope.cancelled_caught
        assert trio.current_time() == 3.0

    async def test_cleanup_is_shielded_from_the_cancellation_that_stopped_the_child(
        self, autojump_clock: Any
    ) -> None:
        """Cleanup awaits must run even though the child's own scope is cancelled."""
        ctx = context(shutdown_timeout=2.0)
        finished: list[float] = []
        with trio.CancelScope() as outer:
            outer.cancel()
            ctx._request_stop(trio.current_time())
            with ctx.cleanup():
                await trio.sleep(1.0)
                finished.append(trio.current_time())
        assert finished == [1.0]

    async def test_clones_are_released_with_the_incarnation(self, autojump_clock: Any) -> None:
        """A crashed incarnation must not leave receive clones holding a mailbox open."""
        inbox = Mailbox[int]("inbox", capacity=4)
        outbox = Mailbox[int]("outbox", capacity=4)
        ctx = context()
        receiver = ctx.receiver(inbox)
        sender = ctx.sender(outbox)
        assert (inbox.statistics().receivers, outbox.statistics().senders) == (2, 2)
        inbox.sender().send_nowait(1)
        assert receiver.receive_nowait() == 1
        ctx._release()
        ctx._release()  # idempotent: the monitor's finally may meet an already-released one
        assert (inbox.statistics().receivers, outbox.statistics().senders) == (1, 1)
        with pytest.raises(trio.ClosedResourceError):
            receiver.receive_nowait()
        with pytest.raises(trio.ClosedResourceError):
            sender.send_nowait(1)
