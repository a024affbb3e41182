"""The job's history has every committed batch even when a progress event was lost to a kill -9."""

from __future__ import annotations

import json
from pathlib import Path

from harness.jobs.driver import recount_lost_malformed
from harness.jobs.runner import checkpoint_batches, completed_batches
from harness.jobs.stock import MALFORMED_METRIC, observed_malformed

TOPIC = "stockVals"


def _checkpoint(root: Path, ends: list[dict[int, int]], committed: int, watermarks: list[int]) -> Path:
    """A checkpoint in Spark's own layout: offsets/N for every planned batch, commits/N for finished ones."""
    (root / "offsets").mkdir(parents=True)
    (root / "commits").mkdir()
    for batch_id, end in enumerate(ends):
        metadata = {"batchWatermarkMs": watermarks[batch_id], "batchTimestampMs": 1_000 * (batch_id + 1), "conf": {}}
        offsets = {TOPIC: {str(p): o for p, o in end.items()}}
        (root / "offsets" / str(batch_id)).write_text(f"v1\n{json.dumps(metadata)}\n{json.dumps(offsets)}")
        if batch_id < committed:
            (root / "commits" / str(batch_id)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    (root / "offsets" / ".1.crc").write_text("")  # Spark's checksum files sit beside the log
    return root


def _progress(batch_id: int, start: dict[int, int], end: dict[int, int]) -> dict:
    as_json = lambda offsets: json.dumps({TOPIC: {str(p): o for p, o in offsets.items()}})  # noqa: E731
    return {"batchId": batch_id, "timestamp": "2026-11-25T10:00:00.000Z", "numInputRows": sum(end.values()) - sum(start.values()),
            "durationMs": {"addBatch": 600, "triggerExecution": 700}, "sources": [{"startOffset": as_json(start), "endOffset": as_json(end)}]}


ENDS = [{0: 0, 1: 0}, {0: 10, 1: 4}, {0: 25, 1: 9}, {0: 40, 1: 20}, {0: 41, 1: 21}]


def test_checkpoint_batches_read_offsets_of_committed_batches_only(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "job", ENDS, committed=4, watermarks=[0, 0, 500, 900, 900])
    batches = checkpoint_batches(checkpoint, TOPIC)
    assert [b.batch_id for b in batches] == [0, 1, 2, 3]  # batch 4 was planned, never committed
    assert batches[3].start_offsets == {0: 25, 1: 9} and batches[3].end_offsets == {0: 40, 1: 20}
    assert batches[3].input_rows == 26
    assert batches[0].start_offsets == {0: 0, 1: 0}
    assert [b.watermark_ms for b in batches] == [0, 0, 500, 900]


def test_a_batch_missing_from_progress_is_filled_from_the_checkpoint(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "job", ENDS, committed=5, watermarks=[0] * 5)
    progress = [_progress(i, ENDS[i - 1] if i else ENDS[0], ENDS[i]) for i in (0, 1, 2, 4)]  # 3's event was lost
    batches = completed_batches(progress, checkpoint, TOPIC)
    assert [b.batch_id for b in batches] == [0, 1, 2, 3, 4]
    assert batches[3].start_offsets == ENDS[2] and batches[3].end_offsets == ENDS[3]
    assert batches[2].duration_ms == 700  # progress events win where they exist: they carry Spark's own timings


def test_no_checkpoint_means_progress_alone(tmp_path: Path) -> None:
    progress = [_progress(0, ENDS[0], ENDS[0]), _progress(1, ENDS[0], ENDS[1])]
    assert [b.batch_id for b in completed_batches(progress, tmp_path / "absent", TOPIC)] == [0, 1]


def test_a_batch_whose_rows_never_reached_the_watermark_is_marked_for_the_oracle(tmp_path: Path) -> None:
    """A re-run a file sink skipped reports its offsets but no event-time max: the oracle must not let it
    move the watermark (harness.verify.oracle.Batch.watermark_blind)."""
    from harness.verify.check import oracle_batches

    progress = [_progress(0, ENDS[0], ENDS[0]), _progress(1, ENDS[0], ENDS[1]), _progress(2, ENDS[1], ENDS[2])]
    progress[0]["eventTime"] = {"watermark": "1970-01-01T00:00:00.000Z"}  # empty batch: no rows, no max
    progress[1]["eventTime"] = {"watermark": "1970-01-01T00:00:00.000Z"}  # rows read, none reached the tracker
    progress[2]["eventTime"] = {"watermark": "1970-01-01T00:00:00.000Z", "max": "2023-11-14T23:13:10.000Z"}
    batches = completed_batches(progress, tmp_path / "absent", TOPIC)
    assert [b.event_times_seen for b in batches] == [False, False, True]
    assert [b.watermark_blind for b in oracle_batches(batches)] == [False, True, False]
    del progress[2]["eventTime"]  # a job without a watermark: nothing to say
    assert completed_batches(progress, tmp_path / "absent", TOPIC)[2].event_times_seen is None


def test_malformed_records_are_read_from_either_releases_observed_metric() -> None:
    spark_33 = {**_progress(1, ENDS[0], ENDS[1]), "observedMetrics": {MALFORMED_METRIC: {"records": [{"partition": 0, "offset": 3}]}}}
    spark_4 = {**_progress(2, ENDS[1], ENDS[2]), "observedMetrics": {MALFORMED_METRIC: [[{"partition": 1, "offset": 7}, {"partition": 0, "offset": 12}]]}}
    rerun = {**spark_4, "timestamp": "2026-11-25T10:00:09.000Z"}  # a restarted driver ran batch 2 again: the same records
    quiet = {**_progress(3, ENDS[2], ENDS[3]), "observedMetrics": {MALFORMED_METRIC: [[]]}}
    assert observed_malformed([spark_33, spark_4, rerun, quiet, _progress(4, ENDS[3], ENDS[4])]) == {(0, 3), (1, 7), (0, 12)}


class Recounting:
    """The driver's job as far as a recount goes: which batches it was asked to read again."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def recount_malformed(self, batches: list) -> dict[int, list[tuple[int, int]]]:  # noqa: ANN001
        self.asked += [b.batch_id for b in batches]
        return {b.batch_id: [(0, b.start_offsets.get(0, 0))] for b in batches}


def test_a_restarted_driver_recounts_only_batches_whose_progress_the_kill_lost(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "checkpoints" / "job", ENDS, committed=4, watermarks=[0, 0, 500, 900, 900])
    idle = {"batchId": 2, "timestamp": "2026-11-25T10:00:05.000Z", "numInputRows": 0, "durationMs": {"triggerExecution": 1}}
    saved = [_progress(0, ENDS[0], ENDS[0]), _progress(1, ENDS[0], ENDS[1]), idle]
    (tmp_path / "progress").mkdir()
    (tmp_path / "progress" / "harness_job-000.json").write_text(json.dumps(saved))
    job = Recounting()
    recount_lost_malformed(job, tmp_path, TOPIC)  # type: ignore[arg-type]
    assert job.asked == [2, 3]  # committed after the last save (an idle event naming batch 2 is no record of it running)
    assert json.loads((tmp_path / "malformed" / "2.json").read_text()) == [[0, 10]]
    recount_lost_malformed(job, tmp_path, TOPIC)  # type: ignore[arg-type]
    assert job.asked == [2, 3]  # a second restart does not count them again
