"""``cjt run``: live trading, orders at a real venue through :class:`CoinbaseVenue`.

For now the only venue is ``sim``: a loopback simulator started separately with ``cjt sim``,
which speaks Coinbase Advanced Trade's wire (REST, market and user WebSockets, CDP JWTs).
The real exchange needs the live-trading safety interlock (issue 6) and is refused.

What a run does, in order (each step prints one line, as ``cjt paper`` does):

1. load the config (defaults when no file); its strategies, risk limits, supervision and
   run sections apply, its ``market`` section only for products, depth and bars: the URLs
   come from the command line;
2. load the API key file and open an authenticated REST client to the venue;
3. read the products' increments and size limits over REST;
4. open the SQLite journal; an existing one is *resumed*: the executor replays it and
   reconciles with the venue before anything trades (:meth:`ExecutionCore.recover`), so a
   run killed with SIGKILL and started again with the same ``--journal`` neither loses nor
   duplicates an order or a fill;
5. run the trading tree (orders to the venue over REST, reports from its user channel and
   polling) until Ctrl-C, SIGTERM, ``--duration`` or an emergency;
6. the root's cleanup cancels every order the venue reports open and re-reads until none
   remain;
7. print the summary from the journal; exit with the root's exit code.

Why a fresh ``client_order_id`` namespace per process: strategies number their orders from
1 in every process, and the venue answers a repeated ``client_order_id`` with the original
order. A restart must not reuse the ids of the previous process, whose orders recovery
already knows from the journal; a random namespace (printed) guarantees that.

Plain ``http``/``ws`` only go to loopback hosts: a JWT signs each request, and it must not
cross a network in clear.
"""

from __future__ import annotations

import random
import secrets
import sys
import urllib.parse
from pathlib import Path
from typing import TextIO

import attrs

from . import session
from .coinbase_venue import CoinbaseVenue
from .config import PaperTradingConfig, load_strategies
from .errors import InvalidSpec
from .exchange._http import is_loopback_host
from .exchange.auth import Credentials
from .exchange.rest import API_PREFIX, RestClient
from .exchange.ws import WebSocketClient
from .journal import AsyncJournal
from .pipeline import Pipeline
from .products import ProductRules
from .session import describe_product, pipeline_settings, run_with_display
from .status import StatusBoard
from .summary import format_summary, summarize

__all__ = ["LiveEndpoints", "check_url", "run_live"]


def check_url(option: str, url: str, *, secure: str, plain: str) -> str:
    """``url`` if it is ``secure://`` or ``plain://`` to a loopback host; else InvalidSpec.

    ``option`` names the command-line option in the message.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in (secure, plain) or not host:
        raise InvalidSpec(f"{option}: expected {secure}://host[:port] or {plain}://, got {url!r}")
    if parts.scheme == plain and not is_loopback_host(host):
        raise InvalidSpec(
            f"{option}: {url!r} uses plain {plain}:// to {host!r}, which is not a loopback "
            f"host; plain {plain} is allowed only to 127.0.0.0/8, ::1 or localhost "
            "(API tokens must not cross a network in clear)"
        )
    return url


def _strip_prefix(url: object) -> str:
    """The REST origin: ``cjt sim`` prints URLs with the prefix, the client adds it."""
    trimmed = str(url).rstrip("/")
    return trimmed[: -len(API_PREFIX)] if trimmed.endswith(API_PREFIX) else trimmed


@attrs.frozen(kw_only=True)
class LiveEndpoints:
    """Where the venue listens: REST origin, market-data and user WebSockets.

    A REST URL ending in ``/api/v3/brokerage`` (as ``cjt sim`` prints it) is accepted: the
    prefix is dropped, since the client adds it to every path.
    """

    rest_url: str = attrs.field(converter=_strip_prefix)
    ws_url: str
    user_ws_url: str

    def __attrs_post_init__(self) -> None:
        check_url("--rest-url", self.rest_url, secure="https", plain="http")
        check_url("--ws-url", self.ws_url, secure="wss", plain="ws")
        check_url("--user-ws-url", self.user_ws_url, secure="wss", plain="ws")


async def run_live(
    config: PaperTradingConfig,
    *,
    config_source: str,
    endpoints: LiveEndpoints,
    key_file: Path,
    venue_name: str = "sim",
    duration: float | None = None,
    out: TextIO | None = None,
    handle_signals: bool = True,
) -> int:
    """Run one live session against ``endpoints``; return the process exit code.

    Raises:
        CredentialsError: the key file is missing, malformed or readable by others.
        InvalidSpec: a bad strategy or URL.
    """
    strategies = load_strategies(config, source=config_source)
    credentials = Credentials.from_file(key_file)
    seed = (
        config.run.seed if config.run.seed is not None else random.SystemRandom().randrange(2**32)
    )
    namespace = f"live-{seed}-{secrets.token_hex(4)}"
    journal_path = session.journal_path(config, kind="live")
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    stream = sys.stdout if out is None else out

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    say(f"cjt run: venue {venue_name}, config {config_source}, seed {seed}")
    rest = RestClient(endpoints.rest_url, credentials=credentials, rng=random.Random(seed))
    async with rest:
        say(f"venue: {endpoints.rest_url} (key {credentials!r})")
        rules = {
            product_id: ProductRules.from_product(await rest.get_product(product_id))
            for product_id in config.market.products
        }
        say("products: " + ", ".join(describe_product(r) for r in rules.values()))
        resuming = journal_path.exists()
        async with await AsyncJournal.open(journal_path) as journal:
            previous = await journal.last_seq() if resuming else 0
            if previous:
                say(
                    f"journal: {journal_path} (resuming after {previous} events: "
                    "replayed, then reconciled with the venue)"
                )
            else:
                say(f"journal: {journal_path}")
            user_channel = WebSocketClient(
                channels={"user": []},
                url=endpoints.user_ws_url,
                credentials=credentials,
                rng=random.Random(seed + 1),
            )
            venue = CoinbaseVenue(rest, user_channel=user_channel, name=venue_name)
            board = StatusBoard()
            settings = pipeline_settings(
                config,
                products=rules,
                market_url=endpoints.ws_url,
                strategies=strategies,
                namespace=namespace,
                seed=seed,
            )
            pipeline = Pipeline(
                settings, journal, board=board, handle_signals=handle_signals, venue=venue
            )
            names = ", ".join(s.name for s in strategies)
            say(
                f"trading: strategies {names} (order ids {namespace}); "
                "Ctrl-C stops (open orders are cancelled at the venue)"
            )
            outcome = await run_with_display(
                pipeline,
                products=tuple(rules),
                status_interval=config.run.status_interval,
                say=say,
                live_view=out is None and sys.stdout.isatty(),
                duration=duration,
            )
            summary = summarize(await journal.read())
            say(format_summary(summary))
            say(f"journal: {journal_path}")
    return int(outcome.exit_code)
