"""The JVM path of a Spark micro-batch agrees with the light engine's Python decoding, message by message."""

import random
import time
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from stock_platform.ingest.validation import TradeLimits
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.processing.aggregation import apply_batch, daily_key, minute_key
from stock_platform.processing.jvm_kafka import RAW_COLUMNS, decode_raw_batch
from stock_platform.processing.partial_bars import merge_partials
from stock_platform.processing.spark_batch import MicroBatchCollector
from stock_platform.processing.spark_sql import trading_day_column
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.batch import same_bar

pytestmark = pytest.mark.e2e
CALENDAR = TradingCalendar(prefix_zones={"OANDA": "America/New_York"})
HEADER = [{"key": "schema", "value": b"market.TradeBatch/v1"}]
_CODEC = TradeBatchCodec()


def _trade(symbol="AAPL", **changes):
    trade = {"s": symbol, "p": 101.25, "t": int(time.time() * 1000) - 60_000, "v": 3.0, "c": ["1", "12"]}
    trade.update(changes)
    return trade


def _message(trades, key=None, headers=HEADER, received_at=1, source="test", value=None):
    key = key if key is not None else (trades[0]["s"].encode() if trades else b"AAPL")
    return {"key": key, "value": value if value is not None else _CODEC.encode(trades, received_at, source), "headers": headers}


# Each message either takes the JVM path or is decoded in Python; either way the outcome must be the same.
MESSAGES = {
    "valid": _message([_trade("MSFT"), _trade("MSFT", p=99.5, c=None), _trade("MSFT", c=[])]),
    "crypto and forex zones": _message([_trade("BINANCE:BTCUSDT", t=1_795_996_799_999), _trade("BINANCE:BTCUSDT", t=1_795_996_800_000)]),
    "forex prefix zone": _message([_trade("OANDA:EUR_USD", t=1_796_014_799_999), _trade("OANDA:EUR_USD", t=1_796_014_800_000)]),
    "no trades": _message([]),
    "junk bytes": _message([], value=b"\x07junk"),
    "truncated": _message([_trade()], value=_CODEC.encode([_trade()], 1, "test")[:-3]),
    "trailing bytes": _message([_trade()], value=_CODEC.encode([_trade()], 1, "test") + b"\x00\x01"),
    "no schema header": _message([_trade()], headers=[]),
    "another schema": _message([_trade()], headers=[{"key": "schema", "value": b"market.TradeBatch/v9"}]),
    "header not UTF-8": _message([_trade()], headers=[{"key": "schema", "value": b"\xff"}]),
    "null key": {**_message([_trade()]), "key": None},
    "null value": {**_message([_trade()]), "value": None},
    "key is another symbol": _message([_trade()], key=b"IBM"),
    "negative price": _message([_trade(), _trade(p=-1.0)]),
    "NaN price": _message([_trade(p=float("nan"))]),
    "infinite volume": _message([_trade(v=float("inf"))]),
    "zero volume": _message([_trade(v=0.0)]),
    "negative zero volume": _message([_trade(v=-0.0)]),
    "future timestamp": _message([_trade(t=int(time.time() * 1000) + 3_600_000)]),
    "seconds not milliseconds": _message([_trade(t=1_700_000_000)]),
    "symbol with spaces": _message([_trade(" AAPL")], key=b" AAPL"),
    "non-ASCII symbol": _message([_trade("ÄPFEL")], key="ÄPFEL".encode()),
    "long condition": _message([_trade(c=["x" * 33])]),
    "non-ASCII condition": _message([_trade(c=["ü"])]),
    "too many conditions": _message([_trade(c=["1"] * 33)]),
    "source not UTF-8": _message([_trade()], value=_CODEC.encode([_trade()], 1, "test")[:-4] + b"\x06\xff\xfe\xfd"),
}


def _raw(messages: list[dict]) -> pa.Table:
    stamp = datetime(2026, 11, 30, tzinfo=timezone.utc)
    columns = {name: [message[name] for message in messages] for name in ("key", "value", "headers")}
    return pa.Table.from_pydict(
        {**columns, "partition": [index % 3 for index in range(len(messages))], "offset": list(range(len(messages))),
         "timestamp": [stamp] * len(messages)}  # fmt: skip
    ).select(list(RAW_COLUMNS))


