"""The live venue against the real simulator: in memory under a MockClock, and over loopback.

Nothing here is mocked: the venue talks to the simulator through the real REST and WebSocket
clients, and every check that matters for money is made against the simulator's own
records (its engine's orders and fills, the create requests it received per
``client_order_id``), not against what the venue believes.
"""

from __future__ import annotations

import collections
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from cjt_actors.channels import Outbox
from cjt_actors.coinbase_venue import (
    CoinbaseVenue,
    UserChannelState,
    VenueUnauthorized,
    order_request,
)
from cjt_actors.exchange.auth import Credentials
from cjt_actors.exchange.orders import (
    LimitGtc,
    MarketIoc,
    OrderAccepted,
    OrderRequest,
    Side,
)
from cjt_actors.exchange.ratelimit import RateLimiter
from cjt_actors.exchange.rest import RestClient, RetryPolicy
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.execution import ExecutionCore, ExecutorOutput
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import (
    FULLY_FILLED_CANCEL_REASON,
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    Fill,
    Liquidity,
    OrderState,
    OutcomeUnknown,
    Rejected,
    VenueOrderState,
)
from cjt_actors.order_messages import (
    CancelOrder,
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.policy import Backoff
from cjt_actors.sim.faults import RestFaultKind
from cjt_actors.sim.inmemory import IN_MEMORY_HOST, InMemoryExchange
from cjt_actors.sim.requestlog import RequestLog
from cjt_actors.sim.rest import PREFIX
from cjt_actors.sim.server import serve_simulator
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig
from cjt_actors.venue import VenueReport, VenueSignal, VenueSyncChanged

from .conftest import wait_until

D = Decimal
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the simulated exchange's virtual wall clock
PRODUCT = "BTC-USD"
ORDERS = PREFIX + "/orders"
FAST_RETRY = RetryPolicy(max_attempts=4, backoff=Backoff(min=0.01, max=0.05, jitter=0.0))
ONE_ATTEMPT = RetryPolicy(max_attempts=1)

# -- the stack -----------------------------------------------------------------------------------


class Reports:
    """The executor's side of the venue, reduced to a list (the outbox the venue writes to)."""

    def __init__(self) -> None:
        self.items: list[VenueReport] = []
        self.syncs: list[VenueSyncChanged] = []

    async def send(self, value: VenueSignal, /) -> None:
        await trio.lowlevel.checkpoint()
        if isinstance(value, VenueSyncChanged):
            self.syncs.append(value)
        else:
            self.items.append(value)

    def send_nowait(self, value: VenueSignal, /) -> None:
        raise trio.WouldBlock

    def close(self) -> None:
        """Nothing to release."""

    def fills(self) -> list[tuple[str, str]]:
        """(client_order_id, trade_id) of every fill reported, in order."""
        return [
            (r.client_order_id, r.event.trade_id) for r in self.items if isinstance(r.event, Fill)
        ]

    def fill_events(self) -> list[Fill]:
        return [r.event for r in self.items if isinstance(r.event, Fill)]

    def states(self, client_order_id: str) -> list[VenueOrderState]:
        return [
            r.event
            for r in self.items
            if r.client_order_id == client_order_id and isinstance(r.event, VenueOrderState)
        ]

    def statuses(self, client_order_id: str) -> list[str]:
        return [s.status for s in self.states(client_order_id)]


@attrs.define
class Stack:
    sim: Simulator
    exchange: InMemoryExchange
    credentials: Credentials
    key_name: str
    rest: RestClient
    venue: CoinbaseVenue
    nursery: trio.Nursery
    log: RequestLog  #: every REST request the simulator received
    reports: Reports = attrs.Factory(Reports)

    async def start(self, reports: Outbox[VenueReport] | None = None) -> None:
        await self.nursery.start(self.venue.run, reports or self.reports)

    def price(self, side: str, factor: str = "1") -> Decimal:
        """The best bid or ask, times ``factor``, on the price grid."""
        bid, ask = self.sim.engine.best_bid_ask(PRODUCT)
        assert bid is not None
        assert ask is not None
        level = bid if side == "bid" else ask
        return (level[0] * D(factor)).quantize(D("0.01"))

    def sim_fills(self) -> set[tuple[str, str]]:
        """(client_order_id, trade_id) of every fill the simulator recorded for the user."""
        fills = set()
        for fill in self.sim.engine.fills(DEFAULT_USER):
            order = self.sim.engine.get_order(DEFAULT_USER, fill.order_id)
            assert order is not None
            fills.add((order.client_order_id or order.order_id, fill.trade_id))
        return fills

    def orders_with(self, client_order_id: str) -> list[str]:
        return [
            o.order_id
            for o in self.sim.engine.list_orders(DEFAULT_USER)
            if o.client_order_id == client_order_id
        ]

    def open_sim_orders(self) -> list[str]:
        return [
            o.order_id
            for o in self.sim.engine.list_orders(DEFAULT_USER)
            if o.status.value in ("OPEN", "PENDING")
        ]


def rest_client(
    exchange: InMemoryExchange,
    credentials: Credentials,
    sim: Simulator,
    *,
    retry: RetryPolicy = FAST_RETRY,
    attempt_timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RestClient:
    return RestClient(
        exchange.rest_url,
        credentials=credentials,
        transport=transport or exchange.http_transport(),
        now=sim.epoch,
        retry=retry,
        attempt_timeout=attempt_timeout,
        rng=random.Random(0),
        rate_limiter=RateLimiter(
            penalty=Backoff(min=0.05, max=0.5, jitter=0.0), rng=random.Random(0)
        ),
    )


@asynccontextmanager
async def stack(
    *,
    user_channel: bool = True,
    retry: RetryPolicy = FAST_RETRY,
    attempt_timeout: float = 30.0,
    seed: int = 3,
    **venue_args: Any,
) -> AsyncIterator[Stack]:
    """The simulator in memory, the REST and user-channel clients on it, and a venue."""
    sim = Simulator(SimulatorConfig(seed=seed, start_epoch=EPOCH))
    credentials, key = sim.generate_key()
    exchange = InMemoryExchange(sim)
    log = RequestLog(sim.asgi)
    logged = httpx.ASGITransport(app=log, client=(IN_MEMORY_HOST, 50000))
    async with trio.open_nursery() as background:
        await background.start(sim.run_background)
        rest = rest_client(
            exchange,
            credentials,
            sim,
            retry=retry,
            attempt_timeout=attempt_timeout,
            transport=logged,
        )
        async with rest, trio.open_nursery() as nursery:
            channel = None
            if user_channel:
                channel = WebSocketClient(
                    channels={"user": []},
                    url=exchange.ws_user_url,
                    credentials=credentials,
                    connect=exchange.connect,
                    now=sim.epoch,
                    rng=random.Random(seed),
                )
            venue_args.setdefault("trust_after", 2.0)
            venue = CoinbaseVenue(rest, user_channel=channel, **venue_args)
            yield Stack(
                sim=sim,
                exchange=exchange,
                credentials=credentials,
                key_name=key["name"],
                rest=rest,
                venue=venue,
                nursery=nursery,
                log=log,
            )
            nursery.cancel_scope.cancel()  # the venue stops before its REST client closes
        background.cancel_scope.cancel()


async def eventually(condition: Callable[[], bool], what: str, within: float = 60.0) -> None:
    """Wait (in virtual time) until ``condition()`` holds; fail naming ``what`` if it never does."""
    with trio.move_on_after(within):
        while not condition():
            await trio.sleep(0.05)
        return
    raise AssertionError(f"{what}: not within {within} s of virtual time")


def order(
    coid: str,
    *,
    side: Side = Side.BUY,
    price: Decimal | None = None,
    size: str = "0.001",
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
) -> SubmitOrder:
    return SubmitOrder(
        strategy="test",
        client_order_id=coid,
        product_id=PRODUCT,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        size=D(size),
        limit_price=price,
        time_in_force=tif,
        post_only=post_only,
        at=0.0,
    )


# -- submit --------------------------------------------------------------------------------------


async def test_a_resting_order_is_accepted_reported_listed_and_looked_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack() as s:
        await s.start()
        price = s.price("bid", "0.95")
        outcome = await s.venue.submit(order("rest-1", price=price, post_only=True))
        assert isinstance(outcome, Accepted)
        assert s.orders_with("rest-1") == [outcome.order_id]
        assert s.sim.create_requests["rest-1"] == 1

        await eventually(lambda: "OPEN" in s.reports.statuses("rest-1"), "the OPEN update")
        (listed,) = [o for o in await s.venue.open_orders() if o.client_order_id == "rest-1"]
        assert listed.product_id == PRODUCT
        assert listed.state.order_id == outcome.order_id
        assert listed.state.status == "OPEN"
        assert listed.state.leaves_quantity == D("0.001")
        assert listed.state.cumulative_quantity == 0
        found = await s.venue.lookup("rest-1")
        assert found is not None
        assert found.state == attrs.evolve(listed.state, from_lookup=True)
        assert await s.venue.lookup("never-sent") is None
        stats = s.venue.statistics()
        assert (stats.submits, stats.accepted, stats.lookups) == (1, 1, 2)


async def test_a_crossing_post_only_order_is_rejected_with_the_venues_reason(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(user_channel=False) as s:
        outcome = await s.venue.submit(order("cross-1", price=s.price("ask"), post_only=True))
        assert isinstance(outcome, Rejected)
        assert outcome.reason.startswith("INVALID_LIMIT_PRICE_POST_ONLY: ")
        assert s.orders_with("cross-1") == []
        assert await s.venue.lookup("cross-1") is None
        assert s.venue.statistics().rejected == 1


@pytest.mark.parametrize(
    ("tif", "market", "configuration", "time_in_force"),
    [
        (TimeInForce.GTC, False, "LimitGtc", "GOOD_UNTIL_CANCELLED"),
        (TimeInForce.IOC, False, "SorLimitIoc", "IMMEDIATE_OR_CANCEL"),
        (TimeInForce.FOK, False, "LimitFok", "FILL_OR_KILL"),
        (TimeInForce.IOC, True, "MarketIoc", "IMMEDIATE_OR_CANCEL"),
        (TimeInForce.GTC, True, "MarketIoc", "IMMEDIATE_OR_CANCEL"),
    ],
)
async def test_each_order_type_is_placed_as_its_coinbase_configuration_and_fills(
    autojump_clock: trio.testing.MockClock,
    tif: TimeInForce,
    market: bool,
    configuration: str,
    time_in_force: str,
) -> None:
    async with stack(user_channel=False) as s:
        await s.start()
        price = None if market else s.price("ask", "1.01")
        outcome = await s.venue.submit(order("typed-1", price=price, tif=tif))
        assert isinstance(outcome, Accepted)
        placed = s.sim.engine.get_order(DEFAULT_USER, outcome.order_id)
        assert placed is not None
        assert type(placed.configuration).__name__ == configuration
        assert getattr(placed.configuration, "base_size", None) == D("0.001")
        assert placed.time_in_force.value == time_in_force
        assert placed.status.value == "FILLED"
        await eventually(
            lambda: bool(s.reports.fills()) and "FILLED" in s.reports.statuses("typed-1"),
            "the fill and the FILLED snapshot",
        )
        assert set(s.reports.fills()) == s.sim_fills()
        assert all(f.liquidity is Liquidity.TAKER for f in s.reports.fill_events())


async def test_an_order_coinbase_cannot_express_is_refused_without_being_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(user_channel=False) as s:
        outcome = await s.venue.submit(
            order("pioc-1", price=s.price("bid"), tif=TimeInForce.IOC, post_only=True)
        )
        assert isinstance(outcome, Rejected)
        assert outcome.reason.startswith("UNSUPPORTED_ORDER_CONFIGURATION: not sent: ")
        assert s.sim.create_requests["pioc-1"] == 0


async def test_a_lost_create_response_is_unknown_and_the_lookup_finds_the_live_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The order is live, the answer never comes: UNKNOWN, then the venue's records decide."""
    async with stack(user_channel=False, retry=ONE_ATTEMPT, attempt_timeout=2.0) as s:
        s.sim.faults.lose_next_order_responses(1)
        outcome = await s.venue.submit(order("lost-1", price=s.price("bid", "0.9")))
        assert isinstance(outcome, OutcomeUnknown)
        assert "no answer within 2 s" in outcome.reason
        (order_id,) = s.orders_with("lost-1")
        found = await s.venue.lookup("lost-1")  # no order_id known: the listing is scanned
        assert found is not None
        assert found.state.order_id == order_id
        assert found.state.status == "OPEN"
        assert found.state.from_lookup
        # Re-sending under the same id answers with the original order, places nothing new.
        again = await s.venue.submit(order("lost-1", price=s.price("bid", "0.9")))
        assert again == Accepted(order_id=order_id)
        assert s.orders_with("lost-1") == [order_id]
        assert s.venue.statistics().unknown_outcomes == 1


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (RestFaultKind.SERVER_ERROR, 503),
        (RestFaultKind.SERVER_ERROR, 500),
        (RestFaultKind.HTML, 502),
        (RestFaultKind.RATE_LIMITED, 429),
        (RestFaultKind.HTML, 429),
        (RestFaultKind.HANG, None),
    ],
)
async def test_server_errors_rate_limits_and_hangs_on_create_are_never_rejections(
    autojump_clock: trio.testing.MockClock, kind: RestFaultKind, status: int | None
) -> None:
    async with stack(user_channel=False, attempt_timeout=1.0) as s:
        s.sim.faults.fail_next(kind, FAST_RETRY.max_attempts, path_prefix=ORDERS, status=status)
        outcome = await s.venue.submit(order("burst-1", price=s.price("bid", "0.9")))
        assert isinstance(outcome, OutcomeUnknown)
        assert s.orders_with("burst-1") == []
        assert s.sim.faults.pending_rest_faults == 0
        # A shorter burst is absorbed by the client's retries: one order, never two.
        s.sim.faults.fail_next(kind, 2, path_prefix=ORDERS, status=status)
        retried = await s.venue.submit(order("burst-2", price=s.price("bid", "0.9")))
        assert isinstance(retried, Accepted)
        assert s.orders_with("burst-2") == [retried.order_id]
        stats = s.venue.statistics()
        assert (stats.unknown_outcomes, stats.rejected, stats.accepted) == (1, 0, 1)


@pytest.mark.parametrize(("status", "auth"), [(400, 0), (403, 1), (404, 0)])
async def test_a_refusal_before_the_order_could_exist_is_a_rejection(
    autojump_clock: trio.testing.MockClock, status: int, auth: int
) -> None:
    async with stack(user_channel=False) as s:
        s.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, 1, path_prefix=ORDERS, status=status)
        outcome = await s.venue.submit(order("refused-1", price=s.price("bid", "0.9")))
        assert isinstance(outcome, Rejected)
        assert outcome.reason.startswith(f"HTTP {status}: POST {ORDERS} -> {status}")
        assert s.orders_with("refused-1") == []
        assert s.venue.statistics().auth_failures == auth


