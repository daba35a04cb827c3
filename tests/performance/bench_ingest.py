"""Ingest: frames -> trusted books, frames/s and level updates/s, against the floor and the SDK.

What is compared (issue 8, "Ingest"): three receivers of the same capture, each replayed over
loopback by :class:`~tests.performance.sender.ReplayServer` as fast as it can (pre-built
frames, its own process, never the bottleneck):

* ``bare``: the floor of the chosen stack. ``trio_websocket.open_websocket_url`` with the
  product's read size (64 KiB) and message limit, the product's three subscribe messages, then
  ``await ws.get_message()`` until every frame has arrived. Nothing is decoded.
* ``sdk``: the official path. coinbase-advanced-py's ``WSClient`` (its asyncio thread and the
  websockets client) with the documented parsing ``WebsocketResponse(json.loads(msg))`` in
  ``on_message``, brought into trio by the cheapest fair bridge: the SDK thread puts parsed
  frames into a ``queue.SimpleQueue`` and wakes trio (``TrioToken.run_sync_soon``) only when
  trio has drained the queue and is waiting, so a busy consumer costs no wake-ups at all
  (``reference/perf-limits.md`` §6: 0.3 µs per message for a batched bridge, against 13 µs
  for one ``run_sync_soon`` per message). Done when trio has taken the last parsed frame.
* ``cjt``: the product. :class:`~cjt_actors.actors.feed.FeedActor` (its real
  :class:`~cjt_actors.exchange.ws.WebSocketClient` over TCP) and
  :class:`~cjt_actors.actors.book.BookActor` under a REST_FOR_ONE supervisor, wired as
  :mod:`cjt_actors.pipeline` wires them (same mailbox sizes and overflow policies, the book's
  view mailboxes for one strategy and risk, its market outbox, the status board and the
  journal mailbox), with nothing downstream reading. Done when the book's status says it has
  handled every ``l2_data`` and trades message of the capture; then every product's book
  must be TRUSTED with exactly the capture's final best bid and ask (computed here with plain
  dicts of ``Decimal``), no gap, no malformed frame, no reconnect, no restart, or the
  benchmark raises.

The timed window: from the moment the sender put the first frame on the wire
(``ConnectionReport.send_started_at``, ``time.perf_counter`` in the sender: on Linux that is
``CLOCK_MONOTONIC``, one clock for every process) to the receiver's end point, read with its
own ``perf_counter``. The same start for all three; it includes the first frame's trip
through loopback (tens of µs against windows of seconds). Not inside the window: process
start, imports, connecting and subscribing, closing.

Each receiver run is a fresh subprocess (``python -m tests.performance.bench_ingest receive
...``), so no receiver pays for another's garbage, imports or heap; one sender process serves
all the runs one connection after another. Within every repeat the three receivers run
round-robin (the order rotates between repeats), so the machine's speed drift hits all three
alike. frames/s is capture frames / window; levels/s is the capture's level updates (levels
in ``l2_data`` *update* events) / window.

``python -m tests.performance.bench_ingest profile [--profiler pyinstrument] [--levels N]`` runs
the ``cjt`` receiver once under cProfile (or pyinstrument) on the capture's first N level
updates and prints where the product's ingest time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import os
import pstats
import queue
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
import orjson
import trio

from .harness import BenchContext, Metric
from .sender import ConnectionReport, ReplayServer, write_frames_file

if TYPE_CHECKING:
    from cjt_actors.products import ProductRules

__all__ = [
    "RECEIVERS",
    "IngestFailed",
    "IngestPlan",
    "Received",
    "plan_ingest",
    "profile_cjt",
    "run",
]

Receiver = Literal["bare", "sdk", "cjt"]
RECEIVERS: Final[tuple[Receiver, ...]] = ("bare", "sdk", "cjt")
Profiler = Literal["cprofile", "pyinstrument"]
PROFILERS: Final[tuple[Profiler, ...]] = ("cprofile", "pyinstrument")

_ROOT: Final = Path(__file__).resolve().parents[2]
_QUICK_LEVELS: Final = 50_000
#: The product's connector reads 64 KiB at a time (``tcp_connector``); the bare floor too.
_READ_SIZE: Final = 64 * 1024
#: ``cjt_actors.exchange.ws.DEFAULT_MAX_MESSAGE_SIZE``, not imported: the bare and SDK
#: receivers must not import the product.
_MAX_MESSAGE: Final = 32 * 2**20
#: How often the cjt run looks at the book's status (each look is a few µs of the same
#: thread). The end time is the status's own timestamp, not the look's, so this bounds the
#: overshoot only when the book's 1 s timer republishes its status in between (rarely).
_POLL_S: Final = 0.005
#: The channels the product subscribes, in its order (``heartbeats`` first, no products).
_CHANNELS: Final = ("heartbeats", "level2", "market_trades")


class IngestFailed(RuntimeError):
    """A receiver did not do the work it was timed for (frames missing, books wrong...)."""


# --------------------------------------------------------------------------------------------
# What the capture must produce


@attrs.frozen(kw_only=True)
class IngestPlan:
    """What every receiver must end with, computed once from the capture (not timed)."""

    products: tuple[str, ...]
    frames: int
    l2_frames: int
    trade_messages: int
    """``TradesReceived`` messages the feed makes (one per snapshot/live run of a frame)."""
    level_updates: int
    best: Mapping[str, tuple[str | None, str | None]]
    """Final best bid and ask price per product, as text (``None``: that side is empty)."""
    subscribe: tuple[str, ...]
    """The product's subscribe messages, for the bare receiver to send."""

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> IngestPlan:
        data = json.loads(text)
        return cls(
            products=tuple(data["products"]),
            frames=data["frames"],
            l2_frames=data["l2_frames"],
            trade_messages=data["trade_messages"],
            level_updates=data["level_updates"],
            best={p: (bid, ask) for p, (bid, ask) in data["best"].items()},
            subscribe=tuple(data["subscribe"]),
        )


