"""Recovery times from journaled events: how faults and crashes are paired with the end of
their damage, and the percentile math."""

from __future__ import annotations

import pytest

from cjt_actors.market_messages import BookTrustChanged
from cjt_actors.messages import ChildCrashed, ChildStarted
from cjt_actors.soak.recovery import (
    FaultMark,
    Recovery,
    book_recoveries,
    percentile,
    restart_counts,
    restart_recoveries,
)

BTC, ETH = "BTC-USD", "ETH-USD"


def _trust(product: str, trusted: bool, at: float) -> BookTrustChanged:
    return BookTrustChanged(
        product_id=product, trusted=trusted, reason="SNAPSHOT" if trusted else "GAP", at=at
    )


def _market(at: float) -> FaultMark:
    return FaultMark(at=at, market_data=True, distrusts_book=False)


def _crash(child: str, at: float, supervisor: str = "trading") -> ChildCrashed:
    return ChildCrashed(
        supervisor=supervisor,
        at=at,
        child=child,
        incarnation=0,
        ran_for=1.0,
        error_type="InjectedCrash",
        error="boom",
        before_ready=False,
    )


def _started(child: str, at: float, incarnation: int = 1) -> ChildStarted:
    return ChildStarted(supervisor="trading", at=at, child=child, incarnation=incarnation)


# -- percentiles ---------------------------------------------------------------------------------


def test_nearest_rank_percentiles_are_observed_values() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(reversed(values), 1) == 1.0


def test_with_few_samples_p99_is_the_maximum() -> None:
    assert percentile([3.0, 1.0, 2.0], 99) == 3.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0  # rank ceil(2.0) = 2
    assert percentile([7.0], 50) == 7.0


@pytest.mark.parametrize("p", [0, -1, 100.5])
def test_a_percentile_out_of_range_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match="p: must be in"):
        percentile([1.0], p)


def test_the_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_a_recovery_without_samples_has_no_figures() -> None:
    empty = Recovery()
    assert (empty.count, empty.p50, empty.p99, empty.max) == (0, None, None, None)
    some = Recovery(samples=(0.5, 2.0, 1.0))
    assert (some.count, some.p50, some.p99, some.max) == (3, 1.0, 2.0, 2.0)


# -- fault -> trusted book -----------------------------------------------------------------------


def test_a_fault_that_distrusts_both_books_gives_a_sample_per_product() -> None:
    changes = [
        _trust(BTC, True, 1.0),
        _trust(ETH, True, 1.0),
        _trust(BTC, False, 10.2),
        _trust(ETH, False, 10.2),
        _trust(BTC, True, 11.0),
        _trust(ETH, True, 12.5),
    ]
    recovery = book_recoveries([_market(10.0)], changes, [BTC, ETH])
    assert recovery.samples == pytest.approx((1.0, 2.5))
    assert (recovery.no_effect, recovery.unrecovered) == (0, 0)


def test_a_fault_that_never_distrusted_the_book_is_not_a_sample() -> None:
    changes = [_trust(BTC, True, 1.0)]
    recovery = book_recoveries([_market(10.0)], changes, [BTC])
    assert recovery.samples == ()
    assert recovery.no_effect == 1


def test_a_distrust_after_the_next_fault_belongs_to_the_next_fault() -> None:
    """A stall resumed before the watchdog fired, then a drop: the drop's sample only."""
    changes = [_trust(BTC, False, 21.0), _trust(BTC, True, 22.0)]
    recovery = book_recoveries([_market(10.0), _market(20.0)], changes, [BTC])
    assert recovery.samples == pytest.approx((2.0,))
    assert recovery.no_effect == 1


def test_a_crash_that_restarts_the_book_ends_the_window_but_is_not_a_sample() -> None:
    crash = FaultMark(at=15.0, market_data=False, distrusts_book=True)
    changes = [_trust(BTC, False, 15.1), _trust(BTC, True, 16.0)]
    recovery = book_recoveries([_market(10.0), crash], changes, [BTC])
    assert recovery.samples == ()
    assert recovery.no_effect == 1


def test_faults_that_cannot_distrust_the_book_do_not_end_a_window() -> None:
    rest_burst = FaultMark(at=12.0, market_data=False, distrusts_book=False)
    changes = [_trust(BTC, False, 19.0), _trust(BTC, True, 20.0)]  # the watchdog, late
    recovery = book_recoveries([_market(10.0), rest_burst], changes, [BTC])
    assert recovery.samples == pytest.approx((10.0,))


def test_a_later_fault_while_untrusted_lengthens_the_sample_and_counts_no_effect() -> None:
    changes = [_trust(BTC, False, 10.1), _trust(BTC, True, 14.0)]
    recovery = book_recoveries([_market(10.0), _market(11.0)], changes, [BTC])
    assert recovery.samples == pytest.approx((4.0,))
    assert recovery.no_effect == 1


def test_a_book_still_untrusted_at_the_end_is_unrecovered() -> None:
    changes = [_trust(BTC, False, 10.5)]
    recovery = book_recoveries([_market(10.0)], changes, [BTC])
    assert recovery.samples == ()
    assert recovery.unrecovered == 1


def test_products_not_asked_about_are_ignored() -> None:
    changes = [_trust("SOL-USD", False, 10.5), _trust("SOL-USD", True, 11.0)]
    recovery = book_recoveries([_market(10.0)], changes, [BTC])
    assert recovery.samples == ()
    assert recovery.no_effect == 1


# -- crash -> restarted actor --------------------------------------------------------------------


def test_each_crash_pairs_with_the_next_start_of_that_child() -> None:
    events: list[ChildCrashed | ChildStarted] = [
        _started("book", 0.0, incarnation=0),
        _crash("book", 5.0),
        _crash("risk", 5.5),
        _started("book", 5.25),
        _started("feed", 5.3),  # restarted after the book (rest_for_one): not a crash
        _started("risk", 6.0),
    ]
    recovery = restart_recoveries(events)
    assert recovery.samples == pytest.approx((0.25, 0.5))
    assert recovery.unrecovered == 0


def test_a_crash_never_followed_by_a_start_is_unrecovered() -> None:
    recovery = restart_recoveries([_crash("executor", 3.0)])
    assert recovery.samples == ()
    assert recovery.unrecovered == 1


def test_children_of_different_supervisors_do_not_pair() -> None:
    events: list[ChildCrashed | ChildStarted] = [
        _crash("store", 1.0, supervisor="store"),
        _started("store", 2.0),
    ]
    recovery = restart_recoveries(events)
    assert recovery.samples == ()
    assert recovery.unrecovered == 1


def test_restarts_count_every_start_but_the_first() -> None:
    events: list[ChildCrashed | ChildStarted] = [
        _started("executor", 0.0, incarnation=0),
        _started("book", 0.1, incarnation=0),
        _crash("book", 3.0),
        _started("book", 3.1, incarnation=1),
        _started("book", 9.1, incarnation=2),
        _started("feed", 9.2, incarnation=1),
    ]
    assert restart_counts(events) == {"book": 2, "feed": 1}
