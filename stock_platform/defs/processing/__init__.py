"""Dagster wiring for stream processing: Spark resources, jobs, keeper, assets and data checks."""
