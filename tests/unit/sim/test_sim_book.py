"""One side of an order book: price-time order, aggregate sizes, and which levels changed."""

from __future__ import annotations

from decimal import Decimal

import attrs

from cjt_actors.sim.orderbook import BookSideLevels

D = Decimal


@attrs.define
class Resting:
    order_id: str
    book_price: Decimal
    remaining: Decimal


def side_with(is_bid: bool, *orders: tuple[str, str, str]) -> BookSideLevels[Resting]:
    side: BookSideLevels[Resting] = BookSideLevels(is_bid=is_bid)
    for order_id, price, size in orders:
        side.add(Resting(order_id, D(price), D(size)))
    return side


def test_bids_best_first_then_arrival() -> None:
    """Bids: the highest price is best; within a price, the first to arrive is first."""
    bids = side_with(True, ("a", "99", "1"), ("b", "101", "2"), ("c", "99", "3"), ("d", "100", "4"))
    assert bids.best_price() == D("101")
    assert [o.order_id for o in bids.orders()] == ["b", "d", "a", "c"]
    assert bids.depth() == [(D("101"), D("2")), (D("100"), D("4")), (D("99"), D("4"))]
    assert bids.depth(2) == [(D("101"), D("2")), (D("100"), D("4"))]
    assert len(bids) == 3


def test_asks_best_first_then_arrival() -> None:
    """Asks: the lowest price is best."""
    asks = side_with(False, ("a", "99", "1"), ("b", "101", "2"), ("c", "99", "3"))
    assert asks.best_price() == D("99")
    assert [o.order_id for o in asks.orders()] == ["a", "c", "b"]
    assert asks.depth(1) == [(D("99"), D("4"))]
    assert asks.depth(0) == []


def test_remove_any_order_and_drop_empty_levels() -> None:
    """Cancels hit any order anywhere; an emptied level disappears, best or not."""
    asks = side_with(
        False, ("a", "99", "1"), ("b", "100", "2"), ("c", "101", "3"), ("d", "99", "5")
    )
    orders = {o.order_id: o for o in asks.orders()}
    asks.remove(orders["b"])  # a middle level
    assert asks.depth() == [(D("99"), D("6")), (D("101"), D("3"))]
    asks.remove(orders["a"])  # part of the best level
    assert asks.depth() == [(D("99"), D("5")), (D("101"), D("3"))]
    asks.remove(orders["d"])  # the whole best level
    assert asks.best_price() == D("101")
    asks.remove(orders["c"])
    assert asks.best_price() is None
    assert asks.depth() == []
    assert asks.size_at(D("99")) == 0


def test_reduce_keeps_the_place_in_the_queue() -> None:
    """A partial fill or a smaller edit keeps priority and only shrinks the level."""
    bids = side_with(True, ("a", "50", "5"), ("b", "50", "1"))
    first = next(bids.orders())
    bids.reduce(first, D("2"))
    first.remaining -= D("2")
    assert bids.size_at(D("50")) == D("4")
    assert [o.order_id for o in bids.orders()] == ["a", "b"]


def test_touched_levels_report_size_before_and_now_once() -> None:
    """The engine publishes one level2 update per changed level per operation."""
    bids = side_with(True, ("a", "50", "5"))
    assert bids.take_touched() == [(D("50"), D("0"), D("5"))]
    assert bids.take_touched() == []
    first = next(bids.orders())
    bids.add(Resting("b", D("49"), D("1")))
    bids.reduce(first, D("1"))
    bids.reduce(first, D("1"))
    bids.remove(Resting("b", D("49"), D("1")))
    assert bids.take_touched() == [(D("49"), D("0"), D("0")), (D("50"), D("5"), D("3"))]
