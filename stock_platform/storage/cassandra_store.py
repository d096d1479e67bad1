"""MarketStore on Cassandra: prepared statements, per-partition UNLOGGED batches run concurrently."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from stock_platform.models import NewsArticle, TradeRow
from stock_platform.processing.aggregation import BarState, DayKey, MinuteKey
from stock_platform.storage.base import BarSwap, HealthSample, MarketStore, NewsWriteResult, StoreError
from stock_platform.storage.cassandra_session import StatementRunner, build_cluster
from stock_platform.storage.cassandra_statements import prepare_statements
from stock_platform.storage.columns import bar_from_values, bar_values
from stock_platform.storage.settings import CassandraStoreSettings

_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)
_DAY_MS = 86_400_000
_BAR_TIME_INDEXES = (8, 9, 14)


def _ms(value: Any) -> int | None:
    """Epoch ms of a timestamp the driver returned (a naive UTC datetime)."""
    if value is None or isinstance(value, int):
        return value
    return (value - (_EPOCH_UTC if value.tzinfo else _EPOCH)) // _ONE_MS


def _date(value: Any) -> date:
    """A `date` column value (the driver returns cassandra.util.Date) as datetime.date."""
    return value if type(value) is date else value.date()


def _bar(row: Sequence, width: int, table: str) -> tuple[tuple, BarState]:
    key = (row[0], _date(row[1]), *(_ms(value) for value in row[2:width]))
    values = list(row[width:])
    for index in _BAR_TIME_INDEXES:
        values[index] = _ms(values[index])
    return key, bar_from_values(values, table, key)


def _trade(row: Sequence) -> TradeRow:
    return TradeRow(
        symbol=row[0], trading_day=_date(row[1]), event_time_ms=_ms(row[2]), trade_id=row[3], price=row[4],
        volume=row[5], conditions=tuple(row[6]) if row[6] is not None else None, received_at_ms=_ms(row[7]),
        kafka_partition=row[8], kafka_offset=row[9],
    )  # fmt: skip


def _article(row: Sequence) -> NewsArticle:
    return NewsArticle(
        symbol=row[0], published_at_ms=_ms(row[1]), article_id=row[2], headline=row[3] or "", summary=row[4] or "",
        source=row[5] or "", url=row[6] or "", image=row[7] or "", category=row[8] or "", related=tuple(row[9] or ()),
    )  # fmt: skip


class CassandraMarketStore(MarketStore):
    """MarketStore on a Cassandra keyspace created from cassandra/schema.cql.

    Writes are grouped by partition key into UNLOGGED batches of at most `batch_max_rows` (one
    replica set per batch, so no coordinator fan-out) and run concurrently; every write is an
    idempotent upsert, so transient failures are retried. Bar read-modify-write relies on one writer
    per symbol, which Kafka's per-symbol partitioning gives the stream; the reconcile, a second
    writer, replaces bars by compare-and-set (lightweight transactions, see `write_recomputed`).
    """

    def __init__(
        self,
        settings: CassandraStoreSettings,
        cluster_factory: Callable[[CassandraStoreSettings], Cluster] = build_cluster,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._cluster = cluster_factory(settings)
        try:
            self._session = self._cluster.connect()
            self._session.default_fetch_size = settings.fetch_size
            self._statements = prepare_statements(self._session, settings.keyspace)
        except NoHostAvailable as error:
            self._cluster.shutdown()
            raise StoreError(
                f"cannot connect to Cassandra at {','.join(settings.contact_points)}:{settings.port} ({error}); "
                "check CASSANDRA_CONTACT_POINTS, CASSANDRA_PORT, credentials and CASSANDRA_TLS"
            ) from None
        except BaseException:
            self._cluster.shutdown()
            raise
        self._runner = StatementRunner(self._session, settings, sleep)

    def _table(self, name: str) -> str:
        return f"{self._settings.keyspace}.{name}"

    def _query(self, prepared: PreparedStatement, parameters: Iterable[Sequence], what: str) -> list[list[tuple]]:
        return self._runner.run([prepared.bind(values) for values in parameters], what)

    def _write(self, prepared: PreparedStatement, groups: Mapping[Any, list[Sequence]], table: str) -> int:
        """Write rows grouped by partition key: one UNLOGGED batch per partition chunk, run concurrently."""
        statements: list[Any] = []
        size = self._settings.batch_max_rows
        for rows in groups.values():
            for start in range(0, len(rows), size):
                chunk = rows[start : start + size]
                if len(chunk) == 1:
                    statements.append(prepared.bind(chunk[0]))
                    continue
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for values in chunk:
                    batch.add(prepared, values)
                statements.append(batch)
        written = sum(len(rows) for rows in groups.values())
        self._runner.run(statements, f"write of {written} rows to {self._table(table)}")
        return written

    # -- trades
    def write_trades(self, rows: Sequence[TradeRow]) -> int:
        groups: dict[DayKey, list[tuple]] = defaultdict(list)
        for row in rows:
            groups[(row.symbol, row.trading_day)].append((
                row.symbol, row.trading_day, row.event_time_ms, row.trade_id, row.price, row.volume,
                list(row.conditions) if row.conditions is not None else None, row.received_at_ms,
                row.kafka_partition, row.kafka_offset,
            ))  # fmt: skip
        return self._write(self._statements.insert_trade, groups, "trades")

    def trades_for_day(self, symbol: str, day: date) -> list[TradeRow]:
        statement = self._statements.select_trades_of_day
        [rows] = self._query(statement, [(symbol, day)], f"read of {symbol} trades on {day}")
        return sorted(map(_trade, rows), key=lambda trade: (trade.event_time_ms, trade.trade_id))

    def symbols_for_day(self, day: date) -> list[str]:
        # DISTINCT over the partition keys reads one row per partition (symbol x day, bounded by the TTL).
        [rows] = self._query(self._statements.select_trade_partitions, [()], "scan of trade partitions")
        return sorted({row[0] for row in rows if _date(row[1]) == day})

    def _daily_symbols(self) -> list[str]:
        [rows] = self._query(self._statements.select_daily_symbols, [()], "scan of daily_aggregates symbols")
        return sorted(row[0] for row in rows)

    def latest_trade_time_ms(self) -> int | None:
        symbols = [(symbol,) for symbol in self._daily_symbols()]
        results = self._query(self._statements.select_latest_daily, symbols, "read of latest daily bars")
        return max((_ms(rows[0][0]) for rows in results if rows and rows[0][0] is not None), default=None)

    # -- bars
    def daily_aggregates(self, keys: Iterable[DayKey]) -> dict[DayKey, BarState]:
        results = self._query(self._statements.select_daily, list(keys), "read of daily_aggregates")
        return dict(_bar(row, 2, "daily_aggregates") for rows in results for row in rows)

    def upsert_daily_aggregates(self, states: Mapping[DayKey, BarState]) -> int:
        groups: dict[str, list[tuple]] = defaultdict(list)
        for (symbol, day), state in states.items():
            groups[symbol].append((symbol, day, *bar_values(state)))
        return self._write(self._statements.insert_daily, groups, "daily_aggregates")

    def daily_aggregates_for_day(self, day: date) -> dict[str, BarState]:
        found = self.daily_aggregates((symbol, day) for symbol in self._daily_symbols())
        return {symbol: state for (symbol, _), state in found.items()}

    def minute_bars(self, keys: Iterable[MinuteKey]) -> dict[MinuteKey, BarState]:
        wanted = set(keys)
        spans: dict[DayKey, list[int]] = {}
        for symbol, day, bucket in wanted:
            span = spans.setdefault((symbol, day), [bucket, bucket])
            span[0], span[1] = min(span[0], bucket), max(span[1], bucket)
        parameters = [(symbol, day, low, high) for (symbol, day), (low, high) in spans.items()]
        results = self._query(self._statements.select_minute_range, parameters, "read of minute_bars")
        found = dict(_bar(row, 3, "minute_bars") for rows in results for row in rows)
        return {key: state for key, state in found.items() if key in wanted}

    def upsert_minute_bars(self, states: Mapping[MinuteKey, BarState]) -> int:
        groups: dict[DayKey, list[tuple]] = defaultdict(list)
        for (symbol, day, bucket), state in states.items():
            groups[(symbol, day)].append((symbol, day, bucket, *bar_values(state)))
        return self._write(self._statements.insert_minute, groups, "minute_bars")

    def minute_bars_for_day(self, symbol: str, day: date) -> dict[int, BarState]:
        statement = self._statements.select_minute_day
        [rows] = self._query(statement, [(symbol, day)], f"read of {symbol} minute bars on {day}")
        bars = dict(_bar(row, 3, "minute_bars") for row in rows)
        return {key[2]: bars[key] for key in sorted(bars)}

    def compare_and_set_bars(
        self, daily: Mapping[DayKey, BarSwap], minute: Mapping[MinuteKey, BarSwap]
    ) -> list[DayKey | MinuteKey]:
        """One lightweight transaction per bar (INSERT IF NOT EXISTS, or UPDATE IF on the compared columns), run concurrently."""
        keys: list = []
        statements: list = []
        for swaps, insert, update in (
            (daily, self._statements.insert_daily_if_absent, self._statements.update_daily_if),
            (minute, self._statements.insert_minute_if_absent, self._statements.update_minute_if),
        ):
            for key, (expected, new) in swaps.items():
                keys.append(key)
                if expected is None:
                    statements.append(insert.bind((*key, *bar_values(new))))
                else:
                    condition = (expected.trade_count, expected.volume, expected.last_trade_id)
                    statements.append(update.bind((*bar_values(new), *key, *condition)))
        results = self._runner.run(statements, f"compare-and-set of {len(statements)} bars")
        # The first column of a lightweight transaction's result row is [applied].
        return [key for key, rows in zip(keys, results) if not rows[0][0]]

    # -- news
    def upsert_news(self, articles: Sequence[NewsArticle]) -> NewsWriteResult:
        """Skip articles whose (symbol, article_id) is stored within the dedupe window before the oldest one."""
        by_symbol: dict[str, list[NewsArticle]] = defaultdict(list)
        for article in articles:
            by_symbol[article.symbol].append(article)
        window_ms = self._settings.news_dedupe_window_days * _DAY_MS
        symbols = sorted(by_symbol)
        since = [(symbol, min(a.published_at_ms for a in by_symbol[symbol]) - window_ms) for symbol in symbols]
        results = self._query(self._statements.select_news_ids_since, since, "read of stored news ids")
        fetched_at_ms = int(time.time() * 1000)
        groups: dict[str, list[tuple]] = defaultdict(list)
        for symbol, rows in zip(symbols, results):
            known = {row[0] for row in rows}
            for article in by_symbol[symbol]:
                if article.article_id in known:
                    continue
                known.add(article.article_id)
                groups[symbol].append((
                    symbol, article.published_at_ms, article.article_id, article.headline, article.summary,
                    article.source, article.url, article.image, article.category, list(article.related), fetched_at_ms,
                ))  # fmt: skip
        new = self._write(self._statements.insert_news, groups, "news")
        return NewsWriteResult(new=new, duplicates=len(articles) - new)

    def news_for_symbol(self, symbol: str, limit: int = 50) -> list[NewsArticle]:
        [rows] = self._query(self._statements.select_news, [(symbol, limit)], f"read of {symbol} news")
        return [_article(row) for row in rows]

    def latest_news_time_ms(self, symbol: str) -> int | None:
        newest = self.news_for_symbol(symbol, 1)
        return newest[0].published_at_ms if newest else None

    def duplicate_news(self) -> list[tuple[str, int]]:
        """Scans every symbol's news partition (small: news arrive in the thousands per day)."""
        [rows] = self._query(self._statements.select_news_symbols, [()], "scan of news symbols")
        symbols = sorted(row[0] for row in rows)
        results = self._query(self._statements.select_news_ids, [(symbol,) for symbol in symbols], "read of news ids")
        return sorted(
            (symbol, article_id)
            for symbol, rows in zip(symbols, results)
            for article_id, count in Counter(row[0] for row in rows).items()
            if count > 1
        )

    # -- health
    def write_health(self, sample: HealthSample) -> None:
        values = (
            sample.component, sample.partition_day(), sample.sampled_at_ms, sample.run_id, sample.trades,
            sample.messages, sample.dead_letters, sample.rate_per_s, sample.latency_p50_ms, sample.latency_p99_ms,
        )  # fmt: skip
        self._write(self._statements.insert_health, {sample.component: [values]}, "pipeline_health")

    def health_samples(self, component: str, day: date) -> list[HealthSample]:
        [rows] = self._query(self._statements.select_health, [(component, day)], f"read of {component} health")
        return [
            HealthSample(component=r[0], day=_date(r[1]), sampled_at_ms=_ms(r[2]), run_id=r[3], trades=r[4],
                         messages=r[5], dead_letters=r[6], rate_per_s=r[7], latency_p50_ms=r[8], latency_p99_ms=r[9])
            for r in rows
        ]  # fmt: skip

    def close(self) -> None:
        self._cluster.shutdown()
