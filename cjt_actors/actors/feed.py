"""The feed actor: the market-data WebSocket, turned into one message per frame for the book.

Receives: nothing from other actors. It runs a
:class:`~cjt_actors.exchange.ws.WebSocketClient` subscribed to ``level2`` and
``market_trades`` for its products (``heartbeats`` always comes with it) and handles the
client's items inline, in the client's own task (no channel hop per frame).

Sends:
    * ``to_book`` (:data:`FeedMessage`, the book's inbox): one :class:`L2FrameReceived` per
      ``l2_data`` frame and one :class:`TradesReceived` per ``market_trades`` frame (the
      decoded events whole, never one message per level), and every
      :class:`FeedStatusChanged`, in order with the frames. The edge must be a BLOCK mailbox:
      a dropped delta silently corrupts the book, so the feed waits instead, and while it
      waits it does not read the socket, so the WebSocket's own flow control pushes back on
      the exchange (which, if we stay behind too long, closes the connection: a reconnect
      and a fresh snapshot, never a wrong book). Expected capacity: about a thousand
      messages, enough to ride out a burst while the book is busy, small enough that a stuck
      book stops the reading within a second or two.
    * ``status_outboxes`` (risk's and the journal's): every :class:`FeedStatusChanged`. A
      DROP_OLDEST mailbox gets it with ``send_nowait`` (it never blocks; risk only needs the
      latest state, a few dozen slots are plenty); a BLOCK mailbox (the journal: every
      status change is a fact worth keeping) is awaited.
    * ``board`` (optional): a frozen :class:`FeedStatus` after every item.

Statuses: CONNECTING when an incarnation starts; CONNECTED when the subscriptions went out,
and again on the first frame after a GAP; RECONNECTING on a closed or dropped connection, a
failed connection attempt and an error frame; STALE when nothing arrived for ``stale_after``
seconds (the client then replaces the connection); GAP on a sequence gap and on a malformed
``l2_data`` frame (a lost level-2 frame is a gap for the book). Heartbeats only prove
liveness: they are counted, never forwarded.

Re-sync after a gap: the book cannot trust a product again before a new snapshot, and on an
open connection the exchange sends one only for a new subscription, so on a GAP the feed
unsubscribes and resubscribes ``level2`` on the same connection
(:meth:`WebSocketClient.resubscribe`, ``reference/coinbase-api.md`` §4.5); if the connection
is closing instead, the next one subscribes afresh and brings the snapshot anyway.

Giving up: the client reconnects after an error frame (a refused subscription, a bad JWT)
forever; the feed counts them and, after ``max_error_frames`` in a row without the exchange
confirming both subscriptions for every product, raises :class:`FeedRejected`: retrying a
refusal forever would hide it, and whether to restart or escalate is the supervisor's call.

Restart (PERMANENT, after the book in the trading supervisor's rest_for_one order): nothing is
recovered. A new incarnation has a new client: it announces CONNECTING (the book distrusts
every book it holds), connects, subscribes, and the exchange sends a fresh snapshot. When
the book restarts, rest_for_one restarts the feed after it, which is how the new book gets
its snapshot.

Cancelled: it just unwinds; the client closes the socket (close code 1001) on its way out.
Nothing is flushed: a frame not yet handed to the book is lost with the connection, and the
next incarnation's snapshot replaces it.

Ready: ``task_status.started()`` is called once CONNECTING has been announced, before the
first connection attempt. Connecting is retried forever and reported as status events, which
the book and risk act on; waiting for the network before reporting ready would turn a network
outage at start-up into a start-up that never finishes, holding back every later sibling.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeAlias, cast

import attrs
import trio

from ..channels import Mailbox, Outbox, Overflow
from ..child import ChildContext
from ..errors import CjtError, InvalidSpec
from ..exchange.auth import Credentials
from ..exchange.l2ticks import L2TickData, L2TickDecoder
from ..exchange.stream import (
    Connected,
    ConnectFailed,
    Disconnected,
    ErrorFrame,
    Frame,
    Heartbeats,
    MalformedFrame,
    MarketTrades,
    OutOfOrder,
    SequenceGap,
    StreamItem,
    StreamStale,
    Subscribed,
    Subscriptions,
    Trade,
    TradesEvent,
    excerpt,
)
from ..exchange.ws import DEFAULT_BACKOFF, MARKET_DATA_URL, Connector, WebSocketClient
from ..market_messages import FeedState, FeedStatusChanged, L2FrameReceived, TradesReceived
from ..messages import Event
from ..policy import Backoff
from ..products import ProductRules
from ..status import StatusBoard

__all__ = ["FeedActor", "FeedMessage", "FeedRejected", "FeedStatus", "StatusOutbox"]

#: What the feed sends the book, in one mailbox so statuses stay in order with the frames.
FeedMessage: TypeAlias = L2FrameReceived | TradesReceived | FeedStatusChanged
#: A mailbox status changes go to: risk's takes only these, the journal's takes any event.
StatusOutbox: TypeAlias = Mailbox[FeedStatusChanged] | Mailbox[Event]

#: The subscriptions the book needs; ``heartbeats`` is added by the client.
_CHANNELS: Final = ("level2", "market_trades")


class FeedRejected(CjtError):
    """The exchange refused the market-data subscriptions again and again.

    Attributes:
        url: the WebSocket endpoint.
        error_frames: how many error frames came in a row.
        last_error: the last error frame's text (the exchange's words, shortened).
    """

    def __init__(self, url: str, error_frames: int, last_error: str) -> None:
        super().__init__(
            f"market-data feed {url}: {error_frames} error frames in a row and no confirmed "
            f"subscription (last: {last_error!r}); giving up and leaving it to the supervisor"
        )
        self.url = url
        self.error_frames = error_frames
        self.last_error = last_error


@attrs.frozen(kw_only=True)
class FeedStatus:
    """One incarnation's feed, as published on the status board (under the actor's name).

    Counters start at 0 with every incarnation. ``frames`` counts data frames of every
    channel, heartbeats and subscription confirmations included; ``reconnects`` counts
    connections that ended or failed to open; ``resyncs`` the level2 resubscriptions asked
    for after gaps; ``last_frame_at`` is trio's clock when the last frame was read.
    """

    state: FeedState
    detail: str
    incarnation: int
    frames: int
    heartbeats: int
    reconnects: int
    gaps: int
    resyncs: int
    malformed: int
    out_of_order: int
    error_frames: int
    last_frame_at: float | None


def _products(
    instance: FeedActor, attribute: attrs.Attribute[tuple[str, ...]], value: object
) -> None:
    if not isinstance(value, tuple) or not value:
        raise InvalidSpec(f"products: must be a non-empty tuple of product ids, got {value!r}")


def _positive_int(instance: FeedActor, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSpec(f"{attribute.name}: must be an integer >= 1, got {value!r}")


@attrs.define(kw_only=True)
class FeedActor:
    """See the module docstring.

    Args:
        products: the product ids to subscribe (``level2`` and ``market_trades`` each).
        rules: every product's increments: ``l2_data`` is decoded straight into its ticks
            and size units, and a level off the grid is a malformed frame (a re-sync).
        url: the market-data endpoint.
        to_book: the book's inbox (BLOCK; see the module docstring).
        status_outboxes: risk's (DROP_OLDEST) and the journal's (BLOCK) mailboxes.
        connector: the WebSocket transport; ``None`` is TCP (TLS for ``wss://``).
        credentials: sign the subscriptions with JWTs (public channels work without).
        stale_after: seconds without any frame after which the connection is replaced
            (heartbeats come every second).
        backoff, rng: reconnect delays and their jitter; pass a seeded ``rng`` for
            reproducible runs (``None``: the client's own, unseeded).
        max_error_frames: error frames in a row (without a confirmed subscription) after
            which :class:`FeedRejected` is raised.
        board: where :class:`FeedStatus` is published, under ``name``.
        wall_clock: epoch seconds, for the JWTs' claims only (the exchange checks them
            against its own clock); under a simulator in virtual time, its ``epoch``.

    Raises:
        InvalidSpec: at construction, for a malformed argument (named in the message), the
            client's own checks of ``url``, ``products`` and ``stale_after`` included.
    """

    products: tuple[str, ...] = attrs.field(validator=_products)
    rules: Mapping[str, ProductRules]
    to_book: Mailbox[FeedMessage]
    url: str = MARKET_DATA_URL
    status_outboxes: Sequence[StatusOutbox] = ()
    connector: Connector | None = None
    credentials: Credentials | None = attrs.field(default=None, repr=False)
    stale_after: float = 10.0
    backoff: Backoff = DEFAULT_BACKOFF
    rng: random.Random | None = None
    max_error_frames: int = attrs.field(default=5, validator=_positive_int)
    board: StatusBoard | None = None
    name: str = "feed"
    wall_clock: Callable[[], float] = time.time

    def __attrs_post_init__(self) -> None:
        self._client()  # the client checks url, channels and timings: fail here, not at run
        missing = [product for product in self.products if product not in self.rules]
        if missing:
            raise InvalidSpec(f"rules: no increments for {', '.join(missing)}")

    def _client(self) -> WebSocketClient:
        return WebSocketClient(
            channels=dict.fromkeys(_CHANNELS, self.products),
            url=self.url,
            credentials=self.credentials,
            connect=self.connector,
            backoff=self.backoff,
            rng=self.rng,
            stale_after=self.stale_after,
            now=self.wall_clock,
            decoders={
                "l2_data": L2TickDecoder(
                    {
                        product: (rules.price_increment, rules.base_increment)
                        for product, rules in self.rules.items()
                        if product in self.products
                    }
                )
            },
        )

    async def run(
        self, ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect and forward until cancelled; raises :class:`FeedRejected` when refused."""
        status_outboxes = tuple(
            # Mailbox is invariant (it sends and receives); a Mailbox[Event] accepts these.
            (
                ctx.sender(cast("Mailbox[FeedStatusChanged]", box)),
                box.overflow is Overflow.DROP_OLDEST,
            )
            for box in self.status_outboxes
        )
        feed = _Feed(
            actor=self,
            client=self._client(),
            to_book=ctx.sender(self.to_book),
            status_outboxes=status_outboxes,
            incarnation=ctx.incarnation,
        )
        if self.board is not None:
            # Built when read (the feed changes with every frame; see cjt_actors.status).
            self.board.publish_source(self.name, feed.status)
        await feed.announce(FeedState.CONNECTING, f"connecting to {self.url}")
        task_status.started()
        with feed.scope:
            await feed.client.run(feed.on_item)
        # Only a rejection cancels that scope. It is raised here, outside the client, so it
        # reaches the supervisor as itself, not wrapped in the transport's exception groups.
        assert feed.rejected is not None
        raise feed.rejected


@attrs.define(kw_only=True)
class _Feed:
    """One incarnation: its client, its outboxes and its counters."""

    actor: FeedActor
    client: WebSocketClient
    to_book: Outbox[FeedMessage]
    status_outboxes: tuple[tuple[Outbox[FeedStatusChanged], bool], ...]
    incarnation: int
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)  #: cancelled on rejection
    rejected: FeedRejected | None = None
    state: FeedState = FeedState.CONNECTING
    detail: str = ""
    attempt: int = 0
    frames: int = 0
    heartbeats: int = 0
    reconnects: int = 0
    gaps: int = 0
    resyncs: int = 0
    malformed: int = 0
    out_of_order: int = 0
    error_frames: int = 0
    errors_in_a_row: int = 0
    last_frame_at: float | None = None

    async def on_item(self, item: StreamItem) -> None:
        """The client's callback: one item, handled before the next is read."""
        match item:
            case Frame():
                await self._frame(item)
            case Connected():
                pass  # Subscribed follows at once: that is the moment to announce
            case Subscribed():
                await self.announce(
                    FeedState.CONNECTED, f"subscribed to {', '.join(item.channels)}"
                )
            case SequenceGap():
                self.gaps += 1
                detail = (
                    f"sequence_num jumped from {item.expected - 1} to {item.received}: "
                    f"{item.received - item.expected} frame(s) lost (seen on {item.channel})"
                )
                await self._lost_frames(detail)
            case MalformedFrame():
                self.malformed += 1
                if item.channel == "l2_data":
                    await self._lost_frames(f"malformed l2_data frame skipped: {item.reason}")
                # Another channel's frame is lost for good (trades are advisory). One whose
                # envelope could not be read still took its sequence number: if it was
                # level2, the next frame shows the gap.
            case StreamStale():
                await self.announce(FeedState.STALE, f"no frame for {item.silent_for:.1f} s")
            case Disconnected():
                self._ended()
                code = "" if item.code is None else f" (code {item.code})"
                await self.announce(
                    FeedState.RECONNECTING, f"{item.reason}{code}; retry in {item.retry_in:.1f} s"
                )
            case ConnectFailed():
                self._ended()
                await self.announce(
                    FeedState.RECONNECTING, f"{item.reason}; retry in {item.retry_in:.1f} s"
                )
            case ErrorFrame():
                await self._error_frame(item)
            case OutOfOrder():
                # Dropped by the client; it is behind a frame already seen, so whatever was
                # lost before it was reported as a gap then.
                self.out_of_order += 1
            case _:
                pass  # UnknownChannel: not subscribed here; the client counts it
        self._publish_status()

    async def _frame(self, frame: Frame) -> None:
        self.frames += 1
        self.last_frame_at = frame.received_at
        if self.state is not FeedState.CONNECTED:
            await self.announce(FeedState.CONNECTED, f"frames flowing again ({frame.channel})")
        match frame.payload:
            case L2TickData(events=events):
                message = L2FrameReceived(
                    sequence_num=frame.sequence_num,
                    received_at=frame.received_at,
                    events=events,
                )
                # Hand over without a trip through the scheduler when the book has room:
                # the client's next read yields anyway, and the book then runs. Only a
                # full inbox waits (and so stops the reading: the module docstring's
                # backpressure).
                try:
                    self.to_book.send_nowait(message)
                except trio.WouldBlock:
                    await self.to_book.send(message)
            case MarketTrades(events=events):
                for snapshot, trades in _trade_runs(events):
                    await self.to_book.send(
                        TradesReceived(
                            sequence_num=frame.sequence_num,
                            received_at=frame.received_at,
                            snapshot=snapshot,
                            trades=trades,
                        )
                    )
            case Heartbeats():
                self.heartbeats += 1
            case Subscriptions(channels=channels):
                if self._confirms(channels):
                    self.errors_in_a_row = 0
            case _:
                pass  # ticker or user frames: never subscribed by this client

    def _confirms(self, channels: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
        """Whether a ``subscriptions`` frame lists both channels for every product.

        Not the client's :class:`Subscribed` (that only says the requests went out: a refusal
        comes after it) and not any data frame (``heartbeats`` may be accepted while
        ``level2`` is refused): only the exchange's own confirmation of everything asked.
        """
        listed = dict(channels)
        wanted = set(self.actor.products)
        return all(wanted <= set(listed.get(name, ())) for name in _CHANNELS)

    async def _lost_frames(self, detail: str) -> None:
        await self.announce(FeedState.GAP, detail)
        self.resyncs += 1
        # False means the connection is closing: the next one subscribes afresh and gets a
        # snapshot anyway, so there is nothing more to do either way.
        await self.client.resubscribe("level2")

    def _ended(self) -> None:
        self.reconnects += 1
        self.attempt += 1

    async def _error_frame(self, item: ErrorFrame) -> None:
        self.error_frames += 1
        self.errors_in_a_row += 1
        message = excerpt(item.message, 200)
        limit = self.actor.max_error_frames
        await self.announce(
            FeedState.RECONNECTING,
            f"error frame {self.errors_in_a_row}/{limit} from the exchange: {message}",
        )
        if self.errors_in_a_row >= limit:
            self.rejected = FeedRejected(self.actor.url, self.errors_in_a_row, message)
            self.scope.cancel(reason="the exchange keeps refusing the subscriptions")

    async def announce(self, state: FeedState, detail: str) -> None:
        """Tell the book (in order with the frames), then risk and the journal."""
        self.state = state
        self.detail = detail
        if state is FeedState.CONNECTED:
            self.attempt = 0
        status = FeedStatusChanged(
            state=state, detail=detail, attempt=self.attempt, at=trio.current_time()
        )
        await self.to_book.send(status)
        for outbox, drops in self.status_outboxes:
            if drops:
                outbox.send_nowait(status)  # DROP_OLDEST: never waits, never raises WouldBlock
            else:
                await outbox.send(status)
        self._publish_status()

    def _publish_status(self) -> None:
        """Mark the status as changed now (it is built when read: :meth:`status`)."""
        board = self.actor.board
        if board is not None:
            board.touch(self.actor.name, trio.current_time())

    def status(self) -> FeedStatus:
        """This incarnation as a frozen value."""
        return FeedStatus(
            state=self.state,
            detail=self.detail,
            incarnation=self.incarnation,
            frames=self.frames,
            heartbeats=self.heartbeats,
            reconnects=self.reconnects,
            gaps=self.gaps,
            resyncs=self.resyncs,
            malformed=self.malformed,
            out_of_order=self.out_of_order,
            error_frames=self.error_frames,
            last_frame_at=self.last_frame_at,
        )


def _trade_runs(events: tuple[TradesEvent, ...]) -> list[tuple[bool, tuple[Trade, ...]]]:
    """The frame's trades as (snapshot, trades) runs: one run for every frame Coinbase sends.

    A snapshot (trades from before the subscription, repeated after every reconnect) must stay
    distinguishable from live trades, so a frame that mixed the two would become one message
    per run. Events without trades are left out.
    """
    runs: list[tuple[bool, list[Trade]]] = []
    for event in events:
        snapshot = event.type == "snapshot"
        if runs and runs[-1][0] == snapshot:
            runs[-1][1].extend(event.trades)
        else:
            runs.append((snapshot, list(event.trades)))
    return [(snapshot, tuple(trades)) for snapshot, trades in runs if trades]
