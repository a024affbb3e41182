"""Class-data sharing (CDS) archives for the JVMs a twin starts: classes loaded and verified once per machine.

A twin's start-up is mostly JVMs loading classes on two cores: three brokers, their storage
formatters, a Spark driver. A dynamic CDS archive (`-XX:ArchiveClassesAtExit`, JDK 13+) records the
classes a real run loaded; a later JVM of the same Java and class path maps it instead of reading
and verifying the jars again. The archives are made by training runs that are the real programs at
small scale (harness.backends.class_archive for Kafka, harness.spark.class_archive for Spark),
kept in the cache beside the jars and keyed by the Java runtime and the class path, since an archive
is valid for exactly those. A JVM given an archive that does not match ignores it and starts the slow
way, so an archive never changes what runs, only how fast; a training run that fails leaves things as
fast as before, says so once, and is tried again by `harness fetch`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import cache_root
from harness.runtime.readiness import Progress

_FAILED = "training-failed.txt"
_ORIGIN = "origin.json"  # what the folder's archives were trained for: the key a later run checks them against


def archive_folder(kind: str, java: Path, classpath: str) -> Path:
    """One folder per (kind, Java runtime, class path). The runtime is named by its resolved path and its
    module image's size and time, which change when the JDK is updated."""
    modules = java.resolve().parent.parent / "lib" / "modules"
    stat = modules.stat() if modules.exists() else None
    key = f"{java.resolve()}|{stat.st_size if stat else 0}|{stat.st_mtime_ns if stat else 0}|{classpath}|{_jar_stamps(classpath)}"
    return cache_root() / "cds" / f"{kind}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _jar_stamps(classpath: str) -> str:
    """Size and time of every jar on the class path: the JVM refuses an archive whose jars changed since it
    was trained (a reinstalled pyspark at the same path, as a fresh clone in the same place makes), so a
    changed jar must mean another archive, trained anew."""
    stamps = []
    for entry in filter(None, classpath.split(os.pathsep)):
        folder = Path(entry.removesuffix("*"))
        jars = sorted(folder.glob("*.jar")) if entry.endswith("*") or folder.is_dir() else [folder]
        for jar in jars:
            with contextlib.suppress(OSError):
                info = jar.stat()
                stamps.append(f"{jar.name}:{info.st_size}:{info.st_mtime_ns}")
    return ",".join(stamps)


def existing_archives(folder: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """The archives of `names` if every one is there (a lookup only: nothing is trained)."""
    wanted = {name: folder / f"{name}.jsa" for name in names}
    return wanted if all(path.exists() for path in wanted.values()) else {}


def trained_archives(kind: str, java: Path, classpath: str, names: tuple[str, ...], train: Callable[[Path], None], what: str,
                     progress: Progress, *, retry: bool = False) -> dict[str, Path]:
    """Name -> archive of `kind` for this Java and class path, trained the first time: `train(directory)` runs the
    programs with `-XX:ArchiveClassesAtExit=directory/NAME.jsa` and returns once they have exited. Archives are moved
    into place only when every one was written, so a half-written archive is never used. Empty when a training run
    failed before, unless `retry`. A new training removes the archives of the same kind that no JVM can use any
    more (their jars were reinstalled or removed, or their Java changed): each is well over 100 MB, and every
    reinstall of pyspark (a fresh clone, `make clean`) would otherwise leave one behind."""
    folder = archive_folder(kind, java, classpath)
    if found := existing_archives(folder, names):
        return found
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):  # another harness process may be training the same archives
        if found := existing_archives(folder, names):
            return found
        failed = folder / _FAILED
        if failed.exists() and not retry:
            return {}
        progress(f"recording {what}'s classes for class-data sharing (once per machine)")
        with tempfile.TemporaryDirectory(prefix="cds-training-") as tmp:
            try:
                train(Path(tmp))
                missing = [name for name in names if not (Path(tmp) / f"{name}.jsa").is_file()]
                if missing:
                    raise HarnessError(f"the training run wrote no class archive for {', '.join(missing)}")
            except HarnessError as exc:
                failed.write_text(f"{exc}\n{exc.detail or ''}\n")
                progress(f"class-data sharing is off for {what}: its training run failed ({exc}); details in {failed}")
                return {}
            for name in names:
                shutil.move(str(Path(tmp) / f"{name}.jsa"), folder / f"{name}.jsa")
        failed.unlink(missing_ok=True)
        (folder / _ORIGIN).write_text(json.dumps({"java": str(java), "classpath": classpath}))
    _remove_unusable(kind, keep=folder)
    return existing_archives(folder, names)


def _remove_unusable(kind: str, keep: Path) -> None:
    """Remove the folders of `kind` whose recorded Java and class path now give another folder: the JVM would refuse
    their archives. A folder without a record (still training, or from before records were kept) stays."""
    for folder in keep.parent.glob(f"{kind}-*"):
        if folder == keep or not re.fullmatch(rf"{re.escape(kind)}-[0-9a-f]{{12}}", folder.name):
            continue
        try:
            origin = json.loads((folder / _ORIGIN).read_text())
        except (OSError, ValueError):
            continue
        if archive_folder(kind, Path(origin["java"]), origin["classpath"]) != folder:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
