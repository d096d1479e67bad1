from datetime import date, datetime, timezone

import pytest

from stock_platform.core.avro_codec import TRADE_BATCH_SCHEMA, TradeBatchCodec
from stock_platform.core.models import make_trade_id
from stock_platform.core.trade_decoding import TradeDecoder

NOW_S = 1_760_000_100.0
T0 = 1_760_000_000_000


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
    decoded = _decoder().decode(3, 42, b"AAPL", _encode(trades), TRADE_BATCH_SCHEMA)
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
    assert _decoder().decode(0, 7, b"MSFT", value, None).rows == _decoder().decode(0, 7, b"MSFT", value, None).rows


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
    decoded = _decoder().decode(1, 9, b"AAPL", value, TRADE_BATCH_SCHEMA)
    assert [row.trade_id for row in decoded.rows] == [make_trade_id("market", 1, 9, 1)]
    assert decoded.rejected_trades == 1
    letter = decoded.dead_letter
    assert letter.payload == value
    assert "market[1]@9: 1 of 2 trades rejected: data[0]:" in letter.reason and reason in letter.reason
    assert letter.source == "stream_processor"


@pytest.mark.parametrize(
    ("value", "schema", "reason"),
    [
        (b"\x01\x02garbage", TRADE_BATCH_SCHEMA, "not a decodable TradeBatch"),
        (b"x", "market.TradeBatch/v99", "unknown schema"),
        (None, None, "message has no value"),
    ],
)
def test_undecodable_messages_become_dead_letters(value, schema, reason):
    decoded = _decoder().decode(0, 1, b"AAPL", value, schema)
    assert decoded.rows == []
    assert reason in decoded.dead_letter.reason
    assert decoded.dead_letter.payload == (value or b"")
