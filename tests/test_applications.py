"""A team's own PySpark application, submitted unchanged with spark-submit to the session's twin and
verified from what it wrote to its own Kafka topic; its wrong variant fails with the rows named."""

from __future__ import annotations

import pytest

from harness.backends import Deployment
from harness.runner import run_scenario as run_on
from harness.scenarios.spec import load_scenario
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def test_the_submitted_application_passes_verified_from_its_kafka_topic(harness_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_on(load_scenario(REPO / "scenarios" / "stock-ticker-app.yaml"), deployment=harness_deployment)
    assert report.verdict == "pass", report.render()
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0
    assert report.job["micro_batches"] >= 2  # batches from Spark's event log and the checkpoint, not from the application
    assert report.job["catch_up"]["outcome"] == "finished"
    assert {c.name for c in report.checks} >= {"sink rows equal the oracle's", "Spark's watermark per batch equals the oracle's"}


def test_the_real_time_application_passes_against_its_oracle_and_times_every_alert(harness_deployment: Deployment,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """scenarios/price-alerts-realtime.yaml: a stateless application with Spark's real-time trigger, Kafka to Kafka."""
    stack = harness_deployment.topology.stack
    if tuple(int(n) for n in stack.spark_version.split(".")[:2]) < (4, 1):
        pytest.skip(f"real-time mode is Spark 4.1+; release {stack.name} runs Spark {stack.spark_version}")
    monkeypatch.chdir(REPO)
    report = run_on(load_scenario(REPO / "scenarios" / "price-alerts-realtime.yaml"), deployment=harness_deployment)
    assert report.verdict == "pass", report.render()
    assert "sink rows equal the user's oracle" in {c.name for c in report.checks}
    assert report.verification["actual_rows"] >= 200
    assert report.job["latency_ms"]["count"] == report.verification["actual_rows"]  # every alert timed: send -> appended


def test_the_plugin_runs_a_scenario_with_a_teams_wrong_application_and_names_the_missing_rows(run_scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """The plugin's `run_scenario(..., job={...})`: the built-in job's scenario, with the team's application
    (its --wrong variant, tests/data/stock-ticker-app-wrong.yaml as a job) in its place."""
    monkeypatch.chdir(REPO)
    wrong = load_scenario(REPO / "tests" / "data" / "stock-ticker-app-wrong.yaml").job
    report = run_scenario("scenarios/stock-ticker.yaml", job={"application": wrong.application.model_dump(), "output": {"kafka_topic": "stockWindowsWrong"}})
    assert report.job["name"] == "examples/apps/stock_windows_app.py (spark-submit)"
    assert report.verdict == "fail"
    rows = next(c for c in report.checks if c.name == "sink rows equal the oracle's")
    assert not rows.ok and "MSFT" in rows.detail and "missing" in rows.detail


def test_harness_submit_runs_an_application_by_hand_with_the_twins_values(harness_deployment: Deployment, kafka_topic) -> None:  # noqa: ANN001
    from confluent_kafka import Producer

    topic = kafka_topic(partitions=2)
    producer = Producer({"bootstrap.servers": harness_deployment.bootstrap_servers, "acks": "all"})
    for n in range(7):
        producer.produce(topic, f"record {n}".encode())
    assert producer.flush(60) == 0
    done = run_cli("submit", "--name", harness_deployment.run.name, "--topic", topic, "tests/user_jobs/count_app.py", "--", "{bootstrap}", "{topic}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"records in {topic}: 7; HARNESS_BOOTSTRAP={harness_deployment.bootstrap_servers}" in done.stdout
    wrong = run_cli("submit", "--name", harness_deployment.run.name, "tests/user_jobs/count_app.py", "--", "{bootstrap}", "{topik}")
    assert wrong.returncode == 2 and "unknown placeholder" in wrong.stderr and "{topic}" in wrong.stderr


def test_a_killed_and_resubmitted_application_loses_nothing_and_counts_its_rewrites(harness_deployment: Deployment,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_on(load_scenario(REPO / "scenarios" / "stock-ticker-app-driver-restart.yaml"), deployment=harness_deployment)
    assert report.verdict == "pass", report.render()
    assert [f["action"] for f in report.faults] == ["kill", "start"] and not any(f.get("error") for f in report.faults)
    assert len(report.job["driver_incarnations"]) == 2  # two submissions, each with its own event log
    assert report.verification["sink_rewritten_rows"] is not None and "rows written again by a re-run batch" in report.render()


def test_a_killed_and_resubmitted_application_writing_parquet_is_exactly_once_by_the_sinks_log(harness_deployment: Deployment,
                                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_on(load_scenario(REPO / "scenarios" / "stock-ticker-app-parquet-driver-restart.yaml"), deployment=harness_deployment)
    assert report.verdict == "pass", report.render()
    assert [f["action"] for f in report.faults] == ["kill", "start"] and len(report.job["driver_incarnations"]) == 2
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0
    assert report.verification["sink_rewritten_rows"] is None  # the file sink has no rewrites to count: its log commits each batch once
    assert any("parquet files at" in note and "by the sink's log" in note for note in report.verification["sink_notes"])
