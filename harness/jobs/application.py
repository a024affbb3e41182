"""A team's own application, run unchanged with the pinned Spark's `spark-submit`, and read back from its own sink.

The harness adds nothing to the application's query. It fills in the twin's addresses the way a
deployment does (placeholders in the arguments and conf, environment variables, the bootstrap conf
key), turns on Spark's event log for the run, and learns each micro-batch's offsets and watermark from
the streaming progress events in that log (as Spark's history server does) and from the checkpoint's
offsets and commits logs. The results are what the application wrote to its own sink.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import ConfigError, HarnessError, NotReadyError
from harness.jobs.binary import require_links
from harness.jobs.catchup import CatchUpGoal, CatchUpState, QueryView, is_executed, latest_checkpointed
from harness.jobs.runner import JobHistory, completed_batches, job_checkpoint, wait_job_started, wait_until_caught_up
from harness.jobs.spec import ApplicationSpec, JobSpec
from harness.jobs.sink_rows import SinkReader, SinkRows
from harness.jobs.sinks import reader_for
from harness.runtime import processes
from harness.runtime.private import write_secret
from harness.runtime.readiness import wait_for
from harness.spark import harness_conf, spark_env, spark_submit
from harness.versions import DEFAULT_RELEASE

if TYPE_CHECKING:
    from harness.backends.base import DriverLauncher

PROGRESS_EVENT = "org.apache.spark.sql.streaming.StreamingQueryListener$QueryProgressEvent"
LOG_START_EVENT = "SparkListenerLogStart"  # the first line of every event log: which Spark wrote it
ENV_PREFIX = "HARNESS_"
CLIENT_PROPERTIES = "client.properties"
"""The Kafka client settings of the twin (security.protocol, ssl.*), as HDInsight's TLS guide hands a client
`client-ssl-auth.properties`: `{client_properties}` names it, mode 0600, so no password is in an argument."""


class Launch(Protocol):
    """How a job of the team's is started against the twin: a command line, its environment, where
    Spark writes its event log, and the twin's values for placeholders."""

    events: Path

    def argv(self) -> list[str]: ...

    def env(self) -> dict[str, str]: ...

    def fill(self, text: str, where: str) -> str: ...


