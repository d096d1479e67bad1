"""Consumer lag of the stream processor on `market`: observations every 30 s from a sensor, and a check that warns or fails.

The observations come from a sensor, not from the stream run, because lag matters most when the stream
is dead or stuck: the sensor keeps reporting (growing lag, growing age) while no run is alive to do so.
The same tick records the check's evaluation as a runless event, so watching lag launches no runs (on
Kubernetes a run is a pod); the check can still be executed from the UI or the `market_lag_checks` job.
"""

import time

import dagster as dg
from confluent_kafka import KafkaError, KafkaException
from pydantic import Field

from stock_platform.defs.kafka.market import MARKET_KEY
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.processing.resources import LIGHT_ENGINE, StreamProcessorResource
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.consumer_lag import (
    DEFAULT_TIMEOUT_S,
    LagLimits,
    LagSnapshot,
    LagVerdict,
    OffsetsSeen,
    PositionReader,
    PositionUnavailable,
    assess,
    checkpoint_positions,
    group_positions,
    measure,
    offsets_seen_from_json,
)
from stock_platform.processing.offset_guard import TopicMissingError
from stock_platform.processing.stream_reset import local_checkpoint_path

LAG_SENSOR_NAME = "market_consumer_lag_sensor"
LAG_CHECKS_JOB_NAME = "market_lag_checks"
LAG_CHECK_NAME = "market_consumer_lag"
REPORT_INTERVAL_S = 30  # the stream's own reporting interval, so lag and throughput plots line up
_OBSERVATIONS_SCANNED = 200  # at one per 30 s: 100 minutes of history for the stall baseline
_LAG_MARKER = "consumer_lag"


class ConsumerLagResource(dg.ConfigurableResource):
    """Limits of the `market_consumer_lag` check and the probe timeout of the lag measurement."""

    warn_lag_messages: int = Field(default=10_000, description="WARN when more messages than this wait behind the log end.")
    warn_lag_seconds: float = Field(default=120.0, description="WARN when the oldest unprocessed trade waits longer (seconds).")
    stall_seconds: float = Field(
        default=180.0, description="ERROR when the processor's position stayed put this long while the log end advanced."
    )
    error_lag_seconds: float = Field(default=1800.0, description="ERROR when the oldest unprocessed trade waits longer; 0: off.")
    probe_timeout_seconds: float = Field(default=DEFAULT_TIMEOUT_S, description="Timeout of each Kafka request of a measurement.")

    def limits(self) -> LagLimits:
        return LagLimits(self.warn_lag_messages, self.warn_lag_seconds, self.stall_seconds, self.error_lag_seconds)


def _spark_reader(checkpoint_dir: str, topic: str) -> PositionReader:
    def read(_partitions: list[int]) -> dict[int, int]:
        path = local_checkpoint_path(checkpoint_dir)
        if path is None:
            raise PositionUnavailable(f"the Spark checkpoint {checkpoint_dir} is not a local folder, so its offsets are not read")
        return checkpoint_positions(path, topic)[1]

    return read


def position_reader(kafka: KafkaSettings, processor: StreamProcessorResource, topic: str, timeout_s: float) -> tuple[PositionReader, str]:
    """How to read the selected engine's position, and a line naming where it is kept."""
    if processor.selected_engine() == LIGHT_ENGINE:
        group = processor.consumer_group
        return (lambda partitions: group_positions(kafka, group, topic, partitions, timeout_s)), f"consumer group {group}"
    checkpoint_dir = processor.spark_settings(topic).checkpoint_dir
    return _spark_reader(checkpoint_dir, topic), f"Spark checkpoint {checkpoint_dir} (latest committed batch)"


def measure_market_lag(kafka: KafkaResource, processor: StreamProcessorResource, timeout_s: float) -> LagSnapshot:
    """One lag snapshot of the market topic for the engine STREAM_ENGINE selects."""
    settings, topic = kafka.settings(), kafka.market_topic
    reader, source = position_reader(settings, processor, topic, timeout_s)
    return measure(settings, topic, reader, source, timeout_s)


