"""Job `stream_processor` (market -> trades -> aggregates), its keeper, the reconcile job and the data checks."""

import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date
from functools import partial

import dagster as dg
import redis
from pydantic import Field

from stock_platform.defs.grafana.resources import GrafanaResource
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.keeper import build_keeper_sensor, long_run_tags
from stock_platform.defs.processing.assets import (
    DAILY_AGGREGATES_KEY,
    MINUTE_BARS_KEY,
    SPARK_DRIVER_RUN_TAGS,
    STREAM_JOB_NAME,
    stream_events,
    trades,
    trading_days,
)
from stock_platform.defs.processing.checks import aggregates_match_trades, trades_checks_job, trades_checks_schedule
from stock_platform.defs.processing.resources import (
    LIGHT_ENGINE,
    ConnectorJarsError,
    SparkResource,
    StreamProcessorResource,
)
from stock_platform.defs.provenance import CODE_VERSION, run_provenance
from stock_platform.defs.storage.resources import MarketStoreResource
from stock_platform.kafka.admin import KafkaUnavailableError
from stock_platform.processing.dead_letters import DeadLetterWriter
from stock_platform.processing.offset_guard import StreamResetRequired
from stock_platform.processing.processor import run_light, run_spark
from stock_platform.processing.reconcile import reconcile_day
from stock_platform.processing.redis_cache import CachedDailyStore, RedisDailyAggregateCache, invalidate_day
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.stream_stats import StreamIntervalReport, StreamStats
from stock_platform.storage.aggregated_batch import write_aggregated_batch
from stock_platform.storage.base import HealthSample, MarketStore
from stock_platform.storage.batch import write_trade_batch
from stock_platform.window import WindowTicker

RECONCILE_JOB_NAME = "daily_aggregates_reconcile"


class StreamProcessorConfig(dg.Config):
    """How long one run processes before it exits for the keeper to relaunch it, and how often it reports."""

    window_minutes: float = Field(default=60.0, description="Bounded window; 0 means run until terminated.")
    report_interval_seconds: float = Field(default=30.0, description="How often `trades` and the aggregates get events.")


def _health_sample(report: StreamIntervalReport, run_id: str) -> HealthSample:
    return HealthSample(
        component=STREAM_JOB_NAME,
        sampled_at_ms=int(time.time() * 1000),
        run_id=run_id,
        trades=report.rows_written,
        messages=report.messages,
        dead_letters=report.dead_letters,
        rate_per_s=float(report.trades_per_second),
        latency_p50_ms=report.latency_p50_ms,
        latency_p99_ms=report.latency_p99_ms,
    )


@contextmanager
def _engine_store(market_store: MarketStoreResource, settings: StreamProcessorResource, engine: str, run_id: str) -> Iterator[MarketStore]:
    """The store, fronted by the Redis aggregate cache when the light engine runs with REDIS_URL set."""
    with market_store.open_store() as store:
        if engine != LIGHT_ENGINE or not settings.redis_url:
            yield store
            return
        cache = RedisDailyAggregateCache.from_url(settings.redis_url, namespace=run_id)
        try:
            yield CachedDailyStore(store, cache)
        finally:
            cache.close()


