"""`harness`: a thin command line over the backends, clients, scenarios, faults and the gate.

Every command either finishes with a clear result or exits non-zero with an error that says what
to do; processes it started are stopped on failure, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from harness.backends import BACKENDS, all_runs, attach, new_deployment, orphaned_runs, stop_run
from harness.backends.rundir import RunDir
from harness.errors import HarnessError
from harness.runtime.processes import sigterm_as_interrupt
from harness.topology.loader import builtin_profiles, profile_path
from harness.topology.model import SECURITY_PROTOCOLS, Topology
from harness.versions import DEFAULT_RELEASE, RELEASES, release

# Tables are wide (FQDNs); when output is piped, do not squeeze them into 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
DEFAULT_RUN = os.environ.get("HARNESS_RUN", "default")


def _progress() -> Callable[[str], None]:
    started = time.monotonic()

    def report(message: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}")

    return report


# ----- commands --------------------------------------------------------------------------


def cmd_fetch(args: argparse.Namespace) -> int:
    from harness.backends.class_archive import class_archives
    from harness.dist import find_java, kafka_classpath, resolve_all
    from harness.spark.class_archive import ensure_driver_archive

    names = tuple(args.release or RELEASES)
    for name, path in resolve_all(names).items():
        out.print(f"{name}: {path}")
    for name in names:  # a failed training run is tried again here, and only here
        kafka = class_archives(release(name), find_java().executable, kafka_classpath(name), _progress(), retry=True)
        spark = ensure_driver_archive(name, _progress(), retry=True)
        out.print(f"class archives ({name}): Kafka {'ready' if kafka else 'none'}, Spark driver {'ready' if spark else 'none'}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    deployment = new_deployment(args.profile, args.name, args.backend, spark=args.spark, release=args.release, security=args.security)
    with sigterm_as_interrupt():
        deployment.start(progress=_progress())
    out.print(f"[green]twin {args.name!r} ({args.profile}, release {deployment.topology.stack.title}) is ready[/green]; "
              f"bootstrap servers: {deployment.bootstrap_servers}")
    if deployment.spark_master:
        out.print(f"Spark master: {deployment.spark_master}")
    for line in deployment.access_notes():
        out.print(line)
    out.print(f"run directory: {deployment.run.path}   stop it with: harness down --name {args.name}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    runs = all_runs() if args.all else [RunDir(args.name)]
    if args.all:
        _print_orphans()
    if args.all and not runs:
        out.print("no runs recorded")
        return 0
    for run in runs:
        deployment = attach(run.name, running=False)
        state = deployment.state()
        rows = deployment.status()
        if args.json:
            out.print_json(json.dumps({"run": run.name, "status": state.status, "release": deployment.topology.release,
                                       "security": deployment.topology.kafka.security.protocol, "bootstrap_servers": state.bootstrap_servers,
                                       "nodes": [r.__dict__ for r in rows]}))
            continue
        security = deployment.topology.kafka.security
        table = Table(title=f"run {run.name!r}: profile {state.profile}, {state.status}, backend {state.backend}, "
                            f"release {deployment.topology.stack.title}" + (f", {security.protocol.upper()}" if security.secured else ""))
        for column in ("node", "FQDN", "address:port", "role", "rack", "pid", "state"):
            table.add_column(column)
        for row in rows:
            colour = {"running": "green", "exited": "red", "paused": "yellow"}.get(row.state, "dim")
            table.add_row(row.hostname, row.fqdn, row.endpoint, row.role, row.rack or "", str(row.pid or ""), f"[{colour}]{row.state}[/{colour}]")
        out.print(table)
        out.print(f"bootstrap servers: {state.bootstrap_servers}" + (f"   Spark master: {state.spark_master}" if state.spark_master else ""))
        for line in deployment.access_notes() if state.status != "stopped" else []:
            out.print(line)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    runs = all_runs() if args.all else [RunDir(args.name)]
    if not args.all and not runs[0].exists():
        if args.name not in orphaned_runs():
            raise HarnessError(f"no run named {args.name!r}", hint="`harness status --all` lists runs")
        out.print(f"run {args.name!r} has no run directory; removing its labelled containers, networks and volumes")
    for run in runs:
        stopped = stop_run(run)
        if args.purge:
            import shutil

            shutil.rmtree(run.path, ignore_errors=True)
            out.print(f"run {run.name!r}: stopped {stopped} node(s); removed {run.path}")
        elif run.exists():
            out.print(f"run {run.name!r}: stopped {stopped} node(s); logs kept in {run.path}")
        else:
            out.print(f"run {run.name!r}: stopped {stopped} container(s)")
    if args.all:
        _print_orphans()
    return 0


def _print_orphans() -> None:
    """Left alone on purpose: another state directory (XDG_STATE_HOME) may own them."""
    for name in orphaned_runs():
        out.print(f"[yellow]docker run {name!r} has containers, networks or volumes but no run directory here; "
                  f"`harness down --name {name}` removes them[/yellow]")


def cmd_topics(args: argparse.Namespace) -> int:
    from harness.kafka import admin

    bootstrap = attach(args.name).bootstrap_servers
    if args.action == "list":
        for topic in admin.list_topics(bootstrap, include_internal=args.internal):
            out.print(topic)
        return 0
    if args.topic is None:
        raise HarnessError(f"`harness topics {args.action}` needs a topic name")
    if args.action == "create":
        configs = dict(_key_value(item) for item in args.config)
        topology = attach(args.name).topology
        info = admin.create_topic(
            bootstrap, args.topic,
            partitions=args.partitions or topology.kafka.topic_defaults.partitions,
            replication_factor=args.replication_factor or topology.kafka.topic_defaults.replication_factor,
            configs=configs,
        )
        out.print(f"created {info.name}: {len(info.partitions)} partitions, replication factor {info.replication_factor}")
        return 0
    info = admin.describe(bootstrap, args.topic)
    table = Table(title=f"topic {info.name}")
    for column in ("partition", "leader", "replicas", "isr"):
        table.add_column(column)
    for p in info.partitions:
        table.add_row(str(p.partition), str(p.leader), ",".join(map(str, p.replicas)), ",".join(map(str, p.isr)))
    out.print(table)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario end to end; exit 0 on pass, 1 on a wrong result, 2 if the harness could not run."""
    from pathlib import Path

    from harness.runner import run_scenario
    from harness.scenarios.spec import load_scenario

    scenario = load_scenario(args.scenario)  # refused here, before anything starts, if malformed
    if args.profile:
        scenario = scenario.model_copy(update={"profile": args.profile})
    deployment = attach(args.attach) if args.attach else None
    with sigterm_as_interrupt():
        report = run_scenario(
            scenario, deployment=deployment, run_name=args.name, progress=_progress(), backend=args.backend, release=args.release,
            security=args.security, manifest_path=Path(args.manifest) if args.manifest else None,
        )
    if args.report:
        report.write(Path(args.report))
    colour = "green" if report.verdict == "pass" else "red"
    out.print(_escape(report.render()).replace("verdict: PASS", f"[{colour}]verdict: PASS[/{colour}]").replace("verdict: FAIL", f"[{colour}]verdict: FAIL[/{colour}]"))
    if args.report:
        out.print(f"report written to {args.report}")
    out.print(f"manifest: {report.manifest}")
    return 0 if report.verdict == "pass" else 1


