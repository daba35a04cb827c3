"""Property tests of the L2 book and the bar builder against brute-force reference models.

The book's reference is the obvious one: two plain dicts, the best prices by ``max``/``min``,
and the trust rules written as plain ``if``s. Random sequences of snapshots, updates, gaps,
reconnects, stale marks, malformed frames and resets must leave both with the same levels,
the same best prices and top-N, and the same trust state and reason. The ticks are drawn from a
narrow range so that crossed books, deletes of the best level and deletes of unknown levels
all happen often.

The bars' reference recomputes each interval from the trades that fell in it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cjt_actors.bars import BarBuilder, MultiBarBuilder
from cjt_actors.exchange.stream import L2Level
from cjt_actors.orderbook import IllegalTransition, L2Book, TickLevel, TrustReason, TrustState

tick_levels = st.tuples(st.booleans(), st.integers(1, 30), st.integers(0, 4))
frames = st.lists(tick_levels, max_size=8)
snapshots = st.lists(tick_levels, max_size=40)
distrust_reasons = st.sampled_from(list(TrustReason))
operations = st.one_of(
    st.tuples(st.just("snapshot"), snapshots, st.booleans()),
    st.tuples(st.just("update"), frames, st.booleans()),
    st.tuples(st.just("update"), frames, st.booleans()),
    st.tuples(st.just("update"), frames, st.booleans()),
    st.tuples(st.just("distrust"), distrust_reasons),
    st.tuples(st.just("reset")),
)


class ReferenceBook:
    """Plain dicts, max/min, and the trust rules spelled out."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.state = TrustState.EMPTY
        self.reason: TrustReason | None = None

    def apply(self, levels: list[TickLevel]) -> None:
        for is_bid, tick, units in levels:
            side = self.bids if is_bid else self.asks
            if units:
                side[tick] = units
            else:
                side.pop(tick, None)

    def crossed(self) -> bool:
        return bool(self.bids) and bool(self.asks) and max(self.bids) >= min(self.asks)

    def distrust(self, reason: TrustReason) -> None:
        if self.state is TrustState.TRUSTED:
            self.state, self.reason = TrustState.UNTRUSTED, reason

    def snapshot(self, levels: list[TickLevel]) -> None:
        self.bids, self.asks = {}, {}
        self.apply(levels)
        self.state, self.reason = TrustState.TRUSTED, None
        if self.crossed():
            self.distrust(TrustReason.CROSSED)

    def update(self, levels: list[TickLevel]) -> None:
        self.apply(levels)
        if self.crossed():
            self.distrust(TrustReason.CROSSED)


def as_decimal_levels(book: L2Book, levels: list[TickLevel]) -> list[L2Level]:
    return [
        ("bid" if is_bid else "offer", book.price_of(tick), book.size_of(units), "")
        for is_bid, tick, units in levels
    ]


def assert_same(book: L2Book, model: ReferenceBook) -> None:
    assert book.levels() == (model.bids, model.asks)
    assert book.best_bid_ticks() == (
        (max(model.bids), model.bids[max(model.bids)]) if model.bids else None
    )
    assert book.best_ask_ticks() == (
        (min(model.asks), model.asks[min(model.asks)]) if model.asks else None
    )
    bids, asks = book.top(3)
    assert [book.to_ticks(price) for price, _ in bids] == sorted(model.bids, reverse=True)[:3]
    assert [book.to_ticks(price) for price, _ in asks] == sorted(model.asks)[:3]
    assert book.crossed() == model.crossed()
    assert book.state is model.state
    assert book.trust_reason is model.reason


