"""Dagster's project conventions: `dg` finds the code location from pyproject's [tool.dg], loaded per defs folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg

import stock_platform.defs as defs_folder
from stock_platform.definitions import defs
from stock_platform_local.dev import DG_COMMAND

REPO = Path(__file__).resolve().parent.parent


def _dg(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    return subprocess.run([*DG_COMMAND, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def test_pyproject_names_the_project_modules_dg_loads() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert project["defs_module"] == defs_folder.__name__
    assert project["code_location_target_module"] == "stock_platform.definitions"


def test_dg_check_defs_loads_the_code_location() -> None:
    result = _dg("check", "defs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_shows_every_job_of_the_code_location() -> None:
    result = _dg("list", "defs", "--json")
    assert result.returncode == 0, result.stderr
    listed = result.stdout
    for job in defs.get_repository_def().get_all_jobs():
        if not job.name.startswith("__"):
            assert f'"{job.name}"' in listed, job.name


def test_the_defs_folder_holds_every_job_and_definitions_adds_only_resources() -> None:
    folder = dg.ComponentTree.from_module(defs_folder, project_root=REPO).build_defs()
    assert {job.name for job in folder.jobs} == {
        job.name for job in defs.get_repository_def().get_all_jobs() if not job.name.startswith("__")
    }
    assert not folder.resources