def plan_ingest(frames: Iterable[str], products: Sequence[str]) -> IngestPlan:
    """Replay the capture into plain dict books and count what the receivers must see."""
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {
        p: ({}, {}) for p in products
    }
    count = l2_frames = trade_messages = levels = 0
    for raw in frames:
        count += 1
        message = orjson.loads(raw)
        channel = message.get("channel")
        if channel == "l2_data":
            l2_frames += 1
            for event in message["events"]:
                product = event["product_id"]
                if product not in books:
                    raise IngestFailed(f"the capture has l2_data for {product}, not in {products}")
                bids, asks = books[product]
                if event["type"] == "snapshot":
                    bids.clear()
                    asks.clear()
                else:
                    levels += len(event["updates"])
                for level in event["updates"]:
                    side = bids if level["side"] == "bid" else asks
                    price = Decimal(level["price_level"])
                    quantity = Decimal(level["new_quantity"])
                    if quantity:
                        side[price] = quantity
                    else:
                        side.pop(price, None)
        elif channel == "market_trades":
            trade_messages += _trade_runs(message["events"])
    best = {
        p: (_text(max(bids, default=None)), _text(min(asks, default=None)))
        for p, (bids, asks) in books.items()
    }
    subscribe = tuple(
        orjson.dumps(
            {
                "type": "subscribe",
                "product_ids": [] if c == "heartbeats" else list(products),
                "channel": c,
            }
        ).decode()
        for c in _CHANNELS
    )
    return IngestPlan(
        products=tuple(products),
        frames=count,
        l2_frames=l2_frames,
        trade_messages=trade_messages,
        level_updates=levels,
        best=best,
        subscribe=subscribe,
    )


def _trade_runs(events: Sequence[Mapping[str, Any]]) -> int:
    """How many ``TradesReceived`` the feed makes of one frame: runs of snapshot or live
    events, those with trades (``cjt_actors.actors.feed._trade_runs``)."""
    runs: list[list[bool]] = []  # [snapshot, has trades]
    for event in events:
        snapshot = event.get("type") == "snapshot"
        has = bool(event.get("trades"))
        if runs and runs[-1][0] == snapshot:
            runs[-1][1] = runs[-1][1] or has
        else:
            runs.append([snapshot, has])
    return sum(1 for _, has in runs if has)


