"""The `cjt` command (today: its version and help; subcommands arrive with their features)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cjt_actors import __version__
from cjt_actors.cli import main


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """Operators report bugs with this string."""
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"cjt_actors {__version__}"


def test_no_arguments_prints_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    """A bare `cjt` explains itself instead of failing."""
    assert main([]) == 0
    assert "usage: cjt" in capsys.readouterr().out


def test_an_unknown_option_exits_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    """Typos get a clear error and the conventional usage-error exit code."""
    with pytest.raises(SystemExit) as exited:
        main(["--verison"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --verison" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command() -> None:
    """`python -m cjt_actors` works where the console script is not on PATH."""
    result = subprocess.run(
        [sys.executable, "-m", "cjt_actors", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"cjt_actors {__version__}"
