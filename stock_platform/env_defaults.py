"""Defaults for every documented environment variable; the local launcher fills unset ones from here."""

from __future__ import annotations

from stock_platform.defs.finnhub.resources import DEFAULT_SYMBOLS

# Secrets default to empty: they are optional for the embedded stack and must never get a value here.
ENV_DEFAULTS: dict[str, str] = {
    "FINNHUB_API_KEY": "",
    "FINNHUB_WS_URL": "wss://ws.finnhub.io",
    "FINNHUB_REST_URL": "https://finnhub.io/api/v1",
    "FINNHUB_SYMBOLS": DEFAULT_SYMBOLS,
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "",
    "KAFKA_SASL_USERNAME": "",
    "KAFKA_SASL_PASSWORD": "",
    "KAFKA_TOPIC_MARKET": "market",
    "KAFKA_TOPIC_DEAD_LETTER": "market.dead_letter",
    "STOCK_PLATFORM_STORE": "embedded",
    "STOCK_PLATFORM_DATA_DIR": ".stock_platform",
    "CASSANDRA_CONTACT_POINTS": "127.0.0.1",
    "CASSANDRA_PORT": "9042",
    "CASSANDRA_LOCAL_DC": "datacenter1",
    "CASSANDRA_KEYSPACE": "market",
    "CASSANDRA_USERNAME": "",
    "CASSANDRA_PASSWORD": "",
    "CASSANDRA_TLS": "false",
    "CASSANDRA_CONSISTENCY": "LOCAL_QUORUM",
    "GRAFANA_URL": "http://127.0.0.1:3001",
    "GRAFANA_API_TOKEN": "",
    "STREAM_ENGINE": "spark",
    "SPARK_MASTER": "local[*]",
    "SPARK_CHECKPOINT_DIR": ".stock_platform/checkpoints",
    "REDIS_URL": "",
}

SECRET_ENV_VARS = frozenset({"FINNHUB_API_KEY", "KAFKA_SASL_PASSWORD", "CASSANDRA_PASSWORD", "GRAFANA_API_TOKEN"})
