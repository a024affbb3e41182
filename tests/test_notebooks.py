"""A team's own notebooks, run cell by cell with the kernel they declare against the session's twin, and
verified from their own sinks: the Scala notebook (sparkkernel, Spark's Scala shell) from its memory table,
the PySpark notebook (pysparkkernel, spark-submit) from the batches its console sink printed. Each wrong
variant fails with the rows named, and a cell that does not compile fails the run naming the cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.backends import Deployment
from harness.errors import HarnessError
from harness.runner import run_scenario
from harness.scenarios.spec import load_scenario
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _notes(report) -> str:  # noqa: ANN001
    return "\n".join(report.verification["sink_notes"])


def test_the_scala_notebook_passes_verified_from_its_memory_table(harness_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker-notebook-scala.yaml"), deployment=harness_deployment)
    assert report.verdict == "pass", report.render()
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0
    assert report.job["catch_up"]["outcome"] == "finished" and report.job["micro_batches"] >= 1
    notes = _notes(report)
    assert "leaves the broker address `kafkaBrokers` empty: the harness set it to the twin's brokers" in notes
    assert "spark.jars.packages=org.apache.spark:spark-sql-kafka-0-10_2.11:2.2.0 replaced by the harness's pinned" in notes
    assert "the memory table stockWindows" in notes


def test_the_wrong_scala_notebook_fails_and_names_the_missing_msft_rows(harness_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "tests" / "data" / "stock-ticker-notebook-scala-wrong.yaml"), deployment=harness_deployment)
    assert report.verdict == "fail"
    rows = next(c for c in report.checks if c.name == "sink rows equal the oracle's")
    assert not rows.ok and "missing    MSFT" in rows.detail and " 0 extra" in rows.detail


def test_the_pyspark_notebook_passes_with_every_window_its_console_showed_verified(harness_deployment: Deployment,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker-notebook-pyspark.yaml"), deployment=harness_deployment)
    assert report.verdict == "pass", report.render()
    expected = report.verification["expected_rows"]
    assert expected == report.verification["actual_rows"] > 0
    notes = _notes(report)
    assert f"the console sink showed {expected} rows in " in notes and "had more rows than they showed" not in notes  # numRows shows them all
    assert f"Spark's progress says the console sink was given {expected} rows" in notes  # append mode: each window written once
    assert "parameters bootstrap, checkpoint, client_properties assigned in a cell injected after cell 3 (tagged `parameters`)" in notes
    assert report.job["micro_batches"] >= 2 and report.job["catch_up"]["outcome"] == "finished"


def test_the_wrong_pyspark_notebook_fails_and_names_the_missing_msft_rows(harness_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "tests" / "data" / "stock-ticker-notebook-pyspark-wrong.yaml"), deployment=harness_deployment)
    assert report.verdict == "fail"
    rows = next(c for c in report.checks if c.name == "sink rows equal the oracle's")
    assert not rows.ok and "missing    MSFT" in rows.detail


def test_a_scala_cell_that_does_not_compile_fails_the_run_naming_the_cell(harness_deployment: Deployment, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    source = json.loads((REPO / "examples" / "notebooks" / "stock-ticker-scala.ipynb").read_text())
    source["cells"][5]["source"] = ["val schema: Int = \"not a number\"\n"]  # cell 6 of the notebook
    broken = tmp_path / "broken.ipynb"
    broken.write_text(json.dumps(source))
    scenario = (REPO / "scenarios" / "stock-ticker-notebook-scala.yaml").read_text().replace("examples/notebooks/stock-ticker-scala.ipynb", str(broken))
    (tmp_path / "broken.yaml").write_text(scenario.replace("name: stock-ticker-notebook-scala", "name: broken-notebook"))
    with pytest.raises(HarnessError) as error:
        run_scenario(load_scenario(tmp_path / "broken.yaml"), deployment=harness_deployment)
    assert f"the notebook {broken} failed in cell 6" in str(error.value)
    assert "type mismatch" in str(error.value)  # the shell's own compile error, from the log's tail
