"""The deployment as pure, validated data: VNets, clusters and nodes named as HDInsight names them.

Every backend realises this one model, so a test written against it does not care whether the
nodes are local JVMs or containers. Nothing here starts or imports anything.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.versions import DEFAULT_RELEASE, RELEASES, Release

Role = Literal["head", "worker", "zookeeper"]
ClusterKind = Literal["kafka", "spark"]
KafkaProcessRole = Literal["broker", "controller", "zookeeper"]

ROLE_PREFIX: dict[str, str] = {"head": "hn", "worker": "wn", "zookeeper": "zk"}
_DNS_LABELS = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{2,58}$")


def host_suffix(cluster_name: str) -> str:
    """HDInsight names hosts after the first six characters of the cluster name (`kafka-mslearn` -> `kafka`);
    a trailing hyphen is dropped because a DNS label may not end with one."""
    return cluster_name[:6].rstrip("-")


class _Strict(BaseModel):
    """Unknown fields are errors: a typo in a profile must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class VNet(_Strict):
    name: str
    address_space: IPv4Network = IPv4Network("10.0.0.0/16")
    subnet: IPv4Network = IPv4Network("10.0.0.0/24")
    dns_suffix: str = Field(description="the VNet's internal DNS suffix, shared by every node in it")
    peered_with: tuple[str, ...] = Field(default=(), description="names of VNets this one is peered with")
    custom_dns: bool = Field(
        default=False, description="a custom DNS server resolves the peers' host names (set up before the clusters)"
    )

    @field_validator("dns_suffix")
    @classmethod
    def _dns(cls, value: str) -> str:
        if not _DNS_LABELS.match(value):
            raise ValueError(f"{value!r} is not a DNS name; use lower-case labels such as abc123.cx.internal.cloudapp.net")
        return value

    @model_validator(mode="after")
    def _subnet_inside(self) -> VNet:
        if not self.subnet.subnet_of(self.address_space):
            raise ValueError(f"subnet {self.subnet} is not inside address_space {self.address_space}")
        return self


class NodeGroup(_Strict):
    """Nodes of one role in one cluster, as an ARM template counts them."""

    role: Role
    count: int = Field(default=1, ge=1, le=64)
    indices: tuple[int, ...] | None = Field(
        default=None, description="host numbers, when they are not 0..count-1 (HDInsight does not promise sequence)"
    )
    vm_size: str = "Standard_D13_v2"
    disks: int = Field(default=0, ge=0, le=16, description="managed data disks per node")
    kafka: tuple[KafkaProcessRole, ...] = Field(default=(), description="Kafka processes on these nodes (kafka clusters)")
    racks: tuple[str, ...] | None = Field(default=None, description="broker.rack per node, e.g. FD0UD0")

    @model_validator(mode="after")
    def _lengths(self) -> NodeGroup:
        if self.indices is not None:
            if len(self.indices) != self.count:
                raise ValueError(f"indices has {len(self.indices)} entries but count is {self.count}; give one index per node")
            if len(set(self.indices)) != len(self.indices) or min(self.indices) < 0:
                raise ValueError("indices must be distinct and >= 0")
        if self.racks is not None and len(self.racks) != self.count:
            raise ValueError(f"racks has {len(self.racks)} entries but count is {self.count}; give one rack per node")
        if len(set(self.kafka)) != len(self.kafka):
            raise ValueError("kafka lists a process role twice")
        return self

    def host_numbers(self) -> tuple[int, ...]:
        return self.indices if self.indices is not None else tuple(range(self.count))


