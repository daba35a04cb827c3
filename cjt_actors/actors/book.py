"""The book actor: one level-2 book and one set of bars per product, and what they show.

Receives: ``inbox`` (:data:`~cjt_actors.actors.feed.FeedMessage`, from the feed; a BLOCK
mailbox of about a thousand messages: a dropped delta would corrupt a book):
:class:`L2FrameReceived`, :class:`TradesReceived` and :class:`FeedStatusChanged`, in the
order the feed saw them.

Sends:
    * ``view_outboxes`` (strategies, risk, the executor; :class:`ConflatingMailbox` per
      consumer, keyed by product): one :class:`BookUpdated` per product touched by an
      ``l2_data`` frame, and whenever a book's trust changes. Conflated, so it never waits: a
      slow consumer gets the latest view, not a backlog. Queued lazily
      (:meth:`ConflatingMailbox.put_lazy`): a view is built when a consumer takes it (once
      for all consumers of that publication), so a burst costs no views nobody reads.
    * ``market_outboxes`` (strategies; DROP_OLDEST, advisory, a few hundred slots): every
      :class:`TradesReceived`, then the :class:`BarClosed` of the bars it completed; bars the
      timer closes. (A BLOCK mailbox here is awaited instead.)
    * ``trade_outboxes`` (the paper executor; BLOCK, about a thousand: its queue-position
      model must see every trade): every :class:`TradesReceived`. This is the only market
      edge the book waits on, so a stuck executor holds the book (and the feed) up: never
      silently wrong, visibly late.
    * ``trust_outbox`` (optional; the journal's mailbox, BLOCK, a few thousand slots): one
      :class:`BookTrustChanged` whenever a product's book changes trust, never per frame
      (see "Trust"). Sent once the handler has changed its state; a full BLOCK mailbox is
      awaited (the journal must not lose the record), which is rare: trust changes a few
      times per product per connection at most. A DROP_OLDEST mailbox is never awaited.
    * ``board`` (optional): a frozen :class:`BookStatus` per product (under
      ``"<name>/<product>"``) when its view is published and on every timer tick, and a
      :class:`BookActorStatus` (under ``name``).

Trust: an ``l2_data`` snapshot makes a book trusted (unless it is crossed); a feed status of
RECONNECTING, STALE or GAP distrusts every book at once, with that reason, and publishes the
views so risk and strategies stop acting on them now, not at the next frame. CONNECTING (a
feed incarnation starting: frames may have been lost in between) counts as a reconnect.
CONNECTED changes nothing: trust returns only with the next snapshot, which the feed's new
subscription brings. A timer distrusts (STALE) any book not updated for ``max_age`` seconds.
Every change of a book's trust is told to ``trust_outbox`` as a :class:`BookTrustChanged`:
``trusted=True`` with reason ``"SNAPSHOT"``, ``trusted=False`` with the
:class:`~cjt_actors.orderbook.TrustReason` name (GAP, RECONNECT, STALE, MALFORMED, CROSSED).
Only changes: the book keeps the first reason until the next snapshot, so a second gap
(or a reconnect after a gap) tells nothing new; an empty book that gets a crossed snapshot
does (EMPTY -> CROSSED: it has data now, and it is wrong). Each incarnation starts by
telling that every book is untrusted (``"EMPTY"``): after a restart that is a change (the
previous incarnation's books may have been trusted), and on the first start it is the
record's starting point. So the journal says when and why a book could not be traded on,
and how long it took to trust it again.

Bad frames do not crash the actor: an event off the product's price or size grid is refused
whole by :class:`~cjt_actors.orderbook.L2Book`, which marks itself untrusted (MALFORMED); an
update before any snapshot is refused (there is nothing to update). Both are counted
(:attr:`BookActorStatus.apply_errors`, with the last message), and so are events and trades
of products that are not configured here.

Bars: from live trades only, timed by the frame's ``received_at``: trio's clock, like every
time in an actor, so a run in virtual time (MockClock) builds the same bars every time. The
exchange's own trade times would make bars depend on the exchange's clock and would not
line up with the timer, which runs on trio's clock. Bars therefore align to multiples of
their interval on trio's clock, not to wall-clock minutes. Snapshot trades happened before
the subscription (and after a reconnect repeat trades already seen): they are forwarded,
flagged, but feed neither the bars nor the last trade price. The timer closes a bar that
ended more than ``bar_grace`` seconds ago, so a quiet market still closes its bars while a
frame received just before a bar's end but still queued in the inbox lands in that bar.

Concurrency: one task reads the inbox, one runs the timer. Each handler changes state
synchronously and only then sends (views and DROP_OLDEST outboxes without waiting), so the
two tasks never see a book half-updated. Trust changes are queued in the order they
happened and sent from that queue, so they reach the journal in that order whichever task
sends them.

Restart (PERMANENT, before the feed in the trading supervisor's rest_for_one order): the
books are not recovered. A new incarnation starts with empty books, publishes their
(untrusted) views at once so no consumer keeps acting on a view from the previous
incarnation, and rebuilds from the fresh snapshot the feed gets when rest_for_one restarts
it after the book (each book's first ``BookTrustChanged`` says EMPTY, then SNAPSHOT once it
is rebuilt). Frames from the old connection still queued in the inbox are harmless:
updates before a snapshot are refused and counted, and the new feed's CONNECTING distrusts
whatever an old snapshot built.

Cancelled: it just stops; there is nothing to flush (views are state, not history).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Final, TypeAlias, cast, final

import attrs
import trio

from ..bars import MultiBarBuilder
from ..channels import ConflatingMailbox, Mailbox, Outbox, Overflow
from ..child import ChildContext
from ..errors import InvalidSpec
from ..market_messages import (
    BarClosed,
    BookTrustChanged,
    BookUpdated,
    FeedState,
    FeedStatusChanged,
    L2FrameReceived,
    TradesReceived,
)
from ..messages import Event
from ..orderbook import BookCounters, BookError, L2Book, TrustReason, TrustState
from ..products import ProductRules
from ..status import StatusBoard
from .feed import FeedMessage

__all__ = ["BookActor", "BookActorStatus", "BookStatus", "TrustOutbox"]

#: Where trust changes go: a mailbox of just these, or the journal's, which takes any event.
TrustOutbox: TypeAlias = Mailbox[BookTrustChanged] | Mailbox[Event]

#: Feed states that distrust every book, and the reason they give.
_DISTRUST: Final[Mapping[FeedState, TrustReason]] = {
    FeedState.CONNECTING: TrustReason.RECONNECT,
    FeedState.RECONNECTING: TrustReason.RECONNECT,
    FeedState.STALE: TrustReason.STALE,
    FeedState.GAP: TrustReason.GAP,
}


@attrs.frozen(kw_only=True)
class BookStatus:
    """One product's book, as published on the status board (``"<actor name>/<product>"``).

    ``age`` is how old the book's data was when the status was taken (``as_of -
    updated_at``; ``None`` before any snapshot).
    """

    product_id: str
    state: TrustState
    reason: TrustReason | None
    sequence: int
    counters: BookCounters
    best_bid: Decimal | None
    best_ask: Decimal | None
    updated_at: float | None
    age: float | None
    as_of: float


@attrs.frozen(kw_only=True)
class BookActorStatus:
    """The actor as a whole (under its name); counters start at 0 with every incarnation."""

    incarnation: int
    feed_state: FeedState | None  #: the last status the feed sent (None: none yet)
    l2_frames: int
    trade_frames: int
    views_published: int
    bars_closed: int
    late_trades: int  #: trades that arrived after the timer had closed their bar
    unknown_product_events: int
    unknown_product_trades: int
    apply_errors: int
    last_apply_error: str


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidSpec(message)


def _seconds(name: str, value: object, *, allow_zero: bool = False) -> None:
    bound = ">= 0" if allow_zero else "> 0"
    _check(
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0),
        f"{name}: must be a finite number of seconds {bound}, got {value!r}",
    )


@attrs.define(kw_only=True)
class BookActor:
    """See the module docstring.

    Args:
        products: the rules of every product to keep a book of, by product id (the book
            converts prices and sizes to ticks with their increments).
        inbox: the feed's output (BLOCK).
        view_outboxes, market_outboxes, trade_outboxes, trust_outbox: see the module
            docstring.
        depth: levels per side in each view.
        bar_intervals: bar lengths in whole seconds.
        max_age: seconds without an update after which a trusted book turns STALE.
        stale_check_interval: seconds between timer ticks (staleness and bar closing).
        bar_grace: seconds after its end before the timer closes a bar (see the docstring).
        board: where statuses are published.

    Raises:
        InvalidSpec: at construction, for a malformed argument (named in the message).
    """

    products: Mapping[str, ProductRules]
    inbox: Mailbox[FeedMessage]
    view_outboxes: Sequence[ConflatingMailbox[str, BookUpdated]] = ()
    market_outboxes: Sequence[Mailbox[TradesReceived | BarClosed]] = ()
    trade_outboxes: Sequence[Mailbox[TradesReceived]] = ()
    trust_outbox: TrustOutbox | None = None
    depth: int = 10
    bar_intervals: tuple[int, ...] = (1, 60)
    max_age: float = 10.0
    stale_check_interval: float = 1.0
    bar_grace: float = 0.25
    board: StatusBoard | None = None
    name: str = "book"

    def __attrs_post_init__(self) -> None:
        _check(
            isinstance(self.products, Mapping) and bool(self.products),
            f"products: must map at least one product id to its rules, got {self.products!r}",
        )
        for product_id, rules in self.products.items():
            _check(
                isinstance(rules, ProductRules) and rules.product_id == product_id,
                f"products[{product_id!r}]: must be the ProductRules of {product_id!r}, "
                f"got {rules!r}",
            )
        _check(
            type(self.depth) is int and self.depth >= 1,
            f"depth: must be an integer >= 1, got {self.depth!r}",
        )
        MultiBarBuilder(self.bar_intervals)  # raises InvalidSpec naming the problem
        _seconds("max_age", self.max_age)
        _seconds("stale_check_interval", self.stale_check_interval)
        _seconds("bar_grace", self.bar_grace, allow_zero=True)

    async def run(
        self, ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the books until cancelled (or until the inbox is closed)."""
        inbox = ctx.receiver(self.inbox)
        books = _Books(
            actor=self,
            incarnation=ctx.incarnation,
            views=tuple(self.view_outboxes),
            market=tuple(
                (ctx.sender(box), box.overflow is Overflow.DROP_OLDEST)
                for box in self.market_outboxes
            ),
            trades=tuple(ctx.sender(box) for box in self.trade_outboxes),
            trust=None if self.trust_outbox is None else _trust_sender(ctx, self.trust_outbox),
        )
        books.start(trio.current_time())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(books.tick_forever)
            await books.send_trust_changes()  # "every book is EMPTY" precedes "ready"
            task_status.started()
            async for message in inbox:
                await books.handle(message)
                # Whatever else queued meanwhile (at most the inbox's capacity), without a
                # scheduler pass per message; handle() checkpoints whenever it sends
                # downstream. A closed inbox ends the outer loop.
                while True:
                    try:
                        message = inbox.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    await books.handle(message)
            nursery.cancel_scope.cancel(reason="the book's inbox was closed")


