"""Mailboxes: bounded channels that outlive the actors reading them.

An actor that crashes and is restarted must find its inbox as it left it: the messages still
queued are there, and the actors sending to it never noticed. A bare trio memory channel does
not give that: when the consumer closes its receive end (``async with inbox:``) the producers
get ``BrokenResourceError``. So a :class:`Mailbox` keeps the original endpoints and hands out
*clones*: each incarnation of an actor gets its own receive clone, and each producer its own
send clone. Closing a clone never closes the channel; only the mailbox's owner (the
supervisor) does, with :meth:`Mailbox.close`, after every actor using it has stopped.

Every mailbox is bounded (``math.inf`` is refused) and states what happens when it is full:

* :attr:`Overflow.BLOCK`: the producer waits. For order and execution events, which must
  never be dropped.
* :attr:`Overflow.DROP_OLDEST`: the oldest queued message is discarded and counted. For
  market data and observers, where the newest value matters more than a complete history.
  (A dropping sender holds a receive clone to drop through, so its producer never sees
  ``BrokenResourceError``: with no consumer left, its messages are simply dropped.)

A message that an actor had already taken from its inbox when it crashed is not put back:
redelivering the message that crashed it would make a crash loop out of one bad message.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar, final

import attrs
import trio

from .errors import InvalidSpec

__all__ = [
    "ConflatedReceiver",
    "ConflatingMailbox",
    "Mailbox",
    "MailboxStatistics",
    "Outbox",
    "Overflow",
]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
T_contra = TypeVar("T_contra", contravariant=True)


class Overflow(enum.Enum):
    """What a full mailbox does with one more message."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"


class Outbox(Protocol[T_contra]):
    """The sending side an actor writes to: a send-channel clone, or a dropping sender."""

    async def send(self, value: T_contra, /) -> None: ...

    def send_nowait(self, value: T_contra, /) -> None: ...

    def close(self) -> None: ...


@attrs.frozen(kw_only=True)
class MailboxStatistics:
    """A snapshot of a mailbox, for metrics and health checks."""

    name: str
    capacity: int
    overflow: Overflow
    depth: int  #: messages queued now
    sent: int  #: messages accepted since the mailbox was made
    dropped: int  #: messages discarded by DROP_OLDEST
    senders: int  #: open send clones, the mailbox's own included
    receivers: int  #: open receive clones, the mailbox's own included


@final
class Mailbox(Generic[T]):
    """A named, bounded channel owned by a supervisor and shared across restarts.

    Args:
        name: used in statistics and errors.
        capacity: how many messages may wait. 0 makes every send a rendezvous; state the
            reason for the number where the mailbox is made.
        overflow: what a full mailbox does (see :class:`Overflow`).

    Raises:
        InvalidSpec: for an infinite, negative or non-integer capacity, or DROP_OLDEST with
            capacity 0 (there is never an oldest message to drop).
    """

    def __init__(self, name: str, *, capacity: int, overflow: Overflow = Overflow.BLOCK) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            if isinstance(capacity, float) and math.isinf(capacity):
                raise InvalidSpec(f"mailbox {name!r}: capacity must be finite, got inf")
            raise InvalidSpec(f"mailbox {name!r}: capacity must be an int, got {capacity!r}")
        if capacity < 0:
            raise InvalidSpec(f"mailbox {name!r}: capacity must be >= 0, got {capacity}")
        if overflow is Overflow.DROP_OLDEST and capacity == 0:
            raise InvalidSpec(f"mailbox {name!r}: DROP_OLDEST needs a capacity of at least 1")
        self.name = name
        self.capacity = capacity
        self.overflow = overflow
        self._send, self._receive = trio.open_memory_channel[T](capacity)
        self._counters = _Counters()

    def __repr__(self) -> str:
        return (
            f"<Mailbox {self.name!r} capacity={self.capacity} overflow={self.overflow.value} "
            f"depth={self._send.statistics().current_buffer_used}>"
        )

    def sender(self) -> Outbox[T]:
        """A new send clone for one producer. The producer closes it; the channel stays open."""
        clone = self._send.clone()
        if self.overflow is Overflow.DROP_OLDEST:
            # Its own receive clone to drop through, so it keeps working after close().
            return _DroppingSender(clone, self._receive.clone(), self._counters)
        return _CountingSender(clone, self._counters)

    def receiver(self) -> trio.MemoryReceiveChannel[T]:
        """A new receive clone for one consumer incarnation. Closing it loses no message."""
        return self._receive.clone()

    def statistics(self) -> MailboxStatistics:
        stats = self._send.statistics()
        return MailboxStatistics(
            name=self.name,
            capacity=self.capacity,
            overflow=self.overflow,
            depth=stats.current_buffer_used,
            sent=self._counters.sent,
            dropped=self._counters.dropped,
            senders=stats.open_send_channels,
            receivers=stats.open_receive_channels,
        )

    def close(self) -> None:
        """Close the mailbox's own endpoints (synchronous, so safe in cancelled cleanup).

        Consumers see ``EndOfChannel`` once every producer clone is closed too; producers see
        ``BrokenResourceError`` once every consumer clone is closed.
        """
        self._send.close()
        self._receive.close()


