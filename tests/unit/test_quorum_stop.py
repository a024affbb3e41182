"""Stopping a whole KRaft quorum: the last leader is not left waiting for a successor among voters that exited.

Every dev twin's stop logged "Graceful shutdown timed out after 5000ms" on its leader: `harness down` took
7.1 s, and 2.2 s once the wait was cut short on the facts below (by hand, on this machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.backends.rundir import BROKER_CLOSED, NodeState, _only_a_handover_left
from harness.runtime import processes
from harness.runtime.readiness import wait_for

IGNORES_SIGTERM = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"]


def _node(name: str, record: processes.ProcessRecord | None, log: Path, roles: tuple[str, ...] = ("broker", "controller")) -> NodeState:
    return NodeState(hostname=name, fqdn=name, cluster="kafka", role="worker", kafka_roles=list(roles), rack=None, address="127.0.0.1",
                     ports={}, process=record, log=str(log))


def _launch(tmp_path: Path, name: str) -> tuple[processes.ProcessRecord, subprocess.Popen[bytes]]:
    """A process that ignores SIGTERM, as a leader waiting for a successor does, once it says it is up."""
    log = tmp_path / f"{name}.log"
    record, proc = processes.launch(name, IGNORES_SIGTERM, log=log)
    wait_for(lambda: "up" in log.read_text(), what=f"{name} to ignore SIGTERM", timeout=60, interval=0.05)
    return record, proc


def test_a_process_whose_work_is_finished_is_killed_without_waiting_out_the_grace(tmp_path: Path) -> None:
    record, proc = _launch(tmp_path, "stubborn")
    asked: list[str] = []

    def finished(r: processes.ProcessRecord) -> bool:
        asked.append(r.name)
        return True

    processes.terminate([record], grace=600, finished=finished)  # it ignores SIGTERM: without `finished`, ten minutes
    assert asked == ["stubborn"] and not processes.is_alive(record)
    proc.wait(timeout=30)


def test_only_the_last_voter_whose_broker_side_closed_counts_as_finished(tmp_path: Path) -> None:
    leader, leader_proc = _launch(tmp_path, "leader")
    follower, follower_proc = _launch(tmp_path, "follower")
    try:
        logs = {n: tmp_path / f"{n}-server.log" for n in ("leader", "follower")}
        for log in logs.values():
            log.write_text("[BrokerServer id=1] shutting down\n")
        quorum = [_node("leader", leader, logs["leader"]), _node("follower", follower, logs["follower"])]
        finished = _only_a_handover_left(quorum)
        logs["leader"].write_text(f"[BrokerServer id=1] {BROKER_CLOSED}\n")
        assert not finished(leader)  # another voter is still alive: a successor may yet be elected
        follower_proc.kill()
        follower_proc.wait()
        assert finished(leader)
        logs["leader"].write_text("[BrokerServer id=1] shutting down\n")
        assert not finished(leader)  # its own broker side has not closed its logs yet
        controller_only = _only_a_handover_left([_node("leader", leader, logs["leader"], ("controller",)), quorum[1]])
        assert controller_only(leader)  # no broker side to wait for
        logs["leader"].write_text(f"[BrokerServer id=1] {BROKER_CLOSED}\n")
        assert not _only_a_handover_left(quorum[:1])(leader)  # a quorum of one hands over to nobody: it exits by itself
    finally:
        for proc in (leader_proc, follower_proc):
            proc.kill()
            proc.wait()


class Container:
    """A docker container as `_stop_quorum` sees it: a leader ignores SIGTERM until killed, others exit on it."""

    def __init__(self, roles: str, *, leader: bool = False, log: bytes = b"") -> None:
        key = "ZOOKEEPER_PROPERTIES=" if roles == "zookeeper" else f"KAFKA_SERVER_PROPERTIES=process.roles={roles}\nnode.id=1\n"
        self.attrs = {"Config": {"Env": ["PATH=/usr/bin", key]}}
        self.status, self.leader, self.log, self.signals = "running", leader, log, []

    def kill(self, signal: str = "SIGKILL") -> None:
        self.signals.append(signal)
        if signal == "SIGKILL" or not self.leader:
            self.status = "exited"

    def reload(self) -> None: ...

    def logs(self, tail: int) -> bytes:
        return self.log


def test_a_docker_quorums_last_controller_is_killed_once_its_broker_side_closed() -> None:
    from harness.backends.docker.deployment import _is_controller, _stop_quorum

    leader = Container("broker,controller", leader=True, log=f"[BrokerServer id=1] {BROKER_CLOSED}\n".encode())
    quorum = [leader, Container("broker,controller"), Container("broker,controller")]
    assert all(_is_controller(c) for c in quorum) and not _is_controller(Container("broker"))
    _stop_quorum(quorum)
    assert leader.signals == ["SIGTERM", "SIGKILL"] and all(c.signals == ["SIGTERM"] for c in quorum[1:])


def test_zookeeper_servers_are_only_asked_to_stop() -> None:
    from harness.backends.docker.deployment import _stop_quorum

    ensemble = [Container("zookeeper") for _ in range(3)]
    _stop_quorum(ensemble)
    assert all(c.signals == ["SIGTERM"] and c.status == "exited" for c in ensemble)


def test_a_zookeeper_twins_brokers_stop_before_its_ensemble(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A broker's controlled shutdown needs ZooKeeper: stopped together, the brokers waited out the 15 s grace."""
    from harness.backends import rundir

    launched = [_launch(tmp_path, name) for name in ("wn0", "zk0")]
    try:
        run = rundir.RunDir("zk-twin", tmp_path / "runs")
        run.save(rundir.RunState(name="zk-twin", backend="local", profile="hdinsight", topology={}, nodes=[
            _node("wn0", launched[0][0], tmp_path / "wn0.log", ("broker",)), _node("zk0", launched[1][0], tmp_path / "zk0.log", ("zookeeper",))]))
        waves: list[list[str]] = []
        monkeypatch.setattr(rundir, "terminate", lambda records, **_: waves.append([r.name for r in records]) or processes.terminate(records, grace=0))
        run.stop_all()
        assert waves[0] == ["wn0"] and any("zk0" in wave for wave in waves[1:]), waves
    finally:
        for _, proc in launched:
            proc.kill()
            proc.wait()

