"""The benchmark harness: medians, targets as ratios or bounds, the table."""

from __future__ import annotations

import math

import pytest

from tests.performance.harness import (
    Metric,
    Target,
    evaluate,
    markdown_table,
    percentile,
    rss_mib,
)


def metric(key: str, *samples: float, unit: str = "frames/s") -> Metric:
    return Metric(key=key, label=key, unit=unit, samples=samples, better="higher")


def test_a_metric_summarizes_its_repeats_by_the_median_and_the_spread() -> None:
    m = metric("a", 10.0, 30.0, 20.0)
    assert (m.median, m.spread) == (20.0, 1.0)
    with pytest.raises(ValueError, match="no samples"):
        metric("b")
    with pytest.raises(ValueError, match="not finite"):
        metric("c", math.nan)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([7.0], 0.999) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_targets_compare_ratios_of_medians_or_a_bound_and_say_what_is_missing() -> None:
    metrics = {
        m.key: m
        for m in (
            metric("ours", 7.0, 6.0, 8.0),
            metric("floor", 10.0),
            metric("latency", 300.0, unit="us"),
        )
    }
    targets = (
        Target(name="ratio", key="ours", reference="floor", comparison=">=", factor=0.6),
        Target(name="bound", key="latency", comparison="<=", limit=250.0),
        Target(name="absent", key="nothing", comparison="<=", limit=1.0),
    )
    ratio, bound, absent = evaluate(metrics, targets)
    assert (ratio.measured, ratio.met, ratio.verdict) == (0.7, True, "met")
    assert (bound.measured, bound.met, bound.verdict) == (300.0, False, "MISSED")
    assert (absent.measured, absent.verdict) == (None, "not measured")
    table = markdown_table(list(metrics.values()), [ratio, bound, absent])
    assert "| ratio | 0.70x | >= 0.6x | met |" in table
    assert "| bound | 300 | <= 250 us | MISSED |" in table
    assert "| absent | - |" in table


def test_rss_is_a_plausible_number_of_mib() -> None:
    assert 1.0 < rss_mib() < 64 * 1024
