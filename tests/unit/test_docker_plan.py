"""The docker backend's pure parts: the deployment plan, host route checks, mirror discovery,
network-fault validation, and the local backend's refusal of network faults. No Docker, no network."""

from __future__ import annotations

import socket
import struct
from functools import cache
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.backends.docker import images
from harness.backends.docker.engine import LABEL_NODE, LABEL_RUN
from harness.backends.docker.network import Route, check_subnets, host_routes
from harness.backends.docker.plan import (
    AMBARI_PORT, CONTROLLER_PORT, DATA_DIR, HARNESS_SRC, HOST_LISTENER_PORT, LIVY_PORT, SPARK_MASTER_PORT, SPARK_UI_PORT,
    ContainerPlan, DockerPlan, PlanInputs, head_driver_conf, node_addresses, plan_deployment, resource_name, vnet_bootstrap,
)
from harness.backends.local import LocalDeployment
from harness.backends.rundir import RunDir
from harness.backends.spark_node import worker_resources
from harness.errors import ConfigError, HarnessError
from harness.faults.schedule import FaultSpec, check_schedule
from harness.topology.loader import load_profile
from harness.topology.model import Topology

RUN = "t1"
HARNESS_SRC_HOST = "/home/user/src/harness"
SHARED = ("/srv/runs/t1", "/srv/cache/t1")


# ----- helpers ---------------------------------------------------------------------------------------


@cache
def profile(name: str) -> Topology:
    """A built-in profile; `NAME@RELEASE` is that deployment on another release."""
    base, _, release = name.partition("@")
    topology = load_profile(base)
    return topology.with_release(release) if release else topology


def fake_port(hostname: str, container_port: int) -> int:
    """Deterministic, distinct per (host, port): what a real allocator would hand out."""
    return 30000 + (sum(map(ord, hostname)) * 7 + container_port) % 20000


def make_inputs() -> PlanInputs:
    return PlanInputs(run=RUN, kafka_image="img/kafka:test", spark_image="img/spark:test", host_port=fake_port,
                      cluster_id="AbCdEfGhIjKlMnOpQrStUv", ambari_password_sha256="0" * 64,
                      harness_src=HARNESS_SRC_HOST, shared_dirs=SHARED)


def plan_of(topology: Topology) -> DockerPlan:
    return plan_deployment(topology, make_inputs())


def props(container: ContainerPlan) -> dict[str, str]:
    text = container.environment["KAFKA_SERVER_PROPERTIES"]
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def with_advertise_ip(topology: Topology) -> Topology:
    return topology.model_copy(update={"kafka": topology.kafka.model_copy(update={"advertise": "ip"})})


def with_custom_dns(topology: Topology, vnet: str) -> Topology:
    vnets = tuple(v.model_copy(update={"custom_dns": True}) if v.name == vnet else v for v in topology.vnets)
    return topology.model_copy(update={"vnets": vnets})


def with_subnet(name: str, index: int, subnet: str) -> Topology:
    data: dict[str, Any] = load_profile(name).model_dump(mode="json")
    data["vnets"][index]["subnet"] = subnet
    data["vnets"][index]["address_space"] = subnet
    return Topology.model_validate(data)


# ----- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hdinsight", "peered"])
def test_addresses_start_at_4_unique_and_inside_the_subnet(name: str) -> None:
    topology = profile(name)
    addresses = node_addresses(topology)
    assert set(addresses) == {n.hostname for n in topology.nodes}
    assert len(set(addresses.values())) == len(addresses)
    for vnet in topology.vnets:
        mine = [IPv4Address(addresses[n.hostname]) for n in topology.nodes if n.vnet == vnet.name]
        assert mine, f"no node in {vnet.name}"
        assert all(a in vnet.subnet for a in mine)
        assert mine[0] == vnet.subnet.network_address + 4
        assert mine == [vnet.subnet.network_address + 4 + i for i in range(len(mine))]


