from types import SimpleNamespace

from stock_platform.ingest.frames import IngestStats
from stock_platform.ingest.runner import IngestReporter


def _reporter() -> tuple[IngestReporter, IngestStats, SimpleNamespace, SimpleNamespace]:
    stats, producer, stream = IngestStats(), SimpleNamespace(delivered=0, failed=0), SimpleNamespace(reconnects=0)
    return IngestReporter(SimpleNamespace(stats=stats), producer, stream), stats, producer, stream


def test_interval_reports_count_since_the_previous_report_and_carry_the_totals():
    reporter, stats, producer, stream = _reporter()
    stats.trades, stats.messages, stats.dead_letters = 10, 4, 1
    first = reporter.interval_report()
    stats.trades, stats.messages, stats.dead_letters, producer.delivered, stream.reconnects = 25, 9, 1, 8, 2
    stats.event_times.add([5_000, 7_000])
    second = reporter.interval_report()
    assert (first.interval_trades, first.interval_messages, first.interval_dead_letters) == (10, 4, 1)
    assert (second.interval_trades, second.interval_messages, second.interval_dead_letters) == (15, 5, 0)
    assert (second.totals.handler.trades, second.totals.acknowledged, second.totals.handler.reconnects) == (25, 8, 2)
    assert (second.totals.handler.event_times.first_ms, second.totals.handler.event_times.last_ms) == (5_000, 7_000)
