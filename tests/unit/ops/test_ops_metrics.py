"""The metrics of a snapshot, rendered as Prometheus text and parsed back by the reference
parser: names, types, labels and values are what a scraper will see."""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from cjt_actors.ops import OpsSnapshot, ReadinessPolicy
from cjt_actors.ops.metrics import OpsCollector, metric_families
from cjt_actors.order_messages import DenyReason, TradingState

POLICY = ReadinessPolicy()
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class _Fixed:
    def __init__(self, snapshot: OpsSnapshot) -> None:
        self.snapshot_value = snapshot
        self.reads = 0

    def snapshot(self) -> OpsSnapshot:
        self.reads += 1
        return self.snapshot_value

    async def halt(self, detail: str, *, flatten: bool = False) -> None:
        raise AssertionError("not used")

    async def resume(self, detail: str) -> None:
        raise AssertionError("not used")


def exposition(snapshot: OpsSnapshot) -> str:
    class Collector:
        def collect(self) -> Iterable[Metric]:
            return metric_families(snapshot, POLICY)

    return generate_latest(Collector()).decode()


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """(family name -> type, (sample name, labels) -> value)."""
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return types, samples


def at(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_every_family_is_typed_and_named_cjt(snapshot: OpsSnapshot) -> None:
    types, samples = parse(exposition(snapshot))
    assert all(name.startswith("cjt_") for name in types)
    assert types["cjt_feed_reconnects"] == "counter"
    assert types["cjt_mailbox_depth_messages"] == "gauge"
    assert types["cjt_venue_request_seconds"] == "histogram"
    # Counters are exposed with the _total suffix.
    assert at(samples, "cjt_feed_reconnects_total") == 2


def test_messages_and_queue_depths_per_mailbox_and_actor(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    intents = {"mailbox": "strategies->risk", "kind": "queue", "actor": "risk"}
    assert at(samples, "cjt_mailbox_messages_total", **intents) == 40
    assert at(samples, "cjt_mailbox_depth_messages", **intents) == 3
    assert at(samples, "cjt_mailbox_capacity_messages", **intents) == 256
    assert at(samples, "cjt_mailbox_dropped_messages_total", **intents) == 0
    orders = {"mailbox": "orders->mm", "kind": "queue", "actor": "strategy:mm"}
    assert at(samples, "cjt_mailbox_messages_total", **orders) == 25


def test_actors_restarts_state_and_progress(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    assert at(samples, "cjt_actor_restarts_total", actor="feed") == 1
    assert at(samples, "cjt_actor_restarts_total", actor="risk") == 0
    assert at(samples, "cjt_actor_state", actor="risk", state="running") == 1
    assert at(samples, "cjt_actor_state", actor="risk", state="waiting") == 0
    assert at(samples, "cjt_actor_last_status_age_seconds", actor="store") == 1.0


def test_feed_and_books(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    assert at(samples, "cjt_feed_state", state="connected") == 1
    assert at(samples, "cjt_feed_state", state="gap") == 0
    assert at(samples, "cjt_feed_gaps_total") == 1
    assert at(samples, "cjt_feed_frames_total") == 500
    assert at(samples, "cjt_feed_last_frame_age_seconds") == pytest.approx(0.1)
    assert at(samples, "cjt_book_trusted", product="ETH-USD") == 1
    assert at(samples, "cjt_book_state", product="ETH-USD", state="untrusted") == 0
    assert at(samples, "cjt_book_gaps_total", product="BTC-USD") == 2
    assert at(samples, "cjt_book_data_age_seconds", product="BTC-USD") == pytest.approx(0.2)
    assert at(samples, "cjt_book_frames_total", channel="level2") == 300
    assert at(samples, "cjt_bars_closed_total") == 12


def test_trading_state_pnl_positions_and_denials(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    assert at(samples, "cjt_trading_state", state="ACTIVE") == 1
    assert at(samples, "cjt_trading_state", state="HALTED") == 0
    assert at(samples, "cjt_equity_quote") == 12.5
    assert at(samples, "cjt_drawdown_quote") == 7.5
    assert at(samples, "cjt_day_pnl_quote") == -3.25
    assert at(samples, "cjt_position_base", product="BTC-USD") == 0.015
    assert at(samples, "cjt_position_base", product="ETH-USD") == -0.2
    assert at(samples, "cjt_mark_price_quote", product="BTC-USD") == 100100
    assert ("cjt_mark_price_quote", frozenset({("product", "ETH-USD")})) not in samples
    assert at(samples, "cjt_realized_pnl_quote", product="BTC-USD") == 4.5
    assert at(samples, "cjt_risk_denials_total", reason="TRADING_HALTED") == 5
    # Every reason is exposed (0 until it happens), so rate() works from the first denial.
    assert at(samples, "cjt_risk_denials_total", reason="BOOK_STALE") == 0
    reasons = {
        dict(labels)["reason"] for name, labels in samples if name == "cjt_risk_denials_total"
    }
    assert reasons == {r.value for r in DenyReason}
    assert at(samples, "cjt_risk_approved_orders_total") == 17


def test_orders_by_state_and_executor_counters(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    assert at(samples, "cjt_orders", state="OPEN") == 3
    assert at(samples, "cjt_orders", state="FILLED") == 6
    assert at(samples, "cjt_orders_submitted_total") == 17
    assert at(samples, "cjt_fills_total") == 6
    assert at(samples, "cjt_working_orders") == 3
    assert at(samples, "cjt_executor_reconciling") == 0


def test_strategies_and_journal(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    assert at(samples, "cjt_strategy_submits_total", strategy="mm") == 20
    assert at(samples, "cjt_strategy_denials_total", strategy="mm", reason="MAX_POSITION") == 2
    assert at(samples, "cjt_strategy_position_base", strategy="mm", product="BTC-USD") == 0.015
    assert at(samples, "cjt_journal_events_total") == 400


def test_the_latency_histogram_is_cumulative(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    labels = {"venue": "paper", "request": "submit"}
    buckets = {
        le: at(samples, "cjt_venue_request_seconds_bucket", le=le, **labels)
        for le in ("0.01", "0.1", "1.0", "+Inf")
    }
    assert buckets == {"0.01": 1, "0.1": 3, "1.0": 3, "+Inf": 4}
    assert at(samples, "cjt_venue_request_seconds_count", **labels) == 4
    assert at(samples, "cjt_venue_request_seconds_sum", **labels) == pytest.approx(2.105)


def test_tick_to_trade_is_a_histogram_with_no_labels(snapshot: OpsSnapshot) -> None:
    from cjt_actors.latency import TICK_TO_TRADE_BUCKETS, LatencyHistogram

    histogram = LatencyHistogram(TICK_TO_TRADE_BUCKETS)
    for seconds in (0.00003, 0.0002, 0.0002, 0.004):
        histogram.observe(seconds)
    types, samples = parse(exposition(attrs.evolve(snapshot, tick_to_trade=histogram.snapshot())))
    assert types["cjt_tick_to_trade_seconds"] == "histogram"
    assert at(samples, "cjt_tick_to_trade_seconds_bucket", le="5e-05") == 1
    assert at(samples, "cjt_tick_to_trade_seconds_bucket", le="0.00025") == 3
    assert at(samples, "cjt_tick_to_trade_seconds_count") == 4
    assert at(samples, "cjt_tick_to_trade_seconds_sum") == pytest.approx(0.00443)
    _, none = parse(exposition(attrs.evolve(snapshot, tick_to_trade=None)))
    assert not [name for name, _ in none if name.startswith("cjt_tick_to_trade")]


def test_readiness_is_exposed_too(snapshot: OpsSnapshot) -> None:
    _, samples = parse(exposition(snapshot))
    assert at(samples, "cjt_ready") == 1
    assert at(samples, "cjt_readiness_check", check="trading") == 1
    assert snapshot.risk is not None
    halted = attrs.evolve(snapshot, risk=attrs.evolve(snapshot.risk, state=TradingState.HALTED))
    _, samples = parse(exposition(halted))
    assert at(samples, "cjt_ready") == 0
    assert at(samples, "cjt_readiness_check", check="trading") == 0
    assert at(samples, "cjt_trading_state", state="HALTED") == 1


def test_nothing_published_yet_gives_families_without_series(snapshot: OpsSnapshot) -> None:
    bare = attrs.evolve(
        snapshot,
        mailboxes=(),
        risk=None,
        execution=None,
        orders_by_state=(),
        feed=None,
        book=None,
        books=(),
        strategies=(),
        store=None,
        latencies=(),
    )
    types, samples = parse(exposition(bare))
    assert "cjt_equity_quote" in types  # described, but no value to show
    assert {name for name, _ in samples} == {
        "cjt_ready",
        "cjt_readiness_check",
        "cjt_actor_restarts_total",
        "cjt_actor_state",
        "cjt_actor_last_status_age_seconds",
    }


def test_the_collector_reads_the_source_at_every_collect(snapshot: OpsSnapshot) -> None:
    source = _Fixed(snapshot)
    collector = OpsCollector(source, POLICY)
    assert source.reads == 0  # making it reads nothing
    first = generate_latest(collector).decode()
    source.snapshot_value = attrs.evolve(snapshot, now=snapshot.now + 10)
    second = generate_latest(collector).decode()
    assert source.reads == 2
    assert at(parse(first)[1], "cjt_actor_last_status_age_seconds", actor="risk") == 1.0
    assert at(parse(second)[1], "cjt_actor_last_status_age_seconds", actor="risk") == 11.0


def test_ages_are_left_out_until_there_is_data(snapshot: OpsSnapshot) -> None:
    assert snapshot.feed is not None
    feed = attrs.evolve(snapshot.feed, last_frame_at=None)
    book = attrs.evolve(snapshot.books[0], age=None, updated_at=None)
    _, samples = parse(exposition(attrs.evolve(snapshot, feed=feed, books=(book,))))
    assert ("cjt_feed_last_frame_age_seconds", frozenset()) not in samples
    assert at(samples, "cjt_feed_frames_total") == 500
    ages = [labels for name, labels in samples if name == "cjt_book_data_age_seconds"]
    assert ages == []
    assert at(samples, "cjt_book_trusted", product="BTC-USD") == 1


def test_an_actor_that_never_posted_has_no_age(snapshot: OpsSnapshot) -> None:
    actors = (attrs.evolve(snapshot.actors[0], last_update=None), *snapshot.actors[1:])
    _, samples = parse(exposition(attrs.evolve(snapshot, actors=actors)))
    ages = {
        dict(labels)["actor"]
        for name, labels in samples
        if name == "cjt_actor_last_status_age_seconds"
    }
    assert "executor" not in ages
    assert "risk" in ages
    assert at(samples, "cjt_actor_restarts_total", actor="executor") == 0
