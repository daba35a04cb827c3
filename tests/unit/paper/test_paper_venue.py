"""The paper venue's async shell: latency, the report channel, races, restarts.

Time is trio's MockClock (``autojump_clock``): latency is observable as virtual time, and a
test that waits for something that never happens fails instead of hanging.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing

from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.stream import L2Level, Trade
from cjt_actors.lifecycle import (
    FULLY_FILLED_CANCEL_REASON,
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    Fill,
    Liquidity,
    OrderState,
    Rejected,
    Submitted,
    TrackedOrder,
    VenueOrderState,
)
from cjt_actors.market_messages import BookUpdated, TradesReceived
from cjt_actors.order_messages import OrderType, SubmitOrder, TimeInForce
from cjt_actors.orderbook import L2Book
from cjt_actors.paper import PaperConfig, PaperStatistics, PaperVenue
from cjt_actors.products import ProductRules
from cjt_actors.venue import MarketObserver, Venue, VenueReport

D = Decimal
BTC = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.0001"),
    price_increment=D("0.01"),
    base_min_size=D("0.0001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)
PRODUCTS = {"BTC-USD": BTC}


def book_update(
    bids: tuple[tuple[str, str], ...], asks: tuple[tuple[str, str], ...]
) -> BookUpdated:
    """A view from a real L2Book (snapshot of these levels)."""
    book = L2Book("BTC-USD", BTC.price_increment, BTC.base_increment)
    levels: list[L2Level] = [("bid", D(p), D(s), "") for p, s in bids]
    levels += [("offer", D(p), D(s), "") for p, s in asks]
    book.apply_snapshot(levels, now=0.0)
    return BookUpdated(view=book.view(now=0.0))


BOOK = book_update(bids=(("99.99", "1"), ("99.98", "2")), asks=(("100.01", "0.5"), ("100.02", "1")))


def order(
    client_order_id: str,
    size: str = "1",
    price: str | None = None,
    side: Side = Side.BUY,
    tif: TimeInForce = TimeInForce.GTC,
) -> SubmitOrder:
    return SubmitOrder(
        strategy="s",
        client_order_id=client_order_id,
        product_id="BTC-USD",
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        size=D(size),
        limit_price=None if price is None else D(price),
        time_in_force=tif,
        post_only=False,
        at=0.0,
    )


def trade_frame(price: str, size: str, maker_side: str, trade_id: str) -> TradesReceived:
    trade = Trade(
        trade_id=trade_id,
        product_id="BTC-USD",
        price=D(price),
        size=D(size),
        maker_side=maker_side,  # type: ignore[arg-type]
        time="",
    )
    return TradesReceived(sequence_num=1, received_at=0.0, snapshot=False, trades=(trade,))


def venue(**config: Any) -> PaperVenue:
    capacity = config.pop("report_capacity", 4096)
    return PaperVenue(PRODUCTS, PaperConfig(**config), report_capacity=capacity)


class Collector:
    """An outbox that keeps what it was sent (the executor's side of the channel)."""

    def __init__(self) -> None:
        self.reports: list[VenueReport] = []

    async def send(self, value: VenueReport, /) -> None:
        await trio.lowlevel.checkpoint()
        self.reports.append(value)

    def send_nowait(self, value: VenueReport, /) -> None:
        self.reports.append(value)

    def close(self) -> None:
        pass


class TestConstruction:
    def test_it_is_a_venue_and_a_market_observer(self) -> None:
        v: Venue = venue()
        observer: MarketObserver = venue()
        assert v.name == "paper"
        assert observer.observe_book is not None
        assert PaperVenue(PRODUCTS, name="paper-2").name == "paper-2"
        assert PaperVenue(PRODUCTS).config == PaperConfig()

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"report_capacity": 0}, "report_capacity"),
            ({"report_capacity": True}, "report_capacity"),
            ({"report_capacity": 1.5}, "report_capacity"),
            ({"name": ""}, "name"),
            ({"config": {"latency": 1}}, "config must be a PaperConfig"),
            ({"config": PaperConfig(latency_jitter=0.01)}, "needs an rng"),
        ],
    )
    def test_bad_arguments_are_refused_by_name(self, kwargs: dict[str, Any], match: str) -> None:
        with pytest.raises(InvalidSpec, match=match):
            PaperVenue(PRODUCTS, **kwargs)

    def test_repr_names_it(self) -> None:
        assert repr(venue()) == "<PaperVenue 'paper' orders=0 pending_reports=0>"


