"""How Spark nodes of a topology become a standalone master and workers: resources and commands.

Worker size follows the profile's VM size, scaled to this machine by the profile's visible rule
(`spark.cores_per_vcpu`, `spark.memory_mb_per_gib`), so an eight-core D13_v2 worker becomes a
one-core worker here and four of them fit on a laptop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.dist.java import SHORT_LIVED_JVM_OPTIONS
from harness.topology.model import Node, SparkSettings
from harness.topology.vm_sizes import vm_size

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


@dataclass(frozen=True)
class WorkerResources:
    cores: int
    memory_mb: int
    rule: str


def worker_resources(node: Node, settings: SparkSettings) -> WorkerResources:
    size = vm_size(node.vm_size)
    cores = max(1, round(size.vcpus * settings.cores_per_vcpu))
    memory = max(512, round(size.ram_gib * settings.memory_mb_per_gib))
    rule = (f"{size.name}: {size.vcpus} vCPU x {settings.cores_per_vcpu} -> {cores} cores, "
            f"{size.ram_gib:g} GiB x {settings.memory_mb_per_gib} MB -> {memory} MB")
    return WorkerResources(cores, memory, rule)


def executor_conf(workers: Sequence[Node], settings: SparkSettings) -> dict[str, str]:
    """Executor settings for a standalone cluster of these workers: every executor fits the smallest
    worker, and a job may use every worker's cores."""
    sizes = [worker_resources(n, settings) for n in workers]
    cores, memory = min(r.cores for r in sizes), min(r.memory_mb for r in sizes)
    return {"spark.executor.cores": str(cores), "spark.executor.memory": f"{max(384, memory - 128)}m",
            "spark.cores.max": str(sum(r.cores for r in sizes)),
            "spark.executor.defaultJavaOptions": " ".join(SHORT_LIVED_JVM_OPTIONS)}  # a job's extraJavaOptions add to it


def spark_env(spark_home: Path, address: str, java_home: Path, log_dir: Path) -> dict[str, str]:
    """SPARK_LOCAL_IP pins the process and its web UI to the node's own loopback address; SPARK_HOME is the release's Spark."""
    return {
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": address,
        "JAVA_HOME": str(java_home),
        "SPARK_LOG_DIR": str(log_dir),
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_DAEMON_JAVA_OPTS": " ".join(SHORT_LIVED_JVM_OPTIONS),
        "SPARK_NO_DAEMONIZE": "1",
    }


def master_command(spark_home: Path, address: str, port: int, ui_port: int) -> list[str]:
    return [str(spark_home / "bin" / "spark-class"), MASTER_CLASS, "--host", address, "--port", str(port), "--webui-port", str(ui_port)]


def worker_command(spark_home: Path, master_url: str, address: str, port: int, ui_port: int, resources: WorkerResources,
                   work_dir: Path) -> list[str]:
    return [
        str(spark_home / "bin" / "spark-class"), WORKER_CLASS, master_url, "--host", address, "--port", str(port), "--webui-port", str(ui_port),
        "--cores", str(resources.cores), "--memory", f"{resources.memory_mb}m", "--work-dir", str(work_dir),
    ]
