"""Crash injection: make a named actor crash now, as a bug in it would, under its supervisor.

The failure scenarios and the chaos soak need to crash actors on demand ("the book crashes
at t=30 s") and then check what the system made of it: a restart, the feed re-subscribing,
a book trusted again, or, past the restart intensity, an escalation to the root. Real bugs
cannot be scheduled, so :class:`CrashSwitch` wraps each child's run function
(:meth:`CrashSwitch.wrap`, which :class:`~cjt_actors.pipeline.Pipeline` does for every child
of the trading supervisor when given a switch) and :meth:`CrashSwitch.crash` makes the
named actor's current incarnation raise :class:`InjectedCrash`.

How a crash is delivered: the wrapper runs the child inside a cancel scope of its own, in
the child's own task. :meth:`~CrashSwitch.crash` cancels that scope, so the child unwinds
at its next checkpoint exactly as it would from any failure (its ``finally`` blocks and
:meth:`~cjt_actors.child.ChildContext.cleanup` steps run); the wrapper then raises
:class:`InjectedCrash` from the child's task. The supervisor's monitor sees a bare
exception, not a group, so it records an ordinary ``ChildCrashed`` whose error reads
``InjectedCrash: ...`` and applies its restart strategy and intensity as for any crash.

Rules that keep the supervisor's semantics exact:

* **Readiness is the child's own.** The wrapped child reports started exactly when the
  real child does (the wrapper passes a ``task_status`` that forwards ``started()``), and a
  crash is only delivered to a *ready* incarnation: one asked for while the actor is
  between incarnations, or still starting, waits until the next incarnation is ready. So an
  injected crash is always a crash after start, never a failure to start (which would fail
  a supervisor's own start instead of restarting the child).
* **One crash per incarnation.** Each :meth:`~CrashSwitch.crash` call is one crash: two calls
  while one incarnation runs crash it and then the next one. A crash request whose
  incarnation ended another way first (it failed by itself, or the supervisor stopped it
  for a sibling's restart or a shutdown) is kept for the next incarnation, so every call
  is delivered exactly once if the actor runs again.
* **Cancellation is never swallowed.** The wrapper's scope catches only its own
  cancellation; the supervisor stopping the child (or anything further out) still
  cancels it, and that wins over a crash asked for at the same moment.

A switch serves one pipeline (one incarnation per actor name at a time, which the
supervisor guarantees). It is synchronous and not thread-safe: call it from the trio
thread (a scenario's task, a test).
"""

from __future__ import annotations

import collections

import attrs
import trio

from .child import ChildContext, ChildFunction
from .errors import InvalidSpec

__all__ = ["CrashRecord", "CrashSwitch", "InjectedCrash"]


class InjectedCrash(Exception):
    """The crash :class:`CrashSwitch` injected into an actor (a test fault, not a bug).

    Deliberately not a :class:`~cjt_actors.errors.CjtError`: it stands for an arbitrary bug,
    and nothing should handle it as a refusal of cjt_actors.

    Attributes:
        actor: the child's name (``"book"``, ``"strategy:mm"``).
        detail: what the caller said about it.
    """

    def __init__(self, actor: str, detail: str) -> None:
        super().__init__(f"injected crash of actor {actor!r}: {detail}")
        self.actor = actor
        self.detail = detail


@attrs.frozen(kw_only=True)
class CrashRecord:
    """One delivered crash: which actor, which incarnation, when (trio's clock), why."""

    actor: str
    incarnation: int
    detail: str
    at: float


@attrs.define(eq=False)
class _Live:
    """The incarnation of one actor that is running now."""

    scope: trio.CancelScope
    ready: bool = False


@attrs.define(eq=False)
class CrashSwitch:
    """Crashes named actors on demand (see the module docstring).

    Attributes:
        delivered: crashes delivered (raised) per actor name.
        history: every delivered crash, in order.
    """

    delivered: collections.Counter[str] = attrs.field(factory=collections.Counter, init=False)
    history: list[CrashRecord] = attrs.field(factory=list, init=False)
    _known: set[str] = attrs.field(factory=set, init=False)
    _pending: dict[str, collections.deque[str]] = attrs.field(factory=dict, init=False)
    _live: dict[str, _Live] = attrs.field(factory=dict, init=False)

    @property
    def known(self) -> tuple[str, ...]:
        """The actor names wrapped so far, sorted."""
        return tuple(sorted(self._known))

    def pending(self, actor: str) -> int:
        """Crashes asked for ``actor`` and not delivered yet."""
        return len(self._pending.get(actor, ()))

    def crash(self, actor: str, detail: str = "injected") -> None:
        """Crash ``actor``'s ready incarnation now, or its next one once it is ready.

        Synchronous: the incarnation's scope is cancelled before this returns, so the actor
        fails at its next checkpoint.

        Raises:
            InvalidSpec: ``actor`` is not the name of a wrapped actor (the message lists
                the names known).
        """
        if actor not in self._known:
            known = ", ".join(repr(name) for name in self.known) or "none (nothing wrapped yet)"
            raise InvalidSpec(f"crash: no actor named {actor!r}; known actors: {known}")
        self._pending.setdefault(actor, collections.deque()).append(detail)
        live = self._live.get(actor)
        if live is not None and live.ready:
            live.scope.cancel(reason=f"chaos: injected crash of {actor!r}: {detail}")

    def wrap(self, name: str, run: ChildFunction) -> ChildFunction:
        """``run`` with crash injection, as the child ``name`` (the name :meth:`crash` takes)."""
        self._known.add(name)

        async def crashable(
            ctx: ChildContext, /, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
        ) -> None:
            await self._run(name, run, ctx, task_status)

        crashable.__name__ = crashable.__qualname__ = f"crashable[{name}]"
        return crashable

    async def _run(
        self,
        name: str,
        run: ChildFunction,
        ctx: ChildContext,
        task_status: trio.TaskStatus[None],
    ) -> None:
        live = _Live(scope=trio.CancelScope())
        self._live[name] = live
        try:
            with live.scope:
                await run(ctx, task_status=_Forwarding(task_status, self, name, live))
        finally:
            # One incarnation per name at a time (the supervisor's guarantee); the check only
            # keeps a misuse (one switch, two pipelines) from forgetting the other's.
            if self._live.get(name) is live:  # pragma: no branch
                del self._live[name]
        # Reached when the child returned, or when our own scope caught its cancellation:
        # its own failures and any outer cancellation (a stop) have propagated past here.
        if live.scope.cancel_called:
            detail = self._pending[name].popleft()
            self.delivered[name] += 1
            self.history.append(
                CrashRecord(
                    actor=name, incarnation=ctx.incarnation, detail=detail, at=trio.current_time()
                )
            )
            raise InjectedCrash(name, detail)

    def _on_ready(self, name: str, live: _Live) -> None:
        live.ready = True
        if self._pending.get(name):
            live.scope.cancel(reason=f"chaos: injected crash of {name!r} (asked before ready)")


class _Forwarding:
    """The ``task_status`` a wrapped child gets: forwards ``started()``, then arms the switch."""

    __slots__ = ("_live", "_name", "_status", "_switch")

    def __init__(
        self, status: trio.TaskStatus[None], switch: CrashSwitch, name: str, live: _Live
    ) -> None:
        self._status = status
        self._switch = switch
        self._name = name
        self._live = live

    def started(self, value: None = None) -> None:
        self._status.started()
        self._switch._on_ready(self._name, self._live)
