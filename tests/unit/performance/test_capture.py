"""The benchmarks' capture is the simulator's stream, deterministic, well-formed, and verified.

A quick self-test of the benchmark input (not of the product), on a tiny capture: the same
arguments give the same bytes (also under another hash seed), the stream opens as a real
subscription does and its sequence numbers have no gap, every ``l2_data`` frame decodes
with the product's own decoder, the counts agree with the frames, and a capture the
simulator no longer reproduces is refused with the way to re-record it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cjt_actors.exchange.stream import Frame, L2Data, MarketTrades, decode_frame
from tests.performance import capture as capture_module
from tests.performance.capture import (
    PRODUCTS,
    Capture,
    CaptureMismatch,
    CaptureNotRecorded,
    generate_frames,
    load_capture,
    record,
)

LEVELS = 2_000
SEED = 3
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Capture, Path, Path]:
    """A tiny capture, recorded into a scratch manifest and cache."""
    where = tmp_path_factory.mktemp("capture")
    manifest, cache = where / "capture.json", where / "cache"
    capture = record(level_updates=LEVELS, seed=SEED, cache_dir=cache, manifest=manifest)
    return capture, manifest, cache


def _decoded(capture: Capture) -> list[Frame]:
    frames = []
    for raw in capture.frames:
        frame = decode_frame(raw, received_at=0.0)
        assert isinstance(frame, Frame), raw[:120]
        frames.append(frame)
    return frames


def test_same_arguments_give_the_same_bytes(recorded: tuple[Capture, Path, Path]) -> None:
    capture, _, _ = recorded
    assert tuple(generate_frames(level_updates=LEVELS, seed=SEED)) == capture.frames
    other = tuple(generate_frames(level_updates=LEVELS, seed=SEED + 1))
    assert other != capture.frames


def test_another_hash_seed_gives_the_same_bytes(recorded: tuple[Capture, Path, Path]) -> None:
    """Set and dict iteration must not leak into the frames (PYTHONHASHSEED differs)."""
    capture, _, _ = recorded
    script = (
        "from tests.performance.capture import generate_frames, _frames_sha256; "
        f"print(_frames_sha256(generate_frames(level_updates={LEVELS}, seed={SEED})))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == capture.sha256


def test_sequence_numbers_run_from_zero_without_a_gap(recorded: tuple[Capture, Path, Path]) -> None:
    capture, _, _ = recorded
    numbers = [frame.sequence_num for frame in _decoded(capture)]
    assert numbers == list(range(len(capture.frames)))


def test_the_stream_opens_as_a_real_subscription(recorded: tuple[Capture, Path, Path]) -> None:
    """Confirmation per subscribe message; every snapshot before any update; heartbeats."""
    capture, _, _ = recorded
    channels = [orjson.loads(raw)["channel"] for raw in capture.frames]
    n = len(PRODUCTS)
    assert channels[: 3 + 2 * n] == (
        ["subscriptions", "subscriptions"]
        + ["l2_data"] * n
        + ["subscriptions"]
        + ["market_trades"] * n
    )
    assert capture.products == PRODUCTS
    snapshotted: set[str] = set()
    for frame in _decoded(capture):
        if isinstance(frame.payload, L2Data):
            for event in frame.payload.events:
                if event.type == "snapshot":
                    assert event.product_id not in snapshotted
                    snapshotted.add(event.product_id)
                else:
                    assert event.product_id in snapshotted
    assert snapshotted == set(PRODUCTS)
    assert "heartbeats" in channels


def test_counts_agree_with_the_frames(recorded: tuple[Capture, Path, Path]) -> None:
    capture, _, _ = recorded
    levels = trades = l2_frames = 0
    updated: set[str] = set()
    for frame in _decoded(capture):
        if isinstance(frame.payload, L2Data):
            l2_frames += 1
            for l2_event in frame.payload.events:
                if l2_event.type == "update":
                    levels += len(l2_event.updates)
                    updated.add(l2_event.product_id)
        elif isinstance(frame.payload, MarketTrades):
            trades += sum(len(e.trades) for e in frame.payload.events if e.type == "update")
    assert LEVELS <= capture.level_updates == levels
    assert capture.trades == trades > 0
    assert capture.l2_frame_count == l2_frames
    assert updated == set(PRODUCTS)  # every product's book moves
    updates = capture.l2_updates()
    assert len(updates) == levels
    assert {product for product, *_ in updates} == set(PRODUCTS)
    snapshots = capture.snapshots()
    assert set(snapshots) == set(PRODUCTS)
    assert all(any(b for b, _, _ in s) and any(not b for b, _, _ in s) for s in snapshots.values())


def test_the_manifest_records_the_capture(recorded: tuple[Capture, Path, Path]) -> None:
    capture, manifest, _ = recorded
    (entry,) = json.loads(manifest.read_text())["captures"]
    assert entry == {
        "target_level_updates": LEVELS,
        "seed": SEED,
        "frames": len(capture.frames),
        "l2_frames": capture.l2_frame_count,
        "level_updates": capture.level_updates,
        "trades": capture.trades,
        "sha256": capture.sha256,
    }


def test_loading_reads_the_cache_without_regenerating(
    recorded: tuple[Capture, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    capture, manifest, cache = recorded

    def refuse(**_: object) -> None:
        raise AssertionError("regenerated although the cache matches")

    monkeypatch.setattr(capture_module, "generate_frames", refuse)
    loaded = load_capture(level_updates=LEVELS, seed=SEED, cache_dir=cache, manifest=manifest)
    assert loaded == capture


def test_a_stale_cache_is_regenerated(recorded: tuple[Capture, Path, Path], tmp_path: Path) -> None:
    capture, manifest, _ = recorded
    (tmp_path / f"capture-{LEVELS}-seed{SEED}.jsonl.gz").write_bytes(b"not gzip")
    loaded = load_capture(level_updates=LEVELS, seed=SEED, cache_dir=tmp_path, manifest=manifest)
    assert loaded.frames == capture.frames
    again = load_capture(level_updates=LEVELS, seed=SEED, cache_dir=tmp_path, manifest=manifest)
    assert again == capture


def test_a_capture_the_simulator_no_longer_makes_is_refused(
    recorded: tuple[Capture, Path, Path], tmp_path: Path
) -> None:
    _, manifest, _ = recorded
    document = json.loads(manifest.read_text())
    document["captures"][0]["sha256"] = "0" * 64
    altered = tmp_path / "capture.json"
    altered.write_text(json.dumps(document))
    with pytest.raises(CaptureMismatch) as raised:
        load_capture(level_updates=LEVELS, seed=SEED, cache_dir=tmp_path, manifest=altered)
    message = str(raised.value)
    assert "no longer reproduces" in message
    assert f"--record --level-updates {LEVELS} --seed {SEED}" in message
    assert not list(tmp_path.glob("*.gz"))  # nothing cached for a refused capture


def test_a_capture_never_recorded_says_how_to_record_it(tmp_path: Path) -> None:
    with pytest.raises(CaptureNotRecorded, match="--record --level-updates 7 --seed 1"):
        load_capture(level_updates=7, seed=1, cache_dir=tmp_path, manifest=tmp_path / "none.json")


@pytest.mark.parametrize("size", [0, -1, True, 1.5])
def test_a_size_that_is_not_a_positive_integer_is_refused(size: object) -> None:
    with pytest.raises(ValueError, match="level_updates"):
        generate_frames(level_updates=size, seed=1)  # type: ignore[arg-type]
