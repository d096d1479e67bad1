"""Static checks of grafana/dashboards: valid JSON, unique uids, and every query readable by the schema."""

import json
import re

import pytest

from stock_platform.core.grafana_dashboards import dashboards_dir, grafana_dir, load_dashboards
from stock_platform.paths import project_dir
from stock_platform.resources.grafana import CASSANDRA_DATASOURCE_UID, PIPELINE_TAG
from stock_platform_tests.grafana.cql import check_against_schema, grafana_variables, parse_schema, parse_select

PLUGIN_ID = "hadesarchitect-cassandra-datasource"
GRAFANA_BUILT_INS = frozenset({"__timeFrom", "__timeTo", "__from", "__to", "__data"})
# Tables whose partitions grow with time: a query must bound the time range or the row count.
TIME_CLUSTERED_TABLES = {"trades": "event_time", "minute_bars": "bucket_start", "pipeline_health": "sampled_at"}
DASHBOARD_FILES = sorted(dashboards_dir().glob("*.json"))
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")


@pytest.fixture(scope="module")
def tables():
    return parse_schema((project_dir("cassandra") / "schema.cql").read_text(encoding="utf-8"))


def _dashboard(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _panel_queries(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def _variable_queries(dashboard):
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield variable, variable["query"]["query"]


def _all_queries(dashboard):
    for panel, target in _panel_queries(dashboard):
        yield f"panel {panel['title']!r}", target["target"]
    for variable, query in _variable_queries(dashboard):
        yield f"variable {variable['name']!r}", query


def _seconds(duration):
    match = _DURATION.match(duration)
    assert match, f"refresh {duration!r} is not a Grafana duration"
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def test_the_expected_dashboards_exist():
    titles = {_dashboard(path)["title"] for path in DASHBOARD_FILES}
    for topic in ("Price and volume", "Daily aggregates", "One-minute bars", "news", "Pipeline health"):
        assert any(topic.lower() in title.lower() for title in titles), (topic, titles)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_dashboard_file_is_valid_json_with_a_uid_and_title(path):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(dashboard["uid"], str) and 0 < len(dashboard["uid"]) <= 40
    assert dashboard["title"]
    assert "id" not in dashboard or dashboard["id"] is None


def test_dashboard_uids_are_unique_and_the_loader_agrees():
    uids = [_dashboard(path)["uid"] for path in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))
    assert [dashboard.uid for dashboard in load_dashboards(dashboards_dir())] == uids


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_panel_ids_are_unique_and_panels_use_the_provisioned_cassandra_datasource(path):
    dashboard = _dashboard(path)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel, target in _panel_queries(dashboard):
        for datasource in (panel["datasource"], target["datasource"]):
            assert datasource == {"type": PLUGIN_ID, "uid": CASSANDRA_DATASOURCE_UID}, panel["title"]
        assert target["rawQuery"] is True and target["queryType"] == "query", panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_refresh_is_thirty_seconds_or_slower(path):
    dashboard = _dashboard(path)
    assert _seconds(dashboard["refresh"]) >= 30
    assert all(_seconds(interval) >= 30 for interval in dashboard["timepicker"]["refresh_intervals"])


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_query_names_only_tables_and_columns_of_the_schema_and_hits_partition_keys(path, tables):
    for where, query in _all_queries(_dashboard(path)):
        select = parse_select(query)
        assert select.keyspace_prefixed, f"{path.name} {where}: use ${{keyspace}}.{select.table}"
        assert check_against_schema(select, tables) == [], f"{path.name} {where}: {query}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_panel_queries_put_the_series_id_first_and_bound_growing_partitions(path, tables):
    for panel, target in _panel_queries(_dashboard(path)):
        select = parse_select(target["target"])
        table = tables[select.table]
        assert select.selected[0] in table.partition_key, f"{panel['title']}: the plugin groups series by column 1"
        time_column = TIME_CLUSTERED_TABLES.get(select.table)
        if time_column:
            bounds = {r.op for r in select.restrictions if r.column == time_column}
            bounded_by_time = {">=", "<="} <= bounds or {">", "<"} <= bounds
            assert bounded_by_time or select.per_partition_limit or select.limit, panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_queries_reference_only_defined_variables(path):
    dashboard = _dashboard(path)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    for where, query in _all_queries(dashboard):
        assert grafana_variables(query) <= defined | GRAFANA_BUILT_INS, f"{path.name} {where}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_symbol_variables_are_populated_from_the_data(path):
    variables = {variable["name"]: variable for variable in _dashboard(path)["templating"]["list"]}
    if "symbol" in variables:
        symbol = variables["symbol"]
        assert symbol["type"] == "query" and symbol["datasource"]["uid"] == CASSANDRA_DATASOURCE_UID
        assert parse_select(symbol["query"]["query"]).distinct
        assert not symbol["options"], "options are filled from the data, not hard-coded"
    assert variables["keyspace"]["type"] == "constant"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_dashboard_shows_pipeline_event_annotations(path):
    annotations = _dashboard(path)["annotations"]["list"]
    assert any(PIPELINE_TAG in annotation.get("target", {}).get("tags", []) for annotation in annotations)


def test_pipeline_health_covers_both_components_and_the_three_signals():
    [path] = [path for path in DASHBOARD_FILES if "health" in path.name]
    queries = [target["target"] for _, target in _panel_queries(_dashboard(path))]
    selected = {column for query in queries for column in parse_select(query).selected}
    assert {"rate_per_s", "dead_letters", "latency_p99_ms"} <= selected
    assert any("'finnhub_ingest'" in query and "'stream_processor'" in query for query in queries)


def test_grafana_dir_is_the_repository_folder():
    assert grafana_dir().name == "grafana"
    assert dashboards_dir() == grafana_dir() / "dashboards"
