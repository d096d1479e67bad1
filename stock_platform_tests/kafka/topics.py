"""Helpers for tests against the real broker: create topics, read a topic back whole, restart a broker."""

from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from stock_platform_local.servers.broker import LocalKafkaBroker


def create_topic(bootstrap_servers: str, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})  # must outlive the future
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)


def read_all(bootstrap_servers: str, topic: str, timeout_s: float = 60.0) -> list[Message]:
    """Every record of `topic`, partition by partition in offset order (no group, nothing committed)."""
    config = {"bootstrap.servers": bootstrap_servers, "group.id": "read-all", "enable.auto.commit": False}
    consumer = Consumer({**config, "enable.partition.eof": True})
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
        pending, records = set(partitions), []
        while pending:
            message = consumer.poll(timeout_s)
            assert message is not None, f"{topic}: no record nor end of partitions {sorted(pending)} within {timeout_s}s"
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                pending.discard(message.partition())
            elif error is not None:
                raise KafkaException(error)
            else:
                records.append(message)
        return sorted(records, key=lambda record: (record.partition(), record.offset()))
    finally:
        consumer.close()


def restart(broker: LocalKafkaBroker, how: str) -> None:
    """Stop the broker cleanly (`stop`, SIGTERM) or crash it (`kill`, SIGKILL), then start it on the same ports."""
    if how == "kill":
        broker.kill()
    else:
        broker.stop()
    broker.start()
