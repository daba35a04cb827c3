"""The chaos monkey: its seeded plan (a pure function of the seed) and its hand on the
simulator's fault switches and the crash switch."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.sim.faults import Faults, RestFaultKind, WsAction, WsActionKind
from cjt_actors.soak.monkey import (
    ORDERS_PREFIX,
    PAPER_KINDS,
    SIM_KINDS,
    FaultKind,
    Monkey,
    PlannedFault,
    crash_targets,
    plan_faults,
)

TARGETS = crash_targets(["mm"])


def _plan(seed: int = 1, **overrides: Any) -> tuple[PlannedFault, ...]:
    arguments: dict[str, Any] = {
        "seed": seed,
        "duration": 600.0,
        "mean_interval": 2.0,
        "targets": TARGETS,
    }
    arguments.update(overrides)
    return plan_faults(**arguments)


# -- the plan ------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    assert _plan(7) == _plan(7)
    assert _plan(7) != _plan(8)


def test_faults_land_between_the_warmup_and_the_cooldown_and_every_hold_ends_before_it() -> None:
    plan = _plan(3, warmup=20.0, cooldown=30.0)
    assert plan, "a ten-minute plan with a fault every 2 s is not empty"
    assert [f.at for f in plan] == sorted(f.at for f in plan)
    assert all(20.0 < f.at < 570.0 for f in plan)
    assert all(f.at + f.hold <= 570.0 + 1e-6 for f in plan)
    assert any(f.hold > 0 for f in plan)


def test_the_mean_gap_is_about_the_asked_interval() -> None:
    plan = _plan(4, duration=4000.0, warmup=0.0, cooldown=0.0, crash_limit=1000)
    mean_gap = plan[-1].at / len(plan)
    assert 1.7 < mean_gap < 2.3, mean_gap  # 2000 exponential gaps of mean 2 s


def test_every_card_is_dealt_once_per_round() -> None:
    """The deck: each (kind, place) pair once per round, so the first round covers them all."""
    plan = _plan(5, duration=10_000.0, crash_limit=1000)
    # A REST burst's routes are drawn with its size, not dealt: one card per REST kind.
    cards = [(f.kind, "" if f.kind.rest else f.place) for f in plan]
    deck = set(cards)
    # WebSocket kinds on both endpoints, a crash per actor, a jump per product, one of each
    # other kind.
    assert len(deck) == 5 * 2 + 5 + 2 + 7
    first_round = cards[: len(deck)]
    assert set(first_round) == deck
    second_round = cards[len(deck) : 2 * len(deck)]
    assert set(second_round) == deck


def test_the_paper_plan_has_only_market_data_price_and_crash_faults() -> None:
    plan = _plan(6, kinds=PAPER_KINDS, endpoints=("market",))
    assert {f.kind for f in plan} == set(PAPER_KINDS)
    assert {f.place for f in plan if f.kind.websocket} == {"market"}


def test_crashes_stay_under_the_cap_in_every_window() -> None:
    plan = _plan(9, duration=3000.0, mean_interval=0.5, crash_limit=2, crash_window=60.0)
    crashes = [f.at for f in plan if f.kind is FaultKind.CRASH]
    assert len(crashes) > 20
    for index, at in enumerate(crashes):
        assert sum(1 for other in crashes[index:] if other < at + 60.0) <= 2


def test_crash_cards_over_the_cap_are_discarded_so_the_fault_rate_holds() -> None:
    """On the paper venue 5 of 12 cards are crashes, far more than the cap allows."""
    plan = _plan(
        10, kinds=PAPER_KINDS, endpoints=("market",), duration=4000.0, warmup=0, cooldown=0
    )
    assert 1700 < len(plan) < 2300  # about one fault every 2 s, as asked
    crashes = [f for f in plan if f.kind is FaultKind.CRASH]
    assert len(crashes) <= 2 * (4000 // 60 + 1)
    assert len(crashes) > 100  # discarded for a round, dealt again in the next


def test_with_only_crashes_over_the_cap_a_slot_stays_quiet() -> None:
    plan = _plan(2, kinds=(FaultKind.CRASH,), duration=300.0, warmup=0, cooldown=0, crash_limit=1)
    assert plan
    assert all(later.at - earlier.at >= 60.0 for earlier, later in itertools.pairwise(plan))
    assert {f.place for f in plan} <= set(TARGETS)


def test_a_crash_limit_of_zero_plans_no_crash() -> None:
    assert not [f for f in _plan(1, crash_limit=0) if f.kind is FaultKind.CRASH]


def test_parameters_stay_in_their_ranges() -> None:
    plan = _plan(11, duration=20_000.0, crash_limit=10_000)
    by_kind = collections.defaultdict(list)
    for fault in plan:
        by_kind[fault.kind].append(fault)
    assert {f.amount for f in by_kind[FaultKind.REST_429]} <= {1, 2, 3}
    assert {f.amount for f in by_kind[FaultKind.REST_5XX]} <= set(range(1, 7))
    assert {f.place for f in by_kind[FaultKind.REST_HTML]} == {"orders", "any"}
    assert {f.amount for f in by_kind[FaultKind.WS_SKIP_SEQUENCE]} <= set(range(1, 6))
    assert {f.amount for f in by_kind[FaultKind.WS_MALFORMED]} <= {1, 2, 3}
    assert {f.amount for f in by_kind[FaultKind.LOST_ORDER_RESPONSES]} <= {1, 2}
    end = 20_000.0 - 15.0
    # Holds are drawn in their range, then cut at the cool-down's start.
    assert all(
        2.0 <= f.hold <= 12.0 or (0 < f.hold < 2.0 and f.at + f.hold == pytest.approx(end))
        for f in by_kind[FaultKind.WS_STALL]
    )
    assert all(0.2 <= f.seconds <= 2.0 for f in by_kind[FaultKind.LATENCY_SPIKE])
    jumps = by_kind[FaultKind.PRICE_JUMP]
    assert all(10 <= abs(f.amount) <= 40 for f in jumps)
    assert {f.amount > 0 for f in jumps} == {True, False}
    assert {f.place for f in jumps} == {"BTC-USD", "ETH-USD"}
    assert all(2.0 <= f.hold <= 8.0 for f in by_kind[FaultKind.EXCHANGE_DOWN])
    assert {f.place for f in by_kind[FaultKind.CRASH]} == set(TARGETS)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"duration": 0.0}, "must be > 0"),
        ({"mean_interval": -1.0}, "must be > 0"),
        ({"kinds": ()}, "at least one fault kind"),
        ({"targets": ()}, "at least one actor"),
        ({"products": ()}, "at least one product"),
        ({"endpoints": ("nowhere",)}, "endpoints"),
        ({"endpoints": ()}, "endpoints"),
        ({"warmup": -1.0}, ">= 0"),
        ({"crash_limit": -1}, ">= 0"),
    ],
)
def test_a_bad_argument_is_refused_by_name(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        _plan(**overrides)


def test_the_key_and_description_say_what_and_where() -> None:
    assert PlannedFault(at=1, kind=FaultKind.WS_DROP, place="market").key == "ws_drop:market"
    assert PlannedFault(at=1, kind=FaultKind.CRASH, place="book").key == "crash:book"
    assert PlannedFault(at=1, kind=FaultKind.REST_429, place="any", amount=2).key == "rest_429"
    assert (
        PlannedFault(at=1, kind=FaultKind.REST_5XX, place="orders", amount=3).describe()
        == "rest_5xx x3 on orders routes"
    )
    assert (
        PlannedFault(at=1, kind=FaultKind.PRICE_JUMP, place="BTC-USD", amount=-25).describe()
        == "price_jump:BTC-USD -25bps"
    )
    assert (
        PlannedFault(at=1, kind=FaultKind.LATENCY_SPIKE, seconds=0.5, hold=3.0).describe()
        == "latency_spike 0.5s for 3.0s"
    )
    assert (
        PlannedFault(at=1, kind=FaultKind.WS_MALFORMED, place="user", amount=2).describe()
        == "ws_malformed:user x2"
    )


def test_market_data_faults_are_the_market_endpoint_and_the_outage() -> None:
    hits = {
        kind: PlannedFault(at=1, kind=kind, place="market").hits_market_data for kind in SIM_KINDS
    }
    assert {kind for kind, hit in hits.items() if hit} == {
        FaultKind.WS_DROP,
        FaultKind.WS_STALL,
        FaultKind.WS_CLOSE,
        FaultKind.WS_SKIP_SEQUENCE,
        FaultKind.WS_MALFORMED,
        FaultKind.EXCHANGE_DOWN,
    }
    assert not PlannedFault(at=1, kind=FaultKind.WS_DROP, place="user").hits_market_data


# -- injecting -----------------------------------------------------------------------------------


class RecordingCrashes:
    def __init__(self) -> None:
        self.crashed: list[tuple[str, str]] = []

    def crash(self, actor: str, detail: str = "injected") -> None:
        self.crashed.append((actor, detail))


class Switches:
    """Real :class:`Faults`, with a WebSocket listener and the market and auth bindings."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.ws: list[WsAction] = []
        self.jumps: list[tuple[str, object]] = []
        self.faults.on_ws_action(self.ws.append)
        self.faults.bind_market(lambda product, bps: self.jumps.append((product, bps)))
        self.crashes = RecordingCrashes()
        self.monkey = Monkey(self.faults, self.crashes)

    def inject(self, kind: FaultKind, **fields: object) -> Callable[[], None] | None:
        return self.monkey.inject(PlannedFault(at=0.0, kind=kind, **fields))  # type: ignore[arg-type]


