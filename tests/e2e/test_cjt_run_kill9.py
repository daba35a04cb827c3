"""`cjt run` against `cjt sim`, killed with SIGKILL at several points and restarted on the
same journal: checked against the simulator's own records, nothing lost, nothing duplicated.

Issue 5's end-to-end proof. Two real processes as a user runs them: ``cjt sim`` (fault
injection over its ``/sim/`` control API) and ``cjt run --venue sim`` trading the default
market maker. The run is killed (SIGKILL: no cleanup, no flush, the journal as the crash left
it) at four points chosen from what its journal shows, read-only, while it runs:

A. **the request never reached the venue**: once the run has quoted, the simulator's latency
   fault holds every later REST request for longer than the test lasts, so a create the
   journal shows as SUBMITTED is *not* among the simulator's received creates: the intent is
   durable, the exchange never heard of it. The restart must find it absent and send it
   again under the *same* ``client_order_id``;
B. **the request reached the venue, the reply was lost**: the simulator accepts the next
   create but never answers; killed a second later, while the client still waits for the
   reply (its read timeout is 10 s) and the order is live at the simulator. The restart must
   find it by ``client_order_id``, not place it again;
C. **after fills**: killed as soon as the restarted run has journaled two new fills (orders
   left working keep filling while no process runs: the next restart must fetch those fills);
D. **right after an intent became durable**: killed as soon as a new SubmitOrder row is
   visible, before or just as the create leaves (which of the two is printed).

Then one last run stops cleanly (``--duration``): it reconciles, trades a little, and its
emergency step cancels every open order. (A restart after a *clean* stop is a separate
question; this test only restarts after kills.)

The checks, every one against the simulator's records (REST with the key, and the control
API's per-``client_order_id`` create counts):

* every order the simulator holds for us has a journaled intent, once, with the same
  product, side, size and price; one order per ``client_order_id`` (re-sends of the same id
  are expected, a second order is not);
* no intent lost: each journaled SubmitOrder reached the simulator, or the journal says why
  not (REJECTED, denied, or left PENDING with a reason); each order's final journal state and
  filled size equal the simulator's;
* every simulator fill is journaled exactly once (events and ``fills`` table), with the same
  order, side, price, size and fee, and the journal has no fill the simulator lacks;
* no order is open on the simulator after the clean stop;
* the balances the journal's fills imply equal the simulator's balance changes, exactly.

A failure prints the journal path, the timeline of kills and every problem with its journal
rows and simulator records (with ``-s``, the timeline is printed on success too: each kill
and what became of the orders it caught). Wall time about 20 s on a 2-core machine.
"""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest

from cjt_actors.exchange.auth import Credentials

T = TypeVar("T")

