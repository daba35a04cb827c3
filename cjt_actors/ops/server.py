"""Serving the ops application with Hypercorn on trio, as the simulator is served.

:func:`serve_ops` binds 127.0.0.1 by default (port 0 picks a free port), serves for the
duration of its block and yields the bound URL. Binding anywhere else exposes trading
controls to a network, so it is refused without a token (:func:`check_bind`). Access logs
are off: they would be one line per scrape, and request headers carry the token.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from ..errors import InvalidSpec
from ..listen import hypercorn_bind, is_loopback_host
from .app import check_token, ops_app
from .readiness import ReadinessPolicy
from .source import OpsSource

__all__ = ["check_bind", "serve_ops"]


def check_bind(host: str, port: int, token: str | None) -> None:
    """Refuse a bind address that would expose the controls without a token.

    Raises:
        InvalidSpec: for an empty host, a port outside 0-65535, a non-loopback host
            without a token, or a malformed token (the message never contains it).
    """
    if not isinstance(host, str) or not host.strip():
        raise InvalidSpec(f"ops host: must be a host name or address, got {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidSpec(f"ops port: must be an integer in 0-65535, got {port!r}")
    if token is None:
        if not is_loopback_host(host):
            raise InvalidSpec(
                f"ops host {host!r} is not a loopback address: binding it exposes trading "
                "controls to the network, which needs a token (or bind 127.0.0.1)"
            )
        return
    check_token(token)


@asynccontextmanager
async def serve_ops(
    source: OpsSource,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    policy: ReadinessPolicy | None = None,
    control_timeout: float = 5.0,
) -> AsyncIterator[str]:
    """Serve the ops endpoint of ``source`` for the duration of the block; yield its URL
    (``http://127.0.0.1:PORT``).

    Raises:
        InvalidSpec: see :func:`check_bind` and :func:`~cjt_actors.ops.app.ops_app`;
            raised before anything is bound.
    """
    check_bind(host, port, token)
    app = ops_app(source, token=token, policy=policy, control_timeout=control_timeout)
    config = Config()
    config.bind = [hypercorn_bind(host, port)]  # a port in use: a plain OSError, here
    config.accesslog = None
    config.errorlog = logging.getLogger("cjt_actors.ops.hypercorn")
    config.graceful_timeout = 1.0
    config.include_server_header = False
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve, app, config)
        try:
            yield binds[0]
        finally:
            nursery.cancel_scope.cancel(reason="the ops endpoint was closed")
