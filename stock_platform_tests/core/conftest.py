import pytest

from stock_platform.core import finnhub_ws
from stock_platform_tests.core.websocket_fakes import ConnectionScript


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
