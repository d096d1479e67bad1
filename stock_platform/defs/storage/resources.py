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
from stock_platform.storage.settings import CassandraStoreSettings, EmbeddedStoreSettings, StoreSettings

EMBEDDED_FILE_NAME = "market.db"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


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


class EmbeddedStoreResource(MarketStoreResource):
    """The embedded store: one SQLite file with the same tables and upsert semantics as Cassandra."""

    path: str = Field(default="", description=f"SQLite file; empty: <data_dir>/{EMBEDDED_FILE_NAME}.")
    data_dir: str = Field(default=".stock_platform", description="Folder of the file (STOCK_PLATFORM_DATA_DIR).")
    busy_timeout_s: float = Field(default=30.0, description="How long a writer waits for another one's lock.")
    synchronous: str = Field(default="FULL", description="SQLite synchronous mode: FULL (durable) or NORMAL.")

    def settings(self) -> EmbeddedStoreSettings:
        return EmbeddedStoreSettings(
            path=self.path or os.path.join(self.data_dir or ".", EMBEDDED_FILE_NAME),
            busy_timeout_s=self.busy_timeout_s,
            synchronous=self.synchronous,
        )


class CassandraResource(MarketStoreResource):
    """A Cassandra cluster holding keyspace `market` (cassandra/schema.cql)."""

    contact_points: str = Field(default="127.0.0.1", description="Comma-separated hosts (CASSANDRA_CONTACT_POINTS).")
    port: int = 9042
    local_datacenter: str = Field(default="datacenter1", description="Datacenter to route to (CASSANDRA_LOCAL_DC).")
    keyspace: str = "market"
    username: str | None = None
    password: str | None = Field(
        default=None, repr=False, description="Secret: CASSANDRA_PASSWORD through dg.EnvVar only."
    )
    # A string because dg.EnvVar can only feed str and int fields; parsed by tls_enabled().
    tls: str = Field(default="false", description="true/false: connect with TLS (CASSANDRA_TLS).")
    tls_ca_file: str | None = Field(default=None, description="CA bundle for the cluster's certificates.")
    tls_check_hostname: bool = True
    consistency: str = Field(default="LOCAL_QUORUM", description="Consistency level (CASSANDRA_CONSISTENCY).")
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    attempts: int = Field(default=3, description="Attempts per statement on timeouts and unavailable replicas.")
    batch_max_rows: int = Field(default=50, description="Rows per UNLOGGED batch (one partition per batch).")
    concurrency: int = Field(default=64, description="Statements in flight at once.")

    def tls_enabled(self) -> bool:
        value = (self.tls or "").strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ValueError(f"CASSANDRA_TLS={self.tls!r}; use true or false")

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


EMBEDDED_STORE = "embedded"
CASSANDRA_STORE = "cassandra"


class SelectedStoreResource(MarketStoreResource):
    """The store named by STOCK_PLATFORM_STORE: the embedded file locally, the Cassandra cluster in production."""

    backend: str = Field(default=EMBEDDED_STORE, description="`embedded` or `cassandra` (STOCK_PLATFORM_STORE).")
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
