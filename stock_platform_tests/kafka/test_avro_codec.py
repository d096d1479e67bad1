import io
import json

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from stock_platform.kafka.avro_codec import (
    TRADE_BATCH_SCHEMA,
    DeadLetterCodec,
    TradeBatchCodec,
    UnknownSchemaError,
    load_schema,
    schema_header,
    schema_name_from_headers,
)
from stock_platform.paths import project_dir

TRADES = [
    {"s": "AAPL", "p": 190.25, "t": 1_760_000_000_123, "v": 10.0, "c": ["1"]},
    {"s": "AAPL", "p": 190.5, "t": 1_760_000_000_123, "v": 5.0, "c": None},
]


def test_trade_batch_round_trips():
    codec = TradeBatchCodec()
    decoded = codec.decode(codec.encode(TRADES, 1_760_000_000_200, "simulator"), TRADE_BATCH_SCHEMA)
    assert decoded.trades == TRADES
    assert decoded.received_at_ms == 1_760_000_000_200
    assert decoded.source == "simulator"


def test_header_names_the_schema_version():
    codec = TradeBatchCodec()
    assert schema_name_from_headers(codec.headers) == TRADE_BATCH_SCHEMA
    assert schema_name_from_headers(None) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [([("other", b"x"), ("schema", b"\xff")], b"\xff"), ([("schema", None)], None), ([], None), (None, None)],
)
def test_the_raw_schema_header_is_returned_undecoded(headers, expected):
    assert schema_header(headers) == expected


def test_records_written_before_newer_fields_existed_decode_with_defaults():
    old_schema = parse_schema(
        {
            "type": "record",
            "name": "TradeBatch",
            "namespace": "market",
            "fields": [
                {"name": "type", "type": "string"},
                {"name": "data", "type": {"type": "array", "items": load_schema(TRADE_BATCH_SCHEMA)["fields"][1]["type"]["items"]}},
            ],
        }
    )
    buffer = io.BytesIO()
    schemaless_writer(buffer, old_schema, {"type": "trade", "data": TRADES})
    decoded = schemaless_reader(io.BytesIO(buffer.getvalue()), old_schema, load_schema(TRADE_BATCH_SCHEMA))
    assert decoded["received_at"] == 0
    assert decoded["source"] == "finnhub"


def test_every_new_field_has_a_default_for_compatible_evolution():
    with open(project_dir("schemas") / "market_trade_batch_v1.avsc") as handle:
        fields = json.load(handle)["fields"]
    assert all("default" in field for field in fields if field["name"] not in ("data",))


def test_unknown_schema_version_is_a_clear_error():
    with pytest.raises(UnknownSchemaError, match="unknown schema 'market.TradeBatch/v99'"):
        TradeBatchCodec().decode(b"", "market.TradeBatch/v99")


def test_dead_letter_keeps_original_bytes():
    codec = DeadLetterCodec()
    record = codec.decode(codec.encode(b"\xff{broken", "not valid JSON", "finnhub_ingest", 42))
    assert record == {"payload": b"\xff{broken", "reason": "not valid JSON", "source": "finnhub_ingest", "received_at": 42}


def _fastavro_bytes(trades, received_at_ms, source) -> bytes:
    buffer = io.BytesIO()
    record = {"type": "trade", "data": trades, "received_at": received_at_ms, "source": source}
    schemaless_writer(buffer, load_schema(TRADE_BATCH_SCHEMA), record)
    return buffer.getvalue()


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_NUMBER = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**60), 2**60), st.just(0))
_TRADE = st.fixed_dictionaries(
    {
        "s": _TEXT,
        "p": _NUMBER,
        "t": st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(2**33, 2**42)),  # and around epoch-ms times
        "v": _NUMBER,
        "c": st.one_of(st.none(), st.lists(_TEXT, max_size=4)),
    }
)


@settings(max_examples=2000, deadline=None)
@given(trades=st.lists(_TRADE, max_size=6), received_at_ms=st.integers(-(2**63), 2**63 - 1), source=_TEXT)
def test_the_ingest_writes_the_same_bytes_as_fastavro(trades, received_at_ms, source):
    codec = TradeBatchCodec()
    assert codec.encode(trades, received_at_ms, source) == _fastavro_bytes(trades, received_at_ms, source)


@pytest.mark.parametrize(
    "trade",
    [
        {"s": "AAPL", "p": 1.0, "t": 1, "v": 1.0},  # no `c`: fastavro writes its default
        {"s": "AAPL", "p": 1.0, "t": 1, "v": 1.0, "c": None, "x": 1},  # an extra key fastavro ignores
        {"s": "AAPL", "p": True, "t": 1, "v": 2**60, "c": None},  # a bool and an int beyond 2**53
    ],
)
def test_shapes_the_quick_writer_does_not_take_are_written_by_fastavro(trade):
    assert TradeBatchCodec().encode([trade], 5, "x") == _fastavro_bytes([trade], 5, "x")


def test_one_codec_writes_times_across_its_remembered_varint_bytes_as_fastavro_does():
    codec = TradeBatchCodec()
    start = 1_760_000_000_000
    # Times that step over 64 ms boundaries, go back, and leave the six-byte range, written one batch after another.
    for event_time in [start, start + 63, start + 64, start + 1, start + 10_000, -start, 0, start + 127, 2**42]:
        trades = [{"s": "AAPL", "p": 1.5, "t": event_time, "v": 2, "c": ["1"]}]
        assert codec.encode(trades, start, "x") == _fastavro_bytes(trades, start, "x")


_LONG_LIVED_CODEC = TradeBatchCodec()


@settings(max_examples=1000, deadline=None)
@given(trades=st.lists(_TRADE, max_size=6), received_at_ms=st.integers(-(2**63), 2**63 - 1), source=_TEXT)
def test_a_long_lived_codec_writes_fastavros_bytes(trades, received_at_ms, source):
    assert _LONG_LIVED_CODEC.encode(trades, received_at_ms, source) == _fastavro_bytes(trades, received_at_ms, source)


@pytest.mark.parametrize("count", [0, 1, 63, 64, 65, 300])
def test_batches_of_any_length_are_written_as_fastavro_does(count):
    trades = [{"s": "AAPL", "p": 1.5, "t": 1_760_000_000_000 + index, "v": index, "c": None} for index in range(count)]
    assert TradeBatchCodec().encode(trades, 7, "simulator") == _fastavro_bytes(trades, 7, "simulator")
