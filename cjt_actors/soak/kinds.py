"""The chaos monkey's vocabulary: the kinds of fault a soak injects, per venue.

A module of its own, importing nothing heavy, so ``cjt soak --help`` can list the kinds
without importing trio or the simulator (see :mod:`cjt_actors.commands`).
"""

from __future__ import annotations

import enum

__all__ = ["PAPER_KINDS", "SIM_KINDS", "FaultKind"]


class FaultKind(enum.Enum):
    """One kind of fault. ``place`` in :class:`PlannedFault` says where it lands."""

    WS_DROP = "ws_drop"  #: abrupt close, no close frame
    WS_STALL = "ws_stall"  #: nothing more is sent until resumed (``hold`` seconds later)
    WS_CLOSE = "ws_close_1001"  #: an orderly 1001 "going away"
    WS_SKIP_SEQUENCE = "ws_skip_sequence"  #: the next frame's sequence_num jumps
    WS_MALFORMED = "ws_malformed"  #: garbage frames
    REST_5XX = "rest_5xx"  #: a burst of JSON 503s
    REST_429 = "rest_429"  #: a burst of 429s
    REST_HTML = "rest_html"  #: a burst of HTML 502 pages
    LOST_ORDER_RESPONSES = "lost_order_responses"  #: placements accepted, never answered
    LATENCY_SPIKE = "latency_spike"  #: extra seconds before every REST answer, for a while
    REPLAY_FILLS = "replay_fills"  #: the user channel drops; its reconnect replays fills
    PRICE_JUMP = "price_jump"  #: a product's mid jumps by some basis points at once
    EXCHANGE_DOWN = "exchange_down"  #: REST answers 503 pages, WebSockets drop and are refused
    CRASH = "crash"  #: an actor raises (the pipeline's crash switch)

    @property
    def websocket(self) -> bool:
        return self.value.startswith("ws_")

    @property
    def rest(self) -> bool:
        return self in (FaultKind.REST_5XX, FaultKind.REST_429, FaultKind.REST_HTML)


#: Every kind, against the simulator through the live venue.
SIM_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)
#: On the paper venue only the market (its data and its prices) and crashes reach the stack.
PAPER_KINDS: tuple[FaultKind, ...] = (
    FaultKind.WS_DROP,
    FaultKind.WS_STALL,
    FaultKind.WS_CLOSE,
    FaultKind.WS_SKIP_SEQUENCE,
    FaultKind.WS_MALFORMED,
    FaultKind.PRICE_JUMP,
    FaultKind.EXCHANGE_DOWN,
    FaultKind.CRASH,
)
