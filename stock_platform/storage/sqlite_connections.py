"""SQLite connections for many threads and processes: one per thread, WAL, busy timeout, IMMEDIATE writes."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stock_platform.storage.base import StoreError
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_schema import SQLITE_SCHEMA

logger = logging.getLogger(__name__)

# SQLite's default page cache (2 MiB) is smaller than one stream batch's share of the trades index:
# inserts then re-read pages evicted moments before. 64 MiB (allocated only as used) halves their cost.
_PAGE_CACHE_KIB = 64 * 1024
# Checkpoints (WAL pages copied into the database file, which is then fsynced) run on a background
# thread of each writing process, so a write never waits for one: run in the committing writer at
# SQLite's default 1,000 pages, each took 100-800 ms, the stream's p99 latency. The writers' own
# automatic checkpoint stays as a bound on the WAL should the background one fall behind.
_CHECKPOINT_INTERVAL_S = 0.5
_WRITER_CHECKPOINT_PAGES = 20_000


class SqliteConnections:
    """Hands each thread (of each process) its own connection to one database file.

    Writes run in `BEGIN IMMEDIATE` transactions: the write lock is taken up front, so concurrent
    writers queue on the busy timeout instead of failing with a deadlock when a read upgrades.
    """

    def __init__(self, settings: EmbeddedStoreSettings) -> None:
        self._settings = settings
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[tuple[int, sqlite3.Connection]] = []
        self._closed = False
        self._stop_checkpoints = threading.Event()
        self._checkpointer: tuple[int, threading.Thread] | None = None
        Path(settings.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        with self.write() as connection:
            for statement in SQLITE_SCHEMA:
                connection.execute(statement)

    @property
    def path(self) -> str:
        return self._settings.path

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork: SQLite connections must not cross processes)."""
        owner = getattr(self._local, "owner", None)
        if owner is not None and owner[0] == os.getpid():
            return owner[1]
        if self._closed:
            raise StoreError(f"embedded store {self.path} is closed")
        connection = self._open()
        self._local.owner = (os.getpid(), connection)
        with self._lock:
            self._opened.append((os.getpid(), connection))
        return connection

    def _open(self) -> sqlite3.Connection:
        settings = self._settings
        try:
            connection = sqlite3.connect(
                Path(settings.path).expanduser(),
                timeout=settings.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            connection.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout_s * 1000)}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(f"PRAGMA synchronous = {settings.synchronous.upper()}")
            connection.execute(f"PRAGMA cache_size = -{_PAGE_CACHE_KIB}")
            connection.execute(f"PRAGMA wal_autocheckpoint = {_WRITER_CHECKPOINT_PAGES}")
        except sqlite3.Error as error:
            raise StoreError(f"cannot open embedded store {settings.path}: {error}") from None
        return connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested uses join the enclosing one."""
        connection = self.connection()
        if connection.in_transaction:
            yield connection
            return
        self._start_checkpoints()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise self._locked_error(error) from None
        try:
            yield connection
        except BaseException:
            connection.rollback()
            raise
        try:
            connection.commit()
        except sqlite3.OperationalError as error:
            connection.rollback()
            raise self._locked_error(error) from None

    def _start_checkpoints(self) -> None:
        """The background checkpointer of this process (after a fork, threads are not inherited)."""
        owner = self._checkpointer
        if owner is not None and owner[0] == os.getpid():
            return
        with self._lock:
            if self._checkpointer is not None and self._checkpointer[0] == os.getpid():
                return
            thread = threading.Thread(target=self._checkpoint_until_closed, name="sqlite-checkpoint", daemon=True)
            self._checkpointer = (os.getpid(), thread)
        thread.start()

    def _checkpoint_until_closed(self) -> None:
        connection = self._open()
        try:
            while not self._stop_checkpoints.wait(_CHECKPOINT_INTERVAL_S):
                try:
                    # PASSIVE: copies what no reader still needs, never waits for or blocks a writer.
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:
                    logger.warning("embedded store %s: background checkpoint failed (%s); retrying", self.path, error)
        finally:
            connection.close()

    def _locked_error(self, error: sqlite3.OperationalError) -> StoreError:
        return StoreError(
            f"embedded store {self.path}: {error} (waited {self._settings.busy_timeout_s:g}s for other writers); "
            "check for a stuck process holding the file or raise busy_timeout_s"
        )

    def close(self) -> None:
        """Close every connection this object opened, in any thread of this process."""
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
            checkpointer = self._checkpointer
        self._stop_checkpoints.set()
        if checkpointer is not None and checkpointer[0] == os.getpid():
            checkpointer[1].join()
        for owner_pid, connection in opened:
            if owner_pid == os.getpid():
                connection.close()
        self._local = threading.local()
