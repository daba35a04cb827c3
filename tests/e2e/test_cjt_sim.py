"""`cjt sim` as a new user runs it: a subprocess that prints its URLs and a key file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cjt_actors.exchange.auth import Credentials


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cjt_actors", "sim", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C to stop."):
            return process, lines
    process.kill()
    raise AssertionError(
        f"cjt sim did not start: {lines} {process.stderr.read() if process.stderr else ''}"
    )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGINT, then drain and close the pipes; return the exit code and the rest of stdout."""
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


def test_cjt_sim_serves_rest_with_the_printed_key_file(tmp_path: Path) -> None:
    """The printed key file signs requests the printed REST URL accepts; Ctrl-C exits 0."""
    key_file = tmp_path / "key.json"
    process, lines = _start(tmp_path, "--key-file", str(key_file), "--seed", "7")
    try:
        text = "\n".join(lines)
        rest = re.search(r"REST\s+(http://127\.0\.0\.1:(\d+))/api/v3/brokerage", text)
        assert rest is not None, text
        assert f"Key file    {key_file}" in text
        assert "seed 7" in lines[0]
        assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
        host = f"127.0.0.1:{rest.group(2)}"
        credentials = Credentials.from_file(key_file)
        path = "/api/v3/brokerage/accounts"
        response = httpx.get(
            rest.group(1) + path,
            headers={"Authorization": f"Bearer {credentials.rest_jwt('GET', host, path)}"},
            timeout=10,
        )
        assert response.status_code == 200
        assert {a["currency"] for a in response.json()["accounts"]} == {"BTC", "ETH", "USD"}
        unsigned = httpx.get(rest.group(1) + path, timeout=10)
        assert unsigned.status_code == 401
        assert unsigned.text == "Unauthorized"
        status = httpx.get(rest.group(1) + "/sim/status", timeout=10)
        assert status.json()["users"] == ["user-1"]
    finally:
        code, rest_of_output = _stop(process)
    assert code == 0
    assert "SIGINT, stopping" in rest_of_output


def test_cjt_sim_without_auth_needs_no_key(tmp_path: Path) -> None:
    """`--auth none` is the quick local mode: no key file, unsigned requests served."""
    process, lines = _start(tmp_path, "--auth", "none")
    try:
        text = "\n".join(lines)
        assert "Auth        none" in text
        assert "Key file" not in text
        port = re.search(r"127\.0\.0\.1:(\d+)", text)
        assert port is not None
        response = httpx.get(
            f"http://127.0.0.1:{port.group(1)}/api/v3/brokerage/products", timeout=10
        )
        assert [p["product_id"] for p in response.json()["products"]] == ["BTC-USD", "ETH-USD"]
    finally:
        code, _ = _stop(process)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "10.1.2.3"], "not a loopback address"),
        (["--port", "70000"], "not a port number"),
        (["--tick", "0"], "tick"),
        (["--auth", "maybe"], "invalid choice"),
    ],
)
def test_cjt_sim_refuses_bad_arguments_with_exit_2(args: list[str], message: str) -> None:
    """Bad input gets a clear error naming the option, and the usage-error exit code."""
    result = subprocess.run(
        [sys.executable, "-m", "cjt_actors", "sim", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_a_port_in_use_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "cjt_actors", "sim", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"cjt sim: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
