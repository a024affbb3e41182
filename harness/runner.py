"""Run a scenario end to end: twin, topics, streaming job, replay, verification, report.

Used by `harness run`, the pytest plugin's `run_scenario` fixture, the gate and the parallelism sweep, so each of
them gets the same behaviour, including the clean stop of everything it started.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends import Deployment, new_deployment
from harness.errors import HarnessError
from harness.jobs.catchup import CatchUpGoal
from harness.jobs.contract import load_callable
from harness.jobs.driver import DriverProcess
from harness.jobs.runner import JobHistory, StreamingJob, job_options
from harness.kafka import admin
from harness.scenarios.replay import ReplayResult, replay
from harness.scenarios.spec import Scenario
from harness.verify.check import Check, RecordedBatch, oracle_batches, verify_generic, verify_windows
from harness.kafka.readback import read_topic
from harness.runtime.processes import check_interrupted
from harness.scenarios.faults import FaultScheduler, require_valid
from harness.verify.delivery import account, by_position, resolve_offsets
from harness.verify.manifest import AckedRecord, write_manifest
from harness.verify.oracle import JobSemantics, parse_tick
from harness.verify.report import RunReport, counts, latency_summary, tasks_summary

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Progress = Callable[[str], None]
CATCH_UP_TIMEOUT_S = 600.0


def run_scenario(
    scenario: Scenario,
    *,
    deployment: Deployment | None = None,
    spark: SparkSession | None = None,
    run_name: str = "scenario",
    manifest_path: Path | None = None,
    progress: Progress = lambda _: None,
    backend: str | None = None,
) -> RunReport:
    with _twin(scenario, deployment, run_name, progress, backend) as twin, _spark(twin, spark, progress, needed=_needs_session(scenario, twin)) as session:
        workdir = twin.run.path / "scenarios" / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10_000}"
        topic = scenario.source_topic
        _fresh_topics(twin, scenario, progress)
        require_valid(scenario.faults, twin)
        job = _job(scenario, twin, session, workdir)
        progress(f"starting streaming job {scenario.job.name} ({scenario.job.output_mode} mode)")
        job.start()
        faults = FaultScheduler(twin, topic.name, scenario.faults, progress=progress, driver=job if isinstance(job, DriverProcess) else None)
        try:
            _explained(job.wait_started, twin)
            faults.start()
            results = [_replay(twin, topic.name, p, progress) for p in scenario.producers]
            events = faults.join()
            check_interrupted()
            stored = _stored(twin, topic.name, topic.partitions)
            acked = sorted(resolve_offsets([r for res in results for r in res.acked], stored), key=by_position)
            goal = catch_up_goal(scenario, stored)
            waited = time.monotonic()
            state = job.wait_caught_up(goal, timeout=CATCH_UP_TIMEOUT_S, progress=progress)
            caught_up_s = time.monotonic() - waited
            progress(f"job {'finished' if state.finished else 'stopped before it finished'}: {state.describe()}")
        finally:
            faults.cancel()
            history = job.stop()
            if scenario.faults:
                progress("healing the twin: resuming and restarting faulted nodes")
                twin.heal()
        manifest = manifest_path or workdir / "manifest.jsonl"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        write_manifest(manifest, acked)
        progress("verifying against the oracle")
        report = _report(scenario, twin, results, acked, stored, history)
        report.manifest = str(manifest)
        report.faults = [e.to_json() for e in events]
        report.job["caught_up_after_replay_s"] = round(caught_up_s, 3)
        if isinstance(job, DriverProcess):
            report.job["driver_incarnations"] = job.incarnations()
        return report


def catch_up_goal(scenario: Scenario, stored: list[AckedRecord]) -> CatchUpGoal:
    """What the job must have done before it is stopped: consume every stored offset and, with a
    watermark, reach the watermark the largest stored event time gives (the wait reads both facts)."""
    ends: dict[int, int] = {}
    for record in stored:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return CatchUpGoal.for_records(ends, (r.event_time_ms for r in stored), watermark_delay_ms=scenario.job.watermark,
                                   output_mode=scenario.job.output_mode)


def _job(scenario: Scenario, twin: Deployment, session: SparkSession | None, workdir: Path) -> StreamingJob | DriverProcess:
    """In the harness's own Spark session, or, when a fault targets the driver, in a driver process of its own."""
    topic = scenario.source_topic.name
    launcher = twin.driver_launcher()
    if launcher is not None or any(f.target == "driver" for f in scenario.faults):
        settings = twin.topology.spark
        master, conf = twin.driver_spark_conf()
        return DriverProcess(twin.job_bootstrap(), topic, scenario.job, workdir, cores=settings.local_cores, memory_mb=settings.driver_memory_mb,
                             master=master, conf=conf, launcher=launcher)
    assert session is not None
    return StreamingJob(session, twin.bootstrap_servers, topic, scenario.job, workdir)


def _needs_session(scenario: Scenario, twin: Deployment) -> bool:
    """The harness's own Spark session runs the job unless the job needs a driver process of its own."""
    return twin.driver_launcher() is None and not any(f.target == "driver" for f in scenario.faults)


