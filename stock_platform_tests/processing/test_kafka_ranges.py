import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from stock_platform.core.kafka_admin import TopicSpec, ensure_topics
from stock_platform.embedded.broker import EmbeddedKafkaBroker
from stock_platform.processing.kafka_ranges import (
    OffsetRangeError,
    end_offsets,
    range_consumer_config,
    read_range,
    topic_partitions,
)


@pytest.fixture(scope="module")
def broker_with_one_big_batch():
    """Partition 0 holds 1000 records written as one record batch; partition 1 is empty."""
    with EmbeddedKafkaBroker() as broker:
        ensure_topics(AdminClient({"bootstrap.servers": broker.bootstrap_servers}), broker.bootstrap_servers, [TopicSpec("t", 2, 1, 60_000)])
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 200, "acks": "all"})
        for index in range(1000):
            producer.produce("t", value=str(index).encode(), partition=0)
        assert producer.flush(10) == 0
        consumer = Consumer(range_consumer_config({"bootstrap.servers": broker.bootstrap_servers}, "test"))
        yield consumer
        consumer.close()


def test_end_offsets_are_true_ends_even_when_the_watermark_hides_the_last_batch(broker_with_one_big_batch):
    consumer = broker_with_one_big_batch
    assert topic_partitions(consumer, "t") == [0, 1]
    assert end_offsets(consumer, "t", [0, 1]) == {0: 1000, 1: 0}


@pytest.mark.parametrize(("start", "end"), [(0, 1000), (10, 20), (999, 1000), (5, 5)])
def test_read_range_yields_exactly_the_requested_offsets(broker_with_one_big_batch, start, end):
    consumer = broker_with_one_big_batch
    offsets = [message.offset() for batch in read_range(consumer, "t", 0, start, end) for message in batch]
    assert offsets == list(range(start, end))


def test_reading_past_the_end_is_a_clear_error(broker_with_one_big_batch):
    with pytest.raises(OffsetRangeError, match=r"t\[0\] ends at offset 1000, before the requested end 1100"):
        list(read_range(broker_with_one_big_batch, "t", 0, 990, 1100))


def test_missing_topic_is_a_clear_error(broker_with_one_big_batch):
    with pytest.raises(OffsetRangeError, match="'nope' does not exist"):
        topic_partitions(broker_with_one_big_batch, "nope", timeout_s=2)
