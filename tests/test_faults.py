"""Faults on the session's twin: actions by hand, shipped fault scenarios, and the checker failing when it must."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.backends import Deployment
from harness.kafka import admin
from harness.runner import RunReport
from harness.runtime.readiness import wait_for
from tests.test_cluster import consume_all, produce

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_pause_and_resume_a_broker(harness_deployment: Deployment, fault: Callable[[str, str], list[str]]) -> None:
    fault("pause", "wn2-kafka")
    assert {r.hostname: r.state for r in harness_deployment.status()}["wn2-kafka"] == "paused"
    fault("resume", "wn2-kafka")
    assert {r.hostname: r.state for r in harness_deployment.status()}["wn2-kafka"] == "running"


def test_kill_the_leader_and_restart_it(harness_deployment: Deployment, kafka_bootstrap: str, kafka_topic: Callable[..., str],
                                        fault: Callable[[str, str], list[str]]) -> None:
    topic = kafka_topic(partitions=1)
    before = produce(kafka_bootstrap, topic, 100, "before")
    [victim] = fault("kill", f"leader({topic}/0)")
    assert {r.hostname: r.state for r in harness_deployment.status()}[victim] == "exited"
    victim_id = harness_deployment.node_id(victim)
    wait_for(lambda: admin.describe(kafka_bootstrap, topic).partitions[0].leader not in (-1, victim_id), what="a new leader", timeout=60)
    during = produce(kafka_bootstrap, topic, 100, "during")
    fault("start", victim)
    wait_for(lambda: admin.describe(kafka_bootstrap, topic).fully_in_sync, what="the ISR to be whole again", timeout=60)
    assert sorted(consume_all(kafka_bootstrap, topic, 1)) == sorted(before + during)


def test_the_active_controller_is_found_and_can_be_killed(harness_deployment: Deployment, fault: Callable[[str, str], list[str]]) -> None:
    first = harness_deployment.active_controller()
    assert fault("kill", "controller") == [first]
    wait_for(lambda: harness_deployment.active_controller() != first, what="a new quorum leader", timeout=60)


def test_fault_cli(harness_deployment: Deployment, capsys) -> None:  # noqa: ANN001
    from harness.cli import main

    try:
        assert main(["fault", "pause", "wn0-kafka", "--name", harness_deployment.run.name]) == 0
        assert "pause: wn0-kafka" in capsys.readouterr().out
        assert main(["fault", "kill", "wn9-kafka", "--name", harness_deployment.run.name]) == 2
        assert "no node 'wn9-kafka'" in capsys.readouterr().err
    finally:
        harness_deployment.heal()


def test_broker_failover_loses_nothing(run_scenario: Callable[..., RunReport]) -> None:
    report = run_scenario(SCENARIOS / "broker-failover.yaml")
    assert report.verdict == "pass", report.render()
    assert report.delivery["lost"] == 0 and report.delivery["duplicated"] == 0
    kill = report.faults[0]
    assert kill["action"] == "kill" and kill["error"] is None and kill["recovery"]["leader_election_s"] is not None
    start = report.faults[1]
    assert start["recovery"]["isr_restored_s"] is not None
    assert start["fired_s"] >= kill["fired_s"] + kill["recovery"]["leader_election_s"]  # it waited for the election it names


def test_acks1_leader_loss_is_detected(run_scenario: Callable[..., RunReport]) -> None:
    """The checker must be able to fail: acks=1 with a lagging ISR loses acknowledged records, and it says so."""
    report = run_scenario(SCENARIOS / "acks1-leader-loss.yaml")
    assert [(f["action"], f["error"]) for f in report.faults] == [("pause", None), ("kill", None), ("resume", None), ("start", None)], report.render()
    assert report.verdict == "fail"
    assert report.delivery["lost"] > 0, report.render()
    lost = next(c for c in report.checks if c.name == "no acknowledged record lost")
    assert not lost.ok and "- lost partition 0 offset" in lost.detail
    # Spark never saw the lost records (they were above the high watermark): its windows still match.
    assert next(c for c in report.checks if c.name == "sink rows equal the oracle's").ok


@pytest.mark.slow
def test_controller_failover_loses_nothing(run_scenario: Callable[..., RunReport]) -> None:
    report = run_scenario(SCENARIOS / "controller-failover.yaml")
    assert report.verdict == "pass", report.render()
    assert report.delivery["lost"] == 0 and report.faults[0]["nodes"]
    assert report.faults[0]["recovery"]["controller_election_s"] is not None


def test_driver_restart_from_checkpoint_gives_exactly_the_oracle(run_scenario: Callable[..., RunReport]) -> None:
    report = run_scenario(SCENARIOS / "driver-restart.yaml")
    assert report.verdict == "pass", report.render()
    incarnations = report.job["driver_incarnations"]
    assert len(incarnations) == 2  # killed once, started once, resumed from the checkpoint
    # The new driver continued the batch sequence: it did not start over, and no batch id was skipped.
    # (Its predecessor's last batch may be missing from `incarnations`, which are progress events a
    # kill -9 can cut short; the batch list also holds committed batches read from the checkpoint.)
    assert incarnations[1][0] > 0
    ids = [b["id"] for b in report.job["batches"]]
    assert ids == list(range(len(ids))) and incarnations[1][0] in ids
    assert report.verification["duplicated"] == 0 and report.verification["missing"] == 0
    assert report.faults[1]["recovery"]["job_resumed_s"] is not None


def test_a_partitioned_broker_leaves_and_rejoins_the_isr(harness_deployment: Deployment, kafka_topic: Callable[..., str],
                                                          fault: Callable[..., list[str]]) -> None:
    """A network fault: on the docker backend for real; the local backend refuses it and says which backend can."""
    from harness.errors import HarnessError

    if harness_deployment.network_control() is None:
        with pytest.raises(HarnessError, match="--backend docker"):
            fault("partition", "wn2-kafka")
        return
    topic = kafka_topic(partitions=3)
    victim = harness_deployment.node_id("wn2-kafka")
    survivors = ",".join(harness_deployment.client_endpoint(b) for b in ("wn0-kafka", "wn1-kafka"))
    assert fault("partition", "wn2-kafka") == ["wn2-kafka"]
    wait_for(lambda: all(victim not in p.isr for p in admin.describe(survivors, topic).partitions),
             what="wn2-kafka to leave every ISR", timeout=60)
    harness_deployment.heal_network("wn2-kafka")
    wait_for(lambda: all(victim in p.isr for p in admin.describe(survivors, topic).partitions),
             what="wn2-kafka to rejoin every ISR", timeout=90)
