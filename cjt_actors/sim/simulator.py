"""The simulator's state and clock: engine, synthetic market, users and keys, faults, hub.

:class:`Simulator` is what tests and paper trading hold: the Python face of the simulated
exchange. The HTTP and WebSocket faces (:mod:`.rest`, :mod:`.websocket`, :mod:`.control`)
are thin layers over it, assembled by :mod:`.app`.

Time: the engine and the wire need epoch seconds. With ``start_epoch`` unset the simulator
reads the wall clock, like an exchange. With ``start_epoch`` set, epoch time is
``start_epoch`` plus trio's clock, so under a ``MockClock`` a whole run is reproducible
(clients must then sign their JWTs with the same clock: :meth:`Simulator.epoch`).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, deque
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import InvalidSpec
from ..exchange.auth import Credentials
from .auth import JwtVerifier, RegisteredKey
from .engine import Engine
from .events import FillRecorded, LevelChanged, OrderUpdated, TradeExecuted
from .faults import Faults
from .market import MAKER, TAKER, MarketParams, SyntheticMarket
from .products import DEFAULT_FEES, DEFAULT_PRODUCTS, FeeSchedule, ProductSpec
from .streams import HEARTBEAT_INTERVAL, Connection, Hub
from .wire import decimal_text, l2_events, rfc3339, trade_events, user_order_json

__all__ = ["DEFAULT_USER", "Simulator", "SimulatorConfig"]

DEFAULT_USER = "user-1"
#: Order updates with fills kept per user, for the "replay fills on reconnect" fault.
_REPLAY_KEPT = 200


def _default_balances() -> Mapping[str, Decimal]:
    return {"USD": Decimal("100000"), "BTC": Decimal("1"), "ETH": Decimal("10")}


@attrs.frozen(kw_only=True)
class SimulatorConfig:
    """How a simulator is set up. Every field has a default that makes a usable exchange."""

    products: tuple[ProductSpec, ...] = tuple(DEFAULT_PRODUCTS.values())
    fees: FeeSchedule = DEFAULT_FEES
    seed: int = 0  #: fixes the market and every id
    auth: Literal["jwt", "none"] = "jwt"  #: "none" accepts unsigned requests (local use only)
    tick: float = 0.25  #: seconds between market steps
    start_epoch: float | None = None  #: None: wall clock; else virtual epoch (see module doc)
    balances: Mapping[str, Decimal] = attrs.field(factory=_default_balances)
    private_rate: float = 30.0  #: REST requests per second per key (Coinbase's limit)
    public_rate: float = 10.0  #: REST requests per second per client address, public routes
    market: MarketParams = attrs.Factory(MarketParams)
    market_enabled: bool = True  #: False: an empty exchange with no synthetic traders

    def __attrs_post_init__(self) -> None:
        if self.auth not in ("jwt", "none"):
            raise InvalidSpec(f"auth: must be 'jwt' or 'none', got {self.auth!r}")
        if not 0 < self.tick <= 60:
            raise InvalidSpec(f"tick: must be in (0, 60] seconds, got {self.tick!r}")
        if self.private_rate <= 0 or self.public_rate <= 0:
            raise InvalidSpec("private_rate and public_rate must be > 0")


class Simulator:
    """A Coinbase Advanced Trade look-alike: state, users, faults, and event publishing."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.engine = Engine(
            products=self.config.products, fees=self.config.fees, seed=self.config.seed
        )
        self.market = SyntheticMarket(self.engine, seed=self.config.seed, params=self.config.market)
        self.faults = Faults()
        self.hub = Hub(now=self.epoch)
        self.faults.on_ws_action(self.hub.apply)
        self.verifier = JwtVerifier([], hosts={"api.coinbase.com"}, now=self.epoch)
        self.faults.bind_auth(self.verifier.revoke, self.verifier.restore)
        self.faults.bind_market(self._jump_price)
        self._keys: dict[str, str] = {}  # key name -> user id
        self._users: list[str] = [DEFAULT_USER]
        self._funded: set[str] = set()
        self._opened = False
        self._t0: float | None = None
        #: POST /orders received per client_order_id (checks like "never sent twice").
        self.create_requests: Counter[str] = Counter()
        self._recent_fill_updates: dict[str, deque[dict[str, Any]]] = {}
        self.fills_recorded = 0
        #: Users that have subscribed to the user channel at least once.
        self.user_channel_seen: set[str] = set()
        self._asgi: Any = None

    @property
    def asgi(self) -> Any:
        """The ASGI application (built once)."""
        if self._asgi is None:
            from .app import build_app

            self._asgi = build_app(self)
        return self._asgi

    # -- time --------------------------------------------------------------------------------

    def epoch(self) -> float:
        """Epoch seconds as the simulated exchange sees them."""
        start = self.config.start_epoch
        if start is None:
            return time.time()
        if self._t0 is None:
            self._t0 = trio.current_time()
        return start + (trio.current_time() - self._t0)

    # -- users and keys ----------------------------------------------------------------------

    @property
    def users(self) -> list[str]:
        return list(self._users)

    def add_user(self, user_id: str) -> None:
        """A new user funded with the configured balances."""
        if user_id in (MAKER, TAKER):
            raise InvalidSpec(f"user id {user_id!r} is reserved for the synthetic market")
        if user_id not in self._users:
            self._users.append(user_id)
        if self._opened:
            self._fund(user_id)

    def register_key(
        self, key_name: str, public_key_pem: bytes, user_id: str = DEFAULT_USER
    ) -> None:
        """Accept tokens signed by this key, acting as ``user_id``."""
        self.add_user(user_id)
        self._keys[key_name] = user_id
        self.verifier.add_key(RegisteredKey(name=key_name, public_key_pem=public_key_pem))

    def generate_key(self, user_id: str = DEFAULT_USER) -> tuple[Credentials, dict[str, str]]:
        """Make an ES256 key for ``user_id``; return its credentials and the portal-style JSON.

        The key name has the CDP form; ids are derived from the seed and a counter.
        """
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        index = len(self._keys) + 1
        name = (
            f"organizations/00000000-0000-4000-8000-{self.config.seed:012d}"
            f"/apiKeys/00000000-0000-4000-8000-{index:012d}"
        )
        credentials = Credentials.from_values(name, pem)
        self.register_key(name, credentials.public_key_pem(), user_id)
        return credentials, {"name": name, "privateKey": pem}

    def write_key_file(
        self, path: str | os.PathLike[str], user_id: str = DEFAULT_USER
    ) -> Credentials:
        """Generate a key for ``user_id`` and write the portal-style JSON file (mode 0600)."""
        credentials, document = self.generate_key(user_id)
        target = Path(path)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
        os.chmod(target, 0o600)
        return credentials

    def user_for_key(self, key_name: str) -> str | None:
        return self._keys.get(key_name)

    def bind_host(self, host: str) -> None:
        """The host[:port] clients were given: REST tokens must name it in their ``uri``."""
        self.verifier.add_host(host)

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Fund users and lay out the synthetic books (idempotent; needs trio's clock)."""
        if self._opened:
            return
        self._opened = True
        now = self.epoch()
        if self.config.market_enabled:
            self.market.open(now)
        for user in self._users:
            self._fund(user)
        self.publish()

    def _fund(self, user_id: str) -> None:
        if user_id in self._funded:
            return
        self._funded.add(user_id)
        for currency, amount in self.config.balances.items():
            self.engine.deposit(user_id, currency, Decimal(amount), now=self.epoch())

    async def run_background(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The market and heartbeat loops; runs until cancelled."""
        self.open()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._market_loop)
            nursery.start_soon(self._heartbeat_loop)
            task_status.started()

    async def _market_loop(self) -> None:
        tick = self.config.tick
        next_at = trio.current_time() + tick
        while True:
            await trio.sleep_until(next_at)
            next_at += tick
            self.step(tick)

    def step(self, dt: float) -> None:
        """Advance the market by ``dt`` seconds, expire GTD orders, publish what changed."""
        now = self.epoch()
        if self.config.market_enabled:
            self.market.step(now, dt)
        self.engine.expire(now)
        self.publish()

    def _jump_price(self, product_id: str, bps: Decimal) -> None:
        """The ``jump_price`` fault: move the mid, re-quote, and publish the jump at once (the
        book update must not wait for the next market step)."""
        if not self.config.market_enabled:
            raise InvalidSpec("price jump: the synthetic market is disabled (market_enabled)")
        self.open()
        self.market.jump(product_id, bps, self.epoch())
        self.publish()

    async def _heartbeat_loop(self) -> None:
        next_at = trio.current_time() + HEARTBEAT_INTERVAL
        while True:
            await trio.sleep_until(next_at)
            next_at += HEARTBEAT_INTERVAL
            self.hub.heartbeat_all(_heartbeat_time(self.epoch(), trio.current_time()))

    # -- publishing --------------------------------------------------------------------------

    def publish(self) -> None:
        """Fan the engine's new events out to WebSocket subscribers (call after any change)."""
        events = self.engine.drain_events()
        if not events:
            return
        levels = [e for e in events if isinstance(e, LevelChanged)]
        trades = [e for e in events if isinstance(e, TradeExecuted)]
        updates = [e for e in events if isinstance(e, OrderUpdated)]
        self.fills_recorded += sum(1 for e in events if isinstance(e, FillRecorded))
        for product_id, event in l2_events(levels).items():
            self.hub.publish_market("level2", product_id, [event])
        for product_id, event in trade_events(trades).items():
            self.hub.publish_market("market_trades", product_id, [event])
            self._publish_ticker(product_id)
        by_user: dict[str, list[dict[str, Any]]] = {}
        for update in updates:
            user = update.order.user_id
            if user in (MAKER, TAKER):
                continue
            order = user_order_json(update.order)
            by_user.setdefault(user, []).append(order)
            if update.order.number_of_fills:
                kept = self._recent_fill_updates.setdefault(user, deque(maxlen=_REPLAY_KEPT))
                kept.append(order)
        for user, orders in by_user.items():
            self.hub.publish_user(user, orders, lambda batch: _user_event("update", batch))

    def _publish_ticker(self, product_id: str) -> None:
        bid, ask = self.engine.best_bid_ask(product_id)
        price = self.engine.last_trade_price(product_id)
        ticker = {
            "type": "ticker",
            "product_id": product_id,
            "price": decimal_text(price),
            "volume_24_h": "0",
            "low_24_h": "0",
            "high_24_h": "0",
            "low_52_w": "0",
            "high_52_w": "0",
            "price_percent_chg_24_h": "0",
            "best_bid": decimal_text(bid[0]) if bid else "",
            "best_bid_quantity": decimal_text(bid[1]) if bid else "",
            "best_ask": decimal_text(ask[0]) if ask else "",
            "best_ask_quantity": decimal_text(ask[1]) if ask else "",
        }
        self.hub.publish_market("ticker", product_id, [{"type": "update", "tickers": [ticker]}])

    # -- snapshots for new subscriptions -----------------------------------------------------

    def l2_snapshot(self, product_id: str) -> dict[str, Any]:
        from .wire import l2_snapshot_event

        book = self.engine.snapshot(product_id)
        return l2_snapshot_event(product_id, book.bids, book.asks, self.epoch())

    def trades_snapshot(self, product_id: str) -> dict[str, Any]:
        trades = self.engine.recent_trades(product_id, limit=50)
        return trade_events(trades, kind="snapshot").get(
            product_id, {"type": "snapshot", "trades": []}
        )

    def user_snapshot(
        self, user_id: str, products: set[str] | frozenset[str] = frozenset()
    ) -> list[dict[str, Any]]:
        """Open orders in batches of 50, one snapshot event per batch (as Coinbase sends),
        limited to ``products`` when given."""
        from .orders import OrderStatus

        orders = self.engine.list_orders(
            user_id,
            statuses=[OrderStatus.OPEN, OrderStatus.PENDING],
            product_ids=products or None,
        )
        batches = [orders[i : i + 50] for i in range(0, len(orders), 50)] or [[]]
        return [_user_event("snapshot", [user_order_json(o) for o in batch]) for batch in batches]

    def fills_to_replay(self, user_id: str) -> list[dict[str, Any]]:
        return list(self._recent_fill_updates.get(user_id, ()))

    def on_user_subscribed(self, connection: Connection, reconnect: bool) -> None:
        """Send the user snapshot, and with the replay fault, recent fill updates again."""
        user = connection.user
        if user is None:
            return
        products = connection.subscriptions.get("user") or set()
        for event in self.user_snapshot(user, products):
            connection.frame("user", [event])
        if reconnect and self.faults.replay_fills_on_reconnect:
            replay = [
                o for o in self.fills_to_replay(user) if not products or o["product_id"] in products
            ]
            if replay:
                connection.frame("user", [_user_event("update", replay)])


def _user_event(kind: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": kind,
        "orders": orders,
        "positions": {"perpetual_futures_positions": [], "expiring_futures_positions": []},
    }


def _heartbeat_time(epoch: float, monotonic: float) -> str:
    """Coinbase's heartbeat ``current_time`` (a Go time string with a monotonic reading)."""
    stamp = rfc3339(epoch).replace("T", " ").removesuffix("Z")
    return f"{stamp} +0000 UTC m=+{monotonic:.9f}"
