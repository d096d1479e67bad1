"""The Stock Platform code location: `dagster dev` loads `defs` from here (see workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from stock_platform.defs.ingest import finnhub_ingest, finnhub_ingest_keeper
from stock_platform.defs.market import market
from stock_platform.defs.resources import build_resources

defs = dg.Definitions(
    assets=[market],
    jobs=[finnhub_ingest],
    sensors=[finnhub_ingest_keeper],
    resources=build_resources(),
)
