"""One bounded ingest window: websocket -> FrameHandler -> Kafka, with periodic reports and a clean flush."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stock_platform.finnhub.websocket import FinnhubStream
from stock_platform.ingest.frames import FrameHandler
from stock_platform.kafka.producer import DeliveryFailedError, TrackedProducer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowSettings:
    """How long a run ingests and how often it reports."""

    report_interval_s: float = 30.0
    window_s: float | None = None
    flush_timeout_s: float = 30.0


class IngestReporter:
    """Builds interval reports (deltas and totals) from the handler, producer and stream counters."""

    def __init__(self, handler: FrameHandler, producer: TrackedProducer, stream: FinnhubStream) -> None:
        self._handler = handler
        self._producer = producer
        self._stream = stream
        self._previous: dict[str, Any] = {}
        self._previous_at = time.monotonic()

    def totals(self) -> dict[str, Any]:
        self._handler.stats.reconnects = self._stream.reconnects
        return {
            **self._handler.stats.snapshot(),
            "acknowledged": self._producer.delivered,
            "delivery_failures": self._producer.failed,
        }

    def interval_report(self) -> dict[str, Any]:
        """Totals plus what happened since the previous report (`interval_*` keys, rate per second)."""
        now = time.monotonic()
        totals = self.totals()
        elapsed = max(now - self._previous_at, 1e-9)
        interval_trades = totals["trades"] - self._previous.get("trades", 0)
        report = {
            **totals,
            "interval_seconds": round(elapsed, 3),
            "interval_trades": interval_trades,
            "interval_messages": totals["messages"] - self._previous.get("messages", 0),
            "interval_dead_letters": totals["dead_letters"] - self._previous.get("dead_letters", 0),
            "trades_per_second": round(interval_trades / elapsed, 1),
        }
        self._previous, self._previous_at = totals, now
        return report


def run_ingest_window(
    stream: FinnhubStream,
    handler: FrameHandler,
    producer: TrackedProducer,
    settings: WindowSettings,
    report: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Ingest until the window ends or the stream is stopped; always flush and report at the end.

    Returns:
        The final totals. Raises DeliveryFailedError when any message was not acknowledged: as soon as the
        first delivery fails (after the producer's message.timeout.ms), because every frame read after that
        would only be queued to fail too — the run stops so its keeper restarts it once Kafka is back.
    """
    reporter = IngestReporter(handler, producer, stream)
    started = last_report = time.monotonic()

    def on_tick() -> None:
        nonlocal last_report
        producer.poll()
        if producer.failed:
            raise DeliveryFailedError(
                f"Kafka stopped acknowledging: {producer.failed} messages failed (last error: {producer.last_error}); "
                "stopped reading Finnhub so nothing more is read and dropped"
            )
        now = time.monotonic()
        if settings.window_s is not None and now - started >= settings.window_s:
            stream.stop_event.set()
        if now - last_report >= settings.report_interval_s:
            last_report = now
            report(reporter.interval_report())

    remaining = 0
    try:
        stream.run(handler.handle, on_tick)
    finally:
        remaining = producer.flush(settings.flush_timeout_s)
        if remaining:
            logger.error("%d Kafka messages still unacknowledged after %.0fs flush", remaining, settings.flush_timeout_s)
        report(reporter.interval_report())
    producer.raise_on_failures(unacknowledged=remaining)
    return reporter.totals()