async def test_a_revoked_key_rejects_submits_and_ends_the_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """401s on every call: submits are refused (nothing placed), and the run gives up."""
    async with stack(user_channel=False) as s:
        s.sim.faults.revoke_key(s.key_name)
        outcome = await s.venue.submit(order("revoked-1", price=s.price("bid", "0.9")))
        assert isinstance(outcome, Rejected)
        assert outcome.reason.startswith("HTTP 401: ")
        run = CoinbaseVenue(s.rest, user_channel=None, auth_failure_limit=3)
        with pytest.RaisesGroup(VenueUnauthorized, flatten_subgroups=True) as caught:
            await run.run(Reports())
        assert "refused the key 3 times in a row" in str(caught.value.exceptions[0])
        assert run.statistics().poll_errors == 3
        assert run.statistics().auth_failures == 3


# -- cancel --------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_channel", [True, False])
async def test_a_cancel_is_acknowledged_and_then_reported_cancelled(
    autojump_clock: trio.testing.MockClock, user_channel: bool
) -> None:
    async with stack(user_channel=user_channel) as s:
        await s.start()
        outcome = await s.venue.submit(order("cx-1", price=s.price("bid", "0.9")))
        assert isinstance(outcome, Accepted)
        assert await s.venue.cancel("cx-1", outcome.order_id) == CancelAcknowledged()
        await eventually(lambda: "CANCELLED" in s.reports.statuses("cx-1"), "the CANCELLED report")
        cancelled = s.sim.engine.get_order(DEFAULT_USER, outcome.order_id)
        assert cancelled is not None
        assert cancelled.status.value == "CANCELLED"
        # A second cancel: the venue's own reason, which the executor re-checks by lookup.
        again = await s.venue.cancel("cx-1", outcome.order_id)
        assert again == CancelFailed(reason="DUPLICATE_CANCEL_REQUEST")
        stats = s.venue.statistics()
        assert (stats.cancels, stats.cancels_acknowledged, stats.cancels_failed) == (2, 1, 1)


