"""helm/stock-platform lints, renders offline and yields manifests Kubernetes accepts."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from stock_platform.cli.main import build_parser
from stock_platform_tests.helm.chart import CHART, KUBERNETES_VERSION, RENDER_CASES

# Resources of the operators (Strimzi, K8ssandra): their schemas are not part of kubernetes-validate.
CUSTOM_KINDS = {
    "kafka.strimzi.io/v1beta2": {"Kafka", "KafkaNodePool"},
    "k8ssandra.io/v1alpha1": {"K8ssandraCluster"},
}


def _is_custom(doc: dict[str, Any]) -> bool:
    return doc["kind"] in CUSTOM_KINDS.get(doc["apiVersion"], set())


def test_chart_has_no_remote_dependencies() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())

    assert "dependencies" not in chart
    assert not (CHART / "charts").exists()


@pytest.mark.parametrize("case", RENDER_CASES)
def test_chart_lints_strictly(helm, case: str) -> None:
    result = helm.lint(RENDER_CASES[case])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout


@pytest.mark.parametrize("case", RENDER_CASES)
def test_rendered_manifests_pass_strict_kubernetes_validation(rendered, case: str) -> None:
    standard = [doc for doc in rendered[case] if not _is_custom(doc)]

    assert standard
    for doc in standard:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("case", "expected_custom_kinds"),
    [("default", {"Kafka", "KafkaNodePool", "K8ssandraCluster"}), ("production", set())],
)
def test_operator_resources_exist_only_for_a_self_contained_install(
    rendered, case: str, expected_custom_kinds: set[str]
) -> None:
    custom = {doc["kind"] for doc in rendered[case] if _is_custom(doc)}

    assert custom == expected_custom_kinds


def test_spark_executor_pod_template_is_a_valid_pod(rendered) -> None:
    (spark,) = [doc for doc in rendered["production"] if doc["metadata"]["name"] == "stock-platform-spark"]
    template = yaml.safe_load(spark["data"]["executor-pod-template.yaml"])

    kubernetes_validate.validate(template, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("tag", ["", "latest"])
def test_chart_refuses_an_unpinned_image(helm, tag: str) -> None:
    result = helm.run("template", "stock-platform", str(CHART), "--set-string", f"image.tag={tag}")

    assert result.returncode != 0
    assert "needs a pinned tag" in result.stderr


@pytest.mark.parametrize(
    ("set_values", "message"),
    [
        (["kafka.deploy.enabled=false"], "set kafka.bootstrapServers"),
        (["cassandra.deploy.enabled=false", "cassandra.schema.datacenters=dc1:3"], "set cassandra.contactPoints"),
        (["cassandra.deploy.enabled=false", "cassandra.contactPoints=db-0"], "set cassandra.schema.datacenters"),
        (["secrets.cassandraUsername.name=elsewhere"], "in one Secret under the keys username and password"),
    ],
)
def test_chart_refuses_incomplete_service_settings(helm, set_values: list[str], message: str) -> None:
    args = [arg for value in set_values for arg in ("--set", value)]
    result = helm.run("template", "stock-platform", str(CHART), *args)

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("default", {"kafka-topics": {"replication_factor": 3}, "cassandra-apply": {"datacenters": "dc1:3"}}),
        (
            "production",
            {
                "kafka-topics": {"partitions": 12, "replication_factor": 3},
                "cassandra-apply": {"datacenters": "eu-west-1:3,eu-central-1:3", "trades_ttl_days": 30},
            },
        ),
    ],
)
def test_setup_jobs_run_commands_the_cli_accepts(rendered, case: str, expected: dict[str, dict[str, Any]]) -> None:
    jobs = [doc for doc in rendered[case] if doc["kind"] == "Job"]
    parsed = {}
    for job in jobs:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        program, *args = container["args"]
        assert program == "stock-platform"
        parsed[args[0]] = vars(build_parser().parse_args(args))

    assert set(parsed) == set(expected)
    for command, settings in expected.items():
        assert settings.items() <= parsed[command].items()