def _explained(wait: Callable[[], None], twin: Deployment) -> None:
    """A job that died before its first batch gets the backend's diagnosis (e.g. names that do not resolve in its VNet)."""
    try:
        wait()
    except HarnessError as exc:
        why = twin.explain_job_failure()
        if why:
            exc.hint = why
        raise


@contextlib.contextmanager
def _twin(scenario: Scenario, given: Deployment | None, run_name: str, progress: Progress, backend: str | None) -> Iterator[Deployment]:
    if given is not None:
        yield given
        return
    deployment = new_deployment(scenario.profile, run_name, backend or scenario.backend)
    try:
        deployment.start(progress=progress)
        yield deployment
    finally:
        deployment.stop()


@contextlib.contextmanager
def _spark(twin: Deployment, given: SparkSession | None, progress: Progress, *, needed: bool = True) -> Iterator[SparkSession | None]:
    if given is not None or not needed:
        yield given
        return
    from harness.spark import spark_session, stop_spark

    master, conf = twin.spark_conf()
    progress(f"starting Spark ({master}) with the spark-sql-kafka connector")
    session = spark_session(twin.bootstrap_servers, master=master, driver_memory_mb=twin.topology.spark.driver_memory_mb, extra_conf=conf)
    try:
        yield session
    finally:
        stop_spark(session)


def _fresh_topics(twin: Deployment, scenario: Scenario, progress: Progress) -> None:
    """The scenario owns its topics: an old copy (from an earlier run on the same twin) is replaced."""
    existing = set(admin.list_topics(twin.bootstrap_servers))
    defaults = twin.topology.kafka.topic_defaults
    for topic in scenario.topics:
        if topic.name in existing:
            progress(f"replacing existing topic {topic.name}")
            admin.delete_topic(twin.bootstrap_servers, topic.name)
        rf = topic.replication_factor or defaults.replication_factor
        if rf > twin.broker_count():
            raise HarnessError(f"topic {topic.name} asks for replication factor {rf} but {twin.profile} has {twin.broker_count()} brokers",
                               hint="lower topics[].replication_factor in the scenario or use a bigger profile")
        admin.create_topic(twin.bootstrap_servers, topic.name, partitions=topic.partitions, replication_factor=rf, configs=topic.configs)
        progress(f"topic {topic.name}: {topic.partitions} partitions, replication factor {rf}")


def _replay(twin: Deployment, topic: str, spec, progress: Progress) -> ReplayResult:  # noqa: ANN001
    progress(f"replaying producer {spec.name} ({spec.generator}, {spec.tick_count} ticks, acks={spec.acks})")
    printer = (lambda line: print(line, flush=True)) if spec.print_deliveries else None
    result = replay(twin.bootstrap_servers, topic, spec, printer=printer,
                    on_progress=lambda n, total: progress(f"replay: {n}/{total} records sent") if n and n % 5000 == 0 else None)
    progress(f"replay done: {len(result.acked)} acknowledged in {result.seconds:.2f}s ({result.rate:,.0f}/s)")
    return result


def _iso(ms: int | None) -> str:
    from datetime import datetime, timezone

    return "?" if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M:%S")


def _stored(twin: Deployment, topic: str, partitions: int) -> list[AckedRecord]:
    """What the brokers hold now, in manifest form: the oracle's input and the delivery check's evidence."""
    records = []
    for message in read_topic(twin.bootstrap_servers, topic, partitions):
        value = message.value.decode("utf-8", "replace") if message.value is not None else ""
        tick = parse_tick(value)
        records.append(AckedRecord(topic=topic, partition=message.partition, offset=message.offset,
                                   key=message.key.decode("utf-8", "replace") if message.key is not None else None,
                                   event_time_ms=tick.event_time_ms if tick else None, value=value, timestamp_ms=message.timestamp_ms))
    return records


