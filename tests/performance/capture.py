"""The recorded input of the benchmarks: the simulator's market-data stream, as one client saw it.

What a capture is: every text frame the simulator's WebSocket sends to one connection that
subscribes to ``heartbeats``, ``level2`` and ``market_trades`` for :data:`PRODUCTS`, in
order, exactly as the server writes them (the full envelope: ``channel``, ``client_id``,
``timestamp``, ``sequence_num``, ``events``). It opens as a real subscription does
(``cjt_actors/sim/websocket.py``, one subscribe message per channel, ``heartbeats`` first, as
the product's client sends them): a ``subscriptions`` frame after each subscribe, then the
``l2_data`` snapshot of every product, then the ``market_trades`` snapshot of every product;
then ``l2_data`` updates, ``market_trades`` updates and a heartbeat every second, until at
least the requested number of level updates. ``sequence_num`` runs from 0 without a gap.

How it is made: a :class:`~cjt_actors.sim.simulator.Simulator` in virtual time (trio's
``MockClock``, a fixed ``start_epoch`` and seed), its synthetic market tuned busier than the
default (:data:`MARKET`), stepped :data:`STEP` seconds at a time; after each step the
connection's queue is drained. The market runs :data:`WARM_UP` seconds before the client
subscribes, so the snapshots show a book that has traded, as a real one does. Same
arguments, same frames, byte for byte.

How it ships: regenerated, not stored in git. ``tests/performance/capture.json`` (committed)
records, for every ``(level_updates, seed)`` recorded, the counts and the SHA-256 of the
frames; :func:`load_capture` regenerates the capture once, caches it as gzip JSON lines
(``.cache/bench``), and checks the SHA-256 on every load. If the simulator no longer
reproduces the recorded capture, it refuses (:class:`CaptureMismatch`) instead of silently
benchmarking different input; re-record deliberately with
``python -m tests.performance.capture --record``.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import attrs
import orjson
import trio
import trio.testing

from cjt_actors.sim.market import MarketParams
from cjt_actors.sim.products import DEFAULT_PRODUCTS, ProductSpec
from cjt_actors.sim.simulator import Simulator, SimulatorConfig, _heartbeat_time
from cjt_actors.sim.streams import Connection

__all__ = [
    "DEFAULT_LEVEL_UPDATES",
    "DEFAULT_SEED",
    "MANIFEST",
    "MARKET",
    "PRODUCTS",
    "PRODUCT_SPECS",
    "Capture",
    "CaptureError",
    "CaptureMismatch",
    "CaptureNotRecorded",
    "describe",
    "generate_frames",
    "load_capture",
    "main",
    "record",
]

DEFAULT_LEVEL_UPDATES: Final = 1_000_000
DEFAULT_SEED: Final = 8
#: 2024-06-01T00:00:00Z: frame timestamps are virtual, so any fixed epoch will do.
START_EPOCH: Final = 1_717_200_000.0
#: Seconds of virtual time per market step (the server's ``tick``): 20 steps a second.
STEP: Final = 0.05
#: Steps between heartbeats: one a second, as the real service sends them.
STEPS_PER_HEARTBEAT: Final = 20
#: Seconds the market runs before the client subscribes.
WARM_UP: Final = 1.0

_REPO: Final = Path(__file__).resolve().parents[2]
MANIFEST: Final = Path(__file__).with_name("capture.json")
DEFAULT_CACHE_DIR: Final = _REPO / ".cache" / "bench"


def _spot(base: str, base_max: str) -> ProductSpec:
    """A USD spot product with the same increments as the simulator's defaults
    (``cjt_actors.sim.products._spot``)."""
    return ProductSpec(
        product_id=f"{base}-USD",
        base_currency=base,
        quote_currency="USD",
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        price_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
        base_max_size=Decimal(base_max),
        quote_min_size=Decimal("1"),
        quote_max_size=Decimal("150000000"),
    )


#: The products of the capture, in the order the client subscribes them, with their rules
#: (use these, not the simulator's ``DEFAULT_PRODUCTS``: SOL-USD and LTC-USD are added here).
#: Their mids start at 60000, 3000, 100 and 100 (the simulator's configuration has no
#: reference prices, so products it does not know start at 100).
PRODUCT_SPECS: Final[Mapping[str, ProductSpec]] = MappingProxyType(
    {
        "BTC-USD": DEFAULT_PRODUCTS["BTC-USD"],
        "ETH-USD": DEFAULT_PRODUCTS["ETH-USD"],
        "SOL-USD": _spot("SOL", base_max="500000"),
        "LTC-USD": _spot("LTC", base_max="250000"),
    }
)
PRODUCTS: Final = tuple(PRODUCT_SPECS)

#: A busy market, and cheap to simulate per level update: the mid moves ten times as much
#: as the default (re-quoting many levels per step in one cancel), takers trade five times
#: as often; the maker keeps its default 40 levels a side and 3 resizes per step.
MARKET: Final = MarketParams(volatility_bps=10.0, taker_rate=10.0)


class CaptureError(Exception):
    """The capture asked for cannot be provided as recorded."""


class CaptureNotRecorded(CaptureError):
    """No entry in the manifest for these arguments."""


class CaptureMismatch(CaptureError):
    """The simulator no longer produces the frames the manifest recorded."""


@attrs.frozen(kw_only=True)
class Capture:
    """A recorded stream (see the module docstring).

    Attributes:
        frames: every frame as the server sent it (JSON text), in order.
        products: the subscribed products, in subscription order.
        level_updates: levels in ``l2_data`` *update* events (snapshot levels not counted).
        trades: trades in ``market_trades`` *update* events (snapshot trades, which repeat
            trades from before the subscription, not counted).
        sha256: of the frames, each followed by a newline (= of the uncompressed cache file).
    """

    frames: tuple[str, ...] = attrs.field(repr=lambda frames: f"<{len(frames)} frames>")
    products: tuple[str, ...]
    level_updates: int
    trades: int
    sha256: str

    @functools.cached_property
    def l2_frame_count(self) -> int:
        """How many frames are on the ``l2_data`` channel (snapshots included)."""
        return sum(1 for message in _messages(self.frames) if message["channel"] == "l2_data")

    def l2_updates(self) -> list[tuple[str, bool, str, str]]:
        """``(product_id, is_bid, price_level, new_quantity)`` of every level of every
        ``l2_data`` update event, in order, texts as sent (snapshot levels excluded)."""
        levels: list[tuple[str, bool, str, str]] = []
        append = levels.append
        for message in _messages(self.frames):
            if message["channel"] != "l2_data":
                continue
            for event in message["events"]:
                if event["type"] != "update":
                    continue
                product = event["product_id"]
                for level in event["updates"]:
                    append(
                        (
                            product,
                            level["side"] == "bid",
                            level["price_level"],
                            level["new_quantity"],
                        )
                    )
        return levels

    def snapshots(self) -> dict[str, list[tuple[bool, str, str]]]:
        """Each product's ``l2_data`` snapshot: ``(is_bid, price_level, new_quantity)``, as
        sent (bids best first, then asks best first). Reads only the opening frames."""
        found: dict[str, list[tuple[bool, str, str]]] = {}
        for message in _messages(self.frames):
            if len(found) == len(self.products):
                break
            if message["channel"] != "l2_data":
                continue
            for event in message["events"]:
                if event["type"] == "snapshot":
                    found[event["product_id"]] = [
                        (level["side"] == "bid", level["price_level"], level["new_quantity"])
                        for level in event["updates"]
                    ]
        return found


def _messages(frames: Iterable[str]) -> Iterator[dict[str, Any]]:
    for frame in frames:
        message: dict[str, Any] = orjson.loads(frame)
        yield message


# -- generating ---------------------------------------------------------------------------------


def generate_frames(*, level_updates: int, seed: int) -> Iterator[str]:
    """The frames of a capture of at least ``level_updates`` update levels (see the module
    docstring): it ends with the frame that reaches the count.

    The simulator needs trio's clock, so the whole capture is generated inside one
    ``trio.run`` before this returns: 80-100 s and 0.8 GB at peak (the simulator keeps
    every order's history) for a million level updates on the project's machine type.
    """
    if isinstance(level_updates, bool) or not isinstance(level_updates, int) or level_updates < 1:
        raise ValueError(f"level_updates: must be an integer >= 1, got {level_updates!r}")
    frames: list[str] = []
    clock = trio.testing.MockClock()
    trio.run(_record, frames, level_updates, seed, clock, clock=clock)
    return iter(frames)


async def _record(
    frames: list[str], level_updates: int, seed: int, clock: trio.testing.MockClock
) -> None:
    sim = Simulator(
        SimulatorConfig(
            products=tuple(PRODUCT_SPECS.values()),
            seed=seed,
            auth="none",
            tick=STEP,
            start_epoch=START_EPOCH,
            market=MARKET,
        )
    )
    sim.open()
    for _ in range(round(WARM_UP / STEP)):
        clock.jump(STEP)
        sim.step(STEP)  # nobody is connected: nothing is published
    connection = sim.hub.open("market")
    _subscribe(sim, connection, "heartbeats", ())
    _subscribe(sim, connection, "level2", PRODUCTS)
    _subscribe(sim, connection, "market_trades", PRODUCTS)
    frames.extend(_drain(connection))
    counted = 0
    steps = 0
    while True:
        clock.jump(STEP)
        sim.step(STEP)
        steps += 1
        if steps % STEPS_PER_HEARTBEAT == 0:
            # As the server's heartbeat loop does (its text function is private there).
            sim.hub.heartbeat_all(_heartbeat_time(sim.epoch(), trio.current_time()))
        for frame in _drain(connection):
            frames.append(frame)
            counted += _update_levels(frame)
            if counted >= level_updates:
                return


def _subscribe(
    sim: Simulator, connection: Connection, channel: str, products: Sequence[str]
) -> None:
    """What the server does for one accepted subscribe message with ``auth="none"``
    (``cjt_actors.sim.websocket._handle``): confirm, then send each new product's snapshot."""
    current = connection.subscriptions.setdefault(channel, set())
    added = [product for product in products if product not in current]
    current.update(products)
    connection.subscriptions_frame()
    for product in added:
        if channel == "level2":
            connection.frame("l2_data", [sim.l2_snapshot(product)])
        elif channel == "market_trades":
            connection.frame("market_trades", [sim.trades_snapshot(product)])


def _drain(connection: Connection) -> list[str]:
    """Everything queued for the connection (text frames only: no fault is ever set)."""
    if connection.closed:
        raise CaptureError("the simulator closed the capture's connection (queue overflow?)")
    drained: list[str] = []
    while True:
        try:
            item = connection.outgoing.receive_nowait()
        except trio.WouldBlock:
            return drained
        if not isinstance(item, str):
            raise CaptureError(f"unexpected control item in the connection's queue: {item!r}")
        drained.append(item)


def _update_levels(frame: str) -> int:
    message = orjson.loads(frame)
    if message["channel"] != "l2_data":
        return 0
    return sum(len(e["updates"]) for e in message["events"] if e["type"] == "update")


def _frames_sha256(frames: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _summarize(frames: tuple[str, ...]) -> Capture:
    """Count a freshly generated capture's level updates and trades (parses every frame)."""
    level_updates = trades = 0
    for message in _messages(frames):
        channel = message["channel"]
        if channel == "l2_data":
            level_updates += sum(
                len(e["updates"]) for e in message["events"] if e["type"] == "update"
            )
        elif channel == "market_trades":
            trades += sum(len(e["trades"]) for e in message["events"] if e["type"] == "update")
    return Capture(
        frames=frames,
        products=PRODUCTS,
        level_updates=level_updates,
        trades=trades,
        sha256=_frames_sha256(frames),
    )


# -- the manifest and the cache ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Entry:
    """One recorded capture in the manifest."""

    target_level_updates: int  #: the ``level_updates`` argument
    seed: int
    frames: int
    l2_frames: int
    level_updates: int  #: what the capture holds (>= the target: it ends with a whole frame)
    trades: int
    sha256: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.target_level_updates, self.seed)


def _read_manifest(path: Path) -> dict[tuple[int, int], _Entry]:
    if not path.exists():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    entries = (_Entry(**entry) for entry in document["captures"])
    return {entry.key: entry for entry in entries}


def _write_manifest(path: Path, entries: Iterable[_Entry]) -> None:
    document = {
        "about": (
            "Captures the benchmarks replay (tests/performance/capture.py): regenerated from "
            "the simulator and checked against these SHA-256s. Re-record with "
            "`python -m tests.performance.capture --record --level-updates N --seed S`."
        ),
        "captures": [attrs.asdict(entry) for entry in sorted(entries, key=lambda e: e.key)],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _cache_path(cache_dir: Path, level_updates: int, seed: int) -> Path:
    return cache_dir / f"capture-{level_updates}-seed{seed}.jsonl.gz"


def _write_cache(path: Path, frames: Sequence[str]) -> None:
    """gzip JSON lines, byte-reproducible (no timestamp or name in the gzip header),
    written to a temporary file and renamed, so a crash never leaves half a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as out,
    ):
        for frame in frames:
            out.write(frame.encode())
            out.write(b"\n")
    os.replace(partial, path)


def _read_cache(path: Path, sha256: str) -> tuple[str, ...] | None:
    """The cached frames if the file exists and matches ``sha256``; else ``None``."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError):  # missing, unreadable, or not gzip
        return None
    if hashlib.sha256(data).hexdigest() != sha256 or not data.endswith(b"\n"):
        return None
    return tuple(data.decode().split("\n")[:-1])


def _rerecord_hint(level_updates: int, seed: int) -> str:
    return (
        f"python -m tests.performance.capture --record --level-updates {level_updates} "
        f"--seed {seed}"
    )


def load_capture(
    *,
    level_updates: int = DEFAULT_LEVEL_UPDATES,
    seed: int = DEFAULT_SEED,
    cache_dir: Path | None = None,
    manifest: Path = MANIFEST,
) -> Capture:
    """The recorded capture for ``(level_updates, seed)``, from the cache or regenerated.

    Raises:
        CaptureNotRecorded: the manifest has no entry for these arguments.
        CaptureMismatch: the simulator no longer reproduces the recorded frames (the
            message says how to re-record, which is a deliberate change of the benchmarks'
            input).
    """
    entry = _read_manifest(manifest).get((level_updates, seed))
    if entry is None:
        raise CaptureNotRecorded(
            f"no capture of level_updates={level_updates}, seed={seed} in {manifest}; "
            f"record one with: {_rerecord_hint(level_updates, seed)}"
        )
    path = _cache_path(cache_dir or DEFAULT_CACHE_DIR, level_updates, seed)
    frames = _read_cache(path, entry.sha256)
    if frames is None:
        capture = _summarize(tuple(generate_frames(level_updates=level_updates, seed=seed)))
        found = attrs.evolve(
            entry,
            frames=len(capture.frames),
            l2_frames=capture.l2_frame_count,
            level_updates=capture.level_updates,
            trades=capture.trades,
            sha256=capture.sha256,
        )
        if found != entry:
            raise CaptureMismatch(
                f"the simulator no longer reproduces the recorded capture (level_updates="
                f"{level_updates}, seed={seed}): recorded {_describe(entry)}, generated "
                f"{_describe(found)}. If the change of the simulator is intended, re-record "
                f"with: {_rerecord_hint(level_updates, seed)} (and commit {manifest.name})"
            )
        _write_cache(path, capture.frames)
        return capture
    return Capture(
        frames=frames,
        products=PRODUCTS,
        level_updates=entry.level_updates,
        trades=entry.trades,
        sha256=entry.sha256,
    )


def _describe(entry: _Entry) -> str:
    return (
        f"{entry.frames} frames, {entry.level_updates} level updates, {entry.trades} trades, "
        f"sha256 {entry.sha256[:16]}"
    )


def record(
    *, level_updates: int, seed: int, cache_dir: Path | None = None, manifest: Path = MANIFEST
) -> Capture:
    """Generate the capture, write it to the cache, and (re)write its manifest entry."""
    capture = _summarize(tuple(generate_frames(level_updates=level_updates, seed=seed)))
    _write_cache(_cache_path(cache_dir or DEFAULT_CACHE_DIR, level_updates, seed), capture.frames)
    entries = _read_manifest(manifest)
    entry = _Entry(
        target_level_updates=level_updates,
        seed=seed,
        frames=len(capture.frames),
        l2_frames=capture.l2_frame_count,
        level_updates=capture.level_updates,
        trades=capture.trades,
        sha256=capture.sha256,
    )
    entries[entry.key] = entry
    _write_manifest(manifest, entries.values())
    return capture


# -- the command line ------------------------------------------------------------------------------


def describe(capture: Capture) -> str:
    """Counts, levels per update frame and bytes per frame, for people (parses every frame)."""
    levels: list[int] = []
    l2_bytes: list[int] = []
    channels: dict[str, int] = {}
    for frame, message in zip(capture.frames, _messages(capture.frames), strict=True):
        channel = message["channel"]
        channels[channel] = channels.get(channel, 0) + 1
        updates = [e for e in message["events"] if e.get("type") == "update"]
        if channel == "l2_data" and updates:
            levels.append(sum(len(e["updates"]) for e in updates))
            l2_bytes.append(len(frame.encode()))
    cuts = statistics.quantiles(levels, n=20) if len(levels) > 1 else [float(levels[0])] * 19
    total = sum(len(frame.encode()) + 1 for frame in capture.frames)
    return "\n".join(
        [
            f"frames: {len(capture.frames):,} ({', '.join(f'{k} {v:,}' for k, v in channels.items())})",
            f"products: {', '.join(capture.products)}",
            f"level updates: {capture.level_updates:,}; trades: {capture.trades:,}",
            f"levels per l2 update frame: mean {statistics.fmean(levels):.1f}, p5 {cuts[0]:g}, "
            f"p50 {statistics.median(levels):g}, p95 {cuts[-1]:g}, max {max(levels)}",
            f"bytes per l2 update frame: mean {statistics.fmean(l2_bytes):.0f}, "
            f"max {max(l2_bytes):,}; all frames {total / 2**20:.1f} MiB",
            f"sha256: {capture.sha256}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.performance.capture",
        description="Load (checking the manifest) or record the benchmarks' capture.",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"generate and write the manifest entry ({MANIFEST.name}) and the cache",
    )
    parser.add_argument("--level-updates", type=int, default=DEFAULT_LEVEL_UPDATES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.record:
            capture = record(
                level_updates=args.level_updates, seed=args.seed, cache_dir=args.cache_dir
            )
        else:
            capture = load_capture(
                level_updates=args.level_updates, seed=args.seed, cache_dir=args.cache_dir
            )
    except CaptureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"{'recorded' if args.record else 'loaded'} in {elapsed:.1f} s")
    print(describe(capture))
    return 0


if __name__ == "__main__":
    sys.exit(main())
