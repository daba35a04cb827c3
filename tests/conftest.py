"""Shared test configuration: Hypothesis profiles and the property marker.

Profiles (chosen with HYPOTHESIS_PROFILE, set by the noxfile):

* ``fast`` for `nox -s tests`: few examples, so the whole suite stays quick;
* ``thorough`` for `nox -s property`: many more examples;
* ``dev`` (default): in between.

No profile has a deadline: examples run whole trio programs under a MockClock, whose real
duration says nothing about the code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fast", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

_PROPERTY_DIR = Path(__file__).parent / "property"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/property/ carries the `property` marker."""
    for item in items:
        if _PROPERTY_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.property)
