"""Risk invariants over random sequences of views, fills, order updates, intents and time.

The engine is driven the way the actor drives it (an evaluation after every input) and
checked against a deliberately simple reference kept by the test: positions as the sum of
distinct fills, working orders as approvals minus terminal updates, marks as the latest
mids. Whatever the sequence:

* an approved submit breaks no limit, as the reference computes it;
* while HALTED (or with the latch set) nothing but cancels is approved, and a cancel of a
  working order by its owner within the cancel rate is approved in every state;
* the position of each product is the sum of its distinct fills.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from cjt_actors.exchange.orders import Side
from cjt_actors.halt import HaltLatch
from cjt_actors.lifecycle import Liquidity, OrderState
from cjt_actors.market_messages import FeedState, FeedStatusChanged
from cjt_actors.messages import StopReason
from cjt_actors.order_messages import (
    CancelOrder,
    OrderFilled,
    OrderType,
    OrderUpdated,
    SubmitOrder,
    TimeInForce,
    TradingState,
)
from cjt_actors.orderbook import BookView
from cjt_actors.products import ProductRules
from cjt_actors.risk_rules import OPERATOR, RiskEngine, RiskLimits

D = Decimal
ZERO = D(0)
SIZE_STEP = D("0.001")
PRICE_STEP = D("0.01")
PRODUCTS = {
    name: ProductRules(
        product_id=name,
        base_increment=SIZE_STEP,
        price_increment=PRICE_STEP,
        base_min_size=D("0.001"),
        base_max_size=D(50),
        quote_min_size=D(1),
    )
    for name in ("P-USD", "Q-USD")
}
BASE_MID = {"P-USD": D(100), "Q-USD": D(50)}
LIMITS = RiskLimits(
    max_order_notional=D(500),
    max_order_size={"Q-USD": D(8)},
    max_position={"P-USD": D(10)},
    max_position_notional=D(400),
    max_gross_exposure=D(1500),
    max_open_orders=4,
    price_band_bps=D(100),
    submit_rate=3,
    cancel_rate=2,
    rate_window=1.0,
    max_book_age=5.0,
    daily_loss_limit=D(300),
    max_drawdown=D(60),
    loss_streak=3,
    loss_streak_cooldown=4.0,
    rearm_after=3.0,
    rearm_fraction=D("0.5"),
)
STRATEGIES = ("a", "b")
TERMINAL = [s for s in OrderState if s.terminal]
WORKING = [OrderState.SUBMITTED, OrderState.OPEN, OrderState.PARTIALLY_FILLED]


# -- operations -----------------------------------------------------------------------------------


@attrs.frozen
class View:
    product: str
    offset: int  # mid = base mid + offset * 0.1
    trusted: bool
    fresh: bool


@attrs.frozen
class Fill:
    product: str
    side: Side
    trade: int
    size_steps: int
    offset: int  # price = mark + offset * 0.5


@attrs.frozen
class Update:
    pick: int
    state: OrderState
    half_filled: bool


@attrs.frozen
class Submit:
    coid: int
    strategy: str
    product: str
    side: Side
    market: bool
    size_steps: int
    off_grid: bool
    offset: int  # limit = mid + offset * 0.1


@attrs.frozen
class Cancel:
    pick: int
    strategy: str


@attrs.frozen
class Wait:
    seconds: float


@attrs.frozen
class Feed:
    up: bool


@attrs.frozen
class Halt:
    pass


@attrs.frozen
class Resume:
    pass


@attrs.frozen
class Latch:
    pass


products = st.sampled_from(sorted(PRODUCTS))
sides = st.sampled_from([Side.BUY, Side.SELL])


def sometimes(one_in: int) -> st.SearchStrategy[bool]:
    """True about once in ``one_in`` draws (``st.integers`` would favour its bounds)."""
    return st.sampled_from([False] * (one_in - 1) + [True])


views = st.builds(
    View,
    products,
    st.integers(-40, 40),
    sometimes(10).map(lambda untrusted: not untrusted),
    sometimes(10).map(lambda stale: not stale),
)
# Sizes in steps of 0.001: a few tiny ones, mostly tradable ones, some past the limits.
sizes = st.one_of(
    st.integers(1, 6000),
    *[st.sampled_from([20, 300, 1000, 2000, 3000, 4000, 4990, 5000, 9000])] * 3,
)
fills = st.builds(Fill, products, sides, st.integers(0, 12), sizes, st.integers(-8, 8))
updates = st.builds(
    Update, st.integers(0, 50), st.sampled_from(WORKING * 2 + TERMINAL), st.booleans()
)
submits = st.builds(
    Submit,
    st.integers(0, 40),
    st.sampled_from(STRATEGIES),
    products,
    sides,
    sometimes(5),  # a market order
    sizes,
    sometimes(16),  # off the size grid
    st.integers(-12, 12),
)
cancels = st.builds(Cancel, st.integers(0, 50), st.sampled_from(STRATEGIES))
waits = st.builds(Wait, st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0, 1.0, 3.0, 6.0]))
# Outages and halts that pass; the latch (for good) much more rarely.
passing = st.sampled_from(
    [Feed(up=False), Feed(up=True), Feed(up=True), Halt(), Resume(), Resume()]
)
rare = sometimes(8).flatmap(lambda final: st.just(Latch()) if final else passing)
# Weighted by repetition: mostly trading; now and then a halt, an outage or the latch.
operations = st.one_of(
    *[submits] * 5,
    *[fills] * 2,
    *[views] * 3,
    *[updates] * 2,
    cancels,
    waits,
    sometimes(4).flatmap(lambda special: rare if special else waits),
)

# A busy, healthy market (fresh, trusted books, sound orders near the mid, no outages): where
# the position, exposure, open-order, rate, drawdown and streak limits are reached most.
busy = st.one_of(
    *[
        st.builds(
            Submit,
            st.integers(0, 60),
            st.sampled_from(STRATEGIES),
            products,
            sides,
            sometimes(5),
            st.sampled_from([300, 1000, 2000, 3000, 4000, 4990]),
            st.just(False),
            st.integers(-4, 4),
        )
    ]
    * 5,
    *[st.builds(Fill, products, sides, st.integers(0, 30), sizes, st.integers(-8, 8))] * 2,
    st.builds(View, products, st.integers(-40, 40), st.just(True), st.just(True)),
    updates,
    cancels,
    st.builds(Wait, st.sampled_from([0.0, 0.1, 0.3, 1.0])),
)


# -- the reference --------------------------------------------------------------------------------


@attrs.define
class Working:
    strategy: str
    product: str
    side: Side
    size: Decimal
    price: Decimal | None
    filled: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled


@attrs.define
class Reference:
    """What the test itself knows, computed the simplest way."""

    now: float = 0.0
    feed_up: bool = True
    views: dict[str, BookView] = attrs.Factory(dict)
    marks: dict[str, Decimal] = attrs.Factory(dict)
    fills: dict[int, OrderFilled] = attrs.Factory(dict)
    working: dict[str, Working] = attrs.Factory(dict)
    closed: set[str] = attrs.Factory(set)
    approved: list[str] = attrs.Factory(list)
    used: set[str] = attrs.Factory(set)
    submit_times: list[float] = attrs.Factory(list)
    cancel_times: list[float] = attrs.Factory(list)

    def position(self, product: str) -> Decimal:
        signed = (
            f.size if f.side == Side.BUY else -f.size
            for f in self.fills.values()
            if f.product_id == product
        )
        return sum(signed, D(0))

    def same_side(self, product: str, side: Side) -> Decimal:
        return sum(
            (o.remaining for o in self.working.values() if o.product == product and o.side == side),
            D(0),
        )

    def gross(self) -> Decimal:
        total = sum((abs(self.position(p)) * self.marks[p] for p in PRODUCTS), D(0))
        for order in self.working.values():
            total += order.remaining * (
                order.price if order.price is not None else self.marks[order.product]
            )
        return total

    def reduces(self, order: SubmitOrder) -> bool:
        held = self.position(order.product_id)
        if held == 0 or (held > 0) == (order.side == Side.BUY):
            return False
        return self.same_side(order.product_id, order.side) + order.size <= abs(held)

    @staticmethod
    def recent(times: list[float], now: float) -> int:
        return sum(1 for t in times if t > now - LIMITS.rate_window)


def _signed(side: Side, size: Decimal) -> Decimal:
    return size if side == Side.BUY else -size


def assert_within_limits(order: SubmitOrder, ref: Reference, risk: RiskEngine) -> None:
    """Every limit an approval must respect, computed by the reference (before approval)."""
    rules = PRODUCTS[order.product_id]
    assert order.client_order_id not in ref.used
    assert order.size > 0
    assert order.size % rules.base_increment == 0
    assert rules.base_min_size <= order.size <= rules.base_max_size
    assert ref.feed_up
    view = ref.views[order.product_id]
    assert view.mid is not None
    assert view.trusted
    assert view.updated_at is not None
    assert ref.now - view.updated_at <= LIMITS.max_book_age
    mid = view.mid
    price = order.limit_price if order.limit_price is not None else mid
    notional = order.size * price
    assert notional >= rules.quote_min_size
    assert notional <= LIMITS.max_order_notional
    assert order.size <= LIMITS.max_order_size.get(order.product_id, order.size)
    if order.limit_price is not None:
        assert order.limit_price % rules.price_increment == 0
        assert abs(order.limit_price - mid) / mid * 10_000 <= LIMITS.price_band_bps
    reduces = ref.reduces(order)
    if risk.state is TradingState.REDUCING:
        assert reduces
    if not reduces:
        limit = LIMITS.max_position.get(order.product_id, LIMITS.max_position_notional / mid)
        worst = (
            ref.position(order.product_id)
            + _signed(order.side, ref.same_side(order.product_id, order.side))
            + _signed(order.side, order.size)
        )
        assert abs(worst) <= limit
        assert ref.gross() + notional <= LIMITS.max_gross_exposure
    assert len(ref.working) < LIMITS.max_open_orders
    assert ref.recent(ref.submit_times, ref.now) < LIMITS.submit_rate
    cooldown = risk.cooldown_until
    assert cooldown is None or ref.now >= cooldown


# -- the run ----------------------------------------------------------------------------------------


def _book(product: str, mid: Decimal, *, trusted: bool, updated_at: float, now: float) -> BookView:
    half = D("0.05")
    return BookView(
        product_id=product,
        best_bid=mid - half,
        best_bid_size=D(1),
        best_ask=mid + half,
        best_ask_size=D(1),
        mid=mid,
        spread=half * 2,
        bids=((mid - half, D(1)),),
        asks=((mid + half, D(1)),),
        last_trade_price=None,
        last_trade_size=None,
        trusted=trusted,
        trust_reason=None,
        updated_at=updated_at,
        as_of=now,
        sequence=1,
    )


def _run(ops: list[Any], check: Callable[[RiskEngine, Reference], None] | None = None) -> None:
    latch = HaltLatch()
    risk = RiskEngine(LIMITS, PRODUCTS, started_at=0.0, latch=latch)
    ref = Reference()
    risk.on_feed_status(FeedStatusChanged(state=FeedState.CONNECTED, detail="", attempt=0, at=0))
    for product, mid in BASE_MID.items():
        # every product has a mark before any fill: the reference never needs average costs
        view = _book(product, mid, trusted=True, updated_at=0.0, now=0.0)
        risk.on_view(view)
        ref.views[product] = view
        ref.marks[product] = mid
    for op in ops:
        _apply(op, risk, ref, latch)
        risk.evaluate(ref.now)
        for product in PRODUCTS:
            assert risk.position(product) == ref.position(product)
        assert risk.open_orders == len(ref.working)
        if check is not None:
            check(risk, ref)


def _apply(op: Any, risk: RiskEngine, ref: Reference, latch: HaltLatch) -> None:
    now = ref.now
    match op:
        case View(product, offset, trusted, fresh):
            mid = BASE_MID[product] + offset * D("0.1")
            view = _book(
                product, mid, trusted=trusted, updated_at=now if fresh else now - 6, now=now
            )
            risk.on_view(view)
            ref.views[product] = view
            ref.marks[product] = mid
        case Fill(product, side, trade, size_steps, offset):
            fill = OrderFilled(
                strategy="a",
                client_order_id=f"f-{trade}",
                order_id="v",
                product_id=product,
                side=side,
                trade_id=f"t{trade}",
                price=ref.marks[product] + offset * D("0.5"),
                size=size_steps * SIZE_STEP,
                fee=D("0.01"),
                liquidity=Liquidity.TAKER,
                at=now,
            )
            risk.on_order_filled(fill, now)
            ref.fills.setdefault(trade, fill)
            ref.used.add(fill.client_order_id)
        case Update(pick, state, half_filled) if ref.approved:
            coid = ref.approved[pick % len(ref.approved)]
            order = ref.working.get(coid)
            if order is None:
                return  # its terminal update came already (or it was denied)
            filled_size = (order.size / 2).quantize(SIZE_STEP) if half_filled else D(0)
            risk.on_order_updated(
                OrderUpdated(
                    strategy=order.strategy,
                    client_order_id=coid,
                    order_id="v",
                    product_id=order.product,
                    side=order.side,
                    order_type=OrderType.LIMIT if order.price is not None else OrderType.MARKET,
                    size=order.size,
                    limit_price=order.price,
                    previous=OrderState.PENDING,
                    state=state,
                    filled_size=filled_size,
                    average_price=None,
                    reason="",
                    at=now,
                )
            )
            if state.terminal:
                del ref.working[coid]
                ref.closed.add(coid)
            else:
                order.filled = max(order.filled, filled_size)
        case Submit(coid, strategy, product, side, is_market, size_steps, off_grid, offset):
            size = size_steps * SIZE_STEP + (SIZE_STEP / 2 if off_grid else 0)
            price = None if is_market else ref.marks[product] + offset * D("0.1")
            intent = SubmitOrder(
                strategy=strategy,
                client_order_id=f"o{coid}",
                product_id=product,
                side=side,
                order_type=OrderType.MARKET if is_market else OrderType.LIMIT,
                size=size,
                limit_price=price,
                time_in_force=TimeInForce.GTC,
                post_only=False,
                at=now,
            )
            halted = risk.state is TradingState.HALTED or latch.is_set
            decision = risk.check_submit(intent, now)
            if decision.approved:
                assert not halted
                assert_within_limits(intent, ref, risk)
                ref.working[intent.client_order_id] = Working(
                    strategy=strategy, product=product, side=side, size=size, price=price
                )
                ref.approved.append(intent.client_order_id)
                ref.used.add(intent.client_order_id)
                ref.submit_times.append(now)
            else:
                assert decision.reason is not None
                assert decision.detail
        case Cancel(pick, strategy) if ref.approved:
            coid = ref.approved[pick % len(ref.approved)]
            decision = risk.check_cancel(
                CancelOrder(strategy=strategy, client_order_id=coid, reason="", at=now), now
            )
            order = ref.working.get(coid)
            allowed = (
                order is not None
                and order.strategy == strategy
                and ref.recent(ref.cancel_times, now) < LIMITS.cancel_rate
            )
            assert decision.approved is allowed, decision
            if decision.approved:
                ref.cancel_times.append(now)
        case Wait(seconds):
            ref.now = now + seconds
        case Feed(up):
            feed = FeedState.CONNECTED if up else FeedState.RECONNECTING
            risk.on_feed_status(FeedStatusChanged(state=feed, detail="", attempt=0, at=now))
            ref.feed_up = up
        case Halt():
            risk.halt(OPERATOR, "property", now=now)
        case Resume():
            risk.resume("property", now=now)
        case Latch():
            latch.set(StopReason.KILL_SWITCH, "property")
        case _:
            pass  # an update or cancel before any approval


@given(st.lists(operations, min_size=20, max_size=80))
def test_risk_never_approves_past_a_limit_and_positions_are_distinct_fills(
    ops: list[Any],
) -> None:
    _run(ops)


@given(st.lists(busy, min_size=20, max_size=80))
def test_in_a_busy_market_no_approval_breaks_a_limit(ops: list[Any]) -> None:
    _run(ops)


@given(st.lists(operations, min_size=5, max_size=40))
def test_after_a_halt_without_resume_no_submit_is_ever_approved(ops: list[Any]) -> None:
    sticky = [op for op in ops if not isinstance(op, Resume)]
    halted_at: list[int] = []

    def check(risk: RiskEngine, ref: Reference) -> None:
        if risk.state is TradingState.HALTED:
            halted_at.append(len(ref.approved))
        if halted_at:
            assert len(ref.approved) == halted_at[0]  # nothing approved since
            assert risk.state is TradingState.HALTED

    _run([*sticky[:5], Halt(), *sticky[5:]], check)
