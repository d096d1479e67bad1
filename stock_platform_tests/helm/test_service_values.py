"""Values files of the upstream charts: Grafana wired to the chart's ConfigMaps, operators scoped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from stock_platform_tests.helm.chart import REPO, UPSTREAM_VALUES

SECRET_KEY = re.compile(r"password|token|secret|api_?key", re.IGNORECASE)
CLIENT_LABEL = {"stock-platform/client": "true"}


def _literals_under_secret_keys(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            is_literal = isinstance(value, str | int | float) and not isinstance(value, bool)
            if SECRET_KEY.search(str(key)) and is_literal and value != "":
                yield f"{path}.{key}"
            yield from _literals_under_secret_keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _literals_under_secret_keys(item, f"{path}[{index}]")


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return doc


@pytest.mark.parametrize("name", sorted(path.name for path in UPSTREAM_VALUES.glob("*.yaml")))
def test_upstream_values_hold_no_secret_values(upstream_values, name: str) -> None:
    # Keys such as existingSecret or passwordKey name a Secret or one of its keys, never a value.
    allowed = re.compile(r"\.(existingSecret|postgresqlSecretName|passwordKey|userKey|secretName)$")

    assert [path for path in _literals_under_secret_keys(upstream_values(name)) if not allowed.search(path)] == []


def test_grafana_mounts_the_chart_config_maps_where_the_files_expect_them(upstream_values, rendered) -> None:
    grafana = upstream_values("grafana.yaml")
    provider = yaml.safe_load((REPO / "grafana" / "provisioning" / "dashboards" / "stock-platform.yaml").read_text())
    mounts = {mount["configMap"]: mount for mount in grafana["extraConfigmapMounts"]}

    for name in mounts:
        _named(rendered["default"], "ConfigMap", name)
    assert mounts["stock-platform-grafana-dashboards"]["mountPath"] == provider["providers"][0]["options"]["path"]
    assert "subPath" not in mounts["stock-platform-grafana-dashboards"]
    assert mounts["stock-platform-grafana-datasource"]["mountPath"].startswith("/etc/grafana/provisioning/datasources/")
    assert mounts["stock-platform-grafana-dashboard-provider"]["mountPath"].startswith(
        "/etc/grafana/provisioning/dashboards/"
    )
    for source in grafana["envFromConfigMaps"]:
        _named(rendered["default"], "ConfigMap", source["name"])


def test_grafana_supplies_every_variable_of_the_data_source_file(upstream_values, rendered) -> None:
    grafana = upstream_values("grafana.yaml")
    datasource = (REPO / "grafana" / "provisioning" / "datasources" / "cassandra.yaml").read_text()
    grafana_env = _named(rendered["default"], "ConfigMap", "stock-platform-grafana-env")["data"]

    needed = set(re.findall(r"\$\{([A-Z0-9_]+)\}", datasource))
    assert needed == set(grafana_env) | set(grafana["envValueFrom"])
    for source in grafana["envValueFrom"].values():
        assert set(source) == {"secretKeyRef"}


def test_grafana_installs_the_pinned_plugin_of_the_data_source(upstream_values) -> None:
    grafana = upstream_values("grafana.yaml")
    datasource = yaml.safe_load((REPO / "grafana" / "provisioning" / "datasources" / "cassandra.yaml").read_text())

    plugin, version = grafana["env"]["GF_PLUGINS_PREINSTALL_SYNC"].split("@")
    assert {source["type"] for source in datasource["datasources"]} == {plugin}
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert grafana["env"]["GF_PLUGINS_PREINSTALL_AUTO_UPDATE"] == "false"


def test_grafana_is_private_authenticated_and_pinned(upstream_values) -> None:
    grafana = upstream_values("grafana.yaml")

    assert grafana["service"]["type"] == "ClusterIP"
    assert grafana["ingress"]["enabled"] is False
    assert grafana["grafana.ini"]["auth.anonymous"]["enabled"] is False
    assert grafana["admin"]["existingSecret"]
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[a-z]+)?", grafana["image"]["tag"])
    assert grafana["podLabels"] == CLIENT_LABEL
    # The root init container and the test pod of the chart stay off.
    assert grafana["initChownData"]["enabled"] is False
    assert grafana["testFramework"]["enabled"] is False
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(grafana["resources"][bound])


def test_operators_watch_only_their_namespace(upstream_values) -> None:
    strimzi = upstream_values("strimzi.yaml")

    assert strimzi["watchAnyNamespace"] is False
    assert strimzi["generateNetworkPolicy"] is True
    assert upstream_values("k8ssandra-operator.yaml")["global"]["clusterScoped"] is False
