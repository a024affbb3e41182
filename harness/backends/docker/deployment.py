"""The docker backend: the HDInsight VNet twin as containers on one bridge network per VNet.

Every container, network and volume carries the run's label, and every host firewall rule the
run's name, so `stop` (and `harness down` after a crashed harness) removes exactly what this run
created. Host clients reach brokers through listeners published on 127.0.0.1 only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import secrets
import signal
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from harness.backends.base import PKI_DIR, READY_TIMEOUT_S, Deployment, NetworkControl, NodeControl, NodeShell, NodeStatus
from harness.runtime.readiness import Progress, quiet
from harness.backends.docker import network as hostnet
from harness.backends.docker.engine import LABEL_RUN, docker_client
from harness.backends.docker.images import build_images
from harness.backends.docker.plan import (
    CONTROLLER_PORT, HOST_LISTENER_PORT, LIVY_PORT, SPARK_MASTER_PORT, SPARK_UI_PORT, AMBARI_PORT, ContainerPlan, DockerPlan, PlanInputs,
    head_driver_conf, node_addresses, plan_deployment, vnet_bootstrap, vnet_broker_port,
)
from harness.backends.kafka_node import ZOOKEEPER_PORTS, BrokerTls, new_cluster_id, quorum_leader
from harness.backends.rundir import BROKER_CLOSED, NodeState, RunDir, RunState
from harness.errors import HarnessError, NotReadyError, RunStateError
from harness.kafka.security import ClientSecurity
from harness.runtime import processes
from harness.runtime.processes import excerpt, stopping_after_interrupt
from harness.runtime.readiness import free_port, port_open, wait_for
from harness.topology.model import Topology

if TYPE_CHECKING:
    from docker.models.containers import Container

HEAD_TRUSTSTORE = "/etc/kafka-client/truststore.p12"
"""Where `client_truststore: head_node_only` puts the job's truststore: on the head node, and nowhere else."""


