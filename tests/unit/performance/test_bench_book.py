"""The book benchmark measures books that compute the right thing.

A quick self-test of ``tests/performance/bench_book.py`` (not a benchmark): the frames are
decoded into the exact ticks and units, each loop under test leaves the very books a plain
dict replay leaves, the L2Book and the SortedDict reference agree on the best bid and ask
after every event of a small simulator capture, and a book that computed something else
voids the measurement instead of producing a rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import orjson
import pytest

from tests.performance.bench_book import (
    LOOPS,
    BookInput,
    BookMismatch,
    check_best_per_event,
    input_from_frames,
    run_loop,
)
from tests.performance.capture import generate_frames

LEVELS = 3_000
SEED = 5


def _frame(sequence: int, events: Sequence[object], channel: str = "l2_data") -> str:
    return orjson.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": "2024-06-01T00:00:00Z",
            "sequence_num": sequence,
            "events": list(events),
        }
    ).decode()


def _event(kind: str, product: str, *levels: tuple[str, str, str]) -> dict[str, object]:
    return {
        "type": kind,
        "product_id": product,
        "updates": [
            {"side": side, "event_time": "", "price_level": price, "new_quantity": size}
            for side, price, size in levels
        ],
    }


#: A BTC-USD book (tick 0.01, lot 1e-8) through an insert, a modify, a delete of the best
#: bid, a delete of a level that is not there, and a new best ask; a trades frame between.
FRAMES = (
    _frame(
        0,
        [
            _event(
                "snapshot",
                "BTC-USD",
                ("bid", "100.00", "1"),
                ("bid", "99.50", "0.5"),
                ("offer", "100.50", "2"),
            )
        ],
    ),
    _frame(1, [_event("update", "BTC-USD", ("bid", "100.10", "0.25"), ("offer", "100.50", "3"))]),
    _frame(2, [{"type": "update", "trades": []}], channel="market_trades"),
    _frame(
        3,
        [
            _event(
                "update",
                "BTC-USD",
                ("bid", "100.10", "0"),
                ("bid", "98", "0"),
                ("offer", "100.40", "0.00000001"),
            )
        ],
    ),
)


@pytest.fixture(scope="module")
def captured() -> BookInput:
    """A small capture of the simulator's market (four products), decoded."""
    return input_from_frames(generate_frames(level_updates=LEVELS, seed=SEED))


def test_frames_are_decoded_into_exact_ticks_and_units_per_event() -> None:
    data = input_from_frames(FRAMES)
    assert data.products == ("BTC-USD",)
    assert data.snapshots["BTC-USD"] == [
        (True, 10_000, 100_000_000),
        (True, 9_950, 50_000_000),
        (False, 10_050, 200_000_000),
    ]
    assert data.batches == [
        ("BTC-USD", [(True, 10_010, 25_000_000), (False, 10_050, 300_000_000)]),
        ("BTC-USD", [(True, 10_010, 0), (True, 9_800, 0), (False, 10_040, 1)]),
    ]
    assert data.levels == 5
    assert data.expected["BTC-USD"] == (
        {10_000: 100_000_000, 9_950: 50_000_000},
        {10_050: 300_000_000, 10_040: 1},
    )


def test_max_levels_takes_whole_events() -> None:
    data = input_from_frames(FRAMES, max_levels=1)
    assert data.levels == 2
    assert len(data.batches) == 1


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (FRAMES[1:], "an update of BTC-USD before its snapshot"),
        ((*FRAMES, FRAMES[0]), "a snapshot of BTC-USD after its updates"),
        (FRAMES[:1], "no l2_data update"),
        ((_frame(0, [_event("snapshot", "DOGE-USD", ("bid", "1", "1"))]),), "DOGE-USD"),
        (
            (FRAMES[0], _frame(1, [_event("update", "BTC-USD", ("bid", "100.001", "1"))])),
            "not a non-negative multiple",
        ),
    ],
)
def test_input_the_benchmark_cannot_use_is_refused(frames: Sequence[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        input_from_frames(frames)


@pytest.mark.parametrize("key", [loop.key for loop in LOOPS])
def test_every_loop_leaves_the_books_of_a_plain_replay(captured: BookInput, key: str) -> None:
    result = run_loop(key, captured)
    assert result.levels == captured.levels >= LEVELS
    assert result.final == captured.expected
    assert result.elapsed_ns > 0


def test_the_book_and_the_reference_agree_on_best_bid_and_ask_after_every_event(
    captured: BookInput,
) -> None:
    assert captured.products == ("BTC-USD", "ETH-USD", "LTC-USD", "SOL-USD")
    assert check_best_per_event(captured) == len(captured.batches) > 100


def test_a_book_that_ends_different_voids_the_measurement() -> None:
    data = input_from_frames(FRAMES)
    bids, asks = data.expected["BTC-USD"]
    wrong = attrs.evolve(data, expected={"BTC-USD": ({**bids, 10_000: 1}, asks)})
    for loop in LOOPS:
        with pytest.raises(BookMismatch, match="bids at 10000 ticks: 100000000 units, expected 1"):
            run_loop(loop.key, wrong)


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(KeyError, match="no book loop"):
        run_loop("book.nope", input_from_frames(FRAMES))
