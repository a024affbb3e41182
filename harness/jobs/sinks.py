"""Read back what a team's job wrote to its own sink, as rows the oracle can compare.

One reader per kind of sink the job may name (`job.output`): a Kafka topic, Spark's file sink
(Parquet, JSON, CSV), and, for notebooks and applications that use them, a memory table or the
console. Each gives the rows in sink order, when each reached the sink where the sink records it, and
notes for the report: what the sink guarantees and what could not be read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from harness.errors import HarnessError
from harness.jobs.console_sink import console_rows
from harness.jobs.sink_rows import SinkReader, SinkRows, normal_row
from harness.jobs.spec import OutputSpec
from harness.kafka import admin
from harness.kafka.readback import read_topic


def reader_for(output: OutputSpec, *, bootstrap: str, fill: Callable[[str], str], append: bool, log: Path) -> SinkReader:
    """The reader of the sink `output` names; `fill` puts the twin's values into a path's placeholders,
    `log` is the job's own output (where a console sink prints)."""
    if output.kind == "kafka":
        assert output.kafka_topic is not None
        topic, columns = output.kafka_topic, output.columns if output.value_format == "csv" else ()
        return lambda: kafka_rows(bootstrap, topic, append=append, columns=columns)
    if output.kind == "files":
        assert output.path is not None
        path, fmt, columns = Path(fill(output.path)), output.format, output.columns
        return lambda: file_rows(path, fmt, columns=columns)
    if output.kind == "console":
        return lambda: console_rows(log)
    raise HarnessError(f"the harness cannot read back {output.describe()} of a submitted application yet",
                       hint="write the results to a Kafka topic or to files (`output: {kafka_topic: ...}` or `output: {path: ..., format: parquet}`); "
                            "a notebook's memory table is read back by the notebook's own handle")


# ----- Kafka -----------------------------------------------------------------------------------------


def kafka_rows(bootstrap: str, topic: str, *, append: bool, columns: tuple[str, ...] = ()) -> SinkRows:
    """The rows the job wrote to its Kafka topic, in the order the brokers stored them (each its own
    entry, so update mode keeps the newest row of a key); when each reached the topic (its record
    timestamp: where event-to-result latency ends); and how many rows were written again."""
    try:
        partitions = len(admin.describe(bootstrap, topic).partitions)
    except Exception as exc:  # noqa: BLE001 - any client error means the topic cannot be read back
        raise HarnessError(f"cannot read back the job's output topic {topic}: {exc}",
                           hint="list the output topic under `topics` in the scenario, so the harness creates it fresh") from None
    messages = sorted(read_topic(bootstrap, topic, partitions), key=lambda m: (m.timestamp_ms, m.partition, m.offset))
    rows = sink_rows([(m.value, m.timestamp_ms) for m in messages if m.value is not None], append=append, columns=columns)
    rows.notes.append(f"the job's Kafka topic {topic}: {rows.rewritten} rows written again by a re-run batch "
                      "(the Kafka sink is at-least-once), each compared once")
    return rows


def sink_rows(values: list[tuple[bytes, int]], *, append: bool, columns: tuple[str, ...] = ()) -> SinkRows:
    """Rows from an at-least-once sink. A batch Spark runs again after its driver was killed between the
    sink's write and the batch's commit writes its rows again; in append mode each row is final once
    written, so an exact copy of an earlier row is such a rewrite: it is counted, and compared once. A
    row for the same key with other values is kept, for the comparison to find. (In update mode a
    rewrite repeats the newest row of its key, which changes nothing.)"""
    result = SinkRows(emitted_ms={}, rewritten=0)
    assert result.emitted_ms is not None and result.rewritten is not None
    seen: set[bytes] = set()
    for value, timestamp_ms in values:
        if append and value in seen:
            result.rewritten += 1
            continue
        seen.add(value)
        entry = len(result.outputs)
        parsed = csv_row(value.decode(), columns) if columns else json.loads(value)
        result.outputs[entry], result.emitted_ms[entry] = [normal_row(parsed)], timestamp_ms
    return result


