"""The live venue's rules that the simulator cannot exercise: arguments, the order mapping,
and odd wire answers (fills in quote units, reversals, orders that vanish, cancel answers
that do not name the order).

The venue is tested against the real simulator in ``tests/integration/test_coinbase_venue.py``;
here a small fake Coinbase sits at the HTTP seam (``httpx.MockTransport``) and answers what
the real exchange may send but the simulator never does.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.asymmetric import ec

from cjt_actors.coinbase_venue import (
    CoinbaseVenue,
    CoinbaseVenueStatistics,
    UserChannelState,
    order_request,
)
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.auth import Credentials
from cjt_actors.exchange.orders import LimitFok, LimitGtc, LimitIoc, MarketIoc, Side
from cjt_actors.exchange.rest import RestClient, RetryPolicy
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.lifecycle import (
    CancelAcknowledged,
    CancelFailed,
    Fill,
    Liquidity,
    Rejected,
    VenueOrderState,
)
from cjt_actors.order_messages import OrderType, SubmitOrder, TimeInForce
from cjt_actors.venue import VenueReport, VenueSignal

D = Decimal
API = "/api/v3/brokerage"
CREDENTIALS = Credentials(
    "organizations/11111111-2222-3333-4444-555555555555/apiKeys/66666666-7777",
    ec.generate_private_key(ec.SECP256R1()),
)


def submit(
    *,
    order_type: OrderType = OrderType.LIMIT,
    price: str | None = "100",
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    size: str = "0.5",
) -> SubmitOrder:
    return SubmitOrder(
        strategy="s",
        client_order_id="c-1",
        product_id="BTC-USD",
        side=Side.SELL,
        order_type=order_type,
        size=D(size),
        limit_price=None if price is None else D(price),
        time_in_force=tif,
        post_only=post_only,
        at=0.0,
    )


# -- the order mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "configuration"),
    [
        (submit(post_only=True), LimitGtc(base_size=D("0.5"), limit_price=D(100), post_only=True)),
        (submit(), LimitGtc(base_size=D("0.5"), limit_price=D(100))),
        (submit(tif=TimeInForce.IOC), LimitIoc(base_size=D("0.5"), limit_price=D(100))),
        (submit(tif=TimeInForce.FOK), LimitFok(base_size=D("0.5"), limit_price=D(100))),
        (submit(order_type=OrderType.MARKET, price=None), MarketIoc(base_size=D("0.5"))),
        (
            submit(order_type=OrderType.MARKET, price=None, tif=TimeInForce.IOC),
            MarketIoc(base_size=D("0.5")),
        ),
    ],
)
def test_each_intent_becomes_its_coinbase_configuration(
    order: SubmitOrder, configuration: object
) -> None:
    request = order_request(order)
    assert request.order_configuration == configuration
    assert (request.client_order_id, request.product_id, request.side) == (
        "c-1",
        "BTC-USD",
        Side.SELL,
    )


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (submit(post_only=True, tif=TimeInForce.IOC), "no post-only ioc limit order"),
        (submit(post_only=True, tif=TimeInForce.FOK), "no post-only fok limit order"),
        (submit(order_type=OrderType.MARKET, price=None, post_only=True), "post_only=True"),
        (submit(order_type=OrderType.MARKET, price=None, tif=TimeInForce.FOK), "fok"),
        (submit(order_type=OrderType.MARKET), "limit_price=100"),
        (submit(price=None), "a limit order needs a limit_price"),
        (submit(size="0"), "base_size: must be a finite decimal > 0"),
    ],
)
def test_orders_coinbase_has_no_configuration_for_are_refused(
    order: SubmitOrder, message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message):
        order_request(order)


# -- construction --------------------------------------------------------------------------------


def rest(transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> RestClient:
    kwargs.setdefault("credentials", CREDENTIALS)
    return RestClient(
        "http://127.0.0.1",
        transport=transport,
        retry=RetryPolicy(max_attempts=1),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"poll_interval": 0}, "poll_interval: must be a number of seconds > 0"),
        ({"fast_poll_interval": True}, "fast_poll_interval: must be a number"),
        ({"poll_interval": 1.0, "fast_poll_interval": 2.0}, "must not exceed poll_interval"),
        ({"trust_after": float("inf")}, "trust_after"),
        ({"fills_lookback": 0}, "fills_lookback: must be an int >= 1"),
        ({"lookup_depth": 1.5}, "lookup_depth"),
        ({"auth_failure_limit": False}, "auth_failure_limit"),
        ({"max_fill_fetches": -1}, "max_fill_fetches"),
        ({"name": ""}, "name: must be a non-empty string"),
    ],
)
def test_malformed_arguments_are_refused_by_name(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        CoinbaseVenue(rest(), user_channel=None, **arguments)


def test_the_rest_client_and_the_user_channel_are_checked() -> None:
    with pytest.raises(InvalidSpec, match="rest: must be a RestClient, got str"):
        CoinbaseVenue("https://api.coinbase.com", user_channel=None)  # type: ignore[arg-type]
    market_only = WebSocketClient(channels={"level2": ["BTC-USD"]})
    with pytest.raises(InvalidSpec, match="does not subscribe to 'user'"):
        CoinbaseVenue(rest(), user_channel=market_only)


def test_a_new_venue_has_counted_nothing() -> None:
    venue = CoinbaseVenue(rest(), user_channel=None, name="cb-test")
    assert venue.name == "cb-test"
    assert repr(venue) == "<CoinbaseVenue 'cb-test' user_channel=disabled>"
    stats = venue.statistics()
    assert isinstance(stats, CoinbaseVenueStatistics)
    assert stats.user_channel is UserChannelState.DISABLED
    assert stats.submits == stats.fills_reported == stats.user_channel_reconnects == 0
    with_channel = CoinbaseVenue(
        rest(), user_channel=WebSocketClient(channels={"user": []}, credentials=CREDENTIALS)
    )
    assert with_channel.user_channel_state is UserChannelState.DOWN


# -- odd answers from a fake exchange ------------------------------------------------------------


def wire_order(order_id: str, status: str, *, filled: str = "0", **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "order_id": order_id,
        "product_id": "BTC-USD",
        "side": "BUY",
        "status": status,
        "client_order_id": f"c-{order_id}",
        "filled_size": filled,
        "average_filled_price": "100" if filled != "0" else "0",
        "order_configuration": {
            "limit_limit_gtc": {"base_size": "1", "limit_price": "100", "post_only": False}
        },
    }
    document.update(fields)
    return document


def wire_fill(trade_id: str, order_id: str, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "trade_id": trade_id,
        "order_id": order_id,
        "price": "100",
        "size": "0.1",
        "commission": "0.06",
        "trade_type": "FILL",
        "liquidity_indicator": "MAKER",
        "size_in_quote": False,
    }
    document.update(fields)
    return document


class FakeExchange:
    """Orders and fills as plain documents, served at the REST paths the venue uses.

    The order listing honours ``order_status``, ``order_ids`` and ``limit`` as Coinbase does,
    except that it leaves out the orders in ``unlisted`` when filtered by ``order_ids``, and
    answers 500 to the filtered listings whose index (0 for the first) is in ``failing``.
    """

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self.cancel_results: list[dict[str, Any]] = []
        self.create_answer: dict[str, Any] = {}
        self.paths: list[str] = []
        self.listed_ids: list[list[str]] = []  #: the order_ids of each filtered listing
        self.unlisted: set[str] = set()
        self.failing: set[int] = set()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(API)
        self.paths.append(f"{request.method} {path}")
        query = request.url.params
        if path == "/orders/historical/fills":
            wanted = set(query.get_list("order_ids"))
            fills = [f for f in self.fills if not wanted or f["order_id"] in wanted]
            return httpx.Response(200, json={"fills": list(reversed(fills)), "cursor": ""})
        if path == "/orders/historical/batch":
            return self._list_orders(query)
        if path.startswith("/orders/historical/"):
            found = self.orders.get(path.rsplit("/", 1)[1])
            if found is None:
                return httpx.Response(404, json={"error": "NOT_FOUND", "message": "no order"})
            return httpx.Response(200, json={"order": found})
        if path == "/orders/batch_cancel":
            return httpx.Response(200, json={"results": self.cancel_results})
        if path == "/orders":
            return httpx.Response(200, json=self.create_answer)
        raise AssertionError(f"unexpected {request.method} {path}: {json.dumps(dict(query))}")

    def _list_orders(self, query: httpx.QueryParams) -> httpx.Response:
        statuses = set(query.get_list("order_status"))
        ids = query.get_list("order_ids")
        orders = [o for o in self.orders.values() if not statuses or o["status"] in statuses]
        if ids:
            self.listed_ids.append(ids)
            if len(self.listed_ids) - 1 in self.failing:
                return httpx.Response(500, json={"error": "INTERNAL", "message": "try again"})
            orders = [
                o for o in orders if o["order_id"] in ids and o["order_id"] not in self.unlisted
            ]
        limit = int(query.get("limit", "100"))
        page = {"orders": orders[:limit], "has_next": len(orders) > limit, "cursor": ""}
        return httpx.Response(200, json=page)


class Reports:
    """The executor's side of the venue: the reports it is sent (sync signals left out)."""

    def __init__(self) -> None:
        self.items: list[VenueReport] = []

    async def send(self, value: VenueSignal, /) -> None:
        await trio.lowlevel.checkpoint()
        if isinstance(value, VenueReport):
            self.items.append(value)

    def send_nowait(self, value: VenueSignal, /) -> None:
        raise trio.WouldBlock

    def close(self) -> None:
        """Nothing to release."""

    def fills(self) -> list[tuple[str, Fill]]:
        return [(r.client_order_id, r.event) for r in self.items if isinstance(r.event, Fill)]


