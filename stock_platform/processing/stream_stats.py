"""Running and per-interval figures of a stream processor run, for audit metadata and benchmarks."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter

from stock_platform.event_time import EventTimeRange
from stock_platform.models import TradeRow
from stock_platform.processing.latency import LatencyRecorder

_EVENT_TIME = attrgetter("event_time_ms")
_TRADING_DAY = attrgetter("trading_day")
_RECEIVED_AT = attrgetter("received_at_ms")


@dataclass(slots=True)
class IntervalStats:
    """What one reporting interval wrote."""

    batches: int = 0
    messages: int = 0
    rows_written: int = 0
    duplicate_trades: int = 0
    late_trades: int = 0
    dead_letters: int = 0
    rejected_trades: int = 0
    skipped_messages: int = 0
    event_times: EventTimeRange = field(default_factory=EventTimeRange)
    offset_ranges: dict[int, list[int]] = field(default_factory=dict)
    rows_per_day: dict[str, int] = field(default_factory=dict)
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)


@dataclass(frozen=True, slots=True)
class StreamTotals:
    """Run totals of a stream processor so far."""

    batches: int
    messages: int
    rows_written: int
    duplicate_trades: int
    late_trades: int
    dead_letters: int
    skipped_messages: int


@dataclass(frozen=True, slots=True)
class StreamIntervalReport:
    """One reporting interval of a stream processor run, with the run totals so far."""

    engine: str
    interval_seconds: float
    batches: int
    messages: int
    rows_written: int
    trades_per_second: float
    duplicate_trades: int
    late_trades: int
    dead_letters: int
    rejected_trades: int
    skipped_messages: int
    first_event_time_ms: int | None
    last_event_time_ms: int | None
    offset_ranges: dict[int, list[int]]  # partition -> [first, last] offset consumed
    rows_per_trading_day: dict[str, int]
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    totals: StreamTotals


class StreamStats:
    """Accumulates batch results; `interval_report()` returns the interval's figures plus run totals.

    Thread-safe: Spark calls foreachBatch on a callback thread while the run loop reports.
    """

    def __init__(self, engine: str, keep_run_latency: bool = False, clock=time.monotonic) -> None:
        self.engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._interval = IntervalStats()
        self._interval_started = clock()
        self.totals = {"batches": 0, "messages": 0, "rows_written": 0, "duplicate_trades": 0, "late_trades": 0, "dead_letters": 0, "skipped_messages": 0}
        # Only benchmarks keep every sample of the run; long runs report per interval.
        self.run_latency = LatencyRecorder() if keep_run_latency else None

    def add_batch(
        self,
        rows: list[TradeRow],
        written_at_ms: int,
        offset_ranges: dict[int, tuple[int, int]],
        messages: int,
        duplicate_trades: int = 0,
        late_trades: int = 0,
        dead_letters: int = 0,
        rejected_trades: int = 0,
    ) -> None:
        """Fold one written batch in: `offset_ranges` maps partition -> (first, last) offset consumed."""
        with self._lock:
            self._add(rows, written_at_ms, offset_ranges, messages, duplicate_trades, late_trades, dead_letters, rejected_trades)

    def add_skipped(self, messages: int) -> None:
        """Messages Kafka deleted before the stream read them (retention), reported with the current interval."""
        with self._lock:
            self._interval.skipped_messages += messages
            self.totals["skipped_messages"] += messages

    def _add(
        self,
        rows: list[TradeRow],
        written_at_ms: int,
        offset_ranges: dict[int, tuple[int, int]],
        messages: int,
        duplicate_trades: int,
        late_trades: int,
        dead_letters: int,
        rejected_trades: int,
    ) -> None:
        interval = self._interval
        interval.batches += 1
        interval.messages += messages
        interval.rows_written += len(rows)
        interval.duplicate_trades += duplicate_trades
        interval.late_trades += late_trades
        interval.dead_letters += dead_letters
        interval.rejected_trades += rejected_trades
        for partition, (first, last) in offset_ranges.items():
            span = interval.offset_ranges.setdefault(partition, [first, last])
            span[0], span[1] = min(span[0], first), max(span[1], last)
        interval.event_times.add(list(map(_EVENT_TIME, rows)))
        # Counted in C (attrgetter, Counter), the days named once per batch: this runs for every trade.
        per_day = Counter(map(_TRADING_DAY, rows))
        per_receipt = Counter(map(_RECEIVED_AT, rows))
        for trading_day, count in per_day.items():
            day = trading_day.isoformat()
            interval.rows_per_day[day] = interval.rows_per_day.get(day, 0) + count
        batch_latency = LatencyRecorder()
        batch_latency.record(written_at_ms, per_receipt.items())
        interval.latency.merge(batch_latency)
        if self.run_latency is not None:
            self.run_latency.merge(batch_latency)
        for key, value in (
            ("batches", 1),
            ("messages", messages),
            ("rows_written", len(rows)),
            ("duplicate_trades", duplicate_trades),
            ("late_trades", late_trades),
            ("dead_letters", dead_letters),
        ):
            self.totals[key] += value

    def interval_report(self) -> StreamIntervalReport:
        """The interval's figures (and totals so far); starts a new interval."""
        with self._lock:
            now = self._clock()
            interval, elapsed = self._interval, max(now - self._interval_started, 1e-9)
            self._interval, self._interval_started = IntervalStats(), now
            totals = StreamTotals(**self.totals)
        percentiles = interval.latency.percentiles((50, 99))
        return StreamIntervalReport(
            engine=self.engine,
            interval_seconds=round(elapsed, 3),
            batches=interval.batches,
            messages=interval.messages,
            rows_written=interval.rows_written,
            trades_per_second=round(interval.rows_written / elapsed, 1),
            duplicate_trades=interval.duplicate_trades,
            late_trades=interval.late_trades,
            dead_letters=interval.dead_letters,
            rejected_trades=interval.rejected_trades,
            skipped_messages=interval.skipped_messages,
            first_event_time_ms=interval.event_times.first_ms,
            last_event_time_ms=interval.event_times.last_ms,
            offset_ranges={partition: list(span) for partition, span in sorted(interval.offset_ranges.items())},
            rows_per_trading_day=dict(sorted(interval.rows_per_day.items())),
            latency_p50_ms=percentiles["p50"],
            latency_p99_ms=percentiles["p99"],
            latency_max_ms=interval.latency.maximum(),
            totals=totals,
        )

