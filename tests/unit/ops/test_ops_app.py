"""The ops application over a fake source, through httpx's ASGI transport (no sockets):
routes, status codes, bodies, control requests and the token rules."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from cjt_actors.errors import InvalidSpec
from cjt_actors.ops import OpsSnapshot, ReadinessPolicy, ops_app
from cjt_actors.order_messages import TradingState

TOKEN = "s3cret-token-for-tests-0123456789"


@attrs.define
class FakeSource:
    """An OpsSource whose snapshot the test sets and whose commands it records."""

    current: OpsSnapshot
    sent: list[tuple[str, str]] = attrs.Factory(list)
    stuck: bool = False  #: commands wait forever (risk's inbox is full)

    def snapshot(self) -> OpsSnapshot:
        return self.current

    async def halt(self, detail: str, *, flatten: bool = False) -> None:
        await self._send("halt+flatten" if flatten else "halt", detail)

    async def resume(self, detail: str) -> None:
        await self._send("resume", detail)

    async def _send(self, command: str, detail: str) -> None:
        if self.stuck:
            await trio.sleep_forever()
        await trio.lowlevel.checkpoint()
        self.sent.append((command, detail))


@pytest.fixture
def source(snapshot: OpsSnapshot) -> FakeSource:
    return FakeSource(snapshot)


@asynccontextmanager
async def client(
    app: Starlette, headers: Mapping[str, str] | Mapping[bytes, bytes] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://ops.test", headers=headers
    ) as http:
        yield http


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# -- reading -----------------------------------------------------------------------------------


async def test_healthz_answers_ok(source: FakeSource) -> None:
    async with client(ops_app(source)) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"


async def test_metrics_are_prometheus_text_read_at_each_scrape(source: FakeSource) -> None:
    async with client(ops_app(source)) as http:
        first = await http.get("/metrics")
        assert source.current.risk is not None
        source.current = attrs.evolve(
            source.current, risk=attrs.evolve(source.current.risk, approved=18)
        )
        second = await http.get("/metrics")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    if sys.platform == "linux":  # the process collector reads /proc
        assert "\nprocess_resident_memory_bytes " in first.text

    def approved(text: str) -> float:
        [family] = [
            f for f in text_string_to_metric_families(text) if f.name == "cjt_risk_approved_orders"
        ]
        return family.samples[0].value

    assert (approved(first.text), approved(second.text)) == (17, 18)


async def test_readyz_is_200_when_ready_and_503_with_the_failed_checks(
    source: FakeSource,
) -> None:
    async with client(ops_app(source)) as http:
        ready = await http.get("/readyz")
        assert source.current.risk is not None
        halted = attrs.evolve(
            source.current.risk,
            state=TradingState.HALTED,
            reason="OPERATOR",
            detail="operator: lunch",
        )
        source.current = attrs.evolve(source.current, risk=halted)
        unready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["failed"] == []
    assert unready.status_code == 503
    body = unready.json()
    assert body["ready"] is False
    assert body["failed"] == [{"name": "trading", "detail": "HALTED (OPERATOR): operator: lunch"}]
    assert len(body["checks"]) == 11


async def test_readyz_uses_the_configured_policy(source: FakeSource) -> None:
    app = ops_app(source, policy=ReadinessPolicy(max_silence=0.5))
    async with client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert {c["name"] for c in response.json()["failed"]} == {
        f"actor:{a.name}" for a in source.current.actors
    }


async def test_status_shows_a_loss_streak_cooldown_while_it_lasts(source: FakeSource) -> None:
    now = source.current.now
    assert source.current.risk is not None
    cooling = attrs.evolve(source.current.risk, cooldown_until=now + 42.5)
    source.current = attrs.evolve(source.current, risk=cooling)
    async with client(ops_app(source)) as http:
        status = (await http.get("/status")).json()
    assert status["trading"]["cooldown_seconds"] == 42.5
    over = attrs.evolve(cooling, cooldown_until=now - 1)
    source.current = attrs.evolve(source.current, risk=over)
    async with client(ops_app(source)) as http:
        status = (await http.get("/status")).json()
    assert status["trading"]["cooldown_seconds"] is None


async def test_status_is_what_cjt_status_shows(source: FakeSource) -> None:
    async with client(ops_app(source)) as http:
        response = await http.get("/status")
    assert response.status_code == 200
    status = response.json()
    assert status["ready"] is True
    assert status["trading"] == {
        "state": "ACTIVE",
        "reason": "",
        "detail": "",
        "kill_switch_tripped": False,
        "cooldown_seconds": None,
    }
    assert status["pnl"]["equity"] == "12.5"  # amounts are exact strings
    assert status["positions"][1] == {
        "product": "ETH-USD",
        "quantity": "-0.2",
        "average_cost": "3000",
        "mark": None,
        "realized_pnl": "0",
        "unrealized_pnl": "0",
        "fees": "0.1",
    }
    assert status["orders"]["by_state"] == {"OPEN": 3, "FILLED": 6}  # zero counts left out
    assert status["orders"]["open"] == 3
    assert status["denials"] == {"MAX_POSITION": 2, "TRADING_HALTED": 5}
    assert status["actors"][3] == {
        "name": "feed",
        "state": "running",
        "restarts": 1,
        "last_status_age": 1.0,
    }
    assert status["feed"]["state"] == "connected"
    assert status["feed"]["last_frame_age"] == 0.1
    assert status["books"][0]["best_bid"] == "100.00"
    assert status["strategies"][0]["positions"] == {"BTC-USD": "0.015"}


async def test_status_before_anything_is_published(source: FakeSource) -> None:
    source.current = attrs.evolve(
        source.current, risk=None, execution=None, feed=None, books=(), strategies=()
    )
    async with client(ops_app(source)) as http:
        status = (await http.get("/status")).json()
    assert status["ready"] is False
    assert status["trading"] is None
    assert status["pnl"] is None
    assert status["orders"] is None
    assert status["feed"] is None
    assert (status["positions"], status["denials"], status["books"]) == ([], {}, [])


# -- control -----------------------------------------------------------------------------------


async def test_halt_and_resume_are_forwarded_and_answered_202(source: FakeSource) -> None:
    async with client(ops_app(source)) as http:
        halted = await http.post("/halt", json={"detail": "  maintenance window  "})
        resumed = await http.post("/resume", json={"detail": "done"})
    assert halted.status_code == 202
    assert halted.json() == {"sent": "HaltTrading", "detail": "maintenance window"}
    assert resumed.status_code == 202
    assert resumed.json() == {"sent": "ResumeTrading", "detail": "done"}
    assert source.sent == [("halt", "maintenance window"), ("resume", "done")]


async def test_a_halt_may_flatten_and_a_resume_may_not(source: FakeSource) -> None:
    async with client(ops_app(source)) as http:
        flat = await http.post("/halt", json={"detail": "close all", "flatten": True})
        refused = await http.post("/resume", json={"detail": "x", "flatten": True})
    assert flat.status_code == 202
    assert flat.json() == {"sent": "HaltTrading", "detail": "close all", "flatten": True}
    assert refused.status_code == 400
    assert "unknown keys ['flatten']" in refused.json()["error"]
    assert source.sent == [("halt+flatten", "close all")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body must be JSON"),
        (b'["halt"]', "the body must be a JSON object"),
        (b"{}", "detail: must be a non-empty string"),
        (b'{"detail": "   "}', "detail: must be a non-empty string"),
        (b'{"detail": 3}', "detail: must be a non-empty string"),
        (b'{"detail": "x", "flatten": "yes"}', "flatten: must be true or false"),
        (b'{"detail": "x", "flush": true}', "unknown keys ['flush']"),
        (b'{"detail": "' + b"x" * 501 + b'"}', "detail: at most 500 characters, got 501"),
        (b'{"detail": "a\\u0007b"}', "detail: control characters are not allowed"),
    ],
)
async def test_a_malformed_control_request_is_400_and_sends_nothing(
    source: FakeSource, body: bytes, message: str
) -> None:
    async with client(ops_app(source)) as http:
        response = await http.post(
            "/halt", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert source.sent == []


@pytest.mark.parametrize("size", [4097, 64 * 1024])
async def test_an_oversized_control_body_is_read_then_refused_413(
    source: FakeSource, size: int
) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read to find out
        for start in range(0, size, 1000):
            yield b" " * min(1000, size - start)

    async with client(ops_app(source)) as http:
        declared = await http.post("/resume", content=b" " * size)
        streamed = await http.post("/resume", content=chunks())
    assert declared.status_code == streamed.status_code == 413
    assert streamed.json() == {"error": "the request body is larger than 4096 bytes"}
    assert source.sent == []


async def test_a_huge_control_body_is_refused_without_reading_it_all(source: FakeSource) -> None:
    async with client(ops_app(source)) as http:
        response = await http.post("/halt", content=b" " * (64 * 1024 + 1))
    assert response.status_code == 413
    # Without a Content-Length, reading stops past 64 KiB (straight ASGI: httpx's transport
    # would complain that its body was left unread, which is the point).
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        received.append(1)
        return {"type": "http.request", "body": b" " * 1024, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        await trio.lowlevel.checkpoint()
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/halt",
        "raw_path": b"/halt",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 9100),
    }
    await ops_app(source)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert len(received) == 65  # 64 KiB and the chunk that went past it
    assert source.sent == []


async def test_a_command_risk_cannot_take_in_time_is_503_and_not_sent(
    source: FakeSource, autojump_clock: trio.testing.MockClock
) -> None:
    source.stuck = True
    async with client(ops_app(source, control_timeout=2.0)) as http:
        started = trio.current_time()
        response = await http.post("/halt", json={"detail": "now"})
        waited = trio.current_time() - started
    assert response.status_code == 503
    assert response.json()["error"] == (
        "risk's inbox stayed full for 2 s: HaltTrading was not sent; try again"
    )
    assert waited == pytest.approx(2.0)
    assert source.sent == []


async def test_methods_and_paths_are_strict(source: FakeSource) -> None:
    async with client(ops_app(source)) as http:
        assert (await http.get("/halt")).status_code == 405
        assert (await http.post("/status")).status_code == 405
        assert (await http.get("/nope")).status_code == 404
    assert source.sent == []


# -- the token ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/metrics"), ("GET", "/readyz"), ("GET", "/status"), ("POST", "/halt")],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong-token-wrong-token-wrong-tok"),
        bearer(TOKEN[:-1]),
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": TOKEN},
        {b"authorization": "Bearer é".encode("latin-1")},
    ],
    ids=["none", "wrong", "prefix", "basic", "bare", "latin-1"],
)
async def test_with_a_token_every_route_but_healthz_needs_it(
    source: FakeSource,
    method: str,
    path: str,
    headers: Mapping[str, str] | Mapping[bytes, bytes],
) -> None:
    async with client(ops_app(source, token=TOKEN), headers) as http:
        response = await http.request(method, path, json={"detail": "x"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="cjt"'
    assert TOKEN not in response.text
    assert source.sent == []


async def test_the_right_token_opens_every_route(source: FakeSource) -> None:
    async with client(ops_app(source, token=TOKEN), bearer()) as http:
        codes = [
            (await http.get("/metrics")).status_code,
            (await http.get("/readyz")).status_code,
            (await http.get("/status")).status_code,
            (await http.post("/halt", json={"detail": "x"})).status_code,
        ]
    assert codes == [200, 200, 200, 202]
    assert source.sent == [("halt", "x")]


async def test_healthz_needs_no_token(source: FakeSource) -> None:
    async with client(ops_app(source, token=TOKEN)) as http:
        assert (await http.get("/healthz")).status_code == 200


def test_the_token_is_not_in_the_apps_repr(source: FakeSource) -> None:
    app = ops_app(source, token=TOKEN)
    shown = repr(app.user_middleware) + repr(app)
    assert "<redacted>" in repr(app.user_middleware)
    assert TOKEN not in shown


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("short", "at least 16 characters"),
        ("x" * 15, "at least 16 characters"),
        ("with spaces in the token!", "printable ASCII without spaces"),
        ("non-ascii-tökén-0123456789", "printable ASCII without spaces"),
    ],
)
def test_a_weak_or_malformed_token_is_refused_without_echoing_it(
    source: FakeSource, token: str, message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message) as caught:
        ops_app(source, token=token)
    assert token not in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), "5"])
def test_a_malformed_control_timeout_is_refused(source: FakeSource, timeout: Any) -> None:
    with pytest.raises(InvalidSpec, match="control_timeout"):
        ops_app(source, control_timeout=timeout)
