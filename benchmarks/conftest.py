"""Benchmarks measure ratios against a baseline taken in the same run, never bare timings."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Figure:
    """One benchmark figure beside its goal: a ratio to a baseline measured in the same run."""

    name: str
    value: float
    goal: str = ""  # e.g. "<= 2.0"; empty: recorded, no goal
    how: str = ""  # what was divided by what

    @property
    def meets(self) -> bool | None:
        if not self.goal:
            return None
        op, target = self.goal.split()
        return self.value <= float(target) if op == "<=" else self.value >= float(target)


_FIGURES: list[Figure] = []


def record_figure(name: str, value: float, *, goal: str = "", how: str = "") -> None:
    """Add a figure to reports/bench/summary.md. A benchmark records; it does not fail on a noisy figure,
    but the summary marks each figure that misses its goal."""
    if goal and (len(goal.split()) != 2 or goal.split()[0] not in ("<=", ">=")):
        raise ValueError(f"a goal reads '<= 2.0' or '>= 0.5', not {goal!r}")
    _FIGURES.append(Figure(name, value, goal, how))


def render_summary(figures: list[Figure]) -> str:
    lines = ["# Benchmark summary", "", "Each figure is a ratio to a baseline measured in the same run, or a time where the goal is one: latency in seconds, the suite in minutes.", "",
             "| figure | value | goal | | measured as |", "|---|---|---|---|---|"]
    for f in figures:
        mark = {True: "meets", False: "**misses**", None: ""}[f.meets]
        lines.append(f"| {f.name} | {f.value:.3f} | {f.goal or '-'} | {mark} | {f.how} |")
    return "\n".join(lines) + "\n"


def record_suite_time(lanes_file: Path, bench_seconds: float) -> None:
    """`make test`'s own wall time, less set-up: its test lanes (scripts/test-lanes.sh writes how long they took)
    and this benchmark session, which runs right after them."""
    lanes = json.loads(lanes_file.read_text())
    minutes = (lanes["seconds"] + bench_seconds) / 60
    record_figure("make test: test lanes + quick benchmarks, minutes", minutes, goal="<= 15",
                  how=f"lanes {lanes['seconds'] / 60:.1f} min ({lanes['workers']} local workers{'' if lanes['passed'] else ', a lane failed'}), "
                      f"benchmarks {bench_seconds / 60:.1f} min; set-up not counted")


@pytest.fixture(scope="session", autouse=True)
def summary_table() -> Iterator[None]:
    started = time.monotonic()
    yield
    lanes_file = os.environ.get("HARNESS_SUITE_LANES")  # set by `make test` only: the lanes ran just before, in this run
    if lanes_file and Path(lanes_file).is_file():
        record_suite_time(Path(lanes_file), time.monotonic() - started)
    if _FIGURES:
        REPORTS.mkdir(parents=True, exist_ok=True)
        text = render_summary(_FIGURES)
        (REPORTS / "summary.md").write_text(text)
        print("\n" + text)
