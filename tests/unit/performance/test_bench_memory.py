"""The memory benchmark's child really drives the feed and the book, and its figures add up.

A quick self-test of the benchmark tool (not of the product): on a tiny capture cycled a few
times, every ``l2_data`` frame served reaches the book, each pass is a new connection, RSS is
read at both points; the four metrics follow from the report; a capture without a product's
snapshot is refused rather than measured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.performance.bench_memory import MemoryFailed, MemoryReport, _child, metrics
from tests.performance.capture import PRODUCTS, generate_frames


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    frames = list(generate_frames(level_updates=1_500, seed=2))
    path = tmp_path_factory.mktemp("memory") / "frames.jsonl"
    path.write_text("\n".join(frames) + "\n", encoding="utf-8")
    return path, len(frames)


def test_the_child_drives_every_frame_through_the_actors(frames_file: tuple[Path, int]) -> None:
    path, count = frames_file
    points = [count // 2, 3 * count + 7]  # mid-pass, and into the fourth pass
    report = _child(path, PRODUCTS, points, tracing=False)
    assert report.points == tuple(points)
    assert report.passes == 4
    assert len(report.rss_mib) == 2
    assert all(rss > 0 for rss in report.rss_mib)
    assert report.seconds[0] <= report.seconds[1]
    assert report.l2_frames > 0  # the child itself checked the book saw every one of them


def test_the_metrics_follow_from_the_report() -> None:
    report = MemoryReport(
        points=(1_000_000, 10_000_000),
        rss_mib=(200.0, 209.0),
        seconds=(10.0, 100.0),
        baseline_mib=150.0,
        passes=111,
        l2_frames=7_000_000,
    )
    by_key = {m.key: m for m in metrics(report, frames_in_capture=90_000)}
    assert by_key["memory.rss_first"].median == 200.0
    assert by_key["memory.rss_last"].median == 209.0
    assert by_key["memory.growth_pct"].median == pytest.approx(4.5)
    assert by_key["memory.growth_per_million"].median == pytest.approx(1.0)
    assert "1 M" in by_key["memory.rss_first"].label
    assert "10 M" in by_key["memory.rss_last"].label


def test_a_capture_without_every_snapshot_is_refused(tmp_path: Path) -> None:
    frames = list(generate_frames(level_updates=200, seed=2))
    path = tmp_path / "frames.jsonl"
    kept = [f for f in frames if '"type":"snapshot","product_id":"LTC-USD"' not in f]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    with pytest.raises(MemoryFailed, match="no snapshot of \\['LTC-USD'\\]"):
        _child(path, PRODUCTS, [10, 20], tracing=False)
