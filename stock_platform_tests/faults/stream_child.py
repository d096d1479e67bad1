"""Child process of test_stream_kills: one engine against the real broker and an SQLite store file.

Run as a script so the test can SIGKILL it (and its Spark JVM, in the same process group) at any point.
Every finished write appends "<wall clock> <rows>" to the progress log, flushed at once, so the parent
sees when a relaunched engine wrote its first rows. With --until N it stops cleanly once the store holds
N trades; without it, it runs until killed.
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
import time
from contextlib import closing

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.dead_letters import DeadLetterWriter
from stock_platform.processing.light_engine import LightEngineSettings
from stock_platform.processing.processor import run_light, run_spark
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_stream import SparkStreamSettings
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.aggregated_batch import write_aggregated_batch
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("engine", "bootstrap", "topic", "dead_letter", "group", "database", "checkpoint", "progress"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--batch", type=int, default=30)
    parser.add_argument("--until", type=int, default=0)
    args = parser.parse_args()

    kafka = KafkaSettings(args.bootstrap)
    calendar = TradingCalendar()
    stop = threading.Event()
    progress = open(args.progress, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    with SqliteMarketStore(EmbeddedStoreSettings(args.database)) as store:

        def write(rows, bars=None):
            result = write_trade_batch(store, rows) if bars is None else write_aggregated_batch(store, rows, bars)
            progress.write(f"{time.time()} {len(rows)}\n")
            return result

        def tick() -> None:
            # A separate connection: counts what is committed, as the parent will read it.
            if args.until:
                with closing(sqlite3.connect(args.database)) as connection:
                    if connection.execute("SELECT count(*) FROM trades").fetchone()[0] >= args.until:
                        stop.set()

        sink = TradeSink(write, DeadLetterWriter.for_kafka(kafka, args.dead_letter), StreamStats(args.engine), write_aggregated=write)
        if args.engine == "light":
            settings = LightEngineSettings(topic=args.topic, group_id=args.group, max_batch_messages=args.batch)
            run_light(kafka, settings, calendar, sink, stop, tick)
        else:
            from stock_platform.defs.processing.resources import SparkResource

            spark = SparkResource(
                master="local[2]",
                spark_config={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.driver.memory": "768m"},
            )
            settings = SparkStreamSettings(args.topic, args.checkpoint, max_messages_per_trigger=args.batch)
            run_spark(spark.session, kafka, settings, calendar, sink, stop, tick)


if __name__ == "__main__":
    main()
