"""Our client against the simulator over real loopback sockets: every endpoint, every fault.

The client (:mod:`cjt_actors.exchange`) and the simulator (:mod:`cjt_actors.sim`) are two
independent readings of the Coinbase wire format; these tests are where they must agree.
The checks that matter most for money are on the simulator's own records: how many times a
``client_order_id`` reached it, and which orders exist.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
import trio

from cjt_actors.errors import NotFound, RateLimited, ServerError, Unauthorized
from cjt_actors.exchange import stream
from cjt_actors.exchange.auth import Credentials
from cjt_actors.exchange.orders import (
    LimitFok,
    LimitGtc,
    LimitGtd,
    LimitIoc,
    MarketIoc,
    OrderAccepted,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderRequest,
    Side,
    StopDirection,
    StopLimitGtc,
)
from cjt_actors.exchange.ratelimit import RateLimiter
from cjt_actors.exchange.rest import RestClient, RetryPolicy
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.policy import Backoff
from cjt_actors.sim.faults import RestFaultKind
from cjt_actors.sim.server import Endpoints, serve_simulator
from cjt_actors.sim.simulator import Simulator, SimulatorConfig

D = Decimal
FAST_RETRY = RetryPolicy(max_attempts=4, backoff=Backoff(min=0.01, max=0.05, jitter=0.0))


@asynccontextmanager
async def running(
    config: SimulatorConfig | None = None,
) -> AsyncIterator[tuple[Simulator, Endpoints, Credentials]]:
    sim = Simulator(config or SimulatorConfig(tick=0.05))
    credentials, _ = sim.generate_key()
    async with serve_simulator(sim) as endpoints:
        yield sim, endpoints, credentials


def client(endpoints: Endpoints, credentials: Credentials, **kwargs: object) -> RestClient:
    """A client with short retry and 429 back-offs (the real ones are seconds: real time here)."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("rng", random.Random(0))
    kwargs.setdefault(
        "rate_limiter",
        RateLimiter(penalty=Backoff(min=0.01, max=0.05, jitter=0.0), rng=random.Random(0)),
    )
    return RestClient(endpoints.rest_url, credentials=credentials, **kwargs)  # type: ignore[arg-type]


def limit(coid: str, price: str, size: str = "0.001", side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        product_id="BTC-USD",
        side=side,
        order_configuration=LimitGtc(base_size=D(size), limit_price=D(price)),
    )


def orders_with(sim: Simulator, coid: str) -> list[str]:
    return [o.order_id for o in sim.engine.list_orders("user-1") if o.client_order_id == coid]


# -- every endpoint -----------------------------------------------------------------------------


async def test_every_read_endpoint_answers_with_typed_values() -> None:
    """Accounts, products, books, candles, trades, time, fees, key: all parse, all Decimal."""
    async with running() as (sim, endpoints, credentials), client(endpoints, credentials) as rest:
        accounts = [a async for a in rest.iter_accounts(limit=1)]  # one per page: 3 pages
        assert sorted(a.currency for a in accounts) == ["BTC", "ETH", "USD"]
        usd = next(a for a in accounts if a.currency == "USD")
        assert (await rest.get_account(usd.uuid)).available_balance.value == D("100000")
        products = await rest.list_products()
        assert [p.product_id for p in products.products] == ["BTC-USD", "ETH-USD"]
        btc = await rest.get_product("BTC-USD")
        assert btc.price_increment == D("0.01")
        book = await rest.get_product_book("BTC-USD", limit=5)
        assert len(book.pricebook.bids) == 5
        assert book.pricebook.bids[0].price < book.pricebook.asks[0].price
        (best,) = await rest.get_best_bid_ask(["BTC-USD"])
        assert best.bids[0].price == book.pricebook.bids[0].price or best.bids  # market moves
        server = await rest.get_server_time()
        assert abs(server.epoch_seconds - time.time()) < 60
        with trio.fail_after(10):
            while not sim.engine.recent_trades("BTC-USD"):
                await trio.sleep(0.05)
        trades = await rest.get_market_trades("BTC-USD", limit=5)
        assert trades.trades
        assert all(t.price > 0 for t in trades.trades)
        now = int(time.time())
        candles = await rest.get_candles(
            "BTC-USD", start=now - 600, end=now + 60, granularity="ONE_MINUTE"
        )
        assert candles
        assert all(c.low <= c.high for c in candles)
        summary = await rest.get_transaction_summary()
        assert summary.fee_tier.taker_fee_rate == D("0.012")
        permissions = await rest.get_key_permissions()
        assert permissions.can_trade
        with pytest.raises(NotFound):
            await rest.get_product("DOGE-USD")


