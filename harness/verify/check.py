"""Decide whether a run was right, from its recorded history alone: named checkers composed into one verdict.

Each checker reads the `RunHistory` (and the oracle's outcome) and returns its checks, in the spirit of
Jepsen's composed checkers: delivery, the oracle's rows against the recorded sink, the job's finish,
and the scenario's expectations. Checks are data (name, ok, detail) so the report, the CLI and the
pytest plugin show them alike.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from harness.jobs.contract import load_callable
from harness.jobs.spec import JobSpec, job_options
from harness.records import AckedRecord, RecordedBatch, ReplayResult
from harness.verify.delivery import Delivery, account
from harness.verify.expectations import Expectations
from harness.verify.oracle import Batch, Comparison, JobSemantics, LateDrop, LateEvents, OracleResult, WindowRow, compare, expected_rows, parse_tick, windows_for


@dataclass(frozen=True)
class Check:
    """One verdict with its evidence; `fix` says what to do when it fails (static checks always say)."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    comparison: Comparison | None = None
    oracle: OracleResult | None = None
    generic_diff: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    commit_latencies_ms: list[float] = field(default_factory=list)  # per record: in Kafka -> its batch committed (`commit_latencies`)
    not_checked: list[str] = field(default_factory=list)  # checks the run could not make, each with why

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


WINDOW_COLUMNS = ("symbol", "window_start_ms", "window_end_ms", "high", "low", "count", "prices")


def window_row(row: Mapping[str, Any]) -> WindowRow:
    return WindowRow(row["symbol"], row["window_start_ms"], row["window_end_ms"], row["high"], row["low"], row["count"], tuple(row["prices"]))


def oracle_batches(batches: Sequence[RecordedBatch]) -> list[Batch]:
    return [Batch(b.batch_id, {p: (b.start_offsets.get(p, 0), end) for p, end in b.end_offsets.items()},
                  watermark_blind=b.event_times_seen is False and b.input_range > 0) for b in batches]


def verify_windows(records: Sequence[AckedRecord], batches: Sequence[RecordedBatch], outputs: Mapping[int, list[dict[str, Any]]],
                   semantics: JobSemantics, malformed_reported: int | None, emitted_ms: Mapping[int, int] | None = None,
                   sampled: bool = False) -> Verification:
    """The reference job's output against the built-in oracle. `outputs` are keyed by batch id, or, with
    `emitted_ms`, by the order the sink stored them, with when each was stored. A `sampled` sink (the
    console shows the first rows of each batch) is compared on the rows it shows: each must equal the
    oracle's row of its key, and a row it did not show is not missing."""
    result = Verification()
    oracle = expected_rows(records, oracle_batches(batches), semantics)
    result.oracle = oracle
    actual = [window_row(r) for r in final_table(outputs, semantics.output_mode, key=lambda r: (r["symbol"], r["window_start_ms"], r["window_end_ms"]))]
    shown = {(r.symbol, r.window_start_ms, r.window_end_ms) for r in actual}
    expected = [r for r in oracle.rows if (r.symbol, r.window_start_ms, r.window_end_ms) in shown] if sampled else oracle.rows
    result.comparison = compare(expected, actual)
    result.checks.append(Check("every acknowledged record was consumed", not oracle.unconsumed,
                               f"{len(oracle.unconsumed)} acknowledged records never reached a micro-batch" if oracle.unconsumed else f"{len(records)} records"))
    sample = f"the sink showed {len(actual)} of the {len(oracle.rows)} rows the oracle expects; those it showed are compared\n" if sampled else ""
    result.checks.append(Check("sink rows equal the oracle's", result.comparison.ok and bool(actual or not sampled), sample + result.comparison.render()))
    mismatched = [(b.batch_id, b.watermark_ms, oracle.watermarks.get(b.batch_id)) for b in batches
                  if semantics.watermark_ms is not None and b.watermark_ms is not None and b.watermark_ms != oracle.watermarks.get(b.batch_id)]
    result.checks.append(Check("Spark's watermark per batch equals the oracle's", not mismatched,
                               "; ".join(f"batch {b}: spark {s}, oracle {o}" for b, s, o in mismatched[:5]) or f"{len(batches)} batches"))
    if malformed_reported is not None:
        result.checks.append(Check("malformed records counted", malformed_reported == len(oracle.malformed),
                                   f"job reported {malformed_reported}, manifest holds {len(oracle.malformed)}"))
    result.latencies_ms = _latencies(records, emitted_ms if emitted_ms is not None else {b.batch_id: b.finished_ms for b in batches}, outputs, semantics)
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


