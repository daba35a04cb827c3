"""The L2 book: ticks, best prices kept incrementally, top-N, the trust state machine, views."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cjt_actors.errors import CjtError
from cjt_actors.exchange.stream import L2Event, L2Level
from cjt_actors.orderbook import (
    TRANSITIONS,
    BookError,
    IllegalTransition,
    L2Book,
    OffGridValue,
    TrustEvent,
    TrustReason,
    TrustState,
)

D = Decimal


def bid(price: str, size: str) -> L2Level:
    return ("bid", D(price), D(size), "2026-01-01T00:00:00Z")


def offer(price: str, size: str) -> L2Level:
    return ("offer", D(price), D(size), "2026-01-01T00:00:00Z")


def trust_of(book: L2Book) -> tuple[bool, TrustReason | None]:
    """Read afresh (mypy would otherwise keep an earlier narrowing of the properties)."""
    return book.trusted, book.trust_reason


def new_book() -> L2Book:
    return L2Book("BTC-USD", D("0.01"), D("0.001"))


def synced_book() -> L2Book:
    """Bids 100.00/99.99/99.50, offers 100.02/100.05/101.00."""
    book = new_book()
    book.apply_snapshot(
        [
            bid("100.00", "1"),
            bid("99.99", "2"),
            bid("99.50", "3"),
            offer("100.02", "0.5"),
            offer("100.05", "1.5"),
            offer("101.00", "4"),
        ],
        now=10.0,
    )
    return book


# -- construction and conversions ---------------------------------------------------------------


@pytest.mark.parametrize("increment", [D(0), D(-1), D("NaN"), D("Infinity"), 0.01])
def test_bad_increments_are_refused(increment: object) -> None:
    """A book on a zero, negative, non-finite or float grid would silently misplace levels."""
    with pytest.raises(BookError, match="price_increment"):
        L2Book("BTC-USD", increment, D("0.001"))  # type: ignore[arg-type]
    with pytest.raises(BookError, match="size_increment"):
        L2Book("BTC-USD", D("0.01"), increment)  # type: ignore[arg-type]


def test_conversions_are_exact_round_trips() -> None:
    """Prices and sizes go to integer steps and back without loss."""
    book = new_book()
    assert book.to_ticks(D("60123.45")) == 6_012_345
    assert book.to_units(D("1.234")) == 1234
    assert book.price_of(6_012_345) == D("60123.45")
    assert book.size_of(1234) == D("1.234")
    assert book.price_of(6_012_345) is book.price_of(6_012_345)  # cached


def test_price_cache_is_bounded() -> None:
    """The price cache cannot grow without bound over a long session."""
    book = new_book()
    for tick in range(5000):
        assert book.price_of(tick) == D(tick) / 100
    assert len(book._prices) <= 4096


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (D("100.001"), "price 100.001 is not a non-negative multiple of the increment 0.01"),
        (D("-1"), "price -1 is not a non-negative multiple"),
        (D("NaN"), "price Decimal\\('NaN'\\) is not a finite Decimal"),
        ("100", "price '100' is not a finite Decimal"),
        (D("1e999"), "price 1E\\+999 is too large for the increment 0.01"),
    ],
)
def test_off_grid_prices_are_named(value: Decimal, message: str) -> None:
    """An off-grid price is an error that names the product and the value."""
    with pytest.raises(OffGridValue, match=f"BTC-USD: {message}"):
        new_book().to_ticks(value)


def test_off_grid_size_is_named() -> None:
    """Sizes are checked against the size increment just like prices."""
    with pytest.raises(OffGridValue, match=r"size 0\.0001 is not a non-negative multiple"):
        new_book().to_units(D("0.0001"))


def test_off_grid_errors_are_value_errors_of_the_tree() -> None:
    """Callers can catch them as ValueError or as cjt_actors errors."""
    assert issubclass(OffGridValue, ValueError)
    assert issubclass(OffGridValue, CjtError)


# -- snapshots and updates ----------------------------------------------------------------------


def test_empty_book_has_no_prices() -> None:
    """Queries on an empty book answer None or empty, never raise."""
    book = new_book()
    assert book.state is TrustState.EMPTY
    assert not book.trusted
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.mid() is None
    assert book.spread() is None
    assert book.depth_within(100) is None
    assert book.top(5) == ((), ())
    assert not book.crossed()
    assert book.last_update_time is None


def test_snapshot_sets_levels_and_trust() -> None:
    """A snapshot is the whole book, and a book fresh from one is trusted."""
    book = synced_book()
    assert book.trusted
    assert book.trust_reason is None
    assert book.best_bid() == (D("100.00"), D("1"))
    assert book.best_ask() == (D("100.02"), D("0.5"))
    assert book.mid() == D("100.01")
    assert book.spread() == D("0.02")
    assert book.last_update_time == 10.0
    assert book.sequence == 1


def test_snapshot_replaces_everything() -> None:
    """A second snapshot replaces the book; nothing of the old one survives."""
    book = synced_book()
    book.apply_snapshot([bid("50.00", "1"), offer("51.00", "1")], now=11.0)
    assert book.levels() == ({5000: 1000}, {5100: 1000})
    assert book.top(5) == (((D("50.00"), D("1")),), ((D("51.00"), D("1")),))


def test_snapshot_zero_sizes_and_repeats() -> None:
    """Inside a snapshot a later level wins and a zero size leaves no level."""
    book = new_book()
    book.apply_snapshot(
        [bid("1.00", "1"), bid("1.00", "2"), bid("0.99", "1"), bid("0.99", "0"), offer("2", "0")],
        now=0.0,
    )
    assert book.levels() == ({100: 2000}, {})


def test_mid_can_be_half_a_tick() -> None:
    """Mid is exact even when the spread is an odd number of ticks."""
    book = new_book()
    book.apply_snapshot([bid("100.00", "1"), offer("100.01", "1")], now=0.0)
    assert book.mid() == D("100.005")


def test_updates_insert_modify_delete() -> None:
    """Updates carry absolute sizes: insert, replace, and 0 removes."""
    book = synced_book()
    book.apply_updates(
        [bid("100.01", "5"), bid("99.99", "7"), bid("99.50", "0"), offer("100.05", "0")],
        now=12.0,
    )
    bids, asks = book.top(10)
    assert bids == ((D("100.01"), D("5")), (D("100.00"), D("1")), (D("99.99"), D("7")))
    assert asks == ((D("100.02"), D("0.5")), (D("101.00"), D("4")))
    assert book.last_update_time == 12.0
    assert book.counters.levels_applied == 4
    assert book.counters.update_frames == 1


@pytest.mark.parametrize("side", ["bid", "offer"])
def test_deleting_the_best_finds_the_next_best(side: str) -> None:
    """The next best appears when the best level goes, and so on until the side is empty."""
    book = synced_book()
    best = book.best_bid if side == "bid" else book.best_ask
    expected = ["100.00", "99.99", "99.50"] if side == "bid" else ["100.02", "100.05", "101.00"]
    for price in expected:
        current = best()
        assert current is not None
        assert current[0] == D(price)
        book.apply_updates([(side, D(price), D(0), "")], now=1.0)  # type: ignore[list-item]
    assert best() is None


def test_delete_of_unknown_level_is_counted_not_fatal() -> None:
    """Coinbase may delete a level we never saw; it is harmless but worth counting."""
    book = synced_book()
    book.apply_updates([bid("1.00", "0")], now=1.0)
    assert book.counters.unknown_deletes == 1
    assert book.trusted


def test_top_n_is_best_first_and_bounded() -> None:
    """top(n) lists at most n levels per side, best first."""
    bids, asks = synced_book().top(2)
    assert bids == ((D("100.00"), D("1")), (D("99.99"), D("2")))
    assert asks == ((D("100.02"), D("0.5")), (D("100.05"), D("1.5")))
    assert synced_book().top(0) == ((), ())


@pytest.mark.parametrize(
    ("bps", "expected"),
    [
        (0, (D(0), D(0))),
        (1, (D("1"), D("0.5"))),  # band 0.010001: 100.00 .. 100.020001
        (5, (D("3"), D("2"))),  # band 0.050005: 99.96 .. 100.06
        (100, (D("6"), D("6"))),  # band 1.0001: everything
        (D("0.5"), (D("0"), D("0"))),
    ],
)
def test_depth_within_band(bps: int | Decimal, expected: tuple[Decimal, Decimal]) -> None:
    """Depth near mid sums exactly the levels inside the band on each side."""
    assert synced_book().depth_within(bps) == expected


def test_apply_event_dispatches_and_checks_product() -> None:
    """An event for another product must never land in this book."""
    book = new_book()
    book.apply_event(
        L2Event(type="snapshot", product_id="BTC-USD", updates=(bid("1", "1"),)), now=1.0
    )
    book.apply_event(
        L2Event(type="update", product_id="BTC-USD", updates=(bid("2", "1"),)), now=2.0
    )
    assert book.best_bid() == (D("2"), D("1"))
    with pytest.raises(BookError, match="book BTC-USD was given an event for 'ETH-USD'"):
        book.apply_event(
            L2Event(type="update", product_id="ETH-USD", updates=(bid("3", "1"),)), now=3.0
        )
    assert book.best_bid() == (D("2"), D("1"))


@pytest.mark.parametrize(
    "bad",
    [bid("100.001", "1"), bid("100", "0.0001"), ("middle", D(1), D(1), "")],
    ids=["price", "size", "side"],
)
def test_malformed_update_changes_nothing_and_distrusts(bad: L2Level) -> None:
    """A frame with one bad level is applied not at all, and the book is no longer trusted."""
    book = synced_book()
    before = book.levels()
    with pytest.raises(OffGridValue, match="BTC-USD"):
        book.apply_updates([bid("100.01", "1"), bad], now=1.0)
    assert book.levels() == before
    assert book.state is TrustState.UNTRUSTED
    assert book.trust_reason is TrustReason.MALFORMED
    assert book.counters.malformed == 1


def test_malformed_first_snapshot_leaves_book_empty() -> None:
    """Before any snapshot there is nothing to distrust: the book stays EMPTY."""
    book = new_book()
    with pytest.raises(OffGridValue):
        book.apply_snapshot([bid("1.001", "1")], now=0.0)
    assert book.state is TrustState.EMPTY


# -- trust ------------------------------------------------------------------------------------


def test_update_before_snapshot_is_illegal() -> None:
    """There is no book to update before the first snapshot."""
    with pytest.raises(IllegalTransition, match="BTC-USD: an update arrived before any snapshot"):
        new_book().apply_updates([bid("1", "1")], now=0.0)


def test_crossed_on_empty_book_is_illegal() -> None:
    """An empty book cannot be crossed; the table says so and the book raises."""
    with pytest.raises(IllegalTransition, match="'crossed' is not allowed in state 'empty'"):
        new_book().distrust(TrustReason.CROSSED)


@pytest.mark.parametrize(
    ("reason", "counter"),
    [
        (TrustReason.GAP, "gaps"),
        (TrustReason.RECONNECT, "reconnects"),
        (TrustReason.STALE, "stale"),
        (TrustReason.MALFORMED, "malformed"),
        (TrustReason.CROSSED, "crossed"),
    ],
)
def test_distrust_until_next_snapshot(reason: TrustReason, counter: str) -> None:
    """After a gap (or reconnect, stale, ...) only a snapshot restores trust; updates apply."""
    book = synced_book()
    book.distrust(reason)
    assert not book.trusted
    assert book.trust_reason is reason
    assert getattr(book.counters, counter) == 1
    book.apply_updates([bid("100.01", "1")], now=11.0)
    assert book.best_bid() == (D("100.01"), D("1"))
    assert book.trust_reason is reason
    assert book.counters.untrusted_update_frames == 1
    book.apply_snapshot([bid("1", "1")], now=12.0)
    assert trust_of(book) == (True, None)


def test_first_reason_is_kept() -> None:
    """The root cause stays visible while later troubles pile up."""
    book = synced_book()
    book.distrust(TrustReason.GAP)
    book.distrust(TrustReason.RECONNECT)
    assert book.trust_reason is TrustReason.GAP
    assert book.counters.reconnects == 1


@pytest.mark.parametrize(
    "reason", [TrustReason.GAP, TrustReason.RECONNECT, TrustReason.STALE, TrustReason.MALFORMED]
)
def test_losing_data_before_first_snapshot_keeps_empty(reason: TrustReason) -> None:
    """A gap before any snapshot leaves nothing to distrust; the snapshot still comes."""
    book = new_book()
    book.distrust(reason)
    assert book.state is TrustState.EMPTY
    assert book.trust_reason is None


def test_crossing_update_distrusts() -> None:
    """An update that crosses the book means our copy is wrong."""
    book = synced_book()
    book.apply_updates([bid("100.02", "1")], now=11.0)  # locked counts as crossed
    assert book.crossed()
    assert book.trust_reason is TrustReason.CROSSED
    assert book.counters.crossed == 1


def test_transient_cross_inside_a_frame_is_fine() -> None:
    """Only the state after the whole frame is judged."""
    book = synced_book()
    book.apply_updates([bid("100.03", "1"), bid("100.03", "0")], now=11.0)
    assert book.trusted


def test_crossed_snapshot_is_untrusted() -> None:
    """A snapshot that is itself crossed cannot be trusted."""
    book = new_book()
    book.apply_snapshot([bid("101", "1"), offer("100", "1")], now=0.0)
    assert book.state is TrustState.UNTRUSTED
    assert book.trust_reason is TrustReason.CROSSED
    book.apply_snapshot([bid("99", "1"), offer("100", "1")], now=1.0)
    assert book.trusted


def test_snapshot_after_gap_replaces_the_reason() -> None:
    """A crossed snapshot after a gap reports CROSSED: the gap was repaired, the cross is new."""
    book = synced_book()
    book.distrust(TrustReason.GAP)
    book.apply_snapshot([bid("101", "1"), offer("100", "1")], now=0.0)
    assert book.trust_reason is TrustReason.CROSSED


@pytest.mark.parametrize(
    ("now", "expected"), [(14.9, False), (15.0, False), (15.1, True)], ids=["young", "edge", "old"]
)
def test_check_stale(now: float, expected: bool) -> None:
    """A trusted book older than max_age becomes STALE, once."""
    book = synced_book()  # updated at 10.0
    assert book.check_stale(now, max_age=5.0) is expected
    assert book.trusted is not expected
    assert book.check_stale(now + 100, max_age=5.0) is not expected


def test_check_stale_ignores_empty_book() -> None:
    """An empty book has no age to judge."""
    book = new_book()
    assert book.check_stale(1e9, max_age=1.0) is False
    assert book.state is TrustState.EMPTY


def test_clear_forgets_levels() -> None:
    """After clear the book is EMPTY again and needs a snapshot."""
    book = synced_book()
    book.distrust(TrustReason.GAP)
    book.clear()
    assert book.state is TrustState.EMPTY
    assert book.trust_reason is None
    assert book.levels() == ({}, {})
    assert book.best_bid() is None


def test_transition_table_is_complete_except_the_illegal_moves() -> None:
    """Every (state, event) pair is decided; exactly the two documented moves are illegal."""
    missing = {
        (state, event)
        for state in TrustState
        for event in TrustEvent
        if (state, event) not in TRANSITIONS
    }
    assert missing == {
        (TrustState.EMPTY, TrustEvent.UPDATE),
        (TrustState.EMPTY, TrustEvent.CROSSED),
    }
    assert {TRANSITIONS[state, TrustEvent.SNAPSHOT] for state in TrustState} == {TrustState.TRUSTED}


# -- views, trades, repr ------------------------------------------------------------------------


def test_view_of_a_synced_book() -> None:
    """The conflated view carries everything strategy and risk read."""
    book = synced_book()
    book.record_trade(D("100.01"), D("0.25"))
    view = book.view(2, now=12.5)
    assert view.product_id == "BTC-USD"
    assert (view.best_bid, view.best_bid_size) == (D("100.00"), D("1"))
    assert (view.best_ask, view.best_ask_size) == (D("100.02"), D("0.5"))
    assert view.mid == D("100.01")
    assert view.spread == D("0.02")
    assert view.bids == ((D("100.00"), D("1")), (D("99.99"), D("2")))
    assert view.asks == ((D("100.02"), D("0.5")), (D("100.05"), D("1.5")))
    assert (view.last_trade_price, view.last_trade_size) == (D("100.01"), D("0.25"))
    assert view.trusted
    assert view.trust_reason is None
    assert view.updated_at == 10.0
    assert view.age == 2.5
    assert view.sequence == 1
    assert book.counters.trades == 1


def test_view_with_zero_depth_still_has_best_prices() -> None:
    """depth=0 skips the ladder but not the touch."""
    view = synced_book().view(0, now=10.0)
    assert view.bids == view.asks == ()
    assert view.best_bid == D("100.00")
    assert view.best_ask == D("100.02")


def test_view_of_an_empty_book() -> None:
    """An empty, untrusted view says so instead of inventing prices."""
    view = new_book().view(now=3.0)
    assert view.best_bid is view.best_ask is view.mid is view.spread is None
    assert view.best_bid_size is view.best_ask_size is None
    assert view.last_trade_price is view.last_trade_size is None
    assert not view.trusted
    assert view.updated_at is None
    assert view.age is None


def test_view_reports_untrusted_reason() -> None:
    """Consumers see why a book is untrusted."""
    book = synced_book()
    book.distrust(TrustReason.GAP)
    view = book.view(now=11.0)
    assert not view.trusted
    assert view.trust_reason is TrustReason.GAP


def test_repr_names_state_and_size() -> None:
    """The repr is what a log line shows: product, state, reason, level counts."""
    book = synced_book()
    assert repr(book) == "<L2Book BTC-USD trusted: 3 bids, 3 asks>"
    book.distrust(TrustReason.STALE)
    assert repr(book) == "<L2Book BTC-USD untrusted (stale): 3 bids, 3 asks>"


def test_tick_level_api_matches_decimal_api() -> None:
    """The hot path in ticks gives the same book as the Decimal path."""
    by_ticks = new_book()
    by_ticks.apply_tick_snapshot([(True, 10000, 1000), (False, 10002, 500)], now=0.0)
    by_ticks.apply_tick_updates([(True, 10001, 2000), (False, 10002, 0)], now=1.0)
    by_decimal = new_book()
    by_decimal.apply_snapshot([bid("100.00", "1"), offer("100.02", "0.5")], now=0.0)
    by_decimal.apply_updates([bid("100.01", "2"), offer("100.02", "0")], now=1.0)
    assert by_ticks.levels() == by_decimal.levels()
    assert by_ticks.best_bid_ticks() == (10001, 2000)
    assert by_ticks.best_ask_ticks() is None
