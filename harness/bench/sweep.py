"""Parallelism sweep: one scenario across partition counts (and Spark cores), with Kafka's own tools as baselines.

For every partition count the base scenario is rewritten (its own topic with that many partitions,
the producer as fast as it goes, the job bounded by `maxOffsetsPerTrigger` so there are several
micro-batches) and run end to end by `harness.runner.run_scenario`, verification included. Then,
on the same twin and in the same run, Kafka's perf tools give the baselines: the consumer tool
reads the topic the scenario wrote, the producer tool writes as many records of the same mean size
to a scratch topic with the same partitions. Each point carries both, and the ratios.

Spark's cores: a local[N] session has N task slots fixed at start, so varying them means a new
session. `sweep` measures with the session it is given; `sweep_cores` starts one session per core
count (and so cannot run beside another SparkSession of the same process, e.g. the pytest `spark`
fixture).

Why the records are spread over partitions (`spread_keys`): the stock ticker has ten symbols and
keyed (murmur2) partitioning puts them on at most ten partitions, often fewer (the sample's 8
partitions get data on 5). A parallelism sweep would then measure the key distribution, not the
partition count; the job's windows are per symbol whatever the partition, and the oracle follows
the recorded offsets, so verification holds either way.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from harness.bench.perftools import ConsumerPerfResult, ProducerPerfResult, consumer_perf, producer_perf
from harness.errors import HarnessError
from harness.runtime.readiness import Progress, quiet
from harness.scenarios.spec import Scenario

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from harness.backends import Deployment
    from harness.verify.report import RunReport

DEFAULT_BATCHES = 5
"""Micro-batches a point aims for: maxOffsetsPerTrigger = records / this."""


# --------------------------------------------------------------------------------------- results


@dataclass
class SweepPoint:
    """One measured point: a partition count on a Spark with `cores` task slots."""

    partitions: int
    cores: int
    records: int
    record_bytes: float
    verdict: str
    failed_checks: list[str]
    producer_records_per_s: float
    """The harness producer (confluent-kafka, acks and idempotence as the scenario says): acknowledged / replay seconds."""
    spark_records_per_s: float
    """Input rows / summed duration of the micro-batches that had data: what the job processes while busy."""
    spark_records_per_s_wall: float
    """Input rows / the job's wall time (start to stop, including waiting for data and the quiet period)."""
    spark_records_per_s_active: float
    """Input rows / (end of the last data batch - start of the first): the consumed rate while data flowed."""
    micro_batches: int
    data_batches: int
    median_batch_ms: float
    tasks_per_batch: dict[str, float]
    lag: list[tuple[int, int]]
    """(ms since the first data batch started, records in Kafka not yet read) at the end of every batch."""
    latency_ms: dict[str, float | None]
    late_dropped: int | None = None
    """Records the watermark dropped (as the oracle computed them; the sink was checked against that)."""
    perf_producer: ProducerPerfResult | None = None
    perf_consumer: ConsumerPerfResult | None = None
    seconds: float = 0.0
    report_path: str | None = None
    raw_read_records_per_s: float | None = None
    """A plain batch `spark.read.format("kafka")` count of the same topic in the same session: the connector's own rate."""
    noop_sink_records_per_s: float | None = None
    """The scenario's own query, trigger and batch bound into Spark's `noop` sink, same topic and session, after the run,
    rows / busy batch time: the engine alone with the job, without the harness's observed metric and collect into Python."""

    @property
    def harness_ratio(self) -> float | None:
        """Spark job through the harness / the same query into Spark's noop sink: what the harness (and the replay the job
        ran beside, which the noop query, reading the written topic, does not have) costs the job."""
        if not self.noop_sink_records_per_s:
            return None
        return self.spark_records_per_s / self.noop_sink_records_per_s

    @property
    def engine_ratio(self) -> float | None:
        """The query into Spark's noop sink / the raw connector read: the engine's own cost of the job's batches."""
        if not self.noop_sink_records_per_s or not self.raw_read_records_per_s:
            return None
        return self.noop_sink_records_per_s / self.raw_read_records_per_s

    @property
    def raw_read_ratio(self) -> float | None:
        """Spark job (rows / busy batch time) / the raw connector read of the same topic, records/s."""
        if not self.raw_read_records_per_s:
            return None
        return self.spark_records_per_s / self.raw_read_records_per_s

    @property
    def producer_ratio(self) -> float | None:
        """Harness producer / kafka-producer-perf-test, records/s (same record count, size, partitions, acks)."""
        if self.perf_producer is None or self.perf_producer.records_per_s <= 0:
            return None
        return self.producer_records_per_s / self.perf_producer.records_per_s

    @property
    def consumer_ratio(self) -> float | None:
        """Spark job (rows / busy batch time) / kafka-consumer-perf-test (records / fetch time), same topic."""
        if self.perf_consumer is None or self.perf_consumer.fetch_records_per_s <= 0:
            return None
        return self.spark_records_per_s / self.perf_consumer.fetch_records_per_s

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["perf_producer"] = self.perf_producer.to_json() if self.perf_producer else None
        data["perf_consumer"] = self.perf_consumer.to_json() if self.perf_consumer else None
        data["producer_ratio"] = self.producer_ratio
        data["consumer_ratio"] = self.consumer_ratio
        data["raw_read_ratio"] = self.raw_read_ratio
        data["harness_ratio"] = self.harness_ratio
        data["engine_ratio"] = self.engine_ratio
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepPoint:
        values = {k: v for k, v in data.items() if k not in ("producer_ratio", "consumer_ratio", "raw_read_ratio", "harness_ratio", "engine_ratio")}
        values["lag"] = [tuple(x) for x in values.get("lag", [])]
        if values.get("perf_producer"):
            values["perf_producer"] = ProducerPerfResult(**values["perf_producer"])
        if values.get("perf_consumer"):
            values["perf_consumer"] = ConsumerPerfResult(**values["perf_consumer"])
        return cls(**values)


