"""The harness's own suite uses its own pytest plugin (loaded through the pytest11 entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def isolated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs started by a test go into its own directory, so `down --all` touches nothing else."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("HARNESS_RUNS", str(runs))
    return runs


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI exactly as a user runs it: a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=REPO,
    )
