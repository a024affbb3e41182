"""When a streaming job has done all the work a scenario gave it: facts from its progress, never a quiet period.

Why facts: on a loaded twin the batch that advances the watermark (and so emits append mode's
last windows) can start many seconds after the batch that consumed the last offset; a wait that
ends after "no new batch for a while" stops the job before it has finished. The harness knows
what finished looks like, because it knows every record it replayed:

* every query has committed a batch whose end offsets reach the last stored offset of each
  partition (a progress event exists only once its batch has committed; where one was lost to a
  kill, the checkpoint's `commits/N` and `offsets/N` say the same);
* a query with a stateful operator and a watermark, in append or update mode, has also committed
  a batch that ran with the final watermark, `max(0, largest event time replayed - delay)`:
  Spark runs that no-data batch itself (`StateStoreSaveExec.shouldRunAnotherBatch`, the same rule
  in Spark 3.3 and 4.x), and it is the batch in which append mode emits the remaining windows and
  update mode evicts their state. After it, Spark has nothing left to do. Complete mode and
  stateless queries never run such a batch, so for them the batch that consumed the last offset
  is the end.

A watermark may never reach that value (no-data batches disabled, a job whose event time is not
the scenario's, the driver killed by a fault and not started again). Then the wait still ends on
a fact: Spark's own idle progress event (posted every `noDataProgressEventInterval`, 10 s by
default, when a trigger found nothing to run) reports a batch id after the last committed one,
which is Spark saying it planned no further batch; or the driver is not running at all. Those
end the wait as "stopped before it finished", which the report turns into a failing check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["running", "finished", "idle", "not running", "stalled", "timed out"]


@dataclass(frozen=True)
class CatchUpGoal:
    """What "done" is for one run: the offsets to consume and the watermark to reach."""

    end_offsets: Mapping[int, int]
    output_mode: str
    watermark_delay_ms: int | None = None
    max_event_time_ms: int | None = None

    @classmethod
    def for_records(cls, end_offsets: Mapping[int, int], event_times_ms: Iterable[int | None], *,
                    watermark_delay_ms: int | None, output_mode: str) -> CatchUpGoal:
        """From what the brokers hold: records without an event time (malformed) never move a watermark."""
        times = [t for t in event_times_ms if t is not None]
        return cls(dict(end_offsets), output_mode, watermark_delay_ms, max(times) if times else None)

    @property
    def final_watermark_ms(self) -> int | None:
        """Spark's watermark after the whole input: it starts at 0 and only moves up (WatermarkTracker)."""
        if self.watermark_delay_ms is None or self.max_event_time_ms is None:
            return None
        return max(0, self.max_event_time_ms - self.watermark_delay_ms)

    @property
    def total(self) -> int:
        return sum(self.end_offsets.values())


@dataclass(frozen=True)
class Committed:
    """One committed batch of one query, as far as the wait needs it."""

    batch_id: int
    end_offsets: Mapping[int, int]
    watermark_ms: int | None


@dataclass(frozen=True)
class QueryView:
    """What one query has shown so far: its newest committed batch, and whether Spark said it went idle after it."""

    name: str
    latest: Committed | None = None
    stateful: bool | None = False  # has a state operator and reports a watermark (may run no-data batches); None: not known yet
    idle_after_latest: bool = False

    @classmethod
    def observe(cls, name: str, progress: Sequence[Mapping[str, Any]], topic: str, checkpointed: Committed | None = None) -> QueryView:
        executed = [p for p in progress if is_executed(p)]
        latest = max((committed_from_progress(p, topic) for p in executed), key=lambda c: c.batch_id, default=None)
        if checkpointed is not None and (latest is None or checkpointed.batch_id > latest.batch_id):
            latest = checkpointed  # its progress event was lost: the checkpoint has the committed batch
        # Only a progress event tells whether the query keeps state. A batch seen in the checkpoint before
        # any progress event (an application's event log lags its commit log) leaves that unknown, and an
        # unknown query is waited for as a stateful one: ending on it could stop a windowed job before
        # the no-data batch that emits its windows.
        stateful: bool | None = any(p.get("stateOperators") and "watermark" in (p.get("eventTime") or {}) for p in executed)
        if not executed and latest is not None:
            stateful = None
        idle = latest is not None and any(not is_executed(p) and int(p["batchId"]) > latest.batch_id for p in progress)
        return cls(name, latest, stateful, idle)

    def consumed(self, partitions: Iterable[int]) -> int:
        ends = self.latest.end_offsets if self.latest else {}
        return sum(ends.get(p, 0) for p in partitions)


