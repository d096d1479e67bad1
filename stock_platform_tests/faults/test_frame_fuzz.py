"""10,000 hypothesis frames through the ingest FrameHandler into the real broker.

The handler never raises; every frame that is not a ping either reached `market` as trades or the
dead-letter topic verbatim; every trade of a frame generated valid is in `market` exactly once, and what
the handler handed the producer is what Kafka holds, each message once.

CI runs a fixed (derandomized) set of examples; `STOCK_PLATFORM_SOAK=1` draws new ones each run and
`STOCK_PLATFORM_FUZZ_EXAMPLES` sets how many (see README "Fault suite").
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Producer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from stock_platform.ingest.frames import FrameHandler
from stock_platform.kafka.avro_codec import DeadLetterCodec, TradeBatchCodec
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform_tests.faults.stream_faults import report_figures
from stock_platform_tests.kafka.topics import create_topic, read_all

pytestmark = pytest.mark.faults

SOAK = os.environ.get("STOCK_PLATFORM_SOAK") == "1"
EXAMPLES = int(os.environ.get("STOCK_PLATFORM_FUZZ_EXAMPLES", "100000" if SOAK else "10000"))
NOW_MS = int(time.time() * 1000)
SYMBOLS = ["AAPL", "MSFT", "BINANCE:BTCUSDT", "OANDA:EUR_USD"]
# Valid frames' trades get unique event times counting down from here (mutated frames use the last day).
VALID_TIMES_FROM_MS = NOW_MS - 2 * 86_400_000

_valid_trade = st.fixed_dictionaries(
    {
        "s": st.sampled_from(SYMBOLS),
        "p": st.floats(min_value=0.0001, max_value=1e6),
        "t": st.integers(NOW_MS - 86_400_000, NOW_MS),
        "v": st.floats(min_value=0, max_value=1e6) | st.integers(0, 10**6),
        "c": st.none() | st.lists(st.text(alphabet="0123456789ABZ", max_size=3), max_size=4),
    }
)
_valid_frame = st.lists(_valid_trade, min_size=1, max_size=5).map(lambda trades: {"type": "trade", "data": trades})
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=6,
)
_nasty_value = (
    _json_value
    | st.sampled_from([10**400, -(10**300), 1e308, "\ud800", "AAPL\udfff", " AAPL", "", "x" * 10_000, ["\udc80"]])
    | st.integers(1, 900).map(lambda depth: json.loads("[" * depth + "]" * depth))
)


def _dumps(frame: object) -> bytes:
    return json.dumps(frame, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def _json_mutation(draw: st.DrawFn) -> bytes:
    """A valid frame with one field, one trade, the data or the type replaced by a hostile value."""
    frame = draw(_valid_frame)
    trades = frame["data"]
    index = draw(st.integers(0, len(trades) - 1))
    target = draw(st.sampled_from(["s", "p", "t", "v", "c", "type", "data", "trade", "extra"]))
    value = draw(_nasty_value)
    if target == "type":
        frame["type"] = draw(st.sampled_from(["ping", "error", "trade", "news"]) | st.just(value))
    elif target == "data":
        frame["data"] = value
    elif target == "trade":
        trades[index] = value
    elif target == "extra":
        frame[draw(st.sampled_from(["msg", "x"]))] = value
    else:
        trades[index][target] = value
    return _dumps(frame)


@st.composite
def _byte_mutation(draw: st.DrawFn) -> bytes:
    """A valid frame's bytes cut, overwritten or spliced with random or nasty bytes."""
    raw = bytearray(_dumps(draw(_valid_frame)))
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(raw)))
        operation = draw(st.sampled_from(["flip", "cut", "splice"]))
        if operation == "flip" and raw:
            raw[min(position, len(raw) - 1)] = draw(st.integers(0, 255))
        elif operation == "cut":
            raw = raw[:position]
        else:
            splice = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"[" * 5000, b"\\ud800", b"1" * 500, b"NaN", b"\x00", b"\xff", b'"', b"}"]))
            raw[position:position] = splice
    return bytes(raw)


_frames = st.one_of(
    _valid_frame.map(lambda frame: ("valid", None, frame["data"])),
    _json_mutation().map(lambda raw: ("json", raw, None)),
    _byte_mutation().map(lambda raw: ("bytes", raw, None)),
    st.binary(max_size=64).map(lambda raw: ("random", raw, None)),
    st.just(("ping", b'{"type":"ping"}', None)),
)


@dataclass
class _Recorder:
    """What the test sent and what the handler handed the producer, per topic."""

    frames: Counter = field(default_factory=Counter)
    valid_trades: Counter = field(default_factory=Counter)
    valid_count: int = 0
    dead_lettered_frames: Counter = field(default_factory=Counter)
    sent: dict[str, Counter] = field(default_factory=dict)
    silent: list[bytes] = field(default_factory=list)


