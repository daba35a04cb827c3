"""The executor's core against a scripted venue and a real SQLite journal.

The venue here is a fake at the seam under test (the Venue protocol): it records what it was
asked and answers what each test scripts, so the write-ahead order, the lifecycle moves and
the recovery decisions can be checked one by one. The paper venue is tested on its own.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from cjt_actors.channels import Outbox
from cjt_actors.errors import TransportError
from cjt_actors.exchange.orders import Side
from cjt_actors.execution import ExecutionCore, ExecutorOutput, OrdersRemainOpen
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import (
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    CancelRequested,
    Expired,
    Fill,
    IllegalTransition,
    Liquidity,
    OrderState,
    OutcomeUnknown,
    Rejected,
    VenueOrderState,
)
from cjt_actors.order_messages import (
    CancelAllOrders,
    CancelOrder,
    DenyReason,
    EmergencyCancelFinished,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.summary import summarize
from cjt_actors.venue import (
    CancelOutcome,
    SubmitOutcome,
    VenueOrder,
    VenueReport,
    VenueSignal,
)


class ScriptedVenue:
    """Records requests; answers from scripts; keeps its own order records."""

    name = "scripted"

    def __init__(self) -> None:
        self.submits: list[SubmitOrder] = []
        self.cancels: list[str] = []
        self.outcomes: collections.deque[SubmitOutcome] = collections.deque()
        self.records: dict[str, VenueOrder] = {}
        self.before_submit: Callable[[SubmitOrder], Awaitable[None]] | None = None
        self.refuse_cancels = False
        self.report_cancels = True  #: False: a cancel's outcome is only seen by lookup
        self.failing_lookups = 0  #: this many lookups raise a TransportError first
        self.reports: Outbox[VenueReport] | None = None
        self._ids = 0

    async def run(
        self, reports: Outbox[VenueReport], *, task_status: trio.TaskStatus[None]
    ) -> None:
        self.reports = reports
        task_status.started()
        await trio.sleep_forever()

    async def submit(self, order: SubmitOrder) -> SubmitOutcome:
        self.submits.append(order)
        if self.before_submit is not None:
            await self.before_submit(order)
        await trio.lowlevel.checkpoint()
        outcome = self.outcomes.popleft() if self.outcomes else None
        if outcome is None:
            self._ids += 1
            outcome = Accepted(order_id=f"v-{self._ids}")
        if isinstance(outcome, Accepted):
            self.records[order.client_order_id] = _record(order, "OPEN", outcome.order_id)
        return outcome

    async def cancel(self, client_order_id: str, order_id: str) -> CancelOutcome:
        self.cancels.append(client_order_id)
        await trio.lowlevel.checkpoint()
        record = self.records.get(client_order_id)
        if record is None or record.state.status != "OPEN":
            return CancelFailed(reason="UNKNOWN_CANCEL_ORDER")
        if self.refuse_cancels:
            return CancelAcknowledged()
        state = VenueOrderState(
            status="CANCELLED",
            cumulative_quantity=record.state.cumulative_quantity,
            leaves_quantity=Decimal(0),
            order_id=record.state.order_id,
        )
        self.records[client_order_id] = VenueOrder(
            client_order_id=client_order_id, product_id=record.product_id, state=state
        )
        if self.reports is not None and self.report_cancels:
            await self.reports.send(
                VenueReport(client_order_id=client_order_id, event=state, at=trio.current_time())
            )
        return CancelAcknowledged()

    async def lookup(self, client_order_id: str) -> VenueOrder | None:
        await trio.lowlevel.checkpoint()
        if self.failing_lookups:
            self.failing_lookups -= 1
            raise TransportError("connection reset", method="GET", path="/orders/historical")
        return self.records.get(client_order_id)

    async def open_orders(self) -> tuple[VenueOrder, ...]:
        await trio.lowlevel.checkpoint()
        return tuple(r for r in self.records.values() if r.state.status == "OPEN")


class BatchingVenue(ScriptedVenue):
    """A ScriptedVenue that also cancels many orders per request (BatchCancelling), as
    Coinbase does; ``before_batch`` runs when a batch request arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.before_batch: Callable[[], Awaitable[None]] | None = None

    async def cancel_batch(self, orders: Sequence[tuple[str, str]]) -> tuple[CancelOutcome, ...]:
        self.batches.append([coid for coid, _ in orders])
        if self.before_batch is not None:
            await self.before_batch()
        return tuple([await self.cancel(coid, order_id) for coid, order_id in orders])


def _record(order: SubmitOrder, status: str, order_id: str) -> VenueOrder:
    return VenueOrder(
        client_order_id=order.client_order_id,
        product_id=order.product_id,
        state=VenueOrderState(
            status=status,
            cumulative_quantity=Decimal(0),
            leaves_quantity=order.size,
            order_id=order_id,
        ),
    )


def _order(coid: str = "c-1", *, strategy: str = "mm", size: str = "0.01") -> SubmitOrder:
    return SubmitOrder(
        strategy=strategy,
        client_order_id=coid,
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal(size),
        limit_price=Decimal("100.00"),
        time_in_force=TimeInForce.GTC,
        post_only=True,
        at=0.0,
    )


class Published:
    def __init__(self) -> None:
        self.events: list[ExecutorOutput] = []

    async def __call__(self, event: ExecutorOutput) -> None:
        await trio.lowlevel.checkpoint()
        self.events.append(event)

    def states(self) -> list[tuple[OrderState, OrderState]]:
        return [(e.previous, e.state) for e in self.events if isinstance(e, OrderUpdated)]


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[AsyncJournal]:
    async with await AsyncJournal.open(tmp_path / "journal.sqlite", inline=True) as journal:
        yield journal


