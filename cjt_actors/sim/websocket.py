"""The simulator's WebSocket endpoints: ``/`` (market data, and user data as failover) and
``/ws/user`` (user data only), as Coinbase serves them on two hosts.

A connection is three concurrent jobs: reading subscribe and unsubscribe messages, writing
the frames the :class:`~cjt_actors.sim.streams.Hub` queues for it, and closing it if no
subscribe arrives within 5 s. Closing, dropping (1011: a true no-close-frame TCP drop is not
reachable through ASGI) and stalling come from the fault switches.

While the exchange is down (``Faults.set_exchange_down``) the handshake is refused, as a
load balancer in maintenance does: with an HTTP 503 and its HTML page where the server
supports the ASGI WebSocket denial response (Hypercorn does), else by closing before
accepting, which servers answer with a plain 403 (so does the in-memory bridge of
:mod:`.inmemory`). Either way the client's handshake fails (``trio_websocket``'s
``ConnectionRejected``), which the client in :mod:`cjt_actors.exchange.ws` retries with backoff.
"""

from __future__ import annotations

from typing import Any

import orjson
import trio
from starlette.websockets import WebSocket, WebSocketDisconnect

from .auth import AuthFailure
from .faults import WsAction, WsActionKind
from .rest import unavailable_page
from .simulator import DEFAULT_USER, Simulator
from .streams import SUBSCRIBE_DEADLINE, Connection, Outgoing, _Close

__all__ = ["serve_connection"]

#: Close code for a connection that sent no subscribe in time (policy violation).
_POLICY = 1008
#: Close code standing in for a dropped connection (what an ASGI server sends on a crash).
_DROPPED = 1011
#: Close code for a handshake refused where the server has no denial response ("try again
#: later"; a server answers a close before the accept with an HTTP 403 anyway).
_TRY_AGAIN_LATER = 1013
#: The ASGI extension that lets an app answer a WebSocket handshake with an HTTP response.
_DENIAL_RESPONSE = "websocket.http.response"


async def serve_connection(sim: Simulator, websocket: WebSocket, endpoint: str) -> None:
    """Serve one client connection until either side closes it."""
    sim.open()
    if sim.faults.exchange_down:
        await _refuse(websocket)
        return
    # Registered before the accept is awaited, so that the exchange going down meanwhile
    # drops this connection too instead of leaving it open behind a closed gateway.
    connection = sim.hub.open(endpoint)
    try:
        await websocket.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_write, websocket, connection, nursery.cancel_scope)
            nursery.start_soon(_deadline, connection)
            await _read(sim, websocket, connection)
            nursery.cancel_scope.cancel(reason="client closed the connection")
    finally:
        sim.hub.remove(connection)


async def _refuse(websocket: WebSocket) -> None:
    """Refuse the handshake as the gateway in maintenance does (see the module doc)."""
    if _DENIAL_RESPONSE in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(unavailable_page())
    else:
        await websocket.close(_TRY_AGAIN_LATER)


async def _read(sim: Simulator, websocket: WebSocket, connection: Connection) -> None:
    while True:
        try:
            # Typed str, but Hypercorn hands a binary frame over with no text at all.
            text: str | None = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return  # the client disconnected
        if text is None:  # a binary frame: Hypercorn delivers it with no text
            connection.error("malformed JSON")
            continue
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            connection.error("malformed JSON")
            continue
        _handle(sim, connection, message)


def _handle(sim: Simulator, connection: Connection, message: Any) -> None:
    if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
        connection.error("unknown message type")
        return
    channel = message.get("channel")
    if not isinstance(channel, str) or channel not in connection.channels:
        # What the real service says for a misspelt channel too (coinbase-api.md §6.2).
        connection.error(
            "authentication failure" if channel == "heartbeat" else f"unknown channel {channel!r}"
        )
        return
    products = message.get("product_ids", [])
    if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
        connection.error("product_ids must be a list of strings")
        return
    unknown = [p for p in products if p not in sim.engine.products]
    if unknown:
        connection.error(f"unknown product_ids {unknown}")
        return
    if (
        channel in ("level2", "market_trades", "ticker")
        and not products
        and message["type"] == "subscribe"
    ):
        connection.error(f"{channel} needs product_ids")
        return

    user: str | None = None
    token = message.get("jwt")
    if sim.config.auth == "jwt" and (token is not None or channel == "user"):
        try:
            key = sim.verifier.verify_ws(token)
        except AuthFailure:
            connection.error("authentication failure")
            return
        user = sim.user_for_key(key)
    elif channel == "user":
        user = DEFAULT_USER

    if message["type"] == "unsubscribe":
        current = connection.subscriptions.get(channel)
        if current is not None:
            if products:
                current.difference_update(products)
            if not products or not current:
                del connection.subscriptions[channel]
        connection.subscriptions_frame()
        return

    current = connection.subscriptions.setdefault(channel, set())
    added = [p for p in products if p not in current]
    current.update(products)
    if channel == "user":
        # A user seen on the user channel before is reconnecting (the replay fault's cue).
        reconnect = user is not None and user in sim.user_channel_seen
        connection.user = user
        if user is not None:
            sim.user_channel_seen.add(user)
    connection.subscriptions_frame()
    if channel == "level2":
        for product_id in added:
            connection.frame("l2_data", [sim.l2_snapshot(product_id)])
            if sim.faults.take_snapshot_cut():
                connection.apply(WsAction(kind=WsActionKind.DROP))
                return
    elif channel == "market_trades":
        for product_id in added:
            connection.frame("market_trades", [sim.trades_snapshot(product_id)])
    elif channel == "user":
        sim.on_user_subscribed(connection, reconnect)


async def _write(websocket: WebSocket, connection: Connection, scope: trio.CancelScope) -> None:
    try:
        async for item in connection.outgoing:
            if isinstance(item, str):
                await websocket.send_text(item)
                connection.frames_sent += 1
            elif isinstance(item, _Close):
                await websocket.close(item.code)
                break
            elif item is Outgoing.DROP:
                await websocket.close(_DROPPED)
                break
        else:
            # The queue was closed: the consumer was too slow (see Connection._put).
            await websocket.close(_POLICY)
    except (WebSocketDisconnect, RuntimeError, OSError):
        connection.closed = True  # the client went away while we were writing
    scope.cancel(reason="connection closed by the server")


async def _deadline(connection: Connection) -> None:
    await trio.sleep(SUBSCRIBE_DEADLINE)
    if not connection.subscriptions:
        connection.close(_POLICY)
