"""The simulator as one ASGI application: REST, WebSocket and control routes together.

One port serves everything: ``/api/v3/...`` (REST; the routes are under
``/api/v3/brokerage``, and the whole of ``/api/v3`` is behind the gateway the
``exchange down`` fault takes down), ``/`` (WebSocket market data, with the user channel as
failover), ``/ws/user`` (WebSocket user data) and ``/sim/...`` (fault injection, never down). Serve it with :func:`cjt_actors.sim.server.serve_simulator`, or drive it
with no sockets at all through ``httpx.ASGITransport``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from .control import control_routes
from .rest import API_ROOT, RestApi
from .simulator import Simulator
from .websocket import serve_connection

__all__ = ["build_app"]


def build_app(sim: Simulator) -> Starlette:
    rest = RestApi(sim)

    async def brokerage(request: Request) -> Response:
        return await rest(request)

    async def market_ws(websocket: WebSocket) -> None:
        await serve_connection(sim, websocket, "market")

    async def user_ws(websocket: WebSocket) -> None:
        await serve_connection(sim, websocket, "user")

    return Starlette(
        routes=[
            Route(API_ROOT + "/{rest:path}", brokerage, methods=["GET", "POST", "PUT", "DELETE"]),
            WebSocketRoute("/", market_ws),
            WebSocketRoute("/ws/user", user_ws),
            *control_routes(sim),
        ]
    )