def cmd_fault(args: argparse.Namespace) -> int:
    """Break (or mend) a node of a running twin by hand."""
    from harness.faults.inject import inject
    from harness.faults.schedule import fault_from

    fault = fault_from(args.action, args.target, peers=args.peers, latency=args.latency, jitter=args.jitter, percent=args.percent)
    for node in inject(attach(args.name), fault):
        out.print(f"{args.action}: {node}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """spark-submit an application against a running twin, in the foreground, with the twin's values in place."""
    import subprocess
    import time
    from pathlib import Path

    from harness.jobs.application import Submission
    from harness.jobs.spec import ApplicationSpec

    deployment = attach(args.name)
    node = deployment.driver_launcher()  # docker: submitted on the Spark head node, with the twin as the VNet names it
    from pydantic import ValidationError

    try:
        app = ApplicationSpec(file=args.app, main_class=args.main_class, args=tuple(args.app_args[1:] if args.app_args[:1] == ["--"] else args.app_args),
                              conf=dict(_key_value(item) for item in args.conf))
    except ValidationError as exc:
        raise HarnessError(f"cannot submit {args.app}: " + "; ".join(e["msg"] for e in exc.errors())) from None
    if node is None:  # its Python workers would run on this machine's Python
        from harness.jobs.python_workers import python_sources, require_workers_fit

        require_workers_fit(deployment.topology.stack, python_sources([Path(args.app)]), f"harness submit {args.app}")
    master, conf = deployment.driver_spark_conf() if node is not None else deployment.spark_conf()
    workdir = deployment.run.path / "submissions" / f"{Path(args.app).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    submission = Submission(app, bootstrap=deployment.job_bootstrap() if node is not None else deployment.bootstrap_servers, topic=args.topic,
                            output_topic=args.output_topic or "", master=master or f"local[{deployment.topology.spark.local_cores}]",
                            workdir=workdir, memory_mb=deployment.topology.spark.driver_memory_mb, conf=conf, node=node,
                            release=deployment.topology.stack.name, client_properties=deployment.job_security.java)
    argv, env = submission.argv(), submission.env()
    err.print(f"[dim]checkpoint {submission.placeholders['checkpoint']}; event log {submission.events}[/dim]")
    try:
        with sigterm_as_interrupt():
            return subprocess.call(argv, env={**os.environ, **env})
    finally:
        if node is not None:  # `docker exec` passes no signal on: a Ctrl-C must not leave the driver running on the node
            node.kill(marker=str(workdir))


