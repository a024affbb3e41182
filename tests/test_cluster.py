"""Real brokers, no mocks: the session's `dev` twin (three KRaft broker+controller JVMs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError

from harness.backends import Deployment
from harness.kafka import admin
from harness.kafka.clients import consumer, producer
from harness.runtime.processes import is_alive

Acked = tuple[int, int, bytes, bytes]


def produce(bootstrap: str, topic: str, count: int, prefix: str, **config: object) -> list[Acked]:
    acked: list[Acked] = []
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message) -> None:  # noqa: ANN001
        if error is not None:
            errors.append(error)
        else:
            acked.append((message.partition(), message.offset(), message.key(), message.value()))

    client = producer(bootstrap, **config)
    for i in range(count):
        client.produce(topic, key=f"k{i % 11}".encode(), value=f"{prefix}-{i}".encode(), on_delivery=on_delivery)
        client.poll(0)
    assert client.flush(60) == 0, "records still in flight after 60 s"
    assert not errors, errors[:3]
    return acked


def consume_all(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0) -> list[Acked]:
    import time

    client = consumer(bootstrap, group=f"check-{topic}-{time.monotonic_ns()}")
    client.subscribe([topic])
    seen: list[Acked] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            message = client.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                continue
            at_end.discard(message.partition())
            seen.append((message.partition(), message.offset(), message.key(), message.value()))
    finally:
        client.close()
    assert len(at_end) == partitions, f"only partitions {sorted(at_end)} reached their end within {timeout}s"
    return seen


def test_every_broker_is_registered_with_its_own_address(harness_deployment: Deployment, kafka_bootstrap: str) -> None:
    registered = admin.brokers(kafka_bootstrap)
    assert len(registered) == 3
    assert sorted(registered.values()) == sorted(kafka_bootstrap.split(","))
    brokers = [r for r in harness_deployment.status() if r.role.startswith("broker")]
    assert len({r.endpoint.split(":")[0] for r in brokers}) == 3  # one address per node (loopback, or in the VNet)


def test_produce_and_consume_with_acks_all(kafka_bootstrap: str, kafka_topic: Callable[..., str]) -> None:
    topic = kafka_topic(partitions=4)
    acked = produce(kafka_bootstrap, topic, 500, "a")
    assert len(acked) == 500
    assert sorted(consume_all(kafka_bootstrap, topic, 4)) == sorted(acked)


def test_status_shows_hdinsight_names_and_live_pids(harness_deployment: Deployment) -> None:
    rows = {r.hostname: r for r in harness_deployment.status()}
    for host in ("wn0-kafka", "wn1-kafka", "wn2-kafka"):
        assert rows[host].state == "running"
        assert rows[host].fqdn.startswith(f"{host}.") and rows[host].fqdn.endswith(".cx.internal.cloudapp.net")
        assert rows[host].rack is not None
        assert rows[host].pid
    assert all(is_alive(p) for p in harness_deployment.state().processes())


def test_one_broker_down_loses_no_acknowledged_record(harness_deployment: Deployment, kafka_bootstrap: str, kafka_topic: Callable[..., str]) -> None:
    """RF 3 / min ISR 2: with a broker stopped, acks=all writes go on and every acked record survives."""
    topic = kafka_topic(partitions=6)
    before = produce(kafka_bootstrap, topic, 300, "before")
    harness_deployment.stop_node("wn1-kafka")
    try:
        survivors = ",".join(e for e in kafka_bootstrap.split(",") if e != _endpoint(harness_deployment, "wn1-kafka"))
        during = produce(survivors, topic, 300, "during")
        info = admin.describe(survivors, topic)
        assert all(len(p.isr) == 2 for p in info.partitions), info  # the stopped broker left every ISR
        assert sorted(consume_all(survivors, topic, 6)) == sorted(before + during)
    finally:
        harness_deployment.start_node("wn1-kafka")
    # Back in service: the restarted broker catches up and rejoins every ISR.
    from harness.runtime.readiness import wait_for

    wait_for(lambda: admin.describe(kafka_bootstrap, topic).fully_in_sync, what="wn1-kafka to rejoin the ISR", timeout=60)


def _endpoint(deployment: Deployment, host: str) -> str:
    return deployment.client_endpoint(host)


def test_topics_cli_lists_and_describes(harness_deployment: Deployment, kafka_topic: Callable[..., str], capsys,  # noqa: ANN001
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.cli import main

    # The session twin may have booted inside another module's own runs directory (under xdist any module comes first).
    monkeypatch.setenv("HARNESS_RUNS", str(harness_deployment.run.path.parent))
    topic = kafka_topic(partitions=2)
    assert main(["topics", "list", "--name", harness_deployment.run.name]) == 0
    assert topic in capsys.readouterr().out.split()
    assert main(["topics", "describe", topic, "--name", harness_deployment.run.name]) == 0
    assert "partition" in capsys.readouterr().out
