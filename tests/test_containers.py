"""The twin through `harness.containers`, as a testcontainers suite uses it: one `single` twin on the
docker backend, records produced and read back with confluent-kafka, nothing of the run left after.
"""

from __future__ import annotations

import os
import time
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from testcontainers.core.wait_strategies import CompositeWaitStrategy, LogMessageWaitStrategy, PortWaitStrategy

from harness.containers import KafkaSparkTwin
from tests.conftest import docker_leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RECORDS = [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(5)]


class LeaveTheBlock(Exception):
    """Raised at the end of the `with` block: a test failing inside it must still remove the twin."""


def single_on_a_free_subnet(directory: Path) -> Path:
    """The `single` profile, its VNet moved to a /24 that no host route and no Docker network uses:
    two docker twins on one subnet cannot run at once, and other suites may run a twin on this engine."""
    from harness.backends.docker.engine import docker_client
    from harness.backends.docker.network import host_routes
    from harness.topology.loader import profile_path

    taken = [route.network for route in host_routes()]
    for network in docker_client().networks.list():
        taken += [IPv4Network(c["Subnet"]) for c in (network.attrs.get("IPAM") or {}).get("Config") or [] if ":" not in c.get("Subnet", ":")]
    candidates = [IPv4Network(f"10.{200 + (os.getpid() + k) % 50}.0.0/24") for k in range(50)]
    subnet = next(c for c in candidates if not any(c.overlaps(t) for t in taken))
    profile = yaml.safe_load(profile_path("single").read_text())
    profile["vnets"][0].update(address_space=str(subnet), subnet=str(subnet))
    path = directory / "single.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def create_and_produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> tuple[list[int], list[object]]:
    """Create a one-partition topic and produce `records` with acks=all; the offsets acknowledged and
    the delivery errors. The clients go when this returns, before the twin stops."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=60)
    acknowledged: list[int] = []
    failed: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for key, value in records:
        producer.produce(topic, value, key, on_delivery=lambda err, msg: failed.append(err) if err else acknowledged.append(msg.offset()))
    assert producer.flush(60) == 0
    return acknowledged, failed


def read_back(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[tuple[bytes, bytes]]:
    """Consume from the start until `count` records arrived (or the time-out ends the wait)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None or message.error().code() == KafkaError._PARTITION_EOF, message.error()
            if message.error() is None:
                got.append((message.key(), message.value()))
    finally:
        consumer.close()
    return got


def test_a_testcontainers_suite_produces_and_reads_back_through_the_twin(docker_engine: None, isolated_runs: Path, tmp_path: Path) -> None:
    twin = KafkaSparkTwin(profile=str(single_on_a_free_subnet(tmp_path)), backend="docker").waiting_for(
        {"wn0-kafka": CompositeWaitStrategy(LogMessageWaitStrategy("Kafka Server started"), PortWaitStrategy(19092))})
    run = twin.deployment.run.name

    with pytest.raises(LeaveTheBlock), twin:
        assert docker_leftovers(run)["containers"] == 1
        bootstrap = twin.get_bootstrap_server()
        node = twin.get_container("wn0-kafka")
        assert node.status == "running"
        assert bootstrap == f"127.0.0.1:{node.get_exposed_port(19092)}" == twin.deployment.bootstrap_servers

        topic = "tc-records"
        acknowledged, failed = create_and_produce(bootstrap, topic, RECORDS)
        assert failed == [] and acknowledged == list(range(len(RECORDS)))
        assert read_back(bootstrap, topic, len(RECORDS)) == RECORDS  # one partition: in order, each once

        assert twin.deployment.spark_master == ""  # `single` has no Spark nodes: Spark runs as local[N]
        assert twin.get_spark_master() == twin.deployment.spark_conf()[0] == f"local[{twin.deployment.topology.spark.local_cores}]"
        raise LeaveTheBlock

    assert docker_leftovers(run) == {"containers": 0, "networks": 0, "volumes": 0, "firewall rules": 0}
    assert twin.deployment.state().status == "stopped"
