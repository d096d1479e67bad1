"""Shared fixtures for processing tests: per-test topics on the session's Kafka broker, a trade producer, Spark."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from stock_platform.kafka.admin import TopicSpec, ensure_topics
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.batch import BatchResult

SYMBOLS = ["AAPL", "MSFT", "NVDA", "BINANCE:BTCUSDT"]
T0 = 1_760_000_000_000


def utc_day(symbol: str, event_time_ms: int) -> date:
    return datetime.fromtimestamp(event_time_ms / 1000, timezone.utc).date()


# utc_day as a calendar, for the Spark engine (which derives trading days in the JVM from the zones).
UTC_CALENDAR = TradingCalendar(default_zone="UTC", prefixed_zone="UTC")


def produce_frames(kafka: KafkaSettings, topic: str, frames: int, seed: int = 1, trades_per_frame: int = 20) -> list[tuple]:
    """Finnhub-like frames grouped per symbol, event times out of order and spread over two days.

    Returns:
        The produced trades as (symbol, event_time_ms, price, volume).
    """
    rng = random.Random(seed)
    producer = Producer(kafka.producer_config())
    codec = TradeBatchCodec()
    produced = []
    for frame in range(frames):
        by_symbol: dict[str, list[dict]] = {}
        for _ in range(trades_per_frame):
            symbol = rng.choice(SYMBOLS)
            event_time = T0 + rng.randint(0, 3_600_000) + (86_400_000 if frame % 7 == 0 else 0)
            trade = {"s": symbol, "p": round(100 + rng.random() * 10, 2), "t": event_time, "v": float(rng.randint(1, 9)), "c": None}
            by_symbol.setdefault(symbol, []).append(trade)
        for symbol, batch in by_symbol.items():
            producer.produce(topic, key=symbol.encode(), value=codec.encode(batch, T0 + frame, "test"), headers=codec.headers)
            produced.extend((trade["s"], trade["t"], trade["p"], trade["v"]) for trade in batch)
        producer.poll(0)
    assert producer.flush(30) == 0
    return produced


class RecordingWriter:
    """Stores rows by trade id (an upsert, like the tables); the first `failures` writes store half and fail."""

    def __init__(self, failures: int = 0) -> None:
        self.rows = {}
        self.writes = 0
        self._failures = failures

    def __call__(self, rows):
        if self._failures:
            self._failures -= 1
            self.rows.update((row.trade_id, row) for row in rows[: len(rows) // 2])
            raise ConnectionError("store went away mid-batch")
        self.writes += 1
        self.rows.update((row.trade_id, row) for row in rows)
        return BatchResult(rows_written=len(rows))


@dataclass(frozen=True)
class StreamTopics:
    """This test's market topic (4 partitions), its dead-letter topic and the light engine's group."""

    kafka: KafkaSettings
    market: str
    dead_letter: str
    group: str


def create_market_topic(kafka: KafkaSettings, topic: str) -> None:
    ensure_topics(AdminClient(kafka.admin_config()), kafka.bootstrap_servers, [TopicSpec(topic, 4, 1, 3_600_000)])


@pytest.fixture()
def topics(kafka_broker, unique_name) -> StreamTopics:
    """Fresh topics on the session's broker, so tests never see each other's messages or offsets."""
    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    created = StreamTopics(settings, unique_name("market"), unique_name("dead_letter"), unique_name("group"))
    create_market_topic(settings, created.market)
    ensure_topics(AdminClient(settings.admin_config()), settings.bootstrap_servers, [TopicSpec(created.dead_letter, 1, 1, 3_600_000)])
    return created


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for every e2e test (startup costs seconds)."""
    from stock_platform.defs.processing.resources import SparkResource

    resource = SparkResource(
        master="local[2]",
        spark_config={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.driver.memory": "768m"},
    )
    with resource.session() as session:
        yield session
