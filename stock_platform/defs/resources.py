"""Resources bound to environment variables (see README for every variable)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from stock_platform.resources.finnhub import FinnhubResource
from stock_platform.resources.kafka import KafkaResource


def finnhub_resource() -> FinnhubResource:
    return FinnhubResource(
        api_key=dg.EnvVar("FINNHUB_API_KEY"),
        ws_url=dg.EnvVar("FINNHUB_WS_URL"),
        rest_url=dg.EnvVar("FINNHUB_REST_URL"),
        symbols=dg.EnvVar("FINNHUB_SYMBOLS"),
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


def build_resources() -> dict[str, Any]:
    return {"finnhub": finnhub_resource(), "kafka": kafka_resource()}
