"""``venue.startup_patience``: how long ``cjt run`` waits for an unreachable venue at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjt_actors.config import Config, load_config
from cjt_actors.configfile import ConfigError, dump_defaults, loads_toml

DOCS = Path(__file__).parents[2] / "docs"


def test_the_default_is_five_minutes_and_is_listed_with_the_defaults() -> None:
    assert Config().venue.startup_patience == 300.0
    assert "\n[venue]\n" in dump_defaults(Config)
    venue = dump_defaults(Config).split("\n[venue]\n", 1)[1].split("\n[", 1)[0]
    assert "startup_patience = 300.0" in venue


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("45", 45.0), ("2.5", 2.5)])
def test_zero_and_any_finite_number_of_seconds_are_accepted(text: str, seconds: float) -> None:
    config = loads_toml(Config, f"[venue]\nstartup_patience = {text}\n")
    assert config.venue.startup_patience == seconds


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("-1", r"venue: startup_patience must be a finite number >= 0, got -1"),
        ("nan", r"venue.startup_patience: expected a finite number"),
        ('"5"', r"venue.startup_patience: expected a number"),
    ],
)
def test_bad_values_are_named(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        loads_toml(Config, f"[venue]\nstartup_patience = {text}\n")


@pytest.mark.parametrize("name", ["live.toml", "live-sim.toml", "paper.toml"])
def test_the_example_configs_still_load(name: str) -> None:
    assert load_config(DOCS / name).venue.startup_patience == 300.0
