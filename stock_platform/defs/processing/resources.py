"""SparkResource and StreamProcessorResource: the Spark session and the stream processor's settings."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import SparkSession

from stock_platform.jvm_artifacts import ArtifactResolutionError, classpath, spark_kafka_connector
from stock_platform.processing.light_engine import DEFAULT_GROUP_ID, LightEngineSettings
from stock_platform.processing.settings import LIGHT_ENGINE, SPARK_ENGINE, SparkEnv, StreamProcessorEnv
from stock_platform.processing.spark_stream import SparkStreamSettings
from stock_platform.processing.trading_day import US_EQUITY_ZONE, UTC_ZONE, TradingCalendar

_DEFAULT_MASTER = SparkEnv().master
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+)-\d[^-]*\.jar$")


class ConnectorJarsError(RuntimeError):
    """Spark's Kafka connector jars are neither resolved nor resolvable."""


def jar_artifact(jar: Path) -> str:
    """`spark-sql-kafka-0-10_2.13-4.2.0.jar` -> `spark-sql-kafka-0-10_2.13` (the name without its version)."""
    match = _VERSIONED_JAR.match(jar.name)
    return match.group("artifact") if match else jar.stem


def connector_jars(connector: list[Path], provided: list[Path]) -> list[Path]:
    """The connector's jars that pyspark does not ship already.

    Maven resolves the connector with its whole dependency tree, which repeats Scala, Hadoop and
    compression libraries pyspark has in its own `jars/` (at other patch versions): a second copy on
    the classpath would shadow or clash with Spark's, so only artifacts Spark lacks are added.
    """
    shipped = {jar_artifact(jar) for jar in provided}
    return [jar for jar in connector if jar_artifact(jar) not in shipped]


def pyspark_jars() -> list[Path]:
    import pyspark

    return sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))


def kafka_connector_jars() -> list[Path]:
    """spark-sql-kafka and spark-avro for the installed pyspark, resolved with Maven on first use."""
    component = spark_kafka_connector()
    try:
        jars = classpath(component)
    except ArtifactResolutionError as error:
        raise ConnectorJarsError(f"Spark's Kafka connector is missing and could not be fetched ({error}); run `stock-platform fetch-jars spark`") from None
    return connector_jars(jars, pyspark_jars())


class SparkResource(dg.ConfigurableResource, SparkEnv):
    """Spark master and settings; sessions come from dagster-pyspark's LazyPySparkResource.

    The master is `SparkEnv.master` (SPARK_MASTER); the fields below have no variable.
    """

    app_name: str = "stock_platform"
    spark_config: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings, e.g. executor memory.")

    def session_config(self) -> dict[str, Any]:
        """The full Spark configuration; executors run this interpreter so they can import the project.

        `spark.jars` carries the Kafka connector (Spark serves the files to its executors); jars named
        in `spark_config` are kept after it.
        """
        jars = [str(jar) for jar in kafka_connector_jars()]
        extra_jars = self.spark_config.get("spark.jars", "")
        return {
            "spark.master": self.master or _DEFAULT_MASTER,
            "spark.app.name": self.app_name,
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.showConsoleProgress": "false",
            **self.spark_config,
            "spark.jars": ",".join([*jars, *filter(None, extra_jars.split(","))]),
        }

    @contextmanager
    def session(self) -> Iterator[SparkSession]:
        """A SparkSession, stopped when the block exits however it exits (unless it was already running here)."""
        # PySpark's Python workers (mapInArrow) take the interpreter from the environment, not the conf.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        already_running = SparkSession.getActiveSession()
        spark = LazyPySparkResource(spark_config=self.session_config()).spark_session
        try:
            yield spark
        finally:
            if already_running is None:
                spark.stop()


class StreamProcessorResource(dg.ConfigurableResource, StreamProcessorEnv):
    """Which engine processes `market` (STREAM_ENGINE) and the settings each engine needs.

    Engine, checkpoint folder and Redis are the fields of `StreamProcessorEnv` (with their variables); the
    fields below have no variable.
    """

    max_messages_per_trigger: int = Field(default=100_000, description="Upper bound of one Spark micro-batch, in messages.")
    trigger_interval_seconds: float = 0.0
    spark_decode_in_jvm: bool = Field(
        default=False,
        description="Spark: decode, check and fold bars in Spark SQL on the executors (scales out) instead of on the driver "
        "(faster on one small machine).",
    )
    consumer_group: str = Field(default=DEFAULT_GROUP_ID, description="Light engine: the group that stores its offsets.")
    max_batch_messages: int = Field(
        default=LightEngineSettings.max_batch_messages, description="Light engine: messages per write and commit."
    )
    equity_time_zone: str = Field(default=US_EQUITY_ZONE, description="Trading-day zone of unprefixed (US equity) symbols.")
    prefixed_time_zone: str = Field(default=UTC_ZONE, description="Trading-day zone of exchange-prefixed symbols (crypto).")

    def calendar(self) -> TradingCalendar:
        """The trading-day rule; a one-line ValueError names an unknown zone."""
        return TradingCalendar(default_zone=self.equity_time_zone, prefixed_zone=self.prefixed_time_zone)

    def selected_engine(self) -> str:
        engine = (self.engine or SPARK_ENGINE).strip().lower()
        if engine not in (SPARK_ENGINE, LIGHT_ENGINE):
            raise ValueError(f"STREAM_ENGINE must be `{SPARK_ENGINE}` or `{LIGHT_ENGINE}`, got {self.engine!r}")
        return engine

    def spark_settings(self, topic: str) -> SparkStreamSettings:
        return SparkStreamSettings(
            topic=topic,
            checkpoint_dir=f"{self.checkpoint_dir.rstrip('/')}/{topic}",
            trigger_interval_s=self.trigger_interval_seconds,
            max_messages_per_trigger=self.max_messages_per_trigger or None,
            decode_in_jvm=self.spark_decode_in_jvm,
        )

    def light_settings(self, topic: str) -> LightEngineSettings:
        return LightEngineSettings(topic=topic, group_id=self.consumer_group, max_batch_messages=self.max_batch_messages)
