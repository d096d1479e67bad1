"""Apache Cassandra (5.0, one node) for local runs and tests, from the cassandra-all jar on Java 17.

Data, commit log and hints live under the given folder, so tables survive a restart. The JVM flags are
those of Cassandra's own `jvm17-server.options`; the heap is small enough to sit beside Spark on 2 cores.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from pathlib import Path

from stock_platform.jvm_artifacts import cassandra_server, classpath
from stock_platform_local.servers.jvm_server import JvmServer, java_executable
from stock_platform_local.servers.process import free_port

# From Cassandra's conf/jvm17-server.options: the module exports and opens it needs on Java 17.
JAVA17_MODULE_FLAGS = (
    "--add-exports java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports java.sql/java.sql=ALL-UNNAMED",
    "--add-exports java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens java.base/java.io=ALL-UNNAMED",
    "--add-opens java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens java.base/java.lang=ALL-UNNAMED",
    "--add-opens java.base/java.util=ALL-UNNAMED",
)
_GC_FLAGS = (
    "-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxTenuringThreshold=1", "-XX:G1HeapRegionSize=16m",
    "-XX:MaxGCPauseMillis=300", "-XX:InitiatingHeapOccupancyPercent=70",
)  # fmt: skip
_LOGBACK = """<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


class LocalCassandraNode(JvmServer):
    """One Cassandra node on 127.0.0.1; clients connect to `contact_point`:`port` (datacenter `datacenter1`)."""

    name = "cassandra"
    local_dc = "datacenter1"
    contact_point = "127.0.0.1"

    def __init__(self, data_dir: Path, port: int | None = None, heap_mb: int = 1024, startup_timeout_s: float = 180.0) -> None:
        super().__init__(data_dir, startup_timeout_s)
        self.port = port or free_port()
        self.storage_port = free_port()
        self.jmx_port = free_port()
        self.heap_mb = heap_mb

    @property
    def conf_dir(self) -> Path:
        return self.data_dir / "conf"

    def settings(self) -> dict[str, object]:
        """cassandra.yaml: single node, no auth on loopback, small thread pools for 2 cores."""
        folder = str(self.data_dir)
        return {
            "cluster_name": "stock-platform-local",
            "num_tokens": 16,
            "allocate_tokens_for_local_replication_factor": 1,
            "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
            "authenticator": "AllowAllAuthenticator",
            "authorizer": "AllowAllAuthorizer",
            # "batch": a write is acknowledged once its commit log section is on disk. With Cassandra's default
            # "periodic" a SIGKILLed node lost its last ~70 ms of acknowledged writes (measured: 50 of 2,517),
            # which a cluster covers with replicas but a single node cannot. Concurrent writes share one fsync.
            "commitlog_sync": "batch",
            "commitlog_segment_size": "32MiB",
            "seed_provider": [
                {"class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                 "parameters": [{"seeds": f"127.0.0.1:{self.storage_port}"}]}
            ],  # fmt: skip
            "listen_address": "127.0.0.1",
            "rpc_address": "127.0.0.1",
            "storage_port": self.storage_port,
            "native_transport_port": self.port,
            "start_native_transport": True,
            "endpoint_snitch": "SimpleSnitch",
            "data_file_directories": [f"{folder}/data"],
            "commitlog_directory": f"{folder}/commitlog",
            "saved_caches_directory": f"{folder}/saved_caches",
            "hints_directory": f"{folder}/hints",
            "cdc_raw_directory": f"{folder}/cdc_raw",
            "disk_failure_policy": "stop",
            "commit_failure_policy": "stop",
            "concurrent_reads": 8,
            "concurrent_writes": 8,
            "concurrent_counter_writes": 8,
            "concurrent_compactors": 1,
            "dynamic_snitch": False,
            # Tests and the dashboards' checks create and drop keyspaces: no snapshot per drop.
            "auto_snapshot": False,
        }

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        # JSON is a subset of YAML, so no YAML writer is needed.
        (self.conf_dir / "cassandra.yaml").write_text(json.dumps(self.settings(), indent=2), encoding="utf-8")
        (self.conf_dir / "logback.xml").write_text(_LOGBACK, encoding="utf-8")

    def command(self) -> Sequence[str]:
        module_flags = [part for flag in JAVA17_MODULE_FLAGS for part in flag.split(" ")]
        return [
            java_executable(),
            f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", *_GC_FLAGS,
            "-Djdk.attach.allowAttachSelf=true", *module_flags,
            "-Dio.netty.tryReflectionSetAccessible=true",
            "-Dio.netty.allocator.useCacheForAllThreads=true", "-Dio.netty.allocator.maxOrder=11",
            f"-Dcassandra.config=file://{self.conf_dir / 'cassandra.yaml'}",
            f"-Dlogback.configurationFile=file://{self.conf_dir / 'logback.xml'}",
            f"-Dcassandra.storagedir={self.data_dir}",
            f"-Dcassandra.logdir={self.data_dir}",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            "-Dcassandra-foreground=yes",
            # One node has no peers to wait for.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.ring_delay_ms=1000",
            "-Dcassandra.initial_token_allocation_wait_ms=0",
            "-cp", ":".join(str(jar) for jar in classpath(cassandra_server())),
            "org.apache.cassandra.service.CassandraDaemon",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        # The driver logs a traceback per refused connection: wait for the port before asking it.
        try:
            socket.create_connection((self.contact_point, self.port), timeout=1).close()
        except OSError:
            return False
        from cassandra.cluster import Cluster, NoHostAvailable
        from cassandra.policies import DCAwareRoundRobinPolicy

        cluster = Cluster(
            [self.contact_point], port=self.port, protocol_version=5, connect_timeout=2,
            load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=self.local_dc),
        )  # fmt: skip
        try:
            session = cluster.connect()
            session.execute("SELECT release_version FROM system.local")
            return True
        except (NoHostAvailable, OSError):
            return False
        finally:
            cluster.shutdown()