@dataclass
class SweepResult:
    scenario: str
    profile: str
    records: int
    points: list[SweepPoint] = field(default_factory=list)
    host_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @property
    def cores(self) -> list[int]:
        return sorted({p.cores for p in self.points})

    def for_cores(self, cores: int) -> list[SweepPoint]:
        return sorted((p for p in self.points if p.cores == cores), key=lambda p: p.partitions)

    def fit_points(self, cores: int | None = None) -> list[tuple[float, float]]:
        """(partitions, Spark records/s) of one core count (default: the most cores measured) for a USL fit."""
        chosen = cores if cores is not None else max(self.cores)
        return [(float(p.partitions), p.spark_records_per_s) for p in self.for_cores(chosen) if p.spark_records_per_s > 0]

    @property
    def record_bytes(self) -> float:
        sizes = [p.record_bytes for p in self.points if p.record_bytes > 0]
        return statistics.mean(sizes) if sizes else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "profile": self.profile, "records": self.records, "host_cpus": self.host_cpus,
                "started": self.started, "points": [p.to_json() for p in self.points]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepResult:
        return cls(scenario=data["scenario"], profile=data["profile"], records=data["records"], host_cpus=data.get("host_cpus", 1),
                   started=data.get("started", ""), points=[SweepPoint.from_json(p) for p in data.get("points", [])])


# ------------------------------------------------------------------------------------ scenarios


def point_topic(base: Scenario, partitions: int, cores: int | None = None) -> str:
    suffix = f"p{partitions}" + (f"c{cores}" if cores else "")
    return f"{base.source_topic.name}-sweep-{suffix}"[:249]


def point_scenario(base: Scenario, partitions: int, records: int, *, batches: int = DEFAULT_BATCHES, spread_keys: bool = True,
                   topic: str | None = None) -> Scenario:
    """`base` rewritten for one point: its own topic with `partitions` partitions, about `records` records sent
    as fast as the producer goes, and micro-batches of at most records / `batches` offsets."""
    if partitions < 1 or records < 1 or batches < 1:
        raise ValueError("partitions, records and batches must be >= 1")
    if len(base.producers) != 1:
        raise HarnessError(f"a sweep replays one producer; scenario {base.name} has {len(base.producers)}")
    data = base.model_dump()
    source = base.source_topic.name
    name = topic or point_topic(base, partitions)
    data["name"] = f"{base.name}-p{partitions}"
    data["faults"] = []
    data["topics"] = [{**t, "name": name, "partitions": partitions} if t["name"] == source else t for t in data["topics"]]
    producer = data["producers"][0]
    per_tick = len(base.producers[0].symbols or _symbols()) + sum(base.producers[0].skew.values())
    producer.update(topic=name, batches=max(1, math.ceil(records / per_tick)), duration=None, rate=None, time_compression=None,
                    print_deliveries=False)
    if spread_keys:
        producer["partitioner"] = "random"
        # Spread over P partitions, each partition's event time advances P times faster per offset, and a
        # full-speed producer flushes partitions at different moments: a micro-batch planned when only some
        # partitions have data (seen at 2 partitions: a first batch with 1 task) moves the watermark past
        # records still to arrive on the others. Such drops are a property of the load, not a bug; the oracle
        # models them exactly (the sink is still checked row by row) and every point reports them.
        data["expect"]["max_late_records"] = None
    data["job"]["max_offsets_per_trigger"] = max(1, math.ceil(records / batches))
    return Scenario.model_validate(data)


def _symbols() -> tuple[str, ...]:
    from harness.scenarios.ticker import SYMBOLS

    return SYMBOLS


