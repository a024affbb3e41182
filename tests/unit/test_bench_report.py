"""The sweep's report writer and its pure parts, on synthetic sweep results (no brokers, no Spark)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.bench.perftools import ConsumerPerfResult, ProducerPerfResult
from harness.bench.report import analyse, write_report
from harness.bench.sweep import SweepPoint, SweepResult, point_from_report, point_scenario
from harness.scenarios.spec import Scenario
from harness.verify.check import Check
from harness.verify.report import RunReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def usl(n: float, lam: float = 3000.0, sigma: float = 0.1, kappa: float = 0.01) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def point(partitions: int, cores: int = 8) -> SweepPoint:
    """A point of a job that has the cores its partitions need, so the curve measures parallelism."""
    spark = usl(partitions)
    return SweepPoint(
        partitions=partitions, cores=cores, records=20_000, record_bytes=66.0, verdict="pass", failed_checks=[],
        producer_records_per_s=20_000.0, spark_records_per_s=spark, spark_records_per_s_wall=spark / 2, spark_records_per_s_active=spark * 0.9,
        micro_batches=7, data_batches=5, median_batch_ms=1500.0, tasks_per_batch={"min": partitions, "max": partitions, "mean": partitions},
        lag=[(1000, 12_000), (2500, 8000), (4000, 4000), (5500, 0)], latency_ms={"p50": 4000.0, "p95": 7000.0, "p99": 7500.0},
        late_dropped=0, raw_read_records_per_s=spark * 4, noop_sink_records_per_s=spark * 1.25,
        perf_producer=ProducerPerfResult(records=20_000, records_per_s=40_000.0, mb_per_s=2.5, avg_latency_ms=300.0, max_latency_ms=500.0,
                                         p50_ms=290.0, p95_ms=450.0, p99_ms=490.0, p999_ms=500.0),
        perf_consumer=ConsumerPerfResult(records=20_000, mb=1.26, mb_per_s=1.1, records_per_s=18_000.0, rebalance_ms=500.0, fetch_ms=250.0,
                                         fetch_mb_per_s=5.0, fetch_records_per_s=80_000.0),
    )


def synthetic(partitions: tuple[int, ...] = (1, 2, 4, 8)) -> SweepResult:
    return SweepResult(scenario="throughput", profile="dev", records=20_000, points=[point(n) for n in partitions])


def test_report_has_the_ratio_columns_the_model_wording_and_a_valid_png(tmp_path: Path) -> None:
    report = write_report(synthetic(), tmp_path / "bench", target_records_per_s=25_000)
    text = report.markdown.read_text()
    assert report.markdown == tmp_path / "bench" / "parallelism.md"
    assert "harness producer / Kafka producer tool" in text and "Spark job / raw consumer" in text
    # harness producer 20,000 vs the tool's 40,000; Spark at N=4 vs the raw consumer's fetch rate of 80,000
    row4 = next(line for line in text.splitlines() if line.startswith("| 8 | 4 |"))
    assert "| 0.500 |" in row4 and f"| {usl(4) / 80_000:.3f} |" in row4
    assert "| 0.250 |" in row4 and "Spark job / raw spark.read" in text  # the job against the connector's own batch read
    # the job through the harness against the same query into Spark's noop sink (0.8), and that query against the raw read
    assert "| 0.800 | 0.312 |" in row4 and "Spark job / noop-sink query" in text and "noop-sink query / raw spark.read" in text
    assert "MODEL PROJECTION, not a measurement" in text
    assert re.search(r"R² = 1\.0000 from 4 points", text), "the fit quality is shown"
    recommendation = report.analysis.recommendation
    assert recommendation is not None and recommendation.partitions is not None
    assert f"Recommended partition count (model): {recommendation.partitions}**" in text
    assert "Azure profile `hdinsight`" in text
    png = report.png.read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 20_000

    from PIL import Image

    with Image.open(report.png) as image:
        image.verify()
    with Image.open(report.png) as image:
        assert image.format == "PNG" and image.size == (1400, 1000)


def test_the_fit_recovers_the_synthetic_curve() -> None:
    analysis = analyse(synthetic((1, 2, 4, 8, 16)), target_records_per_s=25_000)
    assert analysis.fit is not None and analysis.problem is None
    assert analysis.fit.lam == pytest.approx(3000, rel=1e-3)
    assert analysis.fit.sigma == pytest.approx(0.1, rel=1e-2)
    assert analysis.projection is not None and analysis.projection.local_cores == 8


def test_too_few_points_still_write_a_report_that_says_there_is_no_model(tmp_path: Path) -> None:
    report = write_report(synthetic((1, 2)), tmp_path, target_records_per_s=25_000)
    text = report.markdown.read_text()
    assert report.analysis.fit is None
    assert "No model was fitted" in text and "three distinct parallelisms" in text
    assert "Recommended partition count" not in text
    assert report.png.read_bytes().startswith(PNG_SIGNATURE)


def test_sweep_result_round_trips_through_json() -> None:
    result = synthetic()
    again = SweepResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again == result
    assert again.points[0].producer_ratio == pytest.approx(0.5)
    assert again.points[0].harness_ratio == pytest.approx(0.8) and again.points[0].engine_ratio == pytest.approx(1.25 / 4)


def test_fit_uses_one_core_count_at_a_time() -> None:
    result = synthetic()
    result.points += [point(n, cores=1) for n in (1, 2, 4)]
    assert result.cores == [1, 8]
    assert [n for n, _ in result.fit_points()] == [1, 2, 4, 8]
    assert [n for n, _ in result.fit_points(1)] == [1, 2, 4]


BASE = Scenario.model_validate({
    "name": "throughput",
    "topics": [{"name": "stockVals", "partitions": 8, "replication_factor": 3}],
    "producers": [{"name": "bulk", "topic": "stockVals", "duration": "12h", "time_compression": 720}],
    "job": {"window": "1m", "watermark": "2m", "trigger": "1s"},
    "expect": {"max_late_records": 0},
})


def test_point_scenario_has_its_own_topic_an_unpaced_producer_and_bounded_batches() -> None:
    scenario = point_scenario(BASE, 16, 20_000, batches=5)
    topic = scenario.source_topic
    producer = scenario.producers[0]
    assert (topic.name, topic.partitions, topic.replication_factor) == ("stockVals-sweep-p16", 16, 3)
    assert producer.topic == topic.name and producer.tick_count * 10 == 20_000
    assert producer.rate is None and producer.time_compression is None and producer.partitioner == "random"
    assert scenario.job.max_offsets_per_trigger == 4000
    assert scenario.expect.max_late_records is None
    keyed = point_scenario(BASE, 4, 20_000, spread_keys=False)
    assert keyed.producers[0].partitioner == BASE.producers[0].partitioner and keyed.expect.max_late_records == 0


def test_point_figures_come_from_the_run_report() -> None:
    batches = [
        {"id": 0, "input_rows": 0, "duration_ms": 900, "finished_ms": 10_000, "lag": 0, "tasks": 0},
        {"id": 1, "input_rows": 3000, "duration_ms": 1000, "finished_ms": 12_000, "lag": 5000, "tasks": 4},
        {"id": 2, "input_rows": 5000, "duration_ms": 2000, "finished_ms": 14_500, "lag": 0, "tasks": 4},
        {"id": 3, "input_rows": 0, "duration_ms": 300, "finished_ms": 15_000, "lag": 0, "tasks": 0},
    ]
    report = RunReport(
        scenario="s", profile="dev", bootstrap_servers="x",
        replay={"acked": 8000, "rate_per_s": 16_000.0},
        job={"micro_batches": 4, "batches": batches, "wall_seconds": 8.0, "tasks_per_batch": {"min": 4, "max": 4, "mean": 4},
             "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "count": 9}},
        verification={"late_dropped_records": 7},
        checks=[Check("a", True), Check("b", False, "broken")],
    )
    p = point_from_report(report, partitions=4, cores=2)
    assert p.spark_records_per_s == round(8000 / 3.0, 1)  # rows over the busy batches' time only
    assert p.spark_records_per_s_wall == 1000.0
    assert p.spark_records_per_s_active == round(8000 / 3.5, 1)  # first data batch started at 11.0 s, last ended 14.5 s
    assert p.median_batch_ms == 1500 and p.data_batches == 2
    assert p.lag == [(1000, 5000), (3500, 0), (4000, 0)]
    assert (p.verdict, p.failed_checks, p.late_dropped) == ("fail", ["b"], 7)


def test_three_points_fit_says_r_squared_proves_nothing(tmp_path: Path) -> None:
    text = write_report(synthetic((1, 2, 4)), tmp_path, target_records_per_s=25_000).markdown.read_text()
    assert "R² = 1.0000 from 3 points" in text and "R² says nothing about the fit" in text


def _measured(rates: dict[int, float], cores: int) -> SweepResult:
    points = []
    for n, rate in rates.items():
        base = point(n, cores=cores)
        points.append(SweepPoint(**{**base.__dict__, "spark_records_per_s": rate}))
    return SweepResult(scenario="throughput", profile="dev", records=20_000, points=points)


def test_an_overhead_bound_curve_gets_no_projection_and_no_recommendation(tmp_path: Path) -> None:
    """The quick sweep's curve on local[2] (rate falling as partitions rise): the fit peaks at its first
    point, and scaling it to a cluster would contradict it; the report declines and says why."""
    report = write_report(_measured({1: 2861, 2: 2549, 4: 1871, 8: 1514}, cores=2), tmp_path, target_records_per_s=25_000)
    analysis = report.analysis
    assert analysis.fit is not None and analysis.projection is None and analysis.recommendation is None
    assert analysis.problem is not None and "declined to project or recommend" in analysis.problem and "first point" in analysis.problem
    text = report.markdown.read_text()
    assert "Recommended partition count" not in text and "declined to project or recommend" in text


def test_a_curve_that_only_rises_past_the_cores_is_declined_but_one_rising_to_them_is_projected() -> None:
    past = analyse(_measured({1: 1000, 2: 1010, 4: 1600, 8: 2400}, cores=2), target_records_per_s=25_000)
    assert past.projection is None and past.problem is not None and "past the job's 2 cores" in past.problem
    rising = analyse(_measured({n: usl(n) for n in (1, 2, 4, 8)}, cores=8), target_records_per_s=25_000)
    assert rising.problem is None and rising.projection is not None