async def test_a_cancel_without_an_order_id_looks_the_order_up_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(user_channel=False) as s:
        outcome = await s.venue.submit(order("cx-2", price=s.price("bid", "0.9")))
        assert isinstance(outcome, Accepted)
        stranger = CoinbaseVenue(s.rest, user_channel=None)  # knows no order id
        assert await stranger.cancel("cx-2", "") == CancelAcknowledged()
        cancelled = s.sim.engine.get_order(DEFAULT_USER, outcome.order_id)
        assert cancelled is not None
        assert cancelled.status.value == "CANCELLED"
        missing = await stranger.cancel("never-sent", "")
        assert isinstance(missing, CancelFailed)
        assert missing.reason.startswith("UNKNOWN_CANCEL_ORDER: ")


async def test_a_cancel_of_a_filled_order_fails_as_fully_filled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack() as s:
        await s.start()
        outcome = await s.venue.submit(order("cx-3", price=s.price("ask", "1.01")))
        assert isinstance(outcome, Accepted)
        failed = await s.venue.cancel("cx-3", outcome.order_id)
        assert failed == CancelFailed(reason=FULLY_FILLED_CANCEL_REASON)
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "the order's fills")


async def test_a_cancel_that_gets_no_answer_is_an_ambiguous_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(user_channel=False) as s:
        outcome = await s.venue.submit(order("cx-4", price=s.price("bid", "0.9")))
        assert isinstance(outcome, Accepted)
        s.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, 10, path_prefix=ORDERS + "/batch")
        failed = await s.venue.cancel("cx-4", outcome.order_id)
        assert isinstance(failed, CancelFailed)
        assert failed.reason.startswith("UNKNOWN_CANCEL_FAILURE: POST ")
        s.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, 10, path_prefix=ORDERS + "/historical")
        no_lookup = await CoinbaseVenue(s.rest, user_channel=None).cancel("cx-4", "")
        assert isinstance(no_lookup, CancelFailed)
        assert no_lookup.reason.startswith("UNKNOWN_CANCEL_FAILURE: lookup failed: ")
        still = s.sim.engine.get_order(DEFAULT_USER, outcome.order_id)
        assert still is not None
        assert still.status.value == "OPEN"


