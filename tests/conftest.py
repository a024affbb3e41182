"""The harness's own suite uses its own pytest plugin (loaded through the pytest11 entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# About how long each twin-heavy module takes (seconds summed over its tests, `pytest -m "not docker" -n 2 --dist loadfile
# --durations=0`, 2026-12-06, alone on a quiet 2-core machine; beside the docker lane every figure is about half as long
# again). pytest-xdist's `--dist loadfile` hands modules to its workers in collection order, and alphabetical order put
# test_zookeeper_release last: one worker ran it while the other had only seconds of unit tests left. Longest first
# leaves the short modules to fill the end. Only the order depends on these figures; a stale one costs time, never a test.
MODULE_SECONDS = {
    "test_applications.py": 214, "test_faults.py": 180, "test_gate.py": 172, "test_zookeeper_release.py": 141,
    "test_security.py": 140, "test_run.py": 125, "test_notebooks.py": 121, "test_scala_application.py": 77,
    "test_standalone.py": 73, "test_lifecycle.py": 65, "test_sasl_group_rights.py": 62, "test_sasl.py": 50,
    "test_trouble.py": 34, "test_fault_proxy.py": 23, "test_properties.py": 21, "test_cluster.py": 15,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first (a stable sort: each module's tests keep their order and stay together)."""
    items.sort(key=lambda item: -MODULE_SECONDS.get(item.path.name, 0))


@pytest.fixture
def isolated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs started by a test go into its own directory, so `down --all` touches nothing else."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("HARNESS_RUNS", str(runs))
    return runs


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI exactly as a user runs it: a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=REPO,
    )


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Docker tests skip (saying why) where no engine answers; `make test` starts one where it can."""
    from harness.backends.docker.engine import engine_available

    if not engine_available():
        pytest.skip("no Docker engine answers (Debian/Ubuntu: apt-get install docker.io, then start dockerd)")


@pytest.fixture(scope="module")
def module_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A runs directory for a module's own twins (module-scoped twins cannot use `isolated_runs`)."""
    runs = tmp_path_factory.mktemp("runs")
    previous = os.environ.get("HARNESS_RUNS")
    os.environ["HARNESS_RUNS"] = str(runs)
    try:
        yield runs
    finally:
        if previous is None:
            os.environ.pop("HARNESS_RUNS", None)
        else:
            os.environ["HARNESS_RUNS"] = previous


def docker_leftovers(run: str) -> dict[str, int]:
    """Containers, networks and volumes that still carry a run's label, and its host firewall rules."""
    from harness.backends.docker.engine import LABEL_RUN, docker_client

    client = docker_client()
    label = {"label": f"{LABEL_RUN}={run}"}
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout + subprocess.run(
        ["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    return {"containers": len(client.containers.list(all=True, filters=label)), "networks": len(client.networks.list(filters=label)),
            "volumes": len(client.volumes.list(filters=label)), "firewall rules": rules.count(f"harness:{run}")}
