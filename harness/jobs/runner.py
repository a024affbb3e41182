"""Run a streaming job against the twin and record its history: micro-batches and what each emitted.

The sink is a `foreachBatch` that keeps each batch's output under its batch id, so a batch that
Spark re-runs after a restart replaces itself instead of adding rows twice (an idempotent sink),
and the recorded history is what verification checks, Jepsen-style. The parquet and console sinks
are written from the same place.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import HarnessError, NotReadyError
from harness.jobs.catchup import (CatchUpGoal, CatchUpState, QueryView, assess, is_executed, latest_checkpointed, offset_log_entry,
                                  topic_offsets, watermark_of)
from harness.jobs.contract import load_callable
from harness.jobs.stock import malformed_records, observe_malformed, observed_malformed
from harness.runtime import processes
from harness.runtime.readiness import wait_for
from harness.jobs.spec import JobSpec, job_options
from harness.records import RecordedBatch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery


@dataclass
class JobHistory:
    """What a job did, read back when it stopped: its committed batches, its sink, its malformed records."""

    batches: list[RecordedBatch] = field(default_factory=list)
    outputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    malformed_offsets: set[tuple[int, int]] = field(default_factory=set)
    wall_seconds: float = 0.0
    catch_up: CatchUpState | None = None  # how the wait for the job's last batch ended
    incarnations: list[list[int]] | None = None  # a driver process: the batch ids each incarnation ran
    malformed_known: bool = True  # False: the job (a submitted application) counts no malformed records for the harness
    emitted_ms: dict[int, int] | None = None  # when each `outputs` entry reached the sink, where the sink records it
    rewritten: int | None = None  # rows an at-least-once sink wrote again (a re-run batch), counted and compared once
    sink_notes: list[str] = field(default_factory=list)  # what the job's own sink guarantees, and what could not be read back
    sampled: bool = False  # the sink showed only some rows (the console): rows it did not show are not missing
    spark_version: str | None = None  # the Spark the job's driver ran on, as that driver reported it


class RestartableDriver(Protocol):
    """A job whose driver runs in a process of its own, which a `driver` fault may kill and start again."""

    def kill(self) -> None: ...

    def start(self) -> None: ...

    def first_batch_after_start(self) -> bool: ...


class JobHandle(Protocol):
    """What the runner needs of a streaming job, however it runs (in the harness's Spark session, in a
    driver process of its own): a new kind of job meets this and needs no branch in the runner."""

    def start(self) -> None: ...

    def wait_started(self, *, stalled: Callable[[], str | None] | None = None) -> None:
        """Until the job has run its first (empty) batch; a job that fails first raises with its error. `stalled`
        names a fact that ends the wait early (a job refused by a TLS listener never runs a batch): the
        catch-up wait then reports it."""

    def wait_caught_up(self, goal: CatchUpGoal, *, timeout: float, progress: Callable[[str], None] | None = None,
                       stalled: Callable[[], str | None] | None = None) -> CatchUpState: ...

    def stop(self) -> JobHistory: ...

    def restartable(self) -> RestartableDriver | None:
        """The driver a `driver` fault acts on, or None when the job cannot be killed on its own."""


def excused_while(guard: Callable[[], None], stall: Callable[[], str | None]) -> Callable[[], None]:
    """`guard` (it raises when the job died or failed), except while `stall` names why the job cannot run a batch:
    a Spark query gives up on refused handshakes after a few attempts and its driver may exit before a wait looks,
    and then the refusals are the cause, to be reported as the stall, not as a second failure."""
    def excused() -> None:
        try:
            guard()
        except HarnessError:
            if stall() is None:
                raise
    return excused


def wait_job_started(started: Callable[[], object], stalled: Callable[[], str | None] | None, *, what: str, timeout: float,
                     guard: Callable[[], None], interval: float = 0.2, log: Path | None = None) -> None:
    """Every job type's start wait: until the job ran its first batch (`started`), or a fact says it never will
    (`stalled`; the catch-up wait then reports it). A job that dies first fails the wait (`guard`), unless it died of
    that fact. A time-out carries the tail of the job's `log`."""
    def why() -> str | None:
        return stalled() if stalled is not None else None

    try:
        wait_for(lambda: started() or why(), what=what, timeout=timeout, guard=excused_while(guard, why), interval=interval)
    except NotReadyError as exc:
        if log is not None:
            exc.detail = processes.log_tail(log)
        raise


