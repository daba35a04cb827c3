"""The configuration of ``cjt paper`` and ``cjt run``: one TOML file, every key optional,
every mistake named.

Why attrs classes with defaults: ``cjt paper`` must trade with no file at all (the defaults
are a complete, sensible paper setup), and a file only says what differs. ``cjt run`` reads
the same file: strategies, risk and supervision mean the same on both paths; ``[venue]``,
``[live]``, ``[ops]``, ``[shutdown]`` and ``[logging]`` only matter to it. The loader
(:mod:`cjt_actors.configfile`) refuses unknown keys with the nearest valid one, wrong types,
and values a class's validators reject, naming the key path of each.

Sections (``docs/paper.toml`` is a commented example)::

    [market]      where market data comes from and which products trade
    [simulator]   the embedded simulator's seed and speed (market.source = "simulator")
    [[strategies]] name, import path ("module:Class") and params (the class's ``Params``)
    [risk]        limits (RiskLimits)
    [paper]       the fill model (PaperConfig)
    [supervision] restart intensity and backoff of the trading supervisor
    [journal]     where the SQLite journal goes
    [run]         status interval, emergency deadline, seed
    [venue]       cjt run: where orders go ("sim" or "coinbase"), URLs, the key file
    [live]        cjt run: the safety interlock for the real exchange
    [ops]         cjt run: the local HTTP endpoint (metrics, health, control)
    [shutdown]    cjt run: what SIGTERM/SIGINT do with open orders
    [logging]     cjt run: level and format of the log lines

Secrets are never in this file: the API key comes from a key file (whose path may be here)
or the environment (``COINBASE_API_KEY``/``COINBASE_API_SECRET``), and the ops token from the
environment variable ``ops.token_env`` names.

Strategy ``params`` tables are checked against the strategy's own ``Params`` class when the
strategy is loaded (:func:`load_strategies`), with paths like ``strategies[0].params.x``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs

from .configfile import ConfigError, ConfigProblem, load_toml, structure
from .errors import InvalidSpec
from .paper import PaperConfig
from .pipeline import StrategySpec
from .risk_rules import RiskLimits
from .strategies.base import Strategy

__all__ = [
    "COINBASE_REST_URL",
    "COINBASE_USER_WS_URL",
    "COINBASE_WS_URL",
    "DEFAULT_STRATEGY",
    "DEFAULT_STRATEGY_PATH",
    "LIVE_ACKNOWLEDGEMENT",
    "Config",
    "JournalSection",
    "LiveSection",
    "LoggingSection",
    "MarketSection",
    "OpsSection",
    "RunSection",
    "ShutdownSection",
    "SimulatorSection",
    "StrategyEntry",
    "SupervisionSection",
    "VenueSection",
    "load_config",
    "load_strategies",
]

DEFAULT_STRATEGY_PATH = "cjt_actors.strategies.market_maker:MarketMaker"
COINBASE_REST_URL = "https://api.coinbase.com"
COINBASE_WS_URL = "wss://advanced-trade-ws.coinbase.com"
COINBASE_USER_WS_URL = "wss://advanced-trade-ws-user.coinbase.com"
#: What ``live.acknowledge`` must say, word for word, before ``cjt run`` trades real money.
LIVE_ACKNOWLEDGEMENT = "I understand that cjt trades real money on my Coinbase account"


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise InvalidSpec(f"{attribute.name} must be > 0, got {value!r}")


def _finite_non_negative(
    _instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if not 0 <= value < float("inf"):
        raise InvalidSpec(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class MarketSection:
    """Where market data comes from.

    ``source = "simulator"`` (the default) starts the loopback simulator in-process;
    ``"coinbase"`` reads the real public feed (``wss://advanced-trade-ws.coinbase.com``,
    product rules from ``https://api.coinbase.com``); ``url``/``rest_url`` override either.
    """

    source: Literal["simulator", "coinbase"] = "simulator"
    products: tuple[str, ...] = ("BTC-USD", "ETH-USD")
    url: str | None = None
    rest_url: str | None = None
    book_depth: int = 10
    bar_intervals: tuple[int, ...] = (1, 60)
    max_book_age: float = attrs.field(default=10.0, validator=_positive)
    stale_after: float = attrs.field(default=10.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not self.products:
            raise InvalidSpec("products must name at least one product")
        if len(set(self.products)) != len(self.products):
            raise InvalidSpec(f"products must not repeat, got {list(self.products)}")
        if self.book_depth < 1:
            raise InvalidSpec(f"book_depth must be >= 1, got {self.book_depth}")
        if not self.bar_intervals or any(i < 1 for i in self.bar_intervals):
            raise InvalidSpec(f"bar_intervals must be whole seconds >= 1, got {self.bar_intervals}")


@attrs.frozen(kw_only=True)
class SimulatorSection:
    """The embedded simulator: ``seed`` fixes its market; ``tick`` is its step in seconds."""

    seed: int = 0
    tick: float = attrs.field(default=0.25, validator=_positive)


@attrs.frozen(kw_only=True)
class StrategyEntry:
    """One strategy: a unique ``name``, its class as ``"module:Class"``, and its params."""

    name: str
    path: str = DEFAULT_STRATEGY_PATH
    params: Mapping[str, Any] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.strip() != self.name:
            raise InvalidSpec(f"name must be non-empty, without '/' or spaces: {self.name!r}")


#: The strategy a run without a config trades: the market maker, quoting 1 bp from mid (its
#: class default is 5 bp; closer quotes make a short demonstration run on the simulator's
#: market see fills within seconds, which is what a first run should show).
DEFAULT_STRATEGY = StrategyEntry(name="mm", params={"half_spread_bps": Decimal(1)})


@attrs.frozen(kw_only=True)
class SupervisionSection:
    """The trading supervisor: more than ``max_restarts`` in ``period`` seconds escalates."""

    max_restarts: int = 5
    period: float = attrs.field(default=60.0, validator=_positive)
    backoff_min: float = attrs.field(default=0.1, validator=_positive)
    backoff_max: float = attrs.field(default=10.0, validator=_positive)


@attrs.frozen(kw_only=True)
class JournalSection:
    """``path``: the SQLite journal; by default a new file under ``runs/`` per run."""

    path: str | None = None


@attrs.frozen(kw_only=True)
class RunSection:
    """``status_interval``: seconds between status lines; ``emergency_timeout``: the bound
    on cancelling every open order when the run stops; ``seed``: fixes the run's randomness
    (``None``: a fresh seed, printed)."""

    status_interval: float = attrs.field(default=5.0, validator=_positive)
    emergency_timeout: float = attrs.field(default=10.0, validator=_positive)
    seed: int | None = None


@attrs.frozen(kw_only=True)
class VenueSection:
    """Where ``cjt run`` sends orders.

    ``kind = "sim"``: a ``cjt sim`` simulator; its three URLs are required (``cjt sim``
    prints them) and must be loopback. ``kind = "coinbase"``: the real exchange, behind the
    ``[live]`` interlock; the URLs default to Coinbase's and must be https/wss.
    ``key_file``: the CDP key JSON (mode 0600); without it, the key comes from the
    environment (``COINBASE_API_KEY``, ``COINBASE_API_SECRET``).
    ``startup_patience``: seconds ``cjt run`` keeps retrying at start-up while the venue
    is unreachable (5xx, 429, an HTML page, no answer) before it gives up; 0 tries once.
    A refusal (a bad key, an unknown product) fails at once (:mod:`cjt_actors.startup`).
    """

    kind: Literal["sim", "coinbase"] = "sim"
    rest_url: str | None = None
    ws_url: str | None = None
    user_ws_url: str | None = None
    key_file: str | None = None
    startup_patience: float = attrs.field(default=300.0, validator=_finite_non_negative)


@attrs.frozen(kw_only=True)
class LiveSection:
    """The real-exchange interlock: ``enabled = true`` and ``acknowledge`` set to
    :data:`LIVE_ACKNOWLEDGEMENT` word for word, or ``cjt run`` refuses ``venue.kind =
    "coinbase"`` (exit code 2). Ignored for the simulator."""

    enabled: bool = False
    acknowledge: str = ""


def _port(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise InvalidSpec(f"{attribute.name} must be a port number (0-65535), got {value}")


@attrs.frozen(kw_only=True)
class OpsSection:
    """The local HTTP endpoint of a running ``cjt run``: ``/metrics``, ``/healthz``,
    ``/readyz``, ``/status``, ``POST /halt``, ``POST /resume``.

    Bound to ``host:port`` (loopback by default; port 0 picks a free one, printed at
    start-up). Bound anywhere else, every endpoint but ``/healthz`` needs the token read
    from the environment variable ``token_env``; start-up fails if it is unset.
    ``ready_max_age``: an actor whose last status is older than that makes ``/readyz`` 503.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8790, validator=_port)
    token_env: str = "CJT_OPS_TOKEN"
    ready_max_age: float = attrs.field(default=30.0, validator=_positive)


