"""Exact Kafka offset ranges: true end offsets and bounded reads with a plain confluent-kafka consumer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

_METADATA_TIMEOUT_S = 10.0
_POLL_TIMEOUT_S = 1.0


class OffsetRangeError(RuntimeError):
    """A requested offset range cannot be read completely."""


def range_consumer_config(common_config: dict[str, Any], client_id: str) -> dict[str, Any]:
    """A consumer that only uses assign(): no group membership, no commits, EOF events on."""
    return {
        **common_config,
        "group.id": f"{client_id}-ranges",
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 50,
        "isolation.level": "read_committed",
    }


def topic_partitions(consumer: Consumer, topic: str, timeout_s: float = _METADATA_TIMEOUT_S) -> list[int]:
    """Partition ids of `topic`; a one-line error when it does not exist."""
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise OffsetRangeError(f"Kafka topic {topic!r} does not exist or has no partitions; start the ingest first")
    return sorted(metadata.partitions)


def end_offsets(
    consumer: Consumer, topic: str, partitions: list[int], timeout_s: float = _METADATA_TIMEOUT_S
) -> dict[int, int]:
    """The offset after the last record of each partition.

    Some brokers (the embedded one) report the high watermark as the base offset of the last record
    batch + 1, so the watermark alone can hide the tail of that batch. The partition EOF event after
    consuming from the watermark - 1 carries the true end, and reads at most one record batch.
    """
    assignment = []
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
        assignment.append(TopicPartition(topic, partition, max(high - 1, low, 0)))
    consumer.assign(assignment)
    ends: dict[int, int] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(ends) < len(partitions):
            if time.monotonic() > deadline:
                missing = sorted(set(partitions) - set(ends))
                raise OffsetRangeError(f"no end-of-partition from Kafka for {topic} partitions {missing} in {timeout_s}s")
            message = consumer.poll(_POLL_TIMEOUT_S)
            if message is None:
                continue
            error = message.error()
            if error is None:
                continue
            if error.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(error)
            ends[message.partition()] = message.offset()
    finally:
        consumer.unassign()
    return ends


def read_range(
    consumer: Consumer, topic: str, partition: int, start: int, end: int, idle_timeout_s: float = 30.0, batch_size: int = 5000
) -> Iterator[list[Message]]:
    """Yield lists of the messages with offsets in [start, end) of one partition, in offset order.

    Raises OffsetRangeError when the partition ends before `end` (records deleted by retention) or
    nothing arrives for `idle_timeout_s`.
    """
    if start >= end:
        return
    consumer.assign([TopicPartition(topic, partition, start)])
    last_progress = time.monotonic()
    next_offset = start
    try:
        while True:
            # Asking for exactly what is left makes consume() return as soon as the range is complete
            # instead of waiting out its timeout for a batch that can never fill.
            messages = consumer.consume(min(batch_size, end - next_offset), _POLL_TIMEOUT_S)
            batch: list[Message] = []
            done = False
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(error)
                    if message.offset() < end:
                        raise OffsetRangeError(
                            f"{topic}[{partition}] ends at offset {message.offset()}, before the requested end {end}"
                        )
                    done = True
                    continue
                if message.offset() >= end:
                    done = True
                    break
                batch.append(message)
                done = message.offset() == end - 1
            if batch:
                last_progress = time.monotonic()
                next_offset = batch[-1].offset() + 1
                yield batch
            if done:
                return
            if time.monotonic() - last_progress > idle_timeout_s:
                raise OffsetRangeError(f"{topic}[{partition}]: nothing to read at offsets [{start}, {end}) for {idle_timeout_s}s")
    finally:
        consumer.unassign()
