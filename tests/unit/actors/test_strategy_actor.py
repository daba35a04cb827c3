"""The strategy actor: intents to commands, never blocking, recovery on restart, crashes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from cjt_actors.actors import strategy as strategy_module
from cjt_actors.actors.strategy import StrategyActor, StrategyRecovery, StrategyStatus
from cjt_actors.bars import Bar
from cjt_actors.channels import ConflatingMailbox, Mailbox, Overflow
from cjt_actors.child import ChildContext, ChildSpec
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.lifecycle import Liquidity, OrderState, derive_client_order_id
from cjt_actors.market_messages import BarClosed, BookUpdated, TradesReceived
from cjt_actors.order_messages import (
    CancelOrder,
    DenyReason,
    IntentKind,
    OrderDenied,
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
)
from cjt_actors.orderbook import BookView
from cjt_actors.policy import Intensity
from cjt_actors.products import ProductRules
from cjt_actors.status import StatusBoard
from cjt_actors.strategies import (
    BaseStrategy,
    Cancel,
    Intent,
    Replace,
    StrategyContext,
    Submit,
)
from cjt_actors.strategies.base import OrderEvent
from cjt_actors.strategies.market_maker import MarketMaker, MarketMakerParams
from cjt_actors.supervisor import Supervisor

D = Decimal
RULES = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.0001"),
    price_increment=D("0.01"),
    base_min_size=D("0.001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)
Intents = Mailbox[SubmitOrder | CancelOrder]
Hook = Callable[[object, StrategyContext], Iterable[Any]]  # Any: tests return non-intents too


def _nothing(_event: object, _ctx: StrategyContext) -> Iterable[Any]:
    return ()


@attrs.define
class Scripted(BaseStrategy):
    """Records every callback; each hook says what to return."""

    start: Hook = _nothing
    book: Hook = _nothing
    order: Hook = _nothing
    timer: Hook = _nothing
    seen: list[tuple[str, object]] = attrs.Factory(list)
    times: list[float] = attrs.Factory(list)

    def on_start(self, ctx: StrategyContext) -> Iterable[Intent]:
        self.seen.append(("start", dict(ctx.working_orders)))
        return self.start(None, ctx)

    def on_book(self, view: BookView, ctx: StrategyContext) -> Iterable[Intent]:
        self.seen.append(("book", view))
        return self.book(view, ctx)

    def on_trades(self, trades: TradesReceived, ctx: StrategyContext) -> Iterable[Intent]:
        self.seen.append(("trades", trades))
        return ()

    def on_bar(self, bar: BarClosed, ctx: StrategyContext) -> Iterable[Intent]:
        self.seen.append(("bar", ctx.bars(bar.product_id, bar.bar.interval)))
        return ()

    def on_order(self, event: OrderEvent, ctx: StrategyContext) -> Iterable[Intent]:
        self.seen.append(("order", event))
        return self.order(event, ctx)

    def on_timer(self, ctx: StrategyContext) -> Iterable[Intent]:
        self.times.append(ctx.now)
        return self.timer(None, ctx)

    def kinds(self, kind: str) -> list[object]:
        return [value for k, value in self.seen if k == kind]

    def denials(self) -> list[OrderDenied]:
        return [e for e in self.kinds("order") if isinstance(e, OrderDenied)]


@attrs.define
class Harness:
    """One actor with real mailboxes, and the ends the tests play."""

    strategy: Scripted | MarketMaker
    intents: Intents
    views: ConflatingMailbox[str, BookUpdated]
    market: Mailbox[TradesReceived | BarClosed]
    order_events: Mailbox[OrderUpdated | OrderFilled | OrderDenied]
    board: StatusBoard
    actor: StrategyActor

    def sent(self) -> list[SubmitOrder | CancelOrder]:
        out: list[SubmitOrder | CancelOrder] = []
        receiver = self.intents.receiver()
        while True:
            try:
                out.append(receiver.receive_nowait())
            except trio.WouldBlock:
                return out

    def status(self) -> StrategyStatus:
        status = self.board.get("strategy:s", StrategyStatus)
        assert status is not None
        return status


def _harness(
    strategy: Scripted | MarketMaker,
    *,
    capacity: int = 64,
    recover: Callable[[], Awaitable[StrategyRecovery]] | None = None,
    timer_interval: float = 1.0,
) -> Harness:
    intents = Intents("strategies->risk", capacity=capacity)
    views = ConflatingMailbox[str, BookUpdated](
        "book->s", key=lambda u: u.view.product_id, max_keys=4
    )
    market = Mailbox[TradesReceived | BarClosed](
        "market->s", capacity=16, overflow=Overflow.DROP_OLDEST
    )
    order_events = Mailbox[OrderUpdated | OrderFilled | OrderDenied]("orders->s", capacity=64)
    board = StatusBoard()
    actor = StrategyActor(
        name="s",
        factory=lambda: strategy,
        products={"BTC-USD": RULES},
        views=views,
        market=market,
        order_events=order_events,
        intents=intents,
        namespace="run-1",
        timer_interval=timer_interval,
        recover=recover,
        board=board,
    )
    return Harness(strategy, intents, views, market, order_events, board, actor)


def _ctx(incarnation: int = 0) -> ChildContext:
    return ChildContext(
        name="strategy:s", path="t/strategy:s", incarnation=incarnation, shutdown_timeout=1.0
    )


def _coid(incarnation: int, n: int) -> str:
    return derive_client_order_id("run-1", f"s:{incarnation}:{n}")


def _view(bid: str = "99.99", ask: str = "100.01", at: float = 0.0) -> BookView:
    return BookView(
        product_id="BTC-USD",
        best_bid=D(bid),
        best_bid_size=D(1),
        best_ask=D(ask),
        best_ask_size=D(1),
        mid=(D(bid) + D(ask)) / 2,
        spread=D(ask) - D(bid),
        bids=((D(bid), D(1)),),
        asks=((D(ask), D(1)),),
        last_trade_price=None,
        last_trade_size=None,
        trusted=True,
        trust_reason=None,
        updated_at=at,
        as_of=at,
        sequence=1,
    )


def _bid(price: str = "100", size: str = "0.01", tag: str = "") -> Submit:
    return Submit(product_id="BTC-USD", side=Side.BUY, size=D(size), price=D(price), tag=tag)


def _update(
    coid: str,
    state: OrderState,
    *,
    previous: OrderState = OrderState.SUBMITTED,
    price: str = "100",
    side: Side = Side.BUY,
    at: float = 0.0,
) -> OrderUpdated:
    return OrderUpdated(
        strategy="s",
        client_order_id=coid,
        order_id="v-" + coid,
        product_id="BTC-USD",
        side=side,
        order_type=OrderType.LIMIT,
        size=D(1),
        limit_price=D(price),
        previous=previous,
        state=state,
        filled_size=D(0),
        average_price=None,
        reason="",
        at=at,
    )


def _returns(*intents: object) -> Hook:
    def hook(_event: object, _ctx: StrategyContext) -> Iterable[object]:
        return intents

    return hook


async def _settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


# -- construction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("namespace", ""),
        ("timer_interval", 0.0),
        ("timer_interval", float("inf")),
        ("denial_pause", -1.0),
        ("denial_pause", True),
    ],
)
def test_the_actor_refuses_bad_arguments(field: str, value: object) -> None:
    actor = _harness(Scripted()).actor
    with pytest.raises(InvalidSpec, match=field):
        attrs.evolve(actor, **{field: value})  # type: ignore[arg-type]


# -- intents become commands -----------------------------------------------------------------------


async def test_a_submit_becomes_a_submit_order_and_a_pending_working_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    market_sell = Submit(product_id="BTC-USD", side=Side.SELL, size=D(1), price=None)
    strategy = Scripted(start=_returns(_bid(tag="entry"), market_sell))
    h = _harness(strategy)
    async with trio.open_nursery() as nursery:
        await trio.sleep(5)
        await nursery.start(h.actor.run, _ctx())
        limit, market = h.sent()
        assert limit == SubmitOrder(
            strategy="s",
            client_order_id=_coid(0, 1),
            product_id="BTC-USD",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            size=D("0.01"),
            limit_price=D(100),
            time_in_force=TimeInForce.GTC,
            post_only=False,
            at=5.0,
        )
        assert isinstance(market, SubmitOrder)
        assert (market.order_type, market.limit_price, market.client_order_id) == (
            OrderType.MARKET,
            None,
            _coid(0, 2),
        )
        status = h.status()
        assert (status.submits_sent, status.working_orders, status.incarnation) == (2, 2, 0)
        nursery.cancel_scope.cancel()


async def test_orders_made_on_a_book_view_carry_its_frames_arrival_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """For tick-to-trade: ``trigger_at`` is the view's ``updated_at`` (the frame's arrival);
    an order made on a timer answers to no frame."""
    strategy = Scripted(book=_returns(_bid()), timer=_returns(_bid("99")))
    h = _harness(strategy)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        h.views.put(BookUpdated(view=_view(at=0.25)))
        await _settle()
        await trio.sleep(1)
        await _settle()
        on_book, on_timer = h.sent()
        nursery.cancel_scope.cancel()
    assert isinstance(on_book, SubmitOrder)
    assert isinstance(on_timer, SubmitOrder)
    assert on_book.trigger_at == 0.25
    assert on_timer.trigger_at is None


async def test_cancels_go_only_to_working_orders_and_only_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first = _coid(0, 1)
    strategy = Scripted(
        start=_returns(_bid()),
        timer=_returns(
            Cancel(client_order_id=first, reason="why"),
            Cancel(client_order_id=first),
            Cancel(client_order_id="not-mine"),
        ),
    )
    h = _harness(strategy)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await trio.sleep(1.5)
        submit, cancel = h.sent()
        assert isinstance(submit, SubmitOrder)
        assert cancel == CancelOrder(strategy="s", client_order_id=first, reason="why", at=1.0)
        assert (h.status().cancels_sent, h.status().cancels_skipped) == (1, 2)
        nursery.cancel_scope.cancel()


async def test_a_replace_is_a_cancel_then_a_submit(autojump_clock: trio.testing.MockClock) -> None:
    first = _coid(0, 1)
    strategy = Scripted(
        start=_returns(_bid()),
        timer=_returns(
            Replace(client_order_id=first, submit=_bid("101")),
            Replace(client_order_id=first, submit=_bid("102")),  # already cancelling
            Replace(client_order_id="gone", submit=_bid("103")),  # not working: skipped
        ),
    )
    h = _harness(strategy)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await trio.sleep(1.5)
        sent = h.sent()
        assert [type(c).__name__ for c in sent] == [
            "SubmitOrder",
            "CancelOrder",
            "SubmitOrder",
            "SubmitOrder",
        ]
        assert sent[1].client_order_id == first
        assert [c.limit_price for c in sent if isinstance(c, SubmitOrder)] == [
            D(100),
            D(101),
            D(102),
        ]
        assert h.status().replaces_skipped == 1
        nursery.cancel_scope.cancel()


async def test_a_strategy_returning_something_else_crashes_with_a_clear_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = _harness(Scripted(start=_returns("buy everything")))
    with pytest.raises(InvalidSpec, match="returned 'buy everything': intents are Submit"):
        await h.actor.run(_ctx())


# -- backpressure ----------------------------------------------------------------------------------


async def test_a_full_intents_mailbox_is_a_local_backpressure_denial(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Scripted(start=_returns(_bid("100"), _bid("99")))
    h = _harness(strategy, capacity=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await _settle()
        (denied,) = strategy.kinds("order")
        assert isinstance(denied, OrderDenied)
        assert (denied.reason, denied.intent, denied.client_order_id) == (
            DenyReason.BACKPRESSURE,
            IntentKind.SUBMIT,
            _coid(0, 2),
        )
        assert "intents mailbox is full" in denied.detail
        status = h.status()
        assert (status.submits_sent, status.backpressure, status.working_orders) == (1, 1, 1)
        assert status.denials == (("BACKPRESSURE", 1),)
        assert [c.client_order_id for c in h.sent()] == [_coid(0, 1)]
        nursery.cancel_scope.cancel()


async def test_a_replace_whose_cancel_is_refused_does_not_submit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first = _coid(0, 1)
    strategy = Scripted(
        start=_returns(_bid()),
        timer=_returns(Replace(client_order_id=first, submit=_bid("101"))),
    )
    h = _harness(strategy, capacity=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await trio.sleep(1.5)
        denials = strategy.denials()
        assert [(d.intent, d.client_order_id) for d in denials] == [
            (IntentKind.CANCEL, first),
            (IntentKind.SUBMIT, _coid(0, 2)),
        ]
        assert "the cancel of the replaced order could not be sent" in denials[1].detail
        assert h.status().backpressure == 2
        assert [c.client_order_id for c in h.sent()] == [first]
        nursery.cancel_scope.cancel()


async def test_a_replace_whose_submit_is_refused_still_cancels(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first = _coid(0, 1)
    strategy = Scripted(
        start=_returns(_bid()),
        timer=_returns(Replace(client_order_id=first, submit=_bid("101"))),
    )
    h = _harness(strategy, capacity=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await trio.sleep(1.5)
        (denied,) = strategy.kinds("order")
        assert isinstance(denied, OrderDenied)
        assert (denied.intent, denied.client_order_id) == (IntentKind.SUBMIT, _coid(0, 2))
        assert [type(c) for c in h.sent()] == [SubmitOrder, CancelOrder]
        nursery.cancel_scope.cancel()


async def test_denials_beyond_the_queue_are_counted_not_delivered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Scripted(start=_returns(*[_bid() for _ in range(300)]))
    h = _harness(strategy, capacity=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await _settle()
        status = h.status()
        assert (status.backpressure, status.undelivered_denials) == (299, 299 - 256)
        assert len(strategy.kinds("order")) == 256
        nursery.cancel_scope.cancel()


async def test_a_strategy_that_resubmits_on_every_denial_does_not_starve_the_reader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Denied, it submits again: the loop has a checkpoint, so risk drains the mailbox."""

    def again(event: object, _ctx: StrategyContext) -> Iterable[object]:
        return [_bid()] if isinstance(event, OrderDenied) else []

    strategy = Scripted(start=_returns(_bid(), _bid()), order=again)
    h = _harness(strategy, capacity=1)
    receiver = h.intents.receiver()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        first = await receiver.receive()  # "risk" takes one: the next re-submit goes through
        second = await receiver.receive()
        await _settle()
        assert first.client_order_id != second.client_order_id
        assert h.status().submits_sent == 2
        nursery.cancel_scope.cancel()


