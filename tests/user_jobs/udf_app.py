"""A batch application whose Python runs in the executors (a `udf`), as many teams' jobs do.

On release hdinsight-5.1 the local backend refuses it (pyspark 3.3's cloudpickle cannot rebuild a function
on Python 3.11); the docker backend's Spark 3.3 image runs it on Debian bullseye's Python 3.9. Each row
says which Python and which host the function ran on, so a test can see it ran in an executor.
"""

import socket
import sys

import pyspark
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = SparkSession.builder.getOrCreate()  # before the udf: Spark 3.3 parses its "string" type with a live context


@F.udf("string")
def shout(value):
    return f"{bytes(value).decode().upper()} @ python {sys.version_info[0]}.{sys.version_info[1]} on {socket.gethostname()}"


bootstrap, topic = sys.argv[1], sys.argv[2]
frame = spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("subscribe", topic).load()
rows = sorted(row[0] for row in frame.select(shout("value")).collect())
print(f"spark {pyspark.__version__}, driver python {sys.version_info[0]}.{sys.version_info[1]}", flush=True)
for row in rows:
    print(f"udf row: {row}", flush=True)
spark.stop()
