"""The `hdinsight` twin on each release and backend: time to ready and resident memory, as ratios to the
local backend of the same release, all measured in the same run.

Both backends run the same nodes: 3 ZooKeeper servers on hdinsight-5.1 (3 KRaft controllers on
current), 3 brokers, a Spark master and 4 workers (`--spark standalone` on the local backend). The docker side also runs Ambari on hn0-kafka and idle
containers for hn1-kafka and hn1-spark, as HDInsight has those hosts. Memory is the resident set of
every process of the twin (the node JVMs on the local side; every process inside the run's
containers on the docker side); the engine's own daemons are not counted. Images are built before
timing starts, so time to ready does not include a first build.
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

import pytest

from benchmarks.conftest import quick_mode
from harness.backends import new_deployment
from harness.runtime.processes import resident_bytes

from harness.versions import RELEASES

BACKENDS = ("local", "docker")
CASES = [(release, backend) for release in sorted(RELEASES) for backend in BACKENDS]
_measured: dict[tuple[str, str], list[tuple[float, int]]] = {}


@pytest.fixture(scope="module", autouse=True)
def images_built() -> None:
    from harness.backends.docker.engine import engine_available

    if not engine_available():
        pytest.skip("no Docker engine answers; the docker backend benchmark needs one")
    from harness.backends.docker.images import build_images

    for release in RELEASES:
        build_images(release_name=release)


def _measure(release: str, backend: str) -> tuple[float, int]:
    deployment = new_deployment("hdinsight", f"bench-{backend}-{uuid.uuid4().hex[:6]}", backend, spark="standalone", release=release)
    started = time.perf_counter()
    try:
        deployment.start()
        ready = time.perf_counter() - started
        time.sleep(5)  # let start-up garbage settle before reading memory
        return ready, resident_bytes(deployment.node_pids())
    finally:
        deployment.stop()


@pytest.fixture(scope="module", autouse=True)
def write_report(reports_dir: Path):  # noqa: ANN201
    yield
    if set(_measured) != set(CASES):
        return
    lines = ["# hdinsight twin per release: docker backend against the local backend of the same release (same run)", "",
             "| release | backend | rounds | time to ready s | ratio to local | resident memory MiB | ratio to local |", "|---|---|---|---|---|---|---|"]
    for release, backend in CASES:
        seconds, mib = _medians(release, backend)
        local_s, local_mib = _medians(release, "local")
        lines.append(f"| {release} | {backend} | {len(_measured[release, backend])} | {seconds:.1f} | {seconds / local_s:.2f} | {mib:.0f} | {mib / local_mib:.2f} |")
    (reports_dir / "docker-backend.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


def _medians(release: str, backend: str) -> tuple[float, float]:
    """Median seconds to ready and median resident MiB of one case."""
    samples = _measured[release, backend]
    return statistics.median(s for s, _ in samples), statistics.median(m for _, m in samples) / 2**20


@pytest.mark.parametrize(("release", "backend"), CASES)
def test_hdinsight_time_to_ready_and_memory(benchmark, release: str, backend: str) -> None:  # noqa: ANN001
    def once() -> float:
        seconds, rss = _measure(release, backend)
        _measured.setdefault((release, backend), []).append((seconds, rss))
        return seconds

    benchmark.pedantic(once, rounds=1 if quick_mode() else 3, iterations=1, warmup_rounds=0)
    seconds, rss = _measured[release, backend][-1]
    benchmark.extra_info["resident_memory_mib"] = round(rss / 2**20, 1)
    assert rss > 0, "no resident memory measured: the twin's processes were not found"
    if backend == "docker" and (release, "local") in _measured:
        local_s, local_rss = _measured[release, "local"][-1]
        benchmark.extra_info["time_ratio_to_local"] = round(seconds / local_s, 3)
        benchmark.extra_info["memory_ratio_to_local"] = round(rss / local_rss, 3)
