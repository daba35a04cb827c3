"""Self-tests of the tick-to-trade benchmark's tools (not of the product): the percentile
summary, the choice of replayed frames, the floor pipeline over a real loopback WebSocket,
the breakdown of an order's way into segments, and the probe strategy's intents."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
import trio
import trio_websocket

from cjt_actors.exchange.orders import Side
from cjt_actors.order_messages import (
    DenyReason,
    IntentKind,
    OrderDenied,
    OrderType,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.orderbook import BookView
from cjt_actors.strategies.base import Replace, StrategyState, Submit
from tests.performance.bench_latency import (
    Mode,
    floor_latencies,
    percentiles_us,
    segments,
    select_replay,
)
from tests.performance.latency_stack import (
    PROBE_DISTANCE,
    OrderStamps,
    ProbeStrategy,
    TickToTradeProbe,
    paper_rules,
)


def _frame(channel: str, sequence: int, kind: str, product: str = "BTC-USD") -> str:
    events = [{"type": kind, "product_id": product, "updates": []}]
    return orjson.dumps({"channel": channel, "sequence_num": sequence, "events": events}).decode()


def _frames() -> list[str]:
    """Two snapshots, then updates with a trades frame every fifth frame."""
    frames = [_frame("l2_data", 0, "snapshot"), _frame("l2_data", 1, "snapshot", "ETH-USD")]
    for sequence in range(2, 32):
        if sequence % 5 == 0:
            frames.append(_frame("market_trades", sequence, "update"))
        else:
            frames.append(
                _frame("l2_data", sequence, "update", ("BTC-USD", "ETH-USD")[sequence % 2])
            )
    return frames


def test_percentiles_are_nearest_rank_in_microseconds() -> None:
    seconds = [i / 1e6 for i in range(1000, 0, -1)]  # 1..1000 us, unsorted
    assert percentiles_us(seconds) == pytest.approx({"p50": 500.0, "p99": 990.0, "p999": 999.0})
    assert percentiles_us([0.001]) == pytest.approx({"p50": 1000.0, "p99": 1000.0, "p999": 1000.0})


def test_the_replay_is_the_snapshots_then_the_next_frames_with_updates_measured() -> None:
    replay = select_replay(_frames(), 10)
    assert len(replay.frames) == 12
    assert replay.products == ("BTC-USD", "ETH-USD")
    assert replay.measured[:2] == (False, False)  # snapshots
    assert replay.measured[5] is False  # the market_trades frame (sequence 5)
    assert sum(replay.measured) == 8
    paced = Mode(name="paced", interval_us=1000.0, burst=1)
    assert replay.expected(paced, 0.0) == 8
    assert replay.expected(paced, 0.003) == 8 - 1  # frames 0-2 warm up; frame 2 is measured
    bursts = Mode(name="burst", interval_us=1000.0, burst=5)
    assert replay.expected(bursts, 0.0) == 3  # frames 0-4, 5-9, 10-11: each has an update
    assert replay.duration(bursts) == pytest.approx(0.003)
    with pytest.raises(ValueError, match="open with l2_data snapshots"):
        select_replay(_frames()[2:], 5)
    with pytest.raises(ValueError, match="frames after its opening"):
        select_replay(_frames(), 100)


async def test_the_floor_times_every_measured_frame_over_a_real_websocket() -> None:
    replay = select_replay(_frames(), 30)
    subscriptions: list[str] = []

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        for _ in range(3):
            subscriptions.append(str(await ws.get_message()))
        for frame in replay.frames:
            await ws.send_message(frame)
            await trio.sleep(0.0005)
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: trio_websocket.serve_websocket(
                handler, "127.0.0.1", 0, None, task_status=task_status
            )
        )
        url = f"ws://127.0.0.1:{server.port}/"
        with trio.fail_after(10):
            samples = await floor_latencies(url, replay, warmup=0.0)
        nursery.cancel_scope.cancel()
    assert [orjson.loads(s)["channel"] for s in subscriptions] == [
        "level2",
        "market_trades",
        "heartbeats",
    ]
    assert len(samples) == sum(replay.measured) == 24
    assert all(0.0 <= s < 1.0 for s in samples)


def test_the_segments_of_an_order_add_up_to_its_tick_to_trade() -> None:
    stamps = OrderStamps(
        client_order_id="a",
        product_id="BTC-USD",
        trigger_at=10.0,
        strategy=10.001,
        executor=10.003,
        journal=[(10.004, 10.009), (10.020, 10.030)],  # the second after the venue call
        venue=10.010,
        transport=10.012,
    )
    cuts = segments([stamps, OrderStamps(client_order_id="b", product_id="x", trigger_at=1.0)])
    assert {name: len(values) for name, values in cuts.items()} == dict.fromkeys(cuts, 1)
    parts = [
        cuts[name][0]
        for name in ("to_strategy", "to_executor", "to_journal", "journal", "to_venue")
    ]
    assert sum(parts) == pytest.approx(stamps.tick_to_trade)
    assert stamps.write_ahead == pytest.approx(0.005)
    assert cuts["transport"] == [pytest.approx(0.012)]
    assert cuts["to_transport"] == [pytest.approx(0.002)]


def _view(sequence: int, *, trusted: bool = True) -> BookView:
    bid, ask = Decimal("60000.00"), Decimal("60000.02")
    return BookView(
        product_id="BTC-USD",
        best_bid=bid,
        best_bid_size=Decimal(1),
        best_ask=ask,
        best_ask_size=Decimal(1),
        mid=(bid + ask) / 2,
        spread=ask - bid,
        bids=((bid, Decimal(1)),),
        asks=((ask, Decimal(1)),),
        last_trade_price=None,
        last_trade_size=None,
        trusted=trusted,
        trust_reason=None,
        updated_at=5.0 + sequence,
        as_of=5.0 + sequence,
        sequence=sequence,
    )


def test_the_probe_bids_far_below_on_each_new_view_and_replaces_its_bid() -> None:
    probe = TickToTradeProbe()
    strategy = ProbeStrategy(probe)
    state = StrategyState("probe", paper_rules(["BTC-USD"]))
    [first] = strategy.on_book(_view(1), state)
    assert isinstance(first, Submit)
    assert first.post_only
    assert first.side is Side.BUY
    assert first.price == Decimal("60000.00") * (1 - PROBE_DISTANCE)
    assert first.price * first.size >= 2 * state.rules("BTC-USD").quote_min_size
    assert list(strategy.on_book(_view(1), state)) == []  # the same view again: no tick
    assert list(strategy.on_book(_view(2, trusted=False), state)) == []
    order = SubmitOrder(
        strategy="probe",
        client_order_id="c1",
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=first.size,
        limit_price=first.price,
        time_in_force=TimeInForce.GTC,
        post_only=True,
        at=6.0,
    )
    state.record_submit(order, "probe")
    [second] = strategy.on_book(_view(3), state)
    assert isinstance(second, Replace)
    assert second.client_order_id == "c1"
    assert probe.emitted == 2
    assert not probe.problems
    assert list(strategy.on_order(_denied(), state)) == []
    assert probe.problems == ["denied: RECONCILING reconciling"]


def _denied() -> OrderDenied:
    return OrderDenied(
        strategy="probe",
        client_order_id="c2",
        product_id="BTC-USD",
        intent=IntentKind.SUBMIT,
        reason=DenyReason.RECONCILING,
        detail="reconciling",
        at=7.0,
    )
