"""Provisioning: the real artifacts (Java, Kafka jars, the Spark-Kafka connector)."""

from harness.dist.artifacts import connector_jars, kafka_classpath, resolve_all
from harness.dist.java import JavaRuntime, find_java

__all__ = ["JavaRuntime", "connector_jars", "find_java", "kafka_classpath", "resolve_all"]
