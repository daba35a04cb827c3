"""``l2_data`` decoded straight into integer ticks: the feed's hot path.

Why a second decoder for ``l2_data``: :func:`~.stream.decode_payload` gives every level as
``Decimal`` price and size, and the book then divided each by the product's increment to get
the integer ticks it keys on. Both steps cost about a microsecond per value, ten times the
book's own work (``reference/perf-limits.md`` §1-§3), and a busy frame carries dozens of
levels. Here the text the exchange sent goes to ticks and units in one exact step, with no
``Decimal`` and no float:

* an increment is ``m x 10**-k`` (``0.01`` is 1 x 10**-2, ``0.05`` is 5 x 10**-2), so a text
  ``"60000.27"`` is ``6000027`` steps of 10**-2 by string surgery alone, and ticks are that
  divided by ``m``, exactly, or the value is off the grid;
* prices repeat frame after frame near the touch, so a bounded cache maps a price's text to
  its ticks (sizes vary too much to be worth caching);
* anything outside the plain ``digits[.digits]`` form (an exponent, a sign, a space) takes a
  careful ``Decimal`` path, so every text ``Decimal`` accepts still decodes to the same
  ticks (property-tested against :class:`~cjt_actors.orderbook.L2Book`'s own conversion).

Validation is the stream decoder's, in the same words: a frame with a bad level raises
:class:`~.stream.FrameDecodeError` naming the level's path (the client then reports a
:class:`~.stream.MalformedFrame` and the feed re-syncs), and a price or size off the
product's grid is named with the increment it missed. Levels of a product without a grid
(not subscribed here) are checked for shape and dropped; the event is kept, with no levels,
so the book can count it.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, TypeAlias

import attrs

from .stream import (
    Envelope,
    EventType,
    FrameDecodeError,
    _BadLevel,
    _l2_event_fields,
    _l2_level,
    _show,
)

__all__ = ["L2TickData", "L2TickDecoder", "L2TickEvent", "TickLevel", "step_parser"]

#: One level in ticks: ``(is_bid, price_ticks, size_units)``; 0 units deletes the level.
TickLevel: TypeAlias = tuple[bool, int, int]

#: Texts longer than this many integer digits are refused (Coinbase never sends 10**30).
_MAX_INTEGER_DIGITS: Final = 30
_PRICE_CACHE_SIZE: Final = 8192
_EXACT: Final = decimal.Context(prec=80, traps=[decimal.InvalidOperation, decimal.Overflow])
_LIMIT: Final = Decimal("1e30")


@attrs.frozen(kw_only=True)
class L2TickEvent:
    """One product's level-2 changes in ticks. A ``snapshot`` replaces the book."""

    type: EventType
    product_id: str
    levels: tuple[TickLevel, ...]


@attrs.frozen(kw_only=True)
class L2TickData:
    """An ``l2_data`` frame decoded into ticks (:class:`L2TickDecoder`)."""

    events: tuple[L2TickEvent, ...]


def step_parser(increment: Decimal) -> Callable[[str], int]:
    """Exact decimal text -> integer multiples of ``increment``.

    The parser returns the steps, or raises :class:`ValueError` saying why (not a
    non-negative decimal, too large, or not a multiple of the increment). A closure rather
    than a class with ``__call__``: this runs once or twice per price level, and a plain
    function call is the cheapest call CPython has.

    Raises:
        ValueError: ``increment`` is not a positive, finite Decimal.
    """
    if not isinstance(increment, Decimal) or not increment.is_finite() or increment <= 0:
        raise ValueError(f"increment must be a positive, finite Decimal, got {increment!r}")
    _, digits, exponent = increment.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    factor = int("".join(map(str, digits)))
    if exponent > 0:  # e.g. 1E+1: steps of ten whole units
        factor *= 10**exponent
        exponent = 0
    decimals = -exponent
    zeros = "0" * decimals

    def careful(text: str) -> int:
        """Any text ``Decimal`` accepts; the reason when it is not a grid value."""
        try:
            value = Decimal(text)
        except decimal.InvalidOperation:
            raise ValueError("is not a decimal") from None
        if not value.is_finite() or not -_LIMIT < value < _LIMIT:
            raise ValueError("is not a decimal")
        if value < 0:
            raise ValueError("is negative")
        steps, rest = _EXACT.divmod(value, increment)
        if rest:
            raise ValueError(f"is not a multiple of the increment {increment}")
        return int(steps)

    def parse(text: str) -> int:
        whole, _, fraction = text.partition(".")
        places = len(fraction)
        if places > decimals:
            if fraction[decimals:].strip("0"):
                return careful(text)  # off the grid, or not plain: let Decimal say which
            fraction = fraction[:decimals]
            places = decimals
        # isdigit() admits only digits (no sign, space or underscore, which int() would
        # take); the few non-ASCII digits int() refuses fall through to Decimal's verdict.
        if (
            not whole.isdigit()
            or (places and not fraction.isdigit())
            or len(whole) > _MAX_INTEGER_DIGITS
            or (not places and decimals and text[-1:] == ".")
        ):
            return careful(text)
        try:
            steps = int(whole + fraction + zeros[places:])
        except ValueError:
            return careful(text)
        if factor != 1:
            steps, rest = divmod(steps, factor)
            if rest:
                raise ValueError(f"is not a multiple of the increment {increment}")
        return steps

    return parse


