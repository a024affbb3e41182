"""The real spark-sql-kafka connector reading the twin in a batch query."""

from __future__ import annotations

from collections.abc import Callable

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
