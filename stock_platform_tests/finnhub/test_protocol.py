import json

import pytest

from stock_platform.finnhub.protocol import FrameKind, classify_frame, subscribe_message, unsubscribe_message


def test_trade_frame_yields_its_trades():
    raw = json.dumps({"type": "trade", "data": [{"s": "AAPL", "p": 1.0, "t": 1, "v": 2}]})
    frame = classify_frame(raw)
    assert frame.kind is FrameKind.TRADE
    assert frame.trades == [{"s": "AAPL", "p": 1.0, "t": 1, "v": 2}]


def test_ping_is_never_a_trade():
    frame = classify_frame(b'{"type":"ping"}')
    assert frame.kind is FrameKind.PING
    assert frame.trades == []


def test_error_frame_keeps_the_message():
    frame = classify_frame('{"type":"error","msg":"Subscribing to too many symbols"}')
    assert frame.kind is FrameKind.ERROR
    assert frame.message == "Subscribing to too many symbols"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[1, 2]", "expected an object"),
        ('{"type": "trade"}', "without a 'data' array"),
        ('{"type": "trade", "data": {"s": "AAPL"}}', "without a 'data' array"),
        ('{"type": "news"}', "unknown frame type 'news'"),
        ("{}", "unknown frame type None"),
    ],
)
def test_malformed_frames_are_classified_with_a_reason(raw, reason):
    frame = classify_frame(raw)
    assert frame.kind is FrameKind.MALFORMED
    assert reason in frame.message


def test_subscription_messages_follow_finnhub_protocol():
    assert json.loads(subscribe_message("BINANCE:BTCUSDT")) == {"type": "subscribe", "symbol": "BINANCE:BTCUSDT"}
    assert json.loads(unsubscribe_message("AAPL")) == {"type": "unsubscribe", "symbol": "AAPL"}
