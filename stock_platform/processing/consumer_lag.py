"""Consumer lag of the stream processor on `market`: how far behind the log end it is, and whether it stalled.

The processor's position per partition is the next offset it will read: the light engine's consumer
group committed offsets, or the end offsets of the Spark checkpoint's latest committed micro-batch.
Lag is the log end offset minus that position; the oldest unprocessed trade's age is read from the Kafka
timestamp of the message at the position (one message fetched per lagging partition).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.offset_guard import topic_partitions

DEFAULT_TIMEOUT_S = 5.0


class PositionUnavailable(RuntimeError):
    """The processor's position cannot be read (remote or unreadable checkpoint); the message is one line."""


@dataclass(frozen=True)
class OffsetsSeen:
    """Positions and log end offsets at one moment: what stall detection compares across evaluations."""

    taken_at_ms: int
    positions: dict[int, int]
    log_end: dict[int, int]


@dataclass(frozen=True)
class LagSnapshot:
    """Where the processor stands on each partition of the topic at one moment."""

    topic: str
    taken_at_ms: int
    watermarks: dict[int, tuple[int, int]]  # partition -> (earliest, end)
    positions: dict[int, int] | None  # next offset to read; a partition without one reads from its earliest; None: unknown
    position_source: str
    oldest_unprocessed_ms: dict[int, int] = field(default_factory=dict)  # Kafka timestamp at each lagging position

    def read_from(self, partition: int) -> int:
        """The first offset the processor will still process (retention may have deleted what it has not read)."""
        earliest, _ = self.watermarks[partition]
        return max((self.positions or {}).get(partition, earliest), earliest)

    @property
    def lag(self) -> dict[int, int]:
        if self.positions is None:
            return {}
        return {partition: max(end - self.read_from(partition), 0) for partition, (_, end) in sorted(self.watermarks.items())}

    @property
    def total_lag(self) -> int | None:
        return sum(self.lag.values()) if self.positions is not None else None

    @property
    def log_end(self) -> dict[int, int]:
        return {partition: end for partition, (_, end) in sorted(self.watermarks.items())}

    @property
    def beyond_end(self) -> dict[int, tuple[int, int]]:
        """Positions past the log end: the topic was recreated since they were stored (see offset_guard)."""
        positions = self.positions or {}
        return {p: (positions[p], end) for p, (_, end) in sorted(self.watermarks.items()) if positions.get(p, -1) > end}

    @property
    def oldest_unprocessed_age_s(self) -> float | None:
        """Seconds since the oldest unprocessed message reached Kafka; 0 without lag, None when not measurable."""
        if self.total_lag == 0:
            return 0.0
        if not self.oldest_unprocessed_ms:
            return None
        return max(self.taken_at_ms - min(self.oldest_unprocessed_ms.values()), 0) / 1000

    def seen(self) -> OffsetsSeen:
        return OffsetsSeen(self.taken_at_ms, dict(self.positions or {}), self.log_end)


def stalled_partitions(before: OffsetsSeen, after: OffsetsSeen) -> dict[int, int]:
    """Partitions whose log end advanced while the processor's position stayed put -> messages added meanwhile."""
    stalled = {}
    for partition, end in sorted(after.log_end.items()):
        previous_end = before.log_end.get(partition)
        if previous_end is not None and end > previous_end and after.positions.get(partition) == before.positions.get(partition):
            stalled[partition] = end - previous_end
    return stalled


@dataclass(frozen=True)
class LagLimits:
    """When lag warns, and when it counts as stalled processing (an error)."""

    warn_messages: int = 10_000
    warn_seconds: float = 120.0
    stall_seconds: float = 180.0
    error_seconds: float = 1800.0  # 0 turns the age-based error off


@dataclass(frozen=True)
class LagVerdict:
    """The outcome of one check evaluation: `ok`, `warn` or `error`, with one line per problem."""

    level: str
    problems: list[str]
    stalled: dict[int, int]


def assess(snapshot: LagSnapshot, baseline: OffsetsSeen | None, limits: LagLimits) -> LagVerdict:
    """Judge a snapshot; `baseline` is an earlier one at least `limits.stall_seconds` old (None if there is none)."""
    if snapshot.positions is None:
        return LagVerdict("warn", [f"the processor's position is unknown: {snapshot.position_source}"], {})
    errors, warnings = [], []
    stalled = stalled_partitions(baseline, snapshot.seen()) if baseline is not None else {}
    if stalled:
        waited = (snapshot.taken_at_ms - baseline.taken_at_ms) / 1000
        errors.append(
            f"processing stalled: partitions {sorted(stalled)} kept their position for {waited:.0f}s "
            f"while {sum(stalled.values())} messages arrived"
        )
    if snapshot.beyond_end:
        spans = ", ".join(f"partition {p} at {position} > end {end}" for p, (position, end) in snapshot.beyond_end.items())
        errors.append(f"the processor's positions are past the log end ({spans}): the topic was recreated; see `stock-platform stream-reset`")
    age, total = snapshot.oldest_unprocessed_age_s, snapshot.total_lag or 0
    if age is not None and limits.error_seconds > 0 and age > limits.error_seconds:
        errors.append(f"the oldest unprocessed trade waits {age:.0f}s (error above {limits.error_seconds:.0f}s)")
    elif age is not None and age > limits.warn_seconds:
        warnings.append(f"the oldest unprocessed trade waits {age:.0f}s (warn above {limits.warn_seconds:.0f}s)")
    if total > limits.warn_messages:
        warnings.append(f"{total} messages behind the log end (warn above {limits.warn_messages})")
    level = "error" if errors else "warn" if warnings else "ok"
    return LagVerdict(level, errors + warnings, stalled)


