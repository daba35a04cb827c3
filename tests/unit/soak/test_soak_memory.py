"""RSS samples: reading /proc/self/statm, and growth from quarter medians."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cjt_actors.soak.memory import MIB, RssSample, read_rss, rss_growth


def _samples(*mib: float) -> list[RssSample]:
    return [RssSample(at=5.0 * i, rss=int(m * MIB)) for i, m in enumerate(mib)]


def test_rss_is_resident_pages_times_the_page_size(tmp_path: Path) -> None:
    statm = tmp_path / "statm"
    statm.write_text("5000 1234 300 10 0 900 0\n")
    assert read_rss(statm) == 1234 * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("content", ["", "12\n", "a b c\n"])
def test_an_unreadable_statm_says_unavailable(tmp_path: Path, content: str) -> None:
    statm = tmp_path / "statm"
    statm.write_text(content)
    assert read_rss(statm) is None


def test_a_missing_statm_says_unavailable(tmp_path: Path) -> None:
    assert read_rss(tmp_path / "nowhere") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_this_process_has_a_resident_set() -> None:
    rss = read_rss()
    assert rss is not None
    assert rss > MIB


def test_growth_compares_the_medians_of_the_first_and_last_quarters() -> None:
    # Eight samples: quarters of two. A start-up spike and a GC dip do not move the medians
    # the way first-vs-last samples would.
    growth = rss_growth(_samples(100, 102, 101, 101, 103, 103, 104, 110))
    assert growth is not None
    assert growth.per_quarter == 2
    assert growth.first == pytest.approx(101 * MIB)
    assert growth.last == pytest.approx(107 * MIB)
    assert growth.mib == pytest.approx(6.0)
    assert growth.percent == pytest.approx(600 / 101)


def test_shrinking_memory_is_negative_growth() -> None:
    growth = rss_growth(_samples(120, 110, 100, 100))
    assert growth is not None
    assert growth.per_quarter == 1
    assert growth.mib == pytest.approx(-20.0)
    assert growth.percent == pytest.approx(-100 * 20 / 120)


def test_with_fewer_than_two_samples_there_is_no_growth() -> None:
    assert rss_growth([]) is None
    assert rss_growth(_samples(100)) is None
    two = rss_growth(_samples(100, 101))
    assert two is not None
    assert two.mib == pytest.approx(1.0)
