"""The simulator's WebSocket side: subscriptions, envelopes, sequence numbers, heartbeats.

Each client connection is a :class:`Connection` with its own ``sequence_num`` counter (from
0, +1 on every frame, as observed on the real service), its own subscriptions and its own
bounded outgoing queue. The :class:`Hub` fans market and user events out to the connections
subscribed to them. Frames carry the full envelope the official SDK insists on
(``channel``, ``client_id``, ``timestamp``, ``sequence_num``, ``events``).

What the real service does and this one does too (``reference/coinbase-api.md`` §4): one
channel per subscribe message; ``level2`` arrives as ``l2_data``, starting with a snapshot;
a ``subscriptions`` frame after every (un)subscribe; ``heartbeats`` once a second with a
per-connection counter; a connection with no subscribe within 5 s is closed; ``user``
requires a valid JWT; ``{"type":"error","message":...}`` for a bad request. A consumer too
slow to drain its queue is disconnected (1008) rather than buffered without bound.

Faults (:mod:`cjt_actors.sim.faults`) act here on every open connection: drop, stall,
close with a code, skip sequence numbers, send malformed frames.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import final

import attrs
import orjson
import trio

from .faults import WsAction, WsActionKind
from .wire import rfc3339

__all__ = [
    "HEARTBEAT_INTERVAL",
    "MARKET_CHANNELS",
    "SUBSCRIBE_DEADLINE",
    "Connection",
    "Hub",
    "Outgoing",
    "SubscriptionError",
]

HEARTBEAT_INTERVAL = 1.0
SUBSCRIBE_DEADLINE = 5.0
#: Frames a connection may have queued before it is judged too slow and closed.
OUTGOING_CAPACITY = 4096

#: Subscribe name -> the channel name frames arrive with.
MARKET_CHANNELS = {
    "heartbeats": "heartbeats",
    "level2": "l2_data",
    "market_trades": "market_trades",
    "ticker": "ticker",
}
USER_CHANNELS = {"heartbeats": "heartbeats", "user": "user"}
ALL_CHANNELS = {**MARKET_CHANNELS, **USER_CHANNELS}

_MALFORMED_FRAMES = (
    "this is not json",
    '{"channel": "l2_data", "events": [',
    '{"channel": "l2_data", "client_id": "", "timestamp": 5, "sequence_num": "x", "events": {}}',
    "<html><body>502 Bad Gateway</body></html>",
)


class SubscriptionError(Exception):
    """A subscribe message the service refuses; sent back as ``{"type":"error"}``."""


class Outgoing(enum.Enum):
    """Control items in a connection's queue, besides text frames."""

    DROP = "drop"


@attrs.frozen
class _Close:
    code: int


