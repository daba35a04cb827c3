"""Start-up with the venue down: retry while it is unreachable, give up after the patience,
fail at once on a refusal.

The simulator runs in memory (ASGI transport) under trio's MockClock, so minutes of patience
take no real time; REST faults make the venue unreachable for a given number of requests.
The client sends each request once (``RetryPolicy(max_attempts=1)``), so one fault is one
failed attempt of :func:`prepare_venue`.
"""

from __future__ import annotations

import io
import random
import re
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from cjt_actors.config import Config, JournalSection, MarketSection, VenueSection
from cjt_actors.errors import (
    InvalidSpec,
    NotFound,
    RateLimited,
    ResponseError,
    ServerError,
    TransportError,
    Unauthorized,
)
from cjt_actors.exchange.rest import RestClient, RetryPolicy
from cjt_actors.interlock import LiveTradingRefused
from cjt_actors.live_run import run_live
from cjt_actors.policy import Backoff
from cjt_actors.sim.faults import RestFaultKind
from cjt_actors.sim.inmemory import InMemoryExchange
from cjt_actors.sim.rest import PREFIX
from cjt_actors.sim.simulator import Simulator, SimulatorConfig
from cjt_actors.startup import (
    DEFAULT_STARTUP_BACKOFF,
    EXIT_VENUE_UNAVAILABLE,
    VenueReady,
    VenueUnavailable,
    is_unreachable,
    prepare_venue,
)

EPOCH = 1_767_225_600.0
PRODUCTS = ("BTC-USD", "ETH-USD")
PERMISSIONS = PREFIX + "/key_permissions"


@attrs.define
class Venue:
    sim: Simulator
    rest: RestClient
    key_name: str
    said: list[str] = attrs.Factory(list)

    async def prepare(
        self,
        patience: float,
        products: tuple[str, ...] = PRODUCTS,
        **options: object,
    ) -> VenueReady:
        return await prepare_venue(
            self.rest,
            products,
            patience=patience,
            say=self.said.append,
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    """The in-memory simulator and a client; tests using it take ``autojump_clock`` (pytest-trio
    finds the clock among the test's own arguments)."""
    sim = Simulator(SimulatorConfig(seed=1, start_epoch=EPOCH, tick=0.25, market_enabled=False))
    credentials, document = sim.generate_key()
    exchange = InMemoryExchange(sim)
    rest = RestClient(
        exchange.rest_url,
        credentials=credentials,
        transport=exchange.http_transport(),
        now=sim.epoch,
        retry=RetryPolicy(max_attempts=1),
        attempt_timeout=5.0,
        rng=random.Random(1),
    )
    async with rest:
        yield Venue(sim=sim, rest=rest, key_name=document["name"])


async def test_an_unreachable_venue_is_retried_with_backoff_until_it_answers(
    autojump_clock: trio.testing.MockClock,
    venue: Venue,
) -> None:
    venue.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, count=3)
    start = trio.current_time()
    ready = await venue.prepare(patience=300)
    assert trio.current_time() - start == 1.0 + 2.0 + 4.0  # no jitter without an rng
    assert set(ready.rules) == set(PRODUCTS)
    assert ready.rules["BTC-USD"].price_increment == Decimal("0.01")
    assert ready.warnings == ()
    assert len(venue.said) == 3
    assert venue.said[0] == (
        f"venue unreachable (ServerError: GET {PERMISSIONS} -> 503: INTERNAL injected fault "
        "(server_error)): retrying in 1.0 s (attempt 1, 0 s of 300 s patience)"
    )
    assert venue.said[2].endswith("retrying in 4.0 s (attempt 3, 3 s of 300 s patience)")


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (RestFaultKind.SERVER_ERROR, "ServerError"),
        (RestFaultKind.RATE_LIMITED, "RateLimited"),
        (RestFaultKind.HTML, "ServerError"),  # an HTML 502 page
        (RestFaultKind.HANG, "TransportError"),  # no answer within the attempt timeout
    ],
)
async def test_every_kind_of_unreachable_is_retried_on_any_request(
    autojump_clock: trio.testing.MockClock, venue: Venue, kind: RestFaultKind, error: str
) -> None:
    """A product request failing half-way through an attempt makes the attempt fail."""
    venue.sim.faults.fail_next(kind, count=2, path_prefix=PREFIX + "/products/ETH-USD")
    ready = await venue.prepare(patience=60)
    assert set(ready.rules) == set(PRODUCTS)
    assert [line.split(" (", 1)[1].split(":", 1)[0] for line in venue.said] == [error, error]
    assert all("/products/ETH-USD" in line for line in venue.said)


async def test_it_gives_up_once_the_patience_has_passed(
    autojump_clock: trio.testing.MockClock,
    venue: Venue,
) -> None:
    venue.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, count=100)
    start = trio.current_time()
    with pytest.raises(VenueUnavailable) as caught:
        await venue.prepare(patience=10)
    # waits of 1, 2, 4, then 3 (not 8: the last attempt starts at the deadline)
    assert trio.current_time() - start == 10.0
    assert venue.said[-1].endswith("retrying in 3.0 s (attempt 4, 7 s of 10 s patience)")
    error = caught.value
    assert (error.attempts, error.patience, error.waited) == (5, 10, 10.0)
    assert error.last_error.startswith(f"ServerError: GET {PERMISSIONS} -> 503")
    assert str(error) == (
        "the venue stayed unreachable: 5 attempt(s) over 10 s (venue.startup_patience = 10 s); "
        f"last error: {error.last_error}"
    )


