"""Topology: the deployment as pure data (no processes, no I/O beyond reading a profile)."""

from harness.topology.loader import builtin_profiles, load_profile
from harness.topology.model import ClusterSpec, Node, NodeGroup, Topology, VNet

__all__ = ["ClusterSpec", "Node", "NodeGroup", "Topology", "VNet", "builtin_profiles", "load_profile"]
