"""Image build step: the class-data-sharing archive of the Spark image's JVMs (see harness.runtime.class_sharing).

Every job run in the VNet starts JVMs in containers: the driver on the head node, an executor per worker,
the master and workers at boot. Measured in a container of this image (2 cores): a driver's session took
6.7-8.7 s to start, with this archive 3.7-4.6 s. The host's archives cannot serve here (another Java build,
other paths), so the image trains its own, once, when it is built: a local driver that runs a batch
aggregation and a windowed streaming query with a watermark, so the SQL engine, code generation, the
micro-batch engine and the state store are loaded. The JVM writes the archive as it exits, so the driver
is ended by System.exit and awaited, not killed with the Python process.

Run as `python3 spark-class-training.py ARCHIVE`; it fails the build, with Spark's output, if no archive
was written (a JVM given a missing archive would warn on every start).
"""

import os
import sys
import tempfile

archive = sys.argv[1]
os.environ["SPARK_SUBMIT_OPTS"] = f"{os.environ['HARNESS_JVM_OPTIONS']} -XX:ArchiveClassesAtExit={archive} -Xlog:cds=off"
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

session = SparkSession.builder.master("local[2]").appName("image-class-training").config("spark.ui.enabled", "false").getOrCreate()
gateway = session.sparkContext._gateway
with tempfile.TemporaryDirectory() as tmp:
    source = os.path.join(tmp, "in")
    os.mkdir(source)
    with open(os.path.join(source, "part-0.json"), "w") as out:
        out.writelines(f'{{"symbol": "S{i % 5}", "price": {i}, "time": "2023-11-14T22:{i % 60:02d}:00Z"}}\n' for i in range(200))
    schema = "symbol STRING, price DOUBLE, time TIMESTAMP"
    session.read.schema(schema).json(source).groupBy("symbol").agg(F.max("price")).collect()
    stream = (session.readStream.schema(schema).json(source).withWatermark("time", "30 seconds")
              .groupBy(F.window("time", "4 seconds"), "symbol").agg(F.max("price")))
    query = (stream.writeStream.outputMode("append").format("memory").queryName("training")
             .option("checkpointLocation", os.path.join(tmp, "checkpoint")).trigger(availableNow=True).start())
    query.awaitTermination(300)
    session.sql("SELECT count(*) FROM training").collect()
session.stop()
try:
    gateway.jvm.System.exit(0)
except Exception:  # noqa: BLE001,S110 - the JVM goes away while answering
    pass
gateway.proc.wait(300)
if not os.path.exists(archive):
    sys.exit(f"the Spark JVM wrote no class archive at {archive}")
print(f"class archive {archive}: {os.path.getsize(archive) // 2**20} MB")
