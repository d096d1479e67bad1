"""Dead letters found while processing go to the dead-letter topic, durably, before offsets move on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from confluent_kafka import Producer

from stock_platform.core.avro_codec import DeadLetterCodec
from stock_platform.core.kafka_producer import TrackedProducer
from stock_platform.core.kafka_settings import KafkaSettings
from stock_platform.core.models import DeadLetter

logger = logging.getLogger(__name__)


class DeadLetterWriter:
    """Produces dead letters and waits for their acknowledgement (they are rare; durability matters more)."""

    def __init__(self, producer: TrackedProducer, topic: str, flush_timeout_s: float = 30.0) -> None:
        self._producer = producer
        self._topic = topic
        self._codec = DeadLetterCodec()
        self._flush_timeout_s = flush_timeout_s

    @classmethod
    def for_kafka(cls, kafka: KafkaSettings, topic: str) -> DeadLetterWriter:
        return cls(TrackedProducer(Producer(kafka.producer_config())), topic)

    def write(self, letters: Sequence[DeadLetter]) -> None:
        """Produce `letters` and block until acknowledged; raises DeliveryFailedError otherwise."""
        if not letters:
            return
        for letter in letters:
            logger.warning("Dead-lettered a message: %s", letter.reason)
            value = self._codec.encode(letter.payload, letter.reason, letter.source, letter.received_at_ms)
            self._producer.send(self._topic, None, value, self._codec.headers)
        remaining = self._producer.flush(self._flush_timeout_s)
        self._producer.raise_on_failures(unacknowledged=remaining)

    def close(self) -> None:
        """Flush and release the producer: Spark keeps this writer reachable after the query stops."""
        self._producer.close(self._flush_timeout_s)