def checkpoint_positions(checkpoint: Path, topic: str) -> tuple[int | None, dict[int, int]]:
    """(batch id, next offset per partition) of a Spark checkpoint's latest committed micro-batch; (None, {}) before one.

    `commits/<n>` exists once batch n was written; `offsets/<n>` holds a version line, the batch metadata,
    then one line per source: {"<topic>": {"<partition>": <end offset>}} ("-" for a source without offsets).
    """
    commits, offsets = checkpoint / "commits", checkpoint / "offsets"
    committed = sorted((int(entry.name) for entry in commits.iterdir() if entry.name.isdigit()), reverse=True) if commits.is_dir() else []
    for batch in committed:
        offset_file = offsets / str(batch)
        if not offset_file.is_file():
            continue  # a hand-edited or half-copied folder: an older committed batch is still a true (if earlier) position
        try:
            lines = offset_file.read_text(encoding="utf-8").splitlines()
            sources = [json.loads(line) for line in lines[2:] if line.strip().startswith("{")]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PositionUnavailable(f"the Spark checkpoint file {offset_file} is unreadable: {error}") from None
        for source in sources:
            if isinstance(source, dict) and topic in source:
                return batch, {int(partition): int(offset) for partition, offset in source[topic].items()}
        return batch, {}
    return None, {}


def group_positions(kafka: KafkaSettings, group_id: str, topic: str, partitions: list[int], timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[int, int]:
    """The group's committed offsets of `topic` (partitions without a commit are left out)."""
    admin = AdminClient(kafka.admin_config())
    request = ConsumerGroupTopicPartitions(group_id, [TopicPartition(topic, partition) for partition in partitions])
    result = admin.list_consumer_group_offsets([request], request_timeout=timeout_s)[group_id].result(timeout_s)
    return {entry.partition: entry.offset for entry in result.topic_partitions if entry.error is None and entry.offset >= 0}


def _first_timestamps(consumer: Consumer, topic: str, offsets: Mapping[int, int], timeout_s: float) -> dict[int, int]:
    """The Kafka timestamp of the message at each given offset: one message fetched per partition."""
    consumer.assign([TopicPartition(topic, partition, offset) for partition, offset in offsets.items()])
    found: dict[int, int] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < len(offsets) and time.monotonic() < deadline:
        for message in consumer.consume(len(offsets), min(0.5, max(deadline - time.monotonic(), 0.01))):
            kind, timestamp = message.timestamp()
            # A message with an error or without a timestamp says nothing about age; the others still do.
            if message.error() is None and kind != TIMESTAMP_NOT_AVAILABLE and message.partition() not in found:
                found[message.partition()] = timestamp
        consumer.pause([TopicPartition(topic, partition) for partition in found])
    return found


PositionReader = Callable[[list[int]], dict[int, int]]


def measure(
    kafka: KafkaSettings,
    topic: str,
    read_positions: PositionReader,
    position_source: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> LagSnapshot:
    """One snapshot: watermarks, the processor's positions (PositionUnavailable -> unknown) and the oldest unprocessed age.

    Raises TopicMissingError when the topic does not exist and KafkaException when Kafka does not answer.
    """
    config = kafka.consumer_config(f"lag-probe-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": False, "auto.offset.reset": "earliest"})
    consumer = Consumer(config)
    try:
        partitions = topic_partitions(consumer, topic, timeout_s)
        watermarks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s) for p in partitions}
        taken_at_ms = int(clock() * 1000)
        try:
            positions: dict[int, int] | None = read_positions(partitions)
        except PositionUnavailable as error:
            positions, position_source = None, str(error)
        snapshot = LagSnapshot(topic, taken_at_ms, watermarks, positions, position_source)
        lagging = {p: snapshot.read_from(p) for p, lag in snapshot.lag.items() if lag > 0}
        if not lagging:
            return snapshot
        # Fetching starts with a leader lookup per partition, slower than one request: twice the timeout.
        oldest = _first_timestamps(consumer, topic, lagging, 2 * timeout_s)
    finally:
        consumer.close()
    return LagSnapshot(topic, taken_at_ms, watermarks, positions, position_source, oldest)


def offsets_seen_from_json(taken_at_ms: int, positions: Mapping[str, int], log_end: Mapping[str, int]) -> OffsetsSeen:
    """An OffsetsSeen from JSON metadata (partition keys become strings there)."""
    return OffsetsSeen(taken_at_ms, {int(p): int(o) for p, o in positions.items()}, {int(p): int(o) for p, o in log_end.items()})

