"""An in-memory stand-in for a Cassandra session, built from cassandra/schema.cql.

`prepare` returns real driver PreparedStatements whose bind markers carry the column types of the
schema file, so binding serializes values exactly as against a cluster, and a statement naming a
table or column the schema lacks fails to prepare (schema drift shows up in tests). Executing
decodes the bound bytes and applies them to per-table rows ordered as the CLUSTERING ORDER says.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Any

from cassandra import InvalidRequest
from cassandra import cqltypes as ct
from cassandra.protocol import ColumnMetadata
from cassandra.query import BatchStatement, BoundStatement, PreparedStatement

from stock_platform.storage.schema import SchemaSettings, render_schema, split_statements

PROTOCOL_VERSION = 4
CQL_TYPES = {
    "text": ct.UTF8Type,
    "date": ct.SimpleDateType,
    "timestamp": ct.DateType,
    "double": ct.DoubleType,
    "bigint": ct.LongType,
    "int": ct.Int32Type,
    "list<text>": ct.ListType.apply_parameters([ct.UTF8Type]),
}
_CONDITION = re.compile(r"(\w+)\s*(=|>=|<=|<|>)\s*\?")


@dataclass
class Table:
    columns: dict[str, str]
    partition_key: list[str]
    clustering: list[tuple[str, bool]]  # (column, descending)
    rows: dict[tuple, dict[str, Any]] = field(default_factory=dict)

    @property
    def primary_key(self) -> list[str]:
        return self.partition_key + [name for name, _ in self.clustering]


def parse_tables(cql: str) -> dict[str, Table]:
    tables = {}
    for statement in split_statements(cql):
        match = re.match(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+) \((.*)\) WITH (.*)", statement, re.S)
        if not match:
            continue
        name, body, options = match.groups()
        columns = dict(re.findall(r"^\s*(\w+)\s+([\w<>]+),?\s*$", body, re.M))
        columns.pop("PRIMARY", None)
        key = re.search(r"PRIMARY KEY \(\(([^)]*)\)(?:,\s*([^)]*))?\)", body)
        partition = [part.strip() for part in key.group(1).split(",")]
        clustering_names = [part.strip() for part in (key.group(2) or "").split(",") if part.strip()]
        order = dict(re.findall(r"(\w+) (ASC|DESC)", re.search(r"CLUSTERING ORDER BY \(([^)]*)\)", options).group(1)))
        clustering = [(column, order.get(column) == "DESC") for column in clustering_names]
        tables[name] = Table(columns, partition, clustering)
    return tables


class _Descending:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return other.value < self.value


class FakeFuture:
    def __init__(self, rows: list[tuple] | None = None, error: BaseException | None = None) -> None:
        self._rows, self._error = rows or [], error

    def result(self) -> list[tuple]:
        if self._error is not None:
            raise self._error
        return self._rows


class FakeSession:
    """Prepares real statements and executes bound ones and batches against in-memory tables."""

    def __init__(self, keyspace: str = "market") -> None:
        self.keyspace = keyspace
        self.tables = parse_tables(render_schema(SchemaSettings(keyspace=keyspace)))
        self.prepared: dict[bytes, PreparedStatement] = {}
        self.prepare_calls: list[str] = []
        self.executed: list[Any] = []
        self.failures: list[BaseException] = []
        self.default_fetch_size = None

    # -- preparing
    def prepare(self, query: str) -> PreparedStatement:
        self.prepare_calls.append(query)
        keyspace, table_name = re.search(r"(?:INTO|FROM) (\w+)\.(\w+)", query).groups()
        if keyspace != self.keyspace:
            raise InvalidRequest(f"Keyspace {keyspace} does not exist")
        table = self.tables.get(table_name)
        if table is None:
            raise InvalidRequest(f"unconfigured table {table_name}")
        if query.startswith("INSERT"):
            names = [name.strip() for name in re.search(r"\(([^)]*)\) VALUES", query).group(1).split(",")]
        else:
            names = [name for name, _ in _CONDITION.findall(query)]
        for name in names + self._selected(query):
            if name not in table.columns:
                raise InvalidRequest(f"undefined column name {name} in table {table_name}")
        metadata = [ColumnMetadata(self.keyspace, table_name, name, CQL_TYPES[table.columns[name]]) for name in names]
        if "LIMIT ?" in query:
            metadata.append(ColumnMetadata(self.keyspace, table_name, "[limit]", ct.Int32Type))
        routing = [names.index(name) for name in table.partition_key] if set(table.partition_key) <= set(names) else None
        statement = PreparedStatement(metadata, query.encode(), routing, query, self.keyspace, PROTOCOL_VERSION, None, None)
        self.prepared[statement.query_id] = statement
        return statement

    @staticmethod
    def _selected(query: str) -> list[str]:
        match = re.match(r"SELECT (?:DISTINCT )?(.*?) FROM", query)
        return [name.strip() for name in match.group(1).split(",")] if match else []

    # -- executing
    def execute_async(self, statement: Any) -> FakeFuture:
        self.executed.append(statement)
        if self.failures:
            return FakeFuture(error=self.failures.pop(0))
        if isinstance(statement, BatchStatement):
            for _, query_id, values in statement._statements_and_parameters:
                self._run(self.prepared[query_id], values)
            return FakeFuture()
        return FakeFuture(self._run(statement.prepared_statement, statement.values))

    def decode(self, prepared: PreparedStatement, values: list[bytes | None]) -> list[Any]:
        return [
            None if value is None else column.type.deserialize(value, PROTOCOL_VERSION)
            for value, column in zip(values, prepared.column_metadata)
        ]

    def _run(self, prepared: PreparedStatement, values: list[bytes | None]) -> list[tuple]:
        query = prepared.query_string
        table = self.tables[re.search(r"(?:INTO|FROM) \w+\.(\w+)", query).group(1)]
        decoded = self.decode(prepared, values)
        names = [column.name for column in prepared.column_metadata]
        if query.startswith("INSERT"):
            row = dict(zip(names, decoded))
            table.rows[tuple(row[name] for name in table.primary_key)] = row
            return []
        conditions = list(zip(_CONDITION.findall(query), decoded))
        limit = decoded[-1] if names and names[-1] == "[limit]" else None
        matching = [key for key, row in table.rows.items() if all(_holds(row[c], op, v) for (c, op), v in conditions)]
        if query.startswith("DELETE"):
            for key in matching:
                del table.rows[key]
            return []
        ordered = sorted((table.rows[key] for key in matching), key=lambda row: self._order(table, row))
        selected = self._selected(query)
        result = [tuple(row[name] for name in selected) for row in ordered]
        if query.startswith("SELECT DISTINCT"):
            result = list(dict.fromkeys(result))
        return result[:limit] if limit is not None else result

    @staticmethod
    def _order(table: Table, row: dict[str, Any]) -> tuple:
        partition = tuple(str(row[name]) for name in table.partition_key)
        return partition + tuple(_Descending(row[name]) if desc else row[name] for name, desc in table.clustering)


_OPERATORS = {"=": operator.eq, ">=": operator.ge, "<=": operator.le, "<": operator.lt, ">": operator.gt}


def _holds(stored: Any, op: str, value: Any) -> bool:
    return stored is not None and _OPERATORS[op](stored, value)


class FakeCluster:
    def __init__(self, session: FakeSession | None = None) -> None:
        self.session = session or FakeSession()
        self.connect_calls = 0
        self.shutdown_calls = 0

    def connect(self, keyspace: str | None = None) -> FakeSession:
        self.connect_calls += 1
        return self.session

    def shutdown(self) -> None:
        self.shutdown_calls += 1


def bound_rows(session: FakeSession, statement: Any) -> list[dict[str, Any]]:
    """Decoded values of a bound statement or of every statement in a batch, as {column: value}."""
    if isinstance(statement, BoundStatement):
        parts = [(statement.prepared_statement, statement.values)]
    else:
        parts = [(session.prepared[query_id], values) for _, query_id, values in statement._statements_and_parameters]
    return [
        dict(zip((column.name for column in prepared.column_metadata), session.decode(prepared, values)))
        for prepared, values in parts
    ]
