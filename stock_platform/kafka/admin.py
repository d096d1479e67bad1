"""Topic management and reachability checks for the platform's Kafka topics."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

logger = logging.getLogger(__name__)


class KafkaUnavailableError(RuntimeError):
    """The brokers could not be reached."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic the platform owns, with its partitioning and retention."""

    name: str
    partitions: int
    replication_factor: int
    retention_ms: int

    def new_topic(self) -> NewTopic:
        return NewTopic(
            self.name,
            num_partitions=self.partitions,
            replication_factor=self.replication_factor,
            config={"retention.ms": str(self.retention_ms)},
        )


def check_reachable(admin: AdminClient, bootstrap_servers: str, timeout_s: float = 10.0) -> set[str]:
    """Return the existing topic names, or raise a one-line error naming the unreachable brokers."""
    try:
        return set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as error:
        raise KafkaUnavailableError(
            f"cannot reach Kafka at {bootstrap_servers} ({error.args[0].str() if error.args else error}); "
            "check KAFKA_BOOTSTRAP_SERVERS and that the broker is running"
        ) from None


def ensure_topics(admin: AdminClient, bootstrap_servers: str, specs: list[TopicSpec], timeout_s: float = 10.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    existing = check_reachable(admin, bootstrap_servers, timeout_s)
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics([spec.new_topic() for spec in missing], request_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as error:
            if error.args and error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise RuntimeError(f"could not create Kafka topic {name!r}: {error}") from None
    logger.info("Created Kafka topics %s", created)
    return created
