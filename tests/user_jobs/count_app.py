"""A batch application for `harness submit`: counts a topic's records with the connector and prints the count."""

import os
import sys

from pyspark.sql import SparkSession

bootstrap, topic = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.getOrCreate()
count = spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("subscribe", topic).load().count()
print(f"records in {topic}: {count}; HARNESS_BOOTSTRAP={os.environ.get('HARNESS_BOOTSTRAP')}", flush=True)
spark.stop()
