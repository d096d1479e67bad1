"""Run one processing window with the selected engine (used by the Dagster op and the benchmark)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.collector import heap_frozen
from stock_platform.processing.light_engine import LightEngine, LightEngineSettings
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_stream import SparkStreamSettings, prepare_checkpoint, run_query, start_query
from stock_platform.processing.trade_decoding import TradeDecoder, TradingDayFn
from stock_platform.processing.trading_day import TradingCalendar

SessionFactory = Callable[[], AbstractContextManager[Any]]


def run_light(
    kafka: KafkaSettings,
    settings: LightEngineSettings,
    trading_day: TradingDayFn,
    sink: TradeSink,
    stop: threading.Event,
    on_tick: Callable[[], Any],
) -> None:
    """Light engine until `stop` is set (or an error, which propagates after the consumer is closed)."""
    with heap_frozen():
        LightEngine(kafka, settings, TradeDecoder(settings.topic, trading_day), sink).run(stop, on_tick)


def run_spark(
    session: SessionFactory,
    kafka: KafkaSettings,
    settings: SparkStreamSettings,
    calendar: TradingCalendar,
    sink: TradeSink,
    stop: threading.Event,
    on_tick: Callable[[], Any],
) -> None:
    """Spark engine until `stop` is set; the query and then the session are stopped however it ends.

    The checkpoint is checked against the topic first (StreamResetRequired for a recreated topic),
    so a run that cannot resume fails in seconds, before a Spark session is started. Spark derives
    trading days in the JVM, so it takes the calendar's zones rather than any function of a trade.
    """
    started, check = prepare_checkpoint(kafka, settings)
    if check is not None and check.skipped_messages:
        sink.stats.add_skipped(check.skipped_messages)
    with session() as spark, heap_frozen():
        run_query(start_query(spark, kafka, started, calendar, sink), stop, on_tick, checkpoint_dir=settings.checkpoint_dir)
