"""Messages no decoder can read go to the dead-letter topic and the stream goes on (both engines, real broker)."""

import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from stock_platform.kafka.avro_codec import DeadLetterCodec, TradeBatchCodec
from stock_platform.processing.dead_letters import DeadLetterWriter
from stock_platform.processing.light_engine import LightEngine, LightEngineSettings
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_stream import SparkStreamSettings, StreamQueryError, run_query, start_query
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform_tests.processing.conftest import T0, UTC_CALENDAR, RecordingWriter, produce_frames, utc_day

CODEC = TradeBatchCodec()
VALID = CODEC.encode([{"s": "AAPL", "p": 1.0, "t": T0, "v": 1.0, "c": None}], T0, "test")
SCHEMA = CODEC.headers
# (key, value, headers, words of the dead letter's reason)
POISON = {
    "null value": (b"AAPL", None, SCHEMA, "message has no value"),
    "null key": (None, VALID, SCHEMA, "message has no key"),
    "not avro": (b"AAPL", b"\x01\x02garbage", SCHEMA, "not a decodable TradeBatch"),
    "truncated avro": (b"AAPL", VALID[:-3], SCHEMA, "not a decodable TradeBatch"),
    "unknown schema": (b"AAPL", VALID, [("schema", b"market.TradeBatch/v99")], "unknown schema"),
    "header not utf-8": (b"AAPL", VALID, [("schema", b"\xff\xfe")], "UnicodeDecodeError"),
    "null header": (b"AAPL", VALID, [("schema", None)], "message has no 'schema' header"),
    "missing header": (b"AAPL", VALID, None, "message has no 'schema' header"),
}


def produce_around_poison(topics, kinds, frames: int = 6) -> int:
    """Valid frames, then each poison record and one valid trade after it, all in partition 0.

    Returns:
        How many valid trades were produced: once they are all stored, every poison record was read past.
    """
    expected = len(produce_frames(topics.kafka, topics.market, frames))
    producer = Producer(topics.kafka.producer_config())
    for index, kind in enumerate(kinds):
        key, value, headers, _ = POISON[kind]
        producer.produce(topics.market, key=key, value=value, headers=headers, partition=0)
        after = CODEC.encode([{"s": "MSFT", "p": 2.0, "t": T0 + index, "v": 1.0, "c": None}], T0, "test")
        producer.produce(topics.market, key=b"MSFT", value=after, headers=SCHEMA, partition=0)
    assert producer.flush(30) == 0
    return expected + len(kinds)


def read_dead_letters(topics, count: int, timeout_s: float = 20.0) -> list[tuple[bytes | None, dict]]:
    """At least `count` dead letters (key, decoded record) from the dead-letter topic, then whatever else arrives within 1 s."""
    consumer = Consumer(topics.kafka.consumer_config("reader", **{"enable.partition.eof": False}))
    consumer.assign([TopicPartition(topics.dead_letter, 0, 0)])
    letters, deadline = [], time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0 if len(letters) >= count else 0.2)
            if message is None:
                if len(letters) >= count:
                    break
                continue
            assert message.error() is None
            letters.append((message.key(), DeadLetterCodec().decode(message.value())))
    finally:
        consumer.close()
    return letters


def assert_dead_lettered_once(letters, kinds) -> None:
    assert len(letters) == len(kinds)
    for (_, letter), kind in zip(letters, kinds):
        _, value, _, reason = POISON[kind]
        assert (letter["payload"], letter["source"]) == (value or b"", "stream_processor")
        assert reason in letter["reason"], (kind, letter["reason"])
    assert None not in {key for key, _ in letters} and len({key for key, _ in letters}) == len(kinds)


def light_engine(topics, writer, dead_letters, **batching):
    settings = LightEngineSettings(topic=topics.market, group_id=topics.group, **{"max_batch_messages": 50, **batching})
    return LightEngine(topics.kafka, settings, TradeDecoder(topics.market, utc_day), TradeSink(writer, dead_letters, StreamStats("light")))


