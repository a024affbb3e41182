"""Reading back a job's own sink: rows as the oracle compares them, at-least-once rewrites counted, and
only the files Spark's file-sink log committed (the sink's exactly-once), without running Spark."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest

from harness.errors import HarnessError
from harness.jobs.sink_rows import normal_row
from harness.jobs.sinks import file_rows, sink_rows

START = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


def test_a_json_row_with_a_window_struct_becomes_the_oracles_columns() -> None:
    value = b'{"symbol":"MSFT","window":{"start":"2023-11-14T22:13:20.000Z","end":"2023-11-14T22:13:24.000Z"},"high":2.5,"low":1.0,"count":2,"prices":[1.0,2.5]}'
    row = normal_row(json.loads(value))
    assert row["window_start_ms"] == 1_700_000_000_000 and row["window_end_ms"] == 1_700_000_004_000
    assert "window" not in row and row["prices"] == [1.0, 2.5]


def test_an_exact_rewrite_is_counted_and_compared_once_but_a_changed_row_is_kept() -> None:
    a = b'{"symbol":"A","window_start_ms":0,"window_end_ms":4000,"high":2.0,"low":1.0,"count":2,"prices":[1.0,2.0]}'
    changed = a.replace(b'"high":2.0', b'"high":3.0')
    rows = sink_rows([(a, 10), (a, 20), (changed, 30)], append=True)
    assert rows.rewritten == 1
    assert [r[0]["high"] for r in rows.outputs.values()] == [2.0, 3.0] and rows.emitted_ms is not None and list(rows.emitted_ms.values()) == [10, 30]
    rows = sink_rows([(a, 10), (a, 20)], append=False)  # update mode: a repeat of the newest row changes nothing
    assert rows.rewritten == 0 and len(rows.outputs) == 2


def _parquet(path: Path, symbol: str, start: datetime) -> None:
    window = pyarrow.array([{"start": start, "end": start.replace(second=start.second + 4)}],
                           type=pyarrow.struct([("start", pyarrow.timestamp("us", tz="UTC")), ("end", pyarrow.timestamp("us", tz="UTC"))]))
    pyarrow.parquet.write_table(pyarrow.table({"symbol": [symbol], "window": window, "high": [2.0]}), path)


def _log(sink: Path, batch: str, *files: Path, modified: int = 1000) -> None:
    lines = ["v1", *(json.dumps({"path": f.resolve().as_uri(), "size": 1, "isDir": False, "modificationTime": modified, "action": "add"}) for f in files)]
    (sink / "_spark_metadata" / batch).write_text("\n".join(lines))


def test_only_files_the_sinks_log_committed_are_read_each_under_its_batch(tmp_path: Path) -> None:
    sink = tmp_path / "out"
    (sink / "_spark_metadata").mkdir(parents=True)
    first, second, orphan = sink / "part-00000-a.snappy.parquet", sink / "part-00000-b.snappy.parquet", sink / "part-00000-c.snappy.parquet"
    _parquet(first, "MSFT", START)
    _parquet(second, "BA", START)
    _parquet(orphan, "BA", START)  # a re-run batch's first attempt: written, never committed
    _log(sink, "0", first, modified=1000)
    _log(sink, "1", second, modified=2000)
    rows = file_rows(sink, "parquet")
    assert {b: [r["symbol"] for r in rs] for b, rs in rows.outputs.items()} == {0: ["MSFT"], 1: ["BA"]}
    assert rows.outputs[0][0]["window_start_ms"] == 1_700_000_000_000 and rows.outputs[0][0]["window_end_ms"] == 1_700_000_004_000
    assert rows.emitted_ms == {0: 1000, 1: 2000}
    assert "1 more files no batch committed" in rows.notes[0]


def test_a_compacted_log_keeps_each_files_first_batch_and_json_files_read_too(tmp_path: Path) -> None:
    sink = tmp_path / "out"
    (sink / "_spark_metadata").mkdir(parents=True)
    first, second = sink / "part-00000-a.json", sink / "part-00000-b.json"
    first.write_text('{"symbol":"MSFT","window":{"start":"2023-11-14T22:13:20.000Z","end":"2023-11-14T22:13:24.000Z"}}\n')
    second.write_text('{"symbol":"BA","window":{"start":"2023-11-14T22:13:20.000Z","end":"2023-11-14T22:13:24.000Z"}}\n')
    _log(sink, "8", first)
    _log(sink, "9.compact", first, second)
    rows = file_rows(sink, "json")
    assert {b: [r["symbol"] for r in rs] for b, rs in rows.outputs.items()} == {8: ["MSFT"], 9: ["BA"]}


def test_a_file_sink_that_never_committed_says_so(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no _spark_metadata log"):
        file_rows(tmp_path, "parquet")


def test_a_sampled_sink_is_compared_on_the_rows_it_showed_and_a_wrong_shown_row_still_fails() -> None:
    from harness.records import AckedRecord, RecordedBatch
    from harness.verify.check import verify_windows
    from harness.verify.oracle import JobSemantics

    t0 = 1_700_000_000_000
    values = [json.dumps({"symbol": s, "time": t0 + 1000, "price": p, "size": 1}) for s, p in (("MSFT", 1.0), ("BA", 2.0), ("F", 3.0))]
    stored = [AckedRecord("stockVals", 0, i, None, None, v) for i, v in enumerate(values)]
    batches = [RecordedBatch(batch_id=0, start_offsets={0: 0}, end_offsets={0: 3}, input_rows=3, started_ms=0, duration_ms=1,
                             watermark_ms=None, dropped_by_watermark=0)]
    semantics = JobSemantics(4_000, None, None, "complete")

    def shown(symbol: str, price: float) -> dict[str, object]:
        return {"symbol": symbol, "window_start_ms": t0, "window_end_ms": t0 + 4000, "high": price, "low": price, "count": 1, "prices": [price]}

    two_of_three = {0: [shown("MSFT", 1.0), shown("BA", 2.0)]}
    rows = next(c for c in verify_windows(stored, batches, two_of_three, semantics, None, sampled=True).checks if c.name == "sink rows equal the oracle's")
    assert rows.ok and "showed 2 of the 3 rows" in rows.detail
    assert not next(c for c in verify_windows(stored, batches, two_of_three, semantics, None).checks if c.name == "sink rows equal the oracle's").ok
    wrong = {0: [shown("MSFT", 1.0), shown("BA", 9.0)]}
    assert not next(c for c in verify_windows(stored, batches, wrong, semantics, None, sampled=True).checks if c.name == "sink rows equal the oracle's").ok


def test_rows_the_built_in_oracle_cannot_read_are_checked_for_what_is_checkable_and_the_rest_is_named() -> None:
    from harness.jobs.spec import JobSpec
    from harness.records import AckedRecord, RecordedBatch
    from harness.verify.check import RunHistory, judge
    from harness.verify.expectations import Expectations

    t0 = 1_700_000_000_000
    stored = [AckedRecord("stockVals", 0, i, None, None, json.dumps({"symbol": "MSFT", "time": t0 + i, "price": 1.0, "size": 1})) for i in range(3)]
    consumed = [RecordedBatch(batch_id=0, start_offsets={0: 0}, end_offsets={0: 3}, input_rows=3, started_ms=0, duration_ms=1,
                              watermark_ms=0, dropped_by_watermark=0)]
    job = JobSpec.model_validate({"application": {"file": "app.py"}, "output": {"kafka_topic": "alerts"}})

    def history(outputs: dict[int, list[dict[str, object]]], batches: list[RecordedBatch]) -> RunHistory:
        return RunHistory(job=job, expect=Expectations(), replays=[], acked=stored, stored=stored, batches=batches, outputs=outputs,
                          malformed_reported=None)

    verdict = judge(history({0: [{"symbol": "MSFT", "alert": "price above 0"}]}, consumed))
    names = {c.name: c.ok for c in verdict.checks}
    assert names["every acknowledged record was consumed"] and names["the job wrote output to its sink"]
    assert "sink rows equal the oracle's" not in names
    assert "window_start_ms" in verdict.verification.not_checked[0] and "job.oracle" in verdict.verification.not_checked[0]
    silent = judge(history({0: []}, consumed)).verification  # no rows at all: nothing says they are not the oracle's, so it compares
    assert not silent.not_checked and any(c.name == "sink rows equal the oracle's" for c in silent.checks)
    unread = judge(history({0: [{"alert": "x"}]}, []))
    assert not next(c for c in unread.checks if c.name == "every acknowledged record was consumed").ok


def test_csv_values_and_headerless_csv_files_are_read_by_their_declared_columns(tmp_path: Path) -> None:
    from harness.jobs.spec import OutputSpec
    from pydantic import ValidationError

    columns = ("symbol", "window_start", "window_end", "high", "low", "count")
    value = b"MSFT,2023-11-14T22:13:20.000Z,2023-11-14T22:13:24.000Z,2.5,1.0,2"
    row = sink_rows([(value, 10)], append=True, columns=columns).outputs[0][0]
    assert row == {"symbol": "MSFT", "window_start_ms": 1_700_000_000_000, "window_end_ms": 1_700_000_004_000, "high": 2.5, "low": 1.0, "count": 2}
    with pytest.raises(HarnessError, match="5 values but 6 columns"):
        sink_rows([(b"MSFT,1,2,3,4", 10)], append=True, columns=columns)
    sink = tmp_path / "out"
    (sink / "_spark_metadata").mkdir(parents=True)
    part = sink / "part-00000-a.csv"
    part.write_text(value.decode() + "\n")
    _log(sink, "0", part)
    assert file_rows(sink, "csv", columns=columns).outputs[0][0]["high"] == 2.5
    part.write_text(",".join(columns) + "\n" + value.decode() + "\n")  # with the job's `header` option: the header names them
    assert file_rows(sink, "csv").outputs[0][0]["count"] == 2
    with pytest.raises(ValidationError, match="columns"):
        OutputSpec(kafka_topic="t", value_format="csv")
    with pytest.raises(ValidationError, match="CSV columns"):
        OutputSpec(kafka_topic="t", columns=("a",))
