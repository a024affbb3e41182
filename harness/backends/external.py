"""The `external` backend: clusters that already run (a staging HDInsight pair, or a twin started elsewhere).

The harness starts and stops nothing here; it replays, runs the job and verifies against what it is
given: bootstrap servers and a Spark master URL. It offers no node or network control, so faults,
which need nodes the harness owns, are refused before they start.
"""

from __future__ import annotations

import os

from harness.backends.base import Deployment, NodeStatus
from harness.backends.rundir import RunDir, RunState
from harness.errors import NotReadyError
from harness.kafka import admin
from harness.runtime.readiness import Progress, quiet
from harness.topology.model import Topology


class ExternalDeployment(Deployment):
    backend = "external"

    def __init__(self, topology: Topology, bootstrap_servers: str, spark_master: str, *, profile: str = "external",
                 run: RunDir | None = None) -> None:
        super().__init__(topology, run or RunDir(f"external-{os.getpid()}"), profile)
        self._bootstrap = bootstrap_servers
        self._spark_master = spark_master

    @classmethod
    def attach(cls, run: RunDir) -> ExternalDeployment:
        """The record of a run against a cluster the harness does not own (for `harness status`)."""
        state = run.load()
        return cls(Topology.model_validate(state.topology), state.bootstrap_servers, state.spark_master, profile=state.profile, run=run)

    @property
    def bootstrap_servers(self) -> str:
        return self._bootstrap

    @property
    def spark_master(self) -> str:
        return self._spark_master

    def spark_conf(self) -> tuple[str, dict[str, str]]:
        return self._spark_master, {}

    def broker_count(self) -> int:
        return len(admin.brokers(self._bootstrap))

    def start(self, progress: Progress = quiet) -> None:
        """Only check the cluster answers, and prepare a local work directory for checkpoints and manifests."""
        progress(f"connecting to the external Kafka cluster at {self._bootstrap}")
        try:
            found = admin.brokers(self._bootstrap, timeout=15)
        except Exception as exc:  # noqa: BLE001 - any client error means the same to the user
            raise NotReadyError(f"cannot reach Kafka at {self._bootstrap}: {exc}", hint="check the bootstrap servers and that this machine may reach them") from None
        self.run.path.mkdir(parents=True, exist_ok=True)
        self.run.save(RunState(name=self.run.name, backend=self.backend, profile=self.profile, topology=self.topology.model_dump(mode="json"),
                               bootstrap_servers=self._bootstrap, spark_master=self._spark_master, status="external"))
        progress(f"{len(found)} brokers answer")

    def stop(self) -> None:
        """The cluster is not ours to stop; the run's record is marked stopped, so `harness status` does
        not ask a cluster that may be gone."""
        self.run.mark_stopped()

    def status(self) -> list[NodeStatus]:
        """The brokers the cluster reports while the run lasts; afterwards, or when the cluster does not
        answer, the bootstrap servers as recorded, with the reason as their state."""
        if self.run.exists() and self.run.load().status == "stopped":
            return self._recorded("run stopped")
        try:
            found = admin.brokers(self._bootstrap, timeout=5)
        except Exception:  # noqa: BLE001 - any client error means the same: no answer
            return self._recorded("not answering")
        return [NodeStatus(f"broker {i}", endpoint.split(":")[0], endpoint, "broker", None, None, "external")
                for i, endpoint in sorted(found.items())]

    def _recorded(self, state: str) -> list[NodeStatus]:
        return [NodeStatus("bootstrap", endpoint.split(":")[0], endpoint, "broker", None, None, state) for endpoint in self._bootstrap.split(",")]

    def heal(self) -> None:
        return None