# -- lookups and listings ------------------------------------------------------------------------


async def test_a_lookup_scans_the_newest_orders_page_by_page_up_to_its_depth(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(user_channel=False) as s:
        target = await s.venue.submit(order("deep-1", price=s.price("bid", "0.8")))
        assert isinstance(target, Accepted)
        for index in range(105):  # more than one page of newer orders
            product = "ETH-USD" if index % 2 else PRODUCT
            bid, _ = s.sim.engine.best_bid_ask(product)
            assert bid is not None
            price = (bid[0] * D("0.8")).quantize(D("0.01"))
            placed = await s.rest.create_order(
                OrderRequest(
                    client_order_id=f"filler-{index}",
                    product_id=product,
                    side=Side.BUY,
                    order_configuration=LimitGtc(base_size=D("0.001"), limit_price=price),
                )
            )
            assert isinstance(placed, OrderAccepted)
        deep = CoinbaseVenue(s.rest, user_channel=None, lookup_depth=500)
        found = await deep.lookup("deep-1")
        assert found is not None
        assert found.state.order_id == target.order_id
        shallow = CoinbaseVenue(s.rest, user_channel=None, lookup_depth=50)
        assert await shallow.lookup("deep-1") is None
        # The venue that placed it knows its product: 53 newer BTC-USD orders only.
        assert (await s.venue.lookup("deep-1")) is not None
        listed = await s.venue.open_orders()
        assert len(listed) == 106  # every page
        assert {o.client_order_id for o in listed} >= {"deep-1", "filler-0", "filler-104"}


# -- fills and the user channel ------------------------------------------------------------------


async def trade(s: Stack, count: int, prefix: str) -> None:
    """``count`` taker orders through the venue, alternating buys and sells."""
    for index in range(count):
        side = Side.BUY if index % 2 == 0 else Side.SELL
        outcome = await s.venue.submit(order(f"{prefix}-{index}", side=side, size="0.002"))
        assert isinstance(outcome, Accepted)


@pytest.mark.parametrize("user_channel", [True, False])
async def test_every_fill_is_reported_once_with_the_simulators_trade_id(
    autojump_clock: trio.testing.MockClock, user_channel: bool
) -> None:
    async with stack(user_channel=user_channel, poll_interval=1.0, fast_poll_interval=0.25) as s:
        await s.start()
        await trade(s, 6, "fill")
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "every fill")
        await trio.sleep(30)  # many polls later, nothing is reported twice
        reported = collections.Counter(s.reports.fills())
        assert set(reported) == s.sim_fills()
        assert set(reported.values()) == {1}
        sim_fills = {f.trade_id: f for f in s.sim.engine.fills(DEFAULT_USER)}
        for fill in s.reports.fill_events():
            truth = sim_fills[fill.trade_id]
            assert (fill.price, fill.size, fill.fee) == (truth.price, truth.size, truth.commission)
        stats = s.venue.statistics()
        assert stats.fills_reported == len(sim_fills)
        assert stats.fill_debts_open == 0
        expected = UserChannelState.TRUSTED if user_channel else UserChannelState.DISABLED
        assert stats.user_channel is expected


