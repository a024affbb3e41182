"""The real spark-sql-kafka connector reading the twin in a batch query, and a query stopped mid-batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harness.jobs.runner import StreamingJob
from harness.jobs.spec import JobSpec
from harness.kafka.clients import producer
from harness.records import RecordedBatch
from tests.test_cluster import produce


def test_batch_read_returns_exactly_the_produced_records(spark, kafka_bootstrap: str, kafka_topic: Callable[..., str],  # noqa: ANN001
                                                         kafka_options: dict[str, str]) -> None:
    topic = kafka_topic(partitions=4)
    acked = produce(kafka_bootstrap, topic, 200, "spark")
    frame = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", kafka_bootstrap)
        .options(**kafka_options)  # a secured twin's protocol and truststore; none on plaintext
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
    )
    rows = frame.select("partition", "offset", "key", "value").collect()
    got = sorted((r.partition, r.offset, bytes(r.key), bytes(r.value)) for r in rows)
    assert got == sorted(acked)
    # One Kafka partition becomes one Spark task: the seed's promise of parallelism.
    assert frame.rdd.getNumPartitions() == 4


def test_a_recount_reads_exactly_a_batchs_offsets_and_finds_its_malformed_records(  # noqa: ANN001
        spark, kafka_bootstrap: str, kafka_topic: Callable[..., str], kafka_options: dict[str, str], tmp_path: Path) -> None:
    """What a restarted driver does for a batch whose observed metric a kill lost: read its offsets again."""
    topic = kafka_topic(partitions=3)
    junk = produce(kafka_bootstrap, topic, 60, "junk")  # not JSON: every one malformed
    tick = producer(kafka_bootstrap)
    for partition in range(3):
        tick.produce(topic, value=json.dumps({"symbol": "MSFT", "time": 1_000, "price": 1.5, "size": 1}).encode(), partition=partition)
    assert tick.flush(60) == 0
    ends = {p: max(o for q, o, _, _ in junk if q == p) + 2 for p in range(3)}  # past each partition's tick
    batch = RecordedBatch(batch_id=7, start_offsets={0: 4, 1: 0}, end_offsets=ends, input_rows=0, started_ms=0, duration_ms=0,
                          watermark_ms=None)  # partition 2 is new in this batch: read from its earliest offset
    job = StreamingJob(spark, kafka_bootstrap, topic, JobSpec(), tmp_path, kafka_options=kafka_options)
    counted = job.recount_malformed([batch])
    assert sorted(counted[7]) == sorted((p, o) for p, o, _, _ in junk if not (p == 0 and o < 4))


def test_stopping_a_query_while_its_foreachbatch_function_runs_a_job_stops_it_cleanly(spark) -> None:  # noqa: ANN001
    """The harness stops its job's query once it caught up, sometimes while the foreachBatch function collects.
    Spark 4 matches the cancelled collect's error text (about 9,000 characters) with a regex that recurses per
    character: on the default thread stack the stream thread died of a StackOverflowError instead of stopping."""
    import threading

    entered = threading.Event()

    def batch(frame, batch_id: int) -> None:  # noqa: ANN001
        entered.set()
        spark.range(0, 10**13, numPartitions=2).selectExpr("sum(id * id % 7)").collect()  # runs until the stop cancels it

    query = spark.readStream.format("rate").option("rowsPerSecond", 1).load().writeStream.foreachBatch(batch).start()
    try:
        assert entered.wait(120), "the foreachBatch function never ran"
    finally:
        query.stop()
    assert query.status["message"] == "Stopped", query.status  # the stream thread's own words after a clean stop
    assert query.exception() is None