async def test_the_order_lifecycle_endpoints_agree_with_the_simulator() -> None:
    """Create (each configuration), preview, get, list, edit, cancel, fills."""
    async with running() as (sim, endpoints, credentials), client(endpoints, credentials) as rest:
        configurations = {
            "gtc": LimitGtc(base_size=D("0.001"), limit_price=D("50000")),
            "gtd": LimitGtd(
                base_size=D("0.001"),
                limit_price=D("50000"),
                end_time=dt.datetime.fromtimestamp(time.time() + 3600, tz=dt.UTC),
            ),
            "fok": LimitFok(base_size=D("0.001"), limit_price=D("50000")),
            "ioc": LimitIoc(base_size=D("0.001"), limit_price=D("50000")),
            "stop": StopLimitGtc(
                base_size=D("0.001"),
                limit_price=D("70001"),
                stop_price=D("70000"),
                stop_direction=StopDirection.STOP_DIRECTION_STOP_UP,
            ),
            "mkt": MarketIoc(quote_size=D("100")),
        }
        outcomes = {}
        for name, configuration in configurations.items():
            outcomes[name] = await rest.create_order(
                OrderRequest(
                    client_order_id=f"life-{name}",
                    product_id="BTC-USD",
                    side=Side.BUY,
                    order_configuration=configuration,
                )
            )
        assert all(isinstance(o, OrderAccepted) for o in outcomes.values()), outcomes
        gtc = outcomes["gtc"]
        assert isinstance(gtc, OrderAccepted)
        order = await rest.get_order(gtc.order_id)
        assert order.status == "OPEN"
        assert order.client_order_id == "life-gtc"
        fok = await rest.get_order(outcomes["fok"].order_id)  # type: ignore[union-attr]
        assert fok.status == "CANCELLED"  # nothing at 50000 to fill it
        preview = await rest.preview_order(limit("preview", "50000"))
        assert preview.commission_total > 0
        edited = await rest.edit_order(gtc.order_id, price=D("50001"), size=D("0.002"))
        assert edited.success
        assert (await rest.get_order(gtc.order_id)).order_configuration is not None
        open_orders = [o async for o in rest.iter_orders(order_status=["OPEN"])]
        assert {o.client_order_id for o in open_orders} >= {"life-gtc", "life-gtd", "life-stop"}
        cancelled = await rest.cancel_orders([gtc.order_id, "no-such-order"])
        assert [c.success for c in cancelled] == [True, False]
        fills = [f async for f in rest.iter_fills()]
        market_order = outcomes["mkt"]
        assert isinstance(market_order, OrderAccepted)
        assert {f.order_id for f in fills} == {market_order.order_id}
        assert all(f.commission > 0 for f in fills)
        rejected = await rest.create_order(limit("bad-precision", "50000.001"))
        assert isinstance(rejected, OrderRejected)
        assert rejected.error == "INVALID_PRICE_PRECISION"
        again = await rest.create_order(limit("life-gtc", "1"))  # a reused client_order_id
        assert isinstance(again, OrderAccepted)
        assert again.order_id == gtc.order_id
        assert sim.create_requests["life-gtc"] == 2
        assert len(orders_with(sim, "life-gtc")) == 1


# -- REST faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (RestFaultKind.SERVER_ERROR, 503),
        (RestFaultKind.HTML, 502),
        (RestFaultKind.RATE_LIMITED, 429),
    ],
)
async def test_a_burst_of_failures_during_a_submit_places_exactly_one_order(
    kind: RestFaultKind, status: int
) -> None:
    """5xx, HTML pages and 429s on the way in: retried with the same id, one order results."""
    async with running() as (sim, endpoints, credentials), client(endpoints, credentials) as rest:
        sim.faults.fail_next(kind, 2, path_prefix="/api/v3/brokerage/orders", status=status)
        outcome = await rest.create_order(limit("burst-1", "50000"))
        assert isinstance(outcome, OrderAccepted)
        assert sim.create_requests["burst-1"] == 1  # the faulted attempts never reached it
        assert len(orders_with(sim, "burst-1")) == 1


