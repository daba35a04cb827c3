"""``cjt run``: live trading, orders at a real venue through :class:`CoinbaseVenue`.

The venue is ``[venue]`` in the config (or the command line's overrides): ``kind = "sim"``, a
loopback simulator started with ``cjt sim`` (which speaks Coinbase Advanced Trade's wire:
REST, market and user WebSockets, CDP JWTs), or ``"coinbase"``, the real exchange, behind the
live-trading interlock (:mod:`cjt_actors.interlock`).

What a run does, in order (each step prints one line, as ``cjt paper`` does):

1. check the config against the interlock (real exchange: ``live.enabled`` and the
   acknowledgement; plain http/ws only to loopback);
2. load the API key (``venue.key_file``, else the environment) and open an authenticated
   REST client;
3. ask the venue whether the key may view and trade and whether every product is open for
   trading; read the products' increments and size limits. While the venue is unreachable
   (5xx, 429, a maintenance page, no answer) this is retried for ``venue.startup_patience``
   seconds, one line per attempt (:mod:`cjt_actors.startup`); a refusal fails at once;
4. open the SQLite journal; an existing one is *resumed*: the executor replays it and
   reconciles with the venue before anything trades (:meth:`ExecutionCore.recover`), so a
   run killed with SIGKILL and started again with the same journal neither loses nor
   duplicates an order or a fill;
5. run the trading tree (orders to the venue over REST, reports from its user channel and
   polling) until SIGINT, SIGTERM, ``--duration`` or an emergency;
6. the root's cleanup cancels every order the venue reports open and re-reads until none
   remain (unless ``shutdown.on_stop = "leave"`` and the stop was requested);
7. print the summary from the journal; exit with the root's exit code.

Why a fresh ``client_order_id`` namespace per process: strategies number their orders from
1 in every process, and the venue answers a repeated ``client_order_id`` with the original
order. A restart must not reuse the ids of the previous process, whose orders recovery
already knows from the journal; a random namespace (printed) guarantees that.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TextIO

from . import session
from .coinbase_venue import CoinbaseVenue
from .config import Config, load_strategies
from .errors import InvalidSpec
from .exchange.auth import ENV_KEY_NAME, ENV_KEY_SECRET, Credentials
from .exchange.rest import RestClient
from .exchange.ws import WebSocketClient
from .interlock import check_config
from .journal import AsyncJournal
from .logs import register_secret
from .ops import PipelineOpsSource, ReadinessPolicy, serve_ops
from .pipeline import Pipeline
from .session import describe_product, pipeline_settings, run_with_display
from .startup import prepare_venue
from .status import StatusBoard
from .summary import format_summary, summarize

__all__ = ["register_key_material", "run_live"]


def register_key_material(key_file: str | None) -> None:
    """Tell the log redactor the key's name and private key, wherever they came from, so no
    log line can carry them (the parsed :class:`Credentials` never shows them anyway)."""
    if key_file is None:
        values = [os.environ.get(ENV_KEY_NAME, ""), os.environ.get(ENV_KEY_SECRET, "")]
    else:
        try:
            document = json.loads(Path(key_file).read_text())
        except (OSError, ValueError):
            return  # Credentials.from_file read it a moment ago; nothing more to learn here
        values = (
            [str(document.get(field, "")) for field in ("name", "id", "privateKey")]
            if isinstance(document, dict)
            else []
        )
    for value in values:
        if value.strip():
            register_secret(value)


@contextlib.asynccontextmanager
async def _ops_endpoint(
    config: Config, pipeline: Pipeline, say: Callable[[str], None]
) -> AsyncIterator[None]:
    """Serve ``/metrics``, ``/healthz``, ``/readyz``, ``/status``, ``/halt`` and ``/resume``
    for the block, if ``ops.enabled``; the token (from ``ops.token_env``) is redacted from
    logs. Raises InvalidSpec when the endpoint cannot be opened (a port in use, a host
    that is not loopback without a token)."""
    ops = config.ops
    if not ops.enabled:
        yield
        return
    token = os.environ.get(ops.token_env) or None
    if token is not None:
        register_secret(token)
    source = PipelineOpsSource(pipeline)
    policy = ReadinessPolicy(max_silence=ops.ready_max_age)
    serving = False
    try:
        async with serve_ops(
            source, host=ops.host, port=ops.port, token=token, policy=policy
        ) as url:
            serving = True
            say(f"ops: {url} (/metrics /healthz /readyz /status; `cjt status --url {url}`)")
            yield
    except* OSError as group:
        if serving:
            raise  # not about opening the endpoint
        error = group.exceptions[0]
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        raise InvalidSpec(
            f"ops: cannot listen on {ops.host}:{ops.port} ({error}); set ops.port "
            "(0 picks a free port) or ops.enabled = false"
        ) from None


async def run_live(
    config: Config,
    *,
    config_source: str,
    duration: float | None = None,
    out: TextIO | None = None,
    handle_signals: bool = True,
) -> int:
    """Run one live session on ``config.venue``; return the process exit code.

    Raises:
        LiveTradingRefused: the interlock's checks failed (every reason listed), or the
            venue refused the key or a product.
        VenueUnavailable: the venue stayed unreachable for ``venue.startup_patience``
            seconds (``cjt run`` should exit with ``startup.EXIT_VENUE_UNAVAILABLE``).
        CredentialsError: the key file is missing, malformed or readable by others, or the
            environment lacks the key.
        InvalidSpec: a bad strategy.
    """
    endpoints = check_config(config)
    strategies = load_strategies(config, source=config_source)
    key_file = config.venue.key_file  # "~" already expanded by the command
    credentials = Credentials.from_env() if key_file is None else Credentials.from_file(key_file)
    register_key_material(key_file)
    venue_name = config.venue.kind
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
        ready = await prepare_venue(
            rest,
            config.market.products,
            patience=config.venue.startup_patience,
            say=say,
            rng=random.Random(seed + 2),
        )
        for warning in ready.warnings:
            say(f"warning: {warning}")
        rules = ready.rules
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
            on_stop = "cancelled" if config.shutdown.on_stop == "cancel" else "left working"
            say(
                f"trading: strategies {names} (order ids {namespace}); "
                f"SIGTERM or Ctrl-C stops (open orders are {on_stop} at the venue)"
            )
            async with _ops_endpoint(config, pipeline, say):
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
