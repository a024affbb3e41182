"""One bare Kafka broker started by hand from the harness's own jars: the baseline a twin's time to
ready is measured against.

What a person does with Kafka's quick start, without the harness: write a minimal KRaft
`server.properties` (one combined broker and controller on loopback), format its storage with the
storage tool, start `kafka.Kafka` with the JVM options `kafka-server-start.sh` uses (the Maven jars
carry no scripts), and call it ready when a client sees the broker registered.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness.backends.kafka_node import new_cluster_id
from harness.dist.artifacts import kafka_classpath
from harness.dist.java import find_java
from harness.kafka import admin
from harness.runtime import processes
from harness.runtime.readiness import free_port, wait_for

# kafka-server-start.sh's KAFKA_HEAP_OPTS and kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS
SCRIPT_JVM_OPTIONS = ("-Xmx1G", "-Xms1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
                      "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true")


def time_bare_broker_ready(timeout: float = 180.0) -> float:
    """Seconds from formatting the storage to a client seeing the broker registered; the broker is stopped after."""
    java, classpath = str(find_java().executable), kafka_classpath()
    with tempfile.TemporaryDirectory(prefix="bare-broker-") as tmp:
        home = Path(tmp)
        port, controller = free_port("127.0.0.1"), free_port("127.0.0.1")
        config = home / "server.properties"
        config.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1", f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={home / 'data'}", "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1", "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
        ]) + "\n")
        started = time.perf_counter()
        processes.run_tool([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(config)],
                           what="formatting the bare broker's storage")
        record, _ = processes.launch("bare-broker", [java, *SCRIPT_JVM_OPTIONS, f"-Dkafka.logs.dir={home / 'logs'}", "-cp", classpath,
                                                     "kafka.Kafka", str(config)], log=home / "broker.log")
        try:
            bootstrap = f"127.0.0.1:{port}"
            wait_for(lambda: len(_registered(bootstrap)) == 1, what="the bare broker to register", timeout=timeout, watch=[record], interval=0.05)
            return time.perf_counter() - started
        finally:
            processes.terminate([record])


def _registered(bootstrap: str) -> dict[int, str]:
    try:
        return admin.brokers(bootstrap, timeout=1.0)
    except Exception:  # noqa: BLE001 - not listening yet
        return {}