async def test_fills_of_other_clients_orders_are_reported_under_their_client_order_id(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An order placed behind the venue's back: its fills still reach the executor."""
    async with stack(user_channel=False) as s:
        await s.start()
        placed = await s.rest.create_order(
            OrderRequest(
                client_order_id="elsewhere-1",
                product_id=PRODUCT,
                side=Side.BUY,
                order_configuration=MarketIoc(base_size=D("0.003")),
            )
        )
        assert isinstance(placed, OrderAccepted)
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "the foreign fills")
        assert {coid for coid, _ in s.reports.fills()} == {"elsewhere-1"}


async def test_a_dropped_user_channel_with_replayed_fills_still_reports_every_fill(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(trust_after=3.0) as s:
        s.sim.faults.set_replay_fills_on_reconnect(True)
        await s.start()
        await eventually(lambda: s.venue.user_channel_state is UserChannelState.TRUSTED, "trust")
        await trade(s, 3, "before")
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "the first fills")
        polls = s.venue.statistics().polls
        s.sim.faults.drop_connections(endpoint="user")
        await eventually(lambda: s.venue.user_channel_state is not UserChannelState.TRUSTED, "drop")
        await trade(s, 3, "during")  # while the channel reconnects
        await eventually(lambda: s.venue.statistics().user_channel_reconnects == 1, "the reconnect")
        await eventually(lambda: s.venue.user_channel_state is UserChannelState.TRUSTED, "trust")
        assert s.venue.statistics().polls >= polls + 4  # fast polls while it was not trusted
        await trade(s, 2, "after")
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "every fill")
        # The replay re-sent the fill updates: the executor sees repeated snapshots, and
        # every fill exactly once from this venue (it deduplicates by trade_id anyway).
        assert s.reports.statuses("before-0").count("FILLED") >= 2
        assert set(collections.Counter(s.reports.fills()).values()) == {1}
        assert len(s.reports.fills()) == len(s.sim.engine.fills(DEFAULT_USER))


@pytest.mark.parametrize("fault", ["gap", "malformed", "close"])
async def test_a_disturbed_user_channel_is_distrusted_until_it_settles(
    autojump_clock: trio.testing.MockClock, fault: str
) -> None:
    async with stack(trust_after=5.0, poll_interval=10.0) as s:
        await s.start()
        await eventually(lambda: s.venue.user_channel_state is UserChannelState.TRUSTED, "trust")
        polls = s.venue.statistics().polls
        injected_at = trio.current_time()
        if fault == "gap":
            s.sim.faults.skip_sequence(3, endpoint="user")
        elif fault == "malformed":
            s.sim.faults.inject_malformed(1, endpoint="user")
        else:
            s.sim.faults.close_connections(1001, endpoint="user")
        await eventually(
            lambda: s.venue.user_channel_state is not UserChannelState.TRUSTED, "distrust", 3.0
        )
        await eventually(lambda: s.venue.user_channel_state is UserChannelState.TRUSTED, "trust")
        assert trio.current_time() - injected_at >= 5.0
        assert s.venue.statistics().polls >= polls + 8  # every 0.5 s meanwhile, not every 10 s
        # Reconciling from the disturbance until a complete poll after it; each pair once.
        assert [sync.reconciling for sync in s.reports.syncs][:2] == [True, False]
        assert all(sync.at >= injected_at for sync in s.reports.syncs)
        expected = {"gap": "sequence gap", "malformed": "malformed frame", "close": "disconnected"}
        assert expected[fault] in s.reports.syncs[0].trigger
        assert s.reports.syncs[-1].reconciling is False
        stats = s.venue.statistics()
        if fault == "close":
            assert stats.user_channel_reconnects == 1
        else:
            assert stats.user_channel_disruptions >= 1


