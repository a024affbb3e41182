"""Spark's real-time mode against micro-batch mode: the same stateless application (price alerts, Kafka to
Kafka) on one dev twin, in the same run, each verified against its oracle.

Latency is per alert, from the tick's send (its Kafka timestamp, set by the producer) to the alert's append
on the broker (the alerts topic stamps LogAppendTime): scenarios/price-alerts-realtime.yaml. The same
scenario with `--trigger microbatch` is the baseline; the figure is the ratio of their p50s.
HARNESS_BENCH_QUICK=1: 300 ticks (15 s of replay) per trigger instead of the scenario's 600.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.conftest import quick_mode, record_figure
from harness.backends import new_deployment
from harness.runner import run_scenario, running_twin
from harness.scenarios.spec import Scenario, load_scenario

REPO = Path(__file__).resolve().parent.parent


def _with_trigger(trigger: str) -> Scenario:
    data = load_scenario(REPO / "scenarios" / "price-alerts-realtime.yaml").model_dump()
    args = list(data["job"]["application"]["args"])
    args[args.index("--trigger") + 1] = trigger
    data["job"]["application"]["args"] = args
    data["name"] = f"price-alerts-{trigger}"
    if quick_mode():  # 300 ticks in 15 s of replay instead of 600 in 30 s
        data["producers"][0]["duration"] = 5 * 60_000
        data["expect"]["min_windows"] = 100
    return Scenario.model_validate(data)


def test_real_time_mode_against_micro_batches(benchmark, reports_dir: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(REPO)
    latencies: dict[str, dict[str, Any]] = {}
    with running_twin(new_deployment("dev", f"bench-realtime-{os.getpid()}", "local")) as twin:
        def both() -> None:
            for trigger in ("microbatch", "realtime"):
                report = run_scenario(_with_trigger(trigger), deployment=twin)
                assert report.verdict == "pass", report.render()
                latencies[trigger] = report.job["latency_ms"]

        benchmark.pedantic(both, rounds=1, iterations=1, warmup_rounds=0)
    real, micro = latencies["realtime"], latencies["microbatch"]
    record_figure("price alerts: real-time mode p50 / micro-batch p50", real["p50"] / micro["p50"],
                  how=f"{real['p50']:,.0f} ms / {micro['p50']:,.0f} ms, send to alert appended, {real['count']} alerts each")
    benchmark.extra_info.update({f"{t}_{k}": v for t, lat in latencies.items() for k, v in lat.items()})
    lines = ["# Real-time mode against micro-batch mode", "",
             "scenarios/price-alerts-realtime.yaml on one dev twin, each run verified against the team's oracle; per alert, from the "
             "tick's send to the alert's append on the broker.", "",
             "| trigger | alerts | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|"]
    for trigger, lat in latencies.items():
        lines.append(f"| {trigger} | {lat['count']} | " + " | ".join(f"{lat[k]:,.0f} ms" for k in ("p50", "p95", "p99", "max")) + " |")
    (reports_dir / "real-time.md").write_text("\n".join(lines) + "\n")
