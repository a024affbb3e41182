"""Parallelism sweep: the throughput scenario across Kafka partition counts (and, outside quick mode, Spark cores).

One pytest-benchmark round per point (the point's wall time: scenario, verification and both perf
tools); the figures that matter go into extra_info, so benchmark.json keeps them comparable with
earlier runs. Baselines are Kafka's own perf tools on the same twin in the same run. The last test
fits the USL model, projects it onto the `hdinsight` Azure profile and writes
reports/bench/parallelism.{md,png,json}.

HARNESS_BENCH_QUICK=1: partitions 1, 2, 4, 8 with 20,000 records, Spark's cores as the profile says.
Otherwise 1..16 partitions with 100,000 records, plus the same sweep on local[1] (a Spark session of
its own, started and stopped before the session's `spark` fixture exists).
HARNESS_BENCH_TARGET: the target rate (records/s) the partition recommendation is made for (default 25,000).
HARNESS_BENCH_PARTITIONS ("1,2,4") and HARNESS_BENCH_RECORDS override the partition counts and records per point.
HARNESS_BENCH_CORES=N: the sweep's job runs on local[N] (default: the profile's cores), and the default
partition counts go up to 2N, so a bigger machine gets a curve over its own cores.
A curve that shows overhead or contention rather than parallelism gets no projection: the report says
why (harness.bench.model.overhead_bound), and the benchmark records that instead of failing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks.conftest import quick_mode, record_figure
from harness.bench.report import write_report
from harness.bench.sweep import SweepPoint, SweepResult, measure_point, spark_cores, warm_up
from harness.scenarios.spec import Scenario, load_scenario

QUICK = quick_mode()
BENCH_CORES = int(os.environ.get("HARNESS_BENCH_CORES", "0"))


def _default_partitions() -> str:
    top = max(8 if QUICK else 16, 2 * BENCH_CORES)
    return ",".join(str(2**k) for k in range(top.bit_length()) if 2**k <= top)


PARTITIONS = tuple(int(n) for n in os.environ.get("HARNESS_BENCH_PARTITIONS", _default_partitions()).split(","))
RECORDS = int(os.environ.get("HARNESS_BENCH_RECORDS", "20000" if QUICK else "100000"))
FEWER_CORES = (1,)
TARGET = float(os.environ.get("HARNESS_BENCH_TARGET", "25000"))

_result = SweepResult(scenario="throughput", profile="?", records=RECORDS)


@pytest.fixture(scope="module")
def base() -> Scenario:
    """The shipped throughput scenario with a 250 ms trigger (its 1 s trigger adds idle time to every point)."""
    data = load_scenario("throughput").model_dump()
    data["job"]["trigger"] = 250
    return Scenario.model_validate(data)


def _figures(point: SweepPoint) -> dict[str, object]:
    return {
        "partitions": point.partitions, "cores": point.cores, "records": point.records, "record_bytes": point.record_bytes,
        "verdict": point.verdict,
        "producer_records_per_s": point.producer_records_per_s,
        "kafka_producer_tool_records_per_s": point.perf_producer.records_per_s if point.perf_producer else None,
        "producer_ratio": round(point.producer_ratio, 4) if point.producer_ratio is not None else None,
        "spark_records_per_s": point.spark_records_per_s,
        "spark_records_per_s_wall": point.spark_records_per_s_wall,
        "spark_records_per_s_active": point.spark_records_per_s_active,
        "kafka_consumer_tool_fetch_records_per_s": point.perf_consumer.fetch_records_per_s if point.perf_consumer else None,
        "consumer_ratio": round(point.consumer_ratio, 4) if point.consumer_ratio is not None else None,
        "raw_read_records_per_s": point.raw_read_records_per_s,
        "raw_read_ratio": round(point.raw_read_ratio, 4) if point.raw_read_ratio is not None else None,
        "noop_sink_records_per_s": point.noop_sink_records_per_s,
        "harness_ratio": round(point.harness_ratio, 4) if point.harness_ratio is not None else None,
        "engine_ratio": round(point.engine_ratio, 4) if point.engine_ratio is not None else None,
        "median_batch_ms": point.median_batch_ms, "micro_batches": point.micro_batches, "tasks_per_batch": point.tasks_per_batch,
        "peak_lag": max((lag for _, lag in point.lag), default=0), "latency_ms": point.latency_ms, "late_dropped": point.late_dropped,
    }


def _measure(benchmark, deployment, session, base: Scenario, partitions: int) -> SweepPoint:  # noqa: ANN001
    _result.profile = deployment.profile
    point = benchmark.pedantic(
        measure_point, args=(deployment, session),
        kwargs={"partitions": partitions, "base": base, "records": RECORDS}, rounds=1, iterations=1, warmup_rounds=0,
    )
    _result.points.append(point)
    benchmark.extra_info.update(_figures(point))
    print(f"\n{json.dumps(_figures(point))}")
    assert point.failed_checks == [], f"the scenario failed verification at {partitions} partitions: {point.failed_checks}"
    assert point.records >= RECORDS
    assert point.tasks_per_batch.get("max") == partitions, "one Spark source task per Kafka partition with data"
    assert point.perf_consumer is not None and point.perf_consumer.records == point.records, "the consumer tool read the whole topic"
    assert point.perf_producer is not None and point.perf_producer.records == point.records
    assert point.spark_records_per_s > 0 and point.producer_ratio and point.consumer_ratio
    return point


@pytest.fixture(scope="class", params=FEWER_CORES, ids=lambda c: f"local{c}")
def fewer_cores_spark(request: pytest.FixtureRequest, harness_deployment, base: Scenario):  # noqa: ANN001, ANN201
    """A local[N] session of its own; it must start and stop before the session's `spark` fixture exists."""
    from pyspark import SparkContext

    from harness.runner import spark_for

    if getattr(SparkContext, "_active_spark_context", None) is not None:
        pytest.skip("a Spark session already runs in this process; local[N] cores are fixed at start")
    with spark_for(harness_deployment, local_cores=request.param) as session:
        warm_up(harness_deployment, session, base)
        yield session


