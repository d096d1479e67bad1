"""Every resource of the code location, bound to the environment variables the README documents.

Each resource inherits its system's settings model (`stock_platform/<system>/settings.py`), which names the
variable of each setting; `env_bound()` binds them with `dg.EnvVar`, so values are read when Dagster
initializes a resource for a run, never at import time, and secrets never enter run config.
"""

from __future__ import annotations

from typing import Any

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.grafana.resources import grafana_resource
from stock_platform.defs.kafka.consumer_lag import ConsumerLagResource
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.processing.resources import SparkResource, StreamProcessorResource
from stock_platform.defs.storage.resources import SelectedStoreResource


def finnhub_resource() -> FinnhubResource:
    return FinnhubResource.env_bound()


def kafka_resource() -> KafkaResource:
    return KafkaResource.env_bound()


def market_store_resource() -> SelectedStoreResource:
    """STOCK_PLATFORM_STORE's choice between the embedded store (STOCK_PLATFORM_DATA_DIR) and Cassandra (CASSANDRA_*)."""
    return SelectedStoreResource.env_bound()


def processing_resources() -> dict[str, Any]:
    """The stream processor's Spark session and engine settings (STREAM_ENGINE, SPARK_*, REDIS_URL)."""
    return {"spark": SparkResource.env_bound(), "stream_processor": StreamProcessorResource.env_bound()}


def build_resources() -> dict[str, Any]:
    return {
        "finnhub": finnhub_resource(),
        "kafka": kafka_resource(),
        "market_store": market_store_resource(),
        "grafana": grafana_resource(),
        # Tuning only, no environment variable: its defaults hold everywhere.
        "consumer_lag": ConsumerLagResource(),
        **processing_resources(),
    }
