"""The real launcher (`stock-platform dev`) on a test folder, for tests that drive the whole local stack.

Shared by the restart test and the browser test: one process group per stack, stopped with a Ctrl-C's SIGINT.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import requests

from stock_platform_local.servers.process import free_port

_EXTERNAL = ("KAFKA_BOOTSTRAP_SERVERS", "CASSANDRA_CONTACT_POINTS", "FINNHUB_API_KEY", "FINNHUB_WS_URL", "FINNHUB_REST_URL")


class DevStack:
    """One `stock-platform dev` process on a test folder, stopped with the SIGINT a Ctrl-C sends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.log_path = root / "dev.log"
        self.env = {name: value for name, value in os.environ.items() if name not in _EXTERNAL}
        self.env.update(
            DAGSTER_HOME=str(root / "dagster_home"),
            STOCK_PLATFORM_DATA_DIR=str(root / "data"),
            SPARK_CHECKPOINT_DIR=str(root / "data" / "checkpoints"),
            FINNHUB_SYMBOLS="AAPL,MSFT,NVDA,BINANCE:BTCUSDT",
            STREAM_ENGINE="spark",
            SPARK_MASTER="local[2]",
        )
        self.process: subprocess.Popen | None = None

    @property
    def database(self) -> Path:
        return self.root / "data" / "market.db"

    def start(self) -> float:
        """Start the launcher; returns the monotonic time at which the Dagster UI answered."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stock_platform.cli.main", "dev", "--port", str(self.port), "--simulator-rate", "100"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"launcher exited with {self.process.returncode}: {self.tail()}"
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/server_info", timeout=2).ok:
                    return time.monotonic()
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the Dagster UI never answered: {self.tail()}")

    def ctrl_c(self) -> None:
        """What a terminal's Ctrl-C does: SIGINT to the launcher's whole foreground process group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            assert self.process.wait(90) == 0, self.tail()
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None

    def trade_count(self) -> int:
        if not self.database.exists():
            return 0
        try:
            with closing(sqlite3.connect(self.database, timeout=5)) as connection:
                return connection.execute("SELECT count(*) FROM trades").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    def wait_for_trades_above(self, count: int, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.trade_count() > count:
                return time.monotonic()
            time.sleep(1)
        raise AssertionError(f"trades stayed at {self.trade_count()} rows for {timeout_s:.0f}s: {self.tail()}")

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Teardown: Ctrl-C the launcher if it is still running."""
        if self.process is not None and self.process.poll() is None:
            self.ctrl_c()
