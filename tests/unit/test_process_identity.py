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