async def test_no_patience_makes_one_attempt(
    autojump_clock: trio.testing.MockClock,
    venue: Venue,
) -> None:
    venue.sim.faults.fail_next(RestFaultKind.RATE_LIMITED, count=1)
    with pytest.raises(VenueUnavailable, match=r"1 attempt\(s\) over 0 s .* RateLimited"):
        await venue.prepare(patience=0)
    assert venue.said == []


async def test_a_revoked_key_fails_at_once_whatever_the_patience(
    autojump_clock: trio.testing.MockClock,
    venue: Venue,
) -> None:
    venue.sim.faults.revoke_key(venue.key_name)
    start = trio.current_time()
    with pytest.raises(LiveTradingRefused, match=r"key permissions: .* -> 401"):
        await venue.prepare(patience=300)
    assert trio.current_time() == start
    assert venue.said == []


async def test_an_unknown_product_fails_at_once_even_after_an_outage(
    autojump_clock: trio.testing.MockClock,
    venue: Venue,
) -> None:
    venue.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, count=1)
    with pytest.raises(LiveTradingRefused, match="'DOGE-USD' does not exist at the venue"):
        await venue.prepare(patience=300, products=("BTC-USD", "DOGE-USD"))
    assert len(venue.said) == 1  # the outage was waited out; the refusal was not


async def test_jitter_comes_from_the_given_rng(
    autojump_clock: trio.testing.MockClock,
    venue: Venue,
) -> None:
    venue.sim.faults.fail_next(RestFaultKind.SERVER_ERROR, count=2)
    backoff = Backoff(min=2.0, max=30.0, jitter=0.5, reset_after=0.0)
    start = trio.current_time()
    await venue.prepare(patience=60, backoff=backoff, rng=random.Random(7))
    draws = random.Random(7)
    expected = backoff.delay(0, draws.random()) + backoff.delay(1, draws.random())
    assert trio.current_time() - start == pytest.approx(expected)
    assert expected < 2.0 + 4.0  # the jitter shortened the waits


@pytest.mark.parametrize("patience", [-1.0, float("inf"), float("nan"), True, "5"])
async def test_a_bad_patience_is_refused(
    autojump_clock: trio.testing.MockClock, venue: Venue, patience: object
) -> None:
    with pytest.raises(InvalidSpec, match="prepare_venue: patience"):
        await venue.prepare(patience=patience)  # type: ignore[arg-type]


# -- which failures are "unreachable" ----------------------------------------------------------

WHERE = {"method": "GET", "path": PERMISSIONS}


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (TransportError("ConnectError: refused", **WHERE), True),
        (ServerError(status=503, **WHERE), True),
        (RateLimited(status=429, **WHERE), True),
        (ResponseError("body is not JSON", status=200, excerpt="Maintenance", **WHERE), True),
        (ResponseError("body is not JSON", status=200, **WHERE), True),  # an empty body
        (ResponseError("unexpected Product shape: $.x: missing", status=200, **WHERE), False),
        (Unauthorized(status=401, **WHERE), False),
        (NotFound(status=404, **WHERE), False),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, bool) else str(value),
)
def test_what_counts_as_unreachable(error: Exception, unreachable: bool) -> None:
    assert is_unreachable(error) is unreachable  # type: ignore[arg-type]


def test_the_defaults() -> None:
    assert DEFAULT_STARTUP_BACKOFF.delay(0, 0.0) == 1.0
    assert DEFAULT_STARTUP_BACKOFF.delay(10, 0.0) == 30.0
    assert EXIT_VENUE_UNAVAILABLE not in (0, 1, 2, 3, 4, 5)  # distinct from ExitCode's
    assert VenueSection().startup_patience == 300.0


# -- cjt run ---------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_live_gives_up_on_a_venue_that_does_not_answer(tmp_path: Path) -> None:
    """Real sockets: nothing listens on the port, so every request is refused at once."""
    key_file = tmp_path / "key.json"
    Simulator(SimulatorConfig(seed=2)).write_key_file(key_file)
    port = _closed_port()
    config = Config(
        market=MarketSection(products=("BTC-USD",)),
        journal=JournalSection(path=str(tmp_path / "j.sqlite")),
        venue=VenueSection(
            kind="sim",
            rest_url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}/",
            user_ws_url=f"ws://127.0.0.1:{port}/ws/user",
            key_file=str(key_file),
            startup_patience=0.0,
        ),
    )
    out = io.StringIO()
    with pytest.raises(VenueUnavailable, match=r"ConnectError") as caught:
        await run_live(config, config_source="<test>", out=out, handle_signals=False)
    assert caught.value.attempts == 1
    assert re.search(r"^venue: http://127\.0\.0\.1:\d+ ", out.getvalue(), re.M)
    assert not (tmp_path / "j.sqlite").exists()  # given up before the journal was opened
