"""``cjt check-config``: read a config file as ``cjt run`` and ``cjt paper`` would, say
every mistake at once (exit 2), or what it resolves to (exit 0). Touches no network."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import refuse

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check-config",
        help="check a config file without trading (exit 2 names every mistake)",
        description=(
            "Read FILE as cjt run and cjt paper would: unknown keys (with the nearest valid "
            "one), wrong types, out-of-range values, strategy params, and, for the live "
            "venue, the interlock's rules (live.enabled, live.acknowledge, URLs). Prints what "
            "the file resolves to, or every problem, one per line; exit 2 on any. "
            "--defaults prints every key with its default instead."
        ),
    )
    check.add_argument("file", type=Path, nargs="?", default=None, help="the TOML file")
    check.add_argument(
        "--defaults", action="store_true", help="print the default config as TOML and exit"
    )
    check.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..config import Config, load_config, load_strategies
    from ..configfile import ConfigError, dump_defaults
    from ..errors import InvalidSpec
    from ..interlock import LiveTradingRefused, check_config

    if args.defaults:
        print(dump_defaults(Config), end="")
        return 0
    if args.file is None:
        return refuse("check-config", "give a FILE to check (or --defaults)")
    source = str(args.file)
    try:
        config = load_config(args.file)
        strategies = load_strategies(config, source=source)
    except (ConfigError, InvalidSpec) as error:
        return refuse("check-config", f"{source}: bad configuration\n{error}")
    lines = [
        f"{source}: ok",
        f"  products    {', '.join(config.market.products)}",
        f"  strategies  {', '.join(s.name for s in strategies)}",
        f"  journal     {config.journal.path or 'a new file under runs/ per run'}",
    ]
    venue = config.venue
    try:
        endpoints = check_config(config)
    except LiveTradingRefused as error:
        lines.append(f"  cjt run     refused ({venue.kind}): {len(error.problems)} problem(s)")
        lines.extend(f"    - {p}" for p in error.problems)
        print("\n".join(lines))
        return 2 if venue.kind == "coinbase" else 0
    lines.append(f"  cjt run     venue {venue.kind} at {endpoints.rest_url}")
    ops = config.ops
    where = f"http://{ops.host}:{ops.port}" if ops.enabled else "off"
    lines.append(f"  ops         {where}; on stop: {config.shutdown.on_stop} open orders")
    print("\n".join(lines))
    return 0
