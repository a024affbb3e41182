"""A class-data-sharing archive for a release's Spark drivers (see harness.runtime.class_sharing).

Every job the harness runs starts a Spark driver JVM: the in-process session, a driver process, a
team's application through spark-submit. Measured here (2 cores, Spark 4.2.0, Java 17): a session
started in 9.3-10.5 s and ran its first query in 5.3-5.5 s; with the archive 5.4-6.0 s and 2.7-3.4 s.

The training run is a driver of the release's Spark in a process of its own (its JVM writes the archive
as it exits): a batch aggregation and a windowed streaming query with a watermark over files, so the
SQL engine, code generation, the micro-batch engine and the state store are all loaded. Classes of the
connector and the Kafka client come from `spark.jars` through Spark's own class loader, which CDS does
not archive; Spark's jars, Scala and the JDK are what it saves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.dist.java import find_java
from harness.dist.spark import SparkRuntime, installed_runtime, spark_runtime
from harness.errors import HarnessError
from harness.runtime.class_sharing import archive_folder, existing_archives, trained_archives
from harness.runtime.processes import excerpt
from harness.runtime.readiness import Progress, quiet

DRIVER = "spark-driver"
_TRAINING_TIMEOUT_S = 600.0


def _key(runtime: SparkRuntime) -> tuple[str, Path, str]:
    """The archive's kind, Java and class path: a driver of this release on this machine's Java."""
    return f"spark-{runtime.release.name}", find_java().executable, str(runtime.jars)


def _folder(runtime: SparkRuntime) -> Path:
    return archive_folder(*_key(runtime))


def driver_archive(release: str) -> Path | None:
    """The archive a driver of this release maps, if one was trained on this machine (a lookup only: it installs
    and trains nothing, so a driver on a docker node, whose Java differs, finds none and starts as before)."""
    runtime = installed_runtime(release)
    return existing_archives(_folder(runtime), (DRIVER,)).get(DRIVER) if runtime else None


def ensure_driver_archive(release: str, progress: Progress = quiet, *, retry: bool = False) -> Path | None:
    """Train the release's driver archive the first time (about 30 s, once per machine)."""
    found = trained_archives(*_key(spark_runtime(release)), (DRIVER,), lambda directory: _train(release, directory / f"{DRIVER}.jsa"),
                             f"Spark {spark_runtime(release).release.spark_version}", progress, retry=retry)
    return found.get(DRIVER)


def _train(release: str, archive: Path) -> None:
    from harness.spark.session import spark_env

    env = {**os.environ, **spark_env(release)}
    try:
        done = subprocess.run([sys.executable, "-m", "harness.spark.class_archive", release, str(archive)], env=env, capture_output=True,
                              text=True, timeout=_TRAINING_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"the Spark training run did not finish within {_TRAINING_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        raise HarnessError(f"the Spark training run failed with exit code {done.returncode}", detail=excerpt(done.stderr.strip(), 12))


def _workload(release: str, archive: Path) -> None:
    """Runs in the training process, on the release's pyspark."""
    import tempfile

    from harness.spark.session import harness_conf, spark_session, stop_spark

    options = harness_conf("127.0.0.1:9", 512, release)["spark.driver.extraJavaOptions"]  # the flags every driver runs with
    session = spark_session("127.0.0.1:9", master="local[2]", app_name="harness-class-training", release=release,
                            extra_conf={"spark.driver.extraJavaOptions": f"{options} -XX:ArchiveClassesAtExit={archive} -Xlog:cds=off"})
    try:
        with tempfile.TemporaryDirectory(prefix="spark-training-") as tmp:
            source = Path(tmp) / "in"
            source.mkdir()
            (source / "part-0.json").write_text("".join(f'{{"symbol": "S{i % 5}", "price": {i}, "time": "2023-11-14T22:{i % 60:02d}:00Z"}}\n'
                                                        for i in range(200)))
            frame = session.read.schema("symbol STRING, price DOUBLE, time TIMESTAMP").json(str(source))
            frame.groupBy("symbol").agg({"price": "max"}).collect()
            from pyspark.sql import functions as F

            stream = (session.readStream.schema("symbol STRING, price DOUBLE, time TIMESTAMP").json(str(source))
                      .withWatermark("time", "30 seconds").groupBy(F.window("time", "4 seconds"), "symbol").agg(F.max("price")))
            query = (stream.writeStream.outputMode("append").format("memory").queryName("training")
                     .option("checkpointLocation", str(Path(tmp) / "checkpoint")).trigger(availableNow=True).start())
            query.awaitTermination(300)
            session.sql("SELECT count(*) FROM training").collect()
    finally:
        stop_spark(session, exit_timeout=_TRAINING_TIMEOUT_S)  # the JVM writes the archive as it exits


if __name__ == "__main__":
    _workload(sys.argv[1], Path(sys.argv[2]))
