"""The Stock Platform code location: every module under `defs/`, loaded per folder, with the resources bound to the environment.

`dg dev`, `dg check defs` and workspace.yaml (the chart's code server too) load `defs` from here.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

import stock_platform.defs as defs_folder
from stock_platform.defs.resources import build_resources

# from_module, not load_from_defs_folder: the image installs the package without pyproject.toml's [tool.dg].
defs = dg.Definitions.merge(
    dg.ComponentTree.from_module(defs_folder, project_root=Path(__file__).resolve().parent.parent).build_defs(),
    dg.Definitions(resources=build_resources()),
)
