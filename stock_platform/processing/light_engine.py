"""The light engine: one confluent-kafka consumer, offsets committed only after the batch is written."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from stock_platform.kafka.avro_codec import schema_header
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.offset_guard import StreamResetRequired, check_positions, topic_state
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.stream_reset import light_reset_command
from stock_platform.processing.trade_decoding import TradeDecoder

logger = logging.getLogger(__name__)

DEFAULT_GROUP_ID = "stock_platform.stream_processor"


@dataclass(frozen=True)
class LightEngineSettings:
    """Consumer group and batching of the light engine."""

    topic: str = "market"
    group_id: str = DEFAULT_GROUP_ID
    max_batch_messages: int = 5000
    poll_timeout_s: float = 0.05


# The group coordinator is not ready yet: a broker just started, or it is loading the offsets topic.
_COORDINATOR_NOT_READY = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}


def _committed(consumer: Consumer, partitions: list[TopicPartition], timeout_s: float = 30.0) -> list[TopicPartition]:
    """The group's committed offsets, waiting for a coordinator that is still starting (a transient state)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.committed(partitions, timeout=10)
        except KafkaException as error:
            if error.args[0].code() not in _COORDINATOR_NOT_READY or time.monotonic() > deadline:
                raise
            logger.info("Kafka's group coordinator is not ready (%s); asking again", error.args[0].name())
            time.sleep(0.5)


class LightEngine:
    """Consumes `market` in batches: decode -> sink.write -> commit, so a crash replays, never skips.

    Partitions are assigned directly (no group rebalancing) at the group's committed offsets; the
    group only stores progress. Replays after a crash are absorbed by the store's offset guard.
    Kafka drops a group's offsets with a deleted topic, so a recreated topic is read from its start.
    """

    def __init__(self, kafka: KafkaSettings, settings: LightEngineSettings, decoder: TradeDecoder, sink: TradeSink) -> None:
        self._kafka = kafka
        self._settings = settings
        self._decoder = decoder
        self._sink = sink

    def _consumer(self) -> Consumer:
        return Consumer(
            self._kafka.consumer_config(
                self._settings.group_id,
                # "error", not "earliest": retention deleting records the engine has not fetched yet must be
                # reported (process_batch) rather than read past by a silent reset to the earliest offset.
                **{"enable.partition.eof": False, "fetch.wait.max.ms": 20, "client.id": "light-engine", "auto.offset.reset": "error"},
            )
        )

    def _assign_from_committed(self, consumer: Consumer) -> None:
        """Assign every partition at the group's committed offset, after checking it against the topic."""
        topic, group = self._settings.topic, self._settings.group_id
        state = topic_state(self._kafka, topic)
        committed = _committed(consumer, [TopicPartition(topic, partition) for partition in state.watermarks])
        positions = {entry.partition: entry.offset for entry in committed if entry.offset >= 0}
        check = check_positions(topic, positions, state)
        if check.recreated:
            raise StreamResetRequired(check.recreated_line(f"group {group!r} committed its offsets", light_reset_command(topic, group)))
        if check.deleted:
            logger.warning(check.skip_line(light_reset_command(topic, group)))
            self._sink.stats.add_skipped(check.skipped_messages)
        resume = check.resume_positions(positions)
        assignment = [TopicPartition(topic, partition, resume.get(partition, OFFSET_BEGINNING)) for partition in sorted(state.watermarks)]
        consumer.assign(assignment)
        logger.info("Light engine assigned %s", {entry.partition: entry.offset for entry in assignment})

    def process_batch(self, consumer: Consumer) -> int:
        """Consume, write and commit one batch; returns the number of messages processed."""
        messages = consumer.consume(self._settings.max_batch_messages, self._settings.poll_timeout_s)
        rows, dead_letters, ranges = [], [], {}
        rejected = 0
        count = 0
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.code() == KafkaError._AUTO_OFFSET_RESET:
                    # The next offset to fetch was deleted while running. This batch is dropped unwritten and
                    # every partition is assigned again from its committed offset, which reports the gap
                    # (WARNING line, skipped_messages) exactly as a restart does; the rest is read again.
                    logger.info("Kafka no longer holds offsets the light engine was reading (%s); reassigning", error.str())
                    self._assign_from_committed(consumer)
                    return 0
                raise KafkaException(error)
            partition, offset = message.partition(), message.offset()
            decoded = self._decoder.decode(
                partition, offset, message.timestamp()[1], message.key(), message.value(), schema_header(message.headers())
            )
            rows.extend(decoded.rows)
            rejected += decoded.rejected_trades
            if decoded.dead_letter is not None:
                dead_letters.append(decoded.dead_letter)
            first, _ = ranges.get(partition, (offset, offset))
            ranges[partition] = (first, offset)
            count += 1
        if not count:
            return 0
        self._sink.write(rows, dead_letters, ranges, count, rejected_trades=rejected)
        consumer.commit(
            offsets=[TopicPartition(self._settings.topic, partition, last + 1) for partition, (_, last) in ranges.items()],
            asynchronous=False,
        )
        return count

    def run(self, stop: threading.Event, on_tick: Callable[[], Any] = lambda: None) -> None:
        """Process until `stop` is set; the consumer is closed however the loop ends."""
        consumer = self._consumer()
        try:
            self._assign_from_committed(consumer)
            while not stop.is_set():
                self.process_batch(consumer)
                on_tick()
        finally:
            consumer.close()
