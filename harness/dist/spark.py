"""The Spark runtime of a release: its `SPARK_HOME`, its `bin/` and its connector jars.

The `pyspark` package on PyPI carries all of Spark (its jars and `bin/`), so a release's Spark comes
from the `pyspark` of that version. The harness's own pyspark (pyproject pins it) is the current
release's; another release's is installed once by pip into a directory of its own under the cache
(two pysparks cannot share one environment), and a driver of that release imports it first through
PYTHONPATH while the harness's own packages stay importable behind it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ArtifactError, HarnessError
from harness.paths import cache_root
from harness.versions import CURRENT, DEFAULT_RELEASE, Release, release

_MARKER = ".complete"


@dataclass(frozen=True)
class SparkRuntime:
    """One installed Spark: where it lives, and the PYTHONPATH entry a driver of it needs (None: the harness's own)."""

    release: Release
    home: Path
    python_path: Path | None

    @property
    def bin(self) -> Path:
        return self.home / "bin"

    def tool(self, name: str) -> Path:
        """`spark-submit`, `spark-shell`, `spark-class`: Spark's own launchers of this release."""
        return self.bin / name

    @property
    def jars(self) -> Path:
        return self.home / "jars"

    def python_env(self) -> dict[str, str]:
        """What a Python process needs to import this pyspark instead of the harness's own."""
        if self.python_path is None:
            return {}
        inherited = os.environ.get("PYTHONPATH", "")
        return {"PYTHONPATH": os.pathsep.join(p for p in (str(self.python_path), inherited) if p)}


@functools.cache
def spark_runtime(release_name: str = DEFAULT_RELEASE) -> SparkRuntime:
    chosen = release(release_name)
    if chosen.spark_version == CURRENT.spark_version:
        return SparkRuntime(chosen, _own_pyspark_home(), None)
    return _runtime_in(chosen, _installed_pyspark(chosen.spark_version))


def _runtime_in(chosen: Release, target: Path) -> SparkRuntime:
    return SparkRuntime(chosen, target / "pyspark", target)


def _pyspark_target(version: str) -> Path:
    return cache_root() / "spark" / f"pyspark-{version}"


def _own_pyspark_home() -> Path:
    import pyspark

    if pyspark.__version__ != CURRENT.spark_version:
        raise HarnessError(f"pyspark {pyspark.__version__} is installed but the connector is pinned to {CURRENT.spark_version}",
                           hint=f"pip install pyspark=={CURRENT.spark_version} (the connector must match Spark exactly)")
    return Path(pyspark.__file__).parent


def _installed_pyspark(version: str) -> Path:
    """`pip install --target` of that pyspark (and the py4j it pins), once; reused offline after."""
    target = _pyspark_target(version)
    if (target / _MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".pyspark-{version}.", dir=target.parent))
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                              "--target", str(staging / "site"), f"pyspark=={version}"],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
            raise ArtifactError(f"pip could not install pyspark=={version} (Spark {version}'s runtime) into {target}", detail=tail,
                                hint="check access to the Python package index (or your pip configuration: pip config list)")
        (staging / "site" / _MARKER).write_text(f"pyspark=={version}\n")
        shutil.rmtree(target, ignore_errors=True)
        (staging / "site").rename(target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def installed_runtime(release_name: str) -> SparkRuntime | None:
    """The release's Spark if it is here already (checks must not install one)."""
    chosen = release(release_name)
    if chosen.spark_version == CURRENT.spark_version:
        return spark_runtime(release_name)
    target = _pyspark_target(chosen.spark_version)
    return _runtime_in(chosen, target) if (target / _MARKER).exists() else None
