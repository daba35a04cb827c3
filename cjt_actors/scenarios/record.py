"""What one scenario run left behind, in scenario time, for the expectations to judge.

Everything is read once the run has stopped: the journal (every event with the virtual time
it was written), the simulator's own records (its orders, fills and balances: the truth the
bot is judged against, never what the bot believes), the REST requests it received, the
timeline's actions, the supervisor's restart counts and the root's outcome. Times are
seconds since the scenario's t = 0.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from ..emergency import RootOutcome
from ..messages import Message
from ..sim.requestlog import LoggedRequest
from ..sim.simulator import DEFAULT_USER, Simulator

__all__ = ["ActionRecord", "Failure", "RunRecord", "TimedEvent"]

M = TypeVar("M", bound=Message)


@attrs.frozen(kw_only=True)
class TimedEvent:
    """One journal event: its sequence number, scenario time, and the message."""

    seq: int
    at: float
    message: Message


@attrs.frozen(kw_only=True)
class ActionRecord:
    """A timeline step as it was applied (or failed to apply)."""

    at: float
    description: str
    error: str | None = None


@attrs.frozen(kw_only=True)
class Failure:
    """An expectation that did not hold: which, when (scenario time, if it has one), why."""

    check: str
    message: str
    at: float | None = None


@attrs.frozen(kw_only=True)
class RunRecord:
    """See the module docstring."""

    name: str
    live: bool
    seed: int
    duration: float  #: the scenario's planned virtual duration
    ended_at: float  #: scenario time when the root's cleanup had finished
    events: tuple[TimedEvent, ...]
    actions: tuple[ActionRecord, ...]
    requests: tuple[LoggedRequest, ...]  #: times already in scenario time
    sim: Simulator
    outcome: RootOutcome | None  #: None: the trading tree never started
    restarts: dict[str, int]
    digest: str
    orders_table: dict[str, dict[str, Any]]  #: the journal's ``orders`` table
    violations: tuple[Failure, ...] = ()  #: invariants broken while the run was going
    startup_error: str | None = None

    def of(self, kind: type[M]) -> list[tuple[float, M]]:
        """(time, message) of every journaled ``kind``."""
        return [(e.at, e.message) for e in self.events if isinstance(e.message, kind)]

    def messages(self, kind: type[M]) -> Iterator[M]:
        return (m for _, m in self.of(kind))

    # -- the simulator's side ------------------------------------------------------------------

    def venue_orders(self) -> list[Any]:
        """Our orders as the simulator holds them (live scenarios; empty on paper)."""
        return self.sim.engine.list_orders(DEFAULT_USER) if self.live else []

    def venue_fills(self) -> dict[str, Any]:
        """trade_id -> the simulator's fill record, for our user."""
        if not self.live:
            return {}
        return {fill.trade_id: fill for fill in self.sim.engine.fills(DEFAULT_USER)}

    def balance_change(self, currency: str) -> Decimal:
        """How much of ``currency`` our account gained (holds included) since the start."""
        account = self.sim.engine.account(DEFAULT_USER, currency)
        total = Decimal(0) if account is None else account.available + account.hold
        return total - Decimal(self.sim.config.balances.get(currency, 0))

    def orders_per_client_order_id(self) -> collections.Counter[str]:
        return collections.Counter(o.client_order_id for o in self.venue_orders())
