"""A team's stateless alerting application: every tick priced above a threshold becomes an alert on a Kafka topic.

Its trigger is the one thing that changes between the two ways it can run: `--trigger realtime` uses Spark's
real-time mode (Spark 4.1+, `trigger(realTime=...)`: long-running batches whose records stream through as
they arrive; the duration is a checkpoint interval, not a latency), `--trigger microbatch` the usual
micro-batches. Real-time mode in Spark 4.2 takes stateless queries only (projections, filters, unions,
stream-static joins), in update mode, from Kafka to Kafka, with a task slot for every source partition.

    spark-submit --master 'local[4]' price_alerts_app.py --bootstrap wn0-kafka:9092 --topic stockVals \
        --output-topic priceAlerts --checkpoint /checkpoints/price-alerts --above 150 --trigger realtime

Each alert carries the tick's fields and `source_timestamp_ms`, the input record's Kafka timestamp (the
producer's send time), so whoever reads the alerts can tell how long a tick took to become an alert.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

TICK_SCHEMA = "symbol string, time long, price double, size int"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--above", type=float, default=150.0, help="alert on every tick priced above this")
    parser.add_argument("--trigger", choices=("realtime", "microbatch"), default="realtime")
    parser.add_argument("--kafka-properties", help="Kafka client settings, one key=value per line (security.protocol, ssl.*)")
    args = parser.parse_args()
    kafka = {"kafka.bootstrap.servers": args.bootstrap, **client_options(args.kafka_properties)}

    spark = SparkSession.builder.appName("price-alerts").getOrCreate()
    ticks = (spark.readStream.format("kafka").options(**kafka).option("subscribe", args.topic).option("startingOffsets", "earliest")
             .option("failOnDataLoss", "true").load()
             .select(F.from_json(F.col("value").cast("string"), TICK_SCHEMA).alias("tick"), F.col("timestamp")))
    alerts = (ticks.where(F.col("tick.price") > args.above)
              .select(F.col("tick.symbol").alias("key"),
                      F.to_json(F.struct("tick.symbol", "tick.time", "tick.price",
                                         F.unix_millis(F.col("timestamp")).alias("source_timestamp_ms"))).alias("value")))
    writer = (alerts.writeStream.format("kafka").options(**kafka).option("topic", args.output_topic)
              .option("checkpointLocation", args.checkpoint).outputMode("update"))
    writer = writer.trigger(realTime="5 seconds") if args.trigger == "realtime" else writer.trigger(processingTime="500 milliseconds")
    writer.start().awaitTermination()


def client_options(path: str | None) -> dict[str, str]:
    """`key=value` lines of a client properties file as the connector's `kafka.key` options."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as lines:
        pairs = (line.strip().split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
        return {f"kafka.{key.strip()}": value.strip() for key, value in pairs}


if __name__ == "__main__":
    main()
