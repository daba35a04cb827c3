"""The book actor: books from snapshots and updates, trust, conflated views, trades and bars.

Every test runs the real actor over real mailboxes under the autojump clock. Messages are
fed to its inbox as the feed would send them; ``settle()`` lets the actor handle them (a
short virtual sleep: every runnable task runs before the clock moves), so the times in the
assertions are exact virtual times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from cjt_actors.actors.book import BookActor, BookActorStatus, BookStatus
from cjt_actors.actors.feed import FeedMessage
from cjt_actors.channels import ConflatingMailbox, Mailbox, Outbox, Overflow
from cjt_actors.child import ChildContext
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.l2ticks import L2TickEvent, TickLevel
from cjt_actors.exchange.stream import Trade
from cjt_actors.market_messages import (
    BarClosed,
    BookTrustChanged,
    BookUpdated,
    FeedState,
    FeedStatusChanged,
    L2FrameReceived,
    TradesReceived,
)
from cjt_actors.messages import Event
from cjt_actors.orderbook import BookView, L2Book, TrustReason, TrustState
from cjt_actors.products import ProductRules
from cjt_actors.status import StatusBoard

BTC, ETH = "BTC-USD", "ETH-USD"
D = Decimal


def _rules(product_id: str) -> ProductRules:
    return ProductRules(
        product_id=product_id,
        base_increment=D("0.0001"),
        price_increment=D("0.01"),
        base_min_size=D("0.0001"),
        base_max_size=D("1000"),
        quote_min_size=D("1"),
    )


PRODUCTS = {BTC: _rules(BTC), ETH: _rules(ETH)}

Level = tuple[str, str]  # (price, size)


def _levels(bids: Sequence[Level], asks: Sequence[Level]) -> tuple[TickLevel, ...]:
    """In the products' ticks (cents) and units (0.0001), as the feed's decoder sends them."""

    def ticks(is_bid: bool, price: str, size: str) -> TickLevel:
        return (is_bid, int(D(price) / D("0.01")), int(D(size) / D("0.0001")))

    return tuple([ticks(True, p, s) for p, s in bids] + [ticks(False, p, s) for p, s in asks])


def snapshot(product_id: str, bids: Sequence[Level], asks: Sequence[Level]) -> L2TickEvent:
    return L2TickEvent(type="snapshot", product_id=product_id, levels=_levels(bids, asks))


def update(product_id: str, bids: Sequence[Level] = (), asks: Sequence[Level] = ()) -> L2TickEvent:
    return L2TickEvent(type="update", product_id=product_id, levels=_levels(bids, asks))


def l2(*events: L2TickEvent, received_at: float | None = None) -> L2FrameReceived:
    at = trio.current_time() if received_at is None else received_at
    return L2FrameReceived(sequence_num=0, received_at=at, events=events)


def trade(product_id: str, price: str, size: str = "1") -> Trade:
    return Trade(
        trade_id="t",
        product_id=product_id,
        price=D(price),
        size=D(size),
        maker_side="SELL",
        time="t",
    )


def trades(
    *items: Trade, snapshot: bool = False, received_at: float | None = None
) -> TradesReceived:
    at = trio.current_time() if received_at is None else received_at
    return TradesReceived(sequence_num=0, received_at=at, snapshot=snapshot, trades=items)


def status(state: FeedState) -> FeedStatusChanged:
    return FeedStatusChanged(state=state, detail="test", attempt=0, at=trio.current_time())


def _context(incarnation: int = 1) -> ChildContext:
    return ChildContext(name="book", path="test/book", incarnation=incarnation, shutdown_timeout=1)


def _views_box(name: str) -> ConflatingMailbox[str, BookUpdated]:
    return ConflatingMailbox[str, BookUpdated](
        name, key=lambda update: update.view.product_id, max_keys=8
    )


def _drain(receive: Any) -> list[Any]:
    got = []
    while True:
        try:
            got.append(receive())
        except trio.WouldBlock:
            return got


@attrs.define
class Rig:
    """A running book actor, its mailboxes and its board."""

    actor: BookActor
    feed: Outbox[FeedMessage]
    board: StatusBoard

    async def send(self, *messages: FeedMessage) -> None:
        for message in messages:
            await self.feed.send(message)
        await settle()

    def views(self, index: int = 0) -> list[BookView]:
        """Every view pending for consumer ``index`` (at most one per product: conflated)."""
        return [u.view for u in _drain(self.actor.view_outboxes[index].receiver().receive_nowait)]

    def latest(self, product_id: str, index: int = 0) -> BookView:
        (view,) = [v for v in self.views(index) if v.product_id == product_id]
        return view

    def market(self) -> list[TradesReceived | BarClosed]:
        return _drain(self.actor.market_outboxes[0].receiver().receive_nowait)

    def trades(self) -> list[TradesReceived]:
        return _drain(self.actor.trade_outboxes[0].receiver().receive_nowait)

    def status(self) -> BookActorStatus:
        found = self.board.get(self.actor.name, BookActorStatus)
        assert found is not None
        return found

    def book_status(self, product_id: str) -> BookStatus:
        found = self.board.get(f"{self.actor.name}/{product_id}", BookStatus)
        assert found is not None
        return found


async def settle() -> None:
    await trio.sleep(0.001)


def _actor(**overrides: Any) -> BookActor:
    settings: dict[str, Any] = {
        "products": PRODUCTS,
        "inbox": Mailbox[FeedMessage]("feed->book", capacity=64),
        "view_outboxes": (_views_box("views-a"), _views_box("views-b")),
        "market_outboxes": (
            Mailbox[TradesReceived | BarClosed](
                "market", capacity=32, overflow=Overflow.DROP_OLDEST
            ),
        ),
        "trade_outboxes": (Mailbox[TradesReceived]("trades", capacity=32),),
        "depth": 2,
        "board": StatusBoard(),
    }
    settings.update(overrides)
    return BookActor(**settings)


@asynccontextmanager
async def running(actor: BookActor, incarnation: int = 1) -> AsyncIterator[Rig]:
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run, _context(incarnation))
        yield Rig(actor=actor, feed=actor.inbox.sender(), board=actor.board or StatusBoard())
        nursery.cancel_scope.cancel()


BTC_BOOK = snapshot(
    BTC,
    bids=[("100.00", "1"), ("99.99", "2"), ("99.98", "3")],
    asks=[("100.01", "1.5"), ("100.02", "2.5"), ("100.03", "3.5")],
)


# -- books and views ---------------------------------------------------------------------------


async def test_a_new_incarnation_publishes_empty_untrusted_views_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No consumer keeps acting on a view from a previous incarnation."""
    async with running(_actor()) as rig:
        for index in (0, 1):
            views = {v.product_id: v for v in rig.views(index)}
            assert set(views) == {BTC, ETH}
            assert not views[BTC].trusted
            assert views[BTC].best_bid is None
            assert views[BTC].sequence == 0
        assert rig.book_status(BTC).state is TrustState.EMPTY
        assert rig.status().incarnation == 1


