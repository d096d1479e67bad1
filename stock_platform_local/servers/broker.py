"""Apache Kafka (KRaft, one node acting as broker and controller) for local runs and tests.

The log directory lives under the given data folder, so topics, offsets and consumer-group commits
survive a restart; storage is formatted on the first start only. Listener ports may change between
starts: the controller quorum is static (`controller.quorum.voters`), so nothing on disk records them.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from stock_platform.jvm_artifacts import classpath, kafka_server
from stock_platform_local.servers.jvm_server import JvmServer, java_executable
from stock_platform_local.servers.process import ServerStartError, free_port

BrokerStartError = ServerStartError

_META_PROPERTIES = "meta.properties"


def _first_exception(output: str) -> str:
    """The JVM's exception line (`...Exception: message`) out of a stack trace."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in lines if "Exception" in line or "Error" in line), lines[-1] if lines else "no output")


def new_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A KRaft cluster id (URL-safe base64 of 16 random bytes) that does not start with "-".

    One id in 64 would, and StorageTool's argument parser then reads it as an option ("--cluster-id/-t:
    expected one argument"); Kafka's own Uuid.randomUuid() skips those for the same reason.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(random_bytes()).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalKafkaBroker(JvmServer):
    """One Apache Kafka process on 127.0.0.1; `bootstrap_servers` is set once constructed."""

    name = "kafka"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        heap_mb: int = 512,
        startup_timeout_s: float = 90.0,
        extra_config: dict[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir, startup_timeout_s)
        self.port = port or free_port()
        self.controller_port = free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self.heap_mb = heap_mb
        self.extra_config = extra_config or {}

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "server.properties"

    def server_properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            # One node on a laptop: keep background threads and retention checks small and frequent.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.retention.check.interval.ms": "5000",
            "log.initial.task.delay.ms": "1000",
            **self.extra_config,
        }

    def prepare(self) -> None:
        self.config_path.write_text(
            "".join(f"{key}={value}\n" for key, value in self.server_properties().items()), encoding="utf-8"
        )
        if (self.log_dir / _META_PROPERTIES).exists():
            return
        cluster_id = new_cluster_id()
        jars = self._classpath()
        completed = subprocess.run(
            [java_executable(), "-cp", jars, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_path)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if completed.returncode != 0:
            raise ServerStartError(f"formatting Kafka storage in {self.log_dir} failed: {_first_exception(completed.stderr)}")

    def _classpath(self) -> str:
        return ":".join(str(jar) for jar in classpath(kafka_server()))

    def command(self) -> Sequence[str]:
        return [
            java_executable(),
            f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dstock_platform.data_dir={self.data_dir}",
            "-cp", self._classpath(), "kafka.Kafka", str(self.config_path),
        ]  # fmt: skip

    def is_ready(self) -> bool:
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=1)
        except KafkaException:
            return False
        return bool(metadata.brokers)
