"""Kafka: settings, the producer, topic administration and the Avro codec of the market topics."""
