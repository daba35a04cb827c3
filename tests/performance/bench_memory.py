"""Memory: RSS after 1 M and after 10 M frames through the feed and the book (issue 8, item 5).

What runs: the product's own market-data actors, as the trading pipeline wires them
(``cjt_actors/pipeline.py``): a :class:`~cjt_actors.actors.feed.FeedActor` (its
:class:`~cjt_actors.exchange.ws.WebSocketClient`: envelope parsing, sequence tracking,
decoding, the feed's per-item handling) and a :class:`~cjt_actors.actors.book.BookActor`,
as two trio tasks over their BLOCK mailbox of 1024, the book publishing to a conflating view
mailbox drained by a consumer task (as a strategy drains it) and to a DROP_OLDEST market
mailbox of 256 nobody reads (advisory: it stays bounded).

What feeds it: the capture's frames, cycled; each pass is a new connection made by the
feed's own connector (so a fresh sequence, the subscriptions and the snapshots first, and
between passes the client's reconnect, the feed's RECONNECTING and the books' distrust). The
connection is in memory and hands over the frames' text as trio-websocket would, with one
scheduler pass per 64 KiB of frames (a socket read's worth); WebSocket framing itself
(wsproto) is not part of the measured process.

How it is measured: in a fresh process (so RSS is this workload's and nothing else's), after
``points[0]`` and ``points[-1]`` frames: the connection stops handing out frames, waits until
every task is blocked (the book has handled all it was given), runs ``gc.collect()`` and
reads RSS from ``/proc/self/statm``. The capture's frames stay in memory the whole time (the
baseline, reported in the note). One run, not repeats: RSS is not noisy the way time is,
and one 10 M run already takes minutes. The run fails loudly if the books did not handle
every ``l2_data`` frame, refused any level, or were not trusted when measured.

``python -m tests.performance.bench_memory [--quick] [--points N,M] [--tracemalloc]`` runs
it alone; ``--tracemalloc`` (slow) also prints the allocation sites that grew between the
two points.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final, cast

import attrs
import orjson
import trio
import trio.testing
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection

from cjt_actors.actors.book import BookActor, BookActorStatus, BookStatus
from cjt_actors.actors.feed import FeedActor, FeedMessage, FeedStatus
from cjt_actors.channels import ConflatingMailbox, Mailbox, Overflow
from cjt_actors.child import ChildContext
from cjt_actors.market_messages import BarClosed, BookUpdated, TradesReceived
from cjt_actors.orderbook import TrustState
from cjt_actors.policy import Backoff
from cjt_actors.products import ProductRules
from cjt_actors.status import StatusBoard

from .capture import PRODUCT_SPECS, load_capture
from .harness import BenchContext, Metric, rss_mib

__all__ = ["FULL_POINTS", "QUICK_POINTS", "MemoryFailed", "MemoryReport", "run"]

#: Frames after which RSS is read in ``nox -s bench``: 1 M and 2 M. The issue's 10 M takes
#: 10 to 15 minutes through the real feed and book actors (50-90 us a frame here), more than
#: the whole benchmark's budget, so it is its own command:
#: ``python -m tests.performance.bench_memory --points 1000000,10000000`` (docs/performance.md
#: records its result). A smoke run's points fit in ~30 s.
FULL_POINTS: Final = (1_000_000, 2_000_000)
QUICK_POINTS: Final = (100_000, 300_000)

_ROOT: Final = Path(__file__).resolve().parents[2]
#: Bytes of frames handed out between two scheduler passes (one socket read's worth).
_READ_BYTES: Final = 64 * 1024
#: As in the pipeline (``cjt_actors/pipeline.py``).
_FRAMES_CAPACITY: Final = 1024
_MARKET_CAPACITY: Final = 256
#: A measurement pause (gc, tracemalloc) must not read as a dead stream.
_STALE_AFTER: Final = 600.0
#: Seconds allowed per frame before the child is killed (about 4x the per-frame cost seen).
_SECONDS_PER_FRAME: Final = 250e-6
_TRACEMALLOC_LINES: Final = 15
_TRACEMALLOC_DEPTH: Final = 3


class MemoryFailed(Exception):
    """The run did not do the work it was to measure, or the child failed."""


@attrs.frozen(kw_only=True)
class MemoryReport:
    """What the child measured (printed as JSON on its stdout)."""

    points: tuple[int, ...]
    rss_mib: tuple[float, ...]  #: after each point
    seconds: tuple[float, ...]  #: since the first frame, at each point
    baseline_mib: float  #: after loading the frames, before the actors started
    passes: int  #: connections opened (capture passes started)
    l2_frames: int  #: ``l2_data`` frames the book handled
    growth_sites: tuple[str, ...] = ()  #: with tracemalloc: the sites that grew most

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> MemoryReport:
        data = json.loads(text)
        return cls(
            points=tuple(data["points"]),
            rss_mib=tuple(data["rss_mib"]),
            seconds=tuple(data["seconds"]),
            baseline_mib=data["baseline_mib"],
            passes=data["passes"],
            l2_frames=data["l2_frames"],
            growth_sites=tuple(data["growth_sites"]),
        )


# -- the parent ------------------------------------------------------------------------------


def run(ctx: BenchContext) -> list[Metric]:
    """Measure in a fresh child process; see the module docstring."""
    points = QUICK_POINTS if ctx.quick else FULL_POINTS
    frames_file = ctx.workdir / "memory-frames.jsonl"
    _write_frames(ctx.capture.frames, frames_file)
    ctx.progress(f"bench_memory: {points[-1]:,} frames in a child process")
    try:
        report = _run_child(frames_file, ctx.capture.products, points, tracing=False)
    finally:
        frames_file.unlink(missing_ok=True)
    return metrics(report, frames_in_capture=len(ctx.capture.frames))


def metrics(report: MemoryReport, *, frames_in_capture: int) -> list[Metric]:
    """The issue's four memory figures from one child's report."""
    (first, last), (rss_first, rss_last) = report.points, report.rss_mib
    note = (
        f"one fresh process: the capture ({frames_in_capture:,} frames) cycled {report.passes} "
        f"times, each pass a new connection; real FeedActor (WebSocketClient parse+sequence+"
        f"decode) and BookActor tasks over their mailbox, a view consumer; in-memory "
        f"connection (no WebSocket framing); RSS after gc.collect(); baseline with the "
        f"frames loaded {report.baseline_mib:.0f} MiB; {report.seconds[-1]:.0f} s"
    )
    growth = rss_last - rss_first
    millions = (last - first) / 1e6
    return [
        Metric(
            key="memory.rss_first",
            label=f"memory: RSS after {_count(first)} frames",
            unit="MiB",
            samples=(rss_first,),
            better="lower",
            note=note,
        ),
        Metric(
            key="memory.rss_last",
            label=f"memory: RSS after {_count(last)} frames",
            unit="MiB",
            samples=(rss_last,),
            better="lower",
            note=note,
        ),
        Metric(
            key="memory.growth_pct",
            label=f"memory: RSS growth from {_count(first)} to {_count(last)} frames",
            unit="%",
            samples=(100.0 * growth / rss_first,),
            better="lower",
            note=note,
        ),
        Metric(
            key="memory.growth_per_million",
            label="memory: RSS growth per million frames",
            unit="MiB",
            samples=(growth / millions,),
            better="lower",
            note=note,
        ),
    ]


def _count(frames: int) -> str:
    return f"{frames / 1e6:g} M"


def _write_frames(frames: Sequence[str], path: Path) -> None:
    """JSON lines: the server's frames are compact JSON, never with a raw newline."""
    if any("\n" in frame for frame in frames):
        raise MemoryFailed("a capture frame holds a newline; cannot write it as a JSON line")
    path.write_text("\n".join(frames) + "\n", encoding="utf-8")


