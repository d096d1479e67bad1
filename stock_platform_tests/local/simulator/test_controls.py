from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
import websocket

from stock_platform_tests.local.simulator.helpers import WsClient, trade_frames, wait_for


@pytest.mark.parametrize("abort", [False, True])
def test_drop_disconnects_every_client_and_reconnecting_works(start_simulator, connect, abort):
    sim = start_simulator(rate=500)
    clients = [connect(sim.ws_url) for _ in range(2)]
    for client in clients:
        client.subscribe("AAPL")
    clients[0].next_matching(lambda frame: frame.get("type") == "trade")

    answer = requests.post(f"{sim.admin_url}/drop", params={"abort": int(abort)}, timeout=5).json()

    assert answer == {"dropped": 2}
    for client in clients:
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:
                client.recv_text()
    again = connect(sim.ws_url)
    again.subscribe("AAPL")
    again.next_matching(lambda frame: frame.get("type") == "trade")
    assert sim.stats()["connections"] == 1


@pytest.mark.parametrize("body", ['{"type":"trade","data":[{"p":"oops"}]}', "}{ not json", ""])
def test_inject_sends_the_raw_frame_to_every_client(start_simulator, connect, body):
    sim = start_simulator()
    clients = [connect(sim.ws_url) for _ in range(2)]
    wait_for(lambda: sim.stats()["connections"] == 2)

    answer = requests.post(f"{sim.admin_url}/inject", data=body.encode(), timeout=5).json()

    assert answer == {"sent_to": 2}
    assert [client.recv_text() for client in clients] == [body, body]


def test_pause_stops_trades_until_resume(start_simulator, connect):
    sim = start_simulator(rate=2000, ping_interval_s=0.1)
    client = connect(sim.ws_url)
    client.subscribe("AAPL")
    client.next_matching(lambda frame: frame.get("type") == "trade")

    assert requests.post(f"{sim.admin_url}/pause", timeout=5).json() == {"paused": True}
    client.frames_for(0.1)  # frames already in flight
    paused_frames = client.frames_for(0.4)

    assert trade_frames(paused_frames) == [] and paused_frames  # pings keep coming
    requests.post(f"{sim.admin_url}/resume", timeout=5)
    client.next_matching(lambda frame: frame.get("type") == "trade")


def test_stats_count_exactly_what_arrived_per_symbol(start_simulator, connect):
    sim = start_simulator(rate=5000, frame_size=25)
    client = connect(sim.ws_url)
    client.subscribe("AAPL", "MSFT", "BINANCE:ETHUSDT")
    received = client.frames_for(0.5)
    sim.pause()
    received += client.frames_for(0.3)

    stats = requests.get(f"{sim.admin_url}/stats", timeout=5).json()
    frames = trade_frames(received)
    trades = Counter(trade["s"] for frame in frames for trade in frame["data"])
    frames_by_symbol = Counter(symbol for frame in frames for symbol in {trade["s"] for trade in frame["data"]})

    assert stats["trade_frames_sent"] == len(frames)
    assert stats["trades_sent"] == sum(trades.values())
    assert stats["per_symbol"] == {
        symbol: {"frames": frames_by_symbol[symbol], "trades": trades[symbol]} for symbol in trades
    }
    assert stats["connections"] == 1 and stats["paused"] is True


def test_sent_log_holds_every_frame_sent(start_simulator, tmp_path):
    log = tmp_path / "sent.jsonl"
    sim = start_simulator(rate=3000, sent_log_path=log)
    client = WsClient(sim.ws_url)
    client.subscribe("AAPL", "NVDA")
    received = client.frames_for(0.4)
    sim.pause()
    received += client.frames_for(0.2)
    client.close()

    logged = [json.loads(line) for line in log.read_text().splitlines()]

    assert [entry["frame"] for entry in logged] == received
    assert all(entry["connection"] == 1 and isinstance(entry["received_at_ms"], int) for entry in logged)


@pytest.mark.parametrize(
    "body",
    ['{"status": 200}', '{"status": 500, "count": 0}', '{"status": 503, "retry_after_s": "soon"}', "[1]", "nope"],
)
def test_invalid_rest_failure_plan_is_refused(start_simulator, body):
    sim = start_simulator()

    response = requests.post(f"{sim.admin_url}/rest-failures", data=body, timeout=5)

    assert response.status_code == 422 and response.json()["error"]
