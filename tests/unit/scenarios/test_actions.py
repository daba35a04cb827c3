"""The timeline's actions: what each says it does, and that it pulls its lever.

Each action is applied to a :class:`World` around a real simulator (no client: the levers
are the simulator's fault switches, seen through their public state), in a trio test under
the autojump clock, so actions that last (a storm for 20 s) are seen to end by themselves.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from cjt_actors.chaos import CrashSwitch
from cjt_actors.errors import InvalidSpec
from cjt_actors.scenarios import ACTIONS
from cjt_actors.scenarios.actions import (
    Crash,
    DropDuringSnapshot,
    ExchangeDown,
    ExchangeUp,
    Halt,
    LoseOrderResponses,
    MalformedFrames,
    PriceJump,
    ReplayFills,
    RestError,
    RestLatency,
    RestoreKey,
    Resume,
    RevokeKey,
    SequenceGap,
    Stop,
    WsClose,
    WsDrop,
    WsResume,
    WsStall,
)
from cjt_actors.scenarios.runner import EPOCH
from cjt_actors.scenarios.world import ScenarioActionError, World
from cjt_actors.sim.faults import RestFault, RestFaultKind, WsAction, WsActionKind
from cjt_actors.sim.rest import PREFIX
from cjt_actors.sim.simulator import Simulator, SimulatorConfig

DESCRIPTIONS: list[tuple[Any, str]] = [
    (WsDrop(), "drop every websocket"),
    (WsDrop(endpoint="user"), "drop user websocket"),
    (WsStall(), "stall every websocket"),
    (WsStall(endpoint="market", seconds=2.5), "stall market websocket for 2.5 s"),
    (WsResume(endpoint="user"), "resume user websocket"),
    (WsClose(), "close every websocket with code 1001"),
    (WsClose(endpoint="market", code=4000), "close market websocket with code 4000"),
    (SequenceGap(count=3), "skip 3 sequence number(s) on the market websocket"),
    (MalformedFrames(endpoint="user", count=2), "send 2 malformed frame(s) on the user websocket"),
    (ReplayFills(), "replay fills on reconnect: on"),
    (ReplayFills(enabled=False), "replay fills on reconnect: off"),
    (DropDuringSnapshot(), "drop the next subscription mid-snapshot"),
    (RestError(), "REST server_error x1 on /api/v3/brokerage/*"),
    (
        RestError(kind="html", status=502, count=3, path="/orders"),
        "REST html 502 x3 on /api/v3/brokerage/orders",
    ),
    (
        RestError(kind="rate_limited", seconds=20.0),
        "REST rate_limited for 20 s on /api/v3/brokerage/*",
    ),
    (LoseOrderResponses(count=4), "accept the next 4 create(s) and lose the response(s)"),
    (RestLatency(seconds=1.5), "REST latency 1.5 s"),
    (ExchangeDown(), "exchange down"),
    (ExchangeDown(seconds=30.0), "exchange down for 30 s"),
    (ExchangeUp(), "exchange up"),
    (PriceJump(product="BTC-USD", bps=Decimal(-300)), "price jump BTC-USD -300 bps"),
    (PriceJump(product="ETH-USD", bps=Decimal("12.5")), "price jump ETH-USD +12.5 bps"),
    (RevokeKey(), "revoke the API key"),
    (RestoreKey(), "restore the API key"),
    (Crash(actor="executor"), "crash executor"),
    (Crash(actor="strategy:mm", times=10, every=1.0), "crash strategy:mm x10 every 1 s"),
    (Halt(), "operator halt"),
    (Halt(flatten=True), "operator halt with flatten"),
    (Resume(), "operator resume"),
    (Stop(), "operator stop"),
]


@pytest.mark.parametrize(("action", "text"), DESCRIPTIONS, ids=[text for _, text in DESCRIPTIONS])
def test_each_action_describes_itself(action: Any, text: str) -> None:
    assert action.describe() == text


def test_the_vocabulary_is_every_action_by_its_name() -> None:
    assert {type(action) for action, _ in DESCRIPTIONS} == set(ACTIONS.values())
    assert all(cls.name == name for name, cls in ACTIONS.items())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SequenceGap(count=0), r"^count: must be >= 1, got 0$"),
        (lambda: MalformedFrames(count=-1), r"^count: must be >= 1, got -1$"),
        (lambda: LoseOrderResponses(count=0), r"^count: must be >= 1, got 0$"),
        (lambda: RestError(count=0), r"^count: must be >= 1, got 0$"),
        (lambda: RestError(seconds=0.0), r"^seconds: must be > 0, got 0.0$"),
        (lambda: WsStall(seconds=-1.0), r"^seconds: must be > 0, got -1.0$"),
        (lambda: RestLatency(seconds=-0.5), r"^seconds: must be >= 0 seconds, got -0.5$"),
        (lambda: Crash(actor="feed", times=0), r"^times: must be >= 1, got 0$"),
        (lambda: Crash(actor="feed", every=-1.0), r"^every: must be >= 0 seconds, got -1.0$"),
    ],
)
def test_an_impossible_action_is_refused(build: Any, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        build()


# -- applied -----------------------------------------------------------------------------------------


def simulator() -> Simulator:
    return Simulator(SimulatorConfig(seed=1, start_epoch=EPOCH))


def world_of(sim: Simulator, nursery: trio.Nursery, *, live: bool = True) -> World:
    key_name = sim.generate_key()[1]["name"] if live else None
    return World(
        sim=sim,
        crashes=CrashSwitch(),
        nursery=nursery,
        t0=trio.current_time(),
        live=live,
        key_name=key_name,
    )


def down(sim: Simulator) -> bool:
    """Read afresh each time (an attribute read once would be narrowed by mypy)."""
    return sim.faults.exchange_down


def replaying(sim: Simulator) -> bool:
    return sim.faults.replay_fills_on_reconnect


def ws_actions(sim: Simulator) -> list[tuple[float, WsAction]]:
    """Every WebSocket action the simulator's connections are told, with its time."""
    seen: list[tuple[float, WsAction]] = []
    sim.faults.on_ws_action(lambda action: seen.append((trio.current_time(), action)))
    return seen


