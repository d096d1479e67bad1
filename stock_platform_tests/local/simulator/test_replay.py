from __future__ import annotations

import json
import time

import pytest

from stock_platform_local.simulator import RecordingError, SimulatorConfig, load_recording, recording_line
from stock_platform_tests.local.simulator.helpers import wait_for

AAPL_FRAME = '{"data":[{"c":["1"],"p":190.01,"s":"AAPL","t":1700000000000,"v":5}],"type":"trade"}'
MSFT_FRAME = '{"data":[{"c":null,"p":420.5,"s":"MSFT","t":1700000000001,"v":1}],"type":"trade"}'
MIXED_FRAME = (
    '{"data":[{"p":190.02,"s":"AAPL","t":1700000000002,"v":7},{"p":420.6,"s":"MSFT","t":1700000000002,"v":2}],'
    '"type":"trade"}'
)
MALFORMED = '{"data":[{"p":"oops","s":"AAPL"'
PING = '{"type":"ping"}'


def _write_recording(path, frames, gap_ms=0):
    path.write_text(
        "".join(recording_line(1_700_000_000_000 + i * gap_ms, frame) + "\n" for i, frame in enumerate(frames))
    )
    return path


def test_fast_replay_sends_frames_verbatim_to_subscribers_of_their_symbols(start_simulator, connect, tmp_path):
    recording = _write_recording(tmp_path / "frames.jsonl", [AAPL_FRAME, MSFT_FRAME, MALFORMED, MIXED_FRAME, PING])
    sim = start_simulator(replay_path=recording, replay_paced=False, start_paused=True)
    msft_only = connect(sim.ws_url)
    msft_only.subscribe("MSFT")
    aapl_only = connect(sim.ws_url)
    aapl_only.subscribe("AAPL")
    wait_for(lambda: sim.stats()["subscriptions"] == {"AAPL": 1, "MSFT": 1})
    sim.resume()

    assert aapl_only.frames_for(0.5) == [AAPL_FRAME, MALFORMED, MIXED_FRAME, PING]
    assert msft_only.frames_for(0.2) == [MSFT_FRAME, MALFORMED, MIXED_FRAME, PING]
    stats = sim.stats()
    assert stats["replay_passes"] == 1
    # the mixed frame went to both clients, carrying one trade of each symbol each time
    assert stats["per_symbol"] == {"AAPL": {"frames": 3, "trades": 3}, "MSFT": {"frames": 3, "trades": 3}}


def test_replay_waits_for_a_subscriber(start_simulator, connect, tmp_path):
    recording = _write_recording(tmp_path / "frames.jsonl", [AAPL_FRAME, MIXED_FRAME])
    sim = start_simulator(replay_path=recording, replay_paced=False)
    time.sleep(0.2)
    client = connect(sim.ws_url)
    client.subscribe("AAPL")

    assert client.frames_for(0.4) == [AAPL_FRAME, MIXED_FRAME]


def test_paced_replay_keeps_the_recorded_gaps(start_simulator, connect, tmp_path):
    recording = _write_recording(tmp_path / "frames.jsonl", [AAPL_FRAME] * 4, gap_ms=100)
    sim = start_simulator(replay_path=recording, replay_paced=True)
    client = connect(sim.ws_url)
    client.subscribe("AAPL")

    client.recv_text()
    started = time.monotonic()
    rest = [client.recv_text() for _ in range(3)]

    assert rest == [AAPL_FRAME] * 3
    assert time.monotonic() - started >= 0.25


def test_looping_replay_starts_over(start_simulator, connect, tmp_path):
    recording = _write_recording(tmp_path / "frames.jsonl", [AAPL_FRAME, MIXED_FRAME])
    sim = start_simulator(replay_path=recording, replay_paced=False, replay_loop=True)
    client = connect(sim.ws_url)
    client.subscribe("AAPL")

    frames = [client.recv_text() for _ in range(6)]

    assert frames == [AAPL_FRAME, MIXED_FRAME] * 3


def test_sent_log_can_be_replayed(start_simulator, connect, tmp_path):
    log = tmp_path / "sent.jsonl"
    sim = start_simulator(rate=2000, sent_log_path=log)
    client = connect(sim.ws_url)
    client.subscribe("AAPL")
    received = client.frames_for(0.3)
    sim.pause()
    received += client.frames_for(0.2)

    assert [frame.text for frame in load_recording(log)] == received


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json\n", "line 1"),
        (json.dumps({"frame": "x"}) + "\n", "line 1"),
        (recording_line(1, "ok") + "\n" + json.dumps({"received_at_ms": "1", "frame": "x"}) + "\n", "line 2"),
        ("\n", "no frames"),
    ],
)
def test_bad_recording_is_refused_with_the_line(tmp_path, content, complaint):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)

    with pytest.raises(RecordingError, match=complaint):
        load_recording(path)


def test_missing_replay_file_is_a_config_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        SimulatorConfig(replay_path=tmp_path / "absent.jsonl")