def pass_through_latencies(outputs: Mapping[int, list[dict[str, Any]]], emitted_ms: Mapping[int, int]) -> list[float]:
    """Event-to-result of a job that passes each input record's Kafka timestamp through to its row as
    `source_timestamp_ms` (a stateless job can): per row, from that timestamp to when the row reached the sink."""
    return [max(0.0, float(emitted_ms[entry] - row["source_timestamp_ms"])) for entry, rows in outputs.items() if entry in emitted_ms
            for row in rows if isinstance(row.get("source_timestamp_ms"), int)]


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(_same_value(a.get(c), b.get(c)) for c in a)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(repr, a)) == sorted(map(repr, b))
    return a == b


def _latencies(records: Sequence[AckedRecord], finished: Mapping[int, int], outputs: Mapping[int, list[dict[str, Any]]],
               semantics: JobSemantics) -> list[float]:
    """Event-to-result: from the newest record of a window reaching Kafka to when its row first reached the
    sink (`finished`, per `outputs` key: the end of the batch that emitted it, or the sink's own time)."""
    newest: dict[tuple[str, int, int], int] = {}
    for record in records:
        tick = parse_tick(record.value)
        if tick is None or record.timestamp_ms is None:
            continue
        for start, end in windows_for(tick.event_time_ms, semantics.window_ms, semantics.slide):
            k = (tick.symbol, start, end)
            newest[k] = max(newest.get(k, 0), record.timestamp_ms)
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


# ----- the run's history and the composed checkers ------------------------------------------


class Finish(Protocol):
    """How the wait for the job's last batch ended (`harness.jobs.catchup.CatchUpState` is one)."""

    outcome: str

    @property
    def finished(self) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class RunHistory:
    """Everything a run recorded, and all the checkers read: what was sent and acknowledged, what the
    brokers store, and what the job did (its committed batches, its sink, its malformed count)."""

    job: JobSpec
    expect: Expectations
    replays: Sequence[ReplayResult]
    acked: Sequence[AckedRecord]
    stored: Sequence[AckedRecord]
    batches: Sequence[RecordedBatch]
    outputs: Mapping[int, list[dict[str, Any]]]
    malformed_reported: int | None  # None: the job does not report a malformed count (a submitted application)
    finish: Finish | None = None
    emitted_ms: Mapping[int, int] | None = None  # outputs keyed by sink order, with when each reached the sink
    rewritten: int | None = None  # rows an at-least-once sink wrote again, compared once
    sink_notes: Sequence[str] = ()  # what the job's own sink guarantees, and what could not be read back
    sampled: bool = False  # the sink shows only some rows of each batch (the console): rows it did not show are not missing
    late_events: LateEvents = "previous-batch"  # whose watermark drops late rows: the release's Spark decides (JobSemantics)

    @property
    def failed_sends(self) -> list[str]:
        return [f for r in self.replays for f in r.failed]


@dataclass
class Verdict:
    checks: list[Check]
    verification: Verification
    delivery: Delivery

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


Checker = Callable[[RunHistory, Verification, Delivery], list[Check]]


def commit_latencies(records: Sequence[AckedRecord], batches: Sequence[RecordedBatch]) -> list[float]:
    """Record-to-commit latency, per record the job consumed: from its broker timestamp to the end of the first
    batch whose offset range holds it. It measures the engine (trigger wait, reading, the batch's work, its
    commit) and not the output mode's wait: in update mode that batch emitted the record's window row; in
    append mode the row waits on, until the watermark passes the window's end. A record no batch read is left
    out (the consumption check names it)."""
    ranges: dict[int, list[tuple[int, int, int]]] = {}
    for batch in sorted(batches, key=lambda b: b.finished_ms):
        for partition, end in batch.end_offsets.items():
            start = batch.start_offsets.get(partition, 0)
            if end > start:
                ranges.setdefault(partition, []).append((start, end, batch.finished_ms))
    starts = {p: sorted(r) for p, r in ranges.items()}
    latencies: list[float] = []
    for record in records:
        if record.offset is None or record.timestamp_ms is None or record.partition not in starts:
            continue
        spans = starts[record.partition]
        at = bisect.bisect_right(spans, (record.offset, math.inf, math.inf))
        covering = [finished for start, end, finished in spans[:at] if start <= record.offset < end]
        if covering:
            latencies.append(max(0.0, float(min(covering) - record.timestamp_ms)))
    return latencies


def judge(history: RunHistory) -> Verdict:
    """The oracle's outcome and the delivery accounting, then every checker in order."""
    verification = verify_with_oracle(history)
    verification.commit_latencies_ms = commit_latencies(history.stored, history.batches)
    delivery = account(history.acked, history.stored)
    return Verdict([c for checker in CHECKERS for c in checker(history, verification, delivery)], verification, delivery)


