"""Properties of the paper fill model and venue under random markets and orders.

Random sequences of views (drawn from a small pool, so the same picture repeats), trade
frames, submits (every type, duplicates and invalid ones included) and cancels. Whatever
happens, a paper fill must be money the market could have paid: never more than the order,
never more than the liquidity seen, priced and charged exactly, and never after the end.
"""

from __future__ import annotations

import decimal
import itertools
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.stream import Trade
from cjt_actors.lifecycle import (
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    CancelRequested,
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
from cjt_actors.orderbook import BookView
from cjt_actors.paper import FillModel, PaperConfig, PaperVenue
from cjt_actors.paper.fills import Emitted
from cjt_actors.products import ProductRules
from cjt_actors.venue import VenueReport

D = Decimal
EXACT = decimal.Context(prec=80)
PRODUCT = "BTC-USD"
RULES = ProductRules(
    product_id=PRODUCT,
    base_increment=D("0.1"),
    price_increment=D("1"),
    base_min_size=D("0.1"),
    base_max_size=D("5"),
    quote_min_size=D("1"),
)
PRICES = list(range(97, 104))
Levels = tuple[tuple[Decimal, Decimal], ...]

SIZES = [D(n) / 10 for n in range(1, 21)]
sizes = st.sampled_from(SIZES)


@st.composite
def book_contents(draw: st.DrawFn) -> tuple[Levels, Levels, bool]:
    """One picture: bids below a split, asks above it, best first (never crossed)."""
    split = draw(st.integers(98, 102))
    bid_prices = draw(st.sets(st.sampled_from(range(97, split)), min_size=1, max_size=3))
    ask_prices = draw(st.sets(st.sampled_from(range(split + 1, 104)), min_size=1, max_size=3))
    if draw(st.integers(0, 4)) == 0:  # now and then, a one-sided book
        bid_prices, ask_prices = (set(), ask_prices) if draw(st.booleans()) else (bid_prices, set())
    bids = tuple((D(p), draw(sizes)) for p in sorted(bid_prices, reverse=True))
    asks = tuple((D(p), draw(sizes)) for p in sorted(ask_prices))
    return bids, asks, draw(st.sampled_from([True, True, True, False]))  # mostly trusted


KINDS = ["market", "gtc", "gtc", "ioc", "fok", "post_only"]


def draw_step(data: st.DataObject, limits: set[int]) -> tuple[object, ...]:
    """One step. Trades mostly print at or next to the limit prices used so far (``limits``),
    so queues, through-trades and maker fills actually happen."""
    kind = data.draw(
        st.sampled_from(["view", "view", "trades", "trades", "submit", "submit", "cancel"])
    )
    if kind == "view":
        return ("view", data.draw(st.integers(0, 2)))
    if kind == "submit":
        return (
            "submit",
            data.draw(st.integers(0, 7)),  # client_order_id: a small pool, so ids repeat
            data.draw(st.sampled_from([Side.BUY, Side.SELL])),
            data.draw(st.sampled_from(KINDS)),
            data.draw(st.sampled_from([*SIZES, D("0.05")])),  # sometimes off the size grid
            data.draw(st.sampled_from(PRICES)),
        )
    if kind == "cancel":
        return ("cancel", data.draw(st.integers(0, 7)), data.draw(st.booleans()))
    near = sorted({p + delta for p in limits for delta in (-1, 0, 1)} & set(PRICES))
    use_near = bool(near) and data.draw(st.integers(0, 3)) > 0  # mostly near our limits
    prices = near if use_near else PRICES
    items = data.draw(
        st.lists(
            st.tuples(st.sampled_from(prices), sizes, st.sampled_from(["BUY", "SELL"])),
            min_size=1,
            max_size=3,
        )
    )
    return ("trades", items, data.draw(st.sampled_from([True, True, True, False])))


def draw_script(data: st.DataObject) -> Iterator[tuple[object, ...]]:
    """20 to 40 steps, drawn one at a time."""
    limits: set[int] = set()
    for _ in range(data.draw(st.integers(20, 40))):
        step = draw_step(data, limits)
        if step[0] == "submit":
            limits.add(int(str(step[5])))
        yield step


_sequence = itertools.count(1)
_trade_ids = itertools.count(1)


def make_view(content: tuple[Levels, Levels, bool]) -> BookView:
    bids, asks, trusted = content
    return BookView(
        product_id=PRODUCT,
        best_bid=bids[0][0] if bids else None,
        best_bid_size=bids[0][1] if bids else None,
        best_ask=asks[0][0] if asks else None,
        best_ask_size=asks[0][1] if asks else None,
        mid=None,
        spread=None,
        bids=bids,
        asks=asks,
        last_trade_price=None,
        last_trade_size=None,
        trusted=trusted,
        trust_reason=None,
        updated_at=0.0,
        as_of=0.0,
        sequence=next(_sequence),
    )


def make_order(step: tuple[object, ...]) -> SubmitOrder:
    _kind, cid, side, kind, size, price = step
    assert isinstance(side, Side)
    assert isinstance(size, Decimal)
    assert isinstance(price, int)
    market = kind == "market"
    return SubmitOrder(
        strategy="p",
        client_order_id=f"c{cid}",
        product_id=PRODUCT,
        side=side,
        order_type=OrderType.MARKET if market else OrderType.LIMIT,
        size=size,
        limit_price=None if market else D(price),
        time_in_force={"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(
            str(kind), TimeInForce.GTC
        ),
        post_only=kind == "post_only",
        at=0.0,
    )


def make_trades(step: tuple[object, ...]) -> TradesReceived:
    _kind, items, live = step
    assert isinstance(items, list)
    return TradesReceived(
        sequence_num=0,
        received_at=0.0,
        snapshot=not live,
        trades=tuple(
            Trade(
                trade_id=f"t{next(_trade_ids)}",
                product_id=PRODUCT,
                price=D(p),
                size=s,
                maker_side=m,
                time="",
            )
            for p, s, m in items
        ),
    )


def filled(emitted: list[Emitted], buy_side: bool, orders: dict[str, SubmitOrder]) -> Decimal:
    return sum(
        (
            e.size
            for c, e in emitted
            if isinstance(e, Fill) and (orders[c].side == Side.BUY) == buy_side
        ),
        D(0),
    )


@given(pool=st.lists(book_contents(), min_size=3, max_size=3), data=st.data(), queue=st.booleans())
def test_fills_are_bounded_exact_and_final(
    pool: list[tuple[Levels, Levels, bool]], data: st.DataObject, queue: bool
) -> None:
    config = PaperConfig(queue_position=queue)
    model = FillModel({PRODUCT: RULES}, config)
    first_order: dict[str, SubmitOrder] = {}
    answers: dict[str, object] = {}
    fills: dict[str, list[Fill]] = defaultdict(list)
    ended: dict[str, VenueOrderState] = {}
    tracked: dict[str, TrackedOrder] = {}
    latest: tuple[Levels, Levels, bool] | None = None
    run_used = {True: D(0), False: D(0)}  # view liquidity used since the picture changed

    def absorb(emitted: list[Emitted]) -> None:
        for cid, event in emitted:
            assert cid not in ended, f"{cid} reported after it ended"
            if isinstance(event, Fill):
                fills[cid].append(event)
            else:
                ended[cid] = event
            tracked[cid].apply(event)

    for step in draw_script(data):
        kind = step[0]
        if kind == "view":
            content = pool[int(str(step[1]))]
            if latest is None or content[:2] != latest[:2]:
                run_used = {True: D(0), False: D(0)}
            latest = content
            emitted = model.observe_book(make_view(content))
            bids, asks, trusted = content
            if not trusted:
                assert emitted == []
            buys, sells = filled(emitted, True, first_order), filled(emitted, False, first_order)
            assert buys <= sum(s for _p, s in asks)
            assert sells <= sum(s for _p, s in bids)
            run_used[True] += buys
            run_used[False] += sells
            absorb(emitted)
        elif kind == "trades":
            frame = make_trades(step)
            emitted = model.observe_trades(frame)
            total = sum(f.size for _c, f in emitted if isinstance(f, Fill))
            assert total <= (0 if frame.snapshot else sum(t.size for t in frame.trades))
            assert all(f.liquidity is Liquidity.MAKER for _c, f in emitted if isinstance(f, Fill))
            absorb(emitted)
        elif kind == "submit":
            request = make_order(step)
            cid = request.client_order_id
            outcome, emitted = model.submit(request)
            if cid in answers:
                assert outcome == answers[cid], "a repeat answers what the first answered"
                assert emitted == []
                continue
            answers[cid] = outcome
            first_order[cid] = request
            if isinstance(outcome, Rejected):
                assert emitted == []
                assert model.lookup(cid) is None
                continue
            assert isinstance(outcome, Accepted)
            tracked[cid] = TrackedOrder(
                client_order_id=cid,
                product_id=PRODUCT,
                side=request.side,
                size=request.size,
                limit_price=request.limit_price,
            )
            tracked[cid].apply(Submitted())
            tracked[cid].apply(outcome)
            buy = request.side == Side.BUY
            took = filled(emitted, buy, first_order)
            visible = sum(s for _p, s in (latest[1] if buy else latest[0])) if latest else D(0)
            assert took <= visible
            run_used[buy] += took
            absorb(emitted)
            if request.order_type is OrderType.MARKET or request.time_in_force is not (
                TimeInForce.GTC
            ):
                assert cid in ended, "IOC, FOK and market orders end at once"
            if request.time_in_force is TimeInForce.FOK:
                assert took in (0, request.size)
        else:
            cid = f"c{step[1]}"
            record = model.lookup(cid)
            order_id = record.state.order_id if record is not None and step[2] else ""
            reply, emitted = model.cancel(cid, order_id)
            if cid in tracked:
                order = tracked[cid]
                if order.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED):
                    order.apply(CancelRequested())
                if order.state is OrderState.CANCEL_PENDING or order.terminal:
                    order.apply(reply)
            if isinstance(reply, CancelAcknowledged):
                assert record is not None
                assert record.state.status == "OPEN"
            else:
                assert isinstance(reply, CancelFailed)
                assert emitted == []
            absorb(emitted)
        if latest is not None:
            assert run_used[True] <= sum(s for _p, s in latest[1]), "ask liquidity used twice"
            assert run_used[False] <= sum(s for _p, s in latest[0]), "bid liquidity used twice"

    rates = {Liquidity.MAKER: config.maker_fee_rate, Liquidity.TAKER: config.taker_fee_rate}
    working = {o.client_order_id for o in model.open_orders()}
    for cid, request in first_order.items():
        if cid not in tracked:
            continue
        own = fills[cid]
        total = sum((f.size for f in own), D(0))
        assert total <= request.size
        for f in own:
            assert f.size > 0
            assert f.fee == EXACT.multiply(EXACT.multiply(f.price, f.size), rates[f.liquidity])
            if request.limit_price is not None:
                if f.liquidity is Liquidity.MAKER:
                    assert f.price == request.limit_price
                elif request.side == Side.BUY:
                    assert f.price <= request.limit_price
                else:
                    assert f.price >= request.limit_price
        record = model.lookup(cid)
        assert record is not None
        assert record.state.cumulative_quantity == total == tracked[cid].filled_size
        assert record.state.total_fees == sum((f.fee for f in own), D(0))
        assert (record.state.status == "OPEN") == (cid in working)
        if cid in ended:
            assert ended[cid].status == record.state.status
            assert ended[cid].cumulative_quantity == total
            assert tracked[cid].terminal
        if record.state.status == "FILLED":
            assert total == request.size
            assert tracked[cid].state is OrderState.FILLED
        elif record.state.status == "OPEN":
            assert record.state.leaves_quantity == request.size - total
            assert not tracked[cid].terminal
    stats = model.statistics()
    assert stats.fills == sum(len(v) for v in fills.values())
    assert stats.filled_base == sum((f.size for v in fills.values() for f in v), D(0))


