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
import re
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from harness.backends.rundir import RunDir, RunState
from harness.kafka import security
from harness.kafka.security import HARNESS_PRINCIPAL, ClientSecurity, client_security, scram_password_name
from harness.runtime.processes import ProcessRecord
from harness.runtime.readiness import Progress, quiet
from harness.topology.model import Topology

if TYPE_CHECKING:
    from harness.backends.kafka_node import BrokerSasl, BrokerTls
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
        team's CA puts in it (FQDN and short name) and the addresses clients here connect by. A certificate
        without the FQDN (a mistake to rehearse) leaves the brokers' own hostname verification off, so the twin
        comes up and the job's client is what fails, as on a cluster configured that way."""
        from harness.backends.kafka_node import BrokerTls

        authority = self.authority()
        names = [node.fqdn, node.hostname] if self.topology.kafka.security.certificate_names == "fqdn" else [node.hostname]
        identity = authority.identity(node.hostname) or authority.issue_server(node.hostname, dns_names=names, addresses=list(addresses))
        return BrokerTls(identity.keystore, authority.password(node.hostname), authority.truststore, authority.password("truststore"),
                         client_auth=self.topology.kafka.security.protocol == "mtls", verify_peers=len(names) > 1)

    def broker_sasl(self) -> BrokerSasl:
        """A SASL twin's node settings; the twin's own users' passwords are generated once per run."""
        from harness.backends.kafka_node import BROKER_USER, CONTROLLER_USER, BrokerSasl

        authority = self.authority()
        return BrokerSasl(authority.password(scram_password_name(BROKER_USER)), authority.password(scram_password_name(CONTROLLER_USER)))

    def scram_users(self) -> dict[str, str]:
        """Every SCRAM user of a SASL twin and its password: the harness's, the brokers', the profile's principals."""
        from harness.backends.kafka_node import BROKER_USER

        names = (HARNESS_PRINCIPAL, BROKER_USER, *(p.name for p in self.topology.kafka.security.principals))
        authority = self.authority()
        return {name: authority.password(scram_password_name(name)) for name in names}

    @property
    def client_security(self) -> ClientSecurity:
        """How the harness's own clients reach this twin: plaintext, or the run's CA (and under mTLS the
        harness's client certificate, under SASL its super user)."""
        protocol = self.topology.kafka.security.protocol
        return client_security(self.authority() if protocol != "plaintext" else None, protocol)

    @property
    def job_security(self) -> ClientSecurity:
        """How a streaming job reaches this twin: as the harness does, but under SASL as the profile's
        `job_principal`, whose ACLs are what the job may do."""
        settings = self.topology.kafka.security
        if not settings.sasl:
            return self.client_security
        return client_security(self.authority(), settings.protocol, settings.job_principal)

    def apply_acls(self) -> None:
        """The profile's principals' ACLs, created by the harness's super user (again after a restart: Kafka
        keeps existing bindings, so this is idempotent)."""
        from harness.kafka import admin

        principals = self.topology.kafka.security.principals
        if self.topology.kafka.security.sasl and principals:
            admin.create_acls(self.bootstrap_servers, principals)

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

    def explain_job_failure(self, since: Mapping[str, int] | None = None) -> str | None:
        """Why a streaming job in this twin may have failed or stalled, if the twin can tell (from what its
        brokers logged after the marks `since`, from `broker_log_ends`)."""
        return self.refused_handshakes(since) or self.denied_operations(since)

    def denied_operations(self, since: Mapping[str, int] | None = None) -> str | None:
        """On a SASL twin, what the brokers' authorizer denied and to whom, as its audit log records it: Kafka's
        client error names only the resource (`Not authorized to access group: ...`), the broker the principal."""
        if not self.topology.kafka.security.sasl:
            return None
        denied: dict[tuple[str, str, str], dict[str, str]] = {}  # (principal, operation, resource type) -> resource -> request
        for text in self.broker_logs_since(since).values():
            for found in _DENIED.finditer(text):
                kind = found["resource"].split(":", 1)[0]
                denied.setdefault((found["principal"], found["operation"].upper(), kind), {})[found["resource"]] = found["request"] or "request"
        if not denied:
            return None

        def what(resources: dict[str, str]) -> str:  # Spark names a group per query and attempt: one line for them all
            last, request = list(resources.items())[-1]
            return f"{last} ({request})" if len(resources) == 1 else f"{len(resources)} resources, the last {last} ({request})"
        listed = "; ".join(f"{principal} was denied {operation} on {what(resources)}" for (principal, operation, _), resources in denied.items())
        return (f"the brokers' authorizer denied: {listed}. Grant it in kafka.security.principals of the profile or scenario (topics: / groups:, "
                "a name ending in * is a prefix; Spark's connector names its groups spark-kafka-source-*), or run the job as a principal that has it")

    def refused_handshakes(self, since: Mapping[str, int] | None = None) -> str | None:
        """On a secured twin, the TLS handshakes its brokers refused (after the log positions `since`, from
        `broker_log_ends`), as their logs record them: what a job that speaks plaintext to the TLS listener,
        or does not trust the run's CA, or (mTLS) presents no certificate, leaves while it retries."""
        if not self.topology.kafka.security.secured:
            return None
        refusals, last = 0, ""
        for hostname, text in self.broker_logs_since(since).items():
            lines = [line for line in text.splitlines() if "Failed authentication with" in line]
            refusals += len(lines)
            last = f"{hostname}: {lines[-1][lines[-1].index('Failed authentication'):]}" if lines else last
        if not refusals:
            return None
        refused = f"the brokers refused {refusals} connection(s) at TLS or authentication (last, {last})"
        mismatch = self.certificate_mismatch()
        if mismatch:
            return f"{refused}: {mismatch}"
        protocol = self.topology.kafka.security.protocol
        also = {"mtls": ", or presented no client certificate", "sasl_ssl": ", or gave no SCRAM login or a wrong one"}.get(protocol, "")
        settings = "kafka.security.protocol=SASL_SSL, kafka.sasl.* and kafka.ssl.truststore.*" if protocol == "sasl_ssl" \
            else "kafka.security.protocol=SSL and kafka.ssl.truststore.*"
        return (f"{refused}: a client spoke plaintext to the TLS listener, did not trust the run's CA{also}. Give the job the twin's "
                f"client settings: {settings} (`harness status` prints them); a submitted application gets them as {{client_properties}}")

    def certificate_mismatch(self) -> str | None:
        """The broker names the job connects by that no broker certificate holds: its client's hostname verification
        fails, and the client's own error names only the host it wanted."""
        authority = self.authority()
        identities = [identity for node in self.topology.brokers if (identity := authority.identity(node.hostname)) is not None]
        held = {name for identity in identities for name in identity.names}
        missing = [host for host in (e.rsplit(":", 1)[0] for e in self.job_bootstrap().split(",")) if host not in held]
        if not identities or not missing:
            return None
        example = identities[0]
        return (f"hostname verification fails: the job connects by {', '.join(missing)}, and no broker certificate holds those names "
                f"({example.name}'s holds {', '.join(example.names)}). Issue each broker's certificate with its FQDN as a subject alternative name, as "
                "HDInsight's TLS guide does (kafka.security.certificate_names: fqdn); turning verification off "
                "(ssl.endpoint.identification.algorithm empty) hides the mistake rather than fixing it")

    def broker_log_ends(self) -> dict[str, int]:
        """Where each broker's log ends now, by host name: what is written after these belongs to what runs next."""
        ends = {}
        for hostname, log in self._broker_logs().items():
            with contextlib.suppress(OSError):
                ends[hostname] = os.path.getsize(log)
        return ends

    def broker_logs_since(self, since: Mapping[str, int] | None = None) -> dict[str, str]:
        """Each broker's log after the marks `since` (from `broker_log_ends`; all of it without), by host name."""
        return {hostname: _read_from(log, (since or {}).get(hostname, 0)) for hostname, log in self._broker_logs().items()}

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

        authority, client, job = self.authority(), self.client_security, self.job_security
        passwords = authority.directory / PASSWORDS_FILE

        def shown(security: ClientSecurity, options: dict[str, str]) -> str:
            return " ".join(f"{k}={security.masked(v)}" for k, v in options.items())
        notes = [f"security: {settings.protocol.upper()} with the run's own CA ({authority.certificate}); <name> is a password "
                 f"kept under that name in {passwords}"
                 + ("; a client certificate is required (CN=harness is the harness's)" if settings.protocol == "mtls" else "")]
        if settings.sasl:
            notes.append(f"  SCRAM-SHA-512 users: harness (super user){''.join(f', {p.name}' for p in settings.principals)}; "
                         f"the job connects as {settings.job_principal}")
        notes.append(f"  confluent-kafka: {shown(client, dict(client.librdkafka))}")
        notes.append(f"  Spark (the job's): {shown(job, job.spark_options())}")
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
        self.apply_acls()

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
        """Until every broker, asked on its own, lists all brokers and names a controller. A new admin client
        asks one broker for the controller; on ZooKeeper a broker learns it from the controller's first
        UpdateMetadata, and a client that asked before then waited for a controller until its 60 s request
        time-out (CI saw the probe topic fail so on a loaded hdinsight-5.1 SASL twin)."""
        from confluent_kafka import KafkaException

        from harness.kafka import admin
        from harness.runtime.readiness import wait_for

        brokers = self.broker_count()
        endpoints = self.bootstrap_servers.split(",")
        seen: dict[str, str] = {}

        def agreed() -> bool:
            """Asks every endpoint, so the last-seen line names the one that does not answer."""
            ok = True
            for endpoint in endpoints:
                try:
                    count, controller = admin.cluster_view(endpoint, timeout=3)
                except KafkaException as exc:  # a broker still starting or stopped: ask the others too
                    seen[endpoint], ok = f"no answer ({str(exc) or type(exc).__name__})", False
                    continue
                seen[endpoint] = f"sees {count} brokers, controller {controller}"
                ok = ok and count == brokers and controller >= 0
            return ok

        wait_for(agreed, what=f"{brokers} brokers to be registered, each naming the controller", timeout=timeout, watch=watch, guard=guard,
                 interval=0.5, last_seen=lambda: ", ".join(f"{e} {view}" for e, view in seen.items()))

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


_DENIED = re.compile(r"Principal = (?P<principal>\S+) is Denied [Oo]peration = (?P<operation>\w+) from host = \S+ "
                     r"on resource = (?P<resource>\S+?)(?: for request = (?P<request>\w+))?(?= |$)", re.MULTILINE)
"""An authorizer's audit line for a denial: Kafka 3.2's AclAuthorizer and KRaft's StandardAuthorizer both write it."""


def _read_from(path: str, offset: int, most: int = 4_000_000) -> str:
    """A log from `offset` on (at most its last `most` bytes): what was written since a mark."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset if offset <= size else 0, size - most))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""
