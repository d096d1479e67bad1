"""One bounded ingest window: websocket -> FrameHandler -> Kafka, with periodic reports and a clean flush."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stock_platform.finnhub.websocket import FinnhubStream
from stock_platform.ingest.frames import FrameHandler, IngestStats
from stock_platform.kafka.producer import DeliveryFailedError, TrackedProducer
from stock_platform.window import WindowTicker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowSettings:
    """How long a run ingests and how often it reports."""

    report_interval_s: float = 30.0
    window_s: float | None = None
    flush_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class IngestTotals:
    """Running totals of one ingest window: a copy of the handler's counters, and Kafka's acknowledgements."""

    handler: IngestStats = field(default_factory=IngestStats)
    acknowledged: int = 0
    delivery_failures: int = 0


@dataclass(frozen=True, slots=True)
class IngestIntervalReport:
    """The totals so far plus what happened since the previous report."""

    totals: IngestTotals
    interval_seconds: float
    interval_trades: int
    interval_messages: int
    interval_dead_letters: int
    trades_per_second: float


class IngestReporter:
    """Builds interval reports (deltas and totals) from the handler, producer and stream counters."""

    def __init__(self, handler: FrameHandler, producer: TrackedProducer, stream: FinnhubStream) -> None:
        self._handler = handler
        self._producer = producer
        self._stream = stream
        self._previous = IngestTotals()
        self._previous_at = time.monotonic()

    def totals(self) -> IngestTotals:
        self._handler.stats.reconnects = self._stream.reconnects
        # A copy: the handler keeps counting while the report is read.
        counters = copy.deepcopy(self._handler.stats)
        return IngestTotals(counters, acknowledged=self._producer.delivered, delivery_failures=self._producer.failed)

    def interval_report(self) -> IngestIntervalReport:
        """Totals plus what happened since the previous report (`interval_*` figures, rate per second)."""
        now = time.monotonic()
        totals, previous = self.totals(), self._previous
        elapsed = max(now - self._previous_at, 1e-9)
        interval_trades = totals.handler.trades - previous.handler.trades
        report = IngestIntervalReport(
            totals=totals,
            interval_seconds=round(elapsed, 3),
            interval_trades=interval_trades,
            interval_messages=totals.handler.messages - previous.handler.messages,
            interval_dead_letters=totals.handler.dead_letters - previous.handler.dead_letters,
            trades_per_second=round(interval_trades / elapsed, 1),
        )
        self._previous, self._previous_at = totals, now
        return report


def run_ingest_window(
    stream: FinnhubStream,
    handler: FrameHandler,
    producer: TrackedProducer,
    settings: WindowSettings,
    report: Callable[[IngestIntervalReport], None],
) -> IngestTotals:
    """Ingest until the window ends or the stream is stopped; always flush and report at the end.

    Returns:
        The final totals. Raises DeliveryFailedError when any message was not acknowledged: as soon as the
        first delivery fails (after the producer's message.timeout.ms), because every frame read after that
        would only be queued to fail too — the run stops so its keeper restarts it once Kafka is back.
    """
    reporter = IngestReporter(handler, producer, stream)
    ticker = WindowTicker(reporter.interval_report, stream.stop_event, report, settings.report_interval_s, settings.window_s)

    def on_tick() -> None:
        # Delivery callbacks run only inside poll(); a failure stops the window before the ticker may report.
        producer.poll()
        if producer.failed:
            raise DeliveryFailedError(
                f"Kafka stopped acknowledging: {producer.failed} messages failed (last error: {producer.last_error}); "
                "stopped reading Finnhub so nothing more is read and dropped"
            )
        ticker()

    remaining = 0
    try:
        stream.run(handler.handle, on_tick)
    finally:
        remaining = producer.flush(settings.flush_timeout_s)
        if remaining:
            logger.error("%d Kafka messages still unacknowledged after %.0fs flush", remaining, settings.flush_timeout_s)
        ticker.final_report()
    producer.raise_on_failures(unacknowledged=remaining)
    return reporter.totals()