DEAD_LETTERS = "harness_dead_letters"  # the query that copies malformed records to `job.dead_letter_topic`


def job_source(spark: SparkSession, bootstrap: str, topic: str, spec: JobSpec, kafka_options: Mapping[str, str] | None = None) -> DataFrame:
    """The job's Kafka stream as the harness builds it: the topic from its start, data loss an error, and the spec's
    batch bound, split and source options (the runner's job and the sweep's noop-sink baseline read the same)."""
    reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap).options(**(kafka_options or {}))
              .option("subscribe", topic).option("startingOffsets", "earliest").option("failOnDataLoss", "true")
              .options(**spec.source_options))
    if spec.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(spec.max_offsets_per_trigger))
    if spec.min_partitions:
        reader = reader.option("minPartitions", str(spec.min_partitions))
    return reader.load()


class StreamingJob:
    """Start the job's query (and, with a dead-letter topic, the query that fills it), wait until it caught up, stop it.
    The job reads its source once: the malformed records are an observed metric of that read."""

    def __init__(self, spark: SparkSession, bootstrap: str, topic: str, spec: JobSpec, workdir: Path, *, persist: bool = False,
                 kafka_options: Mapping[str, str] | None = None) -> None:
        self.spark, self.bootstrap, self.topic, self.spec, self.workdir = spark, bootstrap, topic, spec, workdir
        self.persist = persist  # also write each batch's output to files (a driver in its own process does)
        self.kafka_options = dict(kafka_options or {})  # the connector's `kafka.security.protocol`, `kafka.ssl.*` for a secured twin
        self.history = JobHistory()
        self._lock = threading.Lock()
        self._queries: list[StreamingQuery] = []
        self._started = 0.0

    @property
    def checkpoint(self) -> Path:
        return job_checkpoint(self.workdir)

    # ----- start ------------------------------------------------------------------------

    def _reader(self, *, streaming: bool) -> Any:
        reader = self.spark.readStream if streaming else self.spark.read
        return (reader.format("kafka").option("kafka.bootstrap.servers", self.bootstrap).options(**self.kafka_options)
                .option("subscribe", self.topic))

    def _source(self) -> DataFrame:
        return job_source(self.spark, self.bootstrap, self.topic, self.spec, self.kafka_options)

    def start(self) -> None:
        job = load_callable(self.spec.name)
        result = job(self.spark, observe_malformed(self._source()), job_options(self.spec))
        trigger = f"{self.spec.trigger} milliseconds"
        self._started = time.perf_counter()
        main = (
            result.writeStream.queryName("harness_job").outputMode(self.spec.output_mode)
            .option("checkpointLocation", str(self.checkpoint))
            .trigger(processingTime=trigger).foreachBatch(self._write_batch).start()
        )
        self._queries.append(main)
        if self.spec.dead_letter_topic:
            dead_letters = (
                malformed_records(self._source()).selectExpr("key", "value").writeStream.queryName(DEAD_LETTERS).format("kafka")
                .option("kafka.bootstrap.servers", self.bootstrap).options(**self.kafka_options).option("topic", self.spec.dead_letter_topic)
                .option("checkpointLocation", str(self.workdir / "checkpoints" / "dead-letters")).trigger(processingTime=trigger).start()
            )
            self._queries.append(dead_letters)

    def recount_malformed(self, batches: list[RecordedBatch]) -> dict[int, list[tuple[int, int]]]:
        """The malformed records of committed batches whose progress (and so their observed metric) a
        killed driver lost: the same test applied to the same offsets, read again as a batch."""
        counted = {}
        for batch in batches:
            start = {str(p): batch.start_offsets.get(p, -2) for p in batch.end_offsets}  # -2: earliest, for a partition new in this batch
            frame = (self._reader(streaming=False).option("startingOffsets", json.dumps({self.topic: start}))
                     .option("endingOffsets", json.dumps({self.topic: {str(p): o for p, o in batch.end_offsets.items()}})).load())
            counted[batch.batch_id] = [(r.partition, r.offset) for r in malformed_records(frame).select("partition", "offset").collect()]
        return counted

    def wait_started(self, timeout: float = 120.0, *, stalled: Callable[[], str | None] | None = None) -> None:
        """Until every query finished its first (empty) batch: the job is live before data flows,
        as a deployed job is, so start-up cost does not count as latency."""
        wait_job_started(lambda: all(q.lastProgress is not None for q in self._queries), stalled, what="the streaming job's first (empty) batch",
                         timeout=timeout, guard=self._raise_if_failed, interval=0.1)  # a job that fails at once fails the run at once

    def restartable(self) -> None:
        """The job shares the harness's process: there is no driver to kill on its own."""
        return None

    # ----- sinks (called by Spark on its streaming thread) -------------------------------

    def _write_batch(self, frame: DataFrame, batch_id: int) -> None:
        from pyspark.sql import functions as F

        if "window" in frame.columns:
            # SQL's unix_millis: its Python wrapper is Spark 3.5+, and Spark 3.3 (hdinsight-5.1) runs this too
            frame = frame.withColumn("window_start_ms", F.expr("unix_millis(window.start)")).withColumn(
                "window_end_ms", F.expr("unix_millis(window.end)")).drop("window")
        rows = [row.asDict(recursive=True) for row in frame.collect()]
        with self._lock:
            self.history.outputs[batch_id] = rows  # keyed by batch id: a re-run replaces, never duplicates
        if self.persist:
            write_json(self.workdir / "outputs" / f"{batch_id}.json", rows)
        if self.spec.sink == "parquet":
            frame.write.mode("overwrite").parquet(str(self.workdir / "output" / f"batch={batch_id}"))
        elif self.spec.sink == "console":
            print(f"--- batch {batch_id}: {len(rows)} rows")
            frame.show(truncate=False)

    # ----- wait and stop ------------------------------------------------------------------

    def wait_caught_up(self, goal: CatchUpGoal, *, timeout: float, progress: Callable[[str], None] | None = None,
                       stalled: Callable[[], str | None] | None = None) -> CatchUpState:
        def observe() -> tuple[QueryView, list[QueryView]]:
            main, *others = self._queries
            checkpointed = latest_checkpointed(self.checkpoint, self.topic)
            return (QueryView.observe(main.name, main.recentProgress, self.topic, checkpointed),
                    [QueryView.observe(q.name, q.recentProgress, self.topic) for q in others])

        state = wait_until_caught_up(observe, goal, running=lambda: True, check=self._raise_if_failed, timeout=timeout, progress=progress,
                                     stalled=stalled)
        self.history.catch_up = state
        return state

    def _raise_if_failed(self) -> None:
        for query in self._queries:
            exc = query.exception()
            if exc is not None:
                raise HarnessError(f"streaming query {query.name} failed", detail=str(exc)[:3000])

    def stop(self) -> JobHistory:
        for query in self._queries:
            try:
                if query.isActive:
                    query.stop()
            except Exception:  # noqa: BLE001 - stopping must go on for the other query
                pass
        self.history.spark_version = self.spark.version
        if self._queries:
            progress = self._queries[0].recentProgress
            self.history.batches = completed_batches(progress, self.checkpoint, self.topic)
            self.history.malformed_offsets = observed_malformed(progress)
            self.history.wall_seconds = time.perf_counter() - self._started
        return self.history


    @property
    def queries(self) -> list[StreamingQuery]:
        return list(self._queries)


