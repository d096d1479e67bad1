"""The `market` asset (the Kafka topic) and the metadata its events carry."""

from __future__ import annotations

from typing import Any

import dagster as dg

from stock_platform.defs.provenance import CODE_VERSION

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
    report: dict[str, Any], offset_ranges: dict[tuple[str, int], list[int]], provenance: dict[str, dg.MetadataValue]
) -> dict[str, Any]:
    """Audit metadata for one ingest report: volumes, rates, dead letters, event time and offset ranges."""
    metadata: dict[str, Any] = {
        **provenance,
        "trades": dg.MetadataValue.int(report["interval_trades"]),
        "messages": dg.MetadataValue.int(report["interval_messages"]),
        "dead_letters": dg.MetadataValue.int(report["interval_dead_letters"]),
        "trades_per_second": dg.MetadataValue.float(float(report["trades_per_second"])),
        "interval_seconds": dg.MetadataValue.float(float(report["interval_seconds"])),
        "total_trades": dg.MetadataValue.int(report["trades"]),
        "total_messages": dg.MetadataValue.int(report["messages"]),
        "total_bytes": dg.MetadataValue.int(report["bytes"]),
        "total_dead_letters": dg.MetadataValue.int(report["dead_letters"]),
        "rejected_trades": dg.MetadataValue.int(report["rejected_trades"]),
        "acknowledged_messages": dg.MetadataValue.int(report["acknowledged"]),
        "delivery_failures": dg.MetadataValue.int(report["delivery_failures"]),
        "reconnects": dg.MetadataValue.int(report["reconnects"]),
        "finnhub_error_frames": dg.MetadataValue.int(report["finnhub_errors"]),
        "offset_ranges": dg.MetadataValue.json(
            {f"{topic}[{partition}]": span for (topic, partition), span in sorted(offset_ranges.items())}
        ),
    }
    if report["first_event_time_ms"] is not None:
        metadata["first_event_time"] = dg.MetadataValue.timestamp(report["first_event_time_ms"] / 1000)
        metadata["last_event_time"] = dg.MetadataValue.timestamp(report["last_event_time_ms"] / 1000)
    return metadata
