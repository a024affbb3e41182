"""A team's streaming application, as it would be submitted to HDInsight's Spark cluster with spark-submit.

It knows nothing of the harness: it reads the stock ticker from Kafka, computes the high, low, count and
prices per symbol and 4-second window (with a 30-second watermark), and writes each window as one JSON
value to a Kafka output topic, or as one row to Parquet, JSON or CSV files on the cluster's storage.

    spark-submit stock_windows_app.py --bootstrap wn0-kafka:9092 --topic stockVals \
        --output-topic stockWindows --checkpoint /checkpoints/stock-windows
    spark-submit stock_windows_app.py --bootstrap wn0-kafka:9092 --topic stockVals \
        --output-path abfss://data@account.dfs.core.windows.net/stock-windows --format parquet --checkpoint ...

`--kafka-properties FILE` gives the Kafka client settings (security.protocol, ssl.truststore.location, ...)
as a Java properties file, the way HDInsight's TLS guide hands clients `client-ssl-auth.properties`;
each becomes a `kafka.`-prefixed option of the source and the sink.

`--wrong` makes it a deliberately wrong variant (it drops every MSFT tick), to show a failing run.
`--cast-fields` reads every field as text and casts it, as teams do whose feeds send numbers as strings:
on Spark 3.3 a value that is not a number becomes null (and the tick is dropped); on Spark 4, where ANSI
SQL mode is on by default, the same cast stops the query (CAST_INVALID_INPUT). scenarios/migration-ansi-casts.yaml
shows both.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

TICK_SCHEMA = "symbol string, time long, price double, size int"
TEXT_SCHEMA = "symbol string, time string, price string, size string"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    sink = parser.add_mutually_exclusive_group(required=True)
    sink.add_argument("--output-topic")
    sink.add_argument("--output-path")
    parser.add_argument("--format", default="parquet", choices=("parquet", "json"))
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--mode", default="append", choices=("append", "update"))
    parser.add_argument("--wrong", action="store_true")
    parser.add_argument("--cast-fields", action="store_true")
    parser.add_argument("--kafka-properties", help="Kafka client settings, one key=value per line (security.protocol, ssl.*)")
    args = parser.parse_args()
    kafka = {"kafka.bootstrap.servers": args.bootstrap, **client_options(args.kafka_properties)}

    spark = SparkSession.builder.appName("stock-windows").getOrCreate()
    ticks = (spark.readStream.format("kafka").options(**kafka).option("subscribe", args.topic)
             .option("startingOffsets", "earliest").option("failOnDataLoss", "true").load()
             .select(F.from_json(F.col("value").cast("string"), TEXT_SCHEMA if args.cast_fields else TICK_SCHEMA).alias("tick")).select("tick.*"))
    if args.cast_fields:
        ticks = ticks.withColumn("time", F.col("time").cast("long")).withColumn("price", F.col("price").cast("double"))
    ticks = ticks.where(F.col("symbol").isNotNull() & F.col("time").isNotNull() & F.col("price").isNotNull())
    if args.wrong:
        ticks = ticks.where(F.col("symbol") != "MSFT")
    windows = (ticks.withColumn("event_time", F.timestamp_seconds(F.floor(F.col("time") / 1000)))
               .withWatermark("event_time", "30 seconds")
               .groupBy(F.window("event_time", "4 seconds").alias("window"), F.col("symbol"))
               .agg(F.max("price").alias("high"), F.min("price").alias("low"), F.count(F.lit(1)).alias("count"),
                    F.collect_list("price").alias("prices")))
    if args.output_topic:
        writer = (windows.select(F.col("symbol").alias("key"), F.to_json(F.struct("symbol", "window", "high", "low", "count", "prices")).alias("value"))
                  .writeStream.format("kafka").options(**kafka).option("topic", args.output_topic))
    else:
        writer = windows.writeStream.format(args.format).option("path", args.output_path)
    query = (writer.option("checkpointLocation", args.checkpoint).outputMode(args.mode).trigger(processingTime="500 milliseconds").start())
    query.awaitTermination()


def client_options(path: str | None) -> dict[str, str]:
    """`key=value` lines of a client properties file as the connector's `kafka.key` options."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as lines:
        pairs = (line.strip().split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
        return {f"kafka.{key.strip()}": value.strip() for key, value in pairs}


if __name__ == "__main__":
    main()