# ------------------------------------------------------------------------------------ measuring


def measure_point(
    deployment: Deployment,
    spark: SparkSession,
    *,
    partitions: int,
    base: Scenario,
    records: int,
    batches: int = DEFAULT_BATCHES,
    baselines: bool = True,
    spread_keys: bool = True,
    keep_topics: bool = False,
    progress: Progress = quiet,
) -> SweepPoint:
    """Run one point end to end and, on the same topic and partitions, Kafka's perf tools."""
    from harness.kafka import admin
    from harness.runner import run_scenario

    cores = spark_cores(spark)
    scenario = point_scenario(base, partitions, records, batches=batches, spread_keys=spread_keys,
                              topic=point_topic(base, partitions, cores))
    topic = scenario.source_topic
    scratch = f"{topic.name}-perf"[:249]
    bootstrap = deployment.bootstrap_servers
    started = time.perf_counter()
    progress(f"sweep point: {partitions} partitions, local[{cores}], {records} records")
    try:
        report = run_scenario(scenario, deployment=deployment, spark=spark, progress=progress)
        point = point_from_report(report, partitions=partitions, cores=cores)
        if baselines and point.records:
            point.raw_read_records_per_s = raw_read_rate(spark, bootstrap, topic.name)
            point.noop_sink_records_per_s = noop_sink_rate(spark, bootstrap, topic.name, scenario, records=point.records)
            point.perf_consumer = consumer_perf(bootstrap, topic.name, records=point.records)
            rf = topic.replication_factor or deployment.topology.kafka.topic_defaults.replication_factor
            admin.create_topic(bootstrap, scratch, partitions=partitions, replication_factor=rf, configs=topic.configs)
            producer = scenario.producers[0]
            point.perf_producer = producer_perf(
                bootstrap, scratch, records=point.records, record_size=max(1, round(point.record_bytes)),
                properties={"acks": producer.acks, "enable.idempotence": str(producer.idempotence).lower(), "linger.ms": "5"},
            )
    finally:
        if not keep_topics:
            existing = set(admin.list_topics(bootstrap))
            for name in (topic.name, scratch):
                if name in existing:
                    admin.delete_topic(bootstrap, name)
    point.seconds = round(time.perf_counter() - started, 2)
    return point


def point_from_report(report: RunReport, *, partitions: int, cores: int) -> SweepPoint:
    """The sweep's figures out of a run report (and its manifest, for the mean record size)."""
    job, replay = report.job, report.replay
    batches = job.get("batches") or []
    busy = [b for b in batches if b.get("input_rows", 0) > 0]
    rows = sum(b["input_rows"] for b in busy)
    busy_s = sum(b["duration_ms"] for b in busy) / 1000
    first_start = min((b["finished_ms"] - b["duration_ms"] for b in busy), default=0)
    active_s = (max(b["finished_ms"] for b in busy) - first_start) / 1000 if busy else 0.0
    wall = job.get("wall_seconds") or 0.0
    return SweepPoint(
        partitions=partitions, cores=cores, records=int(replay.get("acked", 0)), record_bytes=round(_record_bytes(report), 1),
        verdict=report.verdict, failed_checks=[c.name for c in report.checks if not c.ok],
        producer_records_per_s=float(replay.get("rate_per_s", 0.0)),
        spark_records_per_s=round(rows / busy_s, 1) if busy_s else 0.0,
        spark_records_per_s_wall=round(rows / wall, 1) if wall else 0.0,
        spark_records_per_s_active=round(rows / active_s, 1) if active_s > 0 else 0.0,
        micro_batches=int(job.get("micro_batches", len(batches))), data_batches=len(busy),
        median_batch_ms=float(statistics.median(b["duration_ms"] for b in busy)) if busy else 0.0,
        tasks_per_batch=dict(job.get("tasks_per_batch") or {}),
        lag=[(int(b["finished_ms"] - first_start), int(b.get("lag", 0))) for b in batches if b["finished_ms"] >= first_start] if busy else [],
        latency_ms={k: (job.get("latency_ms") or {}).get(k) for k in ("p50", "p95", "p99")},
        late_dropped=(report.verification or {}).get("late_dropped_records"),
        report_path=report.manifest,
    )


def _record_bytes(report: RunReport) -> float:
    """Mean key + value bytes of the acknowledged records: the size the producer perf tool is given."""
    from harness.verify.manifest import read_manifest

    if not report.manifest or not os.path.exists(report.manifest):
        return 0.0
    records = read_manifest(report.manifest)
    if not records:
        return 0.0
    return sum(len(r.value.encode()) + len((r.key or "").encode()) for r in records) / len(records)


