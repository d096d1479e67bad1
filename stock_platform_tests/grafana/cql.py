"""A small CQL reader for the static dashboard checks: table definitions from cassandra/schema.cql and the
SELECT statements the dashboards send (after Grafana variables are replaced by placeholders)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEYSPACE_PLACEHOLDER = re.compile(r"\$\{keyspace\}\.|\bmarket\.", re.IGNORECASE)
# Grafana variables: ${name}, ${name:format}, $name, and the plugin macros $__timeFrom / $__timeTo.
GRAFANA_VARIABLE = re.compile(r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")
TIME_MACROS = frozenset({"__timeFrom", "__timeTo"})

_CREATE_TABLE = re.compile(
    r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\$\{keyspace\}\.|\w+\.)?(?P<name>\w+)\s*\((?P<body>.*?)\)\s*(?:WITH|;)",
    re.IGNORECASE | re.DOTALL,
)
_PRIMARY_KEY = re.compile(r"PRIMARY\s+KEY\s*\((?P<key>.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<distinct>DISTINCT\s+)?(?P<selectors>.+?)\s+FROM\s+(?P<source>[\w.]+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+PER\s+PARTITION\s+LIMIT\s+(?P<per_partition_limit>\d+))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_RESTRICTION = re.compile(r"^(?P<column>\w+)\s*(?P<op>=|>=|<=|>|<|\bIN\b)\s*(?P<value>.+)$", re.IGNORECASE | re.DOTALL)
_FUNCTION_SELECTOR = re.compile(r"^(?P<function>\w+)\s*\((?P<argument>.+)\)$", re.DOTALL)
_IDENTIFIER = re.compile(r"^\w+$")


class CqlError(ValueError):
    """A statement the checks cannot read, or that the schema cannot serve."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]
    partition_key: tuple[str, ...]
    clustering: tuple[str, ...]


@dataclass(frozen=True)
class Restriction:
    column: str
    op: str
    value: str


@dataclass
class Select:
    table: str
    keyspace_prefixed: bool
    distinct: bool
    selected: list[str]
    restrictions: list[Restriction] = field(default_factory=list)
    limit: int | None = None
    per_partition_limit: int | None = None

    def columns(self) -> set[str]:
        return set(self.selected) | {restriction.column for restriction in self.restrictions}


def parse_schema(text: str) -> dict[str, Table]:
    """Every CREATE TABLE of a schema file, by table name."""
    text = re.sub(r"--[^\n]*", "", text)
    tables: dict[str, Table] = {}
    for match in _CREATE_TABLE.finditer(text):
        body = match.group("body")
        key_match = _PRIMARY_KEY.search(body)
        if key_match is None:
            raise CqlError(f"table {match.group('name')} has no PRIMARY KEY clause")
        columns: dict[str, str] = {}
        for line in body[: key_match.start()].split(","):
            parts = line.split()
            if len(parts) >= 2:
                columns[parts[0]] = " ".join(parts[1:])
        partition_key, clustering = _parse_primary_key(key_match.group("key"))
        tables[match.group("name")] = Table(match.group("name"), columns, partition_key, clustering)
    return tables


def _parse_primary_key(key: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    key = key.strip()
    if key.startswith("("):
        closing = key.index(")")
        partition = tuple(part.strip() for part in key[1:closing].split(","))
        rest = key[closing + 1 :]
    else:
        first, _, rest = key.partition(",")
        partition = (first.strip(),)
    clustering = tuple(part.strip() for part in rest.split(",") if part.strip())
    return partition, clustering


def grafana_variables(query: str) -> set[str]:
    """Names of the Grafana variables and macros a query references."""
    return {match.group("braced") or match.group("bare") for match in GRAFANA_VARIABLE.finditer(query)}


def substitute_variables(query: str) -> str:
    """Replace Grafana variables with literals so the statement reads as plain CQL."""
    return GRAFANA_VARIABLE.sub(lambda match: "0" if (match.group("braced") or match.group("bare")) in TIME_MACROS else "v", query)


def parse_select(query: str) -> Select:
    """Read one SELECT statement a dashboard sends; raises CqlError for anything else."""
    keyspace_prefixed = bool(re.search(r"FROM\s+\$\{keyspace\}\.", query, re.IGNORECASE))
    text = substitute_variables(KEYSPACE_PLACEHOLDER.sub("", query))
    match = _SELECT.match(text)
    if match is None:
        raise CqlError(f"not a SELECT ... FROM table [WHERE ...] [PER PARTITION LIMIT n] [LIMIT n]: {query}")
    source = match.group("source")
    if "." in source:
        raise CqlError(f"table {source} is in an unexpected keyspace; use ${{keyspace}}.table: {query}")
    select = Select(
        table=source,
        keyspace_prefixed=keyspace_prefixed,
        distinct=bool(match.group("distinct")),
        selected=[_selected_column(selector) for selector in _split_top_level(match.group("selectors"), ",")],
        limit=int(match.group("limit")) if match.group("limit") else None,
        per_partition_limit=int(match.group("per_partition_limit")) if match.group("per_partition_limit") else None,
    )
    if match.group("where"):
        select.restrictions = [_restriction(part) for part in _split_top_level(match.group("where"), " AND ")]
    return select


def _selected_column(selector: str) -> str:
    """The column a selector reads: `col`, `col AS alias`, `fn(col) AS alias` or `CAST(col AS type)`."""
    expression = re.split(r"\s+AS\s+(?=\w+$)", selector.strip(), flags=re.IGNORECASE)[0].strip()
    function = _FUNCTION_SELECTOR.match(expression)
    if function:
        expression = re.split(r"\s+AS\s+", function.group("argument").strip(), flags=re.IGNORECASE)[0].strip()
    if not _IDENTIFIER.match(expression):
        raise CqlError(f"selector {selector!r} does not read a single column")
    return expression


def _restriction(text: str) -> Restriction:
    match = _RESTRICTION.match(text.strip())
    if match is None:
        raise CqlError(f"cannot read WHERE condition {text!r}")
    return Restriction(match.group("column"), match.group("op").upper(), match.group("value").strip())


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quotes and parentheses (case-insensitive for keywords)."""
    parts, depth, quoted, start, index = [], 0, False, 0, 0
    upper = text.upper()
    while index < len(text):
        char = text[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and upper.startswith(separator, index):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def check_against_schema(select: Select, tables: dict[str, Table]) -> list[str]:
    """Problems that would make Cassandra reject the query or scan the cluster; empty when it is sound."""
    table = tables.get(select.table)
    if table is None:
        return [f"table {select.table} is not in cassandra/schema.cql"]
    problems = [f"column {column} is not in table {table.name}" for column in sorted(select.columns() - set(table.columns))]
    if problems:
        return problems
    restricted = {restriction.column: restriction for restriction in select.restrictions}
    if select.distinct:
        if set(select.selected) != set(table.partition_key) or select.restrictions:
            problems.append(f"SELECT DISTINCT on {table.name} must select exactly its partition key {table.partition_key}")
        return problems
    for column in table.partition_key:
        restriction = restricted.get(column)
        if restriction is None or restriction.op not in ("=", "IN"):
            problems.append(f"partition key column {column} of {table.name} needs = or IN (no full-table scan)")
    for restriction in select.restrictions:
        if restriction.column not in table.partition_key and restriction.column not in table.clustering:
            problems.append(f"{restriction.column} of {table.name} is neither partition key nor clustering column")
    for position, column in enumerate(table.clustering):
        if column in restricted and any(earlier not in restricted for earlier in table.clustering[:position]):
            problems.append(f"clustering column {column} of {table.name} restricted before the earlier ones")
    return problems
