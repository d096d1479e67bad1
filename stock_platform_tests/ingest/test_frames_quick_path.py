"""The orjson quick path of FrameHandler must send and dead-letter exactly what the json path does."""

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from stock_platform.ingest.frames import FrameHandler
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.kafka.producer import TrackedProducer
from stock_platform_tests.fakes import FakeProducer

NOW_MS = int(time.time() * 1000)


class JsonOnlyFrameHandler(FrameHandler):
    """The handler without its quick path: every frame parsed by json and fully validated."""

    def _quickly_encoded(self, raw, received_at_ms):
        return None


# Values json reads but orjson refuses or reads differently: NaN, infinities, lone surrogates, integers beyond 64 bits.
_ODD = st.one_of(
    st.floats(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**64, 2**64 + 1, -(2**63) - 1, 10**30, float("nan"), float("inf"), "\ud800", "A\udfff"]),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_USUAL_TRADE = st.fixed_dictionaries(
    {
        "s": st.sampled_from(["AAPL", "MSFT", "BINANCE:BTCUSDT"]),
        "p": st.one_of(st.floats(0.01, 1e9), st.integers(1, 10**9)),
        "t": st.integers(NOW_MS - 10_000, NOW_MS + 200_000),
        "v": st.one_of(st.floats(0, 1e6), st.integers(0, 10**6)),
        "c": st.one_of(st.none(), st.sampled_from([["1"], [], ["1", "12"]])),
    }
)
_BAD_VALUES = st.one_of(
    _ODD, st.sampled_from([" AAPL", "", 2e9, NOW_MS + 600_000, ["x" * 40], ["\udfff"], [1], [["1"]], [{}]])
)


@st.composite
def _odd_trade(draw):
    """A usual trade with one field changed to an odd or bad value, removed, or one key added."""
    trade = draw(_USUAL_TRADE)
    name = draw(st.sampled_from([*trade, "x"]))
    if draw(st.booleans()) and name != "x":
        del trade[name]
    else:
        trade[name] = draw(_BAD_VALUES)
    return trade


_TRADE = st.one_of(_USUAL_TRADE, _USUAL_TRADE, _USUAL_TRADE, _odd_trade())
_FRAME = st.one_of(
    st.builds(lambda trades: {"type": "trade", "data": trades}, st.lists(_TRADE, max_size=5)),
    st.builds(lambda data: {"type": "trade", "data": data}, _ODD),
    st.builds(lambda kind: {"type": kind}, st.sampled_from(["ping", "error", "trade", 7])),
)


def _handled(handler_class, raw):
    producer = FakeProducer()
    handler = handler_class(TrackedProducer(producer), "market", "market.dead_letter", source="simulator")
    handler.handle(raw, NOW_MS)
    return producer.produced, handler.stats


@settings(max_examples=1500, deadline=None)
@given(frame=_FRAME, ascii_only=st.booleans(), as_bytes=st.booleans())
def test_the_quick_path_sends_and_dead_letters_what_the_json_path_does(frame, ascii_only, as_bytes):
    raw = json.dumps(frame, ensure_ascii=ascii_only)
    if as_bytes:
        raw = raw.encode("utf-8", "surrogatepass")
    assert _handled(FrameHandler, raw) == _handled(JsonOnlyFrameHandler, raw)


def test_usual_trade_frames_take_the_quick_path():
    trade = {"s": "AAPL", "p": 190.5, "t": NOW_MS - 5, "v": 3, "c": ["1"]}
    raw = json.dumps({"type": "trade", "data": [trade, {**trade, "s": "MSFT"}, {**trade, "t": NOW_MS}]}).encode()
    messages = FrameHandler(TrackedProducer(FakeProducer()), "m", "m.dl", source="x")._quickly_encoded(raw, NOW_MS)
    codec = TradeBatchCodec()
    assert messages == [
        (b"AAPL", codec.encode([trade, {**trade, "t": NOW_MS}], NOW_MS, "x"), [NOW_MS - 5, NOW_MS]),
        (b"MSFT", codec.encode([{**trade, "s": "MSFT"}], NOW_MS, "x"), [NOW_MS - 5]),
    ]
