"""The one factory for SparkSessions: connector jars on the classpath, safe network defaults.

Spark's UI and driver would otherwise listen on every interface; the twin keeps everything on
loopback. The deployment's bootstrap servers are recorded in the session's conf so jobs can read
them from `spark.conf.get("spark.harness.kafka.bootstrap")` without being told twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from harness.dist.artifacts import connector_jars
from harness.dist.java import find_java
from harness.errors import HarnessError
from harness.versions import SPARK_VERSION

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
) -> SparkSession:
    _pinned_pyspark()
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkContext._active_spark_context
    if active is not None and active.master != master:
        raise HarnessError(
            f"this process already runs a SparkSession on {active.master}; Spark allows one per process, so {master} cannot start",
            hint="stop the other session first (harness.spark.stop_spark), or run this in a process of its own",
        )
    spark_env()
    conf = harness_conf(bootstrap_servers, driver_memory_mb)
    conf.update(extra_conf or {})
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    from harness.runtime.processes import reinstall_interrupt_handlers

    reinstall_interrupt_handlers()
    return session


def spark_env() -> dict[str, str]:
    """The environment every Spark driver of the harness gets (set here, and returned for a child
    process): the JDK, loopback as Spark's own address, this Python for Python workers."""
    import sys

    java = find_java()
    os.environ.setdefault("JAVA_HOME", str(java.home))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return {key: os.environ[key] for key in ("JAVA_HOME", "SPARK_LOCAL_IP", "PYSPARK_PYTHON")}


def harness_conf(bootstrap_servers: str, driver_memory_mb: int) -> dict[str, str]:
    """The settings every Spark driver of the harness runs with, in a session here or a submitted
    application: the connector jars, loopback only, no UI, the deployment's bootstrap servers."""
    return {
        "spark.jars": ",".join(str(p) for p in connector_jars()),
        "spark.driver.memory": f"{driver_memory_mb}m",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={Path(__file__).with_name('log4j2.properties')}",
        "spark.sql.shuffle.partitions": "4",
        "spark.dynamicAllocation.enabled": "false",  # Microsoft's advice for streaming on HDInsight
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
        "spark.sql.streaming.numRecentProgressUpdates": "100000",  # the run report reads every batch
        BOOTSTRAP_CONF: bootstrap_servers,
    }


def spark_submit() -> Path:
    """The pinned Spark's own `spark-submit` (the pyspark package carries Spark's bin/)."""
    return Path(_pinned_pyspark().__file__).parent / "bin" / "spark-submit"


def _pinned_pyspark() -> ModuleType:
    import pyspark

    if pyspark.__version__ != SPARK_VERSION:
        raise HarnessError(f"pyspark {pyspark.__version__} is installed but the connector is pinned to {SPARK_VERSION}",
                           hint=f"pip install pyspark=={SPARK_VERSION} (the connector must match Spark exactly)")
    return pyspark


def stop_spark(session: SparkSession | None) -> None:
    """Stop the session and its JVM: `SparkSession.stop()` alone leaves the py4j JVM running."""
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
                proc.wait(timeout=15)
            except Exception:  # noqa: BLE001
                proc.kill()
        SparkContext._gateway = None
        SparkContext._jvm = None
