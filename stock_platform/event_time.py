"""The span of event times a run or interval has seen, reported as first/last event time."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(slots=True)
class EventTimeRange:
    """Earliest and latest event time seen so far, in epoch milliseconds; None until something is added."""

    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, times: Collection[int]) -> None:
        """Widen the range to cover `times`; an empty collection changes nothing."""
        if not times:
            return
        earliest, latest = min(times), max(times)
        if self.first_ms is None or earliest < self.first_ms:
            self.first_ms = earliest
        if self.last_ms is None or latest > self.last_ms:
            self.last_ms = latest
