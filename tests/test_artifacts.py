from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.dist import artifacts, java
from harness.errors import ArtifactError


@pytest.mark.parametrize(("text", "major"), [('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_392"', 8), ('openjdk version "21" 2023', 21), ("garbage", None)])
def test_parse_java_major(text: str, major: int | None) -> None:
    assert java.parse_major(text) == major


def test_too_old_java_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_home = tmp_path / "jdk8"
    (fake_home / "bin").mkdir(parents=True)
    exe = fake_home / "bin" / "java"
    exe.write_text('#!/bin/sh\necho \'java version "1.8.0_392"\' >&2\n')
    exe.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(fake_home))
    java.find_java.cache_clear()
    try:
        with pytest.raises(ArtifactError, match="Java 8; Kafka 4 and Spark 4 need Java 17") as caught:
            java.find_java()
        assert "openjdk-17" in str(caught.value)
    finally:
        java.find_java.cache_clear()


def test_missing_maven_with_an_empty_cache_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn on it
    with pytest.raises(ArtifactError, match="Maven") as caught:
        artifacts._resolve("kafka-test", ["org.apache.kafka:kafka-clients:4.4.0"])
    assert "apt-get install maven" in str(caught.value)


def test_failed_resolution_shows_maven_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MAVEN_OPTS", os.environ.get("MAVEN_OPTS", ""))
    with pytest.raises(ArtifactError, match="could not resolve org.example.nothing:none:0.0.1") as caught:
        artifacts._resolve("none", ["org.example.nothing:none:0.0.1"])
    assert caught.value.detail and "none" in caught.value.detail
    assert not (tmp_path / "cache" / "jars" / "none").exists()


def test_connector_jars_match_spark_and_skip_what_pyspark_ships() -> None:
    names = [p.name for p in artifacts.connector_jars()]
    assert any(n.startswith("spark-sql-kafka-0-10_2.13-4.2.0") for n in names)
    assert any(n.startswith("kafka-clients-") for n in names)
    assert not any(n.startswith("hadoop-client") for n in names)


@pytest.mark.parametrize(("name", "artifact"), [("kafka-clients-3.9.2.jar", "kafka-clients"), ("spark-sql-kafka-0-10_2.13-4.2.0.jar", "spark-sql-kafka-0-10_2.13"), ("commons-pool2-2.13.1.jar", "commons-pool2")])
def test_artifact_name_strips_the_version(name: str, artifact: str) -> None:
    assert artifacts._artifact_name(name) == artifact


def test_the_current_release_runs_the_harnesss_own_pyspark_and_needs_no_python_path() -> None:
    import pyspark

    from harness.dist.spark import spark_runtime

    runtime = spark_runtime("current")
    assert runtime.home == Path(pyspark.__file__).parent and runtime.tool("spark-submit").is_file()
    assert runtime.python_env() == {}


def test_another_releases_pyspark_comes_first_on_a_drivers_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.dist.spark import SparkRuntime
    from harness.versions import release

    monkeypatch.setenv("PYTHONPATH", "/team/libs")
    runtime = SparkRuntime(release("hdinsight-5.1"), Path("/cache/spark/pyspark-3.3.4/pyspark"), Path("/cache/spark/pyspark-3.3.4"))
    assert runtime.python_env() == {"PYTHONPATH": os.pathsep.join(["/cache/spark/pyspark-3.3.4", "/team/libs"])}
    assert runtime.tool("spark-shell") == Path("/cache/spark/pyspark-3.3.4/pyspark/bin/spark-shell")


def test_the_hdinsight_release_resolves_spark_33_and_its_scala_212_connector() -> None:
    names = [p.name for p in artifacts.connector_jars("hdinsight-5.1")]
    assert any(n.startswith("spark-sql-kafka-0-10_2.12-3.3.4") for n in names)
    assert not any(n.startswith("scala-library") for n in names)  # Spark 3.3.4 ships its own Scala 2.12


@pytest.mark.parametrize("release_name", ["current", "hdinsight-5.1"])
def test_each_release_s_kafka_jvms_map_their_class_archives(release_name: str) -> None:
    """-Xshare:on makes the JVM refuse to start when an archive does not match its Java and class path,
    so the twin's JVMs get the speed the archives promise, not a silent fallback."""
    import subprocess

    from harness.backends.class_archive import class_archives
    from harness.versions import release

    stack = release(release_name)
    runtime, classpath = java.find_java(), artifacts.kafka_classpath(release_name)
    archives = class_archives(stack, runtime.executable, classpath)
    assert set(archives) == ({"org.apache.zookeeper.server.quorum.QuorumPeerMain", "kafka.Kafka"} if stack.uses_zookeeper
                             else {"kafka.tools.StorageTool", "kafka.Kafka"})
    for archive in archives.values():
        done = subprocess.run([str(runtime.executable), "-Xshare:on", f"-XX:SharedArchiveFile={archive}", "-cp", classpath,
                               "kafka.Kafka", "--version"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert stack.kafka_version in done.stdout + done.stderr


@pytest.mark.parametrize("release_name", ["current", "hdinsight-5.1"])
def test_each_release_s_spark_driver_maps_its_class_archive(release_name: str) -> None:
    """The driver JVM as spark-submit launches it (its own class path), refusing to start if the archive does not map."""
    import subprocess

    from harness.dist.spark import spark_runtime
    from harness.spark import spark_env, spark_submit
    from harness.spark.class_archive import ensure_driver_archive

    archive = ensure_driver_archive(release_name)
    assert archive is not None and archive.exists()
    done = subprocess.run([str(spark_submit(release_name)), "--conf", f"spark.driver.extraJavaOptions=-Xshare:on -XX:SharedArchiveFile={archive}",
                           "--version"], capture_output=True, text=True, timeout=120, env={**os.environ, **spark_env(release_name)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert spark_runtime(release_name).release.spark_version in done.stdout + done.stderr
