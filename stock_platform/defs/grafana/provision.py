"""Job `grafana_provision`: health-check Grafana and publish every dashboard of grafana/dashboards.

Resources by key: `grafana` (GrafanaResource).
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from stock_platform.defs.grafana.resources import GrafanaResource
from stock_platform.grafana.api import GrafanaError
from stock_platform.grafana.dashboards import DashboardFileError, ProvisionReport

GRAFANA_PROVISION_JOB_NAME = "grafana_provision"


class GrafanaProvisionConfig(dg.Config):
    """Where the dashboard files come from."""

    dashboards_dir: str = Field(
        default="", description="Folder of dashboard JSON files; empty: the repo's grafana/dashboards."
    )


def provision_metadata(
    report: ProvisionReport, health: dict[str, Any], datasource_found: bool | None
) -> dict[str, Any]:
    """What the provisioning pass did, as numbers (plotted by the UI) plus the per-dashboard breakdown."""
    return {
        "grafana_version": dg.MetadataValue.text(str(health.get("version"))),
        "folder": dg.MetadataValue.text(f"{report.folder.title} ({report.folder.uid}): {report.folder.status}"),
        "dashboards_created": dg.MetadataValue.int(report.count("created")),
        "dashboards_updated": dg.MetadataValue.int(report.count("updated")),
        "dashboards_unchanged": dg.MetadataValue.int(report.count("unchanged")),
        "cassandra_datasource": dg.MetadataValue.text(
            {True: "present", False: "missing", None: "not readable with this token"}[datasource_found]
        ),
        "dashboards": dg.MetadataValue.json(
            {
                result.uid: {
                    "title": result.title,
                    "status": result.status,
                    "version": result.version,
                    "url": result.url,
                }
                for result in report.dashboards
            }
        ),
    }


@dg.op(description="Health-checks Grafana, then upserts every dashboard file into the Stock Platform folder.")
def provision_grafana_dashboards(
    context: dg.OpExecutionContext, config: GrafanaProvisionConfig, grafana: GrafanaResource
) -> None:
    try:
        health = grafana.health()
        datasource_found = grafana.datasource_exists()
        if datasource_found is False:
            context.log.warning(
                f"Grafana has no data source with uid {grafana.datasource_uid}: panels stay empty until "
                "grafana/provisioning/datasources/cassandra.yaml is mounted into Grafana"
            )
        report = grafana.provision_dashboards(
            Path(config.dashboards_dir) if config.dashboards_dir else None,
            message=f"stock-platform run {context.run_id}",
        )
    except (GrafanaError, DashboardFileError, ValueError, FileNotFoundError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    context.add_output_metadata(provision_metadata(report, health, datasource_found))
    context.log.info(
        f"Grafana {health.get('version')}: folder {report.folder.status}, "
        f"{report.count('created')} created, {report.count('updated')} updated, {report.count('unchanged')} unchanged"
    )


@dg.job(
    name=GRAFANA_PROVISION_JOB_NAME,
    description="Publishes the repo's Grafana dashboards into the Stock Platform folder (idempotent).",
)
def grafana_provision() -> None:
    provision_grafana_dashboards()


grafana_jobs = [grafana_provision]