def wait_until_caught_up(
    observe: Callable[[], tuple[QueryView, list[QueryView]]], goal: CatchUpGoal, *, running: Callable[[], bool],
    check: Callable[[], None], timeout: float, progress: Callable[[str], None] | None = None, interval: float = 0.25,
    stalled: Callable[[], str | None] | None = None,
) -> CatchUpState:
    """Until the job has done everything the goal says (see `harness.jobs.catchup`), Spark said it will
    run no further batch, the job is not running, or, before its first batch, `stalled` names why it
    cannot get one (brokers refusing its handshakes); the time-out is the failure path only. Returns how
    it ended: a run stopped before the job finished gets its own failing check from that. A job that failed
    or died before its first batch while `stalled` names why has stalled too (`excused_while`)."""
    last: list[CatchUpState] = []

    def stall(job: QueryView) -> str | None:
        return stalled() if stalled is not None and job.latest is None else None

    def ended() -> CatchUpState | None:
        job, others = observe()
        state = assess(goal, job, others)
        last[:] = [state]
        if state.done:
            return state
        if not running():
            return state.ended("not running", "the job's driver is not running: it was killed and not started again")
        why = stall(job)
        return state.ended("stalled", why) if why else None

    try:
        return wait_for(ended, what=f"the streaming job to consume {goal.total} records", timeout=timeout, interval=interval,
                        guard=excused_while(check, lambda: stall(observe()[0])), progress=progress, report_every=2.0,
                        last_seen=lambda: last[0].last_seen if last else "no progress yet")
    except NotReadyError:
        state = last[0] if last else assess(goal, QueryView("harness_job"))
        return state.ended("timed out", f"gave up after {timeout:.0f}s")