async def test_poll_errors_are_counted_and_retried_and_lose_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(user_channel=False) as s:
        await s.start()
        s.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, 12, path_prefix=ORDERS + "/historical")
        await trade(s, 2, "err")
        await eventually(lambda: s.venue.statistics().poll_errors >= 3, "failed polls")
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "every fill")
        assert s.sim.faults.pending_rest_faults == 0


async def test_a_new_run_takes_over_from_the_one_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One executor incarnation after another: the new one hears everything again."""
    async with stack() as s:
        await s.start()
        await trade(s, 2, "first")
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "the first fills")
        second = Reports()
        await s.start(second)  # the first run ends; the WebSocket client is not run twice
        await trade(s, 2, "second")
        await eventually(lambda: set(second.fills()) == s.sim_fills(), "every fill, again")
        assert len(s.reports.fills()) < len(second.fills())
        assert s.venue.statistics().user_channel_connects == 2


async def test_a_fresh_venue_finds_the_fills_of_an_order_that_filled_while_it_was_down(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Recovery's lookup shows a filled size: the order's own fills are fetched, however old."""
    async with stack(user_channel=False) as s:
        outcome = await s.venue.submit(order("old-1", size="0.5"))  # several price levels
        assert isinstance(outcome, Accepted)
        old_fills = {f.trade_id for f in s.sim.engine.fills(DEFAULT_USER)}
        assert len(old_fills) >= 2
        await trade(s, 4, "newer")  # newer fills push it off the first page
        fresh = CoinbaseVenue(s.rest, user_channel=None, fills_lookback=2)
        reports = Reports()
        await s.nursery.start(fresh.run, reports)
        found = await fresh.lookup("old-1")
        assert found is not None
        assert found.state.cumulative_quantity == D("0.5")
        await eventually(
            lambda: {t for c, t in reports.fills() if c == "old-1"} == old_fills, "old fills"
        )


async def test_more_new_fills_than_a_poll_reads_are_caught_by_the_orders_fill_debts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack(user_channel=False, fills_lookback=1, poll_interval=1.0) as s:
        await s.start()
        await trio.sleep(1)
        await trade(s, 60, "flood")  # no virtual time passes: one poll sees them all
        await eventually(lambda: set(s.reports.fills()) == s.sim_fills(), "every fill")
        assert set(collections.Counter(s.reports.fills()).values()) == {1}


# -- the executor core on the live venue ---------------------------------------------------------


class CoreSink:
    """The executor actor's report sink, reduced: each report is applied (and journaled)."""

    def __init__(self, core: ExecutionCore, publish: Callable[[ExecutorOutput], Any]) -> None:
        self.core = core
        self.publish = publish

    async def send(self, value: VenueSignal, /) -> None:
        if isinstance(value, VenueSyncChanged):
            await self.core.on_sync(value, self.publish)
        else:
            await self.core.on_report(value, self.publish)

    def send_nowait(self, value: VenueSignal, /) -> None:
        raise trio.WouldBlock

    def close(self) -> None:
        """Nothing to release."""