async def test_odd_fills_are_converted_or_skipped_never_dropped_silently(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeExchange()
    fake.orders["o-ext"] = wire_order("o-ext", "FILLED", filled="0.1", client_order_id="")
    fake.fills = [
        wire_fill("t-quote", "o-ext", size="10", size_in_quote=True),  # 10 USD at 100
        wire_fill("t-reversal", "o-ext", trade_type="REVERSAL"),
        wire_fill("t-zero-price", "o-ext", price="0", size_in_quote=True),
        wire_fill("t-zero-size", "o-ext", size="0"),
        wire_fill("t-bare", "o-gone", commission=None, liquidity_indicator=None, trade_type=None),
    ]
    reports = Reports()
    async with rest(fake.transport()) as client, trio.open_nursery() as nursery:
        venue = CoinbaseVenue(client, user_channel=None)
        await nursery.start(venue.run, reports)
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert reports.fills() == [
        (
            "o-ext",
            Fill(
                trade_id="t-quote",
                price=D(100),
                size=D("0.1"),
                fee=D("0.06"),
                liquidity=Liquidity.MAKER,
                order_id="o-ext",  # the venue's order id travels with the fill
            ),
        ),
        ("o-gone", Fill(trade_id="t-bare", price=D(100), size=D("0.1"), order_id="o-gone")),
    ]
    stats = venue.statistics()
    assert (stats.fills_reported, stats.skipped_fills) == (2, 3)
    assert "trade_type REVERSAL cannot be applied" in caplog.text
    assert "price 0 is not positive" in caplog.text
    assert stats.user_channel is UserChannelState.DISABLED


async def test_an_order_that_vanishes_is_dropped_from_polling_and_a_stale_id_is_rescanned(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeExchange()
    fake.orders["o-1"] = wire_order(
        "o-1", "OPEN", order_configuration={"twap_limit_gtd": {"base_size": "1"}}
    )
    reports = Reports()
    async with rest(fake.transport()) as client, trio.open_nursery() as nursery:
        venue = CoinbaseVenue(client, user_channel=None)
        found = await venue.lookup("c-o-1")  # scanned: the venue knew no order id
        assert found is not None
        assert found.state.leaves_quantity == 0  # a configuration this client cannot read
        await nursery.start(venue.run, reports)
        await trio.sleep(1)
        del fake.orders["o-1"]
        await trio.sleep(2)
        assert "order o-1 was not found 3 polls in a row" in caplog.text
        fake.paths.clear()
        await trio.sleep(2)
        assert "GET /orders/historical/o-1" not in fake.paths
        assert await venue.lookup("c-o-1") is None  # the known id 404s: the listing decides
        nursery.cancel_scope.cancel()
    assert [r.event.status for r in reports.items if isinstance(r.event, VenueOrderState)] == [
        "OPEN"
    ]


async def test_a_fill_debt_that_is_never_paid_is_given_up_after_its_polls(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeExchange()
    fake.orders["o-2"] = wire_order("o-2", "FILLED", filled="0.5")
    fake.fills = [wire_fill("t-1", "o-2")]  # 0.1 of the 0.5 the order shows
    async with rest(fake.transport()) as client, trio.open_nursery() as nursery:
        venue = CoinbaseVenue(client, user_channel=None, max_fill_fetches=3)
        await nursery.start(venue.run, Reports())
        assert await venue.lookup("c-o-2") is not None
        assert venue.statistics().fill_debts_open == 1
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    stats = venue.statistics()
    assert (stats.fill_debts_open, stats.fill_debts_abandoned) == (0, 1)
    assert "shows 0.5 filled but its fills add up to 0.1 after 3 polls" in caplog.text


@pytest.mark.parametrize(
    ("results", "outcome"),
    [
        ([{"success": True, "order_id": "other"}], CancelAcknowledged()),
        ([], CancelFailed(reason="UNKNOWN_CANCEL_FAILURE: no result for order o-3 in the answer")),
        (
            [{"success": False, "order_id": "o-3"}],
            CancelFailed(reason="UNKNOWN_CANCEL_FAILURE_REASON"),
        ),
        (
            [{"success": False, "order_id": "o-3", "failure_reason": "ORDER_IS_BEING_REPLACED"}],
            CancelFailed(reason="ORDER_IS_BEING_REPLACED"),
        ),
    ],
)
async def test_cancel_answers_are_read_for_what_they_say(
    results: list[dict[str, Any]], outcome: object
) -> None:
    fake = FakeExchange()
    fake.cancel_results = results
    async with rest(fake.transport()) as client:
        venue = CoinbaseVenue(client, user_channel=None)
        assert await venue.cancel("c-o-3", "o-3") == outcome


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            {
                "error": "UNKNOWN_FAILURE_REASON",
                "new_order_failure_reason": "UNKNOWN_FAILURE_REASON",
                "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",
                "message": "not enough",
            },
            "PREVIEW_INSUFFICIENT_FUND: not enough",
        ),
        ({"error": "SOMETHING_NEW"}, "SOMETHING_NEW"),
        ({}, "UNKNOWN_FAILURE_REASON"),
    ],
)
async def test_a_rejection_names_the_exchanges_most_specific_reason(
    error: dict[str, Any], reason: str
) -> None:
    fake = FakeExchange()
    fake.create_answer = {"success": False, "error_response": error}
    async with rest(fake.transport()) as client:
        venue = CoinbaseVenue(client, user_channel=None)
        assert await venue.submit(submit()) == Rejected(reason=reason)


