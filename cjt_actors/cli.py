"""The ``cjt`` command.

Subcommands are listed only once they work: ``paper`` paper-trades on the embedded simulator
(or the real public feed), ``sim`` runs the loopback exchange simulator. ``run``,
``scenario``, ``status``, ``halt``, ``resume``, ``report`` and ``check-config`` arrive with the
parts of the project that implement them.

Exit codes: those of :class:`~cjt_actors.emergency.ExitCode` for a run (0 stopped on request,
3 emergency, 4 cleanup incomplete...), 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import ipaddress
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cjt`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sim":
        return _sim(parser, args)
    if args.command == "paper":
        return _paper(args)
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


def _sim(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import trio

    from .errors import InvalidSpec
    from .sim.server import serve_simulator
    from .sim.simulator import Simulator, SimulatorConfig

    if not _is_loopback(args.host):
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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
