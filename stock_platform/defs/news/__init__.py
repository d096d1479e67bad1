"""Dagster wiring for news: asset `news`, its job, poller sensor and checks."""
