"""Run a scenario end to end: twin, topics, streaming job, replay, verification, report.

Used by `harness run`, the pytest plugin's `run_scenario` fixture, the gate and the parallelism sweep, so each of
them gets the same behaviour, including the clean stop of everything it started. This module is the data
path only: the job runs behind `JobHandle`, faults go through `harness.faults`, the verdict comes from
verify's composed checkers and the report from verify's report module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from harness.backends import Deployment, new_deployment
from harness.errors import HarnessError
from harness.faults.inject import FaultScheduler, require_valid
from harness.jobs.application import SubmittedApplication
from harness.jobs.catchup import CatchUpGoal
from harness.jobs.driver import DriverProcess
from harness.jobs.notebook import NotebookJob
from harness.jobs.python_workers import job_python_sources, require_workers_fit
from harness.jobs.runner import JobHandle, JobHistory, StreamingJob
from harness.kafka import admin
from harness.kafka.readback import stored_records
from harness.records import AckedRecord, ReplayResult, by_position
from harness.runtime.processes import check_interrupted
from harness.runtime.readiness import Progress, quiet, wait_for
from harness.scenarios.replay import replay
from harness.scenarios.spec import ProducerSpec, Scenario
from harness.verify.check import RunHistory, judge
from harness.verify.delivery import resolve_offsets
from harness.verify.manifest import write_manifest
from harness.verify.report import RunReport, run_report
from harness.versions import CURRENT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from harness.topology.model import KafkaSecurity

CATCH_UP_TIMEOUT_S = 600.0
T = TypeVar("T")
HEAL_TIMEOUT_S = 120.0  # a restarted broker registers, then the controller hands out leaderships: seconds, or more on a loaded machine


def run_scenario(
    scenario: Scenario,
    *,
    deployment: Deployment | None = None,
    spark: SparkSession | None = None,
    run_name: str = "scenario",
    manifest_path: Path | None = None,
    progress: Progress = quiet,
    backend: str | None = None,
    release: str | None = None,
    security: str | None = None,
) -> RunReport:
    clock = PhaseClock()
    with contextlib.ExitStack() as stack:
        with clock.phase("twin_ready_s", counted=deployment is None):
            twin = stack.enter_context(_twin(scenario, deployment, run_name, progress, backend, release, security))
        needed = _needs_session(scenario, twin)
        with clock.phase("spark_session_s", counted=spark is None and needed):
            session = stack.enter_context(_spark(twin, spark, progress, needed=needed))
        workdir = twin.run.path / "scenarios" / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10_000}"
        topic = scenario.source_topic
        _fresh_topics(twin, scenario, progress)
        require_valid(scenario.faults, twin)
        job = _job(scenario, twin, session, workdir)
        progress(f"starting streaming job {_job_name(scenario)} ({scenario.job.output_mode} mode)")
        logs_at_start = twin.broker_log_ends()  # refusals from before this job are not its own

        def stalled() -> str | None:  # a fact the start and catch-up waits both end on
            return twin.refused_handshakes(since=logs_at_start)

        with clock.phase("job_start_s"):
            job.start()
        faults = FaultScheduler(twin, topic.name, scenario.faults, progress=progress, driver=job.restartable())
        healed = False
        try:
            with clock.phase("job_start_s"):
                _explained(lambda: job.wait_started(stalled=stalled), twin, logs_at_start)
            faults.start()
            with clock.phase("replay_s"):
                results = [_replay(twin, topic.name, p, progress) for p in scenario.producers]
            events = faults.join()
            check_interrupted()
            healed = _heal(twin, scenario, progress)  # a fault the schedule left in place (one that waited in vain) would hide what was stored
            stored = stored_records(twin.bootstrap_servers, topic.name, topic.partitions)
            acked = sorted(resolve_offsets([r for res in results for r in res.acked], stored), key=by_position)
            waited = time.monotonic()
            state = _explained(lambda: job.wait_caught_up(catch_up_goal(scenario, stored), timeout=CATCH_UP_TIMEOUT_S, progress=progress,
                                                          stalled=stalled), twin, logs_at_start)
            caught_up_s = time.monotonic() - waited
            clock.phases["catch_up_s"] = round(caught_up_s, 3)
            progress(f"job {'finished' if state.finished else 'stopped before it finished'}: {state.describe()}")
        finally:
            faults.cancel()
            history = job.stop()
            if not healed:
                _heal(twin, scenario, progress)
        manifest = manifest_path or workdir / "manifest.jsonl"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        write_manifest(manifest, acked)
        progress("verifying against the oracle")
        recorded = RunHistory(job=scenario.job, expect=scenario.expect, replays=results, acked=acked, stored=stored, batches=history.batches,
                              outputs=history.outputs, finish=history.catch_up,
                              malformed_reported=len(history.malformed_offsets) if history.malformed_known else None, emitted_ms=history.emitted_ms,
                              rewritten=history.rewritten, sink_notes=history.sink_notes, sampled=history.sampled,
                              late_events=twin.topology.stack.late_events)
        with clock.phase("verify_s"):
            verdict = judge(recorded)
        return run_report(scenario.name, twin.profile, twin.bootstrap_servers, recorded, verdict, manifest=str(manifest),
                          release=twin.topology.stack.title, security=twin.topology.kafka.security.protocol,
                          faults=[e.to_json() for e in events], job_facts=_job_facts(history, caught_up_s, _spark_facts(twin, session, history)),
                          timings={**clock.phases, "run_s": clock.elapsed()})


class PhaseClock:
    """Where a run's seconds go, phase by phase (the report's `time` line; the run-time benchmark reads it):
    a phase entered twice adds up, and a phase this run did not pay for (a twin or session it was given)
    is not recorded."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.phases: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str, *, counted: bool = True) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            if counted:
                self.phases[name] = round(self.phases.get(name, 0.0) + time.monotonic() - began, 3)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)


