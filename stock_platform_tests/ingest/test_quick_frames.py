"""QuickFrameEncoder takes exactly the frames the validator's quick check passes, and writes what TradeBatchCodec does."""

import math
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stock_platform.ingest.quick_frames import QuickFrameEncoder
from stock_platform.ingest.validation import EARLIEST_PLAUSIBLE_MS, TradeLimits, TradeValidator
from stock_platform.kafka.avro_codec import TradeBatchCodec

NOW_MS = int(time.time() * 1000)
_LIMITS = TradeLimits()
_ROOM = 1_000_000
_SKEW = _LIMITS.max_future_skew_ms


def _encoder(limits=_LIMITS, source="simulator", room=_ROOM):
    return QuickFrameEncoder(TradeValidator(limits, clock=lambda: NOW_MS / 1000), source, room)


def _trade(s="AAPL", p=190.5, t=NOW_MS - 5, v=3, c=("1",)):
    return {"s": s, "p": p, "t": t, "v": v, "c": list(c) if isinstance(c, tuple) else c}


def _expected(trades, received_at_ms=NOW_MS, source="simulator"):
    """Per symbol in order of first appearance: what the codec writes for its trades, and their event times."""
    by_symbol = {}
    for trade in trades:
        by_symbol.setdefault(trade["s"], []).append(trade)
    codec = TradeBatchCodec()
    return [
        (symbol.encode(), codec.encode(group, received_at_ms, source), [trade["t"] for trade in group])
        for symbol, group in by_symbol.items()
    ]


def test_a_usual_frame_becomes_one_message_per_symbol_in_order_of_first_appearance():
    trades = [_trade(), _trade("MSFT", c=None), _trade(t=NOW_MS - 200, c=("1", "12")), _trade("BINANCE:BTCUSDT", v=0.5)]
    assert _encoder()(trades, NOW_MS) == _expected(trades)


@pytest.mark.parametrize(
    "trade",
    [
        _trade(p=_LIMITS.max_price),
        _trade(p=5e-324),
        _trade(p=1),
        _trade(v=0),
        _trade(v=-0.0),
        _trade(v=_LIMITS.max_volume),
        _trade(v=int(_LIMITS.max_volume)),
        _trade(t=EARLIEST_PLAUSIBLE_MS),
        _trade(t=NOW_MS + _SKEW),
        _trade(s="X" * 64),
        _trade(s="é"),
        _trade(c=()),
        _trade(c=("1",) * _LIMITS.max_conditions),
        _trade(c=("x" * _LIMITS.max_condition_chars,)),
        _trade(c=("é",)),
    ],
)
def test_a_trade_at_the_edge_of_every_limit_is_taken_and_written_as_the_codec_does(trade):
    assert _encoder()([trade], NOW_MS) == _expected([trade])


@pytest.mark.parametrize(
    "trade",
    [
        _trade(p=0),
        _trade(p=0.0),
        _trade(p=-1.0),
        _trade(p=math.nextafter(_LIMITS.max_price, math.inf)),
        _trade(p=math.nan),
        _trade(p=math.inf),
        _trade(p=True),
        _trade(p="190.5"),
        _trade(p=None),
        _trade(v=-5e-324),
        _trade(v=math.nextafter(_LIMITS.max_volume, math.inf)),
        _trade(v=math.nan),
        _trade(v=False),
        _trade(t=EARLIEST_PLAUSIBLE_MS - 1),
        _trade(t=NOW_MS + _SKEW + 1),
        _trade(t=float(NOW_MS)),
        _trade(t=True),
        _trade(s=""),
        _trade(s=" AAPL"),
        _trade(s="AAPL "),
        _trade(s="X" * 65),
        _trade(s="\ud800"),
        _trade(s=7),
        _trade(s=None),
        _trade(s=["AAPL"]),
        _trade(s={"AAPL": 1}),
        _trade(c=("1",) * (_LIMITS.max_conditions + 1)),
        _trade(c=("x" * (_LIMITS.max_condition_chars + 1),)),
        _trade(c=("\udfff",)),
        _trade(c=(1,)),
        _trade(c=(["1"],)),
        _trade(c=({},)),
        _trade(c="1"),
        _trade(c={"1": 1}),
        {key: value for key, value in _trade().items() if key != "c"},  # valid, but the full path writes the default
        {**_trade(), "x": 1},  # valid, but a key the quick path does not read
        ["AAPL", 190.5],
        "AAPL",
        None,
    ],
)
def test_a_trade_outside_any_limit_or_shape_leaves_the_whole_frame_to_the_full_path(trade):
    encoder = _encoder()
    assert encoder([_trade(), trade], NOW_MS) is None
    assert encoder([trade, _trade()], NOW_MS) is None


def test_a_string_of_a_known_condition_code_is_no_condition_list():
    # tuple("1") is the key of the known list ["1"]: only the type check tells the string from the list.
    encoder = _encoder()
    assert encoder([_trade(c=("1",))], NOW_MS) is not None
    assert encoder([_trade(c=("1",)), _trade(c="1")], NOW_MS) is None
    assert encoder([_trade(c="1")], NOW_MS) is None


