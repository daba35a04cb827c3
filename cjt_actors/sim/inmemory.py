"""The simulator with no sockets: REST through httpx's ASGI transport, WebSocket over trio
in-memory streams.

Scripted failure scenarios must be fast and reproducible: the same seed, the same run. Real
sockets bring real time and the kernel's scheduling into the run; in-memory streams bring
neither, so a whole stack (our clients, the simulator, the actors) runs under trio's
``MockClock`` in virtual time. The clients do not know the difference: the REST client takes
an ``httpx`` transport, the WebSocket client a connector, and both get theirs from here.

The WebSocket bridge speaks the real protocol on both ends (trio-websocket as client and as
server, over a ``memory_stream_pair``) and hands the server end to the simulator's ASGI app
through the ASGI WebSocket interface, so frames go through exactly the code they go through
over TCP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
import trio.testing
import trio_websocket

from .simulator import Simulator

__all__ = ["IN_MEMORY_HOST", "InMemoryExchange"]

#: The host clients use for an in-memory simulator (a loopback name: the REST client refuses
#: plain HTTP to anything else).
IN_MEMORY_HOST = "127.0.0.1"


class InMemoryExchange:
    """Hands out an httpx transport and a WebSocket connector wired to ``sim`` in memory.

    Run :meth:`Simulator.run_background` yourself (in your nursery) for the market to move.
    """

    rest_url = f"http://{IN_MEMORY_HOST}"
    ws_market_url = f"ws://{IN_MEMORY_HOST}/"
    ws_user_url = f"ws://{IN_MEMORY_HOST}/ws/user"

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        sim.bind_host(IN_MEMORY_HOST)
        self.connections_opened = 0

    def http_transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that calls the simulator's ASGI app directly."""
        return httpx.ASGITransport(app=self.sim.asgi, client=(IN_MEMORY_HOST, 50000))

    @asynccontextmanager
    async def connect(
        self, url: str, *, max_message_size: int
    ) -> AsyncIterator[trio_websocket.WebSocketConnection]:
        """A :class:`cjt_actors.exchange.ws.Connector`: one WebSocket over memory streams."""
        parts = urlsplit(url)
        resource = parts.path or "/"
        client_stream, server_stream = trio.testing.memory_stream_pair()
        self.connections_opened += 1
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._serve, server_stream, resource, max_message_size)
            connection = await trio_websocket.wrap_client_stream(
                nursery,
                client_stream,  # type: ignore[arg-type]  # any trio Stream works
                parts.netloc or IN_MEMORY_HOST,
                resource,
                max_message_size=max_message_size,
            )
            try:
                yield connection
            finally:
                with trio.move_on_after(1.0, shield=True):
                    await connection.aclose()
                nursery.cancel_scope.cancel(reason="in-memory connection closed")

    async def _serve(self, stream: trio.abc.Stream, resource: str, max_message_size: int) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(
                nursery, stream, max_message_size=max_message_size
            )
            bridge = _AsgiBridge(request)
            scope = {
                "type": "websocket",
                "asgi": {"version": "3.0", "spec_version": "2.4"},
                "scheme": "ws",
                "path": resource,
                "raw_path": resource.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [(b"host", IN_MEMORY_HOST.encode())],
                "client": (IN_MEMORY_HOST, 50000),
                "server": (IN_MEMORY_HOST, 80),
                "subprotocols": [],
                "state": {},
            }
            await self.sim.asgi(scope, bridge.receive, bridge.send)
            await bridge.finish()
            nursery.cancel_scope.cancel(reason="ASGI application finished")


class _AsgiBridge:
    """The ASGI WebSocket interface over one server-side trio-websocket connection."""

    def __init__(self, request: trio_websocket.WebSocketRequest) -> None:
        self._request = request
        self._connection: trio_websocket.WebSocketConnection | None = None
        self._connected = False
        self._closed = False

    async def receive(self) -> MutableMapping[str, Any]:
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        if self._connection is None or self._closed:
            await trio.sleep_forever()
        assert self._connection is not None
        try:
            message = await self._connection.get_message()
        except trio_websocket.ConnectionClosed as closed:
            self._closed = True
            code = closed.reason.code if closed.reason is not None else 1006
            return {"type": "websocket.disconnect", "code": code}
        if isinstance(message, str):
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self._connection = await self._request.accept()
            return
        if kind == "websocket.close":
            self._closed = True
            if self._connection is None:
                await self._request.reject(403)
            else:
                await self._connection.aclose(code=message.get("code", 1000))
            return
        if kind == "websocket.send":
            if self._connection is None or self._closed:
                raise OSError("the WebSocket connection is closed")  # ASGI: an IOError subclass
            payload = message.get("text")
            if payload is None:
                payload = message.get("bytes", b"")
            try:
                await self._connection.send_message(payload)
            except trio_websocket.ConnectionClosed:
                self._closed = True
                raise OSError("the WebSocket connection is closed") from None
            return
        raise ValueError(f"unexpected ASGI message {kind!r}")

    async def finish(self) -> None:
        """After the app returns: close the connection if the app did not."""
        if self._connection is not None and not self._closed:
            self._closed = True
            with trio.move_on_after(1.0, shield=True):
                await self._connection.aclose(code=1000)
