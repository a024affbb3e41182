"""A profile's docker twin as a Docker Compose file, for people who want the twin without the harness.

The file is written from the same `DockerPlan` the docker backend realises, so the two cannot drift:
the same networks (subnet, gateway, bridge name), the same addresses and names (`hostname -f` gives
the FQDN; FQDN and short name resolve through Docker's DNS), the same server.properties. What a run
chooses at random is fixed here so the checked-in files are reproducible: the run name (`twin`), the
KRaft cluster id (from the topology's name), the host ports (brokers from 29092, Ambari 18080, the
Spark master UI 18081, Livy 18998) and the Ambari password (a documented default the user can override).

File format 2.4 is the one both docker-compose 1.29 (Debian's) and compose v2 read that still has
IPAM gateways, fixed addresses, `init` and `domainname`. Compose cannot add host firewall rules, so
VNet peering stays with `harness up`; the file says so.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import yaml

from harness.backends.docker.engine import LABEL_RUN
from harness.backends.docker.images import image_names
from harness.backends.docker.plan import (
    AMBARI_PORT, HOST_LISTENER_PORT, LIVY_PORT, SPARK_UI_PORT, ContainerPlan, DockerPlan, NetworkPlan, PlanInputs, plan_deployment,
)
from harness.errors import HarnessError
from harness.topology.model import Topology

RUN = "twin"
FIRST_BROKER_HOST_PORT = 29092
AMBARI_HOST_PORT = 18080
SPARK_UI_HOST_PORT = 18081
LIVY_HOST_PORT = 18998
AMBARI_DEFAULT_PASSWORD = "harness-admin"
AMBARI_PASSWORD_VARIABLE = "AMBARI_PASSWORD_SHA256"
HARNESS_SRC = "../harness"  # relative to the compose file, which lives in compose/ at the repository root
FORMAT_VERSION = "2.4"


def export_compose(topology: Topology, *, profile: str) -> str:
    if topology.kafka.security.secured:
        raise HarnessError(f"profile {profile} secures Kafka (kafka.security.protocol: {topology.kafka.security.protocol}), and a compose "
                           "file cannot carry a secured twin: its CA, certificates and store passwords are made per run and never written "
                           "into a file others read",
                           hint=f"start it with `harness up --profile {profile} --backend docker`, or export with kafka.security.protocol: plaintext")
    plan = compose_plan(topology)
    document = {
        "version": FORMAT_VERSION,
        "services": {c.node.hostname: _service(c, plan) for c in plan.containers},
        "networks": {n.name: _network(n, plan.run) for n in plan.networks},
    }
    if plan.volumes:
        document["volumes"] = {v: {"labels": {LABEL_RUN: plan.run}} for v in plan.volumes}
    return _header(plan, profile) + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=2**16)


def compose_plan(topology: Topology) -> DockerPlan:
    """The plan with everything a run would draw at random fixed."""
    images = image_names(topology.stack.name)
    return plan_deployment(topology, PlanInputs(
        run=RUN, kafka_image=images.kafka, spark_image=images.spark, host_port=fixed_host_ports(topology),
        cluster_id=fixed_cluster_id(topology.name), ambari_password_sha256=default_password_sha256(),
        harness_src=HARNESS_SRC, shared_dirs=(),
    ))


def fixed_cluster_id(seed: str) -> str:
    """A KRaft cluster id from the topology's name; rehashed while it would start with '-', which the
    storage tool would take for an option."""
    digest = hashlib.sha256(seed.encode()).digest()
    while True:
        candidate = base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate
        digest = hashlib.sha256(digest).digest()


def fixed_host_ports(topology: Topology) -> Callable[[str, int], int]:
    """Brokers' host listeners from 29092 in broker order; Ambari 18080; the Spark master UI 18081; Livy 18998."""
    brokers = {node.hostname: FIRST_BROKER_HOST_PORT + number for number, node in enumerate(topology.brokers)}
    master = topology.spark_master

    def host_port(hostname: str, container_port: int) -> int:
        if container_port == HOST_LISTENER_PORT:
            return brokers[hostname]
        if container_port == SPARK_UI_PORT and master is not None and hostname == master.hostname:
            return SPARK_UI_HOST_PORT
        if container_port == LIVY_PORT and master is not None and hostname == master.hostname:
            return LIVY_HOST_PORT
        if container_port == AMBARI_PORT:
            return AMBARI_HOST_PORT
        raise ValueError(f"no fixed host port for {hostname}:{container_port}")

    return host_port


def default_password_sha256() -> str:
    return hashlib.sha256(AMBARI_DEFAULT_PASSWORD.encode()).hexdigest()


# ----- the YAML ---------------------------------------------------------------------------------


