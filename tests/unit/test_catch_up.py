"""The catch-up wait ends on facts from the job's progress: the last offset consumed and, with a
watermark in append or update mode, the batch that ran with the final watermark, however late it comes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.jobs.catchup import CatchUpGoal, QueryView, assess, latest_checkpointed
from harness.jobs.runner import completed_batches, wait_job_started, wait_until_caught_up

TOPIC = "stockVals"
T0 = 1_700_000_000_000  # event time of the first tick
DELAY = 30_000
ENDS = {0: 40, 1: 20}
GOAL = CatchUpGoal(ENDS, "append", DELAY, T0 + 3_590_000)  # one hour of ticks: the last at T0 + 59 min 50 s
FINAL = T0 + 3_590_000 - DELAY


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def progress(batch_id: int, end: dict[int, int], watermark: int, *, executed: bool = True, stateful: bool = True) -> dict:
    """A progress event in Spark's JSON shape; an idle one carries the next batch id and no addBatch time."""
    offsets = json.dumps({TOPIC: {str(p): o for p, o in end.items()}})
    durations = {"addBatch": 900, "latestOffset": 20, "triggerExecution": 1000} if executed else {"latestOffset": 20, "triggerExecution": 21}
    return {"batchId": batch_id, "timestamp": "2026-12-02T10:00:00.000Z", "numInputRows": 0, "durationMs": durations,
            "eventTime": {"watermark": _iso(watermark)}, "sources": [{"startOffset": offsets, "endOffset": offsets, "latestOffset": offsets}],
            "stateOperators": [{"numRowsTotal": 1}] if stateful else []}


EMPTY = progress(0, {0: 0, 1: 0}, 0)
HALF = progress(1, {0: 20, 1: 10}, 0)
COVERING = progress(2, ENDS, T0 + 1_000_000)  # consumed everything, watermark still from the batch before
WATERMARK_BATCH = progress(3, ENDS, FINAL)  # the no-data batch Spark plans once the watermark moved


class Recorded:
    """Replays a recorded sequence of what the job's progress showed, one snapshot per poll."""

    def __init__(self, snapshots: list[list[dict]], dead_letters: list[dict] | None = None) -> None:
        self.snapshots, self.polls = snapshots, 0
        self.dead_letters = dead_letters if dead_letters is not None else [progress(0, ENDS, 0, stateful=False)]

    def __call__(self) -> tuple[QueryView, list[QueryView]]:
        shown = self.snapshots[min(self.polls, len(self.snapshots) - 1)]
        self.polls += 1
        return QueryView.observe("harness_job", shown, TOPIC), [QueryView.observe("harness_dead_letters", self.dead_letters, TOPIC)]


def _wait(source: Recorded, goal: CatchUpGoal = GOAL, *, running=lambda: True, timeout: float = 30.0):  # noqa: ANN001, ANN202
    return wait_until_caught_up(source, goal, running=running, check=lambda: None, timeout=timeout, interval=0.001)


def test_the_wait_holds_on_until_the_late_watermark_batch_has_committed() -> None:
    # The loaded docker twin: every offset consumed by batch 2, then a long silence (the old wait
    # stopped here after 2 s), then the no-data batch that emits the remaining windows.
    silence = [[EMPTY, HALF, COVERING]] * 300
    source = Recorded([[EMPTY]] * 5 + [[EMPTY, HALF]] * 5 + silence + [[EMPTY, HALF, COVERING, WATERMARK_BATCH]])
    state = _wait(source)
    assert state.finished, state.describe()
    assert state.batch_id == 3 and state.watermark_ms == FINAL
    assert source.polls > 310  # it waited through the whole silence


def test_complete_mode_and_stateless_jobs_end_with_the_batch_that_consumed_the_last_offset() -> None:
    complete = CatchUpGoal(ENDS, "complete", DELAY, GOAL.max_event_time_ms)
    assert _wait(Recorded([[EMPTY, HALF, COVERING]]), complete).batch_id == 2
    stateless = [progress(i, e, 0, stateful=False) for i, e in ((0, {0: 0}), (1, ENDS))]
    assert _wait(Recorded([stateless])).finished
    no_watermark = CatchUpGoal(ENDS, "update", None, GOAL.max_event_time_ms)
    assert _wait(Recorded([[EMPTY, HALF, COVERING]]), no_watermark).finished


