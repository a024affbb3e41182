"""What every backend offers (realise a topology, report on it), and the capabilities some add.

A backend that can break and mend its nodes offers `NodeControl`; one whose nodes sit in network
namespaces of their own offers `NetworkControl`; one whose nodes are containers offers `NodeShell`.
Callers ask (`deployment.node_control()` is None on the external backend) instead of calling and
catching a refusal, in the spirit of Jepsen's small per-node capability protocols.
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from harness.backends.rundir import RunDir, RunState
from harness.kafka import security
from harness.kafka.security import ClientSecurity, client_security
from harness.runtime.processes import ProcessRecord
from harness.runtime.readiness import Progress, quiet
from harness.topology.model import Topology

if TYPE_CHECKING:
    from harness.backends.kafka_node import BrokerTls
    from harness.runtime.pki import RunAuthority
    from harness.topology.model import Node

READY_TIMEOUT_S = 120.0
PROBE_TOPIC = "__harness_ready_probe"


class DriverLauncher(Protocol):
    """Where a streaming job's driver process runs: on a node of the twin (docker backend)."""

    def argv(self, python_args: list[str]) -> list[str]:
        """The command line that runs `python <python_args>` there."""

    def kill(self, marker: str | None = None, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill -9 (or `sig`) the driver there, or every process there whose command line names `marker`
        (a submitted application's work directory); killing the local `docker exec` client alone would not."""


class NodeControl(Protocol):
    """Break and mend single nodes: what kill/stop/pause/resume/start/restart faults need."""

    def stop_node(self, name: str, *, graceful: bool = True) -> None: ...

    def start_node(self, name: str) -> None: ...

    def pause_node(self, name: str) -> None: ...

    def resume_node(self, name: str) -> None: ...

    def active_controller(self) -> str:
        """Host name of the controller quorum's current leader."""


class NetworkControl(Protocol):
    """Impair a node's links: what partition/delay/loss/heal faults need."""

    def impair_network(self, name: str, *, delay_ms: int = 0, jitter_ms: int = 0, loss_pct: float = 0.0) -> None: ...

    def partition(self, name: str, peers: list[str] | None = None) -> list[str]: ...

    def heal_network(self, name: str | None = None) -> None: ...


class NodeShell(Protocol):
    """Run a command on a node, with its names, addresses and resolver."""

    def exec_argv(self, name: str, argv: list[str], *, interactive: bool = False, env: dict[str, str] | None = None) -> list[str]: ...


@dataclass(frozen=True)
class NodeStatus:
    hostname: str
    fqdn: str
    endpoint: str
    role: str
    rack: str | None
    pid: int | None
    state: str


PKI_DIR = "pki"
"""The run directory's CA, broker and client identities (0700; keys 0600)."""


class Deployment(abc.ABC):
    """A running (or startable) twin of one topology."""

    backend: str

    def __init__(self, topology: Topology, run: RunDir, profile: str) -> None:
        self.topology = topology
        self.run = run
        self.profile = profile

    @property
    @abc.abstractmethod
    def bootstrap_servers(self) -> str: ...

    def broker_count(self) -> int:
        return len(self.topology.brokers)

    @property
    def spark_master(self) -> str:
        """`spark://host:port` of the twin's standalone master, or "" when Spark runs as local[N]."""
        return ""

    def spark_conf(self) -> tuple[str, dict[str, str]]:
        """The master URL and executor settings a SparkSession on this twin should use."""
        settings = self.topology.spark
        if not self.spark_master:
            return f"local[{settings.local_cores}]", {}
        from harness.backends.spark_node import executor_conf

        return self.spark_master, executor_conf(self.topology.spark_workers, settings)

    def node_pids(self) -> list[int]:
        """Host pids of the twin's node processes (for memory accounting)."""
        return [p.pid for p in self.state().live_processes()]

    # ----- security ----------------------------------------------------------------------------

    def authority(self) -> RunAuthority:
        """The run's own CA (made on first use, in the run directory: `down --purge` removes it)."""
        from harness.runtime.pki import RunAuthority  # `cryptography`: not in a node's Python, whose driver imports this module

        return RunAuthority(self.run.path / PKI_DIR)

    def broker_tls(self, node: Node, addresses: Sequence[str]) -> BrokerTls:
        """A broker's TLS identity from the run's CA (issued on first use, reused when attached): the names a
        team's CA puts in it (FQDN and short name) and the addresses clients here connect by."""
        from harness.backends.kafka_node import BrokerTls

        authority = self.authority()
        identity = authority.identity(node.hostname) or authority.issue_server(node.hostname, dns_names=[node.fqdn, node.hostname],
                                                                               addresses=list(addresses))
        return BrokerTls(identity.keystore, authority.password(node.hostname), authority.truststore, authority.password("truststore"),
                         client_auth=self.topology.kafka.security.protocol == "mtls")

    @property
    def client_security(self) -> ClientSecurity:
        """How the harness's clients and jobs reach this twin: plaintext, or the run's CA (and under mTLS
        the harness's client certificate)."""
        protocol = self.topology.kafka.security.protocol
        return client_security(self.authority() if protocol != "plaintext" else None, protocol)

    def register_clients(self) -> None:
        """Every client this process makes for one of the twin's brokers uses its security from now on."""
        if self.topology.kafka.security.secured:
            security.register(self.bootstrap_servers.split(","), self.client_security)

    def client_endpoint(self, name: str) -> str:
        """Where a client on this machine reaches one broker (its entry in `bootstrap_servers`)."""
        node = next(n for n in self.state().nodes if name in (n.hostname, n.fqdn))
        return f"{node.address}:{node.ports['broker']}"

    def job_bootstrap(self) -> str:
        """The bootstrap servers a streaming job in the Spark cluster names (the docker backend: broker FQDNs)."""
        return self.bootstrap_servers

    def driver_launcher(self) -> DriverLauncher | None:
        """Where a scenario's driver process runs: None means on this machine (or in the harness's own session)."""
        return None

    def driver_spark_conf(self) -> tuple[str | None, dict[str, str]]:
        """Master and settings for a driver process; None means local[N] in that process."""
        return None, {}

    def explain_job_failure(self) -> str | None:
        """Why a streaming job in this twin may have failed or stalled, if the twin can tell."""
        return self.refused_handshakes()

    def refused_handshakes(self, since: Mapping[str, int] | None = None) -> str | None:
        """On a secured twin, the TLS handshakes its brokers refused (after the log positions `since`, from
        `broker_log_ends`), as their logs record them: what a job that speaks plaintext to the TLS listener,
        or does not trust the run's CA, or (mTLS) presents no certificate, leaves while it retries."""
        if not self.topology.kafka.security.secured:
            return None
        refusals, last = 0, ""
        for hostname, log in self._broker_logs().items():
            lines = [line for line in _read_from(log, (since or {}).get(log, 0)).splitlines() if "Failed authentication with" in line]
            refusals += len(lines)
            last = f"{hostname}: {lines[-1][lines[-1].index('Failed authentication'):]}" if lines else last
        if not refusals:
            return None
        return (f"the brokers refused {refusals} TLS handshake(s) (last, {last}): a client spoke plaintext to the TLS listener, "
                "did not trust the run's CA" + (", or presented no client certificate" if self.topology.kafka.security.protocol == "mtls" else "")
                + ". Give the job the twin's client settings: kafka.security.protocol=SSL and kafka.ssl.truststore.* (`harness status` "
                "prints them); a submitted application gets them as {client_properties}")

    def broker_log_ends(self) -> dict[str, int]:
        """Where each broker's log ends now: what is written after these belongs to what runs next."""
        ends = {}
        for log in self._broker_logs().values():
            with contextlib.suppress(OSError):
                ends[log] = os.path.getsize(log)
        return ends

    def _broker_logs(self) -> dict[str, str]:
        """Host name -> log file of each broker whose log is a file here (the local backend's)."""
        return {n.hostname: n.log for n in self.state().nodes if n.log and self.is_broker(n.hostname)}

    def access_notes(self) -> list[str]:
        """Extra lines for `harness status`: endpoints beyond the bootstrap servers, how to connect securely."""
        return self.security_notes()

    def security_notes(self) -> list[str]:
        """A secured twin's client settings, as a team writes them into its job: store passwords stay in
        the run's 0600 file, named here, never printed."""
        settings = self.topology.kafka.security
        if not settings.secured:
            return []
        from harness.runtime.pki import PASSWORDS_FILE

        authority, client = self.authority(), self.client_security
        passwords = authority.directory / PASSWORDS_FILE

        secret_names = {value: name for name, value in client.secrets.items()}

        def shown(options: dict[str, str]) -> str:
            return " ".join(f"{k}=<\"{secret_names[v]}\" in {passwords}>" if v in secret_names else f"{k}={v}" for k, v in options.items())
        notes = [f"security: {settings.protocol.upper()} with the run's own CA ({authority.certificate})"
                 + ("; a client certificate is required (CN=harness is the harness's)" if settings.protocol == "mtls" else "")]
        notes.append(f"  confluent-kafka: {shown(dict(client.librdkafka))}")
        notes.append(f"  Spark: {shown(client.spark_options())}")
        if settings.plaintext_listener:
            notes.append(f"  plaintext listener open beside TLS on port {self.topology.kafka.broker_port}: anyone who reaches it needs no certificate")
        return notes

    @abc.abstractmethod
    def start(self, progress: Progress = quiet) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def status(self) -> list[NodeStatus]: ...

    def node_control(self) -> NodeControl | None:
        """The nodes' kill/stop/pause switch, where the harness owns the nodes."""
        return None

    def network_control(self) -> NetworkControl | None:
        """Network faults, where each node's links can be impaired."""
        return None

    def node_shell(self) -> NodeShell | None:
        """Commands on a node, where nodes are containers with their own names and resolver."""
        return None

    @abc.abstractmethod
    def heal(self) -> None:
        """Resume paused and start stopped nodes, and wait until every broker is back."""

    def node_id(self, name: str) -> int:
        for number, node in enumerate(self.topology.kafka_nodes, start=1):
            if name in (node.hostname, node.fqdn):
                return number
        raise KeyError(f"no Kafka node {name!r}")

    def hostname_for_id(self, node_id: int) -> str:
        nodes = self.topology.kafka_nodes
        if not 1 <= node_id <= len(nodes):
            raise KeyError(f"no Kafka node with id {node_id}")
        return nodes[node_id - 1].hostname

    def is_broker(self, name: str) -> bool:
        return self.topology.node(name).is_broker

    def wait_kafka_ready(self, progress: Progress, *, watch: Sequence[ProcessRecord] = (), guard: Callable[[], None] | None = None,
                         timeout: float = READY_TIMEOUT_S) -> None:
        """Ready, on every backend: every broker registered with the quorum, and a probe topic
        replicated to all brokers fully in sync (replication works between every pair)."""
        from harness.kafka import admin

        brokers = self.broker_count()
        quorum = "ZooKeeper" if self.topology.stack.uses_zookeeper else "the controller quorum"
        progress(f"waiting for {brokers} brokers to register with {quorum}")
        self.wait_brokers_registered(timeout=timeout, watch=watch, guard=guard)
        progress("probing replication across all brokers")
        admin.create_topic(self.bootstrap_servers, PROBE_TOPIC, partitions=brokers, replication_factor=brokers, timeout=timeout, exist_ok=True)
        admin.delete_topic(self.bootstrap_servers, PROBE_TOPIC)

    def zookeeper_modes(self) -> dict[str, str | None]:
        """Each ZooKeeper server's own word on its role (`leader`, `follower`), None while it does not serve."""
        from harness.runtime.readiness import zookeeper_mode

        return {n.hostname: zookeeper_mode(n.address, n.ports["zookeeper"]) for n in self.state().nodes if n.ports.get("zookeeper")}

    def wait_zookeeper_serving(self, progress: Progress, *, watch: Sequence[ProcessRecord] = (), guard: Callable[[], None] | None = None,
                               timeout: float = READY_TIMEOUT_S) -> None:
        """Ready = every ZooKeeper server serves, as leader or follower (a fact each one states); brokers
        started before that give up on a slow ensemble."""
        from harness.runtime.readiness import wait_for

        modes: dict[str, str | None] = {}

        def serving() -> bool:
            modes.update(self.zookeeper_modes())
            return bool(modes) and all(modes.values())

        progress(f"waiting for the ZooKeeper ensemble of {len(self.topology.zookeepers)} servers to elect a leader")
        wait_for(serving, what="every ZooKeeper server to serve", timeout=timeout, watch=watch, guard=guard,
                 last_seen=lambda: ", ".join(f"{h} {m or 'not serving'}" for h, m in modes.items()), progress=progress)

    def zookeeper_controller(self, bootstrap: str | None = None) -> str:
        """On a ZooKeeper release, the broker that holds the controller role (what a `controller` fault
        hits), as the brokers in `bootstrap` (default: all) name it."""
        from harness.kafka import admin

        return self.hostname_for_id(admin.controller_id(bootstrap or self.bootstrap_servers))

    def wait_brokers_registered(self, *, timeout: float = READY_TIMEOUT_S, watch: Sequence[ProcessRecord] = (),
                                guard: Callable[[], None] | None = None) -> None:
        from harness.kafka import admin
        from harness.runtime.readiness import wait_for

        brokers = self.broker_count()
        wait_for(lambda: len(admin.brokers(self.bootstrap_servers, timeout=3)) == brokers, what=f"{brokers} brokers to be registered",
                 timeout=timeout, watch=watch, guard=guard, interval=0.5)

    @contextlib.contextmanager
    def _starting(self, state: RunState, progress: Progress) -> Iterator[None]:
        """Around a backend's start-up: the run is marked ready when the block ends, and everything
        it started is stopped again if it fails or is interrupted."""
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.stop()
            raise
        state.status = "ready"
        self.run.save(state)
        progress(f"ready in {time.monotonic() - started:.1f}s: {self.bootstrap_servers}")

    def state(self) -> RunState:
        return self.run.load()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _read_from(path: str, offset: int, most: int = 4_000_000) -> str:
    """A log from `offset` on (at most its last `most` bytes): what was written since a mark."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset if offset <= size else 0, size - most))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""
