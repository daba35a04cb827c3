"""A synthetic market: a moving mid, resting liquidity at many levels, takers making trades.

Paper trading and every test of the client need a market that behaves like one: a book
with depth that changes all the time (level2 updates), trades printing (market_trades), and
a price that wanders so resting orders fill now and then. Two synthetic participants provide
it, as ordinary users of the :class:`~cjt_actors.sim.engine.Engine` with large balances, so
every rule (matching, fees, holds, conservation) applies to them exactly as to a client:

* a **maker** keeps ``levels`` price levels on each side of the mid: one at the touch
  (``spread_ticks`` wide) and the rest on a fixed grid ``level_gap_bps`` apart, so a move of
  the mid only changes the levels near the touch and at the far edges; it also resizes a
  few levels every step (churn, as on a real book);
* a **taker** sends market orders of random size now and then (trades).

The mid is a random walk in integer ticks, so prices are exact multiples of the product's
price increment; :meth:`SyntheticMarket.jump` moves it at once by a number of basis points
(the ``jump_price`` fault), and the maker re-quotes around the new mid in the same call. Everything random comes from one ``random.Random(seed)``: a seed fixes the
market, which is what deterministic scenarios need.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from ..errors import InvalidSpec
from .engine import Engine
from .orders import LimitGtc, MarketIoc, OrderAccepted, OrderRequest, Side
from .products import ProductSpec

__all__ = ["MAKER", "TAKER", "MarketParams", "SyntheticMarket"]

MAKER = "synthetic-maker"
TAKER = "synthetic-taker"

#: Where each default product's mid starts.
REFERENCE_PRICES: Mapping[str, Decimal] = {
    "BTC-USD": Decimal("60000"),
    "ETH-USD": Decimal("3000"),
}


@attrs.frozen(kw_only=True)
class MarketParams:
    """How the synthetic market behaves. Defaults give a lively but orderly book."""

    levels: int = 40  #: price levels per side kept by the maker
    spread_ticks: int = 2  #: ticks between the best bid and the best ask
    level_gap_bps: float = 1.0  #: basis points between grid levels beyond the touch
    volatility_bps: float = 1.0  #: standard deviation of the mid's move per sqrt(second), bps
    resize_per_step: int = 3  #: levels resized (cancel and replace) each step, per product
    taker_rate: float = 2.0  #: taker market orders per second, per product (Poisson)
    level_notional: Decimal = Decimal("20000")  #: typical quote value resting at one level
    taker_notional: Decimal = Decimal("2000")  #: typical quote value of one taker order

    def __attrs_post_init__(self) -> None:
        if self.levels < 1 or self.spread_ticks < 1 or self.level_gap_bps <= 0:
            raise InvalidSpec("levels and spread_ticks must be >= 1, level_gap_bps > 0")
        if self.volatility_bps < 0 or self.taker_rate < 0 or self.resize_per_step < 0:
            raise InvalidSpec("volatility_bps, taker_rate and resize_per_step must be >= 0")


@attrs.define
class _ProductState:
    spec: ProductSpec
    mid_ticks: int
    gap_ticks: int
    sigma_ticks: float  #: the mid's standard deviation per sqrt(second), in ticks
    quotes: dict[tuple[Side, int], str] = attrs.Factory(dict)  #: (side, price ticks) -> order id


class SyntheticMarket:
    """Drives the maker and taker users of ``engine`` for each product.

    Call :meth:`open` once, then :meth:`step` with the elapsed seconds as time passes.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        seed: int = 0,
        params: MarketParams | None = None,
        reference_prices: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.engine = engine
        self.params = params or MarketParams()
        self._rng = random.Random(seed)
        prices = {**REFERENCE_PRICES, **(reference_prices or {})}
        self._products: dict[str, _ProductState] = {}
        for product_id, spec in engine.products.items():
            price = prices.get(product_id, Decimal("100"))
            mid_ticks = int(price / spec.price_increment)
            self._products[product_id] = _ProductState(
                spec=spec,
                mid_ticks=mid_ticks,
                gap_ticks=max(1, round(mid_ticks * self.params.level_gap_bps / 10_000)),
                sigma_ticks=mid_ticks * self.params.volatility_bps / 10_000,
            )
        self._order_counter = 0

    def mid(self, product_id: str) -> Decimal:
        state = self._products[product_id]
        return state.mid_ticks * state.spec.price_increment

    def open(self, now: float) -> None:
        """Fund the synthetic users and lay out the initial books."""
        currencies = {
            c
            for s in self._products.values()
            for c in (s.spec.base_currency, s.spec.quote_currency)
        }
        for user in (MAKER, TAKER):
            for currency in sorted(currencies):
                self.engine.deposit(user, currency, Decimal("1000000000"), now=now)
        for state in self._products.values():
            self._requote(state, now)

    def step(self, now: float, dt: float) -> None:
        """Advance the market by ``dt`` seconds ending at ``now``."""
        for state in self._products.values():
            sigma = state.sigma_ticks * math.sqrt(max(dt, 0.0))
            state.mid_ticks = max(
                self.params.spread_ticks + 1, state.mid_ticks + round(self._rng.gauss(0.0, sigma))
            )
            self._requote(state, now)
            self._resize(state, now)
            self._takers(state, now, dt)

    def jump(self, product_id: str, bps: Decimal, now: float) -> Decimal:
        """Move ``product_id``'s mid by ``bps`` basis points at once; return the new mid.

        The move is rounded to whole ticks (half to even) but is at least one tick in the
        direction of ``bps``, and the mid never falls below the spread (as in :meth:`step`).
        The maker's quotes are laid again around the new mid before this returns: its stale
        quotes are cancelled first, so it never trades with itself, then the new ones are
        placed as ordinary limit orders. A resting order of another user that a new quote
        crosses is therefore filled against the maker at that order's own limit price, as
        an arbitrageur would pick off a stale order when the price gaps. Nothing random is
        drawn for the move itself (the new quotes' sizes are, as always).

        Raises:
            InvalidSpec: ``product_id`` is not one of this market's products.
        """
        state = self._products.get(product_id)
        if state is None:
            known = ", ".join(sorted(self._products))
            raise InvalidSpec(f"product_id: unknown product {product_id!r} (known: {known})")
        target = (state.mid_ticks * (10_000 + bps) / 10_000).to_integral_value(ROUND_HALF_EVEN)
        move = int(target) - state.mid_ticks
        if move == 0 and bps:
            move = 1 if bps > 0 else -1
        state.mid_ticks = max(self.params.spread_ticks + 1, state.mid_ticks + move)
        self._requote(state, now)
        return self.mid(product_id)

    # -- the maker ---------------------------------------------------------------------------

    def _target_levels(self, state: _ProductState) -> dict[tuple[Side, int], None]:
        p, gap = self.params, state.gap_ticks
        best_bid = state.mid_ticks - p.spread_ticks // 2
        best_ask = best_bid + p.spread_ticks
        wanted: dict[tuple[Side, int], None] = {
            (Side.BUY, best_bid): None,
            (Side.SELL, best_ask): None,
        }
        below = (best_bid - 1) // gap * gap  # the grid point under the best bid
        above = -(-(best_ask + 1) // gap) * gap  # the grid point over the best ask
        for i in range(p.levels - 1):
            if below - i * gap > 0:
                wanted[(Side.BUY, below - i * gap)] = None
            wanted[(Side.SELL, above + i * gap)] = None
        return wanted

    def _requote(self, state: _ProductState, now: float) -> None:
        wanted = self._target_levels(state)
        stale = [key for key in state.quotes if key not in wanted]
        if stale:
            self.engine.cancel(MAKER, [state.quotes.pop(key) for key in stale], now=now)
        self._forget_finished(state)
        for key in wanted:
            if key not in state.quotes:
                self._quote(state, key, now)

    def _resize(self, state: _ProductState, now: float) -> None:
        keys = sorted(state.quotes)  # (side, ticks): Side is a StrEnum, so BUY < SELL
        for key in self._rng.sample(keys, min(self.params.resize_per_step, len(keys))):
            self.engine.cancel(MAKER, [state.quotes.pop(key)], now=now)
            self._quote(state, key, now)

    def _quote(self, state: _ProductState, key: tuple[Side, int], now: float) -> None:
        side, ticks = key
        spec = state.spec
        price = ticks * spec.price_increment
        size = self._size(spec, self.params.level_notional, price)
        outcome = self.engine.place(
            OrderRequest(
                user_id=MAKER,
                client_order_id=self._next_id(),
                product_id=spec.product_id,
                side=side,
                configuration=LimitGtc(base_size=size, limit_price=price),
            ),
            now=now,
        )
        if isinstance(outcome, OrderAccepted) and outcome.order.leaves_quantity > 0:
            state.quotes[key] = outcome.order.order_id

    def _forget_finished(self, state: _ProductState) -> None:
        """Drop quotes that were filled away (by takers or by clients) so they are renewed."""
        is_resting = self.engine.is_resting
        for key, order_id in list(state.quotes.items()):
            if not is_resting(MAKER, order_id):
                del state.quotes[key]

    # -- the taker ---------------------------------------------------------------------------

    def _takers(self, state: _ProductState, now: float, dt: float) -> None:
        expected = self.params.taker_rate * max(dt, 0.0)
        count = _poisson(self._rng, expected)
        spec = state.spec
        for _ in range(count):
            side = Side.BUY if self._rng.random() < 0.5 else Side.SELL
            size = self._size(spec, self.params.taker_notional, self.mid(spec.product_id))
            self.engine.place(
                OrderRequest(
                    user_id=TAKER,
                    client_order_id=self._next_id(),
                    product_id=spec.product_id,
                    side=side,
                    configuration=MarketIoc(base_size=size),
                ),
                now=now,
            )
        if count:
            self._forget_finished(state)
            for key in self._target_levels(state):
                if key not in state.quotes:
                    self._quote(state, key, now)

    # -- helpers -----------------------------------------------------------------------------

    def _size(self, spec: ProductSpec, notional: Decimal, price: Decimal) -> Decimal:
        """A random size around ``notional / price``, a multiple of the base increment."""
        factor = Decimal(str(round(self._rng.uniform(0.2, 1.8), 3)))
        raw = notional * factor / price
        size = (raw / spec.base_increment).to_integral_value() * spec.base_increment
        return max(size, spec.base_min_size)

    def _next_id(self) -> str:
        self._order_counter += 1
        return f"synthetic-{self._order_counter}"


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; means here are small (a few per step)."""
    if mean <= 0:
        return 0
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
