"""The dashboards: static checks of the files, and every variable and panel query executed on the real
Cassandra node with Grafana's substitutions, over rows written through the real store."""

import json
import re
import uuid

import pytest
from cassandra.cqltypes import DateType
from cassandra.protocol import SyntaxException

from cassandra import InvalidRequest
from stock_platform.defs.grafana.resources import CASSANDRA_DATASOURCE_UID, PIPELINE_TAG
from stock_platform.grafana.dashboards import dashboards_dir, grafana_dir, load_dashboards
from stock_platform.storage.base import HealthSample
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.cassandra_store import CassandraMarketStore
from stock_platform_tests.grafana.interpolation import VARIABLE, TimeRange, interpolate, referenced
from stock_platform_tests.storage.cassandra_keyspaces import admin_session, node_settings, schema_keyspace
from stock_platform_tests.storage.conftest import T0, article, trade

PLUGIN_ID = "hadesarchitect-cassandra-datasource"
GRAFANA_BUILT_INS = frozenset({"__timeFrom", "__timeTo", "__from", "__to"})
# Tables whose partitions keep growing: a panel must follow the time range or carry a LIMIT.
GROWING_TABLES = frozenset({"trades", "minute_bars", "pipeline_health", "news"})
TIME_SERIES_PANELS = frozenset({"timeseries", "candlestick"})
COMPONENTS = ("finnhub_ingest", "stream_processor")
DASHBOARD_FILES = sorted(dashboards_dir().glob("*.json"))
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_SOURCE = re.compile(r"\bFROM\s+(?P<keyspace>\$\{keyspace\}\.)?(?P<table>[\w.$]+)", re.IGNORECASE)
_HOUR_MS = 3_600_000
DATA_RANGE = TimeRange(T0 - 3 * _HOUR_MS, T0 + 3 * _HOUR_MS)
SYMBOL_DASHBOARDS = [path for path in DASHBOARD_FILES if '"name": "symbol"' in path.read_text(encoding="utf-8")]
# Symbol values a URL can carry, each ending a naively quoted string early: a comment, a second condition, a
# backslash before the quote (singlequote's escape, which CQL does not know) and a bare quote.
INJECTIONS = ["AAPL' --", "AAPL' AND symbol = 'MSFT", "AAPL\\' --", "'"]


@pytest.fixture(scope="module")
def node_session(cassandra_node):
    with admin_session(cassandra_node) as session:
        yield session


@pytest.fixture(scope="module")
def market(cassandra_node, node_session):
    """A keyspace with a few rows in every table, written the way the pipeline writes them."""
    with schema_keyspace(node_session, f"grafana_{uuid.uuid4().hex[:10]}") as keyspace:
        with CassandraMarketStore(node_settings(cassandra_node, keyspace)) as store:
            write_trade_batch(store, [
                trade(1, 100.0, 2.0, T0), trade(2, 101.0, 1.0, T0 + 61_000), trade(3, 99.5, 4.0, T0 + 62_000),
                trade(4, 410.0, 1.0, T0 + 5_000, symbol="MSFT", partition=1),
            ], now_ms=T0 + 70_000)  # fmt: skip
            store.upsert_news([article(1, T0), article(2, T0 + 60_000), article(3, T0, symbol="MSFT")])
            for component in COMPONENTS:
                for minute in range(3):
                    store.write_health(HealthSample(component, T0 + minute * 60_000, "run-1", trades=10, messages=2,
                                                    dead_letters=minute, rate_per_s=3.5, latency_p50_ms=12.0,
                                                    latency_p99_ms=40.0))  # fmt: skip
        yield keyspace


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


def _table(query):
    return _SOURCE.search(query)["table"]


def _seconds(duration):
    match = _DURATION.match(duration)
    assert match, f"refresh {duration!r} is not a Grafana duration"
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _run(session, query, variables, time_range=DATA_RANGE):
    return session.execute(interpolate(query, variables, time_range), timeout=30)


