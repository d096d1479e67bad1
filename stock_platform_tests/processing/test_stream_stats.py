from datetime import date

from stock_platform.models import TradeRow
from stock_platform.processing.stream_stats import StreamStats


def _row(offset: int, event_time_ms: int, received_at_ms: int) -> TradeRow:
    return TradeRow("AAPL", date(2025, 10, 9), event_time_ms, f"id{offset}", 1.0, 1.0, None, received_at_ms, 0, offset)


def test_interval_report_covers_one_interval_and_keeps_run_totals():
    clock = iter([0.0, 10.0, 20.0]).__next__
    stats = StreamStats("light", keep_run_latency=True, clock=clock)
    stats.add_batch([_row(1, 5_000, 900), _row(2, 4_000, 900)], 1_000, {0: (1, 2)}, 2, duplicate_trades=1, late_trades=1)
    stats.add_batch([_row(7, 6_000, 1_500)], 2_000, {0: (7, 7), 3: (4, 4)}, 2, dead_letters=1, rejected_trades=2)
    first = stats.interval_report()
    assert first.rows_written == 3 and first.messages == 4 and first.trades_per_second == 0.3
    assert first.offset_ranges == {0: [1, 7], 3: [4, 4]}
    assert (first.first_event_time_ms, first.last_event_time_ms) == (4_000, 6_000)
    assert (first.duplicate_trades, first.late_trades, first.dead_letters, first.rejected_trades) == (1, 1, 1, 2)
    assert (first.latency_p50_ms, first.latency_p99_ms) == (100.0, 500.0)
    assert first.rows_per_trading_day == {"2025-10-09": 3}
    second = stats.interval_report()
    assert second.rows_written == 0 and second.latency_p99_ms is None
    assert second.totals.rows_written == 3
    assert stats.run_latency.count == 3
