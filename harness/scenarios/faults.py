"""Faults as data, run on the replay's timeline: kill, stop, pause, resume, start or restart a node,
and (docker backend) partition it from its peers, delay or drop its packets, and heal its network.

A target is a node (`wn1-kafka`), the active KRaft controller (`controller`), the leader or the
followers of a partition (`leader(stockVals/0)`, `followers(stockVals/0)`), or an earlier fault's
label (`@old-leader`), resolved when the fault fires, as the Kafka system tests and Jepsen's
nemeses pick their victims. After each fault the scheduler measures recovery: the time until every
partition of the topic has a live leader again, or until every replica is back in sync.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.backends.base import Deployment
from harness.errors import HarnessError
from harness.kafka import admin

FaultAction = Literal["kill", "stop", "pause", "resume", "start", "restart", "partition", "delay", "loss", "heal"]
NETWORK_ACTIONS = ("partition", "delay", "loss", "heal")
_TARGET = re.compile(r"^(controller|driver|@[\w-]+|(leader|followers)\([A-Za-z0-9._-]+/\d+\)|[a-z]{2}\d+-[a-z0-9-]+)$")
_DISRUPTS = {"kill", "stop", "pause", "partition"}
_RESTORES = {"resume", "start", "restart", "heal"}


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at: int = Field(description="when, on the replay's timeline (e.g. '5s')")
    action: FaultAction
    target: str = Field(description="node, 'controller', 'leader(topic/p)', 'followers(topic/p)', 'driver' (the streaming job) or '@label'")
    label: str | None = Field(default=None, alias="as", description="name the resolved nodes for later faults")
    peers: tuple[str, ...] | None = Field(default=None, description="partition: the nodes to cut the target off from (default: all others)")
    latency: int | None = Field(default=None, description="delay: added latency on the node's links (e.g. '200ms')")
    jitter: int | None = Field(default=None, description="delay: jitter around the latency (e.g. '50ms')")
    percent: float | None = Field(default=None, gt=0, le=100, description="loss: percentage of packets dropped")

    @field_validator("latency", "jitter", mode="before")
    @classmethod
    def _duration(cls, value: object) -> int | None:
        from harness.scenarios.durations import parse_duration_ms

        return None if value is None else parse_duration_ms(value)  # type: ignore[arg-type]

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> int:
        from harness.scenarios.durations import parse_duration_ms

        return parse_duration_ms(value)  # type: ignore[arg-type]

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not _TARGET.match(value):
            raise ValueError(f"{value!r} is not a fault target; use a node such as wn1-kafka, 'controller', 'leader(stockVals/0)', 'followers(stockVals/0)' or '@label'")
        return value


@dataclass
class FaultEvent:
    """What happened when a fault fired, and how long the cluster took to recover."""

    at_s: float
    fired_s: float | None = None
    action: str = ""
    target: str = ""
    nodes: list[str] = field(default_factory=list)
    error: str | None = None
    recovery: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def check_schedule(faults: tuple[FaultSpec, ...], node_names: set[str] | None) -> list[str]:
    """Problems a schedule has (against a topology's nodes when given), before anything starts."""
    problems, labels = [], set()
    for i, fault in enumerate(faults):
        if fault.target.startswith("@") and fault.target[1:] not in labels:
            problems.append(f"faults[{i}].target: label {fault.target} is not set by an earlier fault (`as: {fault.target[1:]}`)")
        if node_names is not None and _is_node(fault.target) and fault.target not in node_names:
            problems.append(f"faults[{i}].target: no running node {fault.target!r}; nodes are {', '.join(sorted(node_names))}")
        if fault.target == "driver" and fault.action not in ("kill", "start", "restart"):
            problems.append(f"faults[{i}].action: the driver can be killed, started or restarted, not {fault.action}d")
        if fault.action == "delay" and not fault.latency:
            problems.append(f"faults[{i}].latency: a delay fault needs `latency` (e.g. 200ms), optionally `jitter`")
        if fault.action == "loss" and not fault.percent:
            problems.append(f"faults[{i}].percent: a loss fault needs `percent` (e.g. 10)")
        if fault.peers and fault.action != "partition":
            problems.append(f"faults[{i}].peers: only a partition fault takes peers")
        if fault.label:
            labels.add(fault.label)
    return problems


def _is_node(target: str) -> bool:
    return not (target in ("controller", "driver") or target.startswith("@") or "(" in target)


class FaultScheduler:
    """Runs a schedule on its own thread; `join()` returns the events once all recovery is measured."""

    def __init__(self, deployment: Deployment, topic: str, faults: tuple[FaultSpec, ...], *, recovery_timeout: float = 120.0,
                 progress=None, driver=None) -> None:  # noqa: ANN001
        self.deployment, self.topic, self.faults = deployment, topic, tuple(sorted(faults, key=lambda f: f.at))
        self.driver = driver  # the job's own driver process, when a fault targets it
        self.recovery_timeout = recovery_timeout
        self.events: list[FaultEvent] = []
        self.labels: dict[str, list[str]] = {}
        self._threads: list[threading.Thread] = []
        self._progress = progress or (lambda _: None)
        self._stop = threading.Event()
        self._runner = threading.Thread(target=self._run, name="faults", daemon=True)
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._runner.start()

    def cancel(self) -> None:
        self._stop.set()

    def join(self) -> list[FaultEvent]:
        self._runner.join()
        for thread in self._threads:
            thread.join()
        return self.events

    def _run(self) -> None:
        for fault in self.faults:
            if self._stop.wait(max(0.0, self._t0 + fault.at / 1000 - time.monotonic())):
                return
            event = FaultEvent(at_s=fault.at / 1000, action=fault.action, target=fault.target)
            self.events.append(event)
            try:
                if fault.target == "driver":
                    self._driver_fault(event, fault.action)
                    continue
                nodes = resolve_target(self.deployment, fault.target, self.labels)
                event.nodes = nodes
                before = self._broker_ids(nodes)
                led = self._led_by(before) if fault.action in _DISRUPTS else set()
                event.fired_s = round(time.monotonic() - self._t0, 3)
                for node in nodes:
                    apply_action(self.deployment, fault.action, node, fault)
                self._progress(f"fault at {event.fired_s:.1f}s: {fault.action} {', '.join(nodes)}")
                if fault.label:
                    self.labels[fault.label] = nodes
                self._measure(event, fault.action, before, led)
                self._measure_quorum(event, fault.action, nodes)
            except Exception as exc:  # noqa: BLE001 - a failed fault is recorded, and the run goes on
                event.error = str(exc)

    def _driver_fault(self, event: FaultEvent, action: str) -> None:
        if self.driver is None:
            raise HarnessError("no driver process to fault (the job runs in the harness's own process)")
        event.nodes = ["driver"]
        event.fired_s = round(time.monotonic() - self._t0, 3)
        if action in ("kill", "restart"):
            self.driver.kill()
        if action in ("start", "restart"):
            self.driver.start()
            self._watch(event, "job_resumed_s", time.monotonic(), self.driver.first_batch_after_start)
        self._progress(f"fault at {event.fired_s:.1f}s: {action} the streaming job's driver")

    # ----- targets and actions -------------------------------------------------------------

    def _broker_ids(self, nodes: list[str]) -> set[int]:
        return {self.deployment.node_id(n) for n in nodes if self.deployment.is_broker(n)}

    # ----- recovery ------------------------------------------------------------------------

    def _led_by(self, brokers: set[int]) -> set[int]:
        try:
            info = admin.describe(self.deployment.bootstrap_servers, self.topic, timeout=5)
        except Exception:  # noqa: BLE001 - no snapshot, no leader-election measurement
            return set()
        return {p.partition for p in info.partitions if p.leader in brokers}

    def _measure(self, event: FaultEvent, action: str, brokers: set[int], led: set[int]) -> None:
        """Leader election: until the partitions the victims led have other leaders. ISR restored:
        until the returning brokers are back in the ISR of every partition they replicate."""
        if not brokers or action not in _DISRUPTS | _RESTORES or (action in _DISRUPTS and not led and action != "partition"):
            return
        started = time.monotonic()
        bootstrap = self.deployment.bootstrap_servers
        if action == "partition":
            self._watch(event, "out_of_isr_s", started, lambda: all(
                b not in p.isr for p in admin.describe(bootstrap, self.topic, timeout=2).partitions for b in brokers if b in p.replicas))
            if not led:
                return
        if action in _DISRUPTS:
            key = "leader_election_s"

            def done(info: admin.TopicInfo) -> bool:
                return all(p.leader >= 0 and p.leader not in brokers for p in info.partitions if p.partition in led)
        else:
            key = "isr_restored_s"

            def done(info: admin.TopicInfo) -> bool:
                return all(b in p.isr for p in info.partitions for b in brokers if b in p.replicas)

        self._watch(event, key, started, lambda: done(admin.describe(bootstrap, self.topic, timeout=2)))

    def _measure_quorum(self, event: FaultEvent, action: str, nodes: list[str]) -> None:
        """A disrupted controller: time until the quorum has a live leader that is not one of the victims."""
        victims = [n for n in nodes if self.deployment.topology.node(n).is_controller]
        if action in _DISRUPTS and victims:
            self._watch(event, "controller_election_s", time.monotonic(), lambda: self.deployment.active_controller() not in victims)

    def _watch(self, event: FaultEvent, key: str, started: float, recovered) -> None:  # noqa: ANN001
        """Time, on its own thread, until `recovered()` holds (None if it never does in time)."""

        def watch() -> None:
            while time.monotonic() - started < self.recovery_timeout and not self._stop.is_set():
                try:
                    if recovered():
                        event.recovery[key] = round(time.monotonic() - started, 3)
                        return
                except Exception:  # noqa: BLE001 - metadata may be unavailable mid-failover
                    pass
                time.sleep(0.1)
            event.recovery[key] = None

        thread = threading.Thread(target=watch, name=f"recovery-{key}", daemon=True)
        self._threads.append(thread)
        thread.start()


def resolve_target(deployment: Deployment, target: str, labels: dict[str, list[str]] | None = None) -> list[str]:
    """The node names a target means right now (leaders move, so this is asked at fault time)."""
    if target.startswith("@"):
        if labels is None or target[1:] not in labels:
            raise HarnessError(f"label {target} is not set")
        return list(labels[target[1:]])
    if target == "controller":
        return [deployment.active_controller()]
    match = re.match(r"^(leader|followers)\(([^/]+)/(\d+)\)$", target)
    if match:
        kind, topic, partition = match.group(1), match.group(2), int(match.group(3))
        info = admin.describe(deployment.bootstrap_servers, topic)
        part = next((p for p in info.partitions if p.partition == partition), None)
        if part is None:
            raise HarnessError(f"topic {topic} has no partition {partition}")
        ids = [part.leader] if kind == "leader" else [r for r in part.replicas if r != part.leader]
        return [deployment.hostname_for_id(i) for i in ids]
    try:
        deployment.topology.node(target)
    except KeyError as exc:
        raise HarnessError(str(exc.args[0]), hint="or use 'controller', 'leader(TOPIC/P)', 'followers(TOPIC/P)'") from None
    return [target]


def apply_action(deployment: Deployment, action: str, node: str, fault: FaultSpec | None = None) -> None:
    """One action on one node; network actions take their parameters from the fault."""
    actions = {
        "partition": lambda: deployment.partition(node, list(fault.peers) if fault and fault.peers else None),
        "delay": lambda: deployment.impair_network(node, delay_ms=(fault.latency or 0) if fault else 0, jitter_ms=(fault.jitter or 0) if fault else 0),
        "loss": lambda: deployment.impair_network(node, loss_pct=(fault.percent or 0.0) if fault else 0.0),
        "heal": lambda: deployment.heal_network(node),
        "kill": lambda: deployment.stop_node(node, graceful=False),
        "stop": lambda: deployment.stop_node(node, graceful=True),
        "pause": lambda: deployment.pause_node(node),
        "resume": lambda: deployment.resume_node(node),
        "start": lambda: deployment.start_node(node),
        "restart": lambda: (deployment.stop_node(node, graceful=True), deployment.start_node(node)),
    }
    if action not in actions:
        raise HarnessError(f"unknown fault action {action!r}", hint=f"one of {', '.join(actions)}")
    actions[action]()


def require_valid(faults: tuple[FaultSpec, ...], deployment: Deployment) -> None:
    problems = check_schedule(faults, {n.hostname for n in deployment.state().nodes})
    problems += [f"faults[{i}].action: {f.action} is a network fault, which the {deployment.backend} backend cannot inject; "
                 "run the scenario with --backend docker" for i, f in enumerate(faults)
                 if f.action in NETWORK_ACTIONS and not deployment.network_faults]
    if problems:
        raise HarnessError("the scenario's fault schedule does not fit this twin", detail="\n".join(problems))
