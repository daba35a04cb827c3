"""The resting orders of one product: price levels in price-time priority, plus the
aggregate size of each level that the ``level2`` channel publishes.

Why this layout: matching touches the best level far more than any other, cancels hit any
order anywhere, and ``level2`` wants sizes per price. So each side keeps

* a dict from price to the level's orders, an ``OrderedDict`` (FIFO by arrival, with O(1)
  removal of any order by id: better than a deque, whose ``remove`` is O(n));
* a dict from price to the level's total remaining size (so an L2 update is one lookup);
* a sorted list of price keys with the best price *last* (bids ascending by price, asks
  ascending by negated price), kept with :mod:`bisect`: the best price is ``keys[-1]`` and
  removing it is a ``pop()``. A new level costs a binary search and a short memmove, which
  for books of thousands of levels is cheaper in CPython than any tree or heap.

The book knows nothing about balances or fees: it stores, orders and sums. It also records
which levels changed since the engine last asked (``take_touched``), with the size each had
before, so the engine can emit one ``l2_data`` update per changed level per operation.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

__all__ = ["BookSideLevels", "Resting"]

_ZERO = Decimal(0)


class Resting(Protocol):
    """What the book needs of an order: its id, its price and what remains of its size."""

    @property
    def order_id(self) -> str: ...

    @property
    def book_price(self) -> Decimal: ...

    @property
    def remaining(self) -> Decimal: ...


R = TypeVar("R", bound=Resting)


class BookSideLevels(Generic[R]):
    """One side (bids or asks) of one product's book."""

    __slots__ = ("_keys", "_levels", "_sizes", "_touched", "is_bid")

    def __init__(self, *, is_bid: bool) -> None:
        self.is_bid = is_bid
        self._keys: list[Decimal] = []
        self._levels: dict[Decimal, OrderedDict[str, R]] = {}
        self._sizes: dict[Decimal, Decimal] = {}
        self._touched: dict[Decimal, Decimal] = {}

    def __len__(self) -> int:
        """The number of price levels."""
        return len(self._keys)

    def _key(self, price: Decimal) -> Decimal:
        return price if self.is_bid else -price

    def _price(self, key: Decimal) -> Decimal:
        return key if self.is_bid else -key

    def _touch(self, price: Decimal) -> None:
        if price not in self._touched:
            self._touched[price] = self._sizes.get(price, _ZERO)

    # -- queries --------------------------------------------------------------------------

    def best_price(self) -> Decimal | None:
        """The best price on this side (highest bid, lowest ask), or None if empty."""
        return self._price(self._keys[-1]) if self._keys else None

    def size_at(self, price: Decimal) -> Decimal:
        """Total remaining size resting at ``price`` (zero if no level)."""
        return self._sizes.get(price, _ZERO)

    def levels(self) -> Iterator[tuple[Decimal, OrderedDict[str, R]]]:
        """(price, orders in time priority) from the best price outward.

        Do not change the book while iterating: the engine plans a match first, then applies it.
        """
        for key in reversed(self._keys):
            price = self._price(key)
            yield price, self._levels[price]

    def depth(self, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """(price, aggregate size) from the best price outward, at most ``limit`` levels."""
        keys = self._keys if limit is None else self._keys[max(0, len(self._keys) - limit) :]
        return [(price, self._sizes[price]) for price in map(self._price, reversed(keys))]

    def orders(self) -> Iterator[R]:
        """Every resting order in priority order (best price first, then arrival)."""
        for _, level in self.levels():
            yield from level.values()

    # -- changes --------------------------------------------------------------------------

    def add(self, order: R) -> None:
        """Put ``order`` at the back of the queue at its price."""
        price = order.book_price
        self._touch(price)
        level = self._levels.get(price)
        if level is None:
            level = self._levels[price] = OrderedDict()
            self._sizes[price] = _ZERO
            bisect.insort(self._keys, self._key(price))
        level[order.order_id] = order
        self._sizes[price] += order.remaining

    def remove(self, order: R) -> None:
        """Take ``order`` (and its whole remaining size) out of the book."""
        price = order.book_price
        self._touch(price)
        level = self._levels[price]
        del level[order.order_id]
        if level:
            self._sizes[price] -= order.remaining
            return
        del self._levels[price]
        del self._sizes[price]
        key = self._key(price)
        if self._keys[-1] == key:
            self._keys.pop()
        else:
            del self._keys[bisect.bisect_left(self._keys, key)]

    def reduce(self, order: R, size: Decimal) -> None:
        """``order`` stays in place but ``size`` less of it remains (a fill or a smaller edit)."""
        price = order.book_price
        self._touch(price)
        self._sizes[price] -= size

    def take_touched(self) -> list[tuple[Decimal, Decimal, Decimal]]:
        """(price, size before, size now) for each level changed since the last call."""
        changes = [
            (price, before, self._sizes.get(price, _ZERO))
            for price, before in self._touched.items()
        ]
        self._touched.clear()
        return changes
