"""Dagster wiring for the ingest: job `finnhub_ingest` and its keeper."""
