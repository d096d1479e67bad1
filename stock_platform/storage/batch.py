"""Backend-independent writers: one stream batch (trades + bars), and a day recomputed from `trades`."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date

from stock_platform.models import TradeRow
from stock_platform.processing.aggregation import (
    MINUTE_MS,
    NO_PARTITION,
    BarState,
    BatchApplication,
    apply_batch,
    daily_key,
    fold_trades,
    merge_states,
    minute_key,
)
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.base import MarketStore, StoreError

# Rounds of write_recomputed before it gives up; each lost round means a stream batch changed the bars.
SWAP_ATTEMPTS = 20
_COMPARED_FIELDS = ("open", "high", "low", "close", "volume", "notional", "trade_count",
                    "first_trade_time_ms", "last_trade_time_ms", "first_trade_id", "last_trade_id")  # fmt: skip


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one `write_trade_batch` call wrote (the audit figures of a micro-batch)."""

    rows_written: int = 0
    daily_updated: int = 0
    minute_bars_updated: int = 0
    applied: int = 0
    duplicates: int = 0
    late: int = 0
    first_event_time_ms: int | None = None
    last_event_time_ms: int | None = None
    offset_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def aggregates_updated(self) -> int:
        return self.daily_updated + self.minute_bars_updated


def offset_ranges(rows: Sequence[TradeRow]) -> dict[int, tuple[int, int]]:
    """(lowest, highest) Kafka offset per partition."""
    ranges: dict[int, tuple[int, int]] = {}
    for row in rows:
        offset = row.kafka_offset
        span = ranges.get(row.kafka_partition)
        if span is None:
            ranges[row.kafka_partition] = (offset, offset)
        elif offset < span[0]:
            ranges[row.kafka_partition] = (offset, span[1])
        elif offset > span[1]:
            ranges[row.kafka_partition] = (span[0], offset)
    return ranges


def write_trade_batch(store: MarketStore, rows: Sequence[TradeRow], now_ms: int | None = None) -> BatchResult:
    """Write trades, then fold them into the stored daily and minute bars; safe to repeat.

    Trades are written first: if the bars fail, a replay of the batch rewrites the same trade rows and
    applies the bars then. Duplicates and late counts are those of the daily bars.
    """
    if not rows:
        return BatchResult()
    updated_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    with store.atomic_batch():
        written = store.write_trades(rows)
        daily = apply_batch(store.daily_aggregates({daily_key(row) for row in rows}), rows, daily_key, updated_at_ms)
        minute = apply_batch(store.minute_bars({minute_key(row) for row in rows}), rows, minute_key, updated_at_ms)
        store.upsert_daily_aggregates(daily.states)
        store.upsert_minute_bars(minute.states)
    return batch_result(rows, written, daily, minute)


def batch_result(rows: Sequence[TradeRow], written: int, daily: BatchApplication, minute: BatchApplication) -> BatchResult:
    """The audit figures of a written batch; duplicates and late counts are those of the daily bars."""
    return BatchResult(
        rows_written=written,
        daily_updated=len(daily.states),
        minute_bars_updated=len(minute.states),
        applied=daily.applied,
        duplicates=daily.duplicates,
        late=daily.late,
        first_event_time_ms=min(row.event_time_ms for row in rows),
        last_event_time_ms=max(row.event_time_ms for row in rows),
        offset_ranges=offset_ranges(rows),
    )


def _symbol(row: TradeRow) -> str:
    return row.symbol


def _bucket_start(row: TradeRow) -> int:
    return row.event_time_ms - row.event_time_ms % MINUTE_MS


def same_bar(left: BarState, right: BarState, rel_tol: float = 1e-9) -> bool:
    """Equal trade content (floats within `rel_tol`), ignoring offsets and update time."""
    for name in _COMPARED_FIELDS:
        a, b = getattr(left, name), getattr(right, name)
        if isinstance(a, float) or isinstance(b, float):
            if not math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9):
                return False
        elif a != b:
            return False
    return True


def _with_arrived(bars: Mapping, arrived: Mapping) -> dict:
    merged = dict(bars)
    for key, bar in arrived.items():
        merged[key] = merge_states(merged[key], bar) if key in merged else bar
    return merged


def _covered(rows: Sequence[TradeRow], stored: BarState | None) -> list[TradeRow]:
    """The trades at or below the stored bar's source offset: those the stream has folded in already."""
    if stored is None or stored.source_partition == NO_PARTITION:
        return list(rows)
    source = (stored.source_partition, stored.source_offset)
    return [row for row in rows if (row.kafka_partition, row.kafka_offset) <= source]


def partly_expired(minute_bars: Mapping[int, BarState], rows: Sequence[TradeRow]) -> bool:
    """Whether a symbol-day's trades `rows` lost some to their TTL: a minute bar (by bucket start) has none left.

    The stream writes a minute's trades before its bar, and only a TTL removes trades, so nothing else
    leaves a minute bar without trades; the earliest trades expire first.
    """
    return bool(set(minute_bars) - {_bucket_start(row) for row in rows})


