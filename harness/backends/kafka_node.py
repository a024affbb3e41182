"""How one topology node becomes a Kafka process: its properties and its JVM command line.

Pure functions of the plan, so every backend configures Kafka the same way.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.topology.model import Node, Topology

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class KafkaNodePlan:
    """Where one Kafka process lives: identity, address, ports, directories."""

    node: Node
    node_id: int
    address: str
    broker_port: int | None
    controller_port: int | None
    data_dir: Path
    log_dir: Path
    bind_port: int | None = None  # where the broker listens when a fault proxy holds its advertised port

    @property
    def broker_endpoint(self) -> str:
        return f"{self.address}:{self.broker_port}"


@dataclass(frozen=True)
class Listeners:
    """How a node binds, how it names itself to clients and peers, and where the quorum is.

    The local backend binds and advertises one loopback address; the docker backend binds inside
    the container and advertises FQDNs (or IPs) in the VNet plus a host-mapped listener.
    """

    bind: tuple[str, ...]
    advertised: tuple[str, ...]
    protocol_map: tuple[str, ...]
    inter_broker: str | None
    voters: str


def local_listeners(plan: KafkaNodePlan, quorum: list[KafkaNodePlan]) -> Listeners:
    node = plan.node
    bind = [f"PLAINTEXT://{plan.address}:{plan.bind_port or plan.broker_port}"] if node.is_broker else []
    if node.is_controller:
        bind.append(f"CONTROLLER://{plan.address}:{plan.controller_port}")
    return Listeners(
        bind=tuple(bind),
        advertised=(f"PLAINTEXT://{plan.address}:{plan.broker_port}",) if node.is_broker else (),
        protocol_map=(("PLAINTEXT:PLAINTEXT",) if node.is_broker else ()) + ("CONTROLLER:PLAINTEXT",),
        inter_broker="PLAINTEXT" if node.is_broker else None,
        voters=",".join(f"{q.node_id}@{q.address}:{q.controller_port}" for q in quorum),
    )


def server_properties(plan: KafkaNodePlan, topology: Topology, listeners: Listeners) -> str:
    node, defaults = plan.node, topology.kafka.topic_defaults
    brokers = len(topology.brokers)
    props: dict[str, object] = {
        "process.roles": ",".join(node.kafka),
        "node.id": plan.node_id,
        "controller.quorum.voters": listeners.voters,
        "controller.listener.names": "CONTROLLER",
        "listeners": ",".join(listeners.bind),
        "listener.security.protocol.map": ",".join(listeners.protocol_map),
        "log.dirs": plan.data_dir,
        # Topic defaults mirror the profile, so auto-created topics behave like the deployment's.
        "num.partitions": defaults.partitions,
        "default.replication.factor": defaults.replication_factor,
        "min.insync.replicas": defaults.min_insync_replicas,
        "offsets.topic.replication.factor": min(3, brokers),
        "transaction.state.log.replication.factor": min(3, brokers),
        "transaction.state.log.min.isr": min(2, brokers),
        "share.coordinator.state.topic.replication.factor": min(3, brokers),
        "share.coordinator.state.topic.min.isr": min(2, brokers),
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "false",
        "log.segment.bytes": 64 * 1024 * 1024,
        # A local twin should notice a dead broker in seconds, not the production default minutes.
        "broker.session.timeout.ms": 6000,
        "broker.heartbeat.interval.ms": 1000,
    }
    if node.is_broker:
        props["advertised.listeners"] = ",".join(listeners.advertised)
        props["inter.broker.listener.name"] = listeners.inter_broker
        if node.rack:
            props["broker.rack"] = node.rack
    props.update(topology.kafka.server_properties)
    return "".join(f"{key}={str(value).lower() if isinstance(value, bool) else value}\n" for key, value in props.items())


def quorum_leader(quorum_state_json: str) -> tuple[int, int] | None:
    """(leader epoch, leader id) from a controller's `__cluster_metadata-0/quorum-state` file."""
    import json

    try:
        quorum = json.loads(quorum_state_json)
    except ValueError:
        return None
    if quorum.get("leaderId", -1) < 0:
        return None
    return int(quorum["leaderEpoch"]), int(quorum["leaderId"])


def jvm_command(java: Path, classpath: str, main: str, *args: str, heap_mb: int, log_dir: Path, log4j: Path) -> list[str]:
    return [
        str(java),
        f"-Xms{max(128, heap_mb // 2)}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={log_dir}",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        classpath,
        main,
        *args,
    ]


def new_cluster_id() -> str:
    """A KRaft cluster id (16 random bytes, URL-safe base64). Like Kafka's own Uuid.randomUuid, never one
    starting with '-': the storage tool's argument parser would take it for an option."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate
