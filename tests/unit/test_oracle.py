"""Oracle for the windowed aggregation, the comparison, and the ack manifest.

The hand-worked scenarios below were also run through pyspark 4.2.0 (file source,
one file per micro-batch, foreachBatch sink) and matched per batch: watermark,
numRowsDroppedByWatermark, numRowsTotal and the emitted rows.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.records import AckedRecord
from harness.verify.manifest import read_manifest, write_manifest
from harness.verify.oracle import (
    Batch,
    JobSemantics,
    OracleResult,
    WindowRow,
    compare,
    expected_rows,
    parse_tick,
    windows_for,
)

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z, a multiple of every window used here
TOPIC = "stockVals"


def value(symbol: str | None, sec: int, price: float | str | None, ms: int = 123) -> str:
    """A producer value at T0 + sec seconds (+ms, which Spark truncates away)."""
    body = {"symbol": symbol, "time": T0 + sec * 1000 + ms, "price": price, "size": 1}
    return json.dumps(body, separators=(",", ":"))


def records(values: list[str], partition: int = 0) -> list[AckedRecord]:
    return [AckedRecord(TOPIC, partition, i, None, None, v) for i, v in enumerate(values)]


def batches(*sizes: int) -> list[Batch]:
    """Consecutive batches on partition 0 reading ``sizes[i]`` records each."""
    out, start = [], 0
    for i, size in enumerate(sizes):
        out.append(Batch(i, {0: (start, start + size)}))
        start += size
    return out


def row(symbol: str, start_sec: int, end_sec: int, prices: list[float]) -> WindowRow:
    start, end = T0 + start_sec * 1000, T0 + end_sec * 1000
    return WindowRow(symbol, start, end, max(prices), min(prices), len(prices), tuple(prices))


def s(sec: int) -> int:
    return T0 + sec * 1000


# ------------------------------------------------------------------ parsing, windows


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"symbol":"MSFT","time":1700000000123,"price":152.5}', ("MSFT", 1700000000123, 152.5)),
        # non-string symbols keep their JSON text
        ('{"symbol":123,"time":5,"price":1,"size":3}', ("123", 5, 1.0)),
        ('{"symbol":"A","time":5,"price":"Infinity"}', ("A", 5, math.inf)),
        # a bad size only nulls size (partial results), which the aggregation ignores
        ('{"symbol":"A","time":5,"price":2,"size":99999999999}', ("A", 5, 2.0)),
        # the last duplicate key wins; Jackson stops reading after the first value
        ('{"symbol":"A","symbol":"B","time":5,"price":1}', ("B", 5, 1.0)),
        ('{"symbol":"A","time":5,"price":1} trailing', ("A", 5, 1.0)),
        ('  {"symbol":"A","time":5,"price":1e400}', ("A", 5, math.inf)),
    ],
)
def test_parse_tick_accepts_what_spark_from_json_accepts(raw: str, expected: tuple) -> None:
    tick = parse_tick(raw)
    assert tick is not None and (tick.symbol, tick.time_ms, tick.price) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "",
        "null",
        "{}",
        '[{"symbol":"A","time":5,"price":1}]',
        '{"symbol":"A","time":"5","price":1}',  # long from a string: null
        '{"symbol":"A","time":1.5e12,"price":1}',  # long from a float: null
        '{"symbol":"A","time":99999999999999999999,"price":1}',  # long overflow: null
        '{"symbol":"A","time":true,"price":1}',
        '{"symbol":"A","time":5,"price":"152.5"}',  # double from a non-special string: null
        '{"symbol":"A","time":5,"price":[1]}',
        '{"symbol":null,"time":5,"price":1}',
        '{"SYMBOL":"A","time":5,"price":1}',  # field names are case-sensitive
        '{"symbol":"A","time":5,"price":1,}',  # syntax error nulls the whole row
        '{"symbol":"A","time":05,"price":1}',
    ],
)
def test_parse_tick_rejects_what_spark_nulls(raw: str) -> None:
    assert parse_tick(raw) is None


def test_event_time_is_truncated_to_whole_seconds_by_floor() -> None:
    assert parse_tick('{"symbol":"A","time":1999,"price":1}').event_time_ms == 1000
    assert parse_tick('{"symbol":"A","time":-1500,"price":1}').event_time_ms == -2000


def test_windows_for_tumbling_and_sliding() -> None:
    assert windows_for(s(3), 4000, 4000) == [(s(0), s(4))]
    assert windows_for(s(4), 4000, 4000) == [(s(4), s(8))]  # start inclusive, end exclusive
    assert windows_for(12_000, 10_000, 3_000) == [
        (3_000, 13_000), (6_000, 16_000), (9_000, 19_000), (12_000, 22_000)
    ]
    assert windows_for(4_000, 4_500, 1_500) == [(0, 4_500), (1_500, 6_000), (3_000, 7_500)]


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**13), st.integers(1, 20_000), st.data())
def test_windows_for_is_exactly_the_containing_aligned_windows(t: int, window: int, data) -> None:
    slide = data.draw(st.integers(1, window))
    got = windows_for(t, window, slide)
    assert all(start % slide == 0 and start <= t < end == start + window for start, end in got)
    assert len(got) == len({w for w in got})
    first = got[0][0]
    assert first - slide + window <= t  # the next older aligned window no longer contains t


# ------------------------------------------------------------------------ semantics


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_ms": 0}, "window_ms"),
        ({"window_ms": 4000, "slide_ms": 5000}, "slide_ms"),
        ({"window_ms": 4000, "slide_ms": 0}, "slide_ms"),
        ({"window_ms": 4000, "watermark_ms": -1}, "watermark_ms"),
        ({"window_ms": 4000, "output_mode": "upsert"}, "output_mode"),
        ({"window_ms": 4000, "output_mode": "append"}, "needs a watermark"),
    ],
)
def test_job_semantics_rejects_what_spark_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JobSemantics(**kwargs)


def test_job_semantics_defaults_match_the_sample_notebook() -> None:
    sem = JobSemantics(4000)
    assert (sem.slide, sem.watermark_ms, sem.output_mode) == (4000, None, "complete")


# ----------------------------------------------------- hand-worked watermark scenario

# Tumbling 10 s windows, watermark delay 0. Batch 0 sees t=100 s, batch 1 t=200 s, so
# batch 2 filters late rows with watermark 100 s (batch 1's) but evicts with 200 s.
SCENARIO = [
    value("MSFT", 100, 1.0),
    value("MSFT", 200, 2.0),
    value("MSFT", 150, 3.0),  # end 160 in (100, 200]: accepted *and* emitted in batch 2
    value("MSFT", 95, 4.0),  # window end 100 == late watermark: dropped (<=)
    value("MSFT", 100, 5.0),  # window [100,110) still open: merges with price 1.0
    value("BA", 99, 6.0),  # end 100: dropped
    value("MSFT", 199, 7.0),  # end 200 == batch 3 late watermark: dropped
    value("MSFT", 160, 8.0),
]
SCENARIO_BATCHES = batches(1, 1, 4, 2)


def run_scenario(mode: str) -> OracleResult:
    return expected_rows(records(SCENARIO), SCENARIO_BATCHES, JobSemantics(10_000, None, 0, mode))


def test_watermark_per_batch_lags_one_batch_behind_max_event_time() -> None:
    result = run_scenario("append")
    assert result.watermarks == {0: 0, 1: s(100), 2: s(200), 3: s(200)}
    assert [b.late_events_watermark_ms for b in result.batches] == [0, 0, s(100), s(200)]
    assert [b.max_event_time_ms for b in result.batches] == [s(100), s(200), s(150), s(199)]
    assert result.next_watermark_ms == s(200)
    assert not result.pending_no_data_batch


def test_append_drops_late_groups_and_emits_closed_windows_in_the_same_batch() -> None:
    result = run_scenario("append")
    assert [b.rows_dropped_by_watermark for b in result.batches] == [0, 0, 2, 2]
    assert [b.state_rows_total for b in result.batches] == [1, 2, 1, 1]
    assert [b.emitted for b in result.batches][:2] == [(), ()]
    assert result.batches[2].emitted == (
        row("MSFT", 100, 110, [1.0, 5.0]),
        row("MSFT", 150, 160, [3.0]),
    )
    assert result.rows == list(result.batches[2].emitted)
    assert [json.loads(r.value)["price"] for r in result.dropped_late] == [4.0, 6.0, 7.0, 8.0]
    assert {(d.symbol, d.window_end_ms, d.batch_id) for d in result.late_drops} == {
        ("MSFT", s(100), 2), ("BA", s(100), 2), ("MSFT", s(200), 3), ("MSFT", s(170), 3)
    }


def test_update_emits_updated_windows_then_evicts_without_emitting() -> None:
    result = run_scenario("update")
    assert [len(b.emitted) for b in result.batches] == [1, 1, 2, 0]
    assert result.batches[2].state_rows_total == 1  # [100,110) and [150,160) evicted
    assert result.rows == [
        row("MSFT", 100, 110, [1.0, 5.0]),
        row("MSFT", 150, 160, [3.0]),
        row("MSFT", 200, 210, [2.0]),
    ]
    assert len(result.dropped_late) == 4


def test_complete_mode_never_drops_even_with_a_watermark() -> None:
    result = run_scenario("complete")
    assert result.dropped_late == [] and result.late_drops == []
    assert len(result.rows) == 7
    assert row("MSFT", 90, 100, [4.0]) in result.rows
    assert result.batches[-1].emitted == tuple(result.rows)
    assert result.watermarks[2] == s(200)  # still tracked and reported


def test_no_data_batch_advances_watermark_and_emits_in_append() -> None:
    recs = records([value("F", 100, 9.0), value("F", 120, 9.5)])
    sem = JobSemantics(10_000, None, 5_000, "append")
    before = expected_rows(recs, batches(1, 1), sem)
    assert before.rows == [] and before.pending_no_data_batch
    after = expected_rows(recs, [*batches(1, 1), Batch(2, {0: (2, 2)})], sem)
    assert after.batches[2].watermark_ms == s(115) and after.batches[2].input_records == 0
    assert after.rows == [row("F", 100, 110, [9.0])]
    assert not after.pending_no_data_batch


def test_a_batch_a_restarted_driver_re_ran_into_a_sink_that_had_it_counts_but_does_not_move_the_watermark() -> None:
    """Seen on Spark 4.2 (parquet sink, driver killed after the sink's log had batch 1 but before the commit
    log did): the re-run batch 1 reported no event-time max, commits/1 held nextBatchWatermarkMs 0, and
    batch 2 ran with watermark 0 where an unbroken run has batch 1's max minus the delay."""
    recs = records([value("F", 100, 9.0), value("F", 120, 9.5), value("F", 130, 9.6)])
    sem = JobSemantics(10_000, None, 5_000, "append")
    unbroken = expected_rows(recs, batches(1, 1, 1), sem)
    assert unbroken.watermarks == {0: 0, 1: s(95), 2: s(115)}
    re_run = [Batch(0, {0: (0, 1)}), Batch(1, {0: (1, 2)}, watermark_blind=True), Batch(2, {0: (2, 3)})]
    restarted = expected_rows(recs, re_run, sem)
    assert restarted.watermarks == {0: 0, 1: s(95), 2: s(95)}  # batch 1's 120 s never reached the tracker
    assert restarted.batches[1].input_records == 1 and restarted.next_watermark_ms == s(125)


