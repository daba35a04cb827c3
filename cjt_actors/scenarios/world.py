"""What a scenario's timeline acts on: the simulator, the trading pipeline, the crash switch.

One object, handed to every action, so an action is a few lines that name the lever they
pull (``world.sim.faults.drop_connections()``, ``world.crashes.crash("executor")``) and the
runner alone knows how the stack was assembled.
"""

from __future__ import annotations

from collections import Counter

import attrs
import trio

from ..chaos import CrashSwitch
from ..errors import CjtError
from ..pipeline import Pipeline
from ..sim.simulator import Simulator

__all__ = ["ScenarioActionError", "World"]


class ScenarioActionError(CjtError):
    """A timeline step could not be applied (the scenario asks for something impossible at
    that moment, such as crashing an actor before the tree has started)."""


@attrs.define(eq=False)
class World:
    """The stack of one scenario run, as the timeline sees it."""

    sim: Simulator
    crashes: CrashSwitch
    nursery: trio.Nursery  #: for actions that last (a stall that ends by itself)
    t0: float  #: trio's clock at the scenario's t = 0
    live: bool  #: orders go to the simulator (False: paper trading on its market data)
    key_name: str | None  #: the API key the stack signs with (live only)
    pipeline: Pipeline | None = None  #: set once the trading tree is built
    generations: Counter[str] = attrs.Factory(Counter)
    """How often each lasting fault ("exchange_down", "ws_stall:<endpoint>") was started:
    a fault that ends by itself ends only if no later one of its kind started since."""

    def begin(self, fault: str) -> int:
        """Start a lasting fault; the token :meth:`still_current` checks."""
        self.generations[fault] += 1
        return self.generations[fault]

    def still_current(self, fault: str, token: int) -> bool:
        return self.generations[fault] == token

    def now(self) -> float:
        """Scenario time: virtual seconds since t = 0."""
        return trio.current_time() - self.t0

    def require_pipeline(self, what: str) -> Pipeline:
        if self.pipeline is None:
            raise ScenarioActionError(
                f"{what} at t={self.now():g}: the trading tree has not started yet "
                "(the venue start-up is still waiting)"
            )
        return self.pipeline

    def require_key(self, what: str) -> str:
        if self.key_name is None:
            raise ScenarioActionError(f"{what}: a paper scenario has no API key to revoke")
        return self.key_name
