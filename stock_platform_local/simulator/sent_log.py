"""JSONL log of every trade frame the simulator sent, so tests can compare it with what arrived downstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO


class SentLog:
    """Appends `{"received_at_ms", "frame", "connection"}` lines: the replay format plus the receiving connection.

    `received_at_ms` is the moment the frame was handed to the socket, so the log can be replayed as is.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = self.path.open("a", encoding="utf-8")

    def write(self, connection_id: int, sent_at_ms: int, frame: str) -> None:
        if self._file is None:
            raise RuntimeError(f"sent log {self.path} is already closed")
        self._file.write(json.dumps({"received_at_ms": sent_at_ms, "frame": frame, "connection": connection_id}) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
