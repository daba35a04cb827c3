"""trio's scheduler made reproducible for one run, and put back afterwards."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from cjt_actors.determinism import deterministic_scheduling


def _race(log: list[str]) -> None:
    async def main() -> None:
        async def racer(name: str) -> None:
            await trio.sleep(1)  # all four wake at the same virtual instant
            log.append(name)

        async with trio.open_nursery() as nursery:
            for name in "abcd":
                nursery.start_soon(racer, name)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_same_seed_orders_simultaneous_wakeups_the_same_way() -> None:
    """Tasks due at the same instant run in an order the seed fixes."""
    orders = []
    for seed in (1, 1, 1):
        log: list[str] = []
        with deterministic_scheduling(seed):
            _race(log)
        orders.append(log)
    assert orders[0] == orders[1] == orders[2]
    seen = set()
    for seed in range(20):
        log = []
        with deterministic_scheduling(seed):
            _race(log)
        seen.add(tuple(log))
    assert len(seen) > 1  # a different seed can give a different (still fixed) order


def test_the_hook_is_restored_after_the_block() -> None:
    """Outside the block, trio keeps its deliberate randomness."""
    run_module = trio._core._run
    before = (run_module._ALLOW_DETERMINISTIC_SCHEDULING, run_module._r.getstate())
    with deterministic_scheduling(3):
        assert run_module._ALLOW_DETERMINISTIC_SCHEDULING is True
    assert (run_module._ALLOW_DETERMINISTIC_SCHEDULING, run_module._r.getstate()) == before


def test_a_trio_without_the_hook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A silent loss of reproducibility would be worse than an error."""
    monkeypatch.delattr(trio._core._run, "_r")
    with (
        pytest.raises(RuntimeError, match="deterministic-scheduling hook"),
        deterministic_scheduling(1),
    ):
        pass