def _heal(twin: Deployment, scenario: Scenario, progress: Progress) -> bool:
    """Undo what the faults left, and return once the source topic can be read again: every partition led."""
    if scenario.faults:
        progress("healing the twin: resuming and restarting faulted nodes")
        twin.heal()
        topic = scenario.source_topic.name
        wait_for(lambda: all(p.leader >= 0 for p in admin.describe(twin.bootstrap_servers, topic, timeout=5).partitions),
                 what=f"every partition of {topic} to have a leader again", timeout=HEAL_TIMEOUT_S, progress=progress)
    return True


def own_spark_runs(twin: Deployment) -> bool:
    """The harness's own pyspark is the current release's Spark; a job of another release runs in a
    process of that release's Spark (a driver process, spark-submit, spark-shell), never in this one."""
    return twin.topology.stack.spark_version == CURRENT.spark_version


def _spark_facts(twin: Deployment, session: SparkSession | None, history: JobHistory) -> dict[str, str | None]:
    """Where the job's Spark driver ran, with how much memory and on which Spark (as the driver said), as the report records it."""
    if session is not None:
        return {"master": session.sparkContext.master, "driver_memory": session.conf.get("spark.driver.memory"), "version": history.spark_version}
    master, _ = twin.driver_spark_conf()
    return {"master": master or f"local[{twin.topology.spark.local_cores}]", "driver_memory": f"{twin.topology.spark.driver_memory_mb}m",
            "version": history.spark_version}


def _job_facts(history: JobHistory, caught_up_s: float, spark: dict[str, str | None]) -> dict[str, object]:
    """What the job handle knows beyond its batches: wall time, how the wait ended, driver incarnations."""
    catch_up = history.catch_up
    facts: dict[str, object] = {
        "spark": spark,
        "wall_seconds": round(history.wall_seconds, 2),
        "catch_up": ({"outcome": catch_up.outcome, "batch_id": catch_up.batch_id, "watermark_ms": catch_up.watermark_ms,
                      "detail": catch_up.describe()} if catch_up else None),
        "caught_up_after_replay_s": round(caught_up_s, 3),
    }
    if history.incarnations is not None:
        facts["driver_incarnations"] = history.incarnations
    return facts