async def test_after_a_denial_the_products_submits_are_held_for_the_pause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Halted, risk denies everything: a strategy that answers each denial with a new
    submit must not turn that into a loop of intents; after the pause it may ask again."""

    def again(event: object, _ctx: StrategyContext) -> Iterable[object]:
        return [_bid()] if isinstance(event, OrderDenied) else []

    strategy = Scripted(start=_returns(_bid()), order=again, timer=_returns(_bid()))
    h = _harness(strategy)
    events = h.order_events.sender()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        [first] = h.sent()
        assert isinstance(first, SubmitOrder)
        await trio.sleep(0.5)  # denied at t=0.5: paused until t=1.5
        events.send_nowait(
            OrderDenied(
                strategy="s",
                client_order_id=first.client_order_id,
                product_id="BTC-USD",
                intent=IntentKind.SUBMIT,
                reason=DenyReason.TRADING_HALTED,
                detail="halted",
                at=trio.current_time(),
            )
        )
        await _settle()
        assert h.sent() == []  # the re-submit on the denial was held
        assert h.status().held_submits == 1
        await trio.sleep(0.75)  # the timer's submit at t=1.0 is inside the pause
        await _settle()
        assert h.sent() == []
        await trio.sleep(0.75)  # t=2.0: past the pause, the timer's submit goes
        await _settle()
        [later] = h.sent()
        assert isinstance(later, SubmitOrder)
        assert later.client_order_id == _coid(0, 2)  # held submits used no id
        assert h.status().held_submits == 2
        nursery.cancel_scope.cancel()


# -- events in --------------------------------------------------------------------------------------


async def test_views_trades_and_bars_reach_the_strategy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Scripted()
    h = _harness(strategy)
    bar = Bar(
        start=0,
        interval=1,
        open=D(1),
        high=D(1),
        low=D(1),
        close=D(1),
        volume=D(1),
        trade_count=1,
    )
    trades = TradesReceived(sequence_num=1, received_at=0.0, snapshot=False, trades=())
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        h.views.put(BookUpdated(view=_view()))
        market = h.market.sender()
        market.send_nowait(trades)
        market.send_nowait(BarClosed(product_id="BTC-USD", bar=bar, at=1.0))
        await _settle()
        assert strategy.kinds("book") == [_view()]
        assert strategy.kinds("trades") == [trades]
        assert strategy.kinds("bar") == [(bar,)]
        nursery.cancel_scope.cancel()


async def test_order_events_update_the_context_before_the_strategy_hears(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen_working: list[list[str]] = []

    def record(_event: object, ctx: StrategyContext) -> Iterable[object]:
        seen_working.append(list(ctx.working_orders))
        return ()

    strategy = Scripted(order=record)
    h = _harness(strategy)
    events = h.order_events.sender()
    denied = OrderDenied(
        strategy="s",
        client_order_id="x",
        product_id="BTC-USD",
        intent=IntentKind.SUBMIT,
        reason=DenyReason.MAX_POSITION,
        detail="",
        at=0.0,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        events.send_nowait(_update("a", OrderState.OPEN, at=2.0))
        events.send_nowait(_update("a", OrderState.OPEN, at=1.0))  # stale: not delivered
        events.send_nowait(_update("a", OrderState.CANCELLED, at=3.0))
        events.send_nowait(denied)
        await _settle()
        assert seen_working == [["a"], [], []]
        assert h.status().denials == (("MAX_POSITION", 1),)
        nursery.cancel_scope.cancel()


async def test_the_status_is_built_when_read_never_per_callback(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strategy is on the order path: a callback only touches its key (progress for the
    health checks); a read builds the status from the counters and context as they are."""
    builds: list[float] = []
    published: list[str] = []
    status_of = strategy_module._Driver.status
    publish = StatusBoard.publish

    def counting(driver: strategy_module._Driver) -> StrategyStatus:
        builds.append(trio.current_time())
        return status_of(driver)

    def recording(board: StatusBoard, name: str, snapshot: object) -> None:
        published.append(name)
        publish(board, name, snapshot)

    monkeypatch.setattr(strategy_module._Driver, "status", counting)
    monkeypatch.setattr(StatusBoard, "publish", recording)
    h = _harness(Scripted(book=_returns(_bid())))
    events = h.order_events.sender()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        for _ in range(3):
            await trio.sleep(0.5)
            h.views.put(BookUpdated(view=_view(at=trio.current_time())))
            await _settle()
            assert h.board.updated_at("strategy:s") == trio.current_time()  # touched
        await trio.sleep(0.5)
        events.send_nowait(_update(_coid(0, 1), OrderState.OPEN, at=1.0))
        events.send_nowait(_update(_coid(0, 2), OrderState.CANCELLED, at=1.0))
        await _settle()
        assert h.board.updated_at("strategy:s") == trio.current_time()
        assert (builds, published) == ([], [])  # no callback built or posted a status
        status = h.status()
        assert builds == [trio.current_time()]  # one build, at the read
        assert (status.submits_sent, status.working_orders) == (3, 2)
        h.views.put(BookUpdated(view=_view(at=trio.current_time())))
        await _settle()
        assert (h.status().submits_sent, len(builds)) == (4, 2)  # a new read, fresh
        nursery.cancel_scope.cancel()


