"""Store resources: the embedded SQLite file or a Cassandra cluster, handed out as a MarketStore."""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from stock_platform.storage.base import MarketStore
from stock_platform.storage.factory import open_store
from stock_platform.storage.settings import (
    CASSANDRA_STORE,
    EMBEDDED_STORE,
    CassandraEnv,
    CassandraStoreSettings,
    EmbeddedStoreEnv,
    EmbeddedStoreSettings,
    StoreEnv,
    StoreSettings,
    tls_flag,
)

EMBEDDED_FILE_NAME = "market.db"


class MarketStoreResource(dg.ConfigurableResource):
    """The platform's tables; `settings()` are plain and picklable for code outside Dagster (Spark executors)."""

    @abstractmethod
    def settings(self) -> StoreSettings:
        """Plain settings from which `stock_platform.storage.factory.open_store` opens the same store."""

    @contextmanager
    def open_store(self) -> Iterator[MarketStore]:
        """A store for the duration of the block, closed however the block exits."""
        with open_store(self.settings()) as store:
            yield store


class EmbeddedStoreResource(MarketStoreResource, EmbeddedStoreEnv):
    """The embedded store: one SQLite file with the same tables and upsert semantics as Cassandra.

    Its folder is `EmbeddedStoreEnv.data_dir` (STOCK_PLATFORM_DATA_DIR); the fields below have no variable.
    """

    path: str = Field(default="", description=f"SQLite file; empty: <data_dir>/{EMBEDDED_FILE_NAME}.")
    busy_timeout_s: float = Field(
        default=EmbeddedStoreSettings.busy_timeout_s, description="How long a writer waits for another one's lock."
    )
    synchronous: str = Field(
        default=EmbeddedStoreSettings.synchronous, description="SQLite synchronous mode: FULL (durable) or NORMAL."
    )

    def settings(self) -> EmbeddedStoreSettings:
        return EmbeddedStoreSettings(
            path=self.path or os.path.join(self.data_dir or ".", EMBEDDED_FILE_NAME),
            busy_timeout_s=self.busy_timeout_s,
            synchronous=self.synchronous,
        )


class CassandraResource(MarketStoreResource, CassandraEnv):
    """A Cassandra cluster holding keyspace `market` (cassandra/schema.cql).

    Hosts, datacenter, keyspace, credentials, TLS and consistency are the fields of `CassandraEnv` (with
    their variables); the fields below have no variable and default to `CassandraStoreSettings`' values.
    """

    tls_ca_file: str | None = Field(
        default=CassandraStoreSettings.tls_ca_file, description="CA bundle for the cluster's certificates."
    )
    tls_check_hostname: bool = CassandraStoreSettings.tls_check_hostname
    request_timeout_s: float = CassandraStoreSettings.request_timeout_s
    connect_timeout_s: float = CassandraStoreSettings.connect_timeout_s
    attempts: int = Field(
        default=CassandraStoreSettings.attempts, description="Attempts per statement on timeouts and unavailable replicas."
    )
    batch_max_rows: int = Field(
        default=CassandraStoreSettings.batch_max_rows, description="Rows per UNLOGGED batch (one partition per batch)."
    )
    concurrency: int = Field(default=CassandraStoreSettings.concurrency, description="Statements in flight at once.")

    def tls_enabled(self) -> bool:
        return tls_flag(self.tls)

    def settings(self) -> CassandraStoreSettings:
        return CassandraStoreSettings(
            contact_points=tuple(point.strip() for point in self.contact_points.split(",") if point.strip()),
            port=self.port,
            local_datacenter=self.local_datacenter,
            keyspace=self.keyspace,
            username=self.username or None,
            password=self.password or None,
            tls=self.tls_enabled(),
            tls_ca_file=self.tls_ca_file or None,
            tls_check_hostname=self.tls_check_hostname,
            consistency=self.consistency,
            request_timeout_s=self.request_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            attempts=self.attempts,
            batch_max_rows=self.batch_max_rows,
            concurrency=self.concurrency,
        )


class SelectedStoreResource(MarketStoreResource, StoreEnv):
    """The store named by STOCK_PLATFORM_STORE: the embedded file locally, the Cassandra cluster in production.

    `StoreEnv` with each store's settings model as its resource.
    """

    embedded: EmbeddedStoreResource
    cassandra: CassandraResource

    def selected_backend(self) -> str:
        backend = (self.backend or EMBEDDED_STORE).strip().lower()
        if backend not in (EMBEDDED_STORE, CASSANDRA_STORE):
            raise ValueError(f"STOCK_PLATFORM_STORE must be `{EMBEDDED_STORE}` or `{CASSANDRA_STORE}`, got {self.backend!r}")
        return backend

    def settings(self) -> StoreSettings:
        if self.selected_backend() == CASSANDRA_STORE:
            return self.cassandra.settings()
        return self.embedded.settings()
