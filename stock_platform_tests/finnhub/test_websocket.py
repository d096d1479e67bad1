import threading
import time
from unittest.mock import MagicMock

import pytest
import websocket
from websockets.sync.server import serve

from stock_platform.finnhub import websocket as finnhub_ws
from stock_platform.finnhub.websocket import FinnhubAuthError, FinnhubStream, StreamSettings, TooManySymbolsError
from stock_platform_tests.finnhub.websocket_fakes import FakeWebSocket


def _settings(**overrides):
    values = {"url": "ws://127.0.0.1:1/", "symbols": ["AAPL", "BINANCE:BTCUSDT"], "token": "s3cret"}
    values.update(overrides)
    return StreamSettings(**values)


def _stop_after(stream, frames_wanted):
    received = []

    def on_frame(raw, received_at_ms):
        received.append(raw)
        if len(received) >= frames_wanted:
            stream.stop_event.set()

    return received, on_frame


def test_subscribes_to_every_symbol_and_delivers_frames(connections):
    ws = FakeWebSocket([b'{"type":"trade","data":[]}', b'{"type":"ping"}'])
    connections.append(ws)
    stream = FinnhubStream(_settings())
    received, on_frame = _stop_after(stream, 2)
    stream.run(on_frame)
    assert ws.sent == [{"type": "subscribe", "symbol": "AAPL"}, {"type": "subscribe", "symbol": "BINANCE:BTCUSDT"}]
    assert received == [b'{"type":"trade","data":[]}', b'{"type":"ping"}']
    assert ws.closed


def test_token_goes_in_the_query_string(connections):
    connections.append(FakeWebSocket([b"{}"]))
    stream = FinnhubStream(_settings(url="ws://127.0.0.1:1/?x=1"))
    _, on_frame = _stop_after(stream, 1)
    stream.run(on_frame)
    assert connections.urls == ["ws://127.0.0.1:1/?x=1&token=s3cret"]


def test_dropped_connection_reconnects_and_resubscribes(connections):
    first = FakeWebSocket([b"1", websocket.WebSocketConnectionClosedException("gone")])
    second = FakeWebSocket([b"2"])
    connections.extend([first, second])
    stream = FinnhubStream(_settings())
    received, on_frame = _stop_after(stream, 2)
    stream.run(on_frame)
    assert received == [b"1", b"2"]
    assert stream.reconnects == 1
    assert len(second.sent) == 2 and first.closed


def test_failed_connects_are_retried(connections):
    connections.extend([ConnectionRefusedError("refused"), OSError("unreachable"), FakeWebSocket([b"ok"])])
    stream = FinnhubStream(_settings())
    received, on_frame = _stop_after(stream, 1)
    stream.run(on_frame)
    assert received == [b"ok"]


def test_rejected_token_is_a_clear_error_not_a_retry_loop(connections):
    connections.append(websocket.WebSocketBadStatusException("Handshake status %d %s", 401, "Unauthorized"))
    with pytest.raises(FinnhubAuthError, match="check FINNHUB_API_KEY"):
        FinnhubStream(_settings()).run(MagicMock())


def test_token_never_appears_in_logs(connections, caplog):
    connections.extend([OSError("cannot reach ws://127.0.0.1:1/?token=s3cret"), FakeWebSocket([b"ok"])])
    stream = FinnhubStream(_settings())
    _, on_frame = _stop_after(stream, 1)
    stream.run(on_frame)
    assert "s3cret" not in caplog.text
    assert "token=***" in caplog.text


def test_silent_connection_is_replaced(connections, monkeypatch):
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(finnhub_ws.time, "monotonic", lambda: next(clock))
    silent = FakeWebSocket([])
    connections.extend([silent, FakeWebSocket([b"alive"])])
    stream = FinnhubStream(_settings(idle_timeout_s=25, keepalive_interval_s=15))
    received, on_frame = _stop_after(stream, 1)
    stream.run(on_frame)
    assert received == [b"alive"]
    assert silent.closed and silent.pings >= 1


def test_stop_event_ends_the_loop_while_idle(connections):
    connections.append(FakeWebSocket([]))
    stop = threading.Event()
    stream = FinnhubStream(_settings(), stop)
    ticks = []

    def on_tick():
        ticks.append(1)
        if len(ticks) == 2:
            stop.set()

    stream.run(MagicMock(), on_tick)
    assert len(ticks) == 2


def test_too_many_symbols_is_a_clear_error():
    with pytest.raises(TooManySymbolsError, match="3 symbols configured but the Finnhub plan allows 2"):
        _settings(symbols=["A", "B", "C"], max_symbols=2)


def test_empty_symbol_list_is_a_clear_error():
    with pytest.raises(ValueError, match="set FINNHUB_SYMBOLS"):
        _settings(symbols=[])


def test_settings_repr_hides_the_token():
    assert "s3cret" not in repr(_settings())