class Node(_Strict):
    """One host of the deployment, with the names HDInsight would give it."""

    cluster: str
    kind: ClusterKind
    role: Role
    index: int
    vnet: str
    dns_suffix: str
    vm_size: str
    disks: int = 0
    rack: str | None = None
    kafka: tuple[KafkaProcessRole, ...] = ()

    @property
    def hostname(self) -> str:
        """`wn0-kafka`: role prefix, host number, first six characters of the cluster name."""
        return f"{ROLE_PREFIX[self.role]}{self.index}-{host_suffix(self.cluster)}"

    @property
    def fqdn(self) -> str:
        return f"{self.hostname}.{self.dns_suffix}"

    @property
    def is_broker(self) -> bool:
        return "broker" in self.kafka

    @property
    def is_controller(self) -> bool:
        return "controller" in self.kafka

    @property
    def is_zookeeper(self) -> bool:
        return "zookeeper" in self.kafka

    @property
    def is_quorum(self) -> bool:
        """Holds the cluster's metadata quorum: a KRaft controller or a ZooKeeper server."""
        return self.is_controller or self.is_zookeeper


class ClusterSpec(_Strict):
    name: str
    kind: ClusterKind
    vnet: str
    nodes: tuple[NodeGroup, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CLUSTER_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid cluster name; use 3-59 lower-case letters, digits and hyphens, starting with a letter")
        return value

    @model_validator(mode="after")
    def _roles_fit_kind(self) -> ClusterSpec:
        seen: set[str] = set()
        for group in self.nodes:
            if group.kafka and self.kind != "kafka":
                raise ValueError(f"nodes with role {group.role} list Kafka processes, but cluster {self.name} is {self.kind}")
            for number in group.host_numbers():
                host = f"{ROLE_PREFIX[group.role]}{number}-{host_suffix(self.name)}"
                if host in seen:
                    raise ValueError(f"host {host} appears twice; give the node groups distinct indices")
                seen.add(host)
        return self


class TopicDefaults(_Strict):
    partitions: int = Field(default=8, ge=1, le=10_000)
    replication_factor: int = Field(default=3, ge=1)
    min_insync_replicas: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _isr(self) -> TopicDefaults:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) is above replication_factor ({self.replication_factor}); "
                "no acks=all write could ever succeed; lower min_insync_replicas"
            )
        return self


SecurityProtocol = Literal["plaintext", "tls", "mtls", "sasl_ssl"]
SECURITY_PROTOCOLS: tuple[str, ...] = ("plaintext", "tls", "mtls", "sasl_ssl")
TLS_PORT = 9093
"""HDInsight's port for Kafka clients over TLS, beside 9092 for plaintext."""
RESERVED_PRINCIPALS = ("harness", "broker", "controller")
"""SCRAM users every SASL twin has: the harness's own clients, the brokers to each other, KRaft's controllers."""
AclOperation = Literal["read", "write", "describe", "create", "delete", "alter", "describe_configs", "all"]


