"""Every version the harness pins, in one table: a release is one stack a twin runs, end to end.

A team deploying to HDInsight 5.1 tests against Kafka 3.2 on ZooKeeper and Spark 3.3 on Scala 2.12,
a team moving off it against today's Kafka and Spark; a profile (or `--release`) picks one. The
Spark-Kafka connector must match its Spark exactly (Spark loads its classes into its own JVM), so each
release pins both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.errors import HarnessError

LOG4J_VERSION = "2.25.3"
"""log4j2 core plus its SLF4J 1.x binding for Kafka 4: without a binding the broker logs nothing.
Kafka 3.2 brings its own logging (reload4j with its SLF4J binding) in its runtime closure."""

MIN_JAVA_MAJOR = 17
"""Kafka 4 and Spark 4 need 17; Kafka 3.2 and Spark 3.3 run on it too, so one Java serves both releases."""


@dataclass(frozen=True)
class Release:
    """One stack, every version pinned; `metadata` says whether Kafka keeps it in KRaft or ZooKeeper."""

    name: str
    summary: str
    kafka_version: str
    kafka_scala: str
    metadata: Literal["kraft", "zookeeper"]
    zookeeper_version: str | None
    kafka_logging: Literal["log4j2", "reload4j"]
    spark_version: str
    spark_scala: str
    python_workers_max: tuple[int, int] | None
    """The newest Python whose Spark Python workers (UDFs, pandas) run, or None when today's does."""
    debian_suite: str
    """The Debian release whose Python fits this Spark, for the docker backend's images."""

    @property
    def uses_zookeeper(self) -> bool:
        return self.metadata == "zookeeper"

    def kafka_coordinates(self) -> list[str]:
        coordinates = [
            f"org.apache.kafka:kafka_{self.kafka_scala}:{self.kafka_version}",
            f"org.apache.kafka:kafka-tools:{self.kafka_version}",
        ]
        if self.kafka_logging == "log4j2":
            coordinates += [
                f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
                f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
            ]
        return coordinates

    def connector_coordinates(self) -> list[str]:
        return [f"org.apache.spark:spark-sql-kafka-0-10_{self.spark_scala}:{self.spark_version}"]

    @property
    def late_events(self) -> Literal["previous-batch", "current-batch"]:
        """Which batch's watermark drops late rows: Spark 3.4 (SPARK-40925) moved it to the previous batch's."""
        major, minor = (int(part) for part in self.spark_version.split(".")[:2])
        return "previous-batch" if (major, minor) >= (3, 4) else "current-batch"

    @property
    def title(self) -> str:
        metadata = f"ZooKeeper {self.zookeeper_version}" if self.uses_zookeeper else "KRaft"
        return f"{self.name} (Kafka {self.kafka_version} on {metadata}, Spark {self.spark_version} on Scala {self.spark_scala})"


RELEASES: dict[str, Release] = {
    release.name: release
    for release in (
        Release(
            name="current", summary="today's Apache Kafka and Spark",
            kafka_version="4.4.0", kafka_scala="2.13", metadata="kraft", zookeeper_version=None, kafka_logging="log4j2",
            # The newest connector served is 4.2.0 (4.2.1 and 4.3.0 are not), and pyproject pins pyspark to it.
            spark_version="4.2.0", spark_scala="2.13", python_workers_max=None, debian_suite="bookworm",
        ),
        Release(
            name="hdinsight-5.1", summary="HDInsight 5.1, the supported HDInsight release",
            # HDInsight 5.1 ships Kafka 3.2.0 and Spark 3.3.0; these are the last patch releases of those lines.
            kafka_version="3.2.3", kafka_scala="2.12", metadata="zookeeper", zookeeper_version="3.6.3", kafka_logging="reload4j",
            # pyspark 3.3's bundled cloudpickle fails on Python 3.11 (`code() argument 13 must be str`).
            spark_version="3.3.4", spark_scala="2.12", python_workers_max=(3, 10), debian_suite="bullseye",
        ),
    )
}
DEFAULT_RELEASE = "current"

CURRENT = RELEASES[DEFAULT_RELEASE]
KAFKA_VERSION = CURRENT.kafka_version
SPARK_VERSION = CURRENT.spark_version
"""The harness's own pyspark (pyproject pins it); a release with another Spark runs in an environment of its own."""


def release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise HarnessError(f"unknown release {name!r}", hint=f"choose one of: {', '.join(RELEASES)}") from None
