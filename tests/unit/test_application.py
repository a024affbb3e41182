"""A submitted application's command line, placeholders and read-back, without running Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.jobs.application import SubmittedApplication
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
    assert confs["spark.sql.shuffle.partitions"] == "2", "one shuffle task per slot of local[2]"
    own = application(tmp_path, conf={"spark.sql.shuffle.partitions": "200"}).argv()
    assert "spark.sql.shuffle.partitions=200" in own and "spark.sql.shuffle.partitions=2" not in own, "the application's own setting wins"


@pytest.mark.parametrize(("master", "partitions"), [("local[2]", 2), ("local[3,2]", 3), ("local", 1), ("spark://10.0.0.5:7077", 4)])
def test_shuffle_partitions_follow_a_local_masters_task_slots(master: str, partitions: int) -> None:
    from harness.spark.session import shuffle_partitions

    assert shuffle_partitions(master) == partitions


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


def test_a_scenario_takes_a_teams_job_in_place_of_its_own_and_gets_its_output_topic(tmp_path: Path) -> None:
    from harness.errors import ConfigError
    from harness.scenarios.spec import load_scenario

    base = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "stock-ticker.yaml")
    mine = base.with_job({"application": {"file": APP, "args": ["{output_topic}"]}, "output": {"kafka_topic": "mine"}})
    assert mine.job.application is not None and mine.job.application.file == APP and mine.job.window == base.job.window
    assert [t.name for t in mine.topics] == ["stockVals", "mine"] and mine.source_topic.name == "stockVals"
    assert base.with_job({"watermark": "10s"}).job.watermark == 10_000 and base.with_job({"watermark": "10s"}).job.name == base.job.name
    with pytest.raises(ConfigError, match="invalid job override") as error:
        base.with_job({"application": {"file": APP}})
    assert "output" in str(error.value.detail)