async def test_the_execution_core_trades_cancels_and_flattens_on_the_live_venue(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Submit, fill, partial fill then cancel, emergency cancel-all: the journal holds each
    simulator fill exactly once and the simulator is left with no open order."""
    published: list[ExecutorOutput] = []

    async def publish(event: ExecutorOutput) -> None:
        await trio.lowlevel.checkpoint()
        published.append(event)

    async with (
        stack() as s,
        await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True) as journal,
    ):
        core = ExecutionCore(s.venue, journal)
        recovered = await core.recover(publish)
        assert recovered.replayed_orders == 0
        await s.start(CoreSink(core, publish))
        bid, ask = s.price("bid"), s.price("ask")
        level = s.sim.engine.best_bid_ask(PRODUCT)[1]
        assert level is not None
        partial_size = str((level[1] * 2).quantize(D("0.00000001")))
        intents = [
            order("core-rest-1", price=(bid * D("0.9")).quantize(D("0.01")), post_only=True),
            order("core-rest-2", side=Side.SELL, price=(ask * D("1.1")).quantize(D("0.01"))),
            order("core-take-1", size="0.01"),
            order("core-part-1", price=ask, size=partial_size),
        ]
        for intent in intents:
            await core.submit(intent, publish)
        part = core.order("core-part-1")
        assert part is not None
        assert part.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
        await core.cancel(
            CancelOrder(strategy="test", client_order_id="core-part-1", reason="test", at=0.0),
            publish,
        )
        await eventually(
            lambda: part.state is OrderState.CANCELLED and not part.missing_fill_size,
            "the partially filled order cancelled, with all its fills",
        )
        assert 0 < part.filled_size < part.size
        at_venue = s.sim.engine.get_order(DEFAULT_USER, part.order_id)
        assert at_venue is not None
        assert part.filled_size == at_venue.filled_size
        taker = core.order("core-take-1")
        assert taker is not None
        await eventually(lambda: taker.state is OrderState.FILLED, "the taker order filled")

        finished = await core.emergency_cancel_all()
        assert finished.open_before == 2
        assert finished.remaining == 0
        assert s.open_sim_orders() == []

        entries = await journal.read(kinds=(OrderFilled,))
        journaled = [
            (m.client_order_id, m.trade_id) for _, _, m in entries if isinstance(m, OrderFilled)
        ]
        assert len(journaled) == len(entries)
        assert sorted(journaled) == sorted(s.sim_fills())
        assert len(journaled) == len(s.sim.engine.fills(DEFAULT_USER))
        for coid in ("core-rest-1", "core-rest-2"):
            record = core.order(coid)
            assert record is not None
            assert s.sim.create_requests[coid] == 1
        assert all(s.sim.create_requests[i.client_order_id] == 1 for i in intents)


async def test_the_emergency_cancels_130_orders_in_batches_of_at_most_100(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Coinbase refuses more than 100 ids per batch_cancel (so does the simulator): the
    emergency step sends two requests, not 130 and not one, and journals every order's end."""
    async with (
        stack(poll_interval=30.0, fast_poll_interval=15.0) as s,
        await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True) as journal,
    ):
        core = ExecutionCore(s.venue, journal)
        await core.recover(_publish_nothing)
        await s.start(CoreSink(core, _publish_nothing))
        far = (s.price("bid") * D("0.5")).quantize(D("0.01"))
        for n in range(130):
            await core.submit(order(f"many-{n}", price=far, post_only=True), _publish_nothing)
        assert len(s.open_sim_orders()) == 130
        batches: list[int] = []
        engine_cancel = s.sim.engine.cancel

        def recording_cancel(user_id: str, order_ids: Sequence[str], *, now: float) -> Any:
            if user_id == DEFAULT_USER:  # the synthetic market cancels its own orders too
                batches.append(len(order_ids))
            return engine_cancel(user_id, order_ids, now=now)

        s.sim.engine.cancel = recording_cancel  # type: ignore[method-assign]
        finished = await core.emergency_cancel_all()
        assert (finished.open_before, finished.remaining, finished.attempts) == (130, 0, 1)
        assert sorted(batches) == [30, 100], batches
        assert s.open_sim_orders() == []
        # Polling is slow here (15 s): the final lookups still journal every order's end.
        assert core.working_orders() == []
        states = {o.state for o in (core.order(f"many-{n}") for n in range(130)) if o}
        assert states == {OrderState.CANCELLED}


async def test_a_poll_reads_a_hundred_cancelled_orders_back_in_four_listings_not_100_gets(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The emergency's case when no CANCELLED update comes (no user channel, or not
    subscribed yet): the orders that left the open listing are read back 25 per filtered
    listing. One ``GET`` each, at 30 requests/s, made the emergency last over three seconds."""
    async with stack(user_channel=False) as s:
        far = (s.price("bid") * D("0.5")).quantize(D("0.01"))
        pairs = []
        for n in range(100):
            outcome = await s.venue.submit(order(f"hundred-{n}", price=far, post_only=True))
            assert isinstance(outcome, Accepted)
            pairs.append((f"hundred-{n}", outcome.order_id))
        assert set(await s.venue.cancel_batch(pairs)) == {CancelAcknowledged()}
        assert s.open_sim_orders() == []
        first = len(s.log.requests)
        await s.venue.settle(s.reports)
        listing, fills = ORDERS + "/historical/batch", ORDERS + "/historical/fills"
        assert [r.path for r in s.log.requests[first:]] == [listing] * (1 + 4) + [fills]
        for coid, order_id in pairs:
            assert s.reports.statuses(coid) == ["CANCELLED"]
            simulated = s.sim.engine.get_order(DEFAULT_USER, order_id)
            assert simulated is not None
            assert simulated.status.value == "CANCELLED"
        # Ended, so no longer watched: the next poll lists no orders at all.
        first = len(s.log.requests)
        await s.venue.settle(s.reports)
        assert [r.path for r in s.log.requests[first:]] == [fills]


async def test_a_batch_cancel_answers_every_pair_even_when_a_request_fails(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with stack() as s:
        await s.start()
        far = (s.price("bid") * D("0.5")).quantize(D("0.01"))
        first = await s.venue.submit(order("batch-1", price=far))
        second = await s.venue.submit(order("batch-2", price=far))
        assert isinstance(first, Accepted)
        assert isinstance(second, Accepted)
        # batch-2 without its order_id: looked up, then cancelled on its own.
        outcomes = await s.venue.cancel_batch(
            [("batch-1", first.order_id), ("batch-2", ""), ("never-sent", "")]
        )
        assert outcomes[:2] == (CancelAcknowledged(), CancelAcknowledged())
        assert isinstance(outcomes[2], CancelFailed)
        assert outcomes[2].reason.startswith("UNKNOWN_CANCEL_ORDER")
        third = await s.venue.submit(order("batch-3", price=far))
        assert isinstance(third, Accepted)
        s.sim.faults.fail_next(
            RestFaultKind.SERVER_ERROR,
            FAST_RETRY.max_attempts,
            path_prefix="/api/v3/brokerage/orders/batch_cancel",
        )
        [failed] = await s.venue.cancel_batch([("batch-3", third.order_id)])
        assert isinstance(failed, CancelFailed)
        assert failed.reason.startswith("UNKNOWN_CANCEL_FAILURE")  # ambiguous: re-read
        assert s.open_sim_orders() == [third.order_id]


async def test_recovery_finds_the_fills_of_an_order_that_ended_before_its_fills_were_seen(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Killed after the venue said FILLED and before its fills were read: the journal has
    the order FILLED with no fill. Recovery reads the order, so the venue goes after its
    fills even though newer fills push them off the recent-fills page."""
    async with (
        stack(user_channel=False) as s,
        await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True) as journal,
    ):
        taker = order("ended-early", size="0.01")
        accepted = await s.rest.create_order(order_request(taker))
        assert isinstance(accepted, OrderAccepted)
        await journal.append(taker, at=0.0)
        await journal.append(
            OrderUpdated(
                strategy="test",
                client_order_id="ended-early",
                order_id=accepted.order_id,
                product_id=PRODUCT,
                side=Side.BUY,
                order_type=OrderType.MARKET,
                size=D("0.01"),
                limit_price=None,
                previous=OrderState.SUBMITTED,
                state=OrderState.FILLED,
                filled_size=D(0),
                average_price=None,
                reason="",
                at=0.0,
            ),
            at=0.0,
        )
        for n in range(3):  # newer fills of someone else's orders fill the recent page
            assert isinstance(
                await s.rest.create_order(order_request(order(f"other-{n}", size="0.001"))),
                OrderAccepted,
            )
        venue = CoinbaseVenue(s.rest, user_channel=None, fills_lookback=1)
        core = ExecutionCore(venue, journal)
        report = await core.recover(_publish_nothing)
        assert report.fills_sought == ("ended-early",)
        await s.nursery.start(venue.run, CoreSink(core, _publish_nothing))
        truth = {
            f.trade_id for f in s.sim.engine.fills(DEFAULT_USER) if f.order_id == accepted.order_id
        }
        assert truth

        async def journaled() -> set[str]:
            entries = await journal.read(kinds=(OrderFilled,))
            return {
                m.trade_id
                for _, _, m in entries
                if isinstance(m, OrderFilled) and m.client_order_id == "ended-early"
            }

        with trio.fail_after(30):
            while await journaled() != truth:
                await trio.sleep(0.5)
        recovered = core.order("ended-early")
        assert recovered is not None
        assert recovered.filled_size == D("0.01")


