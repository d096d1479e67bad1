"""helm/values/dagster.yaml: our code location on the official chart, and the run pods it launches.

The official chart cannot be pulled here, so the run pod is built the way its K8sRunLauncher builds
one: the launcher settings are translated as the chart's dagsterYaml.runLauncher.k8s template does and
handed to dagster_k8s (the version the chart ships) to construct the Job.
"""

from __future__ import annotations

from typing import Any

import kubernetes
import kubernetes_validate
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster.version import __version__ as DAGSTER_VERSION
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)
from dagster_k8s.launcher import K8sRunLauncher

from stock_platform.definitions import defs
from stock_platform.defs.keeper import LONG_RUN_TAG
from stock_platform.env_defaults import ENV_DEFAULTS, SECRET_ENV_VARS
from stock_platform_tests.helm.chart import KUBERNETES_VERSION, NAMESPACE, REPO
from stock_platform_tests.helm.rbac import accounts_that_can_create_pods

DAGSTER_HOME = "/opt/dagster/dagster_home"
RUN_IMAGE = "registry.example.com/stock-platform:0.1.0"
CLIENT_LABEL = {"stock-platform/client": "true"}


@pytest.fixture(scope="module")
def dagster_values(upstream_values) -> dict[str, Any]:
    return upstream_values("dagster.yaml")


def _code_server(dagster_values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = dagster_values["dagster-user-deployments"]["deployments"]
    return deployment


def _run_job(dagster_values: dict[str, Any], image: str, job_name: str) -> dict[str, Any]:
    launcher = dagster_values["runLauncher"]["config"]["k8sRunLauncher"]
    run_config = launcher.get("runK8sConfig", {})
    context = K8sContainerContext(
        image_pull_policy=launcher["imagePullPolicy"],
        service_account_name="dagster",
        env_config_maps=[source["name"] for source in launcher.get("envConfigMaps", [])],
        env_secrets=[source["name"] for source in launcher.get("envSecrets", [])],
        volume_mounts=launcher.get("volumeMounts", []),
        volumes=launcher.get("volumes", []),
        labels=launcher.get("labels", {}),
        namespace=NAMESPACE,
        resources=launcher.get("resources", {}),
        security_context=launcher.get("securityContext", {}),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(
            {
                "container_config": run_config.get("containerConfig", {}),
                "pod_spec_config": run_config.get("podSpecConfig", {}),
                "pod_template_spec_metadata": run_config.get("podTemplateSpecMetadata", {}),
                "job_spec_config": run_config.get("jobSpecConfig", {}),
                "job_metadata": run_config.get("jobMetadata", {}),
            }
        ),
    )
    # The launcher merges a run's dagster-k8s/config tag over its own settings; a run has its job's tags.
    context = context.merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(defs.resolve_job_def(job_name).tags)))
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(
            job_image=image,
            dagster_home=DAGSTER_HOME,
            instance_config_map="dagster-instance",
            postgres_password_secret=dagster_values["global"]["postgresqlSecretName"],
        ),
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-0123456789",
        user_defined_k8s_config=context.run_k8s_config,
        component="run_worker",
        labels={"dagster/job": job_name, "dagster/run-id": "0123456789"},
    )
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


def _launcher_config(dagster_values: dict[str, Any]) -> dict[str, Any]:
    """The run_launcher config the chart's dagsterYaml.runLauncher.k8s template writes."""
    launcher = dagster_values["runLauncher"]["config"]["k8sRunLauncher"]
    run_config = launcher["runK8sConfig"]
    return {
        "load_incluster_config": True,
        "job_namespace": NAMESPACE,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": "dagster",
        "dagster_home": DAGSTER_HOME,
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": dagster_values["global"]["postgresqlSecretName"],
        "env_config_maps": [source["name"] for source in launcher["envConfigMaps"]],
        "volume_mounts": launcher["volumeMounts"],
        "volumes": launcher["volumes"],
        "labels": launcher["labels"],
        "resources": launcher["resources"],
        "fail_pod_on_run_failure": launcher["failPodOnRunFailure"],
        "security_context": launcher["securityContext"],
        "run_k8s_config": {
            "container_config": run_config["containerConfig"],
            "pod_spec_config": run_config["podSpecConfig"],
            "pod_template_spec_metadata": run_config["podTemplateSpecMetadata"],
            "job_spec_config": run_config["jobSpecConfig"],
        },
    }


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return doc


def test_code_server_serves_the_stock_platform_code_location(dagster_values, chart_values) -> None:
    deployment = _code_server(dagster_values)

    assert dagster_values["dagster-user-deployments"]["enabled"] is True
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "stock_platform.definitions"]
    assert deployment["image"] == chart_values["image"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}


