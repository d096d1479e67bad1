import json
import logging

import pytest
import requests
import responses

from stock_platform.grafana.api import (
    GrafanaAuthError,
    GrafanaClient,
    GrafanaError,
    GrafanaSettings,
    comparable_dashboard,
)

BASE = "http://grafana.example:3000"
TOKEN = "glsa_sekret-token-123"
DASHBOARD = {"uid": "sp-x", "title": "X", "panels": [{"id": 1, "type": "stat"}], "schemaVersion": 39}


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps):
    with GrafanaClient(GrafanaSettings(base_url=BASE, token=TOKEN, max_attempts=3), sleep=sleeps.append) as grafana:
        yield grafana


def _body(call):
    return json.loads(call.request.body)


@responses.activate
def test_health_reports_version_and_sends_the_token_only_in_the_authorization_header(client):
    responses.get(f"{BASE}/api/health", json={"database": "ok", "version": "11.2.0"})
    responses.get(f"{BASE}/api/org", json={"id": 1, "name": "Main Org."})
    assert client.health() == {"version": "11.2.0", "database": "ok", "org": "Main Org."}
    for call in responses.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in call.request.url


@responses.activate
def test_health_fails_when_grafana_database_is_not_ok(client):
    responses.get(f"{BASE}/api/health", json={"database": "failing"})
    with pytest.raises(GrafanaError, match="reports database 'failing'"):
        client.health()


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (401, GrafanaAuthError, "rejected the API token \\(HTTP 401\\); check GRAFANA_API_TOKEN"),
        (403, GrafanaAuthError, "may not GET /api/health \\(HTTP 403\\); give the service account the Editor role"),
        (404, GrafanaError, "no /api/health \\(HTTP 404\\); check GRAFANA_URL"),
        (400, GrafanaError, "answered HTTP 400: bad thing for \\*\\*\\*"),
    ],
)
@responses.activate
def test_client_errors_become_one_line_messages_without_the_token(client, sleeps, status, error, expected):
    responses.get(f"{BASE}/api/health", status=status, json={"message": f"bad thing\n for {TOKEN}"})
    with pytest.raises(error, match=expected) as raised:
        client.health()
    assert TOKEN not in str(raised.value)
    assert "\n" not in str(raised.value)
    assert len(responses.calls) == 1
    assert sleeps == []


@responses.activate
def test_a_token_across_the_message_cut_leaves_no_prefix_behind(client):
    responses.get(f"{BASE}/api/health", status=400, json={"message": "x" * 190 + TOKEN})
    with pytest.raises(GrafanaError) as raised:
        client.health()
    assert TOKEN[:4] not in str(raised.value)


@responses.activate
def test_server_errors_are_retried_with_backoff_then_succeed(client, sleeps):
    responses.get(f"{BASE}/api/org", status=502)
    responses.get(f"{BASE}/api/org", status=503)
    responses.get(f"{BASE}/api/org", json={"name": "Main"})
    assert client._json("GET", "/api/org") == {"name": "Main"}
    assert len(responses.calls) == 3
    assert len(sleeps) == 2 and all(wait > 0 for wait in sleeps)


@responses.activate
def test_persistent_server_errors_fail_after_the_configured_attempts(client, sleeps, caplog):
    responses.get(f"{BASE}/api/org", status=500)
    with caplog.at_level(logging.WARNING), pytest.raises(GrafanaError, match="still answered HTTP 500 after 3 attempts"):
        client._json("GET", "/api/org")
    assert len(responses.calls) == 3
    assert "retrying" in caplog.text and TOKEN not in caplog.text


@responses.activate
def test_unreachable_grafana_fails_with_a_hint_after_retries(client, sleeps):
    responses.get(f"{BASE}/api/health", body=requests.ConnectionError("refused"))
    with pytest.raises(GrafanaError, match="unreachable after 3 attempts \\(ConnectionError\\); check GRAFANA_URL"):
        client.health()
    assert len(sleeps) == 2


@responses.activate
def test_a_body_that_is_not_json_is_reported(client):
    responses.get(f"{BASE}/api/health", body="<html>proxy login</html>")
    with pytest.raises(GrafanaError, match="not JSON"):
        client.health()


@responses.activate
def test_ensure_folder_creates_a_missing_folder_with_the_stable_uid(client):
    responses.get(f"{BASE}/api/folders/sp", status=404, json={"message": "folder not found"})
    responses.post(f"{BASE}/api/folders", json={"uid": "sp", "title": "Stock Platform"})
    result = client.ensure_folder("sp", "Stock Platform")
    assert (result.uid, result.status) == ("sp", "created")
    assert _body(responses.calls[1]) == {"uid": "sp", "title": "Stock Platform"}


@responses.activate
def test_ensure_folder_leaves_an_existing_folder_alone(client):
    responses.get(f"{BASE}/api/folders/sp", json={"uid": "sp", "title": "Stock Platform", "version": 3})
    assert client.ensure_folder("sp", "Stock Platform").status == "unchanged"
    assert len(responses.calls) == 1


@responses.activate
def test_ensure_folder_renames_a_folder_whose_title_changed(client):
    responses.get(f"{BASE}/api/folders/sp", json={"uid": "sp", "title": "Old", "version": 3})
    responses.put(f"{BASE}/api/folders/sp", json={"uid": "sp", "title": "Stock Platform"})
    assert client.ensure_folder("sp", "Stock Platform").status == "renamed"
    assert _body(responses.calls[1]) == {"title": "Stock Platform", "version": 3, "overwrite": True}