def test_late_last_records_need_no_extra_batch_when_the_watermark_is_already_final() -> None:
    # The stream's last records are older than the watermark: they do not move the maximum, so the
    # batch that consumed them already ran with the final watermark and Spark plans nothing after it.
    covering_at_final = progress(2, ENDS, FINAL)
    state = _wait(Recorded([[EMPTY, HALF, covering_at_final]]))
    assert state.finished and state.batch_id == 2


def test_an_idle_event_below_the_final_watermark_ends_the_wait_as_not_finished() -> None:
    # Spark went idle (an idle event names the next batch id) with the watermark short of its final
    # value: no batch will ever come, so waiting longer is pointless and the run must say so.
    idle = progress(3, ENDS, T0 + 1_000_000, executed=False)
    state = _wait(Recorded([[EMPTY, HALF, COVERING]] * 20 + [[EMPTY, HALF, COVERING, idle]]))
    assert state.outcome == "idle" and not state.finished
    assert _iso(FINAL)[:10] in state.describe() and "batch 2" in state.describe()


def test_an_idle_event_before_the_last_offset_does_not_end_the_wait() -> None:
    idle_early = progress(2, {0: 20, 1: 10}, 0, executed=False)
    state = _wait(Recorded([[EMPTY, HALF, idle_early]] * 20 + [[EMPTY, HALF, idle_early, COVERING, WATERMARK_BATCH]]))
    assert state.finished and state.batch_id == 3


def test_a_driver_that_is_not_running_ends_the_wait_at_once() -> None:
    state = _wait(Recorded([[EMPTY, HALF]]), running=lambda: False)
    assert state.outcome == "not running" and "killed" in state.describe()


def test_the_time_out_says_which_watermark_and_batch_it_waited_for_and_what_it_last_saw() -> None:
    state = _wait(Recorded([[EMPTY, HALF, COVERING]]), timeout=0.2)
    assert state.outcome == "timed out"
    text = state.describe()
    assert "final watermark" in text and "batch 2 of harness_job consumed 60/60 records" in text and "gave up" in text


def test_the_dead_letter_query_must_catch_up_too() -> None:
    lagging = Recorded([[EMPTY, HALF, COVERING, WATERMARK_BATCH]], dead_letters=[progress(0, {0: 3, 1: 0}, 0, stateful=False)])
    state = assess(GOAL, *lagging())
    assert state.outcome == "running" and "harness_dead_letters" in state.waiting_for


def test_the_goal_takes_the_largest_event_time_and_ignores_records_without_one() -> None:
    goal = CatchUpGoal.for_records({0: 3}, [T0, None, T0 + 50_000, T0 + 10_000], watermark_delay_ms=DELAY, output_mode="append")
    assert goal.final_watermark_ms == T0 + 20_000
    assert CatchUpGoal.for_records({0: 1}, [None], watermark_delay_ms=DELAY, output_mode="append").final_watermark_ms is None
    assert CatchUpGoal.for_records({0: 1}, [5_000], watermark_delay_ms=DELAY, output_mode="append").final_watermark_ms == 0


def _checkpoint(root: Path, batches: dict[int, tuple[dict[int, int], int]], committed: set[int]) -> Path:
    (root / "offsets").mkdir(parents=True)
    (root / "commits").mkdir()
    for batch_id, (end, watermark) in batches.items():
        offsets = json.dumps({TOPIC: {str(p): o for p, o in end.items()}})
        (root / "offsets" / str(batch_id)).write_text(f"v1\n{json.dumps({'batchWatermarkMs': watermark, 'batchTimestampMs': 1})}\n{offsets}")
        if batch_id in committed:
            (root / "commits" / str(batch_id)).write_text("v1\n{}")
    return root


def test_a_committed_batch_whose_progress_event_was_lost_counts_from_the_checkpoint(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "job", {2: (ENDS, T0), 3: (ENDS, FINAL), 4: (ENDS, FINAL)}, committed={2, 3})
    latest = latest_checkpointed(checkpoint, TOPIC)
    assert latest is not None and latest.batch_id == 3 and latest.watermark_ms == FINAL  # 4 was planned, never committed
    job = QueryView.observe("harness_job", [EMPTY, HALF, COVERING], TOPIC, latest)
    assert assess(GOAL, job, []).finished


def test_idle_progress_events_are_not_batches_in_the_history(tmp_path: Path) -> None:
    idle = progress(3, ENDS, T0 + 1_000_000, executed=False)  # names batch 3 before batch 3 ran
    batches = completed_batches([EMPTY, HALF, COVERING, idle, WATERMARK_BATCH], tmp_path / "none", TOPIC)
    assert [b.batch_id for b in batches] == [0, 1, 2, 3]
    assert batches[3].watermark_ms == FINAL


