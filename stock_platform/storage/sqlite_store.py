"""The embedded store: the platform's tables in one SQLite file, with Cassandra's upsert semantics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date

from stock_platform.models import NewsArticle, TradeRow
from stock_platform.processing.aggregation import BarState, DayKey, MinuteKey
from stock_platform.storage.base import BarSwap, HealthSample, MarketStore, NewsWriteResult
from stock_platform.storage.columns import (
    BAR_VALUE_COLUMNS,
    DAILY_KEY_COLUMNS,
    HEALTH_COLUMNS,
    MINUTE_KEY_COLUMNS,
    NEWS_COLUMNS,
    TRADE_COLUMNS,
    bar_from_values,
    bar_values,
)
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_connections import SqliteConnections

_KEYS_PER_QUERY = 300
_BAR_SELECT = ", ".join(BAR_VALUE_COLUMNS)


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in key)
    placeholders = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_TRADE_UPSERT = _upsert("trades", TRADE_COLUMNS, TRADE_COLUMNS[:4])
# Trades go in as multi-row INSERTs: one statement step per chunk instead of one per row, and SQLite does
# the whole chunk with the GIL released. Chunks are powers of two so a handful of statements stay cached.
_MAX_TRADES_PER_STATEMENT = 1024
_trade_upserts: dict[int, str] = {}
_DAILY_UPSERT = _upsert("daily_aggregates", DAILY_KEY_COLUMNS + BAR_VALUE_COLUMNS, DAILY_KEY_COLUMNS)
_MINUTE_UPSERT = _upsert("minute_bars", MINUTE_KEY_COLUMNS + BAR_VALUE_COLUMNS, MINUTE_KEY_COLUMNS)
_HEALTH_UPSERT = _upsert("pipeline_health", HEALTH_COLUMNS, HEALTH_COLUMNS[:3])
_NEWS_INSERT_NEW = (
    f"INSERT INTO news ({', '.join(NEWS_COLUMNS)}) SELECT {', '.join('?' for _ in NEWS_COLUMNS)} "
    "WHERE NOT EXISTS (SELECT 1 FROM news WHERE symbol = ? AND article_id = ?)"
)
_NEWS_SELECT = f"SELECT {', '.join(NEWS_COLUMNS[:-1])} FROM news"

_iso_days: dict[date, str] = {}
_parsed_days: dict[str, date] = {}
_condition_texts: dict[tuple[str, ...], str] = {}


def _iso(day: date) -> str:
    text = _iso_days.get(day)
    if text is None:
        text = _iso_days[day] = day.isoformat()
    return text


def _day(text: str) -> date:
    day = _parsed_days.get(text)
    if day is None:
        day = _parsed_days[text] = date.fromisoformat(text)
    return day


def _conditions_text(conditions: tuple[str, ...] | None) -> str | None:
    # NULL for empty too: Cassandra cannot store an empty list, and both backends must read back alike.
    if not conditions:
        return None
    text = _condition_texts.get(conditions)
    if text is None:
        text = json.dumps(list(conditions))
        if len(_condition_texts) < 10_000:
            _condition_texts[conditions] = text
    return text


def _trade_upsert(rows: int) -> str:
    sql = _trade_upserts.get(rows)
    if sql is None:
        row_placeholder = f"({', '.join('?' for _ in TRADE_COLUMNS)})"
        sql = _trade_upserts[rows] = _TRADE_UPSERT.replace(row_placeholder, ", ".join([row_placeholder] * rows), 1)
    return sql


def _chunk_sizes(count: int) -> Iterator[int]:
    """`count` as full chunks, then the powers of two of the remainder (largest first)."""
    size = _MAX_TRADES_PER_STATEMENT
    while count:
        while size > count:
            size //= 2
        yield size
        count -= size


def _trade_values(row: TradeRow) -> tuple:
    return (
        row.symbol, _iso(row.trading_day), row.event_time_ms, row.trade_id, row.price, row.volume,
        _conditions_text(row.conditions), row.received_at_ms, row.kafka_partition, row.kafka_offset,
    )  # fmt: skip


def _trade_row(values: Sequence) -> TradeRow:
    conditions = values[6]
    return TradeRow(
        symbol=values[0],
        trading_day=_day(values[1]),
        event_time_ms=values[2],
        trade_id=values[3],
        price=values[4],
        volume=values[5],
        conditions=tuple(json.loads(conditions)) if conditions is not None else None,
        received_at_ms=values[7],
        kafka_partition=values[8],
        kafka_offset=values[9],
    )


def _unchanged(expected: BarState | None, stored: BarState | None) -> bool:
    """The compare of compare_and_set_bars, on the columns Cassandra's IF clause checks."""
    if expected is None or stored is None:
        return expected is stored
    return (expected.trade_count, expected.volume, expected.last_trade_id) == (stored.trade_count, stored.volume, stored.last_trade_id)


