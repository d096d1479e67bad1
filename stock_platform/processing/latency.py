"""Latency from ingest receipt to row written: weighted samples and their percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable


class LatencyRecorder:
    """Collects (latency, trade count) samples; all trades of one message share one latency."""

    def __init__(self) -> None:
        self._samples: list[tuple[int, int]] = []
        self.count = 0

    def record(self, written_at_ms: int, received_at_ms: Iterable[tuple[int, int]]) -> None:
        """Record trades written at `written_at_ms`, given (received_at_ms, trades) per message.

        Messages without a receipt time (0, written before the field existed) are not latency samples.
        """
        for received, trades in received_at_ms:
            if received > 0 and trades > 0:
                self._samples.append((max(written_at_ms - received, 0), trades))
                self.count += trades

    def percentiles(self, points: Iterable[float] = (50, 99)) -> dict[str, float | None]:
        """Nearest-rank percentiles in ms, keyed `p50`, `p99`, ...; None when there are no samples."""
        ordered = sorted(self._samples)
        result: dict[str, float | None] = {}
        for point in points:
            key = f"p{point:g}"
            if not ordered:
                result[key] = None
                continue
            rank = max(math.ceil(point / 100 * self.count), 1)
            seen = 0
            for latency, trades in ordered:
                seen += trades
                if seen >= rank:
                    result[key] = float(latency)
                    break
        return result

    def maximum(self) -> float | None:
        return float(max(latency for latency, _ in self._samples)) if self._samples else None

    def merge(self, other: LatencyRecorder) -> None:
        self._samples.extend(other._samples)
        self.count += other.count
