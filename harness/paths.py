"""Where the harness keeps its caches and run directories (never inside the repository)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Resolved jars live here and are reused offline; HARNESS_CACHE moves them."""
    explicit = os.environ.get("HARNESS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kafka-spark-harness"


def runs_root() -> Path:
    """One directory per run (logs, data, state file); HARNESS_RUNS moves them."""
    explicit = os.environ.get("HARNESS_RUNS")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kafka-spark-harness" / "runs"
