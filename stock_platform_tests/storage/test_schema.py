"""Rendering cassandra/schema.cql, splitting it into statements, applying it to the real node."""

from dataclasses import replace

import pytest

from stock_platform.storage.schema import (
    SchemaApplyError,
    SchemaSettings,
    apply_schema,
    datacenters_from_spec,
    render_schema,
    schema_path,
    split_statements,
)
from stock_platform_tests.storage.cassandra_keyspaces import schema_keyspace


def test_default_render_is_a_single_node_keyspace_with_ttls():
    rendered = render_schema()
    assert "${" not in rendered.replace("`${...}`", "")
    statements = split_statements(rendered)
    assert statements[0] == (
        "CREATE KEYSPACE IF NOT EXISTS market\n  WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}\n"
        "  AND durable_writes = true"
    )
    assert [s.split("(")[0].split()[-1] for s in statements[1:]] == [
        "market.trades", "market.daily_aggregates", "market.minute_bars", "market.news", "market.pipeline_health",
    ]  # fmt: skip
    assert "default_time_to_live = 2592000" in statements[1] and "'compaction_window_size': 24" in statements[1]
    assert all("--" not in statement for statement in statements)


def test_production_render_uses_network_topology_and_configured_values():
    settings = SchemaSettings(keyspace="prod_market", datacenters=datacenters_from_spec("dc2:3, dc1:5"),
                              trades_ttl_seconds=86_400, trades_compaction_window_hours=2, bars_ttl_seconds=0,
                              health_ttl_seconds=3600)  # fmt: skip
    statements = split_statements(render_schema(settings))
    assert "{'class': 'NetworkTopologyStrategy', 'dc1': 5, 'dc2': 3}" in statements[0]
    assert all(" prod_market." in s for s in statements[1:])
    assert "default_time_to_live = 86400" in statements[1] and "'compaction_window_size': 2" in statements[1]
    assert "default_time_to_live = 0" in statements[3] and "default_time_to_live = 3600" in statements[5]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"keyspace": "market; DROP"}, "keyspace 'market; DROP'"),
        ({"trades_ttl_seconds": -1}, "trades_ttl_seconds=-1 must be >= 0"),
        ({"trades_compaction_window_hours": 0}, "at least 1"),
        ({"datacenters": {"dc1": 0}}, "at least 1"),
        ({"datacenters": {"dc'1": 3}}, "datacenter name"),
    ],
)
def test_bad_schema_settings_are_rejected(settings, message):
    with pytest.raises(ValueError, match=message):
        SchemaSettings(**settings)


def test_bad_replication_spec_is_rejected():
    with pytest.raises(ValueError, match="'dc1=3' is not <datacenter>:<replicas>"):
        datacenters_from_spec("dc1=3")


def test_unknown_placeholder_is_named():
    with pytest.raises(ValueError, match=r"unknown placeholder \$\{ttl\}"):
        render_schema(template="CREATE TABLE ${keyspace}.t (a int) WITH x = ${ttl};")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("A; B;", ["A", "B"]),
        ("-- a; comment\nA 'x;y' ; // b; c\nB /* c; d */ C", ["A 'x;y'", "B   C"]),
        ("A 'it''s; fine'; B \"q;\"", ["A 'it''s; fine'", 'B "q;"']),
        ("\n;  ;\n", []),
    ],
)
def test_statements_split_at_semicolons_outside_quotes_and_comments(script, expected):
    assert split_statements(script) == expected


@pytest.mark.parametrize("script", ["A 'open", "A /* open"])
def test_unterminated_quotes_and_comments_are_errors(script):
    with pytest.raises(ValueError, match="unterminated"):
        split_statements(script)


@pytest.mark.parametrize(
    ("settings", "replication", "ttls", "window_hours"),
    [
        (SchemaSettings(), {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"},
         {"trades": 2_592_000, "minute_bars": 7_776_000, "pipeline_health": 1_209_600}, "24"),
        (SchemaSettings(datacenters={"datacenter1": 1}, trades_ttl_seconds=86_400, trades_compaction_window_hours=2,
                        bars_ttl_seconds=0, health_ttl_seconds=3600),
         {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "datacenter1": "1"},
         {"trades": 86_400, "minute_bars": 0, "pipeline_health": 3600}, "2"),
    ],
    ids=["single-node", "production-like"],
)  # fmt: skip
def test_the_node_applies_the_schema_twice_with_its_replication_ttls_and_compaction(
    cassandra_admin, unique_name, settings, replication, ttls, window_hours
):
    with schema_keyspace(cassandra_admin, unique_name("schema"), settings) as keyspace:
        again = apply_schema(cassandra_admin, render_schema(replace(settings, keyspace=keyspace)))
        assert len(again) == 6 and again[0].startswith(f"CREATE KEYSPACE IF NOT EXISTS {keyspace}")
        cassandra_admin.cluster.refresh_schema_metadata()
        [(stored,)] = cassandra_admin.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
        )
        assert stored == replication
        tables = cassandra_admin.cluster.metadata.keyspaces[keyspace].tables
        assert set(tables) == {"trades", "daily_aggregates", "minute_bars", "news", "pipeline_health"}
        assert {name: tables[name].options["default_time_to_live"] for name in ttls} == ttls
        compaction = tables["trades"].options["compaction"]
        assert compaction["class"].endswith("TimeWindowCompactionStrategy")
        assert (compaction["compaction_window_unit"], compaction["compaction_window_size"]) == ("HOURS", window_hours)


def test_apply_names_the_statement_the_node_refused(cassandra_admin, unique_name):
    keyspace = unique_name("refused")
    template = (
        "CREATE KEYSPACE ${keyspace} WITH replication = ${replication};"
        "CREATE TABLE ${keyspace}.t (a int PRIMARY KEY) WITH compaction = {'class': 'NoSuchCompaction'};"
    )
    try:
        with pytest.raises(SchemaApplyError, match=rf"^the cluster refused `CREATE TABLE {keyspace}\.t .*NoSuchCompaction[^\n]*$"):
            apply_schema(cassandra_admin, render_schema(SchemaSettings(keyspace=keyspace), template))
    finally:
        cassandra_admin.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")


def test_schema_file_is_found_from_the_package():
    assert schema_path().name == "schema.cql" and schema_path().is_file()
