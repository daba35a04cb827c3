"""What a supervisor needs to know about a child, and what a child gets from its supervisor.

A child is an async function with the actor signature of DESIGN §2::

    async def run(ctx: ChildContext, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        inbox = ctx.receiver(my_mailbox)      # a clone for this incarnation
        out = ctx.sender(next_mailbox)        # likewise
        ...set up...
        task_status.started()                 # "I am ready": the next child may start
        try:
            async for msg in inbox: ...
        finally:
            with ctx.cleanup():               # shielded, ends at the shutdown deadline
                await flush_something()

:class:`ChildSpec` says how to run it: its restart type, how long its cleanup may take when
it is stopped, how long it may take to become ready, its backoff.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar, final

import attrs
import trio

from .channels import Mailbox, Outbox
from .errors import InvalidSpec
from .policy import Backoff, Restart

__all__ = ["ChildContext", "ChildFunction", "ChildSpec"]

T = TypeVar("T")


class ChildFunction(Protocol):
    """The actor entry point: ``async def run(ctx, *, task_status=...)``."""

    def __call__(
        self, ctx: ChildContext, /, *, task_status: trio.TaskStatus[None] = ...
    ) -> Awaitable[object]: ...


def _positive_seconds(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and attribute.name == "start_timeout":
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpec(f"{attribute.name}: must be a number of seconds, got {value!r}")
    if math.isnan(value) or math.isinf(value) or value <= 0:
        # An infinite shutdown timeout is OTP's `infinity`: shutdown would then depend on the
        # child's cleanup ever returning. We refuse it (DESIGN §3: every cleanup is bounded).
        raise InvalidSpec(f"{attribute.name}: must be finite and > 0 seconds, got {value!r}")


def _valid_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or "/" in value or value != value.strip():
        raise InvalidSpec(
            f"child name must be a non-empty string without '/' or surrounding spaces, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class ChildSpec:
    """How a supervisor runs one child.

    Args:
        name: unique among its siblings; the child's path is ``supervisor_path/name``.
        run: the child function (see :class:`ChildFunction`).
        restart: PERMANENT (default), TRANSIENT or TEMPORARY.
        shutdown_timeout: seconds the child's cleanup gets after the supervisor cancels it;
            :meth:`ChildContext.cleanup` ends at that deadline. Default 5 s (OTP's default
            for workers). Infinite is refused.
        start_timeout: seconds the child may take to call ``task_status.started()``; None
            (default) waits as long as it takes. Exceeding it is a failure to start.
        backoff: this child's restart backoff; None uses the supervisor's.
        significant: with the supervisor's ``auto_shutdown``, this child ending for good
            ends the supervisor. Only TRANSIENT and TEMPORARY children may be significant
            (a PERMANENT child never ends for good).
    """

    name: str = attrs.field(validator=_valid_name)
    run: ChildFunction
    restart: Restart = Restart.PERMANENT
    shutdown_timeout: float = attrs.field(default=5.0, validator=_positive_seconds)
    start_timeout: float | None = attrs.field(default=None, validator=_positive_seconds)
    backoff: Backoff | None = None
    significant: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.restart, Restart):
            raise InvalidSpec(
                f"child {self.name!r}: restart must be a Restart, got {self.restart!r}"
            )
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise InvalidSpec(
                f"child {self.name!r}: backoff must be a Backoff, got {self.backoff!r}"
            )
        if self.significant and self.restart is Restart.PERMANENT:
            raise InvalidSpec(
                f"child {self.name!r}: only TRANSIENT or TEMPORARY children can be significant"
            )


@final
class ChildContext:
    """What one incarnation of a child gets from its supervisor.

    A new context is made for every start, so per-incarnation resources (channel clones) are
    released when that incarnation ends, whatever way it ends.
    """

    def __init__(self, *, name: str, path: str, incarnation: int, shutdown_timeout: float) -> None:
        self.name = name
        self.path = path
        self.incarnation = incarnation
        self.shutdown_timeout = shutdown_timeout
        self._stop_requested_at: float | None = None
        self._clones: list[trio.MemoryReceiveChannel[Any] | Outbox[Any]] = []

    def __repr__(self) -> str:
        return f"<ChildContext {self.path!r} incarnation={self.incarnation}>"

    @property
    def stop_requested(self) -> bool:
        """True once the supervisor has asked this incarnation to stop."""
        return self._stop_requested_at is not None

    def cleanup(self) -> trio.CancelScope:
        """A shielded scope for cleanup awaits, ending at this child's shutdown deadline.

        If the supervisor stopped the child, the deadline is the moment it asked plus
        ``shutdown_timeout``; otherwise (the child is failing or returning on its own) it is
        now plus ``shutdown_timeout``. Use it as ``with ctx.cleanup(): await ...``.
        """
        start = self._stop_requested_at
        if start is None:
            start = trio.current_time()
        return trio.move_on_at(start + self.shutdown_timeout, shield=True)

    def receiver(self, mailbox: Mailbox[T]) -> trio.MemoryReceiveChannel[T]:
        """A receive clone of ``mailbox`` for this incarnation, closed when it ends."""
        clone = mailbox.receiver()
        self._clones.append(clone)
        return clone

    def sender(self, mailbox: Mailbox[T]) -> Outbox[T]:
        """A send clone of ``mailbox`` for this incarnation, closed when it ends."""
        clone = mailbox.sender()
        self._clones.append(clone)
        return clone

    # -- supervisor side -------------------------------------------------------------------

    def _request_stop(self, at: float) -> None:
        if self._stop_requested_at is None:
            self._stop_requested_at = at

    def _release(self) -> None:
        """Close every clone handed out (synchronous: safe while cancelled)."""
        clones, self._clones = self._clones, []
        for clone in clones:
            clone.close()
