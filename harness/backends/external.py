"""The `external` backend: clusters that already run (a staging HDInsight pair, or a twin started elsewhere).

The harness starts and stops nothing here; it replays, runs the job and verifies against what it is
given: bootstrap servers and a Spark master URL. Faults need nodes the harness owns, so they are
refused with a clear message.
"""

from __future__ import annotations

import os

from harness.backends.base import Deployment, NodeStatus, Progress, _quiet
from harness.backends.rundir import RunDir, RunState
from harness.errors import HarnessError, NotReadyError
from harness.kafka import admin
from harness.topology.model import Topology


class ExternalDeployment(Deployment):
    backend = "external"

    def __init__(self, topology: Topology, bootstrap_servers: str, spark_master: str, *, profile: str = "external") -> None:
        super().__init__(topology, RunDir(f"external-{os.getpid()}"), profile)
        self._bootstrap = bootstrap_servers
        self._spark_master = spark_master

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

    def start(self, progress: Progress = _quiet) -> None:
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
        return None  # not ours to stop

    def status(self) -> list[NodeStatus]:
        return [NodeStatus(f"broker {i}", endpoint.split(":")[0], endpoint, "broker", None, None, "external")
                for i, endpoint in sorted(admin.brokers(self._bootstrap).items())]

    def _refuse(self, *_: object, **__: object) -> None:
        raise HarnessError("faults need a twin the harness started; the external backend only observes",
                           hint="run fault scenarios against a twin (`harness up`), not against shared clusters")

    stop_node = start_node = pause_node = resume_node = _refuse  # type: ignore[assignment]

    def active_controller(self) -> str:
        self._refuse()
        return ""

    def heal(self) -> None:
        return None

