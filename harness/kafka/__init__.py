"""Kafka clients (confluent-kafka) wired to a running deployment."""
