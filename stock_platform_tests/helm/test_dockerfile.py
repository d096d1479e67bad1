"""The user-code image, checked from its Dockerfile (no Docker engine here) and its entry point script."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from stock_platform.jvm_artifacts import JARS_DIR_ENV_VAR
from stock_platform.paths import HOME_ENV_VAR
from stock_platform_tests.helm.chart import CHART, REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
ENTRYPOINT_PATH = "/usr/local/bin/stock-platform-entrypoint"


def _stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]


def _instructions(stage: str, name: str) -> list[str]:
    """Arguments of every instruction `name` of a stage, continuation lines joined."""
    joined = stage.replace("\\\n", " ")
    return [match.strip() for match in re.findall(rf"^{name} (.+)$", joined, flags=re.MULTILINE)]


def _entrypoint_script() -> str:
    match = re.search(
        rf"^COPY --chmod=0755 <<'EOF' {ENTRYPOINT_PATH}\n(.*?)^EOF$", DOCKERFILE, re.DOTALL | re.MULTILINE
    )
    assert match, "the entry point script is a heredoc of the Dockerfile"
    return match.group(1)


def test_base_image_is_an_exact_python_and_debian_release() -> None:
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)

    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+", default)
    assert [stage.split("\n")[0] for stage in _stages()] == ["${PYTHON_IMAGE} AS build", "build AS jars", "${PYTHON_IMAGE}"]


def test_spark_connector_jars_are_resolved_at_build_time_where_the_package_looks() -> None:
    _, jars, runtime = _stages()
    (fetch,) = [run for run in _instructions(jars, "RUN") if "fetch-jars" in run]

    assert "openjdk-17-jdk-headless maven" in _instructions(jars, "RUN")[0]
    assert fetch == f"{JARS_DIR_ENV_VAR}=/opt/stock-platform/jars stock-platform fetch-jars spark"
    assert "COPY --from=jars /opt/stock-platform/jars /opt/stock-platform/jars" in runtime
    assert f"{JARS_DIR_ENV_VAR}=/opt/stock-platform/jars" in runtime
    assert "maven" not in runtime and "-jdk-" not in runtime


def test_runtime_runs_as_the_unprivileged_user_the_pods_expect(chart_values, upstream_values) -> None:
    runtime = _stages()[-1]
    code_server = upstream_values("dagster.yaml")["dagster-user-deployments"]["deployments"][0]
    pod_security = chart_values["podSecurityContext"]

    assert _instructions(runtime, "USER") == ["10001:10001"]
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (10001, 10001)
    assert code_server["podSecurityContext"]["runAsUser"] == 10001


def test_runtime_holds_a_java_runtime_and_no_build_tools() -> None:
    runtime = _stages()[-1]
    (install,) = _instructions(runtime, "RUN")[:1]

    packages = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", install).group(1).split()
    assert packages == ["openjdk-17-jre-headless", "tini"]
    assert "rm -rf /var/lib/apt/lists/*" in install
    assert "pip install" not in runtime
    assert not re.search(r"\b(gcc|g\+\+|make|build-essential|[a-z0-9-]+-dev)\b", runtime)
    assert _instructions(runtime, "ENTRYPOINT") == [f'["/usr/bin/tini", "--", "{ENTRYPOINT_PATH}"]']


def test_image_carries_the_data_folders_where_the_package_looks() -> None:
    runtime = _stages()[-1]
    copies = {tuple(args.split()) for args in _instructions(runtime, "COPY") if not args.startswith("--")}

    assert f"{HOME_ENV_VAR}=/opt/stock-platform" in runtime
    assert copies == {(folder, f"/opt/stock-platform/{folder}") for folder in ("schemas", "cassandra", "grafana")}


def test_build_context_is_an_allowlist_of_what_the_build_copies() -> None:
    rules = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    copied = {
        source.rstrip("/")
        for stage in _stages()
        for args in _instructions(stage, "COPY")
        if not args.startswith("--")
        for source in args.split()[:-1]
    }

    assert rules[0] == "*"
    assert {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")} == copied


def test_image_version_is_the_package_version_everywhere(chart_values, upstream_values) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    code_server = upstream_values("dagster.yaml")["dagster-user-deployments"]["deployments"][0]

    assert chart["appVersion"] == version
    assert chart_values["image"]["tag"] == version
    assert code_server["image"]["tag"] == version


@pytest.fixture
def entrypoint(tmp_path: Path) -> Path:
    script = tmp_path / "entrypoint"
    script.write_text(_entrypoint_script())
    # A stand-in for java that prints the arguments it was started with.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (bin_dir / "java").chmod(0o755)
    return script


def test_entrypoint_runs_any_other_command_as_given(entrypoint: Path) -> None:
    result = subprocess.run(
        ["bash", str(entrypoint), "/usr/bin/printf", "%s|", "dagster", "api grpc"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    assert result.stdout == "dagster|api grpc|"


def test_entrypoint_starts_a_spark_executor_the_way_spark_asks(entrypoint: Path) -> None:
    env = {
        "PATH": f"{entrypoint.parent / 'bin'}:/usr/bin:/bin",
        "SPARK_HOME": "/opt/venv/spark",
        "SPARK_CONF_DIR": "/etc/stock-platform/spark",
        "SPARK_JAVA_OPT_10": "-Dten=10",
        "SPARK_JAVA_OPT_0": "-Dzero=0",
        "SPARK_JAVA_OPT_2": "-Dtwo=a b",
        "SPARK_EXECUTOR_MEMORY": "2g",
        "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@10.0.0.5:7078",
        "SPARK_EXECUTOR_ID": "3",
        "SPARK_EXECUTOR_CORES": "1",
        "SPARK_APPLICATION_ID": "spark-app-1",
        "SPARK_EXECUTOR_POD_IP": "10.0.0.9",
        "SPARK_RESOURCE_PROFILE_ID": "0",
        "SPARK_EXECUTOR_POD_NAME": "stock-platform-exec-3",
    }

    result = subprocess.run(
        ["bash", str(entrypoint), "executor"], env=env, capture_output=True, text=True, check=True, timeout=30
    )

    assert result.stdout.splitlines() == [
        "-Dzero=0",
        "-Dtwo=a b",
        "-Dten=10",
        "-Xms2g",
        "-Xmx2g",
        "-cp",
        "/etc/stock-platform/spark:/opt/venv/spark/jars/*",
        "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
        "--driver-url",
        "spark://CoarseGrainedScheduler@10.0.0.5:7078",
        "--executor-id",
        "3",
        "--cores",
        "1",
        "--app-id",
        "spark-app-1",
        "--hostname",
        "10.0.0.9",
        "--resourceProfileId",
        "0",
        "--podName",
        "stock-platform-exec-3",
    ]
