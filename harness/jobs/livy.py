"""The part of Apache Livy's REST API that CI pipelines use to submit batch jobs to HDInsight, on the
docker twin's Spark head node, so a team's submission script runs unchanged against the twin.

A pipeline uploads its artifact to the cluster's storage and posts a batch to port 8998 of the head
node: `POST /batches` with a JSON body (`file`, `className`, `args`, `conf`, `jars`, `pyFiles`, ...),
then polls `GET /batches/{id}` (or `/state`) and reads `/log`; `DELETE /batches/{id}` kills it.
This server answers those calls with Livy's shapes. Every batch is a `Submission`, the same
spark-submit command line `harness run` builds for an application (the connector jars, the twin's
brokers as the VNet names them, the standalone master, Spark's event log on), launched here with
`processes.launch`. Livy's fields become the Spark properties Livy itself sets for them
(`driverMemory` -> spark.driver.memory, `jars` -> spark.jars beside the connector, ...).

It runs inside the head node's container (`python3 -m harness.jobs.livy`, started by the node's entry
point beside the Spark master and gone with it), with the harness sources the node mounts and the
node's own Python, JDK and Spark; the docker plan passes the twin's values as LIVY_* variables.

A batch is `starting` while spark-submit runs and Spark has not started the application, `running`
once Spark's event log for it exists (the log's file name is the application id, Livy's `appId`),
then `success` or `dead` by spark-submit's exit code, or `killed` when deleted while it ran. Unlike
Livy, which forgets a deleted batch, the twin keeps it listed (as killed) so a run can be inspected.
Placeholders such as {bootstrap} in `args` and `conf` are filled as in a scenario (a literal brace is
written twice); `proxyUser` is recorded but not impersonated (the twin has no Kerberos).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from subprocess import Popen
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.jobs.application import Submission
from harness.jobs.spec import ApplicationSpec
from harness.runtime import processes

LOG_DEFAULT_SIZE = 100  # Livy's default page of /log
VIEW_LOG_LINES = 10  # the log lines Livy puts in a batch object
TEXT, NUMBER, TEXTS, PROPERTIES = "a string", "an integer", "a list of strings", "an object of Spark properties"
BATCH_FIELDS = {
    "file": TEXT, "proxyUser": TEXT, "className": TEXT, "args": TEXTS, "jars": TEXTS, "pyFiles": TEXTS, "files": TEXTS,
    "driverMemory": TEXT, "driverCores": NUMBER, "executorMemory": TEXT, "executorCores": NUMBER, "numExecutors": NUMBER,
    "archives": TEXTS, "queue": TEXT, "name": TEXT, "conf": PROPERTIES,
}
"""The fields of Livy's batch request, each with the JSON type it takes."""
AS_SPARK_PROPERTY = {
    "jars": "spark.jars", "files": "spark.files", "archives": "spark.archives", "driverMemory": "spark.driver.memory",
    "driverCores": "spark.driver.cores", "executorMemory": "spark.executor.memory", "executorCores": "spark.executor.cores",
    "numExecutors": "spark.executor.instances", "queue": "spark.yarn.queue", "name": "spark.app.name",
}
"""The fields Livy turns into Spark properties; a field overrides the same key in `conf`, as in Livy."""
FINAL_STATES = ("success", "dead", "killed")


class BadRequest(ValueError):
    """A request Livy answers with 400; the message names the field."""


# ----- pure parts: the request, the state, the log's pages ------------------------------------------


def application_for(body: object) -> ApplicationSpec:
    """A batch request as the application spark-submit runs; BadRequest names the first wrong field."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object of Livy's batch fields")
    unknown = [key for key in body if key not in BATCH_FIELDS]
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r} in the batch request; Livy's batch fields are {', '.join(BATCH_FIELDS)}")
    for key, value in body.items():
        _check_type(key, value)
    if "file" not in body:
        raise BadRequest("file is required: the application to run, a .py or .jar on the head node")
    file = local_path(body["file"])
    if file.endswith(".jar") and not body.get("className"):
        raise BadRequest("className is required with a .jar file (what spark-submit --class gets)")
    conf = {key: _property(value) for key, value in body.get("conf", {}).items()}
    for field, key in AS_SPARK_PROPERTY.items():
        if field in body:
            value = body[field]
            conf[key] = ",".join(value) if isinstance(value, list) else str(value)
    try:
        return ApplicationSpec(file=file, main_class=body.get("className"), args=tuple(body.get("args", ())), conf=conf,
                               py_files=tuple(body.get("pyFiles", ())))
    except ValidationError as exc:
        raise BadRequest("file: " + "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


def _check_type(key: str, value: object) -> None:
    kind = BATCH_FIELDS[key]
    ok = {TEXT: isinstance(value, str), NUMBER: isinstance(value, int) and not isinstance(value, bool),
          TEXTS: isinstance(value, list) and all(isinstance(v, str) for v in value),
          PROPERTIES: isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values())}[kind]
    if not ok:
        raise BadRequest(f"{key} must be {kind}, not {json.dumps(value)}")


def _property(value: str | int | float | bool) -> str:
    """A Spark property's value as spark-submit takes it (JSON true -> "true")."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def local_path(file: str) -> str:
    """The application's path on the head node: a plain path, `file:` or `local:`. The twin's storage is the
    run's shared directory, so a wasbs:// or abfss:// URI cannot be read here."""
    for prefix in ("file://", "file:", "local://", "local:"):
        if file.startswith(prefix):
            return file.removeprefix(prefix)
    scheme, _, rest = file.partition("://")
    if rest:
        raise BadRequest(f"file: the twin has no {scheme}:// storage; upload the application to the run's shared storage "
                         "(the run directory, mounted at the same path on the Spark nodes) and give its path")
    return file


