"""A scenario's `job:` as validated data, beside the contract the job meets (`harness.jobs.contract`).

Pure data: the streaming job's name, windowing, output mode, sink, trigger and options, checked
before anything starts. Both ways of running a job (in the harness's session, in a driver process)
take one of these.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.jobs.contract import JobOptions
from harness.scenarios.durations import parse_duration_ms

_MODULE_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class ApplicationSpec(BaseModel):
    """A team's own application, run as they pass it to `spark-submit`. Placeholders in `args` and
    `conf` get the twin's values: {bootstrap}, {topic}, {output_topic}, {checkpoint}, {spark_master}, {storage}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="the application: a .py file (a .jar needs `main_class`)")
    main_class: str | None = Field(default=None, description="a jar's main class (spark-submit --class)")
    args: tuple[str, ...] = Field(default=(), description="the application's arguments, with placeholders")
    conf: dict[str, str] = Field(default={}, description="spark-submit --conf KEY=VALUE, with placeholders")
    py_files: tuple[str, ...] = Field(default=(), description="spark-submit --py-files")

    @model_validator(mode="after")
    def _kind(self) -> ApplicationSpec:
        if not self.file.endswith((".py", ".jar")):
            raise ValueError(f"{self.file!r} is neither a .py file nor a .jar; spark-submit runs one of those")
        if self.file.endswith(".jar") and not self.main_class:
            raise ValueError("a .jar application needs `main_class` (what you pass to spark-submit --class)")
        return self


