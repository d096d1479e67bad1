"""Dead letters found while processing go to the dead-letter topic, durably, before offsets move on."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from stock_platform.kafka.avro_codec import DeadLetterCodec
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.trade_decoding import KeyedDeadLetter

logger = logging.getLogger(__name__)

_READ_TIMEOUT_S = 30.0


def dead_letter_keys(kafka: KafkaSettings, topic: str, timeout_s: float = _READ_TIMEOUT_S) -> set[bytes]:
    """The keys of every message in the dead-letter topic now (empty when the topic does not exist yet)."""
    consumer = Consumer(kafka.consumer_config(f"dead-letter-keys-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": False}))
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return set()
        ends = {}
        for partition in metadata.partitions:
            earliest, end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
            if end > earliest:
                ends[partition] = end
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in ends])
        keys: set[bytes] = set()
        deadline = time.monotonic() + timeout_s
        while ends:
            for message in consumer.consume(1000, 0.5):
                if message.error() is not None:
                    raise KafkaException(message.error())
                if message.key() is not None:
                    keys.add(message.key())
            # Positions, not the last offset seen: a control record or compaction may hide the last offset.
            for position in consumer.position([TopicPartition(topic, partition) for partition in ends]):
                if position.offset >= ends[position.partition]:
                    del ends[position.partition]
            if ends and time.monotonic() > deadline:
                raise TimeoutError(f"reading the dead-letter topic {topic!r} took longer than {timeout_s} s")
        return keys
    finally:
        consumer.close()


class DeadLetterWriter:
    """Produces dead letters and waits for their acknowledgement (they are rare; durability matters more).

    Writes are idempotent across replays. A batch's dead letters must be acknowledged before its
    offsets are committed (or they could be lost), and no transaction spans Kafka and the store, so a
    batch failing after its dead letters went out (store write failed, process killed) is replayed
    and decodes the same dead letters again. Each carries a key naming its source message
    (`dead_letter_key`), and the writer skips keys already in the topic: on its first write it reads
    the topic's keys (dead letters are rare, so the topic is small), then remembers what it wrote.
    Writing them after the rows instead would only narrow the window, not close it.
    """

    def __init__(
        self,
        producer: TrackedProducer,
        topic: str,
        written_keys: Callable[[], Iterable[bytes]],
        flush_timeout_s: float = 30.0,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._codec = DeadLetterCodec()
        self._written_keys = written_keys
        self._written: set[bytes] | None = None
        self._flush_timeout_s = flush_timeout_s

    @classmethod
    def for_kafka(cls, kafka: KafkaSettings, topic: str) -> DeadLetterWriter:
        return cls(TrackedProducer(Producer(kafka.producer_config())), topic, lambda: dead_letter_keys(kafka, topic))

    def write(self, letters: Sequence[KeyedDeadLetter]) -> None:
        """Produce the `letters` not yet in the topic and block until acknowledged; raises DeliveryFailedError otherwise."""
        if not letters:
            return
        if self._written is None:
            self._written = set(self._written_keys())
        fresh = []
        for keyed in letters:
            if keyed.key in self._written:
                logger.info("Dead letter %s is already in %s (a replayed batch); not writing it again", keyed.key.decode(), self._topic)
            else:
                fresh.append(keyed)
        for keyed in fresh:
            letter = keyed.letter
            logger.warning("Dead-lettered a message: %s", letter.reason)
            value = self._codec.encode(letter.payload, letter.reason, letter.source, letter.received_at_ms)
            self._producer.send(self._topic, keyed.key, value, self._codec.headers)
        remaining = self._producer.flush(self._flush_timeout_s)
        try:
            self._producer.raise_on_failures(unacknowledged=remaining)
        except BaseException:
            # Some of them may have been written after all: read the topic again before the next write.
            self._written = None
            raise
        self._written.update(keyed.key for keyed in fresh)

    def close(self) -> None:
        """Flush and release the producer: Spark keeps this writer reachable after the query stops."""
        self._producer.close(self._flush_timeout_s)
