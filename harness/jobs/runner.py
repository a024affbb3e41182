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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.jobs.contract import JobOptions, load_callable
from harness.jobs.stock import malformed_records
from harness.runtime.processes import check_interrupted
from harness.scenarios.spec import JobSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery


@dataclass(frozen=True)
class BatchProgress:
    """One micro-batch as Spark's progress reports it."""

    batch_id: int
    start_offsets: dict[int, int]
    end_offsets: dict[int, int]
    input_rows: int
    started_ms: int
    duration_ms: int
    watermark_ms: int | None
    dropped_by_watermark: int
    latest_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        """Records already in Kafka but not yet in this or an earlier batch (consumer lag at batch end)."""
        return sum(max(0, latest - self.end_offsets.get(p, 0)) for p, latest in self.latest_offsets.items())

    @property
    def finished_ms(self) -> int:
        return self.started_ms + self.duration_ms

    def tasks(self, min_partitions: int | None) -> int:
        """Source tasks: one per Kafka partition with data in the batch (more if minPartitions splits them)."""
        with_data = sum(1 for p, end in self.end_offsets.items() if end > self.start_offsets.get(p, 0))
        return max(with_data, min_partitions or 0) if with_data else 0


@dataclass
class JobHistory:
    batches: list[BatchProgress] = field(default_factory=list)
    outputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    malformed_offsets: set[tuple[int, int]] = field(default_factory=set)
    wall_seconds: float = 0.0


def job_options(spec: JobSpec) -> JobOptions:
    return JobOptions(window_ms=spec.window, slide_ms=spec.slide, watermark_ms=spec.watermark, output_mode=spec.output_mode, options=dict(spec.options))


