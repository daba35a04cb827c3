"""The values actors exchange: frozen, slotted, keyword-only attrs classes.

Why values and not dicts: a message is read by tasks that never share state, and one day by
another process. A frozen, slotted, keyword-only class can be neither mutated in flight nor
built with its fields in the wrong order, and it can be carried by any transport that can
carry its fields (:mod:`cjt_actors.codec` turns every registered message into plain JSON
types and back).

Naming is part of the contract:

* **Commands** ask for something to happen and are named in the imperative
  (``SubmitOrder``, ``CancelAll``). A command may be refused; the refusal is an event.
* **Events** say that something happened and are named in the past tense
  (``ChildStarted``, ``OrderFilled``). Events are facts: they are never refused, only recorded.

Rules for fields: money and sizes are ``Decimal`` (or integer ticks on hot paths), never
``float``; times are explicit and say which clock they come from (``at`` is trio's clock,
:func:`trio.current_time`, seconds); errors travel as their type name and message, never as
exception objects (those hold tracebacks, frames and possibly secrets).

Every concrete message is decorated with :func:`register`, which is how the codec and the
tests find them all.
"""

from __future__ import annotations

import enum
from typing import TypeVar

import attrs

__all__ = [
    "MESSAGE_TYPES",
    "ChildCrashed",
    "ChildExited",
    "ChildShutdownOverran",
    "ChildStarted",
    "ChildStopped",
    "CleanupStepFinished",
    "Command",
    "EmergencyTriggered",
    "Event",
    "FailureEscalated",
    "IntensityExceeded",
    "Message",
    "RestartScheduled",
    "RootStopped",
    "StepStatus",
    "StopReason",
    "SupervisorEvent",
    "SupervisorStarted",
    "SupervisorStopped",
    "all_message_types",
    "register",
]

M = TypeVar("M", bound="Message")

#: Every registered message class by its name. Names are unique across the package: the
#: name is what a transport puts on the wire to say which class to rebuild.
MESSAGE_TYPES: dict[str, type[Message]] = {}


def register(cls: type[M]) -> type[M]:
    """Record a concrete message class so the codec can encode and decode it.

    Raises:
        TypeError: if the class is not a Command or Event, not a frozen, slotted,
            keyword-only attrs class, or its name is taken.
    """
    if not isinstance(cls, type) or not issubclass(cls, Command | Event):
        raise TypeError(f"{cls!r} must subclass Command or Event")
    is_attrs_class: bool = attrs.has(cls)  # a plain bool: keep mypy from narrowing `cls`
    if not is_attrs_class or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} must be an attrs class with slots (attrs.frozen)")
    if any(not a.kw_only for a in attrs.fields(cls)):
        raise TypeError(f"{cls.__qualname__}: every field must be keyword-only")
    if cls.__setattr__ is object.__setattr__:
        raise TypeError(f"{cls.__qualname__} must be frozen")
    existing = MESSAGE_TYPES.get(cls.__name__)
    if existing is not None and existing is not cls:
        raise TypeError(f"message name {cls.__name__!r} is already registered")
    MESSAGE_TYPES[cls.__name__] = cls
    return cls


@attrs.frozen(kw_only=True)
class Message:
    """Base of every value that travels on a channel."""


@attrs.frozen(kw_only=True)
class Command(Message):
    """Asks an actor to do something (imperative name). It may be refused by an event."""


@attrs.frozen(kw_only=True)
class Event(Message):
    """Records that something happened (past-tense name)."""


# ------------------------------------------------------------------------------------------
# Supervision events. Emitted by every supervisor on its observer outbox, in the order they
# happened; `supervisor` is the supervisor's path ("root/trading"), `at` is trio's clock.


@attrs.frozen(kw_only=True)
class SupervisorEvent(Event):
    """Base of the events a supervisor emits."""

    supervisor: str
    at: float


@register
@attrs.frozen(kw_only=True)
class SupervisorStarted(SupervisorEvent):
    """Every child has reported ready; the supervisor now supervises."""

    children: tuple[str, ...]


@register
@attrs.frozen(kw_only=True)
class SupervisorStopped(SupervisorEvent):
    """The supervisor stopped all its children and is returning (or raising)."""

    reason: str