def test_malformed_records_are_reported_and_do_not_advance_the_watermark() -> None:
    far_future = 10**6
    vals = [value("F", 100, 9.0), value("F", far_future, "x"), value(None, far_future, 1.0)]
    vals += ["not json", value("F", 101, 9.1)]
    sem = JobSemantics(10_000, None, 1_000, "update")
    result = expected_rows(records(vals), batches(4, 1), sem)
    assert [r.offset for r in result.malformed] == [1, 2, 3]
    assert result.watermarks[1] == s(99)
    assert result.batches[0].input_records == 4  # Spark's numInputRows counts them too
    assert result.rows == [row("F", 100, 110, [9.0, 9.1])]


def test_records_outside_every_batch_are_unconsumed_not_dropped() -> None:
    recs = records([value("F", 1, 1.0), value("F", 2, 2.0), value("F", 3, 3.0), value("F", 4, 4.0)])
    result = expected_rows(recs, batches(2), JobSemantics(10_000))
    assert [r.offset for r in result.unconsumed] == [2, 3]
    assert result.rows == [row("F", 0, 10, [1.0, 2.0])]
    assert expected_rows(recs, [], JobSemantics(10_000)).unconsumed == recs


def test_sliding_window_record_can_be_partly_late() -> None:
    vals = [value("F", 120, 1.0), value("F", 121, 2.0), value("F", 116, 3.0)]
    sem = JobSemantics(10_000, 5_000, 0, "update")
    result = expected_rows(records(vals), batches(1, 1, 1), sem)
    assert [(d.window_start_ms, d.window_end_ms) for d in result.late_drops] == [(s(110), s(120))]
    assert result.dropped_late == []  # its [115,125) window still counted it
    assert row("F", 115, 125, [1.0, 2.0, 3.0]) in result.rows