async def test_a_client_without_credentials_sends_nothing() -> None:
    fake = FakeExchange()
    async with rest(fake.transport(), credentials=None) as client:
        venue = CoinbaseVenue(client, user_channel=None)
        outcome = await venue.submit(submit())
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith("CREDENTIALS: not sent: create_order needs an API key")
    assert fake.paths == []


async def test_a_scan_remembers_the_orders_it_passed_for_the_next_lookup() -> None:
    """Recovery looks many orders up: one listing serves them all."""
    fake = FakeExchange()
    for order_id in ("o-a", "o-b", "o-c"):
        fake.orders[order_id] = wire_order(order_id, "OPEN")
    async with rest(fake.transport()) as client:
        venue = CoinbaseVenue(client, user_channel=None)
        found = await venue.lookup("c-o-c")
        assert found is not None
        assert fake.paths == ["GET /orders/historical/batch"]
        again = await venue.lookup("c-o-a")
        assert again is not None
        assert again.state.order_id == "o-a"
        assert fake.paths[1:] == ["GET /orders/historical/o-a"]


# -- orders that left the open listing -----------------------------------------------------------


async def cancelled(fake: FakeExchange, venue: CoinbaseVenue, count: int) -> list[str]:
    """``count`` resting orders the venue cancelled in one batch (so it watches them), all
    CANCELLED at the exchange since: the emergency's state when the user channel is late."""
    order_ids = [f"o-{n:03}" for n in range(count)]
    for order_id in order_ids:
        fake.orders[order_id] = wire_order(order_id, "OPEN")
    fake.cancel_results = [{"success": True, "order_id": order_id} for order_id in order_ids]
    outcomes = await venue.cancel_batch([(f"c-{order_id}", order_id) for order_id in order_ids])
    assert set(outcomes) == {CancelAcknowledged()}
    for order_id in order_ids:
        fake.orders[order_id]["status"] = "CANCELLED"
    fake.paths.clear()
    return order_ids


