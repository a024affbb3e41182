"""Faults as data: the schedule a scenario (or a person at the CLI) gives, checked before anything starts.

A target is a node (`wn1-kafka`), the active KRaft controller (`controller`), the leader or the
followers of a partition (`leader(stockVals/0)`, `followers(stockVals/0)`), the streaming job's driver
(`driver`), or an earlier fault's label (`@old-leader`). A fault fires at a time on the replay's
timeline (`at: 4s`), or once a recovery an earlier fault's report measures has been observed
(`after: leader_election(@old-leader)`): on a loaded machine no timer is sure to come after an
election, an observed one is. This module knows the grammar only; what a
target means on a running twin, and doing it, is `harness.faults.inject`. It imports no backend, so
loading a scenario file loads no process or container code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.errors import ConfigError
from harness.scenarios.durations import parse_duration_ms

FaultAction = Literal["kill", "stop", "pause", "resume", "start", "restart", "partition", "delay", "loss", "heal"]
NETWORK_ACTIONS = ("partition", "delay", "loss", "heal")
_TARGET = re.compile(r"^(controller|driver|@[\w-]+|(leader|followers)\([A-Za-z0-9._-]+/\d+\)|[a-z]{2}\d+-[a-z0-9-]+)$")
DISRUPTS = {"kill", "stop", "pause", "partition"}
RESTORES = {"resume", "start", "restart", "heal"}
# The recoveries the scheduler observes after a fault (its report's `recovery` keys without `_s`), and
# which kind of fault each follows: a later fault may wait for one of them.
FACTS_AFTER_DISRUPTION = ("leader_election", "controller_election", "zookeeper_quorum", "out_of_isr")
FACTS_AFTER_RESTORE = ("isr_restored", "zookeeper_rejoined", "job_resumed")
_AFTER = re.compile(r"^(" + "|".join(FACTS_AFTER_DISRUPTION + FACTS_AFTER_RESTORE) + r")\(@([\w-]+)\)$")


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at: int = Field(default=0, description="when, on the replay's timeline (e.g. '5s'); with `after`, not before then")
    after: str | None = Field(default=None, description="fire once an earlier fault's recovery is observed, e.g. 'leader_election(@old-leader)'")
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
        return None if value is None else parse_duration_ms(value)  # type: ignore[arg-type]

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> int:
        return parse_duration_ms(value)  # type: ignore[arg-type]

    @field_validator("after")
    @classmethod
    def _after(cls, value: str | None) -> str | None:
        if value is not None and not _AFTER.match(value):
            facts = ", ".join(FACTS_AFTER_DISRUPTION + FACTS_AFTER_RESTORE)
            raise ValueError(f"{value!r} is not a fact to wait for; write FACT(@label) with a label an earlier fault set (`as:`) and FACT one of {facts}")
        return value

    @model_validator(mode="after")
    def _when(self) -> FaultSpec:
        if "at" not in self.model_fields_set and self.after is None:
            raise ValueError("a fault needs `at` (when on the replay's timeline, e.g. 5s) or `after` (e.g. leader_election(@old-leader))")
        return self

    @property
    def waits_for(self) -> tuple[str, str] | None:
        """(fact, label) of `after`, or None for a fault on the timeline alone."""
        match = _AFTER.match(self.after) if self.after else None
        return (match.group(1), match.group(2)) if match else None

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
    after: str | None = None
    fired_s: float | None = None
    action: str = ""
    target: str = ""
    nodes: list[str] = field(default_factory=list)
    error: str | None = None
    recovery: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the fault did to the cluster, as observed (a ZooKeeper ensemble's roles)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def check_schedule(faults: tuple[FaultSpec, ...], node_names: set[str] | None) -> list[str]:
    """Problems a schedule has (against a topology's nodes when given), before anything starts."""
    problems, labels = [], {}
    for i, fault in enumerate(faults):
        if fault.target.startswith("@") and fault.target[1:] not in labels:
            problems.append(f"faults[{i}].target: label {fault.target} is not set by an earlier fault (`as: {fault.target[1:]}`)")
        problems += _after_problems(f"faults[{i}].after", fault, labels)
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
            labels[fault.label] = fault
    return problems


def _after_problems(where: str, fault: FaultSpec, labels: dict[str, FaultSpec]) -> list[str]:
    """A fault that waits must wait for something its labelled fault can bring about."""
    if fault.waits_for is None:
        return []
    fact, label = fault.waits_for
    earlier = labels.get(label)
    if earlier is None:
        return [f"{where}: label @{label} is not set by an earlier fault (`as: {label}`)"]
    kind = DISRUPTS if fact in FACTS_AFTER_DISRUPTION else RESTORES
    if earlier.action not in kind:
        return [f"{where}: {fact} follows a {'/'.join(sorted(kind))} fault, and @{label} is a {earlier.action}; wait for "
                + ("one of " + ", ".join(FACTS_AFTER_RESTORE) if earlier.action in RESTORES else "one of " + ", ".join(FACTS_AFTER_DISRUPTION))]
    if (fact == "job_resumed") != (earlier.target == "driver"):
        return [f"{where}: job_resumed follows a driver fault only; @{label} targets {earlier.target}" if fact == "job_resumed"
                else f"{where}: a driver fault is followed by job_resumed only, not {fact}"]
    return []


def _is_node(target: str) -> bool:
    return not (target in ("controller", "driver") or target.startswith("@") or "(" in target)


def fault_from(action: str, target: str, **params: Any) -> FaultSpec:
    """One fault given by hand (`harness fault`, the pytest plugin's `fault` fixture), validated like a
    scenario's: a bad one is refused with the field and the fix before anything is touched."""
    from pydantic import ValidationError

    try:
        spec = FaultSpec.model_validate({"at": 0, "action": action, "target": target, **{k: v for k, v in params.items() if v is not None}})
    except ValidationError as exc:
        raise ConfigError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'fault'}: {e['msg']}" for e in exc.errors())) from None
    problems = check_schedule((spec,), None)
    if problems:
        raise ConfigError("; ".join(p.removeprefix("faults[0].") for p in problems))
    return spec
