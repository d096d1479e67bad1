"""Retention really deletes old segments, and a group whose committed offset fell below the log start is told so."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from stock_platform_tests.kafka.topics import create_topic

_SEGMENT_BYTES = 1 << 20  # the smallest segment Kafka 4 accepts
_RECORD = b"x" * 100_000
_RECORDS = 40  # about four segments
_COMMITTED = 3


def _segments(log_dir: Path, topic: str) -> list[int]:
    """Base offsets of the partition's segment files still on disk."""
    return sorted(int(path.stem) for path in (log_dir / f"{topic}-0").glob("*.log"))


def _wait_for_log_start_above(consumer: Consumer, topic: str, offset: int, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        low, _ = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if low > offset:
            return low
        assert time.monotonic() < deadline, f"log start still {low} after {timeout_s}s: retention deleted nothing"
        time.sleep(0.5)


def _keep_from_now_on(bootstrap_servers: str, topic: str) -> None:
    """Raise the retention so that what is produced next stays readable."""
    entry = ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})  # must outlive the future
    admin.incremental_alter_configs([resource])[resource].result(30)


def _consumer(bootstrap_servers: str, group: str, reset: str) -> Consumer:
    return Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": reset}
    )


def _first_event(consumer: Consumer, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None:
            return message
    pytest.fail(f"no record and no error within {timeout_s}s")


@pytest.mark.e2e  # the first retention check runs 30 s after the broker starts (log.initial.task.delay.ms)
def test_retention_deletes_old_segments_and_a_committed_offset_below_the_log_start_is_out_of_range(kafka_broker, unique_name):
    topic, group = unique_name("short_lived"), unique_name("reader")
    create_topic(kafka_broker.bootstrap_servers, topic, config={"retention.ms": "1000", "segment.bytes": str(_SEGMENT_BYTES)})
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "acks": "all", "enable.idempotence": True})
    for _ in range(_RECORDS):
        producer.produce(topic, value=_RECORD)
    assert producer.flush(30) == 0
    assert len(_segments(kafka_broker.log_dir, topic)) > 2
    reader = _consumer(kafka_broker.bootstrap_servers, group, "error")
    reader.commit(offsets=[TopicPartition(topic, 0, _COMMITTED)], asynchronous=False)

    log_start = _wait_for_log_start_above(reader, topic, _COMMITTED)
    assert min(_segments(kafka_broker.log_dir, topic)) >= log_start  # the segment files below it are gone from disk
    _keep_from_now_on(kafka_broker.bootstrap_servers, topic)
    producer.produce(topic, value=b"new")
    assert producer.flush(30) == 0

    reader.assign([TopicPartition(topic, 0)])  # from the committed offset
    event = _first_event(reader)
    reader.close()
    assert event.error() is not None and event.error().code() == KafkaError._AUTO_OFFSET_RESET
    assert "Offset out of range" in event.error().str()

    # With the usual `earliest` reset the same reader silently resumes at the log start: the records in between are gone.
    reader = _consumer(kafka_broker.bootstrap_servers, group, "earliest")
    reader.assign([TopicPartition(topic, 0)])
    first = _first_event(reader)
    reader.close()
    assert first.error() is None and first.offset() >= log_start > _COMMITTED
