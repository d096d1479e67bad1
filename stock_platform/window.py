"""A bounded window with periodic reports: stop after N seconds, report at a fixed interval, whatever the run loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

ReportT = TypeVar("ReportT")


class WindowTicker(Generic[ReportT]):
    """Called by a run loop between units of work: ends the window and emits interval reports."""

    def __init__(
        self,
        interval_report: Callable[[], ReportT],
        stop: threading.Event,
        report: Callable[[ReportT], None],
        report_interval_s: float,
        window_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval_report = interval_report
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
            self._report(self._interval_report())

    def final_report(self) -> None:
        """The figures since the last report; called in `finally` so a terminated run still reports."""
        self._report(self._interval_report())
