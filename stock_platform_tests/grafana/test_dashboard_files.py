import json

import pytest

from stock_platform.grafana.api import DashboardResult, FolderResult
from stock_platform.grafana.dashboards import (
    DashboardFileError,
    dashboards_dir,
    load_dashboards,
    provision_dashboards,
    with_keyspace,
)

KEYSPACE_VARIABLE = {"name": "keyspace", "type": "constant", "query": "market", "current": {}, "options": []}


def _write(directory, name, content):
    path = directory / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_load_dashboards_reads_every_json_file_sorted_by_name(tmp_path):
    _write(tmp_path, "b.json", {"uid": "b", "title": "B"})
    _write(tmp_path, "a.json", {"uid": "a", "title": "A"})
    _write(tmp_path, "notes.txt", "ignored")
    assert [dashboard.uid for dashboard in load_dashboards(tmp_path)] == ["a", "b"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "no dashboard files"),
        ({"a.json": '{"uid": "a",\n "title": }'}, "a.json is not valid JSON \\(line 2"),
        ({"a.json": "[1, 2]"}, "a.json must hold a JSON object, not list"),
        ({"a.json": {"title": "A"}}, "a.json needs a string uid"),
        ({"a.json": {"uid": "x" * 41, "title": "A"}}, "a.json needs a string uid of 1-40"),
        ({"a.json": {"uid": "a", "title": ""}}, "a.json needs a non-empty title"),
        ({"a.json": {"uid": "same", "title": "A"}, "b.json": {"uid": "same", "title": "B"}}, "share uid 'same'"),
    ],
)
def test_load_dashboards_rejects_unprovisionable_files_with_one_line(tmp_path, files, expected):
    for name, content in files.items():
        _write(tmp_path, name, content)
    with pytest.raises(DashboardFileError, match=expected):
        load_dashboards(tmp_path)


def test_the_repository_dashboards_load():
    assert len(load_dashboards(dashboards_dir())) >= 5


def test_with_keyspace_sets_the_constant_variable_without_touching_the_original():
    model = {"uid": "a", "templating": {"list": [dict(KEYSPACE_VARIABLE), {"name": "symbol", "type": "query"}]}}
    adapted = with_keyspace(model, "market_eu")
    variable = adapted["templating"]["list"][0]
    assert variable["query"] == "market_eu"
    assert variable["current"] == {"text": "market_eu", "value": "market_eu"}
    assert adapted["templating"]["list"][1] == {"name": "symbol", "type": "query"}
    assert model["templating"]["list"][0]["query"] == "market"


@pytest.mark.parametrize("keyspace", ["", "market; DROP TABLE trades", "1market", "a.b"])
def test_with_keyspace_refuses_anything_but_a_plain_identifier(keyspace):
    with pytest.raises(ValueError, match="not a plain CQL identifier"):
        with_keyspace({"uid": "a"}, keyspace)


class FakeGrafana:
    def __init__(self):
        self.calls = []

    def ensure_folder(self, uid, title):
        self.calls.append(("folder", uid, title))
        return FolderResult(uid, title, "created")

    def upsert_dashboard(self, dashboard, folder_uid, message):
        self.calls.append(("dashboard", dashboard["uid"], folder_uid, message, dashboard["templating"]["list"][0]["query"]))
        return DashboardResult(dashboard["uid"], dashboard["title"], "created", 1, None)


def test_provision_ensures_the_folder_first_then_upserts_each_dashboard_with_the_keyspace(tmp_path):
    for uid in ("a", "b"):
        _write(tmp_path, f"{uid}.json", {"uid": uid, "title": uid.upper(), "templating": {"list": [KEYSPACE_VARIABLE]}})
    grafana = FakeGrafana()
    report = provision_dashboards(grafana, load_dashboards(tmp_path), "sp", "Stock Platform", "ks1", "run r1")
    assert grafana.calls == [
        ("folder", "sp", "Stock Platform"),
        ("dashboard", "a", "sp", "run r1", "ks1"),
        ("dashboard", "b", "sp", "run r1", "ks1"),
    ]
    assert report.count("created") == 2 and report.count("unchanged") == 0
