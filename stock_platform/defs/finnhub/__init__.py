"""Dagster wiring for Finnhub: its resource."""
