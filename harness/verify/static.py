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


def run_static_checks(topology: Topology, topics: Sequence[TopicPlan], job: JobDeclaration,
                      documents: Mapping[str, object] | None = None) -> list[Check]:
    """`documents` are the parsed files the gate runs (scenario files, by name), searched for secrets in clear."""
    return [
        *_replication(topology, topics),
        _partitions_per_broker(topology, topics),
        _connector_matches_spark(job),
        *_job_fits_release(topology, job),
        *_client_settings_known(topology, job),
        _dynamic_allocation(job),
        _names_across_peering(topology, job),
        _security_matches_listeners(topology, job),
        _plaintext_beside_tls(topology),
        _no_secret_in_clear(job, documents or {}),
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


# ----- security ----------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|jaas\.config|token)")
FILLED_AT_RUN_TIME = re.compile(r"^\s*(\{[a-z_]+\}|\$\{[^}]+\}|<[^>]+>)?\s*$")
"""A harness placeholder ({name}), a Kafka config provider (${file:...}, ${env:...}), a <placeholder>, or nothing."""


def _security_matches_listeners(topology: Topology, job: JobDeclaration) -> Check:
    """The job's `kafka.security.protocol` against what the brokers serve: a job that says PLAINTEXT to a
    TLS-only listener fails its first fetch (the broker drops the connection, the client retries and the
    query times out), and a TLS job against plaintext brokers fails its handshake."""
    settings, name = topology.kafka.security, "job's security options match the brokers' listeners"
    if not job.kafka_options:
        return Check(name, True, "the job declares no kafka.* options")
    options = {k.removeprefix("kafka."): v for k, v in job.kafka_options.items()}
    said = options.get("security.protocol", "PLAINTEXT").upper()
    served = {"plaintext": {"PLAINTEXT"}, "tls": {"SSL"}, "mtls": {"SSL"}, "sasl_ssl": {"SASL_SSL"}}[settings.protocol] \
        | ({"PLAINTEXT"} if settings.plaintext_listener else set())
    if said not in served:
        secured = next((p for p in served if p != "PLAINTEXT"), None)
        return Check(name, False, f"the job uses {said}, and the brokers of profile {topology.name} serve {' and '.join(sorted(served))} only",
                     f"set kafka.security.protocol={secured} with kafka.ssl.truststore.location/password"
                     + (" and kafka.sasl.mechanism/kafka.sasl.jaas.config" if secured == "SASL_SSL" else "") + " (harness status prints them)"
                     if secured else "set kafka.security.protocol=PLAINTEXT, or secure the profile (kafka.security.protocol: tls)")
    missing = [] if said == "PLAINTEXT" else [k for k in ("ssl.truststore.location",) if k not in options]
    if settings.protocol == "mtls" and said == "SSL":
        missing += [k for k in ("ssl.keystore.location",) if k not in options]
    if said == "SASL_SSL":
        missing += [k for k in ("sasl.mechanism", "sasl.jaas.config") if k not in options]
    if missing:
        return Check(name, False, f"the job uses {said} but sets no {', '.join('kafka.' + k for k in missing)}: "
                     + ("it cannot verify the brokers' certificates" if "ssl.truststore.location" in missing
                        else "it has no SCRAM login (SCRAM-SHA-512 and a JAAS line)" if said == "SASL_SSL" else "the brokers demand a client certificate"),
                     f"add {', '.join('kafka.' + k for k in missing)}, pointing at a file present on every Spark node (driver and executors)")
    return Check(name, True, f"the job uses {said}; the brokers serve {' and '.join(sorted(served))}")


def _plaintext_beside_tls(topology: Topology) -> Check:
    """A secured profile whose `server_properties` re-open a plaintext listener the profile closed: anyone
    who reaches it reads and writes without a certificate."""
    settings, name = topology.kafka.security, "no plaintext listener beside TLS"
    if not settings.secured:
        return Check(name, True, "the profile serves plaintext only")
    extra = " ".join(str(topology.kafka.server_properties.get(k, "")) for k in ("listeners", "advertised.listeners", "listener.security.protocol.map"))
    reopened = "PLAINTEXT" in extra.upper().replace("SASL_PLAINTEXT", "")
    if settings.plaintext_listener:
        return Check(name, True, f"plaintext on {topology.kafka.broker_port} beside TLS, as the profile chooses (kafka.security.plaintext_listener: true): "
                     "anyone who reaches that port needs no certificate")
    return Check(name, not reopened,
                 "kafka.server_properties open a PLAINTEXT listener although kafka.security.plaintext_listener is false" if reopened
                 else f"TLS only ({settings.protocol})",
                 "remove the PLAINTEXT listener from kafka.server_properties" if reopened else "")


def _no_secret_in_clear(job: JobDeclaration, documents: Mapping[str, object]) -> Check:
    """A password written into a job's conf or a scenario file ends up in version control, in process
    listings and in Spark's event log; deployed jobs read it from a file or the environment."""
    found = [f"the gate's job: {key}" for key, value in {**(job.spark_conf or {}), **(job.kafka_options or {})}.items()
             if SECRET_NAME.search(key) and not FILLED_AT_RUN_TIME.match(str(value))]
    for source, document in documents.items():
        found += [f"{source}: {where}" for where in _secrets_in(document, "")]
    return Check("no secret written in clear in the job or its scenarios", not found,
                 "; ".join(found) if found else "no password, secret or JAAS config with a literal value",
                 "" if not found else "read it at run time, from a file only the job's user reads or the environment: a Kafka "
                 "config provider (${file:/path:key}, ${env:NAME}), or your job's own lookup")


def _secrets_in(node: object, path: str) -> list[str]:
    """Dotted paths of literal values under secret-looking keys, in mappings and in `key=value` strings (args, --conf)."""
    if isinstance(node, Mapping):
        found = []
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_NAME.search(str(key)) and not isinstance(value, (Mapping, list)) and not FILLED_AT_RUN_TIME.match(str(value)):
                found.append(where)
            else:
                found += _secrets_in(value, where)
        return found
    if isinstance(node, list):
        return [w for i, item in enumerate(node) for w in _secrets_in(item, f"{path}[{i}]")]
    if isinstance(node, str) and "=" in node:
        key, _, value = node.partition("=")
        return [path] if SECRET_NAME.search(key) and not FILLED_AT_RUN_TIME.match(value) else []
    return []