async def _kinds(journal: AsyncJournal) -> list[str]:
    return [type(message).__name__ for _, _, message in await journal.read()]


async def test_the_intent_is_durable_before_the_venue_hears_of_it(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    seen_at_submit: list[list[str]] = []

    async def check(order: SubmitOrder) -> None:
        seen_at_submit.append(await _kinds(journal))

    venue.before_submit = check
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    assert seen_at_submit == [["SubmitOrder", "OrderUpdated"]]  # intent, then PENDING->SUBMITTED
    assert published.states() == [
        (OrderState.PENDING, OrderState.SUBMITTED),
        (OrderState.SUBMITTED, OrderState.OPEN),
    ]
    rows = await journal.orders()
    assert rows["c-1"]["state"] == "OPEN"
    assert rows["c-1"]["order_id"] == "v-1"
    assert core.statistics().accepted == 1


async def test_a_fresh_submit_commits_once_before_the_request_leaves(
    journal: AsyncJournal,
) -> None:
    """One commit (one fsync) between the intent and the venue, not two: the SubmitOrder,
    its PENDING -> SUBMITTED move and the SUBMITTED row go in one transaction, and the move
    is published before the request leaves. A re-send keeps its own path (no new intent)."""
    statements: list[str] = []
    journal._journal._db.set_trace_callback(statements.append)
    venue = ScriptedVenue()
    venue.outcomes.append(OutcomeUnknown(reason="connection lost"))  # then not found: re-sent
    published = Published()
    seen: list[tuple[int, list[str], str, list[tuple[OrderState, OrderState]]]] = []

    async def check(order: SubmitOrder) -> None:
        commits = statements.count("COMMIT")
        row = (await journal.orders())[order.client_order_id]
        seen.append((commits, await _kinds(journal), row["state"], published.states()))

    venue.before_submit = check
    await ExecutionCore(venue, journal).submit(_order(), published)
    fresh, resent = seen
    assert fresh == (
        1,
        ["SubmitOrder", "OrderUpdated"],
        "SUBMITTED",
        [(OrderState.PENDING, OrderState.SUBMITTED)],
    )
    moves = [(OrderState.SUBMITTED, OrderState.UNKNOWN), (OrderState.UNKNOWN, OrderState.PENDING)]
    assert resent[1:] == (
        ["SubmitOrder", *["OrderUpdated"] * 4],
        "SUBMITTED",
        [(OrderState.PENDING, OrderState.SUBMITTED), *moves, fresh[3][0]],
    )
    rows = await journal.orders()
    assert rows["c-1"]["submit_attempts"] == 2


async def test_the_single_commit_has_the_rows_of_two(tmp_path: Path) -> None:
    """The fused write is content-equal to the intent (row PENDING) followed by its move
    (row SUBMITTED): same events, same times, same row, so the same journal hash."""
    async with await AsyncJournal.open(tmp_path / "fused.sqlite", inline=True) as fused:
        await ExecutionCore(ScriptedVenue(), fused).submit(_order(), Published())
        events = await fused.read()
        expected_digest = await fused.digest()
        final_row = (await fused.orders())["c-1"]
    (_, intent_at, intent), (_, move_at, move), *answer = events
    assert isinstance(move, OrderUpdated)
    assert (move.previous, move.state) == (OrderState.PENDING, OrderState.SUBMITTED)
    async with await AsyncJournal.open(tmp_path / "split.sqlite", inline=True) as split:
        submitted_row = {**final_row, "state": "SUBMITTED", "order_id": None}
        await split.append_for_order(
            intent, at=intent_at, client_order_id="c-1", state={**submitted_row, "state": "PENDING"}
        )
        await split.append_for_order(move, at=move_at, client_order_id="c-1", state=submitted_row)
        for _, at, message in answer:
            await split.append(message, at=at)
        await split.upsert_order("c-1", final_row)
        assert await split.digest() == expected_digest


async def test_a_crash_between_the_commit_and_the_request_is_resent_by_recovery(
    journal: AsyncJournal,
) -> None:
    """The process dies after the single commit, before the request leaves: the journal says
    SUBMITTED ("may have left"), so the next incarnation looks the order up, finds the venue
    never heard of it and re-sends it under the same client_order_id."""

    class Killed(Exception):
        pass

    async def die(order: SubmitOrder) -> None:
        raise Killed

    venue = ScriptedVenue()
    venue.before_submit = die
    with pytest.raises(Killed):
        await ExecutionCore(venue, journal).submit(_order(), Published())
    assert (await journal.orders())["c-1"]["state"] == "SUBMITTED"
    assert venue.records == {}  # the venue never got it
    venue.before_submit = None
    after = Published()
    report = await ExecutionCore(venue, journal).recover(after)
    assert report.resent == 1
    assert after.states() == [
        (OrderState.SUBMITTED, OrderState.UNKNOWN),
        (OrderState.UNKNOWN, OrderState.PENDING),
        (OrderState.PENDING, OrderState.SUBMITTED),
        (OrderState.SUBMITTED, OrderState.OPEN),
    ]
    assert [o.client_order_id for o in venue.submits] == ["c-1", "c-1"]
    assert (await _kinds(journal)).count("SubmitOrder") == 1


async def test_an_intent_moved_before_its_request_left_is_journaled_and_not_sent(
    journal: AsyncJournal,
) -> None:
    """A report naming a registered order before its task ran (an id the venue should not
    know): the intent is still journaled ahead, the move to SUBMITTED is refused by the
    table, and nothing is sent."""
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    command = _order()
    assert core.register(command)
    state = _record(command, "OPEN", "v-early").state
    await core.on_report(VenueReport(client_order_id="c-1", event=state, at=0.0), Published())
    with pytest.raises(IllegalTransition):
        await core.submit(command, Published())
    assert venue.submits == []
    assert await _kinds(journal) == ["OrderUpdated", "SubmitOrder"]


async def test_an_explicit_rejection_is_rejected(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    venue.outcomes.append(Rejected(reason="INVALID_LIMIT_PRICE_POST_ONLY"))
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    assert published.states()[-1] == (OrderState.SUBMITTED, OrderState.REJECTED)
    last = published.events[-1]
    assert isinstance(last, OrderUpdated)
    assert last.reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert core.statistics().rejected == 1


async def test_an_unknown_outcome_is_looked_up_and_never_read_as_rejected(
    journal: AsyncJournal,
) -> None:
    venue = ScriptedVenue()
    venue.outcomes.append(OutcomeUnknown(reason="timeout"))

    async def the_order_got_there(order: SubmitOrder) -> None:
        venue.records[order.client_order_id] = _record(order, "OPEN", "v-live")

    venue.before_submit = the_order_got_there
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    assert published.states() == [
        (OrderState.PENDING, OrderState.SUBMITTED),
        (OrderState.SUBMITTED, OrderState.UNKNOWN),
        (OrderState.UNKNOWN, OrderState.OPEN),
    ]
    assert len(venue.submits) == 1  # found by lookup: not re-sent
    order = core.order("c-1")
    assert order is not None
    assert order.order_id == "v-live"


async def test_an_order_the_venue_never_saw_is_resent_with_the_same_id(
    journal: AsyncJournal,
) -> None:
    venue = ScriptedVenue()
    venue.outcomes.append(OutcomeUnknown(reason="connection lost"))
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    assert [o.client_order_id for o in venue.submits] == ["c-1", "c-1"]
    assert published.states()[-1] == (OrderState.SUBMITTED, OrderState.OPEN)
    assert (OrderState.UNKNOWN, OrderState.PENDING) in published.states()


async def test_resends_stop_after_max_resends(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    venue.outcomes.extend(OutcomeUnknown(reason="timeout") for _ in range(10))
    core = ExecutionCore(venue, journal, max_resends=2)
    await core.submit(_order(), Published())
    assert len(venue.submits) == 3  # the first send and two resends
    order = core.order("c-1")
    assert order is not None
    assert order.state is OrderState.PENDING


async def test_a_cancel_before_the_acknowledgement_is_sent_once_acknowledged(
    journal: AsyncJournal,
) -> None:
    venue = ScriptedVenue()
    release = trio.Event()

    async def slow(order: SubmitOrder) -> None:
        await release.wait()

    venue.before_submit = slow
    core = ExecutionCore(venue, journal)
    published = Published()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(core.submit, _order(), published)
        await trio.testing.wait_all_tasks_blocked()
        await core.cancel(
            CancelOrder(strategy="mm", client_order_id="c-1", reason="requote", at=0.0), published
        )
        assert venue.cancels == []  # not yet: the venue has not acknowledged the order
        release.set()
    assert venue.cancels == ["c-1"]
    assert published.states()[-2:] == [
        (OrderState.OPEN, OrderState.CANCEL_PENDING),
        (OrderState.CANCEL_PENDING, OrderState.CANCEL_PENDING),
    ]


async def test_fills_are_journaled_once_before_they_are_published(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(size="0.02"), published)
    fill = Fill(
        trade_id="t-1",
        price=Decimal("100"),
        size=Decimal("0.01"),
        fee=Decimal("0.006"),
        liquidity=Liquidity.MAKER,
    )
    report = VenueReport(client_order_id="c-1", event=fill, at=1.0)
    await core.on_report(report, published)
    await core.on_report(report, published)  # replayed: counted once
    fills = [e for e in published.events if isinstance(e, OrderFilled)]
    assert [f.trade_id for f in fills] == ["t-1"]
    assert fills[0].fee == Decimal("0.006")
    assert fills[0].liquidity is Liquidity.MAKER
    assert await journal.has_fill("t-1")
    assert (await journal.orders())["c-1"]["filled_size"] == "0.01"
    assert published.states()[-1] == (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
    second = Fill(trade_id="t-2", price=Decimal("101"), size=Decimal("0.01"))
    await core.on_report(VenueReport(client_order_id="c-1", event=second, at=2.0), published)
    assert published.states()[-1] == (OrderState.PARTIALLY_FILLED, OrderState.FILLED)
    stats = core.statistics()
    assert (stats.fills, stats.duplicate_fills, stats.working) == (2, 1, 0)


async def test_reports_of_orders_it_never_made_are_counted_not_applied(
    journal: AsyncJournal,
) -> None:
    core = ExecutionCore(ScriptedVenue(), journal)
    fill = Fill(trade_id="t-9", price=Decimal("1"), size=Decimal("1"))
    await core.on_report(VenueReport(client_order_id="nope", event=fill, at=0.0), Published())
    assert core.statistics().foreign_reports == 1
    assert not await journal.has_fill("t-9")


async def test_duplicate_intents_and_cancels_of_dead_orders_are_denied(
    journal: AsyncJournal,
) -> None:
    venue = ScriptedVenue()
    venue.outcomes.append(Rejected(reason="nope"))
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    await core.submit(_order(), published)
    await core.cancel(
        CancelOrder(strategy="mm", client_order_id="c-1", reason="x", at=0.0), published
    )
    await core.cancel(
        CancelOrder(strategy="mm", client_order_id="zz", reason="x", at=0.0), published
    )
    denials = [e for e in published.events if isinstance(e, OrderDenied)]
    assert [d.reason for d in denials] == [
        DenyReason.DUPLICATE_ORDER,
        DenyReason.UNKNOWN_ORDER,
        DenyReason.UNKNOWN_ORDER,
    ]
    assert "REJECTED" in denials[1].detail
    assert len(venue.submits) == 1
    assert (await _kinds(journal)).count("OrderDenied") == 3


async def test_an_ambiguous_cancel_failure_is_checked_by_lookup(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    venue.records.pop("c-1")  # the venue lost track of it: the cancel fails ambiguously
    await core.cancel(
        CancelOrder(strategy="mm", client_order_id="c-1", reason="x", at=0.0), published
    )
    order = core.order("c-1")
    assert order is not None
    assert order.state is OrderState.OPEN
    assert order.needs_lookup  # the lookup found nothing: still in doubt, never dropped


async def test_cancel_all_cancels_every_working_order_of_a_product(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    published = Published()
    for n in range(3):
        await core.submit(_order(f"c-{n}"), published)
    await core.cancel_all(CancelAllOrders(reason="risk", product_id="ETH-USD", at=0.0), published)
    assert venue.cancels == []
    await core.cancel_all(CancelAllOrders(reason="risk", product_id="", at=0.0), published)
    assert sorted(venue.cancels) == ["c-0", "c-1", "c-2"]


async def test_recovery_rebuilds_from_the_journal_and_aligns_with_the_venue(
    journal: AsyncJournal,
) -> None:
    venue = ScriptedVenue()
    first = ExecutionCore(venue, journal)
    published = Published()
    await first.submit(_order("c-open"), published)
    await first.submit(_order("c-filled"), published)
    fill = Fill(trade_id="t-1", price=Decimal("100"), size=Decimal("0.01"))
    await first.on_report(VenueReport(client_order_id="c-filled", event=fill, at=1.0), published)
    # An intent journaled, but the process died before the request left:
    lost = _order("c-lost")
    await journal.append_for_order(
        lost, at=2.0, client_order_id="c-lost", state={"state": "PENDING"}
    )
    # The venue cancelled c-open while we were down, and has an order we never made:
    venue.records["c-open"] = VenueOrder(
        client_order_id="c-open",
        product_id="BTC-USD",
        state=VenueOrderState(
            status="CANCELLED",
            cumulative_quantity=Decimal(0),
            leaves_quantity=Decimal(0),
            order_id="v-1",
        ),
    )
    venue.records["external"] = _record(_order("external"), "OPEN", "v-x")

    second = ExecutionCore(venue, journal)
    after = Published()
    report = await second.recover(after)
    assert report.replayed_orders == 3
    assert report.resolved_by_lookup == 1
    assert report.resent == 1
    assert report.external_orders == ("external",)
    assert [o.client_order_id for o in venue.submits][-1] == "c-lost"
    filled = second.order("c-filled")
    assert filled is not None
    assert filled.state is OrderState.FILLED
    assert filled.trade_ids == {"t-1"}
    cancelled = second.order("c-open")
    assert cancelled is not None
    assert cancelled.state is OrderState.CANCELLED
    # The replayed fill is not counted again:
    await second.on_report(VenueReport(client_order_id="c-filled", event=fill, at=3.0), after)
    assert not [e for e in after.events if isinstance(e, OrderFilled)]


@pytest.mark.parametrize("venue_type", [ScriptedVenue, BatchingVenue])
async def test_emergency_cancel_all_cancels_verifies_and_journals(
    journal: AsyncJournal, venue_type: type[ScriptedVenue]
) -> None:
    venue = venue_type()
    core = ExecutionCore(venue, journal)
    for n in range(20):
        await core.submit(_order(f"c-{n}"), Published())
    outcome = await core.emergency_cancel_all(settle=0.01)
    assert (outcome.open_before, outcome.remaining, outcome.attempts) == (20, 0, 1)
    assert await venue.open_orders() == ()
    assert all(
        o.state is OrderState.CANCELLED for o in [*core.working_orders(), core.order("c-0")] if o
    )
    entries = await journal.read(kinds=[EmergencyCancelFinished])
    assert [m for _, _, m in entries] == [outcome]
    counts = core.orders_by_state()
    assert counts[OrderState.CANCELLED] == 20
    assert sum(counts.values()) == 20


async def test_an_emergency_batch_is_journaled_in_one_commit_before_the_request_leaves(
    journal: AsyncJournal,
) -> None:
    """Write-ahead, one fsync for the batch: every order's OPEN -> CANCEL_PENDING move and
    its row are committed, all in one transaction, before the batch request leaves; the
    venue's answers are journaled in one more. (A commit per order cost 0.1-0.3 s with 100
    orders before the venue heard of the cancel: the emergency benchmark.)"""
    venue = BatchingVenue()
    venue.report_cancels = False  # the outcomes come from the answers, then by lookup
    core = ExecutionCore(venue, journal)
    for n in range(20):
        await core.submit(_order(f"c-{n}"), Published())
    before = await journal.last_seq()
    statements: list[str] = []
    journal._journal._db.set_trace_callback(statements.append)
    seen: list[tuple[int, list[tuple[str, OrderState, OrderState]], set[str]]] = []

    async def check() -> None:
        moves = [
            (m.client_order_id, m.previous, m.state)
            for _, _, m in await journal.read(after_seq=before)
            if isinstance(m, OrderUpdated)
        ]
        rows = {row["state"] for row in (await journal.orders()).values()}
        seen.append((statements.count("COMMIT"), moves, rows))

    venue.before_batch = check
    await core.emergency_cancel_all(settle=0.01)
    listed = venue.batches[0]
    assert sorted(listed) == sorted(f"c-{n}" for n in range(20))
    [(commits, moves, rows)] = seen
    assert commits == 1
    assert moves == [(coid, OrderState.OPEN, OrderState.CANCEL_PENDING) for coid in listed]
    assert rows == {"CANCEL_PENDING"}
    # Then: the 20 answers in one transaction, the 20 lookups' CANCELLED one each, the outcome.
    sizes: list[int] = []
    for statement in statements:
        if statement == "BEGIN IMMEDIATE":
            sizes.append(0)
        elif statement.startswith("INSERT INTO events"):
            sizes[-1] += 1
    assert sizes == [20, 20, *[1] * 20, 1]
    answers = [m for _, _, m in await journal.read(after_seq=before + 20, limit=20)]
    assert [
        (m.client_order_id, m.previous, m.state) for m in answers if isinstance(m, OrderUpdated)
    ] == [(coid, OrderState.CANCEL_PENDING, OrderState.CANCEL_PENDING) for coid in listed]
    assert core.orders_by_state()[OrderState.CANCELLED] == 20
    assert {row["state"] for row in (await journal.orders()).values()} == {"CANCELLED"}


async def test_an_emergency_batch_journals_what_one_move_per_order_would(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The batch path writes the journal of moving each order on its own (the path before
    batching, replayed here): the same events, rows and order, so the same hash; only the
    number of commits differs. Virtual time, so every ``at`` is comparable."""

    async def journal_of(batched: bool) -> tuple[list[tuple[float, object]], str]:
        path = tmp_path / f"{'batched' if batched else 'one-by-one'}.sqlite"
        async with await AsyncJournal.open(path, inline=True) as journal:
            venue = BatchingVenue()
            venue.report_cancels = False
            core = ExecutionCore(venue, journal)
            for n in range(5):
                await core.submit(_order(f"c-{n}"), Published())
            listed = await venue.open_orders()
            orders = [core.order(o.client_order_id) for o in listed]
            if batched:
                await core._emergency_cancel_batch(venue, listed)
            else:
                for order in orders:
                    assert order is not None
                    await core._apply(order, CancelRequested(), Published())
                answers = [await venue.cancel(o.client_order_id, o.state.order_id) for o in listed]
                for order, answer in zip(orders, answers, strict=True):
                    assert order is not None
                    await core._apply_if_legal(order, answer)
            assert len(venue.cancels) == 5
            return [(at, m) for _, at, m in await journal.read()], await journal.digest()

    batched, one_by_one = await journal_of(True), await journal_of(False)
    assert batched == one_by_one
    moves = [m for _, m in batched[0] if isinstance(m, OrderUpdated)][-10:]
    assert [(m.previous, m.state) for m in moves] == [
        *[(OrderState.OPEN, OrderState.CANCEL_PENDING)] * 5,
        *[(OrderState.CANCEL_PENDING, OrderState.CANCEL_PENDING)] * 5,
    ]


def _snapshot(status: str, order_id: str = "") -> VenueOrderState:
    return VenueOrderState(
        status=status,
        cumulative_quantity=Decimal(0),
        leaves_quantity=Decimal(0),
        order_id=order_id,
    )


def _queued(*reports: VenueReport) -> trio.MemoryReceiveChannel[VenueSignal]:
    """``reports`` already waiting in the emergency step's inbox, the venue gone quiet."""
    send, receive = trio.open_memory_channel[VenueSignal](len(reports))
    for report in reports:
        send.send_nowait(report)
    send.close()
    return receive


async def test_reports_queued_in_the_emergency_are_journaled_a_group_at_a_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A poll that finds many orders ended hands over its reports in a burst: the moves of
    what queued up go in one commit. A fill takes its own path (its trade id, idempotent),
    after what was staged before it: the journal is the one of applying each report on
    its own (the same hash), in fewer transactions."""

    def report(coid: str, event: Fill | VenueOrderState | Expired) -> VenueReport:
        return VenueReport(client_order_id=coid, event=event, at=0.0)

    fill = Fill(trade_id="t-1", price=Decimal("100"), size=Decimal("0.004"), order_id="v-3")
    reports = (
        report("c-0", _snapshot("CANCELLED")),
        report("c-1", _snapshot("CANCELLED")),
        report("stranger", _snapshot("CANCELLED")),
        report("c-2", fill),
        report("c-2", _snapshot("CANCELLED")),
        report("c-3", _snapshot("CANCELLED")),
        report("c-4", Expired()),
    )

    async def journal_of(grouped: bool) -> tuple[str, list[int], int]:
        path = tmp_path / f"{'grouped' if grouped else 'one-by-one'}.sqlite"
        async with await AsyncJournal.open(path, inline=True) as journal:
            core = ExecutionCore(ScriptedVenue(), journal)
            for n in range(5):
                await core.submit(_order(f"c-{n}"), Published())
            statements: list[str] = []
            journal._journal._db.set_trace_callback(statements.append)
            if grouped:
                await core._drain_reports(_queued(*reports))
                assert core._emergency_reports == len(reports)
            else:
                for one in reports:
                    await core.on_report(one, Published())
            sizes: list[int] = []
            for statement in statements:
                if statement == "BEGIN IMMEDIATE":
                    sizes.append(0)
                elif statement.startswith("INSERT INTO events"):
                    sizes[-1] += 1
            assert core.orders_by_state()[OrderState.CANCELLED] == 4
            return await journal.digest(), sizes, core.statistics().foreign_reports

    grouped, one_by_one = await journal_of(True), await journal_of(False)
    assert grouped[0] == one_by_one[0]
    # c-0 and c-1; the fill and its move to PARTIALLY_FILLED; c-2, c-3 and c-4
    assert grouped[1:] == ([2, 1, 1, 3], 1)
    assert one_by_one[1:] == ([1] * 7, 1)


async def test_a_report_the_table_refuses_is_raised_once_the_moves_before_it_are_journaled(
    journal: AsyncJournal,
) -> None:
    """As one report at a time: what came before the refused report is applied and
    journaled (memory never runs ahead of the journal), nothing after it is applied."""
    core = ExecutionCore(ScriptedVenue(), journal)
    for n in range(3):
        await core.submit(_order(f"c-{n}"), Published())
    inbox = _queued(
        VenueReport(client_order_id="c-0", event=_snapshot("CANCELLED"), at=0.0),
        VenueReport(client_order_id="c-1", event=_snapshot("FAILED"), at=0.0),  # after OPEN
        VenueReport(client_order_id="c-2", event=_snapshot("CANCELLED"), at=0.0),
    )
    with pytest.raises(IllegalTransition, match="c-1"):
        await core._drain_reports(inbox)
    rows = await journal.orders()
    assert [rows[f"c-{n}"]["state"] for n in range(3)] == ["CANCELLED", "OPEN", "OPEN"]
    states = [core.order(f"c-{n}") for n in range(3)]
    assert [o.state for o in states if o] == [
        OrderState.CANCELLED,
        OrderState.OPEN,
        OrderState.OPEN,
    ]


async def test_emergency_cancel_all_raises_when_orders_remain(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    await core.submit(_order(), Published())
    venue.refuse_cancels = True
    with pytest.raises(OrdersRemainOpen, match="1 order") as caught:
        await core.emergency_cancel_all(attempts=2, pause=0.01, settle=0.01)
    assert caught.value.outcome.remaining_ids == ("c-1",)
    assert caught.value.outcome.attempts == 2
    assert "scripted" in repr(core)


@pytest.mark.parametrize("hang", ["first read", "re-read"])
async def test_an_emergency_cut_short_journals_what_may_still_be_open(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock, hang: str
) -> None:
    """The deadline cancels the step mid-way: the outcome is still journaled, marked not
    completed, naming every order that may still be open (never an all-clear)."""
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    for n in range(3):
        await core.submit(_order(f"c-{n}"), Published())
    venue.refuse_cancels = True  # acknowledged, never cancelled: all stay open
    reads = 0
    listing = venue.open_orders

    async def slow_listing() -> tuple[VenueOrder, ...]:
        nonlocal reads
        reads += 1
        if hang == "first read" or reads > 1:
            await trio.sleep_forever()
        return await listing()

    venue.open_orders = slow_listing  # type: ignore[method-assign]
    with trio.move_on_after(5):
        await core.emergency_cancel_all(settle=0.01)
        raise AssertionError("the step should not have finished")
    [(_, _, outcome)] = await journal.read(kinds=[EmergencyCancelFinished])
    assert isinstance(outcome, EmergencyCancelFinished)
    assert outcome.completed is False
    assert outcome.remaining_ids == ("c-0", "c-1", "c-2")
    assert outcome.cancel_requests == (0 if hang == "first read" else 3)
    summary = summarize(await journal.read())
    assert "CUT SHORT: check the venue (c-0, c-1, c-2)" in summary.emergency_cancel


async def test_a_lookup_that_fails_decides_nothing_and_the_sweep_asks_again(
    journal: AsyncJournal,
) -> None:
    venue = ScriptedVenue()
    first = ExecutionCore(venue, journal)
    # An intent journaled, then the process died: the venue never got it.
    await journal.append_for_order(
        _order("c-lost"), at=0.0, client_order_id="c-lost", state={"state": "PENDING"}
    )
    venue.failing_lookups = 1
    report = await first.recover(Published())
    order = first.order("c-lost")
    assert order is not None
    assert venue.submits == []  # an error is not proof of absence: nothing re-sent yet
    assert order.needs_lookup
    assert report.resent == 0
    assert first.statistics().lookup_errors == 1
    # The sweep asks again; the venue answers "never heard of it": sent under the same id.
    assert await first.resolve_pending(Published()) == 0
    assert [o.client_order_id for o in venue.submits] == ["c-lost"]
    assert order.state is OrderState.OPEN


async def test_an_unknown_outcome_whose_lookup_fails_stays_unknown(journal: AsyncJournal) -> None:
    venue = ScriptedVenue()
    venue.outcomes.append(OutcomeUnknown(reason="timeout"))
    venue.failing_lookups = 1
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    order = core.order("c-1")
    assert order is not None
    assert order.state is OrderState.UNKNOWN
    assert len(venue.submits) == 1
    assert await core.resolve_pending(published) == 0
    assert order.state is OrderState.OPEN  # not found, re-sent with the same id, accepted
    assert [o.client_order_id for o in venue.submits] == ["c-1", "c-1"]


async def test_tick_to_trade_is_measured_for_fresh_intents_only(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock
) -> None:
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    await trio.sleep(10)
    triggered = attrs.evolve(_order("c-frame"), trigger_at=trio.current_time() - 0.002)
    await core.submit(triggered, Published())
    await core.submit(_order("c-timer"), Published())  # no frame prompted it
    first = core.tick_to_trade.snapshot()
    assert first.count == 1
    assert first.total == pytest.approx(0.002)
    # A new process re-sends an intent the venue never got: its trigger is another clock's.
    await journal.append_for_order(
        attrs.evolve(_order("c-old"), trigger_at=1.0),
        at=0.0,
        client_order_id="c-old",
        state={"state": "PENDING"},
    )
    again = ExecutionCore(venue, journal)
    await again.recover(Published())
    assert again.tick_to_trade.snapshot().count == 0
    assert "c-old" in [o.client_order_id for o in venue.submits]


async def test_tick_to_trade_ends_when_the_request_is_handed_to_the_venue(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock
) -> None:
    """The window closes at the venue call: the commit and the SUBMITTED update's publish
    are inside it, the venue's own round trip is not."""
    venue = ScriptedVenue()

    async def slow_venue(order: SubmitOrder) -> None:
        await trio.sleep(0.5)

    venue.before_submit = slow_venue

    async def slow_subscriber(event: ExecutorOutput) -> None:
        if isinstance(event, OrderUpdated) and event.state is OrderState.SUBMITTED:
            await trio.sleep(0.001)

    await trio.sleep(10)
    triggered = attrs.evolve(_order(), trigger_at=trio.current_time() - 0.002)
    core = ExecutionCore(venue, journal)
    await core.submit(triggered, slow_subscriber)
    assert venue.submits == [triggered]
    observed = core.tick_to_trade.snapshot()
    assert observed.count == 1
    assert observed.total == pytest.approx(0.003)


# -- found by the chaos soak ------------------------------------------------------------------


@pytest.mark.parametrize("fill_names_the_order", [True, False])
async def test_an_order_filled_before_its_create_answer_learns_its_venue_id(
    journal: AsyncJournal, fill_names_the_order: bool
) -> None:
    """The exchange fills an order and reports the fill before the create's answer arrives
    (a slow or lost answer): the journal must still end up with the venue's order id."""
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    published = Published()

    async def fill_first(order: SubmitOrder) -> None:
        fill = Fill(
            trade_id="t-1",
            price=Decimal("100"),
            size=order.size,
            order_id="v-1" if fill_names_the_order else "",
        )
        await core.on_report(VenueReport(client_order_id="c-1", event=fill, at=1.0), published)

    venue.before_submit = fill_first
    await core.submit(_order(), published)
    fills = [e for e in published.events if isinstance(e, OrderFilled)]
    assert [f.order_id for f in fills] == (["v-1"] if fill_names_the_order else [""])
    row = (await journal.orders())["c-1"]
    assert row["order_id"] == "v-1"  # from the fill, or from the late answer
    assert row["filled_size"] == "0.01"
    assert published.states()[-1][1] is OrderState.FILLED


async def test_a_move_made_while_a_fill_is_written_does_not_hide_the_fill_in_the_row(
    journal: AsyncJournal,
) -> None:
    """A FILLED snapshot applied while a fill's journal write is under way wrote the order's
    row without that fill, after the fill's own row: the row said FILLED with nothing filled
    (the chaos soak saw it during a cancel). The fill's task writes the row again."""
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    published = Published()
    await core.submit(_order(), published)
    written, resume = trio.Event(), trio.Event()
    record_fill = journal.record_fill

    async def slow_record_fill(*args: object, **kwargs: object) -> bool:
        new: bool = await record_fill(*args, **kwargs)  # type: ignore[arg-type]
        written.set()
        await resume.wait()
        return new

    journal.record_fill = slow_record_fill  # type: ignore[method-assign]
    fill = Fill(trade_id="t-1", price=Decimal("100"), size=Decimal("0.01"), order_id="v-1")
    filled_snapshot = VenueOrderState(
        status="FILLED",
        cumulative_quantity=Decimal("0.01"),
        leaves_quantity=Decimal(0),
        order_id="v-1",
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            core.on_report, VenueReport(client_order_id="c-1", event=fill, at=1.0), published
        )
        await written.wait()
        await core.on_report(
            VenueReport(client_order_id="c-1", event=filled_snapshot, at=1.0), published
        )
        assert (await journal.orders())["c-1"]["filled_size"] == "0"  # the stale row
        resume.set()
    row = (await journal.orders())["c-1"]
    assert (row["state"], row["filled_size"]) == ("FILLED", "0.01")
    assert [type(e).__name__ for e in published.events].count("OrderFilled") == 1


# -- found by the kill -9 end-to-end test on a loaded CI machine -------------------------------


@pytest.mark.parametrize(
    ("event", "after"),
    [
        (_snapshot("CANCELLED", "v-1"), OrderState.CANCELLED),
        (CancelRequested(), OrderState.CANCEL_PENDING),
        # A fill is written before the order moves: cancelled first, neither happens (the
        # venue's next report or the emergency step's last read of fills brings it again).
        (Fill(trade_id="t-1", price=Decimal("100"), size=Decimal("0.004")), OrderState.OPEN),
    ],
    ids=["snapshot", "cancel-request", "fill"],
)
async def test_a_cancellation_never_leaves_an_order_moved_in_memory_and_not_in_the_journal(
    journal: AsyncJournal, event: VenueOrderState | CancelRequested | Fill, after: OrderState
) -> None:
    """The tree is cancelled just as a report is being applied: once the order has moved in
    memory, its commit must not be skipped. (It was: the write waits its turn at a
    checkpoint, the cancellation landed there, and the emergency step, which reads memory,
    never looked the order up again; a clean stop ended with the journal saying
    CANCEL_PENDING for an order the exchange had cancelled.)"""
    core = ExecutionCore(ScriptedVenue(), journal)
    await core.submit(_order(), Published())
    order = core.order("c-1")
    assert order is not None
    with trio.CancelScope() as scope:
        scope.cancel()
        if isinstance(event, CancelRequested):
            await core._apply(order, event, Published())
        else:
            report = VenueReport(client_order_id="c-1", event=event, at=1.0)
            await core.on_report(report, Published())
    assert scope.cancelled_caught  # the cancellation is delivered, after the commit
    assert order.state is after
    row = (await journal.orders())["c-1"]
    assert (row["state"], row["filled_size"]) == (after.value, str(order.filled_size))
    [*_, (_, _, last)] = await journal.read(kinds=[OrderUpdated])
    assert isinstance(last, OrderUpdated)
    assert last.state is after


async def test_every_report_handed_over_before_the_venue_stops_is_journaled(
    journal: AsyncJournal, autojump_clock: trio.testing.MockClock
) -> None:
    """A burst of fills the venue hands over as the emergency step ends, with a slow journal:
    the step stops the venue, then journals everything queued before it returns (it used to
    cancel the reports' task with the venue, so fills still being written, or queued behind
    them, were lost from the run's journal until the next start)."""
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    for n in range(3):
        await core.submit(_order(f"c-{n}", size="0.01"), Published())
    record_fill = journal.record_fill

    async def slow_record_fill(*args: object, **kwargs: object) -> bool:
        await trio.sleep(1.0)  # a loaded disk: longer than the step's quiet period
        new: bool = await record_fill(*args, **kwargs)  # type: ignore[arg-type]
        return new

    journal.record_fill = slow_record_fill  # type: ignore[method-assign]
    listing = venue.open_orders
    reads = 0

    async def open_orders_then_fills() -> tuple[VenueOrder, ...]:
        nonlocal reads
        reads += 1
        listed = await listing()
        if reads == 2:  # the re-read after the cancels: the fills made just before arrive
            assert venue.reports is not None
            for n in range(3):
                fill = Fill(
                    trade_id=f"t-{n}", price=Decimal("100"), size=Decimal("0.004"), order_id=""
                )
                await venue.reports.send(
                    VenueReport(client_order_id=f"c-{n}", event=fill, at=trio.current_time())
                )
        return listed

    venue.open_orders = open_orders_then_fills  # type: ignore[method-assign]
    outcome = await core.emergency_cancel_all(settle=0.01)
    assert outcome.remaining == 0
    assert sorted(await _fill_ids(journal)) == ["t-0", "t-1", "t-2"]
    rows = await journal.orders()
    assert [rows[f"c-{n}"]["filled_size"] for n in range(3)] == ["0.004"] * 3


async def _fill_ids(journal: AsyncJournal) -> list[str]:
    entries = await journal.read(kinds=[OrderFilled])
    return [m.trade_id for _, _, m in entries if isinstance(m, OrderFilled)]


# -- queries over weeks of orders ---------------------------------------------------------------


def _brute_force(core: ExecutionCore) -> tuple[list[str], dict[OrderState, int]]:
    """What the queries must answer, from every order the core holds."""
    orders = list(core._orders.values())
    counts = dict.fromkeys(OrderState, 0)
    for order in orders:
        counts[order.state] += 1
    return [o.client_order_id for o in orders if not o.terminal], counts


async def test_queries_agree_with_every_order_held_and_skip_the_ended_ones(
    journal: AsyncJournal,
) -> None:
    """``working_orders``, ``orders_by_state`` and ``statistics`` are read on every status
    line and metrics scrape: they answer from the orders not yet seen ended, and must
    answer what a count over every order would, whenever they are asked, and again after a
    recovery replays the journal."""
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    published = Published()

    def check(against: ExecutionCore) -> None:
        working, counts = _brute_force(against)
        assert [o.client_order_id for o in against.working_orders()] == working
        assert against.orders_by_state() == counts
        assert against.statistics().working == len(working)
        assert len(against._unended) == len(working)  # the ended ones were set apart

    for n in range(12):
        if n % 4 == 3:
            venue.outcomes.append(Rejected(reason="INSUFFICIENT_FUND"))
        await core.submit(_order(f"c-{n}"), published)
        if n % 4 == 0:
            await core.on_report(
                VenueReport(client_order_id=f"c-{n}", event=_snapshot("CANCELLED"), at=1.0),
                published,
            )
        if n % 4 == 1:
            fill = Fill(trade_id=f"t-{n}", price=Decimal("100"), size=Decimal("0.01"))
            await core.on_report(
                VenueReport(client_order_id=f"c-{n}", event=fill, at=1.0), published
            )
        if n % 3 == 0:
            check(core)  # asked now and then, as a status line is
    check(core)
    counts = core.orders_by_state()
    assert [counts[s] for s in (OrderState.OPEN, OrderState.CANCELLED, OrderState.FILLED)] == [
        3,
        3,
        3,
    ]
    assert counts[OrderState.REJECTED] == 3
    again = ExecutionCore(venue, journal)
    await again.recover(Published())
    check(again)
    assert again.orders_by_state() == counts


async def test_a_fresh_intent_cancelled_before_its_commit_is_neither_durable_nor_sent(
    journal: AsyncJournal,
) -> None:
    """The one commit after a move that is not shielded: a stop just before it leaves no
    intent for the next start to send, and the order, SUBMITTED in memory, is not ended
    (the emergency step still looks it up)."""
    venue = ScriptedVenue()
    core = ExecutionCore(venue, journal)
    with trio.CancelScope() as scope:
        scope.cancel()
        await core.submit(_order(), Published())
    assert scope.cancelled_caught
    assert await journal.read() == []
    assert venue.submits == []
    assert [o.client_order_id for o in core.working_orders()] == ["c-1"]
