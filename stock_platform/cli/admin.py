"""`stock-platform cassandra-apply` and `kafka-topics`: idempotent set-up of the cluster-side schema and topics.

Both read the same environment variables as the Dagster resources, through the same settings models
(unset ones take the models' defaults), so a Kubernetes Job and a run pod configured alike talk to the
same cluster. They read the environment mapping they are given (`os.environ` by default) and never write it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cassandra.cluster import NoHostAvailable

from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.storage.resources import CassandraResource
from stock_platform.kafka.admin import KafkaUnavailableError
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


def apply_cassandra_schema(
    datacenters: str, replication_factor: int, trades_ttl_days: float, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Render cassandra/schema.cql for the CASSANDRA_* cluster of `environ` and apply it; returns the statements executed."""
    store = CassandraResource.from_environ(os.environ if environ is None else environ).settings()
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


def create_kafka_topics(
    partitions: int | None = None, replication_factor: int | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Create the market and dead-letter topics of `environ`'s cluster if missing; returns the names created.

    `partitions` and `replication_factor` left out (None) keep KafkaResource's defaults.
    """
    layout = {"partitions": partitions, "replication_factor": replication_factor}
    kafka = KafkaResource.from_environ(
        os.environ if environ is None else environ, **{name: value for name, value in layout.items() if value is not None}
    )
    try:
        return kafka.ensure_topics()
    except KafkaUnavailableError as error:
        raise SetupError(str(error)) from None

