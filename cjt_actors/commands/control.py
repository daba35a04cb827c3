"""``cjt status``, ``cjt halt``, ``cjt resume``: steer a running ``cjt run`` through its ops
endpoint (``GET /status``, ``POST /halt``, ``POST /resume``).

Where the daemon listens comes from ``--url``, else from the config's ``[ops]`` section
(``--config``), else ``http://127.0.0.1:8790``; the token, when the endpoint needs one, from
the environment variable ``ops.token_env`` names (``CJT_OPS_TOKEN`` by default). Exit codes:
0 done, 1 the daemon answered with an error or could not be reached, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ._common import refuse

__all__ = ["add_parsers", "halt", "resume", "status"]

_EXIT_UNREACHABLE = 1


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status_ = commands.add_parser(
        "status",
        help="what a running cjt run is doing (trading state, positions, PnL, actors)",
        description="Ask a running `cjt run` for its status (GET /status on its ops endpoint).",
    )
    _endpoint_options(status_)
    status_.add_argument("--json", action="store_true", help="print the raw JSON")
    status_.set_defaults(handler=status)

    halt_ = commands.add_parser(
        "halt",
        help="stop new orders in a running cjt run (cancels still pass)",
        description=(
            "Halt a running `cjt run`: risk enters HALTED, new orders are denied, working "
            "orders stay unless --flatten. --flatten also cancels every open order and "
            "closes every position with market orders. `cjt resume` lifts the halt."
        ),
    )
    _endpoint_options(halt_)
    halt_.add_argument("--flatten", action="store_true", help="cancel all and close positions")
    halt_.add_argument("--reason", default="cjt halt", help="recorded in the journal")
    halt_.set_defaults(handler=halt)

    resume_ = commands.add_parser(
        "resume",
        help="lift an operator's halt in a running cjt run",
        description=(
            "Resume a running `cjt run` halted by an operator (or after an emergency that "
            "allows it); a kill-switch halt cannot be resumed."
        ),
    )
    _endpoint_options(resume_)
    resume_.add_argument("--reason", default="cjt resume", help="recorded in the journal")
    resume_.set_defaults(handler=resume)


def _endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="the daemon's ops endpoint (http://host:port)")
    parser.add_argument(
        "--config", type=Path, default=None, help="read [ops] host, port and token_env from here"
    )


def status(args: argparse.Namespace) -> int:
    answer = _call(args, "GET", "/status", None)
    if isinstance(answer, int):
        return answer
    if args.json:
        print(json.dumps(answer, indent=2, sort_keys=True))
    else:
        print(_format_status(answer))
    return 0


def halt(args: argparse.Namespace) -> int:
    body = {"detail": args.reason, "flatten": bool(args.flatten)}
    answer = _call(args, "POST", "/halt", body)
    if isinstance(answer, int):
        return answer
    flatten = " with flatten" if answer.get("flatten") else ""
    print(
        f"cjt halt: {answer.get('sent')}{flatten} queued for risk ({answer.get('detail')}); "
        "`cjt status` shows the trading state"
    )
    return 0


def resume(args: argparse.Namespace) -> int:
    answer = _call(args, "POST", "/resume", {"detail": args.reason})
    if isinstance(answer, int):
        return answer
    print(
        f"cjt resume: {answer.get('sent')} queued for risk ({answer.get('detail')}); a halt "
        "that cannot be resumed (the kill switch) stays: `cjt status` shows the state"
    )
    return 0


def _call(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None
) -> dict[str, Any] | int:
    """The JSON answer, or an exit code after printing why there is none."""
    import httpx

    from ..configfile import ConfigError

    command = args.handler.__name__
    try:
        base, token = _endpoint(args)
    except ConfigError as error:
        return refuse(command, f"bad configuration\n{error}")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, base + path, json=body, headers=headers, timeout=10.0)
    except httpx.HTTPError as error:
        print(
            f"cjt {command}: cannot reach the daemon at {base} ({type(error).__name__}: {error}); "
            "is `cjt run` running, with [ops] enabled on that address?",
            file=sys.stderr,
        )
        return _EXIT_UNREACHABLE
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 400 or not isinstance(answer, dict):
        why = answer.get("error") if isinstance(answer, dict) else response.text[:200]
        print(f"cjt {command}: the daemon answered {response.status_code}: {why}", file=sys.stderr)
        return _EXIT_UNREACHABLE
    return answer


def _endpoint(args: argparse.Namespace) -> tuple[str, str | None]:
    from ..config import OpsSection, load_config

    ops = load_config(args.config).ops if args.config is not None else OpsSection()
    base = args.url or f"http://{_host_for_url(ops.host)}:{ops.port}"
    return base.rstrip("/"), os.environ.get(ops.token_env) or None


def _host_for_url(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _format_status(status: dict[str, Any]) -> str:
    """The daemon's ``/status`` in a few readable lines (``--json`` shows everything)."""
    lines = [f"ready         {'yes' if status.get('ready') else 'NO'}"]
    failed = [c for c in status.get("checks") or [] if not c.get("ok")]
    lines.extend(f"  not ready:  {c.get('name')}: {c.get('detail')}" for c in failed)
    trading = status.get("trading")
    if trading:
        why = (
            f" ({trading.get('reason')}: {trading.get('detail')})" if trading.get("reason") else ""
        )
        lines.append(f"trading       {trading.get('state')}{why}")
        if trading.get("cooldown_seconds"):
            lines.append(
                f"  cooldown:   new orders denied for {trading['cooldown_seconds']} s more "
                "(a loss streak)"
            )
    pnl = status.get("pnl")
    if pnl:
        lines.append(
            f"pnl           equity {pnl.get('equity')}, drawdown {pnl.get('drawdown')}, "
            f"day {pnl.get('day_pnl')}, exposure {pnl.get('gross_exposure')}"
        )
    held = [p for p in status.get("positions") or [] if p.get("quantity") not in ("0", None)]
    if held:
        shown = ", ".join(f"{p.get('product')} {p.get('quantity')}" for p in held)
        lines.append(f"positions     {shown}")
    orders = status.get("orders")
    if orders:
        reconciling = ", RECONCILING" if orders.get("reconciling") else ""
        lines.append(
            f"orders        {orders.get('working')} working, {orders.get('submitted')} "
            f"submitted, {orders.get('fills')} fills{reconciling}"
        )
    denials = status.get("denials") or {}
    if denials:
        shown = ", ".join(f"{reason} {count}" for reason, count in sorted(denials.items()))
        lines.append(f"denials       {shown}")
    feed = status.get("feed")
    if feed:
        lines.append(f"feed          {feed.get('state')}, reconnects {feed.get('reconnects')}")
    for book in status.get("books") or []:
        lines.append(
            f"book          {book.get('product')} {book.get('best_bid')}/{book.get('best_ask')} "
            f"{book.get('state')}"
        )
    restarts = sum(int(a.get("restarts") or 0) for a in status.get("actors") or [])
    lines.append(f"restarts      {restarts}")
    return "\n".join(lines)