class DockerDeployment(Deployment):
    backend = "docker"

    def __init__(self, topology: Topology, run: RunDir, profile: str) -> None:
        super().__init__(topology, run, profile)
        self._plan: DockerPlan | None = None

    def node_control(self) -> NodeControl:
        return self

    def network_control(self) -> NetworkControl:
        return self

    def node_shell(self) -> NodeShell:
        return self

    @classmethod
    def attach(cls, run: RunDir) -> DockerDeployment:
        state = run.load()
        deployment = cls(Topology.model_validate(state.topology), run, state.profile)
        deployment._plan = deployment._make_plan(state.backend_data, {n.hostname: n.ports for n in state.nodes})
        deployment.register_clients()
        return deployment

    # ----- planning -----------------------------------------------------------------------------

    def _make_plan(self, data: dict[str, Any], saved_ports: dict[str, dict[str, int]] | None = None) -> DockerPlan:
        from harness.backends.docker.images import image_names

        def host_port(hostname: str, container_port: int) -> int:
            if saved_ports is not None:
                return saved_ports[hostname].get(f"host:{container_port}", 0)  # 0: a run started before this port was published
            return free_port("127.0.0.1")

        images = image_names(self.topology.stack.name)
        import harness

        secured, sasl = self.topology.kafka.security.secured, self.topology.kafka.security.sasl
        return plan_deployment(self.topology, PlanInputs(
            run=self.run.name, kafka_image=images.kafka, spark_image=images.spark, host_port=host_port,
            cluster_id=data["cluster_id"], ambari_password_sha256=data["ambari_password_sha256"],
            harness_src=str(Path(harness.__file__).parent), shared_dirs=(str(self.run.path),),
            broker_tls=self._broker_identities() if secured else {}, pki_dir=str(self.run.path / PKI_DIR) if secured else None,
            broker_sasl=self.broker_sasl() if sasl else None, scram_users=self.scram_users() if sasl else {},
        ))

    def _broker_identities(self) -> dict[str, BrokerTls]:
        """Each broker's identity also holds its VNet address and 127.0.0.1, by which the host's clients reach its
        published port. The Spark nodes see the truststore where the run directory is mounted (the cluster's
        shared storage), as a team copies its truststore to every node."""
        addresses = node_addresses(self.topology)
        return {node.hostname: self.broker_tls(node, [addresses[node.hostname], "127.0.0.1"]) for node in self.topology.brokers}

    @property
    def plan(self) -> DockerPlan:
        if self._plan is None:
            raise RunStateError(f"run {self.run.name} has not been started")
        return self._plan

    @property
    def bootstrap_servers(self) -> str:
        return self.plan.host_bootstrap if self._plan else ""

    @property
    def spark_master(self) -> str:
        master = self.topology.spark_master
        return f"spark://{master.fqdn}:{SPARK_MASTER_PORT}" if master and self.topology.spark_workers else ""

    def client_endpoint(self, name: str) -> str:
        return f"127.0.0.1:{self.plan.container(name).ports[HOST_LISTENER_PORT]}"

    def job_bootstrap(self) -> str:
        """What a job inside the VNet names: the brokers as they advertise themselves there."""
        return vnet_bootstrap(self.topology)

    @property
    def ambari_url(self) -> str:
        head = next((c for c in self.plan.containers if c.service == "ambari"), None)
        return f"http://127.0.0.1:{head.ports[AMBARI_PORT]}" if head else ""

    @property
    def ambari_password_file(self) -> Path:
        return self.run.path / "ambari-password"

    @property
    def livy_url(self) -> str:
        """Where the host reaches the head node's Livy batch API ("" without a Spark head node)."""
        head = next((c for c in self.plan.containers if c.service == "spark-master"), None)
        return f"http://127.0.0.1:{head.ports[LIVY_PORT]}" if head and head.ports.get(LIVY_PORT) else ""

    def access_notes(self) -> list[str]:
        notes = [f"in the VNet: {self.job_bootstrap()}"]
        if self.ambari_url:
            notes.append(f"Ambari REST: {self.ambari_url}/api/v1/clusters (user admin, password in {self.ambari_password_file})")
        if self.livy_url:
            head = self.topology.spark_master
            assert head is not None
            notes.append(f"Livy batches: {self.livy_url}/batches (in the VNet: http://{head.hostname}:{LIVY_PORT}/batches)")
        return notes + self.security_notes()

    # ----- lifecycle ----------------------------------------------------------------------------

    def start(self, progress: Progress = quiet) -> None:
        client = docker_client()
        images = build_images(progress, release_name=self.topology.stack.name)
        hostnet.check_subnets({v.name: v.subnet for v in self.topology.vnets}, source=f"profile {self.profile}")
        self._claim()
        password = secrets.token_urlsafe(12)
        self.ambari_password_file.write_text(password + "\n")
        self.ambari_password_file.chmod(0o600)
        data = {"cluster_id": new_cluster_id(), "ambari_password_sha256": hashlib.sha256(password.encode()).hexdigest(),
                "images": [images.kafka, images.spark]}
        self._plan = self._make_plan(data)
        self.register_clients()
        state = RunState(name=self.run.name, backend=self.backend, profile=self.profile, topology=self.topology.model_dump(mode="json"),
                         bootstrap_servers=self.bootstrap_servers, spark_master=self.spark_master, backend_data=data,
                         nodes=[self._node_state(c) for c in self.plan.containers])
        self.run.save(state)
        with self._starting(state, progress):
            self._create(client, progress)
            self._wait_ready(progress)
            self._place_head_truststore()

    # ----- the job's truststore ---------------------------------------------------------------------

    @property
    def job_security(self) -> ClientSecurity:
        """As on every backend, but with `client_truststore: head_node_only` the job names the copy on the head node."""
        security = super().job_security
        if self.topology.kafka.security.client_truststore != "head_node_only" or "ssl.truststore.location" not in security.java:
            return security
        return dataclasses.replace(security, java={**security.java, "ssl.truststore.location": HEAD_TRUSTSTORE})

    def _place_head_truststore(self) -> None:
        """Copy the run's truststore to the head node only, as a team that copied it where it submits from."""
        head = self.topology.spark_master
        if head is None or not self.topology.kafka.security.secured or self.topology.kafka.security.client_truststore != "head_node_only":
            return
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            tar.add(self.authority().truststore, arcname=PurePosixPath(HEAD_TRUSTSTORE).name)
        self.run_on(head.hostname, ["mkdir", "-p", str(PurePosixPath(HEAD_TRUSTSTORE).parent)])
        self.container(head.hostname).put_archive(str(PurePosixPath(HEAD_TRUSTSTORE).parent), archive.getvalue())

    def unreadable_truststore(self) -> str | None:
        """The Spark nodes where the job's truststore is not: executors there fail to make their Kafka consumers."""
        path = self.job_security.java.get("ssl.truststore.location")
        head = self.topology.spark_master
        if not path or head is None:
            return None
        nodes = [head, *self.topology.spark_workers]
        missing = [n.hostname for n in nodes if self.run_on(n.hostname, ["test", "-r", path]).returncode != 0]
        if not missing:
            return None
        present = [n.hostname for n in nodes if n.hostname not in missing]
        return (f"the job's truststore {path} is on {', '.join(present) or 'no Spark node'} but not on {', '.join(missing)}, where executors "
                "open their Kafka consumers (\"Failed to load SSL keystore\"). Put it at the same path on every Spark node: the cluster's "
                "shared storage, or a script action that copies it to the workers too (kafka.security.client_truststore: shared_storage)")

    def _claim(self) -> None:
        if self.run.exists() and _run_containers(self.run.name):
            raise RunStateError(f"a twin named {self.run.name!r} is already running (docker backend)",
                                hint=f"stop it with `harness down --name {self.run.name}`, or start another with `--name OTHER`")
        self.run.claim()

    def _node_state(self, container: ContainerPlan) -> NodeState:
        node = container.node
        ports = {f"host:{inner}": outer for inner, outer in container.ports.items()}
        if node.is_broker:
            ports["broker"] = vnet_broker_port(self.topology)
        if node.is_controller:
            ports["controller"] = CONTROLLER_PORT
        if node.is_zookeeper:
            ports["zookeeper"] = ZOOKEEPER_PORTS["zookeeper"]
        if container.service == "spark-master":
            ports["spark"] = SPARK_MASTER_PORT
        return NodeState(hostname=node.hostname, fqdn=node.fqdn, cluster=node.cluster, role=node.role, kafka_roles=list(node.kafka),
                         rack=node.rack, address=container.address, ports=ports, log=f"docker logs {container.name}")

    def _create(self, client: Any, progress: Progress) -> None:
        plan, labels = self.plan, {LABEL_RUN: self.run.name}
        import docker.errors
        import docker.types

        for volume in plan.volumes:
            client.volumes.create(name=volume, labels=labels)
        for net in plan.networks:
            progress(f"network {net.name}: VNet {net.vnet}, subnet {net.subnet}")
            try:
                client.networks.create(
                    net.name, driver="bridge", labels=labels, options={"com.docker.network.bridge.name": net.bridge},
                    ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=net.subnet, gateway=net.gateway)]),
                )
            except docker.errors.APIError as exc:
                raise HarnessError(f"Docker refused network {net.name} with subnet {net.subnet}", detail=str(exc),
                                   hint="another Docker network uses an overlapping subnet; `docker network ls`, or choose another "
                                        "vnets[].subnet in the profile") from None
        for a, b in plan.peerings:
            progress(f"peering VNets {a.vnet} and {b.vnet}: addresses route, names do not resolve across")
            hostnet.peer(self.run.name, a.bridge, a.subnet, b.bridge, b.subnet)
        progress(f"creating {len(plan.containers)} containers, one per node")
        for container in plan.containers:
            self._create_container(client, container)
        ensemble = [c for c in plan.containers if c.service == "zookeeper"]
        if ensemble:  # brokers on ZooKeeper give up if the ensemble is slow to form
            progress(f"starting {len(ensemble)} ZooKeeper servers")
            _start(client, ensemble)
            self.wait_zookeeper_serving(progress, guard=self._guard, timeout=READY_TIMEOUT_S * 2)
        quorum = "brokers" if ensemble else "Kafka controllers and brokers"
        progress(f"starting {quorum}, Spark master and workers, and Ambari on the Kafka head node")
        master = next((c for c in plan.containers if c.service == "spark-master"), None)
        workers = [c for c in plan.containers if c.service == "spark-worker"] if master is not None else []
        _start(client, [c for c in plan.containers if c not in ensemble and c not in workers])
        if master is not None and workers:  # a worker that finds no master retries only after about 10 s
            progress(f"waiting for the Spark master on {master.node.hostname} to answer before starting its workers")
            wait_for(lambda: _alive_workers(master.ports[SPARK_UI_PORT]) >= 0, what="the Spark master to answer before its workers start",
                     timeout=READY_TIMEOUT_S * 2, guard=self._guard, interval=0.5)
            _start(client, workers)

    def _create_container(self, client: Any, container: ContainerPlan) -> None:
        api = client.api
        host_config = api.create_host_config(
            port_bindings={f"{inner}/tcp": ("127.0.0.1", outer) for inner, outer in container.ports.items()},
            binds={src: {"bind": dst, "mode": mode} for src, (dst, mode) in container.binds.items()}
            | {volume: {"bind": path, "mode": "rw"} for volume, path in container.volumes.items()},
            extra_hosts=container.extra_hosts or None, init=True,
        )
        networking = api.create_networking_config({container.network: api.create_endpoint_config(
            ipv4_address=container.address, aliases=list(container.aliases))})
        api.create_container(
            container.image, command=list(container.command), name=container.name, hostname=container.node.hostname,
            domainname=container.node.dns_suffix, environment=container.environment, labels=container.labels(self.run.name),
            ports=[(p, "tcp") for p in container.ports], host_config=host_config, networking_config=networking, detach=True,
        )

    def stop(self) -> None:
        stop_run(self.run.name)
        self.run.mark_stopped()

    # ----- readiness ----------------------------------------------------------------------------

    def _guard(self) -> None:
        """A container that exited fails the wait at once, with its log's first errors and tail."""
        for container in _run_containers(self.run.name):
            if container.status in ("exited", "dead"):
                logs = container.logs(tail=400).decode("utf-8", "replace")
                raise NotReadyError(f"container {container.name} exited (code {container.attrs['State']['ExitCode']})",
                                    detail=excerpt(logs, 20), hint=f"`docker logs {container.name}` has the whole log")

    def _wait_ready(self, progress: Progress) -> None:
        self.wait_kafka_ready(progress, guard=self._guard, timeout=READY_TIMEOUT_S * 2)  # many containers share the CPUs
        master = next((c for c in self.plan.containers if c.service == "spark-master"), None)
        workers = [c for c in self.plan.containers if c.service == "spark-worker"]
        if master is not None and workers:
            progress(f"waiting for {len(workers)} Spark workers to register with the master on {master.node.hostname}")
            wait_for(lambda: _alive_workers(master.ports[SPARK_UI_PORT]) == len(workers), what=f"{len(workers)} Spark workers to register",
                     timeout=READY_TIMEOUT_S * 2, guard=self._guard, interval=1.0)
        ambari = next((c for c in self.plan.containers if c.service == "ambari"), None)
        if ambari is not None:
            wait_for(lambda: port_open("127.0.0.1", ambari.ports[AMBARI_PORT]), what="the Ambari endpoint", timeout=60, guard=self._guard)
        if self.livy_url:
            progress("waiting for Livy's batch API on the Spark head node")
            head = next(c for c in self.plan.containers if c.service == "spark-master")
            try:
                wait_for(lambda: _answers(f"{self.livy_url}/batches"), what=f"Livy at {self.livy_url}/batches to answer", timeout=60,
                         guard=self._guard, interval=0.5)
            except NotReadyError as exc:
                exc.hint = f"the Livy server's errors are in `docker logs {head.name}` (lines starting with livy:, or a traceback)"
                raise

    # ----- the brokers' logs (their consoles, kept by docker) -------------------------------------

    def broker_log_ends(self) -> dict[str, int]:
        return {node.hostname: len(self._console(node.hostname)) for node in self.topology.brokers}

    def broker_logs_since(self, since: Mapping[str, int] | None = None) -> dict[str, str]:
        return {node.hostname: self._console(node.hostname)[(since or {}).get(node.hostname, 0):].decode("utf-8", "replace")
                for node in self.topology.brokers}

    def _console(self, hostname: str) -> bytes:
        """A broker's whole console log; empty while its container is gone (a fault removed it, or `down` did)."""
        import docker.errors

        try:
            return bytes(self.container(hostname).logs())
        except docker.errors.NotFound:
            return b""

    # ----- single-node operations ---------------------------------------------------------------

    def container(self, name: str) -> Container:
        try:
            plan = self.plan.container(name)
        except KeyError:
            raise HarnessError(f"no node {name!r} in run {self.run.name}",
                               hint="nodes: " + ", ".join(c.node.hostname for c in self.plan.containers)) from None
        return docker_client().containers.get(plan.name)

    def stop_node(self, name: str, *, graceful: bool = True) -> None:
        container = self.container(name)
        if graceful:
            container.stop(timeout=30)
        else:
            container.kill()
        container.wait(timeout=40)

    def start_node(self, name: str) -> None:
        container = self.container(name)
        container.reload()
        if container.status == "paused":
            container.unpause()
        elif container.status != "running":
            container.start()

    def pause_node(self, name: str) -> None:
        pause_container(self.container(name), name)

    def resume_node(self, name: str) -> None:
        resume_container(self.container(name))

    def active_controller(self) -> str:
        if self.topology.stack.uses_zookeeper:
            return self.zookeeper_controller()
        best: tuple[int, int] | None = None
        for plan in self.plan.containers:
            if not plan.node.is_controller:
                continue
            container = docker_client().containers.get(plan.name)
            if container.status != "running":
                continue
            result = container.exec_run(["cat", "/var/lib/kafka/data/__cluster_metadata-0/quorum-state"])
            leader = quorum_leader(result.output.decode()) if result.exit_code == 0 else None
            if leader is not None and (best is None or leader[0] > best[0]):
                best = leader
        if best is None:
            raise HarnessError("no live controller knows a quorum leader", hint="is the controller quorum up? `harness status`")
        return self.hostname_for_id(best[1])

    # ----- network faults -------------------------------------------------------------------------

    def _pid(self, name: str) -> int:
        container = self.container(name)
        pid = int(container.attrs["State"]["Pid"])
        if not pid:
            raise HarnessError(f"{name} is not running, so its network cannot be changed")
        return pid

    def impair_network(self, name: str, *, delay_ms: int = 0, jitter_ms: int = 0, loss_pct: float = 0.0) -> None:
        pid = self._pid(name)
        self._stop_delayer(name)
        hostnet.impair(pid, loss_pct=loss_pct, delay=bool(delay_ms))
        if delay_ms:
            argv = hostnet.delayer_argv(pid, sys.executable, latency_ms=delay_ms, jitter_ms=jitter_ms)
            log = self._delayer_file(name).with_suffix(".log")
            log.unlink(missing_ok=True)
            with processes.interrupts_deferred():  # the file is what heal and down find the delayer by
                record, _ = processes.launch(f"{name}-delay", argv, log=log)
                self._delayer_file(name).write_text(json.dumps(record.to_json()))
            wait_for(lambda: "holding packets" in log.read_text(), what=f"the delayer of {name} to bind its queue", timeout=30, watch=[record])

    def _delayer_file(self, name: str) -> Path:
        directory = self.run.node_dir(self.plan.container(name).node.hostname)
        directory.mkdir(parents=True, exist_ok=True)
        return directory / "delayer.json"

    def _stop_delayer(self, name: str) -> None:
        """After the queue rule is gone (or replaced): it lets every held packet go and exits."""
        path = self._delayer_file(name)
        if path.exists():
            processes.terminate([processes.ProcessRecord.from_json(json.loads(path.read_text()))], grace=5)
            path.unlink()

    def partition(self, name: str, peers: list[str] | None = None) -> list[str]:
        """Cut a node off from the named peers (default: every other node); returns the peers cut off."""
        me = self.plan.container(name)
        others = [c for c in self.plan.containers if c.name != me.name]
        if peers is not None:
            others = [self.plan.container(p) for p in peers]
        hostnet.cut_off(self._pid(name), [c.address for c in others])
        return [c.node.hostname for c in others]

    def heal_network(self, name: str | None = None) -> None:
        for plan in self.plan.containers if name is None else [self.plan.container(name)]:
            container = docker_client().containers.get(plan.name)
            if container.status == "running":
                hostnet.reconnect(int(container.attrs["State"]["Pid"]))
            self._stop_delayer(plan.node.hostname)

    def heal(self) -> None:
        for plan in self.plan.containers:
            container = docker_client().containers.get(plan.name)
            if container.status in ("paused", "running"):  # a running one may hold processes stopped by signal
                resume_container(container)
            else:
                container.start()
        self.heal_network()
        self.wait_brokers_registered(guard=self._guard)

    # ----- the streaming job, inside the VNet -------------------------------------------------------

    def driver_launcher(self) -> _NodeDriver | None:
        head = self.topology.spark_master
        return _NodeDriver(self, head.hostname) if head is not None else None

    def spark_conf(self) -> tuple[str, dict[str, str]]:
        """A session in the harness's own process cannot join the VNet's Spark cluster (executors could not
        call it back), so it runs local[N] and reads Kafka through the host listeners."""
        return f"local[{self.topology.spark.local_cores}]", {}

    def driver_spark_conf(self) -> tuple[str | None, dict[str, str]]:
        """The driver stands on the Spark head node; executors on the workers call it back by its address."""
        return head_driver_conf(self.topology)

    def explain_job_failure(self, since: Mapping[str, int] | None = None) -> str | None:
        """What every backend can tell (refused handshakes, denied operations); then, from the Spark nodes, a
        truststore missing where executors run and broker names that do not resolve on the driver's node."""
        found = super().explain_job_failure(since) or self.unreadable_truststore()
        if found:
            return found
        head = self.topology.spark_master
        if head is None:
            return None
        unresolved = []
        for server in self.job_bootstrap().split(","):
            host = server.rsplit(":", 1)[0]
            if self.run_on(head.hostname, ["getent", "hosts", host]).returncode != 0:
                unresolved.append(host)
        if not unresolved:
            return None
        spark_vnet, kafka_vnet = head.vnet, self.topology.brokers[0].vnet
        why = f"{', '.join(unresolved)} do(es) not resolve on {head.hostname} (VNet {spark_vnet})"
        if spark_vnet != kafka_vnet:
            why += (f": the brokers are in VNet {kafka_vnet}; peered VNets route addresses but do not share DNS. Fix either way: "
                    f"give VNet {spark_vnet} custom DNS that resolves {kafka_vnet}'s names (`custom_dns: true` on vnets[{spark_vnet}]), "
                    "or make the brokers advertise IP addresses (`kafka: {advertise: ip}`)")
        return why

    # ----- commands on nodes ----------------------------------------------------------------------

    def exec_argv(self, name: str, argv: list[str], *, interactive: bool = False, env: dict[str, str] | None = None) -> list[str]:
        """`docker exec` on a node, so a script sees the node's names, addresses and resolver."""
        flags = ["-i"] + (["-t"] if interactive else [])
        for key, value in (env or {}).items():
            flags += ["-e", f"{key}={value}"]
        return ["docker", "exec", *flags, self.plan.container(name).name, *argv]

    def run_on(self, name: str, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.exec_argv(name, argv), capture_output=True, text=True, timeout=timeout, check=False)

    # ----- reporting ------------------------------------------------------------------------------

    def node_pids(self) -> list[int]:
        """Host pids of every process inside the run's containers."""
        pids = []
        for container in _run_containers(self.run.name):
            if container.status != "running":
                continue
            top = container.top()
            column = top["Titles"].index("PID")
            pids.extend(int(row[column]) for row in top["Processes"])
        return pids

    def status(self) -> list[NodeStatus]:
        running = {c.name: c for c in _run_containers(self.run.name)}
        rows = []
        for plan in self.plan.containers:
            node = plan.node
            container = running.get(plan.name)
            role = "+".join(node.kafka) if node.kafka else {"spark-master": "spark master", "spark-worker": "spark worker",
                                                            "ambari": "ambari"}.get(plan.service, f"{node.kind} {node.role} (idle)")
            port = (vnet_broker_port(self.topology) if node.is_broker else CONTROLLER_PORT if node.is_controller else ZOOKEEPER_PORTS["zookeeper"] if node.is_zookeeper
                    else SPARK_MASTER_PORT if plan.service == "spark-master" else None)
            endpoint = f"{plan.address}:{port}" if port else plan.address
            pid = int(container.attrs["State"]["Pid"]) if container and container.attrs["State"]["Pid"] else None
            rows.append(NodeStatus(node.hostname, node.fqdn, endpoint, role, node.rack, pid, container_state(container)))
        return rows