def test_every_message_ends_as_the_python_decoder_would_end_it(spark):
    raw = _raw(list(MESSAGES.values()))
    now_ms = int(time.time() * 1000)

    jvm = MicroBatchCollector("market", CALENDAR).collect(spark.createDataFrame(raw), now_ms)
    python = decode_raw_batch(raw, TradeDecoder("market", CALENDAR))

    assert sorted(jvm.collected.rows, key=lambda row: row.trade_id) == sorted(python.rows, key=lambda row: row.trade_id)
    assert sorted(letter.key for letter in jvm.collected.dead_letters) == sorted(letter.key for letter in python.dead_letters)
    assert (jvm.collected.offset_ranges, jvm.collected.messages, jvm.collected.rejected_trades) == (
        python.offset_ranges, python.messages, python.rejected_trades,
    )  # fmt: skip
    # The symbols no message decoded in Python has: their bars come from the JVM.
    assert {symbol for symbol, _ in jvm.bars.daily} == {"MSFT", "BINANCE:BTCUSDT", "OANDA:EUR_USD"}


def test_the_jvm_bars_merge_into_the_bars_folding_every_trade_gives(spark):
    rng = random.Random(4)
    now_ms = int(time.time() * 1000)
    symbols = ["AAPL", "MSFT", "BINANCE:BTCUSDT"]
    messages = []
    for _ in range(300):
        symbol = rng.choice(symbols)
        trades = [_trade(symbol, p=float(rng.randint(90, 110)), t=now_ms - rng.randint(0, 2 * 86_400_000), v=float(rng.randint(0, 5)))
                  for _ in range(rng.randint(1, 5))]  # fmt: skip
        messages.append(_message(trades) if rng.random() > 0.05 else _message(trades + [_trade(symbol, p=-1.0)]))
    raw = _raw(messages)

    jvm = MicroBatchCollector("market", CALENDAR).collect(spark.createDataFrame(raw), now_ms)

    rows = jvm.collected.rows
    for key_fn, partials, refold in ((daily_key, jvm.bars.daily, jvm.bars.refold_daily), (minute_key, jvm.bars.minute, jvm.bars.refold_minute)):
        merged = merge_partials({}, partials, refold, rows, key_fn, 1).states
        folded = apply_batch({}, rows, key_fn, 1).states
        assert merged.keys() == folded.keys()
        assert all(same_bar(merged[key], folded[key]) and merged[key].source_offset == folded[key].source_offset for key in folded)


def test_the_jvm_trading_day_is_the_calendars_around_midnights_and_daylight_saving_changes(spark):
    # Instants around local midnight in New York and UTC, on both sides of the 2026 DST changes.
    instants = [base + delta for base in (1_772_953_200_000, 1_793_512_800_000, 1_796_014_800_000, 1_795_996_800_000)
                for delta in (-3_600_001, -1, 0, 1, 3_600_000)]  # fmt: skip
    symbols = ["AAPL", "BINANCE:BTCUSDT", "oanda:EUR_USD", "X:"]
    frame = spark.createDataFrame([(symbol, instant) for symbol in symbols for instant in instants], "symbol string, t long")

    got = frame.select("symbol", "t", trading_day_column(CALENDAR, frame["symbol"], frame["t"]).alias("day")).collect()

    assert {(row.symbol, row.t): row.day for row in got} == {
        (symbol, instant): CALENDAR.trading_day(symbol, instant) for symbol in symbols for instant in instants
    }


def test_the_driver_judges_a_message_by_the_same_limits_as_the_jvm(spark):
    raw = _raw([_message([_trade("MSFT", p=101.25)])])

    jvm = MicroBatchCollector("market", CALENDAR, TradeLimits(max_price=50.0)).collect(spark.createDataFrame(raw), int(time.time() * 1000))

    assert jvm.collected.rows == []
    assert "price 101.25 is not a number in (0, 50]" in jvm.collected.dead_letters[0].letter.reason