class _Grid:
    """One product's parsers: prices (with a cache of texts seen) and sizes."""

    __slots__ = ("price", "prices", "size")

    def __init__(self, price_increment: Decimal, size_increment: Decimal) -> None:
        self.price = step_parser(price_increment)
        self.size = step_parser(size_increment)
        self.prices: dict[str, int] = {}


class L2TickDecoder:
    """Decodes an ``l2_data`` envelope's events into :class:`L2TickData`.

    Args:
        increments: for each product, ``(price_increment, size_increment)``.

    Raises:
        ValueError: an increment is not a positive, finite Decimal.
    """

    __slots__ = ("_grids",)

    def __init__(self, increments: Mapping[str, tuple[Decimal, Decimal]]) -> None:
        self._grids = {
            product_id: _Grid(price, size) for product_id, (price, size) in increments.items()
        }

    def __call__(self, envelope: Envelope) -> L2TickData:
        """Raises :class:`FrameDecodeError` naming the first bad place."""
        channel = envelope.channel
        return L2TickData(
            events=tuple(
                [self._event(event, channel, index) for index, event in enumerate(envelope.events)]
            )
        )

    def _event(self, event: Any, channel: str, index: int) -> L2TickEvent:
        kind, product_id, updates = _l2_event_fields(event, channel, index)
        grid = self._grids.get(product_id)
        levels = self._levels(updates, grid, lambda: f"{channel}.events[{index}].updates")
        return L2TickEvent(type=kind, product_id=product_id, levels=levels)

    @staticmethod
    def _levels(
        raw: list[Any], grid: _Grid | None, where: Callable[[], str]
    ) -> tuple[TickLevel, ...]:
        if grid is None:
            path = where()
            for position, update in enumerate(raw):
                _l2_level(update, f"{path}[{position}]")  # shape only: no grid to convert to
            return ()
        levels: list[TickLevel] = []
        append = levels.append
        prices = grid.prices
        price_steps = grid.price
        size_steps = grid.size
        try:
            for update in raw:
                side = update["side"]
                if side == "bid":
                    is_bid = True
                elif side == "offer":
                    is_bid = False
                else:
                    raise _BadLevel
                price_text = update["price_level"]
                ticks = prices.get(price_text)
                if ticks is None:
                    if type(price_text) is not str:
                        raise _BadLevel
                    ticks = price_steps(price_text)
                    if ticks <= 0:
                        raise _BadLevel
                    if len(prices) >= _PRICE_CACHE_SIZE:
                        prices.clear()
                    prices[price_text] = ticks
                size_text = update["new_quantity"]
                if type(size_text) is not str or type(update["event_time"]) is not str:
                    raise _BadLevel
                # "0" deletes a level: about a third of all updates
                append((is_bid, ticks, 0 if size_text == "0" else size_steps(size_text)))
        except (_BadLevel, KeyError, TypeError, ValueError):
            path = where()
            for position, update in enumerate(raw):
                _tick_level(update, f"{path}[{position}]", grid)
            raise FrameDecodeError(path, "could not be decoded") from None  # pragma: no cover
        return tuple(levels)


def _tick_level(update: object, where: str, grid: _Grid) -> TickLevel:
    """One level, checked field by field: the slow path that names the problem."""
    side, _, _, _ = _l2_level(update, where)  # shape, sign and decimal checks, by name
    assert isinstance(update, dict)
    ticks = _steps(grid.price, update, "price_level", where)
    units = _steps(grid.size, update, "new_quantity", where)
    return (side == "bid", ticks, units)


def _steps(parser: Callable[[str], int], obj: dict[str, Any], key: str, where: str) -> int:
    text = obj[key]
    try:
        return parser(text)
    except ValueError as error:
        raise FrameDecodeError(f"{where}.{key}", f"{_show(text)} {error}") from None
