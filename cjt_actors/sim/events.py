"""What the engine reports after each operation, in order, for the WebSocket channels.

Why a drained log rather than callbacks: the engine stays synchronous and free of I/O, and
the app decides when and to whom to send. After each operation the app calls
``Engine.drain_events()`` and fans the events out:

* :class:`LevelChanged` -> ``l2_data`` updates (``new_quantity`` is the new absolute size of
  the level, zero deletes it, exactly as on the wire);
* :class:`TradeExecuted` -> ``market_trades`` (``maker_side`` is the wire's ``side``);
* :class:`OrderUpdated` -> the ``user`` channel of ``order.user_id`` (full current state);
* :class:`FillRecorded` -> fills, for whoever wants them (the wire has no fill channel).

Every event carries the ``now`` of the operation that caused it and a ``sequence`` number,
unique and increasing over the engine's life, so the app can detect a gap in its own queue.

Order within one operation: trades and fills as they happen; then one ``OrderUpdated`` per
order whose state changed (its final state in that operation, in the order the orders were
first touched); then one ``LevelChanged`` per price level whose size changed (final size,
same ordering rule). Coalescing keeps a sweep through a hundred resting orders at one
price from producing a hundred level updates.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from .orders import FillView, OrderView, Side

__all__ = [
    "BookSide",
    "EngineEvent",
    "FillRecorded",
    "LevelChanged",
    "OrderUpdated",
    "TradeExecuted",
]


class BookSide(enum.StrEnum):
    """A side of the book as ``l2_data`` names it."""

    BID = "bid"
    OFFER = "offer"


@attrs.frozen(kw_only=True)
class LevelChanged:
    """The aggregate size at one price level is now ``new_quantity`` (zero: level gone)."""

    sequence: int
    time: float
    product_id: str
    side: BookSide
    price: Decimal
    new_quantity: Decimal


@attrs.frozen(kw_only=True)
class TradeExecuted:
    """A match between a resting (maker) order and an incoming (taker) order."""

    sequence: int
    time: float
    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    maker_side: Side
    maker_order_id: str
    taker_order_id: str

    @property
    def taker_side(self) -> Side:
        return self.maker_side.opposite


@attrs.frozen(kw_only=True)
class OrderUpdated:
    """An order's state changed; ``order`` is its full state after the operation."""

    sequence: int
    time: float
    order: OrderView


@attrs.frozen(kw_only=True)
class FillRecorded:
    """One side of a trade, as the owner of ``fill.order_id`` sees it."""

    sequence: int
    time: float
    fill: FillView


EngineEvent = LevelChanged | TradeExecuted | OrderUpdated | FillRecorded
