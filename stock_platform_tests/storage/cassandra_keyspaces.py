"""Keyspaces on the session's real Cassandra node, created from cassandra/schema.cql and dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from cassandra.cluster import Session

from stock_platform.storage.cassandra_session import build_cluster
from stock_platform.storage.schema import SchemaSettings, apply_schema, render_schema
from stock_platform.storage.settings import CassandraStoreSettings
from stock_platform_local.servers.cassandra import LocalCassandraNode


def node_settings(node: LocalCassandraNode, keyspace: str = "market", **options: object) -> CassandraStoreSettings:
    """Store settings that reach `node` (its datacenter, a replica count of one)."""
    return CassandraStoreSettings(
        contact_points=(node.contact_point,), port=node.port, local_datacenter=node.local_dc, keyspace=keyspace,
        **options,
    )  # fmt: skip


@contextmanager
def admin_session(node: LocalCassandraNode) -> Iterator[Session]:
    """A session for DDL and for reading what the store wrote, outside the store's own statements."""
    cluster = build_cluster(node_settings(node))
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


@contextmanager
def schema_keyspace(session: Session, keyspace: str, schema: SchemaSettings | None = None) -> Iterator[str]:
    """`keyspace` with every table of the real schema for the duration of the block."""
    apply_schema(session, render_schema(replace(schema or SchemaSettings(), keyspace=keyspace)))
    try:
        yield keyspace
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)


def truncate_tables(session: Session, keyspace: str) -> None:
    """Empty every table of `keyspace` (in parallel: each TRUNCATE waits for a flush)."""
    tables = session.cluster.metadata.keyspaces[keyspace].tables
    for future in [session.execute_async(f"TRUNCATE {keyspace}.{table}", timeout=60) for table in tables]:
        future.result()