def _text(price: Decimal | None) -> str | None:
    return None if price is None else str(price)


def _prefix(frames: Sequence[str], level_updates: int) -> list[str]:
    """The capture's first frames holding about ``level_updates`` update levels (the capture
    starts with its snapshots, so any prefix is a valid stream)."""
    kept: list[str] = []
    levels = 0
    for raw in frames:
        if levels >= level_updates:
            break
        kept.append(raw)
        message = orjson.loads(raw)
        if message.get("channel") == "l2_data":
            levels += sum(len(e["updates"]) for e in message["events"] if e["type"] != "snapshot")
    return kept


# --------------------------------------------------------------------------------------------
# The receivers (each runs in its own process)


@attrs.frozen(kw_only=True)
class Received:
    """A receiver's account of one run (printed by the child as JSON)."""

    frames: int
    """Frames the receiver took in (for cjt: frames the feed counted)."""
    first_at: float | None
    """``perf_counter`` when the first frame was in the receiver's hands (None: not seen)."""
    end_at: float
    """``perf_counter`` at the receiver's end point (see the module docstring)."""
    detail: str = ""


async def _receive_bare(url: str, plan: IngestPlan) -> Received:
    import trio_websocket

    async with trio_websocket.open_websocket_url(
        url, max_message_size=_MAX_MESSAGE, receive_buffer_size=_READ_SIZE
    ) as ws:
        for message in plan.subscribe:
            await ws.send_message(message)
        get = ws.get_message
        await get()
        first_at = time.perf_counter()
        for _ in range(plan.frames - 1):
            await get()
        end_at = time.perf_counter()
    return Received(frames=plan.frames, first_at=first_at, end_at=end_at)


