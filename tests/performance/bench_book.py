"""Book: level updates per second, best bid and ask included, against a SortedDict reference.

What is measured (issue 8, "book >= 1 M level updates/s"): applying every ``l2_data`` update
level of the capture to one book per product, reading the best bid AND the best ask along
the way. Four loops run over the very same levels, interleaved round-robin in every repeat
(the order rotates from repeat to repeat), each on fresh books:

* ``book.cjt``: :class:`~cjt_actors.orderbook.L2Book`, one ``apply_tick_updates`` call per
  ``l2_data`` event (a frame's levels), best bid and ask read after every call: what the book
  actor does with a frame.
* ``book.cjt_strict``: the same book, one level per call, best bid and ask read after EVERY
  level: the strict reading of the target (the call overhead is paid per level).
* ``book.sorteddict``: the reference of ``reference/perf-limits.md`` §3: a
  ``sortedcontainers.SortedDict`` per side keyed by integer ticks, best bid
  ``bids.peekitem(-1)`` and best ask ``asks.peekitem(0)`` after every level.
* ``book.sorteddict_batch``: the same reference reading the best prices once per event, like
  ``book.cjt``: the like-for-like ratio.

Inside the timed window: only the loop over the prepared levels (apply + best reads). Outside
it: decoding the frames and converting prices and sizes to integer ticks and units (the
decoder's job, measured by the ingest benchmark), building the books and loading each
product's snapshot. ``gc.collect()`` runs before each timed loop so a collection owed by the
preparation does not land inside it.

Correctness is checked, not assumed: before timing, one untimed pass applies every event to
an L2Book and to the reference side by side and compares the best bid and ask after every
event; after each timed loop the final books must equal the ones a plain dict replay
produced. Any difference raises :class:`BookMismatch`: no rate is reported for a book that
computed something else.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Final, TypeAlias

import attrs
import orjson
from sortedcontainers import SortedDict

from cjt_actors.orderbook import L2Book, TickLevel

from .capture import PRODUCT_SPECS
from .harness import BenchContext, Metric

if TYPE_CHECKING:
    from .capture import Capture

__all__ = [
    "LOOPS",
    "BookInput",
    "BookMismatch",
    "LoopResult",
    "book_input",
    "check_best_per_event",
    "input_from_frames",
    "run",
    "run_loop",
]

#: Levels used in quick mode (whole events, the first ones of the capture).
QUICK_LEVELS: Final = 100_000

#: Both sides of one book as ``{ticks: units}``: what the books are compared on.
Sides: TypeAlias = tuple[dict[int, int], dict[int, int]]
Batch: TypeAlias = tuple[str, list[TickLevel]]


class BookMismatch(AssertionError):
    """A book under test disagreed with the reference: the measurement is void."""


@attrs.frozen(kw_only=True)
class BookInput:
    """The capture's level-2 data, decoded into integer ticks and units (untimed).

    ``snapshots`` holds each product's snapshot levels; ``batches`` every update event in
    capture order as ``(product_id, levels)``; ``expected`` the final book of each product
    (a plain dict replay: the third, independent implementation the others must match).
    """

    products: tuple[str, ...]
    increments: Mapping[str, tuple[Decimal, Decimal]]  #: product -> (price, size) increment
    snapshots: Mapping[str, list[TickLevel]]
    batches: list[Batch]
    levels: int
    expected: Mapping[str, Sides]


@attrs.frozen(kw_only=True)
class LoopResult:
    """One timed loop: how long it took and the books it left."""

    elapsed_ns: int
    levels: int
    final: Mapping[str, Sides]

    @property
    def levels_per_s(self) -> float:
        return self.levels * 1e9 / self.elapsed_ns


# -- input ------------------------------------------------------------------------------------


class _Converter:
    """Price and size text to ticks and units, exactly (an L2Book's own conversion), memoised:
    prices near the touch repeat, and a million ``Decimal`` divisions would slow the set-up."""

    def __init__(self, product_id: str, price_increment: Decimal, size_increment: Decimal):
        self._book = L2Book(product_id, price_increment, size_increment)
        self._ticks: dict[str, int] = {}
        self._units: dict[str, int] = {}

    def level(self, side: str, price: str, size: str) -> TickLevel:
        if side == "bid":
            is_bid = True
        elif side == "offer":
            is_bid = False
        else:
            raise ValueError(f"{self._book.product_id}: level side {side!r}")
        ticks = self._ticks.get(price)
        if ticks is None:
            ticks = self._ticks[price] = self._book.to_ticks(Decimal(price))
        units = self._units.get(size)
        if units is None:
            units = self._units[size] = self._book.to_units(Decimal(size))
        return is_bid, ticks, units


def _increments(product_id: str) -> tuple[Decimal, Decimal]:
    spec = PRODUCT_SPECS.get(product_id)
    if spec is None:
        raise ValueError(
            f"bench_book: no increments for {product_id!r} (the capture's products are "
            f"{sorted(PRODUCT_SPECS)})"
        )
    return spec.price_increment, spec.base_increment


def input_from_frames(frames: Iterable[str], *, max_levels: int | None = None) -> BookInput:
    """Decode ``l2_data`` frames into a :class:`BookInput` (other channels are skipped).

    Increments are the capture's (:data:`~.capture.PRODUCT_SPECS`). Every product's
    snapshot must come before its first update (the capture's shape: a
    resynchronisation in mid-stream would put a snapshot load inside the timed loop). With
    ``max_levels``, whole events are taken until at least that many update levels.

    Raises:
        ValueError: an update before its product's snapshot, a snapshot after updates, a
            malformed level, a product the simulator does not list, or no update at all.
    """
    converters: dict[str, _Converter] = {}
    snapshots: dict[str, list[TickLevel]] = {}
    batches: list[Batch] = []
    updated: set[str] = set()
    levels = 0
    for text in frames:
        if max_levels is not None and levels >= max_levels:
            break
        if '"l2_data"' not in text[:40]:
            continue
        frame = orjson.loads(text)
        if frame.get("channel") != "l2_data":
            continue
        for event in frame["events"]:
            product = event["product_id"]
            converter = converters.get(product)
            if converter is None:
                converter = converters[product] = _Converter(product, *_increments(product))
            converted = [
                converter.level(u["side"], u["price_level"], u["new_quantity"])
                for u in event["updates"]
            ]
            if event["type"] == "snapshot":
                if product in updated:
                    raise ValueError(f"bench_book: a snapshot of {product} after its updates")
                snapshots[product] = converted
            elif event["type"] == "update":
                if product not in snapshots:
                    raise ValueError(f"bench_book: an update of {product} before its snapshot")
                updated.add(product)
                batches.append((product, converted))
                levels += len(converted)
            else:
                raise ValueError(f"bench_book: l2_data event type {event['type']!r}")
    if not batches:
        raise ValueError("bench_book: the frames hold no l2_data update")
    products = tuple(sorted(snapshots))
    return BookInput(
        products=products,
        increments={p: _increments(p) for p in products},
        snapshots=snapshots,
        batches=batches,
        levels=levels,
        expected=_dict_replay(snapshots, batches),
    )


def book_input(capture: Capture, *, max_levels: int | None = None) -> BookInput:
    """:func:`input_from_frames` over the capture; without ``max_levels`` every update level
    must be there (the capture's own count), else it raises."""
    decoded = input_from_frames(capture.frames, max_levels=max_levels)
    if max_levels is None and decoded.levels != capture.level_updates:
        raise ValueError(
            f"bench_book: decoded {decoded.levels:,} update levels, the capture says "
            f"{capture.level_updates:,}"
        )
    return decoded


def _dict_replay(
    snapshots: Mapping[str, list[TickLevel]], batches: list[Batch]
) -> dict[str, Sides]:
    books: dict[str, Sides] = {}
    for product, levels in snapshots.items():
        books[product] = ({}, {})
        _dict_apply(books[product], levels)
    for product, levels in batches:
        _dict_apply(books[product], levels)
    return books


def _dict_apply(book: Sides, levels: Iterable[TickLevel]) -> None:
    bids, asks = book
    for is_bid, ticks, units in levels:
        side = bids if is_bid else asks
        if units:
            side[ticks] = units
        else:
            side.pop(ticks, None)


# -- the books under test -----------------------------------------------------------------------


def _cjt_books(data: BookInput) -> dict[str, L2Book]:
    books = {}
    for product in data.products:
        book = L2Book(product, *data.increments[product])
        book.apply_tick_snapshot(data.snapshots[product], now=0.0)
        if not book.trusted:
            raise BookMismatch(f"the snapshot of {product} left the L2Book {book.state.value}")
        books[product] = book
    return books


_SortedSides: TypeAlias = tuple["SortedDict[int, int]", "SortedDict[int, int]"]


def _sorted_books(data: BookInput) -> dict[str, _SortedSides]:
    books: dict[str, _SortedSides] = {}
    for product in data.products:
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        _dict_apply((bids, asks), data.snapshots[product])
        books[product] = (SortedDict(bids), SortedDict(asks))
    return books


def _timed(loop: Callable[[], None]) -> int:
    gc.collect()
    start = time.perf_counter_ns()
    loop()
    return time.perf_counter_ns() - start


def _cjt_batch(data: BookInput) -> LoopResult:
    books = _cjt_books(data)
    work = [
        (books[p].apply_tick_updates, books[p].best_bid_ticks, books[p].best_ask_ticks, levels)
        for p, levels in data.batches
    ]

    def loop() -> None:
        for apply, best_bid, best_ask, levels in work:
            apply(levels, now=0.0)
            best_bid()
            best_ask()

    elapsed = _timed(loop)
    for product, book in books.items():
        if not book.trusted:
            raise BookMismatch(
                f"{product}: the L2Book ended {book.state.value} ({book.trust_reason}): "
                "an event of the capture left it crossed"
            )
    return LoopResult(
        elapsed_ns=elapsed, levels=data.levels, final={p: b.levels() for p, b in books.items()}
    )


def _cjt_strict(data: BookInput) -> LoopResult:
    books = _cjt_books(data)
    work = [
        (books[p].apply_tick_updates, books[p].best_bid_ticks, books[p].best_ask_ticks, (level,))
        for p, levels in data.batches
        for level in levels
    ]

    def loop() -> None:
        for apply, best_bid, best_ask, one in work:
            apply(one, now=0.0)
            best_bid()
            best_ask()

    elapsed = _timed(loop)
    # A frame may pass through a crossed state between its levels, so a book fed level by
    # level can end untrusted (CROSSED): its levels are still all applied.
    return LoopResult(
        elapsed_ns=elapsed, levels=data.levels, final={p: b.levels() for p, b in books.items()}
    )


def _sorted_work(
    data: BookInput,
) -> tuple[dict[str, _SortedSides], list[tuple[_SortedSides, list[TickLevel]]]]:
    books = _sorted_books(data)
    return books, [(books[p], levels) for p, levels in data.batches]


def _sorteddict_per_level(data: BookInput) -> LoopResult:
    books, work = _sorted_work(data)

    def loop() -> None:
        for (bids, asks), levels in work:
            for is_bid, ticks, units in levels:
                side = bids if is_bid else asks
                if units:
                    side[ticks] = units
                else:
                    side.pop(ticks, None)
                if bids:
                    bids.peekitem(-1)
                if asks:
                    asks.peekitem(0)

    elapsed = _timed(loop)
    return _sorted_result(elapsed, data, books)


def _sorteddict_per_event(data: BookInput) -> LoopResult:
    books, work = _sorted_work(data)

    def loop() -> None:
        for (bids, asks), levels in work:
            for is_bid, ticks, units in levels:
                side = bids if is_bid else asks
                if units:
                    side[ticks] = units
                else:
                    side.pop(ticks, None)
            if bids:
                bids.peekitem(-1)
            if asks:
                asks.peekitem(0)

    elapsed = _timed(loop)
    return _sorted_result(elapsed, data, books)


def _sorted_result(elapsed: int, data: BookInput, books: Mapping[str, _SortedSides]) -> LoopResult:
    return LoopResult(
        elapsed_ns=elapsed,
        levels=data.levels,
        final={p: (dict(bids), dict(asks)) for p, (bids, asks) in books.items()},
    )


@attrs.frozen(kw_only=True)
class _Loop:
    key: str
    label: str
    note: str
    run: Callable[[BookInput], LoopResult]


#: The loops, in the order of the first repeat (later repeats rotate it).
LOOPS: Final[tuple[_Loop, ...]] = (
    _Loop(
        key="book.cjt.levels_per_s",
        label="book: cjt L2Book, one call per event, best bid+ask per event",
        note="apply_tick_updates(levels of one l2_data event) + best_bid_ticks() + "
        "best_ask_ticks() after every event; integer ticks prepared untimed",
        run=_cjt_batch,
    ),
    _Loop(
        key="book.cjt_strict.levels_per_s",
        label="book: cjt L2Book, one level per call, best bid+ask after every level",
        note="apply_tick_updates((level,)) + best_bid_ticks() + best_ask_ticks() per level",
        run=_cjt_strict,
    ),
    _Loop(
        key="book.sorteddict.levels_per_s",
        label="book: SortedDict reference, best bid+ask after every level",
        note="sortedcontainers.SortedDict per side keyed by ticks; peekitem(-1)/peekitem(0) "
        "after every level (reference/perf-limits.md section 3)",
        run=_sorteddict_per_level,
    ),
    _Loop(
        key="book.sorteddict_batch.levels_per_s",
        label="book: SortedDict reference, best bid+ask per event",
        note="as book.sorteddict, best bid/ask read once per l2_data event (like book.cjt)",
        run=_sorteddict_per_event,
    ),
)


def run_loop(key: str, data: BookInput) -> LoopResult:
    """Run the loop ``key`` (a :data:`LOOPS` key) once and check its final books."""
    loop = next((candidate for candidate in LOOPS if candidate.key == key), None)
    if loop is None:
        raise KeyError(f"no book loop {key!r}; there are {[c.key for c in LOOPS]}")
    result = loop.run(data)
    _check_final(loop.key, result, data)
    return result


def _check_final(key: str, result: LoopResult, data: BookInput) -> None:
    for product in data.products:
        got, want = result.final[product], data.expected[product]
        if got != want:
            raise BookMismatch(
                f"{key}: the final {product} book differs from the dict replay "
                f"({_difference(got, want)})"
            )


def _difference(got: Sides, want: Sides) -> str:
    for name, mine, theirs in (("bids", got[0], want[0]), ("asks", got[1], want[1])):
        for ticks in sorted(mine.keys() | theirs.keys()):
            if mine.get(ticks) != theirs.get(ticks):
                return f"{name} at {ticks} ticks: {mine.get(ticks)} units, expected {theirs.get(ticks)}"
    return "no level differs"  # pragma: no cover - only called when the books differ


def check_best_per_event(data: BookInput) -> int:
    """Apply every event to an L2Book and to the SortedDict reference side by side (untimed);
    raise :class:`BookMismatch` at the first event after which their best bid or best ask
    differ. Returns the number of events compared."""
    cjt = _cjt_books(data)
    reference = _sorted_books(data)
    for index, (product, levels) in enumerate(data.batches):
        book = cjt[product]
        bids, asks = reference[product]
        book.apply_tick_updates(levels, now=0.0)
        _dict_apply((bids, asks), levels)  # SortedDict supports the same item protocol
        want_bid = bids.peekitem(-1) if bids else None
        want_ask = asks.peekitem(0) if asks else None
        got_bid, got_ask = book.best_bid_ticks(), book.best_ask_ticks()
        if got_bid != want_bid or got_ask != want_ask:
            raise BookMismatch(
                f"event {index} ({product}): L2Book best bid/ask {got_bid}/{got_ask}, "
                f"SortedDict {want_bid}/{want_ask}"
            )
    return len(data.batches)


# -- the benchmark ------------------------------------------------------------------------------


def _rotations(count: int) -> Iterator[tuple[_Loop, ...]]:
    for repeat in range(count):
        shift = repeat % len(LOOPS)
        yield LOOPS[shift:] + LOOPS[:shift]


def run(ctx: BenchContext) -> list[Metric]:
    """Every loop of :data:`LOOPS`, ``ctx.repeats`` times round-robin; one Metric per loop."""
    max_levels = QUICK_LEVELS if ctx.quick else None
    started = time.perf_counter()
    data = book_input(ctx.capture, max_levels=max_levels)
    ctx.progress(
        f"book: {data.levels:,} update levels in {len(data.batches):,} events over "
        f"{len(data.products)} products, decoded in {time.perf_counter() - started:.1f} s"
    )
    if ctx.quick and data.levels < min(QUICK_LEVELS, ctx.capture.level_updates):
        raise ValueError(f"bench_book: only {data.levels:,} update levels in the capture")
    events = check_best_per_event(data)
    ctx.progress(
        f"book: best bid/ask agree with the SortedDict reference after all {events:,} events"
    )
    samples: dict[str, list[float]] = {loop.key: [] for loop in LOOPS}
    for repeat, order in enumerate(_rotations(ctx.repeats), 1):
        for loop in order:
            result = run_loop(loop.key, data)
            samples[loop.key].append(result.levels_per_s)
            ctx.progress(
                f"book: repeat {repeat}/{ctx.repeats} {loop.key} "
                f"{result.levels_per_s / 1e6:.2f} M levels/s"
            )
    size = f"{data.levels:,} update levels, {len(data.batches):,} events, {len(data.products)} products"
    return [
        Metric(
            key=loop.key,
            label=loop.label,
            unit="levels/s",
            samples=tuple(samples[loop.key]),
            better="higher",
            note=f"{loop.note}; {size}; snapshots loaded untimed; final books verified",
        )
        for loop in LOOPS
    ]
