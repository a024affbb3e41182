"""How one topology node becomes a Kafka or ZooKeeper process: its properties and its JVM command line.

Pure functions of the plan, so every backend configures Kafka the same way, on either metadata
mode: KRaft (controllers in the quorum) or ZooKeeper (brokers registered in a ZooKeeper ensemble,
as HDInsight 5.1 runs them).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from harness.dist.java import SHORT_LIVED_JVM_OPTIONS
from harness.kafka.security import HARNESS_PRINCIPAL, SCRAM_MECHANISM, scram_jaas
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

LOG4J1_PROPERTIES = """\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
"""
"""Kafka 3.2 and ZooKeeper 3.6 log through reload4j (log4j 1.2's API)."""

BROKER_MAIN = "kafka.Kafka"
FORMAT_MAIN = "kafka.tools.StorageTool"
CONFIG_MAIN = "kafka.admin.ConfigCommand"  # kafka-configs: on Kafka 3.2 it writes SCRAM users straight into ZooKeeper
ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
ZOOKEEPER_PORTS = {"zookeeper": 2181, "peer": 2888, "election": 3888}
"""ZooKeeper's client, follower and leader-election ports, as HDInsight's zk nodes use them."""


def logging_config(logging: str) -> tuple[str, str]:
    """(file name, text) of the logging configuration a Kafka or ZooKeeper JVM of this logging reads."""
    return ("log4j.properties", LOG4J1_PROPERTIES) if logging == "reload4j" else ("log4j2.properties", LOG4J2_PROPERTIES)


@dataclass(frozen=True)
class BrokerTls:
    """What a broker with a TLS listener reads: its own keystore and the run's truststore (both PKCS12, the
    key under the keystore's password), and whether it demands a certificate of every client (mTLS)."""

    keystore: Path
    keystore_password: str
    truststore: Path
    truststore_password: str
    client_auth: bool
    verify_peers: bool = True  # off only where certificates lack the names brokers call each other by (certificate_names: short_name)

    def properties(self) -> dict[str, object]:
        return {
            "ssl.keystore.type": "PKCS12", "ssl.keystore.location": self.keystore,
            "ssl.keystore.password": self.keystore_password, "ssl.key.password": self.keystore_password,
            "ssl.truststore.type": "PKCS12", "ssl.truststore.location": self.truststore,
            "ssl.truststore.password": self.truststore_password,
            "ssl.client.auth": "required" if self.client_auth else "none",
            "ssl.endpoint.identification.algorithm": "https" if self.verify_peers else "",  # brokers verify each other's names, as clients do
        }


KRAFT_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ZOOKEEPER_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"  # Kafka 3.2's, with ACLs kept in ZooKeeper
BROKER_USER, CONTROLLER_USER = "broker", "controller"


@dataclass(frozen=True)
class BrokerSasl:
    """What a node of a SASL twin reads: SCRAM-SHA-512 on the client listener (which brokers use between
    themselves too, as user `broker`), Kafka's standard authorizer, and the twin's own users as super users.
    KRaft's controller listener speaks SASL/PLAIN: SCRAM's credentials live in the metadata the controllers
    serve, so a broker could not prove itself with them before it has that metadata."""

    broker_password: str
    controller_password: str

    def properties(self, *, zookeeper: bool, sasl_listeners: Sequence[str]) -> dict[str, object]:
        """A broker's: SCRAM on each of `sasl_listeners` (the JAAS line is the broker's own login, which Kafka
        wants per SASL listener), the authorizer, and on KRaft the controller listener's side."""
        scram: dict[str, object] = {
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            **{f"listener.name.{name.lower()}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": scram_jaas(BROKER_USER, self.broker_password)
               for name in sasl_listeners},
        }
        return scram | (_authorizer(zookeeper=True) if zookeeper else self.controller_properties())

    def controller_properties(self) -> dict[str, object]:
        """The controller listener's side (a KRaft controller's own user, as server and as client) and the authorizer."""
        password = self.controller_password
        return {
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{CONTROLLER_USER}" '
                f'password="{password}" user_{CONTROLLER_USER}="{password}";',
            **_authorizer(zookeeper=False),
        }


def _authorizer(*, zookeeper: bool) -> dict[str, object]:
    """Kafka's standard authorizer of the metadata mode, nothing allowed that is not granted, the twin's own users super."""
    users = (HARNESS_PRINCIPAL, BROKER_USER) + (() if zookeeper else (CONTROLLER_USER,))
    return {"authorizer.class.name": ZOOKEEPER_AUTHORIZER if zookeeper else KRAFT_AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false", "super.users": ";".join(f"User:{u}" for u in users)}


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
    zookeeper_ports: dict[str, int] | None = None  # client, peer and election ports of a ZooKeeper server
    tls: BrokerTls | None = None  # the client listener (on broker_port) speaks TLS, and brokers speak it to each other
    plaintext_port: int | None = None  # a plaintext listener kept open beside TLS (kafka.security.plaintext_listener)
    sasl: BrokerSasl | None = None  # SCRAM users and ACLs on the client listener (kafka.security.protocol sasl_ssl)

    @property
    def broker_endpoint(self) -> str:
        return f"{self.address}:{self.broker_port}"

    @property
    def zookeeper_endpoint(self) -> str:
        assert self.zookeeper_ports is not None
        return f"{self.address}:{self.zookeeper_ports['zookeeper']}"


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
    """KRaft: `id@host:port` of every controller; ZooKeeper: the ensemble's `host:port` connect string."""


def scram_credential(name: str, password: str) -> str:
    """A SCRAM user as the KRaft storage formatter's `--add-scram` takes it (the passwords are URL-safe tokens)."""
    return f"{SCRAM_MECHANISM}=[name={name},password={password}]"


def client_protocol(plan: KafkaNodePlan) -> str:
    """The client listener's protocol, which is also its name and the one brokers speak to each other."""
    return "SASL_SSL" if plan.sasl else "SSL" if plan.tls else "PLAINTEXT"


def controller_protocol(plan: KafkaNodePlan) -> str:
    return "SASL_PLAINTEXT" if plan.sasl else "PLAINTEXT"


def security_properties(plan: KafkaNodePlan, topology: Topology, listeners: Listeners) -> dict[str, object]:
    """A node's TLS identity (brokers) and SASL settings (every KRaft node; brokers on ZooKeeper)."""
    props: dict[str, object] = dict(plan.tls.properties()) if plan.tls and plan.node.is_broker else {}
    if plan.sasl:
        sasl_listeners = [entry.split(":", 1)[0] for entry in listeners.protocol_map if entry.endswith(":SASL_SSL")]
        props |= plan.sasl.properties(zookeeper=topology.stack.uses_zookeeper, sasl_listeners=sasl_listeners) if plan.node.is_broker \
            else plan.sasl.controller_properties()
    return props


def local_listeners(plan: KafkaNodePlan, quorum: list[KafkaNodePlan]) -> Listeners:
    node = plan.node
    zookeeper = any(q.node.is_zookeeper for q in quorum)
    client = client_protocol(plan)
    served = [f"{client}://{plan.address}:{plan.broker_port}"] if node.is_broker else []
    if node.is_broker and plan.plaintext_port:
        served.append(f"PLAINTEXT://{plan.address}:{plan.plaintext_port}")
    bind = [f"{client}://{plan.address}:{plan.bind_port or plan.broker_port}", *served[1:]] if node.is_broker else []
    if node.is_controller:
        bind.append(f"CONTROLLER://{plan.address}:{plan.controller_port}")
    protocols = sorted({served_listener.split(":", 1)[0] for served_listener in served})
    return Listeners(
        bind=tuple(bind),
        advertised=tuple(served),
        protocol_map=tuple(f"{name}:{name}" for name in protocols) + (() if zookeeper else (f"CONTROLLER:{controller_protocol(plan)}",)),
        inter_broker=client if node.is_broker else None,
        voters=",".join(q.zookeeper_endpoint for q in quorum) if zookeeper
        else ",".join(f"{q.node_id}@{q.address}:{q.controller_port}" for q in quorum),
    )


def zookeeper_properties(plan: KafkaNodePlan, ensemble: list[tuple[int, str, dict[str, int]]]) -> str:
    """A ZooKeeper server's `zoo.cfg`: `ensemble` is (myid, address, ports) of every server. Ticks are
    short (500 ms) so a killed server is noticed in seconds, as a twin should; the `srvr` command is
    allowed because readiness asks each server whether it leads or follows."""
    assert plan.zookeeper_ports is not None
    lines = [
        "tickTime=500", "initLimit=40", "syncLimit=10",
        f"dataDir={plan.data_dir}",
        f"clientPortAddress={plan.address}", f"clientPort={plan.zookeeper_ports['zookeeper']}",
        "4lw.commands.whitelist=srvr,ruok,stat",
        "admin.enableServer=false",
        "quorumListenOnAllIPs=false",
    ]
    lines += [f"server.{myid}={address}:{ports['peer']}:{ports['election']}" for myid, address, ports in ensemble]
    return "\n".join(lines) + "\n"


def server_properties(plan: KafkaNodePlan, topology: Topology, listeners: Listeners) -> str:
    if topology.stack.uses_zookeeper:
        return _properties_text(_zookeeper_broker_properties(plan, topology, listeners))
    node = plan.node
    props: dict[str, object] = {
        "process.roles": ",".join(node.kafka),
        "node.id": plan.node_id,
        "controller.quorum.voters": listeners.voters,
        "controller.listener.names": "CONTROLLER",
        "listeners": ",".join(listeners.bind),
        "listener.security.protocol.map": ",".join(listeners.protocol_map),
        **_common_properties(plan, topology),
    }
    if node.is_broker:
        props["advertised.listeners"] = ",".join(listeners.advertised)
        props["inter.broker.listener.name"] = listeners.inter_broker
        if node.rack:
            props["broker.rack"] = node.rack
    props.update(security_properties(plan, topology, listeners))
    props.update(topology.kafka.server_properties)
    return _properties_text(props)


def _zookeeper_broker_properties(plan: KafkaNodePlan, topology: Topology, listeners: Listeners) -> dict[str, object]:
    props: dict[str, object] = {
        "broker.id": plan.node_id,
        "zookeeper.connect": listeners.voters,
        # A twin should notice a dead broker in seconds (ZooKeeper drops its session), not in 18 s.
        "zookeeper.session.timeout.ms": 6000,
        "zookeeper.connection.timeout.ms": 60000,
        # Brokers stopping together each ask the controller, itself a broker, to move their leaders; the ones
        # that asked the stopping controller retry after this back-off (5 s by default, the twin's stop 10.6 s).
        "controlled.shutdown.retry.backoff.ms": 500,
        "listeners": ",".join(listeners.bind),
        "advertised.listeners": ",".join(listeners.advertised),
        "listener.security.protocol.map": ",".join(listeners.protocol_map),
        "inter.broker.listener.name": listeners.inter_broker,
        **_common_properties(plan, topology),
    }
    if plan.node.rack:
        props["broker.rack"] = plan.node.rack
    props.update(security_properties(plan, topology, listeners))
    props.update(topology.kafka.server_properties)
    return props


def _common_properties(plan: KafkaNodePlan, topology: Topology) -> dict[str, object]:
    """What brokers share on both metadata modes (KRaft-only keys kept in their place, so files diff well)."""
    defaults, brokers = topology.kafka.topic_defaults, len(topology.brokers)

    def kraft_only(props: dict[str, object]) -> dict[str, object]:
        return {} if topology.stack.uses_zookeeper else props
    return {
        "log.dirs": plan.data_dir,
        # Topic defaults mirror the profile, so auto-created topics behave like the deployment's.
        "num.partitions": defaults.partitions,
        "default.replication.factor": defaults.replication_factor,
        "min.insync.replicas": defaults.min_insync_replicas,
        "offsets.topic.replication.factor": min(3, brokers),
        "transaction.state.log.replication.factor": min(3, brokers),
        "transaction.state.log.min.isr": min(2, brokers),
        **kraft_only({
            "share.coordinator.state.topic.replication.factor": min(3, brokers),
            "share.coordinator.state.topic.min.isr": min(2, brokers),
        }),
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "false",
        "log.segment.bytes": 64 * 1024 * 1024,
        # A local twin should notice a dead broker in seconds, not the production default minutes.
        **kraft_only({"broker.session.timeout.ms": 6000, "broker.heartbeat.interval.ms": 1000}),
        # The active controller appends a no-op record to the metadata log whenever it has been idle this long
        # (KIP-835; default 500 ms), and every voter and broker replicates and applies each one. Nothing waits
        # on them here (elections, fencing and metadata catch-up run on their own timers and records); at 5 s an
        # idle dev twin used about a quarter less CPU, and topic creation was no slower (README, "Sized for a twin").
        **kraft_only({"metadata.max.idle.interval.ms": 5000}),
    }


def _properties_text(props: dict[str, object]) -> str:
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


def logging_flag(logging: str, path: PurePath) -> str:
    """The JVM flag that points Kafka or ZooKeeper at its logging file: log4j 1 (reload4j) or log4j2."""
    return f"-Dlog4j.configuration=file:{path}" if logging == "reload4j" else f"-Dlog4j2.configurationFile={path}"


def jvm_command(java: Path, classpath: str, main: str, *args: str, heap_mb: int, log_dir: Path, log4j: Path,
                class_archive: Path | None = None, record_archive: Path | None = None) -> list[str]:
    """`log4j` names a log4j2 file (Kafka 4) or a log4j 1 one (`log4j.properties`: Kafka 3.2, ZooKeeper).
    `class_archive` maps a class-data-sharing archive of this main class; `record_archive` writes one at exit
    (see harness.backends.class_archive).

    A twin's JVMs are short-lived and share two cores, so they compile with C1 only (TieredStopAtLevel=1):
    C2's compiler threads competed with three brokers starting at once. The dev twin was ready in 5.6 s
    instead of 8.3 s (medians of three alternating rounds), and the quick sweep's producer, consumer-tool
    and raw-read rates on such brokers were no lower (a 2-partition point, two rounds each)."""
    log_flag = logging_flag("reload4j" if log4j.name == "log4j.properties" else "log4j2", log4j)
    sharing = [f"-XX:SharedArchiveFile={class_archive}"] if class_archive else []
    sharing += [f"-XX:ArchiveClassesAtExit={record_archive}"] if record_archive else []
    return [
        str(java),
        *sharing,
        f"-Xms{max(128, heap_mb // 2)}m",
        f"-Xmx{heap_mb}m",
        *SHORT_LIVED_JVM_OPTIONS,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={log_dir}",
        log_flag,
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
