"""Balances of the simulated exchange: one account per (user, currency), split into available
and hold, plus the fees the exchange has collected.

Why a ledger with only a few moves: every balance change in the engine is one of deposit,
place a hold, release a hold, settle a fill out of a hold, or credit the proceeds of a fill.
Each move keeps ``sum(available + hold) + fees collected == deposits`` for every currency by
construction, and refuses (as a bug, :class:`AssertionError`) to drive any balance negative.
The engine checks funds *before* it moves them; the checks here are the safety net.

Amounts are exact ``Decimal``s: the engine runs in a wide decimal context that traps
inexact results, so a balance is never silently rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs

from ..errors import InvalidSpec
from .products import tidy

__all__ = ["AccountView", "Ledger"]

_ZERO = Decimal(0)


@attrs.frozen(kw_only=True)
class AccountView:
    """One account as the REST layer shows it (GET /accounts): a snapshot, never live."""

    uuid: str
    user_id: str
    currency: str
    available: Decimal
    hold: Decimal
    created_at: float  #: epoch seconds
    updated_at: float  #: epoch seconds


class _Account:
    __slots__ = ("available", "created_at", "currency", "hold", "updated_at", "user_id", "uuid")

    def __init__(self, *, uuid: str, user_id: str, currency: str, now: float) -> None:
        self.uuid = uuid
        self.user_id = user_id
        self.currency = currency
        self.available = _ZERO
        self.hold = _ZERO
        self.created_at = now
        self.updated_at = now

    def view(self) -> AccountView:
        return AccountView(
            uuid=self.uuid,
            user_id=self.user_id,
            currency=self.currency,
            available=tidy(self.available),
            hold=tidy(self.hold),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class Ledger:
    """Accounts by (user, currency), created on first use with an id from ``new_id``."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._by_user: dict[str, list[_Account]] = {}
        self._by_uuid: dict[str, _Account] = {}
        self._deposits: dict[str, Decimal] = {}
        self._fees: dict[str, Decimal] = {}

    # -- queries ------------------------------------------------------------------------

    def view(self, user_id: str, currency: str) -> AccountView | None:
        """The account of ``user_id`` in ``currency``, or None if it was never used."""
        account = self._accounts.get((user_id, currency))
        return None if account is None else account.view()

    def views(self, user_id: str) -> list[AccountView]:
        """Every account of ``user_id``, in the order they were opened."""
        return [account.view() for account in self._by_user.get(user_id, ())]

    def all_views(self) -> list[AccountView]:
        """Every account of every user, in the order they were opened."""
        return [account.view() for account in self._accounts.values()]

    def by_uuid(self, uuid: str) -> AccountView | None:
        """The account with this uuid, or None."""
        account = self._by_uuid.get(uuid)
        return None if account is None else account.view()

    def available(self, user_id: str, currency: str) -> Decimal:
        """Spendable balance (zero for an account never used)."""
        account = self._accounts.get((user_id, currency))
        return _ZERO if account is None else account.available

    def total_deposits(self, currency: str) -> Decimal:
        """Everything ever deposited in ``currency``, over all users."""
        return self._deposits.get(currency, _ZERO)

    def fees_collected(self, currency: str) -> Decimal:
        """Everything the exchange has charged in fees in ``currency``."""
        return self._fees.get(currency, _ZERO)

    def currencies(self) -> list[str]:
        """Every currency that has an account, a deposit or a fee, sorted."""
        seen = {currency for _, currency in self._accounts}
        return sorted(seen | self._deposits.keys() | self._fees.keys())

    # -- moves --------------------------------------------------------------------------

    def open(self, user_id: str, currency: str, now: float) -> _Account:
        """The account, opened (empty) if this is its first use."""
        key = (user_id, currency)
        account = self._accounts.get(key)
        if account is None:
            account = _Account(uuid=self._new_id(), user_id=user_id, currency=currency, now=now)
            self._accounts[key] = account
            self._by_user.setdefault(user_id, []).append(account)
            self._by_uuid[account.uuid] = account
        return account

    def deposit(self, user_id: str, currency: str, amount: Decimal, now: float) -> AccountView:
        """Add ``amount`` (>= 0; zero just opens the account) to the available balance."""
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise InvalidSpec(
                f"deposit of {currency!r} for user {user_id!r}: amount must be a finite "
                f"Decimal >= 0, got {amount!r}"
            )
        if not user_id or not currency:
            raise InvalidSpec(
                f"deposit: user_id and currency must not be empty, got {user_id!r}, {currency!r}"
            )
        account = self.open(user_id, currency, now)
        account.available += amount
        account.updated_at = now
        self._deposits[currency] = self._deposits.get(currency, _ZERO) + amount
        return account.view()

    def place_hold(self, user_id: str, currency: str, amount: Decimal, now: float) -> None:
        """Move ``amount`` from available to hold (the caller checked it is available)."""
        account = self.open(user_id, currency, now)
        if amount > account.available:
            raise AssertionError(
                f"hold of {amount} {currency} for {user_id!r} exceeds available {account.available}"
            )
        account.available -= amount
        account.hold += amount
        account.updated_at = now

    def release_hold(self, user_id: str, currency: str, amount: Decimal, now: float) -> None:
        """Move ``amount`` from hold back to available."""
        self.settle_from_hold(user_id, currency, release=amount, spend=_ZERO, now=now)

    def settle_from_hold(
        self, user_id: str, currency: str, *, release: Decimal, spend: Decimal, now: float
    ) -> None:
        """Take ``release`` out of hold; ``spend`` of it leaves, the rest becomes available."""
        account = self._accounts.get((user_id, currency))
        if account is None or release > account.hold or spend > release:
            held = None if account is None else account.hold
            raise AssertionError(
                f"settling {spend} of a {release} {currency} hold for {user_id!r}, which holds {held}"
            )
        account.hold -= release
        account.available += release - spend
        account.updated_at = now

    def credit(self, user_id: str, currency: str, amount: Decimal, now: float) -> None:
        """Add the proceeds of a fill to the available balance."""
        account = self.open(user_id, currency, now)
        account.available += amount
        account.updated_at = now

    def collect_fee(self, currency: str, amount: Decimal) -> None:
        """Record a fee the exchange kept (it was spent out of some user's balance)."""
        self._fees[currency] = self._fees.get(currency, _ZERO) + amount