# ----- files -----------------------------------------------------------------------------------------

METADATA_DIR = "_spark_metadata"


def file_rows(path: Path, fmt: str, *, columns: tuple[str, ...] = ()) -> SinkRows:
    """The rows of Spark's file sink, by the batch that wrote them. The sink's own log
    (`_spark_metadata/N`, one JSON line per file batch N added) is what makes it exactly-once: a batch
    re-run after its driver was killed writes new files, and only the files the log lists hold results.
    So only those are read, as Spark's own readers do, and the others are counted in a note. A
    compacted log (`N.compact`) lists earlier batches' files together: those keep the batch of the
    first log entry that named them."""
    log_dir = path / METADATA_DIR
    if not log_dir.is_dir():
        raise HarnessError(f"the job's file sink at {path} has no {METADATA_DIR} log: it never committed a batch",
                           hint="check the job's output path and its application log")
    listed = _logged_files(log_dir)
    result = SinkRows(emitted_ms={})
    assert result.emitted_ms is not None
    for file, (batch_id, modified_ms) in sorted(listed.items(), key=lambda item: item[1]):
        rows = [normal_row(r) for r in _read_file(file, fmt, columns)]
        result.outputs.setdefault(batch_id, []).extend(rows)
        result.emitted_ms[batch_id] = max(result.emitted_ms.get(batch_id, 0), modified_ms)
    written = {p.resolve() for p in path.rglob("part-*") if p.is_file() and not p.name.endswith(".crc")}
    orphans = len(written - set(listed))
    result.notes.append(f"the job's {fmt} files at {path}: {len(listed)} files in {len(result.outputs)} batches by the sink's log"
                        + (f"; {orphans} more files no batch committed (a batch re-run after a kill) are not results and were not read"
                           if orphans else ""))
    return result


def _logged_files(log_dir: Path) -> dict[Path, tuple[int, int]]:
    """Each file the sink's log adds, with the batch that added it and its modification time."""
    entries = sorted((p for p in log_dir.iterdir() if p.name.split(".")[0].isdigit()), key=lambda p: int(p.name.split(".")[0]))
    found: dict[Path, tuple[int, int]] = {}
    for entry in entries:
        batch_id = int(entry.name.split(".")[0])
        for line in entry.read_text().splitlines()[1:]:  # the first line is the log's version
            if not line.strip():
                continue
            record = json.loads(line)
            file = Path(unquote(urlparse(record["path"]).path)).resolve()
            if record.get("action", "add") == "add":
                found.setdefault(file, (batch_id, int(record.get("modificationTime", 0))))
            else:
                found.pop(file, None)
    return found


def _read_file(file: Path, fmt: str, columns: tuple[str, ...] = ()) -> Iterable[dict[str, Any]]:
    """One committed file's rows. CSV files are read with the declared columns (Spark writes no header
    unless the job sets `header`), or by their own header line when none are declared."""
    if fmt == "json":
        return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    if fmt == "csv":
        lines = [line for line in file.read_text().splitlines() if line.strip()]
        if not columns and lines:
            columns, lines = tuple(next(csv.reader([lines[0]]))), lines[1:]
        return [csv_row(line, columns) for line in lines]
    import pyarrow.parquet

    return pyarrow.parquet.read_table(file).to_pylist()


def csv_row(line: str, columns: tuple[str, ...]) -> dict[str, Any]:
    """One CSV line as a row of the declared columns, numbers typed back (CSV carries no types)."""
    values = next(csv.reader([line]), [])
    if len(values) != len(columns):
        raise HarnessError(f"a CSV row has {len(values)} values but {len(columns)} columns are declared: {line[:200]!r}",
                           hint="declare the job's output columns in order in `output.columns`")
    return {name: _typed(value) for name, value in zip(columns, values)}


def _typed(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