@attrs.define(kw_only=True)
class _Books:
    """One incarnation's books, bar builders, outboxes and counters."""

    actor: BookActor
    incarnation: int
    views: tuple[ConflatingMailbox[str, BookUpdated], ...]
    market: tuple[tuple[Outbox[TradesReceived | BarClosed], bool], ...]
    trades: tuple[Outbox[TradesReceived], ...]
    trust: tuple[Outbox[BookTrustChanged], bool] | None = None
    books: dict[str, L2Book] = attrs.Factory(dict)
    #: Per product, the last trust told: ``(trusted, reason)``.
    told: dict[str, tuple[bool, str]] = attrs.Factory(dict)
    trust_changes: deque[BookTrustChanged] = attrs.Factory(deque)
    bars: dict[str, MultiBarBuilder] = attrs.Factory(dict)
    feed_state: FeedState | None = None
    l2_frames: int = 0
    trade_frames: int = 0
    views_published: int = 0
    bars_closed: int = 0
    unknown_product_events: int = 0
    unknown_product_trades: int = 0
    apply_errors: int = 0
    last_apply_error: str = ""

    def start(self, now: float) -> None:
        """Build the empty books and tell every consumer they are empty."""
        for product_id, rules in self.actor.products.items():
            self.books[product_id] = L2Book(product_id, rules.price_increment, rules.base_increment)
            self.bars[product_id] = MultiBarBuilder(self.actor.bar_intervals)
        self.publish_sources()
        for book in self.books.values():
            self._publish_view(book, now)
        self._publish_status()

    async def handle(self, message: FeedMessage) -> None:
        match message:
            case L2FrameReceived():
                self._on_l2(message)
            case TradesReceived():
                await self._on_trades(message)
            case _:
                self._on_feed_status(message)
        self._publish_status()
        await self.send_trust_changes()

    def _on_l2(self, frame: L2FrameReceived) -> None:
        self.l2_frames += 1
        touched: dict[str, L2Book] = {}
        for event in frame.events:
            book = self.books.get(event.product_id)
            if book is None:
                self.unknown_product_events += 1
                continue
            touched[event.product_id] = book
            try:
                book.apply_tick_event(event, now=frame.received_at)
            except BookError as error:
                # IllegalTransition: an update before any snapshot, nothing to apply it to;
                # the next snapshot heals. (Off-grid values never get here: the feed's
                # decoder refuses the frame, and the feed re-syncs.)
                self.apply_errors += 1
                self.last_apply_error = str(error)
        now = trio.current_time()
        for book in touched.values():
            self._publish_view(book, now)

    async def _on_trades(self, frame: TradesReceived) -> None:
        self.trade_frames += 1
        now = trio.current_time()
        closed: list[BarClosed] = []
        for trade in frame.trades:
            book = self.books.get(trade.product_id)
            if book is None:
                self.unknown_product_trades += 1
            elif not frame.snapshot:
                book.record_trade(trade.price, trade.size)
                for bar in self.bars[trade.product_id].add_trade(
                    trade.price, trade.size, frame.received_at
                ):
                    closed.append(BarClosed(product_id=trade.product_id, bar=bar, at=now))
        self.bars_closed += len(closed)
        for outbox, drops in self.market:
            await _deliver(outbox, drops, frame)
            for message in closed:
                await _deliver(outbox, drops, message)
        for trades in self.trades:
            await trades.send(frame)

    def _on_feed_status(self, status: FeedStatusChanged) -> None:
        self.feed_state = status.state
        reason = _DISTRUST.get(status.state)
        if reason is None:
            return  # CONNECTED: trust comes back only with the next snapshot
        now = trio.current_time()
        for book in self.books.values():
            book.distrust(reason)
            self._publish_view(book, now)

    async def tick_forever(self) -> None:
        """Every ``stale_check_interval``: staleness, then bars (drift-free schedule)."""
        interval = self.actor.stale_check_interval
        next_at = trio.current_time() + interval
        while True:
            await trio.sleep_until(next_at)
            next_at += interval
            await self.tick(trio.current_time())

    async def tick(self, now: float) -> None:
        max_age = self.actor.max_age
        for book in self.books.values():
            if book.check_stale(now, max_age):
                self._publish_view(book, now)
            else:
                self._publish_book_status(book, now)
        closed = [
            BarClosed(product_id=product_id, bar=bar, at=now)
            for product_id, builder in self.bars.items()
            for bar in builder.tick(now - self.actor.bar_grace)
        ]
        self.bars_closed += len(closed)
        self._publish_status()
        await self.send_trust_changes()
        for outbox, drops in self.market:
            for message in closed:
                await _deliver(outbox, drops, message)

    def _publish_view(self, book: L2Book, now: float) -> None:
        # Lazily: the view (a dozen Decimals and a frozen value) is built when a consumer
        # takes it, once for all of them, from the book as it is then; during a burst most
        # views are superseded before anyone reads them and are never built at all.
        build = _ViewBuilder(book, self.actor.depth)
        for mailbox in self.views:
            mailbox.put_lazy(book.product_id, build)  # conflating: never waits
        self.views_published += 1
        self._note_trust(book, now)
        self._publish_book_status(book, now)

    def _note_trust(self, book: L2Book, now: float) -> None:
        """Queue a :class:`BookTrustChanged` if the book's trust (or the reason it is not
        trusted) differs from what was last told."""
        trusted = book.state is TrustState.TRUSTED
        if trusted:
            reason = "SNAPSHOT"
        elif book.trust_reason is None:
            reason = book.state.name  # EMPTY: no snapshot yet
        else:
            reason = book.trust_reason.name
        if self.told.get(book.product_id) == (trusted, reason):
            return
        self.told[book.product_id] = (trusted, reason)
        if self.trust is not None:
            self.trust_changes.append(
                BookTrustChanged(product_id=book.product_id, trusted=trusted, reason=reason, at=now)
            )

    async def send_trust_changes(self) -> None:
        """Send the queued trust changes, oldest first (see "Concurrency")."""
        if self.trust is None:
            return
        outbox, drops = self.trust
        while self.trust_changes:
            change = self.trust_changes.popleft()
            if drops:
                outbox.send_nowait(change)
            else:
                await outbox.send(change)

    def _publish_book_status(self, book: L2Book, now: float) -> None:
        """Mark the book's status as changed at ``now``; it is built when read."""
        board = self.actor.board
        if board is not None:
            board.touch(f"{self.actor.name}/{book.product_id}", now)

    def _publish_status(self) -> None:
        """Mark the actor's status as changed; it is built when read."""
        board = self.actor.board
        if board is not None:
            board.touch(self.actor.name, trio.current_time())

    def publish_sources(self) -> None:
        """Register this incarnation's statuses on the board (built on read, see
        :mod:`cjt_actors.status`): the book is on the hot path, readers are not."""
        board = self.actor.board
        if board is None:
            return
        for book in self.books.values():
            board.publish_source(
                f"{self.actor.name}/{book.product_id}", partial(self._book_status, book)
            )
        board.publish_source(self.actor.name, self._actor_status)

    def _book_status(self, book: L2Book) -> BookStatus:
        now = _reading_time(book.last_update_time)
        best_bid = book.best_bid()
        best_ask = book.best_ask()
        updated_at = book.last_update_time
        return BookStatus(
            product_id=book.product_id,
            state=book.state,
            reason=book.trust_reason,
            sequence=book.sequence,
            counters=book.counters,
            best_bid=None if best_bid is None else best_bid[0],
            best_ask=None if best_ask is None else best_ask[0],
            updated_at=updated_at,
            age=None if updated_at is None else now - updated_at,
            as_of=now,
        )

    def _actor_status(self) -> BookActorStatus:
        return BookActorStatus(
            incarnation=self.incarnation,
            feed_state=self.feed_state,
            l2_frames=self.l2_frames,
            trade_frames=self.trade_frames,
            views_published=self.views_published,
            bars_closed=self.bars_closed,
            late_trades=sum(
                bars.builder(interval).late_trades
                for bars in self.bars.values()
                for interval in bars.intervals
            ),
            unknown_product_events=self.unknown_product_events,
            unknown_product_trades=self.unknown_product_trades,
            apply_errors=self.apply_errors,
            last_apply_error=self.last_apply_error,
        )