async def _publish_nothing(_event: ExecutorOutput) -> None:
    await trio.lowlevel.checkpoint()


# -- over loopback -------------------------------------------------------------------------------


async def test_the_live_venue_over_loopback_sockets() -> None:
    """Real sockets and real time: submit, OPEN update, fills, cancel, a lost response."""
    sim = Simulator(SimulatorConfig(tick=0.05))
    credentials, _ = sim.generate_key()
    async with serve_simulator(sim) as endpoints:
        rest = RestClient(
            endpoints.rest_url,
            credentials=credentials,
            retry=FAST_RETRY,
            attempt_timeout=0.5,
            rng=random.Random(0),
        )
        channel = WebSocketClient(
            channels={"user": []},
            url=endpoints.ws_user_url,
            credentials=credentials,
            rng=random.Random(0),
        )
        venue = CoinbaseVenue(
            rest, user_channel=channel, poll_interval=1.0, fast_poll_interval=0.1, trust_after=0.5
        )
        reports = Reports()
        async with rest, trio.open_nursery() as nursery:
            await nursery.start(venue.run, reports)
            bid, _ = sim.engine.best_bid_ask(PRODUCT)
            assert bid is not None
            price = (bid[0] * D("0.9")).quantize(D("0.01"))
            resting = await venue.submit(order("loop-rest", price=price, post_only=True))
            assert isinstance(resting, Accepted)
            await wait_until(lambda: "OPEN" in reports.statuses("loop-rest"), "the OPEN update")
            taken = await venue.submit(order("loop-take", size="0.01"))
            assert isinstance(taken, Accepted)
            assert await venue.cancel("loop-rest", resting.order_id) == CancelAcknowledged()
            await wait_until(lambda: "CANCELLED" in reports.statuses("loop-rest"), "CANCELLED")

            sim.faults.lose_next_order_responses(FAST_RETRY.max_attempts)
            lost = await venue.submit(order("loop-lost", price=price))
            assert isinstance(lost, OutcomeUnknown)
            found = await venue.lookup("loop-lost")
            assert found is not None
            assert found.state.status == "OPEN"
            assert sim.create_requests["loop-lost"] == FAST_RETRY.max_attempts
            assert (
                len(
                    [
                        o
                        for o in sim.engine.list_orders(DEFAULT_USER)
                        if o.client_order_id == "loop-lost"
                    ]
                )
                == 1
            )

            def reported_all() -> bool:
                truth = {f.trade_id for f in sim.engine.fills(DEFAULT_USER)}
                return bool(truth) and {t for _, t in reports.fills()} == truth

            await wait_until(reported_all, "every fill")
            assert {c for c, _ in reports.fills()} == {"loop-take"}
            assert venue.statistics().user_channel_connects == 1
            nursery.cancel_scope.cancel()
