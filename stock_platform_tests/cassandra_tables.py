"""Read the pipeline's Cassandra tables with plain CQL, as a dashboard would, into the end-to-end test's shapes."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime, timezone
from typing import Any

from cassandra.cluster import Session
from cassandra.query import tuple_factory

from stock_platform_tests.pipeline_helpers import BAR_FIELDS, StoredTrade, Tables, Trade

_TIME_FIELDS = frozenset({"first_trade_time", "last_trade_time"})


def _ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.replace(tzinfo=timezone.utc).timestamp() * 1000)


def _rows(session: Session, query: str) -> list[tuple]:
    session.row_factory = tuple_factory
    return list(session.execute(query))


def _bars(session: Session, keyspace: str, table: str, key_columns: Sequence[str]) -> dict[Hashable, dict[str, Any]]:
    bars = {}
    for row in _rows(session, f"SELECT {', '.join((*key_columns, *BAR_FIELDS))} FROM {keyspace}.{table}"):
        key = tuple(str(part) if column == "trading_day" else _ms(part) if column == "bucket_start" else part
                    for column, part in zip(key_columns, row))  # fmt: skip
        values = dict(zip(BAR_FIELDS, row[len(key_columns):], strict=True))
        bars[key] = {field: _ms(value) if field in _TIME_FIELDS else value for field, value in values.items()}
    return bars


def read_cassandra_tables(session: Session, keyspace: str) -> Tables:
    trades = [
        StoredTrade(Trade(symbol, price, _ms(event_time), volume, tuple(conditions) if conditions else None), str(day), trade_id)
        for symbol, day, event_time, trade_id, price, volume, conditions in _rows(
            session, f"SELECT symbol, trading_day, event_time, trade_id, price, volume, conditions FROM {keyspace}.trades"
        )
    ]
    return Tables(
        trades,
        _bars(session, keyspace, "daily_aggregates", ("symbol", "trading_day")),
        _bars(session, keyspace, "minute_bars", ("symbol", "trading_day", "bucket_start")),
    )


def read_cassandra_news_ids(session: Session, keyspace: str) -> list[tuple[str, int]]:
    """(symbol, article id) of every row of table `news`."""
    return _rows(session, f"SELECT symbol, article_id FROM {keyspace}.news")
