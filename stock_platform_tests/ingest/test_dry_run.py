"""The ingest dry run's logic: reason grouping, sampling, interval counts and formatting, with the websocket faked."""

import json
import random
import time

import pytest
import websocket

from stock_platform.finnhub.websocket import FinnhubAuthError, StreamSettings
from stock_platform.ingest.dry_run import EndpointUnreachableError, IntervalCounter, build_dry_run, run_dry_run
from stock_platform.ingest.dry_run_reasons import (
    DryRunRecorder,
    IntervalReport,
    ReasonCount,
    frame_rule,
    shown,
    trade_rule,
)
from stock_platform.ingest.frames import IngestStats
from stock_platform.ingest.runner import IngestIntervalReport, IngestTotals
from stock_platform.ingest.validation import TradeValidator
from stock_platform.kafka.avro_codec import DeadLetterCodec
from stock_platform_tests.finnhub.websocket_fakes import FakeWebSocket

NOW_MS = int(time.time() * 1000)


def _trade(symbol="AAPL", price=190.5, volume=10, event_time=NOW_MS):
    return {"s": symbol, "p": price, "v": volume, "t": event_time, "c": ["1"]}


def _frame(*trades):
    return json.dumps({"type": "trade", "data": list(trades)}).encode()


def _settings(token="s3cret"):
    return StreamSettings(url="ws://127.0.0.1:1/", symbols=["AAPL"], token=token)


def _reason(trade):
    return TradeValidator().problem(trade, NOW_MS)


@pytest.mark.parametrize(
    ("trade", "rule"),
    [
        (_trade(price=-1.0), "price is not a number in (0, 1e+09]"),
        (_trade(symbol="BINANCE:BTCUSDT", price="x"), "price is not a number in (0, 1e+09]"),
        (_trade(volume=-5), "volume is not a number in [0, 1e+12]"),
        (_trade(event_time=12), "timestamp is not plausible (before 2000 or in the future)"),
        (_trade(event_time="soon"), "timestamp is not an integer of epoch milliseconds"),
        (_trade(symbol=""), "symbol is not a non-empty string"),
        ([1, 2], "trade is a JSON list, expected an object"),
    ],
)
def test_trade_reasons_group_by_rule_without_symbol_or_value(trade, rule):
    assert trade_rule(_reason(trade)) == rule


@pytest.mark.parametrize(
    ("reason", "rule"),
    [
        ("not valid JSON: Expecting value: line 1 column 1 (char 0)", "not valid JSON"),
        ("unexpected KeyError while handling the frame: 's'", "unexpected KeyError while handling the frame"),
        ("finnhub error frame: Invalid API key", "finnhub error frame: Invalid API key"),
        ("unknown frame type 'news'", "unknown frame type 'news'"),
        ("not valid JSON: x [frame of 9 bytes truncated to fit the 100-byte message limit]", "not valid JSON"),
    ],
)
def test_frame_reasons_group_by_rule(reason, rule):
    assert frame_rule(reason) == rule


def test_shown_frames_are_cut_with_their_size_and_stay_printable():
    assert shown(b"x" * 300, limit=10) == "xxxxxxxxxx... (300 bytes)"
    assert shown(b'{"a":"\xff"}') == '{"a":"\\xff"}'
    assert shown("lone \ud800") == "lone \\xed\\xa0\\x80"


@pytest.mark.parametrize("samples", [0, 1, 3])
def test_each_interval_samples_at_most_n_of_its_own_frames(samples):
    recorder = DryRunRecorder("dead", samples, random.Random(1))
    for number in range(50):
        recorder.frame(f"first-{number}")
    _, first = recorder.drain()
    recorder.frame("second")
    _, second = recorder.drain()
    assert len(first) == samples and all(sample.startswith("first-") for sample in first)
    assert second == (["second"] if samples else [])


def test_reason_groups_are_bounded_and_the_rest_lumped_together():
    recorder = DryRunRecorder("dead", 0)
    codec = DeadLetterCodec()
    for number in range(60):
        recorder.produced("dead", codec.encode(b"{}", f"unknown frame type 'kind-{number}'", "simulator", NOW_MS))
    reasons, _ = recorder.drain()
    assert len(reasons) == 51 and (reasons[0].rule, reasons[0].count) == ("(other reasons)", 10)
    assert len(recorder.run_reasons()) == 51


