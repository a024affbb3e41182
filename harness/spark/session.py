"""The one factory for SparkSessions: connector jars on the classpath, safe network defaults.

Spark's UI and driver would otherwise listen on every interface; the twin keeps everything on
loopback. The deployment's bootstrap servers are recorded in the session's conf so jobs can read
them from `spark.conf.get("spark.harness.kafka.bootstrap")` without being told twice.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from harness.dist.artifacts import connector_jars
from harness.dist.java import SHORT_LIVED_JVM_OPTIONS, find_java
from harness.dist.spark import SparkRuntime, spark_runtime
from harness.errors import HarnessError
from harness.versions import DEFAULT_RELEASE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BOOTSTRAP_CONF = "spark.harness.kafka.bootstrap"


def spark_session(
    bootstrap_servers: str,
    *,
    master: str = "local[2]",
    app_name: str = "kafka-spark-harness",
    driver_memory_mb: int = 1024,
    extra_conf: dict[str, str] | None = None,
    release: str = DEFAULT_RELEASE,
) -> SparkSession:
    _imported_pyspark_is(spark_runtime(release))
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkContext._active_spark_context
    if active is not None and active.master != master:
        raise HarnessError(
            f"this process already runs a SparkSession on {active.master}; Spark allows one per process, so {master} cannot start",
            hint="stop the other session first (harness.spark.stop_spark), or run this in a process of its own",
        )
    spark_env(release)
    conf = harness_conf(bootstrap_servers, driver_memory_mb, release, master=master)
    conf.update(extra_conf or {})
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    from harness.runtime.processes import reinstall_interrupt_handlers

    reinstall_interrupt_handlers()
    return session


def spark_env(release: str = DEFAULT_RELEASE) -> dict[str, str]:
    """The environment every Spark driver of the harness gets (set here, and returned for a child
    process): the JDK, loopback as Spark's own address, this Python for Python workers, and for
    another release's Spark the PYTHONPATH that makes this Python import that release's pyspark."""
    import sys

    java = find_java()
    os.environ.setdefault("JAVA_HOME", str(java.home))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    env = {key: os.environ[key] for key in ("JAVA_HOME", "SPARK_LOCAL_IP", "PYSPARK_PYTHON")}
    return {**env, **spark_runtime(release).python_env()}


def harness_conf(bootstrap_servers: str, driver_memory_mb: int, release: str = DEFAULT_RELEASE, *, master: str = "local[2]") -> dict[str, str]:
    """The settings every Spark driver of the harness runs with, in a session here or a submitted
    application: the release's connector jars, loopback only, no UI, the deployment's bootstrap servers,
    a JIT sized for a short-lived JVM, and shuffle partitions sized for the master's task slots."""
    return {
        "spark.jars": ",".join(str(p) for p in connector_jars(release)),
        "spark.driver.memory": f"{driver_memory_mb}m",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": " ".join([f"-Dlog4j2.configurationFile={Path(__file__).with_name('log4j2.properties')}", *SHORT_LIVED_JVM_OPTIONS,
                                                   STREAM_THREAD_STACK, *_class_sharing(release)]),
        "spark.sql.shuffle.partitions": str(shuffle_partitions(master)),
        "spark.dynamicAllocation.enabled": "false",  # Microsoft's advice for streaming on HDInsight
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
        "spark.sql.streaming.numRecentProgressUpdates": "100000",  # the run report reads every batch
        BOOTSTRAP_CONF: bootstrap_servers,
    }


STREAM_THREAD_STACK = "-Xss16m"
"""Spark 4.x decides whether a query's stop interrupted a foreachBatch function with the regex
`An error occurred while calling((.|\\r\\n|\\r|\\n)*)(...)` on the Python error's whole text, and Java's regex
recurses once per character of it: with the default 1 MB thread stack a stop during a batch killed the
stream thread with a StackOverflowError (about 1,600 characters deep; a cancelled collect's error, with
its Java stack trace, is longer). Threads only reserve this; they use what they touch."""


def shuffle_partitions(master: str) -> int:
    """One shuffle task per task slot of a local[N] master: a stateful stage of four tasks on local[2] ran in two
    waves, each task mostly waiting on its state store's commit, and the stock ticker's record-to-commit p50 fell
    from about 1.07 s to 0.79 s at two (three alternating rounds on one twin). A cluster master keeps four (its
    slots are the workers'). A job's own `spark.sql.shuffle.partitions` still wins; a query restarted from a
    checkpoint keeps the count it was started with, as Spark does."""
    local = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\d+)?\])?", master)
    if local is None:
        return 4
    slots = local.group(1)
    return (os.cpu_count() or 2) if slots == "*" else int(slots or 1)


def _class_sharing(release: str) -> list[str]:
    """The driver's class-data-sharing archive where this machine has one (harness.spark.class_archive)."""
    from harness.spark.class_archive import driver_archive

    archive = driver_archive(release)
    return [f"-XX:SharedArchiveFile={archive}"] if archive else []


def spark_submit(release: str = DEFAULT_RELEASE) -> Path:
    """The release's own `spark-submit` (the pyspark package carries Spark's bin/)."""
    return spark_runtime(release).tool("spark-submit")


def _imported_pyspark_is(runtime: SparkRuntime) -> ModuleType:
    """A session runs on the pyspark this process imports: it must be the release's (a driver of another
    release gets it first on PYTHONPATH from `spark_env`)."""
    import pyspark

    wanted = runtime.release.spark_version
    if pyspark.__version__ != wanted:
        raise HarnessError(f"this process imports pyspark {pyspark.__version__} but release {runtime.release.name} runs Spark {wanted}",
                           hint="run the job in a driver process of that release (the runner does), whose PYTHONPATH puts "
                                f"{runtime.python_path or 'the pinned pyspark'} first")
    return pyspark


def stop_spark(session: SparkSession | None, *, exit_timeout: float = 15.0) -> None:
    """Stop the session and its JVM: `SparkSession.stop()` alone leaves the py4j JVM running. The JVM gets
    `exit_timeout` seconds to exit by itself before it is killed."""
    from pyspark import SparkContext

    if session is not None:
        try:
            session.stop()
        except Exception:  # noqa: BLE001 - its JVM may be gone already; the gateway below is what matters
            pass
    gateway = getattr(SparkContext, "_gateway", None)
    if gateway is not None:
        proc = getattr(gateway, "proc", None)
        try:
            gateway.shutdown()
        except Exception:  # noqa: BLE001 - best effort: the JVM may be gone already
            pass
        if proc is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout=exit_timeout)
            except Exception:  # noqa: BLE001
                proc.kill()
        SparkContext._gateway = None
        SparkContext._jvm = None