def verify_with_oracle(history: RunHistory) -> Verification:
    """The sink against the built-in oracle, or against the job's own (`job.oracle`).

    Both oracles are given the records the brokers store, not the ones the producer had acknowledged:
    the job can only read what the topic holds (with acks=1 an acknowledged record can be lost in a
    failover, and a retry without idempotence can store one twice), so only the stored records
    determine its output. Whether storage kept every acknowledged record is the delivery check's
    question, asked separately."""
    spec = history.job
    if spec.oracle:
        oracle = load_callable(spec.oracle, what="oracle")
        expected = oracle(list(history.stored), oracle_batches(history.batches), job_options(spec))
        key_columns = [c.strip() for c in str(spec.options.get("key", "symbol,window_start_ms,window_end_ms")).split(",")]
        result = verify_generic(expected, history.outputs, spec.output_mode, key_columns)
        result.latencies_ms = pass_through_latencies(history.outputs, history.emitted_ms or {})
        return result
    semantics = JobSemantics(spec.window, spec.slide, spec.watermark, spec.output_mode, late_events=history.late_events)
    foreign = sorted({c for rows in history.outputs.values() for row in rows for c in WINDOW_COLUMNS if c not in row})
    if foreign:
        return verify_what_is_checkable(history, semantics, foreign)
    return verify_windows(history.stored, history.batches, history.outputs, semantics, history.malformed_reported, history.emitted_ms,
                          sampled=history.sampled)


def verify_what_is_checkable(history: RunHistory, semantics: JobSemantics, missing_columns: Sequence[str]) -> Verification:
    """A job whose sink rows are not the built-in oracle's (and that names no oracle of its own) is
    checked for what does not need its rows' meaning: every acknowledged record reached a committed
    batch, Spark's watermark per batch, output present. The report lists the comparison as not made,
    and why, rather than passing it or failing on columns the job never promised."""
    result = Verification()
    oracle = expected_rows(history.stored, oracle_batches(history.batches), semantics)
    result.oracle = oracle
    result.checks.append(Check("every acknowledged record was consumed", not oracle.unconsumed,
                               f"{len(oracle.unconsumed)} acknowledged records never reached a micro-batch" if oracle.unconsumed
                               else f"{len(history.stored)} records"))
    rows = sum(len(r) for r in history.outputs.values())
    result.checks.append(Check("the job wrote output to its sink", rows > 0, f"{rows} rows"))
    result.not_checked.append(f"sink rows equal the oracle's: the rows lack the built-in oracle's columns {', '.join(missing_columns)}; "
                              "name your own oracle in `job.oracle` ('package.module:function') to compare them row by row")
    return result


def every_send_acknowledged(history: RunHistory, _: Verification, __: Delivery) -> list[Check]:
    failed = history.failed_sends
    return [Check("every record sent was acknowledged", not failed, "; ".join(failed[:5]) or f"{len(history.acked)} acknowledged")]


def nothing_lost(history: RunHistory, _: Verification, delivery: Delivery) -> list[Check]:
    return _within_limit("no acknowledged record lost", delivery, "lost", history.expect.max_lost,
                         "acknowledged records are not in Kafka")


def nothing_duplicated(history: RunHistory, _: Verification, delivery: Delivery) -> list[Check]:
    return _within_limit("no record duplicated", delivery, "duplicated", history.expect.max_duplicated,
                         "records stored more often than acknowledged")


def _within_limit(name: str, delivery: Delivery, kind: str, limit: int | None, what: str) -> list[Check]:
    """A delivery count against the scenario's limit (none: not checked), with examples of each."""
    if limit is None:
        return []
    found = getattr(delivery, kind)
    allowed = f" (at most {limit} allowed)" if kind == "lost" else ""
    return [Check(name, len(found) <= limit, "\n".join([f"{len(found)} {what}{allowed}",
                                                         *(f"- {kind} {line}" for line in delivery.to_json()[f"{kind}_examples"])]))]


def oracle_agrees(_: RunHistory, verification: Verification, __: Delivery) -> list[Check]:
    return list(verification.checks)


def job_finished(history: RunHistory, _: Verification, __: Delivery) -> list[Check]:
    finish = history.finish
    if finish is None:
        return []
    return [Check("the job finished before it was stopped", finish.finished, f"{finish.outcome}: {finish.describe()}")]


def malformed_as_expected(history: RunHistory, _: Verification, __: Delivery) -> list[Check]:
    expected = history.expect.malformed
    if expected is None:
        return []
    if history.malformed_reported is None:
        return [Check("malformed count as expected", False, f"expected {expected}, but this job reports no malformed count to the harness",
                      "remove `expect.malformed`, or count malformed records in the job's own sink")]
    return [Check("malformed count as expected", history.malformed_reported == expected,
                  f"expected {expected}, job reported {history.malformed_reported}")]