@final
class Connection:
    """One client connection: subscriptions, sequence counter, outgoing queue."""

    def __init__(self, *, endpoint: str, connection_id: int, now: Callable[[], float]) -> None:
        self.endpoint = endpoint
        self.id = connection_id
        self.subscriptions: dict[str, set[str]] = {}
        self.user: str | None = None
        self.sequence = 0
        self.heartbeat_counter = 0
        self.stalled = False
        self.closed = False
        self.frames_sent = 0
        self._now = now
        self._send, self.outgoing = trio.open_memory_channel[str | _Close | Outgoing](
            OUTGOING_CAPACITY
        )

    @property
    def channels(self) -> dict[str, str]:
        """Subscribable here: the market endpoint also serves ``user`` (Coinbase documents
        it as the user endpoint's failover); the user endpoint serves only user data."""
        return ALL_CHANNELS if self.endpoint == "market" else USER_CHANNELS

    def subscribed(self, subscribe_name: str, product_id: str | None = None) -> bool:
        products = self.subscriptions.get(subscribe_name)
        if products is None:
            return False
        return product_id is None or product_id in products or not products

    # -- frames ------------------------------------------------------------------------------

    def frame(self, channel: str, events: Sequence[object]) -> None:
        """Queue one frame with the next sequence number."""
        if self.closed:
            return
        envelope = {
            "channel": channel,
            "client_id": "",
            "timestamp": rfc3339(self._now()),
            "sequence_num": self.sequence,
            "events": list(events),
        }
        self.sequence += 1
        if self.stalled:
            return  # lost on the way: the client will see the gap if the connection recovers
        self._put(orjson.dumps(envelope).decode())

    def error(self, message: str) -> None:
        """An error reply (no envelope, no sequence number: as the real service sends it)."""
        self._put(orjson.dumps({"type": "error", "message": message}).decode())

    def heartbeat(self, current_time: str) -> None:
        self.frame(
            "heartbeats",
            [{"current_time": current_time, "heartbeat_counter": self.heartbeat_counter}],
        )
        self.heartbeat_counter += 1

    def subscriptions_frame(self) -> None:
        listing = {name: sorted(products) for name, products in sorted(self.subscriptions.items())}
        self.frame("subscriptions", [{"subscriptions": listing}])

    def close(self, code: int) -> None:
        self._put(_Close(code))
        self.closed = True

    def _put(self, item: str | _Close | Outgoing) -> None:
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            # A consumer that cannot keep up is cut off (1008 policy violation) rather than
            # buffered without bound; the client's reconnect gives it a fresh snapshot.
            self.closed = True
            self.stalled = False
            self._send.close()
        except trio.ClosedResourceError:
            self.closed = True

    # -- faults ------------------------------------------------------------------------------

    def apply(self, action: WsAction) -> None:
        if action.endpoint and action.endpoint != self.endpoint:
            return
        kind = action.kind
        if kind is WsActionKind.DROP:
            self._put(Outgoing.DROP)
            self.closed = True
        elif kind is WsActionKind.STALL:
            self.stalled = True
        elif kind is WsActionKind.RESUME:
            self.stalled = False
        elif kind is WsActionKind.CLOSE:
            self.close(action.amount)
        elif kind is WsActionKind.SKIP_SEQUENCE:
            self.sequence += action.amount
        elif kind is WsActionKind.MALFORMED:
            for index in range(action.amount):
                self._put(_MALFORMED_FRAMES[index % len(_MALFORMED_FRAMES)])


@final
class Hub:
    """Open connections, and fan-out of market and user events to subscribers."""

    def __init__(self, *, now: Callable[[], float]) -> None:
        self._connections: dict[int, Connection] = {}
        self._next_id = 0
        self._now = now

    def open(self, endpoint: str) -> Connection:
        connection = Connection(endpoint=endpoint, connection_id=self._next_id, now=self._now)
        self._next_id += 1
        self._connections[connection.id] = connection
        return connection

    def remove(self, connection: Connection) -> None:
        self._connections.pop(connection.id, None)

    @property
    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    def apply(self, action: WsAction) -> None:
        for connection in self.connections:
            connection.apply(action)

    def publish_market(
        self, subscribe_name: str, product_id: str, events: Sequence[object]
    ) -> None:
        """Send ``events`` on ``subscribe_name``'s channel to every subscriber of the product."""
        channel = MARKET_CHANNELS[subscribe_name]
        for connection in self.connections:
            products = connection.subscriptions.get(subscribe_name)
            if connection.endpoint == "market" and products is not None and product_id in products:
                connection.frame(channel, events)

    def publish_user(
        self,
        user: str,
        orders: Sequence[dict[str, object]],
        make_event: Callable[[list[dict[str, object]]], object],
    ) -> None:
        """Send ``user``'s order updates to its connections subscribed to ``user``, each
        filtered by the products that connection asked for (none: all products)."""
        for connection in self.connections:
            products = connection.subscriptions.get("user")
            if connection.user != user or products is None:
                continue
            mine = [o for o in orders if not products or o.get("product_id") in products]
            if mine:
                connection.frame("user", [make_event(mine)])

    def heartbeat_all(self, current_time: str) -> None:
        for connection in self.connections:
            if "heartbeats" in connection.subscriptions:
                connection.heartbeat(current_time)