def test_multiple_partitions_are_read_by_offset_range() -> None:
    recs = records([value("F", 1, 1.0), value("F", 2, 2.0)], partition=0)
    recs += records([value("F", 3, 3.0), value("F", 4, 4.0)], partition=1)
    bs = [Batch(0, {0: (0, 1), 1: (0, 2)}), Batch(1, {0: (1, 2), 1: (2, 2)})]
    result = expected_rows(recs, bs, JobSemantics(10_000, None, None, "update"))
    assert [b.input_records for b in result.batches] == [3, 1]
    assert result.rows == [row("F", 0, 10, [1.0, 2.0, 3.0, 4.0])]


def test_nan_prices_follow_spark_ordering() -> None:
    nan_value = '{"symbol":"F","time":%d,"price":NaN}' % (T0 + 1000)
    vals = [value("F", 1, 1.0), nan_value, value("F", 2, 3.0)]
    (result_row,) = expected_rows(records(vals), batches(3), JobSemantics(10_000)).rows
    assert math.isnan(result_row.high) and result_row.low == 1.0
    assert result_row.prices[:2] == (1.0, 3.0) and math.isnan(result_row.prices[2])
    assert compare([result_row], [result_row]).ok


# ------------------------------------------------------------------ batch validation


def test_identical_rerun_batches_are_folded() -> None:
    recs = records([value("F", 1, 1.0)])
    rerun = [Batch(0, {0: (0, 1)}), Batch(0, {0: (0, 1)})]
    result = expected_rows(recs, rerun, JobSemantics(10_000))
    assert len(result.batches) == 1 and result.rows[0].count == 1