def test_limits_of_the_validator_are_the_quick_paths():
    limits = TradeLimits(max_price=10.0, max_volume=5.0, max_future_skew_ms=0, max_conditions=1, max_condition_chars=2)
    encoder = _encoder(limits)
    assert encoder([_trade(p=10.0, v=5.0, t=NOW_MS, c=("12",))], NOW_MS) is not None
    for trade in [_trade(p=10.5, v=5), _trade(p=1, v=5.5), _trade(p=1, v=1, t=NOW_MS + 1), _trade(p=1, v=1, c=("123",))]:
        assert encoder([trade], NOW_MS) is None


def test_with_unbounded_limits_infinities_and_ints_beyond_doubles_go_the_full_way():
    encoder = _encoder(TradeLimits(max_price=math.inf, max_volume=math.inf))
    assert encoder([_trade(p=1e300, v=1e300)], NOW_MS) is None  # above 2**53: checked and written the full way
    for trade in [_trade(p=math.inf), _trade(v=math.inf), _trade(p=2**53 + 1), _trade(v=2**64)]:
        assert encoder([trade], NOW_MS) is None
    assert encoder([_trade(p=2**53, v=2**53)], NOW_MS) == _expected([_trade(p=2**53, v=2**53)])


def test_a_nan_limit_takes_no_frame():
    assert _encoder(TradeLimits(max_price=math.nan))([_trade()], NOW_MS) is None


def test_a_message_that_would_not_fit_leaves_the_frame_to_the_full_path_which_splits_it():
    trades = [_trade(), _trade()]
    [(key, value, _)] = _expected(trades)
    assert _encoder(room=len(value) + len(key))(trades, NOW_MS) is not None
    assert _encoder(room=len(value) + len(key) - 1)(trades, NOW_MS) is None


def test_a_source_that_cannot_be_written_takes_no_frame():
    assert _encoder(source="\ud800")([_trade()], NOW_MS) is None


@pytest.mark.parametrize("received_at_ms", [2**41, 2**45, 2**63 - 1])
def test_times_beyond_the_six_byte_varints_are_written_as_the_codec_does(received_at_ms):
    trades = [_trade(t=received_at_ms - 1), _trade(t=NOW_MS), _trade(t=min(received_at_ms + _SKEW, 2**63 - 1))]
    assert _encoder()(trades, received_at_ms) == _expected(trades, received_at_ms)


@pytest.mark.parametrize("received_at_ms", [2**63, NOW_MS + 0.5, None])
def test_a_receipt_time_that_is_no_avro_long_takes_no_frame(received_at_ms):
    assert _encoder()([_trade()], received_at_ms) is None


@pytest.mark.parametrize("count", [63, 64, 200])
def test_symbols_with_many_trades_in_a_frame_are_written_as_the_codec_does(count):
    trades = [_trade(t=NOW_MS - 10_000 + 97 * n, c=("1",) if n % 3 else None) for n in range(count)]
    assert _encoder()(trades, NOW_MS) == _expected(trades)


_ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=70),
    st.lists(st.text(max_size=40), max_size=40),
    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)), max_size=3),
    st.sampled_from([
        "AAPL", " AAPL", "", "\ud800", "BINANCE:BTCUSDT", 190.5, 0, 1e9, 1e12, 2**53, NOW_MS, NOW_MS + _SKEW,
        NOW_MS + _SKEW + 1, EARLIEST_PLAUSIBLE_MS - 1, ["1"], "1", ["x" * 33], ["1"] * 33,
    ]),
)  # fmt: skip
_USUAL = st.builds(
    _trade,
    s=st.sampled_from(["AAPL", "MSFT", "BINANCE:BTCUSDT", "é"]),
    p=st.one_of(st.floats(0.01, 1e9), st.integers(1, 10**9)),
    t=st.integers(EARLIEST_PLAUSIBLE_MS, NOW_MS + _SKEW),
    v=st.one_of(st.floats(0, 1e12), st.integers(0, 10**12)),
    c=st.one_of(st.none(), st.sampled_from([("1",), (), ("1", "12")])),
)
_ODD = st.one_of(
    st.builds(_trade, s=_ANY_VALUE, p=_ANY_VALUE, t=_ANY_VALUE, v=_ANY_VALUE, c=_ANY_VALUE),
    st.dictionaries(st.sampled_from(["s", "p", "t", "v", "c", "x"]), _ANY_VALUE, max_size=6),
    _ANY_VALUE,
)
_FRAME = st.lists(st.one_of(_USUAL, _USUAL, _ODD), max_size=6)


@settings(max_examples=1500, deadline=None)
@given(trades=_FRAME)
def test_a_frame_is_taken_exactly_when_the_quick_check_passes_every_trade_of_the_written_shape(trades):
    encoder = _encoder()
    for _ in range(2):  # the second time from the encoder's and validator's memories
        messages = encoder(trades, NOW_MS)
        fresh = TradeValidator(clock=lambda: NOW_MS / 1000)
        written_shape = all(type(trade) is dict and sorted(trade) == ["c", "p", "s", "t", "v"] for trade in trades)
        assert (messages is not None) == (written_shape and all(fresh.accepts(trade, NOW_MS) for trade in trades))
        if messages is not None:
            # The mutation-minded half: nothing the full check would reject is ever sent from here.
            assert all(fresh.problem(trade, NOW_MS) is None for trade in trades)
            assert messages == _expected(trades)


@settings(max_examples=500, deadline=None)
@given(trades=st.lists(_USUAL, max_size=8))
def test_frames_parsed_by_orjson_are_written_as_the_codec_writes_them(trades):
    parsed = orjson.loads(orjson.dumps(trades))
    assert _encoder()(parsed, NOW_MS) == _expected(parsed)
