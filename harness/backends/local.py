"""The embedded default: every Kafka node is its own JVM on its own loopback address.

Linux routes all of 127.0.0.0/8 to the loopback device, so each node can own an address such as
127.41.7.2 and listen on the HDInsight port 9092 there, as a separate host would, without root.
Each run picks its own 127.X.Y.0/24, which keeps two runs on one machine apart.
"""

from __future__ import annotations

import random
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.backends.base import READY_TIMEOUT_S, Deployment, NetworkControl, NodeControl, NodeStatus
from harness.backends.kafka_node import (
    BROKER_MAIN,
    CONFIG_MAIN,
    FORMAT_MAIN,
    ZOOKEEPER_MAIN,
    ZOOKEEPER_PORTS,
    KafkaNodePlan,
    jvm_command,
    local_listeners,
    logging_config,
    new_cluster_id,
    quorum_leader,
    scram_credential,
    server_properties,
    zookeeper_properties,
)
from harness.backends.class_archive import class_archives
from harness.backends.rundir import NodeState, RunDir, RunState, all_runs
from harness.backends.spark_node import master_command, spark_env, worker_command, worker_resources
from harness.dist.artifacts import kafka_classpath
from harness.dist.java import find_java
from harness.errors import HarnessError, NotReadyError
from harness.kafka.security import SCRAM_MECHANISM
from harness.runtime import processes
from harness.runtime.faultproxy import Impairment
from harness.runtime.private import write_secret
from harness.runtime.readiness import Progress, free_port, port_free, port_open, quiet, wait_for
from harness.topology.model import Topology



PROXY_SUFFIX = "~proxy"