def order_reports(reports: Reports) -> list[tuple[str, str]]:
    return [
        (r.client_order_id, r.event.status)
        for r in reports.items
        if isinstance(r.event, VenueOrderState)
    ]


async def test_orders_that_left_the_open_listing_are_read_back_25_per_listing_not_one_by_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At 30 requests/s, a hundred ``get_order`` took over three seconds of an emergency."""
    fake = FakeExchange()
    reports = Reports()
    async with rest(fake.transport()) as client:
        venue = CoinbaseVenue(client, user_channel=None)
        order_ids = await cancelled(fake, venue, 100)
        fake.orders["o-042"]["status"] = "OPEN"  # its cancel is still on its way
        await venue.settle(reports)
        assert fake.paths == [
            "GET /orders/historical/batch",  # the open orders
            *["GET /orders/historical/batch"] * 4,  # the 99 others, by id
            "GET /orders/historical/fills",
        ]
        missing = [i for i in order_ids if i != "o-042"]
        assert fake.listed_ids == [missing[start : start + 25] for start in range(0, 99, 25)]
        # In the order the venue came to watch them, each once, as the exchange has it.
        assert order_reports(reports) == [
            (f"c-{i}", "OPEN" if i == "o-042" else "CANCELLED") for i in order_ids
        ]
        # The ended ones are no longer watched: the next poll asks for the open one only.
        fake.paths.clear()
        await venue.settle(Reports())
        assert fake.paths == ["GET /orders/historical/batch", "GET /orders/historical/fills"]


async def test_an_order_the_filtered_listing_leaves_out_is_read_by_itself(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The listing's word is not enough to call an order gone: ``get_order`` decides, and
    only three 404s in a row end its polling, as before."""
    fake = FakeExchange()
    reports = Reports()
    async with rest(fake.transport()) as client:
        venue = CoinbaseVenue(client, user_channel=None)
        await cancelled(fake, venue, 3)
        fake.unlisted = {"o-000", "o-002"}
        del fake.orders["o-002"]  # and unknown to the exchange
        await venue.settle(reports)
        assert fake.paths == [
            "GET /orders/historical/batch",
            "GET /orders/historical/batch",
            "GET /orders/historical/o-000",
            "GET /orders/historical/o-002",
            "GET /orders/historical/fills",
        ]
        assert order_reports(reports) == [("c-o-000", "CANCELLED"), ("c-o-001", "CANCELLED")]
        for _ in range(2):
            await venue.settle(reports)
        assert "order o-002 was not found 3 polls in a row" in caplog.text
        fake.paths.clear()
        await venue.settle(reports)
        assert fake.paths == ["GET /orders/historical/fills"]  # nothing is watched any more
    assert len(order_reports(reports)) == 2


