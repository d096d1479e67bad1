"""The chart serves the repository's grafana/ files themselves: a test fails as soon as they drift."""

from __future__ import annotations

import tarfile
from pathlib import Path

import yaml

from stock_platform_tests.helm.chart import CHART, REPO

GRAFANA = REPO / "grafana"


def _text(path: Path) -> str:
    """The file's exact bytes as text (no newline translation)."""
    return path.read_bytes().decode("utf-8")


def _config_map(docs, name: str) -> dict[str, str]:
    (doc,) = [doc for doc in docs if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name]
    return doc["data"]


def test_chart_reads_grafana_through_a_symlink_to_the_repository_folder() -> None:
    link = CHART / "files" / "grafana"

    assert link.is_symlink()
    assert link.resolve() == GRAFANA.resolve()


def test_grafana_config_maps_equal_the_repository_files(rendered) -> None:
    docs = rendered["default"]

    assert _config_map(docs, "stock-platform-grafana-datasource") == {
        "cassandra.yaml": _text(GRAFANA / "provisioning" / "datasources" / "cassandra.yaml")
    }
    assert _config_map(docs, "stock-platform-grafana-dashboard-provider") == {
        "stock-platform.yaml": _text(GRAFANA / "provisioning" / "dashboards" / "stock-platform.yaml")
    }
    dashboards = {path.name: _text(path) for path in (GRAFANA / "dashboards").glob("*.json")}
    assert dashboards
    assert _config_map(docs, "stock-platform-grafana-dashboards") == dashboards


def test_tls_changes_only_the_data_source_tls_settings(rendered) -> None:
    original = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "cassandra.yaml").read_text())
    rendered_file = yaml.safe_load(
        _config_map(rendered["production"], "stock-platform-grafana-datasource")["cassandra.yaml"]
    )

    for source in original["datasources"]:
        source["jsonData"].update(useCustomTLS=True, caPath="/etc/grafana/cassandra-ca/ca.crt")
    assert rendered_file == original


def test_grafana_environment_points_at_the_cassandra_contact_points(rendered) -> None:
    default = _config_map(rendered["default"], "stock-platform-grafana-env")
    production = _config_map(rendered["production"], "stock-platform-grafana-env")

    assert default == {
        "GRAFANA_CASSANDRA_HOSTS": "stock-platform-cassandra-dc1-service.stock-platform.svc:9042",
        "CASSANDRA_KEYSPACE": "market",
    }
    assert production["GRAFANA_CASSANDRA_HOSTS"] == ";".join(
        f"cassandra-{index}.db.example.com:9042" for index in range(3)
    )


def test_packaged_chart_carries_the_files_not_the_link(helm, tmp_path: Path) -> None:
    result = helm.run("package", str(CHART), "--destination", str(tmp_path))

    assert result.returncode == 0, result.stderr
    (package,) = tmp_path.glob("stock-platform-*.tgz")
    with tarfile.open(package) as archive:
        members = {member.name: member for member in archive.getmembers()}
        for path in (GRAFANA / "dashboards").glob("*.json"):
            member = members[f"stock-platform/files/grafana/dashboards/{path.name}"]
            assert member.isfile()
            assert archive.extractfile(member).read() == path.read_bytes()
        assert "stock-platform/files/grafana/README.md" not in members
