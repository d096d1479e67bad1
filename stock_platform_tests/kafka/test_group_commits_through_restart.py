"""Consumer-group commits are kept by the broker's log: after a broker SIGKILL and restart readers resume exactly there."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, Producer

from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.light_engine import LightEngine, LightEngineSettings
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.batch import BatchResult
from stock_platform_tests.kafka.topics import create_topic, restart

SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "META"]
_PLAIN_CONSUMED_BEFORE_RESTART = 12


def _produce(bootstrap_servers: str, topic: str, messages: int) -> set[tuple[int, int]]:
    """`messages` TradeBatches of three trades, round-robin over SYMBOLS; returns their (partition, offset)."""
    codec = TradeBatchCodec()
    producer = Producer(KafkaSettings(bootstrap_servers).producer_config())
    acknowledged: set[tuple[int, int]] = set()

    def on_delivery(error, message) -> None:
        assert error is None, error
        acknowledged.add((message.partition(), message.offset()))

    now_ms = int(time.time() * 1000)
    for index in range(messages):
        symbol = SYMBOLS[index % len(SYMBOLS)]
        trades = [{"s": symbol, "p": 100.0 + position, "t": now_ms, "v": 1.0, "c": None} for position in range(3)]
        value = codec.encode(trades, now_ms, "test")
        producer.produce(topic, key=symbol.encode(), value=value, headers=codec.headers, on_delivery=on_delivery)
    assert producer.flush(60) == 0
    return acknowledged


def _plain_consumer(bootstrap_servers: str, group: str) -> Consumer:
    return Consumer(KafkaSettings(bootstrap_servers).consumer_config(group, **{"enable.partition.eof": False}))


def _consume(consumer: Consumer, count: int, timeout_s: float = 60.0) -> list[tuple[int, int]]:
    """Exactly `count` records (partition, offset), committed synchronously once read."""
    read: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout_s
    while len(read) < count:
        assert time.monotonic() < deadline, f"only {len(read)} of {count} records within {timeout_s}s"
        message = consumer.poll(1)
        if message is None:
            continue
        assert message.error() is None, message.error()
        read.append((message.partition(), message.offset()))
        consumer.commit(message, asynchronous=False)
    return read


def _nothing_more(consumer: Consumer, quiet_s: float = 3.0) -> bool:
    deadline = time.monotonic() + quiet_s
    while time.monotonic() < deadline:
        if consumer.poll(0.5) is not None:
            return False
    return True


class _RowsByCoordinates:
    """The store, reduced to which Kafka records' trades were written (and how often)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, int]] = []

    def __call__(self, rows) -> BatchResult:
        self.records.extend(sorted({(row.kafka_partition, row.kafka_offset) for row in rows}))
        return BatchResult(rows_written=len(rows))


def _run_light_engine(bootstrap_servers: str, topic: str, group: str, expected_records: int, timeout_s: float = 60.0) -> list:
    """Run the light engine until `expected_records` records were written; returns them in write order."""
    written = _RowsByCoordinates()
    engine = LightEngine(
        KafkaSettings(bootstrap_servers),
        LightEngineSettings(topic=topic, group_id=group, max_batch_messages=7),
        TradeDecoder(topic, TradingCalendar().trading_day),
        TradeSink(written, None, StreamStats("light")),
    )
    stop = threading.Event()
    deadline = time.monotonic() + timeout_s

    def on_tick() -> None:
        if len(written.records) >= expected_records:
            stop.set()
        assert time.monotonic() < deadline, f"light engine wrote {len(written.records)} of {expected_records} records"

    engine.run(stop, on_tick)
    return written.records


@pytest.mark.e2e
@pytest.mark.faults
# A SIGKILL only: commits surviving a clean restart are covered by local/servers/test_broker.py, and a crash is
# the case where the broker's log, not its shutdown, must keep them.
@pytest.mark.parametrize("how", ["kill"])
def test_committed_offsets_are_honoured_after_a_broker_restart(kafka_broker_factory, unique_name, how):
    broker = kafka_broker_factory().start()
    topic, plain_group, engine_group = unique_name("market"), unique_name("plain"), unique_name("light")
    create_topic(broker.bootstrap_servers, topic, partitions=3)
    before = _produce(broker.bootstrap_servers, topic, 30)

    consumer = _plain_consumer(broker.bootstrap_servers, plain_group)
    consumer.subscribe([topic])
    read_before = _consume(consumer, _PLAIN_CONSUMED_BEFORE_RESTART)
    consumer.close()
    written_before = _run_light_engine(broker.bootstrap_servers, topic, engine_group, len(before))
    assert sorted(written_before) == sorted(before)

    restart(broker, how)
    after = _produce(broker.bootstrap_servers, topic, 20)

    consumer = _plain_consumer(broker.bootstrap_servers, plain_group)
    consumer.subscribe([topic])
    read_after = _consume(consumer, len(before) + len(after) - len(read_before))
    assert _nothing_more(consumer)
    consumer.close()
    assert sorted(read_before + read_after) == sorted(before | after), "a committed record was re-read or one was skipped"

    written_after = _run_light_engine(broker.bootstrap_servers, topic, engine_group, len(after))
    assert sorted(written_after) == sorted(after), "the light engine re-read committed records or skipped some"