class StreamingJob:
    """Start the job's query (and the malformed-records query), wait until it caught up, stop it."""

    def __init__(self, spark: SparkSession, bootstrap: str, topic: str, spec: JobSpec, workdir: Path, *, persist: bool = False) -> None:
        self.spark, self.bootstrap, self.topic, self.spec, self.workdir = spark, bootstrap, topic, spec, workdir
        self.persist = persist  # also write each batch's output to files (a driver in its own process does)
        self.history = JobHistory()
        self._lock = threading.Lock()
        self._queries: list[StreamingQuery] = []
        self._started = 0.0

    @property
    def checkpoint(self) -> Path:
        return job_checkpoint(self.workdir)

    # ----- start ------------------------------------------------------------------------

    def _source(self) -> DataFrame:
        reader = (
            self.spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self.bootstrap)
            .option("subscribe", self.topic)
            .option("startingOffsets", "earliest")
            .option("failOnDataLoss", "true")
        )
        if self.spec.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", str(self.spec.max_offsets_per_trigger))
        if self.spec.min_partitions:
            reader = reader.option("minPartitions", str(self.spec.min_partitions))
        return reader.load()

    def start(self) -> None:
        job = load_callable(self.spec.name)
        result = job(self.spark, self._source(), job_options(self.spec))
        trigger = f"{self.spec.trigger} milliseconds"
        self._started = time.perf_counter()
        main = (
            result.writeStream.queryName("harness_job").outputMode(self.spec.output_mode)
            .option("checkpointLocation", str(self.checkpoint))
            .trigger(processingTime=trigger).foreachBatch(self._write_batch).start()
        )
        self._queries.append(main)
        malformed = (
            malformed_records(self._source()).writeStream.queryName("harness_malformed")
            .option("checkpointLocation", str(self.workdir / "checkpoints" / "malformed"))
            .trigger(processingTime=trigger).foreachBatch(self._write_malformed).start()
        )
        self._queries.append(malformed)

    def wait_started(self, timeout: float = 120.0) -> None:
        """Until both queries finished their first (empty) batch: the job is live before data flows,
        as a deployed job is, so start-up cost does not count as latency."""
        deadline = time.monotonic() + timeout
        while not all(q.lastProgress is not None for q in self._queries):
            check_interrupted()
            self._raise_if_failed()  # a job that fails at once fails the run at once
            if time.monotonic() > deadline:
                raise HarnessError(f"the streaming job made no progress within {timeout:.0f}s")
            time.sleep(0.1)

    # ----- sinks (called by Spark on its streaming thread) -------------------------------

    def _write_batch(self, frame: DataFrame, batch_id: int) -> None:
        from pyspark.sql import functions as F

        if "window" in frame.columns:
            frame = frame.withColumn("window_start_ms", F.unix_millis("window.start")).withColumn("window_end_ms", F.unix_millis("window.end")).drop("window")
        rows = [row.asDict(recursive=True) for row in frame.collect()]
        with self._lock:
            self.history.outputs[batch_id] = rows  # keyed by batch id: a re-run replaces, never duplicates
        if self.persist:
            _write_json(self.workdir / "outputs" / f"{batch_id}.json", rows)
        if self.spec.sink == "parquet":
            frame.write.mode("overwrite").parquet(str(self.workdir / "output" / f"batch={batch_id}"))
        elif self.spec.sink == "console":
            print(f"--- batch {batch_id}: {len(rows)} rows")
            frame.show(truncate=False)

    def _write_malformed(self, frame: DataFrame, batch_id: int) -> None:
        rows = frame.select("partition", "offset").collect()
        with self._lock:
            self.history.malformed_offsets.update((r.partition, r.offset) for r in rows)
        if self.persist:
            _write_json(self.workdir / "malformed" / f"{batch_id}.json", [[r.partition, r.offset] for r in rows])
        if self.spec.dead_letter_topic and rows:
            (frame.selectExpr("key", "value").write.format("kafka").option("kafka.bootstrap.servers", self.bootstrap)
             .option("topic", self.spec.dead_letter_topic).save())

    # ----- wait and stop ------------------------------------------------------------------

    def wait_caught_up(self, end_offsets: dict[int, int], *, timeout: float, quiet_s: float | None = None,
                       progress: Callable[[str], None] | None = None) -> None:
        wait_until_caught_up(
            lambda: [q.lastProgress for q in self._queries], self.topic, end_offsets, trigger_ms=self.spec.trigger,
            idle=lambda: not self._queries[0].status["isTriggerActive"], check=self._raise_if_failed,
            timeout=timeout, quiet_s=quiet_s, progress=progress,
        )

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
        if self._queries:
            self.history.batches = completed_batches(self._queries[0].recentProgress, self.checkpoint, self.topic)
            self.history.wall_seconds = time.perf_counter() - self._started
        return self.history


    @property
    def queries(self) -> list[StreamingQuery]:
        return list(self._queries)