async def test_a_filtered_listing_that_fails_is_a_poll_error_retried_without_loss(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeExchange()
    reports = Reports()
    async with rest(fake.transport()) as client, trio.open_nursery() as nursery:
        venue = CoinbaseVenue(client, user_channel=None, poll_interval=1.0, fast_poll_interval=1.0)
        order_ids = await cancelled(fake, venue, 30)
        fake.failing = {1}  # the first poll's second batch
        await nursery.start(venue.run, reports)
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert venue.statistics().poll_errors == 1
    # The first batch was reported before the failure, the rest by the next poll, each once.
    assert fake.listed_ids == [order_ids[:25], order_ids[25:], order_ids[25:]]
    assert not any(path.startswith("GET /orders/historical/o-") for path in fake.paths)
    assert order_reports(reports) == [(f"c-{i}", "CANCELLED") for i in order_ids]


def test_the_venues_memory_is_bounded() -> None:
    from cjt_actors.coinbase_venue import _Bounded

    memory: _Bounded[str, int] = _Bounded(limit=2)
    memory.put("a", 1)
    memory.put("b", 2)
    memory.put("a", 3)  # written again: now the newest
    memory.put("c", 4)
    assert ("a" in memory, "b" in memory, "c" in memory) == (True, False, True)
    assert memory.get("a") == 3
    assert memory.get("b") is None
