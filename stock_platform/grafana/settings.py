"""Grafana's settings model: URL, token and the keyspace its dashboards query, each with its environment variable."""

from __future__ import annotations

from stock_platform.settings import EnvSettings, env_field, secret_field
from stock_platform.storage.settings import CASSANDRA_KEYSPACE


class GrafanaEnv(EnvSettings):
    """A Grafana server reached through its HTTP API with a service-account token."""

    # 3001, not Grafana's own 3000: locally that port is the Dagster UI's (`stock-platform dev --port`).
    url: str = env_field("GRAFANA_URL", "http://127.0.0.1:3001", "Grafana root URL")
    api_token: str | None = secret_field("GRAFANA_API_TOKEN", "Service-account token (Editor role)")
    keyspace: str = CASSANDRA_KEYSPACE.field("Cassandra keyspace the dashboards query")