def batch_state(*, exit_code: int | None, app_id: str | None, killed: bool) -> str:
    """Livy's batch state from what can be observed: whether it was killed, spark-submit's exit code, Spark's application id."""
    if killed:
        return "killed"
    if exit_code is not None:
        return "success" if exit_code == 0 else "dead"
    return "running" if app_id else "starting"


def log_page(lines: list[str], start: int | None, size: int | None) -> tuple[int, list[str]]:
    """Livy's paging of a log: `size` lines (default 100, negative: all) from line `start` (default: the last `size`)."""
    size = LOG_DEFAULT_SIZE if size is None else size
    if size < 0:
        size = len(lines)
    if start is None or start < 0:
        start = max(0, len(lines) - size)
    return start, lines[start:start + size]


@dataclass(frozen=True)
class LivyTwin:
    """What every batch is submitted against: the twin's values as the VNet sees them."""

    bind: str
    port: int
    bootstrap: str
    master: str
    conf: dict[str, str]
    memory_mb: int
    state_dir: Path
    release: str  # whose spark-submit, connector and pyspark every batch runs with: the twin's

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LivyTwin:
        missing = [name for name in ("LIVY_BIND", "LIVY_BOOTSTRAP", "LIVY_MASTER", "LIVY_STATE_DIR", "LIVY_RELEASE") if not env.get(name)]
        if missing:
            raise ValueError(f"{', '.join(missing)} not set: the docker plan sets them on the Spark head node")
        return cls(bind=env["LIVY_BIND"], port=int(env.get("LIVY_PORT", "8998")), bootstrap=env["LIVY_BOOTSTRAP"], master=env["LIVY_MASTER"],
                   conf=json.loads(env.get("LIVY_CONF", "{}")), memory_mb=int(env.get("LIVY_DRIVER_MEMORY_MB", "1024")),
                   state_dir=Path(env["LIVY_STATE_DIR"]), release=env["LIVY_RELEASE"])

    def submission(self, application: ApplicationSpec, batch_id: int) -> Submission:
        """The batch's spark-submit, with a work directory of its own (checkpoint, event log, {storage}, driver log)."""
        return Submission(application, bootstrap=self.bootstrap, topic="", workdir=self.state_dir / f"batch-{batch_id}", master=self.master,
                          memory_mb=self.memory_mb, conf=self.conf, release=self.release)


# ----- batches ----------------------------------------------------------------------------------------


class Batch:
    """One submitted batch: its spark-submit process, its driver log and what Spark says about it."""

    def __init__(self, batch_id: int, body: Mapping[str, Any], submission: Submission) -> None:
        self.id, self.submission = batch_id, submission
        self.name: str | None = body.get("name")
        self.proxy_user: str | None = body.get("proxyUser")
        self.log = submission.workdir / "driver.log"
        self.killed = False
        self.record: processes.ProcessRecord | None = None
        self._proc: Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        argv, env = self.submission.argv(), self.submission.env()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.proxy_user:
            self.log.write_text(f"proxyUser {self.proxy_user} is recorded, not impersonated: the twin has no Kerberos\n")
        with processes.interrupts_deferred():  # the record is what the stop after Ctrl-C finds
            self.record, self._proc = processes.launch(f"livy-batch-{self.id}", argv, log=self.log, env=env, cwd=self.submission.workdir)

    def app_id(self) -> str | None:
        """Spark's application id: the name of the event log Spark opens when the application starts."""
        events = self.submission.events
        names = sorted(p.name for p in events.iterdir()) if events.is_dir() else []
        return names[0].removesuffix(".inprogress") if names else None

    def state(self) -> str:
        with self._lock:
            exit_code = self._proc.poll() if self._proc is not None else None
            return batch_state(exit_code=exit_code, app_id=self.app_id(), killed=self.killed)

    def kill(self) -> None:
        """As Livy's DELETE: stop the application if it still runs (SIGTERM, then SIGKILL)."""
        with self._lock:
            if self.record is None or self._proc is None or self._proc.poll() is not None:
                return
            self.killed = True
            processes.terminate([self.record], grace=10)

    def log_lines(self) -> list[str]:
        try:
            return self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def view(self) -> dict[str, Any]:
        """Livy's batch object."""
        return {"id": self.id, "name": self.name, "owner": None, "proxyUser": self.proxy_user, "state": self.state(), "appId": self.app_id(),
                "appInfo": {"driverLogUrl": None, "sparkUiUrl": None}, "log": self.log_lines()[-VIEW_LOG_LINES:]}


