"""The built-in hdinsight profile on release hdinsight-5.1 (local backend): Kafka 3.2 brokers on three
real ZooKeeper servers, replication, the controller role moving when its broker dies, and the
cluster riding out the loss of one ZooKeeper server, and the stock ticker on Spark 3.3.4 checked by
Spark 3.3's own late-row rule."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import Deployment, new_deployment
from harness.errors import ConfigError
from harness.faults.inject import inject
from harness.jobs.application import Submission
from harness.jobs.spec import ApplicationSpec
from harness.faults.schedule import fault_from
from harness.kafka import admin
from harness.runner import run_scenario, running_twin
from harness.runtime.readiness import wait_for, zookeeper_mode
from harness.scenarios.spec import load_scenario
from tests.conftest import REPO
from tests.test_cluster import consume_all, produce

pytestmark = pytest.mark.slow
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def zookeeper_twin() -> Iterator[Deployment]:
    deployment = new_deployment("hdinsight", f"pytest-zk-{os.getpid()}", "local", release="hdinsight-5.1")
    with running_twin(deployment) as twin:
        yield twin


def modes(twin: Deployment) -> dict[str, str | None]:
    return {n.hostname: zookeeper_mode(n.address, n.ports["zookeeper"]) for n in twin.state().nodes if n.ports.get("zookeeper")}


def test_kafka_32_brokers_run_on_a_zookeeper_ensemble(zookeeper_twin: Deployment) -> None:
    rows = {r.hostname: r for r in zookeeper_twin.status()}
    assert {h: r.role for h, r in rows.items() if h.startswith("zk")} == dict.fromkeys(("zk0-kafka", "zk1-kafka", "zk2-kafka"), "zookeeper")
    assert sorted(modes(zookeeper_twin).values()) == ["follower", "follower", "leader"]
    broker_log = Path(next(n.log for n in zookeeper_twin.state().nodes if n.hostname == "wn0-kafka"))
    assert "Kafka version: 3.2.3" in broker_log.read_text()
    assert len(admin.brokers(zookeeper_twin.bootstrap_servers)) == 3


def test_records_replicate_and_survive_the_controller_broker(zookeeper_twin: Deployment) -> None:
    bootstrap = zookeeper_twin.bootstrap_servers
    admin.create_topic(bootstrap, "zk-replicated", partitions=3, replication_factor=3, configs={"min.insync.replicas": "2"})
    before = produce(bootstrap, "zk-replicated", 200, "before")
    control = zookeeper_twin.node_control()
    assert control is not None
    [victim] = inject(zookeeper_twin, fault_from("kill", "controller"))
    assert zookeeper_twin.is_broker(victim), "on ZooKeeper the controller role is held by a broker"
    wait_for(lambda: control.active_controller() != victim, what="another broker to take the controller role", timeout=90)
    during = produce(bootstrap, "zk-replicated", 200, "during")
    zookeeper_twin.heal()
    wait_for(lambda: admin.describe(bootstrap, "zk-replicated").fully_in_sync, what="the ISR to be whole again", timeout=90)
    assert sorted(consume_all(bootstrap, "zk-replicated", 3)) == sorted(before + during)


def test_the_cluster_rides_out_a_lost_zookeeper_server(zookeeper_twin: Deployment) -> None:
    bootstrap = zookeeper_twin.bootstrap_servers
    inject(zookeeper_twin, fault_from("kill", "zk1-kafka"))
    assert modes(zookeeper_twin)["zk1-kafka"] is None
    wait_for(lambda: sorted(m for h, m in modes(zookeeper_twin).items() if h != "zk1-kafka") == ["follower", "leader"],
             what="the two remaining ZooKeeper servers to keep a quorum", timeout=60)
    admin.create_topic(bootstrap, "zk-after-loss", partitions=2, replication_factor=3)  # metadata writes go through ZooKeeper
    zookeeper_twin.heal()
    wait_for(lambda: modes(zookeeper_twin)["zk1-kafka"] in ("follower", "leader"), what="zk1-kafka to rejoin the ensemble", timeout=60)


def test_the_stock_ticker_runs_on_spark_33_and_matches_its_late_row_rule(zookeeper_twin: Deployment) -> None:
    report = run_scenario(load_scenario(SCENARIOS / "stock-ticker.yaml"), deployment=zookeeper_twin)
    assert report.verdict == "pass", report.render()
    assert "Spark 3.3.4 on Scala 2.12" in report.release
    assert report.job["spark"]["version"] == "3.3.4"  # as the job's own driver reported it: not the harness's pyspark
    assert "driver Spark 3.3.4" in report.render()


@pytest.fixture(scope="module")
def spark33_jar() -> Path:
    """The example application built for HDInsight 5.1's Spark: Spark 3.3.4 on Scala 2.12."""
    from tests.test_scala_application import build_example

    return build_example("spark-3.3")


def test_a_scala_212_application_runs_on_spark_33(zookeeper_twin: Deployment, spark33_jar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    scenario = load_scenario(SCENARIOS / "stock-ticker-scala-app.yaml")
    application = scenario.job.application
    assert application is not None
    scenario = scenario.with_job({"application": {**application.model_dump(mode="json"), "file": str(spark33_jar)},
                                  "output": {"kafka_topic": "stockWindowsScala"}})
    report = run_scenario(scenario, deployment=zookeeper_twin)
    assert report.verdict == "pass", report.render()
    assert report.job["spark"]["version"] == "3.3.4"  # from the application's own event log
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0


def test_the_scala_212_jar_is_refused_on_the_current_release_with_the_reason(spark33_jar: Path, tmp_path: Path) -> None:
    application = ApplicationSpec(file=str(spark33_jar), main_class="example.stockwindows.StockWindows")
    submission = Submission(application, bootstrap="127.0.0.1:9092", topic="stockVals", workdir=tmp_path, master="local[1]", memory_mb=512,
                            release="current")
    with pytest.raises(ConfigError, match=r"built for another Scala than release current's Spark 4\.2\.0 \(Scala 2\.13\)") as refused:
        submission.argv()
    assert "scala/Serializable" in str(refused.value) and "--release hdinsight-5.1" in str(refused.value)


def test_the_shipped_zookeeper_loss_scenario_reports_what_the_kill_did(zookeeper_twin: Deployment) -> None:
    report = run_scenario(load_scenario(SCENARIOS / "zookeeper-loss.yaml"), deployment=zookeeper_twin)
    assert report.verdict == "pass", report.render()
    kill, start = report.faults
    assert kill["nodes"] == ["zk1-kafka"] and kill["recovery"]["zookeeper_quorum_s"] is not None
    assert kill["notes"][0].startswith("ZooKeeper before: ") and "2 of 3 servers keep the quorum" in kill["notes"][1]
    assert "zk1-kafka" not in kill["notes"][1]  # the quorum without the killed server
    assert start["recovery"]["zookeeper_rejoined_s"] is not None and "zk1-kafka rejoined as" in start["notes"][0]