def wait_until_caught_up(
    latest: Callable[[], list[dict[str, Any] | None]], topic: str, end_offsets: dict[int, int], *, trigger_ms: int,
    idle: Callable[[], bool], check: Callable[[], None], timeout: float, quiet_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Until every query (the job's and the malformed-records one) consumed every offset, and the job has
    started no batch for a quiet period: its follow-up no-data batches (watermark, append output) are done."""
    quiet = quiet_s if quiet_s is not None else max(2.0, 4 * trigger_ms / 1000)
    deadline = time.monotonic() + timeout
    last_id, last_change, reported = None, time.monotonic(), 0.0
    while time.monotonic() < deadline:
        check_interrupted()
        check()
        progresses = latest()
        consumed = [_consumed(p, topic) for p in progresses]
        done = all(all(c.get(p, 0) >= end for p, end in end_offsets.items()) for c in consumed)
        batch_id = progresses[0]["batchId"] if progresses and progresses[0] else None
        if batch_id != last_id:
            last_id, last_change = batch_id, time.monotonic()
        if progress and time.monotonic() - reported > 2:
            reported = time.monotonic()
            progress(f"job: batch {batch_id}, consumed {sum(consumed[0].get(p, 0) for p in end_offsets)}/{sum(end_offsets.values())} records")
        if done and time.monotonic() - last_change >= quiet and idle():
            return
        time.sleep(0.2)
    raise HarnessError(f"the streaming job did not catch up within {timeout:.0f}s", hint="look at the job's progress in its log; raise the time-out for big scenarios")


def _write_json(path: Path, data: Any) -> None:
    """Atomic: a reader in another process never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(path)


def _offsets(raw: Any, topic: str) -> dict[int, int]:
    if raw is None:
        return {}
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {int(p): int(o) for p, o in (data or {}).get(topic, {}).items()}


def _consumed(progress: dict[str, Any] | None, topic: str) -> dict[int, int]:
    if not progress or not progress.get("sources"):
        return {}
    return _offsets(progress["sources"][0].get("endOffset"), topic)


def job_checkpoint(workdir: Path) -> Path:
    """Where the job's query keeps its checkpoint: the driver process and its parent both read it."""
    return workdir / "checkpoints" / "job"


def completed_batches(progresses: list[dict[str, Any]], checkpoint: Path, topic: str) -> list[BatchProgress]:
    """Every committed batch: from Spark's progress events, and from the checkpoint's write-ahead log for
    a batch whose progress event was never seen (the driver was killed between the batch's commit and
    the next time its progress was saved). Without those, the history would have a gap."""
    known = {b.batch_id: b for b in _batches(progresses, topic)}
    for batch in checkpoint_batches(checkpoint, topic):
        known.setdefault(batch.batch_id, batch)
    return [known[k] for k in sorted(known)]


def checkpoint_batches(checkpoint: Path, topic: str) -> list[BatchProgress]:
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
        metadata, end = _offset_log_entry(logged[batch_id], topic)
        start = _offset_log_entry(logged[batch_id - 1], topic)[1] if batch_id - 1 in logged else {p: 0 for p in end}
        started_ms = int(metadata.get("batchTimestampMs", 0))
        result.append(BatchProgress(
            batch_id=batch_id, start_offsets=start, end_offsets=end,
            input_rows=sum(max(0, o - start.get(p, 0)) for p, o in end.items()),
            started_ms=started_ms, duration_ms=max(0, int(commit.stat().st_mtime * 1000) - started_ms),
            watermark_ms=int(metadata["batchWatermarkMs"]) if "batchWatermarkMs" in metadata else None,
            dropped_by_watermark=0,
        ))
    return result


def _offset_log_entry(path: Path, topic: str) -> tuple[dict[str, Any], dict[int, int]]:
    lines = path.read_text().splitlines()
    metadata = json.loads(lines[1]) if len(lines) > 1 else {}
    return metadata, (_offsets(lines[2], topic) if len(lines) > 2 else {})


def _batches(progresses: list[dict[str, Any]], topic: str) -> list[BatchProgress]:
    """One entry per batch id; Spark's idle progress events repeat an id and carry no work."""
    seen: dict[int, BatchProgress] = {}
    for item in progresses:
        batch_id = int(item["batchId"])
        if batch_id in seen:
            continue
        source = item["sources"][0] if item.get("sources") else {}
        watermark = (item.get("eventTime") or {}).get("watermark")
        operators = item.get("stateOperators") or [{}]
        seen[batch_id] = BatchProgress(
            batch_id=batch_id,
            start_offsets=_offsets(source.get("startOffset"), topic),
            end_offsets=_offsets(source.get("endOffset"), topic),
            input_rows=int(item.get("numInputRows", 0)),
            started_ms=int(datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00")).timestamp() * 1000),
            duration_ms=int((item.get("durationMs") or {}).get("triggerExecution", 0)),
            watermark_ms=int(datetime.fromisoformat(watermark.replace("Z", "+00:00")).timestamp() * 1000) if watermark else None,
            dropped_by_watermark=int(operators[0].get("numRowsDroppedByWatermark", 0)),
            latest_offsets=_offsets(source.get("latestOffset"), topic),
        )
    return [seen[k] for k in sorted(seen)]
