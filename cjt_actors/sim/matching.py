"""Working out a match against one side of the book before anything changes.

Why plan first: three decisions need to know what a taker *would* fill before the engine
commits to it. A fill-or-kill fills only if everything fills; a market buy sized in base
must have funds for the exact cost of walking the book; a market order against a book
with nothing to take is refused. Planning with the same function that execution then
applies keeps those checks and the actual fills on one piece of arithmetic: they cannot
disagree.

A plan is a list of steps in priority order: fill this maker for this size, or cancel
this maker (it belongs to the taker: self-trade prevention cancels the resting order).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, Protocol, TypeVar

import attrs

from .orderbook import BookSideLevels

__all__ = ["Maker", "MatchPlan", "plan_match"]

_ZERO = Decimal(0)


class Maker(Protocol):
    """What planning needs of a resting order."""

    @property
    def order_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def book_price(self) -> Decimal: ...

    @property
    def remaining(self) -> Decimal: ...


M = TypeVar("M", bound=Maker)


@attrs.define
class MatchPlan(Generic[M]):
    """A match worked out against the book.

    ``steps`` are (maker, size) in priority order; a size of None cancels the maker (the
    taker's own order). ``base`` and ``notional`` total the fills. ``exhausted`` is True when
    the taker's size or budget ran out, False when the book (or its limit price) did.
    """

    steps: list[tuple[M, Decimal | None]]
    base: Decimal
    notional: Decimal
    exhausted: bool


def plan_match(
    opposite: BookSideLevels[M],
    user_id: str,
    *,
    is_buy: bool,
    limit: Decimal | None,
    increment: Decimal,
    taker_unit: Decimal,
    base: Decimal | None = None,
    budget: Decimal | None = None,
    proceeds: Decimal | None = None,
) -> MatchPlan[M]:
    """Walk ``opposite`` from its best price for a taker bounded by ``limit`` (None: any
    price) and by exactly one of:

    * ``base``: a size;
    * ``budget``: quote to spend including the taker fee (``taker_unit`` is 1 + taker rate),
      so at price p it buys ``floor(left / (p x taker_unit x increment))`` increments;
    * ``proceeds``: gross quote to raise by selling, ``floor(left / (p x increment))``
      increments at price p.

    Every quantity is a whole number of base ``increment``s, computed with exact integer
    division: no rounding anywhere. Changes nothing.
    """
    steps: list[tuple[M, Decimal | None]] = []
    filled = _ZERO
    notional = _ZERO
    for price, level in opposite.levels():
        if limit is not None and (price > limit if is_buy else price < limit):
            break
        for maker in level.values():
            if base is not None:
                want = base - filled
            elif budget is not None:
                left = budget - notional * taker_unit
                want = (left // (price * taker_unit * increment)) * increment
            elif proceeds is not None:
                want = ((proceeds - notional) // (price * increment)) * increment
            else:
                raise AssertionError("a plan needs a base size, a budget or proceeds")
            if want <= 0:
                return MatchPlan(steps, filled, notional, exhausted=True)
            if maker.user_id == user_id:
                steps.append((maker, None))
                continue
            size = min(want, maker.remaining)
            steps.append((maker, size))
            filled += size
            notional += size * price
            if size == want:
                return MatchPlan(steps, filled, notional, exhausted=True)
    return MatchPlan(steps, filled, notional, exhausted=False)