@final
class _ViewBuilder:
    """Builds one :class:`BookUpdated` of ``book`` on first call, and returns it again to
    every later caller (the consumers of one publication share one view)."""

    __slots__ = ("_book", "_built", "_depth")

    def __init__(self, book: L2Book, depth: int) -> None:
        self._book = book
        self._depth = depth
        self._built: BookUpdated | None = None

    def __call__(self) -> BookUpdated:
        if self._built is None:
            book = self._book
            now = _reading_time(book.last_update_time)
            self._built = BookUpdated(view=book.view(self._depth, now=now))
        return self._built


def _reading_time(fallback: float | None) -> float:
    """trio's clock for a status read inside trio; outside (a summary after the run), the
    book's last update."""
    try:
        return trio.current_time()
    except RuntimeError:
        return fallback if fallback is not None else 0.0


def _trust_sender(ctx: ChildContext, box: TrustOutbox) -> tuple[Outbox[BookTrustChanged], bool]:
    # Mailbox is invariant (it sends and receives); a Mailbox[Event] accepts these.
    sender = ctx.sender(cast("Mailbox[BookTrustChanged]", box))
    return sender, box.overflow is Overflow.DROP_OLDEST


async def _deliver(
    outbox: Outbox[TradesReceived | BarClosed], drops: bool, value: TradesReceived | BarClosed
) -> None:
    """Send by the mailbox's policy: DROP_OLDEST never waits (no checkpoint either, so the
    handler stays synchronous); BLOCK waits for room."""
    if drops:
        outbox.send_nowait(value)
    else:
        await outbox.send(value)
