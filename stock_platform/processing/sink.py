"""The write side shared by both engines: trades and aggregates to the store, dead letters to Kafka, stats."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from stock_platform.models import TradeRow
from stock_platform.processing.dead_letters import DeadLetterWriter
from stock_platform.processing.partial_bars import BatchBars
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trade_decoding import KeyedDeadLetter
from stock_platform.storage.batch import BatchResult

RowWriter = Callable[[list[TradeRow]], BatchResult]
AggregatedWriter = Callable[[list[TradeRow], BatchBars], BatchResult]


class TradeSink:
    """Writes one batch: dead letters first (acknowledged), then rows; only then may offsets advance.

    A replay of a batch that failed after its dead letters were acknowledged does not duplicate them:
    the DeadLetterWriter skips dead letters whose key (the source message) is already in the topic.

    `write_rows` is the storage layer's idempotent batch writer (trades + daily aggregates + minute
    bars, e.g. `partial(write_trade_batch, store)`); its duplicate and late counts go into the stats.
    `write_aggregated` (e.g. `partial(write_aggregated_batch, store)`) writes a batch whose bars the
    engine folded already (Spark); without it such a batch's bars are folded from its rows.
    """

    def __init__(
        self,
        write_rows: RowWriter,
        dead_letters: DeadLetterWriter | None,
        stats: StreamStats,
        clock: Callable[[], float] = time.time,
        write_aggregated: AggregatedWriter | None = None,
    ) -> None:
        self._write_rows = write_rows
        self._write_aggregated = write_aggregated
        self._dead_letters = dead_letters
        self.stats = stats
        self._clock = clock

    def write(
        self,
        rows: list[TradeRow],
        dead_letters: Sequence[KeyedDeadLetter],
        offset_ranges: dict[int, tuple[int, int]],
        messages: int,
        rejected_trades: int = 0,
        bars: BatchBars | None = None,
    ) -> None:
        """Persist one batch (with the engine's `bars`, when it folded them); raises when any part could not be made durable."""
        if dead_letters:
            if self._dead_letters is None:
                raise RuntimeError(f"{len(dead_letters)} dead letters but no dead-letter topic configured: {dead_letters[0].letter.reason}")
            self._dead_letters.write(dead_letters)
        if not rows:
            result = BatchResult()
        elif bars is not None and self._write_aggregated is not None:
            result = self._write_aggregated(rows, bars)
        else:
            result = self._write_rows(rows)
        written_at_ms = int(self._clock() * 1000)
        self.stats.add_batch(
            rows,
            written_at_ms,
            offset_ranges,
            messages,
            duplicate_trades=result.duplicates,
            late_trades=result.late,
            dead_letters=len(dead_letters),
            rejected_trades=rejected_trades,
        )