def write_recomputed(
    store: MarketStore,
    symbol: str,
    day: date,
    daily: BarState,
    minutes: Mapping[int, BarState],
    read_trade_ids: Set[str],
    now_ms: int,
) -> tuple[int, int] | None:
    """Replace one symbol-day's bars, recomputed from the trades `read_trade_ids`, without losing the stream's.

    When the symbol-day's trades expired in part (`partly_expired`), its bars are kept as they are:
    recomputed from what is left they would count only the rest of the day.

    The stream keeps writing while a day is recomputed: a batch stores its trades, then
    read-modify-writes the bars, skipping trades at or below a bar's source offset. Written as
    recomputed, the bars would miss the trades the stream folded in after they were read, and their
    older source offset would not bring them back. So each round reads the stored daily bar first and
    then the trades: every trade up to that bar's source offset is visible then (the stream writes
    trades before the bars that count them). The new bars hold exactly those trades, with that source
    offset: trades above it are the stream's to fold in, and it will, being above the offset. (Folding
    them in here could skip a trade of a batch whose rows a Cassandra read saw only in part.) The
    recomputed bars are used when they hold only such trades, plus the ones that arrived; else the
    round folds the trades itself. Bars are written only where they differ, by compare-and-set
    against the bars read in the round; a bar the stream changed in between makes the round repeat.

    Chosen over a lock shared with the stream: its hot path stays as it is (in Cassandra a lock would
    be a lightweight transaction per batch) and the rare reconcile pays, one lightweight transaction
    per changed bar. Left possible: a stream batch that read its bars before this write and writes
    them after (in Cassandra; in SQLite a batch is one transaction) or read them from the Redis cache
    before the job invalidated the day replaces the correction with its own fold. No trade is lost
    (that fold has all the stream applied), `aggregates_match_trades` shows it and the next
    reconcile repairs it. Without a stored daily bar there is no offset to stop at, so every visible
    trade goes in: should the stream be writing that symbol's very first batch of the day just then
    and a Cassandra read see it only in part, the stream would skip the rest of it (the check shows
    that too).

    Returns:
        (daily rows written, minute rows written), or None when the trades partly expired (nothing written).
    """
    day_key = (symbol, day)
    for _ in range(SWAP_ATTEMPTS):
        stored_daily = store.daily_aggregates([day_key]).get(day_key)
        stored_minutes = store.minute_bars_for_day(symbol, day)
        rows = store.trades_for_day(symbol, day)
        if partly_expired(stored_minutes, rows):
            return None
        covered = _covered(rows, stored_daily)
        if not covered:
            return 0, 0
        covered_ids = {row.trade_id for row in covered}
        if read_trade_ids <= covered_ids:
            arrived = [row for row in covered if row.trade_id not in read_trade_ids]
            want_daily = _with_arrived({symbol: daily}, fold_trades(arrived, _symbol, now_ms))[symbol]
            want_minutes = _with_arrived(minutes, fold_trades(arrived, _bucket_start, now_ms))
        else:
            want_daily = fold_trades(covered, _symbol, now_ms)[symbol]
            want_minutes = fold_trades(covered, _bucket_start, now_ms)
        daily_swaps = {} if stored_daily is not None and same_bar(stored_daily, want_daily) else {day_key: (stored_daily, want_daily)}
        minute_swaps = {
            (symbol, day, bucket): (stored_minutes.get(bucket), bar)
            for bucket, bar in want_minutes.items()
            if bucket not in stored_minutes or not same_bar(stored_minutes[bucket], bar)
        }
        if not store.compare_and_set_bars(daily_swaps, minute_swaps):
            return len(daily_swaps), len(minute_swaps)
    raise StoreError(
        f"the bars of {symbol} on {day} changed under each of {SWAP_ATTEMPTS} recompute rounds; "
        "the stream is writing this symbol faster than the reconcile can; run it again later"
    )


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    """What recomputing one trading day from `trades` changed."""

    day: date
    symbols: list[str]
    trades: int
    daily_rows: int
    minute_rows: int
    changed_symbols: list[str]
    expired_symbols: list[str]
    misdated_trades: int


def recompute_day(
    store: MarketStore, day: date, calendar: TradingCalendar | None = None, now_ms: int | None = None
) -> RecomputeResult:
    """Rebuild `day`'s daily aggregates and minute bars from its trades (backfill / reconciliation).

    Only bars of trades still stored are rewritten, and only where they differ; trades the stream
    stores meanwhile are folded in (`write_recomputed`). Bars without trades are kept, and so are all
    bars of a symbol whose trades expired in part: trades expire
    (TTL) long before the aggregates, so a missing trade means "expired", never "did not happen"
    (deleting them would erase every day older than the trades' TTL). With a `calendar`, trades whose
    trading day under it is not `day` are counted as misdated (they stay in the day they were stored under).

    Returns:
        Symbols recomputed, trades read, rows written, the symbols whose stored daily bar differed,
        the symbols whose trades expired in whole or part (aggregates kept) and the misdated trade count.
    """
    updated_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    previous = store.daily_aggregates_for_day(day)
    symbols: list[str] = []
    changed: list[str] = []
    trades = daily_rows = minute_rows = misdated = 0
    for symbol in store.symbols_for_day(day):
        rows = store.trades_for_day(symbol, day)
        if not rows:  # expired since they were listed
            continue
        trades += len(rows)
        if calendar is not None:
            misdated += sum(1 for row in rows if calendar.trading_day(row.symbol, row.event_time_ms) != day)
        daily = fold_trades(rows, _symbol, updated_at_ms)[symbol]
        minutes = fold_trades(rows, _bucket_start, updated_at_ms)
        written = write_recomputed(store, symbol, day, daily, minutes, {row.trade_id for row in rows}, updated_at_ms)
        if written is None:
            continue
        symbols.append(symbol)
        if symbol not in previous or not same_bar(previous[symbol], daily):
            changed.append(symbol)
        daily_rows += written[0]
        minute_rows += written[1]
    return RecomputeResult(
        day=day,
        symbols=symbols,
        trades=trades,
        daily_rows=daily_rows,
        minute_rows=minute_rows,
        changed_symbols=changed,
        expired_symbols=sorted(set(previous) - set(symbols)),
        misdated_trades=misdated,
    )
