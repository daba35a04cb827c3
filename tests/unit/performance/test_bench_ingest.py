"""The ingest benchmark's reference: final books and message counts from a capture, by hand."""

from __future__ import annotations

import json
from typing import Any

from tests.performance.bench_ingest import IngestPlan, plan_ingest


def _frame(sequence: int, channel: str, events: list[dict[str, Any]]) -> str:
    return json.dumps(
        {"channel": channel, "client_id": "", "sequence_num": sequence, "events": events}
    )


def _level(side: str, price: str, quantity: str) -> dict[str, str]:
    return {"side": side, "price_level": price, "new_quantity": quantity}


def test_plan_replays_books_and_counts_messages() -> None:
    frames = [
        _frame(
            0,
            "l2_data",
            [
                {
                    "type": "snapshot",
                    "product_id": "BTC-USD",
                    "updates": [_level("bid", "99.00", "1"), _level("offer", "101.00", "2")],
                }
            ],
        ),
        _frame(1, "market_trades", [{"type": "snapshot", "trades": [{"x": 1}]}]),
        _frame(
            2,
            "l2_data",
            [
                {
                    "type": "update",
                    "product_id": "BTC-USD",
                    "updates": [
                        _level("bid", "100.00", "0.5"),
                        _level("offer", "101.00", "0"),  # the best ask goes
                        _level("offer", "102.50", "3"),
                    ],
                },
                {"type": "update", "product_id": "ETH-USD", "updates": [_level("bid", "5", "1")]},
            ],
        ),
        # Snapshot then live: two messages; an event without trades makes none.
        _frame(
            3,
            "market_trades",
            [
                {"type": "snapshot", "trades": [{"x": 2}]},
                {"type": "update", "trades": [{"x": 3}]},
                {"type": "update", "trades": []},
            ],
        ),
        _frame(4, "heartbeats", [{"current_time": "", "heartbeat_counter": 1}]),
    ]
    plan = plan_ingest(frames, ["BTC-USD", "ETH-USD"])
    assert plan.frames == 5
    assert plan.l2_frames == 2
    assert plan.trade_messages == 3
    assert plan.level_updates == 4  # snapshot levels are not updates
    assert plan.best == {"BTC-USD": ("100.00", "102.50"), "ETH-USD": ("5", None)}
    assert [json.loads(m)["channel"] for m in plan.subscribe] == [
        "heartbeats",
        "level2",
        "market_trades",
    ]
    assert IngestPlan.from_json(plan.to_json()) == plan
