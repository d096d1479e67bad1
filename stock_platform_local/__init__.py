"""The local stack: simulator, local Kafka and Cassandra servers, `stock-platform dev` and the benchmarks; never imported by the platform."""