@pytest.mark.skipif(QUICK, reason="quick mode measures only the profile's Spark cores")
class TestFewerCores:
    """The sweep on fewer Spark cores; first in the module, so its sessions are gone before `spark` starts."""

    @pytest.mark.parametrize("partitions", PARTITIONS)
    def test_parallelism_fewer_cores(self, benchmark, harness_deployment, fewer_cores_spark, base: Scenario, partitions: int) -> None:  # noqa: ANN001
        point = _measure(benchmark, harness_deployment, fewer_cores_spark, base, partitions)
        assert point.cores == spark_cores(fewer_cores_spark)


@pytest.fixture(scope="module")
def warmed_spark(request: pytest.FixtureRequest, harness_deployment, base: Scenario):  # noqa: ANN001, ANN201
    """The sweep's Spark (local[HARNESS_BENCH_CORES] when set, else the session's `spark`), warmed: a fresh
    Spark's first batches pay for code generation; one unmeasured run keeps that off the first point."""
    if not BENCH_CORES:
        session = request.getfixturevalue("spark")
        warm_up(harness_deployment, session, base)
        yield session
        return
    from harness.runner import spark_for

    with spark_for(harness_deployment, local_cores=BENCH_CORES) as session:
        warm_up(harness_deployment, session, base)
        yield session


@pytest.mark.parametrize("partitions", PARTITIONS)
def test_parallelism(benchmark, harness_deployment, warmed_spark, base: Scenario, partitions: int) -> None:  # noqa: ANN001
    point = _measure(benchmark, harness_deployment, warmed_spark, base, partitions)
    assert point.cores == (BENCH_CORES or harness_deployment.topology.spark.local_cores)


def test_parallelism_report(benchmark, reports_dir: Path) -> None:  # noqa: ANN001
    """Fit, project and write the report (timed too, though what matters is what it writes)."""
    if not _result.points:
        pytest.skip("no sweep point was measured")
    (reports_dir / "parallelism.json").write_text(json.dumps(_result.to_json(), indent=2) + "\n")
    report = benchmark.pedantic(write_report, args=(_result, reports_dir), kwargs={"target_records_per_s": TARGET},
                                rounds=1, iterations=1, warmup_rounds=0)
    analysis = report.analysis
    text = report.markdown.read_text()
    print("\n" + text)
    assert report.png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "Spark job / raw consumer" in text and "harness producer / Kafka producer tool" in text and "Spark job / noop-sink query" in text
    assert analysis.fit is not None, analysis.problem
    assert f"R² = {analysis.fit.r_squared:.4f} from {len(analysis.fit.points)} points" in text
    if analysis.recommendation is None:  # an overhead-bound curve: recorded and reported, not a failure
        _record_summary(analysis.fit_cores)
        assert analysis.problem is not None and analysis.problem in text
        benchmark.extra_info.update({"model": "declined", "model_problem": analysis.problem, "fit_cores": analysis.fit_cores,
                                     "lambda": analysis.fit.lam, "sigma": analysis.fit.sigma, "kappa": analysis.fit.kappa})
        return
    _record_summary(analysis.fit_cores)
    rec = analysis.recommendation
    benchmark.extra_info.update({
        "model": "USL fit (a model, not a measurement)", "fit_cores": analysis.fit_cores, "r_squared": round(analysis.fit.r_squared, 4),
        "points_used": len(analysis.fit.points), "lambda": analysis.fit.lam, "sigma": analysis.fit.sigma, "kappa": analysis.fit.kappa,
        "azure_profile": analysis.azure_profile, "target_records_per_s": TARGET,
        "model_recommended_partitions": rec.partitions, "model_projected_records_per_s": round(rec.projected_records_per_s, 1),
        "model_limit": rec.limit,
    })


def _record_summary(cores: int | None) -> None:
    """The job against the raw connector read of the same topic, and its latency, for reports/bench/summary.md."""
    points = [p for p in _result.points if p.cores == cores]
    ratios = sorted(r for r in (p.raw_read_ratio for p in points) if r is not None)
    if ratios:
        record_figure("reference job / raw spark.read of the same topic", ratios[len(ratios) // 2], goal=">= 0.5",
                      how=f"median over {len(ratios)} partition counts on local[{cores}], rows per second of busy batch time")
    for name, ratio_of, how in (
            ("reference job through the harness / the same query into Spark's noop sink", lambda p: p.harness_ratio,
             "the job as run (observed metric, collect into Python, the replay writing) against the query alone on the written topic"),
            ("the same query into Spark's noop sink / raw spark.read", lambda p: p.engine_ratio,
             "what Spark's micro-batches of the query cost, no harness at all")):
        found = sorted(r for r in (ratio_of(p) for p in points) if r is not None)
        if found:
            record_figure(name, found[len(found) // 2], how=f"median over {len(found)} partition counts on local[{cores}]; {how}")
