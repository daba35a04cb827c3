"""The invariant monitor: the exchange watched against the journal, every virtual second.

A quiet simulator (conftest.py's ``exchange``: no synthetic market, nothing moves unless a
test places it) and a real journal, written inline as the runner writes it; the monitor
runs under trio's autojump clock. Test steps happen on half seconds, the monitor's checks
on whole ones, so which check first sees a change is never a tie.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import trio
import trio.testing

from cjt_actors.exchange.orders import Side
from cjt_actors.journal import AsyncJournal
from cjt_actors.lifecycle import Liquidity
from cjt_actors.order_messages import OrderFilled, OrderType, SubmitOrder, TimeInForce
from cjt_actors.scenarios import Failure
from cjt_actors.scenarios.monitor import InvariantMonitor
from cjt_actors.sim.orders import OrderView
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator

Place = Callable[..., OrderView]


def intent(client_order_id: str) -> SubmitOrder:
    return SubmitOrder(
        strategy="test",
        client_order_id=client_order_id,
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.01"),
        limit_price=Decimal(1000),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        at=0.0,
    )


def fill(trade_id: str, client_order_id: str = "ok-1") -> OrderFilled:
    return OrderFilled(
        strategy="test",
        client_order_id=client_order_id,
        order_id="o",
        product_id="BTC-USD",
        side=Side.BUY,
        trade_id=trade_id,
        price=Decimal(1000),
        size=Decimal("0.01"),
        fee=Decimal(0),
        liquidity=Liquidity.TAKER,
        at=0.0,
    )


async def until(t0: float, at: float) -> None:
    await trio.sleep_until(t0 + at)


async def test_each_rule_s_first_violation_is_kept_with_its_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, exchange: Simulator, place: Place
) -> None:
    async with await AsyncJournal.open(
        tmp_path / "j.sqlite", inline=True, wall=exchange.epoch
    ) as journal:
        t0 = trio.current_time()
        monitor = InvariantMonitor(exchange, journal, t0=t0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(monitor.run)

            # t=1.5: an order written ahead, and one of ours filled by the exchange: no fault.
            await until(t0, 1.5)
            await journal.append(intent("ok-1"), at=trio.current_time())
            place(exchange, "ask-1", side="SELL", price="1000", user="user-other")
            place(exchange, "ok-1", price="1000")
            [made] = exchange.engine.fills(DEFAULT_USER)
            await journal.append(fill(made.trade_id), at=trio.current_time())
            await until(t0, 2.5)
            assert monitor.violations == {}
            assert monitor.checks == 2

            # t=2.5: an order at the exchange whose intent is not in the journal.
            place(exchange, "early-1", price="900")
            # t=3.5: a second one; and the first's intent arrives late.
            await until(t0, 3.5)
            place(exchange, "early-2", price="900")
            await journal.append(intent("early-1"), at=trio.current_time())
            # t=4.5: an id placed twice.
            await until(t0, 4.5)
            await journal.append(intent("dup-1"), at=trio.current_time())
            place(exchange, "dup-1", price="900")
            place(exchange, "dup-1", price="900", again=True)
            # t=5.5: a fill in the journal the exchange never made.
            await until(t0, 5.5)
            await journal.append(fill("invented-1"), at=trio.current_time())
            await until(t0, 7.5)
            nursery.cancel_scope.cancel()

    assert monitor.checks == 7
    assert monitor.violations == {
        "write_ahead": Failure(
            check="during:write_ahead",
            message="orders at the exchange before their intent: ['early-1']",
            at=3.0,
        ),
        "no_duplicate": Failure(
            check="during:no_duplicate", message="client_order_id placed twice: ['dup-1']", at=5.0
        ),
        "no_invented_fill": Failure(
            check="during:no_invented_fill",
            message="journaled fills the exchange never made: ['invented-1']",
            at=6.0,
        ),
    }


async def test_a_check_reads_only_what_the_journal_gained_since_the_last(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, exchange: Simulator, place: Place
) -> None:
    async with await AsyncJournal.open(
        tmp_path / "j.sqlite", inline=True, wall=exchange.epoch
    ) as journal:
        t0 = trio.current_time() - 100.0  # the scenario started 100 s ago
        monitor = InvariantMonitor(exchange, journal, t0=t0)
        await journal.append(intent("a-1"), at=0.0)
        place(exchange, "a-1", price="900")
        await monitor.check()
        await journal.append(intent("b-1"), at=0.0)
        place(exchange, "b-1", price="900")
        await trio.sleep(0.25)
        await monitor.check()  # a-1's intent, read by the first check, is still known
        assert monitor.violations == {}
        place(exchange, "c-1", price="900")
        await trio.sleep(0.25)
        await monitor.check()
    assert monitor.checks == 3
    assert monitor.violations == {
        "write_ahead": Failure(
            check="during:write_ahead",
            message="orders at the exchange before their intent: ['c-1']",
            at=100.5,
        )
    }
