"""`harness gate`: the pre-deploy gate. Static checks, a suite of scenarios, benchmark thresholds
against a saved baseline, and one decision a CI pipeline can act on.

Exit codes: 0 every check passed, 1 a check failed, 2 the harness could not run.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.errors import HarnessError
from harness.runtime.readiness import Progress, quiet
from harness.scenarios.spec import Scenario, load_scenario
from harness.topology.loader import load_model, load_profile, read_yaml
from harness.verify.report import GateCheck, GateReport
from harness.verify.static import JobDeclaration, TopicPlan, run_static_checks
from harness.versions import RELEASES

_ERROR_CLASS = re.compile(r"\[[A-Z][A-Z_]+\]|Exception:")
"""The line of a job's log that names Spark's error (`[CAST_INVALID_INPUT] ...`, `...Exception: ...`)."""
HIGHER_IS_BETTER = {"replay.rate_per_s", "job.throughput_rows_per_s"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Verdict = Literal["pass", "fail"]


class GateScenario(_Strict):
    path: str
    expect_verdict: Verdict | dict[str, Verdict] = Field(
        default="pass", description="pass or fail; or per release ({hdinsight-5.1: pass, current: fail}), for a known migration difference")
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
    kafka_options: dict[str, str] = Field(default={}, description="the kafka.* options the job gives the connector, checked against the release's client")


class GateBenchmarks(_Strict):
    baseline: str = "gate-baseline.json"
    tolerance: float = Field(default=0.5, ge=0, le=10, description="allowed relative regression, e.g. 0.2 = 20%")
    metrics: tuple[str, ...] = ("replay.rate_per_s", "job.throughput_rows_per_s", "job.latency_ms.p95")


class GateConfig(_Strict):
    name: str = "pre-deploy gate"
    profile: str = "dev"
    target: GateTarget = GateTarget()
    job: GateJob = GateJob()
    releases: tuple[str, ...] = Field(default=(), description="run the suite on each of these releases (default: the profile's own)")
    scenarios: tuple[GateScenario, ...] = Field(min_length=1)
    benchmarks: GateBenchmarks | None = None

    @field_validator("releases")
    @classmethod
    def _known_releases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in RELEASES:
                raise ValueError(f"unknown release {name!r}: choose from {', '.join(RELEASES)}")
        return value

    @model_validator(mode="after")
    def _verdicts_name_known_releases(self) -> GateConfig:
        for entry in self.scenarios:
            if isinstance(entry.expect_verdict, dict):
                unknown = sorted(set(entry.expect_verdict) - set(self.releases or RELEASES))
                if unknown:
                    raise ValueError(f"scenario {entry.path}: expect_verdict names {', '.join(unknown)}, which this gate does not run "
                                     f"(releases: {', '.join(self.releases) or 'the profile' + chr(39) + 's own'})")
        return self

    @field_validator("scenarios", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value


def load_gate(path: Path) -> GateConfig:
    return load_model(path, GateConfig)


def run_gate(config: GateConfig, *, base_dir: Path, save_baseline: bool = False, progress: Progress = quiet) -> GateReport:
    """Static checks, then the scenarios on each release the gate names (one twin per release), then the
    benchmarks. With releases, every suite's name ends with its release, so JUnit has one suite per release."""
    report = GateReport(name=config.name)
    base = load_profile(_resolve(base_dir, config.profile) if config.profile.endswith((".yaml", ".yml")) else config.profile)
    scenarios = [(s, _with_job(load_scenario(_resolve(base_dir, s.path)), s)) for s in config.scenarios]
    documents: dict[str, object] = {s.path: read_yaml(_resolve(base_dir, s.path)) for s in config.scenarios}  # searched for secrets in clear
    documents.update({f"the gate's job for {s.path}": s.job for s in config.scenarios if s.job})
    figures: dict[str, dict[str, Any]] = {}
    for release_name in config.releases or (None,):
        topology = base.with_release(release_name) if release_name else base
        label = f" on {release_name}" if config.releases else ""
        if not _static(report, config, topology, scenarios, documents, label, progress):
            continue
        stack = topology.stack.name  # the release each scenario runs on, named or the profile's own
        for (entry, scenario), run in zip(scenarios, _run_scenarios(config, topology, release_name, scenarios, progress), strict=True):
            if isinstance(run, HarnessError):
                _errored_checks(report, scenario, entry, run, stack, label)
                continue
            key = f"{scenario.name}@{release_name}" if release_name else scenario.name
            report.runs[key] = figures[key] = run.to_json()
            _scenario_checks(report, scenario, entry, run, stack, label)
    if config.benchmarks is not None and figures:
        _benchmark_checks(report, config.benchmarks, base_dir, save_baseline, figures)
    return report


