"""Render cassandra/schema.cql (keyspace, replication, TTLs, compaction) and apply it statement by statement."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from stock_platform.paths import project_dir

SCHEMA_FILE = "schema.cql"
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_DAY_S = 86_400


class _SchemaTemplate(Template):
    """Only `${name}` is a placeholder: a bare `$` or the `${...}` in the file's comments stays as written."""

    pattern = r"(?P<escaped>\$\$)|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<named>(?!))|(?P<invalid>(?!))"


def schema_path() -> Path:
    """cassandra/schema.cql of the checkout, or of STOCK_PLATFORM_HOME in an image (see stock_platform.paths)."""
    return project_dir("cassandra") / SCHEMA_FILE


def datacenters_from_spec(spec: str) -> dict[str, int]:
    """`dc1:3,dc2:3` -> {'dc1': 3, 'dc2': 3}."""
    datacenters: dict[str, int] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        name, _, factor = part.partition(":")
        if not name.strip() or not factor.strip().isdigit():
            raise ValueError(f"replication entry {part!r} is not <datacenter>:<replicas>, e.g. dc1:3")
        datacenters[name.strip()] = int(factor)
    return datacenters


@dataclass(frozen=True)
class SchemaSettings:
    """Values of the schema's placeholders.

    `datacenters` set means NetworkTopologyStrategy with those replica counts (production);
    otherwise SimpleStrategy with `replication_factor` (a single local node).
    A TTL of 0 keeps rows forever.
    """

    keyspace: str = "market"
    replication_factor: int = 1
    datacenters: Mapping[str, int] = field(default_factory=dict)
    trades_ttl_seconds: int = 30 * _DAY_S
    trades_compaction_window_hours: int = 24
    bars_ttl_seconds: int = 90 * _DAY_S
    health_ttl_seconds: int = 14 * _DAY_S

    def __post_init__(self) -> None:
        if not _IDENTIFIER.fullmatch(self.keyspace):
            raise ValueError(f"keyspace {self.keyspace!r} must be a letter then up to 47 letters, digits or _")
        for name in ("trades_ttl_seconds", "bars_ttl_seconds", "health_ttl_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0 (0 keeps rows forever)")
        if self.trades_compaction_window_hours < 1:
            raise ValueError("trades_compaction_window_hours must be at least 1")
        if self.replication_factor < 1 or any(factor < 1 for factor in self.datacenters.values()):
            raise ValueError("replication factors must be at least 1")
        for name in self.datacenters:
            if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
                raise ValueError(f"datacenter name {name!r} has characters CQL would not accept in a string")

    def replication(self) -> str:
        """The CQL replication map."""
        if self.datacenters:
            replicas = ", ".join(f"'{name}': {factor}" for name, factor in sorted(self.datacenters.items()))
            return "{'class': 'NetworkTopologyStrategy', " + replicas + "}"
        return "{'class': 'SimpleStrategy', 'replication_factor': " + str(self.replication_factor) + "}"

    def values(self) -> dict[str, Any]:
        return {
            "keyspace": self.keyspace,
            "replication": self.replication(),
            "trades_ttl_seconds": self.trades_ttl_seconds,
            "trades_compaction_window_hours": self.trades_compaction_window_hours,
            "bars_ttl_seconds": self.bars_ttl_seconds,
            "health_ttl_seconds": self.health_ttl_seconds,
        }


def render_schema(settings: SchemaSettings | None = None, template: str | None = None) -> str:
    """The schema CQL with every placeholder filled (template: cassandra/schema.cql unless given)."""
    text = schema_path().read_text(encoding="utf-8") if template is None else template
    try:
        return _SchemaTemplate(text).substitute((settings or SchemaSettings()).values())
    except KeyError as error:
        raise ValueError(f"schema template has an unknown placeholder ${{{error.args[0]}}}") from None


def split_statements(cql: str) -> list[str]:
    """Statements of a CQL script, without comments, split at semicolons outside quotes."""
    statements: list[str] = []
    current: list[str] = []
    index, length = 0, len(cql)
    while index < length:
        char = cql[index]
        pair = cql[index : index + 2]
        if pair in ("--", "//"):
            newline = cql.find("\n", index)
            index = length if newline < 0 else newline
            continue
        if pair == "/*":
            end = cql.find("*/", index + 2)
            if end < 0:
                raise ValueError("CQL script has an unterminated /* comment")
            index = end + 2
            current.append(" ")
            continue
        if char in ("'", '"'):
            end = index + 1
            while True:
                end = cql.find(char, end)
                if end < 0:
                    raise ValueError(f"CQL script has an unterminated {char} quote")
                if cql[end + 1 : end + 2] != char:
                    break
                end += 2
            current.append(cql[index : end + 1])
            index = end + 1
            continue
        if char == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    statements.append("".join(current).strip())
    return [statement for statement in statements if statement]


class SchemaApplyError(RuntimeError):
    """The cluster refused a schema statement (e.g. a datacenter it does not have); the message is one line."""


def apply_schema(session: Any, rendered: str, timeout_s: float = 60.0) -> list[str]:
    """Execute every statement of the rendered schema in order (each is IF NOT EXISTS, so repeatable).

    Returns:
        The statements executed.
    """
    statements = split_statements(rendered)
    for statement in statements:
        try:
            session.execute(statement, timeout=timeout_s)
        except Exception as error:  # noqa: BLE001 - name the failing statement whatever the driver raised
            raise SchemaApplyError(
                f"the cluster refused `{' '.join(statement.split())[:120]}` ({type(error).__name__}: {error})"
            ) from None
    return statements