def _service(container: ContainerPlan, plan: DockerPlan) -> dict[str, Any]:
    node = container.node
    service: dict[str, Any] = {
        "image": container.image,
        "command": [_escape(part) for part in container.command],
        "hostname": node.hostname,
        "domainname": node.dns_suffix,
        "init": True,
    }
    if container.environment:
        service["environment"] = _environment(container)
    if container.ports:
        service["ports"] = [f"127.0.0.1:{outer}:{inner}" for inner, outer in container.ports.items()]
    volumes = [f"{src}:{dst}:{mode}" for src, (dst, mode) in container.binds.items()]
    volumes += [f"{volume}:{path}" for volume, path in container.volumes.items()]
    if volumes:
        service["volumes"] = volumes
    if container.extra_hosts:
        service["extra_hosts"] = [f"{name}:{address}" for name, address in container.extra_hosts.items()]
    service["networks"] = {container.network: {"ipv4_address": container.address, "aliases": list(container.aliases)}}
    service["labels"] = container.labels(plan.run)
    depends_on = _depends_on(container, plan)
    if depends_on:
        service["depends_on"] = depends_on
    return service


def _environment(container: ContainerPlan) -> dict[str, str]:
    """Values reach the container verbatim (`$` doubled against interpolation), except the Ambari
    password hash, which the user may replace from the shell or an .env file."""
    env = {key: _escape(value) for key, value in container.environment.items()}
    if AMBARI_PASSWORD_VARIABLE in env:
        env[AMBARI_PASSWORD_VARIABLE] = f"${{{AMBARI_PASSWORD_VARIABLE}:-{container.environment[AMBARI_PASSWORD_VARIABLE]}}}"
    return env


def _depends_on(container: ContainerPlan, plan: DockerPlan) -> list[str]:
    """Brokers after the controller quorum (or the ZooKeeper ensemble), Spark workers after the master. A
    combined broker+controller depends on nothing: its peers are controllers too, and compose refuses cycles."""
    node = container.node
    if node.is_broker and not node.is_controller:
        return [c.node.hostname for c in plan.containers if c.node.is_quorum]
    if container.service == "spark-worker":
        return [c.node.hostname for c in plan.containers if c.service == "spark-master"]
    return []


def _network(network: NetworkPlan, run: str) -> dict[str, Any]:
    return {
        "driver": "bridge",
        "driver_opts": {"com.docker.network.bridge.name": network.bridge},
        "ipam": {"driver": "default", "config": [{"subnet": network.subnet, "gateway": network.gateway}]},
        "labels": {LABEL_RUN: run},
    }


def _escape(value: str) -> str:
    return value.replace("$", "$$")


def _header(plan: DockerPlan, profile: str) -> str:
    lines = [
        f"Generated by `harness compose export --profile {profile}`; do not edit. Regenerate with",
        f"  harness compose export --profile {profile} -o compose/{profile}.yaml",
        "Bring the twin up from the repository root, after building the images:",
        f"  harness images build --release {plan.release}",
        f"  docker-compose -f compose/{profile}.yaml up -d",
        f"  docker-compose -f compose/{profile}.yaml down -v",
        f"Kafka from the host: {plan.host_bootstrap}",
        "Host ports (127.0.0.1 only):",
    ]
    for container in plan.containers:
        for inner, outer in container.ports.items():
            lines.append(f"  127.0.0.1:{outer} -> {container.node.hostname}:{inner} ({_port_purpose(container, inner)})")
    if any(c.service == "ambari" for c in plan.containers):
        lines += [
            f"Ambari REST login: admin / {AMBARI_DEFAULT_PASSWORD} (the default). To choose another password:",
            f"  export {AMBARI_PASSWORD_VARIABLE}=$(printf %s 'NEW-PASSWORD' | sha256sum | cut -d' ' -f1)",
            "before `up` (or put the variable in an .env file next to where you run docker-compose).",
        ]
    if plan.peerings:
        lines.append("Peered VNets: compose cannot add the host firewall rules that route between them; `harness up` adds them.")
        lines += [f"  {a.vnet} ({a.subnet}) <-> {b.vnet} ({b.subnet})" for a, b in plan.peerings]
        lines.append("Brought up with compose, these networks stay isolated from each other.")
    return "".join(f"# {line}\n" for line in lines)


def _port_purpose(container: ContainerPlan, port: int) -> str:
    if container.service == "spark-master" and port == LIVY_PORT:
        return "Livy batch REST API"
    return {"kafka": "Kafka HOST listener", "ambari": "Ambari REST", "spark-master": "Spark master UI"}.get(container.service, container.service)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (server.properties) as literal blocks, so the file shows them as they are."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
