"""`cjt status`, `cjt halt`, `cjt resume` against a real ops endpoint on loopback (a source
whose snapshot the test sets, and which records the commands it gets)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
import trio

from cjt_actors.cli import main
from cjt_actors.ops import OpsSnapshot, serve_ops


@attrs.define
class Recording:
    current: OpsSnapshot
    sent: list[tuple[str, str, bool]] = attrs.Factory(list)

    def snapshot(self) -> OpsSnapshot:
        return self.current

    async def halt(self, detail: str, *, flatten: bool = False) -> None:
        await trio.lowlevel.checkpoint()
        self.sent.append(("halt", detail, flatten))

    async def resume(self, detail: str) -> None:
        await trio.lowlevel.checkpoint()
        self.sent.append(("resume", detail, False))


async def _cli(*argv: str) -> int:
    return await trio.to_thread.run_sync(main, list(argv))


async def test_status_halt_and_resume_talk_to_the_daemon(
    snapshot: OpsSnapshot, capsys: pytest.CaptureFixture[str]
) -> None:
    source = Recording(snapshot)
    async with serve_ops(source) as url:
        assert await _cli("status", "--url", url) == 0
        readable = capsys.readouterr().out
        assert await _cli("status", "--url", url, "--json") == 0
        document = json.loads(capsys.readouterr().out)
        assert await _cli("halt", "--url", url, "--flatten", "--reason", "lunch") == 0
        assert "HaltTrading" in capsys.readouterr().out
        assert await _cli("resume", "--url", url) == 0
    assert "ready         yes" in readable
    assert "trading       ACTIVE" in readable
    assert "feed          connected" in readable
    assert document["ready"] is True
    assert source.sent == [("halt", "lunch", True), ("resume", "cjt resume", False)]


async def test_a_daemon_that_is_not_there_is_exit_1_with_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await _cli("status", "--url", "http://127.0.0.1:9") == 1
    err = capsys.readouterr().err
    assert "cannot reach the daemon at http://127.0.0.1:9" in err
    assert "is `cjt run` running" in err


async def test_the_endpoint_comes_from_the_config_and_the_token_from_its_variable(
    snapshot: OpsSnapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "a-long-enough-ops-token-0123456789"
    monkeypatch.setenv("MY_OPS_TOKEN", token)
    source = Recording(snapshot)
    async with serve_ops(source, token=token) as url:
        port = url.rsplit(":", 1)[1]
        config = tmp_path / "c.toml"
        config.write_text(f'[ops]\nport = {port}\ntoken_env = "MY_OPS_TOKEN"\n')
        assert await _cli("halt", "--config", str(config)) == 0
        monkeypatch.delenv("MY_OPS_TOKEN")
        assert await _cli("halt", "--config", str(config)) == 1
    assert "answered 401" in capsys.readouterr().err
    assert source.sent == [("halt", "cjt halt", False)]


async def test_a_bad_config_for_the_endpoint_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[ops]\nprot = 1\n")
    assert await _cli("status", "--config", str(config)) == 2
    assert "did you mean 'port'" in capsys.readouterr().err
