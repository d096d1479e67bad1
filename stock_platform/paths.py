"""Locate the project's data folders (schemas/, cassandra/, grafana/) in a checkout or an image."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV_VAR = "STOCK_PLATFORM_HOME"


def project_root() -> Path:
    """The folder holding schemas/, cassandra/ and grafana/.

    A checkout (editable install) finds them next to the package; an image that installs the
    package into site-packages sets STOCK_PLATFORM_HOME to where it copied them.
    """
    configured = os.environ.get(HOME_ENV_VAR)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent


def project_dir(name: str) -> Path:
    """Return one of the project's data folders, with a clear error when it is missing."""
    path = project_root() / name
    if not path.is_dir():
        raise FileNotFoundError(
            f"folder {name}/ not found under {project_root()}; set {HOME_ENV_VAR} to the project checkout"
        )
    return path