async def test_websocket_actions_reach_the_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = simulator()
    seen = ws_actions(sim)
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        for action in (
            WsDrop(endpoint="user"),
            WsStall(),
            WsResume(endpoint="market"),
            WsClose(code=4000),
            SequenceGap(count=3),
            MalformedFrames(endpoint="user", count=2),
        ):
            await action.apply(world)
    assert [action for _, action in seen] == [
        WsAction(kind=WsActionKind.DROP, endpoint="user"),
        WsAction(kind=WsActionKind.STALL),
        WsAction(kind=WsActionKind.RESUME, endpoint="market"),
        WsAction(kind=WsActionKind.CLOSE, amount=4000),
        WsAction(kind=WsActionKind.SKIP_SEQUENCE, amount=3, endpoint="market"),
        WsAction(kind=WsActionKind.MALFORMED, amount=2, endpoint="user"),
    ]


async def test_a_stall_with_seconds_ends_by_itself(autojump_clock: trio.testing.MockClock) -> None:
    sim = simulator()
    seen = ws_actions(sim)
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await trio.sleep(1.0)
        await WsStall(endpoint="market", seconds=2.5).apply(world)
    assert [(at - world.t0, action) for at, action in seen] == [
        (1.0, WsAction(kind=WsActionKind.STALL, endpoint="market")),
        (3.5, WsAction(kind=WsActionKind.RESUME, endpoint="market")),
    ]


async def test_a_rest_storm_with_seconds_fails_every_request_then_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = simulator()
    orders, accounts = PREFIX + "/orders/batch_cancel", PREFIX + "/accounts"
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await RestError(kind="rate_limited", seconds=5.0, path="/orders").apply(world)
        storm = RestFault(
            kind=RestFaultKind.RATE_LIMITED, status=429, path_prefix=PREFIX + "/orders"
        )
        for _ in range(3):  # every request, not a count
            assert sim.faults.take_rest_fault(orders) == storm
        assert sim.faults.take_rest_fault(accounts) is None
        await trio.sleep(4.9)
        assert sim.faults.take_rest_fault(orders) == storm
        await trio.sleep(0.2)
        assert sim.faults.take_rest_fault(orders) is None
    assert sim.faults.history[-1] == "rest storm over"


