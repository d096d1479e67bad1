from types import SimpleNamespace

from stock_platform.ingest.frames import IngestStats
from stock_platform.ingest.runner import IngestReporter

# The keys asset metadata, the dry run and the benchmarks read: the audit trail depends on them staying put.
REPORT_KEYS = [
    "frames", "trades", "messages", "bytes", "rejected_trades", "dead_letters", "pings", "finnhub_errors", "reconnects",
    "first_event_time_ms", "last_event_time_ms", "acknowledged", "delivery_failures",
    "interval_seconds", "interval_trades", "interval_messages", "interval_dead_letters", "trades_per_second",
]  # fmt: skip


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
    assert (second.totals.handler.first_event_time_ms, second.totals.handler.last_event_time_ms) == (5_000, 7_000)


def test_reports_flatten_to_the_keys_the_audit_trail_reads():
    reporter, stats, _, _ = _reporter()
    stats.trades = 3
    report = reporter.interval_report()
    assert list(report.as_dict()) == REPORT_KEYS
    assert report["trades"] == report.get("interval_trades") == 3 and dict(report) == report.as_dict()
    assert reporter.totals()["trades"] == 3 and list(reporter.totals()) == REPORT_KEYS[:13]
