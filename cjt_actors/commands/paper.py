"""``cjt paper``: paper-trade on the embedded simulator (no keys, no internet)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import load_with_overrides, positive_seconds, refuse, source_of

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    paper = commands.add_parser(
        "paper",
        help="paper-trade on the embedded simulator (no keys, no internet)",
        description=(
            "Paper-trade the configured strategies (by default a market maker on BTC-USD and "
            "ETH-USD) against market data from the embedded loopback simulator, or the real "
            "Coinbase public feed with --market coinbase. Orders are filled by the paper venue "
            "and journaled to SQLite. Ctrl-C stops: open orders are cancelled and a summary "
            "printed; a second Ctrl-C exits at once."
        ),
    )
    paper.add_argument("--config", type=Path, default=None, help="a TOML config file")
    paper.add_argument(
        "--duration", type=positive_seconds, default=None, help="stop after this many seconds"
    )
    paper.add_argument(
        "--market",
        choices=["simulator", "coinbase"],
        default=None,
        help="market data source (overrides market.source)",
    )
    paper.add_argument(
        "--journal", type=Path, default=None, help="journal file (overrides journal.path)"
    )
    paper.add_argument("--seed", type=int, default=None, help="fixes the run (overrides run.seed)")
    paper.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="WARNING",
        help="log lines on stderr at this level and above (default WARNING)",
    )
    paper.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import trio

    from ..configfile import ConfigError
    from ..logs import configure_logging
    from ..paper_run import run_paper

    source = source_of(args.config)
    try:
        config = load_with_overrides(
            args.config,
            {
                "market": {"source": args.market},
                "journal": {"path": None if args.journal is None else str(args.journal)},
                "run": {"seed": args.seed},
            },
        )
    except ConfigError as error:
        return refuse("paper", f"bad configuration\n{error}")
    # Paper trading is watched through its status lines (or the live view) and summary:
    # only warnings and errors are logged (to stderr) unless --log-level asks for more.
    log_format = config.logging.format
    configure_logging(
        json=None if log_format == "auto" else log_format == "json", level=args.log_level
    )
    try:
        return trio.run(lambda: run_paper(config, config_source=source, duration=args.duration))
    except ConfigError as error:  # a strategy's params, checked as it is loaded
        return refuse("paper", f"bad configuration\n{error}")
