"""Pausing a container when cgroup v1's freezer refuses: the fallback stops the container's real processes."""
from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import docker.errors
import pytest

from harness.backends.docker.deployment import container_state, pause_container, resume_container
from harness.runtime import processes


class RefusingContainer:
    """Stands in for docker's Container: its pause fails as runc's cgroup v1 freezer does under load."""

    def __init__(self, first_pid: int, error: str) -> None:
        self.attrs: dict[str, Any] = {"State": {"Pid": first_pid}}
        self.status = "running"
        self.error = error
        self.unpaused = 0

    def pause(self) -> None:
        raise docker.errors.APIError(self.error)

    def unpause(self) -> None:
        self.unpaused += 1

    def reload(self) -> None:
        pass


@pytest.fixture
def process_with_child() -> Iterator[subprocess.Popen[bytes]]:
    shell = subprocess.Popen(["sh", "-c", "sleep 120 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(processes.process_tree(shell.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield shell
    finally:
        for pid in processes.process_tree(shell.pid)[::-1]:
            processes.signal_pid(pid, signal.SIGKILL)
        shell.wait()


def test_a_refused_freeze_stops_every_process_of_the_container_and_resume_continues_them(
        process_with_child: subprocess.Popen[bytes]) -> None:
    container = RefusingContainer(process_with_child.pid, "Cannot pause container: OCI runtime pause failed: unable to freeze: unknown")
    tree = processes.process_tree(process_with_child.pid)
    assert len(tree) == 2

    pause_container(container, "wn1-kafka")  # type: ignore[arg-type]
    assert [processes.pid_state(pid) for pid in tree] == ["paused", "paused"]
    assert container.status == "running" and container_state(container) == "paused"  # type: ignore[arg-type]

    resume_container(container)  # type: ignore[arg-type]
    assert [processes.pid_state(pid) for pid in tree] == ["running", "running"]
    assert container.unpaused == 0 and container_state(container) == "running"  # type: ignore[arg-type]


def test_any_other_pause_error_is_not_hidden(process_with_child: subprocess.Popen[bytes]) -> None:
    container = RefusingContainer(process_with_child.pid, "Container abc is not running")
    with pytest.raises(docker.errors.APIError, match="not running"):
        pause_container(container, "wn1-kafka")  # type: ignore[arg-type]
    assert all(processes.pid_state(pid) == "running" for pid in processes.process_tree(process_with_child.pid))
