"""`stock-platform cassandra-apply` and `kafka-topics`: idempotent set-up of the cluster-side schema and topics.

Both read the same environment variables as the Dagster resources (unset ones fall back to the
documented defaults), so a Kubernetes Job and a run pod configured alike talk to the same cluster.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from cassandra.cluster import NoHostAvailable

from stock_platform.kafka.admin import KafkaUnavailableError
from stock_platform.defs.resources import kafka_resource, market_store_resource
from stock_platform.env_defaults import ENV_DEFAULTS
from stock_platform.storage.cassandra_session import build_cluster
from stock_platform.storage.schema import (
    SchemaApplyError,
    SchemaSettings,
    apply_schema,
    datacenters_from_spec,
    render_schema,
)

_DAY_S = 86_400


class SetupError(RuntimeError):
    """A set-up step failed for a reason the user can fix; the message is one line."""


@contextmanager
def _env_resources(**resources: Any) -> Iterator[Any]:
    """The env-bound resources of the code location, initialized outside a run (unset variables: defaults)."""
    defaults = {name: value for name, value in ENV_DEFAULTS.items() if name not in os.environ}
    os.environ.update(defaults)
    try:
        with dg.build_resources(resources) as initialized:
            yield initialized
    finally:
        for name in defaults:
            os.environ.pop(name, None)


def apply_cassandra_schema(datacenters: str, replication_factor: int, trades_ttl_days: float) -> list[str]:
    """Render cassandra/schema.cql for this cluster and apply it; returns the statements executed."""
    with _env_resources(market_store=market_store_resource()) as resources:
        store = resources.market_store.cassandra.settings()
    schema = SchemaSettings(
        keyspace=store.keyspace,
        replication_factor=replication_factor,
        datacenters=datacenters_from_spec(datacenters),
        trades_ttl_seconds=int(trades_ttl_days * _DAY_S),
    )
    cluster = build_cluster(store)
    try:
        session = cluster.connect()
        return apply_schema(session, render_schema(schema))
    except NoHostAvailable as error:
        raise SetupError(
            f"cannot reach Cassandra at {', '.join(store.contact_points)}:{store.port} ({error}); "
            "check CASSANDRA_CONTACT_POINTS, CASSANDRA_PORT and the credentials"
        ) from None
    except SchemaApplyError as error:
        raise SetupError(f"{error}; check --datacenters against the cluster's datacenters") from None
    finally:
        cluster.shutdown()


def create_kafka_topics(partitions: int, replication_factor: int) -> list[str]:
    """Create the market and dead-letter topics if missing; returns the names created."""
    with _env_resources(kafka=kafka_resource()) as resources:
        kafka = resources.kafka.model_copy(update={"partitions": partitions, "replication_factor": replication_factor})
    try:
        return kafka.ensure_topics()
    except KafkaUnavailableError as error:
        raise SetupError(str(error)) from None