def _static(report: GateReport, config: GateConfig, topology, scenarios: list[tuple[GateScenario, Scenario]],  # noqa: ANN001
            documents: dict[str, object], label: str, progress: Progress) -> bool:
    """The static checks against this release's stack; False (and the scenarios skipped) when one fails."""
    progress(f"static checks of profile {config.profile} and the job{label}")
    topics = [TopicPlan(t.name, t.partitions, t.replication_factor or topology.kafka.topic_defaults.replication_factor,
                        _min_isr(t.configs)) for _, sc in scenarios for t in sc.topics]
    job = JobDeclaration(config.job.bootstrap_servers, config.job.spark_version, config.job.connector, config.job.spark_conf,
                         kafka_options=config.job.kafka_options)
    checks = run_static_checks(topology, _unique(topics), job, documents)
    for check in checks:
        report.checks.append(GateCheck(f"static{label}", check.name, check.ok, check.detail, check.fix))
    if all(c.ok for c in checks):
        return True
    for _, scenario in scenarios:
        report.checks.append(GateCheck(f"scenario {scenario.name}{label}", "not run", True, "skipped: a static check failed", skipped=True))
    return False


def _run_scenarios(config: GateConfig, topology, release_name: str | None, scenarios: list[tuple[GateScenario, Scenario]],  # noqa: ANN001
                   progress: Progress) -> list[Any]:
    """Each scenario on one twin of the release; a run the harness could not finish (the job died, say) is
    returned as its error, which the scenario's checks then judge."""
    from harness.backends import new_deployment
    from harness.backends.external import ExternalDeployment
    from harness.runner import run_scenario, running_twin, shared_spark

    if config.target.backend == "external":
        if not config.target.bootstrap_servers:
            raise HarnessError("target.backend is external but target.bootstrap_servers is not set", hint="give the cluster's bootstrap servers")
        twin = ExternalDeployment(topology, config.target.bootstrap_servers, config.target.spark_master, profile=config.profile)
    else:
        twin = new_deployment(config.profile, f"gate-{os.getpid()}", release=release_name)
    with running_twin(twin, progress), shared_spark(twin, progress) as session:
        results: list[Any] = []
        for entry, scenario in scenarios:
            expected = _expected(entry, twin.topology.stack.name)
            progress(f"scenario {scenario.name} on {twin.topology.stack.name} (expected to {expected})")
            try:
                results.append(run_scenario(scenario, deployment=twin, spark=session, progress=progress))
            except HarnessError as error:
                results.append(error)
            verdict = "fail (the run stopped)" if isinstance(results[-1], HarnessError) else results[-1].verdict
            progress(f"scenario {scenario.name} on {twin.topology.stack.name}: {verdict}")
        return results


def _expected(entry: GateScenario, release_name: str) -> str:
    verdict = entry.expect_verdict
    return verdict.get(release_name, "pass") if isinstance(verdict, dict) else verdict


def _scenario_checks(report: GateReport, scenario: Scenario, entry: GateScenario, run: Any, release_name: str, label: str) -> None:
    suite = f"scenario {scenario.name}{label}"
    expected = _expected(entry, release_name)
    if expected == "pass":
        for check in run.checks:
            report.checks.append(GateCheck(suite, check.name, check.ok, check.detail))
    failed = [c.name for c in run.checks if not c.ok]
    as_expected = run.verdict == expected
    detail = f"verdict {run.verdict}, expected {expected}" + (f"; failing checks: {', '.join(failed)}" if failed else "")
    report.checks.append(GateCheck(suite, f"verdict is {expected}", as_expected, detail, output=run.render()))


def _errored_checks(report: GateReport, scenario: Scenario, entry: GateScenario, error: HarnessError, release_name: str, label: str) -> None:
    """A run that stopped (its job died, a wait ran out) is a failed verdict with the harness's error as its output."""
    suite = f"scenario {scenario.name}{label}"
    expected = _expected(entry, release_name)
    first = str(error).splitlines()[0]
    cause = next((line.strip() for line in (error.detail or "").splitlines() if _ERROR_CLASS.search(line)), "")
    stopped = f"the run stopped: {first}" + (f" ({cause[:300]})" if cause else "")
    report.checks.append(GateCheck(suite, f"verdict is {expected}", expected == "fail", f"{stopped}; expected {expected}",
                                   "" if expected == "fail" else (error.hint or ""), output=str(error)))


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
