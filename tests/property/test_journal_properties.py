"""Property tests of the journal: what goes in comes out, and the hash is the content's.

Messages are drawn from every registered class (a class registered later is covered as soon
as it exists), with the values the journal promises to keep: finite floats, integers that fit
in 64 bits (JSON numbers beyond are refused, see tests/unit/test_journal.py).
"""

from __future__ import annotations

import enum
import itertools
import tempfile
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from cjt_actors.codec import encode
from cjt_actors.journal import AsyncJournal, Journal
from cjt_actors.messages import Message, all_message_types

finite = st.floats(allow_nan=False, allow_infinity=False)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the field type ``tp`` that JSON holds exactly."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        int: st.integers(-(2**63), 2**63 - 1),
        float: finite,
        str: st.text(),
        Decimal: st.decimals(allow_nan=False, allow_infinity=False),
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(tp)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if tp is type(None):
        return st.none()
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a) for a in args))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy_for(a) for a in args))
    if isinstance(tp, type) and attrs.has(tp):
        return message_of(tp)
    raise NotImplementedError(f"no strategy for field type {tp!r}: extend strategy_for()")


def message_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{a.name: strategy_for(hints[a.name]) for a in attrs.fields(cls)})


messages = st.sampled_from(all_message_types()).flatmap(message_of)
timed = st.tuples(messages, finite)
histories = st.lists(timed, max_size=12)


@contextmanager
def fresh_journal() -> Iterator[Journal]:
    """A journal in its own temporary directory (tmp_path is per test, not per example)."""
    with tempfile.TemporaryDirectory() as directory, Journal.open(Path(directory) / "j.db") as j:
        yield j


def write(journal: Journal, history: list[tuple[Message, float]], cuts: list[int]) -> None:
    """Write ``history`` in batches split at ``cuts`` (a batch of one uses append())."""
    bounds = sorted({0, len(history), *(c % (len(history) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        batch = history[start:end]
        if len(batch) == 1:
            journal.append(batch[0][0], at=batch[0][1])
        else:
            journal.append_many(batch)


def canonical(history: list[tuple[Message, float]]) -> list[tuple[bytes, float]]:
    """What the digest sees: canonical payload text and the time as SQLite keeps it."""
    return [(orjson.dumps(encode(m), option=orjson.OPT_SORT_KEYS), at + 0.0) for m, at in history]


@given(history=histories, cuts=st.lists(st.integers(0, 12), max_size=4))
def test_what_is_appended_reads_back_equal_in_order(
    history: list[tuple[Message, float]], cuts: list[int]
) -> None:
    """(g) Every message comes back as the same value, same time, contiguous seqs.

    A restart rebuilds positions from what it reads: a fill that comes back with its size
    rounded, its time shifted or out of order would rebuild a different book of positions.
    """
    with fresh_journal() as journal:
        write(journal, history, cuts)
        entries = list(journal.read())
    assert [seq for seq, _, _ in entries] == list(range(1, len(history) + 1))
    assert [(m, at) for _, at, m in entries] == history
    assert all(type(m) is type(h) for (_, _, m), (h, _) in zip(entries, history, strict=True))


@given(
    first=histories,
    second=histories,
    cuts_a=st.lists(st.integers(0, 12), max_size=4),
    cuts_b=st.lists(st.integers(0, 12), max_size=4),
)
def test_the_digest_is_a_function_of_content_only(
    first: list[tuple[Message, float]],
    second: list[tuple[Message, float]],
    cuts_a: list[int],
    cuts_b: list[int],
) -> None:
    """(g) Equal content gives equal hashes however it was batched; different content differs.

    The scenario runner prints the journal hash to prove two runs did the same thing: a
    hash that depended on batching would flag identical runs, one blind to content would
    pass different ones.
    """
    with fresh_journal() as a, fresh_journal() as b, fresh_journal() as c:
        write(a, first, cuts_a)
        write(b, first, cuts_b)
        write(c, second, cuts_a)
        assert a.digest() == b.digest()
        assert (a.digest() == c.digest()) == (canonical(first) == canonical(second))


order_states = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.none(), st.booleans(), st.text(), st.integers(-(2**63), 2**63 - 1), finite),
    max_size=4,
)


@given(history=st.lists(timed, min_size=1, max_size=6), state=order_states)
def test_one_commit_for_an_order_holds_what_a_commit_per_event_holds(
    history: list[tuple[Message, float]], state: dict[str, Any]
) -> None:
    """(g) append_many_for_order is append_for_order per event, the last with the final row,
    in one transaction: the same events, seqs and row, so the same hash.

    The executor journals a fresh intent and its move to SUBMITTED in one commit (one fsync
    before the request leaves); replay and the scenario hashes must not see the difference.
    """
    with fresh_journal() as fused, fresh_journal() as split:
        seqs = fused.append_many_for_order(history, client_order_id="c", state=state)
        for index, (message, at) in enumerate(history):
            last = index == len(history) - 1
            row = state if last else {"step": index}
            split.append_for_order(message, at=at, client_order_id="c", state=row)
        assert seqs == list(range(1, len(history) + 1))
        assert fused.orders() == {"c": state}
        assert fused.digest() == split.digest()


@given(
    moves=st.lists(
        st.tuples(messages, finite, st.sampled_from(["a", "b", "c"]), order_states), max_size=8
    )
)
def test_one_commit_for_many_orders_holds_what_a_commit_per_move_holds(
    moves: list[tuple[Message, float, str, dict[str, Any]]],
) -> None:
    """(g) append_moves is append_for_order per move, in one transaction: the same events,
    seqs and rows (an order moved twice keeps its last state), so the same hash.

    The emergency step journals the cancel requests of a whole batch in one commit before
    the batch leaves; replay, recovery and the scenario hashes must not see the difference.
    """
    with fresh_journal() as fused, fresh_journal() as split:
        seqs = fused.append_moves(moves)
        for message, at, coid, state in moves:
            split.append_for_order(message, at=at, client_order_id=coid, state=state)
        assert seqs == list(range(1, len(moves) + 1))
        assert fused.orders() == split.orders()
        assert fused.digest() == split.digest()


@settings(max_examples=20)
@given(history=histories)
def test_async_appends_from_concurrent_tasks_keep_their_queue_order(
    history: list[tuple[Message, float]],
) -> None:
    """(g) Writes queued by many tasks are committed in the order they queued, none lost."""

    async def main(path: Path) -> None:
        async with await AsyncJournal.open(path) as journal:
            queued: list[int] = []

            async def one(index: int) -> None:
                queued.append(index)
                message, at = history[index]
                await journal.append(message, at=at)

            async with trio.open_nursery() as nursery:
                for index in range(len(history)):
                    nursery.start_soon(one, index)
            entries = await journal.read()
        assert [(m, at) for _, at, m in entries] == [history[i] for i in queued]

    with tempfile.TemporaryDirectory() as directory:
        # Real clock on purpose: the work happens in a thread, and nothing here waits on time.
        trio.run(main, Path(directory) / "j.db")
