from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

from stock_platform_tests.local.simulator.helpers import symbols_in, trade_frames


def test_client_receives_only_symbols_it_subscribed_to(start_simulator, connect):
    sim = start_simulator(rate=2000)
    other = connect(sim.ws_url)
    other.subscribe("MSFT", "BINANCE:BTCUSDT")
    client = connect(sim.ws_url)
    client.subscribe("AAPL")

    assert symbols_in(client.frames_for(0.5)) == {"AAPL"}
    assert symbols_in(other.frames_for(0.3)) == {"MSFT", "BINANCE:BTCUSDT"}


def test_unsubscribe_stops_that_symbol(start_simulator, connect):
    sim = start_simulator(rate=2000)
    client = connect(sim.ws_url)
    client.subscribe("AAPL", "MSFT")
    assert symbols_in(client.frames_for(0.3)) == {"AAPL", "MSFT"}

    client.unsubscribe("MSFT")
    client.next_matching(lambda frame: frame.get("type") == "trade" and {t["s"] for t in frame["data"]} == {"AAPL"})

    assert symbols_in(client.frames_for(0.3)) == {"AAPL"}
    assert sim.stats()["subscriptions"] == {"AAPL": 1}


def test_trades_look_like_finnhub_trades(start_simulator, connect):
    sim = start_simulator(rate=3000, frame_size=20)
    client = connect(sim.ws_url)
    client.subscribe("AAPL", "BINANCE:BTCUSDT", "ZZZQ")
    frames = trade_frames(client.frames_for(0.6))
    trades = [trade for frame in frames for trade in frame["data"]]

    assert frames and all(1 <= len(frame["data"]) <= 20 for frame in frames)
    now_ms = time.time() * 1000
    for trade in trades:
        assert set(trade) == {"c", "p", "s", "t", "v"}
        assert trade["p"] > 0 and trade["v"] > 0 and abs(trade["t"] - now_ms) < 5000
    equities = [trade for trade in trades if trade["s"] == "AAPL"]
    crypto = [trade for trade in trades if trade["s"] == "BINANCE:BTCUSDT"]
    assert all(isinstance(t["v"], int) and isinstance(t["c"], list) and 150 < t["p"] < 250 for t in equities)
    assert all(t["c"] is None and t["v"] < 10 and 40_000 < t["p"] < 80_000 for t in crypto)
    for symbol in ("AAPL", "BINANCE:BTCUSDT", "ZZZQ"):
        times = [trade["t"] for trade in trades if trade["s"] == symbol]
        assert times and times == sorted(times)


def test_pings_arrive_every_interval(start_simulator, connect):
    sim = start_simulator(ping_interval_s=0.1)
    client = connect(sim.ws_url)

    pings = [frame for frame in client.frames_for(0.5) if json.loads(frame) == {"type": "ping"}]

    assert len(pings) >= 2


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("not json", "not JSON"),
        ('["subscribe", "AAPL"]', "JSON object"),
        ('{"type": "subscribe"}', "symbol"),
        ('{"type": "subscribe", "symbol": ""}', "symbol"),
        ('{"type": "subscribe", "symbol": 42}', "symbol"),
        ('{"type": "quote", "symbol": "AAPL"}', "type must be"),
    ],
)
def test_invalid_message_gets_an_error_frame(start_simulator, connect, message, complaint):
    sim = start_simulator()
    client = connect(sim.ws_url)
    client.send(message)

    error = client.next_matching(lambda frame: frame.get("type") == "error")

    assert complaint in error["msg"]
    assert sim.stats()["subscriptions"] == {}


@pytest.mark.parametrize("query", ["", "?token=wrong"])
def test_wrong_or_missing_token_is_rejected_with_401(start_simulator, query):
    sim = start_simulator(token="secret-token")

    with pytest.raises(websocket.WebSocketBadStatusException) as rejected:
        websocket.create_connection(sim.ws_url + query, timeout=5)

    assert rejected.value.status_code == 401
    assert sim.stats()["connections_rejected"] == 1


def test_right_token_is_accepted(start_simulator, connect):
    sim = start_simulator(token="secret-token", rate=500)
    client = connect(sim.ws_url + "?token=secret-token")
    client.subscribe("AAPL")

    assert symbols_in(client.frames_for(0.3)) == {"AAPL"}


def test_subscriptions_beyond_the_limit_are_refused_with_an_error(start_simulator, connect):
    sim = start_simulator(max_symbols=2)
    client = connect(sim.ws_url)
    client.subscribe("AAPL", "MSFT", "NVDA")

    error = client.next_matching(lambda frame: frame.get("type") == "error")

    assert "too many symbols" in error["msg"] and "NVDA" in error["msg"]
    assert sim.stats()["subscriptions"] == {"AAPL": 1, "MSFT": 1}


def test_plain_http_on_the_websocket_path_is_told_to_upgrade(start_simulator):
    sim = start_simulator()

    response = requests.get(f"http://127.0.0.1:{sim.port}/", timeout=5)

    assert response.status_code == 426