@register
@attrs.frozen(kw_only=True)
class ChildStarted(SupervisorEvent):
    """A child called ``task_status.started()``. ``incarnation`` 0 is the first start."""

    child: str
    incarnation: int


@register
@attrs.frozen(kw_only=True)
class ChildExited(SupervisorEvent):
    """A child returned on its own (a normal exit)."""

    child: str
    incarnation: int
    ran_for: float


@register
@attrs.frozen(kw_only=True)
class ChildStopped(SupervisorEvent):
    """The supervisor stopped a child (cancelled it and waited for its cleanup)."""

    child: str
    incarnation: int
    ran_for: float
    why: str


@register
@attrs.frozen(kw_only=True)
class ChildCrashed(SupervisorEvent):
    """A child raised an ``Exception`` (an abnormal exit), before or after it was ready."""

    child: str
    incarnation: int
    ran_for: float
    error_type: str
    error: str
    before_ready: bool


@register
@attrs.frozen(kw_only=True)
class ChildShutdownOverran(SupervisorEvent):
    """A stopped child was still running when its shutdown timeout passed.

    trio cannot kill a task, so the supervisor keeps waiting (it never runs two incarnations
    of a child at once); this event is how an operator learns which actor's cleanup ignores
    its deadline.
    """

    child: str
    incarnation: int
    timeout: float


@register
@attrs.frozen(kw_only=True)
class RestartScheduled(SupervisorEvent):
    """The supervisor will restart ``children`` (in this order) after ``delay`` seconds.

    ``cause`` is the child whose exit triggered the restart; ``attempt`` counts its
    consecutive restarts (0 for the first after a stable run), which drives the backoff.
    """

    cause: str
    children: tuple[str, ...]
    attempt: int
    delay: float


@register
@attrs.frozen(kw_only=True)
class IntensityExceeded(SupervisorEvent):
    """More than ``max_restarts`` restarts within ``period``: the supervisor gives up."""

    restarts: int
    max_restarts: int
    period: float


@register
@attrs.frozen(kw_only=True)
class FailureEscalated(SupervisorEvent):
    """The supervisor stopped its children and raised ``SupervisorGaveUp`` to its parent."""

    causes: tuple[str, ...]


# ------------------------------------------------------------------------------------------
# Emergency protocol (DESIGN §3). Emitted by the root runner.


class StopReason(enum.Enum):
    """Why the root stopped the trading subtree. Decides the exit code with the cleanup."""

    FINISHED = "finished"  #: the trading subtree returned on its own
    SIGNAL = "signal"  #: SIGINT or SIGTERM
    OPERATOR = "operator"  #: an operator asked for a stop
    KILL_SWITCH = "kill_switch"  #: a risk limit that stops trading was breached
    SUPERVISOR_GAVE_UP = "supervisor_gave_up"  #: a crash loop escalated to the root
    VENUE_FATAL = "venue_fatal"  #: the venue refuses us for good (key revoked, ...)
    CRASHED = "crashed"  #: an unexpected exception escaped the trading subtree (a bug)


class StepStatus(enum.Enum):
    """How one cleanup step ended."""

    COMPLETED = "completed"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    SKIPPED = "skipped"  #: the overall cleanup deadline passed before it could start


@register
@attrs.frozen(kw_only=True)
class EmergencyTriggered(Event):
    """The root began the emergency protocol: halt, cancel the tree, clean up."""

    reason: StopReason
    detail: str
    at: float


@register
@attrs.frozen(kw_only=True)
class CleanupStepFinished(Event):
    """One registered cleanup step ended, within its deadline or not."""

    step: str
    status: StepStatus
    started_at: float
    duration: float
    error: str = ""


@register
@attrs.frozen(kw_only=True)
class RootStopped(Event):
    """The root finished: every cleanup step has ended and the exit code is decided."""

    reason: StopReason
    detail: str
    exit_code: int
    steps: tuple[CleanupStepFinished, ...]
    at: float


def all_message_types() -> list[type[Message]]:
    """Every registered message class, sorted by name (for tests and transports)."""
    return [MESSAGE_TYPES[name] for name in sorted(MESSAGE_TYPES)]
