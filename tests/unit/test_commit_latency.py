"""Record-to-commit latency: each record to the end of the first batch whose offsets hold it."""

from __future__ import annotations

from harness.records import AckedRecord, RecordedBatch
from harness.verify.check import commit_latencies


def _record(partition: int, offset: int | None, sent_ms: int | None) -> AckedRecord:
    return AckedRecord("t", partition, offset, "K", 0, "{}", timestamp_ms=sent_ms)


def _batch(batch_id: int, ranges: dict[int, tuple[int, int]], started_ms: int, duration_ms: int) -> RecordedBatch:
    return RecordedBatch(batch_id=batch_id, start_offsets={p: r[0] for p, r in ranges.items()}, end_offsets={p: r[1] for p, r in ranges.items()},
                         input_rows=sum(e - s for s, e in ranges.values()), started_ms=started_ms, duration_ms=duration_ms, watermark_ms=None)


def test_each_record_waits_for_the_batch_that_read_it_to_end() -> None:
    batches = [_batch(0, {0: (0, 2), 1: (0, 1)}, 1_000, 500), _batch(1, {0: (2, 3), 1: (1, 1)}, 2_000, 300)]
    records = [_record(0, 0, 900), _record(0, 1, 1_200), _record(1, 0, 1_000), _record(0, 2, 1_900)]
    assert commit_latencies(records, batches) == [600.0, 300.0, 500.0, 400.0]


def test_a_re_run_batch_counts_from_its_first_commit_and_an_unread_record_is_left_out() -> None:
    first = _batch(3, {0: (0, 5)}, 1_000, 1_000)
    re_run = _batch(3, {0: (0, 5)}, 5_000, 1_000)  # after a driver restart
    records = [_record(0, 4, 1_500), _record(0, 5, 1_500), _record(0, None, 1_500), _record(2, 0, 1_500)]
    assert commit_latencies(records, [re_run, first]) == [500.0]


def test_a_batch_that_ended_before_the_producers_clock_said_it_sent_gives_zero_not_a_negative() -> None:
    assert commit_latencies([_record(0, 0, 2_000)], [_batch(0, {0: (0, 1)}, 1_000, 500)]) == [0.0]


def test_a_row_that_carries_its_source_timestamp_is_timed_from_it_to_when_it_reached_the_sink() -> None:
    from harness.verify.check import pass_through_latencies

    outputs = {0: [{"symbol": "A", "source_timestamp_ms": 1_000}], 1: [{"symbol": "B", "source_timestamp_ms": 2_000}],
               2: [{"symbol": "C"}], 3: [{"symbol": "D", "source_timestamp_ms": 5_000}]}
    assert pass_through_latencies(outputs, {0: 1_020, 1: 2_500, 2: 9_000}) == [20.0, 500.0]
