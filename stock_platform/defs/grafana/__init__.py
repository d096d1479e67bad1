"""Dagster wiring for Grafana: its resource and the provisioning job."""
