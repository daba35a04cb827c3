"""Tick-to-trade latency: from a frame's arrival to the order request leaving the executor.

Three systems, each fed by the same replay sender (:class:`~.sender.ReplayServer`, its own
process, over loopback) in the same mode, interleaved round-robin within every repeat:

* **floor**: a bare 5-stage trio pipeline with trivial work. Stage 1 receives with
  trio-websocket ``get_message()`` (64 KiB reads, as the product's connector) and stamps
  the arrival with ``trio.current_time()``; four memory-channel hops follow (buffers
  :data:`FLOOR_BUFFERS`, the sizes of the product's feed->book, book->strategy (its
  market-events edge; views are conflated), strategy->risk and risk->executor edges in
  ``cjt_actors/pipeline.py``), each stage passing the stamp on; stage 5 records
  ``now - arrival``. No decoding, no book, no journal: what five trio actors cost at least.
* **paper**: the real pipeline as ``cjt paper`` builds it (:mod:`.latency_stack`): the
  paper venue, the production SQLite journal in ``ctx.workdir``, and a probe strategy that
  bids far from the touch on every new book view (replacing its previous bid). Latency is
  ``venue.submit``'s entry minus the order's ``trigger_at`` (the frame's ``received_at``).
* **live**: the same against the simulator in a process of its own, through
  ``CoinbaseVenue`` and the REST client (rate limits raised on both sides, see
  :data:`~.latency_stack.BENCH_REST_RATE`, so no order waits for a token).

Modes: **paced** (one frame every :data:`PACED_US`; the pipeline is idle when the next
frame comes) and **burst** (:data:`BURST_FRAMES` frames back to back every
:data:`BURST_US`). Only ``l2_data`` update frames are measured (trades and heartbeat frames
are replayed too, in their recorded order, and cost what they cost); the first
:data:`WARMUP_S` seconds after the first snapshot are not. In bursts the product conflates
book views, so it places fewer orders than the floor forwards frames: each sample is an
order, from the arrival of the frame whose view prompted it. A run fails (no figure) if
the feed missed a frame or reconnected, if an order was denied, rejected or filled, if an
order the probe asked for never reached the venue, or if the pipeline placed fewer than
90 % of the orders a pipeline keeping up would (one per measured frame paced, one per
burst in bursts).

Each metric's samples are per-repeat percentiles (nearest rank) over the measured orders
of that repeat (see :data:`RUN_S` for how many). The breakdown metrics (paper and live)
cut the same orders into consecutive segments, which add up to the tick-to-trade: frame
arrival -> the strategy's callback (feed, book, two hops) -> the executor taking the order
from its mailbox (strategy -> risk -> executor) -> the write-ahead commit starting -> the
commit (the wait for the journal's writer thread included) -> ``venue.submit``. The live
stack's second end point, ``transport``, is when httpx hands the create request to its
transport (after the REST client's limiter, JWT and request building).

The journal is on the disk of ``ctx.workdir`` with the production settings
(``synchronous=FULL``: an fsync per commit), so the write-ahead segment is mostly that
disk's fsync latency, which other processes writing to the same disk make noisy: read it
from the ``journal`` breakdown metrics, beside the pipeline's own segments.

``python -m tests.performance.bench_latency --profile`` runs the paper stack, paced, under
cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import math
import pstats
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import orjson
import trio
import trio_websocket

from .harness import BenchContext, Metric, percentile
from .latency_stack import (
    LiveEndpoints,
    OrderStamps,
    SimulatorProcess,
    StackRun,
    run_stack,
)
from .sender import ReplayServer, write_frames_file

__all__ = [
    "FLOOR_BUFFERS",
    "Mode",
    "Replay",
    "floor_latencies",
    "percentiles_us",
    "run",
    "select_replay",
]

#: Buffers of the floor's four hops: pipeline.py's _FRAMES_CAPACITY (feed->book),
#: _MARKET_EVENTS_CAPACITY (book->strategy; its views edge is a conflating mailbox),
#: _INTENTS_CAPACITY (strategy->risk), _COMMANDS_CAPACITY (risk->executor).
FLOOR_BUFFERS: Final = (1024, 256, 256, 256)
#: Paced: one frame every 40 ms. Each probe order costs the pipeline about five serial
#: journal commits (the write-ahead one, then OPEN, and CANCEL_PENDING, CANCELLED for the
#: bid it replaces), 2-5 ms each with an fsync on this machine type's disk, so at 2 ms a
#: frame would find the executor still writing the previous ones and the figures would be
#: queueing. 40 ms leaves the pipeline idle when the next frame comes (a run fails if the
#: pipeline fell behind); lower it once an order costs fewer commits.
PACED_US: Final = 40_000.0
#: Bursts: 10 frames back to back every 400 ms (about 8 orders per burst, whose commits
#: are done before the next burst).
BURST_US: Final = 400_000.0
BURST_FRAMES: Final = 10
#: Seconds of replay per run (each system, each mode, each repeat): the module's budget
#: (about 150 s in full mode with 3 repeats) over 18 runs, less their start and stop.
#: With the intervals above that is 160 frames, of which about 110 are measured l2_data
#: updates: about 110 samples per run, so p99.9 is a repeat's largest sample, p99 its second.
RUN_S: Final = 6.5
QUICK_RUN_S: Final = 2.0
#: Not measured at the start of each run: first calls, cold caches.
WARMUP_S: Final = 0.25
#: The sender waits this long after the subscriptions before its first frame: the
#: product's strategy starts after the feed, and the live venue's user channel connects.
GRACE_S: Final = 0.5
#: The subscribe messages a Coinbase client sends (level2, market_trades, heartbeats): the
#: sender starts after as many; the floor sends the same.
SUBSCRIPTIONS: Final = 3
PERCENTILES: Final = (("p50", 0.50), ("p99", 0.99), ("p999", 0.999))

System = Literal["floor", "paper", "live"]
SYSTEMS: Final[tuple[System, ...]] = ("floor", "paper", "live")


@attrs.frozen(kw_only=True)
class Mode:
    """How the sender paces the replay: ``burst`` frames every ``interval_us``."""

    name: Literal["paced", "burst"]
    interval_us: float
    burst: int


MODES: Final = (
    Mode(name="paced", interval_us=PACED_US, burst=1),
    Mode(name="burst", interval_us=BURST_US, burst=BURST_FRAMES),
)


@attrs.frozen(kw_only=True)
class Replay:
    """The frames of one run: the capture's opening frames (subscription confirmations and
    snapshots), then the next frames in their recorded order (sequence numbers stay
    gapless). ``measured[i]``: frame ``i`` is an ``l2_data`` update (the frames whose
    latency is measured); ``first_l2`` is the first ``l2_data`` frame (a snapshot), where
    every run's warm-up starts (the product places its first order on that snapshot)."""

    frames: tuple[str, ...]
    measured: tuple[bool, ...]
    products: tuple[str, ...]
    first_l2: int

    def duration(self, mode: Mode) -> float:
        """Seconds the sender needs to send every frame in ``mode``."""
        return math.ceil(len(self.frames) / mode.burst) * mode.interval_us / 1e6

    def first_measured(self, mode: Mode, warmup: float) -> int:
        """The index of the first frame sent ``warmup`` seconds or more after ``first_l2``
        (by the sender's schedule)."""
        unit = self.first_l2 // mode.burst + math.ceil(warmup / (mode.interval_us / 1e6))
        return unit * mode.burst

    def expected(self, mode: Mode, warmup: float) -> int:
        """Orders a pipeline that keeps up must place after the warm-up: one per measured
        frame when paced; at least one per burst holding a measured frame otherwise."""
        start = self.first_measured(mode, warmup)
        bursts = [
            self.measured[first : first + mode.burst]
            for first in range(start, len(self.frames), mode.burst)
        ]
        return sum(1 for burst in bursts if (burst[0] if mode.burst == 1 else any(burst)))


