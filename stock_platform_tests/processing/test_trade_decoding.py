from datetime import date, datetime, timezone

import pytest

from stock_platform.kafka.avro_codec import TRADE_BATCH_SCHEMA, TradeBatchCodec
from stock_platform.models import make_trade_id
from stock_platform.processing.trade_decoding import TradeDecoder

NOW_S = 1_760_000_100.0
T0 = 1_760_000_000_000
SCHEMA = TRADE_BATCH_SCHEMA.encode()


def _utc_day(symbol: str, event_time_ms: int) -> date:
    return datetime.fromtimestamp(event_time_ms / 1000, timezone.utc).date()


def _decoder() -> TradeDecoder:
    return TradeDecoder("market", _utc_day, clock=lambda: NOW_S)


def _encode(trades, received_at=T0 + 500):
    return TradeBatchCodec().encode(trades, received_at, "simulator")


def test_valid_batch_becomes_rows_with_kafka_derived_ids_and_trading_days():
    trades = [
        {"s": "AAPL", "p": 190.25, "t": T0, "v": 10.0, "c": ["1"]},
        {"s": "AAPL", "p": 190.5, "t": T0, "v": 5.0, "c": None},
    ]
    decoded = _decoder().decode(3, 42, T0, b"AAPL", _encode(trades), SCHEMA)
    assert decoded.dead_letter is None
    assert [row.trade_id for row in decoded.rows] == [make_trade_id("market", 3, 42, 0), make_trade_id("market", 3, 42, 1)]
    first = decoded.rows[0]
    assert (first.symbol, first.price, first.volume, first.conditions) == ("AAPL", 190.25, 10.0, ("1",))
    assert (first.trading_day, first.received_at_ms, first.kafka_partition, first.kafka_offset) == (
        _utc_day("AAPL", T0), T0 + 500, 3, 42,
    )
    assert decoded.rows[1].conditions is None


def test_decoding_the_same_message_twice_gives_the_same_rows():
    value = _encode([{"s": "MSFT", "p": 410.0, "t": T0, "v": 1.0, "c": None}])
    first, second = (_decoder().decode(0, 7, T0, b"MSFT", value, SCHEMA) for _ in range(2))
    assert first.rows == second.rows and first.rows


@pytest.mark.parametrize(
    ("trade", "reason"),
    [
        ({"s": "AAPL", "p": -1.0, "t": T0, "v": 1.0, "c": None}, "price -1.0"),
        ({"s": "AAPL", "p": 1.0, "t": int(NOW_S * 1000) + 3_600_000, "v": 1.0, "c": None}, "not plausible"),
        ({"s": "MSFT", "p": 1.0, "t": T0, "v": 1.0, "c": None}, "differs from the message key"),
    ],
)
def test_trades_failing_revalidation_become_one_dead_letter_and_keep_their_position(trade, reason):
    good = {"s": "AAPL", "p": 1.0, "t": T0, "v": 1.0, "c": None}
    value = _encode([trade, good])
    decoded = _decoder().decode(1, 9, T0, b"AAPL", value, SCHEMA)
    assert [row.trade_id for row in decoded.rows] == [make_trade_id("market", 1, 9, 1)]
    assert decoded.rejected_trades == 1
    assert decoded.dead_letter.key == b"market/1/9/%d" % T0
    letter = decoded.dead_letter.letter
    assert letter.payload == value
    assert "market[1]@9: 1 of 2 trades rejected: data[0]:" in letter.reason and reason in letter.reason
    assert letter.source == "stream_processor"


VALID = _encode([{"s": "AAPL", "p": 1.0, "t": T0, "v": 1.0, "c": None}])


@pytest.mark.parametrize(
    ("key", "value", "schema", "reason"),
    [
        (b"AAPL", b"\x01\x02garbage", SCHEMA, "not a decodable TradeBatch"),
        (b"AAPL", VALID[:-3], SCHEMA, "not a decodable TradeBatch"),
        (b"AAPL", b"x", b"market.TradeBatch/v99", "unknown schema"),
        (b"AAPL", VALID, b"\xff\xfe", "UnicodeDecodeError"),
        (b"AAPL", VALID, None, "message has no 'schema' header"),
        (None, VALID, SCHEMA, "message has no key"),
        (b"AAPL", None, SCHEMA, "message has no value"),
    ],
)
def test_unreadable_messages_become_dead_letters_keyed_by_their_source_message(key, value, schema, reason):
    decoded = _decoder().decode(0, 1, T0 + 3, key, value, schema)
    assert decoded.rows == []
    assert decoded.dead_letter.key == b"market/0/1/%d" % (T0 + 3)
    assert decoded.dead_letter.letter.reason.startswith("market[0]@1: ") and reason in decoded.dead_letter.letter.reason
    assert decoded.dead_letter.letter.payload == (value or b"")


@pytest.mark.parametrize(
    ("trade", "reason"),
    [
        ({"s": "AAPL", "p": float("nan"), "t": T0, "v": 1.0, "c": None}, "price nan"),
        ({"s": "AAPL", "p": 1.0, "t": T0, "v": float("inf"), "c": None}, "volume inf"),
        ({"s": "AAPL", "p": 1.0, "t": 946_684_799_999, "v": 1.0, "c": None}, "not plausible"),
        ({"s": "AAPL", "p": 1.0, "t": T0, "v": 1.0, "c": ["x" * 33]}, "conditions"),
        ({"s": "AAPL", "p": 1.0, "t": T0, "v": 1.0, "c": ["1"] * 33}, "conditions"),
    ],
)
def test_trades_the_quick_checks_doubt_are_judged_by_the_full_validator(trade, reason):
    decoded = _decoder().decode(0, 1, T0, b"AAPL", _encode([trade]), SCHEMA)
    assert decoded.rows == [] and reason in decoded.dead_letter.letter.reason


@pytest.mark.parametrize(("conditions", "stored"), [(["é", "1"], ("é", "1")), ([], ()), (None, None)])
def test_conditions_the_validator_accepts_are_kept_as_tuples(conditions, stored):
    decoder = _decoder()
    for offset in range(2):  # the second time from the decoder's memory of valid condition lists
        value = _encode([{"s": "AAPL", "p": 1.0, "t": T0, "v": 1.0, "c": conditions}])
        [row] = decoder.decode(0, offset, T0, b"AAPL", value, SCHEMA).rows
        assert row.conditions == stored
