"""Every CQL statement the Cassandra store sends, prepared once per session."""

from __future__ import annotations

from dataclasses import dataclass

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from cassandra import ConsistencyLevel
from stock_platform.storage.base import StoreError
from stock_platform.storage.columns import (
    BAR_VALUE_COLUMNS,
    DAILY_KEY_COLUMNS,
    HEALTH_COLUMNS,
    MINUTE_KEY_COLUMNS,
    NEWS_COLUMNS,
    TRADE_COLUMNS,
)


def _insert(keyspace: str, table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {keyspace}.{table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


# The columns a compare-and-set of a bar checks: every stream write of a bar raises its trade count,
# and the other two tell a bar rebuilt by another writer apart (all three are never NULL).
SWAP_CONDITION_COLUMNS = ("trade_count", "volume", "last_trade_id")
# Statements with IF conditions: run as lightweight transactions, so not safe to run twice blindly.
CONDITIONAL_STATEMENTS = frozenset({"insert_daily_if_absent", "update_daily_if", "insert_minute_if_absent", "update_minute_if"})


def _update_if(keyspace: str, table: str, key: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{column} = ?" for column in BAR_VALUE_COLUMNS)
    where = " AND ".join(f"{column} = ?" for column in key)
    condition = " AND ".join(f"{column} = ?" for column in SWAP_CONDITION_COLUMNS)
    return f"UPDATE {keyspace}.{table} SET {assignments} WHERE {where} IF {condition}"


def _select(keyspace: str, table: str, columns: tuple[str, ...], where: str = "") -> str:
    return f"SELECT {', '.join(columns)} FROM {keyspace}.{table}" + (f" WHERE {where}" if where else "")


@dataclass(frozen=True)
class Statements:
    """Prepared statements of the store (partition key first in every WHERE clause)."""

    insert_trade: PreparedStatement
    select_trades_of_day: PreparedStatement
    select_trade_partitions: PreparedStatement
    insert_daily: PreparedStatement
    insert_daily_if_absent: PreparedStatement
    update_daily_if: PreparedStatement
    select_daily: PreparedStatement
    select_daily_symbols: PreparedStatement
    select_latest_daily: PreparedStatement
    insert_minute: PreparedStatement
    insert_minute_if_absent: PreparedStatement
    update_minute_if: PreparedStatement
    select_minute_range: PreparedStatement
    select_minute_day: PreparedStatement
    insert_news: PreparedStatement
    select_news: PreparedStatement
    select_news_ids_since: PreparedStatement
    select_news_ids: PreparedStatement
    select_news_symbols: PreparedStatement
    insert_health: PreparedStatement
    select_health: PreparedStatement


def statement_texts(keyspace: str) -> dict[str, str]:
    """CQL of every statement by its Statements field name."""
    daily_columns = DAILY_KEY_COLUMNS + BAR_VALUE_COLUMNS
    minute_columns = MINUTE_KEY_COLUMNS + BAR_VALUE_COLUMNS
    day = "symbol = ? AND trading_day = ?"
    return {
        "insert_trade": _insert(keyspace, "trades", TRADE_COLUMNS),
        "select_trades_of_day": _select(keyspace, "trades", TRADE_COLUMNS, day),
        "select_trade_partitions": f"SELECT DISTINCT symbol, trading_day FROM {keyspace}.trades",
        "insert_daily": _insert(keyspace, "daily_aggregates", daily_columns),
        "insert_daily_if_absent": _insert(keyspace, "daily_aggregates", daily_columns) + " IF NOT EXISTS",
        "update_daily_if": _update_if(keyspace, "daily_aggregates", DAILY_KEY_COLUMNS),
        "select_daily": _select(keyspace, "daily_aggregates", daily_columns, day),
        "select_daily_symbols": f"SELECT DISTINCT symbol FROM {keyspace}.daily_aggregates",
        "select_latest_daily": _select(keyspace, "daily_aggregates", ("last_trade_time",), "symbol = ? LIMIT 1"),
        "insert_minute": _insert(keyspace, "minute_bars", minute_columns),
        "insert_minute_if_absent": _insert(keyspace, "minute_bars", minute_columns) + " IF NOT EXISTS",
        "update_minute_if": _update_if(keyspace, "minute_bars", MINUTE_KEY_COLUMNS),
        "select_minute_range": _select(
            keyspace, "minute_bars", minute_columns, f"{day} AND bucket_start >= ? AND bucket_start <= ?"
        ),
        "select_minute_day": _select(keyspace, "minute_bars", minute_columns, day),
        "insert_news": _insert(keyspace, "news", NEWS_COLUMNS),
        "select_news": _select(keyspace, "news", NEWS_COLUMNS, "symbol = ? LIMIT ?"),
        "select_news_ids_since": _select(keyspace, "news", ("article_id",), "symbol = ? AND published_at >= ?"),
        "select_news_ids": _select(keyspace, "news", ("article_id",), "symbol = ?"),
        "select_news_symbols": f"SELECT DISTINCT symbol FROM {keyspace}.news",
        "insert_health": _insert(keyspace, "pipeline_health", HEALTH_COLUMNS),
        "select_health": _select(keyspace, "pipeline_health", HEALTH_COLUMNS, "component = ? AND day = ?"),
    }


def prepare_statements(session: Session, keyspace: str) -> Statements:
    """Prepare every statement; a missing keyspace/table/column names the statement and the fix."""
    prepared = {}
    for name, text in statement_texts(keyspace).items():
        try:
            statement = session.prepare(text)
        except Exception as error:  # noqa: BLE001 - the driver raises several types; all mean the same here
            raise StoreError(
                f"cannot prepare `{text}` ({type(error).__name__}: {error}); apply cassandra/schema.cql to "
                f"keyspace {keyspace} first (stock-platform cassandra-apply)"
            ) from None
        statement.is_idempotent = name not in CONDITIONAL_STATEMENTS
        if name in CONDITIONAL_STATEMENTS:
            # Paxos within the local datacenter, like LOCAL_QUORUM for the plain statements.
            statement.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        prepared[name] = statement
    return Statements(**prepared)
