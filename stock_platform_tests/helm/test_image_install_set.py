"""The image carries only the platform: no local stack (simulator, local servers, benchmarks), none of its dependencies."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import setuptools
from packaging.requirements import Requirement

from stock_platform_tests.helm.chart import REPO
from stock_platform_tests.helm.test_dockerfile import _instructions, _stages

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCAL_PACKAGE = "stock_platform_local"


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _install_set(requirements: list[str]) -> set[str]:
    """Every distribution `requirements` pull in, walked through the installed packages' metadata (extras honoured)."""
    found: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        key = (_name(str(requirement)), frozenset(requirement.extras))
        if key in found:
            continue
        found.add(key)
        environments = [{"extra": extra} for extra in requirement.extras or {""}]
        for text in metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            if dependency.marker is None or any(dependency.marker.evaluate(env) for env in environments):
                pending.append(dependency)
    return {name for name, _ in found}


def test_the_image_install_set_has_no_local_stack_dependency() -> None:
    local_only = {_name(text) for text in PROJECT["optional-dependencies"]["local"]}
    assert "aiohttp" in local_only
    image = _install_set(PROJECT["dependencies"])
    assert {"dagster", "dagster-k8s", "pyspark", "confluent-kafka"} <= image
    assert not image & local_only, f"the image would install {sorted(image & local_only)}"


def test_the_image_copies_only_the_platform_package() -> None:
    copied = [line.split()[0] for stage in _stages() for line in _instructions(stage, "COPY") if not line.startswith("-")]
    assert "stock_platform" in copied
    assert not [source for source in copied if source.startswith(LOCAL_PACKAGE)]


def test_the_packages_the_image_installs_hold_no_simulator(tmp_path: Path) -> None:
    """setuptools' package discovery, as pyproject configures it, over exactly what the Dockerfile copies."""
    shutil.copytree(REPO / "stock_platform", tmp_path / "stock_platform", ignore=shutil.ignore_patterns("__pycache__"))
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(str(tmp_path), include=find["include"], exclude=find.get("exclude", ()))
    assert "stock_platform.defs" in packages
    assert not [name for name in packages if name.startswith(LOCAL_PACKAGE) or "simulator" in name]


def test_the_platform_never_imports_the_local_stack() -> None:
    imported: dict[str, set[str]] = {}
    for path in (REPO / "stock_platform").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                imported.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO)))
    assert LOCAL_PACKAGE not in imported
    assert "aiohttp" not in imported


def _cli_without_the_local_stack(*argv: str) -> subprocess.CompletedProcess[str]:
    """`stock-platform` in a process where the local stack cannot be imported, as in the image."""
    code = f"import sys; sys.modules[{LOCAL_PACKAGE!r}] = None; from stock_platform.cli.main import main; sys.exit(main({list(argv)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_without_the_local_stack_the_platform_commands_still_work() -> None:
    result = _cli_without_the_local_stack("fetch-jars", "nothing")
    assert result.returncode == 2
    assert "unknown component(s) nothing" in result.stderr


def test_without_the_local_stack_a_local_command_says_how_to_install_it_in_one_line() -> None:
    result = _cli_without_the_local_stack("dev", "--port", "3000")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"stock-platform dev: the local stack is not installed here (module '{LOCAL_PACKAGE}")
    assert line.endswith("is not installed); from a checkout run: pip install -e '.[local]'")
