"""A team's own Scala application, built from its sources with Maven at test time, submitted unchanged with
spark-submit --class to the session's twin and verified from its own Kafka topic; its wrong variant fails
with the rows named. It computes what examples/apps/stock_windows_app.py computes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.backends import Deployment
from harness.errors import ConfigError
from harness.jobs.application import Submission
from harness.runner import run_scenario
from harness.scenarios.spec import load_scenario
from tests.conftest import REPO

pytestmark = pytest.mark.slow

PROJECT = REPO / "examples" / "apps" / "scala" / "stock-windows"
JAR = PROJECT / "target" / "stock-windows.jar"


def _sources() -> list[Path]:
    return [PROJECT / "pom.xml", *(PROJECT / "src").rglob("*.scala")]


def build_example(profile: str | None = None) -> Path:
    """The example's jar for a release's Spark (`-P spark-3.3`: HDInsight 5.1's), built with Maven (`make scala-example`
    does the default one); a jar newer than the pom and every source is used as it is."""
    jar = PROJECT / "target" / profile / "stock-windows.jar" if profile else JAR
    if jar.exists() and jar.stat().st_mtime > max(p.stat().st_mtime for p in _sources()):
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        pytest.fail("Maven (`mvn`) builds the Scala example; install it (Debian/Ubuntu: apt-get install maven)")
    command = [mvn, "-q", "-B", "-f", str(PROJECT / "pom.xml"), *(["-P", profile] if profile else []), "package"]
    built = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if built.returncode != 0 or not jar.exists():
        tail = "\n".join((built.stdout + built.stderr).strip().splitlines()[-30:])
        pytest.fail(f"`{' '.join(command[1:])}` failed (exit {built.returncode}); Maven's last lines:\n{tail}")
    return jar


@pytest.fixture(scope="session")
def scala_jar() -> Path:
    return build_example()


def test_the_scala_application_passes_with_every_window_verified(scala_jar: Path, harness_deployment: Deployment,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker-scala-app.yaml"), deployment=harness_deployment)
    assert report.verdict == "pass", report.render()
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0
    assert report.job["micro_batches"] >= 2
    assert report.job["catch_up"]["outcome"] == "finished"
    assert {c.name for c in report.checks} >= {"sink rows equal the oracle's", "Spark's watermark per batch equals the oracle's"}


def test_the_wrong_scala_application_fails_and_names_the_missing_msft_rows(scala_jar: Path, harness_deployment: Deployment,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "tests" / "data" / "stock-ticker-scala-app-wrong.yaml"), deployment=harness_deployment)
    assert report.verdict == "fail"
    rows = next(c for c in report.checks if c.name == "sink rows equal the oracle's")
    assert not rows.ok and "MSFT" in rows.detail and "missing" in rows.detail


def test_a_jar_not_built_yet_is_refused_with_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the scenario's relative jar path does not exist here
    application = load_scenario(REPO / "scenarios" / "stock-ticker-scala-app.yaml").job.application
    assert application is not None
    submission = Submission(application, bootstrap="127.0.0.1:9092", topic="stockVals", workdir=tmp_path, master="local[1]", memory_mb=512)
    with pytest.raises(ConfigError, match="stock-windows.jar does not exist") as error:
        submission.argv()
    assert "mvn" in (error.value.hint or "") and "make scala-example" in (error.value.hint or "")
