"""The latency histogram, and the venue wrapper that fills it (over a real PaperVenue, in
virtual time, so every duration is exact)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
import trio
import trio.testing

from cjt_actors.channels import Outbox
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.lifecycle import Accepted, CancelAcknowledged, CancelFailed
from cjt_actors.ops import LatencyHistogram, TimedVenue, timed_venue
from cjt_actors.order_messages import OrderType, SubmitOrder, TimeInForce
from cjt_actors.paper import PaperConfig, PaperVenue
from cjt_actors.products import ProductRules
from cjt_actors.venue import BatchCancelling, CancelOutcome, Venue, VenueOrder, VenueSignal

BTC = ProductRules(
    product_id="BTC-USD",
    base_increment=Decimal("0.0001"),
    price_increment=Decimal("0.01"),
    base_min_size=Decimal("0.0001"),
    base_max_size=Decimal("100"),
    quote_min_size=Decimal("1"),
)


def order(client_order_id: str) -> SubmitOrder:
    return SubmitOrder(
        strategy="s",
        client_order_id=client_order_id,
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("1"),
        limit_price=Decimal("99"),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        at=0.0,
    )


# -- the histogram -----------------------------------------------------------------------------


def test_observations_land_in_cumulative_buckets_bounds_inclusive() -> None:
    histogram = LatencyHistogram((0.1, 1.0))
    for seconds in (0.0, 0.1, 0.5, 1.0, 7.0):
        histogram.observe(seconds)
    snapshot = histogram.snapshot()
    assert snapshot.bounds == (0.1, 1.0)
    assert snapshot.cumulative == (2, 4)  # 0.0 and 0.1 <= 0.1; then 0.5 and 1.0 <= 1.0
    assert snapshot.count == 5
    assert snapshot.total == pytest.approx(8.6)
    assert repr(histogram) == "<LatencyHistogram count=5 sum=8.600000s>"


def test_a_snapshot_is_a_copy() -> None:
    histogram = LatencyHistogram()
    before = histogram.snapshot()
    histogram.observe(0.02)
    assert before.count == 0
    assert sum(before.cumulative) == 0
    assert histogram.snapshot().count == 1


@pytest.mark.parametrize("seconds", [-0.001, float("nan"), float("inf")])
def test_an_impossible_duration_is_refused(seconds: float) -> None:
    histogram = LatencyHistogram()
    with pytest.raises(InvalidSpec, match="a latency must be a finite duration >= 0 s"):
        histogram.observe(seconds)
    assert histogram.snapshot().count == 0


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ((), "must be finite numbers of seconds > 0"),
        ((0.0, 1.0), "must be finite numbers of seconds > 0"),
        ((1.0, float("inf")), "must be finite numbers of seconds > 0"),
        ((True,), "must be finite numbers of seconds > 0"),
        ((1.0, 1.0), "must be strictly increasing"),
        ((2.0, 1.0), "must be strictly increasing"),
    ],
)
def test_malformed_bounds_are_refused(bounds: Sequence[float], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        LatencyHistogram(bounds)


# -- the venue wrapper -------------------------------------------------------------------------


async def test_submit_and_cancel_round_trips_are_timed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    paper = PaperVenue({"BTC-USD": BTC}, PaperConfig(latency=0.03))
    venue: Venue = timed_venue(paper)
    assert isinstance(venue, TimedVenue)
    assert not isinstance(venue, BatchCancelling)  # the paper venue is not either
    assert venue.name == paper.name
    assert repr(venue) == f"<TimedVenue {paper!r}>"

    assert await venue.submit(order("a")) == Accepted(order_id="paper-1")
    assert await venue.submit(order("b")) == Accepted(order_id="paper-2")
    assert await venue.cancel("a", "paper-1") == CancelAcknowledged()
    assert [o.client_order_id for o in await venue.open_orders()] == ["b"]
    assert (await venue.lookup("b")) is not None

    latencies = venue.latencies()
    assert set(latencies) == {"submit", "cancel"}
    submit = latencies["submit"]
    assert submit.count == 2
    assert submit.total == pytest.approx(0.06)
    assert submit.cumulative[submit.bounds.index(0.025)] == 0
    assert submit.cumulative[submit.bounds.index(0.05)] == 2
    assert latencies["cancel"].count == 1


async def test_run_is_delegated(autojump_clock: trio.testing.MockClock) -> None:
    paper = PaperVenue({"BTC-USD": BTC}, PaperConfig(latency=0.0))
    venue = timed_venue(paper)
    reports: list[VenueSignal] = []

    class Sink:
        async def send(self, value: VenueSignal, /) -> None:
            await trio.lowlevel.checkpoint()
            reports.append(value)

        def send_nowait(self, value: VenueSignal, /) -> None:
            reports.append(value)

        def close(self) -> None:
            pass

    sink: Outbox[VenueSignal] = Sink()
    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run, sink)
        await venue.submit(order("a"))
        await venue.cancel("a", "paper-1")
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [r.client_order_id for r in reports if hasattr(r, "client_order_id")] == ["a"]


async def test_a_cancelled_request_is_not_observed(autojump_clock: trio.testing.MockClock) -> None:
    venue = timed_venue(PaperVenue({"BTC-USD": BTC}, PaperConfig(latency=1.0)))
    with trio.move_on_after(0.5):
        await venue.submit(order("a"))
    assert venue.latencies()["submit"].count == 0


class _BatchVenue:
    """A batch-cancelling venue that answers after a fixed delay."""

    name = "batch"

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        raise AssertionError("not used")

    async def submit(self, order: SubmitOrder) -> Accepted:
        raise AssertionError("not used")

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        raise AssertionError("not used")

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        raise AssertionError("not used")

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        raise AssertionError("not used")

    async def cancel_batch(self, orders: Sequence[tuple[str, str]]) -> tuple[CancelOutcome, ...]:
        await trio.sleep(0.2)
        return tuple(CancelFailed(reason="UNKNOWN_CANCEL_ORDER") for _ in orders)


async def test_a_batch_cancelling_venue_stays_one_and_its_batches_are_timed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    venue = timed_venue(_BatchVenue())
    assert isinstance(venue, BatchCancelling)
    outcomes = await venue.cancel_batch([("a", "1"), ("b", "2")])
    assert len(outcomes) == 2
    batch = venue.latencies()["cancel_batch"]
    assert batch.count == 1
    assert batch.total == pytest.approx(0.2)