def _answers(url: str) -> bool:
    """True once an HTTP endpoint answers 200 (a published port alone accepts connections before the service listens)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own published port
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start(client: Any, containers: list[ContainerPlan]) -> None:
    """Start created containers, a few at a time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: client.api.start(c.name), containers))


def _alive_workers(ui_port: int) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:  # noqa: S310 - our own published port
        data = json.load(response)
    return sum(1 for w in data.get("workers", []) if w.get("state") == "ALIVE")


def _run_containers(run: str) -> list[Any]:
    return docker_client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run}"})


def stop_run(run: str) -> int:
    """Remove every container, network and volume labelled with the run, and its host rules; returns
    how many containers were running. Works from the labels alone, so also after a crashed harness."""
    import docker.errors

    stopping_after_interrupt()
    client = docker_client()
    containers = _run_containers(run)
    live = sum(1 for c in containers if c.status in ("running", "paused"))

    def remove(container: Any) -> None:
        try:
            if container.status == "paused":
                container.unpause()
            container.stop(timeout=15)
            container.remove(v=True, force=True)
        except docker.errors.NotFound:
            pass

    # Brokers before controllers (or ZooKeeper servers), as on the local backend, so brokers shut down cleanly.
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(remove, [c for c in containers if not _is_controller(c)]))
    _stop_quorum([c for c in containers if _is_controller(c)])
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(remove, [c for c in containers if _is_controller(c)]))
    hostnet.unpeer(run)
    for net in client.networks.list(filters={"label": f"{LABEL_RUN}={run}"}):
        net.remove()
    for volume in client.volumes.list(filters={"label": f"{LABEL_RUN}={run}"}):
        volume.remove(force=True)
    return live


