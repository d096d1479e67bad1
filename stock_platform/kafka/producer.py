"""A confluent-kafka producer wrapper that never drops a message silently."""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)

_BACKPRESSURE_POLL_S = 0.05


class ProducerLike(Protocol):
    """The slice of confluent_kafka.Producer this wrapper uses (lets tests pass a fake)."""

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any, on_delivery: Any) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...

    def purge(self) -> None: ...

    def close(self) -> bool: ...


class DeliveryFailedError(RuntimeError):
    """Messages were not acknowledged by the broker."""


class TrackedProducer:
    """Produces with backpressure instead of drops and counts every acknowledgement and failure."""

    def __init__(self, producer: ProducerLike) -> None:
        self._producer = producer
        self.delivered = 0
        self.failed = 0
        self.last_error: str | None = None
        self.offset_ranges: dict[tuple[str, int], list[int]] = {}
        # Bound once: `self._on_delivery` would make a new bound method for every message produced.
        self._report_delivery = self._on_delivery

    def _on_delivery(self, error: Any, message: Any) -> None:
        # Runs once per message, inside poll(): each call on `message` is a trip into the C client.
        if error is None:
            self.delivered += 1
            offset = message.offset()
            partition = (message.topic(), message.partition())
            span = self.offset_ranges.get(partition)
            if span is None:
                self.offset_ranges[partition] = [offset, offset]
            elif offset > span[1]:
                span[1] = offset
        else:
            self.failed += 1
            self.last_error = str(error)
            logger.error("Kafka delivery failed for topic %s: %s", message.topic(), error)

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Queue one message; when the local queue is full, wait for deliveries rather than drop."""
        while True:
            try:
                # value and key by position: confluent-kafka parses a keyword argument slower than a positional one.
                self._producer.produce(topic, value, key, headers=headers, on_delivery=self._report_delivery)
                return
            except BufferError:
                self._producer.poll(_BACKPRESSURE_POLL_S)

    def poll(self) -> None:
        """Serve delivery callbacks without blocking."""
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> int:
        """Wait for outstanding deliveries; returns how many are still unacknowledged."""
        return self._producer.flush(timeout_s)

    def close(self, timeout_s: float) -> int:
        """Flush, then release the client and its broker connections; returns how many messages were lost.

        Messages still unacknowledged after `timeout_s` are purged (each counted as a failure and logged),
        because confluent-kafka's close() would otherwise wait for them for as long as the message timeout.
        """
        remaining = self._producer.flush(timeout_s)
        if remaining:
            logger.error("%d Kafka messages unacknowledged after %.0fs; purging them to close the producer", remaining, timeout_s)
            self._producer.purge()
            self._producer.flush(0)
        self._producer.close()
        return remaining

    def raise_on_failures(self, unacknowledged: int = 0) -> None:
        """Raise when any message failed or is still waiting for its acknowledgement."""
        if self.failed or unacknowledged:
            raise DeliveryFailedError(
                f"{self.failed} Kafka messages failed and {unacknowledged} were never acknowledged "
                f"(last error: {self.last_error}); check the broker is reachable and the topics exist"
            )