class LocalDeployment(Deployment):
    backend = "local"

    def __init__(self, topology: Topology, run: RunDir, profile: str) -> None:
        super().__init__(topology, run, profile)
        self._plans: dict[str, KafkaNodePlan] = {}
        self._archives: dict[str, Path] = {}  # main class -> class-data-sharing archive (harness.backends.class_archive)

    # ----- construction -------------------------------------------------------------------

    @classmethod
    def attach(cls, run: RunDir) -> LocalDeployment:
        """Rebuild a handle on a twin that another process (`harness up`) started."""
        state = run.load()
        deployment = cls(Topology.model_validate(state.topology), run, state.profile)
        deployment._plans = {p.node.hostname: p for p in deployment._plan(state)}
        deployment.register_clients()
        return deployment

    # ----- lifecycle ----------------------------------------------------------------------

    def start(self, progress: Progress = quiet) -> None:
        java = find_java()
        stack = self.topology.stack
        progress(f"release {stack.title}; resolving its Kafka jars (first run only)")
        classpath = kafka_classpath(stack.name)
        self._archives = class_archives(stack, java.executable, classpath, progress)
        self.run.claim()
        state = RunState(
            name=self.run.name, backend=self.backend, profile=self.profile,
            topology=self.topology.model_dump(mode="json"),
        )
        plans = self._plan(None)
        self._plans = {p.node.hostname: p for p in plans}
        self.register_clients()
        state.nodes = [self._node_state(p) for p in plans]
        state.bootstrap_servers = self.bootstrap_servers
        self.run.save(state)
        with self._starting(state, progress):
            self._configure(plans, java.executable, classpath, progress)
            for plan, node_state in zip(plans, state.nodes):
                node_state.command = self._kafka_command(plan, java.executable, classpath)
                node_state.log = str(plan.log_dir / "server.log")
            spark_nodes = self._plan_spark(plans[0].address.rsplit(".", 1)[0], len(plans), java.home) if self.topology.spark.mode == "standalone" else []
            state.nodes.extend(spark_nodes)
            state.nodes[:0] = [self._proxy_state(p) for p in plans if p.bind_port]  # up before the brokers advertise them
            state.spark_master = self._master_url(spark_nodes)
            progress(f"starting {len(plans)} Kafka JVMs" + (f" and {len(spark_nodes)} Spark JVMs" if spark_nodes else "")
                     + f" on {plans[0].address.rsplit('.', 1)[0]}.x")
            ensemble = [n for n in state.nodes if n.ports.get("zookeeper")]
            for node_state in ensemble:  # brokers on ZooKeeper give up if the ensemble is slow to form
                self._spawn(state, node_state)
            if ensemble:
                self.wait_zookeeper_serving(progress, watch=[n.process for n in ensemble if n.process])
                if self.topology.kafka.security.sasl:
                    self._add_scram_users_to_zookeeper(ensemble[0], java.executable, classpath, progress)
            spark_workers = [n for n in spark_nodes if n.role != "head"]
            for node_state in state.nodes:
                if node_state.process is None and node_state not in spark_workers:
                    self._spawn(state, node_state)
            if spark_workers:  # a worker that finds no master retries only after about 10 s
                self._wait_spark_master(state, progress)
                for node_state in spark_workers:
                    self._spawn(state, node_state)
            self._wait_ready(state, progress)
            if spark_nodes:
                self._wait_spark(state, progress)

    def stop(self) -> None:
        self.run.stop_all()

    # ----- planning -----------------------------------------------------------------------

    def _plan(self, state: RunState | None) -> list[KafkaNodePlan]:
        """Node ids, addresses and ports: reused from the state file, or chosen fresh and bind-tested."""
        nodes, kafka = self.topology.kafka_nodes, self.topology.kafka
        security = kafka.security
        known = {n.hostname: n for n in state.nodes} if state else {}
        prefix = None if state else _pick_address_prefix()
        plans = []
        for number, node in enumerate(nodes, start=1):
            node_dir = self.run.node_dir(node.hostname)
            if node.hostname in known:
                saved = known[node.hostname]
                address, ports = saved.address, saved.ports
            else:
                address = f"{prefix}.{number + 1}"
                ports = _free_ports(address, node.is_broker, node.is_controller, security.tls_port if security.secured else kafka.broker_port)
                if node.is_broker and kafka.fault_proxy:
                    ports["listener"] = free_port(address)
                if node.is_broker and security.secured and security.plaintext_listener:
                    ports["plaintext"] = _preferred_port(address, kafka.broker_port)
                if node.is_zookeeper:
                    ports.update({name: _preferred_port(address, port) for name, port in ZOOKEEPER_PORTS.items()})
            plans.append(
                KafkaNodePlan(
                    node=node, node_id=number, address=address,
                    broker_port=ports.get("broker"), controller_port=ports.get("controller"), bind_port=ports.get("listener"),
                    zookeeper_ports={name: ports[name] for name in ZOOKEEPER_PORTS} if node.is_zookeeper else None,
                    data_dir=node_dir / "data", log_dir=node_dir / "logs",
                    tls=self.broker_tls(node, [address]) if node.is_broker and security.secured else None,
                    plaintext_port=ports.get("plaintext"),
                    sasl=self.broker_sasl() if security.sasl and not node.is_zookeeper else None,
                )
            )
        return plans

    def _node_state(self, plan: KafkaNodePlan) -> NodeState:
        ports = {k: v for k, v in (("broker", plan.broker_port), ("controller", plan.controller_port), ("listener", plan.bind_port),
                                   ("plaintext", plan.plaintext_port)) if v}
        ports.update(plan.zookeeper_ports or {})
        node = plan.node
        return NodeState(
            hostname=node.hostname, fqdn=node.fqdn, cluster=node.cluster, role=node.role,
            kafka_roles=list(node.kafka), rack=node.rack, address=plan.address, ports=ports,
        )

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(p.broker_endpoint for p in self._plans.values() if p.node.is_broker)

    # ----- processes ----------------------------------------------------------------------

    def _config_path(self, plan: KafkaNodePlan) -> Path:
        return self.run.node_dir(plan.node.hostname) / "server.properties"

    def _log_config(self, plan: KafkaNodePlan) -> Path:
        return plan.log_dir / logging_config(self.topology.stack.kafka_logging)[0]

    def _configure(self, plans: list[KafkaNodePlan], java: Path, classpath: str, progress: Progress) -> None:
        """Every node's configuration and logging files; on KRaft also its formatted storage, on
        ZooKeeper each server's `myid`."""
        quorum = [p for p in plans if p.node.is_quorum]
        ensemble = [(p.node_id, p.address, p.zookeeper_ports) for p in quorum if p.zookeeper_ports]
        for plan in plans:
            plan.log_dir.mkdir(parents=True, exist_ok=True)
            self._log_config(plan).write_text(logging_config(self.topology.stack.kafka_logging)[1])
            if plan.node.is_zookeeper:
                plan.data_dir.mkdir(parents=True, exist_ok=True)
                (plan.data_dir / "myid").write_text(f"{plan.node_id}\n")
                self._config_path(plan).write_text(zookeeper_properties(plan, ensemble))
            else:
                write_secret(self._config_path(plan), server_properties(plan, self.topology, local_listeners(plan, quorum)).encode())  # may hold store passwords
        if not self.topology.stack.uses_zookeeper:
            progress(f"formatting KRaft storage on {len(plans)} nodes")
            self._format(plans, java, classpath)

    def _format(self, plans: list[KafkaNodePlan], java: Path, classpath: str) -> None:
        cluster_id = new_cluster_id()

        users = self.scram_users() if self.topology.kafka.security.sasl else {}  # KRaft keeps SCRAM users in the metadata it formats
        scram = [arg for name, password in users.items() for arg in ("--add-scram", scram_credential(name, password))]

        def format_one(plan: KafkaNodePlan) -> None:
            argv = jvm_command(
                java, classpath, FORMAT_MAIN, "format", "-t", cluster_id, "-c", str(self._config_path(plan)), *scram,
                heap_mb=256, log_dir=plan.log_dir, log4j=self._log_config(plan), class_archive=self._archives.get(FORMAT_MAIN),
            )
            try:
                processes.run_tool(argv, what=f"formatting KRaft storage of {plan.node.hostname}", secrets=users.values())
            except HarnessError as exc:
                exc.hint = f"the node's configuration is {self._config_path(plan)}; `kafka.server_properties` in the profile adds to it"
                raise

        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            list(pool.map(format_one, plans))

    def _add_scram_users_to_zookeeper(self, server: NodeState, java: Path, classpath: str, progress: Progress) -> None:
        """On a ZooKeeper release SCRAM credentials live in ZooKeeper, and brokers need theirs before they
        start: Kafka 3.2's own `kafka-configs --zookeeper` writes them, one user per call."""
        users = self.scram_users()
        progress(f"adding {len(users)} SCRAM users to ZooKeeper")
        log_dir = self.run.path / "tools"  # the tool's own log, beside (not inside) the ZooKeeper server's
        log_dir.mkdir(parents=True, exist_ok=True)
        log4j_name, log4j_text = logging_config(self.topology.stack.kafka_logging)
        (log_dir / log4j_name).write_text(log4j_text)

        def add(name: str, password: str) -> None:
            argv = jvm_command(java, classpath, CONFIG_MAIN, "--zookeeper", f"{server.address}:{server.ports['zookeeper']}", "--alter",
                               "--add-config", f"{SCRAM_MECHANISM}=[iterations=4096,password={password}]", "--entity-type", "users",
                               "--entity-name", name, heap_mb=256, log_dir=log_dir, log4j=log_dir / log4j_name)
            processes.run_tool(argv, what=f"adding SCRAM user {name} to ZooKeeper", secrets=[password])

        with ThreadPoolExecutor(max_workers=len(users)) as pool:
            list(pool.map(lambda item: add(*item), users.items()))

    def _kafka_command(self, plan: KafkaNodePlan, java: Path, classpath: str) -> list[str]:
        if plan.node.is_zookeeper:  # ZooKeeper's jars are in Kafka 3.2's closure; a small heap is plenty for a twin
            return jvm_command(java, classpath, ZOOKEEPER_MAIN, str(self._config_path(plan)), heap_mb=256, log_dir=plan.log_dir,
                               log4j=self._log_config(plan), class_archive=self._archives.get(ZOOKEEPER_MAIN))
        return jvm_command(
            java, classpath, BROKER_MAIN, str(self._config_path(plan)),
            heap_mb=self.topology.kafka.heap_mb, log_dir=plan.log_dir, log4j=self._log_config(plan), class_archive=self._archives.get(BROKER_MAIN),
        )

    def _spawn(self, state: RunState, node: NodeState) -> None:
        """Every node, Kafka or Spark, starts (and restarts) from the command its state records, and is in the
        state file before an interrupt can act: the stop after Ctrl-C finds what to stop only there."""
        with processes.interrupts_deferred():
            node.process, _ = processes.launch(node.hostname, node.command, log=Path(node.log), env=node.env)
            self.run.save(state)

    def _wait_ready(self, state: RunState, progress: Progress) -> None:
        """Ready = every broker registered and a probe topic on all brokers fully in sync."""
        procs = state.processes()
        brokers = [p for p in self._plans.values() if p.node.is_broker]
        progress(f"waiting for {len(brokers)} broker listeners")
        for plan in brokers:
            wait_for(lambda plan=plan: port_open(plan.address, plan.broker_port), what=f"{plan.node.hostname} to listen on {plan.broker_endpoint}", timeout=READY_TIMEOUT_S, watch=procs)
        self.wait_kafka_ready(progress, watch=procs)

    # ----- fault proxies (kafka.fault_proxy) -----------------------------------------------

    def _proxy_state(self, plan: KafkaNodePlan) -> NodeState:
        node, control = plan.node, self._proxy_control(plan.node.hostname)
        Impairment().write(control)
        return NodeState(
            hostname=f"{node.hostname}{PROXY_SUFFIX}", fqdn="", cluster=node.cluster, role="proxy", kafka_roles=[], rack=None,
            address=plan.address, ports={"proxy": plan.broker_port},  # type: ignore[dict-item]
            command=[sys.executable, "-m", "harness.runtime.faultproxy", plan.address, str(plan.broker_port), plan.address,
                     str(plan.bind_port), str(control)],
            log=str(plan.log_dir / "proxy.log"),
        )

    def _proxy_control(self, hostname: str) -> Path:
        return self.run.node_dir(hostname) / "proxy.json"

    def node_control(self) -> NodeControl:
        return self

    def network_control(self) -> NetworkControl | None:
        """Only through the brokers' fault proxies (`kafka: {fault_proxy: true}`): delay and cut, no loss, no peers."""
        return self if self.topology.kafka.fault_proxy else None

    def _impairment(self, name: str) -> tuple[Path, Impairment]:
        node = self.topology.node(name)
        control = self._proxy_control(node.hostname)
        if not (self.topology.kafka.fault_proxy and node.is_broker and control.exists()):
            raise HarnessError(f"{name} has no fault proxy: on the local backend only brokers' listeners can go through one "
                               "(`kafka: {fault_proxy: true}` in the profile)", hint="for every node and link, use --backend docker")
        return control, Impairment.read(control)

    def impair_network(self, name: str, *, delay_ms: int = 0, jitter_ms: int = 0, loss_pct: float = 0.0) -> None:
        if loss_pct:
            raise HarnessError("the local backend's fault proxy forwards a byte stream; it cannot drop packets", hint="use --backend docker")
        control, impairment = self._impairment(name)
        impairment.delay_ms, impairment.jitter_ms = delay_ms, jitter_ms
        impairment.apply(control)

    def partition(self, name: str, peers: list[str] | None = None) -> list[str]:
        """Cut off what reaches the broker's listener (clients and followers); its own outbound links stay."""
        if peers:
            raise HarnessError("the local backend's fault proxy cannot tell peers apart (all connect from 127.0.0.1)",
                               hint="partition from every peer (no --peers), or use --backend docker")
        control, impairment = self._impairment(name)
        impairment.cut = True
        impairment.apply(control)
        return [n.hostname for n in self.topology.kafka_nodes if n.hostname != name]

    def heal_network(self, name: str | None = None) -> None:
        if not self.topology.kafka.fault_proxy:
            return
        for node in self.topology.brokers if name is None else [self.topology.node(name)]:
            control = self._proxy_control(node.hostname)
            if control.exists():
                Impairment().apply(control)

    # ----- Spark standalone ---------------------------------------------------------------

    def _plan_spark(self, prefix: str, taken: int, java_home: Path) -> list[NodeState]:
        """A master on the first Spark head node and a worker per Spark worker node, each on its own address."""
        master = self.topology.spark_master
        if master is None or not self.topology.spark_workers:
            raise HarnessError("spark.mode is standalone but the profile has no Spark head and worker nodes",
                               hint="add a spark cluster with a head and worker nodes, or set spark.mode: local")
        nodes: list[NodeState] = []
        address = f"{prefix}.{taken + 2}"
        ports = {"spark": _preferred_port(address, 7077), "ui": _preferred_port(address, 8080)}
        master_url = f"spark://{address}:{ports['spark']}"
        nodes.append(self._spark_state(master, address, ports, master_command(self._spark_home, address, ports["spark"], ports["ui"]), java_home))
        for number, worker in enumerate(self.topology.spark_workers, start=taken + 3):
            address = f"{prefix}.{number}"
            ports = {"spark": free_port(address), "ui": _preferred_port(address, 8081)}
            resources = worker_resources(worker, self.topology.spark)
            work_dir = self.run.node_dir(worker.hostname) / "work"
            nodes.append(self._spark_state(worker, address, ports, worker_command(self._spark_home, master_url, address, ports["spark"], ports["ui"], resources, work_dir), java_home))
        return nodes

    @property
    def _spark_home(self) -> Path:
        from harness.dist.spark import spark_runtime

        return spark_runtime(self.topology.stack.name).home

    def _spark_state(self, node, address: str, ports: dict[str, int], command: list[str], java_home: Path) -> NodeState:  # noqa: ANN001
        log_dir = self.run.node_dir(node.hostname) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        return NodeState(hostname=node.hostname, fqdn=node.fqdn, cluster=node.cluster, role=node.role, kafka_roles=[], rack=node.rack,
                         address=address, ports=ports, command=command, env=spark_env(self._spark_home, address, java_home, log_dir), log=str(log_dir / "spark.log"))

    @staticmethod
    def _master_url(nodes: list[NodeState]) -> str:
        return f"spark://{nodes[0].address}:{nodes[0].ports['spark']}" if nodes else ""

    @staticmethod
    def _wait_spark_master(state: RunState, progress: Progress) -> None:
        """The master answering on its UI (after its RPC endpoint is up): workers started before it find no
        master and wait out Spark's registration retry, about 10 s."""
        master = next(n for n in state.nodes if n.ports.get("spark") and n.role == "head")
        progress("waiting for the Spark master to answer before starting its workers")
        wait_for(lambda: _spark_master_json(master) is not None, what=f"the Spark master to answer on {master.address}:{master.ports['ui']}",
                 timeout=READY_TIMEOUT_S, watch=[master.process] if master.process else [])

    def _wait_spark(self, state: RunState, progress: Progress) -> None:
        """Ready = the master answers and every worker is registered ALIVE with it."""
        master = next(n for n in state.nodes if n.ports.get("spark") and n.role == "head")
        workers = len(self.topology.spark_workers)
        progress(f"waiting for {workers} Spark workers to register with the master at {state.spark_master}")

        def alive() -> bool:
            data = _spark_master_json(master)
            return sum(1 for w in data.get("workers", []) if w.get("state") == "ALIVE") == workers

        wait_for(alive, what=f"{workers} Spark workers to register", timeout=READY_TIMEOUT_S, watch=[n.process for n in state.nodes if n.process])

    @property
    def spark_master(self) -> str:
        return self.run.load().spark_master if self.run.exists() else ""

    # ----- single-node operations ---------------------------------------------------------

    def _find(self, name: str) -> tuple[RunState, NodeState]:
        state = self.run.load()
        for node in state.nodes:
            if name in (node.hostname, node.fqdn):
                return state, node
        raise HarnessError(f"no Kafka node {name!r} in run {self.run.name}", hint="nodes: " + ", ".join(n.hostname for n in state.nodes))

    def stop_node(self, name: str, *, graceful: bool = True) -> None:
        _, node = self._find(name)
        if node.process is None:
            return
        if graceful:
            processes.terminate([node.process], grace=30.0)
        else:
            processes.send(node.process, signal.SIGKILL)
            wait_for(lambda: not processes.is_alive(node.process), what=f"{name} to die", timeout=10)
            processes.reap(node.process)

    def start_node(self, name: str) -> None:
        state, node = self._find(name)
        if node.process is not None and processes.is_alive(node.process):
            return
        self._spawn(state, node)
        port = node.ports.get("broker") or node.ports.get("spark") or node.ports.get("zookeeper")
        if port:
            wait_for(lambda: port_open(node.address, port), what=f"{name} to listen again", timeout=READY_TIMEOUT_S, watch=[node.process])

    def pause_node(self, name: str) -> None:
        _, node = self._find(name)
        if node.process is None or not processes.send(node.process, signal.SIGSTOP):
            raise HarnessError(f"{name} is not running, so it cannot be paused")
        wait_for(lambda: processes.state_of(node.process) == "paused", what=f"{name} to stop", timeout=10)

    def resume_node(self, name: str) -> None:
        _, node = self._find(name)
        if node.process is not None:
            processes.send(node.process, signal.SIGCONT)
            wait_for(lambda: processes.state_of(node.process) != "paused", what=f"{name} to resume", timeout=10)

    def active_controller(self) -> str:
        """KRaft: the quorum leader as the live controllers record it in their `quorum-state` files;
        ZooKeeper: the broker that holds the controller role, as the cluster's metadata names it."""
        if self.topology.stack.uses_zookeeper:
            return self.zookeeper_controller()
        best: tuple[int, int] | None = None
        state = self.run.load()
        for node in state.nodes:
            plan = self._plans.get(node.hostname)  # Spark nodes and fault proxies have no Kafka plan
            if plan is None or not plan.node.is_controller or node.process is None or processes.state_of(node.process) != "running":
                continue
            try:
                leader = quorum_leader((plan.data_dir / "__cluster_metadata-0" / "quorum-state").read_text())
            except OSError:
                continue
            if leader is not None and (best is None or leader[0] > best[0]):
                best = leader
        if best is None:
            raise HarnessError("no live controller knows a quorum leader", hint="is the controller quorum up? `harness status`")
        return self.hostname_for_id(best[1])

    def heal(self) -> None:
        state = self.run.load()
        for node in state.nodes:
            if node.process is None:
                continue
            current = processes.state_of(node.process)
            if current == "paused":
                processes.send(node.process, signal.SIGCONT)
            elif current == "exited":
                self.start_node(node.hostname)
        self.heal_network()
        self.wait_brokers_registered()

    # ----- reporting ----------------------------------------------------------------------

    def status(self) -> list[NodeStatus]:
        state = self.run.load()
        by_host = {n.hostname: n for n in state.nodes}
        rows = []
        for node in self.topology.nodes:
            saved = by_host.get(node.hostname)
            role = "+".join(node.kafka) if node.kafka else f"{node.kind} {node.role}"
            if saved is None:
                where = "local Spark session" if node.kind == "spark" else "-"
                if node.kind == "spark" and self.topology.spark.mode == "standalone":
                    where = "-"
                rows.append(NodeStatus(node.hostname, node.fqdn, where, role, node.rack, None, "described"))
                continue
            port = saved.ports.get("broker") or saved.ports.get("controller") or saved.ports.get("zookeeper") or saved.ports.get("spark")
            if node.kind == "spark":
                role = "spark master" if node.role == "head" else "spark worker"
            proc = saved.process
            rows.append(
                NodeStatus(
                    node.hostname, node.fqdn, f"{saved.address}:{port}", role, node.rack,
                    proc.pid if proc else None, processes.state_of(proc) if proc else "not started",
                )
            )
        return rows


