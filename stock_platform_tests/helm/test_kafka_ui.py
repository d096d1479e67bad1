"""The optional Kafka web UI (values `kafkaUi`): off by default; when on, private, read-only, hardened and
connected to Kafka exactly like the platform."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.jvm_kafka import java_client_config
from stock_platform_tests.helm import test_chart_security as chart_security
from stock_platform_tests.helm.chart import CHART, KUBERNETES_VERSION, RENDER_CASES

ENABLED = ["kafkaUi.enabled=true"]
NAME = "stock-platform-kafka-ui"
COMPONENT = {"app.kubernetes.io/component": "kafka-ui"}
PASSWORD_REFERENCE = "$(KAFKA_SASL_PASSWORD)"


@pytest.fixture(scope="module")
def enabled(helm) -> dict[str, list[dict[str, Any]]]:
    """Every render case with the UI switched on, rendered once per module."""
    return {case: helm.template(files, ENABLED) for case, files in RENDER_CASES.items()}


def _ui_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if "kafka-ui" in doc["metadata"]["name"]]


def _deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    return deployment


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = _deployment(docs)["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container["env"]}


def _platform_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    return next(doc for doc in docs if doc["metadata"]["name"] == "stock-platform-env")["data"]


def test_kafka_ui_is_off_by_default_and_in_production(rendered, chart_values) -> None:
    assert chart_values["kafkaUi"]["enabled"] is False
    for case in RENDER_CASES:
        assert _ui_docs(rendered[case]) == [], case
        assert not [doc for doc in rendered[case] if COMPONENT.items() <= doc["metadata"]["labels"].items()], case


@pytest.mark.parametrize("case", RENDER_CASES)
def test_enabling_the_ui_adds_only_a_deployment_and_a_cluster_ip_service(rendered, enabled, case: str) -> None:
    before = {(doc["kind"], doc["metadata"]["name"]) for doc in rendered[case]}
    after = {(doc["kind"], doc["metadata"]["name"]) for doc in enabled[case]}
    (service,) = [doc for doc in enabled[case] if doc["kind"] == "Service"]

    assert after - before == {("Deployment", NAME), ("Service", NAME)}
    assert before <= after
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    assert not {"externalIPs", "loadBalancerIP", "externalName"} & set(service["spec"])


@pytest.mark.parametrize("case", RENDER_CASES)
def test_enabled_ui_passes_strict_kubernetes_validation(enabled, case: str) -> None:
    for doc in _ui_docs(enabled[case]):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("case", RENDER_CASES)
def test_chart_with_the_ui_lints_strictly(helm, case: str) -> None:
    result = helm.run(
        "lint", str(CHART), "--strict", "--namespace", "stock-platform", *helm.value_args(RENDER_CASES[case], ENABLED)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout


@pytest.mark.parametrize("case", RENDER_CASES)
def test_service_and_deployment_select_the_ui_pods_by_stable_labels(enabled, case: str) -> None:
    docs = enabled[case]
    deployment = _deployment(docs)
    (service,) = [doc for doc in docs if doc["kind"] == "Service"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert service["spec"]["selector"] == selector
    assert selector.items() <= pod_labels.items()
    assert COMPONENT.items() <= selector.items()
    # A Deployment's selector cannot change on upgrade: nothing in it may follow the chart's version.
    assert not {"app.kubernetes.io/version", "helm.sh/chart"} & set(selector)
    # Strimzi's NetworkPolicy admits only the platform's client pods to the Kafka listener.
    assert chart_security.CLIENT_LABEL.items() <= pod_labels.items()
    assert {doc["kind"] for doc in docs if COMPONENT.items() <= doc["metadata"]["labels"].items()} == {
        "Deployment",
        "Service",
    }


@pytest.mark.parametrize("case", RENDER_CASES)
def test_ui_reads_the_kafka_the_platform_uses(enabled, case: str) -> None:
    env = _env(_container(enabled[case]))
    platform = _platform_env(enabled[case])

    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"]["value"] == platform["KAFKA_BOOTSTRAP_SERVERS"]
    assert env["KAFKA_CLUSTERS_0_PROPERTIES_SECURITY_PROTOCOL"]["value"] == platform["KAFKA_SECURITY_PROTOCOL"]
    assert env["KAFKA_CLUSTERS_0_NAME"]["value"] == "stock-platform"
    if case == "default":
        assert platform["KAFKA_BOOTSTRAP_SERVERS"] == "stock-platform-kafka-kafka-bootstrap.stock-platform.svc:9092"


def test_ui_without_sasl_references_no_secret(enabled) -> None:
    env = _env(_container(enabled["default"]))

    assert not [name for name in env if "SASL" in name]
    assert not [entry for entry in env.values() if "valueFrom" in entry]


@pytest.mark.parametrize(
    ("set_values", "mechanism", "username"),
    [
        ([], "SCRAM-SHA-512", "stock-platform"),
        (["kafka.saslMechanism=SCRAM-SHA-256", "kafka.saslUsername=ui"], "SCRAM-SHA-256", "ui"),
        (["kafka.saslMechanism=PLAIN", 'kafka.saslUsername=we"ird'], "PLAIN", 'we"ird'),
    ],
)
def test_ui_logs_in_with_the_platform_password_from_its_secret(
    helm, set_values: list[str], mechanism: str, username: str
) -> None:
    docs = helm.template(RENDER_CASES["production"], [*ENABLED, *set_values])
    container = _container(docs)
    env = _env(container)
    names = [entry["name"] for entry in container["env"]]
    # The platform's own Java spelling of the same login (Spark's Kafka connector), with the password
    # left to Kubernetes to fill in from the Secret.
    expected = java_client_config(
        KafkaSettings(
            bootstrap_servers="unused",
            security_protocol="SASL_SSL",
            sasl_mechanism=mechanism,
            sasl_username=username,
            sasl_password=PASSWORD_REFERENCE,
        )
    )

    assert env["KAFKA_SASL_PASSWORD"] == {
        "name": "KAFKA_SASL_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "stock-platform-secrets", "key": "KAFKA_SASL_PASSWORD"}},
    }
    # Kubernetes substitutes $(VAR) only from variables defined earlier in the list.
    assert names.index("KAFKA_SASL_PASSWORD") < names.index("KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG")
    assert env["KAFKA_CLUSTERS_0_PROPERTIES_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["KAFKA_CLUSTERS_0_PROPERTIES_SASL_MECHANISM"]["value"] == expected["sasl.mechanism"]
    assert env["KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG"]["value"] == expected["sasl.jaas.config"]


@pytest.mark.parametrize("case", RENDER_CASES)
def test_ui_is_read_only(enabled, case: str) -> None:
    env = _env(_container(enabled[case]))

    assert env["KAFKA_CLUSTERS_0_READONLY"]["value"] == "true"


@pytest.mark.parametrize("case", RENDER_CASES)
def test_ui_pod_is_pinned_limited_and_unprivileged(enabled, case: str) -> None:
    spec = _deployment(enabled[case])["spec"]["template"]["spec"]
    container = _container(enabled[case])
    security = container["securityContext"]
    (tmp_mount,) = container["volumeMounts"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}

    assert spec["securityContext"]["runAsNonRoot"] is True
    # The image's USER is a name (kafkaui); runAsNonRoot can only be verified against a numeric user.
    assert isinstance(spec["securityContext"]["runAsUser"], int) and spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["serviceAccountName"] == "stock-platform"
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "privileged" not in security
    assert re.fullmatch(r"ghcr\.io/kafbat/kafka-ui:v\d+\.\d+\.\d+", container["image"]), container["image"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound])
    assert tmp_mount == {"name": "tmp", "mountPath": "/tmp"}
    assert "emptyDir" in volumes["tmp"]
    assert [volume for volume in spec["volumes"] if "hostPath" in volume] == []
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec)


@pytest.mark.parametrize("case", RENDER_CASES)
def test_ui_probes_its_own_health_endpoints(enabled, case: str) -> None:
    container = _container(enabled[case])
    (port,) = container["ports"]

    assert port == {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    assert _env(container)["MANAGEMENT_ENDPOINT_HEALTH_PROBES_ENABLED"]["value"] == "true"
    for probe, path in [
        ("startupProbe", "/actuator/health/liveness"),
        ("livenessProbe", "/actuator/health/liveness"),
        ("readinessProbe", "/actuator/health/readiness"),
    ]:
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe


@pytest.mark.parametrize(
    "check",
    [
        chart_security.test_manifests_hold_no_secret_values,
        chart_security.test_credentials_reach_pods_only_as_secret_references,
        chart_security.test_nothing_is_exposed_outside_the_cluster,
        chart_security.test_every_container_is_pinned_limited_and_unprivileged,
    ],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("case", RENDER_CASES)
def test_chart_security_checks_hold_with_the_ui(enabled, check, case: str) -> None:
    check(enabled, case)


@pytest.mark.parametrize("case", RENDER_CASES)
def test_ui_credentials_are_secret_references_only(enabled, case: str) -> None:
    for entry in _container(enabled[case])["env"]:
        if "value" in entry:
            assert not chart_security.SECRET_KEY.search(entry["name"]) or PASSWORD_REFERENCE in entry["value"], entry
        else:
            assert set(entry["valueFrom"]) == {"secretKeyRef"}, entry


@pytest.mark.parametrize("tag", ["", "latest"])
def test_chart_refuses_an_unpinned_ui_image(helm, tag: str) -> None:
    result = helm.run(
        "template", "stock-platform", str(CHART), *helm.value_args([], ENABLED), "--set-string", f"kafkaUi.image.tag={tag}"
    )

    assert result.returncode != 0
    assert "needs a pinned tag" in result.stderr