def raw_read_rate(spark: SparkSession, bootstrap: str, topic: str) -> float:
    """Records/s of a batch read of the whole topic through the same connector and session, the second
    of two reads (the first pays for planning and code generation, as the job's warm-up does)."""
    frame = (spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("subscribe", topic)
             .option("startingOffsets", "earliest").option("endingOffsets", "latest").load().select("value"))
    frame.count()
    started = time.perf_counter()
    count = frame.count()
    seconds = time.perf_counter() - started
    return round(count / seconds, 1) if seconds > 0 else 0.0


def noop_sink_rate(spark: SparkSession, bootstrap: str, topic: str, scenario: Scenario, *, records: int) -> float | None:
    """Rows per second of busy batch time of the scenario's job into Spark's `noop` sink, reading the topic as the
    harness's job does (`job_source`) with the job's trigger: the job's rate with nothing of the harness around
    it. None for a job the harness does not build itself (an application, a notebook)."""
    import tempfile

    from harness.jobs.contract import load_callable
    from harness.jobs.runner import job_source
    from harness.jobs.spec import JobSpec, job_options
    from harness.runtime.readiness import wait_for

    spec = scenario.job
    if not isinstance(spec, JobSpec):
        return None
    frame = load_callable(spec.name)(spark, job_source(spark, bootstrap, topic, spec), job_options(spec))
    with tempfile.TemporaryDirectory(prefix="noop-sink-", ignore_cleanup_errors=True) as checkpoint:  # Spark's state store maintenance may still write after stop()
        query = (frame.writeStream.format("noop").outputMode(spec.output_mode).option("checkpointLocation", checkpoint)
                 .trigger(processingTime=f"{spec.trigger} milliseconds").start())

        def failed() -> None:
            if query.exception() is not None:
                raise HarnessError("the noop-sink baseline query failed", detail=str(query.exception())[:2000])

        try:
            wait_for(lambda: sum(p["numInputRows"] for p in query.recentProgress) >= records, what=f"the noop-sink baseline to read {records} records",
                     timeout=300, guard=failed, last_seen=lambda: f"{sum(p['numInputRows'] for p in query.recentProgress)} rows read")
        finally:
            query.stop()
        busy = [p for p in query.recentProgress if p["numInputRows"] > 0]
    seconds = sum(p["durationMs"]["triggerExecution"] for p in busy) / 1000
    return round(sum(p["numInputRows"] for p in busy) / seconds, 1) if seconds > 0 else None


def spark_cores(spark: SparkSession) -> int:
    """Task slots of a local[N] session (its default parallelism)."""
    return int(spark.sparkContext.defaultParallelism)


def warm_up(deployment: Deployment, spark: SparkSession, base: Scenario, *, records: int = 2000, partitions: int = 2) -> None:
    """One unmeasured small run: a fresh Spark's first batches pay for code generation, which would
    otherwise all land on the first point measured."""
    measure_point(deployment, spark, partitions=partitions, base=base, records=records, baselines=False)


def sweep(
    deployment: Deployment,
    spark: SparkSession,
    *,
    partitions: Sequence[int],
    base: Scenario,
    records: int,
    batches: int = DEFAULT_BATCHES,
    baselines: bool = True,
    spread_keys: bool = True,
    warmup_records: int = 2000,
    progress: Progress = quiet,
    result: SweepResult | None = None,
) -> SweepResult:
    """Measure every partition count with the given Spark session; append to `result` when given."""
    if not partitions:
        raise ValueError("partitions must not be empty")
    out = result or SweepResult(scenario=base.name, profile=deployment.profile, records=records)
    if warmup_records:
        progress("warm-up run (not measured)")
        warm_up(deployment, spark, base, records=warmup_records)
    for count in partitions:
        out.points.append(measure_point(deployment, spark, partitions=count, base=base, records=records, batches=batches,
                                        baselines=baselines, spread_keys=spread_keys, progress=progress))
    return out


def sweep_cores(
    deployment: Deployment,
    *,
    cores: Sequence[int],
    partitions: Sequence[int],
    base: Scenario,
    records: int,
    progress: Progress = quiet,
    **options: Any,
) -> SweepResult:
    """`sweep` once per Spark core count, each with a fresh local[N] session started and stopped here."""
    from pyspark import SparkContext

    from harness.runner import spark_for

    if getattr(SparkContext, "_active_spark_context", None) is not None:
        raise HarnessError("another SparkSession is running in this process; local[N] cores are fixed when a session starts",
                           hint="run sweep_cores before (or instead of) any other Spark session, or use sweep() with the session you have")
    result = SweepResult(scenario=base.name, profile=deployment.profile, records=records)
    for count in cores:
        with spark_for(deployment, progress, local_cores=count) as session:
            sweep(deployment, session, partitions=partitions, base=base, records=records, progress=progress, result=result, **options)
    return result
