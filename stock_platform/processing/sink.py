"""The write side shared by both engines: trades and aggregates to the store, dead letters to Kafka, stats."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from stock_platform.models import TradeRow
from stock_platform.processing.dead_letters import DeadLetterWriter
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trade_decoding import KeyedDeadLetter
from stock_platform.storage.batch import BatchResult

RowWriter = Callable[[list[TradeRow]], BatchResult]


class TradeSink:
    """Writes one batch: dead letters first (acknowledged), then rows; only then may offsets advance.

    A replay of a batch that failed after its dead letters were acknowledged does not duplicate them:
    the DeadLetterWriter skips dead letters whose key (the source message) is already in the topic.

    `write_rows` is the storage layer's idempotent batch writer (trades + daily aggregates + minute
    bars, e.g. `partial(write_trade_batch, store)`); its duplicate and late counts go into the stats.
    """

    def __init__(
        self,
        write_rows: RowWriter,
        dead_letters: DeadLetterWriter | None,
        stats: StreamStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._write_rows = write_rows
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
    ) -> None:
        """Persist one batch; raises when any part could not be made durable."""
        if dead_letters:
            if self._dead_letters is None:
                raise RuntimeError(f"{len(dead_letters)} dead letters but no dead-letter topic configured: {dead_letters[0].letter.reason}")
            self._dead_letters.write(dead_letters)
        result = self._write_rows(rows) if rows else BatchResult()
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
