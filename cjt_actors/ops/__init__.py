"""Operations: the daemon's local HTTP endpoint for metrics, health, status and control.

Why a separate package: everything here only *reads* what the pipeline already publishes
(the status board, supervisor and mailbox statistics) and steers it only through the
operator commands risk already takes, so the trading code knows nothing of HTTP. The
layers, each testable alone:

* :mod:`~cjt_actors.ops.source`: :class:`OpsSource`, the narrow protocol the server needs,
  and :class:`OpsSnapshot`, everything read at one instant;
  :mod:`~cjt_actors.ops.pipeline_source` adapts a running
  :class:`~cjt_actors.pipeline.Pipeline`;
* :mod:`~cjt_actors.ops.readiness`, :mod:`~cjt_actors.ops.metrics`,
  :mod:`~cjt_actors.ops.status_json`: pure functions of a snapshot;
* :mod:`~cjt_actors.ops.app` (Starlette) and :mod:`~cjt_actors.ops.server` (Hypercorn on
  trio): :func:`serve_ops`;
* :mod:`~cjt_actors.latency` and :mod:`~cjt_actors.ops.timing`: order round-trip
  histograms, measured by wrapping the venue.
"""

from __future__ import annotations

from ..latency import HistogramSnapshot, LatencyHistogram
from .app import ops_app
from .pipeline_source import PipelineOpsSource
from .readiness import Check, Readiness, ReadinessPolicy, assess
from .server import serve_ops
from .source import (
    ActorObservation,
    LatencyObservation,
    MailboxObservation,
    OpsSnapshot,
    OpsSource,
)
from .timing import TimedVenue, timed_venue

__all__ = [
    "ActorObservation",
    "Check",
    "HistogramSnapshot",
    "LatencyHistogram",
    "LatencyObservation",
    "MailboxObservation",
    "OpsSnapshot",
    "OpsSource",
    "PipelineOpsSource",
    "Readiness",
    "ReadinessPolicy",
    "TimedVenue",
    "assess",
    "ops_app",
    "serve_ops",
    "timed_venue",
]
