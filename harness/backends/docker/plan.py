"""A topology as containers, networks and volumes: pure data, realised by the docker backend and
written out by `harness compose export`, so both always agree.

Every VNet is a bridge network with the VNet's subnet. Every node is a container at an address of
its subnet (Azure hands out from .4 up), named as HDInsight names it: `hostname -f` gives the FQDN,
and both the FQDN and the short name resolve in the VNet through Docker's DNS. Names of another
VNet do not resolve, as in Azure, unless that VNet has custom DNS (then its nodes get the peers'
names, the twin's stand-in for the custom DNS server).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import PurePosixPath

from harness.backends.kafka_node import (
    ZOOKEEPER_PORTS, BrokerSasl, BrokerTls, KafkaNodePlan, Listeners, scram_credential, server_properties, zookeeper_properties,
)
from harness.backends.spark_node import executor_conf, worker_resources
from harness.topology.model import Node, Topology

from harness.backends.docker.engine import LABEL_NODE, LABEL_RUN

BROKER_PORT = 9092
HOST_LISTENER_PORT = 19092
CONTROLLER_PORT = 9094  # KRaft's controller listener; 9093 is HDInsight's TLS port for clients
SPARK_MASTER_PORT = 7077
SPARK_UI_PORT = 8080
AMBARI_PORT = 8080
LIVY_PORT = 8998  # Livy's REST API on HDInsight's Spark head node
LIVY_LOCAL_STATE = "/var/lib/livy"  # where Livy batches keep their files when the run has no shared storage
DATA_DIR = "/var/lib/kafka/data"
HARNESS_SRC = "/opt/harness/src/harness"
FIRST_HOST = 4  # Azure reserves .0-.3 of every subnet


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    vnet: str
    subnet: str
    gateway: str
    bridge: str
    peered_with: tuple[str, ...]


@dataclass(frozen=True)
class ContainerPlan:
    """One node. `ports` maps a container port to its 127.0.0.1 port on the host."""

    name: str
    node: Node
    image: str
    command: tuple[str, ...]
    network: str
    address: str
    environment: dict[str, str] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)
    binds: dict[str, tuple[str, str]] = field(default_factory=dict)
    extra_hosts: dict[str, str] = field(default_factory=dict)
    service: str = "idle"

    @property
    def aliases(self) -> tuple[str, str]:
        return (self.node.fqdn, self.node.hostname)

    def labels(self, run: str) -> dict[str, str]:
        return {LABEL_RUN: run, LABEL_NODE: self.node.hostname}


@dataclass(frozen=True)
class DockerPlan:
    run: str
    networks: tuple[NetworkPlan, ...]
    containers: tuple[ContainerPlan, ...]
    volumes: tuple[str, ...]
    cluster_id: str
    release: str

    def container(self, name: str) -> ContainerPlan:
        for plan in self.containers:
            if name in (plan.node.hostname, plan.node.fqdn, plan.name):
                return plan
        raise KeyError(name)

    @property
    def host_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{c.ports[HOST_LISTENER_PORT]}" for c in self.containers if c.node.is_broker)

    @property
    def peerings(self) -> list[tuple[NetworkPlan, NetworkPlan]]:
        by_vnet = {n.vnet: n for n in self.networks}
        pairs = {tuple(sorted((n.vnet, peer))) for n in self.networks for peer in n.peered_with}
        return [(by_vnet[a], by_vnet[b]) for a, b in sorted(pairs)]


@dataclass(frozen=True)
class PlanInputs:
    """What is not in the topology: the run's names and secrets, the images, and host-side paths."""

    run: str
    kafka_image: str
    spark_image: str
    host_port: Callable[[str, int], int]
    cluster_id: str
    ambari_password_sha256: str
    harness_src: str
    shared_dirs: tuple[str, ...] = ()
    broker_tls: Mapping[str, BrokerTls] = field(default_factory=dict)
    """A secured twin's broker identities by host name; their files lie in `pki_dir`, mounted into each
    Kafka container read-only at the same path, so the paths in server.properties hold on both sides."""
    pki_dir: str | None = None
    broker_sasl: BrokerSasl | None = None
    """A SASL twin's node settings (every Kafka node but ZooKeeper servers)."""
    scram_users: Mapping[str, str] = field(default_factory=dict, repr=False)
    """SCRAM user -> password: the node's entry point adds them (KRaft: when formatting; ZooKeeper: before the broker starts)."""


def resource_name(run: str, part: str) -> str:
    return f"harness-{run}-{part}"


def bridge_name(run: str, vnet: str) -> str:
    """Linux limits interface names to 15 characters; a hash keeps runs and VNets apart."""
    return "hs-" + hashlib.sha1(f"{run}/{vnet}".encode()).hexdigest()[:10]


