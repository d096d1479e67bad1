"""A bounded processing window: stop after N seconds, report at a fixed interval, whatever the engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from stock_platform.processing.stream_stats import StreamStats

Report = Callable[[dict[str, Any]], None]


class WindowTicker:
    """Called by an engine's loop between batches: ends the window and emits interval reports."""

    def __init__(
        self,
        stats: StreamStats,
        stop: threading.Event,
        report: Report,
        report_interval_s: float,
        window_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stats = stats
        self._stop = stop
        self._report = report
        self._report_interval_s = report_interval_s
        self._window_s = window_s
        self._clock = clock
        self._started = self._last_report = clock()

    def __call__(self) -> None:
        now = self._clock()
        if self._window_s is not None and now - self._started >= self._window_s:
            self._stop.set()
        if now - self._last_report >= self._report_interval_s:
            self._last_report = now
            self._report(self._stats.interval_report())

    def final_report(self) -> None:
        """The figures since the last report; called in `finally` so a terminated run still reports."""
        self._report(self._stats.interval_report())
