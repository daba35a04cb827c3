"""Where the ops endpoint may bind: loopback freely, anywhere else only with a token."""

from __future__ import annotations

import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.listen import is_loopback_host as is_loopback
from cjt_actors.ops import OpsSnapshot, serve_ops
from cjt_actors.ops.server import check_bind

TOKEN = "a-long-enough-ops-token-1234"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, 0, None)  # no token needed


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "ops.example"])
def test_a_non_loopback_host_needs_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(InvalidSpec, match=f"ops host '{host}' is not a loopback address"):
        check_bind(host, 9100, None)
    check_bind(host, 9100, TOKEN)


def test_the_token_is_checked_wherever_it_binds() -> None:
    with pytest.raises(InvalidSpec, match="at least 16 characters"):
        check_bind("127.0.0.1", 0, "short")


@pytest.mark.parametrize("host", ["", "   "])
def test_an_empty_host_is_refused(host: str) -> None:
    with pytest.raises(InvalidSpec, match="ops host: must be a host name or address"):
        check_bind(host, 0, None)


@pytest.mark.parametrize("port", [-1, 65536, True, 8.0, "9100"])
def test_a_malformed_port_is_refused(port: object) -> None:
    with pytest.raises(InvalidSpec, match="ops port: must be an integer in 0-65535"):
        check_bind("127.0.0.1", port, None)  # type: ignore[arg-type]


async def test_serve_ops_refuses_before_binding() -> None:
    class Unused:
        def snapshot(self) -> OpsSnapshot:
            raise AssertionError("not read")

        async def halt(self, detail: str, *, flatten: bool = False) -> None:
            raise AssertionError("not sent")

        async def resume(self, detail: str) -> None:
            raise AssertionError("not sent")

    with pytest.raises(InvalidSpec, match="not a loopback address"):
        async with serve_ops(Unused(), host="0.0.0.0"):
            raise AssertionError("must not be reached")