def error_line(error: BaseException) -> str:
    """One line for what went wrong while measuring."""
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        return f"Kafka: {error.args[0].str()}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


_MEASURE_ERRORS = (KafkaException, TopicMissingError, ValueError, OSError)


def lag_metadata(snapshot: LagSnapshot, engine: str) -> dict[str, dg.MetadataValue]:
    """Observation metadata: ints and floats the UI plots, plus the offsets a later stall check compares with."""
    metadata: dict[str, dg.MetadataValue] = {
        "source": dg.MetadataValue.text(_LAG_MARKER),
        "engine": dg.MetadataValue.text(engine),
        "position_source": dg.MetadataValue.text(snapshot.position_source),
        "log_end_offset_total": dg.MetadataValue.int(sum(snapshot.log_end.values())),
        "log_end_offsets": dg.MetadataValue.json({str(p): end for p, end in snapshot.log_end.items()}),
    }
    if snapshot.positions is None:
        return metadata
    metadata["total_lag"] = dg.MetadataValue.int(snapshot.total_lag or 0)
    metadata["lagging_partitions"] = dg.MetadataValue.int(sum(1 for lag in snapshot.lag.values() if lag))
    metadata.update({f"lag_partition_{p}": dg.MetadataValue.int(lag) for p, lag in snapshot.lag.items()})
    metadata["positions"] = dg.MetadataValue.json({str(p): position for p, position in sorted(snapshot.positions.items())})
    age = snapshot.oldest_unprocessed_age_s
    if age is not None:
        metadata["oldest_unprocessed_age_seconds"] = dg.MetadataValue.float(round(age, 3))
    if snapshot.oldest_unprocessed_ms:
        metadata["oldest_unprocessed_trade_time"] = dg.MetadataValue.timestamp(min(snapshot.oldest_unprocessed_ms.values()) / 1000)
    return metadata


def summary_line(snapshot: LagSnapshot) -> str:
    if snapshot.positions is None:
        return f"log end {sum(snapshot.log_end.values())} messages; position unknown: {snapshot.position_source}"
    age = snapshot.oldest_unprocessed_age_s
    aged = f"{age:.1f}s" if age is not None else "unknown"
    return f"lag {snapshot.total_lag} messages over {len(snapshot.lag)} partitions, oldest unprocessed {aged}"


