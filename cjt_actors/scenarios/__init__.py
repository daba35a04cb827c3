"""Scripted failure scenarios in deterministic virtual time (``cjt scenario run``).

A scenario file says what goes wrong and when (:mod:`.actions`, the simulator's fault API,
the crash switch, operator commands) and what must still be true (:mod:`.expectations`);
:mod:`.runner` runs the whole stack in memory under trio's ``MockClock`` and judges it;
:mod:`.display` shows the results and the events around each failure. See
``docs/scenarios.md``.
"""

from __future__ import annotations

from .actions import ACTIONS, Action
from .expectations import EXPECTATIONS, INVARIANTS, Expectation
from .record import Failure, RunRecord
from .runner import ScenarioResult, run_scenario
from .spec import Scenario, ScenarioFileError, Step, load_scenario, scenario_files

__all__ = [
    "ACTIONS",
    "EXPECTATIONS",
    "INVARIANTS",
    "Action",
    "Expectation",
    "Failure",
    "RunRecord",
    "Scenario",
    "ScenarioFileError",
    "ScenarioResult",
    "Step",
    "load_scenario",
    "run_scenario",
    "scenario_files",
]