def _report(scenario: Scenario, twin: Deployment, results: list[ReplayResult], acked, stored, history: JobHistory) -> RunReport:  # noqa: ANN001
    spec = scenario.job
    recorded = [RecordedBatch(b.batch_id, b.start_offsets, b.end_offsets, b.finished_ms, b.watermark_ms) for b in history.batches]
    malformed_reported = len(history.malformed_offsets)
    if spec.oracle:
        oracle = load_callable(spec.oracle, what="oracle")
        in_topic = [r for r in acked if r.offset is not None]  # the others are lost: no job can read them
        expected = oracle(in_topic, oracle_batches(recorded), job_options(spec))
        key_columns = [c.strip() for c in str(spec.options.get("key", "symbol,window_start_ms,window_end_ms")).split(",")]
        verification = verify_generic(expected, history.outputs, spec.output_mode, key_columns)
    else:
        semantics = JobSemantics(spec.window, spec.slide, spec.watermark, spec.output_mode)
        verification = verify_windows(stored, recorded, history.outputs, semantics, malformed_reported)
    failed = [f for r in results for f in r.failed]
    delivery = account(acked, stored)
    checks = [Check("every record sent was acknowledged", not failed, "; ".join(failed[:5]) or f"{len(acked)} acknowledged")]
    if scenario.expect.max_lost is not None:
        checks.append(Check("no acknowledged record lost", len(delivery.lost) <= scenario.expect.max_lost,
                            "\n".join([f"{len(delivery.lost)} acknowledged records are not in Kafka (at most {scenario.expect.max_lost} allowed)",
                                       *(f"- lost {line}" for line in delivery.to_json()["lost_examples"])])))
    if scenario.expect.max_duplicated is not None:
        checks.append(Check("no record duplicated", len(delivery.duplicated) <= scenario.expect.max_duplicated,
                            "\n".join([f"{len(delivery.duplicated)} records stored more often than acknowledged",
                                       *(f"- duplicated {line}" for line in delivery.to_json()["duplicated_examples"])])))
    checks.extend(verification.checks)
    if history.catch_up is not None:
        checks.append(Check("the job finished before it was stopped", history.catch_up.finished,
                            f"{history.catch_up.outcome}: {history.catch_up.describe()}"))
    if scenario.expect.malformed is not None:
        checks.append(Check("malformed count as expected", malformed_reported == scenario.expect.malformed,
                            f"expected {scenario.expect.malformed}, job reported {malformed_reported}"))
    if scenario.expect.max_late_records is not None and verification.oracle is not None:
        dropped = verification.oracle.late_drops
        records = {(d.record.partition, d.record.offset) for d in dropped}
        detail = [f"{len(records)} records dropped by the watermark, at most {scenario.expect.max_late_records} allowed"]
        detail += [f"- dropped {d.symbol} window {_iso(d.window_start_ms)}..{_iso(d.window_end_ms)}: partition {d.record.partition} offset {d.record.offset} "
                   f"(event time {_iso(d.record.event_time_ms)}) in batch {d.batch_id}" for d in dropped[:20]]
        checks.append(Check("late records within the allowance", len(records) <= scenario.expect.max_late_records, "\n".join(detail)))
    actual_rows = sum(len(rows) for rows in history.outputs.values())
    if scenario.expect.min_windows is not None:
        expected_rows = len(verification.oracle.rows) if verification.oracle else actual_rows
        checks.append(Check("enough result rows", expected_rows >= scenario.expect.min_windows,
                            f"{expected_rows} rows, at least {scenario.expect.min_windows} expected"))
    batch_time_s = sum(b.duration_ms for b in history.batches) / 1000
    input_rows = sum(b.input_rows for b in history.batches)
    seconds = sum(r.seconds for r in results)
    oracle_result = verification.oracle
    per_partition: dict[int, int] = {}
    for record in acked:
        per_partition[record.partition] = per_partition.get(record.partition, 0) + 1
    return RunReport(
        scenario=scenario.name, profile=twin.profile, bootstrap_servers=twin.bootstrap_servers,
        replay={
            "sent": sum(r.sent for r in results), "acked": len(acked), "failed": failed, "seconds": round(seconds, 3),
            "rate_per_s": round(len(acked) / seconds, 1) if seconds else 0.0, "per_partition": counts(per_partition),
            "ack_latency_ms": latency_summary([ms for r in results for ms in r.ack_latencies_ms]),
        },
        job={
            "name": spec.name, "output_mode": spec.output_mode, "window_ms": spec.window, "slide_ms": spec.slide,
            "watermark_ms": spec.watermark, "micro_batches": len(history.batches), "input_rows": input_rows,
            "tasks_per_batch": tasks_summary([b.tasks(spec.min_partitions) for b in history.batches]),
            "throughput_rows_per_s": round(input_rows / batch_time_s, 1) if batch_time_s else 0.0,
            "wall_seconds": round(history.wall_seconds, 2),
            "catch_up": ({"outcome": history.catch_up.outcome, "batch_id": history.catch_up.batch_id,
                          "watermark_ms": history.catch_up.watermark_ms, "detail": history.catch_up.describe()} if history.catch_up else None),
            "latency_ms": latency_summary(verification.latencies_ms),
            "batches": [{"id": b.batch_id, "input_rows": b.input_rows, "duration_ms": b.duration_ms, "watermark_ms": b.watermark_ms,
                         "tasks": b.tasks(spec.min_partitions), "dropped_by_watermark": b.dropped_by_watermark,
                         "lag": b.lag, "finished_ms": b.finished_ms} for b in history.batches],
        },
        verification={
            "expected_rows": len(oracle_result.rows) if oracle_result else None,
            "actual_rows": actual_rows,
            "missing": len(verification.comparison.missing) if verification.comparison else None,
            "extra": len(verification.comparison.extra) if verification.comparison else None,
            "wrong": len(verification.comparison.wrong) if verification.comparison else None,
            "duplicated": len(verification.comparison.duplicated) if verification.comparison else None,
            "diff": verification.comparison.render(limit=50).splitlines() if verification.comparison else verification.generic_diff,
            "late_dropped_records": len(oracle_result.dropped_late) if oracle_result else None,
            "malformed_expected": len(oracle_result.malformed) if oracle_result else None,
            "malformed_reported": malformed_reported,
            "unconsumed": len(oracle_result.unconsumed) if oracle_result else None,
        },
        checks=checks,
        delivery=delivery.to_json(),
    )
