"""Time to ready of the `dev` and `hdinsight` twins, as ratios to one bare broker started the same way.

"Ready" is the backend's own definition: every broker registered and a probe topic replicated to
all brokers fully in sync. The baseline is one bare broker started by hand from the same jars
(`benchmarks/bare_broker.py`: format, start, registered); the `single` profile (one combined
broker+controller through the harness) shows what the harness adds to that.
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

import pytest

from benchmarks.bare_broker import time_bare_broker_ready
from benchmarks.conftest import quick_mode, record_figure
from harness.backends import new_deployment

PROFILES = ("bare", "single", "dev", "hdinsight")
GOALS = {"dev": "<= 2.0"}
_measured: dict[str, list[float]] = {}


def _time_to_ready(profile: str) -> float:
    if profile == "bare":
        return time_bare_broker_ready()
    deployment = new_deployment(profile, f"bench-{profile}-{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    try:
        deployment.start()
        return time.perf_counter() - started
    finally:
        deployment.stop()


@pytest.fixture(scope="module", autouse=True)
def write_report(reports_dir: Path):  # noqa: ANN201
    yield
    if "bare" not in _measured:
        return
    base = statistics.median(_measured["bare"])
    lines = [
        "# Time to ready (local backend)",
        "",
        "Measured in one run; the baseline is one bare broker started by hand from the same jars (`bare`).",
        "",
        "| profile | Kafka JVMs | rounds | median s | ratio to a bare broker | goal |",
        "|---|---|---|---|---|---|",
    ]
    jvms = {"bare": 1, "single": 1, "dev": 3, "hdinsight": 6}
    for profile, samples in _measured.items():
        median = statistics.median(samples)
        lines.append(f"| {profile} | {jvms.get(profile, '?')} | {len(samples)} | {median:.2f} | {median / base:.2f} | {GOALS.get(profile, '')} |")
        if profile != "bare":
            record_figure(f"{profile} twin ready / bare broker", median / base, goal=GOALS.get(profile, ""),
                          how=f"median of {len(samples)}: {median:.2f} s / {base:.2f} s")
    (reports_dir / "time-to-ready.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


@pytest.mark.parametrize("profile", PROFILES)
def test_time_to_ready(benchmark, profile: str) -> None:  # noqa: ANN001
    rounds = 1 if quick_mode() else 3

    def once() -> float:
        seconds = _time_to_ready(profile)
        _measured.setdefault(profile, []).append(seconds)
        return seconds

    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    if profile != "bare" and "bare" in _measured:
        ratio = statistics.median(_measured[profile]) / statistics.median(_measured["bare"])
        benchmark.extra_info["ratio_to_bare_broker"] = round(ratio, 3)