def _recording_waits(stream, monkeypatch):
    """Backoff without jitter, and the stream's waits recorded instead of slept."""
    monkeypatch.setattr(finnhub_ws, "full_jitter", lambda value: value)
    waits = []
    monkeypatch.setattr(stream, "_wait", lambda seconds, on_tick: waits.append(seconds))
    return waits


def _closed():
    return websocket.WebSocketConnectionClosedException("server closed the connection")


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param(lambda: FakeWebSocket([_closed()]), id="accept-then-close"),
        pytest.param(lambda: ConnectionRefusedError("refused"), id="refused"),
        pytest.param(lambda: FakeWebSocket([b"frame", _closed()]), id="one-frame-then-close"),
    ],
)
def test_repeated_failures_of_any_kind_back_off_exponentially_up_to_the_cap(connections, monkeypatch, failures):
    connections.extend(failures() for _ in range(7))
    connections.append(FakeWebSocket([b"ok"]))
    stream = FinnhubStream(_settings(backoff_initial_s=0.5, backoff_max_s=8))
    waits = _recording_waits(stream, monkeypatch)

    def on_frame(raw, received_at_ms):
        if raw == b"ok":
            stream.stop_event.set()

    stream.run(on_frame)
    assert waits == [0.5, 1, 2, 4, 8, 8, 8]


def test_alternating_connect_failures_and_drops_share_one_backoff(connections, monkeypatch):
    connections.extend(
        [FakeWebSocket([_closed()]), OSError("unreachable"), FakeWebSocket([_closed()]), FakeWebSocket([b"ok"])]
    )
    stream = FinnhubStream(_settings(backoff_initial_s=1, backoff_max_s=60))
    waits = _recording_waits(stream, monkeypatch)
    _, on_frame = _stop_after(stream, 1)
    stream.run(on_frame)
    assert waits == [1, 2, 4]
    assert stream.reconnects == 2


class _TimedWebSocket(FakeWebSocket):
    """Each frame takes `step_s` of a fake monotonic clock, so a script decides how long the connection lives."""

    def __init__(self, script, clock, step_s):
        super().__init__(script)
        self._clock, self._step_s = clock, step_s

    def recv_data(self):
        self._clock[0] += self._step_s
        return super().recv_data()


def test_backoff_resets_only_after_a_connection_stayed_healthy(connections, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(finnhub_ws.time, "monotonic", lambda: clock[0])
    short = lambda: _TimedWebSocket([b"t", _closed()], clock, 1)  # noqa: E731 - up for 2 s
    long = _TimedWebSocket([b"t"] * 30 + [_closed()], clock, 5)  # up for 155 s
    connections.extend([short(), short(), short(), long, short(), FakeWebSocket([b"last"])])
    stream = FinnhubStream(_settings(backoff_initial_s=1, backoff_max_s=60, healthy_after_s=120, idle_timeout_s=600))
    waits = _recording_waits(stream, monkeypatch)
    received, on_frame = _stop_after(stream, 35)
    stream.run(on_frame)
    assert received[-1] == b"last"
    assert waits == [1, 2, 4, 1, 2]


@pytest.fixture
def accept_then_close_server():
    """A real websocket server that completes every handshake and closes at once; yields (url, accepted)."""
    accepted = []

    def handler(connection):
        accepted.append(time.monotonic())
        connection.close()

    with serve(handler, "127.0.0.1", 0, close_timeout=0.5) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/", accepted
        server.shutdown()
    thread.join(5)


def test_a_server_that_accepts_and_closes_is_not_hammered(accept_then_close_server, monkeypatch):
    url, accepted = accept_then_close_server
    monkeypatch.setattr(finnhub_ws, "full_jitter", lambda value: value)
    stream = FinnhubStream(StreamSettings(url=url, symbols=["AAPL", "MSFT"], backoff_initial_s=0.1, backoff_max_s=10))
    timer = threading.Timer(3, stream.stop_event.set)
    timer.start()
    stream.run(MagicMock())
    timer.join()
    # Waits of 0.1, 0.2, 0.4, 0.8, 1.6 s fit five connections into 3 s; a fixed 0.1 s wait allowed about 25.
    assert 3 <= len(accepted) <= 6
    gaps = [later - earlier for earlier, later in zip(accepted, accepted[1:])]
    assert gaps == sorted(gaps)


@pytest.mark.parametrize(("initial", "cap", "expected"), [(0.5, 4.0, [0.5, 1.0, 2.0, 4.0, 4.0]), (1.0, 1.0, [1.0, 1.0, 1.0])])
def test_reconnect_delays_double_up_to_their_cap(initial, cap, expected):
    delays = finnhub_ws.exponential_delays(initial, cap)
    assert [next(delays) for _ in expected] == expected


def test_full_jitter_stays_within_zero_and_the_delay():
    waits = [finnhub_ws.full_jitter(2.0) for _ in range(1000)]
    assert 0 <= min(waits) < 0.2 and 1.8 < max(waits) <= 2.0
