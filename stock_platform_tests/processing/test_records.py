from datetime import date

import pyarrow as pa

from stock_platform.core.models import DeadLetter, TradeRow, make_trade_id
from stock_platform.core.trade_decoding import DecodedMessage
from stock_platform.processing.records import RECORD_SCHEMA, collect_records, to_record_batch


def _row(partition: int, offset: int, position: int, conditions=("1",)) -> TradeRow:
    return TradeRow(
        symbol="AAPL",
        trading_day=date(2025, 10, 9),
        event_time_ms=1_760_000_000_000 + offset,
        trade_id=make_trade_id("market", partition, offset, position),
        price=190.0 + position,
        volume=2.0,
        conditions=conditions,
        received_at_ms=1_760_000_000_900,
        kafka_partition=partition,
        kafka_offset=offset,
    )


def test_rows_and_dead_letters_survive_the_columnar_round_trip_in_kafka_order():
    letter = DeadLetter(b"\x00raw", "market[1]@5: 1 of 2 trades rejected: data[1]: bad", "stream_processor", 1_760_000_001_000)
    messages = [
        (1, 5, DecodedMessage(rows=[_row(1, 5, 0, None)], dead_letter=letter, rejected_trades=1)),
        (0, 3, DecodedMessage(rows=[_row(0, 3, 0), _row(0, 3, 1)])),
        (1, 6, DecodedMessage()),
    ]
    batch = to_record_batch(messages)
    assert batch.schema == RECORD_SCHEMA
    collected = collect_records(pa.Table.from_batches([batch]))
    assert collected.rows == [_row(0, 3, 0), _row(0, 3, 1), _row(1, 5, 0, None)]
    assert collected.dead_letters == [letter]
    assert collected.offset_ranges == {0: (3, 3), 1: (5, 5)}
    assert collected.messages == 2