def _run_child(
    frames_file: Path, products: Sequence[str], points: Sequence[int], *, tracing: bool
) -> MemoryReport:
    """Run the child to completion (its stderr is passed through as progress); always reaped."""
    command = [
        sys.executable,
        "-m",
        "tests.performance.bench_memory",
        "--child",
        str(frames_file),
        "--products",
        ",".join(products),
        "--points",
        ",".join(str(point) for point in points),
    ]
    if tracing:
        command.append("--tracemalloc")
    timeout = 120.0 + points[-1] * _SECONDS_PER_FRAME * (5 if tracing else 1)
    process = subprocess.Popen(command, cwd=_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MemoryFailed(f"the memory child took longer than {timeout:.0f} s") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise MemoryFailed(f"the memory child failed (exit {process.returncode}); see stderr")
    return MemoryReport.from_json(out.strip().splitlines()[-1])


# -- the child -------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class _Replay:
    """The frames, the measurement points, and what the in-memory connections have served."""

    frames: list[str]
    points: list[int]
    inbox: Mailbox[FeedMessage]
    board: StatusBoard
    products: tuple[str, ...]
    tracing: bool
    served: int = 0
    passes: int = 0
    l2_served: int = 0
    started_at: float | None = None
    rss: list[float] = attrs.Factory(list)
    seconds: list[float] = attrs.Factory(list)
    snapshots: list[tracemalloc.Snapshot] = attrs.Factory(list)
    done: trio.Event = attrs.Factory(trio.Event)
    is_l2: list[bool] = attrs.Factory(list)
    #: Frames at the start of a pass before every product's book has its snapshot.
    prologue: int = 0

    def __attrs_post_init__(self) -> None:
        pending = set(self.products)
        for index, frame in enumerate(self.frames):
            message = orjson.loads(frame)
            is_l2 = message["channel"] == "l2_data"
            self.is_l2.append(is_l2)
            if is_l2 and pending:
                pending.difference_update(
                    event["product_id"]
                    for event in message["events"]
                    if event["type"] == "snapshot"
                )
                if not pending:
                    self.prologue = index + 1
        if pending:
            raise MemoryFailed(f"the capture has no snapshot of {sorted(pending)}")

    @asynccontextmanager
    async def connect(
        self, url: str, *, max_message_size: int
    ) -> AsyncIterator[WebSocketConnection]:
        """The feed's connector: every connection is one more pass over the frames."""
        self.passes += 1
        yield cast("WebSocketConnection", _PassConnection(self))

    async def measure(self, position: int) -> None:
        """Called before handing out the next frame, once ``served`` reaches a point."""
        await trio.testing.wait_all_tasks_blocked()  # the book has handled all it was given
        self._check(position)
        gc.collect()
        self.rss.append(rss_mib())
        assert self.started_at is not None
        self.seconds.append(time.perf_counter() - self.started_at)
        if self.tracing:
            self.snapshots.append(tracemalloc.take_snapshot())
        print(
            f"[bench_memory] {self.served:,} frames: RSS {self.rss[-1]:.1f} MiB "
            f"({self.seconds[-1]:.0f} s, {time.process_time():.0f} s CPU, {self.passes} passes)",
            file=sys.stderr,
            flush=True,
        )
        if len(self.rss) == len(self.points):
            self.done.set()

    def _check(self, position: int) -> None:
        book = self.board.get("book", BookActorStatus)
        feed = self.board.get("feed", FeedStatus)
        if book is None or feed is None:
            raise MemoryFailed("the feed or the book published no status")
        if book.l2_frames != self.l2_served:
            raise MemoryFailed(
                f"the book handled {book.l2_frames:,} l2_data frames of {self.l2_served:,} served"
            )
        if book.apply_errors or feed.gaps or feed.malformed or feed.out_of_order:
            raise MemoryFailed(
                f"the stream was not handled cleanly: {book.apply_errors} apply errors "
                f"({book.last_apply_error!r}), {feed.gaps} gaps, {feed.malformed} malformed, "
                f"{feed.out_of_order} out of order"
            )
        if position >= self.prologue:
            for product in self.products:
                status = self.board.get(f"book/{product}", BookStatus)
                if status is None or status.state is not TrustState.TRUSTED:
                    raise MemoryFailed(f"the {product} book is not trusted after its snapshot")


class _PassConnection:
    """One connection: one pass over the frames, then a normal close (code 1000).

    Duck-types the three methods of ``trio_websocket.WebSocketConnection`` the client uses.
    """

    def __init__(self, replay: _Replay) -> None:
        self._replay = replay
        self._next = 0
        self._unread = 0  #: bytes handed out since the last scheduler pass

    async def send_message(self, message: str | bytes) -> None:
        """The client's subscribe messages: accepted, nothing to answer (the frames have
        the server's answers already)."""
        await trio.lowlevel.checkpoint()

    async def get_message(self) -> str:
        replay = self._replay
        if replay.done.is_set():
            await trio.sleep_forever()  # measured: the parent cancels everything
        if replay.points and replay.served == replay.points[len(replay.rss)]:
            await replay.measure(self._next)
            if replay.done.is_set():
                await trio.sleep_forever()
        if self._next == len(replay.frames):
            raise ConnectionClosed(CloseReason(1000, "end of the capture pass"))
        frame = replay.frames[self._next]
        if replay.is_l2[self._next]:
            replay.l2_served += 1
        self._next += 1
        replay.served += 1
        if replay.started_at is None:
            replay.started_at = time.perf_counter()
        self._unread += len(frame)
        if self._unread >= _READ_BYTES:
            self._unread = 0
            await trio.lowlevel.checkpoint()
        return frame

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        await trio.lowlevel.checkpoint()


async def _consume(mailbox: ConflatingMailbox[str, BookUpdated]) -> None:
    """A strategy's share of the work: take each view (built lazily on taking) and drop it."""
    async for _ in mailbox.receiver():
        pass


async def _replay_through_actors(replay: _Replay, rules: dict[str, ProductRules]) -> None:
    views = ConflatingMailbox[str, BookUpdated](
        "book->consumer", key=lambda update: update.view.product_id, max_keys=len(rules)
    )
    market = Mailbox[TradesReceived | BarClosed](
        "book->market", capacity=_MARKET_CAPACITY, overflow=Overflow.DROP_OLDEST
    )
    book = BookActor(
        products=rules,
        inbox=replay.inbox,
        view_outboxes=(views,),
        market_outboxes=(market,),
        board=replay.board,
    )
    feed = FeedActor(
        products=replay.products,
        rules=rules,
        to_book=replay.inbox,
        url="ws://127.0.0.1/",
        connector=replay.connect,
        backoff=Backoff.none(),
        stale_after=_STALE_AFTER,
        board=replay.board,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_consume, views)
        await nursery.start(
            book.run, ChildContext(name="book", path="book", incarnation=1, shutdown_timeout=1.0)
        )
        await nursery.start(
            feed.run, ChildContext(name="feed", path="feed", incarnation=1, shutdown_timeout=1.0)
        )
        await replay.done.wait()
        nursery.cancel_scope.cancel(reason="measured")


def _child(
    frames_file: Path, products: tuple[str, ...], points: list[int], tracing: bool
) -> MemoryReport:
    frames = frames_file.read_text(encoding="utf-8").split("\n")[:-1]
    rules = {
        product: ProductRules(
            product_id=product,
            base_increment=spec.base_increment,
            price_increment=spec.price_increment,
            base_min_size=spec.base_min_size,
            base_max_size=spec.base_max_size,
            quote_min_size=spec.quote_min_size,
        )
        for product, spec in PRODUCT_SPECS.items()
        if product in products
    }
    replay = _Replay(
        frames=frames,
        points=points,
        inbox=Mailbox[FeedMessage]("feed->book", capacity=_FRAMES_CAPACITY),
        board=StatusBoard(),
        products=products,
        tracing=tracing,
    )
    if tracing:
        tracemalloc.start(_TRACEMALLOC_DEPTH)
    gc.collect()
    baseline = rss_mib()
    trio.run(_replay_through_actors, replay, rules)
    if len(replay.rss) != len(points):
        raise MemoryFailed(f"only {len(replay.rss)} of {len(points)} points were measured")
    sites: tuple[str, ...] = ()
    if tracing:
        first, last = replay.snapshots[0], replay.snapshots[-1]
        grown = last.compare_to(first, "traceback")[:_TRACEMALLOC_LINES]
        sites = tuple(
            f"{stat.size_diff / 2**20:+.2f} MiB {stat.count_diff:+,} blocks: "
            + " <- ".join(f"{f.filename}:{f.lineno}" for f in list(stat.traceback)[-3:][::-1])
            for stat in grown
        )
    return MemoryReport(
        points=tuple(points),
        rss_mib=tuple(replay.rss),
        seconds=tuple(replay.seconds),
        baseline_mib=baseline,
        passes=replay.passes,
        l2_frames=replay.l2_served,
        growth_sites=sites,
    )


# -- the command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.performance.bench_memory")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--products", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="the smoke run's sizes")
    parser.add_argument("--points", help="frame counts to measure at, e.g. 200000,2000000")
    parser.add_argument("--level-updates", type=int, default=None, help="which capture")
    parser.add_argument("--tracemalloc", action="store_true", help="also list what grew (slow)")
    args = parser.parse_args(argv)
    default = QUICK_POINTS if args.quick else FULL_POINTS
    points = [int(p) for p in args.points.split(",")] if args.points else list(default)
    if len(points) != 2 or not 0 < points[0] < points[1]:
        parser.error("--points: two increasing frame counts")
    if args.child is not None:
        report = _child(args.child, tuple(args.products.split(",")), points, args.tracemalloc)
        print(report.to_json())
        return 0
    level_updates = args.level_updates or (50_000 if args.quick else 1_000_000)
    capture = load_capture(level_updates=level_updates)
    with tempfile.TemporaryDirectory(prefix="cjt-bench-memory-") as scratch:
        frames_file = Path(scratch) / "frames.jsonl"
        _write_frames(capture.frames, frames_file)
        report = _run_child(frames_file, capture.products, points, tracing=args.tracemalloc)
    for metric in metrics(report, frames_in_capture=len(capture.frames)):
        print(f"{metric.label}: {metric.median:.2f} {metric.unit}")
    print(f"note: {metric.note}")
    for site in report.growth_sites:
        print(f"grew: {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
