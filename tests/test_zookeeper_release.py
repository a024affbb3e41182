"""The built-in hdinsight profile on release hdinsight-5.1 (local backend): Kafka 3.2 brokers on three
real ZooKeeper servers, replication, the controller role moving when its broker dies, and the
cluster riding out the loss of one ZooKeeper server. Spark 3.3 jobs are refused with the reason."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import Deployment, new_deployment
from harness.errors import HarnessError
from harness.faults.inject import inject
from harness.faults.schedule import fault_from
from harness.kafka import admin
from harness.runner import run_scenario, running_twin
from harness.runtime.readiness import wait_for, zookeeper_mode
from harness.scenarios.spec import load_scenario
from tests.test_cluster import consume_all, produce

pytestmark = pytest.mark.slow
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def zookeeper_twin() -> Iterator[Deployment]:
    deployment = new_deployment("hdinsight", f"pytest-zk-{os.getpid()}", "local", release="hdinsight-5.1")
    with running_twin(deployment) as twin:
        yield twin


def modes(twin: Deployment) -> dict[str, str | None]:
    return {n.hostname: zookeeper_mode(n.address, n.ports["zookeeper"]) for n in twin.state().nodes if n.ports.get("zookeeper")}


def test_kafka_32_brokers_run_on_a_zookeeper_ensemble(zookeeper_twin: Deployment) -> None:
    rows = {r.hostname: r for r in zookeeper_twin.status()}
    assert {h: r.role for h, r in rows.items() if h.startswith("zk")} == dict.fromkeys(("zk0-kafka", "zk1-kafka", "zk2-kafka"), "zookeeper")
    assert sorted(modes(zookeeper_twin).values()) == ["follower", "follower", "leader"]
    broker_log = Path(next(n.log for n in zookeeper_twin.state().nodes if n.hostname == "wn0-kafka"))
    assert "Kafka version: 3.2.3" in broker_log.read_text()
    assert len(admin.brokers(zookeeper_twin.bootstrap_servers)) == 3


def test_records_replicate_and_survive_the_controller_broker(zookeeper_twin: Deployment) -> None:
    bootstrap = zookeeper_twin.bootstrap_servers
    admin.create_topic(bootstrap, "zk-replicated", partitions=3, replication_factor=3, configs={"min.insync.replicas": "2"})
    before = produce(bootstrap, "zk-replicated", 200, "before")
    control = zookeeper_twin.node_control()
    assert control is not None
    [victim] = inject(zookeeper_twin, fault_from("kill", "controller"))
    assert zookeeper_twin.is_broker(victim), "on ZooKeeper the controller role is held by a broker"
    wait_for(lambda: control.active_controller() != victim, what="another broker to take the controller role", timeout=90)
    during = produce(bootstrap, "zk-replicated", 200, "during")
    zookeeper_twin.heal()
    wait_for(lambda: admin.describe(bootstrap, "zk-replicated").fully_in_sync, what="the ISR to be whole again", timeout=90)
    assert sorted(consume_all(bootstrap, "zk-replicated", 3)) == sorted(before + during)


def test_the_cluster_rides_out_a_lost_zookeeper_server(zookeeper_twin: Deployment) -> None:
    bootstrap = zookeeper_twin.bootstrap_servers
    inject(zookeeper_twin, fault_from("kill", "zk1-kafka"))
    assert modes(zookeeper_twin)["zk1-kafka"] is None
    wait_for(lambda: sorted(m for h, m in modes(zookeeper_twin).items() if h != "zk1-kafka") == ["follower", "leader"],
             what="the two remaining ZooKeeper servers to keep a quorum", timeout=60)
    admin.create_topic(bootstrap, "zk-after-loss", partitions=2, replication_factor=3)  # metadata writes go through ZooKeeper
    zookeeper_twin.heal()
    wait_for(lambda: modes(zookeeper_twin)["zk1-kafka"] in ("follower", "leader"), what="zk1-kafka to rejoin the ensemble", timeout=60)


def test_a_spark_job_is_refused_with_the_release_reason(zookeeper_twin: Deployment) -> None:
    with pytest.raises(HarnessError, match="release hdinsight-5.1 runs Spark 3.3.4"):
        run_scenario(load_scenario(SCENARIOS / "stock-ticker.yaml"), deployment=zookeeper_twin)