def run_light(engine, writer, expected) -> None:
    stop = threading.Event()
    engine.run(stop, lambda: stop.set() if len(writer.rows) >= expected else None)


@pytest.mark.faults
@pytest.mark.parametrize("kind", sorted(POISON))
def test_the_light_engine_dead_letters_a_poison_record_and_stores_the_trades_around_it(topics, kind):
    expected = produce_around_poison(topics, [kind])
    writer = RecordingWriter()
    run_light(light_engine(topics, writer, DeadLetterWriter.for_kafka(topics.kafka, topics.dead_letter)), writer, expected)
    assert len(writer.rows) == expected
    assert_dead_lettered_once(read_dead_letters(topics, 1), [kind])


@pytest.mark.e2e
@pytest.mark.faults
def test_the_spark_engine_dead_letters_every_poison_kind_and_stores_the_trades_around_them(spark, topics, tmp_path):
    kinds = sorted(POISON)
    expected = produce_around_poison(topics, kinds)
    writer = RecordingWriter()
    sink = TradeSink(writer, DeadLetterWriter.for_kafka(topics.kafka, topics.dead_letter), StreamStats("spark"))
    settings = SparkStreamSettings(topics.market, str(tmp_path / "checkpoint"))
    stop = threading.Event()
    query = start_query(spark, topics.kafka, settings, UTC_CALENDAR, sink)
    run_query(query, stop, lambda: stop.set() if len(writer.rows) >= expected else None, 0.2)
    assert len(writer.rows) == expected
    assert_dead_lettered_once(read_dead_letters(topics, len(kinds)), kinds)


@pytest.mark.parametrize("restarted", [True, False], ids=["new process", "same dead-letter writer"])
def test_a_batch_replayed_after_a_failed_write_does_not_duplicate_its_dead_letters(topics, restarted):
    kinds = ["not avro", "null value"]
    expected = produce_around_poison(topics, kinds, frames=0)
    # One batch holds every message, so the failing write comes after that batch's dead letters went out.
    single_batch = {"max_batch_messages": 2 * len(kinds), "poll_timeout_s": 5.0}
    letters = DeadLetterWriter.for_kafka(topics.kafka, topics.dead_letter)
    failing = RecordingWriter(failures=1)
    with pytest.raises(ConnectionError):
        run_light(light_engine(topics, failing, letters, **single_batch), failing, expected)
    assert len(read_dead_letters(topics, len(kinds))) == len(kinds)  # acknowledged before the store write failed
    if restarted:
        letters = DeadLetterWriter.for_kafka(topics.kafka, topics.dead_letter)
    writer = RecordingWriter()
    run_light(light_engine(topics, writer, letters, **single_batch), writer, expected)
    assert len(writer.rows) == expected
    assert_dead_lettered_once(read_dead_letters(topics, len(kinds)), kinds)


@pytest.mark.e2e
def test_a_spark_micro_batch_replayed_after_a_failed_write_does_not_duplicate_its_dead_letters(spark, topics, tmp_path):
    kinds = ["header not utf-8", "truncated avro"]
    expected = produce_around_poison(topics, kinds)
    sink_letters = DeadLetterWriter.for_kafka(topics.kafka, topics.dead_letter)
    settings = SparkStreamSettings(topics.market, str(tmp_path / "checkpoint"))

    def run(writer):
        stop = threading.Event()
        query = start_query(spark, topics.kafka, settings, UTC_CALENDAR, TradeSink(writer, sink_letters, StreamStats("spark")))
        run_query(query, stop, lambda: stop.set() if len(writer.rows) >= expected else None, 0.2)

    with pytest.raises(StreamQueryError, match="store went away mid-batch"):
        run(RecordingWriter(failures=1))
    assert len(read_dead_letters(topics, len(kinds))) == len(kinds)  # the first micro-batch holds the whole topic
    writer = RecordingWriter()
    run(writer)
    assert len(writer.rows) == expected
    assert_dead_lettered_once(read_dead_letters(topics, len(kinds)), kinds)
