"""The TradeBatch/v1 reader of the stream's hot path reads exactly what fastavro reads, or leaves the bytes to it."""

import io
import random

import pytest
from fastavro import schemaless_reader

from stock_platform.kafka.avro_codec import TRADE_BATCH_SCHEMA, TradeBatchCodec, load_schema
from stock_platform.processing.light_avro import read_trade_batch_v1

T0 = 1_760_000_000_000
_CASES = {
    "usual": [{"s": "AAPL", "p": 190.25, "t": T0, "v": 10.0, "c": ["1"]}, {"s": "AAPL", "p": 190.5, "t": T0 + 1, "v": 5.0, "c": None}],
    "no trades": [],
    "several conditions": [{"s": "MSFT", "p": 1.5, "t": T0, "v": 0.0, "c": ["1", "12", ""]}],
    "empty conditions": [{"s": "MSFT", "p": 1.5, "t": T0, "v": 0.0, "c": []}],
    "long and non-ascii symbol": [{"s": "BINANCE:" + "Ä" * 70, "p": 1e300, "t": T0, "v": 1e-300, "c": ["x" * 80]}],
    "odd times": [{"s": "X", "p": -1.0, "t": time, "v": float("inf"), "c": None} for time in (-5, 0, 1, 2**62, -(2**63), T0 * 1000)],
    "many trades": [{"s": "NVDA", "p": 100.0 + index, "t": T0 + index, "v": 1.0, "c": ["1"]} for index in range(300)],
}


def _fastavro(value):
    record = schemaless_reader(io.BytesIO(value), load_schema(TRADE_BATCH_SCHEMA), None)
    trades = [(t["s"], t["p"], t["t"], t["v"], None if t["c"] is None else tuple(t["c"])) for t in record["data"]]
    return trades, record["received_at"]


def _variants(value, rng):
    """The bytes, cut short, with bytes after them, and with one byte changed at random places."""
    mutated = []
    for _ in range(40):
        changed = bytearray(value)
        changed[rng.randrange(len(changed))] = rng.randrange(256)
        mutated.append(bytes(changed))
    return [value, value[:-1], value[: len(value) // 2], value + b"\x02tail", *mutated]


@pytest.mark.parametrize("case", sorted(_CASES))
def test_reads_what_fastavro_reads_or_leaves_it_to_fastavro(case):
    rng = random.Random(case)
    value = TradeBatchCodec().encode(_CASES[case], T0 + 7, "simulator")
    assert repr(read_trade_batch_v1(value)) == repr(_fastavro(value))
    for variant in _variants(value, rng):
        read = read_trade_batch_v1(variant)
        if read is not None:
            assert repr(read) == repr(_fastavro(variant)), variant


@pytest.mark.parametrize("value", [b"", b"\x0atrade", b"\x0atrade\x01", b"\x0atrade\x00", b"\x0atrade\x02\x08AAPL"])
def test_truncated_or_malformed_bytes_are_left_to_fastavro(value):
    assert read_trade_batch_v1(value) is None
