"""bench_orders measures what it says: the orders are made, ended and replayed, and the
figures come from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.performance.bench_orders import OrdersReport, measure, metrics


async def test_the_orders_are_held_and_replayed(tmp_path: Path) -> None:
    report = await measure(40, tmp_path / "orders.sqlite")
    assert report.orders == 40
    # Each ended order holds its record and its intent: hundreds of bytes at least.
    assert report.held_bytes / report.orders > 200
    assert report.replay_seconds > 0


def test_the_figures_are_per_order() -> None:
    reports = [
        OrdersReport(orders=1000, held_bytes=2_000_000, replay_seconds=0.5),
        OrdersReport(orders=1000, held_bytes=1_800_000, replay_seconds=0.25),
    ]
    held, replay = metrics(reports)
    assert held.samples == (2000.0, 1800.0)
    assert held.median == pytest.approx(1900.0)
    assert replay.samples == (2000.0, 4000.0)
    assert replay.better == "higher"