def node_addresses(topology: Topology) -> dict[str, str]:
    """Each node's address: the VNet's subnet from .4 up, in topology order."""
    counters: dict[str, int] = {}
    result = {}
    for node in topology.nodes:
        subnet = topology.vnet(node.vnet).subnet
        number = counters.get(node.vnet, FIRST_HOST)
        counters[node.vnet] = number + 1
        if number >= subnet.num_addresses - 1:
            raise ValueError(f"vnet {node.vnet}: subnet {subnet} has no address left for {node.hostname}; widen vnets[].subnet")
        result[node.hostname] = str(subnet.network_address + number)
    return result


def plan_deployment(topology: Topology, inputs: PlanInputs) -> DockerPlan:
    addresses = node_addresses(topology)
    networks = tuple(
        NetworkPlan(resource_name(inputs.run, v.name), v.name, str(v.subnet), str(IPv4Network(v.subnet).network_address + 1),
                    bridge_name(inputs.run, v.name), v.peered_with)
        for v in topology.vnets
    )
    network_of = {n.vnet: n.name for n in networks}
    kafka_ids = {node.hostname: number for number, node in enumerate(topology.kafka_nodes, start=1)}
    containers = []
    for node in topology.nodes:
        common = dict(name=resource_name(inputs.run, node.hostname), node=node, network=network_of[node.vnet],
                      address=addresses[node.hostname], extra_hosts=_custom_dns(topology, node, addresses))
        if node.kind == "kafka":
            containers.append(_kafka_container(topology, node, inputs, addresses, kafka_ids, common))
        else:
            containers.append(_spark_container(topology, node, inputs, common))
    volumes = tuple(volume for c in containers for volume in c.volumes)
    return DockerPlan(inputs.run, networks, tuple(containers), volumes, inputs.cluster_id, topology.stack.name)


def advertised_host(topology: Topology, node: Node, addresses: dict[str, str]) -> str:
    return addresses[node.hostname] if topology.kafka.advertise == "ip" else node.fqdn


def vnet_broker_port(topology: Topology) -> int:
    """The port clients in the VNet use: 9092, or on a secured twin the TLS listener's (HDInsight's 9093)."""
    security = topology.kafka.security
    return security.tls_port if security.secured else BROKER_PORT


def vnet_bootstrap(topology: Topology) -> str:
    """The bootstrap servers a job inside the VNet names: the brokers as they advertise themselves there."""
    addresses = node_addresses(topology)
    port = vnet_broker_port(topology)
    return ",".join(f"{advertised_host(topology, n, addresses)}:{port}" for n in topology.brokers)


def head_driver_conf(topology: Topology) -> tuple[str | None, dict[str, str]]:
    """Master and settings of a driver on the Spark head node: the standalone master when there are workers
    (None: local[N] in the driver), and the head node's address, by which executors call the driver back."""
    head = topology.spark_master
    if head is None:
        return None, {}
    address = node_addresses(topology)[head.hostname]
    driver = {"spark.driver.host": address, "spark.driver.bindAddress": address}
    if not topology.spark_workers:
        return None, driver
    return f"spark://{head.fqdn}:{SPARK_MASTER_PORT}", {**executor_conf(topology.spark_workers, topology.spark), **driver}


def _kafka_container(topology: Topology, node: Node, inputs: PlanInputs, addresses: dict[str, str],
                     kafka_ids: dict[str, int], common: dict) -> ContainerPlan:  # type: ignore[type-arg]
    if not node.kafka:
        if node.role == "head" and node.index == 0:
            return _ambari_container(topology, node, inputs, common)
        return ContainerPlan(image=inputs.kafka_image, command=("idle",), **common)
    if node.is_zookeeper:
        return _zookeeper_container(topology, node, inputs, addresses, kafka_ids, common)
    ports = {HOST_LISTENER_PORT: inputs.host_port(node.hostname, HOST_LISTENER_PORT)} if node.is_broker else {}
    secured = node.is_broker and topology.kafka.security.secured
    tls = inputs.broker_tls.get(node.hostname) if secured else None
    if secured and tls is None:
        raise ValueError(f"a secured twin needs a certificate for broker {node.hostname}")
    plan = KafkaNodePlan(node=node, node_id=kafka_ids[node.hostname], address=addresses[node.hostname],
                         broker_port=vnet_broker_port(topology) if node.is_broker else None,
                         controller_port=CONTROLLER_PORT if node.is_controller else None,
                         data_dir=PurePosixPath(DATA_DIR), log_dir=PurePosixPath("/tmp"), tls=tls,  # type: ignore[arg-type]
                         sasl=inputs.broker_sasl if topology.kafka.security.sasl else None)
    properties = server_properties(plan, topology, _listeners(topology, node, addresses, kafka_ids, ports))
    volume = resource_name(inputs.run, f"{node.hostname}-data")
    env = {"KAFKA_SERVER_PROPERTIES": properties, "KAFKA_CLUSTER_ID": inputs.cluster_id,
           "KAFKA_HEAP_OPTS": f"-Xms{max(128, topology.kafka.heap_mb // 2)}m -Xmx{topology.kafka.heap_mb}m"}
    if plan.sasl is not None:  # the passwords travel as the store passwords do, in the container's configuration
        env["KAFKA_SCRAM_USERS"] = " ".join(scram_credential(name, password) for name, password in inputs.scram_users.items())
    binds = {inputs.pki_dir: (inputs.pki_dir, "ro")} if tls and inputs.pki_dir else {}
    return ContainerPlan(image=inputs.kafka_image, command=("kafka",), environment=env, ports=ports,
                         volumes={volume: DATA_DIR}, binds=binds, service="kafka", **common)