@attrs.frozen(kw_only=True)
class ShutdownSection:
    """``on_stop``: what SIGTERM, SIGINT and ``--duration`` do with open orders:
    ``"cancel"`` (cancel every one at the venue and verify none remain) or ``"leave"``
    (leave them working; the journal still records the stop). Emergencies (the kill switch,
    a crash loop, a revoked key) always cancel."""

    on_stop: Literal["cancel", "leave"] = "cancel"


@attrs.frozen(kw_only=True)
class LoggingSection:
    """``level``: DEBUG, INFO, WARNING or ERROR; ``format``: ``"auto"`` (JSON lines when
    stderr is not a terminal, readable lines on one), ``"json"`` or ``"text"``."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "text"] = "auto"


@attrs.frozen(kw_only=True)
class Config:
    """Everything ``cjt paper`` and ``cjt run`` read from a config file."""

    market: MarketSection = attrs.Factory(MarketSection)
    simulator: SimulatorSection = attrs.Factory(SimulatorSection)
    strategies: tuple[StrategyEntry, ...] = attrs.Factory(lambda: (DEFAULT_STRATEGY,))
    risk: RiskLimits = attrs.Factory(RiskLimits)
    paper: PaperConfig = attrs.Factory(PaperConfig)
    supervision: SupervisionSection = attrs.Factory(SupervisionSection)
    journal: JournalSection = attrs.Factory(JournalSection)
    run: RunSection = attrs.Factory(RunSection)
    venue: VenueSection = attrs.Factory(VenueSection)
    live: LiveSection = attrs.Factory(LiveSection)
    ops: OpsSection = attrs.Factory(OpsSection)
    shutdown: ShutdownSection = attrs.Factory(ShutdownSection)
    logging: LoggingSection = attrs.Factory(LoggingSection)

    def __attrs_post_init__(self) -> None:
        names = [s.name for s in self.strategies]
        if not names:
            raise InvalidSpec("strategies: configure at least one strategy")
        if len(set(names)) != len(names):
            raise InvalidSpec(f"strategies: names must be unique, got {names}")


def load_config(path: str | Path | None) -> Config:
    """The config in ``path`` (the defaults when ``None``); raises ConfigError naming keys."""
    if path is None:
        return Config()
    return load_toml(Config, path)


def load_strategies(config: Config, *, source: str) -> tuple[StrategySpec, ...]:
    """Import each strategy class and check its params against the class's ``Params``.

    Raises:
        ConfigError: every problem found, with paths like ``strategies[0].path``.
    """
    specs: list[StrategySpec] = []
    problems: list[ConfigProblem] = []
    for index, entry in enumerate(config.strategies):
        where = f"strategies[{index}]"
        try:
            cls = _import_strategy(entry.path)
        except InvalidSpec as error:
            problems.append(ConfigProblem(path=f"{where}.path", message=str(error)))
            continue
        try:
            params = structure(cls.Params, entry.params, source=source, path=f"{where}.params")
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        specs.append(StrategySpec(name=entry.name, factory=_factory(cls, params)))
    if problems:
        raise ConfigError(source=source, problems=tuple(problems))
    return tuple(specs)


def _factory(cls: Any, params: object) -> Callable[[], Strategy]:
    def make() -> Strategy:
        strategy: Strategy = cls(params)
        return strategy

    return make


def _import_strategy(path: str) -> Any:
    module_name, _, class_name = path.partition(":")
    if not module_name or not class_name:
        raise InvalidSpec(f"expected 'module:Class', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidSpec(f"cannot import module {module_name!r}: {error}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InvalidSpec(f"module {module_name!r} has no {class_name!r}")
    if not attrs.has(getattr(cls, "Params", None) or object):
        raise InvalidSpec(f"{path}: a strategy class needs a 'Params' attrs class")
    return cls
