"""``cjt sim``: the loopback Coinbase Advanced Trade simulator, for any client."""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

from .._version import __version__
from ._common import refuse

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    sim.set_defaults(handler=run, parser=sim)


def run(args: argparse.Namespace) -> int:
    import trio

    from ..errors import InvalidSpec
    from ..listen import is_loopback_host
    from ..sim.server import serve_simulator
    from ..sim.simulator import Simulator, SimulatorConfig

    parser: argparse.ArgumentParser = args.parser
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

    try:
        trio.run(serve)
    except OSError as error:  # the port: in use, or not an address of this machine
        return refuse("sim", f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    return 0


def _print_endpoints(endpoints: object, args: argparse.Namespace, key_file: Path | None) -> None:
    from ..sim.server import Endpoints

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