class _Bridge:
    """Wakes trio from the SDK's thread, only when trio has drained the queue and waits."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._waiting: trio.Event | None = None
        self.wakeups = 0

    def notify(self) -> None:
        """SDK thread, after every put: the put precedes this read, and trio sets ``_waiting``
        before it re-checks the queue, so one of the two always sees the other."""
        event = self._waiting
        if event is not None:
            self._waiting = None
            self.wakeups += 1
            self._token.run_sync_soon(event.set)

    async def wait(self, inbox: queue.SimpleQueue[object]) -> None:
        event = trio.Event()
        self._waiting = event
        if not inbox.empty():  # a put raced us: do not sleep
            self._waiting = None
            return
        await event.wait()


async def _receive_sdk(url: str, plan: IngestPlan) -> Received:
    from coinbase.websocket import WebsocketResponse, WSClient

    inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
    bridge = _Bridge(trio.lowlevel.current_trio_token())
    first: list[float] = []

    def on_message(message: str) -> None:  # the SDK's thread
        if not first:
            first.append(time.perf_counter())
        inbox.put(WebsocketResponse(json.loads(message)))
        bridge.notify()

    client = WSClient(
        api_key=None,
        api_secret=None,
        base_url=url,
        on_message=on_message,
        max_size=_MAX_MESSAGE,
        retry=False,
    )
    await trio.to_thread.run_sync(client.open)
    try:
        await trio.to_thread.run_sync(client.subscribe, list(plan.products), list(_CHANNELS))
        taken = 0
        last: object = None
        get = inbox.get_nowait
        while taken < plan.frames:
            try:
                last = get()
            except queue.Empty:
                await bridge.wait(inbox)
                continue
            taken += 1
        end_at = time.perf_counter()
        if not isinstance(last, WebsocketResponse):
            raise IngestFailed(f"the SDK path delivered {last!r}, not a WebsocketResponse")
    finally:
        await trio.to_thread.run_sync(client.close)
    client.raise_background_exception()
    return Received(
        frames=taken,
        first_at=first[0] if first else None,
        end_at=end_at,
        detail=f"{bridge.wakeups} trio wake-ups",
    )


async def _receive_cjt(url: str, plan: IngestPlan) -> Received:
    from cjt_actors.actors.book import BookActor, BookActorStatus, BookStatus
    from cjt_actors.actors.feed import FeedActor, FeedMessage, FeedStatus
    from cjt_actors.channels import Mailbox, Overflow
    from cjt_actors.child import ChildSpec
    from cjt_actors.market_messages import BarClosed, FeedStatusChanged, TradesReceived
    from cjt_actors.messages import Event
    from cjt_actors.orderbook import TrustState

    # The pipeline's own sizes and view mailboxes: this is the product's wiring, not a copy.
    from cjt_actors.pipeline import (
        _FEED_STATUS_CAPACITY,
        _FRAMES_CAPACITY,
        _JOURNAL_CAPACITY,
        _MARKET_EVENTS_CAPACITY,
        PipelineSettings,
        _views,
    )
    from cjt_actors.policy import Strategy
    from cjt_actors.status import StatusBoard
    from cjt_actors.supervisor import Supervisor

    defaults = PipelineSettings(products={}, market_url=url, strategies=(), namespace="bench")
    board = StatusBoard()
    journal = Mailbox[Event]("journal", capacity=_JOURNAL_CAPACITY)
    frames = Mailbox[FeedMessage]("feed->book", capacity=_FRAMES_CAPACITY)
    feed_status = Mailbox[FeedStatusChanged](
        "feed->risk", capacity=_FEED_STATUS_CAPACITY, overflow=Overflow.DROP_OLDEST
    )
    market = Mailbox[TradesReceived | BarClosed](
        "market->strategy", capacity=_MARKET_EVENTS_CAPACITY, overflow=Overflow.DROP_OLDEST
    )
    views = tuple(_views(f"book->{name}", len(plan.products)) for name in ("strategy", "risk"))
    rules = {p: _rules(p) for p in plan.products}
    book = BookActor(
        products=rules,
        inbox=frames,
        view_outboxes=views,
        market_outboxes=(market,),
        depth=defaults.book_depth,
        bar_intervals=defaults.bar_intervals,
        max_age=defaults.max_book_age,
        board=board,
        trust_outbox=journal,
    )
    feed = FeedActor(
        products=plan.products,
        rules=rules,
        url=url,
        to_book=frames,
        status_outboxes=(feed_status, journal),
        stale_after=defaults.stale_after,
        rng=random.Random(0),
        board=board,
    )
    supervisor = Supervisor(
        "trading",
        [ChildSpec(name="book", run=book.run), ChildSpec(name="feed", run=feed.run)],
        strategy=Strategy.REST_FOR_ONE,
        intensity=defaults.intensity,
        backoff=defaults.backoff,
        mailboxes=(frames, feed_status, market),
        observer=journal.sender(),
        rng=random.Random(0),
    )
    deadline = trio.current_time() + _timeout_s(plan)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        while True:
            status = board.get("book", BookActorStatus)
            if (
                status is not None
                and status.l2_frames >= plan.l2_frames
                and status.trade_frames >= plan.trade_messages
            ):
                done_at = board.updated_at("book")
                break
            if trio.current_time() > deadline:
                raise IngestFailed(f"cjt: the book did not handle every frame in time: {status}")
            await trio.sleep(_POLL_S)
        nursery.cancel_scope.cancel(reason="every frame was handled")
    assert done_at is not None
    # trio's clock is perf_counter plus a fixed offset: convert the status's timestamp.
    end_at = done_at - (trio.current_time() - time.perf_counter())

    problems: list[str] = []
    restarts = {k: v for k, v in supervisor.restart_counts().items() if v}
    if restarts:
        problems.append(f"restarts {restarts}")
    if status.l2_frames != plan.l2_frames or status.trade_frames != plan.trade_messages:
        problems.append(
            f"the book handled {status.l2_frames} l2 and {status.trade_frames} trades messages, "
            f"the capture has {plan.l2_frames} and {plan.trade_messages}"
        )
    if status.apply_errors or status.unknown_product_events:
        problems.append(f"apply errors: {status.apply_errors} ({status.last_apply_error})")
    feed_seen = board.get("feed", FeedStatus)
    if feed_seen is None:
        raise IngestFailed("cjt: the feed never published its status")
    if feed_seen.gaps or feed_seen.malformed or feed_seen.reconnects or feed_seen.out_of_order:
        problems.append(f"feed: {feed_seen}")
    for product in plan.products:
        book_seen = board.get(f"book/{product}", BookStatus)
        if book_seen is None or book_seen.state is not TrustState.TRUSTED:
            problems.append(f"{product}: not TRUSTED ({book_seen})")
            continue
        want = tuple(None if p is None else Decimal(p) for p in plan.best[product])
        if (book_seen.best_bid, book_seen.best_ask) != want:
            problems.append(
                f"{product}: best bid/ask {book_seen.best_bid}/{book_seen.best_ask}, "
                f"the capture ends at {want[0]}/{want[1]}"
            )
    if problems:
        raise IngestFailed("cjt: " + "; ".join(problems))
    return Received(
        frames=feed_seen.frames,
        first_at=None,
        end_at=end_at,
        detail=f"books TRUSTED at the capture's final best bid/ask; {status.views_published} views",
    )


def _rules(product: str) -> ProductRules:
    """The rules of a product of the capture, from the specs it was generated with."""
    from cjt_actors.products import ProductRules

    from .capture import PRODUCT_SPECS

    spec = PRODUCT_SPECS.get(product)
    if spec is None:
        raise IngestFailed(f"the capture has no product spec for {product}")
    return ProductRules(
        product_id=product,
        base_increment=spec.base_increment,
        price_increment=spec.price_increment,
        base_min_size=spec.base_min_size,
        base_max_size=spec.base_max_size,
        quote_min_size=spec.quote_min_size,
    )


def _timeout_s(plan: IngestPlan) -> float:
    """Generous: a run slower than 2,000 frames/s is broken, not slow."""
    return 60.0 + plan.frames / 2000


#: What each receiver imports, loaded before anything is profiled or timed.
_IMPORTS: Final[Mapping[Receiver, tuple[str, ...]]] = {
    "bare": ("trio", "trio_websocket"),
    "sdk": ("trio", "coinbase.websocket"),
    "cjt": (
        "trio",
        "cjt_actors.actors.book",
        "cjt_actors.actors.feed",
        "cjt_actors.pipeline",
        "tests.performance.capture",
    ),
}


def _receive(kind: Receiver, url: str, plan: IngestPlan) -> Received:
    if kind == "bare":
        return trio.run(_receive_bare, url, plan)
    if kind == "sdk":
        return trio.run(_receive_sdk, url, plan)
    return trio.run(_receive_cjt, url, plan)


# --------------------------------------------------------------------------------------------
# The parent: one sender, a fresh process per receiver run


@attrs.frozen(kw_only=True)
class _Spec:
    url: str
    plan: IngestPlan


def _write_spec(path: Path, url: str, plan: IngestPlan) -> None:
    path.write_text(json.dumps({"url": url, "plan": json.loads(plan.to_json())}))


def _read_spec(path: Path) -> _Spec:
    data = json.loads(path.read_text())
    return _Spec(url=data["url"], plan=IngestPlan.from_json(json.dumps(data["plan"])))


def _run_child(
    kind: Receiver,
    spec_path: Path,
    plan: IngestPlan,
    *,
    profile: tuple[Profiler, Path] | None = None,
) -> Received:
    command = [sys.executable, "-m", "tests.performance.bench_ingest", "receive", kind]
    command.append(str(spec_path))
    if profile is not None:
        command += ["--profiler", profile[0], "--profile-out", str(profile[1])]
    # subprocess.run kills the child on any exception, the timeout included.
    done = subprocess.run(
        command,
        cwd=_ROOT,
        env={**os.environ, "PYTHONPATH": str(_ROOT)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_timeout_s(plan) + 30,
        check=False,
    )
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not results:
        raise IngestFailed(
            f"{kind} receiver exited with {done.returncode}: {done.stderr.strip()[-3000:]}"
        )
    return Received(**json.loads(results[-1].removeprefix("RESULT ")))


def _measure(
    kind: Receiver, spec_path: Path, plan: IngestPlan, server: ReplayServer, served: int
) -> float:
    """One run of one receiver; its window in seconds (checked: every frame, one clock)."""
    received = _run_child(kind, spec_path, plan)
    report: ConnectionReport = server.wait_reports(served + 1, timeout=30.0)[served]
    if report.error is not None or report.frames_sent != plan.frames:
        raise IngestFailed(
            f"{kind}: the sender sent {report.frames_sent} of {plan.frames} frames ({report.error})"
        )
    if received.frames != plan.frames:
        raise IngestFailed(f"{kind}: received {received.frames} of {plan.frames} frames")
    if received.first_at is not None and received.first_at < report.send_started_at:
        raise IngestFailed(
            f"{kind}: first frame at {received.first_at} before the sender started "
            f"({report.send_started_at}): the processes do not share perf_counter's clock"
        )
    seconds = received.end_at - report.send_started_at
    if not seconds > 0:
        raise IngestFailed(f"{kind}: a window of {seconds} s")
    return seconds


def run(ctx: BenchContext) -> list[Metric]:
    if not sys.platform.startswith("linux"):
        raise IngestFailed("the window spans two processes: needs Linux's CLOCK_MONOTONIC")
    capture = ctx.capture
    frames: Sequence[str] = capture.frames
    if ctx.quick and capture.level_updates > 2 * _QUICK_LEVELS:
        frames = _prefix(frames, _QUICK_LEVELS)
    ctx.progress(f"ingest: planning {len(frames):,} frames (reference books)")
    plan = plan_ingest(frames, capture.products)
    if len(frames) == len(capture.frames) and plan.level_updates != capture.level_updates:
        raise IngestFailed(
            f"the capture says {capture.level_updates} level updates, its frames hold "
            f"{plan.level_updates}"
        )
    frames_path = ctx.workdir / "ingest-frames.bin"
    write_frames_file(frames, frames_path)
    seconds: dict[Receiver, list[float]] = {kind: [] for kind in RECEIVERS}
    with ReplayServer(frames_path, workdir=ctx.workdir, close="client", connections=None) as server:
        spec_path = ctx.workdir / "ingest-spec.json"
        _write_spec(spec_path, server.url, plan)
        served = 0
        for repeat in range(ctx.repeats):
            order = RECEIVERS[repeat % 3 :] + RECEIVERS[: repeat % 3]
            for kind in order:
                window = _measure(kind, spec_path, plan, server, served)
                served += 1
                seconds[kind].append(window)
                ctx.progress(
                    f"ingest {repeat + 1}/{ctx.repeats} {kind}: {plan.frames / window:,.0f} "
                    f"frames/s ({window:.2f} s)"
                )
    return _metrics(plan, seconds)


_LABELS: Final[Mapping[Receiver, str]] = {
    "bare": "bare trio-websocket receive",
    "sdk": "coinbase-advanced-py WSClient + WebsocketResponse",
    "cjt": "cjt_actors feed+book",
}
_NOTES: Final[Mapping[Receiver, str]] = {
    "bare": "trio-websocket get_message() only (64 KiB reads), no decoding",
    "sdk": "SDK thread: websockets recv + WebsocketResponse(json.loads); SimpleQueue -> trio",
    "cjt": "FeedActor+BookActor under a supervisor, pipeline mailboxes; books checked TRUSTED",
}


def _metrics(plan: IngestPlan, seconds: Mapping[Receiver, list[float]]) -> list[Metric]:
    common = (
        f"{plan.frames:,} frames, {plan.level_updates:,} level updates, loopback replay; "
        "window from the sender's first byte to the last frame done"
    )
    metrics: list[Metric] = []
    for kind in RECEIVERS:
        for key, unit, amount in (
            ("frames_per_s", "frames/s", plan.frames),
            ("levels_per_s", "levels/s", plan.level_updates),
        ):
            metrics.append(
                Metric(
                    key=f"ingest.{kind}.{key}",
                    label=f"ingest: {_LABELS[kind]}, {unit}",
                    unit=unit,
                    samples=[amount / s for s in seconds[kind]],
                    better="higher",
                    note=f"{_NOTES[kind]}; {common}",
                )
            )
    return metrics


# --------------------------------------------------------------------------------------------
# Profiling the product's path


def profile_cjt(
    frames: Sequence[str],
    products: Sequence[str],
    workdir: Path,
    *,
    profiler: Profiler = "cprofile",
    lines: int = 35,
) -> str:
    """Run the cjt receiver once under a profiler; its report, as text.

    ``cprofile``: the functions with the most own time (``tottime``). It slows every Python
    call, small ones most, so read the ranking, not the absolute times. ``pyinstrument``
    (``pip install pyinstrument``): a sampled call tree, closer to the real proportions.
    Imports happen before the profiler starts; connecting and subscribing are inside.
    """
    plan = plan_ingest(frames, products)
    frames_path = workdir / "profile-frames.bin"
    write_frames_file(frames, frames_path)
    out_path = workdir / f"cjt.{profiler}"
    with ReplayServer(frames_path, workdir=workdir, close="client") as server:
        spec_path = workdir / "profile-spec.json"
        _write_spec(spec_path, server.url, plan)
        _run_child("cjt", spec_path, plan, profile=(profiler, out_path))
    if profiler == "pyinstrument":
        return out_path.read_text()
    out = io.StringIO()
    pstats.Stats(str(out_path), stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


def _profiled_receive(
    kind: Receiver, spec: _Spec, profiler: Profiler | None, out: Path | None
) -> Received:
    """One receiver run in this process, under ``profiler`` if asked (report to ``out``)."""
    if profiler is None or out is None:
        return _receive(kind, spec.url, spec.plan)
    if profiler == "pyinstrument":
        from pyinstrument import Profiler as Sampler

        sampler = Sampler(interval=0.0002, async_mode="disabled")
        sampler.start()
        try:
            return _receive(kind, spec.url, spec.plan)
        finally:
            sampler.stop()
            out.write_text(sampler.output_text(unicode=False, color=False))
    tracer = cProfile.Profile()
    tracer.enable()
    try:
        return _receive(kind, spec.url, spec.plan)
    finally:
        tracer.disable()
        tracer.dump_stats(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.performance.bench_ingest")
    sub = parser.add_subparsers(dest="command", required=True)
    receive = sub.add_parser("receive", help="(internal) one receiver run; prints RESULT json")
    receive.add_argument("kind", choices=RECEIVERS)
    receive.add_argument("spec", type=Path)
    receive.add_argument("--profiler", choices=PROFILERS, default=None)
    receive.add_argument("--profile-out", type=Path, default=None)
    profile = sub.add_parser("profile", help="profile the cjt receiver on the capture")
    profile.add_argument(
        "--levels", type=int, default=200_000, help="replay the capture's first N level updates"
    )
    profile.add_argument("--profiler", choices=PROFILERS, default="cprofile")
    args = parser.parse_args(argv)
    if args.command == "receive":
        spec = _read_spec(args.spec)
        for module in _IMPORTS[args.kind]:
            importlib.import_module(module)
        received = _profiled_receive(args.kind, spec, args.profiler, args.profile_out)
        print("RESULT " + json.dumps(attrs.asdict(received)), flush=True)
        return

    from .capture import load_capture

    capture = load_capture()
    frames = _prefix(capture.frames, args.levels)
    with tempfile.TemporaryDirectory(prefix="ingest-profile-") as scratch:
        print(profile_cjt(frames, capture.products, Path(scratch), profiler=args.profiler))


if __name__ == "__main__":
    main()
