"""A run directory: every node's data and log, and a state file that outlives a crashed harness.

The state file is what lets `harness down` (or the next `harness up`) stop processes that a
killed harness left behind, and what keeps two runs on one machine apart.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import RunStateError
from harness.paths import runs_root
from harness.runtime.processes import ProcessRecord, is_alive, read_tail, stopping_after_interrupt, terminate

STATE_FILE = "state.json"


@dataclass
class NodeState:
    """What a backend started for one node, and where to reach it."""

    hostname: str
    fqdn: str
    cluster: str
    role: str
    kafka_roles: list[str]
    rack: str | None
    address: str
    ports: dict[str, int]
    process: ProcessRecord | None = None
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    log: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "process"}
        data["process"] = self.process.to_json() if self.process else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeState:
        proc = data.get("process")
        return cls(**{**data, "process": ProcessRecord.from_json(proc) if proc else None})


@dataclass
class RunState:
    name: str
    backend: str
    profile: str
    topology: dict[str, Any]
    bootstrap_servers: str = ""
    spark_master: str = ""
    status: str = "starting"
    nodes: list[NodeState] = field(default_factory=list)
    harness_pid: int = field(default_factory=os.getpid)
    backend_data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "nodes"}, "nodes": [n.to_json() for n in self.nodes]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        return cls(**{**data, "nodes": [NodeState.from_json(n) for n in data.get("nodes", [])]})

    def processes(self) -> list[ProcessRecord]:
        return [n.process for n in self.nodes if n.process is not None]

    def live_processes(self) -> list[ProcessRecord]:
        return [p for p in self.processes() if is_alive(p)]


class RunDir:
    def __init__(self, name: str, root: Path | None = None) -> None:
        if not name or "/" in name or name.startswith("."):
            raise RunStateError(f"invalid run name {name!r}", hint="use letters, digits, '-' and '_'")
        self.name = name
        self.path = (root or runs_root()) / name

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    def node_dir(self, hostname: str) -> Path:
        return self.path / "nodes" / hostname

    def exists(self) -> bool:
        return self.state_path.exists()

    def load(self) -> RunState:
        try:
            return RunState.from_json(json.loads(self.state_path.read_text()))
        except FileNotFoundError:
            raise RunStateError(
                f"no run named {self.name!r} (looked for {self.state_path})",
                hint="start one with `harness up`, or list runs with `harness status --all`",
            ) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise RunStateError(f"{self.state_path} is corrupt: {exc}", hint=f"remove {self.path} after checking no process of it runs") from None

    def save(self, state: RunState) -> None:
        """Atomic replace, so a crash mid-write never leaves a half state file."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".state.")
        with os.fdopen(fd, "w") as fh:
            json.dump(state.to_json(), fh, indent=2)
        os.replace(tmp, self.state_path)

    def claim(self) -> None:
        """Prepare a fresh directory; refuse if a live run has the name, clean a crashed one."""
        if self.exists():
            try:
                state = self.load()
            except RunStateError:
                state = None
            if state is not None and state.live_processes():
                raise RunStateError(
                    f"a twin named {self.name!r} is already running ({len(state.live_processes())} processes)",
                    hint=f"stop it with `harness down --name {self.name}`, or start another with `--name OTHER`",
                )
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)

    def stop_all(self) -> int:
        """Stop every process the state file names; returns how many were still alive."""
        stopping_after_interrupt()
        if not self.exists():
            return 0
        state = self.load()
        live = state.live_processes()
        # Brokers first, while the metadata quorum (KRaft controllers, or ZooKeeper) is still there to accept
        # their controlled shutdown; stopping both at once makes brokers wait out their shutdown time-out
        # (a ZooKeeper twin with a topic took 15 s, the grace period, to stop instead of under a second).
        terminate([n.process for n in state.nodes if n.process in live and not {"controller", "zookeeper"} & set(n.kafka_roles)])
        controllers = [n for n in state.nodes if n.process in live and "controller" in n.kafka_roles]
        terminate([n.process for n in controllers], finished=_only_a_handover_left(controllers))
        terminate(live)
        self.mark_stopped()
        return len(live)

    def mark_stopped(self) -> None:
        if self.exists():
            state = self.load()
            if state.status != "stopped":
                state.status = "stopped"
                self.save(state)


def all_runs(root: Path | None = None) -> list[RunDir]:
    base = root or runs_root()
    if not base.exists():
        return []
    return [RunDir(p.name, base) for p in sorted(base.iterdir()) if (p / STATE_FILE).exists()]


BROKER_CLOSED = "shut down completed (kafka.server.BrokerServer)"  # a KRaft node's broker side closed its logs


def _only_a_handover_left(controllers: list[NodeState]) -> Callable[[ProcessRecord], bool]:
    """When the whole quorum stops, its leader waits to hand leadership to another voter ("Graceful shutdown
    timed out after 5000ms" on every dev twin's stop), and every voter is shutting down too. Once all other
    controllers have exited and the node's own broker side has closed its logs, that wait is all that is
    left: nothing is lost by not waiting it out."""
    def finished(record: ProcessRecord) -> bool:
        node = next((n for n in controllers if n.process == record), None)
        if node is None or len(controllers) < 2 or any(is_alive(n.process) for n in controllers if n is not node and n.process is not None):
            return False
        return "broker" not in node.kafka_roles or BROKER_CLOSED in (read_tail(node.log, 64_000) or "")

    return finished
