"""Class-data-sharing archives for the Kafka-side JVMs of a release (see harness.runtime.class_sharing).

Measured here (2 cores, Kafka 4.4.0, Java 17): the storage format 1.45 s -> 0.80 s; one broker from
launch to registered 4.0 s -> 2.35 s; the dev twin ready 20 s -> 13.5 s. The training run is the
release's own programs, small: its storage format (KRaft) or a ZooKeeper server, then one broker that
registers and hosts a topic, stopped with SIGTERM, which makes each JVM write its archive as it exits.
"""

from __future__ import annotations

from pathlib import Path

from harness.backends.kafka_node import BROKER_MAIN, FORMAT_MAIN, ZOOKEEPER_MAIN, jvm_command, logging_config, new_cluster_id
from harness.runtime import processes
from harness.runtime.class_sharing import trained_archives
from harness.runtime.readiness import Progress, free_port, quiet, wait_for, zookeeper_mode
from harness.versions import Release

_TRAINING_TIMEOUT_S = 180.0


def archived_mains(stack: Release) -> tuple[str, ...]:
    """The JVM main classes of a release's twin that get an archive of their own."""
    return (ZOOKEEPER_MAIN, BROKER_MAIN) if stack.uses_zookeeper else (FORMAT_MAIN, BROKER_MAIN)


def class_archives(stack: Release, java: Path, classpath: str, progress: Progress = quiet, *, retry: bool = False) -> dict[str, Path]:
    """Main class -> archive for the release's Kafka JVMs, trained here the first time (about 10 s)."""
    return trained_archives(f"kafka-{stack.name}", java, classpath, archived_mains(stack),
                            lambda directory: _train(stack, java, classpath, directory), f"Kafka {stack.kafka_version}", progress, retry=retry)


def _train(stack: Release, java: Path, classpath: str, home: Path) -> None:
    from harness.kafka import admin

    log_name, log_text = logging_config(stack.kafka_logging)
    (home / log_name).write_text(log_text)

    def command(main: str, *args: str) -> list[str]:
        return jvm_command(java, classpath, main, *args, heap_mb=512, log_dir=home / "logs", log4j=home / log_name,
                           record_archive=home / f"{main}.jsa")

    started: list[processes.ProcessRecord] = []
    try:
        config = home / "server.properties"
        if stack.uses_zookeeper:
            zk_port = free_port("127.0.0.1")
            (home / "zoo.cfg").write_text(f"tickTime=500\ndataDir={home / 'zk'}\nclientPortAddress=127.0.0.1\nclientPort={zk_port}\n"
                                          "4lw.commands.whitelist=srvr\nadmin.enableServer=false\n")
            with processes.interrupts_deferred():  # launched and recorded, or neither: the `finally` stops what is recorded
                zk, _ = processes.launch("cds-zookeeper", command(ZOOKEEPER_MAIN, str(home / "zoo.cfg")), log=home / "zookeeper.out")
                started.append(zk)
            wait_for(lambda: zookeeper_mode("127.0.0.1", zk_port), what="the training ZooKeeper server to serve", timeout=_TRAINING_TIMEOUT_S, watch=[zk])
            port = free_port("127.0.0.1")
            config.write_text(_broker_properties(home, port, ["broker.id=1", f"zookeeper.connect=127.0.0.1:{zk_port}"]))
        else:
            port, controller = free_port("127.0.0.1"), free_port("127.0.0.1")
            config.write_text(_broker_properties(home, port, [
                "process.roles=broker,controller", "node.id=1", f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}", "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"]))
            processes.run_tool(command(FORMAT_MAIN, "format", "-t", new_cluster_id(), "-c", str(config)), what="the training run's storage format")
        with processes.interrupts_deferred():
            broker, _ = processes.launch("cds-broker", command(BROKER_MAIN, str(config)), log=home / "broker.out")
            started.append(broker)
        bootstrap = f"127.0.0.1:{port}"
        wait_for(lambda: len(admin.brokers(bootstrap, timeout=2)) == 1, what="the training broker to register", timeout=_TRAINING_TIMEOUT_S, watch=[broker])
        admin.create_topic(bootstrap, "cds-training", partitions=2, replication_factor=1, timeout=_TRAINING_TIMEOUT_S)
    finally:
        for record in reversed(started):  # the broker first, then the ZooKeeper it needs to stop cleanly
            processes.terminate([record], grace=60.0)


def _broker_properties(home: Path, port: int, identity: list[str]) -> str:
    single = ["offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
              "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1"]
    listeners = [] if any(line.startswith("listeners=") for line in identity) else [f"listeners=PLAINTEXT://127.0.0.1:{port}"]
    return "\n".join([*identity, *listeners, f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}", f"log.dirs={home / 'data'}",
                      "auto.create.topics.enable=false", *single]) + "\n"