def test_plan_containers_take_the_addresses_and_networks_of_their_vnets() -> None:
    topology = profile("peered")
    plan = plan_of(topology)
    addresses = node_addresses(topology)
    network_of = {n.vnet: n.name for n in plan.networks}
    assert [c.node.hostname for c in plan.containers] == [n.hostname for n in topology.nodes]
    for c in plan.containers:
        assert c.address == addresses[c.node.hostname]
        assert c.network == network_of[c.node.vnet]
        assert c.name == resource_name(RUN, c.node.hostname)


def test_subnet_too_small_is_refused() -> None:
    topology = with_subnet("hdinsight", 0, "10.0.0.0/29")  # .4-.6 usable, 14 nodes wanted
    with pytest.raises(ValueError, match=r"kafka-spark-vnet.*10\.0\.0\.0/29.*vnets\[\]\.subnet"):
        node_addresses(topology)


def test_a_29_holds_exactly_three_nodes() -> None:
    """.0-.3 are reserved and .7 is the broadcast address: the peered Kafka VNet's 3 nodes just fit."""
    topology = with_subnet("peered", 0, "10.1.0.0/29")
    addresses = node_addresses(topology)
    kafka = sorted(IPv4Address(addresses[n.hostname]) for n in topology.nodes if n.vnet == "kafka-vnet")
    assert [str(a) for a in kafka] == ["10.1.0.4", "10.1.0.5", "10.1.0.6"]


def test_a_29_refuses_a_fourth_node_rather_than_the_broadcast_address() -> None:
    data: dict[str, Any] = load_profile("peered").model_dump(mode="json")
    data["vnets"][0]["subnet"] = data["vnets"][0]["address_space"] = "10.1.0.0/29"
    group = data["clusters"][0]["nodes"][0]
    group["count"], group["racks"] = 4, [*group["racks"], "FD0UD1"]
    with pytest.raises(ValueError, match="wn3-kafka"):
        node_addresses(Topology.model_validate(data))


# ----- containers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hdinsight", "peered"])
def test_every_node_has_a_container_with_fqdn_and_short_aliases(name: str) -> None:
    topology = profile(name)
    plan = plan_of(topology)
    assert len(plan.containers) == len(topology.nodes)
    for node in topology.nodes:
        container = plan.container(node.hostname)
        assert container.node == node
        assert container.aliases == (node.fqdn, node.hostname)
        assert plan.container(node.fqdn) is container
        assert container.labels(RUN) == {LABEL_RUN: RUN, LABEL_NODE: node.hostname}
    with pytest.raises(KeyError):
        plan.container("wn9-nothere")


def test_brokers_advertise_fqdn_inside_and_loopback_port_on_the_host() -> None:
    topology = profile("hdinsight")
    plan = plan_of(topology)
    assert topology.brokers
    for node in topology.brokers:
        container = plan.container(node.hostname)
        port = fake_port(node.hostname, HOST_LISTENER_PORT)
        advertised = props(container)["advertised.listeners"].split(",")
        assert f"INTERNAL://{node.fqdn}:9092" in advertised
        assert f"HOST://127.0.0.1:{port}" in advertised
        assert container.ports == {HOST_LISTENER_PORT: port}
        assert container.environment["KAFKA_CLUSTER_ID"] == "AbCdEfGhIjKlMnOpQrStUv"
        assert container.image == "img/kafka:test" and container.service == "kafka"


