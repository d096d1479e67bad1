"""Kafka's settings model (`KafkaEnv`), and the plain, picklable settings and client configurations derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stock_platform.settings import EnvSettings, env_field, secret_field

# librdkafka's own default, stated so the ingest can size its messages below it (the broker's default limit,
# 1048588 bytes, is a little larger, so whatever the producer accepts the broker does too).
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000


class KafkaEnv(EnvSettings):
    """The Kafka cluster, its security and the platform's topic names, as the environment configures them."""

    bootstrap_servers: str = env_field(
        "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "Comma-separated host:port list; locally the launcher's broker"
    )
    security_protocol: str = env_field("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str | None = env_field("KAFKA_SASL_MECHANISM", None, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    sasl_username: str | None = env_field("KAFKA_SASL_USERNAME", None, "SASL user")
    sasl_password: str | None = secret_field("KAFKA_SASL_PASSWORD", "SASL password")
    market_topic: str = env_field("KAFKA_TOPIC_MARKET", "market", "Topic of the trades")
    dead_letter_topic: str = env_field(
        "KAFKA_TOPIC_DEAD_LETTER", "market.dead_letter", "Topic of the input that failed parsing or validation"
    )


_DEFAULTS = KafkaEnv()


@dataclass(frozen=True)
class KafkaSettings:
    """Connection and security settings shared by producers, consumers and the admin client."""

    bootstrap_servers: str
    security_protocol: str = _DEFAULTS.security_protocol
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_location: str | None = None
    client_overrides: dict[str, str] = field(default_factory=dict)

    def common_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password:
            config["sasl.password"] = self.sasl_password
        if self.ssl_ca_location:
            config["ssl.ca.location"] = self.ssl_ca_location
        return config

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        """Durable, ordered, batched producer: acks=all with idempotence, so retries never reorder or duplicate."""
        config = {
            **self.common_config(),
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
            "queue.buffering.max.kbytes": 262144,
            "message.timeout.ms": 120000,
            "message.max.bytes": DEFAULT_MAX_MESSAGE_BYTES,
        }
        config.update(self.client_overrides)
        config.update(overrides)
        return config

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        """Consumer that never auto-commits: offsets are committed only after the write."""
        config = {
            **self.common_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "session.timeout.ms": 6000,
            "isolation.level": "read_committed",
        }
        config.update(self.client_overrides)
        config.update(overrides)
        return config

    def admin_config(self) -> dict[str, Any]:
        return {**self.common_config(), **self.client_overrides}


def redact(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a client config safe to log or attach as metadata."""
    return {key: ("***" if "password" in key or "secret" in key else value) for key, value in config.items()}
