"""docs/execution.md carries the lifecycle table generated from the code: keep them equal."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from cjt_actors.lifecycle import TRANSITIONS, EventKind, OrderState


def _table() -> str:
    rows: defaultdict[tuple[EventKind, OrderState], list[OrderState]] = defaultdict(list)
    for (state, kind), to in TRANSITIONS.items():
        rows[kind, to].append(state)
    kinds = list(EventKind)
    lines = ["| event | from | to |", "|---|---|---|"]
    for (kind, to), froms in sorted(
        rows.items(), key=lambda r: (kinds.index(r[0][0]), r[0][1].value)
    ):
        sources = ", ".join(s.value for s in OrderState if s in froms)
        lines.append(f"| {kind.value} | {sources} | {to.value} |")
    return "\n".join(lines)


def test_the_documented_transition_table_is_the_code() -> None:
    text = (Path(__file__).parents[2] / "docs" / "execution.md").read_text()
    documented = text.split("<!-- transitions:start -->\n")[1].split("\n<!-- transitions:end -->")[
        0
    ]
    assert documented == _table()