def test_websocket_faults_reach_their_endpoint() -> None:
    switches = Switches()
    assert switches.inject(FaultKind.WS_DROP, place="market") is None
    switches.inject(FaultKind.WS_CLOSE, place="user")
    switches.inject(FaultKind.WS_SKIP_SEQUENCE, place="market", amount=3)
    switches.inject(FaultKind.WS_MALFORMED, place="user", amount=2)
    assert switches.ws == [
        WsAction(kind=WsActionKind.DROP, endpoint="market"),
        WsAction(kind=WsActionKind.CLOSE, amount=1001, endpoint="user"),
        WsAction(kind=WsActionKind.SKIP_SEQUENCE, amount=3, endpoint="market"),
        WsAction(kind=WsActionKind.MALFORMED, amount=2, endpoint="user"),
    ]


def test_rest_bursts_queue_on_the_order_routes_or_on_every_route() -> None:
    switches = Switches()
    switches.inject(FaultKind.REST_5XX, place="orders", amount=2)
    switches.inject(FaultKind.REST_429, place="any", amount=1)
    switches.inject(FaultKind.REST_HTML, place="any", amount=1)
    faults = switches.faults
    assert faults.pending_rest_faults == 4
    assert faults.take_rest_fault("/api/v3/brokerage/accounts") is not None  # the 429, any
    first = faults.take_rest_fault(ORDERS_PREFIX)
    assert first is not None
    assert (first.kind, first.status) == (RestFaultKind.SERVER_ERROR, 503)
    remaining = [faults.take_rest_fault(ORDERS_PREFIX) for _ in range(2)]
    assert [(f.kind, f.status) for f in remaining if f is not None] == [
        (RestFaultKind.SERVER_ERROR, 503),
        (RestFaultKind.HTML, 502),
    ]