async def test_the_timer_ticks_on_trio_time(autojump_clock: trio.testing.MockClock) -> None:
    strategy = Scripted()
    h = _harness(strategy, timer_interval=0.5)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await trio.sleep(2.2)
        assert strategy.times == [0.5, 1.0, 1.5, 2.0]
        nursery.cancel_scope.cancel()


async def test_a_slow_timer_callback_skips_ticks_instead_of_bursting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Scripted()
    h = _harness(strategy, timer_interval=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        await trio.sleep(1.5)
        autojump_clock.jump(10)  # as if the tick had taken 10 s
        await trio.sleep(2.0)
        # One late tick, then one interval apart from there: not ten ticks at once.
        assert strategy.times[:3] == [1.0, 11.5, 12.5]
        nursery.cancel_scope.cancel()


# -- restarts --------------------------------------------------------------------------------------


async def test_recovery_seeds_the_context_before_on_start(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fill = OrderFilled(
        strategy="s",
        client_order_id="old",
        order_id="v",
        product_id="BTC-USD",
        side=Side.BUY,
        trade_id="t1",
        price=D(100),
        size=D("0.5"),
        fee=D(0),
        liquidity=Liquidity.MAKER,
        at=0.0,
    )

    async def recover() -> StrategyRecovery:
        await trio.lowlevel.checkpoint()
        return StrategyRecovery(working_orders=(_update("old", OrderState.OPEN),), fills=(fill,))

    strategy = Scripted()
    h = _harness(strategy, recover=recover)
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx())
        assert strategy.seen == [("start", {"old": _update("old", OrderState.OPEN)})]
        assert h.status().positions == (("BTC-USD", D("0.5")),)
        nursery.cancel_scope.cancel()


async def test_a_restarted_market_maker_replaces_its_quotes_instead_of_stacking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal: list[OrderUpdated] = []

    async def recover() -> StrategyRecovery:
        await trio.lowlevel.checkpoint()
        return StrategyRecovery(working_orders=tuple(journal))

    mm = MarketMaker(MarketMakerParams(requote_threshold_bps=D(5)))
    h = _harness(mm, recover=recover, timer_interval=100.0)
    # Incarnation 0 quotes around 100.
    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, _ctx(0))
        h.views.put(BookUpdated(view=_view()))
        await _settle()
        quotes = [q for q in h.sent() if isinstance(q, SubmitOrder)]
        nursery.cancel_scope.cancel()
    assert [(q.side, q.limit_price) for q in quotes] == [
        (Side.BUY, D("99.95")),
        (Side.SELL, D("100.05")),
    ]
    journal.extend(
        _update(q.client_order_id, OrderState.OPEN, price=str(q.limit_price), side=q.side)
        for q in quotes
    )
    # Incarnation 1 finds them working: the same view asks for nothing new.
    async with trio.open_nursery() as nursery:
        h.views.put(BookUpdated(view=_view()))
        await nursery.start(h.actor.run, _ctx(1))
        await _settle()
        assert h.sent() == []
        # The market moves: each old quote is cancelled and replaced, never doubled.
        h.views.put(BookUpdated(view=_view("100.09", "100.11")))
        await _settle()
        sent = h.sent()
        nursery.cancel_scope.cancel()
    assert [(type(c).__name__, c.client_order_id) for c in sent] == [
        ("CancelOrder", quotes[0].client_order_id),
        ("SubmitOrder", _coid(1, 1)),
        ("CancelOrder", quotes[1].client_order_id),
        ("SubmitOrder", _coid(1, 2)),
    ]


