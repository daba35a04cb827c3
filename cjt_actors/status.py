r"""A status board: each actor posts an immutable snapshot of itself; observers read them.

Why: the status line of ``nox -s paper``, the final summary and (later) ``/metrics`` and
``/readyz`` need to see every actor at once, but actors must not reach into each other's
state. So each actor *publishes* a frozen value under its own name whenever it likes, and
readers only ever read. One writer per key, values never mutated: nothing to lock in a
single-threaded trio program.

An actor on the market-data hot path (the feed and the book, once per frame) does not build
a value per frame: building a frozen status of a dozen fields costs microseconds, more than
applying the frame, and nobody reads it that often (a status line a second, a scrape every
few seconds). It publishes a *source* once (:meth:`StatusBoard.publish_source`: a function
that builds its snapshot) and, per frame, only touches its key (:meth:`StatusBoard.touch`); a
reader gets a snapshot built at the moment it reads, so it is never staler than before.

``updated_at`` (trio's clock) per key lets health checks judge progress: an actor whose
snapshot stopped changing (or that stopped touching it) is not making progress, whatever it
claims.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

    def publish_source(self, name: str, source: Callable[[], object]) -> None:
        """Post a function that builds ``name``'s snapshot (a frozen value) when it is read.

        For writers that change with every frame: they publish once, then only
        :meth:`touch`. ``source`` runs on the reader's turn, in the same trio thread, so it
        sees the writer's state between two of its steps, never in the middle of one.
        """
        self._snapshots[name] = _Source(source)
        self._updated_at[name] = trio.current_time()

    def touch(self, name: str, at: float) -> None:
        """Record progress of ``name`` at ``at`` (trio's clock) without a new snapshot."""
        self._updated_at[name] = at

    def get(self, name: str, kind: type[T]) -> T | None:
        """The latest snapshot of ``name`` if it is a ``kind``, else ``None``."""
        value = self._snapshots.get(name)
        if type(value) is _Source:
            value = value.build()
        return value if isinstance(value, kind) else None

    def updated_at(self, name: str) -> float | None:
        """When ``name`` last published (trio's clock), or ``None`` if never."""
        return self._updated_at.get(name)

    def snapshots(self) -> Mapping[str, Any]:
        """A read-only view of every latest snapshot (sources built now)."""
        return MappingProxyType(
            {
                name: value.build() if type(value) is _Source else value
                for name, value in self._snapshots.items()
            }
        )


@final
class _Source:
    """A snapshot built on read (:meth:`StatusBoard.publish_source`)."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], object]) -> None:
        self.build = build
