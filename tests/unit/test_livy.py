"""The Livy batch server's pure parts: a request body as spark-submit's command line, the batch states,
the log's pages, and the HTTP answers to bad requests (a real server on loopback; no Spark is started)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.dist.artifacts import connector_jars
from harness.jobs.livy import BadRequest, Livy, LivyTwin, application_for, batch_state, handler_for, log_page
from tests.conftest import REPO

APP = str(REPO / "tests" / "user_jobs" / "count_app.py")


def twin(tmp_path: Path) -> LivyTwin:
    return LivyTwin(bind="127.0.0.1", port=0, bootstrap="wn0-kafka.x:9092,wn1-kafka.x:9092", master="spark://hn0-spark.x:7077",
                    conf={"spark.driver.host": "10.0.0.7", "spark.executor.cores": "1"}, memory_mb=1024, state_dir=tmp_path,
                    release="current")


def confs(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")


def test_a_body_becomes_spark_submit_with_livys_fields_as_the_properties_livy_sets(tmp_path: Path) -> None:
    body = {"file": APP, "args": ["{bootstrap}", "stockVals"], "name": "count", "driverMemory": "700m", "executorMemory": "512m",
            "executorCores": 1, "numExecutors": 2, "jars": ["/opt/extra.jar"], "files": ["/opt/a.txt", "/opt/b.txt"],
            "pyFiles": ["/opt/lib.zip"], "conf": {"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": 3, "spark.x.flag": True}}
    argv = twin(tmp_path).submission(application_for(body), 4).argv()
    conf = confs(argv)
    assert Path(argv[0]).name == "spark-submit" and argv[argv.index("--master") + 1] == "spark://hn0-spark.x:7077"
    assert argv[argv.index("--name") + 1] == "count" and argv[argv.index("--py-files") + 1] == "/opt/lib.zip"
    assert argv[-3:] == [APP, "wn0-kafka.x:9092,wn1-kafka.x:9092", "stockVals"]  # placeholders filled as in a scenario
    assert conf["spark.driver.memory"] == "700m"  # the field wins over the same key in conf, as in Livy
    assert conf["spark.executor.memory"] == "512m" and conf["spark.executor.cores"] == "1" and conf["spark.executor.instances"] == "2"
    assert conf["spark.files"] == "/opt/a.txt,/opt/b.txt" and conf["spark.sql.shuffle.partitions"] == "3" and conf["spark.x.flag"] == "true"
    assert conf["spark.jars"].split(",") == [*(str(p) for p in connector_jars()), "/opt/extra.jar"]  # beside the connector
    assert conf["spark.driver.host"] == "10.0.0.7" and conf["spark.harness.kafka.bootstrap"] == "wn0-kafka.x:9092,wn1-kafka.x:9092"
    assert conf["spark.eventLog.dir"] == (tmp_path / "batch-4" / "eventlog").as_uri()  # where the state and appId come from


def test_a_batch_runs_the_twins_release_not_the_harnesss(tmp_path: Path) -> None:
    from dataclasses import replace

    from harness.spark import spark_submit

    argv = replace(twin(tmp_path), release="hdinsight-5.1").submission(application_for({"file": APP}), 1).argv()
    assert argv[0] == str(spark_submit("hdinsight-5.1")) != str(spark_submit("current"))
    assert confs(argv)["spark.jars"].split(",") == [str(p) for p in connector_jars("hdinsight-5.1")]  # the _2.12 connector of 3.3.4


def test_a_jar_gets_its_class_and_file_uris_become_paths() -> None:
    app = application_for({"file": "local:/opt/app.jar", "className": "com.example.Main"})
    assert app.file == "/opt/app.jar" and app.main_class == "com.example.Main"
    assert application_for({"file": "file:///opt/job.py"}).file == "/opt/job.py"


@pytest.mark.parametrize(("body", "named"), [
    ({"file": APP, "fle": "x"}, "unknown field 'fle'"),
    ({"file": APP, "args": [1, 2]}, "args must be a list of strings"),
    ({"file": APP, "executorCores": "2"}, "executorCores must be an integer"),
    ({"file": APP, "conf": {"spark.a": [1]}}, "conf must be an object of Spark properties"),
    ({"args": []}, "file is required"),
    ({"file": "/opt/app.jar"}, "className is required"),
    ({"file": "/opt/app.R"}, "file: '/opt/app.R' is neither a .py file nor a .jar"),
    ({"file": "wasbs://jobs@account.blob.core.windows.net/app.py"}, "file: the twin has no wasbs:// storage"),
    (["file", APP], "must be a JSON object"),
])
def test_a_bad_body_is_refused_naming_the_field(body: object, named: str) -> None:
    with pytest.raises(BadRequest, match=named.replace("(", r"\(").replace(".", r"\.")):
        application_for(body)


def test_states_follow_what_is_observed() -> None:
    assert batch_state(exit_code=None, app_id=None, killed=False) == "starting"  # spark-submit runs, no application yet
    assert batch_state(exit_code=None, app_id="app-1", killed=False) == "running"
    assert batch_state(exit_code=0, app_id="app-1", killed=False) == "success"
    assert batch_state(exit_code=1, app_id=None, killed=False) == "dead"
    assert batch_state(exit_code=0, app_id="app-1", killed=True) == "killed"  # a kill's exit code is not a success


def test_log_pages_as_livy_pages_them() -> None:
    lines = [f"line {n}" for n in range(250)]
    assert log_page(lines, None, None) == (150, lines[150:])  # the last 100 by default
    assert log_page(lines, 10, 5) == (10, lines[10:15])
    assert log_page(lines, None, 3) == (247, lines[247:])
    assert log_page(lines, 0, -1) == (0, lines)
    assert log_page(lines[:4], None, None) == (0, lines[:4])


@pytest.fixture
def livy_url(tmp_path: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(Livy(twin(tmp_path))))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def call(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_failure_inside_the_server_is_answered_with_500_and_its_cause(livy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Livy, body: object) -> None:
        raise RuntimeError("no connector for this release")

    monkeypatch.setattr(Livy, "create", broken)
    status, answer = call(f"{livy_url}/batches", "POST", json.dumps({"file": APP}).encode())
    assert status == 500 and answer == {"msg": "RuntimeError: no connector for this release"}


def test_http_answers_bad_requests_with_400_and_unknown_batches_with_404(livy_url: str, tmp_path: Path) -> None:
    status, answer = call(f"{livy_url}/batches", "POST", json.dumps({"file": APP, "classname": "x"}).encode())
    assert status == 400 and "unknown field 'classname'" in str(answer["msg"])
    status, answer = call(f"{livy_url}/batches", "POST", b"{not json")
    assert status == 400 and "not JSON" in str(answer["msg"])
    status, answer = call(f"{livy_url}/batches", "POST", json.dumps({"file": str(tmp_path / "nowhere.py")}).encode())
    assert status == 400 and "nowhere.py does not exist" in str(answer["msg"])
    assert call(f"{livy_url}/batches/3") == (404, {"msg": "Session '3' not found."})
    assert call(f"{livy_url}/batches/3", "DELETE")[0] == 404
    assert call(f"{livy_url}/batches?from=x")[0] == 400
    assert call(f"{livy_url}/batches") == (200, {"from": 0, "total": 0, "sessions": []})  # nothing was started by the refusals