@pytest.mark.parametrize(
    ("bad_batches", "message"),
    [
        ([Batch(0, {0: (0, 1)}), Batch(0, {0: (0, 2)})], "recorded twice"),
        ([Batch(1, {0: (0, 1)})], "without gaps"),
        ([Batch(0, {0: (0, 1)}), Batch(2, {0: (1, 2)})], "without gaps"),
        ([Batch(0, {0: (0, 2)}), Batch(1, {0: (1, 3)})], "both read offset 1"),
    ],
)
def test_inconsistent_batch_records_are_rejected(bad_batches: list[Batch], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_rows(records([value("F", 1, 1.0)] * 3), bad_batches, JobSemantics(10_000))


def test_bad_ranges_and_manifests_are_rejected() -> None:
    with pytest.raises(ValueError, match="bad range"):
        Batch(0, {0: (5, 4)})
    two_topics = [AckedRecord(t, 0, i, None, None, "{}") for i, t in enumerate("ab")]
    with pytest.raises(ValueError, match="several topics"):
        expected_rows(two_topics, batches(2), JobSemantics(10_000))
    same_offset = records(["{}"]) * 2
    with pytest.raises(ValueError, match="two manifest records"):
        expected_rows(same_offset, batches(1), JobSemantics(10_000))


def test_batch_from_spark_progress_offsets() -> None:
    first = Batch.from_progress(0, None, '{"stockVals":{"0":3,"1":0}}', topic=TOPIC)
    assert dict(first.offsets) == {0: (0, 3), 1: (0, 0)}
    later = Batch.from_progress(
        4, {"stockVals": {"0": 3, "1": 0}}, {"stockVals": {"0": 5, "1": 2}}, topic=TOPIC
    )
    assert dict(later.offsets) == {0: (3, 5), 1: (0, 2)}
    no_data = Batch.from_progress(5, '{"stockVals":{"0":5}}', '{"stockVals":{"0":5}}', topic=TOPIC)
    assert no_data.is_empty and not later.is_empty


# ------------------------------------------------------------------------ properties

SYMBOLS = ["MSFT", "F", "BA"]
BAD_VALUES = ["not json", '{"symbol":"F","time":5}', '{"symbol":null,"time":1,"price":1}', ""]


@st.composite
def good_values(draw) -> str:
    sec = draw(st.integers(0, 90))
    price = draw(st.sampled_from([1.0, 2.5, 9.125, 100.0]) | st.floats(0, 1000, allow_nan=False))
    return value(draw(st.sampled_from(SYMBOLS)), sec, price, ms=draw(st.integers(0, 999)))


@st.composite
def streams(draw) -> tuple[list[AckedRecord], list[Batch]]:
    """1-3 partitions of values, cut into up to 7 batches (some ranges empty)."""
    n_batches = draw(st.integers(0, 7))
    recs: list[AckedRecord] = []
    cuts: dict[int, list[int]] = {}
    for p in range(draw(st.integers(1, 3))):
        vals = draw(st.lists(good_values() | st.sampled_from(BAD_VALUES), max_size=25))
        recs += records(vals, partition=p)
        n_cuts = n_batches + 1
        offsets = st.integers(0, len(vals))
        cuts[p] = sorted(draw(st.lists(offsets, min_size=n_cuts, max_size=n_cuts)))
    bs = [Batch(b, {p: (c[b], c[b + 1]) for p, c in cuts.items()}) for b in range(n_batches)]
    return recs, bs


@st.composite
def windowing(draw) -> tuple[int, int | None]:
    window = draw(st.sampled_from([1_000, 2_000, 4_000, 4_500, 10_000]))
    slides = [x for x in (500, 1_000, 1_500, 2_000, 4_000) if x <= window]
    slide = draw(st.none() | st.sampled_from(slides))
    return window, slide


def _consumed_ticks(result: OracleResult, recs: list[AckedRecord]):
    skipped = {(r.partition, r.offset) for r in result.unconsumed}
    consumed = [r for r in recs if (r.partition, r.offset) not in skipped]
    return [t for r in consumed if (t := parse_tick(r.value)) is not None]


PROPS = settings(max_examples=80, deadline=None)


@PROPS
@given(streams(), windowing())
def test_without_watermark_every_record_counts_once_per_window(stream, win) -> None:
    recs, bs = stream
    result = expected_rows(recs, bs, JobSemantics(win[0], win[1], None, "complete"))
    ticks = _consumed_ticks(result, recs)
    slide = win[1] or win[0]
    expected = Counter()
    for t in ticks:
        for start, end in windows_for(t.event_time_ms, win[0], slide):
            expected[(t.symbol, start, end)] += 1
    assert {r.key: r.count for r in result.rows} == dict(expected)
    assert result.dropped_late == [] and result.late_drops == []
    assert len(result.malformed) + len(ticks) + len(result.unconsumed) == len(recs)


@PROPS
@given(streams())
def test_tumbling_counts_sum_to_well_formed_consumed_records(stream) -> None:
    recs, bs = stream
    result = expected_rows(recs, bs, JobSemantics(4_000, None, None, "update"))
    assert sum(r.count for r in result.rows) == len(_consumed_ticks(result, recs))
    complete = expected_rows(recs, bs, JobSemantics(4_000, None, None, "complete"))
    assert compare(complete.rows, result.rows).ok  # no watermark: update ends where complete does


@PROPS
@given(streams())
def test_without_watermark_batching_does_not_matter(stream) -> None:
    recs, bs = stream
    sem = JobSemantics(2_000, 1_000)
    split = expected_rows(recs, bs, sem)
    consumed = [r for r in recs if r not in split.unconsumed]
    whole = expected_rows(consumed, [Batch(0, {p: (0, 10**6) for p in range(3)})], sem)
    assert compare(whole.rows, split.rows).ok


@PROPS
@given(streams(), windowing(), st.integers(0, 20_000))
def test_modes_agree_on_drops_and_append_is_inside_update_and_complete(stream, win, delay) -> None:
    recs, bs = stream
    append, update, complete = (
        expected_rows(recs, bs, JobSemantics(win[0], win[1], delay, mode))
        for mode in ("append", "update", "complete")
    )
    assert append.late_drops == update.late_drops
    assert append.watermarks == update.watermarks == complete.watermarks
    final_wm = append.batches[-1].watermark_ms if append.batches else 0
    closed = {r.key for r in update.rows if r.window_end_ms <= final_wm}
    assert {r.key for r in append.rows} == closed
    update_by_key = {r.key: r for r in update.rows}
    assert compare(append.rows, [update_by_key[r.key] for r in append.rows]).ok
    complete_keys = {r.key for r in complete.rows}
    assert {r.key for r in append.rows} <= complete_keys
    # complete keeps everything: update's final rows plus what update dropped as late
    dropped = Counter((d.symbol, d.window_start_ms, d.window_end_ms) for d in update.late_drops)
    for r in complete.rows:
        kept = update_by_key[r.key].count if r.key in update_by_key else 0
        assert r.count == kept + dropped[r.key]


@PROPS
@given(streams(), st.integers(0, 20_000))
def test_watermark_is_delayed_running_max_of_previous_batches(stream, delay) -> None:
    recs, bs = stream
    result = expected_rows(recs, bs, JobSemantics(4_000, None, delay, "append"))
    running = 0
    for i, report in enumerate(result.batches):
        assert report.watermark_ms == running
        assert report.late_events_watermark_ms == (result.batches[i - 1].watermark_ms if i else 0)
        if report.max_event_time_ms is not None:
            running = max(running, report.max_event_time_ms - delay)
    assert result.next_watermark_ms == running
    for d in result.late_drops:  # every drop respects the inclusive end <= watermark rule
        assert d.window_end_ms <= result.batches[d.batch_id].late_events_watermark_ms


# -------------------------------------------------------------------------- compare


def _rows() -> list[WindowRow]:
    return [row("MSFT", 0, 4, [1.0, 2.0]), row("F", 0, 4, [9.0]), row("F", 4, 8, [9.5, 9.25])]


@st.composite
def row_lists(draw) -> list[WindowRow]:
    key = st.tuples(st.sampled_from(SYMBOLS), st.integers(0, 20))
    keys = draw(st.lists(key, unique=True, max_size=8))
    prices = st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=4)
    return [row(sym, 4 * k, 4 * k + 4, draw(prices)) for sym, k in keys]


