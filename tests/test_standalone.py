"""A Spark standalone cluster in the twin: a master on hn0-spark, workers on the Spark worker nodes."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import yaml

from harness.backends import Deployment, new_deployment
from harness.backends.spark_node import worker_resources
from harness.runtime.readiness import wait_for
from harness.topology import load_profile
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_worker_size_follows_the_vm_by_a_visible_rule() -> None:
    topology = load_profile("hdinsight")
    resources = worker_resources(topology.spark_workers[0], topology.spark)  # Standard_D13_v2: 8 vCPU, 56 GiB
    assert (resources.cores, resources.memory_mb) == (1, 896)
    assert "8 vCPU x 0.125 -> 1 cores" in resources.rule


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    import os

    os.environ["HARNESS_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    deployment = new_deployment("dev", "standalone", spark="standalone")
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        os.environ.pop("HARNESS_RUNS", None)


def test_master_and_workers_run_on_their_own_addresses(standalone: Deployment) -> None:
    rows = {r.hostname: r for r in standalone.status()}
    assert rows["hn0-spark"].role == "spark master" and rows["hn0-spark"].state == "running"
    assert rows["wn0-spark"].role == "spark worker" and rows["wn0-spark"].state == "running"
    assert standalone.spark_master.startswith("spark://127.")
    master = next(n for n in standalone.state().nodes if n.hostname == "hn0-spark")
    with urllib.request.urlopen(f"http://{master.address}:{master.ports['ui']}/json/", timeout=5) as response:
        assert [w["state"] for w in json.load(response)["workers"]] == ["ALIVE"]
    # Started once the master answered, the worker registered at its first attempt (before, it found no master and
    # retried about 10 s later, which was most of a standalone twin's start).
    # The master lists a worker ALIVE before the worker has logged its side of the registration.
    log = Path(next(n for n in standalone.state().nodes if n.hostname == "wn0-spark").log)
    worker_log = wait_for(lambda: _logged(log.read_text(), "Successfully registered with master"), what="wn0-spark to log its registration", timeout=60)
    assert "Retrying connection to master" not in worker_log, worker_log[-2000:]


def test_a_killed_spark_worker_comes_back_and_the_job_stays_exact(standalone: Deployment, tmp_path: Path) -> None:
    """Through the CLI, in a process of its own: Spark allows one SparkContext per process, and this
    one must be a driver of the standalone cluster, not the test session's local one."""
    scenario = yaml.safe_load((SCENARIOS / "stock-ticker.yaml").read_text())
    scenario["faults"] = [{"at": "2s", "action": "kill", "target": "wn0-spark"}, {"at": "6s", "action": "start", "target": "wn0-spark"}]
    (tmp_path / "worker-kill.yaml").write_text(yaml.safe_dump(scenario))
    done = run_cli("run", str(tmp_path / "worker-kill.yaml"), "--attach", standalone.run.name, "--report", str(tmp_path / "report.json"),
                   env={"HARNESS_RUNS": str(standalone.run.path.parent)})
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "pass"
    assert f"starting Spark ({standalone.spark_master})" in done.stderr
    assert [f["nodes"] for f in report["faults"]] == [["wn0-spark"], ["wn0-spark"]]
    assert all(f["error"] is None for f in report["faults"])


def _logged(text: str, line: str) -> str | None:
    """The log once it holds `line`."""
    return text if line in text else None