def catch_up_goal(scenario: Scenario, stored: list[AckedRecord]) -> CatchUpGoal:
    """What the job must have done before it is stopped: consume every stored offset and, with a
    watermark, reach the watermark the largest stored event time gives (the wait reads both facts)."""
    ends: dict[int, int] = {}
    for record in stored:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return CatchUpGoal.for_records(ends, (r.event_time_ms for r in stored), watermark_delay_ms=scenario.job.watermark,
                                   output_mode=scenario.job.output_mode)


def _job(scenario: Scenario, twin: Deployment, session: SparkSession | None, workdir: Path) -> JobHandle:
    """A team's application with spark-submit; the harness's job in its own Spark session; or, when a
    fault targets the driver (or the backend runs drivers inside the VNet, or the release's Spark is not
    the harness's own), in a driver process of its own."""
    topic = scenario.source_topic.name
    settings, release = twin.topology.spark, twin.topology.stack.name
    if twin.driver_launcher() is None:  # the job's Python workers would run on this machine's Python
        require_workers_fit(twin.topology.stack, job_python_sources(scenario.job), f"the job of scenario {scenario.name}")
    if scenario.job.application is not None:
        node = twin.driver_launcher()  # docker: spark-submit on the Spark head node, with the twin as the VNet sees it
        master, conf = twin.driver_spark_conf() if node is not None else twin.spark_conf()
        return SubmittedApplication(twin.bootstrap_servers, topic, scenario.job, workdir, master=master or "", conf=conf,
                                    cores=settings.local_cores, memory_mb=settings.driver_memory_mb, node=node, app_bootstrap=twin.job_bootstrap(),
                                    release=release, client_properties=twin.job_security.java)
    if scenario.job.notebook is not None:
        node = twin.driver_launcher()  # docker: the notebook's driver on the Spark head node, as HDInsight's Livy session runs it
        master, conf = twin.driver_spark_conf() if node is not None else twin.spark_conf()
        return NotebookJob(twin.bootstrap_servers, topic, scenario.job, workdir, master=master or "", conf=conf,
                           cores=settings.local_cores, memory_mb=settings.driver_memory_mb, node=node, app_bootstrap=twin.job_bootstrap(),
                           release=release, client_properties=twin.job_security.java)
    launcher = twin.driver_launcher()
    if launcher is not None or not own_spark_runs(twin) or any(f.target == "driver" for f in scenario.faults):
        master, conf = twin.driver_spark_conf()
        return DriverProcess(twin.job_bootstrap(), topic, scenario.job, workdir, cores=settings.local_cores, memory_mb=settings.driver_memory_mb,
                             master=master, conf=conf, launcher=launcher, release=release, kafka_options=twin.job_security.spark_options())
    assert session is not None
    return StreamingJob(session, twin.bootstrap_servers, topic, scenario.job, workdir, kafka_options=twin.job_security.spark_options())


def _job_name(scenario: Scenario) -> str:
    app, notebook = scenario.job.application, scenario.job.notebook
    return f"{app.file} (spark-submit)" if app else f"{notebook.file} (notebook)" if notebook else scenario.job.name


def _needs_session(scenario: Scenario, twin: Deployment) -> bool:
    """The harness's own Spark session runs the job unless the job is an application, a notebook, or needs a driver process of its own."""
    return (scenario.job.application is None and scenario.job.notebook is None and twin.driver_launcher() is None and own_spark_runs(twin)
            and not any(f.target == "driver" for f in scenario.faults))