def test_counts_and_reasons_match_what_the_ingest_would_produce(connections):
    frames = [
        _frame(_trade(), _trade(symbol="MSFT")),
        _frame(_trade(price=-1.0), _trade(symbol="MSFT", price=0), _trade()),
        b"not json",
        b'{"type":"error","msg":"Invalid API key"}',
        b'{"type":"ping"}',
    ]
    connections.append(FakeWebSocket(frames, idle_s=0.05))
    dry = build_dry_run(_settings(), "simulator", samples=10, dead_letter_topic="dead")
    intervals = []
    summary = run_dry_run(dry, interval_s=0.3, duration_s=1.0, emit=intervals.append)

    assert summary.final and summary.counts == {
        "frames": 5, "trades": 3, "messages": 3, "dead_letters": 3, "rejected_trades": 2,
        "pings": 1, "finnhub_errors": 1, "reconnects": 0,
    }  # fmt: skip
    assert [(group.kind, group.rule, group.count) for group in summary.reasons] == [
        ("trade", "price is not a number in (0, 1e+09]", 2),
        ("frame", "not valid JSON", 1),
        ("frame", "finnhub error frame: Invalid API key", 1),
    ]
    assert summary.reasons[0].example.startswith("AAPL: price -1.0") and '"p": -1.0' in summary.reasons[0].frame
    # Every would-be message went to the recording producer, none anywhere else.
    assert dry.recording.messages == {"market": 3, "dead": 3} and dry.producer.delivered == 0
    assert sum(interval.counts["trades"] for interval in intervals) == 3
    assert intervals[0].samples == [shown(frame) for frame in frames]


def test_ctrl_c_ends_the_run_with_its_summary(connections):
    connections.append(FakeWebSocket([_frame(_trade()), KeyboardInterrupt()], idle_s=0.05))
    intervals = []
    summary = run_dry_run(build_dry_run(_settings(), "simulator", 1), 60.0, None, intervals.append)
    assert summary.counts["trades"] == 1 and [interval.counts["trades"] for interval in intervals] == [1]


def test_an_unreachable_endpoint_is_one_line_without_the_token(connections):
    connections.append(ConnectionRefusedError("refused ws://127.0.0.1:1/?token=s3cret"))
    dry = build_dry_run(_settings(), "simulator", 1)
    with pytest.raises(EndpointUnreachableError) as raised:
        run_dry_run(dry, 1.0, 5.0, lambda report: None)
    message = str(raised.value)
    assert message.startswith("cannot connect to ws://127.0.0.1:1/ (ConnectionRefusedError")
    assert "s3cret" not in message and "\n" not in message


def test_a_rejected_token_is_an_auth_error(connections):
    connections.append(websocket.WebSocketBadStatusException("Handshake status %d %s", 401, "Unauthorized"))
    with pytest.raises(FinnhubAuthError, match="check FINNHUB_API_KEY"):
        run_dry_run(build_dry_run(_settings(), "finnhub", 1), 1.0, 5.0, lambda report: None)


def test_a_drop_after_the_first_connection_is_retried_like_the_ingest(connections):
    connections.extend([
        FakeWebSocket([_frame(_trade()), websocket.WebSocketConnectionClosedException("gone")], idle_s=0.05),
        ConnectionRefusedError("still restarting"),
        FakeWebSocket([_frame(_trade())], idle_s=0.05),
    ])  # fmt: skip
    summary = run_dry_run(build_dry_run(_settings(), "simulator", 1), 5.0, 1.5, lambda report: None)
    assert summary.counts["trades"] == 2 and summary.counts["reconnects"] == 1


def _report(**handled: int) -> IngestIntervalReport:
    return IngestIntervalReport(IngestTotals(IngestStats(**handled)), 5.0, 0, 0, 0, 0.0)


def test_interval_counts_are_deltas_and_a_frameless_sliver_is_skipped():
    now = [100.0]
    counter = IntervalCounter(DryRunRecorder("dead", 0), clock=lambda: now[0])
    now[0] = 105.0
    first = counter.interval(_report(frames=10, trades=40, messages=12))
    now[0] = 110.0
    second = counter.interval(_report(frames=15, trades=50, messages=20, reconnects=1))
    now[0] = 110.2
    assert counter.interval(_report(frames=15, trades=50, messages=20, reconnects=1)) is None
    assert (first.counts["trades"], second.counts["trades"], second.counts["messages"]) == (40, 10, 8)
    assert second.trades_per_second() == 2.0 and second.elapsed_seconds == 10.0
    summary = counter.summary()
    assert summary.final and summary.counts["trades"] == 50 and summary.interval_seconds == pytest.approx(10.2)


def test_reports_are_one_json_line_or_readable_text():
    counts = dict.fromkeys(
        ("frames", "trades", "messages", "dead_letters", "rejected_trades", "pings", "finnhub_errors", "reconnects"), 1
    )
    reasons = [ReasonCount("trade", "price is not a number in (0, 1e+09]", 2, "AAPL: price -1.0 is ...", '{"data":[]}')]
    report = IntervalReport(3, 15.0, 5.0, counts, reasons, ['{"type":"ping"}'])
    line = report.as_json()
    assert "\n" not in line
    document = json.loads(line)
    assert document["type"] == "interval" and document["interval"] == 3 and document["trades_per_second"] == 0.2
    assert document["dead_letter_reasons"][0]["count"] == 2 and document["samples"] == ['{"type":"ping"}']
    text = report.as_text()
    assert text.startswith("interval 3 (5.0 s): trades 1 (0.2/s), messages 1")
    assert "     2 trades  price is not a number in (0, 1e+09]" in text and 'sample  {"type":"ping"}' in text
    summary = IntervalReport(3, 15.0, 15.0, counts, reasons, final=True)
    assert json.loads(summary.as_json())["type"] == "summary" and "samples" not in summary.as_json()
    assert summary.as_text().endswith("nothing was sent to Kafka (dry run)")