def test_lost_responses_jumps_and_crashes() -> None:
    switches = Switches()
    switches.inject(FaultKind.LOST_ORDER_RESPONSES, amount=2)
    assert [switches.faults.take_lost_order_response() for _ in range(3)] == [True, True, False]
    switches.inject(FaultKind.PRICE_JUMP, place="ETH-USD", amount=-30)
    assert len(switches.jumps) == 1
    assert switches.jumps[0][0] == "ETH-USD"
    switches.inject(FaultKind.CRASH, place="book")
    assert switches.crashes.crashed == [("book", "soak: crash:book")]


def test_a_crash_without_a_switch_is_refused() -> None:
    monkey = Monkey(Faults(), None)
    with pytest.raises(InvalidSpec, match="no crash switch"):
        monkey.inject(PlannedFault(at=0.0, kind=FaultKind.CRASH, place="book"))


def test_overlapping_stalls_resume_only_when_the_last_one_ends() -> None:
    switches = Switches()
    first = switches.inject(FaultKind.WS_STALL, place="market", hold=5)
    second = switches.inject(FaultKind.WS_STALL, place="market", hold=5)
    assert first is not None
    assert second is not None
    first()
    first()  # a second call (the timer after a settle) changes nothing
    assert [a.kind for a in switches.ws] == [WsActionKind.STALL, WsActionKind.STALL]
    second()
    assert switches.ws[-1] == WsAction(kind=WsActionKind.RESUME, endpoint="market")


def test_overlapping_latency_spikes_keep_the_largest_still_in_force() -> None:
    switches = Switches()
    small = switches.inject(FaultKind.LATENCY_SPIKE, seconds=0.5, hold=5)
    large = switches.inject(FaultKind.LATENCY_SPIKE, seconds=1.5, hold=5)
    assert small is not None
    assert large is not None
    assert switches.faults.latency == 1.5
    large()
    assert switches.faults.latency == 0.5
    small()
    assert switches.faults.latency == 0.0


def test_the_fill_replay_drops_the_user_channel_and_holds_until_the_last_one_ends() -> None:
    switches = Switches()
    first = switches.inject(FaultKind.REPLAY_FILLS, place="user", hold=3)
    second = switches.inject(FaultKind.REPLAY_FILLS, place="user", hold=3)
    assert first is not None
    assert second is not None
    assert switches.faults.replay_fills_on_reconnect
    assert switches.ws[0] == WsAction(kind=WsActionKind.DROP, endpoint="user")
    first()
    assert switches.faults.replay_fills_on_reconnect
    second()
    assert not switches.faults.replay_fills_on_reconnect


def test_overlapping_outages_bring_the_exchange_up_when_the_last_one_ends() -> None:
    switches = Switches()
    first = switches.inject(FaultKind.EXCHANGE_DOWN, hold=3)
    second = switches.inject(FaultKind.EXCHANGE_DOWN, hold=3)
    assert first is not None
    assert second is not None
    assert switches.faults.exchange_down
    first()
    assert switches.faults.exchange_down
    second()
    assert not switches.faults.exchange_down


def test_settle_undoes_everything_still_holding() -> None:
    switches = Switches()
    switches.inject(FaultKind.WS_STALL, place="user", hold=5)
    switches.inject(FaultKind.LATENCY_SPIKE, seconds=1.0, hold=5)
    switches.inject(FaultKind.REPLAY_FILLS, place="user", hold=5)
    switches.inject(FaultKind.EXCHANGE_DOWN, hold=5)
    switches.monkey.settle()
    faults = switches.faults
    assert (faults.latency, faults.replay_fills_on_reconnect, faults.exchange_down) == (
        0.0,
        False,
        False,
    )
    assert WsAction(kind=WsActionKind.RESUME, endpoint="user") in switches.ws
    switches.monkey.settle()  # nothing left: no second resume
    assert switches.ws.count(WsAction(kind=WsActionKind.RESUME, endpoint="user")) == 1
