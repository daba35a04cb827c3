"""`cjt paper` as a new user runs it (what `nox -s paper` runs): a subprocess, real time.

`nox -s paper -- --duration 20` is `cjt paper --duration 20` in a fresh virtualenv; these
tests run the same command with this interpreter (`python -m cjt_actors`), so they do not
build a virtualenv per test.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def _paper(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cjt_actors", "paper", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def _field(out: str, name: str) -> int:
    match = re.search(rf"^{name}:\s+(\d+)", out, re.MULTILINE)
    assert match is not None, f"no {name!r} line in:\n{out}"
    return int(match.group(1))


def test_a_timed_paper_run_trades_and_prints_a_summary(tmp_path: Path) -> None:
    process = _paper(tmp_path, "--duration", "20", "--seed", "11")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, f"{out}\n{err}"
    assert "== summary ==" in out
    assert _field(out, "fills") > 0, out
    # A paper run is read from its status lines and summary: no INFO log lines by default.
    assert '"level":"INFO"' not in err, err[:500]
    assert _field(out, "orders") > 0
    assert "0 remaining" in out  # every open paper order was cancelled at the end
    assert re.search(r"^t=\d+s \| BTC-USD \S+/\S+ ok", out, re.MULTILINE), out
    journal = re.search(r"^journal: (\S+)", out, re.MULTILINE)
    assert journal is not None
    with sqlite3.connect(tmp_path / journal.group(1)) as db:
        (fills,) = db.execute("SELECT count(*) FROM fills").fetchone()
    assert fills == _field(out, "fills")


def test_ctrl_c_cancels_open_orders_and_still_prints_the_summary(tmp_path: Path) -> None:
    process = _paper(tmp_path, "--seed", "12")
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if line.startswith("t="):  # the first status line: it is trading
            break
    else:  # pragma: no cover - a failure path
        process.kill()
        raise AssertionError("".join(seen))
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=60)
    out = "".join(seen) + rest
    assert process.returncode == 0, f"{out}\n{err}"
    assert "== summary ==" in out
    assert "signal: received SIGINT" in out
    assert re.search(r"emergency cancel: \d+ open, \d+ cancel requests, 0 remaining", out), out


def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[risk]\nmax_postion_notional = "10"\n')
    process = _paper(tmp_path, "--config", str(config), "--duration", "5")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, f"{out}\n{err}"
    assert "risk.max_postion_notional" in err
    assert "did you mean 'max_position_notional'" in err
    assert "Traceback" not in err


def test_a_strategy_param_typo_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[strategies]]\nname = "mm"\nparams = { half_spred_bps = 2 }\n')
    process = _paper(tmp_path, "--config", str(config), "--duration", "5")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, f"{out}\n{err}"
    assert "strategies[0].params.half_spred_bps" in err
    assert "did you mean 'half_spread_bps'" in err
    assert "Traceback" not in err
