"""`stock-platform stream-reset`: forget where a stream was, so its next run starts at the earliest offsets still in Kafka.

Replays are safe: the store's deterministic trade ids and its offset guard absorb messages already written.
"""

from __future__ import annotations

import shlex
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlparse

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.offset_guard import topic_partitions

_TIMEOUT_S = 10.0


class StreamResetError(RuntimeError):
    """The reset could not be done; the message is one line."""


def spark_reset_command(checkpoint_dir: str) -> str:
    return f"stock-platform stream-reset spark --checkpoint {shlex.quote(checkpoint_dir)}"


def light_reset_command(topic: str, group_id: str) -> str:
    return f"stock-platform stream-reset light --topic {shlex.quote(topic)} --group {shlex.quote(group_id)}"


def local_checkpoint_path(checkpoint_dir: str) -> Path | None:
    """The folder of a local checkpoint (`/path` or `file:/path`); None for remote URIs (s3a://, hdfs://)."""
    parsed = urlparse(checkpoint_dir)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else checkpoint_dir)
    return None


def reset_spark_checkpoint(checkpoint_dir: str) -> str:
    """Delete the query's checkpoint folder; returns what was done, in one line."""
    path = local_checkpoint_path(checkpoint_dir)
    if path is None:
        raise StreamResetError(f"{checkpoint_dir} is not a local folder; delete it with the tools of its file system")
    if not path.exists():
        return f"no checkpoint at {path}: the next run starts at the earliest offsets"
    if not (path / "offsets").is_dir() and not (path / "metadata").exists():
        raise StreamResetError(f"{path} does not look like a Spark checkpoint (no offsets/ or metadata); not deleting it")
    shutil.rmtree(path)
    return f"deleted the Spark checkpoint {path}: the next run starts at the earliest offsets"


def reset_consumer_group(kafka: KafkaSettings, topic: str, group_id: str) -> dict[int, int]:
    """Set the group's offsets of `topic` to each partition's earliest offset; returns them.

    The light engine assigns partitions itself, so the group has no members to stop first.
    """
    consumer = Consumer(kafka.consumer_config(f"stream-reset-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": False}))
    try:
        earliest = {
            partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=_TIMEOUT_S)[0]
            for partition in topic_partitions(consumer, topic)
        }
    finally:
        consumer.close()
    admin = AdminClient(kafka.admin_config())
    request = ConsumerGroupTopicPartitions(group_id, [TopicPartition(topic, partition, offset) for partition, offset in earliest.items()])
    try:
        admin.alter_consumer_group_offsets([request], request_timeout=_TIMEOUT_S)[group_id].result(_TIMEOUT_S)
    except KafkaException as error:
        raise StreamResetError(f"could not reset group {group_id!r} on {topic!r}: {error.args[0]}") from None
    return earliest
