"""Benchmarks measure ratios against a baseline taken in the same run, never bare timings."""

from __future__ import annotations

import os
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
    lines = ["# Benchmark summary", "", "Each figure is a ratio to a baseline measured in the same run, or, where the goal is a time (latency), seconds.", "",
             "| figure | value | goal | | measured as |", "|---|---|---|---|---|"]
    for f in figures:
        mark = {True: "meets", False: "**misses**", None: ""}[f.meets]
        lines.append(f"| {f.name} | {f.value:.3f} | {f.goal or '-'} | {mark} | {f.how} |")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session", autouse=True)
def summary_table() -> Iterator[None]:
    yield
    if _FIGURES:
        REPORTS.mkdir(parents=True, exist_ok=True)
        text = render_summary(_FIGURES)
        (REPORTS / "summary.md").write_text(text)
        print("\n" + text)
