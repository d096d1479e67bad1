"""Where a stream resumes compared with what the topic still holds: retention gaps and recreated topics.

A Spark checkpoint and the light engine's consumer group both remember "the next offset to read" per
partition. Two things make that position meaningless:
- retention (or `kafka-delete-records`) removed records the stream never read: the position is below
  the partition's earliest offset. Those records are gone whatever anyone does, and every minute the
  stream stands still retention deletes more, so the engines skip ahead to the earliest offset, log
  one WARNING line and report the skipped count (`skipped_messages` in the run's metadata).
- the topic was deleted and created again: the topic id changed, a partition vanished, or the position
  is beyond the partition's end. Offsets now name other messages (trade ids and the aggregates'
  offset guard are built on them), so the engines stop with one line naming the reset command.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient

from stock_platform.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

_TIMEOUT_S = 10.0


class StreamResetRequired(RuntimeError):
    """The stream's stored position belongs to another incarnation of the topic; the message is one line."""


class TopicMissingError(RuntimeError):
    """The topic to read does not exist."""


def topic_partitions(consumer: Consumer, topic: str, timeout_s: float = _TIMEOUT_S) -> list[int]:
    """Partition ids of `topic`; a one-line error when it does not exist."""
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise TopicMissingError(f"Kafka topic {topic!r} does not exist or has no partitions; start the ingest first")
    return sorted(metadata.partitions)


@dataclass(frozen=True)
class TopicState:
    """The topic as Kafka has it now: its id and (earliest, end) offsets per partition."""

    topic_id: str | None
    watermarks: dict[int, tuple[int, int]]


@dataclass(frozen=True)
class PositionCheck:
    """Stored positions compared with a TopicState."""

    topic: str
    deleted: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> (position, earliest)
    beyond_end: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> (position, end)
    missing_partitions: list[int] = field(default_factory=list)
    recreated_id: tuple[str, str] | None = None  # (stored topic id, current topic id)

    @property
    def skipped_messages(self) -> int:
        return sum(earliest - position for position, earliest in self.deleted.values())

    @property
    def recreated(self) -> bool:
        return bool(self.beyond_end or self.missing_partitions or self.recreated_id)

    def resume_positions(self, positions: Mapping[int, int]) -> dict[int, int]:
        """Where to read next: the stored position, or the earliest offset still there when it was deleted."""
        return {partition: self.deleted.get(partition, (position, position))[1] for partition, position in positions.items()}

    def skip_line(self, reset_command: str) -> str:
        spans = ", ".join(f"partition {p} offsets {position}-{earliest - 1}" for p, (position, earliest) in sorted(self.deleted.items()))
        return (
            f"Kafka retention deleted {self.skipped_messages} messages of {self.topic!r} before the stream read them "
            f"({spans}); skipping ahead to the earliest offsets still there. To start over from the earliest offsets: {reset_command}"
        )

    def recreated_line(self, what: str, reset_command: str) -> str:
        if self.recreated_id:
            evidence = f"its topic id changed from {self.recreated_id[0]} to {self.recreated_id[1]}"
        elif self.missing_partitions:
            evidence = f"partitions {self.missing_partitions} no longer exist"
        else:
            evidence = ", ".join(f"partition {p} resumes at {position} but ends at {end}" for p, (position, end) in sorted(self.beyond_end.items()))
        return (
            f"Kafka topic {self.topic!r} was recreated since {what} was written ({evidence}); "
            f"reset with `{reset_command}`, then recompute the affected daily_aggregates partitions"
        )


def check_positions(topic: str, positions: Mapping[int, int], state: TopicState, stored_topic_id: str | None = None) -> PositionCheck:
    """Compare next-offset-to-read per partition with what the topic holds now."""
    deleted, beyond, missing = {}, {}, []
    for partition, position in sorted(positions.items()):
        if partition not in state.watermarks:
            missing.append(partition)
            continue
        earliest, end = state.watermarks[partition]
        if position > end:
            beyond[partition] = (position, end)
        elif position < earliest:
            deleted[partition] = (position, earliest)
    changed = (stored_topic_id, state.topic_id) if stored_topic_id and state.topic_id and stored_topic_id != state.topic_id else None
    return PositionCheck(topic, deleted, beyond, missing, changed)


def topic_state(kafka: KafkaSettings, topic: str) -> TopicState:
    """The topic's id and watermarks (a one-line error when the topic does not exist)."""
    consumer = Consumer(kafka.consumer_config(f"offset-check-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": False}))
    try:
        watermarks = {
            partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=_TIMEOUT_S)
            for partition in topic_partitions(consumer, topic)
        }
    finally:
        consumer.close()
    return TopicState(topic_id(kafka, topic), watermarks)


def topic_id(kafka: KafkaSettings, topic: str) -> str | None:
    """Kafka's id of the topic (new on every creation); None when the broker does not report one."""
    admin = AdminClient(kafka.admin_config())
    try:
        description = admin.describe_topics(TopicCollection([topic]), request_timeout=_TIMEOUT_S)[topic].result(_TIMEOUT_S)
    except KafkaException:
        return None
    return str(description.topic_id) if description.topic_id is not None else None