@given(
    pool=st.lists(book_contents(), min_size=3, max_size=3),
    data=st.data(),
    capacity=st.integers(1, 3),
    pauses=st.lists(st.sampled_from([0.0, 0.01, 0.2]), min_size=1, max_size=5),
)
def test_the_venue_delivers_what_the_model_produced_in_order(
    pool: list[tuple[Levels, Levels, bool]],
    data: st.DataObject,
    capacity: int,
    pauses: list[float],
) -> None:
    """Through a tiny buffer and a slow consumer: nothing lost, nothing repeated, nothing
    reordered, and the buffer never holds more than one step beyond its capacity."""
    config = PaperConfig(latency=0.01)
    reference = FillModel({PRODUCT: RULES}, config)
    expected: list[Emitted] = []
    delivered: list[VenueReport] = []
    views = [make_view(content) for content in pool]

    class SlowOutbox:
        def __init__(self) -> None:
            self.pace = itertools.cycle(pauses)

        async def send(self, value: VenueReport, /) -> None:
            await trio.sleep(next(self.pace))
            delivered.append(value)

        def send_nowait(self, value: VenueReport, /) -> None:
            raise AssertionError("the venue awaits send")

        def close(self) -> None:
            pass

    async def main() -> None:
        venue = PaperVenue({PRODUCT: RULES}, config, report_capacity=capacity)
        async with trio.open_nursery() as nursery:
            await nursery.start(venue.run, SlowOutbox())
            for step in draw_script(data):
                kind = step[0]
                emitted: list[Emitted]
                if kind == "view":
                    view = views[int(str(step[1]))]
                    emitted = reference.observe_book(view)
                    await venue.observe_book(BookUpdated(view=view))
                elif kind == "trades":
                    frame = make_trades(step)
                    emitted = reference.observe_trades(frame)
                    await venue.observe_trades(frame)
                elif kind == "submit":
                    request = make_order(step)
                    answer, emitted = reference.submit(request)
                    assert await venue.submit(request) == answer
                else:
                    cid = f"c{step[1]}"
                    outcome, emitted = reference.cancel(cid, "")
                    assert await venue.cancel(cid, "") == outcome
                expected.extend(emitted)
                # Below capacity before acting, then this step's reports all at once:
                assert venue.statistics().pending_reports <= capacity - 1 + len(emitted)
            await trio.sleep(1 + 0.2 * len(expected))  # virtual time: the consumer's pace
            assert venue.statistics().pending_reports == 0
            nursery.cancel_scope.cancel()
        assert venue.statistics() == reference.statistics()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [(r.client_order_id, r.event) for r in delivered] == expected
    assert [r.at for r in delivered] == sorted(r.at for r in delivered)
