"""Dagster wiring for Kafka: its resource, the `market` asset and the stream processor's consumer lag."""
