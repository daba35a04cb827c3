"""OHLCV bars from trades: alignment, completion by trade or timer, late trades, history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cjt_actors.bars import Bar, BarBuilder, InvalidTrade, MultiBarBuilder
from cjt_actors.errors import InvalidSpec

D = Decimal


def test_one_bar_from_several_trades() -> None:
    """Open, high, low, close, volume and count of one interval, aligned to its start."""
    builder = BarBuilder(60)
    assert builder.add_trade(D("100"), D("1"), 125.0) == []
    assert builder.add_trade(D("103"), D("0.5"), 130.0) == []
    assert builder.add_trade(D("99"), D("2"), 150.0) == []
    assert builder.add_trade(D("101"), D("1.5"), 179.9) == []
    completed = builder.add_trade(D("200"), D("1"), 180.0)
    assert completed == [
        Bar(
            start=120,
            interval=60,
            open=D("100"),
            high=D("103"),
            low=D("99"),
            close=D("101"),
            volume=D("5.0"),
            trade_count=4,
        )
    ]
    assert completed[0].end == 180
    assert builder.bars == tuple(completed)
    current = builder.current
    assert current is not None
    assert (current.start, current.open, current.trade_count) == (180, D("200"), 1)


def test_empty_intervals_produce_no_bar() -> None:
    """A quiet interval leaves a hole in the start times, not an invented bar."""
    builder = BarBuilder(1)
    builder.add_trade(D("1"), D("1"), 0.5)
    completed = builder.add_trade(D("2"), D("1"), 5.5)
    assert [bar.start for bar in completed] == [0]
    builder.tick(10.0)
    assert [bar.start for bar in builder.bars] == [0, 5]


@pytest.mark.parametrize(
    ("now", "closes"), [(59.9, False), (60.0, True)], ids=["before-end", "at-end"]
)
def test_tick_closes_the_bar_at_its_end(now: float, closes: bool) -> None:
    """A timer closes the last bar of a quiet market, but not before its interval ends."""
    builder = BarBuilder(60)
    builder.add_trade(D("1"), D("1"), 10.0)
    completed = builder.tick(now)
    assert bool(completed) is closes
    assert (builder.current is None) is closes


def test_tick_without_trades_does_nothing() -> None:
    """No trade, no bar."""
    builder = BarBuilder(1)
    assert builder.tick(100.0) == []
    assert builder.bars == ()
    assert builder.current is None


def test_late_trade_is_dropped_and_counted() -> None:
    """A completed bar was already handed out; a trade for it cannot change it."""
    builder = BarBuilder(10)
    builder.add_trade(D("1"), D("1"), 5.0)
    builder.add_trade(D("2"), D("1"), 15.0)
    assert builder.add_trade(D("3"), D("1"), 9.0) == []
    assert builder.late_trades == 1
    assert builder.bars[0].trade_count == 1
    builder.tick(20.0)
    assert builder.add_trade(D("3"), D("1"), 19.0) == []  # late after a timer close too
    assert builder.late_trades == 2
    assert repr(builder) == "<BarBuilder 10s: 2 bars, 2 late>"


def test_trade_older_than_the_open_bar_is_late() -> None:
    """Bars go out in time order: a trade for an interval before the open bar is dropped."""
    builder = BarBuilder(1)
    builder.add_trade(D("1"), D("1"), 1.5)
    assert builder.add_trade(D("2"), D("1"), 0.5) == []
    assert builder.late_trades == 1
    assert [bar.start for bar in builder.tick(10.0)] == [1]


def test_out_of_order_trades_inside_a_bar() -> None:
    """Open is the earliest trade and close the latest by time, whatever the arrival order."""
    builder = BarBuilder(60)
    builder.add_trade(D("5"), D("1"), 30.0)
    builder.add_trade(D("4"), D("1"), 10.0)  # earlier: new open
    builder.add_trade(D("6"), D("1"), 20.0)  # neither first nor last
    builder.add_trade(D("7"), D("1"), 30.0)  # same time as the latest: arrives later, closes
    bar = builder.current
    assert bar is not None
    assert (bar.open, bar.high, bar.low, bar.close) == (D("4"), D("7"), D("4"), D("7"))


def test_negative_times_align_down() -> None:
    """Alignment is a floor, also before the clock's zero."""
    builder = BarBuilder(60)
    builder.add_trade(D("1"), D("1"), -0.5)
    current = builder.current
    assert current is not None
    assert current.start == -60


def test_history_is_bounded_and_readable() -> None:
    """Only the last `history` bars are kept; last(n) returns the newest, oldest first."""
    builder = BarBuilder(1, history=3)
    builder.add_trades((D(i + 1), D("1"), float(i)) for i in range(6))
    assert [bar.start for bar in builder.bars] == [2, 3, 4]
    assert [bar.start for bar in builder.last(2)] == [3, 4]
    assert [bar.start for bar in builder.last(10)] == [2, 3, 4]
    assert builder.last(0) == ()


@pytest.mark.parametrize(
    ("price", "size", "time"),
    [
        (D(0), D(1), 0.0),
        (D(1), D(0), 0.0),
        (D(-1), D(1), 0.0),
        (D("NaN"), D(1), 0.0),
        (D(1), D("Infinity"), 0.0),
        (1.0, D(1), 0.0),
        (D(1), D(1), float("nan")),
        (D(1), D(1), float("inf")),
    ],
)
def test_invalid_trades_are_refused(price: Decimal, size: Decimal, time: float) -> None:
    """A bad trade is an error that leaves the builder unchanged."""
    builder = MultiBarBuilder([1, 60])
    with pytest.raises(InvalidTrade, match="trade"):
        builder.add_trade(price, size, time)
    assert builder.builder(1).current is None
    assert builder.builder(60).current is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval_seconds": 0},
        {"interval_seconds": -1},
        {"interval_seconds": 1.5},
        {"interval_seconds": True},
        {"interval_seconds": 1, "history": 0},
    ],
)
def test_bad_builder_arguments(kwargs: dict[str, object]) -> None:
    """Intervals and history sizes are positive integers, checked at construction."""
    with pytest.raises(InvalidSpec, match=r"BarBuilder \w+ must be a positive integer"):
        BarBuilder(**kwargs)  # type: ignore[arg-type]


def test_multi_builder_feeds_every_interval() -> None:
    """Several intervals see the same trades; completed bars come shortest interval first."""
    builder = MultiBarBuilder([60, 1])
    assert builder.intervals == (1, 60)
    builder.add_trade(D("10"), D("1"), 0.0)
    builder.add_trade(D("11"), D("1"), 30.0)
    completed = builder.add_trade(D("12"), D("1"), 61.0)
    assert [(bar.interval, bar.start) for bar in completed] == [(1, 30), (60, 0)]
    assert builder.builder(60).bars[0].volume == D("2")
    assert [(bar.interval, bar.start) for bar in builder.tick(200.0)] == [(1, 61), (60, 60)]


@pytest.mark.parametrize(("intervals", "message"), [([], "at least one"), ([1, 1], "repeat")])
def test_multi_builder_bad_intervals(intervals: list[int], message: str) -> None:
    """An empty or repeated interval list is a configuration mistake."""
    with pytest.raises(InvalidSpec, match=message):
        MultiBarBuilder(intervals)


def test_multi_builder_unknown_interval_is_named() -> None:
    """Asking for an interval that is not built says which ones are."""
    with pytest.raises(KeyError, match=r"no 5s bars; intervals are \(1, 60\)"):
        MultiBarBuilder([1, 60]).builder(5)