@dg.op(description="Processes Kafka `market` into trades, daily aggregates and minute bars until the window ends.")
def process_market_stream(
    context: dg.OpExecutionContext,
    config: StreamProcessorConfig,
    kafka: KafkaResource,
    market_store: MarketStoreResource,
    stream_processor: StreamProcessorResource,
    spark: SparkResource,
    grafana: GrafanaResource,
) -> None:
    try:
        engine = stream_processor.selected_engine()
        calendar = stream_processor.calendar()
        kafka.ensure_topics()
    except (ValueError, KafkaUnavailableError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    kafka_settings, topic = kafka.settings(), kafka.market_topic
    stats, stop = StreamStats(engine), threading.Event()
    context.log.info(f"Stream processor starting with the {engine} engine")
    # Every start after the first is a restart; the dashboards mark it so gaps and catch-ups are explained.
    grafana.annotate_pipeline_event(
        "stream_restart", STREAM_JOB_NAME, f"stream_processor started ({engine} engine)", run_id=context.run_id
    )
    with _engine_store(market_store, stream_processor, engine, context.run_id) as store, closing(
        DeadLetterWriter.for_kafka(kafka_settings, kafka.dead_letter_topic)
    ) as letters:
        provenance = run_provenance(context)

        def report(interval: StreamIntervalReport) -> None:
            for event in stream_events(interval, provenance):
                context.log_event(event)
            store.write_health(_health_sample(interval, context.run_id))

        window_s = config.window_minutes * 60 if config.window_minutes > 0 else None
        ticker = WindowTicker(stats.interval_report, stop, report, config.report_interval_seconds, window_s)
        sink = TradeSink(partial(write_trade_batch, store), letters, stats, write_aggregated=partial(write_aggregated_batch, store))
        try:
            if engine == LIGHT_ENGINE:
                run_light(kafka_settings, stream_processor.light_settings(topic), calendar, sink, stop, ticker)
            else:
                run_spark(spark.session, kafka_settings, stream_processor.spark_settings(topic), calendar, sink, stop, ticker)
        except (StreamResetRequired, ConnectorJarsError) as error:
            # A relaunch would fail the same way until someone acts on the line, so no retries.
            raise dg.Failure(description=str(error), allow_retries=False) from None
        finally:
            ticker.final_report()
    context.log.info(f"Stream processor window finished: {stats.totals}")


@dg.job(
    name=STREAM_JOB_NAME,
    tags={**long_run_tags(STREAM_JOB_NAME), **SPARK_DRIVER_RUN_TAGS},
    description="Long-running stream processing of Kafka `market` (Spark or light engine; kept alive by its keeper sensor).",
)
def stream_processor() -> None:
    process_market_stream()


stream_processor_keeper = build_keeper_sensor(stream_processor, "stream_processor_keeper")

# A tuple: the defs-folder loader would take a module-level list of specs for asset definitions.
_AGGREGATE_SPECS = (
    dg.AssetSpec(
        DAILY_AGGREGATES_KEY,
        deps=[trades.key],
        description="Per symbol and trading day: OHLC, volume, notional, VWAP, trade count, first/last trade time "
        "(table `daily_aggregates`). The stream keeps today current; materializing a partition recomputes that "
        "day from `trades` with Spark (backfill, reconciliation).",
        group_name="market_data",
        kinds={"spark", "cassandra"},
        owners=["team:data-platform"],
        code_version=CODE_VERSION,
    ),
    dg.AssetSpec(
        MINUTE_BARS_KEY,
        deps=[trades.key],
        description="One-minute OHLCV + VWAP bars per symbol and trading day (table `minute_bars`), for the dashboards.",
        group_name="market_data",
        kinds={"spark", "cassandra"},
        owners=["team:data-platform"],
        code_version=CODE_VERSION,
    ),
)


@dg.multi_asset(specs=_AGGREGATE_SPECS, partitions_def=trading_days, can_subset=False)
def daily_aggregates(
    context: dg.AssetExecutionContext,
    market_store: MarketStoreResource,
    spark: SparkResource,
    stream_processor: StreamProcessorResource,
    grafana: GrafanaResource,
) -> Iterator[dg.MaterializeResult]:
    """Recompute one trading day's daily aggregates and minute bars from its trades (Spark) and replace the stored rows."""
    day = date.fromisoformat(context.partition_key)
    with market_store.open_store() as store, spark.session() as session:
        outcome = reconcile_day(session, store, day)
    if stream_processor.redis_url:
        client = redis.Redis.from_url(stream_processor.redis_url, socket_timeout=5)
        with closing(client):
            outcome["cache_entries_dropped"] = invalidate_day(client, day)
    context.log.info(f"Recomputed {day} from trades: {outcome}")
    grafana.annotate_pipeline_event(
        "reconciliation",
        RECONCILE_JOB_NAME,
        f"daily aggregates of {day} recomputed from trades: {outcome.get('changed_symbols', 0)} symbols changed",
        run_id=context.run_id,
    )
    metadata = {**run_provenance(context), **{name: dg.MetadataValue.int(value) for name, value in outcome.items()}}
    metadata["source"] = dg.MetadataValue.text("reconcile")
    for key in (DAILY_AGGREGATES_KEY, MINUTE_BARS_KEY):
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


daily_aggregates_reconcile = dg.define_asset_job(
    RECONCILE_JOB_NAME,
    # The day's own check only: freshness is about now, not about the day being recomputed.
    selection=dg.AssetSelection.assets(DAILY_AGGREGATES_KEY, MINUTE_BARS_KEY).without_checks()
    | dg.AssetSelection.checks(aggregates_match_trades),
    partitions_def=trading_days,
    description="Recompute daily aggregates and minute bars of chosen trading days from `trades` (Spark batch).",
    tags=SPARK_DRIVER_RUN_TAGS,
)

processing_assets = [trades, daily_aggregates]
processing_jobs = [stream_processor, daily_aggregates_reconcile, trades_checks_job]
processing_sensors = [stream_processor_keeper]
processing_schedules = [trades_checks_schedule]