class Principal(_Strict):
    """A SCRAM-SHA-512 user of a SASL twin and what Kafka's standard authorizer lets it do. A resource name
    ending in `*` is a prefix (`spark-kafka-source-*`: every group Spark's connector names); `*` alone is
    every resource. Nothing is allowed that is not listed, as on a cluster with `allow.everyone.if.no.acl.found=false`."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$", description="the SCRAM user name (principal User:<name>)")
    topics: dict[str, tuple[AclOperation, ...]] = Field(default={}, description="topic (or prefix*) -> operations allowed")
    groups: dict[str, tuple[AclOperation, ...]] = Field(default={}, description="consumer group (or prefix*) -> operations allowed")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_PRINCIPALS:
            raise ValueError(f"principal {name!r} is the twin's own ({', '.join(RESERVED_PRINCIPALS)} are reserved); give yours another name")
        return name


class KafkaSecurity(_Strict):
    """How clients reach the brokers. A secured twin makes a CA of the run's own and issues every broker a
    certificate for its FQDN, short name and address; clients must verify it (hostname verification on)."""

    protocol: SecurityProtocol = Field(
        default="plaintext",
        description="plaintext; tls (encrypted, the client verifies the broker); mtls (the broker verifies the client's certificate too); "
                    "sasl_ssl (TLS, and SCRAM-SHA-512 users under Kafka's standard authorizer with the principals' ACLs)",
    )
    tls_port: int = Field(default=TLS_PORT, ge=1, le=65535, description="preferred port of the TLS listener (HDInsight's 9093)")
    plaintext_listener: bool = Field(
        default=False,
        description="keep a plaintext listener on broker_port open beside TLS, as HDInsight's default layout does "
                    "(anyone who reaches it needs no certificate; the gate says so)",
    )
    certificate_names: Literal["fqdn", "short_name"] = Field(
        default="fqdn",
        description="the DNS names in each broker's certificate: fqdn (its FQDN and short name, as HDInsight's guide issues them) or "
                    "short_name (a mistake to rehearse: a client connecting by FQDN fails hostname verification; the brokers "
                    "then skip it between themselves, so the twin comes up)",
    )
    client_truststore: Literal["shared_storage", "head_node_only"] = Field(
        default="shared_storage",
        description="docker backend: where the job's truststore is: shared_storage (the cluster storage every Spark node mounts) "
                    "or head_node_only (copied to the node the job is submitted from; a mistake to rehearse: executors on the "
                    "workers cannot open it)",
    )
    principals: tuple[Principal, ...] = Field(
        default=(), description="sasl_ssl: the SCRAM users besides the harness's own, each with its topic and group ACLs")
    job_principal: str = Field(
        default="harness",
        description="sasl_ssl: the user the streaming job connects as (one of principals; `harness` is a super user that may do anything)",
    )

    @property
    def secured(self) -> bool:
        return self.protocol != "plaintext"

    @property
    def sasl(self) -> bool:
        return self.protocol == "sasl_ssl"

    @model_validator(mode="after")
    def _job_principal_declared(self) -> KafkaSecurity:
        names = [p.name for p in self.principals]
        if len(set(names)) != len(names):
            raise ValueError(f"two principals share a name: {names}")
        if self.job_principal not in ("harness", *names):
            raise ValueError(f"job_principal {self.job_principal!r} is not among principals {names}; declare it there with its ACLs, "
                             "or leave job_principal out to run the job as the harness's super user")
        return self


class KafkaSettings(_Strict):
    heap_mb: int = Field(default=512, ge=128, le=16_384, description="JVM heap of each Kafka process")
    topic_defaults: TopicDefaults = TopicDefaults()
    broker_port: int = Field(default=9092, ge=1, le=65535, description="preferred port; another free one is used if taken")
    advertise: Literal["fqdn", "ip"] = Field(
        default="fqdn",
        description="what brokers advertise inside the VNet (docker backend): HDInsight's FQDNs, or IP addresses, "
                    "Microsoft's fix for clients in a peered VNet without custom DNS",
    )
    fault_proxy: bool = Field(
        default=False,
        description="local backend: a TCP proxy where each broker's advertised listener points, so `delay` and "
                    "`partition` (inbound only) work without root",
    )
    security: KafkaSecurity = KafkaSecurity()
    server_properties: dict[str, str | int | float | bool] = Field(
        default={}, description="extra Kafka server properties for every node, applied after the harness's own"
    )


class SparkSettings(_Strict):
    mode: Literal["local", "standalone"] = Field(
        default="local", description="local: a local[N] session; standalone: a master on hn0 and a worker per Spark worker node"
    )
    local_cores: int = Field(default=2, ge=1, le=256, description="cores of the local[N] Spark session")
    driver_memory_mb: int = Field(default=1024, ge=256)
    cores_per_vcpu: float = Field(default=0.125, gt=0, le=1, description="worker cores = max(1, round(VM vCPUs x this))")
    memory_mb_per_gib: int = Field(default=16, ge=1, le=1024, description="worker memory MB = max(512, VM RAM GiB x this)")


class Topology(_Strict):
    name: str
    description: str = ""
    release: str = Field(
        default=DEFAULT_RELEASE,
        description=f"the stack the twin runs, every version pinned: {', '.join(RELEASES)} "
                    "(hdinsight-5.1: Kafka 3.2 on ZooKeeper servers, Spark 3.3 on Scala 2.12)",
    )
    backend: Literal["local", "docker"] = Field(
        default="local", description="local: a JVM per node on loopback addresses; docker: a container per node on a network per VNet"
    )
    vnets: tuple[VNet, ...] = Field(min_length=1)
    clusters: tuple[ClusterSpec, ...] = Field(min_length=1)
    kafka: KafkaSettings = KafkaSettings()
    spark: SparkSettings = SparkSettings()

    @field_validator("release")
    @classmethod
    def _known_release(cls, value: str) -> str:
        if value not in RELEASES:
            raise ValueError(f"unknown release {value!r}; choose one of: {', '.join(RELEASES)}")
        return value

    @property
    def stack(self) -> Release:
        return RELEASES[self.release]

    def with_release(self, name: str) -> Topology:
        """The same deployment on another stack. Dedicated quorum nodes swap what they run (KRaft
        controllers on zk0..zk2 become ZooKeeper servers there, and back); a node that is a broker and
        a controller at once has no ZooKeeper equivalent in this twin, so that is refused."""
        if name not in RELEASES:
            raise ValueError(f"unknown release {name!r}; choose one of: {', '.join(RELEASES)}")
        quorum_role = "zookeeper" if RELEASES[name].uses_zookeeper else "controller"
        clusters = []
        for cluster in self.clusters:
            groups = []
            for group in cluster.nodes:
                if {"controller", "zookeeper"} & set(group.kafka):
                    if "broker" in group.kafka and quorum_role == "zookeeper":
                        raise ValueError(
                            f"release {name} keeps metadata in ZooKeeper, but the {group.role} nodes of {cluster.name} are brokers "
                            "and controllers at once; give the quorum nodes of their own (role: zookeeper, kafka: [zookeeper]), "
                            "as the built-in hdinsight profile does"
                        )
                    kept = tuple(r for r in group.kafka if r not in ("controller", "zookeeper"))
                    group = group.model_copy(update={"kafka": (*kept, quorum_role)})
                groups.append(group)
            clusters.append(cluster.model_copy(update={"nodes": tuple(groups)}))
        return Topology.model_validate({**self.model_dump(mode="json"), "release": name,
                                        "clusters": [c.model_dump(mode="json") for c in clusters]})

    def with_security(self, security: str | KafkaSecurity) -> Topology:
        """The same deployment with its client listeners secured by a protocol name (the profile's principals
        kept) or by a whole `kafka.security` of a scenario's own."""
        if isinstance(security, str):
            if security not in SECURITY_PROTOCOLS:
                raise ValueError(f"unknown security protocol {security!r}; choose one of: {', '.join(SECURITY_PROTOCOLS)}")
            security = self.kafka.security.model_copy(update={"protocol": security})
        return self.model_copy(update={"kafka": self.kafka.model_copy(update={"security": security})})

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        vnet_names = [v.name for v in self.vnets]
        if len(set(vnet_names)) != len(vnet_names):
            raise ValueError("two vnets share a name")
        prefixes: dict[str, str] = {}
        for cluster in self.clusters:
            if cluster.vnet not in vnet_names:
                raise ValueError(f"cluster {cluster.name} names vnet {cluster.vnet!r}, which is not among vnets {vnet_names}")
            other = prefixes.setdefault(host_suffix(cluster.name), cluster.name)
            if other != cluster.name:
                raise ValueError(
                    f"clusters {other} and {cluster.name} share their first six characters; "
                    "HDInsight host names use only those six, so rename one"
                )
        for vnet in self.vnets:
            for peer in vnet.peered_with:
                if peer not in vnet_names or peer == vnet.name:
                    raise ValueError(f"vnet {vnet.name} is peered with {peer!r}, which is not another of the vnets {vnet_names}")
        kafka = [c for c in self.clusters if c.kind == "kafka"]
        if len(kafka) != 1:
            raise ValueError(f"a topology needs exactly one kafka cluster, found {len(kafka)}")
        brokers = [n for n in self.nodes if n.is_broker]
        if not brokers:
            raise ValueError(f"kafka cluster {kafka[0].name} has no node with `kafka: [broker]`")
        self._quorum_fits_release(kafka[0].name)
        rf = self.kafka.topic_defaults.replication_factor
        if rf > len(brokers):
            raise ValueError(
                f"kafka.topic_defaults.replication_factor is {rf} but there are only {len(brokers)} brokers; "
                "lower it or add broker nodes"
            )
        return self

    def _quorum_fits_release(self, cluster: str) -> None:
        stack = self.stack
        if stack.uses_zookeeper:
            if any(n.is_controller for n in self.nodes):
                raise ValueError(f"release {stack.name} keeps metadata in ZooKeeper, so no node runs a KRaft controller; "
                                 "write `kafka: [zookeeper]` on the quorum nodes (or choose release: current)")
            if not any(n.is_zookeeper for n in self.nodes):
                raise ValueError(f"kafka cluster {cluster} has no node with `kafka: [zookeeper]` (release {stack.name} needs ZooKeeper)")
            if any(n.is_zookeeper and n.is_broker for n in self.nodes):
                raise ValueError("a node cannot be a broker and a ZooKeeper server in this twin; give ZooKeeper nodes of their own")
        else:
            if any(n.is_zookeeper for n in self.nodes):
                raise ValueError(f"release {stack.name} runs Kafka in KRaft mode, without ZooKeeper; write `kafka: [controller]` "
                                 "on the quorum nodes (or choose release: hdinsight-5.1)")
            if not any(n.is_controller for n in self.nodes):
                raise ValueError(f"kafka cluster {cluster} has no node with `kafka: [controller]` (KRaft needs a quorum)")

    @property
    def nodes(self) -> tuple[Node, ...]:
        vnets = {v.name: v for v in self.vnets}
        result = []
        for cluster in self.clusters:
            for group in cluster.nodes:
                for position, number in enumerate(group.host_numbers()):
                    result.append(
                        Node(
                            cluster=cluster.name, kind=cluster.kind, role=group.role, index=number,
                            vnet=cluster.vnet, dns_suffix=vnets[cluster.vnet].dns_suffix,
                            vm_size=group.vm_size, disks=group.disks, kafka=group.kafka,
                            rack=group.racks[position] if group.racks else None,
                        )
                    )
        return tuple(result)

    @property
    def kafka_nodes(self) -> tuple[Node, ...]:
        """Nodes that run a Kafka or ZooKeeper process, the quorum first (it must be up for brokers to register)."""
        nodes = [n for n in self.nodes if n.kafka]
        return tuple(sorted(nodes, key=lambda n: (not n.is_quorum, n.role, n.index)))

    @property
    def brokers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.kafka_nodes if n.is_broker)

    @property
    def controllers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.kafka_nodes if n.is_controller)

    @property
    def zookeepers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.kafka_nodes if n.is_zookeeper)

    def vnet(self, name: str) -> VNet:
        return next(v for v in self.vnets if v.name == name)

    def cluster(self, kind: str) -> ClusterSpec | None:
        return next((c for c in self.clusters if c.kind == kind), None)

    @property
    def spark_master(self) -> Node | None:
        """The standalone master stands on the Spark cluster's first head node."""
        heads = [n for n in self.nodes if n.kind == "spark" and n.role == "head"]
        return min(heads, key=lambda n: n.index) if heads else None

    @property
    def spark_workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "spark" and n.role == "worker")

    def node(self, name: str) -> Node:
        """Look a node up by short host name (`wn1-kafka`) or FQDN."""
        for node in self.nodes:
            if name in (node.hostname, node.fqdn):
                return node
        known = ", ".join(n.hostname for n in self.nodes)
        raise KeyError(f"no node {name!r} in topology {self.name}; nodes are: {known}")
