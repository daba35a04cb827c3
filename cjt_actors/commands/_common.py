"""What several commands share: loading the config with command-line overrides, and how a
refusal is printed (exit code 2, one clear message on stderr)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["EXIT_USAGE", "load_with_overrides", "positive_seconds", "refuse", "source_of"]

EXIT_USAGE = 2  #: a usage or configuration error (argparse uses 2 too)


def refuse(command: str, message: str) -> int:
    """Print ``cjt <command>: <message>`` to stderr; return :data:`EXIT_USAGE`."""
    print(f"cjt {command}: {message}", file=sys.stderr)
    return EXIT_USAGE


def source_of(path: Path | None) -> str:
    return str(path) if path is not None else "<defaults>"


def load_with_overrides(path: Path | None, overrides: dict[str, dict[str, Any]]) -> Config:
    """The config in ``path`` (defaults without one), with ``{section: {key: value}}``
    applied where the value is not ``None``. Raises ConfigError (bad file) or InvalidSpec
    (an override a section's validators refuse)."""
    import attrs

    from ..config import load_config

    config = load_config(path)
    for section, values in overrides.items():
        given = {key: value for key, value in values.items() if value is not None}
        if given:
            current = getattr(config, section)
            config = attrs.evolve(config, **{section: attrs.evolve(current, **given)})
    return config


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value
