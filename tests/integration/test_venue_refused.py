"""A revoked key stops the root at once (VENUE_FATAL): restarting the executor cannot mend
it, and before the executor reported ``VenueRefused`` it crash-looped until its supervisor
gave up (five restarts, three seconds of 401s)."""

from __future__ import annotations

from pathlib import Path

from cjt_actors.emergency import ExitCode
from cjt_actors.messages import ChildCrashed, EmergencyTriggered, StopReason
from cjt_actors.scenarios import load_scenario, run_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "key_revoked.toml"


def test_a_revoked_key_stops_the_tree_once_with_venue_fatal(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(SCENARIO), workdir=tmp_path)
    record = result.record
    assert result.passed, result.failures
    assert record.outcome is not None
    assert record.outcome.reason is StopReason.VENUE_FATAL
    assert "refuses this session" in record.outcome.detail
    assert "Exceptions from Trio" not in record.outcome.detail  # the leaf error, not a group
    # The cancel-all could not be confirmed with a revoked key, and the exit code says so.
    assert record.outcome.exit_code is ExitCode.CLEANUP_INCOMPLETE
    (triggered_at, _), *_ = record.of(EmergencyTriggered)
    assert 30.0 < triggered_at < 32.0  # within the venue's three 401s, not after restarts
    # The executor's incarnation still ends with the error (journaled once), but nothing
    # restarts it: the root is already stopping the tree.
    crashes = [c for c in record.messages(ChildCrashed) if c.child == "executor"]
    assert [c.error_type for c in crashes] == ["VenueUnauthorized"]
    assert record.restarts.get("executor", 0) == 0