def _zookeeper_container(topology: Topology, node: Node, inputs: PlanInputs, addresses: dict[str, str],
                         kafka_ids: dict[str, int], common: dict) -> ContainerPlan:  # type: ignore[type-arg]
    """A real ZooKeeper server (from Kafka 3.2's own closure) on a zk node, as HDInsight 5.1 runs them; the
    ensemble talks over the servers' VNet addresses, and the host asks each its role at that address."""
    ensemble = [(kafka_ids[z.hostname], addresses[z.hostname], ZOOKEEPER_PORTS) for z in topology.zookeepers]
    plan = KafkaNodePlan(node=node, node_id=kafka_ids[node.hostname], address=addresses[node.hostname], broker_port=None,
                         controller_port=None, data_dir=PurePosixPath(DATA_DIR), log_dir=PurePosixPath("/tmp"),  # type: ignore[arg-type]
                         zookeeper_ports=dict(ZOOKEEPER_PORTS))
    env = {"ZOOKEEPER_PROPERTIES": zookeeper_properties(plan, ensemble), "ZOOKEEPER_MYID": str(plan.node_id),
           "KAFKA_HEAP_OPTS": "-Xms128m -Xmx256m"}
    volume = resource_name(inputs.run, f"{node.hostname}-data")
    return ContainerPlan(image=inputs.kafka_image, command=("zookeeper",), environment=env, volumes={volume: DATA_DIR},
                         service="zookeeper", **common)


def zookeeper_connect(topology: Topology, addresses: dict[str, str]) -> str:
    """The ensemble as brokers (and HDInsight scripts) name it: every zk node's host name and client port."""
    return ",".join(f"{advertised_host(topology, z, addresses)}:{ZOOKEEPER_PORTS['zookeeper']}" for z in topology.zookeepers)


def _listeners(topology: Topology, node: Node, addresses: dict[str, str], kafka_ids: dict[str, int], ports: dict[int, int]) -> Listeners:
    """INTERNAL in the VNet (FQDN or IP), HOST through the 127.0.0.1 port mapping, CONTROLLER for the quorum
    (on a ZooKeeper release the brokers register in the ensemble instead). On a secured twin INTERNAL and
    HOST speak TLS, INTERNAL on HDInsight's 9093, and brokers talk to each other over it; a plaintext
    listener on 9092 stays open beside it only where the profile asks (`kafka.security.plaintext_listener`)."""
    security = topology.kafka.security
    client = "SASL_SSL" if security.sasl else "SSL" if security.secured else "PLAINTEXT"
    bind, advertised, protocols = [], [], [f"INTERNAL:{client}", f"HOST:{client}"]
    if node.is_broker:
        port, host = vnet_broker_port(topology), advertised_host(topology, node, addresses)
        bind += [f"INTERNAL://0.0.0.0:{port}", f"HOST://0.0.0.0:{HOST_LISTENER_PORT}"]
        advertised += [f"INTERNAL://{host}:{port}", f"HOST://127.0.0.1:{ports[HOST_LISTENER_PORT]}"]
        if security.secured and security.plaintext_listener:
            bind.append(f"PLAINTEXT://0.0.0.0:{BROKER_PORT}")
            advertised.append(f"PLAINTEXT://{host}:{BROKER_PORT}")
    if security.secured and security.plaintext_listener:
        protocols.append("PLAINTEXT:PLAINTEXT")
    if topology.stack.uses_zookeeper:
        return Listeners(tuple(bind), tuple(advertised), tuple(protocols), "INTERNAL", zookeeper_connect(topology, addresses))
    bind += [f"CONTROLLER://0.0.0.0:{CONTROLLER_PORT}"] if node.is_controller else []
    voters = ",".join(f"{kafka_ids[q.hostname]}@{advertised_host(topology, q, addresses)}:{CONTROLLER_PORT}" for q in topology.controllers)
    controller = "SASL_PLAINTEXT" if security.sasl else "PLAINTEXT"
    return Listeners(tuple(bind), tuple(advertised), (*protocols, f"CONTROLLER:{controller}"), "INTERNAL" if node.is_broker else None, voters)


