"""One real scenario run shared by the scenario tests, and a quiet exchange to break rules on.

Running the whole stack costs a second or two of real time, so the session runs
:data:`SHARED_TOML` once (:func:`shared_result`) and the expectation and display tests all
judge that one :class:`~cjt_actors.scenarios.RunRecord`: each expectation once in a form
that must hold and once in a form that must not. Where a rule can only break if the
exchange or the journal were wrong, the tests break a copy of the record
(``attrs.evolve``) or use :func:`exchange`, a simulator with no synthetic market (nothing
moves unless a test places it), with :func:`place` to put orders there.

The shared run, 25 virtual seconds of the default market maker on BTC-USD (seed 5):

* t=5   a level2 sequence gap (the book is untrusted, then resynchronized at once);
* t=7   two 503s on the order routes (a create is retried under the same id);
* t=9   the strategy crashes, and again at t=11 (two restarts);
* t=12  an operator halt (denials TRADING_HALTED), t=15 the resume;
* t=25  the duration's stop: the emergency cancel-all completes, exit code OK.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from cjt_actors.scenarios import RunRecord, ScenarioResult, load_scenario, run_scenario
from cjt_actors.scenarios.runner import EPOCH
from cjt_actors.sim import orders as sim_orders
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig

SHARED_TOML = """\
description = "The scenario tests' shared run: a gap, 503s, crashes, a halt and a resume"
seed = 5
duration = 25.0

[config.market]
products = ["BTC-USD"]

[config.risk]
loss_streak = 1000

[[timeline]]
at = 5.0
do = "sequence_gap"
count = 2

[[timeline]]
at = 7.0
do = "rest_error"
kind = "server_error"
count = 2
path = "/orders"

[[timeline]]
at = 9.0
do = "crash"
actor = "strategy:mm"
times = 2
every = 2.0

[[timeline]]
at = 12.0
do = "halt"

[[timeline]]
at = 15.0
do = "resume"
"""

#: Another account at the quiet exchange (the other side of our fills).
OTHER_USER = "user-other"

Place = Callable[..., sim_orders.OrderView]


@pytest.fixture(scope="session")
def shared_result(tmp_path_factory: pytest.TempPathFactory) -> ScenarioResult:
    directory = tmp_path_factory.mktemp("shared-scenario")
    path = directory / "shared.toml"
    path.write_text(SHARED_TOML, encoding="utf-8")
    return run_scenario(load_scenario(path), workdir=directory / "work")


@pytest.fixture
def record(shared_result: ScenarioResult) -> RunRecord:
    return shared_result.record


@pytest.fixture
def exchange() -> Simulator:
    """A simulator with no synthetic market, our user and another funded."""
    sim = Simulator(SimulatorConfig(seed=1, start_epoch=EPOCH, market_enabled=False))
    for user in (DEFAULT_USER, OTHER_USER):
        for currency, amount in (("USD", "100000"), ("BTC", "1")):
            sim.engine.deposit(user, currency, Decimal(amount), now=EPOCH)
    return sim


def _place(
    sim: Simulator,
    client_order_id: str,
    *,
    side: str = "BUY",
    price: str = "1000",
    user: str = DEFAULT_USER,
    again: bool = False,
) -> sim_orders.OrderView:
    """A limit order of 0.01 BTC straight into the engine. ``again``: place a second order
    under an id already used, as an exchange whose idempotency failed would (the engine's
    own map is dropped first: the one way the real engine can be made to do it)."""
    if again:
        del sim.engine._by_client_id[(user, client_order_id)]
    outcome = sim.engine.place(
        sim_orders.OrderRequest(
            user_id=user,
            client_order_id=client_order_id,
            product_id="BTC-USD",
            side=sim_orders.Side(side),
            configuration=sim_orders.LimitGtc(
                base_size=Decimal("0.01"), limit_price=Decimal(price)
            ),
        ),
        now=EPOCH,
    )
    assert isinstance(outcome, sim_orders.OrderAccepted), outcome
    return outcome.order


@pytest.fixture
def place() -> Place:
    return _place