@given(row_lists())
def test_compare_of_identical_tables_is_ok(rows) -> None:
    result = compare(rows, list(reversed(rows)))
    assert result.ok and result.render().startswith("OK")


@given(row_lists().filter(bool), st.data())
def test_a_perturbed_row_is_reported_as_wrong(rows, data) -> None:
    i = data.draw(st.integers(0, len(rows) - 1))
    victim = rows[i]
    field = data.draw(st.sampled_from(["count", "high", "prices"]))
    changed = {
        "count": lambda r: WindowRow(*r.key, r.high, r.low, r.count + 1, r.prices),
        "high": lambda r: WindowRow(*r.key, 0.5 if r.high == 1.5 else 1.5, r.low, r.count, r.prices),
        "prices": lambda r: WindowRow(*r.key, r.high, r.low, r.count, (*r.prices[1:], 12345.678)),
    }[field](victim)
    assume(changed.prices != victim.prices or field != "prices")
    result = compare(rows, [*rows[:i], changed, *rows[i + 1 :]])
    assert not result.ok and [e.key for e, _ in result.wrong] == [victim.key]
    assert not (result.missing or result.extra or result.duplicated)


def test_compare_reports_missing_extra_wrong_and_duplicated() -> None:
    expected = _rows()
    actual = [
        expected[0],
        expected[0],  # duplicated
        WindowRow("F", s(0), s(4), 9.0, 9.0, 2, (9.0, 9.0)),  # wrong count and prices
        row("BA", 0, 4, [345.0]),  # extra
    ]  # F [4,8) missing
    result = compare(expected, actual)
    assert [r.key for r in result.missing] == [expected[2].key]
    assert [r.key for r in result.extra] == [("BA", s(0), s(4))]
    assert [(e.key, a.count) for e, a in result.wrong] == [(expected[1].key, 2)]
    assert [len(g) for g in result.duplicated] == [2]
    text = result.render()
    summary = "4 problem rows (1 missing, 1 extra, 1 wrong, 1 duplicated)"
    assert text.splitlines()[0].startswith(summary)
    assert "- missing    F [2023-11-14T22:13:24Z, 2023-11-14T22:13:28Z)" in text
    assert "count: expected 1, actual 2" in text and "unexpected [9.0]" in text
    assert "! duplicated MSFT [2023-11-14T22:13:20Z, 2023-11-14T22:13:24Z) present 2 times" in text


