"""The store's settings model (`StoreEnv`), and the picklable settings Spark executors and scripts open a store from.

`StoreEnv` says which store the platform uses and how to reach it, with each setting's environment
variable; the plain dataclasses below take their defaults from it and unpickle without Dagster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import Field

from stock_platform.settings import DATA_DIR, EnvSettings, EnvVariable, env_field, secret_field

CONSISTENCY_LEVELS = frozenset({
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE",
})  # fmt: skip
SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_KEYSPACE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})

EMBEDDED_STORE = "embedded"
CASSANDRA_STORE = "cassandra"
# Grafana's dashboards query the same keyspace.
CASSANDRA_KEYSPACE = EnvVariable("CASSANDRA_KEYSPACE", "market")


def tls_flag(text: str | None) -> bool:
    """CASSANDRA_TLS as a bool: true/1/yes/on or false/0/no/off/empty, in any case."""
    value = (text or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"CASSANDRA_TLS={text!r}; use true or false")


class EmbeddedStoreEnv(EnvSettings):
    """The embedded store's folder."""

    data_dir: str = DATA_DIR.field("Folder of the embedded store's SQLite file")


class CassandraEnv(EnvSettings):
    """The Cassandra cluster and how to reach it."""

    contact_points: str = env_field("CASSANDRA_CONTACT_POINTS", "127.0.0.1", "Comma-separated hosts")
    port: int = env_field("CASSANDRA_PORT", 9042, "Native protocol port")
    local_datacenter: str = env_field("CASSANDRA_LOCAL_DC", "datacenter1", "Datacenter to route to")
    keyspace: str = CASSANDRA_KEYSPACE.field("Keyspace of the tables")
    username: str | None = env_field("CASSANDRA_USERNAME", None, "User; set with CASSANDRA_PASSWORD")
    password: str | None = secret_field("CASSANDRA_PASSWORD", "Password of CASSANDRA_USERNAME")
    # A string because dg.EnvVar feeds only str and int fields; tls_flag() reads it.
    tls: str = env_field("CASSANDRA_TLS", "false", "true/false: connect with TLS")
    consistency: str = env_field("CASSANDRA_CONSISTENCY", "LOCAL_QUORUM", "Consistency level of reads and writes")


class StoreEnv(EnvSettings):
    """Which store holds the platform's tables (STOCK_PLATFORM_STORE), and the settings of each."""

    backend: str = env_field("STOCK_PLATFORM_STORE", EMBEDDED_STORE, f"`{EMBEDDED_STORE}` (SQLite file) or `{CASSANDRA_STORE}`")
    embedded: EmbeddedStoreEnv = Field(default_factory=EmbeddedStoreEnv)
    cassandra: CassandraEnv = Field(default_factory=CassandraEnv)


_CASSANDRA = CassandraEnv()


@dataclass(frozen=True)
class EmbeddedStoreSettings:
    """The embedded store: one SQLite file shared by every process and thread.

    `synchronous` FULL makes each committed batch survive a power loss, which the stream needs
    because Kafka offsets advance once a batch is written; NORMAL is faster and survives crashes
    of the process only.
    """

    path: str
    busy_timeout_s: float = 30.0
    synchronous: str = "FULL"

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("embedded store path is empty: set STOCK_PLATFORM_DATA_DIR or the resource's path")
        if self.synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous={self.synchronous!r}; use one of {sorted(SYNCHRONOUS_MODES)}")
        if self.busy_timeout_s <= 0:
            raise ValueError(f"busy_timeout_s={self.busy_timeout_s} must be positive")


@dataclass(frozen=True)
class CassandraStoreSettings:
    """A Cassandra cluster and how to talk to it; the password is kept out of repr (and so out of logs)."""

    contact_points: tuple[str, ...] = tuple(_CASSANDRA.contact_points.split(","))
    port: int = _CASSANDRA.port
    local_datacenter: str = _CASSANDRA.local_datacenter
    keyspace: str = _CASSANDRA.keyspace
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = tls_flag(_CASSANDRA.tls)
    tls_ca_file: str | None = None
    tls_check_hostname: bool = True
    consistency: str = _CASSANDRA.consistency
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    attempts: int = 3
    retry_initial_backoff_s: float = 0.2
    retry_max_backoff_s: float = 5.0
    batch_max_rows: int = 50
    concurrency: int = 64
    fetch_size: int = 5000
    news_dedupe_window_days: int = 31
    # Cassandra 4.0+ speaks v5; None lets the driver negotiate, which starts from DSE versions and logs a
    # downgrade warning per connection. Set 4 for a Cassandra 3.x cluster.
    protocol_version: int | None = 5

    def __post_init__(self) -> None:
        points = self.contact_points
        if isinstance(points, str):
            points = tuple(point.strip() for point in points.split(","))
        object.__setattr__(self, "contact_points", tuple(point for point in points if point))
        object.__setattr__(self, "consistency", self.consistency.strip().upper())
        if not self.contact_points:
            raise ValueError("no Cassandra contact points: set CASSANDRA_CONTACT_POINTS (comma-separated hosts)")
        if self.consistency not in CONSISTENCY_LEVELS:
            raise ValueError(
                f"unknown Cassandra consistency {self.consistency!r}; use one of {sorted(CONSISTENCY_LEVELS)}"
            )
        if not _KEYSPACE.fullmatch(self.keyspace):
            raise ValueError(f"keyspace {self.keyspace!r} must be a letter then up to 47 letters, digits or _")
        if bool(self.username) != bool(self.password):
            raise ValueError("set both CASSANDRA_USERNAME and CASSANDRA_PASSWORD, or neither")
        if not self.local_datacenter:
            raise ValueError("no local datacenter: set CASSANDRA_LOCAL_DC (token-aware routing needs it)")
        if self.protocol_version not in (None, 3, 4, 5):
            raise ValueError(f"protocol_version={self.protocol_version} must be 3, 4 or 5 (or None to negotiate)")
        for name in ("attempts", "batch_max_rows", "concurrency", "fetch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")


StoreSettings = EmbeddedStoreSettings | CassandraStoreSettings
