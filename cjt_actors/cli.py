"""The ``cjt`` command.

Today it only reports its version: the subcommands (``paper``, ``sim``, ``run``, ``scenario``,
``status``, ``halt``, ``resume``, ``report``, ``check-config``) arrive with the parts of the
project that implement them, and none is listed before it works.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cjt",
        description="CryptoJ Trader on trio: a supervised actor system for Coinbase Advanced Trade.",
    )
    parser.add_argument("--version", action="version", version=f"cjt_actors {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cjt`` console script; returns the process exit code."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0