_API = "/api/v3/brokerage"
_START_TIMEOUT = 60.0  #: seconds for a process to come up (a loaded CI machine)
_KILL_TIMEOUT = 30.0  #: seconds to reach a kill point once the run is up
_FINAL_DURATION = 8  #: seconds the last, cleanly stopped run trades
_HELD_FOREVER = 600.0  #: latency (s) that outlasts the test: requests held never arrive
_TERMINAL = {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"}


# -- the simulator process -----------------------------------------------------------------------


class SimProcess:
    """A ``cjt sim`` subprocess: its URLs, signed REST reads and control calls."""

    def __init__(self, tmp_path: Path, *, seed: int) -> None:
        self.key_file = tmp_path / "key.json"
        self.log = tmp_path / "sim.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cjt_actors",
                "sim",
                "--port",
                "0",
                "--key-file",
                str(self.key_file),
                "--seed",
                str(seed),
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        self.port = self._wait_for_port()
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.host}"
        self.credentials = Credentials.from_file(self.key_file)
        self.http = httpx.Client(timeout=10)

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log.read_text()
            if "Ctrl-C to stop." in text:
                for line in text.splitlines():
                    if line.strip().startswith("REST"):
                        return int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"cjt sim did not start:\n{self.log.read_text()}")

    @property
    def rest_url(self) -> str:
        return f"{self.base}{_API}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}/"

    @property
    def user_ws_url(self) -> str:
        return f"ws://{self.host}/ws/user"

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """A signed GET of ``_API + path``, as the run's key (the simulator's user-1)."""
        full = _API + path
        token = self.credentials.rest_jwt("GET", self.host, full)
        response = self.http.get(
            self.base + full, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        return response.json()

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """A ``/sim/...`` control call: POST with ``body``, GET without."""
        if body is None:
            response = self.http.get(self.base + path)
        else:
            response = self.http.post(self.base + path, json=body)
        response.raise_for_status()
        return response.json()

    def create_requests(self) -> dict[str, int]:
        """How many creates the simulator received per ``client_order_id``."""
        return dict(self.control("/sim/orders/requests")["create_requests"])

    def _pages(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params = {"limit": "1000"}
        while True:
            page = self.get(path, params)
            items.extend(page[key])
            if not page.get("cursor") or not page[key]:
                return items
            params = {"limit": "1000", "cursor": page["cursor"]}

    def orders(self) -> list[dict[str, Any]]:
        """Every order of ours the simulator holds (any status)."""
        return self._pages("/orders/historical/batch", "orders")

    def fills(self) -> list[dict[str, Any]]:
        """Every fill of ours the simulator recorded."""
        return self._pages("/orders/historical/fills", "fills")

    def balances(self) -> dict[str, Decimal]:
        """Total balance (available + hold) per currency."""
        accounts = self._pages("/accounts", "accounts")
        return {
            a["currency"]: Decimal(a["available_balance"]["value"]) + Decimal(a["hold"]["value"])
            for a in accounts
        }

    def stop(self) -> None:
        """SIGINT, wait (SIGKILL after 30 s), release the log file and the HTTP client."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        if hasattr(self, "http"):
            self.http.close()


# -- the journal, read-only ------------------------------------------------------------------------


class JournalView:
    """The run's SQLite journal opened read-only for each query (the run may be writing)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """The query's rows; none while the file or its tables do not exist yet."""
        if not self.path.exists():
            return []
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []
            raise

    def max_seq(self) -> int:
        rows = self.rows("SELECT COALESCE(MAX(seq), 0) FROM events")
        return int(rows[0][0]) if rows else 0

    def fill_count(self) -> int:
        rows = self.rows("SELECT COUNT(*) FROM fills")
        return int(rows[0][0]) if rows else 0

    def payloads(self, kind: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """``(seq, payload)`` of every event of ``kind`` after ``after_seq``."""
        return [
            (seq, json.loads(payload))
            for seq, payload in self.rows(
                "SELECT seq, payload FROM events WHERE kind = ? AND seq > ? ORDER BY seq",
                (kind, after_seq),
            )
        ]

    def orders(self) -> dict[str, dict[str, Any]]:
        """The ``orders`` table: latest state per ``client_order_id``."""
        return {
            coid: json.loads(state)
            for coid, state in self.rows("SELECT client_order_id, state FROM orders")
        }

    def order_history(self, coid: str) -> list[str]:
        """One line per journal event about ``coid`` (for failure messages)."""
        lines = []
        for seq, kind, payload in self.rows(
            "SELECT seq, kind, payload FROM events WHERE payload LIKE ? ORDER BY seq",
            (f'%"{coid}"%',),
        ):
            data = json.loads(payload)
            brief = {
                k: data[k]
                for k in (
                    "previous",
                    "state",
                    "order_id",
                    "trade_id",
                    "size",
                    "filled_size",
                    "reason",
                    "detail",
                )
                if k in data and data[k] not in ("", None)
            }
            lines.append(f"    seq {seq} {kind} {brief}")
        return lines


# -- the run processes -----------------------------------------------------------------------------


class RunProcess:
    """One ``cjt run`` incarnation on the shared journal; output to files (read on failure)."""

    def __init__(
        self, sim: SimProcess, tmp_path: Path, journal: Path, *, number: int, duration: float
    ) -> None:
        self.number = number
        self.out = tmp_path / f"run-{number}.out"
        self.err = tmp_path / f"run-{number}.err"
        self._files: list[IO[str]] = [self.out.open("w"), self.err.open("w")]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cjt_actors",
                "run",
                "--venue",
                "sim",
                "--rest-url",
                sim.rest_url,
                "--ws-url",
                sim.ws_url,
                "--user-ws-url",
                sim.user_ws_url,
                "--key-file",
                str(sim.key_file),
                "--journal",
                str(journal),
                "--seed",
                str(100 + number),
                "--ops-port",
                "0",
                "--duration",
                str(duration),
            ],
            stdout=self._files[0],
            stderr=self._files[1],
            cwd=tmp_path,
        )

    def output(self) -> str:
        return (
            f"--- run {self.number} stdout ({self.out}) ---\n{self.out.read_text()}"
            f"--- run {self.number} stderr ---\n{self.err.read_text()[-4000:]}"
        )

    def kill9(self) -> None:
        """SIGKILL, reaped: the journal is left exactly as the crash left it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.close()

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(
                f"run {self.number} did not stop in {timeout} s\n{self.output()}"
            ) from None
        self.close()
        return code

    def close(self) -> None:
        for file in self._files:
            file.close()


# -- the scenario ------------------------------------------------------------------------------------


class Scenario:
    """The sim, the journal, the runs, and a timeline of what was done (for messages)."""

    def __init__(self, tmp_path: Path, sim: SimProcess) -> None:
        self.tmp_path = tmp_path
        self.sim = sim
        self.journal_path = tmp_path / "live.sqlite"
        self.journal = JournalView(self.journal_path)
        self.runs: list[RunProcess] = []
        self.timeline: list[str] = []
        self.caught: dict[str, str] = {}  #: client_order_id -> the kill point that caught it

    def note(self, line: str) -> None:
        self.timeline.append(line)

    def catch(self, label: str, coids: list[str]) -> None:
        """Remember orders in flight at a kill point, to say at the end what became of them."""
        for coid in coids:
            self.caught.setdefault(coid, label)

    def outcomes(self) -> list[str]:
        """For each caught order: its final journal row, the venue's status, creates received."""
        rows = self.journal.orders()
        at_venue = {o["client_order_id"]: o["status"] for o in self.sim.orders()}
        received = self.sim.create_requests()
        lines = []
        for coid, label in self.caught.items():
            row = rows.get(coid, {})
            lines.append(
                f"{label} {coid}: journal {row.get('state')} (attempts "
                f"{row.get('submit_attempts')}, reason {row.get('reason')!r}), venue "
                f"{at_venue.get(coid, 'absent')}, creates received {received.get(coid, 0)}"
            )
        return lines

    def start_run(self, duration: float = 120) -> RunProcess:
        run = RunProcess(
            self.sim, self.tmp_path, self.journal_path, number=len(self.runs) + 1, duration=duration
        )
        self.runs.append(run)
        return run

    def context(self) -> str:
        return (
            f"journal: {self.journal_path}\nsimulator log: {self.sim.log}\ntimeline:\n"
            + "\n".join(f"  {line}" for line in self.timeline)
        )

    def wait_for(
        self,
        what: str,
        probe: Callable[[], T | None],
        run: RunProcess,
        *,
        timeout: float = _KILL_TIMEOUT,
        interval: float = 0.02,
    ) -> T:
        """Poll ``probe`` until it returns something; fail (killing the run) if the run exits
        or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found:
                return found
            if run.process.poll() is not None:
                code = run.wait(timeout=1)
                raise AssertionError(
                    f"run {run.number} exited ({code}) before {what}\n"
                    f"{self.context()}\n{run.output()}"
                )
            if time.monotonic() > deadline:
                run.kill9()
                orders = json.dumps(self.journal.orders(), indent=1)[-3000:]
                raise AssertionError(
                    f"run {run.number}: no {what} within {timeout} s\n{self.context()}\n"
                    f"journal orders (tail): {orders}\n{run.output()}"
                )
            time.sleep(interval)

    def submitted_rows(self) -> dict[str, dict[str, Any]]:
        return {c: o for c, o in self.journal.orders().items() if o["state"] == "SUBMITTED"}

    def held_before_the_venue(self, for_seconds: float) -> Callable[[], list[str]]:
        """A probe: orders the journal has shown SUBMITTED (sent, no reply) for
        ``for_seconds`` whose create the simulator has not received."""
        first_seen: dict[str, float] = {}

        def probe() -> list[str]:
            received = self.sim.create_requests()
            now = time.monotonic()
            current = {coid for coid in self.submitted_rows() if coid not in received}
            for coid in list(first_seen):
                if coid not in current:
                    del first_seen[coid]
            for coid in current:
                first_seen.setdefault(coid, now)
            return sorted(c for c, t in first_seen.items() if now - t >= for_seconds)

        return probe


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    process = SimProcess(tmp_path, seed=5)
    try:
        yield process
    finally:
        process.stop()


def test_kill9_at_each_point_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, sim: SimProcess
) -> None:
    scenario = Scenario(tmp_path, sim)
    journal = scenario.journal
    start_balances = sim.balances()
    scenario.note(f"simulator on port {sim.port}; balances before: {start_balances}")
    try:
        _kill_before_the_request_arrives(scenario)
        _kill_after_the_request_before_the_reply(scenario)
        _kill_after_fills(scenario)
        _kill_right_after_the_intent(scenario)
        final = scenario.start_run(duration=_FINAL_DURATION)
        code = final.wait(timeout=_FINAL_DURATION + _START_TIMEOUT)
        scenario.note(f"run {final.number}: clean stop after {_FINAL_DURATION} s, exit {code}")
    finally:
        for run in scenario.runs:
            run.kill9()

    scenario.note("what became of the orders each kill caught:")
    scenario.timeline.extend(f"  {line}" for line in scenario.outcomes())
    final_output = final.output()
    print(scenario.context())  # shown with -s, and by pytest on any failure
    assert code == 0, f"the final run exited {code}\n{scenario.context()}\n{final_output}"
    assert "0 remaining" in final.out.read_text(), f"{scenario.context()}\n{final_output}"
    problems = _check_against_simulator(sim, journal, start_balances)
    assert not problems, (
        f"{len(problems)} problem(s) against the simulator's records\n{scenario.context()}\n\n"
        + "\n\n".join(problems)
        + f"\n\n{final_output}"
    )


# -- the kill points -------------------------------------------------------------------------------


def _kill_before_the_request_arrives(scenario: Scenario) -> None:
    """A: creates held in the network (latency fault) when the process dies."""
    sim, journal = scenario.sim, scenario.journal
    run = scenario.start_run()
    scenario.wait_for("first SubmitOrder", lambda: journal.payloads("SubmitOrder"), run)
    sim.control("/sim/faults/latency", {"seconds": _HELD_FOREVER})
    try:
        held = scenario.wait_for(
            "create held before the venue (SUBMITTED, not received, for 0.5 s)",
            scenario.held_before_the_venue(for_seconds=0.5),
            run,
        )
        run.kill9()
    finally:
        sim.control("/sim/faults/latency", {"seconds": 0.0})
    received = sim.create_requests()
    assert not set(held) & set(received), f"held creates arrived: {held}\n{scenario.context()}"
    scenario.catch("A (never reached the venue)", held)
    scenario.note(
        f"run {run.number}: SIGKILL with {len(held)} create(s) journaled SUBMITTED that never "
        f"reached the venue: {held}"
    )


def _kill_after_the_request_before_the_reply(scenario: Scenario) -> None:
    """B: the venue accepted the create, its reply is lost, the process dies waiting for it.

    The fault is armed once the restarted run makes its first new intent (its recovery is
    over), so it hits a fresh quote. The simulator counts a create before it decides to lose
    the reply, with no await in between, so the lost reply belongs to the first
    ``client_order_id`` it receives after arming (the control API lists ids in arrival
    order). One second later every ordinary reply has arrived, and the client's 10 s read
    timeout is far: the process is still waiting. (The journal may already show the order
    OPEN: the user channel reports it before the lost reply would have.) If the venue refused
    that create (a post-only quote that would cross), or a re-sent id took the fault, it is
    armed again until the lost reply belongs to an order the venue holds.
    """
    sim, journal = scenario.sim, scenario.journal
    after = journal.max_seq()
    run = scenario.start_run()
    scenario.wait_for("first new SubmitOrder", lambda: journal.payloads("SubmitOrder", after), run)
    watch = _LostReplyWatch(sim)
    lost, status = scenario.wait_for(
        "live order whose create reply was lost 1 s ago", watch.probe, run
    )
    run.kill9()
    retried = "ReadTimeout" in run.err.read_text()
    assert not retried, f"the client gave up on the lost reply before the kill\n{run.output()}"
    skipped = f"; armed again after {watch.skipped}" if watch.skipped else ""
    scenario.catch("B (reply lost)", [lost])
    scenario.note(
        f"run {run.number}: SIGKILL 1 s after the venue took create {lost} ({status} at the "
        f"venue) and lost its reply{skipped}"
    )


class _LostReplyWatch:
    """Arms ``lose_order_responses`` and finds the create whose reply it swallowed."""

    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim
        self.skipped: list[str] = []
        self._arm()

    def _arm(self) -> None:
        self._before = self.sim.create_requests()
        self._seen: tuple[str, float] | None = None
        self.sim.control("/sim/faults/lose_order_responses", {"count": 1})

    def probe(self) -> tuple[str, str] | None:
        received = self.sim.create_requests()
        if self._seen is None:
            resent = [c for c, n in self._before.items() if received.get(c, 0) > n]
            new = [c for c in received if c not in self._before]
            if resent:  # a re-sent id may have taken the fault: no telling which
                self.skipped.append(f"re-send of {resent}")
                self._arm()
            elif new:
                self._seen = (new[0], time.monotonic())
            return None
        coid, since = self._seen
        if time.monotonic() - since < 1.0:
            return None
        placed = {o["client_order_id"]: o["status"] for o in self.sim.orders()}
        if coid in placed:
            return coid, placed[coid]
        self.skipped.append(f"refused create {coid}")
        self._arm()
        return None


def _kill_after_fills(scenario: Scenario) -> None:
    """C: fills journaled, the process dies with orders still working (they fill meanwhile)."""
    journal = scenario.journal
    before = journal.fill_count()
    run = scenario.start_run()
    scenario.wait_for("two new fills journaled", lambda: journal.fill_count() >= before + 2, run)
    run.kill9()
    working = sorted(c for c, o in journal.orders().items() if o["state"] not in _TERMINAL)
    scenario.catch("C (working at a kill after fills)", working)
    scenario.note(
        f"run {run.number}: SIGKILL after fills ({before} -> {journal.fill_count()} journaled), "
        f"{len(working)} order(s) left working in the journal"
    )


def _kill_right_after_the_intent(scenario: Scenario) -> None:
    """D: killed the moment a new intent is durable, before or as its create leaves."""
    sim, journal = scenario.sim, scenario.journal
    after = journal.max_seq()
    run = scenario.start_run()
    intents = scenario.wait_for(
        "new SubmitOrder", lambda: journal.payloads("SubmitOrder", after), run, interval=0.005
    )
    run.kill9()
    time.sleep(0.3)  # a create already on the wire is counted by now
    received = sim.create_requests()
    sent = {p["client_order_id"]: received.get(p["client_order_id"], 0) for _, p in intents}
    scenario.catch("D (intent just durable)", list(sent))
    scenario.note(
        f"run {run.number}: SIGKILL right after {len(intents)} intent(s) became durable; "
        f"creates received by the venue per id: {sent}"
    )


# -- the checks ------------------------------------------------------------------------------------


def _check_against_simulator(
    sim: SimProcess, journal: JournalView, start_balances: dict[str, Decimal]
) -> list[str]:
    problems: list[str] = []
    sim_orders = sim.orders()
    sim_fills = sim.fills()
    received = sim.create_requests()
    intents = journal.payloads("SubmitOrder")
    rows = journal.orders()
    denied = {p["client_order_id"] for _, p in journal.payloads("OrderDenied")}
    journal_fills = journal.payloads("OrderFilled")
    fill_table = collections.Counter(
        trade_id for (trade_id,) in journal.rows("SELECT trade_id FROM fills")
    )

    def history(coid: str) -> str:
        return "\n".join(journal.order_history(coid)) or "    (no journal events)"

    # Orders: one per client_order_id, each with exactly one journaled intent that matches.
    per_coid = collections.Counter(o["client_order_id"] for o in sim_orders)
    intent_count = collections.Counter(p["client_order_id"] for _, p in intents)
    intent_by_coid = {p["client_order_id"]: p for _, p in intents}
    by_coid = {o["client_order_id"]: o for o in sim_orders}
    for coid, count in sorted(per_coid.items()):
        if count > 1:
            problems.append(f"DUPLICATE ORDER: the simulator holds {count} orders for {coid}")
    for coid, count in sorted(intent_count.items()):
        if count > 1:
            problems.append(f"intent journaled {count} times: {coid}\n{history(coid)}")
    for coid, order in sorted(by_coid.items()):
        intent = intent_by_coid.get(coid)
        if intent is None:
            problems.append(
                f"ORDER NOT IN THE JOURNAL: the simulator holds {coid} ({order['status']}, "
                f"{order['side']} {order['product_id']}, sent {received.get(coid, 0)}x) but no "
                "SubmitOrder intent was journaled for it"
            )
            continue
        ((_, config),) = order["order_configuration"].items()
        placed = (
            order["product_id"],
            order["side"],
            Decimal(config["base_size"]),
            Decimal(config["limit_price"]),
        )
        meant = (
            intent["product_id"],
            intent["side"],
            Decimal(intent["size"]),
            Decimal(intent["limit_price"]),
        )
        if placed != meant:
            problems.append(f"order {coid} placed as {placed}, journaled intent {meant}")
        row = rows.get(coid)
        state = None if row is None else row["state"]
        if state != order["status"] or (
            row is not None and Decimal(row["filled_size"]) != Decimal(order["filled_size"])
        ):
            problems.append(
                f"STATE MISMATCH for {coid}: journal {state} filled "
                f"{None if row is None else row['filled_size']}, simulator {order['status']} "
                f"filled {order['filled_size']}\n{history(coid)}"
            )

    # No intent lost: it reached the venue, or the journal says why it did not.
    for coid, intent in sorted(intent_by_coid.items()):
        if coid in by_coid:
            continue
        row = rows.get(coid, {})
        state, reason = row.get("state"), row.get("reason", "")
        explained = state == "REJECTED" or coid in denied or (state == "PENDING" and bool(reason))
        if not explained:
            problems.append(
                f"LOST ORDER: intent {coid} ({intent['side']} {intent['size']} "
                f"{intent['product_id']} @ {intent['limit_price']}) is not at the simulator "
                f"(creates received: {received.get(coid, 0)}) and the journal leaves it "
                f"{state} (reason {reason!r})\n{history(coid)}"
            )

    # Nothing left open after the clean stop.
    still_open = [o["client_order_id"] for o in sim_orders if o["status"] == "OPEN"]
    if still_open:
        problems.append(f"orders still OPEN at the simulator after the clean stop: {still_open}")

    # Fills: each simulator fill journaled exactly once, the same fill; no phantom fills.
    coid_of_order = {o["order_id"]: o["client_order_id"] for o in sim_orders}
    journaled: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for _, payload in journal_fills:
        journaled[payload["trade_id"]].append(payload)
    sim_trade_ids = collections.Counter(f["trade_id"] for f in sim_fills)
    for fill in sim_fills:
        trade_id = fill["trade_id"]
        coid = coid_of_order.get(fill["order_id"], "?")
        found = journaled.get(trade_id, [])
        if len(found) != 1 or fill_table[trade_id] != 1:
            kind = "LOST FILL" if not found else "DUPLICATED FILL"
            problems.append(
                f"{kind}: simulator fill {trade_id} of {coid} ({fill['side']} {fill['size']} @ "
                f"{fill['price']}) is journaled {len(found)}x as OrderFilled, "
                f"{fill_table[trade_id]}x in the fills table\n{history(coid)}"
            )
            continue
        (mine,) = found
        same = (
            mine["client_order_id"] == coid
            and mine["side"] == fill["side"]
            and Decimal(mine["price"]) == Decimal(fill["price"])
            and Decimal(mine["size"]) == Decimal(fill["size"])
            and Decimal(mine["fee"]) == Decimal(fill["commission"])
        )
        if not same:
            problems.append(f"fill {trade_id} differs: journal {mine}, simulator {fill}")
    for trade_id, payloads in sorted(journaled.items()):
        if trade_id not in sim_trade_ids:
            problems.append(
                f"PHANTOM FILL: journal fill {trade_id} is not at the simulator: {payloads}"
            )

    # Positions: what the journal's fills imply equals the simulator's balance changes.
    implied: dict[str, Decimal] = collections.defaultdict(Decimal)
    for _, fill in journal_fills:
        base, quote = fill["product_id"].split("-")
        size, notional = Decimal(fill["size"]), Decimal(fill["size"]) * Decimal(fill["price"])
        sign = 1 if fill["side"] == "BUY" else -1
        implied[base] += sign * size
        implied[quote] += -sign * notional - Decimal(fill["fee"])
    end_balances = sim.balances()
    for currency in sorted(set(start_balances) | set(end_balances) | set(implied)):
        change = end_balances.get(currency, Decimal(0)) - start_balances.get(currency, Decimal(0))
        if change != implied.get(currency, Decimal(0)):
            problems.append(
                f"BALANCE MISMATCH {currency}: simulator changed by {change}, the journal's "
                f"fills imply {implied.get(currency, Decimal(0))}"
            )
    return problems
