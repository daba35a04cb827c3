"""`cjt run`'s argument checks: where tokens may go in clear, which venues exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjt_actors.cli import main
from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.auth import Credentials
from cjt_actors.exchange.ws import WebSocketClient
from cjt_actors.live_run import LiveEndpoints, check_url


def test_the_rest_prefix_printed_by_cjt_sim_is_dropped() -> None:
    endpoints = LiveEndpoints(
        rest_url="http://127.0.0.1:8000/api/v3/brokerage/",
        ws_url="ws://127.0.0.1:8000/",
        user_ws_url="ws://localhost:8000/ws/user",
    )
    assert endpoints.rest_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("option", "url", "secure", "plain", "message"),
    [
        ("--rest-url", "http://10.0.0.5:8000", "https", "http", "not a loopback host"),
        ("--ws-url", "ws://example.com/", "wss", "ws", "not a loopback host"),
        ("--ws-url", "ftp://127.0.0.1/", "wss", "ws", "expected wss://host"),
        ("--rest-url", "https://", "https", "http", "expected https://host"),
    ],
)
def test_plain_schemes_to_other_hosts_and_other_schemes_are_refused(
    option: str, url: str, secure: str, plain: str, message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message) as caught:
        check_url(option, url, secure=secure, plain=plain)
    assert option in str(caught.value)


@pytest.mark.parametrize(
    "url", ["https://api.coinbase.com", "http://[::1]:9", "http://127.1.2.3", "http://localhost"]
)
def test_tls_anywhere_and_plain_to_loopback_are_accepted(url: str) -> None:
    assert check_url("--rest-url", url, secure="https", plain="http") == url


def test_an_authenticated_websocket_refuses_plain_ws_to_another_host() -> None:
    credentials, _ = _credentials()
    with pytest.raises(InvalidSpec, match="plain ws:// with credentials"):
        WebSocketClient(channels={"user": []}, url="ws://203.0.113.9/", credentials=credentials)
    # Public market data carries no token: plain ws anywhere is the caller's choice.
    WebSocketClient(channels={"ticker": ["BTC-USD"]}, url="ws://203.0.113.9/")


def _credentials() -> tuple[Credentials, str]:
    from cjt_actors.sim.simulator import Simulator, SimulatorConfig

    return Simulator(SimulatorConfig(seed=1)).generate_key()


def _run(*extra: str, key_file: Path) -> list[str]:
    return [
        "run",
        "--rest-url",
        "http://127.0.0.1:1/api/v3/brokerage",
        "--ws-url",
        "ws://127.0.0.1:1/",
        "--user-ws-url",
        "ws://127.0.0.1:1/ws/user",
        "--key-file",
        str(key_file),
        *extra,
    ]


def test_the_real_exchange_is_refused_until_the_live_interlock_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_run("--venue", "coinbase", key_file=tmp_path / "k.json")) == 2
    assert "safety interlock" in capsys.readouterr().err


def test_an_unknown_venue_a_bad_duration_and_a_bad_url_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k.json"
    assert main(_run("--venue", "kraken", key_file=key)) == 2
    assert "unknown venue 'kraken'" in capsys.readouterr().err
    assert main(_run("--venue", "sim", "--duration", "0", key_file=key)) == 2
    assert "--duration must be > 0" in capsys.readouterr().err
    args = _run("--venue", "sim", key_file=key)
    args[args.index("--ws-url") + 1] = "ws://192.0.2.1/"
    assert main(args) == 2
    assert "--ws-url" in capsys.readouterr().err


def test_a_missing_key_file_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "absent.json"
    assert main(_run("--venue", "sim", key_file=key)) == 2
    assert str(key) in capsys.readouterr().err


def test_a_bad_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[risk]\nmax_order_sizee = 1\n")
    assert main(_run("--venue", "sim", "--config", str(config), key_file=tmp_path / "k")) == 2
    assert "max_order_sizee" in capsys.readouterr().err