class NotebookSpec(BaseModel):
    """A Jupyter notebook run cell by cell, unchanged, with the kernel it declares (Scala: HDInsight's
    `sparkkernel`, through Spark's Scala shell; PySpark: `pysparkkernel` or a Python kernel). Each
    parameter is assigned in a cell injected after the cell tagged `parameters`, as papermill does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="the notebook, a .ipynb file")
    parameters: dict[str, str | int | float | bool] = Field(default={}, description="values for the notebook's parameters cell, with placeholders")
    conf: dict[str, str] = Field(default={}, description="Spark conf for the notebook's session, with placeholders (as %%configure gives it)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"file": value} if isinstance(value, str) else value  # `notebook: path.ipynb`

    @model_validator(mode="after")
    def _kind(self) -> NotebookSpec:
        if not self.file.endswith(".ipynb"):
            raise ValueError(f"{self.file!r} is not a Jupyter notebook (.ipynb)")
        return self


FileFormat = Literal["parquet", "json", "csv"]


class OutputSpec(BaseModel):
    """Where the job writes its results, for the harness to read them back (the job's own sink): one of
    a Kafka topic (one JSON object per value), files (Spark's file sink: its `_spark_metadata` log says
    which batch wrote which file), a memory table (`format("memory").queryName(...)`), or the console."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kafka_topic: str | None = Field(default=None, description="the Kafka topic the job writes its rows to, one JSON object per value")
    path: str | None = Field(default=None, description="the file sink's path, with placeholders (e.g. '{storage}/stock-windows')")
    format: FileFormat = Field(default="parquet", description="the file sink's format")
    value_format: Literal["json", "csv"] = Field(default="json", description="a Kafka topic's values: JSON objects, or CSV lines in `columns` order")
    columns: tuple[str, ...] = Field(default=(), description="the declared columns of CSV values, or of CSV files written without a header")
    memory_table: str | None = Field(default=None, description="the query name of a memory sink")
    console: bool = Field(default=False, description="the console sink: rows as its printed batches show them")

    @model_validator(mode="after")
    def _one_sink(self) -> OutputSpec:
        named = [k for k in ("kafka_topic", "path", "memory_table") if getattr(self, k)] + (["console"] if self.console else [])
        if len(named) != 1:
            raise ValueError(f"name exactly one sink to read back, not {len(named)} ({', '.join(named) or 'none'}): "
                             "kafka_topic, path (with format), memory_table or console: true")
        if self.value_format == "csv" and not (self.kafka_topic and self.columns):
            raise ValueError("value_format: csv reads a Kafka topic's values by declared columns: give `kafka_topic` and `columns`")
        if self.columns and not (self.value_format == "csv" or (self.path and self.format == "csv")):
            raise ValueError("`columns` declares CSV columns: use it with value_format: csv or format: csv")
        return self

    @property
    def kind(self) -> Literal["kafka", "files", "memory", "console"]:
        return "kafka" if self.kafka_topic else "files" if self.path else "memory" if self.memory_table else "console"

    def describe(self) -> str:
        return {"kafka": f"Kafka topic {self.kafka_topic}", "files": f"{self.format} files at {self.path}",
                "memory": f"memory table {self.memory_table}", "console": "the console"}[self.kind]


_HARNESS_SOURCE_OPTIONS = frozenset({"kafka.bootstrap.servers", "subscribe", "subscribePattern", "assign", "startingOffsets", "failOnDataLoss"})
_OWN_FIELDS = {"maxOffsetsPerTrigger": "max_offsets_per_trigger", "minPartitions": "min_partitions"}
_HARNESS_SOURCE_PREFIXES = ("kafka.security.", "kafka.ssl.", "kafka.sasl.")


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    application: ApplicationSpec | None = Field(default=None, description="run a team's own application with spark-submit instead of `name`")
    notebook: NotebookSpec | None = Field(default=None, description="run a team's own Jupyter notebook instead of `name`")
    output: OutputSpec | None = Field(default=None, description="the application's or notebook's own sink, read back for verification")
    name: str = Field(default="stock-windows", description="built-in job name, or a module path 'pkg.module:function'")
    window: int = Field(default=4_000, description="event-time window length (the notebook: 4 seconds)")
    slide: int | None = Field(default=None, description="slide for sliding windows; none = tumbling")
    watermark: int | None = Field(default=30_000, description="watermark delay; none = no watermark (update/complete only)")
    output_mode: Literal["append", "update", "complete"] = "append"
    sink: Literal["memory", "parquet", "console"] = "memory"
    trigger: int = Field(default=500, description="processing-time trigger interval")
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    min_partitions: int | None = Field(default=None, ge=1, description="connector minPartitions (split Kafka partitions into more tasks)")
    source_options: dict[str, str] = Field(default={}, description="more options for the job's Kafka source (a `name` job's), e.g. "
                                           "{'kafka.fetch.max.wait.ms': '20'}; the twin's address, topic and security are the harness's")
    dead_letter_topic: str | None = Field(default=None, description="send malformed records here as well as counting them")
    oracle: str | None = Field(default=None, description="module path 'pkg.module:function' of your own oracle")
    options: dict[str, str | int | float | bool] = Field(default={}, description="passed to your own job unchanged")

    @field_validator("window", "slide", "watermark", "trigger", mode="before")
    @classmethod
    def _durations(cls, value: object) -> int | None:
        return None if value is None else parse_duration_ms(value)  # type: ignore[arg-type]

    @field_validator("name", "oracle")
    @classmethod
    def _callable(cls, value: str | None) -> str | None:
        if value is None or ":" not in value:
            return value
        if not _MODULE_PATH.match(value):
            raise ValueError(f"{value!r} is not a module path; write 'package.module:function'")
        return value

    @field_validator("source_options", mode="before")
    @classmethod
    def _source_options(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        taken = [k for k in value if str(k) in _HARNESS_SOURCE_OPTIONS or str(k).startswith(_HARNESS_SOURCE_PREFIXES)]
        for option, field_name in _OWN_FIELDS.items():
            if option in value:
                raise ValueError(f"{option}: write it as the job's `{field_name}`")
        if taken:
            raise ValueError(f"{', '.join(map(str, taken))}: the harness sets the source's address, topic, start and security from the twin; "
                             "leave them out (a secured twin: `security:` in the scenario or the profile)")
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _semantics(self) -> JobSpec:
        if self.window <= 0:
            raise ValueError("window must be positive, e.g. '4s'")
        if self.slide is not None and not 0 < self.slide <= self.window:
            raise ValueError(f"slide ({self.slide} ms) must be positive and at most the window ({self.window} ms)")
        if self.output_mode == "append" and self.watermark is None:
            raise ValueError("append mode needs a watermark for a windowed aggregation (Spark refuses it); set `watermark` or use update/complete")
        if self.sink == "parquet" and self.output_mode != "append":
            raise ValueError("the parquet sink takes append mode only (as Spark's file sink); use memory for update/complete")
        own = [k for k in ("application", "notebook") if getattr(self, k) is not None]
        if len(own) > 1:
            raise ValueError("a job is an application or a notebook, not both")
        if own and self.source_options:
            raise ValueError(f"`source_options` are for a `name` job's source; an {own[0]} sets its own source's options")
        if own and self.output is None:
            raise ValueError(f"an {own[0]} writes to its own sink: name it in `output` (e.g. `output: {{kafka_topic: stockWindows}}`) "
                             "so the harness can read the results back")
        if self.output is not None and not own:
            raise ValueError("`output` names an application's or notebook's own sink; a `name` job's sink is the harness's (`sink`)")
        if self.output is not None and self.output.kind == "kafka" and self.output_mode == "complete":
            raise ValueError("complete mode rewrites the whole table into a Kafka topic every batch, which cannot be read back as one table; "
                             "use append or update, or a memory or console sink")
        if self.output is not None and self.output.kind == "files" and self.output_mode != "append":
            raise ValueError("Spark's file sink takes append mode only; use append, or a memory or console sink")
        return self


def job_options(spec: JobSpec) -> JobOptions:
    """What the job callable (and a user's oracle) is told about the scenario's job."""
    return JobOptions(window_ms=spec.window, slide_ms=spec.slide, watermark_ms=spec.watermark, output_mode=spec.output_mode, options=dict(spec.options))
