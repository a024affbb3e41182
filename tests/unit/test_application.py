"""A submitted application's command line, placeholders and read-back, without running Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.jobs.application import SubmittedApplication, _row
from harness.jobs.spec import JobSpec
from tests.conftest import REPO

APP = "examples/apps/stock_windows_app.py"


def application(tmp_path: Path, **app: object) -> SubmittedApplication:
    spec = JobSpec.model_validate({"application": {"file": APP, "args": ["--bootstrap", "{bootstrap}", "--checkpoint", "{checkpoint}"], **app},
                                   "output": {"kafka_topic": "out"}})
    return SubmittedApplication("127.0.0.1:9092", "stockVals", spec, tmp_path, master="local[2]", cores=2, memory_mb=768)


def test_the_command_line_is_spark_submit_with_the_twins_values_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    argv = application(tmp_path, conf={"spark.app.topic": "{topic}"}).argv()
    assert Path(argv[0]).name == "spark-submit" and argv[1:3] == ["--master", "local[2]"]
    assert argv[-4:] == ["--bootstrap", "127.0.0.1:9092", "--checkpoint", str(tmp_path / "checkpoints" / "job")]
    assert argv[-5] == str((REPO / APP).resolve())
    confs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")
    assert confs["spark.app.topic"] == "stockVals"
    assert confs["spark.driver.memory"] == "768m" and confs["spark.eventLog.enabled"] == "true"
    assert confs["spark.harness.kafka.bootstrap"] == "127.0.0.1:9092"


def test_an_unknown_placeholder_names_the_field_and_the_known_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(ConfigError) as error:
        application(tmp_path, args=["--out", "{ouput_topic}"]).argv()
    assert "job.application.args[1]" in str(error.value) and "{output_topic}" in str(error.value)


def test_a_missing_application_file_is_refused_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="job.application.file: nowhere.py does not exist"):
        application(tmp_path, file="nowhere.py").argv()


def test_the_spec_refuses_an_application_without_its_sink_and_a_jar_without_its_class() -> None:
    with pytest.raises(ValidationError, match="output"):
        JobSpec.model_validate({"application": {"file": APP}})
    with pytest.raises(ValidationError, match="main_class"):
        JobSpec.model_validate({"application": {"file": "app.jar"}, "output": {"kafka_topic": "out"}})
    with pytest.raises(ValidationError, match="complete mode"):
        JobSpec.model_validate({"application": {"file": APP}, "output": {"kafka_topic": "out"}, "output_mode": "complete"})


def test_a_json_row_with_a_window_struct_becomes_the_oracles_columns() -> None:
    value = b'{"symbol":"MSFT","window":{"start":"2023-11-14T22:13:20.000Z","end":"2023-11-14T22:13:24.000Z"},"high":2.5,"low":1.0,"count":2,"prices":[1.0,2.5]}'
    row = _row(value)
    assert row["window_start_ms"] == 1_700_000_000_000 and row["window_end_ms"] == 1_700_000_004_000
    assert "window" not in row and row["prices"] == [1.0, 2.5]


def test_an_exact_rewrite_is_counted_and_compared_once_but_a_changed_row_is_kept() -> None:
    from harness.jobs.application import sink_rows

    a = b'{"symbol":"A","window_start_ms":0,"window_end_ms":4000,"high":2.0,"low":1.0,"count":2,"prices":[1.0,2.0]}'
    changed = a.replace(b'"high":2.0', b'"high":3.0')
    outputs, emitted, rewritten = sink_rows([(a, 10), (a, 20), (changed, 30)], append=True)
    assert rewritten == 1
    assert [rows[0]["high"] for rows in outputs.values()] == [2.0, 3.0] and list(emitted.values()) == [10, 30]
    outputs, _, rewritten = sink_rows([(a, 10), (a, 20)], append=False)  # update mode: a repeat of the newest row changes nothing
    assert rewritten == 0 and len(outputs) == 2