def _process_roles(container: Any) -> set[str]:
    """What a Kafka node container runs: its `process.roles`, or {"zookeeper"}; empty for other nodes."""
    for item in container.attrs["Config"]["Env"] or []:
        if item.startswith("ZOOKEEPER_PROPERTIES="):
            return {"zookeeper"}
        if item.startswith("KAFKA_SERVER_PROPERTIES="):  # its first line is also the file's first line
            lines = item.removeprefix("KAFKA_SERVER_PROPERTIES=").splitlines()
            roles = next((line for line in lines if line.startswith("process.roles=")), "process.roles=")
            return {r.strip() for r in roles.split("=", 1)[1].split(",") if r.strip()}
    return set()


def _is_controller(container: Any) -> bool:
    """A KRaft controller or a ZooKeeper server: what brokers need until they have shut down."""
    return bool(_process_roles(container) & {"controller", "zookeeper"})


def _stop_quorum(controllers: list[Any]) -> None:
    """SIGTERM every controller at once and wait until they have exited; the last KRaft controller is killed
    once the others are gone and its broker side has closed its logs (see `harness.backends.rundir`: its
    leader would wait out a hand-over no voter is left to take). At most 15 s, `remove`'s grace; `remove` ends the rest."""
    import docker.errors

    running = [c for c in controllers if c.status in ("running", "paused")]
    for container in running:
        try:
            if container.status == "paused":
                container.unpause()
            container.kill(signal="SIGTERM")
        except docker.errors.APIError:
            pass  # gone already, or not running: `remove` copes

    def stopped() -> bool:
        alive = []
        for container in running:
            try:
                container.reload()
            except docker.errors.NotFound:
                continue
            if container.status == "running":
                alive.append(container)
        if len(running) > 1 and len(alive) == 1 and _only_a_handover_left(alive[0]):
            alive[0].kill()
        return not alive

    try:
        wait_for(stopped, what="the controllers to stop", timeout=15, interval=0.2)
    except NotReadyError:
        pass  # `remove` stops what is left with its own grace period, then forces it


