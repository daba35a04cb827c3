"""The live-trading interlock: the config's rules, then the venue's answers about the key
and the products (a scripted venue at the HTTP seam)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from cjt_actors.cli import main
from cjt_actors.config import LIVE_ACKNOWLEDGEMENT, Config, LiveSection, VenueSection
from cjt_actors.exchange.rest import RestClient
from cjt_actors.interlock import LiveTradingRefused, check_config, check_venue
from cjt_actors.sim.simulator import Simulator, SimulatorConfig

SIM = VenueSection(
    kind="sim",
    rest_url="http://127.0.0.1:8765/api/v3/brokerage",
    ws_url="ws://127.0.0.1:8765/",
    user_ws_url="ws://localhost:8765/ws/user",
)
LIVE = LiveSection(enabled=True, acknowledge=LIVE_ACKNOWLEDGEMENT)
_KEY, _ = Simulator(SimulatorConfig(seed=1)).generate_key()


def test_a_sim_venue_resolves_its_loopback_urls_without_the_api_prefix() -> None:
    endpoints = check_config(Config(venue=SIM))
    assert endpoints.rest_url == "http://127.0.0.1:8765"
    assert endpoints.user_ws_url == "ws://localhost:8765/ws/user"


def test_a_sim_venue_needs_its_urls_and_only_loopback_ones() -> None:
    with pytest.raises(LiveTradingRefused) as caught:
        check_config(Config(venue=VenueSection(kind="sim", ws_url="ws://10.1.2.3/")))
    problems = "\n".join(caught.value.problems)
    assert "venue.rest_url: required for venue.kind = 'sim'" in problems
    assert "venue.user_ws_url: required" in problems
    assert "venue.ws_url: 'ws://10.1.2.3/' is plain ws:// to '10.1.2.3'" in problems
    with pytest.raises(LiveTradingRefused, match="is not a loopback address"):
        check_config(Config(venue=attrs.evolve(SIM, rest_url="https://api.coinbase.com")))


def test_the_real_exchange_needs_enabled_and_the_acknowledgement_word_for_word() -> None:
    with pytest.raises(LiveTradingRefused) as caught:
        check_config(Config(venue=VenueSection(kind="coinbase")))
    assert [p.split(":")[0] for p in caught.value.problems] == ["live.enabled", "live.acknowledge"]
    almost = LiveSection(enabled=True, acknowledge=LIVE_ACKNOWLEDGEMENT.lower())
    with pytest.raises(LiveTradingRefused, match="word for word"):
        check_config(Config(venue=VenueSection(kind="coinbase"), live=almost))
    endpoints = check_config(Config(venue=VenueSection(kind="coinbase"), live=LIVE))
    assert endpoints.rest_url == "https://api.coinbase.com"
    assert endpoints.ws_url == "wss://advanced-trade-ws.coinbase.com"


def test_the_real_exchange_refuses_plain_http_even_when_enabled() -> None:
    venue = VenueSection(kind="coinbase", rest_url="http://api.example.com")
    with pytest.raises(LiveTradingRefused, match=r"plain http:// to 'api\.example\.com'"):
        check_config(Config(venue=venue, live=LIVE))


def _venue(permissions: dict[str, Any], products: dict[str, dict[str, Any] | None]) -> RestClient:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v3/brokerage")
        if path == "/key_permissions":
            return httpx.Response(200, json=permissions)
        product_id = path.removeprefix("/products/")
        body = products.get(product_id)
        if body is None:
            return httpx.Response(404, json={"error": "NOT_FOUND", "message": "no product"})
        return httpx.Response(200, json={"product_id": product_id, "status": "online", **body})

    return RestClient(
        "https://api.example.com", credentials=_KEY, transport=httpx.MockTransport(answer)
    )


async def test_the_venue_must_let_the_key_trade_every_product() -> None:
    rest = _venue(
        {"can_view": True, "can_trade": False},
        {
            "BTC-USD": {},
            "ETH-USD": {"cancel_only": True},
            "SOL-USD": {"trading_disabled": True},
            "ADA-USD": {"status": "delisted"},
        },
    )
    async with rest:
        with pytest.raises(LiveTradingRefused) as caught:
            await check_venue(rest, ("BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "XXX-USD"))
    assert caught.value.problems == (
        "key permissions: the key may not trade (can_trade false)",
        "market.products: 'ETH-USD' is cancel-only",
        "market.products: 'SOL-USD' is disabled for trading",
        "market.products: 'ADA-USD' status is 'delisted'",
        "market.products: 'XXX-USD' does not exist at the venue",
    )


async def test_limit_only_and_post_only_products_are_warnings() -> None:
    rest = _venue(
        {"can_view": True, "can_trade": True},
        {"BTC-USD": {"limit_only": True}, "ETH-USD": {"post_only": True}},
    )
    async with rest:
        warnings = await check_venue(rest, ("BTC-USD", "ETH-USD"))
    assert warnings == (
        "BTC-USD is limit-only: market orders will be rejected",
        "ETH-USD is post-only: orders that take will be rejected",
    )


async def test_a_venue_that_does_not_answer_refuses_with_the_reason() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="<html>maintenance</html>")

    from cjt_actors.exchange.rest import RetryPolicy

    rest = RestClient(
        "https://api.example.com",
        credentials=_KEY,
        transport=httpx.MockTransport(down),
        retry=RetryPolicy(max_attempts=1),
    )
    async with rest:
        with pytest.raises(LiveTradingRefused, match="key permissions: the venue did not answer"):
            await check_venue(rest, ("BTC-USD",))


# -- the command line ------------------------------------------------------------------------------


def _run_args(*extra: str) -> list[str]:
    return [
        "run",
        "--rest-url",
        "http://127.0.0.1:1/api/v3/brokerage",
        "--ws-url",
        "ws://127.0.0.1:1/",
        "--user-ws-url",
        "ws://127.0.0.1:1/ws/user",
        *extra,
    ]


def test_cjt_run_refuses_the_real_exchange_without_the_interlock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--venue", "coinbase", "--key-file", str(tmp_path / "k.json")]) == 2
    err = capsys.readouterr().err
    assert "live trading refused" in err
    assert "live.enabled: must be true" in err


def test_cjt_run_exits_2_for_a_non_loopback_sim_url(capsys: pytest.CaptureFixture[str]) -> None:
    args = _run_args("--venue", "sim")
    args[args.index("--ws-url") + 1] = "ws://192.0.2.1/"
    assert main(args) == 2
    assert "venue.ws_url" in capsys.readouterr().err


def test_cjt_run_exits_2_for_a_missing_key_file_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "absent.json"
    assert main(_run_args("--venue", "sim", "--key-file", str(key))) == 2
    assert str(key) in capsys.readouterr().err


def test_cjt_run_without_a_key_says_which_environment_variables_are_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COINBASE_API_KEY", raising=False)
    monkeypatch.delenv("COINBASE_API_SECRET", raising=False)
    assert main(_run_args("--venue", "sim")) == 2
    err = capsys.readouterr().err
    assert "COINBASE_API_KEY" in err
    assert "the environment" in err


def test_cjt_run_exits_2_for_a_bad_config_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[risk]\nmax_order_sizee = 1\n")
    assert main(_run_args("--venue", "sim", "--config", str(config))) == 2
    err = capsys.readouterr().err
    assert "risk.max_order_sizee: unknown key" in err
    assert "did you mean 'max_order_size'" in err


@pytest.mark.parametrize("duration", ["0", "-1", "inf", "soon"])
def test_cjt_run_refuses_a_bad_duration(duration: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(_run_args("--venue", "sim", "--duration", duration))
    assert caught.value.code == 2
    assert "--duration" in capsys.readouterr().err


def test_the_example_configs_in_docs_load_and_pass_the_config_checks() -> None:
    from cjt_actors.config import load_config, load_strategies

    docs = Path(__file__).parents[2] / "docs"
    sim = load_config(docs / "live-sim.toml")
    assert check_config(sim).rest_url == "http://127.0.0.1:8765"
    live = load_config(docs / "live.toml")
    assert check_config(live).rest_url == "https://api.coinbase.com"
    assert live.live.acknowledge == LIVE_ACKNOWLEDGEMENT
    for config in (sim, live):
        assert load_strategies(config, source="docs")


def test_check_config_names_every_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[venue]\nkind = "coinbase"\n[opps]\nport = 1\n[ops]\nport = 70000\n')
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "opps: unknown key 'opps' (did you mean 'ops'?)" in err
    assert "ops: port must be a port number (0-65535), got 70000" in err
    unlocked = tmp_path / "live.toml"
    unlocked.write_text('[venue]\nkind = "coinbase"\n')
    assert main(["check-config", str(unlocked)]) == 2
    assert "live.enabled: must be true" in capsys.readouterr().out
    assert main(["check-config", "--defaults"]) == 0
    defaults = capsys.readouterr().out
    assert "[ops]" in defaults
    assert 'on_stop = "cancel"' in defaults
