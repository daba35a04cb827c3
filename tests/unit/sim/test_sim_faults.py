"""The fault switches (cjt_actors.sim.faults.Faults) as plain data, without any server.

Scenarios are only reproducible if a fault applies to exactly the next matching events and
nothing else, and if a mistyped fault fails loudly instead of silently doing nothing. The
history is what a scenario's timeline shows, so it must record every fault and never a
secret (key names).
"""

from __future__ import annotations

import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.sim.faults import Faults, RestFault, RestFaultKind, WsAction, WsActionKind


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (RestFaultKind.SERVER_ERROR, 503),
        (RestFaultKind.RATE_LIMITED, 429),
        (RestFaultKind.HTML, 502),
        (RestFaultKind.HANG, 0),
    ],
)
def test_each_rest_fault_has_a_default_status(kind: RestFaultKind, status: int) -> None:
    """Without a status, each kind gets the one the real failure usually has."""
    faults = Faults()
    faults.fail_next(kind)
    assert faults.take_rest_fault("/x") == RestFault(kind=kind, status=status, path_prefix="")


def test_rest_faults_apply_to_exactly_the_next_matching_requests() -> None:
    """A fault for one path prefix is skipped by other paths and consumed once per request."""
    faults = Faults()
    faults.fail_next(RestFaultKind.SERVER_ERROR, 2, path_prefix="/api/v3/brokerage/orders")
    faults.fail_next(RestFaultKind.HTML, status=429)
    assert faults.pending_rest_faults == 3
    # /accounts does not match the first two: it takes the catch-all HTML fault.
    taken = faults.take_rest_fault("/api/v3/brokerage/accounts")
    assert taken is not None
    assert (taken.kind, taken.status) == (RestFaultKind.HTML, 429)
    assert faults.take_rest_fault("/api/v3/brokerage/accounts") is None
    for _ in range(2):
        taken = faults.take_rest_fault("/api/v3/brokerage/orders/historical/batch")
        assert taken is not None
        assert taken.kind is RestFaultKind.SERVER_ERROR
    assert faults.take_rest_fault("/api/v3/brokerage/orders") is None
    assert faults.pending_rest_faults == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.fail_next(RestFaultKind.HTML, 0), "count: must be >= 1"),
        (lambda f: f.fail_next(RestFaultKind.SERVER_ERROR, status=200), "HTTP error status"),
        (lambda f: f.fail_next(RestFaultKind.RATE_LIMITED, status=600), "HTTP error status"),
        (lambda f: f.lose_next_order_responses(0), "count: must be >= 1"),
        (lambda f: f.set_latency(-0.1), "latency"),
        (lambda f: f.set_latency(3600), "latency"),
        (lambda f: f.close_connections(999), "close code"),
        (lambda f: f.close_connections(5000), "close code"),
        (lambda f: f.skip_sequence(0), "count: must be >= 1"),
        (lambda f: f.inject_malformed(0), "count: must be >= 1"),
        (lambda f: f.drop_connections(endpoint="admin"), "endpoint"),
    ],
)
def test_bad_fault_settings_are_refused(call: object, message: str) -> None:
    """A mistyped fault fails at once and changes nothing."""
    faults = Faults()
    with pytest.raises(InvalidSpec, match=message):
        call(faults)  # type: ignore[operator]
    assert faults.pending_rest_faults == 0
    assert faults.latency == 0
    assert faults.take_lost_order_response() is False
    assert faults.history == []


def test_a_hang_needs_no_status() -> None:
    """A hang never answers, so its status is irrelevant (any value is accepted)."""
    faults = Faults()
    faults.fail_next(RestFaultKind.HANG, status=200)
    fault = faults.take_rest_fault("/")
    assert fault is not None
    assert fault.kind is RestFaultKind.HANG


def test_lost_order_responses_count_down() -> None:
    """Exactly the next N order placements lose their answers."""
    faults = Faults()
    faults.lose_next_order_responses(2)
    faults.lose_next_order_responses(1)
    assert [faults.take_lost_order_response() for _ in range(4)] == [True, True, True, False]


