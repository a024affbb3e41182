"""Static checks of a deployment profile and a job, before anything starts.

Each check says what is wrong, why it matters on HDInsight, and the fix. They read only data: the
topology, the topics a suite creates, and what the job declares (its bootstrap servers as written,
its Spark and connector versions, its Spark configuration).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.topology.model import Topology
from harness.verify.check import Check

PARTITIONS_PER_BROKER = 2000  # Microsoft's guidance for HDInsight Kafka, replicas included


@dataclass(frozen=True)
class TopicPlan:
    name: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int | None = None


@dataclass(frozen=True)
class JobDeclaration:
    """What the job to be deployed says about itself (from the gate config)."""

    bootstrap_servers: str | None = None
    spark_version: str | None = None
    connector: str | None = None
    spark_conf: Mapping[str, str] | None = None
    streaming: bool = True
    kafka_options: Mapping[str, str] | None = None
    """The `kafka.*` options the job gives the connector (with or without the prefix)."""


def run_static_checks(topology: Topology, topics: Sequence[TopicPlan], job: JobDeclaration) -> list[Check]:
    return [
        *_replication(topology, topics),
        _partitions_per_broker(topology, topics),
        _connector_matches_spark(job),
        *_job_fits_release(topology, job),
        *_client_settings_known(topology, job),
        _dynamic_allocation(job),
        _names_across_peering(topology, job),
    ]


def _replication(topology: Topology, topics: Sequence[TopicPlan]) -> list[Check]:
    brokers = len(topology.brokers)
    default_isr = topology.kafka.topic_defaults.min_insync_replicas
    checks = []
    for topic in topics:
        rf, isr = topic.replication_factor, topic.min_insync_replicas or default_isr
        checks.append(Check(
            f"replication factor of {topic.name} fits the brokers", rf <= brokers,
            f"{topic.name}: replication factor {rf}, {brokers} brokers" + ("" if rf <= brokers else ": topic creation will fail"),
            "" if rf <= brokers else f"lower replication_factor to at most {brokers}, or add broker nodes",
        ))
        survives = rf == 1 or isr < rf
        checks.append(Check(
            f"min.insync.replicas of {topic.name} is below its replication factor", survives,
            f"{topic.name}: min.insync.replicas {isr}, replication factor {rf}"
            + ("" if survives else ": one broker down (an Azure update domain reboot) stops every acks=all write"),
            "" if survives else f"set min.insync.replicas to {rf - 1} (replication factor minus one)",
        ))
    return checks


def _partitions_per_broker(topology: Topology, topics: Sequence[TopicPlan]) -> Check:
    brokers = max(1, len(topology.brokers))
    replicas = sum(t.partitions * t.replication_factor for t in topics)
    per_broker = replicas / brokers
    ok = per_broker <= PARTITIONS_PER_BROKER
    return Check(
        "partition replicas per broker within HDInsight's limit", ok,
        f"{replicas} partition replicas on {brokers} brokers = {per_broker:.0f} per broker (limit about {PARTITIONS_PER_BROKER})",
        "" if ok else "use fewer partitions or more brokers",
    )


def _connector_matches_spark(job: JobDeclaration) -> Check:
    if not job.connector or not job.spark_version:
        return Check("connector version matches Spark", True, "not declared; the twin pins matching versions")
    match = re.match(r"^org\.apache\.spark:spark-sql-kafka-0-10_(\d+\.\d+):(.+)$", job.connector)
    if not match:
        return Check("connector version matches Spark", False, f"{job.connector!r} is not the spark-sql-kafka-0-10 connector",
                           "use org.apache.spark:spark-sql-kafka-0-10_<scala>:<spark version>")
    ok = match.group(2) == job.spark_version
    return Check(
        "connector version matches Spark", ok,
        f"connector {match.group(2)} with Spark {job.spark_version}" + ("" if ok else ": classes will not link (NoSuchMethodError at the first batch)"),
        "" if ok else f"use org.apache.spark:spark-sql-kafka-0-10_{match.group(1)}:{job.spark_version}",
    )


def _job_fits_release(topology: Topology, job: JobDeclaration) -> list[Check]:
    """The Spark and connector the job is built against must be the release's: a jar for Spark 3.3 on Scala 2.12
    does not load on Spark 4 (Scala 2.13), and the reverse."""
    stack = topology.stack
    checks = []
    if job.spark_version:
        ok = job.spark_version.split(".")[:2] == stack.spark_version.split(".")[:2]
        checks.append(Check(
            f"job's Spark is release {stack.name}'s", ok,
            f"the job is built for Spark {job.spark_version}; release {stack.name} runs Spark {stack.spark_version}",
            "" if ok else f"build and declare the job for Spark {stack.spark_version} (spark_version: \"{stack.spark_version}\"), or gate it on the release it is built for",
        ))
    match = re.match(r"^org\.apache\.spark:spark-sql-kafka-0-10_(\d+\.\d+):(.+)$", job.connector or "")
    if match:
        scala, version = match.groups()
        ok = scala == stack.spark_scala and version == stack.spark_version
        wanted = f"org.apache.spark:spark-sql-kafka-0-10_{stack.spark_scala}:{stack.spark_version}"
        checks.append(Check(
            f"connector is release {stack.name}'s", ok,
            f"connector {job.connector}; release {stack.name} runs Spark {stack.spark_version} on Scala {stack.spark_scala}"
            + ("" if ok else f": a Scala {scala} connector does not load there" if scala != stack.spark_scala else ": classes will not link"),
            "" if ok else f"use {wanted}",
        ))
    return checks


SPARK_REFUSES = {
    "group.id": "Spark assigns a group per query; set the kafka source's groupIdPrefix instead (kafka.group.id only with care)",
    "auto.offset.reset": "use the source option startingOffsets (earliest, latest or JSON offsets)",
    "key.deserializer": "Spark reads keys as bytes: cast or parse the key column in the query",
    "value.deserializer": "Spark reads values as bytes: cast or parse the value column in the query",
    "enable.auto.commit": "Spark commits offsets to its checkpoint, not to Kafka",
    "interceptor.classes": "the source does not support interceptors",
}
"""Consumer settings the Kafka source rejects or ignores (KafkaSourceProvider), and what to use instead."""


def _client_settings_known(topology: Topology, job: JobDeclaration) -> list[Check]:
    """Every `kafka.*` option must be a setting of the release's connector's Kafka client, and one Spark takes."""
    if not job.kafka_options:
        return []
    from harness.dist.client_settings import known_client_settings

    stack = topology.stack
    version, known = known_client_settings(stack.name)
    names = [key.removeprefix("kafka.") for key in job.kafka_options]
    unknown = [n for n in names if n not in known]
    refused = [n for n in names if n in SPARK_REFUSES and n != "group.id"]
    checks = [Check(
        f"Kafka client settings known to release {stack.name}'s connector", not unknown,
        f"kafka-clients {version} (Spark {stack.spark_version}'s connector) "
        + (f"does not know {', '.join(unknown)}: Spark passes them on and the client ignores them" if unknown else f"knows all {len(names)} settings"),
        "" if not unknown else "remove them, or find the older client's equivalent (the setting may be newer than this client)",
    )]
    if refused:
        checks.append(Check("Kafka settings the Spark source takes", False,
                            "; ".join(f"kafka.{n}: {SPARK_REFUSES[n]}" for n in refused),
                            "use the source options named above instead"))
    return checks


def _dynamic_allocation(job: JobDeclaration) -> Check:
    value = str((job.spark_conf or {}).get("spark.dynamicAllocation.enabled", "false")).lower()
    ok = not (job.streaming and value == "true")
    return Check(
        "dynamic allocation off for a streaming job", ok,
        "spark.dynamicAllocation.enabled is " + value + ("" if ok else ": executors are released between micro-batches and the stream stalls"),
        "" if ok else "set spark.dynamicAllocation.enabled=false (Microsoft's advice for streaming on HDInsight)",
    )


def _names_across_peering(topology: Topology, job: JobDeclaration) -> Check:
    """The failure the seed warns about: FQDNs of brokers in a peered VNet do not resolve without custom DNS."""
    kafka, spark = topology.cluster("kafka"), topology.cluster("spark")
    name = "job names brokers it can resolve"
    if kafka is None or spark is None or kafka.vnet == spark.vnet or not job.bootstrap_servers:
        return Check(name, True, "Kafka and Spark share a VNet (or no bootstrap servers declared)")
    kafka_vnet, spark_vnet = topology.vnet(kafka.vnet), topology.vnet(spark.vnet)
    peered = spark_vnet.name in kafka_vnet.peered_with or kafka_vnet.name in spark_vnet.peered_with
    hosts = [entry.rsplit(":", 1)[0] for entry in job.bootstrap_servers.split(",") if entry.strip()]
    by_name = [h for h in hosts if not re.match(r"^\d+\.\d+\.\d+\.\d+$", h)]
    if not peered:
        return Check(name, False, f"Kafka is in {kafka_vnet.name} and Spark in {spark_vnet.name}, which are not peered: nothing routes",
                           "put both clusters in one VNet, or peer the VNets")
    if not by_name or kafka_vnet.custom_dns or spark_vnet.custom_dns:
        return Check(name, True, "brokers are named by IP address, or a custom DNS server resolves across the peering")
    return Check(
        name, False,
        f"the job names brokers by host name ({by_name[0]}, ...) from VNet {spark_vnet.name}, but Azure's DNS resolves "
        f"{kafka_vnet.name}'s names only inside {kafka_vnet.name}: the job fails to resolve them across the peering",
        "either set up a custom DNS server for both VNets before creating the clusters (custom_dns: true), or configure Kafka "
        "to advertise IP addresses (advertised.listeners=PLAINTEXT://<ip>:9092, listeners=PLAINTEXT://0.0.0.0:9092) and use "
        "the IP addresses in the job's bootstrap servers",
    )