@pytest.mark.parametrize(("release", "plaintext_beside"), [("hdinsight", False), ("hdinsight@current", True)])
def test_a_secured_twin_speaks_tls_on_9093_in_the_vnet_and_on_the_host_and_mounts_only_its_pki(release: str, plaintext_beside: bool) -> None:
    from harness.backends.kafka_node import BrokerTls

    base = profile(release).with_security("mtls")
    topology = base.model_copy(update={"kafka": base.kafka.model_copy(update={
        "security": base.kafka.security.model_copy(update={"plaintext_listener": plaintext_beside})})})
    pki = "/srv/runs/t1/pki"
    tls = {n.hostname: BrokerTls(Path(f"{pki}/{n.hostname}.p12"), "k-pass", Path(f"{pki}/truststore.p12"), "t-pass", client_auth=True)
           for n in topology.brokers}
    plan = plan_deployment(topology, PlanInputs(**{**make_inputs().__dict__, "broker_tls": tls, "pki_dir": pki}))
    assert vnet_bootstrap(topology) == ",".join(f"{n.fqdn}:9093" for n in topology.brokers)
    for node in topology.brokers:
        container = plan.container(node.hostname)
        server = props(container)
        protocols = dict(entry.split(":") for entry in server["listener.security.protocol.map"].split(","))
        assert protocols["INTERNAL"] == protocols["HOST"] == "SSL" and server["inter.broker.listener.name"] == "INTERNAL"
        assert f"INTERNAL://{node.fqdn}:9093" in server["advertised.listeners"].split(",")
        assert (f"PLAINTEXT://{node.fqdn}:9092" in server["advertised.listeners"]) is plaintext_beside
        assert ("PLAINTEXT" in protocols) is plaintext_beside
        assert server["ssl.keystore.location"] == f"{pki}/{node.hostname}.p12" and server["ssl.client.auth"] == "required"
        assert container.binds == {pki: (pki, "ro")}
    assert all(not c.binds or pki not in c.binds for c in plan.containers if c.node not in topology.brokers)
    with pytest.raises(ValueError, match="needs a certificate for broker"):
        plan_of(topology)


@pytest.mark.parametrize("release", ["hdinsight", "hdinsight@current"])
def test_a_sasl_twin_serves_scram_on_both_client_listeners_and_hands_each_node_its_users(release: str) -> None:
    from harness.backends.kafka_node import BrokerSasl, BrokerTls

    topology = profile(release).with_security("sasl_ssl")
    pki = "/srv/runs/t1/pki"
    tls = {n.hostname: BrokerTls(Path(f"{pki}/{n.hostname}.p12"), "k-pass", Path(f"{pki}/truststore.p12"), "t-pass", client_auth=False)
           for n in topology.brokers}
    users = {"harness": "h-pass", "broker": "b-pass"}
    plan = plan_deployment(topology, PlanInputs(**{**make_inputs().__dict__, "broker_tls": tls, "pki_dir": pki,
                                                   "broker_sasl": BrokerSasl("b-pass", "c-pass"), "scram_users": users}))
    for node in topology.brokers:
        container = plan.container(node.hostname)
        server = props(container)
        protocols = dict(entry.split(":") for entry in server["listener.security.protocol.map"].split(","))
        assert protocols["INTERNAL"] == protocols["HOST"] == "SASL_SSL"
        assert 'username="broker" password="b-pass"' in server["listener.name.internal.scram-sha-512.sasl.jaas.config"]
        assert "listener.name.host.scram-sha-512.sasl.jaas.config" in server  # Kafka wants the login on every SASL listener
        assert container.environment["KAFKA_SCRAM_USERS"] == ("SCRAM-SHA-512=[name=harness,password=h-pass] "
                                                              "SCRAM-SHA-512=[name=broker,password=b-pass]")
        assert protocols.get("CONTROLLER") == (None if topology.stack.uses_zookeeper else "SASL_PLAINTEXT")
    for node in topology.controllers:
        if not node.is_broker:
            assert props(plan.container(node.hostname))["listener.security.protocol.map"].endswith("CONTROLLER:SASL_PLAINTEXT")


def test_compose_export_refuses_a_secured_profile_and_says_how_to_run_it() -> None:
    from harness.backends.docker.compose import export_compose

    with pytest.raises(HarnessError, match="cannot carry a secured twin") as refused:
        export_compose(profile("hdinsight").with_security("tls"), profile="hdinsight")
    assert "--backend docker" in (refused.value.hint or "")


