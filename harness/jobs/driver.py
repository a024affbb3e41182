"""The streaming job in a driver process of its own, so a fault can kill it and a restart resume it.

`python -m harness.jobs.driver CONFIG.json` runs the job with a checkpoint in the work directory
and writes, per micro-batch, its output and Spark's progress to files there. `DriverProcess` is the
parent's handle: start, kill -9, restart from the checkpoint, wait until caught up, stop, and read
the history back. Because outputs are files named by batch id, a batch Spark re-runs after a
restart replaces its own file: the sink is idempotent and the history has no window twice.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.backends.base import DriverLauncher
from harness.dist.spark import spark_runtime
from harness.errors import HarnessError, NotReadyError
from harness.jobs.catchup import CatchUpGoal, CatchUpState, QueryView, is_executed, latest_checkpointed
from harness.jobs.runner import (DEAD_LETTERS, JobHistory, StreamingJob, checkpoint_batches, completed_batches, job_checkpoint, wait_job_started,
                                 wait_until_caught_up, write_json)
from harness.jobs.stock import observed_malformed
from harness.runtime import processes
from harness.runtime.private import write_secret
from harness.runtime.readiness import wait_for
from harness.jobs.spec import JobSpec
from harness.versions import DEFAULT_RELEASE

STOP_FILE = "stop"
SPARK_VERSION_FILE = "spark-version"  # the driver's Spark, as its session says


class DriverProcess:
    def __init__(self, bootstrap: str, topic: str, spec: JobSpec, workdir: Path, *, cores: int, memory_mb: int,
                 master: str | None = None, conf: dict[str, str] | None = None, launcher: DriverLauncher | None = None,
                 release: str = DEFAULT_RELEASE, kafka_options: dict[str, str] | None = None) -> None:
        self.bootstrap, self.topic, self.spec, self.workdir = bootstrap, topic, spec, workdir
        self.release = release
        self.config = workdir / "driver.json"
        self.launcher = launcher
        workdir.mkdir(parents=True, exist_ok=True)
        if launcher is not None:
            _ship(spec.name, workdir / "pyfiles")
        write_secret(self.config, json.dumps({  # 0600: a secured twin's store passwords are in `kafka_options`
            "bootstrap": bootstrap, "topic": topic, "spec": spec.model_dump(mode="json"), "workdir": str(workdir), "cores": cores,
            "memory_mb": memory_mb, "master": master or f"local[{cores}]", "conf": conf or {}, "release": release,
            "kafka_options": kafka_options or {}}).encode())
        self.record: processes.ProcessRecord | None = None
        self.killed = False
        self.starts = 0
        self.catch_up: CatchUpState | None = None
        self._started = 0.0

    # ----- the fault target ----------------------------------------------------------------

    def start(self) -> None:
        (self.workdir / STOP_FILE).unlink(missing_ok=True)
        for name in ("harness_job", DEAD_LETTERS):  # "newest incarnation" pointers
            (self.workdir / "progress" / f"{name}.json").unlink(missing_ok=True)
        self.killed = False
        self.starts += 1
        args = ["-m", "harness.jobs.driver", str(self.config)]
        argv = self.launcher.argv(args) if self.launcher else [sys.executable, *args]
        env = None if self.launcher else spark_runtime(self.release).python_env()  # this release's pyspark first
        with processes.interrupts_deferred():  # the record is what the stop after Ctrl-C finds
            self.record, _ = processes.launch("driver", argv, log=self.workdir / "driver.log", env=env)
        if not self._started:
            self._started = time.perf_counter()

    def kill(self) -> None:
        if self.record is not None:
            self.killed = True
            if self.launcher is not None:
                self.launcher.kill()
            processes.send(self.record, signal.SIGKILL)
            processes.reap(self.record)

    def alive(self) -> bool:
        return self.record is not None and processes.is_alive(self.record)

    # ----- waiting -------------------------------------------------------------------------

    def _progress(self, name: str) -> list[dict[str, Any]]:
        try:
            return json.loads((self.workdir / "progress" / f"{name}.json").read_text())
        except (OSError, ValueError):
            return []

    @property
    def _query_names(self) -> list[str]:
        return ["harness_job", DEAD_LETTERS] if self.spec.dead_letter_topic else ["harness_job"]

    def wait_started(self, timeout: float = 180.0, *, stalled: Callable[[], str | None] | None = None) -> None:
        wait_job_started(lambda: all(self._progress(name) for name in self._query_names), stalled, what="the driver process's first (empty) batch",
                         timeout=timeout, guard=self._check_alive, log=self.workdir / "driver.log")

    def restartable(self) -> DriverProcess:
        return self

    def wait_caught_up(self, goal: CatchUpGoal, *, timeout: float, progress: Callable[[str], None] | None = None,
                       stalled: Callable[[], str | None] | None = None) -> CatchUpState:
        def observe() -> tuple[QueryView, list[QueryView]]:
            checkpointed = latest_checkpointed(job_checkpoint(self.workdir), self.topic)  # where kill -9 cut a progress event short
            job = QueryView.observe("harness_job", self._progress("harness_job"), self.topic, checkpointed)
            return job, [QueryView.observe(name, self._progress(name), self.topic) for name in self._query_names[1:]]

        self.catch_up = wait_until_caught_up(observe, goal, running=lambda: not self.killed or self.alive(), check=self._check_alive,
                                             timeout=timeout, progress=progress, stalled=stalled)
        return self.catch_up

    def _check_alive(self) -> None:
        """A driver that died by itself (not by a scheduled kill) fails the run with its log."""
        if self.record is not None and not self.killed and not self.alive():
            raise HarnessError("the streaming job's driver process exited", detail=processes.log_tail(self.workdir / "driver.log"))

    def first_batch_after_start(self) -> bool:
        return bool(self._progress("harness_job"))

    # ----- stop and read back --------------------------------------------------------------

    def stop(self) -> JobHistory:
        """Ask the driver to stop (it saves its last progress first), and terminate it if it does not."""
        (self.workdir / STOP_FILE).write_text("stop\n")
        if self.record is not None:
            record = self.record
            try:
                wait_for(lambda: not processes.is_alive(record), what="the driver process to stop", timeout=60, interval=0.2)
            except NotReadyError:
                pass  # it did not stop by itself: terminate() below escalates to SIGTERM, then SIGKILL
            processes.terminate([record], grace=10)
        return self.history()

    def history(self) -> JobHistory:
        history = JobHistory(wall_seconds=time.perf_counter() - self._started if self._started else 0.0, catch_up=self.catch_up,
                             incarnations=self.incarnations())
        version = self.workdir / SPARK_VERSION_FILE
        history.spark_version = version.read_text().strip() if version.is_file() else None
        for path in sorted((self.workdir / "outputs").glob("*.json")):
            history.outputs[int(path.stem)] = json.loads(path.read_text())
        progress = all_progress(self.workdir)
        history.malformed_offsets = observed_malformed(progress)
        for path in (self.workdir / "malformed").glob("*.json"):  # recounted where a killed driver lost a batch's progress
            history.malformed_offsets.update((p, o) for p, o in json.loads(path.read_text()))
        history.batches = completed_batches(progress, job_checkpoint(self.workdir), self.topic)
        return history

    def incarnations(self) -> list[list[int]]:
        """Batch ids each driver process ran: a batch id in two lists was re-run after a restart."""
        result = []
        for path in sorted((self.workdir / "progress").glob("harness_job-*.json")):
            try:
                result.append(sorted({int(p["batchId"]) for p in json.loads(path.read_text())}))
            except ValueError:
                continue
        return result


def all_progress(workdir: Path) -> list[dict[str, Any]]:
    """The job query's progress from every driver incarnation: each restart appends its own file."""
    merged: list[dict[str, Any]] = []
    for path in sorted((workdir / "progress").glob("harness_job*.json")):
        try:
            merged.extend(json.loads(path.read_text()))
        except ValueError:
            continue
    return merged