def test_code_server_is_probed_limited_and_unprivileged(dagster_values) -> None:
    deployment = _code_server(dagster_values)

    assert deployment["readinessProbe"]["enabled"] is True
    assert deployment["startupProbe"]["enabled"] is True
    assert deployment["livenessProbe"]["periodSeconds"] > 0
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(deployment["resources"][bound])
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
    assert deployment["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert deployment["labels"] == CLIENT_LABEL


def test_every_run_is_its_own_pod_with_monitoring_and_retries(dagster_values) -> None:
    daemon = dagster_values["dagsterDaemon"]

    assert dagster_values["runLauncher"]["type"] == "K8sRunLauncher"
    assert daemon["enabled"] is True
    assert daemon["runMonitoring"]["enabled"] is True
    assert daemon["runRetries"]["enabled"] is True
    assert daemon["runRetries"]["maxRetries"] >= 1


def test_run_queue_holds_one_run_per_long_job_and_room_for_batch_runs(dagster_values, chart_values) -> None:
    coordinator = dagster_values["dagsterDaemon"]["runCoordinator"]
    queued = coordinator["config"]["queuedRunCoordinator"]
    local = yaml.safe_load((REPO / "stock_platform_local" / "servers" / "dagster_local.yaml").read_text())
    long_jobs = set(chart_values["longRunJobs"])
    batch_jobs = set(defs.get_repository_def().job_names) - long_jobs - {"__ASSET_JOB"}

    assert (coordinator["enabled"], coordinator["type"]) == (True, "QueuedRunCoordinator")
    assert queued["tagConcurrencyLimits"] == local["concurrency"]["runs"]["tag_concurrency_limits"]
    assert queued["tagConcurrencyLimits"] == [
        {"key": LONG_RUN_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert queued["maxConcurrentRuns"] >= len(long_jobs) + len(batch_jobs)


def test_instance_settings_pass_dagster_own_config_schemas(dagster_values, tmp_path) -> None:
    daemon = dagster_values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator_config = {
        "max_concurrent_runs": queued["maxConcurrentRuns"],
        "tag_concurrency_limits": queued["tagConcurrencyLimits"],
    }
    monitoring = daemon["runMonitoring"]
    instance = {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": coordinator_config,
        },
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": {}},
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        },
        "run_retries": {"enabled": daemon["runRetries"]["enabled"], "max_retries": daemon["runRetries"]["maxRetries"]},
        "telemetry": {"enabled": dagster_values["telemetry"]["enabled"]},
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))

    dagster_instance_config(str(tmp_path))
    assert process_config(QueuedRunCoordinator.config_type(), coordinator_config).success
    launcher = process_config(K8sRunLauncher.config_type(), _launcher_config(dagster_values))
    assert launcher.success, launcher.errors


def test_long_jobs_of_the_chart_are_the_jobs_the_limit_applies_to(chart_values) -> None:
    tagged = {
        name: defs.resolve_job_def(name).tags[LONG_RUN_TAG]
        for name in defs.get_repository_def().job_names
        if LONG_RUN_TAG in defs.resolve_job_def(name).tags
    }

    assert tagged == {name: name for name in chart_values["longRunJobs"]}


def test_run_pod_passes_strict_kubernetes_validation(dagster_values) -> None:
    job = _run_job(dagster_values, RUN_IMAGE, "stream_processor")

    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def test_run_pod_is_limited_unprivileged_and_protected_from_eviction(dagster_values, rendered) -> None:
    job = _run_job(dagster_values, RUN_IMAGE, "finnhub_ingest")
    pod = job["spec"]["template"]
    (container,) = pod["spec"]["containers"]

    # Equal requests and limits: the Guaranteed QoS class, evicted last under node pressure.
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    assert CLIENT_LABEL.items() <= pod["metadata"]["labels"].items()
    budget = _named(rendered["default"], "PodDisruptionBudget", "stock-platform-finnhub-ingest")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


@pytest.mark.parametrize("case", ["default", "production"])
def test_run_pod_uses_what_the_chart_provides(dagster_values, rendered, case: str) -> None:
    docs = rendered[case]
    pod = _run_job(dagster_values, RUN_IMAGE, "stream_processor")["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env_config = _named(docs, "ConfigMap", "stock-platform-env")["data"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}

    _named(docs, "ServiceAccount", pod["spec"]["serviceAccountName"])
    for source in container["envFrom"]:
        _named(docs, "ConfigMap", source["configMapRef"]["name"])
    _named(docs, "PersistentVolumeClaim", volumes["data"]["persistentVolumeClaim"]["claimName"])
    _named(docs, "ConfigMap", volumes["spark-conf"]["configMap"]["name"])
    assert mounts["data"] == env_config["STOCK_PLATFORM_DATA_DIR"]
    assert env_config["SPARK_CHECKPOINT_DIR"].startswith(mounts["data"] + "/")
    assert mounts["spark-conf"] == env_config["SPARK_CONF_DIR"]
    assert mounts["tmp"] == "/tmp"


@pytest.mark.parametrize("pod", ["code server", "run"])
def test_every_setting_the_code_reads_is_set(dagster_values, rendered, pod: str) -> None:
    env_config = _named(rendered["default"], "ConfigMap", "stock-platform-env")["data"]
    if pod == "code server":
        deployment = _code_server(dagster_values)
        env, config_maps = deployment["env"], [source["name"] for source in deployment["envConfigMaps"]]
    else:
        job = _run_job(dagster_values, RUN_IMAGE, "news_job")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        env, config_maps = container["env"], [source["configMapRef"]["name"] for source in container["envFrom"]]

    assert config_maps == ["stock-platform-env"]
    assert set(ENV_DEFAULTS) <= set(env_config) | {entry["name"] for entry in env}
    secrets = {entry["name"]: entry["valueFrom"] for entry in env if entry["name"] in SECRET_ENV_VARS}
    assert set(secrets) == SECRET_ENV_VARS
    assert all(set(source) == {"secretKeyRef"} for source in secrets.values())


def test_secret_references_agree_with_the_chart(dagster_values, chart_values) -> None:
    references = {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in _code_server(dagster_values)["env"]
        if "secretKeyRef" in entry.get("valueFrom", {})
    }

    assert references["KAFKA_SASL_PASSWORD"] == chart_values["secrets"]["kafkaSaslPassword"]
    assert references["CASSANDRA_USERNAME"] == chart_values["secrets"]["cassandraUsername"]
    assert references["CASSANDRA_PASSWORD"] == chart_values["secrets"]["cassandraPassword"]


def test_dagster_services_are_private_pinned_and_secret_free(dagster_values) -> None:
    assert dagster_values["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    assert dagster_values["ingress"]["enabled"] is False
    assert dagster_values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in dagster_values["postgresql"]
    assert dagster_values["postgresql"]["existingSecret"] == dagster_values["global"]["postgresqlSecretName"]
    assert dagster_values["telemetry"]["enabled"] is False
    for component in ("dagsterWebserver", "dagsterDaemon"):
        image = dagster_values[component]["image"]
        assert image["tag"] == DAGSTER_VERSION
        assert dagster_values[component]["securityContext"]["allowPrivilegeEscalation"] is False
        assert dagster_values[component]["podSecurityContext"]["runAsNonRoot"] is True
        assert dagster_values[component]["livenessProbe"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(dagster_values[component]["resources"][bound])
    assert dagster_values["dagsterWebserver"]["readinessProbe"]["httpGet"]["path"] == "/server_info"


def test_pods_write_only_to_mounted_volumes(dagster_values) -> None:
    mounts = {mount["mountPath"] for mount in _code_server(dagster_values)["volumeMounts"]}
    job = _run_job(dagster_values, RUN_IMAGE, "stream_processor")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    home = {entry["value"] for entry in container["env"] if entry["name"] == "DAGSTER_HOME"}

    assert {"/tmp", DAGSTER_HOME} <= mounts
    assert home == {DAGSTER_HOME}
    assert {mount["mountPath"] for mount in container["volumeMounts"]} == mounts


# The jobs whose run pod is a Spark driver, which starts executor pods when Spark runs on Kubernetes.
SPARK_DRIVER_JOBS = {"stream_processor", "daily_aggregates_reconcile"}


@pytest.mark.parametrize(("case", "creators"), [("default", set()), ("production", SPARK_DRIVER_JOBS)])
def test_only_spark_driver_run_pods_can_create_pods(dagster_values, rendered, case: str, creators: set[str]) -> None:
    docs = rendered[case]
    can_create = accounts_that_can_create_pods(docs)
    pods = {name: _run_job(dagster_values, RUN_IMAGE, name)["spec"]["template"]["spec"] for name in defs.get_repository_def().job_names}

    assert {"finnhub_ingest", "news_job", *SPARK_DRIVER_JOBS} <= set(pods)
    for pod in pods.values():
        _named(docs, "ServiceAccount", pod["serviceAccountName"])
    # A pod holds its account's rights only with the token mounted (the pod's setting wins over the account's).
    assert {name for name, pod in pods.items() if pod["automountServiceAccountToken"] and pod["serviceAccountName"] in can_create} == creators
    assert {name for name, pod in pods.items() if pod["automountServiceAccountToken"]} == SPARK_DRIVER_JOBS


def test_code_server_has_no_token_and_cannot_create_pods(dagster_values, rendered) -> None:
    account = dagster_values["dagster-user-deployments"]["serviceAccount"]["name"]
    for case in ("default", "production"):
        assert account not in accounts_that_can_create_pods(rendered[case])
        assert _named(rendered[case], "ServiceAccount", account)["automountServiceAccountToken"] is False
