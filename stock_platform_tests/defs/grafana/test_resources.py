import json
import logging

import dagster as dg
import pytest
import responses

from stock_platform.defs.grafana.resources import PIPELINE_TAG, GrafanaResource, grafana_resource
from stock_platform.grafana.api import GrafanaAuthError
from stock_platform.grafana.dashboards import dashboards_dir, load_dashboards

BASE = "http://grafana.test:3000"
TOKEN = "glsa_resource-secret-456"
FOLDER_URL = f"{BASE}/api/folders/stock-platform"


@pytest.fixture
def grafana():
    return GrafanaResource(url=BASE, api_token=TOKEN, keyspace="market_test", max_attempts=2)


class FakeGrafanaServer:
    """Keeps folders and dashboards like Grafana does, so a second provisioning pass sees the first one's result."""

    def __init__(self):
        self.folders = {}
        self.dashboards = {}
        self.saves = []

    def install(self, mock):
        mock.add_callback("GET", FOLDER_URL, callback=self._get_folder)
        mock.add_callback("POST", f"{BASE}/api/folders", callback=self._create_folder)
        for dashboard in load_dashboards(dashboards_dir()):
            mock.add_callback("GET", f"{BASE}/api/dashboards/uid/{dashboard.uid}", callback=self._get_dashboard)
        mock.add_callback("POST", f"{BASE}/api/dashboards/db", callback=self._save_dashboard)

    def _get_folder(self, request):
        folder = self.folders.get("stock-platform")
        return (200, {}, json.dumps(folder)) if folder else (404, {}, json.dumps({"message": "folder not found"}))

    def _create_folder(self, request):
        body = json.loads(request.body)
        self.folders[body["uid"]] = {**body, "version": 1}
        return 200, {}, json.dumps(self.folders[body["uid"]])

    def _get_dashboard(self, request):
        uid = request.url.rsplit("/", 1)[1]
        stored = self.dashboards.get(uid)
        if stored is None:
            return 404, {}, json.dumps({"message": "Dashboard not found"})
        return 200, {}, json.dumps(stored)

    def _save_dashboard(self, request):
        body = json.loads(request.body)
        self.saves.append(body)
        uid = body["dashboard"]["uid"]
        version = self.dashboards.get(uid, {}).get("dashboard", {}).get("version", 0) + 1
        stored = {**body["dashboard"], "id": 100 + len(self.saves), "version": version}
        self.dashboards[uid] = {"dashboard": stored, "meta": {"folderUid": body["folderUid"], "url": f"/d/{uid}"}}
        return 200, {}, json.dumps({"uid": uid, "version": version, "url": f"/d/{uid}", "status": "success"})


def test_provisioning_twice_creates_the_folder_and_dashboards_once(grafana):
    server = FakeGrafanaServer()
    with responses.RequestsMock() as mock:
        server.install(mock)
        first = grafana.provision_dashboards(message="run 1")
        second = grafana.provision_dashboards(message="run 2")
        calls = list(mock.calls)
    expected = len(load_dashboards(dashboards_dir()))
    assert (first.folder.status, first.count("created")) == ("created", expected)
    assert (second.folder.status, second.count("unchanged")) == ("unchanged", expected)
    assert len(server.saves) == expected
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in calls)


def test_provisioned_dashboards_carry_folder_overwrite_and_the_configured_keyspace(grafana):
    server = FakeGrafanaServer()
    with responses.RequestsMock() as mock:
        server.install(mock)
        grafana.provision_dashboards(message="run 1")
    for save in server.saves:
        assert (save["folderUid"], save["overwrite"], save["message"]) == ("stock-platform", True, "run 1")
        assert save["dashboard"]["id"] is None
        [keyspace] = [v for v in save["dashboard"]["templating"]["list"] if v["name"] == "keyspace"]
        assert keyspace["query"] == "market_test"


@responses.activate
def test_health_through_the_resource(grafana):
    responses.get(f"{BASE}/api/health", json={"database": "ok", "version": "11.0.0"})
    responses.get(f"{BASE}/api/org", json={"name": "Main"})
    assert grafana.health()["version"] == "11.0.0"


@responses.activate
def test_a_rejected_token_fails_provisioning_after_the_folder_check(grafana):
    responses.get(FOLDER_URL, status=401)
    with pytest.raises(GrafanaAuthError, match="check GRAFANA_API_TOKEN"):
        grafana.provision_dashboards()
    assert len(responses.calls) == 1


def test_provisioning_without_a_token_fails_before_any_request():
    with responses.RequestsMock() as mock:
        with pytest.raises(ValueError, match="GRAFANA_API_TOKEN is not set"):
            GrafanaResource(url=BASE, api_token="").provision_dashboards()
        assert len(mock.calls) == 0


@responses.activate
def test_annotate_posts_now_with_the_given_tags(grafana):
    responses.post(f"{BASE}/api/annotations", json={"id": 5})
    assert grafana.annotate("reconciled 2024-05-01", ["reconciliation"]) == 5
    body = json.loads(responses.calls[0].request.body)
    assert body["tags"] == ["reconciliation"] and body["time"] > 1_600_000_000_000


@responses.activate
def test_pipeline_event_is_tagged_for_the_dashboards(grafana):
    responses.post(f"{BASE}/api/annotations", json={"id": 9})
    annotation_id = grafana.annotate_pipeline_event(
        "stream_restart", "stream_processor", "restarted after checkpoint", run_id="r-1", time_ms=1_000
    )
    assert annotation_id == 9
    body = json.loads(responses.calls[0].request.body)
    assert body == {
        "text": "restarted after checkpoint",
        "tags": [PIPELINE_TAG, "stream_restart", "stream_processor", "run:r-1"],
        "time": 1_000,
    }


@responses.activate
def test_pipeline_event_failure_is_logged_once_and_never_raised(grafana, caplog):
    responses.post(f"{BASE}/api/annotations", status=503)
    with caplog.at_level(logging.WARNING):
        assert grafana.annotate_pipeline_event("reconciliation", "daily_aggregates_reconcile", "day 2024-05-01") is None
    assert len(responses.calls) == 1
    assert "annotation daily_aggregates_reconcile/reconciliation not posted" in caplog.text
    assert TOKEN not in caplog.text


def test_pipeline_event_without_a_token_is_skipped_without_a_request(caplog):
    with responses.RequestsMock() as mock, caplog.at_level(logging.INFO):
        assert GrafanaResource(url=BASE).annotate_pipeline_event("stream_restart", "stream_processor", "x") is None
        assert len(mock.calls) == 0
    assert "GRAFANA_API_TOKEN is not set" in caplog.text


def test_resource_reads_url_token_and_keyspace_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRAFANA_URL", BASE)
    monkeypatch.setenv("GRAFANA_API_TOKEN", TOKEN)
    monkeypatch.setenv("CASSANDRA_KEYSPACE", "market_env")

    @dg.op
    def read(grafana: GrafanaResource) -> tuple:
        return grafana.url, grafana.api_token == TOKEN, grafana.keyspace

    @dg.job
    def job() -> None:
        read()

    result = job.execute_in_process(resources={"grafana": grafana_resource()})
    assert result.output_for_node("read") == (BASE, True, "market_env")
