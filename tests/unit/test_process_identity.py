"""A launched process stays itself when the wall clock is set, and a recycled pid is still told apart.

CI: a twin's three brokers were all taken for dead at once and started a second time beside the live ones
(KRaft log corrupted, a controller failover with no quorum); psutil's create_time adds the boot time,
read from a wall-clock-based value, so a clock step of more than a second moved every process's start."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from harness.runtime import processes
from harness.runtime.readiness import wait_for


def test_a_clock_step_does_not_make_a_live_process_look_recycled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record, proc = processes.launch("sleeper", ["sleep", "60"], log=tmp_path / "sleeper.log")
    try:
        assert record.started_after_boot is not None and processes.is_alive(record)
        real_boot_time = psutil.boot_time()
        # the wall clock moved 30 s: the kernel's btime (read by psutil's platform module) moves with it
        monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: real_boot_time + 30.0)
        assert psutil.Process(record.pid).create_time() - record.create_time > 29  # what used to count as recycled
        assert processes.is_alive(record)
        assert not processes.is_alive(replace(record, started_after_boot=record.started_after_boot - 5.0))  # another process, same pid
        restored = processes.ProcessRecord.from_json(record.to_json())
        assert restored == record
        legacy = {k: v for k, v in record.to_json().items() if k != "started_after_boot"}  # a state file from before
        assert processes.ProcessRecord.from_json(legacy).started_after_boot is None
    finally:
        proc.kill()
        proc.wait()


def test_a_run_finds_the_processes_it_launched_and_their_children_and_no_others(tmp_path: Path) -> None:
    """The stop after an interrupt ends what `owned_by` returns: a sibling twin's processes must not be among them."""
    mine, mine_proc = processes.launch("mine", ["sh", "-c", "sleep 60 & wait"], log=tmp_path / "mine.log", owner=str(tmp_path / "a"))
    other, other_proc = processes.launch("other", ["sleep", "60"], log=tmp_path / "other.log", owner=str(tmp_path / "b"))
    try:
        wait_for(lambda: len(processes.process_tree(mine.pid)) > 1, what="the shell's child", timeout=10, interval=0.05)
        children = processes.process_tree(mine.pid)[1:]
        found = {r.pid for r in processes.owned_by(str(tmp_path / "a"))}
        assert found == {mine.pid, *children} and children
        assert other.pid not in found
        processes.terminate(processes.owned_by(str(tmp_path / "a")), grace=5)
        assert not processes.is_alive(mine) and processes.is_alive(other)
    finally:
        for proc in (mine_proc, other_proc):
            proc.kill()
            proc.wait()
