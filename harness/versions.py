"""Every version the harness pins, in one place.

The Spark-Kafka connector must match pyspark exactly (Spark loads the connector's classes into its
own JVM), so the connector version is read from the installed pyspark, and pyproject pins pyspark.
"""

from __future__ import annotations

KAFKA_VERSION = "4.4.0"
"""Apache Kafka broker, controller and tools (KRaft only; runs on Java 17)."""

SCALA_BINARY_VERSION = "2.13"
LOG4J_VERSION = "2.25.3"
"""log4j2 core plus its SLF4J 1.x binding: without a binding the broker logs nothing."""

SPARK_VERSION = "4.2.0"
"""pyspark and org.apache.spark:spark-sql-kafka-0-10 (the newest connector served is 4.2.0)."""

MIN_JAVA_MAJOR = 17


def kafka_coordinates() -> list[str]:
    return [
        f"org.apache.kafka:kafka_{SCALA_BINARY_VERSION}:{KAFKA_VERSION}",
        f"org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
        f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
        f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
    ]


def connector_coordinates() -> list[str]:
    return [f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY_VERSION}:{SPARK_VERSION}"]
