"""The paper fill model, rule by rule (pure: no trio, no clock)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.orders import Side
from cjt_actors.exchange.stream import Trade
from cjt_actors.lifecycle import (
    FULLY_FILLED_CANCEL_REASON,
    Accepted,
    CancelAcknowledged,
    CancelFailed,
    Fill,
    Liquidity,
    Rejected,
    VenueOrderState,
)
from cjt_actors.market_messages import TradesReceived
from cjt_actors.order_messages import OrderType, SubmitOrder, TimeInForce
from cjt_actors.orderbook import BookView
from cjt_actors.paper import FillModel, PaperConfig, PaperStatistics
from cjt_actors.paper import fills as paper_fills
from cjt_actors.products import ProductRules

D = Decimal
BTC = ProductRules(
    product_id="BTC-USD",
    base_increment=D("0.0001"),
    price_increment=D("0.01"),
    base_min_size=D("0.0001"),
    base_max_size=D("100"),
    quote_min_size=D("1"),
)
ETH = ProductRules(
    product_id="ETH-USD",
    base_increment=D("0.001"),
    price_increment=D("0.01"),
    base_min_size=D("0.001"),
    base_max_size=D("1000"),
    quote_min_size=D("1"),
)
MAKER = D("0.006")
TAKER = D("0.012")

_ids = itertools.count(1)
_sequences = itertools.count(1)


def model(**config: Any) -> FillModel:
    return FillModel({"BTC-USD": BTC, "ETH-USD": ETH}, PaperConfig(**config))


def levels(*pairs: tuple[str, str]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((D(p), D(s)) for p, s in pairs)


def view(
    bids: tuple[tuple[str, str], ...] = (),
    asks: tuple[tuple[str, str], ...] = (),
    *,
    product_id: str = "BTC-USD",
    trusted: bool = True,
) -> BookView:
    b, a = levels(*bids), levels(*asks)
    return BookView(
        product_id=product_id,
        best_bid=b[0][0] if b else None,
        best_bid_size=b[0][1] if b else None,
        best_ask=a[0][0] if a else None,
        best_ask_size=a[0][1] if a else None,
        mid=None,
        spread=None,
        bids=b,
        asks=a,
        last_trade_price=None,
        last_trade_size=None,
        trusted=trusted,
        trust_reason=None,
        updated_at=0.0,
        as_of=0.0,
        sequence=next(_sequences),
    )


BOOK = view(
    bids=(("99.99", "1"), ("99.98", "2"), ("99.97", "3")),
    asks=(("100.01", "0.5"), ("100.02", "1"), ("100.03", "2")),
)


def order(
    side: Side = Side.BUY,
    size: str = "1",
    price: str | None = None,
    *,
    order_type: OrderType | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    product_id: str = "BTC-USD",
    client_order_id: str | None = None,
) -> SubmitOrder:
    if order_type is None:
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
    return SubmitOrder(
        strategy="s",
        client_order_id=client_order_id or f"c{next(_ids)}",
        product_id=product_id,
        side=side,
        order_type=order_type,
        size=D(size),
        limit_price=None if price is None else D(price),
        time_in_force=tif,
        post_only=post_only,
        at=0.0,
    )


def trades(
    *items: tuple[str, str, str], snapshot: bool = False, product_id: str = "BTC-USD"
) -> TradesReceived:
    """``(price, size, maker_side)`` each, with fresh trade ids."""
    return TradesReceived(
        sequence_num=0,
        received_at=0.0,
        snapshot=snapshot,
        trades=tuple(
            Trade(
                trade_id=f"t{next(_ids)}",
                product_id=product_id,
                price=D(p),
                size=D(s),
                maker_side=side,  # type: ignore[arg-type]
                time="",
            )
            for p, s, side in items
        ),
    )


def fills_of(emitted: list[tuple[str, Fill | VenueOrderState]]) -> list[tuple[Decimal, Decimal]]:
    return [(e.price, e.size) for _c, e in emitted if isinstance(e, Fill)]


def states_of(emitted: list[tuple[str, Fill | VenueOrderState]]) -> list[VenueOrderState]:
    return [e for _c, e in emitted if isinstance(e, VenueOrderState)]


def place(m: FillModel, o: SubmitOrder) -> list[tuple[str, Fill | VenueOrderState]]:
    outcome, emitted = m.submit(o)
    assert isinstance(outcome, Accepted), outcome
    return emitted


def queue_of(m: FillModel, client_order_id: str) -> Decimal | None:
    return m._orders[client_order_id].queue_ahead


class TestConfig:
    def test_defaults_are_coinbase_entry_tier(self) -> None:
        config = PaperConfig()
        assert (config.maker_fee_rate, config.taker_fee_rate) == (MAKER, TAKER)
        assert (config.latency, config.latency_jitter, config.queue_position) == (0.05, 0.0, True)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("maker_fee_rate", D(1)),
            ("maker_fee_rate", D("-0.001")),
            ("taker_fee_rate", D("NaN")),
            ("taker_fee_rate", 0.01),
            ("latency", -0.1),
            ("latency", float("inf")),
            ("latency", True),
            ("latency_jitter", "0.1"),
            ("latency_jitter", float("nan")),
            ("queue_position", 1),
        ],
    )
    def test_bad_values_are_refused_by_name(self, field: str, value: object) -> None:
        kwargs: dict[str, Any] = {field: value}
        with pytest.raises(InvalidSpec, match=f"PaperConfig.{field}"):
            PaperConfig(**kwargs)

    def test_zero_fees_and_integer_latency_are_fine(self) -> None:
        config = PaperConfig(maker_fee_rate=D(0), taker_fee_rate=D(0), latency=0)
        assert config.latency == 0

    def test_products_must_be_keyed_by_their_id(self) -> None:
        with pytest.raises(InvalidSpec, match="ETH-USD"):
            FillModel({"BTC-USD": ETH}, PaperConfig())


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "reason"),
        [
            ({"product_id": "DOGE-USD", "price": "1"}, "INVALID_PRODUCT_ID"),
            ({"side": Side("HOLD"), "price": "100"}, "INVALID_SIDE"),
            (
                {"price": "100", "order_type": OrderType.MARKET},
                "UNSUPPORTED_ORDER_CONFIGURATION",
            ),
            (
                {"price": "100", "tif": TimeInForce.IOC, "post_only": True},
                "UNSUPPORTED_ORDER_CONFIGURATION",
            ),
            ({"post_only": True}, "UNSUPPORTED_ORDER_CONFIGURATION"),
            ({"size": "0.00005", "price": "100"}, "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
            ({"size": "0", "price": "100"}, "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
            ({"size": "-1", "price": "100"}, "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
            ({"size": "NaN", "price": "100"}, "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
            ({"size": "100.0001"}, "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"),
            ({"size": "0.00015", "price": "100"}, "INVALID_SIZE_PRECISION"),
            ({"size": "0.00015"}, "INVALID_SIZE_PRECISION"),
            ({"price": None, "order_type": OrderType.LIMIT}, "INVALID_LIMIT_PRICE"),
            ({"price": "0"}, "INVALID_LIMIT_PRICE"),
            ({"price": "-5"}, "INVALID_LIMIT_PRICE"),
            ({"price": "100.001"}, "INVALID_PRICE_PRECISION"),
            ({"price": "1E+100"}, "INVALID_PRICE_PRECISION"),
            ({"size": "0.001", "price": "999.99"}, "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        ],
    )
    def test_rejects_like_coinbase(self, kwargs: dict[str, Any], reason: str) -> None:
        m = model()
        m.observe_book(BOOK)
        outcome, emitted = m.submit(order(**kwargs))
        assert outcome == Rejected(reason=reason)
        assert emitted == []
        assert reason in paper_fills.REJECT_REASONS
        assert m.statistics().rejects == 1
        assert m.statistics().orders == 0

    def test_size_bounds_are_checked_before_precision(self) -> None:
        outcome, _ = model().submit(order(size="0.00001", price="100"))
        assert outcome == Rejected(reason="PREVIEW_INVALID_BASE_SIZE_TOO_SMALL")

    def test_a_rejected_order_was_never_placed(self) -> None:
        m = model()
        rejected = order(price="100.001", client_order_id="bad")
        m.submit(rejected)
        assert m.lookup("bad") is None
        again, _ = m.submit(order(price="100", client_order_id="bad"))
        assert again == Rejected(reason="INVALID_PRICE_PRECISION"), "the first answer stands"
        assert m.open_orders() == ()

    def test_post_only_that_would_cross_is_rejected(self) -> None:
        m = model()
        m.observe_book(BOOK)
        outcome, emitted = m.submit(order(price="100.01", post_only=True))
        assert outcome == Rejected(reason="INVALID_LIMIT_PRICE_POST_ONLY")
        assert emitted == []
        sell, _ = m.submit(order(Side.SELL, price="99.99", post_only=True))
        assert sell == Rejected(reason="INVALID_LIMIT_PRICE_POST_ONLY")

    def test_post_only_that_rests_is_accepted(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(price="100.00", post_only=True, client_order_id="p"))
        assert emitted == []
        assert [o.client_order_id for o in m.open_orders()] == ["p"]

    def test_post_only_may_join_a_level_paper_takers_used_up(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="0.5"))  # takes all of 100.01
        outcome, _ = m.submit(order(price="100.01", post_only=True))
        assert isinstance(outcome, Accepted)

    def test_post_only_without_a_view_rests(self) -> None:
        outcome, _ = model().submit(order(price="100", post_only=True))
        assert isinstance(outcome, Accepted)


class TestMarketOrders:
    def test_buy_walks_the_asks_best_first_as_taker(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="1.2", client_order_id="m"))
        assert fills_of(emitted) == [(D("100.01"), D("0.5")), (D("100.02"), D("0.7"))]
        fills = [e for _c, e in emitted if isinstance(e, Fill)]
        assert all(f.liquidity is Liquidity.TAKER for f in fills)
        assert [f.fee for f in fills] == [
            D("100.01") * D("0.5") * TAKER,
            D("100.02") * D("0.7") * TAKER,
        ]
        assert [f.trade_id for f in fills] == ["paper-fill-1", "paper-fill-2"]
        (final,) = states_of(emitted)
        assert final.status == "FILLED"
        assert final.cumulative_quantity == D("1.2")
        assert final.leaves_quantity == 0
        assert final.average_price == (D("50.005") + D("70.014")) / D("1.2")
        assert final.total_fees == sum(f.fee for f in fills)
        assert final.order_id == "paper-1"
        assert emitted[-1][1] is final, "the snapshot comes after the fills"
        assert all(c == "m" for c, _e in emitted)

    def test_sell_walks_the_bids(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(Side.SELL, size="1.5"))
        assert fills_of(emitted) == [(D("99.99"), D("1")), (D("99.98"), D("0.5"))]

    def test_what_the_view_cannot_fill_is_cancelled(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="5", client_order_id="big"))
        assert sum(s for _p, s in fills_of(emitted)) == D("3.5")
        (final,) = states_of(emitted)
        assert (final.status, final.cumulative_quantity, final.leaves_quantity) == (
            "CANCELLED",
            D("3.5"),
            D(0),
        )
        assert m.lookup("big") == paper_fills._venue_order(m._orders["big"])
        assert m.statistics().cancels == 1

    def test_without_a_view_nothing_fills(self) -> None:
        m = model()
        outcome, emitted = m.submit(order(client_order_id="blind"))
        assert outcome == Accepted(order_id="paper-1")
        (final,) = states_of(emitted)
        assert (final.status, final.cumulative_quantity, final.average_price) == (
            "CANCELLED",
            D(0),
            None,
        )
        assert fills_of(emitted) == []

    def test_a_second_order_cannot_take_the_same_liquidity(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="0.5"))
        emitted = place(m, order(size="0.5"))
        assert fills_of(emitted) == [(D("100.02"), D("0.5"))]

    def test_liquidity_used_stays_used_while_later_views_still_show_it(self) -> None:
        m = model()
        m.observe_book(view(asks=(("100.01", "1"),)))
        place(m, order(size="0.6"))
        m.observe_book(view(asks=(("100.01", "1"),)))  # the real level did not see us
        assert fills_of(place(m, order(size="1"))) == [(D("100.01"), D("0.4"))]

    def test_a_level_that_shrinks_gives_no_new_liquidity(self) -> None:
        m = model()
        m.observe_book(view(asks=(("100.01", "1"),)))
        place(m, order(size="0.6"))
        m.observe_book(view(asks=(("100.01", "0.5"),)))  # others took 0.5: all we left
        assert fills_of(place(m, order(size="1"))) == []

    def test_a_level_that_grows_gives_the_growth(self) -> None:
        m = model()
        m.observe_book(view(asks=(("100.01", "1"),)))
        place(m, order(size="1"))
        m.observe_book(view(asks=(("100.01", "0.5"),)))
        m.observe_book(view(asks=(("100.01", "1.25"),)))
        assert fills_of(place(m, order(size="1"))) == [(D("100.01"), D("0.75"))]

    def test_a_level_gone_from_a_covering_view_is_forgotten(self) -> None:
        m = model()
        m.observe_book(view(asks=(("100.01", "1"),)))
        place(m, order(size="1"))
        m.observe_book(view(asks=(("100.02", "1"),)))  # 100.01 is inside what this shows
        assert m._markets["BTC-USD"].consumed == {}
        m.observe_book(view(asks=(("100.01", "1"),)))
        assert fills_of(place(m, order(size="1"))) == [(D("100.01"), D("1"))]

    def test_a_level_deeper_than_a_view_shows_keeps_its_record(self) -> None:
        m = model()
        m.observe_book(view(asks=(("100.01", "1"), ("100.05", "1"))))
        place(m, order(size="1.5"))
        m.observe_book(view(asks=(("100.00", "1"), ("100.02", "1"))))  # 100.05 not shown
        assert m._markets["BTC-USD"].consumed == {(True, D("100.05")): D("0.5")}
        m.observe_book(view(asks=(("100.05", "2"),)))
        assert fills_of(place(m, order(size="2"))) == [(D("100.05"), D("1.5"))]

    def test_an_empty_side_forgets_what_was_used(self) -> None:
        m = model()
        m.observe_book(view(asks=(("100.01", "1"),)))
        place(m, order(size="1"))
        m.observe_book(view(bids=(("99", "1"),)))
        assert m._markets["BTC-USD"].consumed == {}

    def test_non_positive_levels_are_skipped(self) -> None:
        m = model()
        m.observe_book(view(asks=(("0", "5"), ("100.01", "1"))))
        assert fills_of(place(m, order(size="1"))) == [(D("100.01"), D("1"))]

    def test_market_fok_fills_all_or_nothing(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="3.6", tif=TimeInForce.FOK))
        assert fills_of(emitted) == []
        assert states_of(emitted)[0].status == "CANCELLED"
        emitted = place(m, order(size="3.5", tif=TimeInForce.FOK))
        assert sum(s for _p, s in fills_of(emitted)) == D("3.5")
        assert states_of(emitted)[0].status == "FILLED"

    def test_a_repeated_client_order_id_makes_no_second_order(self) -> None:
        m = model()
        m.observe_book(BOOK)
        first, emitted = m.submit(order(size="0.5", client_order_id="dup"))
        again, more = m.submit(order(size="0.5", client_order_id="dup"))
        assert first == again == Accepted(order_id="paper-1")
        assert more == []
        assert len(fills_of(emitted)) == 1
        assert m.statistics().orders == 1

    def test_views_of_unknown_products_are_ignored(self) -> None:
        m = model()
        assert m.observe_book(view(asks=(("1", "1"),), product_id="DOGE-USD")) == []
        assert "DOGE-USD" not in m._markets


class TestLimitIocAndFok:
    def test_ioc_fills_only_at_or_better_than_its_limit(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="2", price="100.02", tif=TimeInForce.IOC))
        assert fills_of(emitted) == [(D("100.01"), D("0.5")), (D("100.02"), D("1"))]
        (final,) = states_of(emitted)
        assert (final.status, final.cumulative_quantity) == ("CANCELLED", D("1.5"))
        assert m.open_orders() == ()

    def test_ioc_sell_stops_at_its_limit(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(Side.SELL, size="5", price="99.98", tif=TimeInForce.IOC))
        assert fills_of(emitted) == [(D("99.99"), D("1")), (D("99.98"), D("2"))]

    def test_fok_fills_entirely_when_the_visible_liquidity_covers_it(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="1.5", price="100.02", tif=TimeInForce.FOK))
        assert fills_of(emitted) == [(D("100.01"), D("0.5")), (D("100.02"), D("1"))]
        assert states_of(emitted)[0].status == "FILLED"

    def test_fok_cancels_with_nothing_filled_otherwise(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="1.5001", price="100.02", tif=TimeInForce.FOK))
        assert fills_of(emitted) == []
        (final,) = states_of(emitted)
        assert (final.status, final.cumulative_quantity) == ("CANCELLED", D(0))
        assert m._markets["BTC-USD"].consumed == {}, "a refused FOK takes nothing"


class TestGtc:
    def test_a_limit_that_does_not_cross_rests(self) -> None:
        m = model()
        m.observe_book(BOOK)
        assert place(m, order(price="99.99", client_order_id="r")) == []
        (listed,) = m.open_orders()
        assert listed.client_order_id == "r"
        assert listed.product_id == "BTC-USD"
        assert listed.state == VenueOrderState(
            status="OPEN",
            cumulative_quantity=D(0),
            leaves_quantity=D(1),
            average_price=None,
            total_fees=D(0),
            order_id="paper-1",
            from_lookup=True,
        )
        assert m.lookup("r") == listed
        assert m.statistics().open_orders == 1

    def test_the_crossing_part_takes_and_the_rest_rests(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="2", price="100.02", client_order_id="x"))
        assert fills_of(emitted) == [(D("100.01"), D("0.5")), (D("100.02"), D("1"))]
        assert states_of(emitted) == [], "still working"
        fills = [e for _c, e in emitted if isinstance(e, Fill)]
        assert {f.liquidity for f in fills} == {Liquidity.TAKER}
        state = m.lookup("x")
        assert state is not None
        assert (state.state.status, state.state.leaves_quantity) == ("OPEN", D("0.5"))
        assert queue_of(m, "x") == 0, "it is the best bid now"

    def test_a_limit_that_crosses_entirely_is_filled_at_once(self) -> None:
        m = model()
        m.observe_book(BOOK)
        emitted = place(m, order(size="0.5", price="100.05"))
        assert fills_of(emitted) == [(D("100.01"), D("0.5"))]
        assert states_of(emitted)[0].status == "FILLED"
        assert m.open_orders() == ()

    def test_open_orders_are_listed_oldest_first(self) -> None:
        m = model()
        place(m, order(price="99", client_order_id="a", product_id="ETH-USD"))
        place(m, order(price="98", client_order_id="b"))
        place(m, order(Side.SELL, price="101", client_order_id="c", product_id="ETH-USD"))
        assert [o.client_order_id for o in m.open_orders()] == ["a", "b", "c"]
        assert m.lookup("nope") is None


class TestQueuePosition:
    def test_queue_ahead_is_the_size_shown_at_our_price(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(price="99.98", client_order_id="q"))
        assert queue_of(m, "q") == D("2")

    def test_improving_on_the_best_means_nobody_is_ahead(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(Side.SELL, price="100.00", client_order_id="q"))
        assert queue_of(m, "q") == 0

    def test_a_gap_between_shown_levels_is_empty(self) -> None:
        m = model()
        m.observe_book(view(bids=(("99.99", "1"), ("99.95", "1"))))
        place(m, order(price="99.97", client_order_id="q"))
        assert queue_of(m, "q") == 0

    def test_an_empty_side_has_nobody_ahead(self) -> None:
        m = model()
        m.observe_book(view(asks=(("100.01", "1"),)))
        place(m, order(price="99", client_order_id="q"))
        assert queue_of(m, "q") == 0

    def test_trades_at_our_price_consume_the_queue_first(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="99.98", client_order_id="q"))
        assert m.observe_trades(trades(("99.98", "1.5", "BUY"))) == []
        assert queue_of(m, "q") == D("0.5")
        emitted = m.observe_trades(trades(("99.98", "0.8", "BUY")))
        assert fills_of(emitted) == [(D("99.98"), D("0.3"))]
        fill = emitted[0][1]
        assert isinstance(fill, Fill)
        assert fill.liquidity is Liquidity.MAKER
        assert fill.fee == D("99.98") * D("0.3") * MAKER
        assert queue_of(m, "q") == 0
        emitted = m.observe_trades(trades(("99.98", "5", "BUY")))
        assert fills_of(emitted) == [(D("99.98"), D("0.7"))], "never more than remains"
        (final,) = states_of(emitted)
        assert (final.status, final.cumulative_quantity) == ("FILLED", D("1"))
        assert m.open_orders() == ()
        assert m.observe_trades(trades(("99.98", "5", "BUY"))) == [], "a filled order is done"

    def test_trades_on_the_other_side_do_not_reach_us(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(price="99.99", client_order_id="q"))
        assert m.observe_trades(trades(("99.99", "5", "SELL"))) == []
        assert queue_of(m, "q") == D("1")

    def test_a_trade_at_a_better_price_than_ours_does_not_reach_us(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(price="99.98", client_order_id="q"))
        assert m.observe_trades(trades(("99.99", "5", "BUY"))) == []
        assert queue_of(m, "q") == D("2")

    def test_a_trade_through_our_price_fills_us_up_to_its_size(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="99.98", client_order_id="q"))
        emitted = m.observe_trades(trades(("99.97", "0.25", "BUY")))
        assert fills_of(emitted) == [(D("99.98"), D("0.25"))], "at our price, as maker"
        assert queue_of(m, "q") == 0, "the level was swept"

    def test_a_sell_is_filled_by_a_lift_through_its_price(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(Side.SELL, size="1", price="100.02", client_order_id="q"))
        assert queue_of(m, "q") == D("1")
        assert m.observe_trades(trades(("100.01", "9", "SELL"))) == [], "a better ask traded"
        emitted = m.observe_trades(trades(("100.03", "2", "SELL")))
        assert fills_of(emitted) == [(D("100.02"), D("1"))]
        assert states_of(emitted)[0].status == "FILLED"

    def test_one_trade_is_shared_by_priority_never_more_than_its_size(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="0.6", price="99.98", client_order_id="late-worse"))
        place(m, order(size="0.6", price="99.99", client_order_id="best"))
        place(m, order(size="0.6", price="99.98", client_order_id="later-worse"))
        emitted = m.observe_trades(trades(("99.97", "1", "BUY")))
        assert [(c, e.size) for c, e in emitted if isinstance(e, Fill)] == [
            ("best", D("0.6")),
            ("late-worse", D("0.4")),
        ]

    def test_paper_orders_at_one_price_fill_in_time_order(self) -> None:
        m = model(queue_position=False)
        m.observe_book(BOOK)
        place(m, order(size="0.5", price="99.98", client_order_id="first"))
        place(m, order(size="0.5", price="99.98", client_order_id="second"))
        emitted = m.observe_trades(trades(("99.98", "0.7", "BUY")))
        assert [(c, e.size) for c, e in emitted if isinstance(e, Fill)] == [
            ("first", D("0.5")),
            ("second", D("0.2")),
        ]

    def test_unknown_queue_means_no_fill_from_trades_at_our_price(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="99.90", client_order_id="deep"))
        assert queue_of(m, "deep") is None
        assert m.observe_trades(trades(("99.90", "5", "BUY"))) == []
        m.observe_book(view(bids=(("99.99", "1"), ("99.95", "1"))))
        assert queue_of(m, "deep") is None, "still deeper than shown"
        m.observe_book(view(bids=(("99.91", "1"), ("99.90", "0.4"))))
        assert queue_of(m, "deep") == D("0.4")
        emitted = m.observe_trades(trades(("99.90", "1", "BUY")))
        assert fills_of(emitted) == [(D("99.90"), D("0.6"))]

    def test_an_unknown_queue_is_cleared_by_a_trade_through(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="99.90", client_order_id="deep"))
        emitted = m.observe_trades(trades(("99.80", "0.1", "BUY")))
        assert fills_of(emitted) == [(D("99.90"), D("0.1"))]
        assert queue_of(m, "deep") == 0

    def test_without_a_view_the_queue_is_unknown(self) -> None:
        m = model()
        place(m, order(price="99", client_order_id="q"))
        assert queue_of(m, "q") is None

    def test_a_trusted_view_caps_the_queue_at_what_it_shows(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(price="99.97", client_order_id="q"))
        assert queue_of(m, "q") == D("3")
        m.observe_book(view(bids=(("99.97", "5"),)))
        assert queue_of(m, "q") == D("3"), "orders joining behind us are not ahead"
        m.observe_book(view(bids=(("99.97", "1.5"),), trusted=False))
        assert queue_of(m, "q") == D("3"), "an untrusted view moves nothing"
        m.observe_book(view(bids=(("99.97", "1.5"),)))
        assert queue_of(m, "q") == D("1.5")
        m.observe_book(view(bids=(("99.99", "1"), ("99.90", "1"))))
        assert queue_of(m, "q") == 0, "the level is gone"

    def test_without_the_queue_model_trades_at_our_price_fill_at_once(self) -> None:
        m = model(queue_position=False)
        m.observe_book(BOOK)
        place(m, order(size="1", price="99.98", client_order_id="q"))
        assert queue_of(m, "q") == 0
        emitted = m.observe_trades(trades(("99.98", "0.4", "BUY")))
        assert fills_of(emitted) == [(D("99.98"), D("0.4"))]

    def test_without_the_queue_model_or_a_view_nobody_is_ahead(self) -> None:
        m = model(queue_position=False)
        place(m, order(price="99", client_order_id="q"))
        assert queue_of(m, "q") == 0


class TestTradeFrames:
    def test_snapshot_trades_fill_nothing(self) -> None:
        m = model(queue_position=False)
        place(m, order(price="99.98"))
        assert m.observe_trades(trades(("99.98", "1", "BUY"), snapshot=True)) == []

    def test_a_repeated_trade_id_fills_once(self) -> None:
        m = model(queue_position=False)
        place(m, order(size="1", price="99.98"))
        frame = trades(("99.98", "0.1", "BUY"))
        assert len(fills_of(m.observe_trades(frame))) == 1
        assert m.observe_trades(frame) == []

    def test_the_trade_memory_is_bounded(self) -> None:
        m = model(queue_position=False)
        place(m, order(size="1", price="99.98"))
        first = trades(("99.98", "0.1", "BUY"))
        m.observe_trades(first)
        filler = trades(*[("50", "1", "SELL")] * paper_fills.TRADE_MEMORY)
        m.observe_trades(filler)
        assert len(m._recent_trades) == paper_fills.TRADE_MEMORY
        assert len(fills_of(m.observe_trades(first))) == 1, "forgotten, so counted again"

    def test_trades_without_an_id_are_never_deduplicated(self) -> None:
        m = model(queue_position=False)
        place(m, order(size="1", price="99.98"))
        trade = Trade(
            trade_id="",
            product_id="BTC-USD",
            price=D("99.98"),
            size=D("0.1"),
            maker_side="BUY",
            time="",
        )
        frame = TradesReceived(
            sequence_num=1, received_at=0.0, snapshot=False, trades=(trade, trade)
        )
        assert len(fills_of(m.observe_trades(frame))) == 2

    @pytest.mark.parametrize(
        "trade",
        [
            ("99.98", "0", "BUY"),
            ("0", "1", "BUY"),
            ("99.98", "1", "UNKNOWN_ORDER_SIDE"),
        ],
    )
    def test_unusable_trades_fill_nothing(self, trade: tuple[str, str, str]) -> None:
        m = model(queue_position=False)
        place(m, order(price="99.98"))
        assert m.observe_trades(trades(trade)) == []

    def test_trades_of_other_products_do_not_reach_us(self) -> None:
        m = model(queue_position=False)
        place(m, order(price="99.98"))
        assert m.observe_trades(trades(("99.98", "1", "BUY"), product_id="ETH-USD")) == []
        assert m.observe_trades(trades(("99.98", "1", "BUY"), product_id="DOGE-USD")) == []


class TestCrossingViews:
    def test_a_view_crossing_our_bid_fills_it_at_our_price(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="100.00", client_order_id="q"))
        emitted = m.observe_book(
            view(bids=(("99.5", "1"),), asks=(("99.90", "0.4"), ("100.00", "0.3"), ("100.5", "1")))
        )
        assert fills_of(emitted) == [(D("100.00"), D("0.4")), (D("100.00"), D("0.3"))]
        fills = [e for _c, e in emitted if isinstance(e, Fill)]
        assert {f.liquidity for f in fills} == {Liquidity.MAKER}
        assert fills[0].fee == D("100.00") * D("0.4") * MAKER
        assert queue_of(m, "q") == 0
        assert states_of(emitted) == []

    def test_the_same_crossing_liquidity_is_used_once(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="100.00"))
        crossing = (("99.5", "1"),), (("99.90", "0.4"),)
        assert len(fills_of(m.observe_book(view(*crossing)))) == 1
        assert m.observe_book(view(*crossing)) == [], "a new view of the same level"

    def test_a_crossing_view_fills_an_ask_and_completes_it(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(Side.SELL, size="0.5", price="100.00", client_order_id="q"))
        emitted = m.observe_book(view(bids=(("100.10", "2"),), asks=(("100.2", "1"),)))
        assert fills_of(emitted) == [(D("100.00"), D("0.5"))]
        (final,) = states_of(emitted)
        assert (final.status, final.average_price) == ("FILLED", D("100.00"))
        assert m.open_orders() == ()

    def test_crossing_liquidity_goes_to_the_best_priced_order_first(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="100.00", client_order_id="lower"))
        place(m, order(size="1", price="100.01", client_order_id="higher"))  # takes 100.01
        emitted = m.observe_book(view(asks=(("99.99", "1.5"),)))
        assert [(c, e.size) for c, e in emitted if isinstance(e, Fill)] == [
            ("higher", D("0.5")),
            ("lower", D("1")),
        ]

    def test_an_untrusted_view_fills_nothing(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="1", price="100.00"))
        assert m.observe_book(view(asks=(("99.90", "1"),), trusted=False)) == []
        assert fills_of(place(m, order(size="1"))) == [(D("99.90"), D("1"))], (
            "takers still use the latest view"
        )


class TestCancel:
    def test_a_working_order_is_cancelled(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="2", price="100.02", client_order_id="w"))
        outcome, emitted = m.cancel("w", "paper-1")
        assert outcome == CancelAcknowledged()
        (final,) = states_of(emitted)
        assert (final.status, final.cumulative_quantity, final.leaves_quantity) == (
            "CANCELLED",
            D("1.5"),
            D(0),
        )
        assert not final.from_lookup
        assert m.open_orders() == ()
        assert m.cancel("w", "paper-1") == (CancelFailed(reason="UNKNOWN_CANCEL_ORDER"), [])

    def test_by_client_order_id_when_the_order_id_is_unknown(self) -> None:
        m = model()
        place(m, order(price="99", client_order_id="w"))
        outcome, _ = m.cancel("w", "")
        assert outcome == CancelAcknowledged()

    def test_a_filled_order_cannot_be_cancelled(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="0.5", client_order_id="f"))
        assert m.cancel("f", "") == (CancelFailed(reason=FULLY_FILLED_CANCEL_REASON), [])

    @pytest.mark.parametrize(
        ("client_order_id", "order_id"),
        [("nope", ""), ("nope", "paper-99"), ("other", "paper-1"), ("w", "paper-2")],
    )
    def test_unknown_orders_cannot_be_cancelled(self, client_order_id: str, order_id: str) -> None:
        m = model()
        place(m, order(price="99", client_order_id="w"))
        outcome, emitted = m.cancel(client_order_id, order_id)
        assert outcome == CancelFailed(reason=paper_fills.UNKNOWN_CANCEL_ORDER)
        assert emitted == []
        assert len(m.open_orders()) == 1

    def test_an_ioc_remainder_is_already_cancelled(self) -> None:
        m = model()
        place(m, order(size="1", price="99", tif=TimeInForce.IOC, client_order_id="i"))
        assert m.cancel("i", "paper-1")[0] == CancelFailed(reason="UNKNOWN_CANCEL_ORDER")


class TestStatistics:
    def test_counters(self) -> None:
        m = model()
        m.observe_book(BOOK)
        place(m, order(size="0.5"))  # taker 0.5 @ 100.01
        place(m, order(price="99", client_order_id="rest"))
        m.submit(order(price="1.001"))
        m.cancel("rest", "")
        stats = m.statistics()
        assert stats == PaperStatistics(
            orders=2,
            fills=1,
            rejects=1,
            cancels=1,
            open_orders=0,
            filled_base=D("0.5"),
            fees=D("100.01") * D("0.5") * TAKER,
        )
        assert "orders=2" in repr(m)


class TestRetention:
    def test_the_oldest_finished_orders_are_forgotten_beyond_the_bound(self) -> None:
        m = FillModel({"BTC-USD": BTC}, PaperConfig(), retain_finished=2)
        place(m, order(price="99", client_order_id="working"))
        m.submit(order(price="1.001", client_order_id="rejected"))
        place(m, order(client_order_id="ioc-1"))  # no view: cancelled at once
        assert m.lookup("working") is not None
        assert m.lookup("ioc-1") is not None
        assert m.submit(order(client_order_id="rejected"))[0] == Rejected(
            reason="INVALID_PRICE_PRECISION"
        ), "still remembered"
        place(m, order(client_order_id="ioc-2"))  # a third finished: "rejected" is forgotten
        again, _ = m.submit(order(price="99", client_order_id="rejected"))
        assert again == Accepted(order_id="paper-4"), "a forgotten id is new again"
        assert m.lookup("ioc-1") is not None
        place(m, order(client_order_id="ioc-3"))
        assert m.lookup("ioc-1") is None, "forgotten when a third finished"
        assert m.cancel("ioc-1", "paper-2") == (CancelFailed(reason="UNKNOWN_CANCEL_ORDER"), [])
        assert m.lookup("working") is not None, "working orders are always kept"
        assert sorted(m._orders) == ["ioc-2", "ioc-3", "rejected", "working"]

    @pytest.mark.parametrize("retain", [0, -1, True, 1.5])
    def test_the_bound_must_be_a_positive_integer(self, retain: Any) -> None:
        with pytest.raises(InvalidSpec, match="retain_finished"):
            FillModel({"BTC-USD": BTC}, PaperConfig(), retain_finished=retain)
