"""Every REST request the simulator received, with its time and the status it answered.

The simulator counts creates per ``client_order_id`` but does not keep what it answered; a
scenario needs both to say "a 5xx was really served here", "this response was really lost",
"no order reached the exchange between t=10 and t=40". This ASGI middleware sits in front of
the simulator's app (in the transport the client is given) and records each request as it
arrives and each answer as it leaves: the exchange's side of the story, not the client's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs
import orjson
import trio

from .rest import PREFIX

__all__ = ["ORDERS_PATH", "LoggedRequest", "RequestLog"]

#: The create route (``POST``): the one whose body the log reads for its ``client_order_id``.
ORDERS_PATH = PREFIX + "/orders"


@attrs.define
class LoggedRequest:
    """One request. ``status`` is None while unanswered, and stays None if no answer was ever
    sent (a lost response, or a hang the client gave up on)."""

    at: float  #: trio's clock when the request arrived
    method: str
    path: str
    client_order_id: str = ""  #: of a create, read from its body
    status: int | None = None


class RequestLog:
    """ASGI middleware recording every HTTP request to ``app`` (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[LoggedRequest] = []

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = LoggedRequest(at=trio.current_time(), method=scope["method"], path=scope["path"])
        self.requests.append(request)
        buffered: list[Any] = []
        if (request.method, request.path) == ("POST", ORDERS_PATH):
            body = bytearray()
            while not buffered or buffered[-1].get("more_body", False):
                buffered.append(await receive())
                body.extend(buffered[-1].get("body", b""))
            request.client_order_id = _client_order_id(bytes(body))

        async def replay() -> Any:
            return buffered.pop(0) if buffered else await receive()

        async def spy(message: Any) -> None:
            if message["type"] == "http.response.start":
                request.status = message["status"]
            await send(message)

        await self.app(scope, replay, spy)

    def creates(self) -> list[LoggedRequest]:
        """Every ``POST /orders``, in arrival order."""
        return [r for r in self.requests if (r.method, r.path) == ("POST", ORDERS_PATH)]

    def count(self, *, status: int | None, method: str | None = None) -> int:
        """How many requests were answered with ``status`` (None: never answered)."""
        return sum(
            1
            for r in self.requests
            if r.status == status and (method is None or r.method == method)
        )


def _client_order_id(body: bytes) -> str:
    """The create's ``client_order_id``, or "" when the body is not the JSON object the
    simulator will refuse anyway (the log records; the simulator judges)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    value = document.get("client_order_id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else ""
