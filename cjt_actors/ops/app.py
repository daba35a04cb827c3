"""The ops HTTP application: metrics, health, readiness, status and operator control.

Routes (all answers are computed when asked, from one fresh
:class:`~cjt_actors.ops.source.OpsSnapshot`):

* ``GET /healthz``: ``200 ok``. Alive: the event loop answered. Never needs the token, so
  a supervisor's liveness probe needs no secret.
* ``GET /readyz``: ``200`` when every readiness check passes, else ``503``; the JSON body
  lists every check and, under ``failed``, those that failed and why
  (:mod:`cjt_actors.ops.readiness`).
* ``GET /metrics``: Prometheus text format 0.0.4 (:mod:`cjt_actors.ops.metrics`) and the
  process's own metrics (``process_*``: memory, CPU, open files).
* ``GET /status``: the JSON document ``cjt status`` shows (:mod:`cjt_actors.ops.status_json`).
* ``POST /halt`` and ``POST /resume`` with a JSON body ``{"detail": "why"}``: an operator's
  HaltTrading / ResumeTrading for risk. ``202`` once it is queued for risk, with what was
  sent; risk acts on it in order with the strategies' intents (watch ``/status``: a resume
  is refused while an emergency or a non-resumable halt holds). ``503`` if risk's inbox
  stayed full for ``control_timeout`` seconds (nothing was sent).

With a token, every route but ``/healthz`` needs ``Authorization: Bearer <token>`` (``401``
otherwise); the comparison takes constant time. The token is never logged, echoed or shown
in a repr.

Handlers are coroutines on purpose: Starlette runs plain functions in a worker thread, and
the status board may only be read from the trio thread that writes it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any, final

import trio
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import InvalidSpec
from .metrics import OpsCollector
from .readiness import ReadinessPolicy, assess
from .source import OpsSource
from .status_json import status_document

__all__ = ["MIN_TOKEN_LENGTH", "check_token", "ops_app"]

#: A token shorter than this is refused: it guards trading controls on a network port.
MIN_TOKEN_LENGTH = 16
#: The largest control request body read (a detail of a few hundred characters fits).
_MAX_BODY = 4096
#: How much of a body is read (and discarded) past _MAX_BODY before answering 413: a client
#: still sending when the answer comes would see a reset, not the 413.
_MAX_DRAIN = 64 * 1024
#: The longest operator detail accepted (it is journaled with the state change).
_MAX_DETAIL = 500
#: Paths open without the token.
_OPEN_PATHS = frozenset({"/healthz"})


def check_token(token: str) -> None:
    """Refuse a token that is too short or not plain printable ASCII (no spaces).

    Raises:
        InvalidSpec: naming the rule broken, never the token.
    """
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
        raise InvalidSpec(f"ops token: must be at least {MIN_TOKEN_LENGTH} characters long")
    if not all("!" <= c <= "~" for c in token):
        raise InvalidSpec("ops token: must be printable ASCII without spaces")


@final
class _Secret:
    """The token, unprintable: Starlette shows a middleware's arguments in its repr."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value.encode("ascii")

    def __repr__(self) -> str:
        return "<redacted>"


