from pathlib import Path

import dagster as dg
import pytest

from stock_platform.defs.grafana.provision import GRAFANA_PROVISION_JOB_NAME, grafana_jobs, grafana_provision
from stock_platform.defs.grafana.resources import GrafanaResource
from stock_platform.grafana.api import DashboardResult, FolderResult, GrafanaAuthError, GrafanaError
from stock_platform.grafana.dashboards import ProvisionReport

TOKEN = "glsa_job-secret-789"


class FakeGrafanaResource(GrafanaResource):
    """Answers like a healthy Grafana; records what the op asked for."""

    datasource_found: bool | None = True
    failure: str = ""

    def health(self) -> dict:
        if self.failure == "auth":
            raise GrafanaAuthError("Grafana rejected the API token (HTTP 401); check GRAFANA_API_TOKEN")
        return {"version": "11.1.0", "database": "ok", "org": "Main"}

    def datasource_exists(self) -> bool | None:
        return self.datasource_found

    def provision_dashboards(self, directory: Path | None = None, message: str = "") -> ProvisionReport:
        if self.failure == "unreachable":
            raise GrafanaError("Grafana at http://g unreachable after 4 attempts (ConnectionError); check GRAFANA_URL")
        PROVISION_CALLS.append((directory, message))
        return ProvisionReport(
            FolderResult(self.folder_uid, self.folder_title, "created"),
            [
                DashboardResult("sp-a", "A", "created", 1, "/d/sp-a"),
                DashboardResult("sp-b", "B", "unchanged", 3, "/d/sp-b"),
            ],
        )


PROVISION_CALLS: list = []


@pytest.fixture(autouse=True)
def _reset_calls():
    PROVISION_CALLS.clear()


def _run(resource, run_config=None):
    return grafana_provision.execute_in_process(
        resources={"grafana": resource}, run_config=run_config, raise_on_error=False
    )


def _output_metadata(result):
    [output] = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_OUTPUT]
    return output.step_output_data.metadata


def _failure_message(result):
    [failure] = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    return failure.step_failure_data.error.message


def test_job_is_exported_for_the_definitions():
    assert grafana_jobs == [grafana_provision]
    assert grafana_provision.name == GRAFANA_PROVISION_JOB_NAME == "grafana_provision"


def test_job_provisions_the_repository_dashboards_and_records_what_it_did():
    result = _run(FakeGrafanaResource(api_token=TOKEN))
    assert result.success
    [(directory, message)] = PROVISION_CALLS
    assert directory is None and result.run_id in message
    metadata = _output_metadata(result)
    assert metadata["dashboards_created"].value == 1
    assert metadata["dashboards_unchanged"].value == 1
    assert metadata["dashboards_updated"].value == 0
    assert metadata["grafana_version"].value == "11.1.0"
    assert metadata["cassandra_datasource"].value == "present"
    assert metadata["dashboards"].value["sp-b"] == {"title": "B", "status": "unchanged", "version": 3, "url": "/d/sp-b"}


def test_job_takes_another_dashboard_folder_from_run_config(tmp_path):
    config = {"ops": {"provision_grafana_dashboards": {"config": {"dashboards_dir": str(tmp_path)}}}}
    assert _run(FakeGrafanaResource(api_token=TOKEN), config).success
    assert PROVISION_CALLS[0][0] == tmp_path


def test_a_missing_datasource_is_a_warning_not_a_failure():
    instance = dg.DagsterInstance.ephemeral()
    result = grafana_provision.execute_in_process(
        resources={"grafana": FakeGrafanaResource(api_token=TOKEN, datasource_found=False)}, instance=instance
    )
    assert result.success
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == 30]
    assert any("no data source with uid stock-platform-cassandra" in message for message in warnings)
    assert _output_metadata(result)["cassandra_datasource"].value == "missing"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [("auth", "check GRAFANA_API_TOKEN"), ("unreachable", "unreachable after 4 attempts")],
)
def test_grafana_errors_fail_the_run_with_one_clear_line(failure, expected):
    result = _run(FakeGrafanaResource(api_token=TOKEN, failure=failure))
    assert not result.success
    assert expected in _failure_message(result)
    assert PROVISION_CALLS == []


def test_a_missing_token_fails_the_run_with_the_variable_to_set():
    result = _run(GrafanaResource(url="http://grafana.invalid:3000", api_token=""))
    assert not result.success
    assert "GRAFANA_API_TOKEN is not set" in _failure_message(result)


def test_token_is_neither_in_run_config_nor_in_metadata():
    result = _run(FakeGrafanaResource(api_token=TOKEN))
    assert TOKEN not in repr(result.dagster_run.run_config)
    assert all(TOKEN not in repr(event) for event in result.all_events)
