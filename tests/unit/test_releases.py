"""Releases: one table of pinned stacks, a topology that fits its release, and Kafka configured for
either metadata mode (KRaft, or brokers on a ZooKeeper ensemble as HDInsight 5.1 runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.kafka_node import KafkaNodePlan, jvm_command, local_listeners, server_properties, zookeeper_properties
from harness.topology.loader import load_profile
from harness.topology.model import Topology
from harness.versions import RELEASES, release


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_hdinsight_release_pins_the_51_stack() -> None:
    stack = release("hdinsight-5.1")
    assert (stack.kafka_version.rsplit(".", 1)[0], stack.spark_version.rsplit(".", 1)[0]) == ("3.2", "3.3")
    assert stack.uses_zookeeper and stack.spark_scala == "2.12" and stack.kafka_scala == "2.12"
    assert stack.connector_coordinates() == ["org.apache.spark:spark-sql-kafka-0-10_2.12:3.3.4"]
    assert "org.apache.kafka:kafka_2.12:3.2.3" in stack.kafka_coordinates()
    assert not any("log4j-core" in c for c in stack.kafka_coordinates()), "Kafka 3.2 brings reload4j; a log4j2 binding would be a second one"
    assert not release("current").uses_zookeeper


def test_unknown_release_names_the_known_ones() -> None:
    with pytest.raises(Exception, match="current, hdinsight-5.1"):
        release("hdinsight-4.0")
    data = load_profile("dev").model_dump(mode="json")
    with pytest.raises(ValueError, match="unknown release 'hdi'"):
        Topology.model_validate({**data, "release": "hdi"})


def zookeeper_topology() -> Topology:
    return load_profile("hdinsight").with_release("hdinsight-5.1")


def test_with_release_moves_the_quorum_between_kraft_and_zookeeper() -> None:
    kraft = load_profile("hdinsight").with_release("current")
    zookeeper = kraft.with_release("hdinsight-5.1")
    assert [n.hostname for n in zookeeper.zookeepers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"]
    assert not zookeeper.controllers and zookeeper.stack.name == "hdinsight-5.1"
    assert [n.hostname for n in zookeeper.brokers] == [n.hostname for n in kraft.brokers]
    back = zookeeper.with_release("current")
    assert [n.hostname for n in back.controllers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"] and not back.zookeepers


def test_combined_broker_controllers_cannot_move_to_zookeeper() -> None:
    with pytest.raises(ValueError, match="brokers and controllers at once"):
        load_profile("dev").with_release("hdinsight-5.1")


def test_a_profile_that_mixes_modes_is_refused_with_the_fix() -> None:
    data = zookeeper_topology().model_dump(mode="json")
    with pytest.raises(ValueError, match="write `kafka: \\[controller\\]`"):
        Topology.model_validate({**data, "release": "current"})
    kraft = load_profile("hdinsight").with_release("current").model_dump(mode="json")
    with pytest.raises(ValueError, match="write `kafka: \\[zookeeper\\]`"):
        Topology.model_validate({**kraft, "release": "hdinsight-5.1"})


def plans(topology: Topology) -> list[KafkaNodePlan]:
    result = []
    for number, node in enumerate(topology.kafka_nodes, start=1):
        address = f"127.1.2.{number + 1}"
        zk = {"zookeeper": 2181, "peer": 2888, "election": 3888} if node.is_zookeeper else None
        result.append(KafkaNodePlan(node=node, node_id=number, address=address, broker_port=9092 if node.is_broker else None,
                                    controller_port=None, data_dir=Path(f"/d/{number}"), log_dir=Path(f"/l/{number}"), zookeeper_ports=zk))
    return result


def test_brokers_on_zookeeper_connect_to_the_ensemble_and_know_no_kraft_keys() -> None:
    topology = zookeeper_topology()
    all_plans = plans(topology)
    quorum = [p for p in all_plans if p.node.is_quorum]
    broker = next(p for p in all_plans if p.node.is_broker)
    props = properties(server_properties(broker, topology, local_listeners(broker, quorum)))
    assert props["zookeeper.connect"] == "127.1.2.2:2181,127.1.2.3:2181,127.1.2.4:2181"
    assert props["broker.id"] == str(broker.node_id) and props["broker.rack"] == "FD0UD0"
    assert props["listeners"] == props["advertised.listeners"] == "PLAINTEXT://127.1.2.5:9092"
    assert not {k for k in props if k.startswith(("process.roles", "controller.", "share.", "broker.session"))}
    # Brokers stopping together ask a controller that is itself stopping; at the default 5 s back-off before
    # they ask again, a ZooKeeper twin's stop took 10.6 s instead of 1.6 s.
    assert int(props["controlled.shutdown.retry.backoff.ms"]) <= 1000


def test_zookeeper_servers_list_the_whole_ensemble() -> None:
    all_plans = plans(zookeeper_topology())
    ensemble = [(p.node_id, p.address, p.zookeeper_ports) for p in all_plans if p.zookeeper_ports]
    zoo = properties(zookeeper_properties(all_plans[0], ensemble))
    assert zoo["clientPortAddress"] == "127.1.2.2" and zoo["dataDir"] == "/d/1"
    assert [zoo[f"server.{i}"] for i in (1, 2, 3)] == [f"127.1.2.{i + 1}:2888:3888" for i in (1, 2, 3)]
    assert "srvr" in zoo["4lw.commands.whitelist"], "readiness asks each server whether it serves"


def test_kraft_brokers_keep_their_quorum_settings() -> None:
    topology = load_profile("dev")
    assert topology.stack is RELEASES["current"]
    node = topology.kafka_nodes[0]
    plan = KafkaNodePlan(node=node, node_id=1, address="127.1.2.2", broker_port=9092, controller_port=9093,
                         data_dir=Path("/d"), log_dir=Path("/l"))
    props = properties(server_properties(plan, topology, local_listeners(plan, [plan])))
    assert props["controller.quorum.voters"] == "1@127.1.2.2:9093" and "zookeeper.connect" not in props


def test_each_logging_generation_gets_its_own_flag() -> None:
    log4j1 = jvm_command(Path("java"), "cp", "Main", heap_mb=256, log_dir=Path("/l"), log4j=Path("/l/log4j.properties"))
    log4j2 = jvm_command(Path("java"), "cp", "Main", heap_mb=256, log_dir=Path("/l"), log4j=Path("/l/log4j2.properties"))
    assert "-Dlog4j.configuration=file:/l/log4j.properties" in log4j1
    assert "-Dlog4j2.configurationFile=/l/log4j2.properties" in log4j2


def test_each_release_names_the_late_row_rule_of_its_spark() -> None:
    assert release("current").late_events == "previous-batch"  # Spark 3.4+ (SPARK-40925)
    assert release("hdinsight-5.1").late_events == "current-batch"  # Spark 3.3: one watermark filters and evicts
