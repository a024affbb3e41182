"""Decide whether a run was right: the oracle's rows against the recorded sink, plus delivery checks.

Checks are data (name, ok, detail) so the report, the CLI and the pytest plugin show them alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.verify.manifest import AckedRecord
from harness.verify.oracle import Batch, Comparison, JobSemantics, OracleResult, WindowRow, compare, expected_rows, parse_tick, windows_for


@dataclass(frozen=True)
class Check:
    """One verdict with its evidence; `fix` says what to do when it fails (static checks always say)."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""


@dataclass(frozen=True)
class RecordedBatch:
    """What verification needs of one micro-batch (from Spark's progress)."""

    batch_id: int
    start_offsets: Mapping[int, int]
    end_offsets: Mapping[int, int]
    finished_ms: int
    watermark_ms: int | None


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    comparison: Comparison | None = None
    oracle: OracleResult | None = None
    generic_diff: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def final_table(outputs: Mapping[int, list[dict[str, Any]]], mode: str, key: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """The sink's content after the run, as each output mode defines it."""
    ordered = [outputs[b] for b in sorted(outputs)]
    if mode == "complete":
        return list(ordered[-1]) if ordered else []
    if mode == "update":
        latest: dict[Any, dict[str, Any]] = {}
        for rows in ordered:
            for row in rows:
                latest[key(row)] = row
        return list(latest.values())
    return [row for rows in ordered for row in rows]


def window_row(row: Mapping[str, Any]) -> WindowRow:
    return WindowRow(row["symbol"], row["window_start_ms"], row["window_end_ms"], row["high"], row["low"], row["count"], tuple(row["prices"]))


def oracle_batches(batches: Sequence[RecordedBatch]) -> list[Batch]:
    return [Batch(b.batch_id, {p: (b.start_offsets.get(p, 0), end) for p, end in b.end_offsets.items()}) for b in batches]


def verify_windows(records: Sequence[AckedRecord], batches: Sequence[RecordedBatch], outputs: Mapping[int, list[dict[str, Any]]],
                   semantics: JobSemantics, malformed_reported: int) -> Verification:
    """The reference job's output against the built-in oracle."""
    result = Verification()
    oracle = expected_rows(records, oracle_batches(batches), semantics)
    result.oracle = oracle
    actual = [window_row(r) for r in final_table(outputs, semantics.output_mode, key=lambda r: (r["symbol"], r["window_start_ms"], r["window_end_ms"]))]
    result.comparison = compare(oracle.rows, actual)
    result.checks.append(Check("every acknowledged record was consumed", not oracle.unconsumed,
                               f"{len(oracle.unconsumed)} acknowledged records never reached a micro-batch" if oracle.unconsumed else f"{len(records)} records"))
    result.checks.append(Check("sink rows equal the oracle's", result.comparison.ok, result.comparison.render()))
    mismatched = [(b.batch_id, b.watermark_ms, oracle.watermarks.get(b.batch_id)) for b in batches
                  if semantics.watermark_ms is not None and b.watermark_ms is not None and b.watermark_ms != oracle.watermarks.get(b.batch_id)]
    result.checks.append(Check("Spark's watermark per batch equals the oracle's", not mismatched,
                               "; ".join(f"batch {b}: spark {s}, oracle {o}" for b, s, o in mismatched[:5]) or f"{len(batches)} batches"))
    result.checks.append(Check("malformed records counted", malformed_reported == len(oracle.malformed),
                               f"job reported {malformed_reported}, manifest holds {len(oracle.malformed)}"))
    result.latencies_ms = _latencies(records, batches, outputs, semantics)
    return result


def verify_generic(expected: Sequence[Mapping[str, Any]], outputs: Mapping[int, list[dict[str, Any]]], mode: str, key_columns: Sequence[str]) -> Verification:
    """A user's job checked against the user's own oracle, row by row on the named key columns."""
    result = Verification()

    def key(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(c) for c in key_columns)

    actual = final_table(outputs, mode, key)
    want = {key(r): dict(r) for r in expected}
    got: dict[Any, list[dict[str, Any]]] = {}
    for row in actual:
        got.setdefault(key(row), []).append(row)
    lines = [f"- missing    {k}: {want[k]}" for k in want if k not in got]
    lines += [f"+ extra      {k}: {rows[0]}" for k, rows in got.items() if k not in want]
    lines += [f"! duplicated {k} present {len(rows)} times" for k, rows in got.items() if len(rows) > 1]
    for k, rows in got.items():
        if k in want and not _same(want[k], rows[-1]):
            diffs = [f"{c}: expected {want[k].get(c)!r}, got {rows[-1].get(c)!r}" for c in want[k] if not _same_value(want[k].get(c), rows[-1].get(c))]
            lines.append(f"~ wrong      {k}: {'; '.join(diffs)}")
    result.generic_diff = lines
    summary = f"expected {len(want)} rows, actual {len(actual)}"
    result.checks.append(Check("sink rows equal the user's oracle", not lines, "\n".join([summary, *lines[:20]])))
    return result


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(_same_value(a.get(c), b.get(c)) for c in a)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(repr, a)) == sorted(map(repr, b))
    return a == b


def _latencies(records: Sequence[AckedRecord], batches: Sequence[RecordedBatch], outputs: Mapping[int, list[dict[str, Any]]],
               semantics: JobSemantics) -> list[float]:
    """Event-to-result: from the newest record of a window reaching Kafka to the end of the batch that first emitted it."""
    newest: dict[tuple[str, int, int], int] = {}
    for record in records:
        tick = parse_tick(record.value)
        if tick is None or record.timestamp_ms is None:
            continue
        for start, end in windows_for(tick.event_time_ms, semantics.window_ms, semantics.slide):
            k = (tick.symbol, start, end)
            newest[k] = max(newest.get(k, 0), record.timestamp_ms)
    finished = {b.batch_id: b.finished_ms for b in batches}
    seen: set[tuple[str, int, int]] = set()
    latencies: list[float] = []
    for batch_id in sorted(outputs):
        for row in outputs[batch_id]:
            k = (row["symbol"], row["window_start_ms"], row["window_end_ms"])
            if k in seen or k not in newest or batch_id not in finished:
                continue
            seen.add(k)
            latencies.append(max(0.0, float(finished[batch_id] - newest[k])))
    return latencies


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]
