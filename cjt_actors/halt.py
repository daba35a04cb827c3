"""The halt latch: the one piece of state the root shares with risk, on purpose.

Why shared and not a message: the emergency protocol's first step (DESIGN §3) is "risk enters
HALTED" and it must happen *synchronously*, before the root cancels the tree and before any
other task runs: a message could sit behind queued intents, which would then be approved.
So the root's halt hook sets this latch, and risk reads it before approving anything. Only
the root (and an operator's halt, through risk) sets it; nothing ever clears a latch set by
an emergency: a new run starts with a new latch.
"""

from __future__ import annotations

from typing import final

from .messages import StopReason

__all__ = ["HaltLatch"]


@final
class HaltLatch:
    """Set once; read by risk on every intent."""

    __slots__ = ("_detail", "_reason")

    def __init__(self) -> None:
        self._reason: StopReason | None = None
        self._detail = ""

    def __repr__(self) -> str:
        state = "open" if self._reason is None else f"set ({self._reason.value})"
        return f"<HaltLatch {state}>"

    def set(self, reason: StopReason, detail: str) -> None:
        """Halt (the first reason is kept: it is the root cause). Usable as a Root halt hook."""
        if self._reason is None:
            self._reason = reason
            self._detail = detail

    @property
    def is_set(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> StopReason | None:
        return self._reason

    @property
    def detail(self) -> str:
        return self._detail