async def test_a_storm_that_ends_does_not_end_a_later_storm(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two storms, the second begun while the first lasts (or as it ends: the shipped
    rate_limit_storm.toml plays a 429 storm at t=20 for 20 s, then HTML 429 pages at t=40
    for 10 s). The first's end must not end the second: each lasts its own ``seconds``."""
    sim = simulator()
    path = PREFIX + "/accounts"
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await RestError(kind="rate_limited", seconds=20.0).apply(world)
        await trio.sleep(10.0)
        await RestError(kind="html", status=429, seconds=30.0).apply(world)
        await trio.sleep(15.0)  # t=25: the first storm is over, the second is not (until 40)
        assert sim.faults.take_rest_fault(path) == RestFault(
            kind=RestFaultKind.HTML, status=429, path_prefix=PREFIX
        )
        await trio.sleep(15.1)
        assert sim.faults.take_rest_fault(path) is None


async def test_an_outage_that_ends_does_not_end_a_later_outage(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = simulator()
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await ExchangeDown(seconds=30.0).apply(world)
        await trio.sleep(10.0)
        await ExchangeDown(seconds=60.0).apply(world)  # down until t=70
        await trio.sleep(30.0)
        assert down(sim), "t=40: the second outage lasts until t=70"
        await trio.sleep(30.1)
        assert not down(sim)


async def test_counted_rest_errors_are_consumed(autojump_clock: trio.testing.MockClock) -> None:
    sim = simulator()
    async with trio.open_nursery() as nursery:
        await RestError(kind="html", status=502, count=2).apply(world_of(sim, nursery))
    fault = RestFault(kind=RestFaultKind.HTML, status=502, path_prefix=PREFIX)
    assert sim.faults.pending_rest_faults == 2
    assert sim.faults.take_rest_fault(PREFIX + "/accounts") == fault
    assert sim.faults.take_rest_fault(PREFIX + "/orders") == fault
    assert sim.faults.take_rest_fault(PREFIX + "/orders") is None


async def test_an_outage_with_seconds_ends_by_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = simulator()
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await ExchangeDown(seconds=4.0).apply(world)
        assert down(sim)
        await trio.sleep(3.9)
        assert down(sim)
        await trio.sleep(0.2)
        assert not down(sim)
        await ExchangeDown().apply(world)
        await trio.sleep(100.0)
        assert down(sim), "without seconds it lasts until exchange_up"
        await ExchangeUp().apply(world)
        assert not down(sim)


async def test_the_other_switches(autojump_clock: trio.testing.MockClock) -> None:
    sim = simulator()
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await ReplayFills().apply(world)
        assert replaying(sim)
        await ReplayFills(enabled=False).apply(world)
        assert not replaying(sim)
        await DropDuringSnapshot().apply(world)
        await LoseOrderResponses(count=2).apply(world)
        await RestLatency(seconds=1.5).apply(world)
        await RevokeKey().apply(world)
        await RestoreKey().apply(world)
    assert sim.faults.take_snapshot_cut()
    assert not sim.faults.take_snapshot_cut()
    assert [sim.faults.take_lost_order_response() for _ in range(3)] == [True, True, False]
    assert sim.faults.latency == 1.5
    assert sim.faults.history[-2:] == ["revoke key", "restore key"]


async def test_a_price_jump_moves_the_mid(autojump_clock: trio.testing.MockClock) -> None:
    sim = simulator()
    sim.open()
    before = sim.market.mid("BTC-USD")
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await PriceJump(product="BTC-USD", bps=Decimal(100)).apply(world)
        after = sim.market.mid("BTC-USD")
        assert abs(after - before * Decimal("1.01")) <= Decimal("0.01")
        with pytest.raises(InvalidSpec, match="DOGE-USD"):
            await PriceJump(product="DOGE-USD", bps=Decimal(100)).apply(world)


@pytest.mark.parametrize(
    ("action", "what"),
    [
        (Crash(actor="executor"), "crash executor"),
        (Halt(), "halt"),
        (Resume(), "resume"),
        (Stop(), "stop"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_pipeline_actions_before_the_tree_exists_are_refused(
    autojump_clock: trio.testing.MockClock, action: Any, what: str
) -> None:
    """The runner records a refused step as a timeline failure (tests/integration)."""
    sim = simulator()
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery)
        await trio.sleep(2.0)
        with pytest.raises(
            ScenarioActionError,
            match=rf"^{what} at t=2: the trading tree has not started yet "
            r"\(the venue start-up is still waiting\)$",
        ):
            await action.apply(world)
    assert world.crashes.delivered == {}


@pytest.mark.parametrize("action", [RevokeKey(), RestoreKey()], ids=lambda a: a.name)
async def test_a_paper_world_has_no_key_to_revoke(
    autojump_clock: trio.testing.MockClock, action: Any
) -> None:
    sim = simulator()
    async with trio.open_nursery() as nursery:
        world = world_of(sim, nursery, live=False)
        with pytest.raises(
            ScenarioActionError, match=rf"^{action.name}: a paper scenario has no API key"
        ):
            await action.apply(world)
    assert not any("key" in line for line in sim.faults.history)


def test_actions_are_frozen_values() -> None:
    action = SequenceGap(count=2)
    assert action == SequenceGap(count=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        action.count = 3  # type: ignore[misc]