@given(start_synced=st.booleans(), first=snapshots, ops=st.lists(operations, max_size=40))
def test_book_matches_reference(
    start_synced: bool, first: list[TickLevel], ops: list[tuple[Any, ...]]
) -> None:
    """Any sequence of feed events leaves the book equal to the brute-force model."""
    book = L2Book("BTC-USD", Decimal("0.5"), Decimal("0.001"))
    model = ReferenceBook()
    lost_data = False  # a gap, reconnect or stale mark since the last snapshot
    if start_synced:  # most runs start with a snapshot, so updates have levels to hit
        ops = [("snapshot", first, False), *ops]
    for op in ops:
        kind = op[0]
        if kind == "snapshot":
            _, levels, via_decimals = op
            if via_decimals:
                book.apply_snapshot(as_decimal_levels(book, levels), now=1.0)
            else:
                book.apply_tick_snapshot(levels, now=1.0)
            model.snapshot(levels)
            lost_data = False
        elif kind == "update":
            _, levels, via_decimals = op
            if model.state is TrustState.EMPTY:
                with pytest.raises(IllegalTransition):
                    book.apply_tick_updates(levels, now=1.0)
                continue
            if via_decimals:
                book.apply_updates(as_decimal_levels(book, levels), now=1.0)
            else:
                book.apply_tick_updates(levels, now=1.0)
            model.update(levels)
        elif kind == "distrust":
            reason = op[1]
            if model.state is TrustState.EMPTY and reason is TrustReason.CROSSED:
                with pytest.raises(IllegalTransition):
                    book.distrust(reason)
                continue
            book.distrust(reason)
            model.distrust(reason)
            lost_data = lost_data or (
                model.state is not TrustState.EMPTY
                and reason in (TrustReason.GAP, TrustReason.RECONNECT, TrustReason.STALE)
            )
        else:
            book.clear()
            model = ReferenceBook()
            lost_data = False
        assert_same(book, model)
        if lost_data:
            assert not book.trusted
            assert not book.view(now=2.0).trusted


trades = st.tuples(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=2),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(50), places=3),
    st.floats(min_value=-100.0, max_value=1000.0, allow_nan=False),
)
intervals = st.sampled_from([1, 7, 60])


@given(stream=st.lists(trades, max_size=60), interval=intervals)
@example(stream=[(Decimal("1"), Decimal("1"), -5e-324)], interval=7)  # floor(t / n) rounds to 0
def test_bars_equal_brute_force_on_time_ordered_trades(
    stream: list[tuple[Decimal, Decimal, float]], interval: int
) -> None:
    """Bars from trades in time order equal a per-interval recomputation; nothing is lost."""
    stream.sort(key=lambda trade: trade[2])
    builder = BarBuilder(interval, history=1000)
    completed = builder.add_trades(stream)
    completed += builder.tick(math.inf)
    assert builder.bars == tuple(completed)
    groups: dict[int, list[tuple[Decimal, Decimal, float]]] = {}
    for trade in stream:
        start = math.floor(Fraction(trade[2]) / interval) * interval  # exact, unlike t / n
        groups.setdefault(start, []).append(trade)
    assert [bar.start for bar in completed] == sorted(groups)
    for bar in completed:
        group = groups[bar.start]
        prices = [price for price, _, _ in group]
        assert bar.open == prices[0]
        assert bar.close == prices[-1]
        assert bar.high == max(prices)
        assert bar.low == min(prices)
        assert bar.volume == sum(size for _, size, _ in group)
        assert bar.trade_count == len(group)
        assert bar.start <= min(t for _, _, t in group)
        assert max(t for _, _, t in group) < bar.end
    assert sum(bar.volume for bar in completed) == sum(size for _, size, _ in stream)
    assert builder.late_trades == 0


@given(stream=st.lists(trades, max_size=60))
@example(stream=[(Decimal("1"), Decimal("1"), 1.0), (Decimal("1"), Decimal("1"), 0.0)])
def test_every_trade_is_in_a_bar_or_counted_late(
    stream: list[tuple[Decimal, Decimal, float]],
) -> None:
    """In any arrival order, each trade lands in exactly one bar or is counted as late."""
    builder = MultiBarBuilder([1, 7, 60], history=1000)
    for trade in stream:
        builder.add_trade(*trade)
    builder.tick(math.inf)
    for interval in builder.intervals:
        one = builder.builder(interval)
        assert sum(bar.trade_count for bar in one.bars) + one.late_trades == len(stream)
        starts = [bar.start for bar in one.bars]
        assert starts == sorted(set(starts))
        for bar in one.bars:
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            assert bar.volume > 0
