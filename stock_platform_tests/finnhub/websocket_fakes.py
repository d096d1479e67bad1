"""A scripted websocket-client connection, the list of connections a test hands out, and its `connections` fixture.

Loaded as a pytest plugin by the root conftest, so the fixture serves every folder.
"""

from __future__ import annotations

import json
import time

import pytest
import websocket

from stock_platform.finnhub import websocket as finnhub_ws

TEXT = websocket.ABNF.OPCODE_TEXT


class FakeWebSocket:
    """Plays a script of frames, then reports idle timeouts; an exception in the script is raised from recv_data.

    `idle_s` is slept before each idle timeout, so a reader polling an empty script does not spin.
    """

    def __init__(self, script, idle_s: float = 0.0) -> None:
        self.script = list(script)
        self.idle_s = idle_s
        self.sent = []
        self.closed = False
        self.pings = 0

    def send(self, text):
        self.sent.append(json.loads(text))

    def settimeout(self, timeout):
        pass

    def recv_data(self):
        if not self.script:
            time.sleep(self.idle_s)
            raise websocket.WebSocketTimeoutException("idle")
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return TEXT, item

    def ping(self):
        self.pings += 1

    def close(self):
        self.closed = True


class ConnectionScript(list):
    """Connections (or connect errors) to hand out, and the URLs that were dialled."""

    def __init__(self) -> None:
        super().__init__()
        self.urls = []


@pytest.fixture
def connections(monkeypatch):
    """Each websocket connect pops the next FakeWebSocket (or exception) from this list; backoff waits are zero."""
    queue = ConnectionScript()

    def create_connection(url, **kwargs):
        queue.urls.append(url)
        item = queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    monkeypatch.setattr(finnhub_ws.websocket, "create_connection", create_connection)
    monkeypatch.setattr(finnhub_ws, "full_jitter", lambda value: 0)
    return queue
