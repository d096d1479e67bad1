"""Ingest dry run: the real frame handling and validation, with a producer that counts instead of sending.

Per interval: trades, messages and dead letters as the ingest would produce them, dead-letter reasons grouped
by rule and counted, and a sample of raw frames. Nothing here talks to Kafka.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websocket

from stock_platform.finnhub.websocket import FinnhubAuthError, FinnhubStream, StreamSettings
from stock_platform.ingest.dry_run_reasons import DryRunRecorder, IntervalReport
from stock_platform.ingest.frames import FrameHandler
from stock_platform.ingest.runner import IngestIntervalReport, WindowSettings, run_ingest_window
from stock_platform.ingest.validation import TradeValidator
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaEnv

COUNTS = ("frames", "trades", "messages", "dead_letters", "rejected_trades", "pings", "finnhub_errors", "reconnects")
_SLIVER_S = 1.0
_KAFKA_DEFAULTS = KafkaEnv()

class EndpointUnreachableError(RuntimeError):
    """The websocket endpoint could not be reached at all (one-line message, no token)."""


class RecordingProducer:
    """A ProducerLike that hands every message to a callback and counts it; it never contacts Kafka."""

    def __init__(self, on_message: Callable[[str, bytes], None]) -> None:
        self._on_message = on_message
        self.messages: Counter[str] = Counter()

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any, on_delivery: Any) -> None:
        self.messages[topic] += 1
        self._on_message(topic, value)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0

    def purge(self) -> None:
        return None

    def close(self) -> bool:
        return True


class RecordingValidator(TradeValidator):
    """The ingest's validator, reporting each rejected trade's reason to the recorder."""

    def __init__(self, recorder: DryRunRecorder) -> None:
        super().__init__()
        self._recorder = recorder

    def problem(self, trade: Any, now_ms: int | None = None) -> str | None:
        reason = super().problem(trade, now_ms)
        if reason is not None:
            self._recorder.trade_rejected(reason)
        return reason


class SamplingFrameHandler(FrameHandler):
    """The ingest's FrameHandler, showing each raw frame to the recorder first."""

    def __init__(self, recorder: DryRunRecorder, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder = recorder

    def handle(self, raw: str | bytes, received_at_ms: int | None = None) -> None:
        self._recorder.frame(raw)
        super().handle(raw, received_at_ms)


class FailFastStream(FinnhubStream):
    """FinnhubStream that gives up when its first connection fails: a dry run reports that, it does not retry.

    After one connection succeeded, drops are retried with backoff exactly as in the ingest.
    """

    def _connect(self) -> websocket.WebSocket:
        try:
            return super()._connect()
        except FinnhubAuthError:
            raise
        except (OSError, websocket.WebSocketException) as error:
            if self.connections:
                raise
            # websocket-client appends the response headers and body after " -+-+- ": one line is enough.
            detail = f"{type(error).__name__}: {error}".split(" -+-+- ")[0]
            message = f"cannot connect to {public_url(self._settings.url)} ({detail})"
            raise EndpointUnreachableError(redact(message, self._settings.token)) from None


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def public_url(url: str) -> str:
    """The URL without its query string, where Finnhub carries the token."""
    return url.split("?", 1)[0]


class IntervalCounter:
    """Turns running totals into per-interval reports."""

    def __init__(self, recorder: DryRunRecorder, clock: Callable[[], float] = time.monotonic) -> None:
        self._recorder = recorder
        self._clock = clock
        self._started = self._previous_at = clock()
        self._previous = dict.fromkeys(COUNTS, 0)
        self._totals = dict.fromkeys(COUNTS, 0)
        self.intervals = 0

    def interval(self, report: IngestIntervalReport) -> IntervalReport | None:
        """The report since the previous one; None for a frameless sliver (a window ending just after a report)."""
        now = self._clock()
        handled = report.totals.handler
        if handled.frames == self._previous["frames"] and now - self._previous_at < _SLIVER_S:
            return None
        self._totals = {name: getattr(handled, name) for name in COUNTS}
        counts = {name: self._totals[name] - self._previous[name] for name in COUNTS}
        reasons, samples = self._recorder.drain()
        self.intervals += 1
        report = IntervalReport(
            self.intervals, round(now - self._started, 3), round(now - self._previous_at, 3), counts, reasons, samples
        )
        self._previous, self._previous_at = self._totals, now
        return report

    def summary(self) -> IntervalReport:
        elapsed = round(self._clock() - self._started, 3)
        return IntervalReport(self.intervals, elapsed, elapsed, dict(self._totals), self._recorder.run_reasons(), final=True)


@dataclass
class DryRun:
    """The pieces of one dry run, wired like the ingest's."""

    stream: FailFastStream
    handler: SamplingFrameHandler
    producer: TrackedProducer
    recording: RecordingProducer
    recorder: DryRunRecorder
    counter: IntervalCounter


def build_dry_run(
    settings: StreamSettings,
    source: str,
    samples: int,
    market_topic: str = _KAFKA_DEFAULTS.market_topic,
    dead_letter_topic: str = _KAFKA_DEFAULTS.dead_letter_topic,
    rng: random.Random | None = None,
) -> DryRun:
    """A stream, the ingest's handler and validator, and a producer that records instead of sending."""
    recorder = DryRunRecorder(dead_letter_topic, samples, rng)
    recording = RecordingProducer(recorder.produced)
    producer = TrackedProducer(recording)
    handler = SamplingFrameHandler(
        recorder, producer, market_topic, dead_letter_topic, source=source, validator=RecordingValidator(recorder)
    )
    return DryRun(FailFastStream(settings), handler, producer, recording, recorder, IntervalCounter(recorder))


def run_dry_run(
    dry: DryRun, interval_s: float, duration_s: float | None, emit: Callable[[IntervalReport], None]
) -> IntervalReport:
    """Run the ingest window with the recording producer, emitting each interval; Ctrl-C ends it cleanly.

    Returns:
        The summary of the whole run. Raises EndpointUnreachableError or FinnhubAuthError when the first
        connection fails.
    """

    def report(totals: IngestIntervalReport) -> None:
        interval = dry.counter.interval(totals)
        if interval is not None:
            emit(interval)

    # Nothing is ever queued, so there is nothing to wait for at the end.
    settings = WindowSettings(report_interval_s=interval_s, window_s=duration_s, flush_timeout_s=0)
    try:
        run_ingest_window(dry.stream, dry.handler, dry.producer, settings, report)
    except KeyboardInterrupt:
        pass  # the window already reported its last interval on the way out
    return dry.counter.summary()
