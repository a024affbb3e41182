"""A submission on a node of the twin (the docker backend's Spark head node): the application shipped to the
shared work directory, and the node building the same spark-submit command line from what the host wrote."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from harness.backends.docker.deployment import literal_pattern
from harness.errors import ConfigError
from harness.jobs.application import Submission
from harness.jobs.spec import ApplicationSpec
from tests.conftest import REPO

APP = "examples/apps/stock_windows_app.py"
VNET_BOOTSTRAP = "wn0-kafka.x:9092,wn1-kafka.x:9092"


class RecordingNode:
    """Stands in for the docker exec launcher: a command line for `python <args>` on the node."""

    def argv(self, python_args: list[str]) -> list[str]:
        return ["docker", "exec", "-i", "hn0", "python3", *python_args]

    def kill(self, marker: str | None = None, sig: signal.Signals = signal.SIGKILL) -> None:
        raise AssertionError("building a command line never kills anything")


def submission(workdir: Path, node: RecordingNode | None, **app: object) -> Submission:
    spec = ApplicationSpec.model_validate({"file": APP, "args": ["--bootstrap", "{bootstrap}", "--checkpoint", "{checkpoint}"], **app})
    return Submission(spec, bootstrap=VNET_BOOTSTRAP, topic="stockVals", workdir=workdir, master="spark://hn0-spark.x:7077", memory_mb=768,
                      conf={"spark.driver.host": "10.0.0.7"}, node=node)


def test_the_host_ships_the_application_and_the_node_builds_the_same_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    (tmp_path / "lib.py").write_text("X = 1\n")
    host = submission(tmp_path / "work", RecordingNode(), py_files=[str(tmp_path / "lib.py")])
    argv = host.argv()
    assert argv == ["docker", "exec", "-i", "hn0", "python3", "-m", "harness.jobs.application", str(tmp_path / "work" / "submission.json")]
    assert host.env() == {} and (tmp_path / "work" / "eventlog").is_dir()  # the node sets its own environment
    shipped = tmp_path / "work" / "app"
    assert (shipped / "stock_windows_app.py").read_text() == (REPO / APP).read_text() and (shipped / "lib.py").exists()
    written = json.loads(host.config.read_text())
    assert written["bootstrap"] == VNET_BOOTSTRAP and written["application"]["file"] == str(shipped / "stock_windows_app.py")

    on_node = Submission.from_config(host.config)  # what `python -m harness.jobs.application` runs there
    assert on_node.node is None
    node_argv = on_node.argv()
    local = submission(tmp_path / "work", None, file=str(shipped / "stock_windows_app.py"), py_files=[str(shipped / "lib.py")]).argv()
    assert node_argv == local
    assert node_argv[-5:] == [str(shipped / "stock_windows_app.py"), "--bootstrap", VNET_BOOTSTRAP, "--checkpoint",
                              str(tmp_path / "work" / "checkpoints" / "job")]
    assert on_node.env()["HARNESS_BOOTSTRAP"] == VNET_BOOTSTRAP


def test_a_missing_py_file_is_refused_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(ConfigError, match=r"job\.application\.py_files\[0\]: nowhere\.zip does not exist"):
        submission(tmp_path, RecordingNode(), py_files=["nowhere.zip"]).argv()


def test_the_kill_pattern_matches_the_work_directory_only() -> None:
    workdir = "/root/.local/state/runs/a.b/scenarios/app-20261202-1"
    pattern = literal_pattern(workdir)
    assert re.search(pattern, f"java -cp x SparkSubmit --conf spark.eventLog.dir=file:{workdir}/eventlog")
    assert not re.search(pattern, workdir.replace(".", "X"))  # dots are literal


def test_a_scala_notebook_on_a_node_becomes_spark_shell_there_with_the_vnets_brokers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host runs the notebook's module on the node; the node rebuilds the same launch and makes it spark-shell."""
    from harness.jobs.notebook import NotebookLaunch
    from harness.jobs.spec import NotebookSpec

    monkeypatch.chdir(REPO)
    script = tmp_path / "notebook.scala"
    script.write_text("println(1)\n")
    spec = NotebookSpec(file="examples/notebooks/stock-ticker-scala.ipynb", conf={"spark.sql.shuffle.partitions": "4"})
    host = NotebookLaunch(spec, "scala", script=script, bootstrap=VNET_BOOTSTRAP, topic="stockVals", workdir=tmp_path, master="spark://hn0-spark.x:7077",
                          memory_mb=768, node=RecordingNode())
    argv = host.argv()
    assert argv[-3:] == ["-m", "harness.jobs.notebook", str(host.config)]  # the node's own Spark builds the command line
    node = NotebookLaunch.from_config(host.config)
    there = node.argv()
    assert Path(there[0]).name == "spark-shell" and there[-2] == "-i" and there[-1] == str((tmp_path / "app" / "notebook.scala").resolve())
    assert f"spark.harness.kafka.bootstrap={VNET_BOOTSTRAP}" in there and "spark.sql.shuffle.partitions=4" in there
