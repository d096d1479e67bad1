"""A local JVM server process (Kafka broker, Cassandra node): started with a PID file, stopped by PID.

A launcher killed with -9 leaves its servers running and holding their data folder's lock; the PID file
lets the next start stop that orphan (only if its command line still names the same data folder).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from stock_platform_local.servers.process import ServerStartError, stop_process

logger = logging.getLogger(__name__)


def java_executable() -> str:
    """`$JAVA_HOME/bin/java` when set, else `java` on PATH, with a one-line error when neither exists."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise ServerStartError("Java not found: install Java 17 (or set JAVA_HOME) to run the local Kafka and Cassandra")
    return candidate


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_orphan(pid_file: Path, marker: str, timeout_s: float = 30.0) -> None:
    """Stop the server a previous launcher left behind, if `pid_file` names a live process whose command line holds `marker`."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if marker not in _cmdline(pid):
        pid_file.unlink(missing_ok=True)
        return
    logger.warning("stopping a server left running by an earlier launcher (pid %d)", pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while marker in _cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if marker in _cmdline(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


class JvmServer:
    """Base class: subclasses prepare their folder, build the command and say when the server is ready."""

    name = "server"
    stop_timeout_s = 30.0

    def __init__(self, data_dir: Path, startup_timeout_s: float) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / f"{self.name}.pid"

    def prepare(self) -> None:
        """Write configuration and format storage; called before every start."""

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> JvmServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stop_orphan(self.pid_file, str(self.data_dir))
        self.prepare()
        with open(self.log_path, "ab") as log:
            # Its own session: a Ctrl-C for the launcher's terminal group must not stop the server before
            # the runs that write to it have flushed; the launcher stops it last, by PID.
            self._process = subprocess.Popen(
                list(self.command()), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.data_dir,
                start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(self._process.pid))
        try:
            self._wait(self.is_ready, self.startup_timeout_s)
        except BaseException:
            self.stop()
            raise
        logger.info("%s ready (pid %s)", self.name, self.pid)
        return self

    def _wait(self, ready: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {self._process.returncode} at start; see {self.log_path}"
                )
            if ready():
                return
            time.sleep(0.25)
        raise ServerStartError(f"{self.name} not ready after {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM (a clean shutdown flushes logs and commit logs), SIGKILL after `stop_timeout_s`."""
        if self._process is not None:
            stop_process(self._process, self.stop_timeout_s)
            self._process = None
            self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, as a crash or an operator's kill -9 would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(self.stop_timeout_s)
            self._process = None
            self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> JvmServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