class _RecordingProducer:
    """The real confluent-kafka producer, with every produce() also recorded (the handler's side of the check)."""

    def __init__(self, producer: Producer, recorder: _Recorder) -> None:
        self._producer, self._recorder = producer, recorder

    def produce(self, topic, value, key, headers, on_delivery):  # noqa: ANN001, ANN201 - confluent-kafka's signature
        self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
        self._recorder.sent.setdefault(topic, Counter())[value] += 1

    def __getattr__(self, name: str):  # noqa: ANN204 - poll, flush, purge, close pass through
        return getattr(self._producer, name)


def _trade_key(trade: dict) -> tuple:
    return trade["s"], trade["t"], float(trade["p"]), float(trade["v"]), tuple(trade["c"] or ())


def _is_empty_trade_frame(raw: bytes) -> bool:
    """The one frame that may legitimately produce nothing: a trade frame without trades."""
    try:
        return json.loads(raw) == {"type": "trade", "data": []}
    except ValueError:
        return False


def test_fuzzed_frames_never_raise_and_reach_market_or_dead_letters_exactly_once(kafka_broker, unique_name, record_property):
    market, dead_letter = unique_name("market"), unique_name("dead_letter")
    for topic in (market, dead_letter):
        create_topic(kafka_broker.bootstrap_servers, topic)
    recorder = _Recorder()
    producer = TrackedProducer(_RecordingProducer(Producer(KafkaSettings(kafka_broker.bootstrap_servers).producer_config()), recorder))
    handler = FrameHandler(producer, market, dead_letter, source="fuzz")

    @settings(
        max_examples=EXAMPLES,
        derandomize=not SOAK,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # no shrinking: every example is also a Kafka message to account for
        suppress_health_check=list(HealthCheck),
    )
    @given(_frames)
    def feed(example: tuple) -> None:
        kind, raw, valid_trades = example
        if valid_trades is not None:
            # Event times of valid frames are unique and older than any mutated frame's: their trades can be
            # counted in `market` one by one.
            for trade in valid_trades:
                recorder.valid_count += 1
                trade["t"] = VALID_TIMES_FROM_MS - recorder.valid_count
            raw = _dumps({"type": "trade", "data": valid_trades})
        before = (handler.stats.dead_letters, handler.stats.messages, handler.stats.pings)
        handler.handle(raw, NOW_MS)  # raising here fails the test: the handler must never raise
        dead, messages, pings = (now - then for now, then in zip((handler.stats.dead_letters, handler.stats.messages, handler.stats.pings), before))
        recorder.frames[kind] += 1
        if dead:
            recorder.dead_lettered_frames[raw] += 1
        if not (dead or messages or pings) and not _is_empty_trade_frame(raw):
            recorder.silent.append(raw)
        if valid_trades is not None:
            assert dead == 0, raw
            recorder.valid_trades.update(_trade_key(trade) for trade in valid_trades)

    started = time.monotonic()
    feed()
    fed_s = time.monotonic() - started
    assert producer.close(60) == 0 and producer.failed == 0, producer.last_error

    market_values = Counter(record.value() for record in read_all(kafka_broker.bootstrap_servers, market))
    dead_values = Counter(record.value() for record in read_all(kafka_broker.bootstrap_servers, dead_letter))
    market_trades = Counter(_trade_key(trade) for value in market_values.elements() for trade in TradeBatchCodec().decode(value).trades)
    payloads = Counter(DeadLetterCodec().decode(value)["payload"] for value in dead_values.elements())
    frames = sum(recorder.frames.values())
    report_figures(record_property, "fuzzed_frames", { "frames": frames, "by_kind": dict(recorder.frames), "feed_s": round(fed_s, 1),
        "dead_letters": sum(dead_values.values()), "market_messages": sum(market_values.values()),
        "valid_trades_sent": recorder.valid_count, "handler_raised": 0, "silent_frames": len(recorder.silent),
    })  # fmt: skip
    assert frames >= EXAMPLES
    assert recorder.silent == []
    # Kafka holds exactly what the handler produced: nothing lost, nothing written twice.
    assert market_values == recorder.sent.get(market, Counter())
    assert dead_values == recorder.sent.get(dead_letter, Counter())
    # Every frame dead-lettered is in the dead-letter topic with its own bytes, as often as it was sent.
    assert payloads == recorder.dead_lettered_frames
    # Every trade of a valid frame is in `market` exactly once.
    assert {key: market_trades[key] for key in recorder.valid_trades} == dict(recorder.valid_trades)
    assert all(recorder.frames[kind] > EXAMPLES // 100 for kind in ("valid", "json", "bytes", "random")), recorder.frames