def _variables(session, dashboard, keyspace):
    """Each variable's selected values, resolved in order as Grafana does; a query variable must find values."""
    selected = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "constant":
            selected[variable["name"]] = [keyspace if variable["name"] == "keyspace" else variable["query"]]
            continue
        options = [str(row[0]) for row in _run(session, variable["query"]["query"], selected)]
        assert options, f"variable {variable['name']!r} found no values"
        # Several values (or All) select every option; otherwise Grafana starts on the first one.
        several = variable.get("multi") or variable.get("includeAll")
        selected[variable["name"]] = options if several else options[:1]
    return selected


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
def test_every_query_reads_the_keyspace_variable_without_filtering(path):
    for where, query in _all_queries(_dashboard(path)):
        assert _SOURCE.search(query)["keyspace"], f"{path.name} {where}: read ${{keyspace}}.{_table(query)}"
        assert "ALLOW FILTERING" not in query.upper(), f"{path.name} {where}: filter by partition and clustering keys"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_panel_query_runs_on_the_node_and_finds_the_rows(path, node_session, market):
    dashboard = _dashboard(path)
    variables = _variables(node_session, dashboard, market)
    tables = node_session.cluster.metadata.keyspaces[market].tables
    for panel, target in _panel_queries(dashboard):
        result = _run(node_session, target["target"], variables)
        assert result.current_rows, f"{path.name} {panel['title']!r} found no rows"
        partition_key = [column.name for column in tables[_table(target["target"])].partition_key]
        assert result.column_names[0] in partition_key, f"{panel['title']!r}: the plugin groups series by column 1"
        if panel["type"] in TIME_SERIES_PANELS:
            assert DateType in result.column_types, f"{panel['title']!r} returns no timestamp column"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_panels_on_growing_partitions_follow_the_time_range_or_a_limit(path, node_session, market):
    dashboard = _dashboard(path)
    variables = _variables(node_session, dashboard, market)
    for panel, target in _panel_queries(dashboard):
        query = target["target"]
        if _table(query) in GROWING_TABLES and not re.search(r"\bLIMIT\s+\d+", query, re.IGNORECASE):
            later = _run(node_session, query, variables, DATA_RANGE.shifted(30 * 24 * _HOUR_MS))
            assert later.current_rows == [], f"{path.name} {panel['title']!r} reads outside the time range"


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("SELECT symbol, price, event_time FROM ${keyspace}.trades WHERE symbol = 'AAPL' AND trading_day = '2025-10-09' AND "
         "event_tme >= $__timeFrom", (InvalidRequest, "event_tme")),
        ("SELECT symbol, price FROM ${keyspace}.trades WHERE symbol = 'AAPL' AND trading_day = '2025-10-09' AND price > 1",
         (InvalidRequest, "ALLOW FILTERING")),
        ("SELECT symbol, price FROM ${keyspace}.trades WHERE symbol = 'AAPL'", (InvalidRequest, "ALLOW FILTERING")),
        ("SELECT component, rate_per_s FROM ${keyspace}.pipeline_health WHERE component = 'x' AND day = $__interval",
         (SyntaxException, "Syntax error")),
        ("SELECT symbol, close FROM market_elsewhere.daily_aggregates WHERE symbol = 'AAPL'", (InvalidRequest, "market_elsewhere")),
        ("SELECT symbol FROM ${keyspace}.trades WHERE symbol IN (${symbol})", (SyntaxException, "Syntax error")),
    ],
    ids=["misspelt-column", "filtering", "partial-partition-key", "unknown-variable", "other-keyspace", "multi-value-glob"],
)  # fmt: skip
def test_the_node_refuses_the_mistakes_the_checks_are_for(node_session, market, query, refusal):
    error_type, message = refusal
    with pytest.raises(error_type, match=re.escape(message)):
        _run(node_session, query, {"keyspace": [market], "symbol": ["AAPL", "MSFT"]})


