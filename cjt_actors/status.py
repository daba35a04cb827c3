"""A status board: each actor posts an immutable snapshot of itself; observers read them.

Why: the status line of ``nox -s paper``, the final summary and (later) ``/metrics`` and
``/readyz`` need to see every actor at once, but actors must not reach into each other's
state. So each actor *publishes* a frozen value under its own name whenever it likes (it is
one dict assignment, cheap enough for every frame), and readers only ever read. One writer
per key, values never mutated: nothing to lock in a single-threaded trio program.

``updated_at`` (trio's clock) per key lets health checks judge progress: an actor whose
snapshot stopped changing is not making progress, whatever it claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar, final

import trio

__all__ = ["StatusBoard"]

T = TypeVar("T")


@final
class StatusBoard:
    """Latest snapshot per actor name."""

    __slots__ = ("_snapshots", "_updated_at")

    def __init__(self) -> None:
        self._snapshots: dict[str, object] = {}
        self._updated_at: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<StatusBoard {sorted(self._snapshots)}>"

    def publish(self, name: str, snapshot: object) -> None:
        """Post ``snapshot`` (a frozen value) as the latest for ``name``."""
        self._snapshots[name] = snapshot
        self._updated_at[name] = trio.current_time()

    def get(self, name: str, kind: type[T]) -> T | None:
        """The latest snapshot of ``name`` if it is a ``kind``, else ``None``."""
        value = self._snapshots.get(name)
        return value if isinstance(value, kind) else None

    def updated_at(self, name: str) -> float | None:
        """When ``name`` last published (trio's clock), or ``None`` if never."""
        return self._updated_at.get(name)

    def snapshots(self) -> Mapping[str, Any]:
        """A read-only view of every latest snapshot."""
        return MappingProxyType(self._snapshots)
