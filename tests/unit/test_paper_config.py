"""The paper-trading config, product rules from the venue, and the status line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from cjt_actors.actors.book import BookStatus
from cjt_actors.actors.feed import FeedStatus
from cjt_actors.config import (
    DEFAULT_STRATEGY,
    Config,
    MarketSection,
    StrategyEntry,
    load_config,
    load_strategies,
)
from cjt_actors.configfile import ConfigError, dump_defaults, loads_toml
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.models import Product
from cjt_actors.execution import ExecutionStatistics
from cjt_actors.market_messages import FeedState
from cjt_actors.orderbook import BookCounters, TrustReason, TrustState
from cjt_actors.products import ProductRules
from cjt_actors.status import StatusBoard
from cjt_actors.status_line import status_line
from cjt_actors.strategies.market_maker import MarketMaker


def test_no_file_means_the_defaults_which_trade_the_market_maker() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.strategies == (DEFAULT_STRATEGY,)
    [spec] = load_strategies(config, source="<defaults>")
    strategy = spec.factory()
    assert isinstance(strategy, MarketMaker)
    assert spec.factory() is not strategy  # a fresh instance per incarnation


def test_the_defaults_round_trip_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "paper.toml"
    path.write_text(dump_defaults(Config))
    assert load_config(path) == Config()


def test_every_strategy_problem_is_reported_with_its_path() -> None:
    config = loads_toml(
        Config,
        """
        [[strategies]]
        name = "a"
        path = "cjt_actors.strategies.market_maker:NoSuchClass"
        [[strategies]]
        name = "b"
        path = "no_such_module_xyz:Thing"
        [[strategies]]
        name = "c"
        path = "nocolon"
        [[strategies]]
        name = "d"
        path = "cjt_actors.config:Config"
        [[strategies]]
        name = "e"
        params = { half_spred_bps = 2 }
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_strategies(config, source="x.toml")
    text = str(caught.value)
    assert "x.toml: strategies[0].path: module 'cjt_actors.strategies.market_maker' has no" in text
    assert "strategies[1].path: cannot import module 'no_such_module_xyz'" in text
    assert "strategies[2].path: expected 'module:Class'" in text
    assert "strategies[3].path: " in text
    assert "'Params' attrs class" in text
    assert "strategies[4].params.half_spred_bps" in text
    assert len(caught.value.problems) == 5


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[market]\nproducts = []", "at least one product"),
        ('[market]\nproducts = ["BTC-USD", "BTC-USD"]', "must not repeat"),
        ("[market]\nbook_depth = 0", "book_depth"),
        ("[market]\nbar_intervals = [0]", "bar_intervals"),
        ("[market]\nmax_book_age = 0", "max_book_age"),
        ("strategies = []", "at least one strategy"),
        ('[[strategies]]\nname = "a"\n[[strategies]]\nname = "a"', "unique"),
        ('[[strategies]]\nname = "a/b"', "without '/'"),
        ('[market]\nsource = "kraken"', "source"),
    ],
)
def test_bad_values_are_named(toml: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        loads_toml(Config, toml)


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_config(tmp_path / "nope.toml")


def test_market_section_validates_directly() -> None:
    with pytest.raises(InvalidSpec):
        MarketSection(products=())
    assert StrategyEntry(name="x").path.endswith(":MarketMaker")


def _product(**overrides: object) -> Product:
    fields: dict[str, object] = {
        "product_id": "BTC-USD",
        "base_increment": Decimal("0.00000001"),
        "quote_increment": Decimal("0.01"),
        "price_increment": Decimal("0.01"),
        "base_min_size": Decimal("0.00000001"),
        "base_max_size": Decimal("3400"),
        "quote_min_size": Decimal("1"),
    }
    fields.update(overrides)
    return Product(**fields)  # type: ignore[arg-type]


def test_product_rules_come_from_the_venue_description() -> None:
    rules = ProductRules.from_product(_product(price_increment=None))
    assert rules.price_increment == Decimal("0.01")  # falls back to quote_increment
    assert rules.base_max_size == Decimal(3400)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"base_increment": None, "price_increment": None, "quote_increment": None},
            "did not say base_increment, price_increment",
        ),
        ({"trading_disabled": True}, "trading is disabled"),
        ({"base_min_size": Decimal(5), "base_max_size": Decimal(1)}, "base_min_size 5 >"),
        ({"base_increment": Decimal(0)}, "base_increment must be a positive"),
        ({"product_id": ""}, "product_id must not be empty"),
    ],
)
def test_unusable_product_descriptions_are_refused(
    overrides: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidSpec, match=problem):
        ProductRules.from_product(_product(**overrides))


async def test_the_status_line_shows_books_risk_orders_and_feed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    board = StatusBoard()
    assert status_line(board, ("BTC-USD",), now=0) == "t=0s | BTC-USD - | restarts 0"
    counters = BookCounters(
        snapshots=1,
        update_frames=0,
        levels_applied=0,
        untrusted_update_frames=0,
        unknown_deletes=0,
        gaps=0,
        reconnects=0,
        stale=0,
        malformed=0,
        crossed=0,
        trades=0,
    )

    def book(product: str, state: TrustState, reason: TrustReason | None) -> BookStatus:
        return BookStatus(
            product_id=product,
            state=state,
            reason=reason,
            sequence=1,
            counters=counters,
            best_bid=Decimal("100.10"),
            best_ask=Decimal("100.20"),
            updated_at=0.0,
            age=0.0,
            as_of=0.0,
        )

    board.publish("book/BTC-USD", book("BTC-USD", TrustState.TRUSTED, None))
    board.publish("book/ETH-USD", book("ETH-USD", TrustState.UNTRUSTED, TrustReason.GAP))
    board.publish("book/SOL-USD", book("SOL-USD", TrustState.EMPTY, None))
    board.publish(
        "executor",
        ExecutionStatistics(
            submitted=7,
            accepted=7,
            rejected=0,
            unknown=0,
            cancels_sent=3,
            fills=2,
            duplicate_fills=0,
            denied=0,
            working=4,
            foreign_reports=0,
        ),
    )
    board.publish(
        "feed",
        FeedStatus(
            state=FeedState.CONNECTED,
            detail="",
            incarnation=0,
            frames=10,
            heartbeats=1,
            reconnects=2,
            gaps=0,
            resyncs=0,
            malformed=0,
            out_of_order=0,
            error_frames=0,
            last_frame_at=0.0,
        ),
    )
    await trio.sleep(1)
    line = status_line(board, ("BTC-USD", "ETH-USD", "SOL-USD"), now=12.4, restarts=1)
    assert line.startswith("t=12s | BTC-USD 100.1/100.2 ok | ETH-USD 100.1/100.2 gap")
    assert "SOL-USD 100.1/100.2 empty" in line
    assert "orders 7 open 4 fills 2" in line
    assert "feed connected reconnects 2" in line
    assert line.endswith("restarts 1")
    assert board.updated_at("feed") == 0.0
    assert board.updated_at("nothing") is None
    assert "feed" in repr(board)
    assert set(board.snapshots()) >= {"feed", "executor"}


def test_the_documented_example_config_loads() -> None:
    """docs/paper.toml is part of the documentation: it must stay a valid config."""
    path = Path(__file__).parents[2] / "docs" / "paper.toml"
    config = load_config(path)
    names = [spec.name for spec in load_strategies(config, source=str(path))]
    assert names == ["mm", "momentum"]
    assert config.risk.max_position == {"BTC-USD": Decimal("0.1")}