@final
class _BearerAuth:
    """ASGI middleware: every HTTP request but the open paths needs the bearer token."""

    __slots__ = ("_app", "_secret")

    def __init__(self, app: ASGIApp, *, secret: _Secret) -> None:
        self._app = app
        self._secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in _OPEN_PATHS:
            scheme, _, credentials = Headers(scope=scope).get("authorization", "").partition(" ")
            # Headers are latin-1; compare bytes so any input is comparable in constant time.
            offered = credentials.strip().encode("latin-1")
            if scheme.lower() != "bearer" or not hmac.compare_digest(offered, self._secret.value):
                response = JSONResponse(
                    {"error": "this endpoint needs the ops token (Authorization: Bearer ...)"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="cjt"'},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ops_app(
    source: OpsSource,
    *,
    token: str | None = None,
    policy: ReadinessPolicy | None = None,
    control_timeout: float = 5.0,
) -> Starlette:
    """The ASGI application over ``source`` (see the module docstring).

    Args:
        source: what to read and steer.
        token: if given, required on every route but ``/healthz`` (see :func:`check_token`).
        policy: readiness thresholds (defaults: :class:`ReadinessPolicy`).
        control_timeout: seconds ``/halt`` and ``/resume`` wait for room in risk's inbox.

    Raises:
        InvalidSpec: for a malformed token or timeout.
    """
    if token is not None:
        check_token(token)
    if not (isinstance(control_timeout, int | float) and 0 < control_timeout < float("inf")):
        raise InvalidSpec(
            f"control_timeout: must be a finite number of seconds > 0, got {control_timeout!r}"
        )
    readiness_policy = policy if policy is not None else ReadinessPolicy()
    registry = CollectorRegistry()
    registry.register(OpsCollector(source, readiness_policy))
    ProcessCollector(registry=registry)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        readiness = assess(source.snapshot(), readiness_policy)
        body = {
            "ready": readiness.ready,
            "failed": [{"name": c.name, "detail": c.detail} for c in readiness.failed],
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in readiness.checks],
        }
        return JSONResponse(body, status_code=200 if readiness.ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    async def status(request: Request) -> Response:
        snapshot = source.snapshot()
        return JSONResponse(status_document(snapshot, assess(snapshot, readiness_policy)))

    async def halt(detail: str, flatten: bool) -> None:
        await source.halt(detail, flatten=flatten)

    async def resume(detail: str, flatten: bool) -> None:
        await source.resume(detail)

    def control(
        command: str, forward: Callable[[str, bool], Awaitable[None]], *, flatten_allowed: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                detail, flatten = await _read_detail(request, flatten_allowed=flatten_allowed)
            except _BadRequest as bad:
                return JSONResponse({"error": bad.message}, status_code=bad.status)
            with trio.move_on_after(control_timeout):
                await forward(detail, flatten)
                answer: dict[str, object] = {"sent": command, "detail": detail}
                if flatten:
                    answer["flatten"] = True
                return JSONResponse(answer, status_code=202)
            return JSONResponse(
                {
                    "error": f"risk's inbox stayed full for {control_timeout:g} s: "
                    f"{command} was not sent; try again"
                },
                status_code=503,
            )

        return endpoint

    middleware = [] if token is None else [Middleware(_BearerAuth, secret=_Secret(token))]
    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/status", status, methods=["GET"]),
            Route("/halt", control("HaltTrading", halt, flatten_allowed=True), methods=["POST"]),
            Route(
                "/resume",
                control("ResumeTrading", resume, flatten_allowed=False),
                methods=["POST"],
            ),
        ],
        middleware=middleware,
    )


async def _read_detail(request: Request, *, flatten_allowed: bool) -> tuple[str, bool]:
    """The ``detail`` of a control request's JSON body ``{"detail": "..."}``, checked, and
    its ``flatten`` flag (``POST /halt`` only; false when absent)."""
    too_large = _BadRequest(413, f"the request body is larger than {_MAX_BODY} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_DRAIN:
        raise too_large  # not worth reading
    body = bytearray()
    size = 0
    async with aclosing(request.stream()) as chunks:  # closed at once, even when cut short
        async for chunk in chunks:
            size += len(chunk)
            if size <= _MAX_BODY:
                body += chunk
            elif size > _MAX_DRAIN:
                break
    if size > _MAX_BODY:
        raise too_large
    try:
        payload: Any = json.loads(body)
    except ValueError:
        raise _BadRequest(400, 'the body must be JSON: {"detail": "why"}') from None
    if not isinstance(payload, dict):
        raise _BadRequest(400, 'the body must be a JSON object: {"detail": "why"}')
    allowed = {"detail", "flatten"} if flatten_allowed else {"detail"}
    unknown = sorted(set(payload) - allowed)
    if unknown:
        shape = "{'detail': 'why', 'flatten': false}" if flatten_allowed else "{'detail': 'why'}"
        raise _BadRequest(400, f"unknown keys {unknown}: the body is {shape}")
    flatten = payload.get("flatten", False)
    if not isinstance(flatten, bool):
        raise _BadRequest(400, "flatten: must be true or false")
    detail = payload.get("detail")
    if not isinstance(detail, str) or not detail.strip():
        raise _BadRequest(400, "detail: must be a non-empty string saying why")
    detail = detail.strip()
    if len(detail) > _MAX_DETAIL:
        raise _BadRequest(400, f"detail: at most {_MAX_DETAIL} characters, got {len(detail)}")
    if not detail.isprintable():
        raise _BadRequest(400, "detail: control characters are not allowed")
    return detail, flatten