def test_voters_are_exactly_the_controllers_by_fqdn() -> None:
    topology = profile("hdinsight@current")
    plan = plan_of(topology)
    ids = {n.hostname: i for i, n in enumerate(topology.kafka_nodes, start=1)}
    expected = ",".join(f"{ids[c.hostname]}@{c.fqdn}:{CONTROLLER_PORT}" for c in topology.controllers)
    assert {c.hostname for c in topology.controllers} == {"zk0-kafka", "zk1-kafka", "zk2-kafka"}
    for node in topology.kafka_nodes:
        p = props(plan.container(node.hostname))
        assert p["controller.quorum.voters"] == expected
        assert p["node.id"] == str(ids[node.hostname])
        assert not any(b.fqdn in p["controller.quorum.voters"] for b in topology.brokers)


def test_controller_only_nodes_neither_advertise_nor_publish() -> None:
    topology = profile("hdinsight@current")
    plan = plan_of(topology)
    for node in topology.controllers:
        container = plan.container(node.hostname)
        p = props(container)
        assert "advertised.listeners" not in p
        assert p["listeners"] == f"CONTROLLER://0.0.0.0:{CONTROLLER_PORT}"
        assert container.ports == {}


@pytest.mark.parametrize("name", ["hdinsight@current", "peered"])
def test_advertise_ip_puts_container_addresses_in_listeners_and_voters(name: str) -> None:
    topology = with_advertise_ip(profile(name))
    plan = plan_of(topology)
    addresses = node_addresses(topology)
    voters = {f"{addresses[c.hostname]}:{CONTROLLER_PORT}" for c in topology.controllers}
    for node in topology.kafka_nodes:
        p = props(plan.container(node.hostname))
        assert {v.split("@", 1)[1] for v in p["controller.quorum.voters"].split(",")} == voters
        assert node.dns_suffix not in p["controller.quorum.voters"]
        if node.is_broker:
            advertised = p["advertised.listeners"].split(",")
            assert f"INTERNAL://{addresses[node.hostname]}:9092" in advertised
            assert f"HOST://127.0.0.1:{fake_port(node.hostname, HOST_LISTENER_PORT)}" in advertised
            assert node.fqdn not in p["advertised.listeners"]


def zookeeper_twin() -> Topology:
    return profile("hdinsight@hdinsight-5.1")