def late_within_allowance(history: RunHistory, verification: Verification, _: Delivery) -> list[Check]:
    """Records the watermark dropped as the data arrived count against `expect.max_late_records`; records
    dropped only because the job read some partitions later than others (a window that was still open
    when the producer sent its record) are listed beside them. Which of those Spark drops depends on its
    line (3.3 filters with the batch's own watermark, 3.4+ with the one before) and on how the reader
    cut the batches; a replay compressed in time shrinks a watermark of seconds to milliseconds of
    skew. The oracle models every drop either way, so the sink is still checked row by row."""
    allowed = history.expect.max_late_records
    if allowed is None or verification.oracle is None:
        return []
    by_data, skewed = _late_drops_by_cause(history, verification.oracle.late_drops)
    late = {(d.record.partition, d.record.offset) for d in by_data}
    detail = [f"{len(late)} records dropped by the watermark as the data arrived, at most {allowed} allowed"]
    detail += [f"- dropped {d.symbol} window {_clock(d.window_start_ms)}..{_clock(d.window_end_ms)}: partition {d.record.partition} "
               f"offset {d.record.offset} (event time {_clock(d.record.event_time_ms)}) in batch {d.batch_id}" for d in by_data[:20]]
    records = {(d.record.partition, d.record.offset) for d in skewed} - late
    if records:
        batches = sorted({d.batch_id for d in skewed})
        detail.append(f"and {len(records)} records dropped only because the job read their partitions later than others "
                      f"(their windows were open when they were sent; batches {', '.join(map(str, batches[:10]))}): "
                      f"a replay compressed in time turns the {history.job.watermark or 0} ms watermark into milliseconds of partition skew; "
                      "the oracle's rows include these drops")
    return [Check("late records within the allowance", len(late) <= allowed, "\n".join(detail))]


def _late_drops_by_cause(history: RunHistory, dropped: Sequence[LateDrop]) -> tuple[list[LateDrop], list[LateDrop]]:
    """(drops the data as sent causes, drops only the job's partition read skew causes)."""
    by_data = _late_as_sent(dropped, history.stored, history.job.watermark or 0)
    late = {id(d) for d in by_data}
    return by_data, [d for d in dropped if id(d) not in late]


def _late_as_sent(dropped: Sequence[LateDrop], stored: Sequence[AckedRecord], watermark_ms: int) -> list[LateDrop]:
    """The drops a reader that kept up would also make: the window had closed by the watermark of every
    record sent before this one (by the producer's timestamp; one without a timestamp counts as late)."""
    timed = sorted((r.timestamp_ms, r.event_time_ms) for r in stored if r.timestamp_ms is not None and r.event_time_ms is not None)
    stamps = [t for t, _ in timed]
    highest: list[int] = []
    for _, event_time in timed:
        highest.append(max(event_time, highest[-1]) if highest else event_time)

    def closed_when_sent(drop: LateDrop) -> bool:
        if drop.record.timestamp_ms is None:
            return True
        earlier = bisect.bisect_left(stamps, drop.record.timestamp_ms)
        return earlier > 0 and drop.window_end_ms <= highest[earlier - 1] - watermark_ms

    return [d for d in dropped if closed_when_sent(d)]


def enough_rows(history: RunHistory, verification: Verification, _: Delivery) -> list[Check]:
    """A floor against a vacuous run (an empty sink, a watermark that drops everything). Windows that only the
    job's partition read skew emptied count toward it: like `late_within_allowance`, the floor judges the
    scenario and the job, not how a loaded machine cut the batches of a replay compressed in time (CI saw
    Spark 3.3 over mTLS lose 693 of 3,600 ticks so, all modelled and named by the oracle)."""
    minimum = history.expect.min_windows
    if minimum is None:
        return []
    oracle = verification.oracle
    rows = len(oracle.rows) if oracle else sum(len(r) for r in history.outputs.values())
    emptied: set[tuple[str, int]] = set()
    if oracle is not None:
        kept = {(r.symbol, r.window_start_ms) for r in oracle.rows}
        emptied = {(d.symbol, d.window_start_ms) for d in _late_drops_by_cause(history, oracle.late_drops)[1]} - kept
    detail = f"{rows} rows, at least {minimum} expected"
    if emptied:
        detail += f"; and {len(emptied)} windows emptied only by the job's partition read skew (see the late records' check) count toward it"
    return [Check("enough result rows", rows + len(emptied) >= minimum, detail)]


CHECKERS: tuple[Checker, ...] = (every_send_acknowledged, nothing_lost, nothing_duplicated, oracle_agrees, job_finished,
                                 malformed_as_expected, late_within_allowance, enough_rows)


def _clock(ms: int | None) -> str:
    return "?" if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M:%S")