def _ambari_container(topology: Topology, node: Node, inputs: PlanInputs, common: dict) -> ContainerPlan:  # type: ignore[type-arg]
    """HDInsight scripts find brokers through Ambari on the head node; the twin answers the same calls."""
    cluster = topology.cluster("kafka")
    assert cluster is not None
    env = {
        "AMBARI_CLUSTER": cluster.name,
        "AMBARI_BROKERS": ",".join(n.fqdn for n in topology.brokers),
        "AMBARI_ZOOKEEPERS": ",".join(n.fqdn for n in topology.nodes if n.kind == "kafka" and n.role == "zookeeper"),
        "AMBARI_USER": "admin",
        "AMBARI_PASSWORD_SHA256": inputs.ambari_password_sha256,
        "AMBARI_PORT": str(AMBARI_PORT),
    }
    return ContainerPlan(image=inputs.kafka_image, command=("ambari",), environment=env,
                         ports={AMBARI_PORT: inputs.host_port(node.hostname, AMBARI_PORT)}, service="ambari", **common)


def _spark_container(topology: Topology, node: Node, inputs: PlanInputs, common: dict) -> ContainerPlan:  # type: ignore[type-arg]
    # The run directory is the cluster's shared storage (HDInsight's is WASB/ADLS): the driver writes results
    # there, and executors on every worker keep the checkpoint's state store there, as they must.
    binds = {inputs.harness_src: (HARNESS_SRC, "ro")} | {d: (d, "rw") for d in inputs.shared_dirs}
    master = topology.spark_master
    env = {"SPARK_LOCAL_IP": common["address"]}
    if master is not None and node == master:
        ports = {SPARK_UI_PORT: inputs.host_port(node.hostname, SPARK_UI_PORT), LIVY_PORT: inputs.host_port(node.hostname, LIVY_PORT)}
        return ContainerPlan(image=inputs.spark_image, command=("master",), environment=env | _livy_environment(topology, inputs, common["address"]),
                             binds=binds, ports=ports, service="spark-master", **common)
    if node.role == "worker" and master is not None:
        resources = worker_resources(node, topology.spark)
        env.update({"SPARK_MASTER_URL": f"spark://{master.fqdn}:{SPARK_MASTER_PORT}", "SPARK_WORKER_CORES": str(resources.cores),
                    "SPARK_WORKER_MEMORY": f"{resources.memory_mb}m"})
        return ContainerPlan(image=inputs.spark_image, command=("worker",), environment=env, binds=binds, service="spark-worker", **common)
    return ContainerPlan(image=inputs.spark_image, command=("idle",), environment=env, binds=binds, **common)


def _livy_environment(topology: Topology, inputs: PlanInputs, address: str) -> dict[str, str]:
    """What the head node's Livy server submits every batch against (read by `harness.jobs.livy`): the
    twin's values as the VNet sees them, the same ones the harness's own submissions get."""
    master, conf = head_driver_conf(topology)
    return {
        "LIVY_BIND": address,
        "LIVY_PORT": str(LIVY_PORT),
        "LIVY_BOOTSTRAP": vnet_bootstrap(topology),
        "LIVY_MASTER": master or f"local[{topology.spark.local_cores}]",
        "LIVY_CONF": json.dumps(conf, sort_keys=True),
        "LIVY_DRIVER_MEMORY_MB": str(topology.spark.driver_memory_mb),
        "LIVY_STATE_DIR": f"{inputs.shared_dirs[0]}/livy" if inputs.shared_dirs else LIVY_LOCAL_STATE,
        "LIVY_RELEASE": topology.stack.name,
    }


def _custom_dns(topology: Topology, node: Node, addresses: dict[str, str]) -> dict[str, str]:
    """With custom DNS, a VNet's nodes resolve the peered VNets' host names too."""
    vnet = topology.vnet(node.vnet)
    if not vnet.custom_dns:
        return {}
    hosts = {}
    for other in topology.nodes:
        if other.vnet in vnet.peered_with:
            hosts[other.fqdn] = addresses[other.hostname]
            hosts[other.hostname] = addresses[other.hostname]
    return hosts
