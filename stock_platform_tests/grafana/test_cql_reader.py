"""The CQL reader behind the dashboard checks must itself catch the mistakes it is there for."""

import pytest

from stock_platform_tests.grafana.cql import CqlError, Table, check_against_schema, parse_schema, parse_select

SCHEMA = """
-- comment with a fake CREATE TABLE nope (x int, PRIMARY KEY (x));
CREATE TABLE IF NOT EXISTS ${keyspace}.bars (
    symbol text,
    day    date,
    at     timestamp,
    price  double,
    PRIMARY KEY ((symbol, day), at)
) WITH CLUSTERING ORDER BY (at DESC);
CREATE TABLE IF NOT EXISTS ${keyspace}.latest (
    symbol text,
    price  double,
    PRIMARY KEY (symbol)
);
"""


@pytest.fixture
def tables():
    return parse_schema(SCHEMA)


def test_schema_reader_finds_columns_and_keys(tables):
    assert set(tables) == {"bars", "latest"}
    assert tables["bars"] == Table(
        "bars", {"symbol": "text", "day": "date", "at": "timestamp", "price": "double"}, ("symbol", "day"), ("at",)
    )
    assert tables["latest"].partition_key == ("symbol",)
    assert tables["latest"].clustering == ()


def test_select_reader_handles_variables_functions_and_limits():
    select = parse_select(
        "SELECT symbol, toTimestamp(day) AS d, CAST(price AS text) FROM ${keyspace}.bars "
        "WHERE symbol = '${symbol}' AND day IN (${day:singlequote}) AND at >= $__timeFrom PER PARTITION LIMIT 5"
    )
    assert select.table == "bars"
    assert select.keyspace_prefixed
    assert select.selected == ["symbol", "day", "price"]
    assert [(r.column, r.op) for r in select.restrictions] == [("symbol", "="), ("day", "IN"), ("at", ">=")]
    assert select.per_partition_limit == 5


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("SELECT symbol, volume FROM ${keyspace}.bars WHERE symbol = 'a' AND day = 'b'", "column volume is not"),
        ("SELECT symbol FROM ${keyspace}.trades_v2 WHERE symbol = 'a'", "table trades_v2 is not"),
        ("SELECT symbol, price FROM ${keyspace}.bars WHERE symbol = 'a'", "partition key column day"),
        ("SELECT symbol, price FROM ${keyspace}.bars WHERE symbol = 'a' AND day > 'b'", "partition key column day"),
        ("SELECT symbol, price FROM ${keyspace}.latest WHERE price > 1 AND symbol = 'a'", "neither partition key"),
        ("SELECT DISTINCT symbol FROM ${keyspace}.bars", "must select exactly its partition key"),
    ],
)
def test_schema_check_reports_queries_cassandra_would_reject_or_scan(tables, query, problem):
    problems = check_against_schema(parse_select(query), tables)
    assert any(problem in message for message in problems), problems


def test_schema_check_accepts_a_partition_bounded_query(tables):
    select = parse_select(
        "SELECT symbol, price, at FROM ${keyspace}.bars WHERE symbol = '$symbol' AND day IN ('x', 'y') "
        "AND at >= $__timeFrom AND at <= $__timeTo"
    )
    assert check_against_schema(select, tables) == []


@pytest.mark.parametrize(
    "query",
    ["UPDATE bars SET price = 1 WHERE symbol = 'a'", "SELECT symbol FROM other.bars", "SELECT price + 1 FROM bars"],
)
def test_select_reader_rejects_what_it_cannot_read(query):
    with pytest.raises(CqlError):
        parse_select(query)