async def test_each_incarnation_gets_a_new_strategy_and_new_ids(
    autojump_clock: trio.testing.MockClock,
) -> None:
    made: list[Scripted] = []

    def factory() -> Scripted:
        def crash_once(view: object, _ctx: StrategyContext) -> Iterable[object]:
            if len(made) == 1:
                raise RuntimeError("strategy bug")
            return ()

        strategy = Scripted(start=_returns(_bid()), book=crash_once)
        made.append(strategy)
        return strategy

    h = _harness(Scripted())
    actor = attrs.evolve(h.actor, factory=factory)
    supervisor = Supervisor(
        "trading",
        [ChildSpec(name="strategy:s", run=actor.run)],
        intensity=Intensity(max_restarts=3, period=60.0),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        h.views.put(BookUpdated(view=_view()))
        await trio.sleep(5)
        assert h.status().incarnation == 1  # the board reads the new incarnation
        nursery.cancel_scope.cancel()
    assert len(made) == 2
    assert made[0] is not made[1]
    assert [c.client_order_id for c in h.sent()] == [_coid(0, 1), _coid(1, 1)]


# -- failures --------------------------------------------------------------------------------------


async def test_an_exception_in_a_callback_crashes_the_actor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def boom(_view: object, _ctx: StrategyContext) -> Iterable[object]:
        raise ValueError("bad strategy")

    h = _harness(Scripted(book=boom))
    h.views.put(BookUpdated(view=_view()))
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="bad strategy")):
        await h.actor.run(_ctx())
    # The views receiver of the dead incarnation is closed; the mailbox still works.
    h.views.put(BookUpdated(view=_view()))
    assert h.views.statistics().depth == 1


async def test_an_exception_in_on_start_propagates_as_is(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def boom(_event: object, _ctx: StrategyContext) -> Iterable[object]:
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        await _harness(Scripted(start=boom)).actor.run(_ctx())


async def test_without_a_board_nothing_is_published(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = _harness(Scripted(start=_returns(_bid())))
    actor = attrs.evolve(h.actor, board=None, recover=None)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run, _ctx())
        assert len(h.sent()) == 1
        assert h.board.snapshots() == {}
        nursery.cancel_scope.cancel()
