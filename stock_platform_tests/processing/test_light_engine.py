import threading

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from stock_platform.kafka.avro_codec import DeadLetterCodec, TradeBatchCodec
from stock_platform.processing.dead_letters import DeadLetterWriter
from stock_platform.processing.light_engine import LightEngine, LightEngineSettings
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform_tests.processing.conftest import T0, RecordingWriter, produce_frames, utc_day


def _engine(topics, writer, dead_letters=None):
    sink = TradeSink(writer, dead_letters, StreamStats("light"))
    settings = LightEngineSettings(topic=topics.market, group_id=topics.group, max_batch_messages=50)
    return LightEngine(topics.kafka, settings, TradeDecoder(topics.market, utc_day), sink)


def _run_until(engine, writer, expected):
    stop = threading.Event()
    engine.run(stop, lambda: stop.set() if len(writer.rows) >= expected else None)


def _committed(topics):
    consumer = Consumer(topics.kafka.consumer_config(topics.group))
    try:
        return sum(max(entry.offset, 0) for entry in consumer.committed([TopicPartition(topics.market, p) for p in range(4)], timeout=10))
    finally:
        consumer.close()


def test_every_trade_is_written_once_and_offsets_are_committed(topics):
    expected = len(produce_frames(topics.kafka, topics.market, 30))
    writer = RecordingWriter()
    _run_until(_engine(topics, writer), writer, expected)
    assert len(writer.rows) == expected
    assert _committed(topics) > 0


def test_a_failed_write_commits_nothing_and_the_restart_replays_the_batch(topics):
    expected = len(produce_frames(topics.kafka, topics.market, 10))
    failing = RecordingWriter(failures=1)
    with pytest.raises(ConnectionError):
        _run_until(_engine(topics, failing), failing, expected)
    assert _committed(topics) == 0
    writer = RecordingWriter()
    _run_until(_engine(topics, writer), writer, expected)
    assert len(writer.rows) == expected


def test_rejected_trades_reach_the_dead_letter_topic_before_the_commit(topics):
    codec = TradeBatchCodec()
    producer = Producer(topics.kafka.producer_config())
    bad = [{"s": "AAPL", "p": 1.0, "t": T0, "v": 1.0, "c": None}, {"s": "AAPL", "p": -5.0, "t": T0, "v": 1.0, "c": None}]
    producer.produce(topics.market, key=b"AAPL", value=codec.encode(bad, T0, "test"), headers=codec.headers)
    producer.flush(10)
    writer = RecordingWriter()
    engine = _engine(topics, writer, DeadLetterWriter.for_kafka(topics.kafka, topics.dead_letter))
    _run_until(engine, writer, 1)
    consumer = Consumer(topics.kafka.consumer_config("reader"))
    consumer.assign([TopicPartition(topics.dead_letter, 0, 0)])
    message = consumer.poll(10)
    consumer.close()
    letter = DeadLetterCodec().decode(message.value())
    assert "1 of 2 trades rejected" in letter["reason"] and "price -5.0" in letter["reason"]
    assert [row.price for row in writer.rows.values()] == [1.0]