def write_json(path: Path, data: Any) -> None:
    """Atomic: a reader in another process never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(path)


def job_checkpoint(workdir: Path) -> Path:
    """Where the job's query keeps its checkpoint: the driver process and its parent both read it."""
    return workdir / "checkpoints" / "job"


def completed_batches(progresses: list[dict[str, Any]], checkpoint: Path, topic: str) -> list[RecordedBatch]:
    """Every committed batch: from Spark's progress events, and from the checkpoint's write-ahead log for
    a batch whose progress event was never seen (the driver was killed between the batch's commit and
    the next time its progress was saved). Without those, the history would have a gap."""
    known = {b.batch_id: b for b in _batches(progresses, topic)}
    for batch in checkpoint_batches(checkpoint, topic):
        known.setdefault(batch.batch_id, batch)
    return [known[k] for k in sorted(known)]


def checkpoint_batches(checkpoint: Path, topic: str) -> list[RecordedBatch]:
    """Committed batches as the checkpoint records them: `offsets/N` (written before batch N runs:
    version, metadata with the batch's watermark and time, then one offsets line per source) and
    `commits/N` (written when it finished). Timings are the files' times; the latest offsets are unknown."""
    offsets_dir, commits_dir = checkpoint / "offsets", checkpoint / "commits"
    if not commits_dir.is_dir():
        return []
    logged = {int(p.name): p for p in offsets_dir.iterdir() if p.name.isdigit()} if offsets_dir.is_dir() else {}
    result = []
    for commit in sorted((p for p in commits_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        batch_id = int(commit.name)
        if batch_id not in logged:
            continue
        metadata, end = offset_log_entry(logged[batch_id], topic)
        start = offset_log_entry(logged[batch_id - 1], topic)[1] if batch_id - 1 in logged else {p: 0 for p in end}
        started_ms = int(metadata.get("batchTimestampMs", 0))
        result.append(RecordedBatch(
            batch_id=batch_id, start_offsets=start, end_offsets=end,
            input_rows=sum(max(0, o - start.get(p, 0)) for p, o in end.items()),
            started_ms=started_ms, duration_ms=max(0, int(commit.stat().st_mtime * 1000) - started_ms),
            watermark_ms=int(metadata["batchWatermarkMs"]) if "batchWatermarkMs" in metadata else None,
            dropped_by_watermark=0,
        ))
    return result


def _batches(progresses: list[dict[str, Any]], topic: str) -> list[RecordedBatch]:
    """One entry per batch that ran. Spark's idle progress events carry the id of the batch it would run
    next and no work, so they are skipped: counting one would invent a batch, or hide the real one."""
    seen: dict[int, RecordedBatch] = {}
    for item in progresses:
        batch_id = int(item["batchId"])
        if batch_id in seen or not is_executed(item):
            continue
        source = item["sources"][0] if item.get("sources") else {}
        operators = item.get("stateOperators") or [{}]
        seen[batch_id] = RecordedBatch(
            batch_id=batch_id,
            start_offsets=topic_offsets(source.get("startOffset"), topic),
            end_offsets=topic_offsets(source.get("endOffset"), topic),
            # a query's own progress has the total; in Spark's event log only each source carries it
            input_rows=int(item.get("numInputRows", sum(int(s.get("numInputRows", 0)) for s in item.get("sources") or []))),
            started_ms=int(datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00")).timestamp() * 1000),
            duration_ms=int((item.get("durationMs") or {}).get("triggerExecution", 0)),
            watermark_ms=watermark_of(item),
            dropped_by_watermark=int(operators[0].get("numRowsDroppedByWatermark", 0)),
            latest_offsets=topic_offsets(source.get("latestOffset"), topic),
            event_times_seen="max" in item["eventTime"] if "watermark" in (item.get("eventTime") or {}) else None,
        )
    return [seen[k] for k in sorted(seen)]
