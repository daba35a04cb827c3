"""The feed and book's CPU per ``l2_data`` frame: the Decimal path against the tick path.

Both paths are still in the product, so this keeps the before/after of issue 8's main
ingest optimization measurable on any machine:

* ``decimal`` (before): :func:`~cjt_actors.exchange.stream.decode_payload` gives every level
  as ``Decimal`` price and size, :meth:`~cjt_actors.orderbook.L2Book.apply_event` divides
  each by the product's increment into ticks, and the book actor built a view per frame.
* ``ticks`` (after): :class:`~cjt_actors.exchange.l2ticks.L2TickDecoder` turns the wire text
  into ticks and units in one exact step and :meth:`~cjt_actors.orderbook.L2Book.apply_tick_event`
  applies them; the view is built when a consumer takes it, so none is built here.
* ``ticks_view``: the tick path plus one view per frame, what a consumer reading every frame
  costs.

The timed window is the loop over the capture's first ``l2_data`` frames (text in memory,
no socket, no scheduler): ``parse_envelope`` included. The three loops run round-robin in
every repeat; the metric is microseconds per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Final

from cjt_actors.exchange.l2ticks import L2TickDecoder
from cjt_actors.exchange.stream import ErrorFrame, L2Data, decode_payload, parse_envelope
from cjt_actors.orderbook import L2Book

from .capture import PRODUCT_SPECS
from .harness import BenchContext, Metric

__all__ = ["run"]

_FRAMES: Final = 20_000
_QUICK_FRAMES: Final = 2_000

Increments = Mapping[str, tuple[Decimal, Decimal]]


def _books(increments: Increments) -> dict[str, L2Book]:
    return {product: L2Book(product, *steps) for product, steps in increments.items()}


def _decimal_path(frames: Sequence[str], increments: Increments) -> None:
    books = _books(increments)
    for frame in frames:
        envelope = parse_envelope(frame)
        assert not isinstance(envelope, ErrorFrame)
        payload = decode_payload(envelope)
        assert isinstance(payload, L2Data)
        for event in payload.events:
            book = books[event.product_id]
            book.apply_event(event, now=0.0)
            book.view(5, now=0.0)
    _check(books)


def _tick_path(frames: Sequence[str], increments: Increments, *, views: bool) -> None:
    books = _books(increments)
    decode = L2TickDecoder(increments)
    for frame in frames:
        envelope = parse_envelope(frame)
        assert not isinstance(envelope, ErrorFrame)
        for event in decode(envelope).events:
            book = books[event.product_id]
            book.apply_tick_event(event, now=0.0)
            if views:
                book.view(5, now=0.0)
    _check(books)


def _check(books: Mapping[str, L2Book]) -> None:
    untrusted = [product for product, book in books.items() if not book.trusted]
    if untrusted:
        raise RuntimeError(f"bench_decode: books not trusted after the run: {untrusted}")


def run(ctx: BenchContext) -> list[Metric]:
    frames = [f for f in ctx.capture.frames if '"channel":"l2_data"' in f]
    frames = frames[: _QUICK_FRAMES if ctx.quick else _FRAMES]
    if not frames:
        raise RuntimeError("bench_decode: the capture has no l2_data frame")
    increments = {
        product: (PRODUCT_SPECS[product].price_increment, PRODUCT_SPECS[product].base_increment)
        for product in ctx.capture.products
    }
    loops: dict[str, Callable[[], None]] = {
        "decimal": lambda: _decimal_path(frames, increments),
        "ticks": lambda: _tick_path(frames, increments, views=False),
        "ticks_view": lambda: _tick_path(frames, increments, views=True),
    }
    samples: dict[str, list[float]] = {name: [] for name in loops}
    for repeat in range(max(ctx.repeats, 3)):
        for name, loop in loops.items():
            started = time.perf_counter_ns()
            loop()
            samples[name].append((time.perf_counter_ns() - started) / 1000 / len(frames))
        ctx.progress(
            f"decode {repeat + 1}: "
            + ", ".join(f"{name} {values[-1]:.1f} us" for name, values in samples.items())
        )
    levels = sum(frame.count('"side"') for frame in frames) / len(frames)
    note = f"{len(frames):,} l2_data frames of the capture, {levels:.1f} levels each on average"
    labels = {
        "decimal": "feed+book CPU per l2 frame: Decimal decode + Decimal->ticks + view (before)",
        "ticks": "feed+book CPU per l2 frame: tick decode + tick book, view on demand (after)",
        "ticks_view": "feed+book CPU per l2 frame: tick path + a view every frame",
    }
    return [
        Metric(
            key=f"decode.{name}.us_per_frame",
            label=labels[name],
            unit="us",
            samples=values,
            better="lower",
            note=note,
        )
        for name, values in samples.items()
    ]
