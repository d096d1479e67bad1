"""KafkaResource: producers, consumers and topic administration for the platform's topics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from pydantic import Field

from stock_platform.kafka.admin import TopicSpec, check_reachable, ensure_topics
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaEnv, KafkaSettings

_DAY_MS = 24 * 60 * 60 * 1000


class KafkaResource(dg.ConfigurableResource, KafkaEnv):
    """Kafka connection, security and topic settings; hands out producers and consumers.

    Brokers, security and topic names are the fields of `KafkaEnv` (with their variables); the CA file,
    librdkafka overrides and the topics' layout below have no variable.
    """

    ssl_ca_location: str | None = None
    client_overrides: dict[str, str] = Field(default_factory=dict, description="Extra librdkafka settings.")
    partitions: int = Field(default=6, description="Partitions of the market topic (symbols spread by key).")
    replication_factor: int = 1
    retention_ms: int = 7 * _DAY_MS
    dead_letter_retention_ms: int = 30 * _DAY_MS
    admin_timeout_s: float = Field(default=10.0, description="How long topic administration waits for the brokers.")

    def settings(self) -> KafkaSettings:
        """Plain, picklable settings for code outside Dagster (Spark executors, benchmarks)."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol or KafkaSettings.security_protocol,
            sasl_mechanism=self.sasl_mechanism or None,
            sasl_username=self.sasl_username or None,
            sasl_password=self.sasl_password or None,
            ssl_ca_location=self.ssl_ca_location or None,
            client_overrides=dict(self.client_overrides),
        )

    def topic_specs(self) -> list[TopicSpec]:
        return [
            TopicSpec(self.market_topic, self.partitions, self.replication_factor, self.retention_ms),
            TopicSpec(self.dead_letter_topic, 1, self.replication_factor, self.dead_letter_retention_ms),
        ]

    def admin(self) -> AdminClient:
        return AdminClient(self.settings().admin_config())

    def ensure_topics(self) -> list[str]:
        """Create the market and dead-letter topics if missing; raises a clear error when Kafka is unreachable."""
        return ensure_topics(self.admin(), self.bootstrap_servers, self.topic_specs(), self.admin_timeout_s)

    def check_reachable(self) -> set[str]:
        return check_reachable(self.admin(), self.bootstrap_servers, self.admin_timeout_s)

    @contextmanager
    def producer(self, **overrides: Any) -> Iterator[TrackedProducer]:
        """A durable producer (acks=all, idempotent); flushed and closed when the block exits, however it exits."""
        tracked = TrackedProducer(Producer(self.settings().producer_config(**overrides)))
        try:
            yield tracked
        finally:
            tracked.close(30)

    @contextmanager
    def consumer(self, group_id: str, **overrides: Any) -> Iterator[Consumer]:
        """A consumer with auto-commit off; closed (leaving its group) when the block exits."""
        consumer = Consumer(self.settings().consumer_config(group_id, **overrides))
        try:
            yield consumer
        finally:
            consumer.close()