async def test_snapshot_and_updates_build_the_book_and_each_frame_publishes_one_view(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(_actor()) as rig:
        rig.views()
        rig.views(1)
        await rig.send(l2(BTC_BOOK))
        view = rig.latest(BTC)
        assert view.trusted
        assert view.trust_reason is None
        assert view.bids == ((D("100.00"), D("1")), (D("99.99"), D("2")))  # depth 2
        assert view.asks == ((D("100.01"), D("1.5")), (D("100.02"), D("2.5")))
        assert view.mid == D("100.005")
        # one frame with three events of one product and one of another: one view each
        await rig.send(
            l2(
                update(BTC, bids=[("100.00", "0")]),
                update(BTC, asks=[("100.01", "0")]),
                update(BTC, bids=[("99.97", "4")]),
                snapshot(ETH, bids=[("10.00", "1")], asks=[("10.01", "1")]),
            )
        )
        views = rig.views()
        assert sorted(v.product_id for v in views) == [BTC, ETH]
        btc = next(v for v in views if v.product_id == BTC)
        assert btc.best_bid == D("99.99")
        assert btc.best_ask == D("100.02")
        assert btc.sequence == 4  # the snapshot and three update events
        assert btc.trusted
        # the second consumer got the same latest views
        assert {v.product_id: v.sequence for v in rig.views(1)} == {BTC: 4, ETH: 1}
        assert rig.status().l2_frames == 2
        assert rig.status().views_published == 2 + 3  # start-up views, then 1 + 2


async def test_a_slow_consumer_gets_the_latest_view_not_a_backlog(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(_actor()) as rig:
        rig.views()
        await rig.send(l2(BTC_BOOK))
        for size in ("5", "6", "7"):
            await rig.send(l2(update(BTC, bids=[("100.00", size)])))
        (view,) = rig.views()
        assert view.best_bid_size == D("7")
        assert view.sequence == 4
        assert rig.actor.view_outboxes[0].statistics().dropped == 3


async def test_a_crossed_snapshot_is_untrusted(autojump_clock: trio.testing.MockClock) -> None:
    async with running(_actor()) as rig:
        await rig.send(l2(snapshot(BTC, bids=[("100.02", "1")], asks=[("100.01", "1")])))
        view = rig.latest(BTC)
        assert not view.trusted
        assert view.trust_reason is TrustReason.CROSSED
        assert rig.book_status(BTC).reason is TrustReason.CROSSED


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (FeedState.GAP, TrustReason.GAP),
        (FeedState.RECONNECTING, TrustReason.RECONNECT),
        (FeedState.STALE, TrustReason.STALE),
        (FeedState.CONNECTING, TrustReason.RECONNECT),
    ],
)
async def test_feed_trouble_distrusts_every_book_at_once_and_a_snapshot_restores_it(
    state: FeedState, reason: TrustReason, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(_actor()) as rig:
        eth = snapshot(ETH, bids=[("10.00", "1")], asks=[("10.01", "1")])
        await rig.send(l2(BTC_BOOK, eth))
        rig.views()
        await rig.send(status(state))
        views = {v.product_id: v for v in rig.views()}
        assert {p: (v.trusted, v.trust_reason) for p, v in views.items()} == {
            BTC: (False, reason),
            ETH: (False, reason),
        }
        assert rig.status().feed_state is state
        # CONNECTED is not enough: trust only returns with a snapshot
        await rig.send(status(FeedState.CONNECTED))
        assert rig.views() == []
        assert rig.status().feed_state is FeedState.CONNECTED
        # updates are still applied while untrusted
        await rig.send(l2(update(BTC, bids=[("100.00", "9")])))
        view = rig.latest(BTC)
        assert (view.trusted, view.best_bid_size) == (False, D("9"))
        await rig.send(l2(BTC_BOOK))
        assert rig.latest(BTC).trusted
        assert rig.book_status(ETH).reason is reason  # ETH still waits for its snapshot


async def test_a_feed_status_before_any_snapshot_leaves_the_books_empty(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(_actor()) as rig:
        rig.views()
        await rig.send(status(FeedState.GAP))
        views = rig.views()
        assert len(views) == 2
        assert all(v.trust_reason is None and not v.trusted for v in views)


async def test_an_update_before_any_snapshot_is_refused_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """As after a restart, with frames of the old connection still queued."""
    async with running(_actor()) as rig:
        rig.views()
        await rig.send(l2(update(BTC, bids=[("100.00", "1")])))
        view = rig.latest(BTC)
        assert (view.trusted, view.best_bid) == (False, None)
        assert rig.book_status(BTC).state is TrustState.EMPTY
        assert rig.status().apply_errors == 1
        assert "before any snapshot" in rig.status().last_apply_error


async def test_events_and_trades_of_unknown_products_are_ignored_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(_actor()) as rig:
        rig.views()
        await rig.send(
            l2(snapshot("DOGE-USD", bids=[("1.00", "1")], asks=[("1.01", "1")])),
            trades(trade("DOGE-USD", "1.00"), trade(BTC, "100.00")),
            trades(trade("DOGE-USD", "1.00"), snapshot=True),
        )
        assert rig.views() == []
        status = rig.status()
        assert (status.unknown_product_events, status.unknown_product_trades) == (1, 2)
        assert rig.board.get("book/DOGE-USD", BookStatus) is None
        # the frames are still forwarded whole: they are the wire's batches
        assert len(rig.trades()) == 2


# -- trades and bars ---------------------------------------------------------------------------


async def test_trades_are_forwarded_to_market_and_trade_outboxes_and_recorded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(_actor()) as rig:
        await rig.send(l2(BTC_BOOK))
        live = trades(trade(BTC, "100.01", "0.5"))
        old = trades(trade(BTC, "90.00", "2"), snapshot=True)
        await rig.send(old, live)
        assert rig.trades() == [old, live]
        assert rig.market() == [old, live]
        # the live trade is the last trade; the snapshot's older one is not
        await rig.send(l2(update(BTC, bids=[("100.00", "2")])))
        view = rig.latest(BTC)
        assert (view.last_trade_price, view.last_trade_size) == (D("100.01"), D("0.5"))
        assert rig.book_status(BTC).counters.trades == 1
        assert rig.status().trade_frames == 2


async def test_a_trade_in_a_later_interval_closes_the_bar_after_forwarding_its_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = _actor(bar_intervals=(1, 5))
    async with running(actor) as rig:
        await trio.sleep(10 - trio.current_time())  # align to a 5 s boundary
        first = trades(trade(BTC, "100.00", "1"), trade(BTC, "101.00", "2"))
        await rig.send(first)
        await trio.sleep(1.0)
        second = trades(trade(BTC, "99.00", "1"), trade(ETH, "10.00", "1"))
        await rig.send(second)
        market = rig.market()
        assert market[:2] == [first, second]
        (closed,) = market[2:]
        assert isinstance(closed, BarClosed)
        assert closed.product_id == BTC
        bar = closed.bar
        assert (bar.start, bar.interval) == (10, 1)
        assert (bar.open, bar.high, bar.low, bar.close) == (D(100), D(101), D(100), D(101))
        assert (bar.volume, bar.trade_count) == (D(3), 2)
        assert closed.at == second.received_at  # handled the moment it was sent
        assert rig.status().bars_closed == 1


async def test_snapshot_trades_do_not_make_bars(autojump_clock: trio.testing.MockClock) -> None:
    async with running(_actor(bar_intervals=(1,))) as rig:
        await rig.send(trades(trade(BTC, "100.00"), snapshot=True))
        await trio.sleep(5)
        assert [m for m in rig.market() if isinstance(m, BarClosed)] == []


async def test_the_timer_closes_bars_in_a_quiet_market(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = _actor(bar_intervals=(1, 60), stale_check_interval=1.0, bar_grace=0.25)
    async with running(actor) as rig:
        await trio.sleep(3.1 - trio.current_time())
        frame = trades(trade(BTC, "100.00"))
        await rig.send(frame)
        # the 1 s bar [3, 4) ends at 4; with 0.25 s of grace the tick at 5 closes it
        await trio.sleep(4.9 - trio.current_time())
        assert rig.market() == [frame]
        await trio.sleep(5.1 - trio.current_time())
        (closed,) = rig.market()
        assert isinstance(closed, BarClosed)
        assert (closed.bar.start, closed.bar.interval, closed.at) == (3, 1, 5.0)
        # the 60 s bar closes at the first tick 0.25 s after 60
        await trio.sleep(61.1 - trio.current_time())
        (closed,) = rig.market()
        assert isinstance(closed, BarClosed)
        assert (closed.bar.start, closed.bar.interval, closed.at) == (0, 60, 61.0)


async def test_a_trade_for_a_bar_the_timer_closed_already_is_counted_late(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = _actor(bar_intervals=(1,), bar_grace=0.0)
    async with running(actor) as rig:
        await rig.send(trades(trade(BTC, "100.00"), received_at=0.5))
        await trio.sleep(2.5 - trio.current_time())
        assert [m for m in rig.market() if isinstance(m, BarClosed)] != []
        await rig.send(trades(trade(BTC, "100.00"), received_at=0.9))
        assert rig.status().late_trades == 1


async def test_bars_go_to_a_blocking_market_outbox_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    market = Mailbox[TradesReceived | BarClosed]("market", capacity=8)
    async with running(_actor(market_outboxes=(market,), bar_intervals=(1,))) as rig:
        frame = trades(trade(BTC, "100.00"))
        await rig.send(frame)
        await rig.send(trades(trade(BTC, "101.00"), received_at=1.5))
        await trio.sleep(3)
        got = rig.market()
        assert got[0] == frame
        assert [m.bar.start for m in got if isinstance(m, BarClosed)] == [0, 1]


# -- staleness, the board, the end ---------------------------------------------------------------


async def test_a_book_without_updates_for_max_age_turns_stale(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = _actor(max_age=5.0, stale_check_interval=1.0)
    async with running(actor) as rig:
        eth = snapshot(ETH, bids=[("10.00", "1")], asks=[("10.01", "1")])
        await rig.send(l2(BTC_BOOK, eth))
        rig.views()
        await trio.sleep(4.0)
        await rig.send(l2(update(ETH, bids=[("10.00", "2")])))  # ETH keeps moving
        rig.views()
        await trio.sleep(5.5 - trio.current_time())
        assert rig.views() == []  # 5 s old: not yet *more* than max_age
        await trio.sleep(6.5 - trio.current_time())
        (view,) = rig.views()
        assert (view.product_id, view.trusted, view.trust_reason) == (BTC, False, TrustReason.STALE)
        assert rig.book_status(ETH).state is TrustState.TRUSTED
        # a status is built when it is read: its age is as of the reading
        assert rig.book_status(BTC).age == pytest.approx(6.5, abs=0.01)
        await trio.sleep(7.5 - trio.current_time())
        assert rig.book_status(ETH).as_of == 7.5
        assert rig.book_status(ETH).best_bid == D("10.00")
        assert rig.views() == []


async def test_without_a_board_it_works_the_same(autojump_clock: trio.testing.MockClock) -> None:
    async with running(_actor(board=None, stale_check_interval=0.5)) as rig:
        await rig.send(l2(BTC_BOOK), trades(trade(BTC, "100.00")))
        await trio.sleep(1)
        assert rig.latest(BTC).trusted
        assert rig.board.snapshots() == {}


async def test_it_returns_when_its_inbox_is_closed(autojump_clock: trio.testing.MockClock) -> None:
    actor = _actor()
    with trio.fail_after(5):  # the timer would tick forever if the actor did not return
        async with trio.open_nursery() as nursery:
            await nursery.start(actor.run, _context())
            actor.inbox.close()
    assert trio.current_time() < 1.0  # at once, before the first tick


async def test_a_restarted_incarnation_starts_from_empty_books(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = _actor()
    async with running(actor) as rig:
        await rig.send(l2(BTC_BOOK))
        assert rig.latest(BTC).trusted
    async with running(actor, incarnation=2) as rig:
        view = rig.latest(BTC)
        assert (view.trusted, view.sequence) == (False, 0)
        assert rig.status().incarnation == 2
        assert rig.status().l2_frames == 0


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"products": {}}, "products: must map at least one"),
        ({"products": {ETH: _rules(BTC)}}, "products['ETH-USD']: must be the ProductRules"),
        ({"depth": 0}, "depth: must be an integer >= 1"),
        ({"depth": True}, "depth: must be an integer >= 1"),
        ({"bar_intervals": ()}, "at least one interval"),
        ({"max_age": 0}, "max_age: must be a finite number of seconds > 0"),
        ({"max_age": float("nan")}, "max_age"),
        ({"stale_check_interval": True}, "stale_check_interval"),
        ({"stale_check_interval": "1"}, "stale_check_interval"),
        ({"bar_grace": -1.0}, "bar_grace: must be a finite number of seconds >= 0"),
    ],
)
def test_bad_settings_are_refused_at_construction(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message.replace("[", r"\[").replace("]", r"\]")):
        _actor(**overrides)


def test_no_grace_is_allowed() -> None:
    assert _actor(bar_grace=0).bar_grace == 0


# -- trust changes, told to the journal ----------------------------------------------------------

Told = tuple[str, bool, str, float]  # (product_id, trusted, reason, at)


def _trusting_actor(overflow: Overflow = Overflow.BLOCK, **overrides: Any) -> BookActor:
    """An actor whose trust outbox is a journal-like mailbox (any event)."""
    journal = Mailbox[Event]("journal", capacity=64, overflow=overflow)
    return _actor(trust_outbox=journal, **overrides)


def told(actor: BookActor) -> list[Told]:
    """Every trust change sent so far (and not read before)."""
    assert actor.trust_outbox is not None
    changes = _drain(actor.trust_outbox.receiver().receive_nowait)
    assert all(isinstance(c, BookTrustChanged) for c in changes)
    return [(c.product_id, c.trusted, c.reason, c.at) for c in changes]


async def test_each_incarnation_tells_first_that_its_books_are_empty(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = _trusting_actor()
    async with running(actor):
        start = trio.current_time()
        assert told(actor) == [(BTC, False, "EMPTY", start), (ETH, False, "EMPTY", start)]
    async with running(actor, incarnation=2):  # a restart: trusted books are gone
        assert [(p, t, r) for p, t, r, _ in told(actor)] == [
            (BTC, False, "EMPTY"),
            (ETH, False, "EMPTY"),
        ]


async def test_a_snapshot_is_told_once_not_every_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = _trusting_actor()
    async with running(actor) as rig:
        told(actor)
        await trio.sleep(2)
        at = trio.current_time()
        await rig.send(l2(BTC_BOOK))
        assert told(actor) == [(BTC, True, "SNAPSHOT", at)]
        for size in ("5", "6"):
            await rig.send(l2(update(BTC, bids=[("100.00", size)])))
        await rig.send(l2(BTC_BOOK))  # a snapshot of a trusted book changes nothing either
        assert told(actor) == []


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (FeedState.GAP, "GAP"),
        (FeedState.RECONNECTING, "RECONNECT"),
        (FeedState.STALE, "STALE"),
        (FeedState.CONNECTING, "RECONNECT"),
    ],
)
async def test_feed_trouble_is_told_once_per_book_with_its_reason(
    state: FeedState, reason: str, autojump_clock: trio.testing.MockClock
) -> None:
    actor = _trusting_actor()
    async with running(actor) as rig:
        await rig.send(l2(BTC_BOOK))  # ETH stays empty: nothing to distrust there
        told(actor)
        at = trio.current_time()
        await rig.send(status(state))
        assert told(actor) == [(BTC, False, reason, at)]
        # the first reason is the root cause: more trouble tells nothing new
        await rig.send(status(FeedState.GAP), status(FeedState.RECONNECTING))
        await rig.send(status(FeedState.CONNECTED), l2(update(BTC, bids=[("100.00", "9")])))
        assert told(actor) == []
        await trio.sleep(1.5)
        at = trio.current_time()
        await rig.send(l2(BTC_BOOK))
        assert told(actor) == [(BTC, True, "SNAPSHOT", at)]


async def test_a_crossed_snapshot_is_told_even_on_an_empty_book(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """EMPTY -> CROSSED is news: the book has data now, and it is wrong."""
    actor = _trusting_actor()
    async with running(actor) as rig:
        told(actor)
        crossed = snapshot(BTC, bids=[("100.02", "1")], asks=[("100.01", "1")])
        await rig.send(l2(crossed))
        assert [(p, t, r) for p, t, r, _ in told(actor)] == [(BTC, False, "CROSSED")]
        await rig.send(l2(crossed))
        assert told(actor) == []
        await rig.send(l2(BTC_BOOK))
        assert [(p, t, r) for p, t, r, _ in told(actor)] == [(BTC, True, "SNAPSHOT")]


async def test_a_stale_book_is_told_by_the_timer(autojump_clock: trio.testing.MockClock) -> None:
    actor = _trusting_actor(max_age=5.0, stale_check_interval=1.0)
    async with running(actor) as rig:
        start = trio.current_time()
        await rig.send(l2(BTC_BOOK))
        told(actor)
        await trio.sleep(10)
        assert told(actor) == [(BTC, False, "STALE", start + 6.0)]  # first tick past 5 s old


async def test_a_dropping_trust_outbox_never_waits(autojump_clock: trio.testing.MockClock) -> None:
    actor = _trusting_actor(overflow=Overflow.DROP_OLDEST)
    async with running(actor) as rig:
        await rig.send(l2(BTC_BOOK), status(FeedState.GAP))
        assert [(p, t, r) for p, t, r, _ in told(actor)] == [
            (BTC, False, "EMPTY"),
            (ETH, False, "EMPTY"),
            (BTC, True, "SNAPSHOT"),
            (BTC, False, "GAP"),
        ]


async def test_a_full_journal_holds_the_book_up_and_loses_no_trust_change(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """BLOCK: the record of trust is complete, in order, even when the journal lags."""
    journal = Mailbox[Event]("journal", capacity=1)
    actor = _actor(trust_outbox=journal)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run, _context())  # not ready while its EMPTY changes wait
        feed = actor.inbox.sender()
        await feed.send(l2(BTC_BOOK))
        await feed.send(status(FeedState.GAP))
        await settle()
        receiver = journal.receiver()
        got = []
        for _ in range(4):
            change = await receiver.receive()
            assert isinstance(change, BookTrustChanged)
            got.append((change.product_id, change.trusted, change.reason))
        nursery.cancel_scope.cancel()
    assert got == [
        (BTC, False, "EMPTY"),
        (ETH, False, "EMPTY"),
        (BTC, True, "SNAPSHOT"),
        (BTC, False, "GAP"),
    ]


async def test_frames_queued_while_the_book_was_busy_are_all_applied_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The book drains its inbox without a scheduler pass per frame, and misses none."""
    async with running(_actor()) as rig:
        rig.views()
        rig.feed.send_nowait(l2(BTC_BOOK))
        for size in ("2", "3", "4"):
            rig.feed.send_nowait(l2(update(BTC, bids=[("100.00", size)])))
        await trio.sleep(0.1)
        view = rig.latest(BTC)  # conflated: the latest of four
        assert (view.sequence, view.best_bid_size) == (4, D("4"))
        assert rig.status().l2_frames == 4


async def test_views_nobody_takes_are_never_built(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A view is built when a consumer takes it, once for every consumer of that frame."""
    built: list[int] = []
    original = L2Book.view

    def counting_view(self: L2Book, depth: int = 5, *, now: float) -> BookView:
        built.append(self.sequence)
        return original(self, depth, now=now)

    monkeypatch.setattr(L2Book, "view", counting_view)
    async with running(_actor()) as rig:
        rig.views(0)
        rig.views(1)
        built.clear()
        await rig.send(l2(BTC_BOOK))
        for size in ("2", "3", "4"):
            await rig.send(l2(update(BTC, bids=[("100.00", size)])))
        assert built == []  # four frames, no reader: nothing built
        first = rig.latest(BTC, 0)
        second = rig.latest(BTC, 1)
        assert first is second  # one view for both consumers of the same frame
        assert (first.sequence, first.best_bid_size) == (4, D("4"))
        assert built == [4]


def test_a_status_read_after_the_run_is_as_of_the_last_update() -> None:
    """Statuses are built when read; outside trio (a summary after the run) there is no
    trio clock, so the book's own last update stands in for "now"."""
    actor = _actor()

    async def trade_a_little() -> None:
        async with running(actor) as rig:
            await trio.sleep(3)
            await rig.send(l2(BTC_BOOK))

    trio.run(trade_a_little, clock=trio.testing.MockClock(autojump_threshold=0))
    assert actor.board is not None
    status = actor.board.get(f"book/{BTC}", BookStatus)
    assert status is not None
    assert (status.as_of, status.age, status.best_bid) == (3.0, 0.0, D("100.00"))
    empty = actor.board.get(f"book/{ETH}", BookStatus)
    assert empty is not None
    assert empty.as_of == 0.0