async def test_failures_beyond_the_retries_are_reported_for_what_they_are() -> None:
    """A GET that keeps failing raises; a create that keeps getting 5xx is 'unknown', not rejected."""
    async with running() as (sim, endpoints, credentials), client(endpoints, credentials) as rest:
        sim.faults.fail_next(
            RestFaultKind.SERVER_ERROR, 10, path_prefix="/api/v3/brokerage/accounts"
        )
        with pytest.raises(ServerError):
            await rest.list_accounts()
        sim.faults.fail_next(
            RestFaultKind.RATE_LIMITED, 10, path_prefix="/api/v3/brokerage/products"
        )
        with pytest.raises(RateLimited):
            await rest.list_products()
        sim.faults.fail_next(RestFaultKind.SERVER_ERROR, 10, path_prefix="/api/v3/brokerage/orders")
        outcome = await rest.create_order(limit("maybe-1", "50000"))
        assert isinstance(outcome, OrderOutcomeUnknown)
        assert orders_with(sim, "maybe-1") == []


async def test_a_create_whose_reply_is_lost_is_resolved_without_a_duplicate() -> None:
    """The order is live but the reply never comes: the retry with the same id finds it."""
    async with (
        running() as (sim, endpoints, credentials),
        client(endpoints, credentials, attempt_timeout=0.5) as rest,
    ):
        sim.faults.lose_next_order_responses(1)
        outcome = await rest.create_order(limit("lost-1", "50000"))
        assert isinstance(outcome, OrderAccepted)
        assert sim.create_requests["lost-1"] == 2
        assert orders_with(sim, "lost-1") == [outcome.order_id]


async def test_a_hanging_exchange_makes_a_create_unknown_never_rejected() -> None:
    """No answer at all: the client cannot know, and says so."""
    async with (
        running() as (sim, endpoints, credentials),
        client(endpoints, credentials, attempt_timeout=0.3) as rest,
    ):
        sim.faults.fail_next(RestFaultKind.HANG, 10, path_prefix="/api/v3/brokerage/orders")
        outcome = await rest.create_order(limit("hang-1", "50000"))
        assert isinstance(outcome, OrderOutcomeUnknown)


async def test_a_revoked_key_is_unauthorized_on_rest() -> None:
    """The exchange's 401 is a definite refusal, raised as Unauthorized."""
    async with running() as (sim, endpoints, credentials), client(endpoints, credentials) as rest:
        assert await rest.get_key_permissions()
        sim.faults.revoke_key(_key_name(sim))
        with pytest.raises(Unauthorized):
            await rest.get_key_permissions()
        sim.faults.restore_key(_key_name(sim))
        assert await rest.get_key_permissions()


def _key_name(sim: Simulator) -> str:
    (name,) = sim._keys  # the one key generate_key() registered
    return name


