from __future__ import annotations

import pytest

from stock_platform_local.simulator import load_recording
from stock_platform_local.simulator.record import main, masked

TOKEN = "rec-token-123"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("wss://ws.finnhub.io?token=abc", "wss://ws.finnhub.io?token=***"),
        ("ws://127.0.0.1:1/?a=1&token=abc", "ws://127.0.0.1:1/?a=1&token=***"),
        ("ws://127.0.0.1:1/", "ws://127.0.0.1:1/"),
    ],
)
def test_masked_hides_the_token(url, expected):
    assert masked(url) == expected


def test_recorder_writes_every_frame_verbatim(start_simulator, tmp_path, capsys):
    sim = start_simulator(rate=1000, token=TOKEN, ping_interval_s=0.1, sent_log_path=tmp_path / "sent.jsonl")
    out = tmp_path / "frames.jsonl"

    code = main(
        ["--symbols", "AAPL,BINANCE:BTCUSDT", "--seconds", "0.5", "--out", str(out)],
        {"FINNHUB_WS_URL": sim.ws_url, "FINNHUB_API_KEY": TOKEN},
    )

    recorded = [frame.text for frame in load_recording(out)]
    sent = [frame.text for frame in load_recording(tmp_path / "sent.jsonl")]
    stderr = capsys.readouterr().err
    assert code == 0
    assert '{"type":"ping"}' in recorded
    trades = [text for text in recorded if text != '{"type":"ping"}']
    assert trades and trades == sent[: len(trades)]
    assert "recorded" in stderr and "token=***" in stderr and TOKEN not in stderr


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [({}, "FINNHUB_API_KEY is not set"), ({"FINNHUB_API_KEY": "wrong-token"}, "rejected the token")],
)
def test_recorder_errors_are_one_line_without_the_token(start_simulator, tmp_path, capsys, environ, complaint):
    sim = start_simulator(token=TOKEN)

    code = main(
        ["--symbols", "AAPL", "--seconds", "0.2", "--out", str(tmp_path / "f.jsonl")],
        {"FINNHUB_WS_URL": sim.ws_url, **environ},
    )

    stderr = capsys.readouterr().err
    assert code == 1
    assert complaint in stderr and len(stderr.strip().splitlines()) == 1
    assert "wrong-token" not in stderr and TOKEN not in stderr


def test_recorder_refuses_an_empty_symbol_list(tmp_path, capsys):
    code = main(["--symbols", " , ", "--out", str(tmp_path / "f.jsonl")], {"FINNHUB_API_KEY": TOKEN})

    assert code == 1 and "--symbols is empty" in capsys.readouterr().err
