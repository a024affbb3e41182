"""The Azure side of a projection: VM sizes, managed disks and the deployment they make up.

Pure data and arithmetic. The numbers are the ones in ../shared/design/hdinsight.md (beside this repository), which took them
from Microsoft's public size tables; they are what a projection is scaled and capped by, so they are
kept in one place and never guessed at run time. Throughputs are in MB/s with MB = 10**6 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.errors import ConfigError
from harness.topology.model import Node, Topology
from harness.topology.vm_sizes import DiskType, VmSize, vm_size

__all__ = ["MB", "PARTITIONS_PER_BROKER", "DeploymentProfile"]

MB = 1_000_000
PARTITIONS_PER_BROKER = 2000
"""Microsoft's advice for HDInsight Kafka: at most about 2000 partition replicas per broker."""


@dataclass(frozen=True)
class DeploymentProfile:
    """The Azure deployment a local measurement is projected onto: brokers, their disks, Spark workers."""

    brokers: int
    broker_vm: VmSize
    disks_per_broker: int
    spark_workers: int
    spark_worker_vm: VmSize
    replication_factor: int

    def __post_init__(self) -> None:
        if self.brokers < 1 or self.spark_workers < 1:
            raise ConfigError(f"a deployment needs at least one broker and one Spark worker (got {self.brokers} and {self.spark_workers})")
        if self.disks_per_broker < 1:
            raise ConfigError(
                "HDInsight Kafka workers store their logs on managed data disks, but disks_per_broker is "
                f"{self.disks_per_broker}", hint="set `disks:` on the broker node group (dataDisksGroups.disksPerNode in ARM)",
            )
        if not 1 <= self.replication_factor <= self.brokers:
            raise ConfigError(f"replication_factor {self.replication_factor} must be between 1 and the broker count {self.brokers}")

    @classmethod
    def from_topology(cls, topology: Topology) -> DeploymentProfile:
        """Read sizes and counts from a profile, so a projection uses exactly what the twin was built from."""
        brokers = topology.brokers
        spark_workers = [n for n in topology.nodes if n.kind == "spark" and n.role == "worker"]
        if not spark_workers:
            raise ConfigError(f"topology {topology.name} has no Spark worker nodes; a projection needs a Spark cluster")
        broker_vm, disks = _uniform(brokers, "broker")
        spark_vm, _ = _uniform(spark_workers, "Spark worker")
        return cls(
            brokers=len(brokers), broker_vm=vm_size(broker_vm), disks_per_broker=disks,
            spark_workers=len(spark_workers), spark_worker_vm=vm_size(spark_vm),
            replication_factor=topology.kafka.topic_defaults.replication_factor,
        )

    @property
    def broker_disk_type(self) -> DiskType:
        return self.broker_vm.disk_type

    @property
    def broker_disk_mb_s(self) -> float:
        """Disks add up until the VM's own uncached-disk limit stops them (DS4_v2 with 4 P30: 384, not 800)."""
        total = self.disks_per_broker * self.broker_disk_type.mb_s
        limit = self.broker_vm.disk_mb_s
        return total if limit is None else min(total, limit)

    @property
    def partition_write_mb_s(self) -> float:
        """One partition lives on one disk of its leader, so one disk (or the VM limit) bounds its produce rate."""
        return min(self.broker_disk_type.mb_s, self.broker_disk_mb_s)

    @property
    def cluster_write_capacity_mb_s(self) -> float:
        """Largest producer rate W the disks sustain: every byte is written RF times (load = W x RF)."""
        return self.brokers * self.broker_disk_mb_s / self.replication_factor

    def network_read_capacity_mb_s(self, consumers: int = 1) -> float:
        """Largest W the brokers' network can serve: replicas fetch (RF-1) x W, consumer groups C x W."""
        if consumers < 0:
            raise ValueError("consumers must be >= 0")
        return self.brokers * self.broker_vm.network_mb_s / (self.replication_factor + consumers - 1)

    @property
    def spark_cores(self) -> int:
        return self.spark_workers * self.spark_worker_vm.vcpus

    @property
    def max_partitions(self) -> int:
        """Partitions the cluster holds within ~2000 replicas per broker."""
        return math.floor(PARTITIONS_PER_BROKER * self.brokers / self.replication_factor)

    def describe(self) -> str:
        return "\n".join(
            [
                f"Azure deployment profile (catalog figures, not measurements): {self.brokers} brokers x {self.broker_vm.name}, "
                f"{self.disks_per_broker} x {self.broker_disk_type.name} each; {self.spark_workers} Spark workers x "
                f"{self.spark_worker_vm.name} ({self.spark_cores} cores); replication factor {self.replication_factor}",
                f"  disk write per broker  {self.broker_disk_mb_s:8.1f} MB/s",
                f"  cluster write capacity {self.cluster_write_capacity_mb_s:8.1f} MB/s  (brokers x disk / RF)",
                f"  network read capacity  {self.network_read_capacity_mb_s(1):8.1f} MB/s  (1 consumer group: brokers x NIC / (RF + C - 1))",
            ]
        )


def _uniform(nodes: list[Node] | tuple[Node, ...], what: str) -> tuple[str, int]:
    """A profile with mixed broker sizes has no single per-broker limit; say so instead of averaging."""
    shapes = sorted({(n.vm_size, n.disks) for n in nodes})
    if len(shapes) != 1:
        described = ", ".join(f"{vm} with {disks} disks" for vm, disks in shapes)
        raise ConfigError(f"{what} nodes differ in size ({described}); a projection needs one {what} shape")
    return shapes[0]
