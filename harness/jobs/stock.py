"""The reference job: the HDInsight sample notebook's queries, with the watermark it lacks.

Per symbol and event-time window: the high, the low, the count, and the notebook's list of prices.
`time` is epoch milliseconds, turned into a timestamp with second precision as the notebook does.
Malformed values (not JSON, or no symbol, time or price) are excluded here and counted by the
harness as the job reads them (see `observe_malformed`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from harness.jobs.contract import JobOptions

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TICK_SCHEMA = "symbol string, time long, price double, size int"
MALFORMED_METRIC = "harness_malformed"  # the observed metric on the job's source: where its malformed records sit


def parse_ticks(source: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    parsed = source.select(F.from_json(F.col("value").cast("string"), TICK_SCHEMA).alias("tick"), "partition", "offset")
    return parsed.select("tick.*", "partition", "offset")


REQUIRED_FIELDS = ("symbol", "time", "price")  # a tick without one of these is malformed (not JSON: all are null)


def is_malformed() -> Column:
    """On `parse_ticks`' columns."""
    from pyspark.sql import functions as F

    return _lacks_a_field(F.col)


def malformed_value() -> Column:
    """On a Kafka record: the same parse as `parse_ticks`, the same test as `is_malformed`."""
    from pyspark.sql import functions as F

    return _lacks_a_field(F.from_json(F.col("value").cast("string"), TICK_SCHEMA).getField)


def _lacks_a_field(field: Callable[[str], Column]) -> Column:
    from functools import reduce

    return reduce(lambda either, other: either | other, (field(name).isNull() for name in REQUIRED_FIELDS))


def malformed_records(source: DataFrame) -> DataFrame:
    """Records the reference job cannot use, with where they sit in Kafka (for a dead-letter topic)."""
    return source.where(malformed_value()).select("key", "value", "partition", "offset")


def observe_malformed(source: DataFrame) -> DataFrame:
    """The source, unchanged, with the positions of its malformed records as an observed metric of each
    batch (`MALFORMED_METRIC` in the query's progress): the count costs no second read of Kafka."""
    from pyspark.sql import functions as F

    metric = F.collect_list(F.when(malformed_value(), F.struct("partition", "offset"))).alias("records")
    try:
        return source.observe(MALFORMED_METRIC, metric)
    except AssertionError:  # pyspark 3.3 (hdinsight-5.1) observes a named metric only through the JVM's Dataset
        from pyspark.sql import DataFrame
        from pyspark.sql.column import _to_seq

        session = source.sparkSession
        return DataFrame(source._jdf.observe(MALFORMED_METRIC, metric._jc, _to_seq(session.sparkContext, [])), session)


def observed_malformed(progresses: Iterable[Mapping[str, Any]]) -> set[tuple[int, int]]:
    """(partition, offset) of every malformed record in these progress events. Spark renders the metric's
    row as an object in 3.3 and as a list of its values in 4.x; a re-run batch observes the same records."""
    found: set[tuple[int, int]] = set()
    for progress in progresses:
        row = (progress.get("observedMetrics") or {}).get(MALFORMED_METRIC)
        if row is None:
            continue
        records = next(iter(row.values())) if isinstance(row, dict) else row[0]
        for record in records or []:
            found.add((int(record["partition"]), int(record["offset"])) if isinstance(record, dict) else (int(record[0]), int(record[1])))
    return found


def _windowed(ticks: DataFrame, options: JobOptions) -> DataFrame:
    from pyspark.sql import functions as F

    timed = ticks.where(~is_malformed()).withColumn("event_time", F.timestamp_seconds(F.floor(F.col("time") / 1000)))
    if options.watermark_ms is not None:
        timed = timed.withWatermark("event_time", f"{options.watermark_ms} milliseconds")
    window_spec = f"{options.window_ms} milliseconds"
    slide_spec = f"{options.slide_ms} milliseconds" if options.slide_ms else None
    window = F.window("event_time", window_spec, slide_spec) if slide_spec else F.window("event_time", window_spec)
    return timed.groupBy(window.alias("window"), F.col("symbol"))


def stock_windows(spark: SparkSession, source: DataFrame, options: JobOptions) -> DataFrame:
    from pyspark.sql import functions as F

    return _windowed(parse_ticks(source), options).agg(
        F.max("price").alias("high"),
        F.min("price").alias("low"),
        F.count(F.lit(1)).alias("count"),
        F.collect_list("price").alias("prices"),
    )


def stock_windows_dropping_a_symbol(spark: SparkSession, source: DataFrame, options: JobOptions) -> DataFrame:
    """A deliberately wrong job (it loses every MSFT record), to show that verification fails loudly."""
    from pyspark.sql import functions as F

    return stock_windows(spark, source.where(F.col("key").cast("string") != F.lit("MSFT")), options)
