"""Does a Python job need Spark's Python workers, and can the release's Spark run them on this Python?

pyspark 3.3's bundled cloudpickle cannot rebuild functions on Python 3.11 (`code() argument 13 must be
str, not int`), so on Spark 3.3 anything that ships Python to the executors fails at its first batch,
while a job of DataFrame expressions (the sample's) never starts a Python worker and runs. The code is
read before anything starts: calls that run Python in the executors are found in its syntax tree, and
such a job is refused with where it makes them, the reason, and where it would run.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.jobs.spec import JobSpec
from harness.versions import Release

EXECUTOR_PYTHON = {"udf", "pandas_udf", "udtf", "mapInPandas", "mapInArrow", "applyInPandas", "applyInPandasWithState", "applyInArrow",
                   "foreach", "foreachPartition", "transformWithStateInPandas"}
"""DataFrame and streaming APIs whose function runs in the executors' Python workers (`foreachBatch` runs in the driver)."""
RDD_PYTHON = {"map", "flatMap", "filter", "mapPartitions", "mapPartitionsWithIndex", "reduce", "fold", "aggregate", "keyBy", "groupBy",
              "reduceByKey", "sortBy", "foreach", "foreachPartition", "mapValues", "flatMapValues", "combineByKey"}
"""An RDD method that takes a Python function (`df.rdd.map(...)`): it runs in the workers too."""


@dataclass(frozen=True)
class WorkerCall:
    source: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.source}, line {self.line})"


def worker_calls(code: str, source: str) -> list[WorkerCall]:
    """Every place this Python code runs a function in the executors' Python workers."""
    try:
        tree = ast.parse(code, filename=source)
    except SyntaxError:
        return []  # Spark reports a syntax error better than a guess here
    found: set[WorkerCall] = set()
    for node in ast.walk(tree):
        name = _executor_call(node)
        if name:
            found.add(WorkerCall(source, getattr(node, "lineno", 0), name))
    return sorted(found, key=lambda c: (c.source, c.line, c.name))


def _executor_call(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("udf", "pandas_udf", "udtf"):
            return func.id
        if isinstance(func, ast.Attribute):
            if func.attr in EXECUTOR_PYTHON:
                return func.attr
            if func.attr in RDD_PYTHON and isinstance(func.value, ast.Attribute) and func.value.attr == "rdd":
                return f"rdd.{func.attr}"
            if func.attr == "register" and isinstance(func.value, ast.Attribute) and func.value.attr == "udf":
                return "udf.register"
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in ("udf", "pandas_udf"):
        return node.id  # used as a decorator (@udf) or passed on
    return None


def python_sources(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(name, code) of every Python file among these paths, a package directory read file by file."""
    sources: list[tuple[str, str]] = []
    for path in paths:
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.suffix == ".py" and path.is_file() else []
        sources.extend((str(f), f.read_text(encoding="utf-8", errors="replace")) for f in files)
    return sources


def require_workers_fit(stack: Release, sources: Iterable[tuple[str, str]], where: str, python: tuple[int, int] | None = None) -> None:
    """Refuse, before it starts, a job that needs Python workers which the release's Spark cannot run on this Python."""
    python = python or sys.version_info[:2]
    limit = stack.python_workers_max
    if limit is None or python <= limit:
        return
    calls = [call for name, code in sources for call in worker_calls(code, name)]
    if not calls:
        return
    shown = ", ".join(str(c) for c in calls[:3]) + (f" and {len(calls) - 3} more" if len(calls) > 3 else "")
    raise ConfigError(
        f"{where}: the job runs Python in Spark's Python workers ({shown}), and release {stack.name}'s Spark {stack.spark_version} "
        f"runs them only on Python {limit[0]}.{limit[1]} or older; this harness runs Python {python[0]}.{python[1]} "
        f"(pyspark {stack.spark_version}'s bundled cloudpickle fails there: code() argument 13 must be str, not int)",
        hint=f"run it on the docker backend (--backend docker), whose Spark {stack.spark_version} image has Debian {stack.debian_suite}'s "
             "Python, or on release current; a job of DataFrame expressions alone (no UDFs) runs here",
    )


def job_python_sources(job: JobSpec) -> list[tuple[str, str]]:
    """The Python a job runs: an application's file and --py-files, a PySpark notebook's code cells, a
    user's job module (the harness's own jobs need no workers). Of a user's job module only its own file is
    read: the package it is shipped with may hold other jobs (a `tests` package holds them all)."""
    from harness.jobs.contract import job_module_file
    from harness.jobs.notebook import load_notebook

    if job.application is not None:
        return python_sources(Path(p) for p in (job.application.file, *job.application.py_files))
    if job.notebook is not None:
        notebook = load_notebook(Path(job.notebook.file))
        if notebook.language != "python":
            return []
        return [(f"{notebook.path} cell {c.number}", c.source) for c in notebook.cells if c.kind == "code" and not c.source.lstrip().startswith("%%")]
    module = job_module_file(job.name)
    return python_sources([module]) if module is not None else []
