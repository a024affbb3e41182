"""The late-records allowance counts what the watermark dropped as the data arrived; records dropped only
because the job read their partition later than others (how Spark 3.3 treats a lagging partition) are
named beside it, and the oracle's rows include both."""

from __future__ import annotations

import json

from harness.jobs.spec import JobSpec
from harness.records import AckedRecord, RecordedBatch
from harness.verify.check import RunHistory, judge
from harness.verify.expectations import Expectations

T0 = 1_700_000_000_000


def tick(partition: int, offset: int, symbol: str, sec: int, sent_ms: int) -> AckedRecord:
    value = json.dumps({"symbol": symbol, "time": T0 + sec * 1000, "price": float(sec), "size": 1})
    return AckedRecord("stockVals", partition, offset, symbol, T0 + sec * 1000, value, timestamp_ms=sent_ms)


def batch(batch_id: int, start: dict[int, int], end: dict[int, int], watermark_ms: int) -> RecordedBatch:
    return RecordedBatch(batch_id=batch_id, start_offsets=start, end_offsets=end, input_rows=sum(end[p] - start[p] for p in end),
                         started_ms=batch_id, duration_ms=1, watermark_ms=watermark_ms)


def late_check(stored: list[AckedRecord], *, min_windows: int | None = None) -> tuple[bool, str, bool]:
    """Batch 0 reads partition 0 ahead; batch 1 brings partition 1 with partition 0's newest record (Spark 3.3 rules)."""
    job = JobSpec.model_validate({"name": "stock-windows", "window": "10s", "watermark": "30s", "output_mode": "append"})
    batches = [batch(0, {0: 0, 1: 0}, {0: 2, 1: 0}, 0), batch(1, {0: 2, 1: 0}, {0: 3, 1: 2}, T0 + 70_000)]
    outputs: dict[int, list[dict[str, object]]] = {1: [{"symbol": "A", "window_start_ms": T0, "window_end_ms": T0 + 10_000, "high": 1.0,
                                                       "low": 1.0, "count": 1, "prices": [1.0]}]}
    history = RunHistory(job=job, expect=Expectations(max_late_records=0, min_windows=min_windows), replays=[], acked=stored, stored=stored, batches=batches,
                         outputs=outputs, malformed_reported=0, late_events="current-batch")
    verdict = judge(history)
    late = next(c for c in verdict.checks if c.name == "late records within the allowance")
    rows = next(c for c in verdict.checks if c.name == "sink rows equal the oracle's")
    floor = next((c for c in verdict.checks if c.name == "enough result rows"), None)
    if min_windows is not None:
        assert floor is not None
        return floor.ok, floor.detail, rows.ok
    return late.ok, late.detail, rows.ok


def test_a_record_dropped_only_because_its_partition_was_read_late_is_named_not_counted() -> None:
    on_time = [tick(0, 0, "A", 1, 1), tick(0, 1, "A", 100, 2), tick(0, 2, "A", 200, 3), tick(1, 0, "B", 5, 1), tick(1, 1, "B", 150, 3)]
    ok, detail, rows_ok = late_check(on_time)
    assert ok, detail
    assert detail.startswith("0 records dropped by the watermark as the data arrived")
    assert "1 records dropped only because the job read their partitions later than others" in detail and "batches 1" in detail
    assert rows_ok  # the oracle drops B's window as Spark 3.3 did, so the sink matches it


def test_a_record_sent_after_its_window_closed_counts_against_the_allowance() -> None:
    sent_late = [tick(0, 0, "A", 1, 1), tick(0, 1, "A", 100, 2), tick(0, 2, "A", 200, 3), tick(1, 0, "B", 5, 5), tick(1, 1, "B", 150, 6)]
    ok, detail, _ = late_check(sent_late)
    assert not ok
    assert detail.startswith("1 records dropped by the watermark as the data arrived, at most 0 allowed")
    assert "partition 1 offset 0" in detail and "only because" not in detail


def test_a_window_emptied_only_by_read_skew_counts_toward_the_floor_of_result_rows() -> None:
    """One window reaches the sink (A's first); B's first was emptied only because partition 1 was read late:
    a floor of two rows holds. Sent after its window closed, the same record empties it for real: the floor fails."""
    on_time = [tick(0, 0, "A", 1, 1), tick(0, 1, "A", 100, 2), tick(0, 2, "A", 200, 3), tick(1, 0, "B", 5, 1), tick(1, 1, "B", 150, 3)]
    ok, detail, _ = late_check(on_time, min_windows=2)
    assert ok, detail
    assert detail.startswith("1 rows, at least 2 expected; and 1 windows emptied only by the job's partition read skew")
    sent_late = [tick(0, 0, "A", 1, 1), tick(0, 1, "A", 100, 2), tick(0, 2, "A", 200, 3), tick(1, 0, "B", 5, 5), tick(1, 1, "B", 150, 6)]
    ok, detail, _ = late_check(sent_late, min_windows=2)
    assert not ok and detail == "1 rows, at least 2 expected"
