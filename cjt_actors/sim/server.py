"""Serving the simulator on loopback with Hypercorn (a real HTTP/1.1 + WebSocket server).

:func:`serve_simulator` is the async context manager tests and paper trading use: it binds
127.0.0.1 (port 0 picks a free one), starts the simulator's background tasks (market,
heartbeats, expiries), and yields the :class:`Endpoints` clients need. Leaving the block
stops everything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from ..listen import hypercorn_bind

__all__ = ["Endpoints", "ServableSimulator", "serve_simulator"]


class ServableSimulator(Protocol):
    """What the server needs from a simulator."""

    @property
    def asgi(self) -> Any: ...

    def bind_host(self, host: str) -> None: ...

    async def run_background(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


@attrs.frozen(kw_only=True)
class Endpoints:
    """Where a running simulator listens."""

    host: str  #: "127.0.0.1:PORT": the SDK's ``base_url``, and the JWT ``uri`` host
    rest_url: str  #: "http://127.0.0.1:PORT"
    ws_market_url: str  #: "ws://127.0.0.1:PORT/"
    ws_user_url: str  #: "ws://127.0.0.1:PORT/ws/user"

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])


@asynccontextmanager
async def serve_simulator(
    simulator: ServableSimulator, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Endpoints]:
    """Serve ``simulator`` on ``host:port`` for the duration of the block."""
    config = Config()
    config.bind = [hypercorn_bind(host, port)]  # a port in use: a plain OSError, here
    config.accesslog = None
    config.errorlog = logging.getLogger("cjt_actors.sim.hypercorn")
    config.websocket_max_message_size = 64 * 1024 * 1024
    config.graceful_timeout = 1.0
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve, simulator.asgi, config)
        bound = binds[0].removeprefix("http://")
        simulator.bind_host(bound)
        await nursery.start(simulator.run_background)
        try:
            yield Endpoints(
                host=bound,
                rest_url=f"http://{bound}",
                ws_market_url=f"ws://{bound}/",
                ws_user_url=f"ws://{bound}/ws/user",
            )
        finally:
            nursery.cancel_scope.cancel(reason="simulator stopped")
