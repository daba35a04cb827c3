"""``cjt run``: the headless trading daemon, orders at a venue (a ``cjt sim``, or Coinbase
behind the live-trading interlock)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._common import load_with_overrides, positive_seconds, refuse, source_of

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run_ = commands.add_parser(
        "run",
        help="trade live: the headless daemon (a `cjt sim`, or Coinbase behind the interlock)",
        description=(
            "Trade the configured strategies live against a venue's REST API and user "
            "channel. The venue comes from [venue] in the config; the options below override "
            "it. --venue sim trades on a simulator started with `cjt sim` (pass the URLs and "
            "key file it prints); --venue coinbase needs live.enabled = true and "
            "live.acknowledge in the config (docs/operations.md). Plain http/ws only to "
            "loopback. A restart with the same journal resumes: it is replayed and reconciled "
            "with the venue before anything trades. SIGTERM/SIGINT stop: open orders are "
            "cancelled (shutdown.on_stop) and a summary printed."
        ),
    )
    run_.add_argument("--config", type=Path, default=None, help="a TOML config file")
    run_.add_argument(
        "--venue", choices=["sim", "coinbase"], default=None, help="overrides venue.kind"
    )
    run_.add_argument("--rest-url", default=None, help="overrides venue.rest_url")
    run_.add_argument("--ws-url", default=None, help="overrides venue.ws_url (market data)")
    run_.add_argument("--user-ws-url", default=None, help="overrides venue.user_ws_url")
    run_.add_argument(
        "--key-file", type=Path, default=None, help="the CDP API key JSON (venue.key_file)"
    )
    run_.add_argument(
        "--duration", type=positive_seconds, default=None, help="stop after this many seconds"
    )
    run_.add_argument(
        "--journal", type=Path, default=None, help="journal file; an existing one is resumed"
    )
    run_.add_argument("--seed", type=int, default=None, help="fixes the run (overrides run.seed)")
    run_.add_argument(
        "--ops-port", type=int, default=None, help="overrides ops.port (0: a free port)"
    )
    run_.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import attrs
    import trio

    from ..configfile import ConfigError
    from ..errors import CredentialsError, InvalidSpec
    from ..interlock import LiveTradingRefused
    from ..live_run import run_live
    from ..logs import configure_logging
    from ..startup import EXIT_VENUE_UNAVAILABLE, VenueUnavailable

    source = source_of(args.config)
    try:
        config = load_with_overrides(
            args.config,
            {
                "venue": {
                    "kind": args.venue,
                    "rest_url": args.rest_url,
                    "ws_url": args.ws_url,
                    "user_ws_url": args.user_ws_url,
                    "key_file": None if args.key_file is None else str(args.key_file),
                },
                "journal": {"path": None if args.journal is None else str(args.journal)},
                "run": {"seed": args.seed},
                "ops": {"port": args.ops_port},
            },
        )
        if config.venue.key_file is not None:  # "~/..." in a config means the home directory
            expanded = os.path.expanduser(config.venue.key_file)
            config = attrs.evolve(config, venue=attrs.evolve(config.venue, key_file=expanded))
        log_format = config.logging.format
        configure_logging(
            json=None if log_format == "auto" else log_format == "json",
            level=config.logging.level,
        )
        return trio.run(lambda: run_live(config, config_source=source, duration=args.duration))
    except ConfigError as error:
        return refuse("run", f"bad configuration\n{error}")
    except LiveTradingRefused as error:
        return refuse("run", str(error))
    except CredentialsError as error:
        where = config.venue.key_file or "the environment (COINBASE_API_KEY/SECRET)"
        return refuse("run", f"API key from {where}: {error}")
    except InvalidSpec as error:
        return refuse("run", str(error))
    except VenueUnavailable as error:
        # Not a usage error: the exchange may come back, and a service manager should
        # start us again later (EX_TEMPFAIL; docs/cjt.service does not prevent it).
        print(f"cjt run: {error}", file=sys.stderr)
        return EXIT_VENUE_UNAVAILABLE