def cmd_images(args: argparse.Namespace) -> int:
    """Build the docker backend's images of each release asked for (cached by a hash of their inputs)."""
    import time

    from harness.backends.docker.images import build_images

    for release_name in args.release or [DEFAULT_RELEASE]:
        started = time.monotonic()
        names = build_images(_progress(), force=args.force, release_name=release_name)
        out.print(f"images of {release_name} ready in {time.monotonic() - started:.1f}s: {names.base}, {names.kafka}, {names.spark}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    """Run a command on a node of a docker twin, with the node's names, addresses and resolver."""
    import subprocess
    import sys

    deployment = attach(args.name)
    shell = deployment.node_shell()
    if shell is None:
        raise HarnessError(f"run {args.name!r} uses the {deployment.backend} backend; `harness exec` needs --backend docker",
                           hint="on the local backend every node is a process of this machine: run the command here")
    argv = list(args.argv[1:] if args.argv[:1] == ["--"] else args.argv) or ["bash"]
    return subprocess.call(shell.exec_argv(args.node, argv, interactive=sys.stdin.isatty() and sys.stdout.isatty()))


def cmd_compose(args: argparse.Namespace) -> int:
    from harness.backends.docker.compose import export_compose
    from harness.topology.loader import load_profile

    text = export_compose(load_profile(args.profile), profile=args.profile)
    if args.output:
        from pathlib import Path

        Path(args.output).write_text(text)
        out.print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def cmd_from_arm(args: argparse.Namespace) -> int:
    """An HDInsight ARM template (and parameters) -> a profile YAML that `harness up --profile` starts."""
    from pathlib import Path

    from harness.topology.arm import topology_from_arm

    imported = topology_from_arm(Path(args.template), Path(args.parameters) if args.parameters else None)
    text = imported.to_yaml()
    if args.output:
        Path(args.output).write_text(text)
        out.print(f"profile written to {args.output}: {len(imported.topology.brokers)} brokers, "
                  f"{_quorum(imported.topology)}, {len(imported.topology.spark_workers)} Spark workers, release {imported.topology.stack.name}")
    else:
        sys.stdout.write(text)
    for line in imported.warnings:
        err.print(f"[yellow]warning:[/yellow] {_escape(line)}")
    for line in imported.unresolved:
        err.print(f"[yellow]not resolved:[/yellow] {_escape(line)}")
    return 0


def _quorum(topology: Topology) -> str:
    """The metadata quorum as the release runs it: ZooKeeper servers, or KRaft controllers."""
    if topology.stack.uses_zookeeper:
        return f"{len(topology.zookeepers)} ZooKeeper servers"
    return f"{len(topology.controllers)} controllers"


def cmd_gate(args: argparse.Namespace) -> int:
    """0: every check passed; 1: a check failed; 2: the harness could not run (main() maps errors to 2)."""
    from pathlib import Path

    from harness.gate import GateBenchmarks, load_gate, run_gate

    config_path = Path(args.config)
    config = load_gate(config_path)
    if args.baseline:
        bench = config.benchmarks or GateBenchmarks()
        config = config.model_copy(update={"benchmarks": bench.model_copy(update={"baseline": str(Path(args.baseline).resolve())})})
    with sigterm_as_interrupt():
        report = run_gate(config, base_dir=config_path.parent, save_baseline=args.save_baseline, progress=_progress())
    outputs = Path(args.output_dir)
    report.write_json(outputs / "gate.json")
    (outputs / "gate.md").parent.mkdir(parents=True, exist_ok=True)
    (outputs / "gate.md").write_text(report.markdown())
    report.write_html(outputs / "gate.html")
    report.write_junit(Path(args.junit) if args.junit else outputs / "junit.xml")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as fh:
            fh.write(report.markdown())
    out.print(_escape(report.markdown()))
    out.print(f"reports in {outputs}/ (gate.json, gate.md, gate.html, junit.xml)")
    return 0 if report.ok else 1


def cmd_profile(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in builtin_profiles():
            out.print(name)
        return 0
    sys.stdout.write(profile_path(args.profile_name or "dev").read_text())
    return 0


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise HarnessError(f"--config {item!r} is not KEY=VALUE", hint="e.g. --config retention.ms=3600000")
    return key, value


# ----- parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="A local twin of an HDInsight Kafka + Spark deployment.")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_run(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--name", default=DEFAULT_RUN, help=f"run name (default {DEFAULT_RUN!r}; env HARNESS_RUN)")
        return p

    fetch = sub.add_parser("fetch", help="resolve every release's Kafka, Spark and connector into the cache (once; offline after)")
    fetch.add_argument("--release", action="append", choices=tuple(RELEASES), help="only this release (repeatable; default every release)")
    fetch.set_defaults(func=cmd_fetch)

    up = with_run(sub.add_parser("up", help="start a twin in the background and return once it is ready"))
    up.add_argument("--profile", default="dev", help=f"built-in profile ({', '.join(builtin_profiles())}) or a YAML file")
    up.add_argument("--backend", choices=BACKENDS, help="override the profile's backend (default local)")
    up.add_argument("--spark", choices=("local", "standalone"), help="override the profile's spark.mode")
    up.add_argument("--release", choices=tuple(RELEASES), help="override the profile's release (the pinned stack)")
    up.add_argument("--security", choices=SECURITY_PROTOCOLS, help="override the profile's kafka.security.protocol (TLS with the run's own CA)")
    up.set_defaults(func=cmd_up)

    status = with_run(sub.add_parser("status", help="a table of the twin's nodes"))
    status.add_argument("--all", action="store_true", help="every recorded run")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    down = with_run(sub.add_parser("down", help="stop a twin (also one whose harness crashed)"))
    down.add_argument("--all", action="store_true", help="every recorded run")
    down.add_argument("--purge", action="store_true", help="also delete the run directories (data and logs)")
    down.set_defaults(func=cmd_down)

    topics = with_run(sub.add_parser("topics", help="create, list or describe topics on the twin"))
    topics.add_argument("action", choices=("list", "create", "describe"))
    topics.add_argument("topic", nargs="?")
    topics.add_argument("--partitions", type=int)
    topics.add_argument("--replication-factor", type=int)
    topics.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    topics.add_argument("--internal", action="store_true", help="also list internal topics")
    topics.set_defaults(func=cmd_topics)

    run = sub.add_parser("run", help="replay a scenario into a twin, run its streaming job, verify every result")
    run.add_argument("scenario", help="scenario YAML, e.g. scenarios/stock-ticker.yaml")
    run.add_argument("--report", help="write the JSON report here")
    run.add_argument("--manifest", help="write the manifest of acknowledged records here (JSON Lines)")
    run.add_argument("--profile", help="override the scenario's profile")
    run.add_argument("--backend", choices=BACKENDS, help="override the profile's backend (default local)")
    run.add_argument("--release", choices=tuple(RELEASES), help="override the profile's release (the pinned stack)")
    run.add_argument("--security", choices=SECURITY_PROTOCOLS, help="override the profile's kafka.security.protocol (TLS with the run's own CA)")
    run.add_argument("--attach", metavar="RUN", help="use a twin already running (`harness up --name RUN`) instead of starting one")
    run.add_argument("--name", default=f"run-{os.getpid()}", help="run name of the twin started for this scenario")
    run.set_defaults(func=cmd_run)

    fault = with_run(sub.add_parser("fault", help="kill, stop, pause, resume, start or restart a node; partition, delay, loss, heal its network (docker)"))
    fault.add_argument("action", choices=("kill", "stop", "pause", "resume", "start", "restart", "partition", "delay", "loss", "heal"))
    fault.add_argument("--peers", nargs="+", help="partition: cut off only from these nodes (default: every other node)")
    fault.add_argument("--latency", help="delay: e.g. 200ms")
    fault.add_argument("--jitter", help="delay: e.g. 50ms")
    fault.add_argument("--percent", type=float, help="loss: percentage of packets dropped")
    fault.add_argument("target", help="a node (wn1-kafka), 'controller' (the active controller: the KRaft quorum leader, or on ZooKeeper the broker holding the role), 'leader(TOPIC/P)' or 'followers(TOPIC/P)'")
    fault.set_defaults(func=cmd_fault)

    gate = sub.add_parser("gate", help="the pre-deploy gate: static checks, scenarios, benchmark thresholds; exit 0/1/2")
    gate.add_argument("--config", default="gate.yaml", help="gate configuration (default gate.yaml)")
    gate.add_argument("--junit", help="JUnit XML path (default OUTPUT_DIR/junit.xml)")
    gate.add_argument("--output-dir", default="reports/gate", help="where gate.json, gate.md and gate.html go")
    gate.add_argument("--save-baseline", action="store_true", help="record this run's figures as the baseline")
    gate.add_argument("--baseline", help="baseline file (overrides benchmarks.baseline in the config)")
    gate.set_defaults(func=cmd_gate)

    submit = with_run(sub.add_parser("submit", help="spark-submit your application against a running twin, placeholders filled in"))
    submit.add_argument("app", help="a .py file, or a .jar with --class (options of `harness submit` go before it)")
    submit.add_argument("app_args", nargs=argparse.REMAINDER, help="its arguments (after --), with {bootstrap}, {topic}, {checkpoint}, ...")
    submit.add_argument("--class", dest="main_class", help="a jar's main class")
    submit.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="spark-submit --conf, with placeholders")
    submit.add_argument("--topic", default="stockVals", help="what {topic} stands for (default stockVals)")
    submit.add_argument("--output-topic", help="what {output_topic} stands for")
    submit.set_defaults(func=cmd_submit)

    images = sub.add_parser("images", help="docker backend: build its images from Debian packages and the pinned jars")
    images.add_argument("action", choices=("build",))
    images.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    images.add_argument("--release", action="append", choices=tuple(RELEASES),
                        help=f"the images of this release (repeatable; default {DEFAULT_RELEASE})")
    images.set_defaults(func=cmd_images)

    exec_ = with_run(sub.add_parser("exec", help="docker backend: run a command on a node (`harness exec wn0-spark -- getent hosts wn0-kafka`)"))
    exec_.add_argument("node", help="short host name or FQDN")
    exec_.add_argument("argv", nargs=argparse.REMAINDER, help="the command (after --); default bash")
    exec_.set_defaults(func=cmd_exec)

    compose = sub.add_parser("compose", help="write a Docker Compose file equivalent to a profile's docker twin")
    compose.add_argument("action", choices=("export",))
    compose.add_argument("--profile", default="dev")
    compose.add_argument("--output", "-o", help="write here (default: standard output)")
    compose.set_defaults(func=cmd_compose)

    topology = sub.add_parser("topology", help="import a deployment description")
    topology_sub = topology.add_subparsers(dest="topology_command", required=True)
    from_arm = topology_sub.add_parser("from-arm", help="build a profile from an HDInsight Kafka + Spark ARM template")
    from_arm.add_argument("template", help="azuredeploy.json")
    from_arm.add_argument("--parameters", help="azuredeploy.parameters.json")
    from_arm.add_argument("--output", "-o", help="write the profile here (default: standard output)")
    from_arm.set_defaults(func=cmd_from_arm)

    profile = sub.add_parser("profile", help="list built-in profiles or print one to copy and edit")
    profile.add_argument("action", choices=("list", "show"))
    profile.add_argument("profile_name", nargs="?")
    profile.set_defaults(func=cmd_profile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        err.print(f"[red]error:[/red] {_escape(str(exc))}")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted; everything this command started has been stopped[/yellow]")
        return 130
    except Exception as exc:
        from confluent_kafka import KafkaException

        if not isinstance(exc, KafkaException):
            raise
        reason = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
        err.print(f"[red]error:[/red] Kafka refused or did not answer: {_escape(reason)}\n"
                  "hint: is the twin up? `harness status --all` shows each run's nodes")
        return 2


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
