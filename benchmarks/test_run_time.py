"""Where `harness run` spends its time: the whole command as a user runs it, against what it cannot avoid.

The baseline is measured in the same run, by the run itself: the twin's time to ready, the Spark
session's start and the job's own batch time (Spark's durations of the micro-batches). Everything else
(job start, the first empty batch, replay, waits, verification, Python's start) is the harness's
overhead, and the ratio says how much of it there is. The same run gives the oracle's verification
rate against the job's rate: the check must never be the bottleneck.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.conftest import quick_mode, record_figure
from harness.verify.report import render_timings

REPO = Path(__file__).resolve().parent.parent
_runs: list[dict[str, float]] = []


def _harness_run(report: Path) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", "run", "scenarios/stock-ticker.yaml", "--report", str(report)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(report.read_text())
    timings, job = data["timings"], data["job"]
    verified = data["delivery"]["acked"]
    return {**timings, "wall_s": wall, "batch_time_s": job["batch_time_s"],
            "job_rate": job["input_rows"] / job["batch_time_s"], "oracle_rate": verified / max(timings["verify_s"], 1e-3)}


def test_harness_run_wall_time(benchmark, reports_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    rounds = 1 if quick_mode() else 3

    def once() -> float:
        measured = _harness_run(tmp_path / f"run-{len(_runs)}.json")
        _runs.append(measured)
        return measured["wall_s"]

    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    median = {key: statistics.median(r[key] for r in _runs) for key in _runs[0]}
    floor = median["twin_ready_s"] + median["spark_session_s"] + median["batch_time_s"]
    record_figure("harness run wall time / (twin ready + Spark session + job batch time)", median["wall_s"] / floor,
                  how=f"stock-ticker, median of {len(_runs)}: {median['wall_s']:.1f} s / {floor:.1f} s")
    record_figure("oracle verification rate / job rate", median["oracle_rate"] / median["job_rate"], goal=">= 1.0",
                  how=f"{median['oracle_rate']:,.0f} records/s verified / {median['job_rate']:,.0f} rows/s of batch time")
    benchmark.extra_info.update({key: round(value, 3) for key, value in median.items()})
    lines = ["# Where `harness run` spends its time", "",
             f"`harness run scenarios/stock-ticker.yaml` as a user runs it, {len(_runs)} run(s), medians.", "",
             f"- wall time of the command: {median['wall_s']:.1f} s",
             f"- phases, as the run measured them: {render_timings(median, median['batch_time_s'])}",
             f"- unavoidable (twin ready + Spark session + the job's own batches): {floor:.1f} s; "
             f"ratio {median['wall_s'] / floor:.2f}",
             f"- the oracle verified {median['oracle_rate']:,.0f} records/s; the job ran {median['job_rate']:,.0f} rows/s of batch time"]
    (reports_dir / "run-time.md").write_text("\n".join(lines) + "\n")

