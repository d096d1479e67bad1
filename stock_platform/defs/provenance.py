"""Who wrote an asset event: run, job, code version and (in Kubernetes) the image, for the audit trail."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

import dagster as dg

# dagster-k8s sets this in every run pod; it pins down exactly which build wrote the data.
IMAGE_ENV_VAR = "DAGSTER_CURRENT_IMAGE"


def package_version() -> str:
    try:
        return version("stock-platform")
    except PackageNotFoundError:
        return "unknown"


CODE_VERSION = package_version()


def provenance_metadata(run_id: str, job_name: str) -> dict[str, dg.MetadataValue]:
    """Metadata naming the run, job and code that produced an event."""
    metadata = {
        "run_id": dg.MetadataValue.text(run_id),
        "job": dg.MetadataValue.text(job_name),
        "code_version": dg.MetadataValue.text(CODE_VERSION),
    }
    image = os.environ.get(IMAGE_ENV_VAR)
    if image:
        metadata["image"] = dg.MetadataValue.text(image)
    return metadata


def run_provenance(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> dict[str, dg.MetadataValue]:
    return provenance_metadata(context.run_id, context.job_name)
