"""The ``cjt`` command: the parser, assembled from :mod:`cjt_actors.commands`.

Subcommands (each in its own module): ``paper`` paper-trades on the embedded simulator,
``run`` is the headless daemon trading at a venue, ``sim`` runs the loopback exchange
simulator, ``status``/``halt``/``resume`` steer a running daemon, ``report`` plots a journal,
``check-config`` checks a config file, ``scenario`` runs scripted failure scenarios in
virtual time, ``soak`` runs the chaos soak in real time.

Exit codes: those of :class:`~cjt_actors.emergency.ExitCode` for a run (0 stopped on request,
3 emergency, 4 cleanup incomplete...), 2 for a usage or configuration error, 1 when a
control command could not reach the daemon.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ._version import __version__
from .commands import check_config, control, paper, report, run, scenario, sim, soak

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cjt",
        description="CryptoJ Trader on trio: a supervised actor system for Coinbase Advanced Trade.",
    )
    parser.add_argument("--version", action="version", version=f"cjt_actors {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    paper.add_parser(commands)
    run.add_parser(commands)
    sim.add_parser(commands)
    control.add_parsers(commands)
    report.add_parser(commands)
    scenario.add_parser(commands)
    soak.add_parser(commands)
    check_config.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cjt`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    return handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