class Submission:
    """One `spark-submit` of an application against a twin: its command line and environment, with
    the twin's values in place of the placeholders. `harness submit`, `SubmittedApplication` and the docker
    backend's Livy server (`harness.jobs.livy`) use it.

    With a `node` (the docker backend's Spark head node), spark-submit runs there: the application is
    copied to the run's shared storage, as a pipeline uploads it to the cluster's, and the node's own
    Python builds this same command line from `config` (`python -m harness.jobs.application`), so
    spark-submit, the JDK and the connector jars are the node's. The work directory is on storage the
    node mounts at the same path, so checkpoint, event log and {storage} mean the same file on both sides."""

    section = "job.application"  # where the scenario file holds what is filled in, for errors

    def __init__(self, application: ApplicationSpec, *, bootstrap: str, topic: str, workdir: Path, master: str, memory_mb: int,
                 output_topic: str = "", conf: Mapping[str, str] | None = None, node: DriverLauncher | None = None,
                 release: str = DEFAULT_RELEASE, client_properties: Mapping[str, str] | None = None) -> None:
        self.application, self.bootstrap, self.workdir, self.master = application, bootstrap, workdir, master
        self.release = release  # whose spark-submit, connector and pyspark
        self.memory_mb, self.extra_conf, self.node = memory_mb, dict(conf or {}), node
        self.topic, self.output_topic = topic, output_topic
        self.config = workdir / "submission.json"
        self.events = workdir / "eventlog"
        self.client_properties = dict(client_properties or {}) or {"security.protocol": "PLAINTEXT"}
        self.placeholders = {"bootstrap": bootstrap, "topic": topic, "checkpoint": str(job_checkpoint(workdir)), "spark_master": master,
                             "storage": str(workdir / "storage"), "output_topic": output_topic,
                             "client_properties": str(workdir / CLIENT_PROPERTIES)}
        """What `{name}` in the application's arguments and conf stands for, and HARNESS_NAME in its environment."""

    def fill(self, text: str, where: str) -> str:
        try:
            return text.format_map(self.placeholders)
        except (KeyError, ValueError, IndexError) as exc:
            names = ", ".join("{" + k + "}" for k in self.placeholders)
            raise ConfigError(f"{self.section}.{where}: {text!r} has an unknown placeholder {exc}",
                              hint=f"the placeholders are {names}; write a literal brace twice ({{{{ or }}}})") from None

    def argv(self) -> list[str]:
        """`spark-submit` as the team runs it, pointed at the twin, with Spark's event log on for the run."""
        app = self.application
        source = Path(app.file)
        if not source.exists():
            raise ConfigError(f"job.application.file: {app.file} does not exist", hint="build the jar first (mvn -q -f PROJECT/pom.xml package; this repo's example: make scala-example)" if source.suffix == ".jar" else "give the path from the directory you run the harness in")
        if source.suffix == ".jar":
            require_links(source, self.release, f"{self.section}.file")
        if self.node is not None:
            return self._on_node(self.node)
        harness = {**harness_conf(self.bootstrap, self.memory_mb, self.release, master=self.master), **self.extra_conf,
                   "spark.eventLog.enabled": "true", "spark.eventLog.dir": self.events.resolve().as_uri(),
                   "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}
        own = {key: self.fill(value, f"conf.{key}") for key, value in app.conf.items()}
        conf = {**harness, **own}
        if own.get("spark.jars"):  # the application's jars go beside the connector's, not in their place
            conf["spark.jars"] = f"{harness['spark.jars']},{own['spark.jars']}"
        argv = [str(spark_submit(self.release)), "--master", self.master, "--name", conf.get("spark.app.name") or f"harness-{source.stem}"]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        if app.py_files:
            argv += ["--py-files", ",".join(app.py_files)]
        if app.main_class:
            argv += ["--class", app.main_class]
        return [*argv, str(source.resolve()), *(self.fill(arg, f"args[{i}]") for i, arg in enumerate(app.args))]

    def env(self) -> dict[str, str]:
        """The JDK and loopback settings, and each placeholder as HARNESS_<NAME>, as a deployment's environment gives them
        (on a node, the node's own Python sets them there: nothing here)."""
        self.events.mkdir(parents=True, exist_ok=True)
        (self.workdir / "storage").mkdir(parents=True, exist_ok=True)
        write_secret(self.workdir / CLIENT_PROPERTIES, "".join(f"{k}={v}\n" for k, v in self.client_properties.items()).encode())
        if self.node is not None:
            return {}
        return {**spark_env(self.release), **{ENV_PREFIX + k.upper(): v for k, v in self.placeholders.items()}}

    # ----- on a node of the twin -------------------------------------------------------------------

    node_entry = "harness.jobs.application"  # the module the node runs to rebuild this submission (`main`)

    def _on_node(self, node: DriverLauncher) -> list[str]:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps(self.node_config(self._ship()), indent=2))
        return node.argv(["-m", self.node_entry, str(self.config)])

    def node_config(self, shipped: ApplicationSpec) -> dict[str, Any]:
        """What the node needs to build the same command line with its own Spark (`from_config`)."""
        return {"application": shipped.model_dump(mode="json"), "bootstrap": self.bootstrap, "topic": self.topic, "workdir": str(self.workdir),
                "master": self.master, "memory_mb": self.memory_mb, "output_topic": self.output_topic, "conf": self.extra_conf,
                "release": self.release}

    def _ship(self) -> ApplicationSpec:
        """The application and its --py-files, copied to the work directory that the node sees at the same path."""
        target = self.workdir / "app"
        target.mkdir(parents=True, exist_ok=True)

        def ship(path: str, where: str) -> str:
            if not Path(path).is_file():
                raise ConfigError(f"job.application.{where}: {path} does not exist", hint="give the path from the directory you run the harness in")
            return str(Path(shutil.copy2(path, target / Path(path).name)).resolve())

        return self.application.model_copy(update={"file": ship(self.application.file, "file"),
                                                   "py_files": tuple(ship(p, f"py_files[{i}]") for i, p in enumerate(self.application.py_files))})

    @classmethod
    def from_config(cls, path: Path) -> Submission:
        """The submission a host wrote for this node (`_on_node`), to be run here."""
        data = json.loads(path.read_text())
        return cls(ApplicationSpec.model_validate(data["application"]), bootstrap=data["bootstrap"], topic=data["topic"],
                   workdir=Path(data["workdir"]), master=data["master"], memory_mb=data["memory_mb"], output_topic=data["output_topic"],
                   conf=data["conf"], release=data.get("release", DEFAULT_RELEASE))