@attrs.define
class _Counters:
    sent: int = 0
    dropped: int = 0


@final
class _CountingSender(Generic[T]):
    """A send clone that counts what it delivers (Overflow.BLOCK)."""

    __slots__ = ("_counters", "_send")

    def __init__(self, send: trio.MemorySendChannel[T], counters: _Counters) -> None:
        self._send = send
        self._counters = counters

    async def send(self, value: T, /) -> None:
        await self._send.send(value)
        self._counters.sent += 1

    def send_nowait(self, value: T, /) -> None:
        self._send.send_nowait(value)
        self._counters.sent += 1

    def close(self) -> None:
        self._send.close()


@final
class _DroppingSender(Generic[T]):
    """A send clone that makes room by discarding the oldest queued message."""

    __slots__ = ("_counters", "_receive", "_send")

    def __init__(
        self,
        send: trio.MemorySendChannel[T],
        receive: trio.MemoryReceiveChannel[T],
        counters: _Counters,
    ) -> None:
        self._send = send
        self._receive = receive
        self._counters = counters

    async def send(self, value: T, /) -> None:
        # Checkpoint discipline of trio's own MemorySendChannel.send: a cancellation can only
        # happen before the message is queued, never after, so "sent" is never undone.
        await trio.lowlevel.checkpoint_if_cancelled()
        self.send_nowait(value)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def send_nowait(self, value: T, /) -> None:
        while True:
            try:
                self._send.send_nowait(value)
            except trio.WouldBlock:
                try:
                    self._receive.receive_nowait()
                except trio.WouldBlock:  # pragma: no cover - capacity >= 1 makes this impossible
                    raise AssertionError("full mailbox with nothing to drop") from None
                self._counters.dropped += 1
            else:
                self._counters.sent += 1
                return

    def close(self) -> None:
        self._send.close()
        self._receive.close()


