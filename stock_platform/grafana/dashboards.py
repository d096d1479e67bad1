"""Dashboard files under grafana/dashboards: locate, validate, adapt to the keyspace and provision."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stock_platform.grafana.api import DashboardResult, FolderResult, GrafanaClient
from stock_platform.paths import project_dir

KEYSPACE_VARIABLE = "keyspace"
_CQL_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")


class DashboardFileError(ValueError):
    """A dashboard file cannot be provisioned as it is."""


@dataclass(frozen=True)
class DashboardFile:
    """One dashboard definition read from the repository."""

    path: Path
    uid: str
    title: str
    model: dict[str, Any]


@dataclass(frozen=True)
class ProvisionReport:
    """What one provisioning pass did to the folder and each dashboard."""

    folder: FolderResult
    dashboards: list[DashboardResult]

    def count(self, status: str) -> int:
        return sum(1 for dashboard in self.dashboards if dashboard.status == status)


def grafana_dir() -> Path:
    """The project's grafana/ folder (checkout, or STOCK_PLATFORM_HOME in an image)."""
    return project_dir("grafana")


def dashboards_dir() -> Path:
    """The folder of dashboard JSON files that provisioning publishes."""
    return grafana_dir() / "dashboards"


def load_dashboards(directory: Path) -> list[DashboardFile]:
    """Read every `*.json` in `directory`, sorted by name; raises a one-line error for the first bad file."""
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise DashboardFileError(f"no dashboard files (*.json) in {directory}")
    dashboards = [_read_dashboard(path) for path in paths]
    seen: dict[str, Path] = {}
    for dashboard in dashboards:
        if dashboard.uid in seen:
            raise DashboardFileError(
                f"{dashboard.path.name} and {seen[dashboard.uid].name} share uid {dashboard.uid!r}; uids must be unique"
            )
        seen[dashboard.uid] = dashboard.path
    return dashboards


def _read_dashboard(path: Path) -> DashboardFile:
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DashboardFileError(f"{path.name} is not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(model, dict):
        raise DashboardFileError(f"{path.name} must hold a JSON object, not {type(model).__name__}")
    uid, title = model.get("uid"), model.get("title")
    if not isinstance(uid, str) or not uid or len(uid) > 40:
        raise DashboardFileError(f"{path.name} needs a string uid of 1-40 characters (got {uid!r})")
    if not isinstance(title, str) or not title:
        raise DashboardFileError(f"{path.name} needs a non-empty title")
    return DashboardFile(path=path, uid=uid, title=title, model=model)


def with_keyspace(model: dict[str, Any], keyspace: str) -> dict[str, Any]:
    """A copy of `model` whose constant `keyspace` variable holds `keyspace` (queries use `${keyspace}.table`)."""
    if not _CQL_IDENTIFIER.fullmatch(keyspace):
        raise ValueError(f"keyspace {keyspace!r} is not a plain CQL identifier; check CASSANDRA_KEYSPACE")
    adapted = copy.deepcopy(model)
    for variable in adapted.get("templating", {}).get("list", []):
        if variable.get("name") == KEYSPACE_VARIABLE and variable.get("type") == "constant":
            variable["query"] = keyspace
            variable["current"] = {"text": keyspace, "value": keyspace}
            variable["options"] = [{"selected": True, "text": keyspace, "value": keyspace}]
    return adapted


def provision_dashboards(
    client: GrafanaClient,
    dashboards: list[DashboardFile],
    folder_uid: str,
    folder_title: str,
    keyspace: str,
    message: str,
) -> ProvisionReport:
    """Ensure the folder, then upsert every dashboard into it; unchanged dashboards are left alone."""
    folder = client.ensure_folder(folder_uid, folder_title)
    results = [
        client.upsert_dashboard(with_keyspace(dashboard.model, keyspace), folder_uid, message)
        for dashboard in dashboards
    ]
    return ProvisionReport(folder=folder, dashboards=results)
