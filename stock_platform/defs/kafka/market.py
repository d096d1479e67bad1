"""The `market` asset (the Kafka topic) and the metadata its events carry."""

from __future__ import annotations

from typing import Any

import dagster as dg

from stock_platform.defs.provenance import CODE_VERSION
from stock_platform.ingest.runner import IngestIntervalReport

MARKET_KEY = dg.AssetKey("market")

market = dg.AssetSpec(
    MARKET_KEY,
    description="Kafka topic of validated Finnhub trades (Avro TradeBatch, keyed by symbol). "
    "Written by the finnhub_ingest job; each event reports one interval of the ingest.",
    group_name="market_data",
    kinds={"kafka"},
    owners=["team:data-platform"],
    code_version=CODE_VERSION,
)


def market_metadata(
    report: IngestIntervalReport, offset_ranges: dict[tuple[str, int], list[int]], provenance: dict[str, dg.MetadataValue]
) -> dict[str, Any]:
    """Audit metadata for one ingest report: volumes, rates, dead letters, event time and offset ranges."""
    totals, handled = report.totals, report.totals.handler
    metadata: dict[str, Any] = {
        **provenance,
        "trades": dg.MetadataValue.int(report.interval_trades),
        "messages": dg.MetadataValue.int(report.interval_messages),
        "dead_letters": dg.MetadataValue.int(report.interval_dead_letters),
        "trades_per_second": dg.MetadataValue.float(float(report.trades_per_second)),
        "interval_seconds": dg.MetadataValue.float(float(report.interval_seconds)),
        "total_trades": dg.MetadataValue.int(handled.trades),
        "total_messages": dg.MetadataValue.int(handled.messages),
        "total_bytes": dg.MetadataValue.int(handled.bytes),
        "total_dead_letters": dg.MetadataValue.int(handled.dead_letters),
        "rejected_trades": dg.MetadataValue.int(handled.rejected_trades),
        "acknowledged_messages": dg.MetadataValue.int(totals.acknowledged),
        "delivery_failures": dg.MetadataValue.int(totals.delivery_failures),
        "reconnects": dg.MetadataValue.int(handled.reconnects),
        "finnhub_error_frames": dg.MetadataValue.int(handled.finnhub_errors),
        "offset_ranges": dg.MetadataValue.json(
            {f"{topic}[{partition}]": span for (topic, partition), span in sorted(offset_ranges.items())}
        ),
    }
    event_times = handled.event_times
    if event_times.first_ms is not None and event_times.last_ms is not None:
        metadata["first_event_time"] = dg.MetadataValue.timestamp(event_times.first_ms / 1000)
        metadata["last_event_time"] = dg.MetadataValue.timestamp(event_times.last_ms / 1000)
    return metadata