class Livy:
    """The batches of this head node, numbered from 0 as Livy numbers them."""

    def __init__(self, twin: LivyTwin) -> None:
        self.twin = twin
        self.batches: dict[int, Batch] = {}
        self._lock = threading.Lock()

    def create(self, body: object) -> Batch:
        application = application_for(body)
        assert isinstance(body, dict)
        if not Path(application.file).is_file():
            raise BadRequest(f"file: {application.file} does not exist on {socket.gethostname()}; upload it to the run's shared storage "
                             f"(mounted at the same path on every Spark node) or give a path on the head node")
        with self._lock:
            batch_id = len(self.batches)
            batch = Batch(batch_id, body, self.twin.submission(application, batch_id))
            try:
                batch.start()
            except ConfigError as exc:  # a file that is not there, an unknown placeholder
                raise BadRequest(exc.args[0].removeprefix("job.application.") + (f" ({exc.hint})" if exc.hint else "")) from None
            self.batches[batch_id] = batch
        return batch

    def get(self, batch_id: int) -> Batch | None:
        return self.batches.get(batch_id)

    def stop(self) -> None:
        for batch in list(self.batches.values()):
            batch.kill()


# ----- HTTP -------------------------------------------------------------------------------------------


def handler_for(livy: Livy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "harness-livy"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer(self._get)

        def do_POST(self) -> None:  # noqa: N802
            self._answer(self._post)

        def do_DELETE(self) -> None:  # noqa: N802
            self._answer(self._delete)

        def _answer(self, route: Any) -> None:
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            try:
                status, body = route(parts, {k: v[-1] for k, v in parse_qs(url.query).items()})
            except BadRequest as exc:
                status, body = 400, {"msg": str(exc)}
            except Exception as exc:  # noqa: BLE001 - Livy answers 500 with the cause; a closed connection tells the pipeline nothing
                self.log_error("%s %s failed: %r", self.command, self.path, exc)
                status, body = 500, {"msg": f"{type(exc).__name__}: {exc}"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 201:
                self.send_header("Location", f"/batches/{body['id']}")
            self.end_headers()
            self.wfile.write(data)

        def _batch(self, parts: list[str]) -> Batch | tuple[int, dict[str, Any]]:
            batch = livy.get(int(parts[1])) if parts[1].isdigit() else None
            return batch if batch is not None else (404, {"msg": f"Session '{parts[1]}' not found."})

        def _get(self, parts: list[str], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
            if parts == ["batches"]:
                start, size = _number(query, "from", 0), _number(query, "size", 100)
                batches = sorted(livy.batches.values(), key=lambda b: b.id)
                return 200, {"from": start, "total": len(batches), "sessions": [b.view() for b in batches[start:start + size]]}
            if len(parts) in (2, 3) and parts[0] == "batches":
                batch = self._batch(parts)
                if not isinstance(batch, Batch):
                    return batch
                if len(parts) == 2:
                    return 200, batch.view()
                if parts[2] == "state":
                    return 200, {"id": batch.id, "state": batch.state()}
                if parts[2] == "log":
                    start, lines = log_page(batch.log_lines(), _number(query, "from", None), _number(query, "size", None))
                    return 200, {"id": batch.id, "from": start, "total": len(batch.log_lines()), "size": len(lines), "log": lines}
            return 404, {"msg": f"no such resource: {self.path}"}

        def _post(self, parts: list[str], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
            if parts != ["batches"]:
                return 404, {"msg": f"no such resource: {self.path}"}
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError as exc:
                raise BadRequest(f"the request body is not JSON: {exc}") from None
            return 201, livy.create(body).view()

        def _delete(self, parts: list[str], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
            if len(parts) != 2 or parts[0] != "batches":
                return 404, {"msg": f"no such resource: {self.path}"}
            batch = self._batch(parts)
            if not isinstance(batch, Batch):
                return batch
            batch.kill()
            return 200, {"msg": "deleted"}

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            sys.stdout.write(f"livy: {self.address_string()} {format % args}\n")
            sys.stdout.flush()

    return Handler


def _number(query: dict[str, str], name: str, default: int | None) -> int | None:
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {query[name]!r}") from None


def serve(twin: LivyTwin) -> None:
    """Answer until SIGTERM or SIGINT; batches still running then are stopped."""
    livy = Livy(twin)
    server = ThreadingHTTPServer((twin.bind, twin.port), handler_for(livy))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"livy: batch API on http://{twin.bind}:{twin.port}/batches (master {twin.master}, brokers {twin.bootstrap})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        livy.stop()


if __name__ == "__main__":
    serve(LivyTwin.from_env(os.environ))
