"""The Stock Platform code location: `dagster dev` loads `defs` from here (see workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from stock_platform.defs.kafka.consumer_lag import consumer_lag_checks, consumer_lag_jobs, consumer_lag_sensors
from stock_platform.defs.grafana.provision import grafana_jobs
from stock_platform.defs.ingest.finnhub_ingest import finnhub_ingest, finnhub_ingest_keeper
from stock_platform.defs.kafka.market import market
from stock_platform.defs.news.news import news_assets, news_checks, news_jobs, news_sensors
from stock_platform.defs.processing.jobs import (
    processing_assets,
    processing_jobs,
    processing_schedules,
    processing_sensors,
)
from stock_platform.defs.processing.checks import processing_checks
from stock_platform.defs.resources import build_resources

defs = dg.Definitions(
    assets=[market, *processing_assets, *news_assets],
    asset_checks=[*processing_checks, *news_checks, *consumer_lag_checks],
    jobs=[finnhub_ingest, *processing_jobs, *news_jobs, *grafana_jobs, *consumer_lag_jobs],
    sensors=[finnhub_ingest_keeper, *processing_sensors, *news_sensors, *consumer_lag_sensors],
    schedules=processing_schedules,
    resources=build_resources(),
)
