"""Dagster wiring for the market store: the embedded and Cassandra resources."""
