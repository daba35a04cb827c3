"""Invariants checked *while* a scenario runs, once per virtual second.

The end-of-run checks (:data:`~.expectations.INVARIANTS`) see the final state; some rules
are about every moment, and a violation that heals itself by the end would go unseen:

* **write-ahead**: every order of ours the exchange holds has its intent in the journal
  already (the intent is durable before the request leaves);
* **no duplicate**: no ``client_order_id`` has two orders at the exchange;
* **no invented fill**: every fill in the journal is one the exchange made for us.

The first violation of each rule is kept, with its time: a failure names the moment, and
the runner prints the events around it.
"""

from __future__ import annotations

from collections import Counter

import trio

from ..journal import AsyncJournal
from ..order_messages import OrderFilled, SubmitOrder
from ..sim.simulator import DEFAULT_USER, Simulator
from .record import Failure

__all__ = ["InvariantMonitor"]


class InvariantMonitor:
    """Watches the simulator against the journal (live scenarios)."""

    def __init__(self, sim: Simulator, journal: AsyncJournal, *, t0: float) -> None:
        self._sim = sim
        self._journal = journal
        self._t0 = t0
        self._intents: set[str] = set()
        self._fills: set[str] = set()
        self._after_seq = 0
        self.violations: dict[str, Failure] = {}
        self.checks = 0

    async def run(self, interval: float = 1.0) -> None:
        """Check every ``interval`` virtual seconds until cancelled."""
        while True:
            await trio.sleep(interval)
            await self.check()

    async def check(self) -> None:
        for seq, _, message in await self._journal.read(
            after_seq=self._after_seq, kinds=(SubmitOrder, OrderFilled)
        ):
            self._after_seq = seq
            if isinstance(message, SubmitOrder):
                self._intents.add(message.client_order_id)
            elif isinstance(message, OrderFilled):
                self._fills.add(message.trade_id)
        self.checks += 1
        at = trio.current_time() - self._t0
        orders = self._sim.engine.list_orders(DEFAULT_USER)
        ids = Counter(o.client_order_id for o in orders)
        ahead = sorted(set(ids) - self._intents)
        if ahead:
            self._violate("write_ahead", f"orders at the exchange before their intent: {ahead}", at)
        twice = sorted(c for c, n in ids.items() if n > 1)
        if twice:
            self._violate("no_duplicate", f"client_order_id placed twice: {twice}", at)
        made = {f.trade_id for f in self._sim.engine.fills(DEFAULT_USER)}
        invented = sorted(self._fills - made)
        if invented:
            self._violate(
                "no_invented_fill", f"journaled fills the exchange never made: {invented}", at
            )

    def _violate(self, rule: str, message: str, at: float) -> None:
        if rule not in self.violations:
            self.violations[rule] = Failure(check=f"during:{rule}", message=message, at=at)