@pytest.mark.parametrize("mode", ["append", "update"])
def test_append_and_update_wait_for_the_watermark_batch(mode: str) -> None:
    goal = CatchUpGoal(ENDS, mode, DELAY, GOAL.max_event_time_ms)
    assert assess(goal, QueryView.observe("harness_job", [EMPTY, HALF, COVERING], TOPIC), []).outcome == "running"
    assert assess(goal, QueryView.observe("harness_job", [EMPTY, HALF, COVERING, WATERMARK_BATCH], TOPIC), []).finished


def test_a_batch_seen_only_in_the_checkpoint_before_any_progress_event_is_not_the_end(tmp_path: Path) -> None:
    """A submitted application's event log lags its commit log: its first batch may consume everything
    and be committed before its progress event is written. Nothing yet says the query is stateless, so
    the wait must hold on for the watermark batch, as for a stateful one (it emits the windows)."""
    checkpoint = _checkpoint(tmp_path / "app", {0: (ENDS, 0)}, committed={0})
    early = QueryView.observe("application", [], TOPIC, latest_checkpointed(checkpoint, TOPIC))
    assert early.stateful is None and assess(GOAL, early, []).outcome == "running"
    stateless = QueryView.observe("application", [progress(0, ENDS, 0, stateful=False)], TOPIC, latest_checkpointed(checkpoint, TOPIC))
    assert stateless.stateful is False and assess(GOAL, stateless, []).finished  # once its progress says so, a stateless query is done
    final = _checkpoint(tmp_path / "app2", {0: (ENDS, 0), 1: (ENDS, FINAL)}, committed={0, 1})
    assert assess(GOAL, QueryView.observe("application", [], TOPIC, latest_checkpointed(final, TOPIC)), []).finished


def _died() -> None:
    from harness.errors import HarnessError

    raise HarnessError("the streaming job's driver process exited")


def test_a_driver_that_died_of_refused_handshakes_before_its_first_batch_ends_the_wait_as_stalled() -> None:
    """CI: a job in the VNet whose broker certificates lack the FQDN failed its query after Spark's few offset
    attempts, and its driver exited before the wait first looked; the refused handshakes are why, as when it is alive."""
    refused = "the brokers refused 26 connection(s) at TLS"
    state = wait_until_caught_up(Recorded([[]]), GOAL, running=lambda: True, check=_died, timeout=30, interval=0.001, stalled=lambda: refused)
    assert state.outcome == "stalled" and refused in state.describe()


@pytest.mark.parametrize("shown, why", [([], None), ([EMPTY, HALF], "the brokers refused 1 connection(s) at TLS")],
                         ids=["no refusal", "after a batch"])
def test_a_driver_that_died_for_another_reason_still_fails_the_wait(shown: list[dict], why: str | None) -> None:
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="driver process exited"):
        wait_until_caught_up(Recorded([shown]), GOAL, running=lambda: True, check=_died, timeout=30, interval=0.001, stalled=lambda: why)


def test_the_start_wait_ends_for_a_driver_that_died_of_refused_handshakes_and_fails_for_any_other_death() -> None:
    """The same rule before the first batch: every job type's start wait lets the catch-up wait report the stall."""
    from harness.errors import HarnessError

    refused = "the brokers refused 3 connection(s) at TLS"
    wait_job_started(lambda: False, lambda: refused, what="the first batch", timeout=30, guard=_died, interval=0.001)
    with pytest.raises(HarnessError, match="driver process exited"):
        wait_job_started(lambda: False, lambda: None, what="the first batch", timeout=30, guard=_died, interval=0.001)
    with pytest.raises(HarnessError, match="driver process exited"):
        wait_job_started(lambda: False, None, what="the first batch", timeout=30, guard=_died, interval=0.001)


def test_a_start_wait_that_times_out_carries_the_tail_of_the_jobs_log(tmp_path: Path) -> None:
    from harness.errors import NotReadyError

    log = tmp_path / "driver.log"
    log.write_text("starting\nERROR could not resolve wn0-kafka\n")
    with pytest.raises(NotReadyError) as raised:
        wait_job_started(lambda: False, None, what="the first batch", timeout=0.05, guard=lambda: None, interval=0.001, log=log)
    assert "could not resolve wn0-kafka" in str(raised.value.detail)
