"""Security defaults of the rendered chart: secrets by reference, nothing public, hardened pods."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from stock_platform.defs.processing.assets import SPARK_DRIVER_SERVICE_ACCOUNT
from stock_platform.env_defaults import SECRET_ENV_VARS
from stock_platform_tests.helm.chart import RENDER_CASES
from stock_platform_tests.helm.rbac import accounts_that_can_create_pods

CLIENT_LABEL = {"stock-platform/client": "true"}
SECRET_KEY = re.compile(r"password|token|secret|api_?key", re.IGNORECASE)
# Placeholders Grafana fills from its environment, e.g. ${GRAFANA_CASSANDRA_PASSWORD}.
ENV_PLACEHOLDER = re.compile(r"^\$\{[A-Z0-9_]+\}$")


def _pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec the manifests define (Jobs, Deployments), including Spark's executor pod template."""
    for doc in docs:
        if doc["kind"] in {"Job", "Deployment"}:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]
        if doc["kind"] == "ConfigMap" and "executor-pod-template.yaml" in doc.get("data", {}):
            yield "spark-executor", yaml.safe_load(doc["data"]["executor-pod-template.yaml"])["spec"]


def _secretish_literals(node: Any, path: str = "") -> Iterator[str]:
    """Paths of literal values stored under keys that name a credential."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            if isinstance(value, str) and SECRET_KEY.search(str(key)) and value and not ENV_PLACEHOLDER.match(value):
                yield here
            yield from _secretish_literals(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _secretish_literals(item, f"{path}[{index}]")


@pytest.mark.parametrize("case", RENDER_CASES)
def test_manifests_hold_no_secret_values(rendered, case: str) -> None:
    docs = rendered[case]
    config_files = [
        yaml.safe_load(text)
        for doc in docs
        if doc["kind"] == "ConfigMap"
        for name, text in doc.get("data", {}).items()
        if name.endswith(".yaml")
    ]

    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    assert not [path for node in [*docs, *config_files] for path in _secretish_literals(node)]
    env_config = next(doc for doc in docs if doc["metadata"]["name"] == "stock-platform-env")
    assert not SECRET_ENV_VARS & set(env_config["data"])


@pytest.mark.parametrize("case", RENDER_CASES)
def test_credentials_reach_pods_only_as_secret_references(rendered, case: str) -> None:
    for _, spec in _pod_specs(rendered[case]):
        for container in spec["containers"]:
            for entry in container.get("env", []):
                if entry["name"] in SECRET_ENV_VARS | {"CASSANDRA_USERNAME"}:
                    assert set(entry) == {"name", "valueFrom"}
                    assert set(entry["valueFrom"]) == {"secretKeyRef"}


@pytest.mark.parametrize("case", RENDER_CASES)
def test_nothing_is_exposed_outside_the_cluster(rendered, case: str) -> None:
    docs = rendered[case]

    assert not [doc for doc in docs if doc["kind"] == "Ingress"]
    assert not [
        doc for doc in docs if doc["kind"] == "Service" and doc["spec"].get("type") in {"LoadBalancer", "NodePort"}
    ]
    for doc in docs:
        if doc["kind"] == "Kafka":
            assert {listener["type"] for listener in doc["spec"]["kafka"]["listeners"]} == {"internal"}


@pytest.mark.parametrize("case", RENDER_CASES)
def test_every_container_is_pinned_limited_and_unprivileged(rendered, case: str) -> None:
    specs = list(_pod_specs(rendered[case]))

    assert {name for name, _ in specs} >= {"stock-platform-kafka-topics", "stock-platform-cassandra-schema"}
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            if name == "spark-executor":
                continue  # Spark sets image and resources of its executors from spark-defaults.conf
            image = container["image"]
            assert re.fullmatch(r"[^:@]+:[\w][\w.-]*", image) and not image.endswith(":latest"), image
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), name


@pytest.mark.parametrize("case", RENDER_CASES)
def test_spark_executors_are_bounded_and_reachable_by_label(rendered, case: str) -> None:
    spark = next(doc for doc in rendered[case] if doc["metadata"]["name"] == "stock-platform-spark")
    conf = dict(line.split(" ", 1) for line in spark["data"]["spark-defaults.conf"].splitlines() if line.strip())

    if case == "default":
        assert "spark.kubernetes.container.image" not in conf
        return
    image = conf["spark.kubernetes.container.image"]
    assert ":" in image and not image.endswith(":latest")
    for key in (
        "spark.executor.memory",
        "spark.executor.memoryOverhead",
        "spark.kubernetes.executor.request.cores",
        "spark.kubernetes.executor.limit.cores",
    ):
        assert conf[key]
    assert conf["spark.kubernetes.executor.label.stock-platform/client"] == "true"


def test_only_platform_pods_reach_cassandra_and_kafka(rendered) -> None:
    docs = rendered["default"]
    (policy,) = [doc for doc in docs if doc["kind"] == "NetworkPolicy"]
    (kafka,) = [doc for doc in docs if doc["kind"] == "Kafka"]
    cassandra_pods = {"cassandra.datastax.com/cluster": "stock-platform-cassandra"}

    assert policy["spec"]["podSelector"] == {"matchLabels": cassandra_pods}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    cql_rules = [
        rule for rule in policy["spec"]["ingress"] if {"protocol": "TCP", "port": 9042} in rule.get("ports", [])
    ]
    assert cql_rules == [
        {"from": [{"podSelector": {"matchLabels": CLIENT_LABEL}}], "ports": [{"protocol": "TCP", "port": 9042}]}
    ]
    unrestricted_ports = [rule for rule in policy["spec"]["ingress"] if "ports" not in rule]
    assert unrestricted_ports == [{"from": [{"podSelector": {"matchLabels": cassandra_pods}}]}]
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["networkPolicyPeers"] == [{"podSelector": {"matchLabels": CLIENT_LABEL}}]


@pytest.mark.parametrize("case", RENDER_CASES)
def test_platform_jobs_carry_the_client_label(rendered, case: str) -> None:
    jobs = [doc for doc in rendered[case] if doc["kind"] == "Job"]

    assert jobs
    for job in jobs:
        assert CLIENT_LABEL.items() <= job["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize(("case", "spark_on_kubernetes"), [("default", False), ("production", True)])
def test_api_token_and_pod_creation_only_for_the_spark_driver_on_kubernetes(
    rendered, case: str, spark_on_kubernetes: bool
) -> None:
    docs = rendered[case]
    accounts = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "ServiceAccount"}
    roles = [doc for doc in docs if doc["kind"] == "Role"]

    assert set(accounts) == {"stock-platform", SPARK_DRIVER_SERVICE_ACCOUNT}
    assert accounts["stock-platform"]["automountServiceAccountToken"] is False
    assert accounts[SPARK_DRIVER_SERVICE_ACCOUNT]["automountServiceAccountToken"] is spark_on_kubernetes
    assert accounts_that_can_create_pods(docs) == ({SPARK_DRIVER_SERVICE_ACCOUNT} if spark_on_kubernetes else set())
    assert bool(roles) is spark_on_kubernetes
    for role in roles:
        assert {resource for rule in role["rules"] for resource in rule["resources"]} <= {
            "pods",
            "configmaps",
            "services",
            "persistentvolumeclaims",
        }


def test_long_runs_are_protected_from_voluntary_eviction(rendered, chart_values) -> None:
    budgets = [doc for doc in rendered["default"] if doc["kind"] == "PodDisruptionBudget"]

    assert {budget["spec"]["selector"]["matchLabels"]["dagster/job"] for budget in budgets} == set(
        chart_values["longRunJobs"]
    )
    for budget in budgets:
        assert budget["spec"]["minAvailable"] == 1
        assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "run_worker"
