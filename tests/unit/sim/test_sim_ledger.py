"""The simulator's ledger: the only place balances change, and its safety net."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.sim.accounts import Ledger

D = Decimal


def make_ledger() -> Ledger:
    counter = itertools.count(1)
    return Ledger(lambda: f"acct-{next(counter)}")


def test_deposit_opens_an_account_and_counts_the_deposit() -> None:
    """Deposits are what conservation is measured against, so they are totalled per currency."""
    ledger = make_ledger()
    view = ledger.deposit("alice", "USD", D("100.50"), now=5.0)
    ledger.deposit("bob", "USD", D("1"), now=6.0)
    ledger.deposit("alice", "USD", D("0.50"), now=7.0)
    assert (view.uuid, view.available, view.hold, view.created_at) == ("acct-1", D("100.5"), 0, 5.0)
    after = ledger.view("alice", "USD")
    assert after is not None
    assert (after.available, after.created_at, after.updated_at) == (D("101"), 5.0, 7.0)
    assert ledger.total_deposits("USD") == D("102")
    assert ledger.total_deposits("BTC") == 0


def test_zero_deposit_opens_an_empty_account() -> None:
    """The app can open an account for every currency before anything is deposited."""
    ledger = make_ledger()
    ledger.deposit("alice", "BTC", D(0), now=0.0)
    assert [v.currency for v in ledger.views("alice")] == ["BTC"]
    assert ledger.available("alice", "BTC") == 0


@pytest.mark.parametrize(
    ("user", "currency", "amount", "message"),
    [
        ("alice", "USD", D("-1"), "amount must be a finite Decimal >= 0"),
        ("alice", "USD", D("NaN"), "amount must be a finite Decimal >= 0"),
        ("alice", "USD", 5, "amount must be a finite Decimal >= 0"),
        ("", "USD", D("1"), "must not be empty"),
        ("alice", "", D("1"), "must not be empty"),
    ],
)
def test_bad_deposits_are_refused(user: str, currency: str, amount: Decimal, message: str) -> None:
    """A deposit that would break the books is a caller bug, reported with what was wrong."""
    ledger = make_ledger()
    with pytest.raises(InvalidSpec, match=message):
        ledger.deposit(user, currency, amount, now=0.0)
    assert ledger.all_views() == []


def test_hold_release_and_settle_keep_the_total() -> None:
    """Every move keeps available + hold + fees equal to the deposits."""
    ledger = make_ledger()
    ledger.deposit("alice", "USD", D("100"), now=0.0)
    ledger.place_hold("alice", "USD", D("60"), now=1.0)
    ledger.settle_from_hold("alice", "USD", release=D("30"), spend=D("25"), now=2.0)
    ledger.collect_fee("USD", D("1"))
    ledger.credit("bob", "USD", D("24"), now=2.0)
    ledger.release_hold("alice", "USD", D("30"), now=3.0)
    alice = ledger.view("alice", "USD")
    bob = ledger.view("bob", "USD")
    assert alice is not None
    assert bob is not None
    assert (alice.available, alice.hold) == (D("75"), 0)
    assert bob.available == D("24")
    assert alice.available + alice.hold + bob.available + ledger.fees_collected("USD") == D("100")


def test_overdrawing_is_a_bug_not_a_balance() -> None:
    """The engine checks funds first; if it ever does not, the ledger refuses loudly."""
    ledger = make_ledger()
    ledger.deposit("alice", "USD", D("10"), now=0.0)
    with pytest.raises(AssertionError, match="exceeds available"):
        ledger.place_hold("alice", "USD", D("11"), now=1.0)
    ledger.place_hold("alice", "USD", D("5"), now=1.0)
    with pytest.raises(AssertionError, match="settling"):
        ledger.settle_from_hold("alice", "USD", release=D("6"), spend=D("0"), now=2.0)
    with pytest.raises(AssertionError, match="settling"):
        ledger.settle_from_hold("alice", "USD", release=D("1"), spend=D("2"), now=2.0)
    with pytest.raises(AssertionError, match="which holds None"):
        ledger.release_hold("nobody", "USD", D("1"), now=2.0)


def test_lookups_by_user_uuid_and_currency() -> None:
    """The REST layer finds accounts by user (list) and by uuid (get)."""
    ledger = make_ledger()
    ledger.deposit("alice", "USD", D("1"), now=0.0)
    ledger.deposit("alice", "BTC", D("2"), now=0.0)
    ledger.deposit("bob", "ETH", D("3"), now=0.0)
    ledger.collect_fee("EUR", D("0"))
    assert [v.currency for v in ledger.views("alice")] == ["USD", "BTC"]
    assert ledger.views("carol") == []
    found = ledger.by_uuid("acct-3")
    assert found is not None
    assert (found.user_id, found.currency) == ("bob", "ETH")
    assert ledger.by_uuid("nope") is None
    assert ledger.view("bob", "USD") is None
    assert ledger.currencies() == ["BTC", "ETH", "EUR", "USD"]
    assert len(ledger.all_views()) == 3
