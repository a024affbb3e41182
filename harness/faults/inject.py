"""The one place that injects faults into a running twin: resolve a target, do the action, time recovery.

`inject` does one fault now (the CLI, the pytest plugin's `fault` fixture and the scheduler all call
it); `FaultScheduler` runs a scenario's schedule on the replay's timeline. Targets are resolved when a
fault fires (leaders move), as the Kafka system tests and Jepsen's nemeses pick their victims. After
each fault the scheduler measures recovery: the time until every partition the victims led has
another leader, until the returning brokers are back in sync, or until the quorum has a new leader.

What a fault needs of a twin is asked, not assumed: a backend without node control or network
control (the external backend has neither) says so before anything is touched.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from typing import Protocol

from harness.backends.base import Deployment, NetworkControl, NodeControl
from harness.errors import HarnessError, NotReadyError
from harness.faults.schedule import DISRUPTS, NETWORK_ACTIONS, RESTORES, FaultEvent, FaultSpec, check_schedule
from harness.kafka import admin
from harness.runtime.readiness import Progress, quiet, wait_for

RECOVERY_TIMEOUT_S = 120.0


class RestartableJob(Protocol):
    """What a `driver` fault needs of the streaming job: a driver process it can kill and start again."""

    def kill(self) -> None: ...

    def start(self) -> None: ...

    def first_batch_after_start(self) -> bool: ...


class _Cancelled(Exception):
    """The run ended: recovery is no longer measured."""


class _Moot(Exception):
    """The schedule restored every victim before the recovery happened: there is nothing left to wait for."""


def inject(deployment: Deployment, fault: FaultSpec, labels: dict[str, list[str]] | None = None, *,
           victims: list[str] | None = None) -> list[str]:
    """Do one fault now; returns the nodes it hit (`victims` when the caller resolved the target
    already). Raises before touching anything when the twin cannot do it (no node control, no network
    control) or the target does not resolve."""
    nodes, network = _controls(deployment, fault)
    victims = victims if victims is not None else resolve_target(deployment, fault.target, labels)
    for node in victims:
        _apply(nodes, network, fault, node)
    return victims


def _controls(deployment: Deployment, fault: FaultSpec) -> tuple[NodeControl, NetworkControl | None]:
    nodes = deployment.node_control()
    if nodes is None:
        raise HarnessError(f"the {deployment.backend} backend has no nodes the harness may break: faults need a twin it started",
                           hint="run fault scenarios against a twin (`harness up`), not against shared clusters")
    network = deployment.network_control()
    if fault.action in NETWORK_ACTIONS and network is None and fault.action != "heal":
        raise HarnessError(f"the {deployment.backend} backend cannot inject the network fault {fault.action!r} on this twin",
                           hint="use --backend docker (every node in its own network namespace)")
    return nodes, network


def _apply(nodes: NodeControl, network: NetworkControl | None, fault: FaultSpec, node: str) -> None:
    action = fault.action
    if action == "heal":
        if network is not None:
            network.heal_network(node)
    elif action in NETWORK_ACTIONS:
        assert network is not None  # _controls refused it otherwise
        if action == "partition":
            network.partition(node, list(fault.peers) if fault.peers else None)
        elif action == "delay":
            network.impair_network(node, delay_ms=fault.latency or 0, jitter_ms=fault.jitter or 0)
        else:
            network.impair_network(node, loss_pct=fault.percent or 0.0)
    elif action in ("kill", "stop"):
        nodes.stop_node(node, graceful=action == "stop")
    elif action == "pause":
        nodes.pause_node(node)
    elif action == "resume":
        nodes.resume_node(node)
    elif action == "start":
        nodes.start_node(node)
    else:  # restart
        nodes.stop_node(node, graceful=True)
        nodes.start_node(node)


def resolve_target(deployment: Deployment, target: str, labels: dict[str, list[str]] | None = None, *, bootstrap: str | None = None) -> list[str]:
    """The node names a target means right now (leaders move, so this is asked at fault time), asking
    the brokers in `bootstrap` (default: all of them)."""
    if target.startswith("@"):
        if labels is None or target[1:] not in labels:
            raise HarnessError(f"label {target} is not set")
        return list(labels[target[1:]])
    if target == "controller":
        control = deployment.node_control()
        if control is None:
            raise HarnessError(f"the {deployment.backend} backend cannot tell which node leads the controller quorum")
        return [deployment.zookeeper_controller(bootstrap) if deployment.topology.stack.uses_zookeeper else control.active_controller()]
    match = re.match(r"^(leader|followers)\(([^/]+)/(\d+)\)$", target)
    if match:
        kind, topic, partition = match.group(1), match.group(2), int(match.group(3))
        info = admin.describe(bootstrap or deployment.bootstrap_servers, topic)
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


def require_valid(faults: tuple[FaultSpec, ...], deployment: Deployment) -> None:
    """A schedule that does not fit the twin is refused before the run starts, every problem at once."""
    if not faults:
        return
    problems = check_schedule(faults, {n.hostname for n in deployment.state().nodes})
    if deployment.node_control() is None:
        problems.append(f"faults: the {deployment.backend} backend has no nodes the harness may break; run the scenario on a twin")
    problems += [f"faults[{i}].action: {f.action} is a network fault, which the {deployment.backend} backend cannot inject; "
                 "run the scenario with --backend docker" for i, f in enumerate(faults)
                 if f.action in NETWORK_ACTIONS and deployment.network_control() is None]
    if problems:
        raise HarnessError("the scenario's fault schedule does not fit this twin", detail="\n".join(problems))


class FaultScheduler:
    """Runs a schedule on its own thread; `join()` returns the events once all recovery is measured."""

    def __init__(self, deployment: Deployment, topic: str, faults: tuple[FaultSpec, ...], *, recovery_timeout: float = RECOVERY_TIMEOUT_S,
                 progress: Progress = quiet, driver: RestartableJob | None = None) -> None:
        self.deployment, self.topic, self.faults = deployment, topic, tuple(sorted(faults, key=lambda f: f.at))
        self.driver = driver  # the job's own driver process, when a fault targets it
        self.recovery_timeout = recovery_timeout
        self.events: list[FaultEvent] = []
        self.labels: dict[str, list[str]] = {}
        self._fired: dict[str, FaultEvent] = {}  # label -> the event of the fault that set it, once it has fired
        self._watches: dict[tuple[int, str], threading.Thread] = {}  # (id(event), recovery key) -> its watch
        self._held: set[str] = set()  # nodes this schedule paused or cut off, and has not restored yet
        self._restored: dict[str, float] = {}  # node -> when this schedule last resumed, started or healed it
        self._threads: list[threading.Thread] = []
        self._progress = progress
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
        while any(t.is_alive() for t in self._threads):  # a fault that waited may have started watches of its own
            for thread in list(self._threads):
                thread.join()
        return sorted(self.events, key=lambda e: (e.fired_s is None, e.fired_s or 0.0))

    def _run(self) -> None:
        for fault in self.faults:
            if fault.waits_for is not None:  # on a thread of its own: a timed fault after it is not held up by its wait
                self._spawn(f"fault-after-{fault.after}", lambda fault=fault: self._fire_after(fault))
                continue
            if self._stop.wait(max(0.0, self._t0 + fault.at / 1000 - time.monotonic())):
                return
            self._fire(fault)

    def _fire_after(self, fault: FaultSpec) -> None:
        """Fire once the fact holds: the labelled fault has fired and the recovery it measures was observed."""
        assert fault.waits_for is not None
        fact, label = fault.waits_for
        event = FaultEvent(at_s=fault.at / 1000, after=fault.after, action=fault.action, target=fault.target)

        def cancelled() -> None:
            if self._stop.is_set():
                raise _Cancelled

        try:
            bound = max(f.at for f in self.faults) / 1000 + self.recovery_timeout * len(self.faults)  # the whole schedule, waits and all
            wait_for(lambda: label in self._fired, what=f"fault @{label}", timeout=bound, guard=cancelled, interval=0.1)
            watch = self._watches.get((id(self._fired[label]), f"{fact}_s"))
            if watch is None:
                raise HarnessError(f"@{label} measured no {fact} (it disrupted nothing that has one), so `after: {fault.after}` never holds")
            wait_for(lambda: not watch.is_alive(), what=f"{fact} of @{label}", timeout=self.recovery_timeout + 30, guard=cancelled, interval=0.1)
            if self._fired[label].recovery.get(f"{fact}_s") is None:
                raise HarnessError(f"{fact} of @{label} was not observed within {self.recovery_timeout:.0f} s, so this fault did not fire")
            if self._stop.wait(max(0.0, self._t0 + fault.at / 1000 - time.monotonic())):
                return
        except (_Cancelled, KeyboardInterrupt):
            return
        except (HarnessError, NotReadyError) as exc:
            event.error = str(exc)
            self.events.append(event)
            return
        self._fire(fault, event)

    def _fire(self, fault: FaultSpec, event: FaultEvent | None = None) -> None:
        event = event or FaultEvent(at_s=fault.at / 1000, action=fault.action, target=fault.target)
        self.events.append(event)
        try:
            if fault.target == "driver":
                self._driver_fault(event, fault.action)
            else:
                self._node_fault(event, fault)
        except Exception as exc:  # noqa: BLE001 - a failed fault is recorded, and the run goes on
            event.error = str(exc)
        if fault.label:
            self._fired[fault.label] = event  # after its recovery watches started: a fault that waits finds them

    def _node_fault(self, event: FaultEvent, fault: FaultSpec) -> None:
        nodes = resolve_target(self.deployment, fault.target, self.labels, bootstrap=self._bootstrap())
        event.nodes = nodes
        before = self._broker_ids(nodes)
        led = self._led_by(before) if fault.action in DISRUPTS else set()
        controllers = self._controllers_among(nodes) if fault.action in DISRUPTS else []
        ensemble = self._ensemble_before(nodes)
        event.fired_s = round(time.monotonic() - self._t0, 3)
        inject(self.deployment, fault, victims=nodes)
        self._hold(nodes, fault.action)
        if fault.action in RESTORES:
            self._restored.update(dict.fromkeys(nodes, time.monotonic()))
        self._progress(f"fault at {event.fired_s:.1f}s: {fault.action} {', '.join(nodes)}")
        if fault.label:
            self.labels[fault.label] = nodes
        self._measure(event, fault.action, before, led)
        self._measure_quorum(event, controllers)
        self._measure_ensemble(event, fault.action, ensemble)

    def _hold(self, nodes: list[str], action: str) -> None:
        if action in ("pause", "partition"):  # a killed or stopped broker refuses connections at once: no need to avoid it
            self._held.update(nodes)
        elif action in RESTORES:
            self._held.difference_update(nodes)

    def _bootstrap(self) -> str:
        """The brokers no fault of this schedule holds paused or cut off. Such a broker accepts connections
        (or drops them) and answers nothing, so a client that picks it for a metadata request waits out
        its whole time-out: a fault due 1 s after a pause would fire seconds late, after ZooKeeper gave
        up on the paused brokers, and the scenario would test something else."""
        free = [endpoint for name, endpoint in self._endpoints.items() if name not in self._held]
        return ",".join(free) or self.deployment.bootstrap_servers

    @functools.cached_property
    def _endpoints(self) -> dict[str, str]:
        """Each broker's endpoint for clients here: asked once, when the first fault fires, not on every probe."""
        return {b.hostname: self.deployment.client_endpoint(b.hostname) for b in self.deployment.topology.brokers}

    def _spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

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

    def _broker_ids(self, nodes: list[str]) -> set[int]:
        return {self.deployment.node_id(n) for n in nodes if self.deployment.is_broker(n)}

    # ----- recovery ------------------------------------------------------------------------

    def _led_by(self, brokers: set[int]) -> set[int]:
        try:
            info = admin.describe(self._bootstrap(), self.topic, timeout=5)
        except Exception:  # noqa: BLE001 - no snapshot, no leader-election measurement
            return set()
        return {p.partition for p in info.partitions if p.leader in brokers}

    def _measure(self, event: FaultEvent, action: str, brokers: set[int], led: set[int]) -> None:
        """Leader election: until the partitions the victims led have other leaders. ISR restored:
        until the returning brokers are back in the ISR of every partition they replicate."""
        if not brokers or action not in DISRUPTS | RESTORES or (action in DISRUPTS and not led and action != "partition"):
            return
        started = time.monotonic()
        if action == "partition":
            self._watch(event, "out_of_isr_s", started, lambda: all(
                b not in p.isr for p in admin.describe(self._bootstrap(), self.topic, timeout=2).partitions for b in brokers if b in p.replicas),
                victims=event.nodes)
            if not led:
                return
        if action in DISRUPTS:
            key = "leader_election_s"

            def done(info: admin.TopicInfo) -> bool:
                return all(p.leader >= 0 and p.leader not in brokers for p in info.partitions if p.partition in led)
        else:
            key = "isr_restored_s"

            def done(info: admin.TopicInfo) -> bool:
                return all(b in p.isr for p in info.partitions for b in brokers if b in p.replicas)

        self._watch(event, key, started, lambda: done(admin.describe(self._bootstrap(), self.topic, timeout=2)),
                    victims=event.nodes if action in DISRUPTS else None)

    def _controllers_among(self, nodes: list[str]) -> list[str]:
        """The victims that hold the controller role before the fault: KRaft controller nodes, or on
        ZooKeeper the one broker that won the controller election (asked now, since it moves)."""
        topology = self.deployment.topology
        if not topology.stack.uses_zookeeper:
            return [n for n in nodes if topology.node(n).is_controller]
        try:
            current = self.deployment.zookeeper_controller(self._bootstrap())
        except Exception:  # noqa: BLE001 - no controller right now: nothing to time
            return []
        return [n for n in nodes if n == current]

    def _measure_quorum(self, event: FaultEvent, victims: list[str]) -> None:
        """A disrupted controller: time until a live controller that is not one of the victims leads."""
        if victims:
            self._watch(event, "controller_election_s", time.monotonic(), lambda: resolve_target(
                self.deployment, "controller", bootstrap=self._bootstrap())[0] not in victims, victims=victims)

    def _ensemble_before(self, nodes: list[str]) -> dict[str, str | None]:
        """The ZooKeeper ensemble's roles just before a fault that hits one of its servers (empty otherwise)."""
        topology = self.deployment.topology
        if not topology.stack.uses_zookeeper or not any(topology.node(n).is_zookeeper for n in nodes):
            return {}
        try:
            return self.deployment.zookeeper_modes()
        except Exception:  # noqa: BLE001 - no snapshot: the effect is still timed, without the roles before
            return {}

    def _measure_ensemble(self, event: FaultEvent, action: str, before: dict[str, str | None]) -> None:
        """What a fault on ZooKeeper servers did: a disruption is timed until the others serve with a leader
        (the quorum held, or re-elected one), a restore until the server serves again; both note the roles seen."""
        victims = [n for n in event.nodes if n in before]
        if not victims:
            return
        roles = ", ".join(f"{h} {m or 'not serving'}" for h, m in before.items())
        if action in DISRUPTS:
            event.notes.append(f"ZooKeeper before: {roles}")

            def quorum_serves() -> bool:
                others = {h: m for h, m in self.deployment.zookeeper_modes().items() if h not in victims}
                held = all(others.values()) and "leader" in others.values()
                if held:
                    event.notes.append(f"ZooKeeper after: {len(others)} of {len(before)} servers keep the quorum: "
                                       + ", ".join(f"{h} {m}" for h, m in others.items()))
                return held

            self._watch(event, "zookeeper_quorum_s", time.monotonic(), quorum_serves)
        elif action in RESTORES:
            def rejoined() -> bool:
                modes = self.deployment.zookeeper_modes()
                back = all(modes.get(v) in ("leader", "follower") for v in victims)
                if back:
                    event.notes.append("ZooKeeper after: " + ", ".join(f"{v} rejoined as {modes[v]}" for v in victims))
                return back

            self._watch(event, "zookeeper_rejoined_s", time.monotonic(), rejoined)

    def _watch(self, event: FaultEvent, key: str, started: float, recovered: Callable[[], bool], *, victims: list[str] | None = None) -> None:
        """Time, on its own thread, until `recovered()` holds; None if it does not within the recovery time-out.
        A disruption's watch (`victims` given) also ends once the schedule has restored every victim: a
        controller paused for a second is often still the controller when it resumes, and waiting out the
        whole time-out for an election that is no longer needed would stall the run for two minutes."""

        def cancelled() -> None:
            if self._stop.is_set():
                raise _Cancelled
            if victims and all(self._restored.get(v, 0.0) > started for v in victims):
                raise _Moot

        def watch() -> None:
            try:
                wait_for(recovered, what=key, timeout=max(0.0, started + self.recovery_timeout - time.monotonic()), guard=cancelled, interval=0.1)
                event.recovery[key] = round(time.monotonic() - started, 3)
            except _Moot:
                if _holds(recovered):  # it happened in the last interval after all
                    event.recovery[key] = round(time.monotonic() - started, 3)
                    return
                event.recovery[key] = None
                assert victims is not None
                restored = max(self._restored[v] for v in victims) - self._t0
                event.notes.append(f"{key.removesuffix('_s')}: none before {', '.join(victims)} came back at {restored:.1f}s")
            except (NotReadyError, _Cancelled, KeyboardInterrupt):  # not recovered in time, or the run ended first
                event.recovery[key] = None

        self._watches[(id(event), key)] = self._spawn(f"recovery-{key}", watch)


def _holds(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # noqa: BLE001 - a probe that fails says "not yet", as in wait_for
        return False