@responses.activate
def test_ensure_folder_tolerates_a_folder_created_concurrently(client):
    responses.get(f"{BASE}/api/folders/sp", status=404)
    responses.post(f"{BASE}/api/folders", status=409, json={"message": "folder exists"})
    responses.get(f"{BASE}/api/folders/sp", json={"uid": "sp", "title": "Stock Platform", "version": 1})
    assert client.ensure_folder("sp", "Stock Platform").status == "unchanged"


@responses.activate
def test_ensure_folder_explains_a_title_taken_by_another_folder(client):
    responses.get(f"{BASE}/api/folders/sp", status=404)
    responses.post(f"{BASE}/api/folders", status=409, json={"message": "a folder with that name exists"})
    responses.get(f"{BASE}/api/folders/sp", status=404)
    with pytest.raises(GrafanaError, match="refused folder 'Stock Platform' \\(uid sp\\) as a duplicate"):
        client.ensure_folder("sp", "Stock Platform")


@responses.activate
def test_upsert_creates_a_missing_dashboard_with_overwrite_and_its_own_uid(client):
    responses.get(f"{BASE}/api/dashboards/uid/sp-x", status=404)
    responses.post(f"{BASE}/api/dashboards/db", json={"uid": "sp-x", "version": 1, "url": "/d/sp-x/x", "status": "success"})
    result = client.upsert_dashboard({**DASHBOARD, "id": 42}, "sp", "provisioned by run r1")
    assert (result.status, result.version, result.url) == ("created", 1, "/d/sp-x/x")
    assert _body(responses.calls[1]) == {
        "dashboard": {**DASHBOARD, "id": None},
        "folderUid": "sp",
        "overwrite": True,
        "message": "provisioned by run r1",
    }


@responses.activate
def test_upsert_skips_a_dashboard_that_is_already_current(client):
    stored = {**DASHBOARD, "id": 7, "version": 4}
    responses.get(f"{BASE}/api/dashboards/uid/sp-x", json={"dashboard": stored, "meta": {"folderUid": "sp", "url": "/d/sp-x"}})
    result = client.upsert_dashboard(DASHBOARD, "sp", "m")
    assert (result.status, result.version) == ("unchanged", 4)
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("stored", "folder"),
    [({**DASHBOARD, "title": "Old title", "version": 4}, "sp"), ({**DASHBOARD, "version": 4}, "other-folder")],
    ids=["content changed", "folder changed"],
)
@responses.activate
def test_upsert_overwrites_a_dashboard_that_differs(client, stored, folder):
    responses.get(f"{BASE}/api/dashboards/uid/sp-x", json={"dashboard": stored, "meta": {"folderUid": folder}})
    responses.post(f"{BASE}/api/dashboards/db", json={"uid": "sp-x", "version": 5, "url": "/d/sp-x"})
    result = client.upsert_dashboard(DASHBOARD, "sp", "m")
    assert (result.status, result.version) == ("updated", 5)
    assert _body(responses.calls[1])["overwrite"] is True


@pytest.mark.parametrize("dashboard", [{"title": "no uid"}, {"uid": "no-title"}])
def test_upsert_refuses_a_dashboard_without_uid_or_title(client, dashboard):
    with pytest.raises(ValueError, match="needs both a uid and a title"):
        client.upsert_dashboard(dashboard, "sp", "m")


@responses.activate
def test_create_annotation_posts_time_tags_text_and_returns_the_id(client):
    responses.post(f"{BASE}/api/annotations", json={"message": "Annotation added", "id": 17})
    annotation_id = client.create_annotation("stream restarted", ["stock-platform", "stream_restart"], 1_000, 2_000, "sp-x")
    assert annotation_id == 17
    assert _body(responses.calls[0]) == {
        "text": "stream restarted",
        "tags": ["stock-platform", "stream_restart"],
        "time": 1_000,
        "timeEnd": 2_000,
        "dashboardUID": "sp-x",
    }


@responses.activate
def test_create_annotation_without_an_id_in_the_answer_is_an_error(client):
    responses.post(f"{BASE}/api/annotations", json={"message": "ok"})
    with pytest.raises(GrafanaError, match="returned no id"):
        client.create_annotation("x", [], 1)


@responses.activate
def test_datasource_check_distinguishes_present_missing_and_unreadable(client):
    responses.get(f"{BASE}/api/datasources/uid/a", json={"uid": "a"})
    responses.get(f"{BASE}/api/datasources/uid/b", status=404)
    responses.get(f"{BASE}/api/datasources/uid/c", status=403)
    assert [client.datasource_exists(uid) for uid in "abc"] == [True, False, None]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"base_url": "grafana:3000", "token": TOKEN}, "must start with http:// or https://"),
        ({"base_url": BASE, "token": ""}, "GRAFANA_API_TOKEN is not set"),
        ({"base_url": BASE, "token": TOKEN, "max_attempts": 0}, "at least 1"),
    ],
)
def test_settings_reject_unusable_configuration(kwargs, expected):
    with pytest.raises(ValueError, match=expected):
        GrafanaSettings(**kwargs)


def test_settings_never_show_the_token():
    assert TOKEN not in repr(GrafanaSettings(base_url=BASE, token=TOKEN))


def test_comparable_dashboard_ignores_server_assigned_fields():
    assert comparable_dashboard({**DASHBOARD, "id": 3, "version": 9}) == DASHBOARD
