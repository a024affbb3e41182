"""The host side of the twin's networks: subnet checks, VNet peering, and network faults.

Faults run host tools (`iptables`, and the delayer for latency) inside a container's network namespace with `nsenter`,
so containers need no extra capability and every rule the harness adds carries the run's name,
which is how `heal` and `harness down` find and remove exactly those rules.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from harness.errors import ConfigError, HarnessError

FAULT_CHAIN = "HARNESS-FAULTS"
LOSS_CHAIN = "HARNESS-LOSS"
DELAY_CHAIN = "HARNESS-DELAY"
DELAY_QUEUE = 0  # netfilter queues are per network namespace, so every node can use the same number


@dataclass(frozen=True)
class Route:
    network: IPv4Network
    device: str


def host_routes(table: Path = Path("/proc/net/route")) -> list[Route]:
    """IPv4 routes of the host, default route excluded (it overlaps everything by definition)."""
    routes = []
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        destination = socket.inet_ntoa(struct.pack("<I", int(fields[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<I", int(fields[7], 16)))
        network = IPv4Network(f"{destination}/{mask}", strict=False)
        if network.prefixlen:
            routes.append(Route(network, fields[0]))
    return routes


def check_subnets(subnets: dict[str, IPv4Network], source: str, routes: list[Route] | None = None) -> None:
    """Refuse a VNet subnet that overlaps a host route: containers could not reach that part of the host's network."""
    for index, (vnet, subnet) in enumerate(subnets.items()):
        for route in routes if routes is not None else host_routes():
            if subnet.overlaps(route.network):
                raise ConfigError(
                    f"{source}: vnets[{index}]({vnet}).subnet {subnet} overlaps the host route {route.network} on {route.device}",
                    hint=f"choose another prefix for vnets[{index}].subnet and address_space in the profile (for example 10.{100 + index}.0.0/24); "
                         "a route of another running twin is freed by `harness down`",
                )


# ----- peering: addresses route between two VNets' bridges, names do not ---------------------------------


def _iptables(*args: str, table: str = "filter", check: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("iptables") is None:
        raise HarnessError("iptables is needed for VNet peering and network faults", hint="apt-get install iptables")
    out = subprocess.run(["iptables", "-w", "-t", table, *args], capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise HarnessError(f"iptables {' '.join(args)} failed", detail=out.stderr.strip())
    return out


def peer(run: str, bridge_a: str, subnet_a: str, bridge_b: str, subnet_b: str) -> None:
    """Accept forwarding between two bridges before Docker's isolation rules, and keep source
    addresses (no masquerade), as Azure peering routes between address spaces."""
    tag = ["-m", "comment", "--comment", f"harness:{run}"]
    for src, dst in ((bridge_a, bridge_b), (bridge_b, bridge_a)):
        _iptables("-I", "DOCKER-USER", "-i", src, "-o", dst, *tag, "-j", "ACCEPT")
    for src, dst in ((subnet_a, subnet_b), (subnet_b, subnet_a)):
        _iptables("-I", "POSTROUTING", "-s", src, "-d", dst, *tag, "-j", "RETURN", table="nat")


def unpeer(run: str) -> int:
    """Delete every host rule tagged with this run; returns how many."""
    removed = 0
    for table, chain in (("filter", "DOCKER-USER"), ("nat", "POSTROUTING")):
        out = _iptables("-S", chain, table=table, check=False)
        for rule in out.stdout.splitlines():
            if f'"harness:{run}"' in rule or f"harness:{run} " in rule + " ":
                _iptables(*shlex.split("-D" + rule[2:]), table=table, check=False)
                removed += 1
    return removed


# ----- faults inside one container's network namespace ----------------------------------------------


def _in_netns(pid: int, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise HarnessError(f"`{' '.join(argv)}` in the network namespace of pid {pid} failed", detail=out.stderr.strip(),
                           hint="network faults need root, nsenter (util-linux) and iptables on the host")
    return out


def impair(pid: int, *, loss_pct: float = 0.0, delay: bool = False, device: str = "eth0") -> None:
    """Loss (an iptables random-drop rule on the node's egress) and, with `delay`, a rule that queues every
    outgoing packet for the delayer process (`harness.runtime.nfdelay`), which the caller starts. Both are
    iptables, which every kernel offers; netem would need CONFIG_NET_SCH_NETEM, which many kernels lack."""
    _ensure_chain(pid, LOSS_CHAIN, ("OUTPUT",))
    _in_netns(pid, ["iptables", "-w", "-F", LOSS_CHAIN])
    if loss_pct:
        _in_netns(pid, ["iptables", "-w", "-A", LOSS_CHAIN, "-o", device, "-m", "statistic", "--mode", "random",
                        "--probability", f"{loss_pct / 100:.4f}", "-j", "DROP"])
    # Last in OUTPUT: a queued packet that is let go skips the rest of the chain, so drops must come first.
    _ensure_chain(pid, DELAY_CHAIN, ("OUTPUT",), append=True)
    _in_netns(pid, ["iptables", "-w", "-F", DELAY_CHAIN])
    if delay:  # --queue-bypass: while no delayer listens, packets pass instead of being dropped
        _in_netns(pid, ["iptables", "-w", "-A", DELAY_CHAIN, "-o", device, "-j", "NFQUEUE", "--queue-num", str(DELAY_QUEUE), "--queue-bypass"])


def delayer_argv(pid: int, python: str, *, latency_ms: int, jitter_ms: int) -> list[str]:
    """The delayer, run on the host inside the node's network namespace; it exits when the node does."""
    return ["nsenter", "-t", str(pid), "-n", python, "-m", "harness.runtime.nfdelay", "--queue", str(DELAY_QUEUE),
            "--latency", str(latency_ms), "--jitter", str(jitter_ms), "--watch", str(pid)]


def _ensure_chain(pid: int, chain: str, parents: tuple[str, ...], *, append: bool = False) -> None:
    _in_netns(pid, ["iptables", "-w", "-N", chain], check=False)
    for parent in parents:
        if _in_netns(pid, ["iptables", "-w", "-C", parent, "-j", chain], check=False).returncode != 0:
            _in_netns(pid, ["iptables", "-w", "-A" if append else "-I", parent, "-j", chain])


def cut_off(pid: int, peers: list[str]) -> None:
    """Drop packets to and from the given peer addresses; the host and Docker's DNS stay reachable."""
    _ensure_chain(pid, FAULT_CHAIN, ("INPUT", "OUTPUT"))
    for address in peers:
        _in_netns(pid, ["iptables", "-w", "-A", FAULT_CHAIN, "-s", address, "-j", "DROP"])
        _in_netns(pid, ["iptables", "-w", "-A", FAULT_CHAIN, "-d", address, "-j", "DROP"])


def reconnect(pid: int) -> None:
    """Undo `cut_off` and `impair` in one namespace."""
    _in_netns(pid, ["iptables", "-w", "-F", FAULT_CHAIN], check=False)
    _in_netns(pid, ["iptables", "-w", "-F", LOSS_CHAIN], check=False)
    _in_netns(pid, ["iptables", "-w", "-F", DELAY_CHAIN], check=False)
