"""``cjt soak``'s refusals: each exits 2 with one message naming what was wrong, before
anything starts. (The command running a soak is tests/e2e/test_soak.py.)"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cjt_actors.commands import soak


def _soak(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cjt")
    soak.add_parser(parser.add_subparsers())
    args = parser.parse_args(["soak", *argv])
    code: int = args.handler(args)
    return code


def test_a_journal_that_exists_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "old.sqlite"
    journal.write_bytes(b"")
    assert _soak("--minutes", "1", "--journal", str(journal)) == 2
    assert "exists; a soak needs a new journal" in capsys.readouterr().err


def test_a_bad_config_file_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[risk]\nmax_postion_notional = "10"\n')
    assert _soak("--minutes", "1", "--config", str(config)) == 2
    err = capsys.readouterr().err
    assert err.startswith("cjt soak: bad configuration")
    assert "max_postion_notional" in err


def test_bad_strategy_params_are_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[strategies]]\nname = "mm"\npath = "cjt_actors.strategies.market_maker:MarketMaker"\n'
        '[strategies.params]\nhalf_spread_bps = "-1"\n'
    )
    assert _soak("--minutes", "1", "--config", str(config)) == 2
    captured = capsys.readouterr()
    assert "cjt soak: bad configuration" in captured.err
    assert "strategies[0].params" in captured.err
    assert "== chaos soak ==" not in captured.out


@pytest.mark.parametrize("minutes", ["0", "-1", "soon", "inf", "nan"])
def test_minutes_must_be_a_positive_number(
    minutes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _soak("--minutes", minutes)
    assert exit_info.value.code == 2
    assert "--minutes" in capsys.readouterr().err


def test_an_unknown_kind_to_exclude_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _soak("--minutes", "1", "--exclude", "meteor")
    assert exit_info.value.code == 2
    assert "--exclude: invalid choice: 'meteor'" in capsys.readouterr().err


def test_excluding_every_kind_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    paper = ["--exclude", "ws_drop", "--exclude", "ws_stall", "--exclude", "ws_close_1001"]
    paper += ["--exclude", "ws_skip_sequence", "--exclude", "ws_malformed"]
    paper += ["--exclude", "price_jump", "--exclude", "exchange_down", "--exclude", "crash"]
    assert _soak("--minutes", "1", "--venue", "paper", *paper) == 2
    assert "exclude: leaves no kind of fault for the paper venue" in capsys.readouterr().err