def recount_lost_malformed(job: StreamingJob, workdir: Path, topic: str) -> None:
    """Before a restarted driver runs: batches that committed after their incarnation last saved its progress
    took their observed malformed records with them; count those batches again and keep the result."""
    saved = {int(p["batchId"]) for p in all_progress(workdir) if is_executed(p)}
    lost = [b for b in checkpoint_batches(job_checkpoint(workdir), topic)
            if b.batch_id not in saved and not (workdir / "malformed" / f"{b.batch_id}.json").exists()]
    for batch_id, offsets in job.recount_malformed(lost).items():
        write_json(workdir / "malformed" / f"{batch_id}.json", offsets)


def _ship(job: str, target: Path) -> None:
    """Copy a user's job code next to the driver's config, on storage every Spark node mounts."""
    import shutil

    from harness.jobs.contract import job_sources

    source = job_sources(job)
    if source is None:
        return
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target / source.name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, target / source.name)


def main(config_path: str) -> int:
    """The driver: run the job until the parent writes the stop file."""
    from harness.spark import spark_session, stop_spark

    config = json.loads(Path(config_path).read_text())
    workdir = Path(config["workdir"])
    conf = dict(config["conf"])
    if (workdir / "pyfiles").is_dir():  # a user's job shipped to this host; executors (UDFs) see it on the shared storage
        sys.path.insert(0, str(workdir / "pyfiles"))
        conf["spark.executorEnv.PYTHONPATH"] = os.pathsep.join([str(workdir / "pyfiles"), os.environ.get("PYTHONPATH", "")])
    incarnation = len(list((workdir / "progress").glob("harness_job*.json"))) if (workdir / "progress").exists() else 0
    session = spark_session(config["bootstrap"], master=config["master"], driver_memory_mb=config["memory_mb"], app_name="harness-driver",
                            extra_conf=conf, release=config.get("release", DEFAULT_RELEASE))
    (workdir / SPARK_VERSION_FILE).write_text(session.version + "\n")
    job = StreamingJob(session, config["bootstrap"], config["topic"], JobSpec.model_validate(config["spec"]), workdir, persist=True,
                       kafka_options=config.get("kafka_options"))
    try:
        recount_lost_malformed(job, workdir, config["topic"])
        job.start()

        def stop_asked() -> bool:
            for query in job.queries:
                if query.exception() is not None:
                    raise QueryFailed(f"query {query.name} failed: {query.exception()}")
            _persist(job, workdir, incarnation)
            return (workdir / STOP_FILE).exists()

        try:
            wait_for(stop_asked, what="the stop file", timeout=math.inf, interval=0.2, fatal=(QueryFailed,))
        except QueryFailed as failed:
            print(failed, flush=True)
            return 1
        _persist(job, workdir, incarnation)
    finally:
        job.stop()
        _persist(job, workdir, incarnation)
        stop_spark(session)
    return 0


class QueryFailed(Exception):
    """A query of the job failed inside the driver: the driver exits with its error."""


def _persist(job: Any, workdir: Path, incarnation: int) -> None:
    if not job.queries:  # the job failed before its query started; its error is already logged
        return
    main_query, *others = job.queries
    for query in others:
        write_json(workdir / "progress" / f"{query.name}.json", query.recentProgress)
    progress = main_query.recentProgress
    write_json(workdir / "progress" / "harness_job.json", progress)  # the newest incarnation, for waiting
    write_json(workdir / "progress" / f"harness_job-{incarnation:03d}.json", progress)  # kept per incarnation, for the history


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