def _explained(wait: Callable[[], T], twin: Deployment, since: Mapping[str, int]) -> T:
    """A job that died or stalled gets the backend's diagnosis (names that do not resolve in its VNet,
    TLS handshakes the brokers refused, operations their authorizer denied since the broker logs' marks `since`)."""
    try:
        return wait()
    except HarnessError as exc:
        why = twin.explain_job_failure(since)
        if why:
            exc.hint = why
        raise


@contextlib.contextmanager
def running_twin(deployment: Deployment, progress: Progress = quiet) -> Iterator[Deployment]:
    """The one twin lifecycle (runner, gate, pytest plugin): start it, and stop everything it started
    when the block ends, also on failure and Ctrl-C."""
    from harness.spark.class_archive import ensure_driver_archive

    try:
        ensure_driver_archive(deployment.topology.stack.name, progress)  # once per machine; `harness fetch` does it too
        deployment.start(progress=progress)
        yield deployment
    finally:
        deployment.stop()


@contextlib.contextmanager
def spark_for(twin: Deployment, progress: Progress = quiet, *, local_cores: int | None = None) -> Iterator[SparkSession]:
    """The one SparkSession for a twin (runner, gate, pytest plugin, sweep): its master, executor settings
    and the profile's driver memory, and its JVM stopped when the block ends. `local_cores` asks for a
    local[N] session of that size instead (the core sweep)."""
    from harness.spark import spark_session, stop_spark

    if not own_spark_runs(twin):
        stack = twin.topology.stack
        raise HarnessError(f"release {stack.name} runs Spark {stack.spark_version}; a shared Spark session here is Spark {CURRENT.spark_version}",
                           hint=f"run the scenario without a session (run_scenario starts a driver process of Spark {stack.spark_version}), "
                                "or use release current")
    master, conf = (f"local[{local_cores}]", {}) if local_cores else twin.spark_conf()
    progress(f"starting Spark ({master}) with the spark-sql-kafka connector")
    session = spark_session(twin.bootstrap_servers, master=master, driver_memory_mb=twin.topology.spark.driver_memory_mb, extra_conf=conf)
    try:
        yield session
    finally:
        stop_spark(session)


@contextlib.contextmanager
def shared_spark(twin: Deployment, progress: Progress = quiet) -> Iterator[SparkSession | None]:
    """A session several scenarios share (the gate), where this process can run the release's Spark; else
    none, and each scenario's job runs in a process of that release's Spark."""
    with _spark(twin, None, progress, needed=own_spark_runs(twin)) as session:
        yield session


@contextlib.contextmanager
def _twin(scenario: Scenario, given: Deployment | None, run_name: str, progress: Progress, backend: str | None,
          release: str | None, security: str | KafkaSecurity | None) -> Iterator[Deployment]:
    if given is not None:
        yield given
        return
    with running_twin(new_deployment(scenario.profile, run_name, backend or scenario.backend, release=release,
                                     security=security or scenario.security), progress) as twin:
        yield twin


@contextlib.contextmanager
def _spark(twin: Deployment, given: SparkSession | None, progress: Progress, *, needed: bool) -> Iterator[SparkSession | None]:
    if given is not None or not needed:
        yield given
        return
    with spark_for(twin, progress) as session:
        yield session


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


def _replay(twin: Deployment, topic: str, spec: ProducerSpec, progress: Progress) -> ReplayResult:
    progress(f"replaying producer {spec.name} ({spec.generator}, {spec.tick_count} ticks, acks={spec.acks})")
    printer = (lambda line: print(line, flush=True)) if spec.print_deliveries else None
    result = replay(twin.bootstrap_servers, topic, spec, printer=printer,
                    on_progress=lambda n, total: progress(f"replay: {n}/{total} records sent") if n and n % 5000 == 0 else None)
    progress(f"replay done: {len(result.acked)} acknowledged in {result.seconds:.2f}s ({result.rate:,.0f}/s)")
    return result
