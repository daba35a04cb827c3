"""``cjt soak``: the chaos soak, the whole stack in real time under seeded random faults.

See :mod:`cjt_actors.soak` for what runs and what is checked. The table goes to stdout
(with a progress line every 30 s and each violation as it is found), the JSON document to
``--out``. Exit code 0 when every invariant held, 1 when one did not (or the pipeline
stopped on an emergency), 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..soak.kinds import FaultKind
from ._common import load_with_overrides, positive_seconds, refuse, source_of

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    soak = commands.add_parser(
        "soak",
        help="run the chaos soak: the whole stack in real time under random faults",
        description=(
            "Trade for N minutes of real time against the embedded loopback simulator (live, "
            "through the Coinbase venue, or paper) while a seeded monkey injects faults "
            "(dropped, stalled and closed WebSockets, sequence gaps, malformed frames, REST "
            "error bursts, lost order responses, latency spikes, replayed fills, price "
            "jumps, exchange outages, actor crashes). Invariants are checked every second "
            "against the simulator's own records; the report gives fault and restart "
            "counts, recovery times and memory over time. Exit code 1 on any violation."
        ),
    )
    soak.add_argument(
        "--minutes", type=_minutes, required=True, help="how long to run, in minutes of real time"
    )
    soak.add_argument(
        "--seed", type=int, default=None, help="fixes the fault plan (default: random, printed)"
    )
    soak.add_argument(
        "--venue",
        choices=["sim", "paper"],
        default="sim",
        help="sim: live trading against the simulator (default); paper: the paper venue",
    )
    soak.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    soak.add_argument(
        "--fault-every",
        type=positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="mean seconds between faults (default 5)",
    )
    soak.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="KIND",
        choices=[kind.value for kind in FaultKind],
        help="leave this kind of fault out (repeatable): "
        + ", ".join(kind.value for kind in FaultKind),
    )
    soak.add_argument("--config", type=Path, default=None, help="a TOML config file")
    soak.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="a new journal file (default: one in a new temporary directory)",
    )
    soak.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="ERROR",
        help="log lines on stderr at this level and above (default ERROR: faults make "
        "warnings by design)",
    )
    soak.set_defaults(handler=run)


def _minutes(text: str) -> float:
    """An argparse type: a number of minutes > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0 minutes, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    from ..configfile import ConfigError
    from ..logs import configure_logging

    if args.journal is not None and args.journal.exists():
        return refuse("soak", f"--journal: {args.journal} exists; a soak needs a new journal")
    try:
        config = load_with_overrides(args.config, {})
    except ConfigError as error:
        return refuse("soak", f"bad configuration\n{error}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    journal = args.journal or Path(tempfile.mkdtemp(prefix="cjt-soak-")) / "journal.sqlite"
    logging_setup = configure_logging(
        json=None if config.logging.format == "auto" else config.logging.format == "json",
        level=args.log_level,
    )
    try:
        return _soak(args, config, seed, journal)
    finally:
        logging_setup.close()  # the root logger as it was (the command may run in-process)


def _soak(args: argparse.Namespace, config: Config, seed: int, journal: Path) -> int:
    import trio

    from ..configfile import ConfigError
    from ..errors import InvalidSpec
    from ..soak.report import format_report
    from ..soak.runner import SoakSettings, run_soak

    try:
        settings = SoakSettings(
            minutes=args.minutes,
            seed=seed,
            journal=journal,
            venue=args.venue,
            fault_every=args.fault_every,
            exclude=frozenset(FaultKind(value) for value in args.exclude),
            config=config,
            config_source=source_of(args.config),
            handle_signals=True,
        )
    except InvalidSpec as error:
        return refuse("soak", str(error))

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        report = trio.run(lambda: run_soak(settings, say=say))
    except ConfigError as error:  # a strategy's params, checked as it is loaded
        return refuse("soak", f"bad configuration\n{error}")
    say(format_report(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        say(f"report: {args.out}")
    return report.exit_code