def _only_a_handover_left(container: Any) -> bool:
    """The last running controller of a stopping quorum has nothing left to do but wait for a successor."""
    roles = _process_roles(container)
    if "controller" not in roles:
        return False  # a ZooKeeper server exits by itself
    return "broker" not in roles or BROKER_CLOSED.encode() in container.logs(tail=400)


class _NodeDriver:
    """Runs the job's driver (or a submitted application) on a Spark node with `docker exec`; a kill kills
    it inside the container too."""

    def __init__(self, deployment: DockerDeployment, node: str) -> None:
        self.deployment, self.node = deployment, node

    def argv(self, python_args: list[str]) -> list[str]:
        return self.deployment.exec_argv(self.node, ["python3", *python_args])

    def kill(self, marker: str | None = None, sig: signal.Signals = signal.SIGKILL) -> None:
        pattern = "harness.jobs.driver" if marker is None else literal_pattern(marker)
        self.deployment.run_on(self.node, ["pkill", f"-{sig.name.removeprefix('SIG')}", "-f", pattern])


def literal_pattern(text: str) -> str:
    """`text` as a pkill pattern (a POSIX extended regular expression) that matches only itself."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def pause_container(container: Container, name: str) -> None:
    """Docker's pause freezes the container's cgroup. cgroup v1's freezer gives up on a busy JVM
    ("OCI runtime pause failed: unable to freeze", seen on a loaded 2-core machine); then every process
    of the container is stopped with SIGSTOP instead, as the local backend pauses a node: to its peers
    both look the same, a host whose kernel still holds its sockets open while it answers nothing."""
    import docker.errors

    try:
        container.pause()
    except docker.errors.APIError as exc:
        if "freeze" not in str(exc):
            raise
        pids = _container_pids(container)
        if not pids:
            raise HarnessError(f"{name} is not running, so it cannot be paused") from exc
        for pid in pids:
            processes.signal_pid(pid, signal.SIGSTOP)
        wait_for(lambda: all(processes.pid_state(pid) != "running" for pid in pids),
                 what=f"every process of {name} to stop", timeout=10)


def resume_container(container: Container) -> None:
    """Undo either way of pausing: thaw a frozen container, continue its stopped processes."""
    container.reload()
    if container.status == "paused":
        container.unpause()
    for pid in _container_pids(container):
        processes.signal_pid(pid, signal.SIGCONT)


def container_state(container: Container | None) -> str:
    """Docker's state of a container, except "paused" for a running one whose processes are all stopped by
    signal: `pause_container`'s way when the freezer gives up, which Docker still calls running."""
    if container is None:
        return "removed"
    if container.status == "running":
        pids = _pids_of(container)
        if pids and all(processes.pid_state(pid) == "paused" for pid in pids):
            return "paused"
    return container.status


def _container_pids(container: Container) -> list[int]:
    """Host PIDs of a running container's processes, as of now."""
    container.reload()
    return _pids_of(container)


def _pids_of(container: Container) -> list[int]:
    """Host PIDs of the container's first process and every descendant, as its attributes last said."""
    first = int(container.attrs.get("State", {}).get("Pid") or 0)
    return processes.process_tree(first) if first else []
