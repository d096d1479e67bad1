from datetime import datetime, timezone

import pyarrow as pa
import pytest

from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.jvm_kafka import decode_raw_batch, java_client_config, jvm_source_options
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform_tests.processing.conftest import T0, utc_day


def test_raw_connector_rows_decode_into_rows_dead_letters_and_offset_ranges():
    codec = TradeBatchCodec()
    trades = [{"s": "AAPL", "p": 1.5, "t": T0, "v": 2.0, "c": None}, {"s": "AAPL", "p": -1.0, "t": T0, "v": 2.0, "c": None}]
    raw = pa.Table.from_pydict(
        {"key": [b"AAPL", b"AAPL"], "value": [codec.encode(trades, T0 + 5, "test"), b"junk"], "partition": [2, 2], "offset": [7, 8],
         "timestamp": [datetime.fromtimestamp(T0 / 1000, timezone.utc)] * 2,
         "headers": [[{"key": "schema", "value": b"market.TradeBatch/v1"}], [{"key": "schema", "value": b"\xff"}]]}  # fmt: skip
    )
    collected = decode_raw_batch(raw, TradeDecoder("market", utc_day))
    assert [(row.trade_id, row.price, row.received_at_ms) for row in collected.rows] == [("market/00002/00000000000000000007/000000", 1.5, T0 + 5)]
    assert [keyed.key for keyed in collected.dead_letters] == [b"market/2/7/%d" % T0, b"market/2/8/%d" % T0]
    assert [keyed.letter.reason.split(":")[0] for keyed in collected.dead_letters] == ["market[2]@7", "market[2]@8"]
    assert "not a decodable TradeBatch (UnicodeDecodeError" in collected.dead_letters[1].letter.reason
    assert (collected.offset_ranges, collected.messages, collected.rejected_trades) == ({2: (7, 8)}, 2, 1)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (KafkaSettings("k:9092"), {"bootstrap.servers": "k:9092", "security.protocol": "PLAINTEXT"}),
        (
            KafkaSettings("k:9093", "SASL_SSL", "SCRAM-SHA-512", "svc", 'p"w', "/ca.pem", {"socket.keepalive.enable": "true"}),
            {
                "bootstrap.servers": "k:9093",
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="p\\"w";',
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": "/ca.pem",
            },
        ),
        (
            KafkaSettings("k:9093", "SASL_PLAINTEXT", "PLAIN", "u", "p"),
            {
                "bootstrap.servers": "k:9093",
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";',
            },
        ),
    ],
)
def test_java_client_config_spells_librdkafka_settings_the_java_way(settings, expected):
    assert java_client_config(settings) == expected


def test_source_options_fail_on_data_loss_and_bound_each_trigger():
    options = jvm_source_options(KafkaSettings("k:9092"), "market", max_messages_per_trigger=500)
    assert options == {
        "kafka.bootstrap.servers": "k:9092", "kafka.security.protocol": "PLAINTEXT", "subscribe": "market",
        "startingOffsets": "earliest", "includeHeaders": "true", "failOnDataLoss": "true", "maxOffsetsPerTrigger": "500",
    }  # fmt: skip
