"""The twin for suites that use testcontainers: one object with `start()`, `stop()` and `with`.

    with KafkaSparkTwin(profile="single") as twin:
        produce_to(twin.get_bootstrap_server())

It is a thin entry point, like harness/cli.py and harness/pytest_plugin.py: `start()` is
`Deployment.start()`, whose readiness is the harness's own (every broker registered with the
quorum, a probe topic fully replicated), and `stop()` removes everything of the run by its labels.
Like testcontainers' `DockerCompose`, the twin is several containers, so wait strategies are given
per node (`waiting_for({"wn0-kafka": LogMessageWaitStrategy(...)})`) and run once the twin is
ready; `get_container(node)` is a node as testcontainers' wait strategies see a container.
Installed with the `testcontainers` extra: `pip install 'kafka-spark-harness[testcontainers]'`.
"""

from __future__ import annotations

import itertools
import logging
import os
from types import TracebackType
from typing import TYPE_CHECKING

# Set before testcontainers is imported: it reads TESTCONTAINERS_CONNECTION_MODE once, when
# testcontainers.core.config is first imported. The twin itself needs neither (it removes its
# containers by its own labels and publishes ports on 127.0.0.1 only), but a suite that imports this
# module gets defaults that work for its other containers on machines without an image registry:
# Ryuk, testcontainers' reaper, is an image that must be pulled, and a `/.dockerenv` makes
# testcontainers believe it runs inside a container and connect to the bridge gateway instead of
# the published ports. A value the user has set wins (setdefault).
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

from harness.backends import Deployment, new_deployment  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.runtime.processes import excerpt, sigterm_as_interrupt  # noqa: E402

try:
    from testcontainers.core.waiting_utils import WaitStrategy  # noqa: E402
except ImportError as exc:  # pragma: no cover - an optional extra
    raise HarnessError("harness.containers needs the `testcontainers` package",
                       hint="pip install 'kafka-spark-harness[testcontainers]' (or the `test` extra)") from exc

if TYPE_CHECKING:
    from docker.models.containers import Container, ExecResult

    from harness.backends.docker.deployment import DockerDeployment

log = logging.getLogger(__name__)
_run_numbers = itertools.count(1)


