"""Start, stop and clean up exactly as a user does from the command line, including after a crash."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.backends.rundir import RunDir
from harness.runtime.processes import ProcessRecord, is_alive
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def _pids(runs: Path, name: str) -> list[ProcessRecord]:
    return RunDir(name, runs).load().processes()


def test_up_status_down_with_the_hdinsight_profile(isolated_runs: Path) -> None:
    up = run_cli("up", "--profile", "hdinsight", "--name", "hdi")
    assert up.returncode == 0, up.stderr
    assert "ready" in up.stdout
    try:
        status = run_cli("status", "--name", "hdi", "--json")
        assert status.returncode == 0, status.stderr
        nodes = {n["hostname"]: n for n in json.loads(status.stdout)["nodes"]}
        for host in ("zk0-kafka", "zk1-kafka", "zk2-kafka", "wn0-kafka", "wn1-kafka", "wn2-kafka"):
            assert nodes[host]["state"] == "running", nodes[host]
            assert nodes[host]["fqdn"] == f"{host}.eahjefxxp1netdbyklgqj5y1ud.cx.internal.cloudapp.net"
        assert {nodes[h]["rack"] for h in ("wn0-kafka", "wn1-kafka", "wn2-kafka")} == {"FD0UD0", "FD1UD1", "FD2UD2"}
        assert nodes["hn0-spark"]["state"] == "described"
        table = run_cli("status", "--name", "hdi")
        assert "wn0-kafka.eahjefxxp1netdbyklgqj5y1ud.cx.internal.cloudapp.net" in table.stdout
        again = run_cli("up", "--profile", "dev", "--name", "hdi")
        assert again.returncode == 2 and "already running" in again.stderr
        bootstrap = json.loads(status.stdout)["bootstrap_servers"]
        _external_run("external-live", bootstrap, stop=False)
        _external_run("external-done", bootstrap, stop=True)
        _status_all_shows({"hdi": "ready", "external-live": "external", "external-done": "stopped"})
    finally:
        records = _pids(isolated_runs, "hdi")
        down = run_cli("down", "--name", "hdi")
    assert down.returncode == 0, down.stderr
    assert len(records) == 6
    assert not any(is_alive(r) for r in records)
    # Logs stay behind for inspection.
    assert (isolated_runs / "hdi" / "nodes" / "wn0-kafka" / "logs" / "server.log").stat().st_size > 0
    # A stopped run says so, instead of a Kafka transport error.
    stopped = run_cli("topics", "list", "--name", "hdi")
    assert stopped.returncode == 2 and "run 'hdi' is stopped" in stopped.stderr and "harness up --name hdi" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert run_cli("status", "--name", "hdi").returncode == 0  # status still describes it
    # Every backend's runs, stopped or running, and a recorded external cluster that no longer answers.
    _status_all_shows({"hdi": "stopped", "external-live": "external", "external-done": "stopped"})
    external = run_cli("status", "--name", "external-live", "--json")
    assert external.returncode == 0, external.stderr
    assert {n["state"] for n in json.loads(external.stdout)["nodes"]} == {"not answering"}


def _external_run(name: str, bootstrap: str, *, stop: bool) -> None:
    """A run of the external backend against the twin's brokers, as the gate makes one."""
    from harness.backends.external import ExternalDeployment
    from harness.topology.loader import load_profile

    run = ExternalDeployment(load_profile("hdinsight"), bootstrap, "local[1]", profile="hdinsight", run=RunDir(name))
    run.start()
    if stop:
        run.stop()


def _status_all_shows(expected: dict[str, str]) -> None:
    result = run_cli("status", "--all")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    for name, state in expected.items():
        assert f"run {name!r}: profile hdinsight, {state}" in result.stdout.replace("\n", " "), result.stdout


def test_down_cleans_up_after_a_crashed_harness(isolated_runs: Path) -> None:
    """A harness killed with SIGKILL cannot stop its brokers; the state file lets `down` do it."""
    script = (
        "import os; from harness.backends import new_deployment;"
        "d = new_deployment('single', 'crashed'); d.start(); os._exit(0)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=180, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = _pids(isolated_runs, "crashed")
    assert records and all(is_alive(r) for r in records)
    down = run_cli("down", "--all")
    assert down.returncode == 0, down.stderr
    assert not any(is_alive(r) for r in records)


def test_sigterm_while_starting_leaves_nothing_running(isolated_runs: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness", "up", "--profile", "dev", "--name", "term"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = RunDir("term", isolated_runs)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the brokers' JVMs exist, then interrupt
        if run.exists() and run.load().processes():
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    records = run.load().processes()
    assert records, "the harness never launched its brokers"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert not any(is_alive(r) for r in records)
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(run.path) in " ".join(p.info["cmdline"] or [])]


def test_two_runs_on_one_machine_do_not_collide(isolated_runs: Path) -> None:
    first = run_cli("up", "--profile", "single", "--name", "one")
    second = run_cli("up", "--profile", "single", "--name", "two")
    try:
        assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
        a = RunDir("one", isolated_runs).load()
        b = RunDir("two", isolated_runs).load()
        assert a.bootstrap_servers != b.bootstrap_servers
        assert a.nodes[0].address.rsplit(".", 1)[0] != b.nodes[0].address.rsplit(".", 1)[0]
    finally:
        run_cli("down", "--all")


def test_a_profile_imported_from_an_arm_template_starts(tmp_path: Path, isolated_runs: Path) -> None:
    data = REPO / "tests" / "data" / "arm"
    profile = tmp_path / "learn.yaml"
    done = run_cli("topology", "from-arm", str(data / "kafka-spark-learn.json"), "--parameters", str(data / "kafka-spark-learn.parameters.json"), "-o", str(profile))
    assert done.returncode == 0, done.stderr
    up = run_cli("up", "--profile", str(profile), "--name", "arm")
    try:
        assert up.returncode == 0, up.stderr
        status = json.loads(run_cli("status", "--name", "arm", "--json").stdout)
        running = sorted(n["hostname"] for n in status["nodes"] if n["state"] == "running")
        assert running == ["wn0-kafka", "wn1-kafka", "wn2-kafka", "zk0-kafka", "zk1-kafka", "zk2-kafka"]
    finally:
        run_cli("down", "--name", "arm")
