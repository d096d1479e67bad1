"""GrafanaResource: Grafana URL and token, dashboard provisioning and pipeline-event annotations."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from stock_platform.grafana.api import GrafanaClient, GrafanaError, GrafanaSettings
from stock_platform.grafana.dashboards import (
    ProvisionReport,
    dashboards_dir,
    load_dashboards,
    provision_dashboards,
)
from stock_platform.grafana.settings import GrafanaEnv

logger = logging.getLogger(__name__)

PIPELINE_TAG = "stock-platform"
CASSANDRA_DATASOURCE_UID = "stock-platform-cassandra"


class GrafanaResource(dg.ConfigurableResource, GrafanaEnv):
    """A Grafana server reached through its HTTP API with a service-account token.

    URL, token and keyspace are the fields of `GrafanaEnv` (with their variables); the fields below have no variable.
    """

    folder_uid: str = Field(default="stock-platform", description="Folder the dashboards are provisioned into.")
    folder_title: str = "Stock Platform"
    datasource_uid: str = Field(
        default=CASSANDRA_DATASOURCE_UID, description="uid of the provisioned Cassandra data source."
    )
    timeout_s: float = 10.0
    max_attempts: int = Field(default=4, description="Attempts per API call (retries on 5xx and network errors).")

    def is_configured(self) -> bool:
        return bool(self.api_token)

    def settings(self, max_attempts: int | None = None) -> GrafanaSettings:
        """Client settings; raises a one-line error for a missing token or a malformed URL."""
        return GrafanaSettings(
            base_url=self.url,
            token=self.api_token or "",
            timeout_s=self.timeout_s,
            max_attempts=max_attempts or self.max_attempts,
        )

    @contextmanager
    def client(self, max_attempts: int | None = None) -> Iterator[GrafanaClient]:
        """A client whose HTTP session is closed when the block exits."""
        client = GrafanaClient(self.settings(max_attempts))
        try:
            yield client
        finally:
            client.close()

    def health(self) -> dict[str, Any]:
        """Grafana version and database state; fails on a bad token."""
        with self.client() as client:
            return client.health()

    def datasource_exists(self) -> bool | None:
        """Whether the Cassandra data source is provisioned; None when the token may not read data sources."""
        with self.client() as client:
            return client.datasource_exists(self.datasource_uid)

    def provision_dashboards(
        self, directory: Path | None = None, message: str = "stock-platform provisioning"
    ) -> ProvisionReport:
        """Upsert every dashboard file of `directory` (default grafana/dashboards) into the folder."""
        dashboards = load_dashboards(directory or dashboards_dir())
        with self.client() as client:
            return provision_dashboards(client, dashboards, self.folder_uid, self.folder_title, self.keyspace, message)

    def annotate(
        self,
        text: str,
        tags: list[str],
        time_ms: int | None = None,
        time_end_ms: int | None = None,
        dashboard_uid: str | None = None,
    ) -> int:
        """Post an annotation now (or at `time_ms`); returns its id and raises GrafanaError on failure."""
        with self.client() as client:
            return client.create_annotation(
                text, tags, time_ms if time_ms is not None else int(time.time() * 1000), time_end_ms, dashboard_uid
            )

    def annotate_pipeline_event(
        self,
        event: str,
        component: str,
        text: str,
        run_id: str | None = None,
        time_ms: int | None = None,
        time_end_ms: int | None = None,
    ) -> int | None:
        """Best-effort annotation of a pipeline event (e.g. `stream_restart`, `reconciliation`) on every dashboard.

        Grafana being down or unconfigured must not fail the pipeline run that reports the event: the
        failure is logged as a warning and None is returned. One attempt only, so callers never wait on backoff.
        """
        if not self.is_configured():
            logger.info("Grafana annotation %s/%s skipped: GRAFANA_API_TOKEN is not set", component, event)
            return None
        tags = [PIPELINE_TAG, event, component] + ([f"run:{run_id}"] if run_id else [])
        try:
            with self.client(max_attempts=1) as client:
                return client.create_annotation(
                    text, tags, time_ms if time_ms is not None else int(time.time() * 1000), time_end_ms
                )
        except (GrafanaError, ValueError) as error:
            logger.warning("Grafana annotation %s/%s not posted: %s", component, event, error)
            return None


def grafana_resource() -> GrafanaResource:
    """The resource bound to GRAFANA_URL, GRAFANA_API_TOKEN and CASSANDRA_KEYSPACE (read when a run starts)."""
    return GrafanaResource.env_bound()