def stall_baseline(instance: dg.DagsterInstance, now_ms: int, stall_seconds: float) -> OffsetsSeen | None:
    """The newest lag observation of `market` at least `stall_seconds` old (None when there is none)."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=MARKET_KEY), limit=_OBSERVATIONS_SCANNED).records
    for record in records:
        taken_at_ms = int(record.timestamp * 1000)
        observation = record.asset_observation
        if observation is None or now_ms - taken_at_ms < stall_seconds * 1000:
            continue
        metadata = observation.metadata
        if "positions" in metadata and "log_end_offsets" in metadata:
            return offsets_seen_from_json(taken_at_ms, metadata["positions"].value, metadata["log_end_offsets"].value)
    return None


def lag_check_result(
    snapshot: LagSnapshot, verdict: LagVerdict, baseline: OffsetsSeen | None, limits: LagLimits, engine: str
) -> dg.AssetCheckResult:
    metadata = {key: value for key, value in lag_metadata(snapshot, engine).items() if key not in ("source", "positions", "log_end_offsets")}
    metadata.update(
        {
            "stalled_partitions": dg.MetadataValue.int(len(verdict.stalled)),
            "warn_lag_messages": dg.MetadataValue.int(limits.warn_messages),
            "warn_lag_seconds": dg.MetadataValue.float(limits.warn_seconds),
            "stall_seconds": dg.MetadataValue.float(limits.stall_seconds),
            "error_lag_seconds": dg.MetadataValue.float(limits.error_seconds),
        }
    )
    if baseline is not None:
        metadata["compared_with_seconds_ago"] = dg.MetadataValue.float(round((snapshot.taken_at_ms - baseline.taken_at_ms) / 1000, 1))
    if verdict.problems:
        metadata["problems"] = dg.MetadataValue.md("\n".join(f"- {line}" for line in verdict.problems))
    severity = dg.AssetCheckSeverity.ERROR if verdict.level == "error" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(passed=verdict.level == "ok", severity=severity, metadata=metadata, description=summary_line(snapshot))


@dg.asset_check(
    asset=MARKET_KEY,
    name=LAG_CHECK_NAME,
    description="The stream processor keeps up with `market`: WARN above the lag limits (messages, seconds of the oldest "
    "unprocessed trade); ERROR when processing stalled (position unchanged for `stall_seconds` while the topic grew) "
    "or the oldest unprocessed trade is older than `error_lag_seconds`. Limits: the consumer_lag resource.",
)
def market_consumer_lag(
    context: dg.AssetCheckExecutionContext,
    kafka: KafkaResource,
    stream_processor: StreamProcessorResource,
    consumer_lag: ConsumerLagResource,
) -> dg.AssetCheckResult:
    limits = consumer_lag.limits()
    try:
        snapshot = measure_market_lag(kafka, stream_processor, consumer_lag.probe_timeout_seconds)
    except TopicMissingError as error:
        return dg.AssetCheckResult(passed=True, metadata={"note": dg.MetadataValue.text(error_line(error))})
    except _MEASURE_ERRORS as error:
        line = f"consumer lag not measured: {error_line(error)}"
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description=line,
                                   metadata={"error": dg.MetadataValue.text(line)})  # fmt: skip
    return evaluate(context.instance, snapshot, limits, stream_processor.selected_engine())


def evaluate(instance: dg.DagsterInstance, snapshot: LagSnapshot, limits: LagLimits, engine: str) -> dg.AssetCheckResult:
    """The check's verdict on `snapshot`, compared with the newest observation at least `stall_seconds` old."""
    baseline = stall_baseline(instance, int(time.time() * 1000), limits.stall_seconds)
    return lag_check_result(snapshot, assess(snapshot, baseline, limits), baseline, limits, engine)


@dg.sensor(
    name=LAG_SENSOR_NAME,
    minimum_interval_seconds=REPORT_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 s, records the stream processor's consumer lag on `market` as an observation "
    "(per-partition and total lag, oldest unprocessed age, log end offsets) and evaluates the "
    "`market_consumer_lag` check, whether or not the stream runs.",
)
def market_consumer_lag_sensor(
    context: dg.SensorEvaluationContext,
    kafka: KafkaResource,
    stream_processor: StreamProcessorResource,
    consumer_lag: ConsumerLagResource,
) -> dg.SensorResult | dg.SkipReason:
    try:
        snapshot = measure_market_lag(kafka, stream_processor, consumer_lag.probe_timeout_seconds)
    except _MEASURE_ERRORS as error:
        # A tick that cannot measure says why in the tick history; the next tick tries again.
        return dg.SkipReason(f"consumer lag not measured: {error_line(error)}")
    engine = stream_processor.selected_engine()
    result = evaluate(context.instance, snapshot, consumer_lag.limits(), engine)
    evaluation = dg.AssetCheckEvaluation(
        asset_key=MARKET_KEY,
        check_name=LAG_CHECK_NAME,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
    )
    observation = dg.AssetObservation(MARKET_KEY, metadata=lag_metadata(snapshot, engine))
    return dg.SensorResult(asset_events=[observation, evaluation], skip_reason=summary_line(snapshot))


market_lag_checks_job = dg.define_asset_job(
    LAG_CHECKS_JOB_NAME,
    selection=dg.AssetSelection.checks(market_consumer_lag),
    description="The consumer-lag check of `market`, on demand (the lag sensor evaluates it every 30 s without a run).",
)

consumer_lag_checks = [market_consumer_lag]
consumer_lag_jobs = [market_lag_checks_job]
consumer_lag_sensors = [market_consumer_lag_sensor]