def select_replay(frames: Sequence[str], count: int) -> Replay:
    """The opening frames of ``frames`` (everything before the first update) and the
    ``count`` frames after them."""
    messages = (orjson.loads(frame) for frame in frames)
    prologue = next((i for i, message in enumerate(messages) if _has_update(message)), len(frames))
    chosen = tuple(frames[: prologue + count])
    if prologue + count > len(frames):
        raise ValueError(f"the capture has {len(frames) - prologue} frames after its opening")
    products: dict[str, None] = {}
    measured = []
    first_l2: int | None = None
    for index, frame in enumerate(chosen):
        message = orjson.loads(frame)
        l2 = message.get("channel") == "l2_data"
        measured.append(l2 and index >= prologue)
        if l2:
            first_l2 = index if first_l2 is None else first_l2
            for event in message["events"]:
                products[event["product_id"]] = None
    if first_l2 is None or first_l2 >= prologue:
        raise ValueError("the capture does not open with l2_data snapshots")
    return Replay(
        frames=chosen, measured=tuple(measured), products=tuple(products), first_l2=first_l2
    )


def _has_update(message: dict[str, Any]) -> bool:
    return any(event.get("type") == "update" for event in message.get("events") or ())


def percentiles_us(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and p99.9 (nearest rank) of durations in seconds, in microseconds."""
    ordered = sorted(seconds)
    return {name: percentile(ordered, fraction) * 1e6 for name, fraction in PERCENTILES}


# -- the floor ----------------------------------------------------------------------------


def _subscribe_messages(products: Sequence[str]) -> list[str]:
    ids = list(products)
    return [
        orjson.dumps({"type": "subscribe", "channel": channel, "product_ids": ids}).decode()
        for channel in ("level2", "market_trades", "heartbeats")
    ]


async def floor_latencies(
    url: str, replay: Replay, *, warmup: float, buffers: Sequence[int] = FLOOR_BUFFERS
) -> list[float]:
    """The floor pipeline over one connection: seconds from each measured frame's arrival
    to stage 5, for the frames after ``warmup`` seconds from the first arrival."""
    samples: list[float] = []
    channels = [trio.open_memory_channel[tuple[int, float]](size) for size in buffers]
    async with trio_websocket.open_websocket_url(
        url, max_message_size=64 * 2**20, receive_buffer_size=64 * 1024
    ) as ws:
        for message in _subscribe_messages(replay.products):
            await ws.send_message(message)
        async with trio.open_nursery() as nursery:
            for (_, inbox), (outbox, _) in itertools.pairwise(channels):
                nursery.start_soon(_floor_stage, inbox, outbox)
            nursery.start_soon(
                _floor_sink, channels[-1][1], replay.measured, replay.first_l2, warmup, samples
            )
            first = channels[0][0]
            async with first:
                for index in range(len(replay.frames)):
                    await ws.get_message()
                    await first.send((index, trio.current_time()))
    return samples


async def _floor_stage(
    inbox: trio.MemoryReceiveChannel[tuple[int, float]],
    outbox: trio.MemorySendChannel[tuple[int, float]],
) -> None:
    async with inbox, outbox:
        async for index, arrived in inbox:
            await outbox.send((index + 0, arrived))  # trivial work


async def _floor_sink(
    inbox: trio.MemoryReceiveChannel[tuple[int, float]],
    measured: Sequence[bool],
    first_l2: int,
    warmup: float,
    samples: list[float],
) -> None:
    start: float | None = None
    async with inbox:
        async for index, arrived in inbox:
            now = trio.current_time()
            if index == first_l2:
                start = arrived
            if measured[index] and start is not None and arrived - start >= warmup:
                samples.append(now - arrived)


# -- one repeat ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Observation:
    """One system's run in one mode: its tick-to-trade samples and, for the pipeline, the
    stamps of each measured order."""

    samples: tuple[float, ...]
    orders: tuple[OrderStamps, ...] = ()


def _measured_orders(run: StackRun, warmup: float) -> list[OrderStamps]:
    completed = run.probe.completed()
    start = completed[0].trigger_at
    return [s for s in completed if s.trigger_at - start >= warmup]


def _observe_stack(
    kind: Literal["paper", "live"],
    url: str,
    replay: Replay,
    mode: Mode,
    journal: Path,
    live: LiveEndpoints | None,
) -> Observation:

    async def measure() -> StackRun:
        with trio.fail_after(replay.duration(mode) + GRACE_S + 60.0):
            return await run_stack(
                kind,
                market_url=url,
                products=replay.products,
                journal_path=journal,
                frames=len(replay.frames),
                settle=0.2,
                live=live,
            )

    run = trio.run(measure)
    orders = _measured_orders(run, WARMUP_S)
    expected = replay.expected(mode, WARMUP_S)
    # Paced, every measured frame must have made its own order: fewer means views were
    # conflated, i.e. the pipeline was still busy when the next frame came (not "paced").
    if len(orders) < 0.9 * expected:
        raise RuntimeError(
            f"tick-to-trade ({kind}, {mode.name}): {len(orders)} orders for {expected} "
            f"{'frames' if mode.burst == 1 else 'bursts'} expected: the pipeline fell behind "
            "the replay"
        )
    samples = tuple(s.tick_to_trade for s in orders if s.tick_to_trade is not None)
    return Observation(samples=samples, orders=tuple(orders))


def _observe_floor(url: str, replay: Replay, mode: Mode) -> Observation:
    samples = trio.run(lambda: floor_latencies(url, replay, warmup=WARMUP_S))
    expected = sum(replay.measured[replay.first_measured(mode, WARMUP_S) :])
    if len(samples) < 0.9 * expected:
        raise RuntimeError(f"floor ({mode.name}): {len(samples)} samples, {expected} expected")
    return Observation(samples=tuple(samples))


# -- metrics ------------------------------------------------------------------------------

_LABELS: Final = {
    "floor": "bare 5-stage trio floor",
    "paper": "cjt paper",
    "live": "cjt live vs sim",
}


def segments(orders: Sequence[OrderStamps]) -> dict[str, list[float]]:
    """Per-order durations (seconds) of the consecutive segments of each order's way, for
    the orders that have the stamps: they add up to its tick-to-trade (``transport``, the
    live stack's second end point, is counted from the arrival)."""
    cuts: dict[str, list[float]] = {name: [] for name, _ in _BREAKDOWN}
    for s in orders:
        venue = s.venue
        if venue is None or s.strategy is None or s.executor is None:
            continue
        written = [span for span in s.journal if span[1] <= venue]
        cuts["to_strategy"].append(s.strategy - s.trigger_at)
        cuts["to_executor"].append(s.executor - s.strategy)
        if written:
            cuts["to_journal"].append(written[0][0] - s.executor)
            cuts["journal"].append(sum(end - start for start, end in written))
            cuts["to_venue"].append(venue - written[-1][1])
        if s.transport is not None:
            cuts["to_transport"].append(s.transport - venue)
            cuts["transport"].append(s.transport - s.trigger_at)
    return cuts


#: Breakdown metrics kept: (segment, percentiles).
_BREAKDOWN: Final = (
    ("to_strategy", ("p50", "p99")),
    ("to_executor", ("p50",)),
    ("to_journal", ("p50",)),
    ("journal", ("p50", "p99")),
    ("to_venue", ("p50",)),
    ("to_transport", ("p50",)),
    ("transport", ("p50", "p99", "p999")),
)

_BREAKDOWN_LABELS: Final = {
    "to_strategy": "arrival -> strategy (feed, book, 2 hops)",
    "to_executor": "strategy -> executor (risk, 2 hops)",
    "to_journal": "executor -> commit starts",
    "journal": "write-ahead commit (wait, SQLite, fsync)",
    "to_venue": "commit -> venue.submit",
    "to_transport": "venue.submit -> httpx transport",
    "transport": "arrival -> httpx transport (2nd end point)",
}


def _metrics(
    observations: dict[tuple[System, str], list[Observation]],
    notes: dict[System, str],
) -> list[Metric]:
    metrics: list[Metric] = []
    for system in SYSTEMS:
        for mode in MODES:
            runs = observations.get((system, mode.name), [])
            if not runs:
                continue
            per_repeat = [percentiles_us(o.samples) for o in runs]
            sizes = sorted(len(o.samples) for o in runs)
            for name, _ in PERCENTILES:
                metrics.append(
                    Metric(
                        key=f"t2t.{system}.{mode.name}.{name}",
                        label=f"tick-to-trade {mode.name}: {_LABELS[system]}, {name}",
                        unit="us",
                        samples=[p[name] for p in per_repeat],
                        better="lower",
                        note=f"{notes[system]}; {_mode_note(mode)}; {_sizes(sizes)} samples "
                        "per repeat",
                    )
                )
            if system == "floor":
                continue
            cuts = [segments(o.orders) for o in runs]
            for cut, names in _BREAKDOWN:
                if not all(c[cut] for c in cuts):
                    continue
                values = [percentiles_us(c[cut]) for c in cuts]
                for name in names:
                    metrics.append(
                        Metric(
                            key=f"t2t.{system}.{mode.name}.{cut}.{name}",
                            label=f"t2t {mode.name}, {_LABELS[system]}: "
                            f"{_BREAKDOWN_LABELS[cut]}, {name}",
                            unit="us",
                            samples=[v[name] for v in values],
                            better="lower",
                            note=f"same orders as t2t.{system}.{mode.name}",
                        )
                    )
    return metrics


def _sizes(sizes: Sequence[int]) -> str:
    low, high = min(sizes), max(sizes)
    return str(low) if low == high else f"{low}-{high}"


def _summary(observation: Observation) -> str:
    """One progress line: the run's percentiles and its segments' medians."""
    figures = percentiles_us(observation.samples)
    text = f"{len(observation.samples)} samples: " + ", ".join(
        f"{name} {value:,.0f} us" for name, value in figures.items()
    )
    cuts = segments(observation.orders)
    medians = [
        f"{cut} {percentiles_us(values)['p50']:,.0f}" for cut, values in cuts.items() if values
    ]
    return text + (f" (p50 us: {', '.join(medians)})" if medians else "")


def _mode_note(mode: Mode) -> str:
    if mode.burst == 1:
        return f"one frame every {mode.interval_us / 1000:g} ms"
    return f"{mode.burst} frames back to back every {mode.interval_us / 1000:g} ms"


# -- the benchmark ------------------------------------------------------------------------


def run(ctx: BenchContext) -> list[Metric]:
    """Every system in every mode, ``ctx.repeats`` times, round-robin within a repeat."""
    seconds = QUICK_RUN_S if ctx.quick else RUN_S
    count = min(math.floor(seconds / (mode.interval_us / 1e6)) * mode.burst for mode in MODES)
    replay = select_replay(ctx.capture.frames, count)
    frames_file = ctx.workdir / "t2t-frames.bin"
    write_frames_file(replay.frames, frames_file)
    notes: dict[System, str] = {
        "floor": f"trio-websocket get_message -> 4 memory-channel hops (buffers "
        f"{'/'.join(map(str, FLOOR_BUFFERS))}), trivial work",
        "paper": "frame arrival -> venue.submit entry; PaperVenue (latency 0), SQLite "
        "journal (WAL, synchronous=FULL), probe strategy replacing a far bid per view",
        "live": "frame arrival -> venue.submit entry; CoinbaseVenue + RestClient over "
        "loopback to the simulator process (rate limits raised), SQLite journal",
    }
    observations: dict[tuple[System, str], list[Observation]] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            mode.name: stack.enter_context(
                ReplayServer(
                    frames_file,
                    workdir=ctx.workdir,
                    mode="paced",
                    interval_us=mode.interval_us,
                    burst=mode.burst,
                    connections=None,
                    wait_client_messages=SUBSCRIPTIONS,
                    grace_s=GRACE_S,
                    close="client",
                )
            )
            for mode in MODES
        }
        simulator = stack.enter_context(SimulatorProcess(ctx.workdir))
        assert simulator.endpoints is not None
        for repeat in range(ctx.repeats):
            for mode in MODES:
                url = servers[mode.name].url
                for system in SYSTEMS:
                    ctx.progress(f"t2t repeat {repeat + 1}/{ctx.repeats}: {system} {mode.name}")
                    journal = ctx.workdir / f"t2t-{system}-{mode.name}-{repeat}.sqlite"
                    if system == "floor":
                        observation = _observe_floor(url, replay, mode)
                    else:
                        observation = _observe_stack(
                            system, url, replay, mode, journal, simulator.endpoints
                        )
                    observations.setdefault((system, mode.name), []).append(observation)
                    ctx.progress("  " + _summary(observation))
    return _metrics(observations, notes)


# -- profiling ----------------------------------------------------------------------------


def profile_paper(
    frames: Sequence[str], *, count: int, top: int, out: Callable[[str], None]
) -> None:
    """Run the paper stack once, paced, under cProfile; print the ``top`` functions by
    internal time and by cumulative time."""
    replay = select_replay(frames, count)
    mode = MODES[0]
    with tempfile.TemporaryDirectory(prefix="t2t-profile-") as scratch:
        workdir = Path(scratch)
        frames_file = workdir / "frames.bin"
        write_frames_file(replay.frames, frames_file)
        with ReplayServer(
            frames_file,
            workdir=workdir,
            mode="paced",
            interval_us=mode.interval_us,
            burst=1,
            wait_client_messages=SUBSCRIPTIONS,
            grace_s=GRACE_S,
            close="client",
        ) as server:
            profiler = cProfile.Profile()
            profiler.enable()
            observation = _observe_stack(
                "paper", server.url, replay, mode, workdir / "journal.sqlite", None
            )
            profiler.disable()
    summary = percentiles_us(observation.samples)
    out(
        f"paper paced: {len(observation.samples)} samples, "
        + ", ".join(f"{k} {v:,.0f} us" for k, v in summary.items())
    )
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(top)
        out(text.getvalue())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", action="store_true", help="profile the paper stack, paced")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    if not args.profile:
        parser.error("nothing to do: the benchmark runs from `python -m tests.performance`")
    from .capture import load_capture

    capture = load_capture(level_updates=50_000)
    profile_paper(capture.frames, count=args.frames, top=args.top, out=print)


if __name__ == "__main__":
    main()