@dataclass(frozen=True)
class CatchUpState:
    """Where the job stands against its goal; `describe` is what a person needs to judge it."""

    outcome: Outcome
    waiting_for: str
    last_seen: str
    batch_id: int | None = None
    watermark_ms: int | None = None

    @property
    def done(self) -> bool:
        return self.outcome != "running"

    @property
    def finished(self) -> bool:
        return self.outcome == "finished"

    def describe(self) -> str:
        if self.outcome == "finished":
            return self.last_seen
        return f"{self.waiting_for}; last seen: {self.last_seen}"

    def ended(self, outcome: Outcome, why: str) -> CatchUpState:
        return CatchUpState(outcome, self.waiting_for, f"{self.last_seen} ({why})", self.batch_id, self.watermark_ms)


def assess(goal: CatchUpGoal, job: QueryView, others: Sequence[QueryView] = ()) -> CatchUpState:
    """The job's state against the goal; pure, so a recorded progress sequence can drive it in a unit test."""
    partitions = list(goal.end_offsets)
    final = goal.final_watermark_ms
    needs_watermark = final is not None and job.stateful is not False and goal.output_mode in ("append", "update")
    target = f"a committed batch of {job.name} that consumed all {goal.total} records"
    if needs_watermark:
        target += f" and ran with the final watermark {iso(final)} (largest event time {iso(goal.max_event_time_ms)} - {goal.watermark_delay_ms} ms)"
    pending = [q.name for q in others if not _covers(q, goal)]
    waiting_for = target + (f", and {', '.join(pending)} to consume all records" if pending else "")
    latest = job.latest
    if latest is None:
        return CatchUpState("running", waiting_for, f"{job.name} has committed no batch yet")
    seen = f"batch {latest.batch_id} of {job.name} consumed {job.consumed(partitions)}/{goal.total} records, watermark {iso(latest.watermark_ms)}"
    state = CatchUpState("running", waiting_for, seen, latest.batch_id, latest.watermark_ms)
    if not _covers(job, goal) or pending:
        return state
    at_final = not needs_watermark or (latest.watermark_ms or 0) >= (final or 0)
    if at_final:
        why = "and ran with the final watermark" if needs_watermark else "(no watermark batch to wait for in this mode)"
        return CatchUpState("finished", waiting_for, f"{seen}: every record consumed {why}", latest.batch_id, latest.watermark_ms)
    if job.idle_after_latest:
        return state.ended("idle", "Spark planned no further batch: its watermark will not reach the final value without new data")
    return state


def _covers(query: QueryView, goal: CatchUpGoal) -> bool:
    ends = query.latest.end_offsets if query.latest else {}
    return all(ends.get(p, 0) >= end for p, end in goal.end_offsets.items())


# ----- reading Spark's progress and checkpoint -------------------------------------------------


def is_executed(progress: Mapping[str, Any]) -> bool:
    """A progress event of a batch that ran. Spark's idle events (a trigger that found nothing to
    run) carry the *next* batch id and no `addBatch` time; they must never count as a batch."""
    return "addBatch" in (progress.get("durationMs") or {})


def committed_from_progress(progress: Mapping[str, Any], topic: str) -> Committed:
    source = progress["sources"][0] if progress.get("sources") else {}
    return Committed(int(progress["batchId"]), topic_offsets(source.get("endOffset"), topic), watermark_of(progress))


def watermark_of(progress: Mapping[str, Any]) -> int | None:
    watermark = (progress.get("eventTime") or {}).get("watermark")
    return int(datetime.fromisoformat(watermark.replace("Z", "+00:00")).timestamp() * 1000) if watermark else None


def topic_offsets(raw: Any, topic: str) -> dict[int, int]:
    if raw is None:
        return {}
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {int(p): int(o) for p, o in (data or {}).get(topic, {}).items()}


def latest_checkpointed(checkpoint: Path, topic: str) -> Committed | None:
    """The newest batch the checkpoint says committed: `commits/N` exists and `offsets/N` holds it."""
    commits = checkpoint / "commits"
    try:
        ids = sorted((int(p.name) for p in commits.iterdir() if p.name.isdigit()), reverse=True)
    except OSError:
        return None
    for batch_id in ids:
        try:
            metadata, ends = offset_log_entry(checkpoint / "offsets" / str(batch_id), topic)
        except OSError:
            continue
        watermark = metadata.get("batchWatermarkMs")
        return Committed(batch_id, ends, int(watermark) if watermark is not None else None)
    return None


def offset_log_entry(path: Path, topic: str) -> tuple[dict[str, Any], dict[int, int]]:
    """One `offsets/N` file of Spark's checkpoint: a version line, the batch's metadata (watermark and
    time), then one offsets line per source."""
    lines = path.read_text().splitlines()
    metadata = json.loads(lines[1]) if len(lines) > 1 else {}
    return metadata, (topic_offsets(lines[2], topic) if len(lines) > 2 else {})


def iso(ms: int | None) -> str:
    if ms is None:
        return "none"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
