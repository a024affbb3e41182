"""Resolve pinned jars with Maven into a cache outside the repository, once; reuse them offline.

Maven's `dependency:copy-dependencies` is used because it resolves the full runtime closure from
Maven Central with the user's own Maven settings (mirrors, proxies); `dependency:get` fails on the
connector because it also asks for a test jar. A `.complete` marker makes later calls free.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from harness.errors import ArtifactError
from harness.paths import cache_root
from harness.versions import DEFAULT_RELEASE, release

_MARKER = ".complete"


def _pom(coordinates: list[str]) -> str:
    deps = []
    for coordinate in coordinates:
        group, artifact, version = coordinate.split(":")
        deps.append(
            f"<dependency><groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>local.kafka-spark-harness</groupId><artifactId>bundle</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{''.join(deps)}</dependencies></project>"
    )


def _resolve(bundle: str, coordinates: list[str]) -> Path:
    target = cache_root() / "jars" / bundle
    if (target / _MARKER).exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ArtifactError(
            f"Maven (`mvn`) is needed once to resolve {bundle} into {target}",
            hint="install Maven (Debian/Ubuntu: apt-get install maven), or copy a resolved cache into HARNESS_CACHE",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle}.", dir=target.parent))
    try:
        (staging / "pom.xml").write_text(_pom(coordinates))
        out = subprocess.run(
            [mvn, "-B", "-q", "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={staging / 'jars'}"],
            cwd=staging, capture_output=True, text=True, timeout=900,
        )
        if out.returncode != 0:
            tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
            raise ArtifactError(
                f"Maven could not resolve {', '.join(coordinates)}",
                detail=tail,
                hint="check network access to Maven Central (or your Maven mirror in ~/.m2/settings.xml)",
            )
        (staging / "jars" / _MARKER).write_text("\n".join(coordinates) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        (staging / "jars").rename(target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@functools.cache
def kafka_jar_dir(release_name: str = DEFAULT_RELEASE) -> Path:
    """Kafka's broker, tools and (on a ZooKeeper release) ZooKeeper server, as one runtime closure."""
    chosen = release(release_name)
    return _resolve(f"kafka-{chosen.kafka_version}", chosen.kafka_coordinates())


def kafka_classpath(release_name: str = DEFAULT_RELEASE) -> str:
    """A JVM classpath wildcard (`dir/*`): keeps the command line short for 90+ jars."""
    return str(kafka_jar_dir(release_name) / "*")


@functools.cache
def connector_jars(release_name: str = DEFAULT_RELEASE) -> tuple[Path, ...]:
    """The release's connector and the part of its closure that its Spark does not ship already.

    Spark's jars directory already has e.g. hadoop-client-*, slf4j and commons; adding a second
    copy of those would put two versions of one class on the driver's classpath.
    """
    from harness.dist.spark import spark_runtime

    chosen = release(release_name)
    directory = _resolve(f"spark-sql-kafka-{chosen.spark_version}", chosen.connector_coordinates())
    shipped = {_artifact_name(p.name) for p in spark_runtime(release_name).jars.glob("*.jar")}
    return tuple(sorted(p for p in directory.glob("*.jar") if _artifact_name(p.name) not in shipped))


def _artifact_name(filename: str) -> str:
    """`kafka-clients-3.9.2.jar` -> `kafka-clients`: the name without its version."""
    stem = filename.removesuffix(".jar")
    match = re.match(r"^(.*?)-(\d+\.\d+[\w.\-]*)$", stem)
    return match.group(1) if match else stem


def resolve_all(release_names: tuple[str, ...] = (DEFAULT_RELEASE,)) -> dict[str, Path]:
    """Resolve everything a run needs; `harness fetch` and the set-up commands call this."""
    from harness.dist.java import find_java

    from harness.dist.spark import spark_runtime

    find_java()
    resolved: dict[str, Path] = {}
    for name in release_names:
        suffix = "" if name == DEFAULT_RELEASE else f" ({name})"
        resolved[f"kafka{suffix}"] = kafka_jar_dir(name)
        resolved[f"spark{suffix}"] = spark_runtime(name).home
        resolved[f"connector{suffix}"] = connector_jars(name)[0].parent
    return resolved