@final
class ConflatingMailbox(Generic[K, T]):
    """Latest value per key: the producer never waits, a slow consumer sees newer values.

    For market views (DESIGN §2: "market data may conflate"): the book publishes the latest
    :class:`~cjt_actors.market_messages.BookUpdated` per product; if strategy is still busy
    with the previous one, the pending view of that product is *replaced* in place (it keeps
    its place in the queue, so products are served fairly) and the replacement is counted as
    ``dropped``. The queue can never hold more than one value per key.

    Bounded: at most ``max_keys`` keys may be pending at once. A value with a new key beyond
    that discards the oldest pending value (counted), so a bug that invents keys cannot grow
    memory. Like :class:`Mailbox`, it outlives the actors using it: receivers and senders are
    light handles whose ``close`` does nothing to the mailbox; only :meth:`close` ends it.

    There is one consumer at a time by design (the actor that owns the edge); two receivers
    would split the values between them.

    A producer whose values are costly to build and mostly superseded before anyone reads
    them (the book's views: one per frame, read a few times a second by a busy strategy, by
    nobody during a burst) may queue a *builder* instead (:meth:`put_lazy`): the value is
    built when the consumer takes it, from the producer's state at that moment, so it is
    never older than an eagerly built one would have been.
    """

    def __init__(self, name: str, *, key: Callable[[T], K], max_keys: int) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise InvalidSpec(f"mailbox {name!r}: max_keys must be an int >= 1, got {max_keys!r}")
        self.name = name
        self.max_keys = max_keys
        self._key = key
        self._pending: dict[K, T | _Deferred[T]] = {}
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self._counters = _Counters()

    def __repr__(self) -> str:
        return (
            f"<ConflatingMailbox {self.name!r} max_keys={self.max_keys} depth={len(self._pending)}>"
        )

    def sender(self) -> Outbox[T]:
        """A send handle (never blocks: ``send`` is ``send_nowait`` plus a checkpoint)."""
        return _ConflatingSender(self)

    def receiver(self) -> ConflatedReceiver[T]:
        """A receive handle for the consumer."""
        return ConflatedReceiver(self)

    def put(self, value: T) -> None:
        """Queue ``value``, replacing a pending value with the same key.

        Raises:
            trio.ClosedResourceError: after :meth:`close`.
        """
        self._queue(self._key(value), value)

    def put_lazy(self, key: K, build: Callable[[], T]) -> None:
        """Queue ``build`` under ``key``; the consumer gets ``build()``, called when it takes
        the value (see the class docstring). Replaces a pending value as :meth:`put` does.

        Raises:
            trio.ClosedResourceError: after :meth:`close`.
        """
        self._queue(key, _Deferred(build))

    def _queue(self, key: K, value: T | _Deferred[T]) -> None:
        if self._closed:
            raise trio.ClosedResourceError(f"mailbox {self.name!r} is closed")
        if key in self._pending:
            self._counters.dropped += 1
        elif len(self._pending) >= self.max_keys:
            del self._pending[next(iter(self._pending))]
            self._counters.dropped += 1
        self._pending[key] = value
        self._counters.sent += 1
        self._lot.unpark_all()

    def get_nowait(self) -> T:
        """The oldest pending value. Raises ``trio.WouldBlock`` if none, ``trio.EndOfChannel``
        once closed and drained."""
        if self._pending:
            key = next(iter(self._pending))
            value = self._pending.pop(key)
            return value.build() if type(value) is _Deferred else value
        if self._closed:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def get(self) -> T:
        """Wait for a value (a checkpoint even when one is ready)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                value = self.get_nowait()
            except trio.WouldBlock:
                await self._lot.park()
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return value

    def statistics(self) -> MailboxStatistics:
        return MailboxStatistics(
            name=self.name,
            capacity=self.max_keys,
            overflow=Overflow.DROP_OLDEST,
            depth=len(self._pending),
            sent=self._counters.sent,
            dropped=self._counters.dropped,
            senders=0 if self._closed else 1,
            receivers=0 if self._closed else 1,
        )

    def close(self) -> None:
        """End the mailbox: the consumer drains what is pending, then sees ``EndOfChannel``."""
        self._closed = True
        self._lot.unpark_all()


@final
class _Deferred(Generic[T]):
    """A value of a :class:`ConflatingMailbox` built when taken (:meth:`~ConflatingMailbox.put_lazy`)."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], T]) -> None:
        self.build = build


@final
class ConflatedReceiver(Generic[T]):
    """The consumer's handle on a :class:`ConflatingMailbox` (an async iterator)."""

    __slots__ = ("_closed", "_mailbox")

    def __init__(self, mailbox: ConflatingMailbox[Any, T]) -> None:
        self._mailbox = mailbox
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this receiver was closed")

    async def receive(self) -> T:
        self._check_open()
        return await self._mailbox.get()

    def receive_nowait(self) -> T:
        self._check_open()
        return self._mailbox.get_nowait()

    def __aiter__(self) -> ConflatedReceiver[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Close this handle (later receives raise); the mailbox itself stays open."""
        self._closed = True


@final
class _ConflatingSender(Generic[T]):
    __slots__ = ("_closed", "_mailbox")

    def __init__(self, mailbox: ConflatingMailbox[Any, T]) -> None:
        self._mailbox = mailbox
        self._closed = False

    async def send(self, value: T, /) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self.send_nowait(value)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def send_nowait(self, value: T, /) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this sender was closed")
        self._mailbox.put(value)

    def close(self) -> None:
        """Close this handle (later sends raise); the mailbox itself stays open."""
        self._closed = True
