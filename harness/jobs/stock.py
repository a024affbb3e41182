"""The reference job: the HDInsight sample notebook's queries, with the watermark it lacks.

Per symbol and event-time window: the high, the low, the count, and the notebook's list of prices.
`time` is epoch milliseconds, turned into a timestamp with second precision as the notebook does.
Malformed values (not JSON, or no symbol, time or price) are excluded here and counted by the
harness's malformed-records query (see `malformed_records`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.jobs.contract import JobOptions

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TICK_SCHEMA = "symbol string, time long, price double, size int"


def parse_ticks(source: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    parsed = source.select(F.from_json(F.col("value").cast("string"), TICK_SCHEMA).alias("tick"), "partition", "offset")
    return parsed.select("tick.*", "partition", "offset")


def is_malformed() -> Column:
    from pyspark.sql import functions as F

    return F.col("symbol").isNull() | F.col("time").isNull() | F.col("price").isNull()


def malformed_records(source: DataFrame) -> DataFrame:
    """Records the reference job cannot use, with where they sit in Kafka (for the report and a DLQ)."""
    from pyspark.sql import functions as F

    parsed = source.select(F.from_json(F.col("value").cast("string"), TICK_SCHEMA).alias("tick"), "key", "value", "partition", "offset")
    return parsed.where(F.col("tick").isNull() | F.col("tick.symbol").isNull() | F.col("tick.time").isNull() | F.col("tick.price").isNull()).select(
        "key", "value", "partition", "offset"
    )


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