# -- WebSocket faults ---------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.items: list[stream.StreamItem] = []

    async def __call__(self, item: stream.StreamItem) -> None:
        self.items.append(item)

    def count(self, kind: type) -> int:
        return sum(isinstance(i, kind) for i in self.items)

    def frames(self, channel: str) -> list[stream.Frame]:
        return [i for i in self.items if isinstance(i, stream.Frame) and i.channel == channel]

    async def wait(self, predicate: object, what: str, seconds: float = 10.0) -> None:
        with trio.move_on_after(seconds):
            while not predicate():  # type: ignore[operator]
                await trio.sleep(0.02)
            return
        raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def streaming(
    endpoints: Endpoints, credentials: Credentials, recorder: Recorder, **kwargs: object
) -> AsyncIterator[WebSocketClient]:
    ws = WebSocketClient(
        channels={"level2": ["BTC-USD"], "user": []},
        url=endpoints.ws_market_url,
        credentials=credentials,
        backoff=Backoff(min=0.05, max=0.2, jitter=0.0),
        rng=random.Random(0),
        **kwargs,  # type: ignore[arg-type]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(ws.run, recorder)
        yield ws
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("fault", ["drop", "close_1001", "close_1000"])
async def test_the_stream_reconnects_and_resubscribes_after_any_close(fault: str) -> None:
    """Including the orderly closes (1000, 1001) after which the official SDK just stops."""
    async with running() as (sim, endpoints, credentials):
        recorder = Recorder()
        async with streaming(endpoints, credentials, recorder):
            await recorder.wait(lambda: recorder.frames("l2_data"), "a first snapshot")
            {
                "drop": sim.faults.drop_connections,
                "close_1001": lambda: sim.faults.close_connections(1001),
                "close_1000": lambda: sim.faults.close_connections(1000),
            }[fault]()
            await recorder.wait(lambda: recorder.count(stream.Connected) == 2, "a reconnect")
            snapshots_before = len(recorder.frames("l2_data"))
            await recorder.wait(
                lambda: len(recorder.frames("l2_data")) > snapshots_before, "data after reconnect"
            )
        disconnected = [i for i in recorder.items if isinstance(i, stream.Disconnected)]
        assert len(disconnected) == 1
        expected_code = {"drop": 1011, "close_1001": 1001, "close_1000": 1000}[fault]
        assert disconnected[0].code == expected_code
        l2 = [f for f in recorder.frames("l2_data")]
        snapshots = [
            f
            for f in l2
            if isinstance(f.payload, stream.L2Data) and f.payload.events[0].type == "snapshot"
        ]
        assert len(snapshots) == 2  # a fresh snapshot after the reconnect


async def test_a_silent_stall_is_caught_by_the_watchdog() -> None:
    """No close, no frames: the watchdog declares the stream stale and reconnects."""
    async with running() as (sim, endpoints, credentials):
        recorder = Recorder()
        async with streaming(endpoints, credentials, recorder, stale_after=1.0):
            await recorder.wait(lambda: recorder.frames("heartbeats"), "a heartbeat")
            sim.faults.stall_connections()
            await recorder.wait(lambda: recorder.count(stream.StreamStale) == 1, "a stale report")
            await recorder.wait(lambda: recorder.count(stream.Connected) == 2, "a reconnect")
            sim.faults.resume_connections()
        stale = next(i for i in recorder.items if isinstance(i, stream.StreamStale))
        assert stale.silent_for >= 1.0
        assert recorder.count(stream.Connected) == 2


async def test_skipped_sequence_numbers_and_malformed_frames_are_reported_not_fatal() -> None:
    """A gap is reported (the book will resync); garbage is counted; the stream goes on."""
    async with running() as (sim, endpoints, credentials):
        recorder = Recorder()
        async with streaming(endpoints, credentials, recorder):
            await recorder.wait(lambda: recorder.frames("l2_data"), "a first snapshot")
            sim.faults.skip_sequence(5)
            await recorder.wait(lambda: recorder.count(stream.SequenceGap) == 1, "a gap report")
            sim.faults.inject_malformed(3)
            await recorder.wait(
                lambda: recorder.count(stream.MalformedFrame) >= 1, "malformed reports"
            )
            count = len(recorder.frames("heartbeats"))
            await recorder.wait(lambda: len(recorder.frames("heartbeats")) > count, "more frames")
        gap = next(i for i in recorder.items if isinstance(i, stream.SequenceGap))
        assert gap.received - gap.expected == 5
        assert recorder.count(stream.Connected) == 1


async def test_user_channel_fills_are_replayed_after_a_reconnect() -> None:
    """The replay fault re-sends fill updates: the consumer sees the same order update twice."""
    async with running() as (sim, endpoints, credentials), client(endpoints, credentials) as rest:
        sim.faults.set_replay_fills_on_reconnect(True)
        recorder = Recorder()
        async with streaming(endpoints, credentials, recorder):
            await recorder.wait(lambda: recorder.frames("user"), "the user snapshot")
            outcome = await rest.create_order(
                OrderRequest(
                    client_order_id="replay-1",
                    product_id="BTC-USD",
                    side=Side.BUY,
                    order_configuration=MarketIoc(quote_size=D("100")),
                )
            )
            assert isinstance(outcome, OrderAccepted)

            def updates_for_order() -> list[stream.UserOrder]:
                found = []
                for frame in recorder.frames("user"):
                    assert isinstance(frame.payload, stream.UserOrders)
                    for event in frame.payload.events:
                        found.extend(o for o in event.orders if o.order_id == outcome.order_id)
                return found

            await recorder.wait(lambda: updates_for_order(), "our order's update")
            before = len(updates_for_order())
            sim.faults.close_connections(1001)
            await recorder.wait(lambda: len(updates_for_order()) > before, "the replayed update")
        replayed = updates_for_order()
        assert replayed[-1].cumulative_quantity == replayed[0].cumulative_quantity
        assert len(sim.engine.fills("user-1", order_ids=[outcome.order_id])) >= 1


async def test_a_revoked_key_gets_an_authentication_error_frame() -> None:
    """The user channel refuses a revoked key; the client reports it and keeps trying."""
    async with running() as (sim, endpoints, credentials):
        recorder = Recorder()
        sim.faults.revoke_key(_key_name(sim))
        async with streaming(endpoints, credentials, recorder):
            await recorder.wait(lambda: recorder.count(stream.ErrorFrame) >= 1, "an error frame")
        error = next(i for i in recorder.items if isinstance(i, stream.ErrorFrame))
        assert error.message == "authentication failure"
