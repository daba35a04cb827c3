"""Fixtures for tests of the simulator served on loopback, and the helpers they share.

These tests use real sockets (Hypercorn on 127.0.0.1), so trio's MockClock cannot drive
them: time here is real. To stay fast and reliable they do not sleep for a fixed time to
"let things happen"; they wait for a condition, bounded by :data:`WAIT` seconds, and fail
with a message naming what never happened (the one short fixed wait is where a test must
show that something does *not* happen). The official SDK is synchronous (requests, and
its own asyncio thread for WebSockets), so tests call it through ``trio.to_thread`` while
the simulator runs in the test's trio loop.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
import orjson
import pytest
import requests
import trio
from coinbase.rest import RESTClient
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection, wrap_client_stream

from cjt_actors.exchange.auth import Credentials
from cjt_actors.sim.rest import PREFIX
from cjt_actors.sim.server import Endpoints, serve_simulator
from cjt_actors.sim.simulator import Simulator, SimulatorConfig

__all__ = [
    "FAST_TICK",
    "PREFIX",
    "WAIT",
    "PlainHttpAdapter",
    "ServeFactory",
    "Served",
    "close_code",
    "in_thread",
    "open_ws",
    "receive",
    "receive_until",
    "sdk_rest_client",
    "send_json",
    "wait_until",
]

#: Upper bound on any wait for something that should happen within a second or so.
WAIT = 5.0
#: How often a waiting test looks again.
POLL = 0.01
#: Market step for tests that need market activity quickly.
FAST_TICK = 0.05

_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class Served:
    """A simulator serving on loopback, with a registered key and an HTTP client for it."""

    sim: Simulator
    endpoints: Endpoints
    credentials: Credentials
    key_file: Path
    http: httpx.AsyncClient

    def auth_headers(
        self, method: str, path: str, *, credentials: Credentials | None = None
    ) -> dict[str, str]:
        """A bearer token for one request, signed for the host the simulator was bound to."""
        signer = credentials or self.credentials
        token = signer.rest_jwt(method, self.endpoints.host, path)
        return {"Authorization": f"Bearer {token}"}

    async def rest(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        signed: bool = True,
        http_timeout: float = WAIT,
        credentials: Credentials | None = None,
    ) -> httpx.Response:
        """``method PREFIX+path`` with a fresh JWT (unless ``signed`` is False)."""
        full = PREFIX + path
        headers = self.auth_headers(method, full, credentials=credentials) if signed else {}
        return await self.http.request(
            method,
            full,
            params=dict(params) if params is not None else None,
            json=json,
            headers=headers,
            timeout=http_timeout,
        )

    async def control(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """A call to the ``/sim/...`` control API (no authentication)."""
        return await self.http.request(method, "/sim" + path, json=json)

    @property
    def key_name(self) -> str:
        """The registered key's name (read back from the portal-style key file)."""
        name = orjson.loads(self.key_file.read_bytes())["name"]
        assert isinstance(name, str)
        return name

    def ws_jwt(self, credentials: Credentials | None = None) -> str:
        return (credentials or self.credentials).ws_jwt()


ServeFactory = Callable[..., AbstractAsyncContextManager[Served]]


@pytest.fixture
def serve(tmp_path: Path) -> ServeFactory:
    """Start a simulator on loopback with a given config (default: a fast market tick)."""
    counter = itertools.count(1)

    @asynccontextmanager
    async def start(config: SimulatorConfig | None = None) -> AsyncIterator[Served]:
        sim = Simulator(config or SimulatorConfig(tick=FAST_TICK))
        key_file = tmp_path / f"cdp_api_key_{next(counter)}.json"
        credentials = sim.write_key_file(key_file)
        async with serve_simulator(sim) as endpoints:
            http = httpx.AsyncClient(base_url=endpoints.rest_url, timeout=WAIT)
            try:
                yield Served(
                    sim=sim,
                    endpoints=endpoints,
                    credentials=credentials,
                    key_file=key_file,
                    http=http,
                )
            finally:
                with trio.move_on_after(WAIT, shield=True):
                    await http.aclose()

    return start


@pytest.fixture
async def served(serve: ServeFactory) -> AsyncIterator[Served]:
    """The default simulator (JWT auth, fast tick) serving on loopback."""
    async with serve() as running:
        yield running


# -- waiting -----------------------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Return as soon as ``condition()`` holds; fail the test if it does not within WAIT s.

    Polling, because the conditions are state of other threads (the SDK's) or of the
    simulator, which has no event to wait on.
    """
    with trio.move_on_after(WAIT):
        while True:
            if condition():
                return
            await trio.sleep(POLL)
    raise AssertionError(f"timed out after {WAIT}s waiting for {what}")


# -- the official SDK --------------------------------------------------------------------------


class PlainHttpAdapter(requests.adapters.HTTPAdapter):
    """The SDK always builds ``https://`` URLs; the simulator serves plain HTTP (§5.5)."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        assert request.url is not None
        request.url = request.url.replace("https://", "http://", 1)
        return super().send(request, stream, timeout, verify, cert, proxies)


def sdk_rest_client(served: Served, *, key_file: Path | None = None) -> RESTClient:
    """The SDK's RESTClient pointed at the simulator (base_url host:port plus the adapter)."""
    client = RESTClient(
        key_file=str(key_file or served.key_file), base_url=served.endpoints.host, timeout=WAIT
    )
    client.session.mount(f"https://{served.endpoints.host}", PlainHttpAdapter())
    return client


async def in_thread(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a blocking SDK call in a worker thread, so the simulator keeps serving."""
    return await trio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


# -- raw WebSocket helpers ---------------------------------------------------------------------


@asynccontextmanager
async def open_ws(url: str) -> AsyncIterator[WebSocketConnection]:
    """A trio-websocket client connection whose TCP stream this helper owns and closes.

    ``open_websocket_url`` leaves its socket open when the *server* closes first (its reader
    waits for a TCP close and then never closes the stream), which ``-W error`` reports as
    an unclosed socket; the tests here close the stream themselves.
    """
    rest = url.removeprefix("ws://")
    address, _, path = rest.partition("/")
    host, _, port = address.rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, stream, host, "/" + path)
            try:
                yield ws
            finally:
                with trio.move_on_after(WAIT, shield=True):
                    await ws.aclose()
                    await stream.aclose()
    finally:
        with trio.move_on_after(WAIT, shield=True):
            await stream.aclose()


async def send_json(ws: WebSocketConnection, message: Mapping[str, Any]) -> None:
    await ws.send_message(orjson.dumps(dict(message)).decode())


async def receive(ws: WebSocketConnection) -> Any:
    """The next message, parsed as JSON (or the raw text if it is not JSON)."""
    with trio.fail_after(WAIT):
        text = await ws.get_message()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


async def receive_until(ws: WebSocketConnection, done: Callable[[Any], bool]) -> list[Any]:
    """Every message up to and including the first for which ``done`` is true."""
    received: list[Any] = []
    with trio.move_on_after(WAIT):
        while True:
            message = await receive(ws)
            received.append(message)
            if done(message):
                return received
    raise AssertionError(f"timed out after {WAIT}s; received {len(received)} messages")


async def close_code(ws: WebSocketConnection) -> tuple[int, list[Any]]:
    """Read until the server closes the connection: its close code, and what came before."""
    before: list[Any] = []
    reason: CloseReason | None = None
    with trio.fail_after(WAIT):
        while reason is None:
            try:
                before.append(await receive(ws))
            except ConnectionClosed as closed:
                reason = closed.reason
    assert reason is not None
    return reason.code, before
