"""Paper trading: a venue that fills orders against the observed market (DESIGN §4).

:class:`PaperVenue` implements :class:`~cjt_actors.venue.Venue` and
:class:`~cjt_actors.venue.MarketObserver`, so the executor, the journal and the risk path are
the same as live; only where fills come from differs. The fill rules live in the pure
:mod:`cjt_actors.paper.fills` (takers walk the observed book, resting limits queue and fill
from public trades and crossing views, maker/taker fees); :mod:`cjt_actors.paper.venue` adds
the latency model and the report channel.
"""

from __future__ import annotations

from .fills import FillModel, PaperConfig, PaperStatistics
from .venue import PaperVenue

__all__ = ["FillModel", "PaperConfig", "PaperStatistics", "PaperVenue"]
