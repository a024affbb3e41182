"""Find a Java runtime new enough for Kafka 4 and Spark 4, or say what to install."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ArtifactError
from harness.versions import MIN_JAVA_MAJOR

# The twin's JVMs live minutes and share a few cores: they compile with C1 only. C2's compiler threads competed
# with three brokers starting at once (dev ready 8.3 s -> 5.6 s) and with the jobs' tasks (a Spark driver's
# reference-job rate rose, its CPU fell); see the README's "Sized for a twin".
SHORT_LIVED_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)

_INSTALL_HINT = (
    f"install a Java {MIN_JAVA_MAJOR}+ runtime (Debian/Ubuntu: apt-get install openjdk-{MIN_JAVA_MAJOR}-jre-headless) "
    "and put it on PATH or set JAVA_HOME"
)


@dataclass(frozen=True)
class JavaRuntime:
    executable: Path
    major: int

    @property
    def home(self) -> Path:
        return self.executable.resolve().parent.parent


def _candidate() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        exe = Path(home) / "bin" / "java"
        if exe.exists():
            return str(exe)
    return shutil.which("java")


def parse_major(version_output: str) -> int | None:
    """`java -version` prints e.g. 'openjdk version "17.0.15"' or '"1.8.0_392"' (major 8)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


@functools.cache
def find_java() -> JavaRuntime:
    exe = _candidate()
    if exe is None:
        raise ArtifactError("no `java` found on PATH or under JAVA_HOME", hint=_INSTALL_HINT)
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ArtifactError(f"`{exe} -version` failed: {exc}", hint=_INSTALL_HINT) from exc
    major = parse_major(out.stderr + out.stdout)
    if major is None:
        raise ArtifactError(f"could not read the version of {exe}", detail=out.stderr[-500:], hint=_INSTALL_HINT)
    if major < MIN_JAVA_MAJOR:
        raise ArtifactError(f"{exe} is Java {major}; Kafka 4 and Spark 4 need Java {MIN_JAVA_MAJOR}+", hint=_INSTALL_HINT)
    return JavaRuntime(executable=Path(exe), major=major)
