"""The contract a streaming job meets, so the harness can run, record and verify any job alike.

A job is a Python callable `job(spark, source, options) -> DataFrame`:
- `spark` is the harness's SparkSession (connector jars loaded);
- `source` is the raw streaming DataFrame from `spark.readStream.format("kafka")` on the scenario's
  topic (columns key, value, topic, partition, offset, timestamp, ...);
- `options` is a `JobOptions` (window, slide, watermark, output mode, and the scenario's free
  `job.options` mapping);
- it returns the streaming result; the harness adds the sink, trigger and checkpoint.

For the built-in oracle the result has the reference job's columns: symbol, window (struct of start
and end), high, low, count, prices. A job with other columns brings its own oracle
(`job.oracle: pkg.module:function`, called as `oracle(records, batches, options) -> list[dict]`)
and names its key columns with `job.options.key` (comma-separated).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import ConfigError

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class JobOptions:
    window_ms: int
    slide_ms: int | None
    watermark_ms: int | None
    output_mode: Literal["append", "update", "complete"]
    options: Mapping[str, Any] = field(default_factory=dict)


Job = Callable[["SparkSession", "DataFrame", JobOptions], "DataFrame"]

BUILT_IN_JOBS = {
    "stock-windows": "harness.jobs.stock:stock_windows",
    "stock-windows-drops-msft": "harness.jobs.stock:stock_windows_dropping_a_symbol",
}


def load_callable(path: str, what: str = "job") -> Callable[..., Any]:
    """`"pkg.module:function"` (or a built-in job name) -> the callable, with a clear error."""
    target = BUILT_IN_JOBS.get(path, path)
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise ConfigError(f"{what} {path!r} is neither a built-in job ({', '.join(BUILT_IN_JOBS)}) nor 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} for {what} {path!r}: {exc}", hint="is it on PYTHONPATH / installed?") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise ConfigError(f"{module_name} has no callable {attr!r} (from {what} {path!r})")
    return func


def _user_module_spec(path: str, top_level: bool) -> tuple[str, ModuleSpec | None] | None:
    """The module (or its top-level package) of a user's job and its import spec; None for the harness's own jobs."""
    import importlib.util

    module_name = BUILT_IN_JOBS.get(path, path).partition(":")[0]
    if module_name.split(".")[0] == "harness":
        return None
    name = module_name.split(".")[0] if top_level else module_name
    try:
        return name, importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return name, None


def job_module_file(path: str) -> Path | None:
    """The file of a user's job module itself (None for the harness's own jobs, or a module that is no file)."""
    found = _user_module_spec(path, top_level=False)
    if found is None:
        return None
    name, spec = found
    if spec is None:
        raise ConfigError(f"cannot find module {name!r} of job {path!r}", hint="is it on PYTHONPATH / installed?")
    return Path(spec.origin) if spec.origin not in (None, "built-in", "frozen") else None


def job_sources(path: str) -> Path | None:
    """The code a driver on another host needs for a user's job: the top-level package (or module
    file) that holds it, as spark-submit's --py-files ships it. None for the harness's own jobs."""
    found = _user_module_spec(path, top_level=True)
    if found is None:
        return None
    top, spec = found
    if spec is None or spec.origin in (None, "built-in"):
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
        raise ConfigError(f"cannot find module {top!r} of job {path!r} to ship to the Spark head node", hint="is it on PYTHONPATH / installed?")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin
