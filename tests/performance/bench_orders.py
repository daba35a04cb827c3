"""Orders over weeks: memory held per ended order, and how fast a start replays the journal.

Why: a daemon trades for weeks on one journal. Two of its costs grow with the number of
orders that journal holds, not with time or market data: the executor keeps every order it
knows in memory (ended ones too), and every start replays the whole journal before it
reconciles (DESIGN §7). ``bench_memory`` covers market data only; these two figures are what
a user needs to size a machine and a restart window (docs/operations.md, "What grows over
weeks").

What runs: the product's :class:`~cjt_actors.execution.ExecutionCore` on a real SQLite
journal (the thread-backed :class:`~cjt_actors.journal.AsyncJournal`, as the daemon opens
it), behind a venue at the seam under test (:class:`AcceptingVenue`: it accepts every create
at once and holds no record; the exchange is not what is measured). Each order goes the way
most of a market maker's go: the intent and its move to SUBMITTED, the venue's
acknowledgement (OPEN), the venue's CANCELLED snapshot: three events and the row.

* ``orders.held_bytes_per_ended_order``: ``tracemalloc``'s traced bytes after ``n`` such
  orders, after ``gc.collect()``, over ``n`` (the allocation sites of the core only grow
  with orders: nothing else is kept).
* ``orders.replay_per_s``: a new core's :meth:`~cjt_actors.execution.ExecutionCore.recover`
  over that journal (replay, then a lookup of nothing: every order ended), orders per second.

The journal runs with ``synchronous=OFF`` here, so the figure is the software's and not the
disk's (the fsync per commit is measured by ``bench_latency``). A run whose core does not
hold every order as CANCELLED, or whose replay does not find them all, raises.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final

import attrs
import trio

from cjt_actors.channels import Outbox
from cjt_actors.exchange.orders import Side
from cjt_actors.execution import ExecutionCore, ExecutorOutput
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import Accepted, CancelFailed, OrderState, VenueOrderState
from cjt_actors.order_messages import OrderType, SubmitOrder, TimeInForce
from cjt_actors.venue import CancelOutcome, SubmitOutcome, VenueOrder, VenueReport, VenueSignal

from .harness import BenchContext, Metric

__all__ = ["AcceptingVenue", "OrdersReport", "measure", "metrics", "run"]

FULL_ORDERS: Final = 5_000
QUICK_ORDERS: Final = 2_000


class AcceptingVenue:
    """Accepts every create at once, under venue ids of its own; holds nothing."""

    name = "accepting"

    def __init__(self) -> None:
        self._ids = 0

    async def run(
        self,
        reports: Outbox[VenueSignal],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def submit(self, order: SubmitOrder) -> SubmitOutcome:
        await trio.lowlevel.checkpoint()
        self._ids += 1
        return Accepted(order_id=f"v-{self._ids}")

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        await trio.lowlevel.checkpoint()
        return CancelFailed(reason="UNKNOWN_CANCEL_ORDER")

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        await trio.lowlevel.checkpoint()
        return None

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        await trio.lowlevel.checkpoint()
        return ()


async def _publish_nothing(_: ExecutorOutput) -> None:
    await trio.lowlevel.checkpoint()


def _intent(number: int) -> SubmitOrder:
    return SubmitOrder(
        strategy="mm",
        client_order_id=f"bench-{number:09d}",
        product_id="BTC-USD",
        side=Side.BUY if number % 2 else Side.SELL,
        order_type=OrderType.LIMIT,
        size=Decimal("0.00166707"),
        limit_price=Decimal("60000.53") + number % 100,
        time_in_force=TimeInForce.GTC,
        post_only=True,
        at=0.0,
    )


def _cancelled(order_id: str) -> VenueOrderState:
    return VenueOrderState(
        status="CANCELLED",
        cumulative_quantity=Decimal(0),
        leaves_quantity=Decimal(0),
        order_id=order_id,
    )


@attrs.frozen(kw_only=True)
class OrdersReport:
    """What one run measured."""

    orders: int
    held_bytes: int  #: traced bytes the core's orders hold
    replay_seconds: float  #: a new core's recover() over the journal


async def measure(orders: int, path: Path) -> OrdersReport:
    """Make ``orders`` ended orders on a fresh journal at ``path``, then replay it."""
    async with await AsyncJournal.open(path) as journal:
        journal._journal._db.execute("PRAGMA synchronous=OFF")  # the software, not the disk
        core = ExecutionCore(AcceptingVenue(), journal)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for number in range(orders):
                intent = _intent(number)
                await core.submit(intent, _publish_nothing)
                order = core.order(intent.client_order_id)
                if order is None or order.state is not OrderState.OPEN:
                    raise AssertionError(f"order {number} was not accepted: {order!r}")
                report = VenueReport(
                    client_order_id=intent.client_order_id,
                    event=_cancelled(order.order_id),
                    at=trio.current_time(),
                )
                await core.on_report(report, _publish_nothing)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        counts = core.orders_by_state()
        if counts[OrderState.CANCELLED] != orders or core.working_orders():
            raise AssertionError(f"the core does not hold {orders} CANCELLED orders: {counts}")
        again = ExecutionCore(AcceptingVenue(), journal)
        started = time.perf_counter()
        recovered = await again.recover(_publish_nothing)
        seconds = time.perf_counter() - started
        if recovered.replayed_orders != orders or recovered.working_orders:
            raise AssertionError(f"the replay did not find {orders} ended orders: {recovered}")
    return OrdersReport(orders=orders, held_bytes=held, replay_seconds=seconds)


def metrics(reports: Sequence[OrdersReport]) -> list[Metric]:
    """The two figures, one sample per repeat."""
    orders = reports[0].orders
    note = (
        f"{orders:,} orders through ExecutionCore (intent+SUBMITTED, OPEN, CANCELLED snapshot) "
        f"on a thread-backed SQLite journal with synchronous=OFF; a venue that accepts at once"
    )
    return [
        Metric(
            key="orders.held_bytes_per_ended_order",
            label="orders: memory held per ended order",
            unit="B",
            samples=[r.held_bytes / r.orders for r in reports],
            better="lower",
            note=f"{note}; tracemalloc after gc.collect()",
        ),
        Metric(
            key="orders.replay_per_s",
            label="orders: journal replay at start",
            unit="orders/s",
            samples=[r.orders / r.replay_seconds for r in reports],
            better="higher",
            note=f"{note}; ExecutionCore.recover() of a new core (3 events per order)",
        ),
    ]


def run(ctx: BenchContext) -> list[Metric]:
    orders = QUICK_ORDERS if ctx.quick else FULL_ORDERS
    reports: list[OrdersReport] = []
    for repeat in range(ctx.repeats):
        ctx.progress(f"bench_orders: {orders:,} orders, repeat {repeat + 1}/{ctx.repeats}")
        path = ctx.workdir / f"orders-{repeat}.sqlite"
        try:
            reports.append(trio.run(measure, orders, path))
        finally:
            for leftover in path.parent.glob(f"{path.name}*"):
                leftover.unlink()
    return metrics(reports)
