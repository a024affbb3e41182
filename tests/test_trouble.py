"""The harness itself under trouble: taken ports, bad configuration, stale runs, Ctrl-C mid-run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.backends import local as local_backend
from harness.backends import new_deployment
from harness.backends.rundir import NodeState, RunDir, RunState
from harness.errors import NotReadyError
from harness.runtime import processes
from harness.runtime.processes import ProcessRecord, is_alive
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def test_a_port_taken_after_planning_fails_fast_with_the_log_tail(isolated_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program grabs the broker's port between the free-port check and the broker's bind."""
    prefix = "127.231.17"
    holder = socket.socket()
    holder.bind((f"{prefix}.2", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    monkeypatch.setattr(local_backend, "_pick_address_prefix", lambda: prefix)
    monkeypatch.setattr(local_backend, "_free_ports", lambda address, broker, controller, preferred: {"broker": taken, "controller": taken + 1})
    deployment = new_deployment("single", "taken")
    started = time.monotonic()
    try:
        with pytest.raises(NotReadyError) as caught:
            deployment.start()
    finally:
        holder.close()
    assert time.monotonic() - started < 60  # the broker's death ends the wait; no time-out
    message = str(caught.value)
    assert "wn0-kafka exited" in message and "Address already in use" in message
    assert not any(is_alive(p) for p in RunDir("taken", isolated_runs).load().processes())


def test_ctrl_c_right_after_a_broker_is_spawned_leaves_no_broker_running(isolated_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT just after the second broker's JVM started: the stop after it reads the state file, which
    used to be saved only after a round of spawns, so both brokers were left running."""
    launched: list[ProcessRecord] = []
    launch = local_backend.processes.launch

    def interrupted_after_the_second(name: str, argv: list[str], **kwargs: object) -> tuple[ProcessRecord, object]:
        record, proc = launch(name, argv, **kwargs)  # type: ignore[arg-type]
        if name.startswith("cds-"):
            return record, proc  # a class-sharing archive's training run (first run of a release only)
        launched.append(record)
        if len(launched) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return record, proc

    monkeypatch.setattr(local_backend.processes, "launch", interrupted_after_the_second)
    with pytest.raises(KeyboardInterrupt):
        new_deployment("dev", "spawning").start()
    processes.INTERRUPTED.clear()
    assert len(launched) == 2
    assert not [r.name for r in launched if is_alive(r)], "a broker spawned before the interrupt was left running"


def test_a_node_with_bad_configuration_reports_its_log(tmp_path: Path, isolated_runs: Path) -> None:
    profile = tmp_path / "bad-config.yaml"
    text = (REPO / "harness" / "topology" / "profiles" / "single.yaml").read_text()
    profile.write_text(text.replace("  heap_mb: 384", "  heap_mb: 384\n  server_properties: {num.network.threads: -1}"))
    done = run_cli("up", "--profile", str(profile), "--name", "badcfg")
    assert done.returncode == 2
    # Kafka's storage formatter validates the configuration first; its own words reach the user.
    assert "failed" in done.stderr and "Invalid value -1 for configuration num.network.threads" in done.stderr
    assert "kafka.server_properties" in done.stderr
    assert not RunDir("badcfg", isolated_runs).load().live_processes()
    assert (isolated_runs / "badcfg" / "nodes" / "wn0-kafka" / "logs" / "server.log").exists()  # kept for inspection


def test_a_stale_run_directory_is_cleaned_and_reused(isolated_runs: Path) -> None:
    stale = RunDir("stale", isolated_runs)
    stale.path.mkdir(parents=True)
    dead = ProcessRecord(name="wn0-kafka", pid=2**22 - 7, create_time=1.0, log="/nonexistent")
    stale.save(RunState(name="stale", backend="local", profile="single", topology={}, status="ready",
                        nodes=[NodeState("wn0-kafka", "x", "c", "worker", ["broker"], None, "127.9.9.2", {"broker": 9092}, dead)]))
    done = run_cli("up", "--profile", "single", "--name", "stale")
    try:
        assert done.returncode == 0, done.stderr
        assert json.loads(stale.state_path.read_text())["status"] == "ready"
    finally:
        run_cli("down", "--name", "stale")


def test_ctrl_c_in_the_middle_of_a_run_leaves_nothing_running(isolated_runs: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(REPO / "scenarios" / "stock-ticker.yaml"), "--name", "interrupted"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children: set[int] = set()
    deadline = time.monotonic() + 180
    lines = []
    assert proc.stderr is not None
    while time.monotonic() < deadline:  # wait until the replay runs: brokers and Spark are all up
        line = proc.stderr.readline()
        lines.append(line)
        children |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        if "replaying producer" in line or not line:
            break
    assert any("replaying producer" in line for line in lines), "".join(lines)
    children |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    assert len(children) >= 4  # three brokers and the Spark JVM at least
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    time.sleep(1)
    survivors = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not survivors, survivors
    assert (isolated_runs / "interrupted" / "nodes" / "wn0-kafka" / "logs" / "server.log").exists()