def test_latency_and_replay_are_switches() -> None:
    """Latency and replay stay as set until changed."""
    faults = Faults()
    faults.set_latency(0.5)
    faults.set_replay_fills_on_reconnect()
    assert (faults.latency, faults.replay_fills_on_reconnect) == (0.5, True)
    faults.set_latency(0)
    faults.set_replay_fills_on_reconnect(False)
    assert (faults.latency, faults.replay_fills_on_reconnect) == (0, False)


def test_websocket_faults_reach_every_listener_as_actions() -> None:
    """Each WebSocket switch is one action, with its amount and target endpoint."""
    faults = Faults()
    first: list[WsAction] = []
    second: list[WsAction] = []
    faults.on_ws_action(first.append)
    unregister = faults.on_ws_action(second.append)
    faults.drop_connections()
    faults.stall_connections(endpoint="market")
    faults.resume_connections(endpoint="market")
    faults.close_connections()
    faults.close_connections(4001, endpoint="user")
    faults.skip_sequence(3)
    faults.inject_malformed(2, endpoint="user")
    unregister()
    faults.drop_connections()
    assert first == [
        WsAction(kind=WsActionKind.DROP),
        WsAction(kind=WsActionKind.STALL, endpoint="market"),
        WsAction(kind=WsActionKind.RESUME, endpoint="market"),
        WsAction(kind=WsActionKind.CLOSE, amount=1001),
        WsAction(kind=WsActionKind.CLOSE, amount=4001, endpoint="user"),
        WsAction(kind=WsActionKind.SKIP_SEQUENCE, amount=3),
        WsAction(kind=WsActionKind.MALFORMED, amount=2, endpoint="user"),
        WsAction(kind=WsActionKind.DROP),
    ]
    assert second == first[:-1]


def test_a_listener_may_unregister_while_actions_are_delivered() -> None:
    """Connections close (and unregister) in reaction to a fault; delivery must not break."""
    faults = Faults()
    seen: list[str] = []

    def first(action: WsAction) -> None:
        seen.append("a")
        unregister_first()

    def second(action: WsAction) -> None:
        seen.append("b")

    unregister_first = faults.on_ws_action(first)
    faults.on_ws_action(second)
    faults.drop_connections()
    faults.drop_connections()
    assert seen == ["a", "b", "b"]


def test_keys_are_revoked_through_the_bound_verifier() -> None:
    """revoke/restore call the app's verifier; the history never names the key."""
    faults = Faults()
    calls: list[tuple[str, str]] = []
    faults.bind_auth(lambda k: calls.append(("revoke", k)), lambda k: calls.append(("restore", k)))
    faults.revoke_key("organizations/o/apiKeys/secret-name")
    faults.restore_key("organizations/o/apiKeys/secret-name")
    assert calls == [
        ("revoke", "organizations/o/apiKeys/secret-name"),
        ("restore", "organizations/o/apiKeys/secret-name"),
    ]
    assert faults.history == ["revoke key", "restore key"]
    assert not any("secret-name" in entry for entry in faults.history)


@pytest.mark.parametrize("method", ["revoke_key", "restore_key"])
def test_key_faults_without_an_app_fail_loudly(method: str) -> None:
    """Faults not bound to an authenticating app cannot pretend to revoke a key."""
    with pytest.raises(RuntimeError, match="no authenticating app"):
        getattr(Faults(), method)("k")


def test_history_records_every_fault_in_order() -> None:
    """The fault history is the scenario's timeline."""
    faults = Faults()
    faults.fail_next(RestFaultKind.SERVER_ERROR, 2, path_prefix="/api/v3/brokerage/orders")
    faults.fail_next(RestFaultKind.HANG)
    faults.lose_next_order_responses(3)
    faults.set_latency(0.25)
    faults.skip_sequence(4, endpoint="market")
    faults.close_connections()
    faults.set_replay_fills_on_reconnect(True)
    assert faults.history == [
        "rest server_error x2 /api/v3/brokerage/orders",
        "rest hang x1 *",
        "lose order responses x3",
        "rest latency 0.25s",
        "ws skip_sequence 4 market",
        "ws close 1001 *",
        "replay fills on reconnect True",
    ]
