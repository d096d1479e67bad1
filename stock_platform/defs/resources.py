"""Every resource of the code location, bound to the environment variables the README documents.

Values are read when Dagster initializes a resource for a run, never at import time.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from stock_platform.defs.kafka.consumer_lag import ConsumerLagResource
from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.grafana.resources import grafana_resource
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.processing.resources import SparkResource, StreamProcessorResource
from stock_platform.defs.storage.resources import CassandraResource, EmbeddedStoreResource, SelectedStoreResource


def finnhub_resource() -> FinnhubResource:
    return FinnhubResource(
        api_key=dg.EnvVar("FINNHUB_API_KEY"),
        ws_url=dg.EnvVar("FINNHUB_WS_URL"),
        rest_url=dg.EnvVar("FINNHUB_REST_URL"),
        symbols=dg.EnvVar("FINNHUB_SYMBOLS"),
        rate_limit_redis_url=dg.EnvVar("REDIS_URL"),
        rate_limit_dir=dg.EnvVar("STOCK_PLATFORM_DATA_DIR"),
    )


def kafka_resource() -> KafkaResource:
    return KafkaResource(
        bootstrap_servers=dg.EnvVar("KAFKA_BOOTSTRAP_SERVERS"),
        security_protocol=dg.EnvVar("KAFKA_SECURITY_PROTOCOL"),
        sasl_mechanism=dg.EnvVar("KAFKA_SASL_MECHANISM"),
        sasl_username=dg.EnvVar("KAFKA_SASL_USERNAME"),
        sasl_password=dg.EnvVar("KAFKA_SASL_PASSWORD"),
        market_topic=dg.EnvVar("KAFKA_TOPIC_MARKET"),
        dead_letter_topic=dg.EnvVar("KAFKA_TOPIC_DEAD_LETTER"),
    )


def market_store_resource() -> SelectedStoreResource:
    return SelectedStoreResource(
        backend=dg.EnvVar("STOCK_PLATFORM_STORE"),
        embedded=EmbeddedStoreResource(data_dir=dg.EnvVar("STOCK_PLATFORM_DATA_DIR")),
        cassandra=CassandraResource(
            contact_points=dg.EnvVar("CASSANDRA_CONTACT_POINTS"),
            port=dg.EnvVar.int("CASSANDRA_PORT"),
            local_datacenter=dg.EnvVar("CASSANDRA_LOCAL_DC"),
            keyspace=dg.EnvVar("CASSANDRA_KEYSPACE"),
            username=dg.EnvVar("CASSANDRA_USERNAME"),
            password=dg.EnvVar("CASSANDRA_PASSWORD"),
            tls=dg.EnvVar("CASSANDRA_TLS"),
            consistency=dg.EnvVar("CASSANDRA_CONSISTENCY"),
        ),
    )


def processing_resources() -> dict[str, Any]:
    """The stream processor's Spark session and engine settings (STREAM_ENGINE, SPARK_*, REDIS_URL)."""
    return {
        "spark": SparkResource(master=dg.EnvVar("SPARK_MASTER")),
        "stream_processor": StreamProcessorResource(
            engine=dg.EnvVar("STREAM_ENGINE"),
            checkpoint_dir=dg.EnvVar("SPARK_CHECKPOINT_DIR"),
            redis_url=dg.EnvVar("REDIS_URL"),
        ),
    }


def build_resources() -> dict[str, Any]:
    return {
        "finnhub": finnhub_resource(),
        "kafka": kafka_resource(),
        "market_store": market_store_resource(),
        "grafana": grafana_resource(),
        # Plain defaults (no environment variables): the chart sets every variable ENV_DEFAULTS names.
        "consumer_lag": ConsumerLagResource(),
        **processing_resources(),
    }