def test_render_limits_lines_and_shows_milliseconds_when_needed() -> None:
    expected = [row("F", k, k + 1, [1.0]) for k in range(30)]
    text = compare(expected, []).render(limit=5)
    assert len(text.splitlines()) == 1 + 5 + 1 and text.endswith("... and 25 more")
    odd = WindowRow("F", 1500, 6000, 1.0, 1.0, 1, (1.0,))
    assert "[1970-01-01T00:00:01.500Z, 1970-01-01T00:00:06Z)" in compare([odd], []).render()


def test_window_row_sorts_prices_and_compare_rejects_ambiguous_expectations() -> None:
    assert WindowRow("F", 0, 1, 3, 1, 3, (3.0, 1.0, 2.0)).prices == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="twice"):
        compare([_rows()[0], _rows()[0]], [])


# ------------------------------------------------------------------------- manifest


def test_manifest_round_trip_and_append(tmp_path: Path) -> None:
    path = tmp_path / "acks.jsonl"
    recs = [
        AckedRecord(TOPIC, 0, 0, "MSFT", T0, value("MSFT", 0, 1.0)),
        AckedRecord(TOPIC, 2, 7, None, None, "ünïcode, not json"),
    ]
    write_manifest(path, recs[:1])
    write_manifest(path, recs[1:], append=True)
    assert read_manifest(path) == recs
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.parametrize(
    "bad_line",
    [
        "{not json",
        '["a list"]',
        '{"topic":"t","partition":0,"offset":1,"key":null,"event_time_ms":null}',
        '{"topic":"t","partition":true,"offset":1,"key":null,"event_time_ms":null,"value":""}',
        '{"topic":"t","partition":0,"offset":-1,"key":null,"event_time_ms":null,"value":""}',
        '{"topic":"t","partition":0,"offset":1,"key":null,"event_time_ms":null,"value":"","x":1}',
        '{"topic":null,"partition":0,"offset":1,"key":null,"event_time_ms":null,"value":""}',
    ],
)
def test_bad_manifest_line_names_file_and_line(tmp_path: Path, bad_line: str) -> None:
    path = tmp_path / "acks.jsonl"
    good = json.dumps(
        {"topic": "t", "partition": 0, "offset": 0, "key": None, "event_time_ms": None, "value": ""}
    )
    path.write_text(f"{good}\n\n{bad_line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"acks\.jsonl:3: invalid manifest line"):
        read_manifest(path)


def lagging_partition() -> tuple[list[AckedRecord], list[Batch]]:
    """The stock ticker as Spark 3.3 saw it: batch 1 reads partition 0 ahead, batch 2 brings partition 1's
    older records together with partition 0's newer ones, whose maximum moves batch 2's own watermark."""
    ahead = records([value("A", 1, 1.0), value("A", 100, 2.0), value("A", 200, 3.0)], partition=0)
    behind = records([value("B", 5, 4.0), value("B", 150, 5.0)], partition=1)
    return ahead + behind, [Batch(0, {0: (0, 2), 1: (0, 0)}), Batch(1, {0: (2, 3), 1: (0, 2)})]


def test_spark_34_filters_late_rows_with_the_previous_batchs_watermark() -> None:
    recs, bs = lagging_partition()
    result = expected_rows(recs, bs, JobSemantics(10_000, None, 30_000, "append"))
    assert [b.late_events_watermark_ms for b in result.batches] == [0, 0]
    assert [b.rows_dropped_by_watermark for b in result.batches] == [0, 0]
    assert row("B", 0, 10, [4.0]) in result.rows  # partition 1's old tick is kept: batch 1 filters with watermark 0


def test_spark_33_filters_late_rows_with_the_batchs_own_watermark() -> None:
    recs, bs = lagging_partition()
    result = expected_rows(recs, bs, JobSemantics(10_000, None, 30_000, "append", late_events="current-batch"))
    assert [b.watermark_ms for b in result.batches] == [0, s(70)]
    assert [b.late_events_watermark_ms for b in result.batches] == [0, s(70)]
    assert [b.rows_dropped_by_watermark for b in result.batches] == [0, 1]
    assert [(d.symbol, d.window_end_ms, d.batch_id) for d in result.late_drops] == [("B", s(10), 1)]
    assert row("B", 0, 10, [4.0]) not in result.rows and row("A", 0, 10, [1.0]) in result.rows


def test_late_events_rule_is_validated() -> None:
    with pytest.raises(ValueError, match="late_events"):
        JobSemantics(10_000, None, 30_000, "append", late_events="never")  # type: ignore[arg-type]
