"""The matching engine under random operations from several users on two products.

After every operation: no balance is negative; every currency is conserved exactly
(balances + fees collected == deposits); no book is crossed; holds equal what the live
orders reserve (so a user with no live order holds nothing); no order fills beyond its
size; fills respect price-time priority; a reused client_order_id never makes a second
order; and replaying the event log rebuilds the engine's book and order states.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import attrs
from hypothesis import event as record_path
from hypothesis import given
from hypothesis import strategies as st

from cjt_actors.sim.engine import Engine
from cjt_actors.sim.events import (
    BookSide,
    EngineEvent,
    FillRecorded,
    LevelChanged,
    OrderUpdated,
    TradeExecuted,
)
from cjt_actors.sim.orders import (
    LimitFok,
    LimitGtc,
    LimitGtd,
    Liquidity,
    MarketIoc,
    OrderAccepted,
    OrderConfiguration,
    OrderRequest,
    OrderStatus,
    OrderView,
    Side,
    SorLimitIoc,
    StopDirection,
    StopLimitGtc,
    StopLimitGtd,
)
from cjt_actors.sim.products import FeeSchedule, ProductSpec, is_multiple

D = Decimal


def _product(base: str, *, base_increment: str, price_increment: str) -> ProductSpec:
    return ProductSpec(
        product_id=f"{base}-USD",
        base_currency=base,
        quote_currency="USD",
        base_increment=D(base_increment),
        quote_increment=D("0.01"),
        price_increment=D(price_increment),
        base_min_size=D(base_increment),
        base_max_size=D("1000"),
        quote_min_size=D("0.01"),
        quote_max_size=D("10000000"),
    )


PRODUCTS = (
    _product("AAA", base_increment="0.1", price_increment="0.5"),
    _product("BBB", base_increment="1", price_increment="0.01"),
)
CENTER = {"AAA-USD": D("100"), "BBB-USD": D("5.00")}
USERS = ("u0", "u1", "u2", "u3")
FEE_SCHEDULES = (
    FeeSchedule(maker_rate=D("0.004"), taker_rate=D("0.006")),
    FeeSchedule(maker_rate=D("0"), taker_rate=D("0")),
    FeeSchedule(maker_rate=D("0.0125"), taker_rate=D("0.0035")),  # maker dearer than taker
)
KINDS = (
    "gtc",
    "gtc",
    "post_only",
    "gtd",
    "ioc",
    "fok",
    "market_base",
    "market_quote",
    "stop",
    "stop_gtd",
)


# -- operations --------------------------------------------------------------------------------


@attrs.frozen
class Place:
    user: int
    product: int
    side: Side
    kind: str
    size: int
    price: int
    stop: int
    direction: StopDirection
    life: int


@attrs.frozen
class Cancel:
    user: int
    pick: int
    own: bool  #: as the order's owner (else as ``user``, usually someone else)


@attrs.frozen
class Edit:
    user: int
    pick: int
    own: bool
    price: int
    size: int


@attrs.frozen
class Retry:
    pick: int


@attrs.frozen
class Advance:
    seconds: int


@attrs.frozen
class Deposit:
    user: int
    currency: str
    amount: int


Operation = Place | Cancel | Edit | Retry | Advance | Deposit

_ticks = st.integers(-5, 5)
_users = st.integers(0, len(USERS) - 1)
_mostly = st.integers(0, 3).map(bool)  # True three times in four
places = st.builds(
    Place,
    user=_users,
    product=st.integers(0, len(PRODUCTS) - 1),
    side=st.sampled_from(Side),
    kind=st.sampled_from(KINDS),
    size=st.integers(1, 30),
    price=_ticks,
    stop=_ticks,
    direction=st.sampled_from(StopDirection),
    life=st.integers(1, 6),
)
others = st.one_of(
    st.builds(Cancel, user=_users, pick=st.integers(0, 1000), own=_mostly),
    st.builds(
        Edit,
        user=_users,
        pick=st.integers(0, 1000),
        own=_mostly,
        price=_ticks,
        size=st.integers(1, 30),
    ),
    st.builds(Retry, pick=st.integers(0, 1000)),
    st.builds(Advance, seconds=st.integers(1, 5)),
    st.builds(
        Deposit,
        user=_users,
        currency=st.sampled_from(["USD", "AAA", "BBB"]),
        amount=st.integers(0, 500),
    ),
)
#: Mostly placements (they are what trades), the rest spread over the other operations.
#: (``st.one_of(places, places, others)`` would not do: one_of flattens and dedups.)
operations: st.SearchStrategy[Place | Cancel | Edit | Retry | Advance | Deposit] = st.integers(
    0, 9
).flatmap(lambda roll: places if roll < 7 else others)
deposits = st.lists(
    st.tuples(st.integers(500, 20000), st.integers(20, 300), st.integers(100, 3000)),
    min_size=len(USERS),
    max_size=len(USERS),
)


def _price(product: ProductSpec, ticks: int) -> Decimal:
    return CENTER[product.product_id] + ticks * product.price_increment


def _config(op: Place, product: ProductSpec, now: float) -> OrderConfiguration:
    size = op.size * product.base_increment
    price = _price(product, op.price)
    stop_price = _price(product, op.stop)
    match op.kind:
        case "gtc":
            return LimitGtc(base_size=size, limit_price=price)
        case "post_only":
            return LimitGtc(base_size=size, limit_price=price, post_only=True)
        case "gtd":
            return LimitGtd(base_size=size, limit_price=price, end_time=now + op.life)
        case "ioc":
            return SorLimitIoc(base_size=size, limit_price=price)
        case "fok":
            return LimitFok(base_size=size, limit_price=price)
        case "market_base":
            return MarketIoc(base_size=size)
        case "market_quote":
            return MarketIoc(quote_size=D(op.size) * D("7.5"))
        case "stop":
            return StopLimitGtc(
                base_size=size,
                limit_price=price,
                stop_price=stop_price,
                stop_direction=op.direction,
            )
        case _:
            return StopLimitGtd(
                base_size=size,
                limit_price=price,
                stop_price=stop_price,
                end_time=now + op.life,
                stop_direction=op.direction,
            )


# -- the checks --------------------------------------------------------------------------------

Queues = dict[tuple[str, Side], list[str]]


def _queues(engine: Engine) -> Queues:
    return {
        (product.product_id, side): [
            view.order_id for view in engine.queue(product.product_id, side)
        ]
        for product in PRODUCTS
        for side in Side
    }


def _all_orders(engine: Engine) -> list[OrderView]:
    return [view for user in USERS for view in engine.list_orders(user)]


def _hold_currency(view: OrderView) -> str:
    base, quote = view.product_id.split("-")
    return quote if view.side is Side.BUY else base


def check_invariants(engine: Engine, fees: FeeSchedule) -> None:
    accounts = engine.all_accounts()
    # No negative balance, ever.
    for account in accounts:
        assert account.available >= 0, account
        assert account.hold >= 0, account
    # Conservation, exactly, per currency.
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for account in accounts:
        totals[account.currency] += account.available + account.hold
    for currency in engine.currencies():
        assert totals[currency] + engine.fees_collected(currency) == engine.total_deposits(
            currency
        ), currency
    # No crossed book, and each level is the sum of the orders resting there.
    for product in PRODUCTS:
        bid, ask = engine.best_bid_ask(product.product_id)
        if bid is not None and ask is not None:
            assert bid[0] < ask[0], (product.product_id, bid, ask)
        snapshot = engine.snapshot(product.product_id)
        for side, levels in ((Side.BUY, snapshot.bids), (Side.SELL, snapshot.asks)):
            summed: dict[Decimal, Decimal] = defaultdict(Decimal)
            for view in engine.queue(product.product_id, side):
                assert view.status is OrderStatus.OPEN
                assert view.limit_price is not None
                summed[view.limit_price] += view.leaves_quantity
            assert dict(levels) == dict(summed)
    # Holds are exactly what live orders reserve; fills never exceed sizes.
    reserved: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    worst = 1 + fees.worst_rate
    for view in _all_orders(engine):
        if view.base_size is not None:
            assert 0 <= view.filled_size <= view.base_size, view
        else:
            assert view.quote_size is not None
            spent = view.filled_value + (view.total_fees if view.side is Side.BUY else 0)
            assert spent <= view.quote_size, view
        if view.status is OrderStatus.FILLED and view.base_size is not None:
            assert view.filled_size == view.base_size, view
        if view.status is OrderStatus.OPEN:
            assert view.leaves_quantity > 0, view
            assert view.limit_price is not None
            expected = view.leaves_quantity * (
                view.limit_price * worst if view.side is Side.BUY else 1
            )
            assert view.outstanding_hold_amount == expected, view
            reserved[(view.user_id, _hold_currency(view))] += view.outstanding_hold_amount
        else:
            assert view.outstanding_hold_amount == 0, view
            assert view.leaves_quantity == 0, view
    for account in accounts:
        assert account.hold == reserved[(account.user_id, account.currency)], account
    for user in USERS:
        if not engine.list_orders(user, statuses={OrderStatus.OPEN}):
            assert all(account.hold == 0 for account in engine.accounts(user))


def check_priority(
    before: Queues, after: Queues, events: list[EngineEvent], exempt: set[str]
) -> None:
    """A maker fills only if every order ahead of it (better price, or same price and
    earlier) is gone by the end of the operation: filled, or cancelled by self-trade
    prevention. ``exempt`` orders (the one being edited) may legitimately lose their place."""
    after_sets = {key: set(ids) for key, ids in after.items()}
    side_of = {order_id: key for key, ids in before.items() for order_id in ids}
    for event in events:
        if (
            not isinstance(event, FillRecorded)
            or event.fill.liquidity_indicator is not Liquidity.MAKER
        ):
            continue
        key = side_of.get(event.fill.order_id)
        if key is None:  # it entered the book during this operation (a triggered stop)
            continue
        queue = before[key]
        for ahead in queue[: queue.index(event.fill.order_id)]:
            if ahead not in exempt:
                assert ahead not in after_sets[key], (ahead, event.fill)


@attrs.define
class Replay:
    """What a client rebuilds from the events alone: books and order states."""

    levels: dict[tuple[str, BookSide], dict[Decimal, Decimal]] = attrs.Factory(
        lambda: defaultdict(dict)
    )
    orders: dict[str, OrderView] = attrs.Factory(dict)
    trade_ids: set[str] = attrs.Factory(set)

    def consume(self, events: list[EngineEvent], now: float) -> None:
        for event in events:
            assert event.time == now
            if isinstance(event, LevelChanged):
                book = self.levels[(event.product_id, event.side)]
                if event.new_quantity:
                    book[event.price] = event.new_quantity
                else:
                    book.pop(event.price, None)
            elif isinstance(event, OrderUpdated):
                self.orders[event.order.order_id] = event.order
            elif isinstance(event, TradeExecuted):
                assert event.trade_id not in self.trade_ids
                self.trade_ids.add(event.trade_id)
                assert event.size > 0
            elif isinstance(event, FillRecorded):
                assert event.fill.trade_id in self.trade_ids
                product = next(p for p in PRODUCTS if p.product_id == event.fill.product_id)
                assert is_multiple(event.fill.price, product.price_increment)
                assert is_multiple(event.fill.size, product.base_increment)

    def check(self, engine: Engine) -> None:
        for product in PRODUCTS:
            snapshot = engine.snapshot(product.product_id)
            assert self.levels[(product.product_id, BookSide.BID)] == dict(snapshot.bids)
            assert self.levels[(product.product_id, BookSide.OFFER)] == dict(snapshot.asks)
        for order_id, view in self.orders.items():
            assert engine.get_order(view.user_id, order_id) == view


# -- the properties ----------------------------------------------------------------------------


@given(
    fees=st.sampled_from(FEE_SCHEDULES),
    funds=deposits,
    ops=st.lists(operations, min_size=20, max_size=60),
)
def test_engine_invariants_hold_under_random_operations(
    fees: FeeSchedule, funds: list[tuple[int, int, int]], ops: list[Operation]
) -> None:
    """Money, books, holds and priority stay right whatever users do, in any order."""
    engine = Engine(products=PRODUCTS, fees=fees, seed=3)
    now = 0.0
    for user, (usd, aaa, bbb) in zip(USERS, funds, strict=True):
        engine.deposit(user, "USD", D(usd), now=now)
        engine.deposit(user, "AAA", D(aaa) / 10, now=now)
        engine.deposit(user, "BBB", D(bbb), now=now)
    replay = Replay()
    replay.consume(engine.drain_events(), now)
    accepted: list[tuple[OrderRequest, str]] = []
    keys: dict[tuple[str, str], str] = {}
    for number, op in enumerate(ops):
        now += 1.0
        before = _queues(engine)
        exempt: set[str] = set()
        match op:
            case Place():
                product = PRODUCTS[op.product]
                request = OrderRequest(
                    user_id=USERS[op.user],
                    client_order_id=f"op-{number}",
                    product_id=product.product_id,
                    side=op.side,
                    configuration=_config(op, product, now),
                )
                outcome = engine.place(request, now=now)
                record_path(
                    f"place {op.kind} "
                    + (
                        "ok"
                        if isinstance(outcome, OrderAccepted)
                        else outcome.preview_failure_reason
                    )
                )
                if isinstance(outcome, OrderAccepted):
                    assert not outcome.duplicate
                    accepted.append((request, outcome.order_id))
                    keys[(request.user_id, request.client_order_id)] = outcome.order_id
            case Cancel() if accepted:
                request, order_id = accepted[op.pick % len(accepted)]
                user = request.user_id if op.own else USERS[op.user]
                [result] = engine.cancel(user, [order_id], now=now)
                assert result.order_id == order_id
            case Edit() if accepted:
                request, order_id = accepted[op.pick % len(accepted)]
                product = next(p for p in PRODUCTS if p.product_id == request.product_id)
                exempt.add(order_id)
                engine.edit(
                    request.user_id if op.own else USERS[op.user],
                    order_id,
                    price=_price(product, op.price),
                    size=op.size * product.base_increment,
                    now=now,
                )
            case Retry() if accepted:
                request, order_id = accepted[op.pick % len(accepted)]
                again = engine.place(request, now=now)
                assert isinstance(again, OrderAccepted)
                assert again.duplicate
                assert again.order_id == order_id
            case Advance():
                now += op.seconds
                engine.expire(now)
            case Deposit():
                engine.deposit(USERS[op.user], op.currency, D(op.amount), now=now)
            case _:
                engine.expire(now)
        events = engine.drain_events()
        replay.consume(events, now)
        check_priority(before, _queues(engine), events, exempt)
        check_invariants(engine, fees)
        replay.check(engine)
    trades = len(replay.trade_ids)
    record_path(f"trades {'0' if trades == 0 else '1-5' if trades <= 5 else '6+'}")
    views = _all_orders(engine)
    for status in OrderStatus:
        if any(v.status is status for v in views):
            record_path(f"status {status}")
    if any(v.trigger_status == "STOP_TRIGGERED" for v in views):
        record_path("stop triggered")
    if any(v.edit_history for v in views):
        record_path("edited")
    if any("self-trade" in v.cancel_message for v in views):
        record_path("self-trade cancel")
    # A client_order_id is never used for two orders.
    assert len(_all_orders(engine)) == len(keys)


@given(ops=st.lists(operations, max_size=25))
def test_the_same_seed_and_calls_replay_identically(ops: list[Operation]) -> None:
    """A scenario is a pure function of its seed and calls: ids, events, states."""

    def run() -> tuple[list[EngineEvent], list[OrderView]]:
        engine = Engine(products=PRODUCTS, fees=FEE_SCHEDULES[0], seed=11)
        for user in USERS:
            for currency, amount in (("USD", "5000"), ("AAA", "50"), ("BBB", "500")):
                engine.deposit(user, currency, D(amount), now=0.0)
        now = 0.0
        for number, op in enumerate(ops):
            now += 1.0
            if isinstance(op, Place):
                product = PRODUCTS[op.product]
                engine.place(
                    OrderRequest(
                        user_id=USERS[op.user],
                        client_order_id=f"op-{number}",
                        product_id=product.product_id,
                        side=op.side,
                        configuration=_config(op, product, now),
                    ),
                    now=now,
                )
            else:
                engine.expire(now)
        return engine.drain_events(), _all_orders(engine)

    assert run() == run()
