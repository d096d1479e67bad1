"""`make dev`, Ctrl-C, `make dev` again: the stream resumes within a minute, nothing lost or counted twice.

Runs the real launcher (`stock-platform dev`: Apache Kafka, the simulator, `dg dev` with its daemon and
sensors) twice on one data folder, then reopens the broker's log to check the store against the topic.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from stock_platform.env_defaults import ENV_DEFAULTS
from stock_platform.kafka.avro_codec import TradeBatchCodec, schema_name_from_headers
from stock_platform_local.servers.broker import LocalKafkaBroker
from stock_platform_tests.local.launcher import DevStack
from stock_platform_tests.pipeline_helpers import BAR_FIELDS, Trade, daily_key, expected_bars, read_tables, read_topic

pytestmark = pytest.mark.e2e

FIRST_ROWS_TIMEOUT_S = 240.0
RESUME_LIMIT_S = 60.0
@pytest.fixture()
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    stack = DevStack(tmp_path)
    try:
        yield stack
    finally:
        if stack.process is not None and stack.process.poll() is None:
            stack.ctrl_c()


def _stored_coordinates(database: Path) -> dict[int, set[int]]:
    """Partition -> Kafka offsets that have rows in `trades`."""
    offsets: dict[int, set[int]] = defaultdict(set)
    with closing(sqlite3.connect(database)) as connection:
        for partition, offset in connection.execute("SELECT DISTINCT kafka_partition, kafka_offset FROM trades"):
            offsets[partition].add(offset)
    return offsets


def test_ctrl_c_and_start_again_resumes_the_stream_with_nothing_lost_or_counted_twice(dev_stack):
    dev_stack.start()
    dev_stack.wait_for_trades_above(0, FIRST_ROWS_TIMEOUT_S)
    dev_stack.ctrl_c()
    before_restart = dev_stack.trade_count()

    ui_answered = dev_stack.start()
    resumed = dev_stack.wait_for_trades_above(before_restart, RESUME_LIMIT_S + 30)
    # Give the stream a few more micro-batches past the restart before stopping for the audit.
    time.sleep(10)
    dev_stack.ctrl_c()
    assert resumed - ui_answered <= RESUME_LIMIT_S, f"new trades {resumed - ui_answered:.0f}s after the UI answered"
    # The launcher runs `dg dev`; `dagster dev` would print that it is superseded on every start.
    assert "superseded" not in dev_stack.log_path.read_text(errors="replace")

    with LocalKafkaBroker(dev_stack.root / "data" / "kafka") as broker:
        messages = read_topic(broker.bootstrap_servers, ENV_DEFAULTS["KAFKA_TOPIC_MARKET"], timeout_s=30)
    stored = _stored_coordinates(dev_stack.database)
    tables = read_tables(dev_stack.database)
    codec = TradeBatchCodec()
    # Nothing lost: below the newest processed offset of a partition, every message has its trades stored.
    expected_trades: list[Trade] = []
    for message in messages:
        processed = stored.get(message.partition, set())
        if processed and message.offset <= max(processed):
            assert message.offset in processed, f"market[{message.partition}] offset {message.offset} was skipped"
            batch = codec.decode(message.value, schema_name_from_headers(message.headers))
            expected_trades.extend(Trade.from_finnhub(item) for item in batch.trades)
    assert sum(len(offsets) for offsets in stored.values()) > 0
    # Nothing counted twice: one row per trade, and every daily aggregate equals a recomputation from the topic.
    assert len(tables.trades) == len({row.trade_id for row in tables.trades}) == len(expected_trades)
    expected = expected_bars(expected_trades, daily_key)
    assert {key: value["trade_count"] for key, value in tables.daily_aggregates.items()} == {
        key: value["trade_count"] for key, value in expected.items()
    }
    for key, bar in expected.items():
        for field in BAR_FIELDS:
            assert tables.daily_aggregates[key][field] == pytest.approx(bar[field]), (key, field)
