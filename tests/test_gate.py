"""`harness gate` as CI runs it: a separate process, exit codes, JUnit with named checks."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow
SCENARIOS = REPO / "scenarios"


def failing_cases(junit: Path) -> list[str]:
    root = ET.parse(junit).getroot()
    return [f"{case.get('classname')}: {case.get('name')}" for case in root.iter("testcase") if case.find("failure") is not None]


def gate(tmp_path: Path, config: dict, *args: str) -> tuple[int, Path, str]:  # type: ignore[type-arg]
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    done = run_cli("gate", "--config", str(path), "--output-dir", str(out), *args, timeout=900)
    return done.returncode, out, done.stdout + done.stderr


def external(bootstrap: str, scenarios: list, **extra: object) -> dict:  # type: ignore[type-arg]
    """The external backend, pointed at the session's twin, which this gate did not start."""
    return {"name": "test gate", "profile": "dev", "target": {"backend": "external", "bootstrap_servers": bootstrap, "spark_master": "local[2]"},
            "scenarios": scenarios, **extra}


def test_a_baseline_regression_fails_the_gate_with_the_metric_named(tmp_path: Path, kafka_bootstrap: str) -> None:
    """A baseline far better than anything this machine does: the gate must call it a regression, and only that.
    (Saving a baseline is the quick gate's test, which starts from none.)"""
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"stock-ticker": {"job.throughput_rows_per_s": 10_000_000.0}}))
    config = external(kafka_bootstrap, [str(SCENARIOS / "stock-ticker.yaml")], benchmarks={"baseline": str(baseline), "tolerance": 0.5})
    code, out, text = gate(tmp_path, config)
    assert code == 1, text
    assert failing_cases(out / "junit.xml") == ["benchmarks: stock-ticker job.throughput_rows_per_s"]
    rows = json.loads((out / "gate.json").read_text())["benchmarks"]
    assert any(r["metric"] == "job.throughput_rows_per_s" and 0 < r["ratio"] < 0.2 for r in rows)
    assert "## test gate: FAIL" in (out / "gate.md").read_text()


def test_a_teams_wrong_application_fails_the_gate_with_the_check_named(tmp_path: Path, kafka_bootstrap: str) -> None:
    """A gate scenario's `job:` puts the team's own application (its --wrong variant) in place of the scenario's job."""
    app = {"file": "examples/apps/stock_windows_app.py",
           "args": ["--bootstrap", "{bootstrap}", "--topic", "{topic}", "--output-topic", "{output_topic}", "--checkpoint", "{checkpoint}", "--wrong"]}
    entry = {"path": str(SCENARIOS / "stock-ticker.yaml"), "job": {"application": app, "output": {"kafka_topic": "stockWindowsGate"}}}
    profile = yaml.safe_load((REPO / "harness" / "topology" / "profiles" / "dev.yaml").read_text())
    profile["spark"]["driver_memory_mb"] = 1152  # not the default: the gate must pass it on to the submitted driver
    (tmp_path / "roomy.yaml").write_text(yaml.safe_dump(profile))
    code, out, text = gate(tmp_path, {**external(kafka_bootstrap, [entry]), "profile": str(tmp_path / "roomy.yaml")})
    assert code == 1, text
    failures = failing_cases(out / "junit.xml")
    assert "scenario stock-ticker: sink rows equal the oracle's" in failures
    assert "scenario stock-ticker: verdict is pass" in failures
    run = json.loads((out / "gate.json").read_text())["runs"]["stock-ticker"]
    assert run["job"]["name"] == "examples/apps/stock_windows_app.py (spark-submit)" and run["job"]["spark"]["driver_memory"] == "1152m"


def test_a_profile_that_violates_a_static_check_fails_before_anything_starts(tmp_path: Path) -> None:
    profile = yaml.safe_load((REPO / "harness" / "topology" / "profiles" / "dev.yaml").read_text())
    profile["kafka"]["topic_defaults"]["min_insync_replicas"] = 3
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(profile))
    config = {"profile": str(tmp_path / "strict.yaml"), "scenarios": [str(SCENARIOS / "stock-ticker.yaml")],
              "job": {"spark_conf": {"spark.dynamicAllocation.enabled": "true"}}}
    code, out, text = gate(tmp_path, config)
    assert code == 1, text
    failures = failing_cases(out / "junit.xml")
    assert "static: min.insync.replicas of stockVals is below its replication factor" in failures
    assert "static: dynamic allocation off for a streaming job" in failures
    assert "not run" in (out / "gate.md").read_text()


def test_a_gate_that_cannot_run_exits_2(tmp_path: Path) -> None:
    code, _, text = gate(tmp_path, {"scenarios": [str(tmp_path / "missing.yaml")]})
    assert code == 2 and "does not exist" in text


def test_the_projects_quick_gate_passes(tmp_path: Path, isolated_runs: Path) -> None:
    """The quick gate CI runs: the sample on a dev twin, and the acks=1 scenario failing as it must."""
    done = run_cli("gate", "--config", str(REPO / "gates" / "quick.yaml"), "--output-dir", str(tmp_path / "out"),
                   "--baseline", str(tmp_path / "baseline.json"), "--save-baseline", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    cases = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert any(case.get("name") == "verdict is fail" for case in cases.iter("testcase"))
    assert not failing_cases(tmp_path / "out" / "junit.xml")
    assert (tmp_path / "out" / "gate.html").exists() and "PASS" in (tmp_path / "out" / "gate.md").read_text()
    saved = json.loads((tmp_path / "baseline.json").read_text())
    assert saved["stock-ticker"]["job.throughput_rows_per_s"] > 0


def test_the_migration_gate_reports_each_release_and_shows_the_ansi_difference(tmp_path: Path) -> None:
    """The shipped migration gate on the smallest twin that runs both releases: the application that casts text
    passes on hdinsight-5.1 (Spark 3.3 nulls "n/a") and is stopped by ANSI mode on current, as the gate expects."""
    config = yaml.safe_load((REPO / "gates" / "migration.yaml").read_text())
    config["profile"] = str(REPO / "tests" / "data" / "zk-small.yaml")
    config["scenarios"] = [{**entry, "path": str(REPO / "scenarios" / Path(entry["path"]).name)} for entry in config["scenarios"]
                           if isinstance(entry, dict)]  # the migration scenario alone: the stock ticker runs in other tests
    code, out, text = gate(tmp_path, config)
    assert code == 0, text
    suites = [s.get("name") for s in ET.parse(out / "junit.xml").getroot().iter("testsuite")]
    assert suites == ["static on hdinsight-5.1", "scenario migration-ansi-casts on hdinsight-5.1", "static on current",
                      "scenario migration-ansi-casts on current"]
    checks = {(c["suite"], c["name"]): c for c in json.loads((out / "gate.json").read_text())["checks"]}
    assert checks[("scenario migration-ansi-casts on hdinsight-5.1", "sink rows equal the oracle's")]["ok"]
    stopped = checks[("scenario migration-ansi-casts on current", "verdict is fail")]
    assert stopped["ok"] and "CAST_INVALID_INPUT" in stopped["detail"] and "'n/a'" in stopped["detail"]
