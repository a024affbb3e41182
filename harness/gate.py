"""`harness gate`: the pre-deploy gate. Static checks, a suite of scenarios, benchmark thresholds
against a saved baseline, and one decision a CI pipeline can act on.

Exit codes: 0 every check passed, 1 a check failed, 2 the harness could not run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.errors import HarnessError
from harness.runtime.readiness import Progress, quiet
from harness.scenarios.spec import Scenario, load_scenario
from harness.topology.loader import load_model, load_profile
from harness.verify.report import GateCheck, GateReport
from harness.verify.static import JobDeclaration, TopicPlan, run_static_checks

HIGHER_IS_BETTER = {"replay.rate_per_s", "job.throughput_rows_per_s"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateScenario(_Strict):
    path: str
    expect_verdict: Literal["pass", "fail"] = "pass"
    job: dict[str, Any] | None = Field(default=None, description="the team's own job for this scenario (application or notebook and its output), "
                                       "replacing the scenario's; the same fields as a scenario's `job`")


class GateTarget(_Strict):
    backend: Literal["twin", "external"] = "twin"
    bootstrap_servers: str | None = Field(default=None, description="external: the cluster's bootstrap servers")
    spark_master: str = Field(default="local[2]", description="external: spark://host:port, or local[N]")


class GateJob(_Strict):
    """The job as it will be deployed, for the static checks."""

    bootstrap_servers: str | None = None
    spark_version: str | None = None
    connector: str | None = None
    spark_conf: dict[str, str] = {}


class GateBenchmarks(_Strict):
    baseline: str = "gate-baseline.json"
    tolerance: float = Field(default=0.5, ge=0, le=10, description="allowed relative regression, e.g. 0.2 = 20%")
    metrics: tuple[str, ...] = ("replay.rate_per_s", "job.throughput_rows_per_s", "job.latency_ms.p95")


class GateConfig(_Strict):
    name: str = "pre-deploy gate"
    profile: str = "dev"
    target: GateTarget = GateTarget()
    job: GateJob = GateJob()
    scenarios: tuple[GateScenario, ...] = Field(min_length=1)
    benchmarks: GateBenchmarks | None = None

    @field_validator("scenarios", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value


def load_gate(path: Path) -> GateConfig:
    return load_model(path, GateConfig)


def run_gate(config: GateConfig, *, base_dir: Path, save_baseline: bool = False, progress: Progress = quiet) -> GateReport:
    report = GateReport(name=config.name)
    topology = load_profile(_resolve(base_dir, config.profile) if config.profile.endswith((".yaml", ".yml")) else config.profile)
    scenarios = [(s, _with_job(load_scenario(_resolve(base_dir, s.path)), s)) for s in config.scenarios]
    progress(f"static checks of profile {config.profile} and the job")
    topics = [TopicPlan(t.name, t.partitions, t.replication_factor or topology.kafka.topic_defaults.replication_factor,
                        _min_isr(t.configs)) for _, sc in scenarios for t in sc.topics]
    job = JobDeclaration(config.job.bootstrap_servers, config.job.spark_version, config.job.connector, config.job.spark_conf)
    for check in run_static_checks(topology, _unique(topics), job):
        report.checks.append(GateCheck("static", check.name, check.ok, check.detail, check.fix))
    if not all(c.ok for c in report.checks):
        for entry, scenario in scenarios:
            report.checks.append(GateCheck(f"scenario {scenario.name}", "not run", True, "skipped: a static check failed", skipped=True))
        return report
    runs = _run_scenarios(config, topology, scenarios, progress)
    for (entry, scenario), run in zip(scenarios, runs, strict=True):
        report.runs[scenario.name] = run.to_json()
        _scenario_checks(report, scenario, entry, run)
    if config.benchmarks is not None:
        _benchmark_checks(report, config.benchmarks, base_dir, save_baseline, {s.name: r.to_json() for (_, s), r in zip(scenarios, runs, strict=True)})
    return report


def _run_scenarios(config: GateConfig, topology, scenarios: list[tuple[GateScenario, Scenario]], progress: Progress) -> list[Any]:  # noqa: ANN001
    from harness.backends import new_deployment
    from harness.backends.external import ExternalDeployment
    from harness.runner import run_scenario, running_twin, shared_spark

    if config.target.backend == "external":
        if not config.target.bootstrap_servers:
            raise HarnessError("target.backend is external but target.bootstrap_servers is not set", hint="give the cluster's bootstrap servers")
        twin = ExternalDeployment(topology, config.target.bootstrap_servers, config.target.spark_master, profile=config.profile)
    else:
        twin = new_deployment(config.profile, f"gate-{os.getpid()}")
    with running_twin(twin, progress), shared_spark(twin, progress) as session:
        results = []
        for entry, scenario in scenarios:
            progress(f"scenario {scenario.name} (expected to {entry.expect_verdict})")
            results.append(run_scenario(scenario, deployment=twin, spark=session, progress=progress))
            progress(f"scenario {scenario.name}: {results[-1].verdict}")
        return results


def _scenario_checks(report: GateReport, scenario: Scenario, entry: GateScenario, run: Any) -> None:
    suite = f"scenario {scenario.name}"
    if entry.expect_verdict == "pass":
        for check in run.checks:
            report.checks.append(GateCheck(suite, check.name, check.ok, check.detail))
    failed = [c.name for c in run.checks if not c.ok]
    as_expected = run.verdict == entry.expect_verdict
    detail = f"verdict {run.verdict}, expected {entry.expect_verdict}" + (f"; failing checks: {', '.join(failed)}" if failed else "")
    report.checks.append(GateCheck(suite, f"verdict is {entry.expect_verdict}", as_expected, detail, output=run.render()))


def _benchmark_checks(report: GateReport, bench: GateBenchmarks, base_dir: Path, save: bool, runs: dict[str, dict[str, Any]]) -> None:
    path = _resolve(base_dir, bench.baseline)
    figures = {name: {m: _metric(run, m) for m in bench.metrics} for name, run in runs.items()}
    if save:
        path.write_text(json.dumps(figures, indent=2) + "\n")
        report.checks.append(GateCheck("benchmarks", "baseline saved", True, f"figures of {len(figures)} scenarios written to {path}"))
        report.benchmarks = [{"scenario": s, "metric": m, "old": None, "new": v, "ratio": None} for s, f in figures.items() for m, v in f.items()]
        return
    if not path.exists():
        report.checks.append(GateCheck("benchmarks", "baseline exists", False, f"no baseline at {path}", "run `harness gate --save-baseline` once on a known-good build"))
        return
    baseline = json.loads(path.read_text())
    for scenario, metrics in figures.items():
        for metric, new in metrics.items():
            old = (baseline.get(scenario) or {}).get(metric)
            ratio = (new / old) if (old and new is not None) else None
            report.benchmarks.append({"scenario": scenario, "metric": metric, "old": old, "new": new, "ratio": ratio})
            if old is None or new is None:
                report.checks.append(GateCheck("benchmarks", f"{scenario} {metric}", True, f"no baseline figure (new {new})"))
                continue
            higher = metric in HIGHER_IS_BETTER
            ok = new >= old * (1 - bench.tolerance) if higher else new <= old * (1 + bench.tolerance)
            direction = "at least" if higher else "at most"
            bound = old * (1 - bench.tolerance) if higher else old * (1 + bench.tolerance)
            report.checks.append(GateCheck("benchmarks", f"{scenario} {metric}", ok,
                                           f"baseline {old:,.1f}, now {new:,.1f} (ratio {ratio:.2f}); must be {direction} {bound:,.1f}",
                                           "" if ok else "find the regression, or save a new baseline if the change is intended"))


def _metric(run: dict[str, Any], dotted: str) -> float | None:
    value: Any = run
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def _min_isr(configs: dict[str, str]) -> int | None:
    value = configs.get("min.insync.replicas")
    return int(value) if value is not None else None


def _unique(topics: list[TopicPlan]) -> list[TopicPlan]:
    return list({t.name: t for t in topics}.values())


def _with_job(scenario: Scenario, entry: GateScenario) -> Scenario:
    return scenario.with_job(entry.job) if entry.job else scenario


def _resolve(base: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() or candidate.exists() else base / candidate
