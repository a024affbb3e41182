"""Fault schedules: the `after:` grammar, and a scheduler that fires a waiting fault on the fact it waits
for, asks only brokers no fault holds, and is not held up by a wait. The cluster here is a fake (faults
land on a dict, elections happen on a timer of the fake's own); the scheduler and its grammar are real."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import ValidationError

from harness.faults import inject
from harness.faults.inject import FaultScheduler
from harness.faults.schedule import FaultSpec, check_schedule
from harness.kafka.admin import PartitionInfo, TopicInfo
from harness.topology.loader import load_profile


def spec(**fields: object) -> FaultSpec:
    return FaultSpec.model_validate(fields)


def test_after_names_a_fact_and_a_label() -> None:
    fault = spec(after="leader_election(@old-leader)", action="start", target="@old-leader")
    assert fault.waits_for == ("leader_election", "old-leader") and fault.at == 0
    with pytest.raises(ValidationError, match="not a fact to wait for.*leader_election"):
        spec(after="leader_elected(@old-leader)", action="start", target="@old-leader")
    with pytest.raises(ValidationError, match="needs `at`.*or `after`"):
        spec(action="start", target="wn0-kafka")


def test_check_schedule_says_what_an_after_cannot_wait_for() -> None:
    kill = spec(at="4s", action="kill", target="leader(stockVals/0)", **{"as": "old"})
    start = spec(at="9s", action="start", target="@old", **{"as": "back"})
    assert check_schedule((kill, spec(after="leader_election(@old)", action="start", target="@old")), None) == []
    problems = check_schedule((spec(after="leader_election(@old)", action="start", target="wn0-kafka"), kill), None)
    assert problems == ["faults[0].after: label @old is not set by an earlier fault (`as: old`)"]
    problems = check_schedule((kill, start, spec(after="leader_election(@back)", action="kill", target="wn0-kafka")), None)
    assert len(problems) == 1 and problems[0].startswith("faults[2].after: leader_election follows a kill/partition/pause/stop fault")
    assert "isr_restored" in problems[0]
    driver = spec(at="5s", action="kill", target="driver", **{"as": "d"})
    assert check_schedule((driver, spec(after="leader_election(@d)", action="start", target="driver")), None) == [
        "faults[1].after: a driver fault is followed by job_resumed only, not leader_election"]


class FakeCluster:
    """Three brokers and one partition led by broker 1. A killed leader is replaced `election_s` later,
    by the first follower that is not paused; what the scheduler asked is recorded."""

    def __init__(self, election_s: float) -> None:
        self.topology = load_profile("hdinsight").with_release("hdinsight-5.1")
        self.backend = "fake"
        self.bootstrap_servers = "b1,b2,b3"
        self.leader, self.election_s = 1, election_s
        self.dead: set[int] = set()
        self.paused: set[int] = set()
        self.log: list[tuple[float, str]] = []
        self.asked: list[tuple[str, set[int]]] = []  # (what, brokers asked) while some were paused
        self._t0 = time.monotonic()

    def note(self, what: str) -> None:
        self.log.append((time.monotonic() - self._t0, what))

    # --- what the scheduler asks of a deployment
    def client_endpoint(self, name: str) -> str:
        return f"b{self.node_id(name)}"

    def node_id(self, name: str) -> int:
        return [b.hostname for b in self.topology.brokers].index(name) + 1

    def hostname_for_id(self, node_id: int) -> str:
        return self.topology.brokers[node_id - 1].hostname

    def is_broker(self, name: str) -> bool:
        return True

    def node_control(self) -> FakeCluster:
        return self

    def network_control(self) -> None:
        return None

    def zookeeper_controller(self, bootstrap: str | None = None) -> str:
        return self.hostname_for_id(3)

    def describe(self, bootstrap: str, topic: str, timeout: float = 10.0) -> TopicInfo:
        asked = {int(b[1:]) for b in bootstrap.split(",")}
        if self.paused:
            self.asked.append(("describe", asked))
        isr = tuple(b for b in (1, 2, 3) if b not in self.dead)
        return TopicInfo(topic, (PartitionInfo(0, self.leader, (1, 2, 3), isr),))

    # --- node control
    def stop_node(self, name: str, graceful: bool) -> None:
        broker = self.node_id(name)
        self.dead.add(broker)
        self.note(f"kill {broker}")
        if broker == self.leader:
            self.leader = -1
            threading.Timer(self.election_s, self._elect).start()

    def _elect(self) -> None:
        self.leader = next(b for b in (1, 2, 3) if b not in self.dead | self.paused)
        self.note(f"elected {self.leader}")

    def start_node(self, name: str) -> None:
        self.dead.discard(self.node_id(name))
        self.note(f"start {self.node_id(name)}")

    def pause_node(self, name: str) -> None:
        self.paused.add(self.node_id(name))
        self.note(f"pause {self.node_id(name)}")

    def resume_node(self, name: str) -> None:
        self.paused.discard(self.node_id(name))
        self.note(f"resume {self.node_id(name)}")


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster(election_s=2.0)
    monkeypatch.setattr(inject.admin, "describe", fake.describe)
    return fake


def run(cluster: FakeCluster, *faults: FaultSpec) -> list:
    scheduler = FaultScheduler(cluster, "stockVals", faults, recovery_timeout=10)  # type: ignore[arg-type]
    scheduler.start()
    return scheduler.join()


def test_a_fault_after_an_election_fires_once_the_new_leader_is_seen_and_a_timed_one_is_not_held_up(cluster: FakeCluster) -> None:
    events = run(cluster,
                 spec(at="100ms", action="kill", target="leader(stockVals/0)", **{"as": "old"}),
                 spec(after="leader_election(@old)", action="start", target="@old"),
                 spec(at="300ms", action="pause", target="wn2-kafka"),
                 spec(at="400ms", action="resume", target="wn2-kafka"))
    order = [what for _, what in cluster.log]
    assert order == ["kill 1", "pause 3", "resume 3", "elected 2", "start 1"]
    start = next(e for e in events if e.after)
    kill = events[0]
    assert start.error is None and start.fired_s >= kill.fired_s + kill.recovery["leader_election_s"]
    assert [e.action for e in events] == ["kill", "pause", "resume", "start"]  # the report's order is the order they fired


def test_a_fault_whose_fact_is_never_observed_does_not_fire_and_says_why(cluster: FakeCluster) -> None:
    cluster.election_s = 60.0  # longer than the recovery time-out
    scheduler = FaultScheduler(cluster, "stockVals", (spec(at="0s", action="kill", target="leader(stockVals/0)", **{"as": "old"}),  # type: ignore[arg-type]
                                                      spec(after="leader_election(@old)", action="start", target="@old")), recovery_timeout=0.5)
    scheduler.start()
    events = scheduler.join()
    assert "start 1" not in [what for _, what in cluster.log]
    waited = next(e for e in events if e.after)
    assert waited.fired_s is None and "leader_election of @old was not observed within" in (waited.error or "")


def test_a_fault_right_after_a_pause_asks_only_the_brokers_that_answer(cluster: FakeCluster) -> None:
    run(cluster,
        spec(at="0s", action="pause", target="followers(stockVals/0)", **{"as": "followers"}),
        spec(at="100ms", action="kill", target="leader(stockVals/0)"),
        spec(at="200ms", action="resume", target="@followers"))
    assert cluster.asked and all(asked == {1} for _, asked in cluster.asked[:1])
    assert all(not (asked & {2, 3}) for what, asked in cluster.asked)


def test_a_controller_paused_and_resumed_before_any_election_does_not_hold_the_schedule(cluster: FakeCluster) -> None:
    """The fake's controller (broker 3) never moves: the election watch of its pause ends when the schedule
    resumes it, with a note, instead of waiting out the recovery time-out (the shipped acks1 scenario's
    two-minute stall)."""
    scheduler = FaultScheduler(cluster, "stockVals", (spec(at="0s", action="pause", target="followers(stockVals/0)", **{"as": "f"}),  # type: ignore[arg-type]
                                                      spec(at="200ms", action="resume", target="@f")), recovery_timeout=30)
    started = time.monotonic()
    scheduler.start()
    pause, resume = scheduler.join()
    assert time.monotonic() - started < 15, "the scheduler waited for an election the resume made moot"
    assert "controller_election_s" in pause.recovery and pause.recovery["controller_election_s"] is None
    assert pause.notes == [f"controller_election: none before wn2-kafka came back at {resume.fired_s:.1f}s"]


def test_the_shipped_leader_loss_scenario_restarts_the_old_leader_on_the_observed_election() -> None:
    from harness.scenarios.spec import load_scenario

    scenario = load_scenario("scenarios/acks1-leader-loss.yaml")
    start = next(f for f in scenario.faults if f.action == "start")
    assert start.waits_for == ("leader_election", "old-leader")
    assert check_schedule(scenario.faults, None) == []