def _pick_address_prefix() -> str:
    """A 127.X.Y prefix no other recorded run uses; bind tests catch anything else."""
    taken = set()
    for run in all_runs():
        try:
            state = run.load()
        except HarnessError:
            continue
        taken.update(n.address.rsplit(".", 1)[0] for n in state.nodes)
    rng = random.Random()
    for _ in range(200):
        prefix = f"127.{rng.randint(16, 250)}.{rng.randint(1, 250)}"
        if prefix not in taken:
            return prefix
    raise NotReadyError("could not find a free 127.X.Y.0/24 block for this run", hint="`harness down --all` to clear stale runs")


def _preferred_port(address: str, preferred: int) -> int:
    return preferred if port_free(address, preferred) else free_port(address)


def _free_ports(address: str, broker: bool, controller: bool, preferred: int) -> dict[str, int]:
    """The HDInsight port (9092) when it is free on this node's address, otherwise any free one."""
    ports: dict[str, int] = {}
    if broker:
        ports["broker"] = preferred if port_free(address, preferred) else free_port(address)
    if controller:
        candidate = preferred + 1
        if not port_free(address, candidate) or candidate in ports.values():
            candidate = free_port(address)
        ports["controller"] = candidate
    return ports


def _spark_master_json(master: NodeState) -> dict[str, Any]:
    """The standalone master's state from its UI's JSON endpoint."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://{master.address}:{master.ports['ui']}/json/", timeout=2) as response:  # noqa: S310 - our own loopback master
        return dict(json.load(response))
