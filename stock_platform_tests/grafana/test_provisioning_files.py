"""Static checks of grafana/provisioning: Grafana's file formats, the plugin's fields, no secret in a file."""

import re

import pytest
import yaml

from stock_platform.defs.grafana.resources import CASSANDRA_DATASOURCE_UID, GrafanaResource
from stock_platform.grafana.dashboards import grafana_dir

ENV_REFERENCE = re.compile(r"^\$(\{[A-Z][A-Z0-9_]*\}|[A-Z][A-Z0-9_]*)$")
SECRET_KEYS = re.compile(r"password|token|secret|apikey|api_key", re.IGNORECASE)


def _load(relative):
    return yaml.safe_load((grafana_dir() / "provisioning" / relative).read_text(encoding="utf-8"))


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))
    else:
        yield path, node


@pytest.fixture(scope="module")
def datasource():
    config = _load("datasources/cassandra.yaml")
    assert config["apiVersion"] == 1
    [datasource] = config["datasources"]
    return datasource


def test_datasource_is_the_hadesarchitect_plugin_with_the_uid_dashboards_use(datasource):
    assert datasource["type"] == "hadesarchitect-cassandra-datasource"
    assert datasource["uid"] == CASSANDRA_DATASOURCE_UID == GrafanaResource().datasource_uid
    assert datasource["access"] == "proxy"
    assert datasource["editable"] is False


def test_connection_and_credentials_come_from_the_environment(datasource):
    assert ENV_REFERENCE.match(datasource["url"])
    assert ENV_REFERENCE.match(datasource["jsonData"]["user"])
    assert ENV_REFERENCE.match(datasource["jsonData"]["keyspace"])
    assert ENV_REFERENCE.match(datasource["secureJsonData"]["password"])


def test_plugin_json_data_uses_the_plugins_field_names_and_types(datasource):
    json_data = datasource["jsonData"]
    assert set(json_data) <= {
        "keyspace", "consistency", "user", "timeout", "useCustomTLS", "allowInsecureTLS", "certPath", "rootPath", "caPath"
    }
    assert json_data["consistency"] in {"ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM"}
    assert isinstance(json_data["timeout"], int)
    assert isinstance(json_data["useCustomTLS"], bool) and isinstance(json_data["allowInsecureTLS"], bool)


@pytest.mark.parametrize("relative", ["datasources/cassandra.yaml", "dashboards/stock-platform.yaml"])
def test_no_secret_value_is_written_in_a_provisioning_file(relative):
    for path, value in _walk(_load(relative)):
        if any(SECRET_KEYS.search(part) for part in path):
            assert isinstance(value, str) and ENV_REFERENCE.match(value), f"{relative}: {'.'.join(path)}"


def test_dashboard_provider_puts_the_files_into_the_resource_folder():
    config = _load("dashboards/stock-platform.yaml")
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    resource = GrafanaResource()
    assert provider["type"] == "file"
    assert (provider["folder"], provider["folderUid"]) == (resource.folder_title, resource.folder_uid)
    assert provider["options"]["path"].startswith("/")
    assert provider["allowUiUpdates"] is False