class KafkaSparkTwin:
    """A Kafka + Spark twin of a profile (`dev`, `hdinsight`, `single` or a YAML file), testcontainers style.

    `name` is the run's name (default: one of its own per twin, so parallel twins do not collide);
    `spark` overrides the profile's spark.mode (`local` or `standalone`). `.deployment` is the full
    harness API (status, faults, `stop_node`, `heal`, ...)."""

    def __init__(self, profile: str = "dev", backend: str = "docker", name: str | None = None, *, spark: str | None = None) -> None:
        self.deployment: Deployment = new_deployment(profile, name or f"tc-{os.getpid()}-{next(_run_numbers)}", backend, spark=spark)
        self._wait_strategies: dict[str, WaitStrategy] = {}
        self._started = False

    # ----- lifecycle, as testcontainers' containers have it -----------------------------------------

    def waiting_for(self, strategies: dict[str, WaitStrategy]) -> KafkaSparkTwin:
        """Wait strategies per node (host name or FQDN), as `DockerCompose.waiting_for` takes them per
        service. They run after the twin is ready, in the order given; docker backend only."""
        for node, strategy in strategies.items():
            if not isinstance(strategy, WaitStrategy):
                raise HarnessError(f"waiting_for: the strategy for {node!r} is a {type(strategy).__name__}, not a testcontainers WaitStrategy")
            try:
                self.deployment.topology.node(node)
            except KeyError as exc:
                raise HarnessError(f"waiting_for: {exc.args[0]}") from None
        if strategies and self.deployment.backend != "docker":
            raise HarnessError(f"waiting_for: the {self.deployment.backend} backend runs nodes as processes, not containers",
                               hint="wait strategies need backend='docker'")
        self._wait_strategies = dict(strategies)
        return self

    def start(self) -> KafkaSparkTwin:
        """Boot the twin and return once it is ready (and every wait strategy is satisfied). A failed
        start leaves nothing of the run behind; SIGTERM during it stops what was started, as Ctrl-C does."""
        if self._started:
            return self
        if self.deployment.backend == "docker":
            from harness.backends.docker.engine import docker_client

            docker_client()  # a missing engine fails here, with how to get one, before anything is created
        with sigterm_as_interrupt():
            self.deployment.start(log.info)  # stops what it started itself if it fails
            self._started = True
            try:
                for node, strategy in self._wait_strategies.items():
                    target = self.get_container(node)
                    try:
                        strategy.wait_until_ready(target)
                    except Exception as exc:
                        exc.add_note(f"while waiting for {node} of twin {self.deployment.run.name}; its log:\n{target.log_tail()}")
                        raise
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Remove every container, network and volume of the twin (or stop its processes). Idempotent."""
        if self._started:
            self._started = False
            self.deployment.stop()

    def __enter__(self) -> KafkaSparkTwin:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ----- what a test connects to ------------------------------------------------------------------

    def get_bootstrap_server(self) -> str:
        """The brokers as this machine reaches them, comma-separated (host listeners on 127.0.0.1)."""
        self._require_started()
        return self.deployment.bootstrap_servers

    def get_spark_master(self) -> str:
        """The twin's standalone master URL (`spark://...:7077`), or `local[N]` when the profile runs
        Spark as a local session. On the docker backend the URL names the master by its FQDN inside
        the VNet, where `harness run` submits jobs; a SparkSession in the test process uses
        `twin.deployment.spark_conf()`, which is local[N] there."""
        self._require_started()
        return self.deployment.spark_master or f"local[{self.deployment.topology.spark.local_cores}]"

    def get_container(self, node: str) -> TwinNode:
        """One node (host name or FQDN) as testcontainers' wait strategies see a container."""
        self._require_started()
        if self.deployment.backend != "docker":
            raise HarnessError(f"the {self.deployment.backend} backend runs nodes as processes, not containers",
                               hint="use backend='docker', or `.deployment.status()` for the nodes' processes")
        return TwinNode(self.deployment, node)  # type: ignore[arg-type]

    def _require_started(self) -> None:
        if not self._started:
            raise HarnessError(f"twin {self.deployment.run.name} is not started", hint="call start(), or use `with KafkaSparkTwin(...) as twin:`")


class TwinNode:
    """A node of a docker twin in testcontainers' `WaitStrategyTarget` shape, so its wait strategies
    (log message, port, HTTP, exec, composite) work on it. Ports are the container's own numbers:
    19092 is a broker's host listener, 8080 the Ambari endpoint on hn0-kafka and the Spark master's
    UI on hn0-spark; only those are published, on 127.0.0.1."""

    def __init__(self, deployment: DockerDeployment, node: str) -> None:
        self._container: Container = deployment.container(node)  # an unknown name fails here, listing the nodes
        self._plan = deployment.plan.container(node)
        self.name = self._plan.node.hostname

    def get_container_host_ip(self) -> str:
        return "127.0.0.1"

    def get_exposed_port(self, port: int) -> int:
        try:
            return self._plan.ports[int(port)]
        except KeyError:
            published = ", ".join(str(p) for p in self._plan.ports) or "none"
            raise HarnessError(f"port {port} of {self.name} is not published to the host", hint=f"published ports of {self.name}: {published}") from None

    def get_wrapped_container(self) -> Container:
        return self._container

    def get_logs(self) -> tuple[bytes, bytes]:
        return self._container.logs(stderr=False), self._container.logs(stdout=False)

    def log_tail(self, lines: int = 15) -> str:
        """The end of the node's log (stdout and stderr), its first errors first."""
        import docker.errors

        try:
            return excerpt(self._container.logs(tail=400).decode("utf-8", "replace"), lines)
        except docker.errors.DockerException as exc:
            return f"(no log: {exc})"

    def reload(self) -> None:
        self._container.reload()

    @property
    def status(self) -> str:
        return str(self._container.status)

    def exec(self, command: str | list[str]) -> ExecResult:
        return self._container.exec_run(command)


__all__ = ["KafkaSparkTwin", "TwinNode"]