class SubmittedApplication:
    """The job handle of a submitted application: start, wait, kill and resubmit, stop, read back."""

    def __init__(self, bootstrap: str, topic: str, spec: JobSpec, workdir: Path, *, master: str, cores: int, memory_mb: int,
                 conf: Mapping[str, str] | None = None, submission: Launch | None = None, sink: SinkReader | None = None,
                 node: DriverLauncher | None = None, app_bootstrap: str | None = None, release: str = DEFAULT_RELEASE,
                 client_properties: Mapping[str, str] | None = None) -> None:
        """`submission` and `sink` default to spark-submit of `job.application` and the reader of
        `job.output`; a notebook brings its own launch (and, for a memory table, its own reader). With a
        `node` spark-submit runs there, with `app_bootstrap` (the brokers as that node names them) for
        the application, while the harness reads the sink through `bootstrap`."""
        if spec.output is None or (submission is None and spec.application is None):
            raise ConfigError("a submitted application needs `job.application` and `job.output`")
        self.bootstrap, self.topic, self.spec, self.workdir = bootstrap, topic, spec, workdir
        self.output = spec.output
        self.name = spec.application.file if spec.application else spec.notebook.file if spec.notebook else "the job"
        master = master if master and not master.startswith("local") else f"local[{cores}]"
        if submission is None:
            assert spec.application is not None
            submission = Submission(spec.application, bootstrap=app_bootstrap or bootstrap, topic=topic, workdir=workdir, memory_mb=memory_mb,
                                    conf=conf, master=master, output_topic=spec.output.kafka_topic or "", node=node, release=release,
                                    client_properties=client_properties)
        self.submission = submission
        self.node = node
        self.events = self.submission.events
        self.log = workdir / "application.log"
        self.sink = sink or reader_for(spec.output, bootstrap=bootstrap, fill=lambda text: submission.fill(text, "output.path"),
                                       append=spec.output_mode == "append", log=self.log)
        self.record: processes.ProcessRecord | None = None
        self.killed = False
        self.catch_up: CatchUpState | None = None
        self._incarnation_logs: list[int] = []
        self._parsed: dict[Path, tuple[int, list[dict[str, Any]]]] = {}  # per event log: bytes read, events so far
        self._started = 0.0

    def argv(self) -> list[str]:
        return self.submission.argv()

    # ----- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        env = self.submission.env()
        self._incarnation_logs.append(len(list(self.events.iterdir())))
        self.killed = False
        self._started = self._started or time.perf_counter()
        with processes.interrupts_deferred():  # the record is what the stop after Ctrl-C finds
            self.record, _ = processes.launch("application", self.argv(), log=self.log, env=env, cwd=Path.cwd())

    def wait_started(self, timeout: float = 180.0, *, stalled: Callable[[], str | None] | None = None) -> None:
        """Until the application's query has run its first (empty) micro-batch, as the harness's own job does: the
        job is live before data flows, and a fault on the replay's timeline cannot land in batch 0. (In CI, an application killed before its batch 0
        committed was resubmitted and failed with Spark 4.2's STATE_STORE_CHECKPOINT_LOCATION_NOT_EMPTY.)"""
        wait_job_started(self.first_batch_after_start, stalled, what="the application's first (empty) micro-batch", timeout=timeout,
                         guard=self._check_alive, log=self.log)

    def wait_caught_up(self, goal: CatchUpGoal, *, timeout: float, progress: Callable[[str], None] | None = None,
                       stalled: Callable[[], str | None] | None = None) -> CatchUpState:
        def observe() -> tuple[QueryView, list[QueryView]]:
            return QueryView.observe("application", self._progress(), self.topic, latest_checkpointed(job_checkpoint(self.workdir), self.topic)), []

        self.catch_up = wait_until_caught_up(observe, goal, running=lambda: not self.killed or self._alive(), check=self._check_alive,
                                             timeout=timeout, progress=progress, stalled=stalled)
        return self.catch_up

    def stop(self) -> JobHistory:
        """SIGTERM, as a scheduler stops it: Spark's shutdown hook stops the query and closes the event log."""
        if self.record is not None:
            self._terminate(self.record)
        history = JobHistory(catch_up=self.catch_up, malformed_known=False,
                             wall_seconds=time.perf_counter() - self._started if self._started else 0.0)
        history.batches = completed_batches(self._progress(), job_checkpoint(self.workdir), self.topic)
        rows = self.read_back()
        history.outputs, history.emitted_ms, history.rewritten, history.sink_notes = rows.outputs, rows.emitted_ms, rows.rewritten, rows.notes
        history.sampled = rows.sampled
        history.incarnations = self.incarnations()
        history.spark_version = next((e.get("Spark Version") for e in self._events() if e.get("Event") == LOG_START_EVENT), None)
        return history

    def incarnations(self) -> list[list[int]]:
        """Batch ids each submission ran (one event log each): a batch id in two lists was re-run after a resubmission."""
        files = sorted(self.events.iterdir(), key=lambda p: p.stat().st_mtime) if self.events.is_dir() else []
        return [sorted({int(e["progress"]["batchId"]) for e in self._events(n, n + 1) if e.get("Event") == PROGRESS_EVENT and is_executed(e["progress"])})
                for n in range(len(files))]

    # ----- the fault target: kill the driver, resubmit with the same arguments and checkpoint ------------

    def restartable(self) -> SubmittedApplication:
        return self

    def kill(self) -> None:
        if self.record is not None:
            self.killed = True
            if self.node is not None:  # everything of this application on the node names its work directory
                self.node.kill(str(self.workdir))
            processes.send(self.record, signal.SIGKILL)
            processes.reap(self.record)

    def _terminate(self, record: processes.ProcessRecord) -> None:
        """On a node the signal is sent there: the local `docker exec` client does not pass it on."""
        if self.node is not None and processes.is_alive(record):
            self.node.kill(str(self.workdir), signal.SIGTERM)
            try:
                wait_for(lambda: not processes.is_alive(record), what=f"the application {self.name} to stop on its node", timeout=30, interval=0.2)
            except NotReadyError:
                self.node.kill(str(self.workdir))
        processes.terminate([record], grace=30)

    def first_batch_after_start(self) -> bool:
        return any(e.get("Event") == PROGRESS_EVENT for e in self._events(self._incarnation_logs[-1] if self._incarnation_logs else 0))

    def _alive(self) -> bool:
        return self.record is not None and processes.is_alive(self.record)

    def _check_alive(self) -> None:
        """An application that exits by itself fails the run at once, with its own error lines."""
        if self.record is not None and not self.killed and not self._alive():
            raise HarnessError(f"the application {self.name} exited", detail=processes.log_tail(self.log))

    # ----- what it did -----------------------------------------------------------------------------

    def _events(self, first_file: int = 0, end_file: int | None = None) -> list[dict[str, Any]]:
        """Spark's event logs of the submissions from the `first_file`-th (to `end_file`), event by event.
        Each file is read on from where the last call stopped (the waits poll it), and a line still being
        written is left for the next call."""
        events: list[dict[str, Any]] = []
        if not self.events.is_dir():
            return events
        for path in sorted(self.events.iterdir(), key=lambda p: p.stat().st_mtime)[first_file:end_file]:
            events.extend(self._read_on(path))
        return events

    def _read_on(self, path: Path) -> list[dict[str, Any]]:
        offset, parsed = self._parsed.get(path, (0, []))
        with path.open("rb") as log:
            log.seek(offset)
            complete, _, _ = log.read().rpartition(b"\n")
        for line in complete.splitlines() if complete else []:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                continue
        self._parsed[path] = (offset + len(complete) + 1 if complete else offset, parsed)
        return parsed

    def _progress(self) -> list[dict[str, Any]]:
        """Progress events of the query that reads the scenario's topic."""
        found = [e["progress"] for e in self._events() if e.get("Event") == PROGRESS_EVENT and "progress" in e]
        return [p for p in found if any(self.topic in str(s.get("description", "")) for s in p.get("sources") or [])]

    def read_back(self) -> SinkRows:
        """What the job wrote to its own sink (`job.output`), read as the sink's own readers would."""
        return self.sink()


def main(config: str, launch: type[Submission] = Submission) -> None:
    """On a node of the twin: build the submission a host wrote (`Submission._on_node`) and become its spark-submit."""
    submission = launch.from_config(Path(config))
    argv, env = submission.argv(), submission.env()
    os.chdir(submission.workdir)
    os.execvpe(argv[0], argv, {**os.environ, **env})


if __name__ == "__main__":
    main(sys.argv[1])
