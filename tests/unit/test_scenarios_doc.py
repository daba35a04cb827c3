"""docs/scenarios.md embeds the fault and expectation vocabularies generated from the code:
a new action, a new key or a changed default must reach the reference authors read."""

from __future__ import annotations

from pathlib import Path

from cjt_actors.scenarios import ACTIONS, EXPECTATIONS
from cjt_actors.scenarios.vocabulary import BEGIN, END, vocabulary_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_the_documented_vocabulary_is_the_code_s() -> None:
    text = DOC.read_text(encoding="utf-8")
    embedded = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert embedded == vocabulary_markdown().strip(), (
        "docs/scenarios.md is stale: replace its vocabulary with `cjt scenario vocabulary`"
    )


def test_every_action_and_expectation_has_a_row_with_its_keys() -> None:
    markdown = vocabulary_markdown()
    for name in (*ACTIONS, *EXPECTATIONS):
        assert f"| `{name}` |" in markdown
    # Keys with their defaults, and required keys without one.
    assert '`endpoint`: "" or "market" or "user" ("")' in markdown
    assert "`seconds`: float |" in markdown  # latency: required
    assert '`state`: "ACTIVE" or "REDUCING" or "HALTED"' in markdown
