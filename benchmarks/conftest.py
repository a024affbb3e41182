"""Benchmarks measure ratios against a baseline taken in the same run, never bare timings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPORTS = Path(os.environ.get("HARNESS_REPORTS", "reports")) / "bench"


@pytest.fixture(scope="session")
def reports_dir() -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS


def quick_mode() -> bool:
    """HARNESS_BENCH_QUICK=1: fewest rounds, for CI."""
    return os.environ.get("HARNESS_BENCH_QUICK", "") not in ("", "0")
