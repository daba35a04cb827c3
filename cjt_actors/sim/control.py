"""The ``/sim/...`` control API: fault injection and inspection over HTTP.

The same switches as :class:`~cjt_actors.sim.faults.Faults`, for a simulator running in
another process (``cjt sim``) or driven by a scenario script. Bodies and answers are JSON;
a bad request gets a 400 that says which field was wrong. No authentication: the simulator
listens on loopback only.

=====================================  ============================================
``GET  /sim/status``                   users, open connections, fault history, counts
``POST /sim/faults/rest``              ``{"kind", "count", "path_prefix", "status"}``
``POST /sim/faults/lose_order_responses``  ``{"count"}``
``POST /sim/faults/latency``           ``{"seconds"}``
``POST /sim/faults/ws``                ``{"action": drop|stall|resume|close|skip_sequence|malformed, "amount", "endpoint"}``
``POST /sim/faults/replay_fills``      ``{"enabled"}``
``POST /sim/faults/price_jump``        ``{"product_id", "bps"}`` (int or decimal string); answers the new ``mid``
``POST /sim/faults/exchange_down``     ``{"down": true|false}``
``POST /sim/keys/revoke``              ``{"key_name"}`` (and ``/sim/keys/restore``)
``POST /sim/deposit``                  ``{"user", "currency", "amount"}``
``GET  /sim/orders/requests``          POST /orders count per client_order_id
=====================================  ============================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import InvalidSpec
from .faults import RestFaultKind
from .simulator import DEFAULT_USER, Simulator

__all__ = ["control_routes"]


class _BadRequest(Exception):
    pass


def _field(body: dict[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    if name not in body:
        if default is ...:
            raise _BadRequest(f"{name}: required")
        return default
    value = body[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _BadRequest(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def control_routes(sim: Simulator) -> list[Route]:
    faults = sim.faults

    async def status(body: dict[str, Any]) -> Any:
        return {
            "users": sim.users,
            "connections": [
                {
                    "id": c.id,
                    "endpoint": c.endpoint,
                    "subscriptions": {k: sorted(v) for k, v in c.subscriptions.items()},
                    "sequence": c.sequence,
                    "stalled": c.stalled,
                }
                for c in sim.hub.connections
            ],
            "fault_history": faults.history,
            "exchange_down": faults.exchange_down,
            "pending_rest_faults": faults.pending_rest_faults,
            "fills_recorded": sim.fills_recorded,
        }

    async def rest_fault(body: dict[str, Any]) -> Any:
        try:
            kind = RestFaultKind(_field(body, "kind", str))
        except ValueError:
            raise _BadRequest(f"kind: one of {[k.value for k in RestFaultKind]}") from None
        faults.fail_next(
            kind,
            _field(body, "count", int, 1),
            path_prefix=_field(body, "path_prefix", str, ""),
            status=_field(body, "status", int, None) if body.get("status") is not None else None,
        )
        return {"pending": faults.pending_rest_faults}

    async def lose_orders(body: dict[str, Any]) -> Any:
        faults.lose_next_order_responses(_field(body, "count", int, 1))
        return {}

    async def latency(body: dict[str, Any]) -> Any:
        faults.set_latency(_field(body, "seconds", float))
        return {}

    async def ws_fault(body: dict[str, Any]) -> Any:
        action = _field(body, "action", str)
        endpoint = _field(body, "endpoint", str, "")
        amount = _field(body, "amount", int, 0)
        actions: dict[str, Callable[[], None]] = {
            "drop": lambda: faults.drop_connections(endpoint=endpoint),
            "stall": lambda: faults.stall_connections(endpoint=endpoint),
            "resume": lambda: faults.resume_connections(endpoint=endpoint),
            "close": lambda: faults.close_connections(amount or 1001, endpoint=endpoint),
            "skip_sequence": lambda: faults.skip_sequence(amount or 1, endpoint=endpoint),
            "malformed": lambda: faults.inject_malformed(amount or 1, endpoint=endpoint),
        }
        if action not in actions:
            raise _BadRequest(f"action: one of {sorted(actions)}")
        actions[action]()
        return {"connections": len(sim.hub.connections)}

    async def replay(body: dict[str, Any]) -> Any:
        faults.set_replay_fills_on_reconnect(_field(body, "enabled", bool, True))
        return {}

    async def price_jump(body: dict[str, Any]) -> Any:
        product_id = _field(body, "product_id", str)
        raw = _field(body, "bps", object)
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise _BadRequest(f"bps: expected an int or a decimal string, got {raw!r}")
        try:
            bps = Decimal(raw)
        except InvalidOperation:
            raise _BadRequest(f"bps: not a decimal string: {raw!r}") from None
        faults.jump_price(product_id, bps)
        return {"mid": str(sim.market.mid(product_id))}

    async def exchange_down(body: dict[str, Any]) -> Any:
        faults.set_exchange_down(_field(body, "down", bool))
        return {"exchange_down": faults.exchange_down}

    async def revoke(body: dict[str, Any]) -> Any:
        faults.revoke_key(_field(body, "key_name", str))
        return {}

    async def restore(body: dict[str, Any]) -> Any:
        faults.restore_key(_field(body, "key_name", str))
        return {}

    async def deposit(body: dict[str, Any]) -> Any:
        user = _field(body, "user", str, DEFAULT_USER)
        currency = _field(body, "currency", str)
        try:
            amount = Decimal(_field(body, "amount", str))
        except InvalidOperation:
            raise _BadRequest("amount: not a decimal string") from None
        if user not in sim.users:
            raise _BadRequest(f"user: unknown user {user!r}")
        sim.engine.deposit(user, currency, amount, now=sim.epoch())
        sim.publish()
        return {}

    async def requests(body: dict[str, Any]) -> Any:
        return {"create_requests": dict(sim.create_requests)}

    def endpoint(
        handler: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            sim.open()
            body: dict[str, Any] = {}
            if request.method == "POST":
                raw = await request.body()
                try:
                    parsed = orjson.loads(raw) if raw else {}
                except orjson.JSONDecodeError:
                    return _bad("the body is not valid JSON")
                if not isinstance(parsed, dict):
                    return _bad("the body must be a JSON object")
                body = parsed
            try:
                result = await handler(body)
            except (_BadRequest, InvalidSpec) as error:
                return _bad(str(error))
            return Response(orjson.dumps(result), media_type="application/json")

        return run

    return [
        Route("/sim/status", endpoint(status), methods=["GET"]),
        Route("/sim/faults/rest", endpoint(rest_fault), methods=["POST"]),
        Route("/sim/faults/lose_order_responses", endpoint(lose_orders), methods=["POST"]),
        Route("/sim/faults/latency", endpoint(latency), methods=["POST"]),
        Route("/sim/faults/ws", endpoint(ws_fault), methods=["POST"]),
        Route("/sim/faults/replay_fills", endpoint(replay), methods=["POST"]),
        Route("/sim/faults/price_jump", endpoint(price_jump), methods=["POST"]),
        Route("/sim/faults/exchange_down", endpoint(exchange_down), methods=["POST"]),
        Route("/sim/keys/revoke", endpoint(revoke), methods=["POST"]),
        Route("/sim/keys/restore", endpoint(restore), methods=["POST"]),
        Route("/sim/deposit", endpoint(deposit), methods=["POST"]),
        Route("/sim/orders/requests", endpoint(requests), methods=["GET"]),
    ]


def _bad(message: str) -> Response:
    return Response(
        orjson.dumps({"error": "INVALID_ARGUMENT", "message": message}),
        status_code=400,
        media_type="application/json",
    )
