"""Does a team's jar link against the release's Spark? Read from the jar, before spark-submit starts.

A Scala jar built for Scala 2.12 (Spark 3.3, HDInsight 5.1) names classes that Scala 2.13's library
(Spark 4) lacks, and the reverse; Spark would fail with NoClassDefFoundError at the first of them,
often only at the first micro-batch. The check is exact rather than guessed from file names: every
`scala/...` class the jar's bytecode names must exist in the scala-library jar of the release's Spark.
"""

from __future__ import annotations

import functools
import re
import zipfile
from pathlib import Path

from harness.dist.spark import SparkRuntime, installed_runtime, spark_runtime
from harness.errors import ConfigError
from harness.versions import RELEASES

_SCALA_NAME = re.compile(rb"scala/[A-Za-z0-9_/$]+")


def scala_classes_named(jar: Path) -> set[str]:
    """Every `scala/...` class name in the constant pools of the jar's classes (descriptors included)."""
    names: set[str] = set()
    with zipfile.ZipFile(jar) as archive:
        for entry in archive.namelist():
            if entry.endswith(".class") and not entry.startswith("scala/"):
                names.update(match.decode() for match in _SCALA_NAME.findall(archive.read(entry)))
    return names


@functools.cache
def _scala_library(runtime: SparkRuntime) -> frozenset[str]:
    libraries = sorted(runtime.jars.glob("scala-library-*.jar"))
    if not libraries:
        return frozenset()
    with zipfile.ZipFile(libraries[0]) as archive:
        return frozenset(name.removesuffix(".class") for name in archive.namelist() if name.endswith(".class"))


def missing_scala_classes(jar: Path, runtime: SparkRuntime) -> list[str]:
    library = _scala_library(runtime)
    return sorted(name for name in scala_classes_named(jar) if name not in library) if library else []


def require_links(jar: Path, release_name: str, where: str) -> None:
    """Refuse a jar built for another Scala than the release's Spark, naming what it lacks and which release fits."""
    runtime = spark_runtime(release_name)
    missing = missing_scala_classes(jar, runtime)
    if not missing:
        return
    stack = runtime.release
    fits = [name for name in RELEASES if name != release_name and (other := installed_runtime(name)) is not None
            and not missing_scala_classes(jar, other)]
    elsewhere = f"; it links on release {', '.join(fits)} (--release {fits[0]})" if fits else ""
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise ConfigError(
        f"{where}: {jar} was built for another Scala than release {stack.name}'s Spark {stack.spark_version} (Scala {stack.spark_scala}): "
        f"it names {len(missing)} classes that Scala {stack.spark_scala}'s library lacks ({shown}), so Spark would fail with "
        f"NoClassDefFoundError{elsewhere}",
        hint=f"build the jar against Spark {stack.spark_version} and Scala {stack.spark_scala} (spark-sql_{stack.spark_scala}:{stack.spark_version}, "
             "provided), or run it on the release it was built for",
    )
