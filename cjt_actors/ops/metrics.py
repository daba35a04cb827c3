"""Prometheus metrics, read from an :class:`~cjt_actors.ops.source.OpsSource` at scrape time.

Why a custom collector and not metric objects updated by the actors: the actors already
publish what they count (the status board, mailbox and supervisor statistics); a collector
that turns one :class:`~cjt_actors.ops.source.OpsSnapshot` into metric families at each
scrape adds no code to the hot path and cannot drift from what ``/status`` shows. It goes
into the server's own ``CollectorRegistry``, never the process-wide default one.

Names are ``cjt_...`` with the unit in the name; money is in the products' quote currency
(``_quote``), sizes in base units (``_base``). Prometheus values are float64: Decimal amounts
are converted here, for display only. Labels: ``actor``, ``mailbox``, ``kind``, ``product``,
``state``, ``reason``, ``strategy``, ``venue``, ``request``.

Counters taken from statuses that restart with their actor (the feed's, the book actor's,
a strategy's) reset to 0 when it restarts, which Prometheus's ``rate()`` understands;
``cjt_actor_restarts_total`` says when. Risk's and the executor's survive restarts.

Latencies: ``cjt_tick_to_trade_seconds`` is a market-data frame's arrival to the order
request it prompted being handed to the venue (each :class:`SubmitOrder` made in ``on_book``
carries its frame's arrival time as ``trigger_at``; strategy, risk and the write-ahead
journal's commit are all inside it, the venue call is not); ``cjt_venue_request_seconds`` is
the order round trip to the venue (the pipeline wraps its venue in a
:class:`~cjt_actors.ops.timing.TimedVenue`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Generic, TypeVar, final

import attrs
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ..actors.book import BookStatus
from ..actors.feed import FeedStatus
from ..execution import ExecutionStatistics
from ..market_messages import FeedState
from ..order_messages import DenyReason, TradingState
from ..orderbook import BookCounters, TrustState
from ..supervisor import ChildState
from .readiness import ReadinessPolicy, assess
from .source import OpsSnapshot, OpsSource

__all__ = ["OpsCollector", "metric_families"]

_S = TypeVar("_S")


@final
class OpsCollector:
    """A Prometheus collector: each :meth:`collect` reads one fresh snapshot."""

    __slots__ = ("_policy", "_source")

    def __init__(self, source: OpsSource, policy: ReadinessPolicy) -> None:
        self._source = source
        self._policy = policy

    def collect(self) -> Iterable[Metric]:
        return metric_families(self._source.snapshot(), self._policy)


def metric_families(snapshot: OpsSnapshot, policy: ReadinessPolicy) -> list[Metric]:
    """Every metric family for ``snapshot`` (see the module docstring for conventions)."""
    return [
        *_readiness(snapshot, policy),
        *_actors(snapshot),
        *_mailboxes(snapshot),
        *_feed(snapshot),
        *_books(snapshot),
        *_risk(snapshot),
        *_execution(snapshot),
        *_strategies(snapshot),
        *_store(snapshot),
        *_latencies(snapshot),
        *_tick_to_trade(snapshot),
    ]


# -- helpers -----------------------------------------------------------------------------------


def _gauge(name: str, help_: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_, labels=list(labels))


def _counter(name: str, help_: str, labels: Sequence[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_, labels=list(labels))


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _money(value: Decimal) -> float:
    return float(value)


def _state_set(
    family: GaugeMetricFamily, labels: Sequence[str], states: type[enum.Enum], current: enum.Enum
) -> None:
    """One series per possible state, 1 for the current one: alerts can match on a label."""
    for state in states:
        family.add_metric([*labels, str(state.value)], _flag(state is current))


@attrs.frozen
class _Field(Generic[_S]):
    """A counter or gauge family built from one attribute of a status."""

    name: str
    help: str
    read: Callable[[_S], float]
    counter: bool = True


def _fields(fields: Sequence[_Field[_S]], status: _S | None) -> Iterator[Metric]:
    for field in fields:
        family: GaugeMetricFamily | CounterMetricFamily = (
            _counter(field.name, field.help) if field.counter else _gauge(field.name, field.help)
        )
        if status is not None:
            family.add_metric([], field.read(status))
        yield family


# -- families ----------------------------------------------------------------------------------


def _readiness(snapshot: OpsSnapshot, policy: ReadinessPolicy) -> Iterator[Metric]:
    readiness = assess(snapshot, policy)
    ready = _gauge("cjt_ready", "1 when every readiness check passes (what /readyz answers)")
    ready.add_metric([], _flag(readiness.ready))
    checks = _gauge("cjt_readiness_check", "1 when this readiness check passes", ["check"])
    for check in readiness.checks:
        checks.add_metric([check.name], _flag(check.ok))
    yield ready
    yield checks


def _actors(snapshot: OpsSnapshot) -> Iterator[Metric]:
    restarts = _counter(
        "cjt_actor_restarts_total", "Restarts of the actor by its supervisor", ["actor"]
    )
    state = _gauge(
        "cjt_actor_state", "1 for the actor's current supervision state", ["actor", "state"]
    )
    age = _gauge(
        "cjt_actor_last_status_age_seconds",
        "Seconds since the actor last posted a status (its progress signal)",
        ["actor"],
    )
    for actor in snapshot.actors:
        restarts.add_metric([actor.name], actor.restarts)
        _state_set(state, [actor.name], ChildState, actor.state)
        if actor.last_update is not None:
            age.add_metric([actor.name], snapshot.now - actor.last_update)
    yield from (restarts, state, age)


def _mailboxes(snapshot: OpsSnapshot) -> Iterator[Metric]:
    labels = ["mailbox", "kind", "actor"]
    depth = _gauge("cjt_mailbox_depth_messages", "Messages waiting in the mailbox", labels)
    capacity = _gauge(
        "cjt_mailbox_capacity_messages",
        "How many messages may wait (views: how many products may be pending)",
        labels,
    )
    sent = _counter(
        "cjt_mailbox_messages_total",
        "Messages accepted into the mailbox, for the actor that reads it",
        labels,
    )
    dropped = _counter(
        "cjt_mailbox_dropped_messages_total",
        "Messages discarded by a full DROP_OLDEST mailbox or replaced by a newer view",
        labels,
    )
    for box in snapshot.mailboxes:
        stats = box.statistics
        values = [stats.name, box.kind, box.consumer]
        depth.add_metric(values, stats.depth)
        capacity.add_metric(values, stats.capacity)
        sent.add_metric(values, stats.sent)
        dropped.add_metric(values, stats.dropped)
    yield from (depth, capacity, sent, dropped)


_FEED_COUNTERS: tuple[_Field[FeedStatus], ...] = (
    _Field("cjt_feed_frames_total", "Frames read from the market-data feed", lambda f: f.frames),
    _Field("cjt_feed_heartbeats_total", "Heartbeat frames read", lambda f: f.heartbeats),
    _Field(
        "cjt_feed_reconnects_total",
        "Market-data connections that ended or failed to open",
        lambda f: f.reconnects,
    ),
    _Field("cjt_feed_gaps_total", "Sequence gaps seen on the feed", lambda f: f.gaps),
    _Field("cjt_feed_resyncs_total", "level2 resubscriptions after a gap", lambda f: f.resyncs),
    _Field("cjt_feed_malformed_frames_total", "Frames that did not parse", lambda f: f.malformed),
    _Field(
        "cjt_feed_out_of_order_frames_total",
        "Frames older than one already seen",
        lambda f: f.out_of_order,
    ),
    _Field(
        "cjt_feed_error_frames_total", "Error frames from the exchange", lambda f: f.error_frames
    ),
)


def _feed(snapshot: OpsSnapshot) -> Iterator[Metric]:
    feed = snapshot.feed
    state = _gauge("cjt_feed_state", "1 for the market-data feed's current state", ["state"])
    age = _gauge("cjt_feed_last_frame_age_seconds", "Seconds since the feed read a frame")
    if feed is not None:
        _state_set(state, [], FeedState, feed.state)
        if feed.last_frame_at is not None:
            age.add_metric([], snapshot.now - feed.last_frame_at)
    yield from (state, age)
    yield from _fields(_FEED_COUNTERS, feed)


_BOOK_COUNTERS: tuple[tuple[str, str, Callable[[BookCounters], int]], ...] = (
    ("cjt_book_snapshots_total", "Snapshots applied to the book", lambda c: c.snapshots),
    (
        "cjt_book_update_frames_total",
        "Update frames applied to the book",
        lambda c: c.update_frames,
    ),
    ("cjt_book_gaps_total", "Gaps that made the book untrusted", lambda c: c.gaps),
    ("cjt_book_stale_total", "Times the book turned stale", lambda c: c.stale),
    ("cjt_book_crossed_total", "Times the book crossed (and was distrusted)", lambda c: c.crossed),
    ("cjt_book_malformed_total", "Malformed updates refused by the book", lambda c: c.malformed),
)


def _books(snapshot: OpsSnapshot) -> Iterator[Metric]:
    trusted = _gauge("cjt_book_trusted", "1 when the product's book is trusted", ["product"])
    state = _gauge("cjt_book_state", "1 for the book's current trust state", ["product", "state"])
    age = _gauge(
        "cjt_book_data_age_seconds", "Age of the book's data when last checked", ["product"]
    )
    counters = [(_counter(name, help_, ["product"]), read) for name, help_, read in _BOOK_COUNTERS]
    books: list[BookStatus] = [b for p in snapshot.products if (b := snapshot.book_of(p))]
    for book in books:
        trusted.add_metric([book.product_id], _flag(book.state is TrustState.TRUSTED))
        _state_set(state, [book.product_id], TrustState, book.state)
        if book.age is not None:
            age.add_metric([book.product_id], book.age)
        for family, read in counters:
            family.add_metric([book.product_id], read(book.counters))
    yield from (trusted, state, age)
    yield from (family for family, _ in counters)

    actor = snapshot.book
    frames = _counter("cjt_book_frames_total", "Frames the book actor handled", ["channel"])
    errors = _counter("cjt_book_apply_errors_total", "Frames the book could not apply")
    bars = _counter("cjt_bars_closed_total", "Bars closed")
    if actor is not None:
        frames.add_metric(["level2"], actor.l2_frames)
        frames.add_metric(["market_trades"], actor.trade_frames)
        errors.add_metric([], actor.apply_errors)
        bars.add_metric([], actor.bars_closed)
    yield from (frames, errors, bars)


def _risk(snapshot: OpsSnapshot) -> Iterator[Metric]:
    risk = snapshot.risk
    state = _gauge("cjt_trading_state", "1 for risk's current trading state", ["state"])
    tripped = _gauge("cjt_kill_switch_tripped", "1 once the kill switch has tripped")
    money = {
        "equity": _gauge("cjt_equity_quote", "Equity (PnL since the start, fees included)"),
        "peak": _gauge("cjt_peak_equity_quote", "Highest equity seen"),
        "drawdown": _gauge("cjt_drawdown_quote", "Peak equity minus equity"),
        "day": _gauge("cjt_day_pnl_quote", "PnL since the start of the trading day"),
        "gross": _gauge(
            "cjt_gross_exposure_quote", "Worst-case gross exposure, working orders included"
        ),
    }
    open_orders = _gauge("cjt_open_orders", "Orders risk counts as working")
    position = _gauge("cjt_position_base", "Position per product", ["product"])
    cost = _gauge("cjt_position_average_cost_quote", "Average cost of the position", ["product"])
    mark = _gauge("cjt_mark_price_quote", "Price the position is marked at", ["product"])
    realized = _gauge("cjt_realized_pnl_quote", "Realized PnL per product", ["product"])
    unrealized = _gauge("cjt_unrealized_pnl_quote", "Unrealized PnL per product", ["product"])
    fees = _gauge("cjt_fees_quote", "Fees paid per product", ["product"])
    approved = _counter("cjt_risk_approved_orders_total", "Submits risk approved")
    cancels = _counter("cjt_risk_cancels_total", "Cancels risk forwarded")
    denials = _counter("cjt_risk_denials_total", "Intents risk refused, by reason", ["reason"])
    unjournaled = _counter(
        "cjt_risk_unjournaled_total", "State changes whose journaling missed its deadline"
    )
    if risk is not None:
        _state_set(state, [], TradingState, risk.state)
        tripped.add_metric([], _flag(risk.kill_switch_tripped))
        for key, value in (
            ("equity", risk.equity),
            ("peak", risk.peak_equity),
            ("drawdown", risk.drawdown),
            ("day", risk.day_pnl),
            ("gross", risk.gross_exposure),
        ):
            money[key].add_metric([], _money(value))
        open_orders.add_metric([], risk.open_orders)
        for p in risk.positions:
            position.add_metric([p.product_id], _money(p.quantity))
            cost.add_metric([p.product_id], _money(p.average_cost))
            if p.mark is not None:
                mark.add_metric([p.product_id], _money(p.mark))
            realized.add_metric([p.product_id], _money(p.realized_pnl))
            unrealized.add_metric([p.product_id], _money(p.unrealized_pnl))
            fees.add_metric([p.product_id], _money(p.fees))
        approved.add_metric([], risk.approved)
        cancels.add_metric([], risk.cancels)
        counts = dict(risk.denials)
        for reason in DenyReason:  # every reason, so each series exists from the start
            denials.add_metric([reason.value], counts.get(reason.value, 0))
        unjournaled.add_metric([], risk.unjournaled)
    yield from (state, tripped, *money.values(), open_orders)
    yield from (position, cost, mark, realized, unrealized, fees)
    yield from (approved, cancels, denials, unjournaled)


_EXECUTION_FIELDS: tuple[_Field[ExecutionStatistics], ...] = (
    _Field("cjt_orders_submitted_total", "Orders sent to the venue", lambda e: e.submitted),
    _Field("cjt_orders_accepted_total", "Orders the venue accepted", lambda e: e.accepted),
    _Field("cjt_orders_rejected_total", "Orders the venue rejected", lambda e: e.rejected),
    _Field(
        "cjt_orders_outcome_unknown_total",
        "Submits with no usable answer (resolved later by lookups)",
        lambda e: e.unknown,
    ),
    _Field("cjt_cancels_sent_total", "Cancel requests sent to the venue", lambda e: e.cancels_sent),
    _Field("cjt_fills_total", "Distinct fills applied", lambda e: e.fills),
    _Field(
        "cjt_duplicate_fills_total", "Fills seen again and ignored", lambda e: e.duplicate_fills
    ),
    _Field("cjt_executor_denials_total", "Commands the executor refused", lambda e: e.denied),
    _Field(
        "cjt_foreign_reports_total",
        "Venue reports about orders this run does not know",
        lambda e: e.foreign_reports,
    ),
    _Field(
        "cjt_lookup_errors_total",
        "Order lookups the venue could not answer",
        lambda e: e.lookup_errors,
    ),
    _Field(
        "cjt_reconciliations_total",
        "Times the executor started reconciling with the venue",
        lambda e: e.reconciliations,
    ),
    _Field("cjt_working_orders", "Orders working at the venue", lambda e: e.working, counter=False),
    _Field(
        "cjt_executor_reconciling",
        "1 while the executor reconciles (risk refuses new orders)",
        lambda e: _flag(e.reconciling),
        counter=False,
    ),
)


def _execution(snapshot: OpsSnapshot) -> Iterator[Metric]:
    yield from _fields(_EXECUTION_FIELDS, snapshot.execution)
    orders = _gauge("cjt_orders", "Orders the executor knows, by lifecycle state", ["state"])
    for state, count in snapshot.orders_by_state:
        orders.add_metric([state.value], count)
    yield orders


def _strategies(snapshot: OpsSnapshot) -> Iterator[Metric]:
    submits = _counter("cjt_strategy_submits_total", "Submits the strategy sent", ["strategy"])
    cancels = _counter("cjt_strategy_cancels_total", "Cancels the strategy sent", ["strategy"])
    denials = _counter(
        "cjt_strategy_denials_total", "Denials the strategy received", ["strategy", "reason"]
    )
    backpressure = _counter(
        "cjt_strategy_backpressure_total",
        "Intents dropped because risk's inbox was full",
        ["strategy"],
    )
    working = _gauge("cjt_strategy_working_orders", "The strategy's working orders", ["strategy"])
    position = _gauge(
        "cjt_strategy_position_base", "The strategy's position", ["strategy", "product"]
    )
    for s in snapshot.strategies:
        submits.add_metric([s.name], s.submits_sent)
        cancels.add_metric([s.name], s.cancels_sent)
        for reason, count in s.denials:
            denials.add_metric([s.name, reason], count)
        backpressure.add_metric([s.name], s.backpressure)
        working.add_metric([s.name], s.working_orders)
        for product, quantity in s.positions:
            position.add_metric([s.name, product], _money(quantity))
    yield from (submits, cancels, denials, backpressure, working, position)


def _store(snapshot: OpsSnapshot) -> Iterator[Metric]:
    written = _counter("cjt_journal_events_total", "Events written to the journal")
    batches = _counter("cjt_journal_batches_total", "Journal write batches")
    if snapshot.store is not None:
        written.add_metric([], snapshot.store.written)
        batches.add_metric([], snapshot.store.batches)
    yield from (written, batches)


def _latencies(snapshot: OpsSnapshot) -> Iterator[Metric]:
    family = HistogramMetricFamily(
        "cjt_venue_request_seconds",
        "Round trip of order requests to the venue (trio's clock)",
        labels=["venue", "request"],
    )
    for latency in snapshot.latencies:
        h = latency.histogram
        buckets = [(_bound(b), float(c)) for b, c in zip(h.bounds, h.cumulative, strict=True)]
        buckets.append(("+Inf", float(h.count)))
        family.add_metric([latency.venue, latency.request], buckets, h.total)
    yield family


def _tick_to_trade(snapshot: OpsSnapshot) -> Iterator[Metric]:
    family = HistogramMetricFamily(
        "cjt_tick_to_trade_seconds",
        "From a market-data frame's arrival to the order request it prompted being handed to "
        "the venue (strategy, risk and the write-ahead journal's commit included, the venue "
        "call not; trio's clock)",
    )
    h = snapshot.tick_to_trade
    if h is not None:
        buckets = [(_bound(b), float(c)) for b, c in zip(h.bounds, h.cumulative, strict=True)]
        buckets.append(("+Inf", float(h.count)))
        family.add_metric([], buckets, h.total)
    yield family


def _bound(value: float) -> str:
    """A bucket bound as Prometheus clients write it (``0.5``, ``1.0``)."""
    return repr(float(value))
