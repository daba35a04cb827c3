"""Reproducible runs: trio's scheduler made deterministic for one ``trio.run``.

Virtual time (``MockClock``) removes the wall clock from a run, but one source of variation
remains: tasks woken at the same instant (a market tick and a heartbeat, both due at
t = 5.0) run in an order trio randomizes on purpose, so that code cannot come to depend on
it. Reproducible scenario runs need the opposite: the same seed, the same run, byte for byte.

trio has exactly this switch, for its own Hypothesis integration (the ``hypothesis`` entry
point in trio's packaging calls ``_hypothesis_plugin_setup``): sort each batch of runnable
tasks by creation order, then shuffle it with trio's private ``random.Random``, seeded. It
is private API, so this module is the only place that touches it, checks that it is still
there, and restores it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio

__all__ = ["deterministic_scheduling"]


@contextmanager
def deterministic_scheduling(seed: int) -> Iterator[None]:
    """Within the block, ``trio.run`` schedules tasks in an order fixed by ``seed``.

    Use around a whole ``trio.run(..., clock=MockClock(...))``, never inside a run.

    Raises:
        RuntimeError: if this trio no longer has the hook (the run would not be reproducible).
    """
    run_module = getattr(getattr(trio, "_core", None), "_run", None)
    if (
        run_module is None
        or not hasattr(run_module, "_ALLOW_DETERMINISTIC_SCHEDULING")
        or not hasattr(run_module, "_r")
    ):
        raise RuntimeError(
            "this trio has no deterministic-scheduling hook (trio._core._run._r); "
            "reproducible runs need trio 0.31 to 0.35 or an update of cjt_actors.determinism"
        )
    saved_flag = run_module._ALLOW_DETERMINISTIC_SCHEDULING
    saved_state = run_module._r.getstate()
    run_module._ALLOW_DETERMINISTIC_SCHEDULING = True
    run_module._r.seed(seed)
    try:
        yield
    finally:
        run_module._ALLOW_DETERMINISTIC_SCHEDULING = saved_flag
        run_module._r.setstate(saved_state)
