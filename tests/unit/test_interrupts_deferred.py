"""A launch and its record are one step for Ctrl-C: an interrupt between them left a broker no stop could find.

The local backend's start saved its state file after a round of spawns; Ctrl-C after the second broker's
spawn left 2 of 2 brokers running (the stop reads only that file)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from harness.runtime import processes


def test_ctrl_c_inside_the_block_is_raised_when_the_block_ends(tmp_path: Path) -> None:
    steps: list[str] = []
    with processes.sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
        with processes.interrupts_deferred():
            record, _ = processes.launch("sleeper", ["sleep", "60"], log=tmp_path / "sleeper.log")
            os.kill(os.getpid(), signal.SIGINT)  # lands here, after the launch and before its record is kept
            steps.append("recorded")
        steps.append("after the block")  # never: the interrupt is raised as the block ends
    try:
        assert steps == ["recorded"]
        assert processes.INTERRUPTED.is_set()
    finally:
        processes.terminate([record], grace=5)
        processes.INTERRUPTED.clear()


def test_sigterm_is_deferred_too_and_the_handler_before_the_block_is_back(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    steps: list[str] = []
    with processes.sigterm_as_interrupt():
        handler = signal.getsignal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            with processes.interrupts_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                steps.append("recorded")
        assert signal.getsignal(signal.SIGTERM) is handler
    processes.INTERRUPTED.clear()
    assert steps == ["recorded"] and signal.getsignal(signal.SIGTERM) is before


def test_without_an_interrupt_the_block_raises_nothing_and_a_later_ctrl_c_is_not_deferred() -> None:
    with processes.sigterm_as_interrupt():
        with processes.interrupts_deferred():
            pass
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes, promptly
                pass
    processes.INTERRUPTED.clear()
