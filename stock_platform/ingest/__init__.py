"""The ingest: Finnhub frames validated, grouped per symbol, Avro-encoded and produced to Kafka."""
