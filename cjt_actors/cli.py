"""The ``cjt`` command.

Subcommands are listed only once they work: ``paper`` paper-trades on the embedded simulator
(or the real public feed), ``sim`` runs the loopback exchange simulator, ``run`` trades live
(for now on a ``cjt sim`` simulator only). ``scenario``, ``status``, ``halt``, ``resume``, ``report`` and ``check-config`` arrive with the
parts of the project that implement them.

Exit codes: those of :class:`~cjt_actors.emergency.ExitCode` for a run (0 stopped on request,
3 emergency, 4 cleanup incomplete...), 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cjt",
        description="CryptoJ Trader on trio: a supervised actor system for Coinbase Advanced Trade.",
    )
    parser.add_argument("--version", action="version", version=f"cjt_actors {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    paper.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
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

    sim = commands.add_parser(
        "sim",
        help="run the loopback Coinbase Advanced Trade simulator",
        description=(
            "Run a Coinbase Advanced Trade look-alike on loopback: REST under /api/v3/brokerage, "
            "WebSocket market and user channels, a synthetic market, and fault injection under "
            "/sim/. Prints its URLs and writes an API key file for clients. Ctrl-C stops it."
        ),
    )
    sim.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    sim.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one (default)"
    )
    sim.add_argument(
        "--seed", type=int, default=0, help="fixes the synthetic market and ids (default 0)"
    )
    sim.add_argument(
        "--auth",
        choices=["jwt", "none"],
        default="jwt",
        help="jwt: verify CDP JWTs as Coinbase does (default); none: accept unsigned requests",
    )
    sim.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="where to write the generated API key JSON (default: a new temporary directory)",
    )
    sim.add_argument(
        "--tick", type=float, default=0.25, help="seconds between market steps (default 0.25)"
    )
    _add_run(commands)
    return parser


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="trade live: orders go to a venue (for now the `cjt sim` simulator)",
        description=(
            "Trade the configured strategies live against a venue's REST API and user "
            "channel. --venue sim trades on a simulator started with `cjt sim` (pass the "
            "URLs and key file it prints). Plain http/ws is allowed to loopback hosts only. "
            "A restart with the same --journal resumes: the journal is replayed and "
            "reconciled with the venue. Ctrl-C stops: open orders are cancelled at the venue "
            "and a summary printed."
        ),
    )
    run.add_argument(
        "--venue",
        required=True,
        help="sim: a `cjt sim` simulator (coinbase needs the live safety interlock, issue 6)",
    )
    run.add_argument("--rest-url", required=True, help="the venue's REST base URL")
    run.add_argument("--ws-url", required=True, help="the market-data WebSocket URL")
    run.add_argument("--user-ws-url", required=True, help="the user-channel WebSocket URL")
    run.add_argument("--key-file", type=Path, required=True, help="the CDP API key JSON file")
    run.add_argument("--config", type=Path, default=None, help="a TOML config file")
    run.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    run.add_argument(
        "--journal", type=Path, default=None, help="journal file; an existing one is resumed"
    )
    run.add_argument("--seed", type=int, default=None, help="fixes the run (overrides run.seed)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cjt`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sim":
        return _sim(parser, args)
    if args.command == "paper":
        return _paper(args)
    if args.command == "run":
        return _run(args)
    parser.print_help()
    return 0


def _paper(args: argparse.Namespace) -> int:
    import attrs
    import trio

    from .config import load_config
    from .configfile import ConfigError
    from .paper_run import run_paper

    if args.duration is not None and not args.duration > 0:
        print("cjt paper: --duration must be > 0 seconds", file=sys.stderr)
        return 2
    source = str(args.config) if args.config is not None else "<defaults>"
    try:
        config = load_config(args.config)
        if args.market is not None:
            config = attrs.evolve(config, market=attrs.evolve(config.market, source=args.market))
        if args.journal is not None:
            config = attrs.evolve(
                config, journal=attrs.evolve(config.journal, path=str(args.journal))
            )
        if args.seed is not None:
            config = attrs.evolve(config, run=attrs.evolve(config.run, seed=args.seed))
        return trio.run(lambda: run_paper(config, config_source=source, duration=args.duration))
    except ConfigError as error:
        print(f"cjt paper: bad configuration\n{error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import attrs
    import trio

    from .config import load_config
    from .configfile import ConfigError
    from .errors import CredentialsError, InvalidSpec
    from .live_run import LiveEndpoints, run_live

    def refuse(message: str) -> int:
        print(f"cjt run: {message}", file=sys.stderr)
        return 2

    if args.venue == "coinbase":
        return refuse(
            "--venue coinbase: trading on the real exchange needs the live-trading safety "
            "interlock (issue 6), which is not built yet; use --venue sim"
        )
    if args.venue != "sim":
        return refuse(f"--venue: unknown venue {args.venue!r}; the only one for now is 'sim'")
    if args.duration is not None and not args.duration > 0:
        return refuse("--duration must be > 0 seconds")
    source = str(args.config) if args.config is not None else "<defaults>"
    try:
        endpoints = LiveEndpoints(
            rest_url=args.rest_url, ws_url=args.ws_url, user_ws_url=args.user_ws_url
        )
        config = load_config(args.config)
        if args.journal is not None:
            config = attrs.evolve(
                config, journal=attrs.evolve(config.journal, path=str(args.journal))
            )
        if args.seed is not None:
            config = attrs.evolve(config, run=attrs.evolve(config.run, seed=args.seed))
        return trio.run(
            lambda: run_live(
                config,
                config_source=source,
                endpoints=endpoints,
                key_file=args.key_file,
                venue_name=args.venue,
                duration=args.duration,
            )
        )
    except ConfigError as error:
        return refuse(f"bad configuration\n{error}")
    except CredentialsError as error:
        return refuse(f"--key-file {args.key_file}: {error}")
    except InvalidSpec as error:
        return refuse(str(error))


def _sim(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import trio

    from .errors import InvalidSpec
    from .exchange._http import is_loopback_host
    from .sim.server import serve_simulator
    from .sim.simulator import Simulator, SimulatorConfig

    if not is_loopback_host(args.host):
        parser.error(
            f"--host: {args.host!r} is not a loopback address; the simulator serves loopback only"
        )
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not a port number")
    try:
        config = SimulatorConfig(seed=args.seed, auth=args.auth, tick=args.tick)
    except InvalidSpec as error:
        parser.error(str(error))
    simulator = Simulator(config)
    key_file: Path | None = None
    if args.auth == "jwt":
        key_file = args.key_file or Path(tempfile.mkdtemp(prefix="cjt-sim-")) / "cdp_api_key.json"
        simulator.write_key_file(key_file)

    async def serve() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with serve_simulator(simulator, host=args.host, port=args.port) as endpoints:
                _print_endpoints(endpoints, args, key_file)
                async for signum in signals:
                    print(f"cjt sim: {signal.Signals(signum).name}, stopping", flush=True)
                    break

    trio.run(serve)
    return 0


def _print_endpoints(endpoints: object, args: argparse.Namespace, key_file: Path | None) -> None:
    from .sim.server import Endpoints

    assert isinstance(endpoints, Endpoints)
    lines = [
        f"cjt sim {__version__}: Coinbase Advanced Trade simulator (seed {args.seed}, auth {args.auth})",
        f"  REST        {endpoints.rest_url}/api/v3/brokerage",
        f"  WebSocket   {endpoints.ws_market_url}  (market data, and user as failover)",
        f"              {endpoints.ws_user_url}  (user data)",
        f"  Control     {endpoints.rest_url}/sim/status",
    ]
    if key_file is not None:
        lines.append(f"  Key file    {key_file}  (ES256, mode 0600)")
        lines.append(
            f'  SDK         RESTClient(key_file="{key_file}", base_url="{endpoints.host}") '
            "over plain HTTP (see docs/simulator.md)"
        )
    else:
        lines.append("  Auth        none: requests need no key")
    lines.append("Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