def test_grafana_substitutions_match_the_plugin_and_the_formats_used():
    query = "k=${keyspace} s=${symbol:sqlstring} d IN (${day:sqlstring}) f=$__timeFrom t=$__timeTo a='${__from:date:YYYY-MM-DD}' $undefined"
    variables = {"keyspace": ["market"], "symbol": ["AAPL"], "day": ["2025-10-09", "it's"]}
    assert interpolate(query, variables, TimeRange(1_760_000_000_000, 1_760_054_400_000)) == (
        "k=market s='AAPL' d IN ('2025-10-09','it''s') f=1760000000000 t=1760054400000 a='2025-10-09' $undefined"
    )
    assert referenced(query) == {"keyspace", "symbol", "day", "__timeFrom", "__timeTo", "__from", "undefined"}


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_query_variables_are_substituted_as_escaped_cql_strings(path):
    """A variable's value can come from the URL (?var-symbol=...): only sqlstring doubles its quotes as CQL does."""
    dashboard = _dashboard(path)
    from_data = {variable["name"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"}
    for where, query in _all_queries(dashboard):
        for match in VARIABLE.finditer(query):
            name = match["braced"] or match["bare"]
            if name in from_data:
                assert match["format"] == "sqlstring", f"{path.name} {where}: {match.group(0)} is not ${{{name}:sqlstring}}"
                before, after = query[match.start() - 1 : match.start()], query[match.end() : match.end() + 1]
                assert "'" not in (before, after), f"{path.name} {where}: sqlstring adds the quotes itself"


@pytest.mark.parametrize("path", SYMBOL_DASHBOARDS, ids=lambda path: path.name)
def test_symbol_variables_list_only_symbol_characters(path):
    [symbol] = [variable for variable in _dashboard(path)["templating"]["list"] if variable["name"] == "symbol"]
    pattern = re.compile(symbol["regex"].removeprefix("/").removesuffix("/"))
    for listed in ("AAPL", "BRK.B", "BINANCE:BTCUSDT", "OANDA:EUR_USD", "^GSPC"):
        assert pattern.search(listed), listed
    for refused in INJECTIONS + ["", "AAPL MSFT", "A" * 65]:
        assert not pattern.search(refused), refused


@pytest.mark.parametrize("injection", INJECTIONS)
@pytest.mark.parametrize("path", SYMBOL_DASHBOARDS, ids=lambda path: path.name)
def test_a_symbol_holding_a_quote_cannot_change_a_query(path, injection, node_session, market):
    """Pasted between quotes, each value would rewrite the statement; escaped, it is just a symbol with no rows."""
    dashboard = _dashboard(path)
    variables = {**_variables(node_session, dashboard, market), "symbol": [injection]}
    for where, query in _all_queries(dashboard):
        if "symbol" in referenced(query):
            assert _run(node_session, query, variables).current_rows == [], f"{path.name} {where}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_queries_reference_only_defined_variables(path):
    dashboard = _dashboard(path)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    for where, query in _all_queries(dashboard):
        assert referenced(query) <= defined | GRAFANA_BUILT_INS, f"{path.name} {where}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_symbol_variables_are_populated_from_the_data(path, node_session, market):
    dashboard = _dashboard(path)
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["keyspace"]["type"] == "constant"
    if "symbol" in variables:
        symbol = variables["symbol"]
        assert symbol["type"] == "query" and symbol["datasource"]["uid"] == CASSANDRA_DATASOURCE_UID
        assert not symbol["options"], "options are filled from the data, not hard-coded"
        options = [row[0] for row in _run(node_session, symbol["query"]["query"], {"keyspace": [market]})]
        assert sorted(options) == ["AAPL", "MSFT"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_dashboard_shows_pipeline_event_annotations(path):
    annotations = _dashboard(path)["annotations"]["list"]
    assert any(PIPELINE_TAG in annotation.get("target", {}).get("tags", []) for annotation in annotations)


def test_pipeline_health_shows_both_components_and_the_three_signals(node_session, market):
    [path] = [path for path in DASHBOARD_FILES if "health" in path.name]
    dashboard = _dashboard(path)
    variables = _variables(node_session, dashboard, market)
    results = [_run(node_session, target["target"], variables) for _, target in _panel_queries(dashboard)]
    assert {"rate_per_s", "dead_letters", "latency_p99_ms"} <= {name for result in results for name in result.column_names}
    assert any({row[0] for row in result.current_rows} == set(COMPONENTS) for result in results)


def test_grafana_dir_is_the_repository_folder():
    assert grafana_dir().name == "grafana"
    assert dashboards_dir() == grafana_dir() / "dashboards"
