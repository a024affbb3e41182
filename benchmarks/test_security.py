"""What TLS and SASL_SSL cost: the throughput scenario on a dev twin over plaintext, over TLS and over
SASL_SSL (SCRAM-SHA-512 inside TLS, with the standard authorizer checking every request against the
job principal's ACLs), in the same run and the same Spark session, as ratios to plaintext of the
replay rate (confluent-kafka producing) and of the job's rate (the connector reading). Each run is
verified like any other: a figure from a run that did not pass is not recorded.

HARNESS_BENCH_QUICK=1: 3 hours of ticks (10,800 records) per run, one run each; otherwise the
scenario's 12 hours (43,200 records), three runs each, medians. Every twin gets a short unmeasured run
first, so no protocol pays for the JVMs' warm-up.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.conftest import quick_mode, record_figure
from harness.backends import Deployment, new_deployment
from harness.runner import run_scenario, spark_for
from harness.scenarios.spec import Scenario, load_scenario

QUICK = quick_mode()
PROTOCOLS = ("plaintext", "tls", "sasl_ssl")
LABELS = {"tls": "TLS", "sasl_ssl": "SASL_SSL"}
_rates: dict[str, list[tuple[float, float]]] = {}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    data = load_scenario("throughput").model_dump()
    if QUICK:
        data["producers"][0]["duration"] = 3 * 3_600_000
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def twins() -> Iterator[dict[str, Deployment]]:
    started: dict[str, Deployment] = {}
    try:
        for protocol in PROTOCOLS:
            started[protocol] = new_deployment("dev", f"bench-{protocol}-{os.getpid()}", "local", security=protocol)
            started[protocol].start()
        yield started
    finally:
        for twin in started.values():
            twin.stop()


@pytest.fixture(scope="module")
def session(twins: dict[str, Deployment], scenario: Scenario) -> Iterator[object]:
    """Warmed on every twin first (a short replay each, not measured): the first run in a JVM pays for
    class loading and JIT, and would make whichever protocol runs first look slower."""
    data = scenario.model_dump()
    data["producers"][0]["duration"] = 1_800_000
    warm_up = Scenario.model_validate(data)
    with spark_for(twins["plaintext"]) as spark:
        for twin in twins.values():
            run_scenario(warm_up, deployment=twin, spark=spark)
        yield spark


@pytest.fixture(scope="module", autouse=True)
def write_report(reports_dir: Path):  # noqa: ANN201
    yield
    if set(_rates) != set(PROTOCOLS):
        return
    plain_replay, plain_job = _medians("plaintext")
    lines = ["# TLS and SASL_SSL against plaintext: the throughput scenario on dev twins, same run, same Spark session", "",
             "| security | runs | replay records/s | job rows/s of batch time | replay / plaintext | job / plaintext |",
             "|---|---|---|---|---|---|"]
    for protocol in PROTOCOLS:
        replay, job = _medians(protocol)
        lines.append(f"| {protocol} | {len(_rates[protocol])} | {replay:,.0f} | {job:,.0f} | {replay / plain_replay:.2f} | {job / plain_job:.2f} |")
    (reports_dir / "security.md").write_text("\n".join(lines) + "\n")
    for protocol, label in LABELS.items():
        replay, job = _medians(protocol)
        record_figure(f"replay rate over {label} / plaintext", replay / plain_replay,
                      how="throughput scenario, confluent-kafka producer, dev twins")
        record_figure(f"job rate over {label} / plaintext", job / plain_job,
                      how="the same, the reference job's rows per second of batch time")
    print("\n" + "\n".join(lines))


def _medians(protocol: str) -> tuple[float, float]:
    runs = _rates[protocol]
    return statistics.median(r for r, _ in runs), statistics.median(j for _, j in runs)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_throughput_over(benchmark, protocol: str, twins: dict[str, Deployment], session: object, scenario: Scenario) -> None:  # noqa: ANN001
    def once() -> float:
        report = run_scenario(scenario, deployment=twins[protocol], spark=session)  # type: ignore[arg-type]
        assert report.verdict == "pass", report.render()
        assert report.security == protocol
        rates = (report.replay["rate_per_s"], report.job["throughput_rows_per_s"])
        _rates.setdefault(protocol, []).append(rates)
        return rates[0]

    benchmark.pedantic(once, rounds=1 if QUICK else 3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["replay_records_per_s"], benchmark.extra_info["job_rows_per_s"] = _rates[protocol][-1]
