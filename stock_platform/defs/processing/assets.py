"""Assets `trades`, `daily_aggregates`, `minute_bars` and the audit events the stream processor emits for them."""

import json
from typing import Any

import dagster as dg

from stock_platform.defs.kafka.market import MARKET_KEY
from stock_platform.defs.provenance import CODE_VERSION
from stock_platform.processing.stream_stats import StreamIntervalReport

STREAM_JOB_NAME = "stream_processor"
# The ServiceAccount of helm/stock-platform (release stock-platform) allowed to start Spark executor
# pods. Only runs whose pod is a Spark driver use it (with an API token); every other run pod keeps the
# launcher's tokenless default (helm/values/dagster.yaml), ingest and news above all: they parse
# external input.
SPARK_DRIVER_SERVICE_ACCOUNT = "stock-platform-spark-driver"
SPARK_DRIVER_RUN_TAGS = {
    "dagster-k8s/config": json.dumps(
        {"pod_spec_config": {"service_account_name": SPARK_DRIVER_SERVICE_ACCOUNT, "automount_service_account_token": True}}
    )
}
TRADES_KEY = dg.AssetKey("trades")
DAILY_AGGREGATES_KEY = dg.AssetKey("daily_aggregates")
MINUTE_BARS_KEY = dg.AssetKey("minute_bars")

# Partition keys are trading days. UTC with one day of end offset keeps today's partition (the one
# the stream is writing) in the set; New York trading days are never ahead of the UTC date.
trading_days = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC", end_offset=1)

trades = dg.AssetSpec(
    TRADES_KEY,
    deps=[MARKET_KEY],
    description="Every trade once, per symbol and trading day (table `trades`). Written by the stream_processor job; "
    "each event reports one interval: rows, Kafka offsets, event time, duplicates, late trades, latency.",
    group_name="market_data",
    kinds={"spark", "cassandra"},
    owners=["team:data-platform"],
    code_version=CODE_VERSION,
)


def _timestamp(ms: int | None) -> dg.MetadataValue | None:
    return dg.MetadataValue.timestamp(ms / 1000) if ms is not None else None


def trades_metadata(report: StreamIntervalReport, provenance: dict[str, dg.MetadataValue]) -> dict[str, Any]:
    """Audit metadata of one stream interval for `trades`."""
    metadata: dict[str, Any] = {
        **provenance,
        "engine": dg.MetadataValue.text(report.engine),
        "rows_written": dg.MetadataValue.int(report.rows_written),
        "messages": dg.MetadataValue.int(report.messages),
        "batches": dg.MetadataValue.int(report.batches),
        "trades_per_second": dg.MetadataValue.float(float(report.trades_per_second)),
        "interval_seconds": dg.MetadataValue.float(float(report.interval_seconds)),
        "duplicate_trades": dg.MetadataValue.int(report.duplicate_trades),
        "late_trades": dg.MetadataValue.int(report.late_trades),
        "dead_letters": dg.MetadataValue.int(report.dead_letters),
        "rejected_trades": dg.MetadataValue.int(report.rejected_trades),
        "skipped_messages": dg.MetadataValue.int(report.skipped_messages),
        "offset_ranges": dg.MetadataValue.json({f"partition {p}": span for p, span in report.offset_ranges.items()}),
        "rows_per_trading_day": dg.MetadataValue.json(report.rows_per_trading_day),
        "total_rows_written": dg.MetadataValue.int(report.totals.rows_written),
    }
    latencies = (("latency_p50_ms", report.latency_p50_ms), ("latency_p99_ms", report.latency_p99_ms), ("latency_max_ms", report.latency_max_ms))
    for key, latency in latencies:
        if latency is not None:
            metadata[key] = dg.MetadataValue.float(float(latency))
    for key, ms in (("first_event_time", report.first_event_time_ms), ("last_event_time", report.last_event_time_ms)):
        if ms is not None:
            metadata[key] = _timestamp(ms)
    return metadata


def stream_events(report: StreamIntervalReport, provenance: dict[str, dg.MetadataValue]) -> list[dg.AssetMaterialization]:
    """Events for one interval: `trades`, plus each trading-day partition of the aggregates it changed.

    Nothing is emitted for an interval that wrote and skipped nothing, so idle streams do not flood the event log.
    """
    if not report.rows_written and not report.dead_letters and not report.skipped_messages:
        return []
    events = [dg.AssetMaterialization(TRADES_KEY, metadata=trades_metadata(report, provenance))]
    for day, rows in report.rows_per_trading_day.items():
        if not trading_days.has_partition_key(day):
            continue
        metadata = {**provenance, "trades_folded": dg.MetadataValue.int(rows),
                    "engine": dg.MetadataValue.text(report.engine), "source": dg.MetadataValue.text("stream")}  # fmt: skip
        events.append(dg.AssetMaterialization(DAILY_AGGREGATES_KEY, partition=day, metadata=metadata))
        events.append(dg.AssetMaterialization(MINUTE_BARS_KEY, partition=day, metadata=metadata))
    return events