def _article(values: Sequence) -> NewsArticle:
    return NewsArticle(
        symbol=values[0], published_at_ms=values[1], article_id=values[2], headline=values[3] or "",
        summary=values[4] or "", source=values[5] or "", url=values[6] or "", image=values[7] or "",
        category=values[8] or "", related=tuple(json.loads(values[9])) if values[9] else (),
    )  # fmt: skip


class SqliteMarketStore(MarketStore):
    """MarketStore on a SQLite file (WAL): safe for several processes and threads writing at once."""

    def __init__(self, settings: EmbeddedStoreSettings) -> None:
        self._connections = SqliteConnections(settings)

    def atomic_batch(self) -> AbstractContextManager:
        """One transaction holding the write lock: a batch's read-modify-write of bars is atomic across processes."""
        return self._connections.write()

    def _read(self, sql: str, parameters: Sequence = ()) -> list:
        return self._connections.connection().execute(sql, parameters).fetchall()

    # -- trades
    def write_trades(self, rows: Sequence[TradeRow]) -> int:
        values = [value for row in rows for value in _trade_values(row)]
        width = len(TRADE_COLUMNS)
        with self._connections.write() as connection:
            start = 0
            for size in _chunk_sizes(len(rows)):
                connection.execute(_trade_upsert(size), values[start * width : (start + size) * width])
                start += size
        return len(rows)

    def trades_for_day(self, symbol: str, day: date) -> list[TradeRow]:
        rows = self._read(
            f"SELECT {', '.join(TRADE_COLUMNS)} FROM trades WHERE symbol = ? AND trading_day = ? "
            "ORDER BY event_time, trade_id",
            (symbol, _iso(day)),
        )
        return [_trade_row(values) for values in rows]

    def symbols_for_day(self, day: date) -> list[str]:
        # Walks the distinct symbols through the primary key (one index seek each) instead of scanning trades.
        symbols, previous = [], ""
        while row := self._read("SELECT symbol FROM trades WHERE symbol > ? ORDER BY symbol LIMIT 1", (previous,)):
            previous = row[0][0]
            if self._read("SELECT 1 FROM trades WHERE symbol = ? AND trading_day = ? LIMIT 1", (previous, _iso(day))):
                symbols.append(previous)
        return symbols

    def latest_trade_time_ms(self) -> int | None:
        return self._read("SELECT MAX(last_trade_time) FROM daily_aggregates")[0][0]

    # -- bars
    def _bars(self, table: str, key_columns: Sequence[str], keys: Iterable[tuple]) -> dict:
        # A CROSS JOIN from the wanted keys makes SQLite seek the primary key once per key
        # (a row-value IN list would scan the table).
        keys = [(key[0], _iso(key[1]), *key[2:]) for key in keys]
        found = {}
        width = len(key_columns)
        names = ", ".join(key_columns)
        row_placeholder = f"({', '.join('?' for _ in key_columns)})"
        join = " AND ".join(f"t.{column} = wanted.{column}" for column in key_columns)
        selected = ", ".join(f"t.{column}" for column in (*key_columns, *BAR_VALUE_COLUMNS))
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            sql = (
                f"WITH wanted({names}) AS (VALUES {', '.join(row_placeholder for _ in chunk)}) "
                f"SELECT {selected} FROM wanted CROSS JOIN {table} t ON {join}"
            )
            for values in self._read(sql, [value for key in chunk for value in key]):
                key = (values[0], _day(values[1]), *values[2:width])
                found[key] = bar_from_values(values[width:], table, key)
        return found

    def _upsert_bars(self, sql: str, states: Mapping[tuple, BarState]) -> int:
        with self._connections.write() as connection:
            connection.executemany(
                sql, [(key[0], _iso(key[1]), *key[2:], *bar_values(state)) for key, state in states.items()]
            )
        return len(states)

    def daily_aggregates(self, keys: Iterable[DayKey]) -> dict[DayKey, BarState]:
        return self._bars("daily_aggregates", DAILY_KEY_COLUMNS, keys)

    def upsert_daily_aggregates(self, states: Mapping[DayKey, BarState]) -> int:
        return self._upsert_bars(_DAILY_UPSERT, states)

    def daily_aggregates_for_day(self, day: date) -> dict[str, BarState]:
        rows = self._read(f"SELECT symbol, {_BAR_SELECT} FROM daily_aggregates WHERE trading_day = ?", (_iso(day),))
        return {values[0]: bar_from_values(values[1:], "daily_aggregates", (values[0], day)) for values in rows}

    def minute_bars(self, keys: Iterable[MinuteKey]) -> dict[MinuteKey, BarState]:
        return self._bars("minute_bars", MINUTE_KEY_COLUMNS, keys)

    def upsert_minute_bars(self, states: Mapping[MinuteKey, BarState]) -> int:
        return self._upsert_bars(_MINUTE_UPSERT, states)

    def minute_bars_for_day(self, symbol: str, day: date) -> dict[int, BarState]:
        rows = self._read(
            f"SELECT bucket_start, {_BAR_SELECT} FROM minute_bars WHERE symbol = ? AND trading_day = ? "
            "ORDER BY bucket_start",
            (symbol, _iso(day)),
        )
        return {values[0]: bar_from_values(values[1:], "minute_bars", (symbol, day, values[0])) for values in rows}

    def compare_and_set_bars(
        self, daily: Mapping[DayKey, BarSwap], minute: Mapping[MinuteKey, BarSwap]
    ) -> list[DayKey | MinuteKey]:
        # One write transaction: the stream's batches (also one, see atomic_batch) cannot interleave.
        with self._connections.write():
            conflicts: list = []
            for swaps, read, upsert in ((daily, self.daily_aggregates, _DAILY_UPSERT), (minute, self.minute_bars, _MINUTE_UPSERT)):
                stored = read(swaps)
                changed = {key for key, (expected, _) in swaps.items() if not _unchanged(expected, stored.get(key))}
                self._upsert_bars(upsert, {key: new for key, (_, new) in swaps.items() if key not in changed})
                conflicts += sorted(changed)
        return conflicts

    # -- news
    def upsert_news(self, articles: Sequence[NewsArticle]) -> NewsWriteResult:
        fetched_at_ms = int(time.time() * 1000)
        values = [
            (article.symbol, article.published_at_ms, article.article_id, article.headline, article.summary,
             article.source, article.url, article.image, article.category, json.dumps(list(article.related)),
             fetched_at_ms, article.symbol, article.article_id)
            for article in articles
        ]  # fmt: skip
        with self._connections.write() as connection:
            new = connection.executemany(_NEWS_INSERT_NEW, values).rowcount
        return NewsWriteResult(new=new, duplicates=len(articles) - new)

    def news_for_symbol(self, symbol: str, limit: int = 50) -> list[NewsArticle]:
        rows = self._read(
            f"{_NEWS_SELECT} WHERE symbol = ? ORDER BY published_at DESC, article_id LIMIT ?", (symbol, limit)
        )
        return [_article(values) for values in rows]

    def latest_news_time_ms(self, symbol: str) -> int | None:
        return self._read("SELECT MAX(published_at) FROM news WHERE symbol = ?", (symbol,))[0][0]

    def duplicate_news(self) -> list[tuple[str, int]]:
        rows = self._read(
            "SELECT symbol, article_id FROM news GROUP BY symbol, article_id HAVING COUNT(*) > 1 ORDER BY 1, 2"
        )
        return [(symbol, article_id) for symbol, article_id in rows]

    # -- health
    def write_health(self, sample: HealthSample) -> None:
        with self._connections.write() as connection:
            connection.execute(
                _HEALTH_UPSERT,
                (sample.component, _iso(sample.partition_day()), sample.sampled_at_ms, sample.run_id, sample.trades,
                 sample.messages, sample.dead_letters, sample.rate_per_s, sample.latency_p50_ms, sample.latency_p99_ms),
            )  # fmt: skip

    def health_samples(self, component: str, day: date) -> list[HealthSample]:
        rows = self._read(
            f"SELECT {', '.join(HEALTH_COLUMNS)} FROM pipeline_health WHERE component = ? AND day = ? "
            "ORDER BY sampled_at DESC",
            (component, _iso(day)),
        )
        return [
            HealthSample(component=v[0], day=_day(v[1]), sampled_at_ms=v[2], run_id=v[3], trades=v[4], messages=v[5],
                         dead_letters=v[6], rate_per_s=v[7], latency_p50_ms=v[8], latency_p99_ms=v[9])
            for v in rows
        ]  # fmt: skip

    def close(self) -> None:
        self._connections.close()