def test_zookeeper_release_runs_a_zookeeper_server_on_each_zk_node() -> None:
    plan = plan_of(zookeeper_twin())
    servers = [c for c in plan.containers if c.service == "zookeeper"]
    assert [c.node.hostname for c in servers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"]
    for server in servers:
        cfg = dict(line.split("=", 1) for line in server.environment["ZOOKEEPER_PROPERTIES"].splitlines() if line)
        assert server.command == ("zookeeper",)
        assert cfg["clientPortAddress"] == server.address and cfg["dataDir"] == DATA_DIR
        assert {k: v for k, v in cfg.items() if k.startswith("server.")} == {
            f"server.{c.environment['ZOOKEEPER_MYID']}": f"{c.address}:2888:3888" for c in servers}
        assert server.ports == {} and server.volumes == {resource_name(RUN, f"{server.node.hostname}-data"): DATA_DIR}
    assert len({c.environment["ZOOKEEPER_MYID"] for c in servers}) == 3


def test_advertise_ip_names_the_ensemble_by_address_too() -> None:
    topology = with_advertise_ip(zookeeper_twin())
    addresses = node_addresses(topology)
    broker = plan_of(topology).container("wn0-kafka")
    assert props(broker)["zookeeper.connect"] == ",".join(f"{addresses[z]}:2181" for z in ("zk0-kafka", "zk1-kafka", "zk2-kafka"))


def test_zookeeper_release_brokers_register_in_the_ensemble_by_fqdn_without_kraft_keys() -> None:
    topology = zookeeper_twin()
    plan = plan_of(topology)
    zk_fqdns = [n.fqdn for n in topology.nodes if n.is_zookeeper]
    for broker in (c for c in plan.containers if c.node.is_broker):
        server = props(broker)
        assert server["zookeeper.connect"] == ",".join(f"{fqdn}:2181" for fqdn in zk_fqdns)
        assert "process.roles" not in server and "controller.quorum.voters" not in server and "CONTROLLER" not in server["listeners"]
        assert server["broker.id"] and server["inter.broker.listener.name"] == "INTERNAL"
    assert plan.release == "hdinsight-5.1"


def test_compose_starts_zookeeper_release_brokers_after_the_ensemble() -> None:
    import yaml

    from harness.backends.docker.compose import export_compose

    document = yaml.safe_load(export_compose(zookeeper_twin(), profile="hdinsight"))
    assert document["services"]["wn0-kafka"]["depends_on"] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"]
    assert document["services"]["zk1-kafka"]["command"] == ["zookeeper"]
    assert document["services"]["wn0-kafka"]["image"] == images.image_names("hdinsight-5.1").kafka


def test_each_release_has_images_of_its_own_on_the_debian_suite_its_python_needs() -> None:
    current, older = images.image_names("current"), images.image_names("hdinsight-5.1")
    assert older.base.endswith(":bullseye-jre17") and current.base.endswith(":bookworm-jre17")
    assert older.kafka.endswith(":3.2.3") and older.spark.endswith(":3.3.4")
    assert len({*current.__dict__.values(), *older.__dict__.values()}) == 6


def test_spark_image_of_a_python_39_release_pins_packages_that_install_there() -> None:
    stack = zookeeper_twin().stack
    args = images._pip_platform(stack)
    assert args[args.index("--python-version") + 1] == "3.9" and "--only-binary=:all:" in args
    assert "eval_type_backport==0.4.0" in images._python_requirements(stack)
    assert not any(r.startswith("pyspark") for r in images._python_requirements(stack))  # the release's own runtime is copied in
    assert images._pip_platform(profile("dev").stack) == []


def test_only_brokers_ambari_and_spark_master_publish_ports() -> None:
    topology = profile("hdinsight")
    plan = plan_of(topology)
    publishing = {c.node.hostname: c.ports for c in plan.containers if c.ports}
    expected = {n.hostname: {HOST_LISTENER_PORT: fake_port(n.hostname, HOST_LISTENER_PORT)} for n in topology.brokers}
    expected["hn0-kafka"] = {AMBARI_PORT: fake_port("hn0-kafka", AMBARI_PORT)}
    expected["hn0-spark"] = {SPARK_UI_PORT: fake_port("hn0-spark", SPARK_UI_PORT), LIVY_PORT: fake_port("hn0-spark", LIVY_PORT)}
    assert publishing == expected
    assert plan.container("hn0-kafka").service == "ambari"
    assert plan.container("hn0-spark").service == "spark-master"
    assert plan.container("hn1-kafka").service == "idle"


def test_host_bootstrap_lists_the_brokers_host_ports_in_order() -> None:
    topology = profile("hdinsight")
    plan = plan_of(topology)
    assert plan.host_bootstrap == ",".join(f"127.0.0.1:{fake_port(b.hostname, HOST_LISTENER_PORT)}" for b in topology.brokers)
    assert plan.host_bootstrap.count("127.0.0.1:") == 3


def test_spark_workers_point_at_the_master_with_their_resources() -> None:
    topology = profile("hdinsight")
    plan = plan_of(topology)
    master = topology.spark_master
    assert master is not None and master.hostname == "hn0-spark"
    assert topology.spark_workers
    for node in topology.spark_workers:
        container = plan.container(node.hostname)
        resources = worker_resources(node, topology.spark)
        assert container.service == "spark-worker"
        assert container.environment["SPARK_MASTER_URL"] == f"spark://{master.fqdn}:{SPARK_MASTER_PORT}"
        assert container.environment["SPARK_WORKER_CORES"] == str(resources.cores)
        assert container.environment["SPARK_WORKER_MEMORY"] == f"{resources.memory_mb}m"
        assert container.environment["SPARK_LOCAL_IP"] == container.address
        assert container.image == "img/spark:test"
    assert "SPARK_MASTER_URL" not in plan.container("hn0-spark").environment


def test_the_spark_head_node_runs_livy_against_the_twin_as_the_vnet_sees_it() -> None:
    import json

    topology = profile("hdinsight")
    head = plan_of(topology).container("hn0-spark")
    env = head.environment
    assert env["LIVY_BIND"] == head.address and env["LIVY_PORT"] == str(LIVY_PORT) == "8998"
    assert env["LIVY_BOOTSTRAP"] == vnet_bootstrap(topology) == ",".join(f"{b.fqdn}:9092" for b in topology.brokers)
    master, conf = head_driver_conf(topology)
    assert env["LIVY_MASTER"] == master == f"spark://{head.node.fqdn}:{SPARK_MASTER_PORT}"
    assert json.loads(env["LIVY_CONF"]) == conf and conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == head.address
    assert conf["spark.cores.max"] == str(sum(worker_resources(n, topology.spark).cores for n in topology.spark_workers))
    assert env["LIVY_STATE_DIR"] == f"{SHARED[0]}/livy"  # on the shared storage the host reads too
    assert env["LIVY_RELEASE"] == topology.stack.name == "hdinsight-5.1"  # batches run the twin's Spark, not the harness's
    assert all("LIVY_PORT" not in c.environment for c in plan_of(topology).containers if c.node.hostname != "hn0-spark")


@pytest.mark.parametrize("name", ["hdinsight", "peered"])
def test_spark_containers_bind_shared_dirs_rw_and_source_ro(name: str) -> None:
    topology = profile(name)
    plan = plan_of(topology)
    spark = [c for c in plan.containers if c.node.kind == "spark"]
    assert spark
    for c in spark:
        assert c.binds == {HARNESS_SRC_HOST: (HARNESS_SRC, "ro"), SHARED[0]: (SHARED[0], "rw"), SHARED[1]: (SHARED[1], "rw")}
    assert all(not c.binds for c in plan.containers if c.node.kind == "kafka")


@pytest.mark.parametrize("name", ["hdinsight", "peered"])
def test_kafka_nodes_get_a_named_data_volume(name: str) -> None:
    topology = profile(name)
    plan = plan_of(topology)
    expected = tuple(resource_name(RUN, f"{n.hostname}-data") for n in topology.nodes if n.kafka)
    assert plan.volumes == expected
    assert len(set(expected)) == len(expected) > 0
    for c in plan.containers:
        if c.node.kafka:
            assert c.volumes == {resource_name(RUN, f"{c.node.hostname}-data"): DATA_DIR}
            if c.node.is_zookeeper:
                assert f"dataDir={DATA_DIR}" in c.environment["ZOOKEEPER_PROPERTIES"].splitlines()
            else:
                assert props(c)["log.dirs"] == DATA_DIR
        else:
            assert c.volumes == {}


# ----- networks and peering --------------------------------------------------------------------------


def test_hdinsight_has_one_network_and_no_peering() -> None:
    plan = plan_of(profile("hdinsight"))
    assert [n.subnet for n in plan.networks] == ["10.0.0.0/24"]
    assert plan.networks[0].gateway == "10.0.0.1"
    assert plan.peerings == []
    assert all(c.extra_hosts == {} for c in plan.containers)


def test_peered_profile_has_two_networks_one_peering_and_no_extra_hosts() -> None:
    plan = plan_of(profile("peered"))
    assert sorted(n.subnet for n in plan.networks) == ["10.1.0.0/24", "10.2.0.0/24"]
    assert sorted(n.gateway for n in plan.networks) == ["10.1.0.1", "10.2.0.1"]
    bridges = [n.bridge for n in plan.networks]
    assert all(len(b) <= 15 for b in bridges) and len(set(bridges)) == 2
    assert len(plan.peerings) == 1
    a, b = plan.peerings[0]
    assert {a.vnet, b.vnet} == {"kafka-vnet", "spark-vnet"}
    assert all(c.extra_hosts == {} for c in plan.containers)


def test_bridge_names_differ_between_runs() -> None:
    topology = profile("peered")
    other = plan_deployment(topology, PlanInputs(**{**make_inputs().__dict__, "run": "another-run-with-a-long-name"}))
    assert {n.bridge for n in other.networks}.isdisjoint({n.bridge for n in plan_of(topology).networks})
    assert all(len(n.bridge) <= 15 for n in other.networks)


def test_custom_dns_gives_spark_nodes_the_kafka_names() -> None:
    topology = with_custom_dns(profile("peered"), "spark-vnet")
    plan = plan_of(topology)
    addresses = node_addresses(topology)
    kafka = [n for n in topology.nodes if n.kind == "kafka"]
    expected = {n.fqdn: addresses[n.hostname] for n in kafka} | {n.hostname: addresses[n.hostname] for n in kafka}
    assert len(expected) == 2 * len(kafka) == 6
    for c in plan.containers:
        if c.node.kind == "spark":
            assert c.extra_hosts == expected
        else:
            assert c.extra_hosts == {}


# ----- host routes -----------------------------------------------------------------------------------

HEADER = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT"


def hex_le(address: str) -> str:
    return format(struct.unpack("<I", socket.inet_aton(address))[0], "08X")


def route_line(iface: str, destination: str, mask: str) -> str:
    return "\t".join([iface, destination, "00000000", "0001", "0", "0", "0", mask, "0", "0", "0"])


def test_hex_helper_matches_the_kernel_format() -> None:
    assert hex_le("10.0.2.0") == "0002000A"
    assert hex_le("255.255.255.0") == "00FFFFFF"


def test_host_routes_parses_routes_and_skips_the_default(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text("\n".join([
        HEADER,
        route_line("eth0", "00000000", "00000000"),  # default route
        route_line("eth0", "0002000A", "00FFFFFF"),  # 10.0.2.0/24, hand-written
        route_line("docker0", hex_le("172.17.0.0"), hex_le("255.255.0.0")),
        route_line("tun0", hex_le("192.168.5.7"), hex_le("255.255.255.255")),
        "garbage line",
    ]) + "\n")
    routes = host_routes(table)
    assert routes == [
        Route(IPv4Network("10.0.2.0/24"), "eth0"),
        Route(IPv4Network("172.17.0.0/16"), "docker0"),
        Route(IPv4Network("192.168.5.7/32"), "tun0"),
    ]


def test_check_subnets_names_vnet_networks_device_and_hint() -> None:
    subnets = {"kafka-vnet": IPv4Network("10.1.0.0/24"), "spark-vnet": IPv4Network("10.2.0.0/24")}
    routes = [Route(IPv4Network("192.168.0.0/16"), "eth0"), Route(IPv4Network("10.2.0.0/16"), "br-other")]
    with pytest.raises(ConfigError) as info:
        check_subnets(subnets, "profile peered", routes=routes)
    text = str(info.value)
    assert "profile peered" in text
    assert "vnets[1](spark-vnet)" in text
    assert "10.2.0.0/24" in text and "10.2.0.0/16" in text
    assert "br-other" in text
    assert info.value.hint is not None and "vnets[1]" in info.value.hint


def test_check_subnets_passes_without_overlap() -> None:
    subnets = {"kafka-vnet": IPv4Network("10.1.0.0/24"), "spark-vnet": IPv4Network("10.2.0.0/24")}
    routes = [Route(IPv4Network("10.0.0.0/24"), "eth0"), Route(IPv4Network("10.3.0.0/16"), "docker0")]
    assert check_subnets(subnets, "profile peered", routes=routes) is None
    assert check_subnets(subnets, "profile peered", routes=[]) is None


# ----- Debian mirror and image hashes ----------------------------------------------------------------


def test_mirror_in_deb822_picks_the_bookworm_stanza() -> None:
    text = (
        "Types: deb\n"
        "URIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "# the main archive\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    assert images._mirror_in(text) == "http://mirror.example/debian"


def test_mirror_in_deb822_ignores_security_only_stanza() -> None:
    text = "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    assert images._mirror_in(text) is None


def test_mirror_in_one_line_format() -> None:
    text = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb http://mirror.example/debian bookworm main contrib\n"
    )
    assert images._mirror_in(text) == "http://mirror.example/debian"


@pytest.mark.parametrize("text", [
    "",
    "deb http://mirror.example/debian trixie main\n",
    "Types: deb\nURIs: http://mirror.example/debian\nSuites: bullseye\nComponents: main\n",
    "# deb http://mirror.example/debian bookworm main\n",
])
def test_mirror_in_returns_none_without_bookworm(text: str) -> None:
    assert images._mirror_in(text) is None


def test_debian_mirror_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DEBIAN_MIRROR", "http://override.example/debian")
    assert images.debian_mirror() == "http://override.example/debian"


def test_digest_changes_with_every_part() -> None:
    base = images._digest("bookworm", "pkg-a", "script")
    assert base == images._digest("bookworm", "pkg-a", "script")
    variants = [
        images._digest("trixie", "pkg-a", "script"),
        images._digest("bookworm", "pkg-b", "script"),
        images._digest("bookworm", "pkg-a", "script2"),
        images._digest("bookworm", "pkg-a"),
        images._digest("bookworm", "pkg-a", "script", ""),
        images._digest("bookwormpkg-a", "script"),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


# ----- network fault specs -----------------------------------------------------------------------------


def test_delay_spec_parses_latency_and_jitter_to_ms() -> None:
    spec = FaultSpec.model_validate({"at": "3s", "action": "delay", "target": "wn0-kafka", "latency": "200ms", "jitter": "50ms"})
    assert (spec.at, spec.latency, spec.jitter) == (3000, 200, 50)
    assert check_schedule((spec,), None) == []


def test_schedule_reports_missing_latency_for_delay() -> None:
    spec = FaultSpec.model_validate({"at": "1s", "action": "delay", "target": "wn0-kafka"})
    problems = check_schedule((spec,), None)
    assert len(problems) == 1 and "faults[0].latency" in problems[0]


def test_schedule_reports_missing_percent_for_loss() -> None:
    spec = FaultSpec.model_validate({"at": "1s", "action": "loss", "target": "wn0-kafka"})
    problems = check_schedule((spec,), None)
    assert len(problems) == 1 and "faults[0].percent" in problems[0]
    ok = FaultSpec.model_validate({"at": "1s", "action": "loss", "target": "wn0-kafka", "percent": 10})
    assert check_schedule((ok,), None) == []


def test_schedule_reports_peers_on_a_non_partition_action() -> None:
    good = FaultSpec.model_validate({"at": "1s", "action": "partition", "target": "wn0-kafka", "peers": ["wn1-kafka"]})
    bad = FaultSpec.model_validate({"at": "2s", "action": "heal", "target": "wn0-kafka", "peers": ["wn1-kafka"]})
    problems = check_schedule((good, bad), None)
    assert len(problems) == 1 and problems[0].startswith("faults[1].peers")


@pytest.mark.parametrize("percent", [0, 100.5, 150])
def test_loss_percent_out_of_range_is_a_validation_error(percent: float) -> None:
    with pytest.raises(ValidationError):
        FaultSpec.model_validate({"at": "1s", "action": "loss", "target": "wn0-kafka", "percent": percent})
    assert FaultSpec.model_validate({"at": "1s", "action": "loss", "target": "wn0-kafka", "percent": 100}).percent == 100


# ----- the local backend refuses network faults ------------------------------------------------------


def test_local_deployment_cannot_inject_network_faults(tmp_path: Path) -> None:
    deployment = LocalDeployment(load_profile("dev"), RunDir("x", tmp_path), "dev")
    assert deployment.network_control() is None
    assert deployment.node_control() is deployment
    with pytest.raises(HarnessError) as partition:
        deployment.partition("wn0-kafka", ["wn1-kafka"])
    assert partition.value.hint is not None and "--backend docker" in partition.value.hint
    with pytest.raises(HarnessError) as impair:
        deployment.impair_network("wn0-kafka", delay_ms=100)
    assert impair.value.hint is not None and "--backend docker" in impair.value.hint
    assert not (tmp_path / "x").exists()