class TestLatency:
    async def test_submit_and_cancel_take_the_latency(self, autojump_clock: Any) -> None:
        v = venue(latency=0.25)
        start = trio.current_time()
        outcome = await v.submit(order("a", price="99"))
        assert outcome == Accepted(order_id="paper-1")
        assert trio.current_time() - start == pytest.approx(0.25)
        assert await v.cancel("a", "paper-1") == CancelAcknowledged()
        assert trio.current_time() - start == pytest.approx(0.5)

    async def test_lookups_answer_at_once(self, autojump_clock: Any) -> None:
        v = venue(latency=1.0)
        start = trio.current_time()
        assert await v.lookup("a") is None
        assert await v.open_orders() == ()
        assert trio.current_time() == start

    async def test_jitter_comes_from_the_injected_rng(self, autojump_clock: Any) -> None:
        config = PaperConfig(latency=0.1, latency_jitter=0.5)
        v = PaperVenue(PRODUCTS, config, rng=random.Random(7))
        expected = random.Random(7)
        for client_order_id in ("a", "b"):
            start = trio.current_time()
            await v.submit(order(client_order_id, price="99"))
            assert trio.current_time() - start == pytest.approx(0.1 + expected.random() * 0.5)

    async def test_submit_acts_on_the_view_observed_during_its_latency(
        self, autojump_clock: Any
    ) -> None:
        v = venue(latency=0.1)
        outcomes: list[Any] = []

        async def submit() -> None:
            outcomes.append(await v.submit(order("m", size="0.5")))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(submit)
            await trio.sleep(0.05)
            await v.observe_book(BOOK)
        assert outcomes == [Accepted(order_id="paper-1")]
        record = await v.lookup("m")
        assert record is not None
        assert (record.state.status, record.state.cumulative_quantity) == ("FILLED", D("0.5"))
        assert record.state.from_lookup

    async def test_a_fill_during_the_cancel_latency_wins(self, autojump_clock: Any) -> None:
        v = venue(latency=0.1, queue_position=False)
        await v.submit(order("r", size="1", price="99.99"))
        answers: list[Any] = []

        async def cancel() -> None:
            answers.append(await v.cancel("r", "paper-1"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel)
            await trio.sleep(0.05)
            await v.observe_trades(trade_frame("99.99", "1", "BUY", "t1"))
        assert answers == [CancelFailed(reason=FULLY_FILLED_CANCEL_REASON)]

    async def test_a_cancel_arriving_before_the_order_finds_nothing(
        self, autojump_clock: Any
    ) -> None:
        config = PaperConfig(latency=0.1, latency_jitter=1.0)
        v = PaperVenue(PRODUCTS, config, rng=random.Random(0))  # draws 0.84, then 0.76
        answers: dict[str, Any] = {}

        async def submit() -> None:
            answers["submit"] = await v.submit(order("late", price="99"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(submit)
            await trio.testing.wait_all_tasks_blocked()
            answers["cancel"] = await v.cancel("late", "")
        assert answers["cancel"] == CancelFailed(reason="UNKNOWN_CANCEL_ORDER")
        assert answers["submit"] == Accepted(order_id="paper-1")

    async def test_concurrent_duplicates_make_one_order(self, autojump_clock: Any) -> None:
        v = venue()
        await v.observe_book(BOOK)
        answers: list[Any] = []

        async def submit() -> None:
            answers.append(await v.submit(order("dup", size="0.3")))

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(submit)
        assert answers == [Accepted(order_id="paper-1")] * 3
        assert v.statistics().orders == 1
        assert v.statistics().fills == 1

    async def test_a_cancelled_submit_places_nothing(self, autojump_clock: Any) -> None:
        v = venue(latency=1.0)
        with trio.move_on_after(0.5):
            await v.submit(order("gone", price="99"))
        assert await v.lookup("gone") is None


class TestReports:
    async def test_fills_then_the_final_snapshot_in_order(self, autojump_clock: Any) -> None:
        v = venue(latency=0.1)
        out = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(v.run, out)
            await v.observe_book(BOOK)
            await v.submit(order("m", size="1"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        events = [r.event for r in out.reports]
        assert [type(e) for e in events] == [Fill, Fill, VenueOrderState]
        assert all(r.client_order_id == "m" for r in out.reports)
        assert all(r.at == pytest.approx(0.1) for r in out.reports), "stamped when produced"
        final = events[-1]
        assert isinstance(final, VenueOrderState)
        assert (final.status, final.cumulative_quantity) == ("FILLED", D("1"))

    async def test_reports_wait_for_a_run_and_lose_nothing(self, autojump_clock: Any) -> None:
        v = venue(latency=0)
        await v.observe_book(BOOK)
        await v.submit(order("m", size="0.5"))
        assert v.statistics().pending_reports == 2
        out = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(v.run, out)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert [type(r.event) for r in out.reports] == [Fill, VenueOrderState]
        assert v.statistics().pending_reports == 0

    async def test_a_full_buffer_blocks_the_next_step(self, autojump_clock: Any) -> None:
        v = venue(latency=0, queue_position=False, report_capacity=2)
        await v.submit(order("a", size="0.5", price="99.99"))
        await v.observe_trades(trade_frame("99.99", "0.1", "BUY", "t1"))
        await v.observe_trades(trade_frame("99.99", "0.1", "BUY", "t2"))
        assert v.statistics().pending_reports == 2
        done: list[str] = []

        async def third() -> None:
            await v.observe_trades(trade_frame("99.99", "0.3", "BUY", "t3"))
            done.append("third")

        out = Collector()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(third)
            await trio.sleep(10)
            assert done == [], "blocked: the buffer is full and nobody drains it"
            assert v.statistics().pending_reports == 2
            assert v.statistics().fills == 2, "the blocked step has not acted yet"
            await nursery.start(v.run, out)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert done == ["third"]
        sizes = [r.event.size for r in out.reports if isinstance(r.event, Fill)]
        assert sizes == [D("0.1"), D("0.1"), D("0.3")]
        assert isinstance(out.reports[-1].event, VenueOrderState)
        assert out.reports[-1].event.status == "FILLED"

    async def test_a_run_cancelled_mid_send_keeps_the_report(self, autojump_clock: Any) -> None:
        v = venue(latency=0)
        await v.observe_book(BOOK)
        await v.submit(order("m", size="0.5"))
        stuck_send, stuck_receive = trio.open_memory_channel[VenueReport](0)
        with stuck_send, stuck_receive:
            with trio.move_on_after(1):
                await v.run(stuck_send)  # nobody receives: blocked in send, then cancelled
        assert v.statistics().pending_reports == 2
        out = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(v.run, out)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert [type(r.event) for r in out.reports] == [Fill, VenueOrderState]

    async def test_an_outbox_error_propagates_and_keeps_the_report(
        self, autojump_clock: Any
    ) -> None:
        v = venue(latency=0)
        await v.submit(order("m", size="0.5"))  # no view: one CANCELLED snapshot
        send, receive = trio.open_memory_channel[VenueReport](1)
        receive.close()
        with pytest.raises(trio.BrokenResourceError):
            await v.run(send)
        assert v.statistics().pending_reports == 1
        out = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(v.run, out)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert len(out.reports) == 1

    async def test_a_new_run_takes_over(self, autojump_clock: Any) -> None:
        v = venue(latency=0)
        old, new = Collector(), Collector()
        ended: list[str] = []

        async def old_run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            await v.run(old, task_status=task_status)
            ended.append("old")

        async with trio.open_nursery() as nursery:
            await nursery.start(old_run)
            await nursery.start(v.run, new)
            assert ended == ["old"], "the old run returned when the new one took over"
            await v.submit(order("m", size="0.5"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert old.reports == []
        assert len(new.reports) == 1

    async def test_run_can_start_again_after_it_was_cancelled(self, autojump_clock: Any) -> None:
        v = venue(latency=0)
        for round_ in range(2):
            out = Collector()
            async with trio.open_nursery() as nursery:
                await nursery.start(v.run, out)
                await v.submit(order(f"m{round_}", size="0.5"))
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
            assert [r.client_order_id for r in out.reports] == [f"m{round_}"]

    async def test_a_cancel_reports_the_cancelled_snapshot(self, autojump_clock: Any) -> None:
        v = venue(latency=0)
        await v.submit(order("r", price="99"))
        assert await v.cancel("r", "paper-1") == CancelAcknowledged()
        assert (await v.open_orders()) == ()
        assert v._pending[-1].event == VenueOrderState(
            status="CANCELLED",
            cumulative_quantity=D(0),
            leaves_quantity=D(0),
            average_price=None,
            total_fees=D(0),
            order_id="paper-1",
        )


class TestWithTheLifecycle:
    async def test_a_resting_order_filled_by_trades_ends_filled(self, autojump_clock: Any) -> None:
        """What the venue says, applied to the executor's order record, is always legal."""
        v = venue(latency=0.05)
        await v.observe_book(BOOK)
        tracked = TrackedOrder(
            client_order_id="q",
            product_id="BTC-USD",
            side=Side.BUY,
            size=D("2"),
            limit_price=D("99.99"),
        )
        tracked.apply(Submitted())
        tracked.apply(await v.submit(order("q", size="2", price="99.99")))
        assert (tracked.state, tracked.filled_size) == (OrderState.OPEN, D(0))
        await v.observe_trades(trade_frame("99.99", "1.5", "BUY", "t1"))  # 1 ahead, 0.5 ours
        await v.observe_book(
            book_update(bids=(("99.98", "2"),), asks=(("99.99", "0.25"), ("100", "1")))
        )  # crosses our bid: 0.25 more
        await v.observe_trades(trade_frame("99.97", "3", "BUY", "t2"))  # through: the rest
        for report in list(v._pending):
            tracked.apply(report.event)
        assert (tracked.state, tracked.filled_size) == (OrderState.FILLED, D("2"))
        fills = [r.event for r in v._pending if isinstance(r.event, Fill)]
        assert [f.size for f in fills] == [D("0.5"), D("0.25"), D("1.25")]
        assert {f.liquidity for f in fills} == {Liquidity.MAKER}
        assert tracked.fees == sum(D("99.99") * f.size * D("0.006") for f in fills)
        looked_up = await v.lookup("q")
        assert looked_up is not None
        assert looked_up.state.average_price == D("99.99")

    async def test_statistics_include_pending_reports(self, autojump_clock: Any) -> None:
        v = venue(latency=0)
        await v.submit(order("x", price="1.001"))
        assert v.statistics() == PaperStatistics(
            orders=0,
            fills=0,
            rejects=1,
            cancels=0,
            open_orders=0,
            filled_base=D(0),
            fees=D(0),
            pending_reports=0,
        )
        assert await v.submit(order("x", price="1")) == Rejected(reason="INVALID_PRICE_PRECISION")
