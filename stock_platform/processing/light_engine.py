"""The light engine: one confluent-kafka consumer, offsets committed only after the batch is written."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from stock_platform.kafka.avro_codec import schema_header
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.models import TradeRow
from stock_platform.processing.offset_guard import StreamResetRequired, check_positions, topic_state
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.stream_reset import light_reset_command
from stock_platform.processing.trade_decoding import KeyedDeadLetter, TradeDecoder

logger = logging.getLogger(__name__)

DEFAULT_GROUP_ID = "stock_platform.stream_processor"


@dataclass(frozen=True)
class LightEngineSettings:
    """Consumer group and batching of the light engine."""

    topic: str = "market"
    group_id: str = DEFAULT_GROUP_ID
    max_batch_messages: int = 5000
    poll_timeout_s: float = 0.05


# How long a read waits for more messages while the writer is still busy with the previous batch.
_BUSY_POLL_S = 0.005


@dataclass(slots=True)
class _Batch:
    """Decoded messages waiting to be written, and the offsets their write lets the group commit."""

    rows: list[TradeRow] = field(default_factory=list)
    dead_letters: list[KeyedDeadLetter] = field(default_factory=list)
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    messages: int = 0
    rejected: int = 0


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
                # reported (_decode) rather than read past by a silent reset to the earliest offset.
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
            # The gap is reported once: a reset error of another partition still queued in the client
            # reassigns again, and must find these partitions past it.
            skipped_to = [TopicPartition(topic, partition, earliest) for partition, (_, earliest) in check.deleted.items()]
            consumer.commit(offsets=skipped_to, asynchronous=False)
        resume = check.resume_positions(positions)
        assignment = [TopicPartition(topic, partition, resume.get(partition, OFFSET_BEGINNING)) for partition in sorted(state.watermarks)]
        consumer.assign(assignment)
        logger.info("Light engine assigned %s", {entry.partition: entry.offset for entry in assignment})

    def _read_batch(self, consumer: Consumer, writing: Future | None) -> _Batch | None:
        """Decoded messages, up to `max_batch_messages`; None when the partitions must be assigned again.

        While the previous batch is being written (`writing`), everything that arrives is gathered,
        so the batch size follows the write time: small batches at low rates, full ones under a backlog.
        With the writer idle, the first message that arrives is handed over with whatever is fetched
        behind it: waiting for more would only add latency.
        """
        settings = self._settings
        batch = _Batch()
        while batch.messages < settings.max_batch_messages:
            room = settings.max_batch_messages - batch.messages
            if writing is not None and not writing.done():
                if not self._decode(consumer.consume(room, _BUSY_POLL_S), batch):
                    return None
                continue
            if batch.messages or writing is not None:
                # The writer is free (or a message is in hand): take what is fetched already and go.
                if not self._decode(consumer.consume(room, 0), batch):
                    return None
                break
            first = consumer.poll(settings.poll_timeout_s)
            if first is None:
                break
            if not self._decode([first], batch):
                return None
        return batch

    def _decode(self, messages: list, batch: _Batch) -> bool:
        """Decode `messages` into `batch`; False when Kafka no longer holds the offsets being read."""
        decode = self._decoder.decode
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
                    return False
                raise KafkaException(error)
            partition, offset = message.partition(), message.offset()
            decoded = decode(partition, offset, message.timestamp()[1], message.key(), message.value(), schema_header(message.headers()))
            batch.rows.extend(decoded.rows)
            batch.rejected += decoded.rejected_trades
            if decoded.dead_letter is not None:
                batch.dead_letters.append(decoded.dead_letter)
            first, _ = batch.ranges.get(partition, (offset, offset))
            batch.ranges[partition] = (first, offset)
            batch.messages += 1
        return True

    def _write(self, batch: _Batch) -> None:
        self._sink.write(batch.rows, batch.dead_letters, batch.ranges, batch.messages, rejected_trades=batch.rejected)

    def _commit(self, consumer: Consumer, batch: _Batch) -> None:
        consumer.commit(
            offsets=[TopicPartition(self._settings.topic, partition, last + 1) for partition, (_, last) in batch.ranges.items()],
            asynchronous=False,
        )

    def run(self, stop: threading.Event, on_tick: Callable[[], Any] = lambda: None) -> None:
        """Process until `stop` is set; the consumer is closed however the loop ends.

        Batch N is written on a writer thread while batch N+1 is consumed and decoded (SQLite inserts
        and the commit's fsync run without the GIL), and N's offsets are committed while N+1 is written.
        Writes stay in order, one at a time, and a batch's offsets are committed only once its write
        returned: a crash still replays, never skips.
        """
        consumer = self._consumer()
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="light-engine-writer")
        writing: tuple[Future, _Batch] | None = None
        try:
            self._assign_from_committed(consumer)
            while not stop.is_set():
                batch = self._read_batch(consumer, writing[0] if writing else None)
                written, writing = writing, None
                if written is not None:
                    written[0].result()
                if batch is not None and batch.messages:
                    writing = (writer.submit(self._write, batch), batch)
                # The written batch's offsets are committed while the next one is being written.
                if written is not None:
                    self._commit(consumer, written[1])
                if batch is None:
                    self._assign_from_committed(consumer)
                on_tick()
            if writing is not None:
                writing[0].result()
                self._commit(consumer, writing[1])
        finally:
            writer.shutdown(wait=True)
            consumer.close()
