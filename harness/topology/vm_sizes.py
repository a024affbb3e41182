"""Azure VM sizes and managed disks, as data: the topology's VM sizes mean these figures.

The numbers are Microsoft's published ones (see ../shared/design/hdinsight.md, beside this repository). They live with the
topology because both the local backend (scaling Spark workers to this machine) and the Azure
projection (harness.topology.azure) read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from harness.errors import ConfigError

@dataclass(frozen=True)
class DiskType:
    """One managed data disk; Kafka puts each partition's log on one disk (one log.dir)."""

    name: str
    iops: int
    mb_s: float


STANDARD_HDD_S30 = DiskType("Standard HDD S30", iops=500, mb_s=60.0)
PREMIUM_SSD_P30 = DiskType("Premium SSD P30", iops=5000, mb_s=200.0)


@dataclass(frozen=True)
class VmSize:
    """An Azure VM size as far as sizing needs it.

    `disk_mb_s` is the size's uncached data-disk throughput limit when Microsoft publishes one
    (the DS sizes); None means "not known", and then only the disks themselves limit.
    """

    name: str
    vcpus: int
    ram_gib: float
    network_mbps: int
    disk_mb_s: float | None = None

    @property
    def premium_storage(self) -> bool:
        """Only the S sizes (DS3_v2, DS4_v2) can attach Premium SSD; HDInsight gives the others Standard HDD."""
        series = self.name.split("_")[1] if "_" in self.name else self.name
        return series.upper().startswith("DS")

    @property
    def disk_type(self) -> DiskType:
        return PREMIUM_SSD_P30 if self.premium_storage else STANDARD_HDD_S30

    @property
    def network_mb_s(self) -> float:
        return self.network_mbps / 8


VM_SIZES: Mapping[str, VmSize] = MappingProxyType(
    {
        size.name: size
        for size in (
            VmSize("Standard_A2_v2", vcpus=2, ram_gib=4, network_mbps=500),
            VmSize("Standard_D3_v2", vcpus=4, ram_gib=14, network_mbps=3000),
            VmSize("Standard_D4_v2", vcpus=8, ram_gib=28, network_mbps=6000),
            VmSize("Standard_D12_v2", vcpus=4, ram_gib=28, network_mbps=3000),
            VmSize("Standard_D13_v2", vcpus=8, ram_gib=56, network_mbps=6000),
            VmSize("Standard_D14_v2", vcpus=16, ram_gib=112, network_mbps=12000),
            VmSize("Standard_DS3_v2", vcpus=4, ram_gib=14, network_mbps=3000, disk_mb_s=192),
            VmSize("Standard_DS4_v2", vcpus=8, ram_gib=28, network_mbps=6000, disk_mb_s=384),
        )
    }
)


def vm_size(name: str) -> VmSize:
    """Look a size up case-insensitively: real templates write both `Standard_A2_v2` and `Standard_A2_V2`."""
    for known in VM_SIZES.values():
        if known.name.lower() == name.strip().lower():
            return known
    raise ConfigError(
        f"unknown Azure VM size {name!r}: the projection has no vCPU, network or disk figures for it",
        hint=f"known sizes: {', '.join(VM_SIZES)}; add it to harness.topology.vm_sizes.VM_SIZES with Microsoft's published figures",
    )


