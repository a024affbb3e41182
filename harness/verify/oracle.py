"""Exact expected output of the reference windowed aggregation, in plain Python.

Why: "the numbers look plausible" is not a test. Given what the broker acknowledged
(the manifest) and how Spark cut the stream into micro-batches (offset ranges from
the query progress), the sink's content is fully determined, including which late
records Spark drops and which windows append mode has emitted so far. This module
replays Spark's rules batch by batch so a harness run can be checked row by row.

The job being mirrored::

    from_json(value, "symbol string, time long, price double, size int")
    -> rows with null symbol/time/price are malformed: counted, not aggregated
    -> event_time = timestamp_seconds(floor(time / 1000))      (second precision)
    -> [withWatermark("event_time", f"{watermark_ms} milliseconds")]
    -> groupBy(window(event_time, window_ms, slide_ms), symbol)
       .agg(max(price) high, min(price) low, count(*) count, collect_list(price) prices)

Spark rules implemented (read in apache/spark, Spark 4.x layout under
sql/core/src/main/scala/org/apache/spark/sql/execution/streaming/):

* runtime/WatermarkTracker.scala, runtime/MicroBatchExecution.scala
  (``markMicroBatchEnd``), operators/stateful/EventTimeWatermarkExec.scala:
  after batch N runs, ``wm = max(wm, maxEventTime(N) - delay)`` if batch N had any
  rows reaching the watermark node; the global watermark starts at 0 and never goes
  down. Batch N+1 is planned with that value (``batchWatermarkMs``), which is what
  the progress reports as ``eventTime.watermark``. So batch 0 has watermark 0.
* runtime/IncrementalExecution.scala + runtime/WatermarkPropagator.scala
  (SPARK-40925, Spark 3.4+): a stateful operator in batch N gets two values,
  ``eventTimeWatermarkForLateEvents`` = watermark of batch N-1 (0 for batch 0) and
  ``eventTimeWatermarkForEviction`` = watermark of batch N.
  Spark 3.3 and older (HDInsight 5.1) have one ``eventTimeWatermark`` per batch, which
  filters late rows *and* evicts: a group whose window closed by batch N's own
  watermark is dropped in batch N (``late_events="current-batch"``). So a partition
  that lags behind the others loses rows on 3.3 that 4.x keeps (seen on the stock
  ticker: 244 groups dropped in batch 2 by 3.3.4, none by 4.2.0, same offsets).
* operators/stateful/statefulOperators.scala (``WatermarkSupport.watermarkExpression``,
  ``StateStoreSaveExec``): for a window key the predicate is ``window.end <= wm``
  (inclusive, on the window's *end*, not the row's event time). Late filtering runs
  on the per-(window, symbol) partial aggregates entering the state store, so a
  whole group is dropped and ``numRowsDroppedByWatermark`` counts groups, not
  records. Append: drop groups with ``end <= late-events wm``, merge the rest,
  then emit and remove every key with ``end <= eviction wm``. Update: drop the
  same way, emit every key updated in this batch (full merged aggregate), then
  remove keys with ``end <= eviction wm`` without emitting them. Complete: no late
  filtering and no eviction at all, every batch emits the whole state.
* ``StateStoreSaveExec.shouldRunAnotherBatch``: in append/update mode Spark runs an
  extra no-data batch when the next watermark is above the current eviction
  watermark (``spark.sql.streaming.noDataMicroBatches.enabled``, default true).
  Such batches arrive here with empty offset ranges and only evict/emit.
* catalyst PushPredicateThroughNonJoin: a filter on symbol/price written after
  ``withWatermark`` is pushed below it, and rows with a null event time do not
  move the maximum; hence malformed records never advance the watermark.
* TimeWindowing: ``t`` is in every window ``[s, s + window)`` with ``s`` a multiple
  of the slide (start offset 0) and ``s <= t < s + window``.

These rules were cross-checked against pyspark 4.2.0 (local, file source with one
file per micro-batch, foreachBatch sink, all three output modes, tumbling and
sliding windows): per batch, the watermark, numRowsDroppedByWatermark,
numRowsTotal and emitted rows all matched.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from harness.records import AckedRecord, Tick, parse_tick

__all__ = [
    "Batch",
    "BatchReport",
    "Comparison",
    "JobSemantics",
    "LateDrop",
    "LateEvents",
    "OracleResult",
    "OutputMode",
    "Tick",
    "WindowRow",
    "compare",
    "expected_rows",
    "parse_tick",
    "windows_for",
]

OutputMode = Literal["append", "update", "complete"]
LateEvents = Literal["previous-batch", "current-batch"]
_MODES = ("append", "update", "complete")
_Key = tuple[str, int, int]  # (symbol, window_start_ms, window_end_ms)


# --------------------------------------------------------------------------- semantics


def _require_int(name: str, value: Any, minimum: int) -> None:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class JobSemantics:
    """What the Spark job was configured to do; validated like Spark would."""

    window_ms: int
    slide_ms: int | None = None
    watermark_ms: int | None = None
    output_mode: OutputMode = "complete"
    late_events: LateEvents = "previous-batch"
    """Which watermark filters late rows in batch N: batch N-1's (Spark 3.4+) or batch N's own (Spark 3.3)."""

    def __post_init__(self) -> None:
        _require_int("window_ms", self.window_ms, 1)
        if self.slide_ms is not None:
            _require_int("slide_ms", self.slide_ms, 1)
            if self.slide_ms > self.window_ms:
                raise ValueError(
                    f"slide_ms ({self.slide_ms}) must be <= window_ms ({self.window_ms})"
                )
        if self.watermark_ms is not None:
            _require_int("watermark_ms", self.watermark_ms, 0)
        if self.late_events not in ("previous-batch", "current-batch"):
            raise ValueError(f"late_events must be previous-batch or current-batch, got {self.late_events!r}")
        if self.output_mode not in _MODES:
            raise ValueError(f"output_mode must be one of {_MODES}, got {self.output_mode!r}")
        if self.output_mode == "append" and self.watermark_ms is None:
            raise ValueError(
                "append output mode needs a watermark: Spark rejects streaming "
                "aggregations in append mode without withWatermark()"
            )

    @property
    def slide(self) -> int:
        """Effective slide; a tumbling window slides by its own length."""
        return self.window_ms if self.slide_ms is None else self.slide_ms

    @property
    def drops_late_rows(self) -> bool:
        """Complete mode keeps all state, so only append/update drop or evict."""
        return self.watermark_ms is not None and self.output_mode != "complete"


def windows_for(event_time_ms: int, window_ms: int, slide_ms: int) -> list[tuple[int, int]]:
    """Every ``[start, end)`` window containing the instant, oldest first."""
    last_start = event_time_ms - event_time_ms % slide_ms
    starts = range(last_start, event_time_ms - window_ms, -slide_ms)
    return [(s, s + window_ms) for s in reversed(starts)]


# ------------------------------------------------------------------------------- rows


def _double_order(x: float) -> tuple[int, float]:
    """Spark's double ordering for sorting: NaN is greater than everything."""
    return (1, 0.0) if math.isnan(x) else (0, x)


def _same_double(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _spark_max(a: float, b: float) -> float:
    return a if _double_order(a) >= _double_order(b) else b


def _spark_min(a: float, b: float) -> float:
    return a if _double_order(a) <= _double_order(b) else b


@dataclass(frozen=True)
class WindowRow:
    """One aggregated (symbol, window) row; ``prices`` is normalised to sorted order.

    ``collect_list`` order depends on task scheduling, so prices are compared as
    a multiset: construction sorts them (NaN last, as Spark orders doubles).
    """

    symbol: str
    window_start_ms: int
    window_end_ms: int
    high: float
    low: float
    count: int
    prices: tuple[float, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted((float(p) for p in self.prices), key=_double_order))
        object.__setattr__(self, "prices", ordered)
        object.__setattr__(self, "high", float(self.high))
        object.__setattr__(self, "low", float(self.low))

    @property
    def key(self) -> _Key:
        return (self.symbol, self.window_start_ms, self.window_end_ms)


def _row_sort_key(row: WindowRow) -> tuple[int, int, str]:
    return (row.window_start_ms, row.window_end_ms, row.symbol)


@dataclass
class _Agg:
    """Running aggregate of one (symbol, window) key in Spark's state store."""

    high: float
    low: float
    prices: list[float] = field(default_factory=list)

    def add(self, price: float) -> None:
        self.high, self.low = _spark_max(self.high, price), _spark_min(self.low, price)
        self.prices.append(price)

    def merge(self, other: _Agg) -> None:
        self.high = _spark_max(self.high, other.high)
        self.low = _spark_min(self.low, other.low)
        self.prices.extend(other.prices)

    def row(self, key: _Key) -> WindowRow:
        symbol, start, end = key
        count = len(self.prices)
        return WindowRow(symbol, start, end, self.high, self.low, count, tuple(self.prices))


# ---------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Batch:
    """One Spark micro-batch: per Kafka partition, the ``[start, end)`` offsets read."""

    batch_id: int
    offsets: Mapping[int, tuple[int, int]]
    watermark_blind: bool = False
    """The batch's rows did not reach the watermark operator in the run that committed it: a driver
    restarted after an earlier run had written the batch to an idempotent sink (a file sink's log) but not
    to the commit log re-runs it, the sink skips it, and the restarted driver never sees its event times.
    Its rows are in the state and the sink from the earlier run; the watermark does not move from them."""

    def __post_init__(self) -> None:
        _require_int("batch_id", self.batch_id, 0)
        for partition, (start, end) in self.offsets.items():
            _require_int("partition", partition, 0)
            if not 0 <= start <= end:
                raise ValueError(
                    f"batch {self.batch_id} partition {partition}: bad range [{start}, {end})"
                )

    @property
    def is_empty(self) -> bool:
        """A no-data batch (Spark runs these only to advance the watermark)."""
        return all(start == end for start, end in self.offsets.values())

    def covers(self, partition: int, offset: int) -> bool:
        start, end = self.offsets.get(partition, (0, 0))
        return start <= offset < end

    @classmethod
    def from_progress(
        cls,
        batch_id: int,
        start_offset: str | Mapping[str, Any] | None,
        end_offset: str | Mapping[str, Any],
        *,
        topic: str,
    ) -> Batch:
        """Build from a query progress ``sources[0].startOffset`` / ``endOffset``.

        Spark reports Kafka offsets as ``{"topic": {"0": 42, ...}}``. Batch 0 has no
        start offset (and a partition added later has none either): it was read from
        ``startingOffsets=earliest``, which is offset 0 on a topic nothing was deleted
        from.
        """
        starts, ends = _topic_offsets(start_offset, topic), _topic_offsets(end_offset, topic)
        offsets = {int(p): (starts.get(p, 0), end) for p, end in ends.items()}
        return cls(batch_id, offsets)


def _topic_offsets(offsets: str | Mapping[str, Any] | None, topic: str) -> dict[str, int]:
    if offsets is None:
        return {}
    parsed = json.loads(offsets) if isinstance(offsets, str) else offsets
    return dict((parsed or {}).get(topic, {}))


def _normalise_batches(batches: Sequence[Batch]) -> list[Batch]:
    """Sort by id, fold exact repeats (a re-run batch), reject gaps and conflicts."""
    by_id: dict[int, Batch] = {}
    for batch in batches:
        seen = by_id.setdefault(batch.batch_id, batch)
        if dict(seen.offsets) != dict(batch.offsets):
            raise ValueError(
                f"batch {batch.batch_id} recorded twice with different offsets: "
                f"{dict(seen.offsets)} vs {dict(batch.offsets)}"
            )
    ordered = [by_id[i] for i in sorted(by_id)]
    if ordered and [b.batch_id for b in ordered] != list(range(len(ordered))):
        raise ValueError(
            "batch ids must be 0, 1, 2, ... without gaps (the oracle replays state "
            f"from the first batch); got {[b.batch_id for b in ordered]}"
        )
    return ordered


def _position(record: AckedRecord) -> tuple[int, int]:
    return (record.partition, record.offset)


def _index_records(records: Sequence[AckedRecord]) -> dict[tuple[int, int], AckedRecord]:
    topics = {r.topic for r in records}
    if len(topics) > 1:
        raise ValueError(f"records span several topics {sorted(topics)}; the job reads one")
    index: dict[tuple[int, int], AckedRecord] = {}
    for record in records:
        if _position(record) in index:
            raise ValueError(f"two manifest records at partition/offset {_position(record)}")
        index[_position(record)] = record
    return index


def _range_table(batches: Sequence[Batch]) -> dict[int, tuple[list[int], list[tuple[int, int]]]]:
    """Per partition: sorted range starts and (end, batch index), for bisecting.

    Two batches reading the same offset would double-count it, so that is an error.
    """
    spans: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for i, batch in enumerate(batches):
        for partition, (start, end) in batch.offsets.items():
            if start < end:
                spans[partition].append((start, end, i))
    table = {}
    for partition, ranges in spans.items():
        ranges.sort()
        for (_, prev_end, a), (start, _, b) in zip(ranges, ranges[1:]):
            if start < prev_end:
                raise ValueError(
                    f"partition {partition}: batches {batches[a].batch_id} and "
                    f"{batches[b].batch_id} both read offset {start}"
                )
        table[partition] = ([s for s, _, _ in ranges], [(e, i) for _, e, i in ranges])
    return table


def _batch_index(
    table: Mapping[int, tuple[list[int], list[tuple[int, int]]]], record: AckedRecord
) -> int | None:
    starts, ends = table.get(record.partition, ([], []))
    j = bisect.bisect_right(starts, record.offset) - 1
    if j >= 0 and record.offset < ends[j][0]:
        return ends[j][1]
    return None


def _assign(
    records: Sequence[AckedRecord], batches: Sequence[Batch]
) -> tuple[list[list[AckedRecord]], list[AckedRecord]]:
    """Records read by each batch (in partition/offset order) and the unread rest."""
    index = _index_records(records)
    table = _range_table(batches)
    per_batch: list[list[AckedRecord]] = [[] for _ in batches]
    unconsumed: list[AckedRecord] = []
    for position in sorted(index):
        i = _batch_index(table, index[position])
        (unconsumed if i is None else per_batch[i]).append(index[position])
    return per_batch, unconsumed


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True)
class LateDrop:
    """One (record, window) assignment Spark discarded because the window closed."""

    record: AckedRecord
    symbol: str
    window_start_ms: int
    window_end_ms: int
    batch_id: int


@dataclass(frozen=True)
class BatchReport:
    """What the oracle expects Spark to report and write for one micro-batch.

    ``watermark_ms`` is the eviction watermark, i.e. Spark's progress
    ``eventTime.watermark``; ``rows_dropped_by_watermark`` and ``state_rows_total``
    match ``stateOperators[0].numRowsDroppedByWatermark`` / ``numRowsTotal``.
    Watermarks are ``None`` when the job has no watermark.
    """

    batch_id: int
    watermark_ms: int | None
    late_events_watermark_ms: int | None
    input_records: int
    max_event_time_ms: int | None
    rows_dropped_by_watermark: int
    emitted: tuple[WindowRow, ...]
    state_rows_total: int


@dataclass(frozen=True)
class OracleResult:
    """Expected sink content plus everything needed to explain a difference."""

    rows: list[WindowRow]
    dropped_late: list[AckedRecord]
    late_drops: list[LateDrop]
    malformed: list[AckedRecord]
    unconsumed: list[AckedRecord]
    batches: list[BatchReport]
    next_watermark_ms: int | None
    semantics: JobSemantics

    @property
    def watermarks(self) -> dict[int, int | None]:
        """batch id -> eviction watermark, to check against Spark's progress."""
        return {b.batch_id: b.watermark_ms for b in self.batches}

    @property
    def pending_no_data_batch(self) -> bool:
        """True when Spark would still run a no-data batch that emits/evicts more.

        While this holds, an append-mode sink is legitimately missing windows.
        """
        if not self.semantics.drops_late_rows or not self.batches:
            return False
        current = self.batches[-1].watermark_ms
        return self.next_watermark_ms is not None and current is not None and (
            self.next_watermark_ms > current
        )


# ------------------------------------------------------------------------- simulation


class _Simulation:
    """Replays the stateful aggregation batch by batch, exactly as Spark plans it."""

    def __init__(self, semantics: JobSemantics) -> None:
        self.sem = semantics
        self.state: dict[_Key, _Agg] = {}
        self.sink: dict[_Key, WindowRow] = {}
        self.watermark = 0
        self.prev_watermark = 0
        self.malformed: list[AckedRecord] = []
        self.late_drops: list[LateDrop] = []
        self.dropped_late: list[AckedRecord] = []
        self.reports: list[BatchReport] = []

    def _parse(self, records: Iterable[AckedRecord]) -> list[tuple[AckedRecord, Tick]]:
        ticks = []
        for record in records:
            tick = parse_tick(record.value)
            if tick is None:
                self.malformed.append(record)
            else:
                ticks.append((record, tick))
        return ticks

    def _group(
        self, ticks: Sequence[tuple[AckedRecord, Tick]]
    ) -> dict[_Key, list[tuple[AckedRecord, float]]]:
        groups: dict[_Key, list[tuple[AckedRecord, float]]] = defaultdict(list)
        for record, tick in ticks:
            for start, end in windows_for(tick.event_time_ms, self.sem.window_ms, self.sem.slide):
                groups[(tick.symbol, start, end)].append((record, tick.price))
        return groups

    @property
    def late_events_watermark(self) -> int:
        return self.prev_watermark if self.sem.late_events == "previous-batch" else self.watermark

    def _is_late(self, key: _Key) -> bool:
        return self.sem.drops_late_rows and key[2] <= self.late_events_watermark

    def _drop(self, batch_id: int, key: _Key, members: list[tuple[AckedRecord, float]]) -> None:
        symbol, start, end = key
        self.late_drops.extend(LateDrop(r, symbol, start, end, batch_id) for r, _ in members)

    def _merge(self, key: _Key, members: list[tuple[AckedRecord, float]]) -> None:
        partial = _Agg(high=members[0][1], low=members[0][1])
        for _, price in members:
            partial.add(price)
        if key in self.state:
            self.state[key].merge(partial)
        else:
            self.state[key] = partial

    def _evict(self) -> list[WindowRow]:
        if not self.sem.drops_late_rows:
            return []
        closed = sorted(k for k in self.state if k[2] <= self.watermark)
        return [self.state.pop(k).row(k) for k in closed]

    def _emit(self, updated: Sequence[_Key]) -> tuple[WindowRow, ...]:
        mode = self.sem.output_mode
        if mode == "complete":
            rows = [agg.row(k) for k, agg in self.state.items()]
            self.sink = {r.key: r for r in rows}
        elif mode == "update":
            rows = [self.state[k].row(k) for k in updated]
            self._evict()
            self.sink.update((r.key, r) for r in rows)
        else:
            rows = self._evict()
            for r in rows:
                assert r.key not in self.sink, f"window emitted twice in append mode: {r.key}"
                self.sink[r.key] = r
        return tuple(sorted(rows, key=_row_sort_key))

    def _record_whole_drops(self, ticks: Sequence[tuple[AckedRecord, Tick]], start: int) -> None:
        dropped = Counter(_position(d.record) for d in self.late_drops[start:])
        for record, tick in ticks:
            n_windows = len(windows_for(tick.event_time_ms, self.sem.window_ms, self.sem.slide))
            if dropped[_position(record)] == n_windows:
                self.dropped_late.append(record)

    def step(self, batch: Batch, records: Sequence[AckedRecord]) -> None:
        ticks = self._parse(records)
        first_drop = len(self.late_drops)
        groups = self._group(ticks)
        late = [k for k in groups if self._is_late(k)]
        for key in late:
            self._drop(batch.batch_id, key, groups.pop(key))
        for key, members in groups.items():
            self._merge(key, members)
        emitted = self._emit(sorted(groups))
        self._record_whole_drops(ticks, first_drop)
        max_et = max((t.event_time_ms for _, t in ticks), default=None)
        self._report(batch, len(records), max_et, len(late), emitted)
        self._advance(None if batch.watermark_blind else max_et)

    def _report(
        self,
        batch: Batch,
        n_input: int,
        max_et: int | None,
        n_late: int,
        emitted: tuple[WindowRow, ...],
    ) -> None:
        has_wm = self.sem.watermark_ms is not None
        self.reports.append(
            BatchReport(
                batch_id=batch.batch_id,
                watermark_ms=self.watermark if has_wm else None,
                late_events_watermark_ms=self.late_events_watermark if has_wm else None,
                input_records=n_input,
                max_event_time_ms=max_et,
                rows_dropped_by_watermark=n_late,
                emitted=emitted,
                state_rows_total=len(self.state),
            )
        )

    def _advance(self, max_et: int | None) -> None:
        """WatermarkTracker.updateWatermark: only up, only from batches with rows."""
        self.prev_watermark = self.watermark
        if self.sem.watermark_ms is not None and max_et is not None:
            self.watermark = max(self.watermark, max_et - self.sem.watermark_ms)


def expected_rows(
    records: Sequence[AckedRecord], batches: Sequence[Batch], semantics: JobSemantics
) -> OracleResult:
    """The sink content Spark must produce for these records cut into these batches.

    ``rows`` is the final table: append = every window emitted so far (each once),
    update = the last emitted version of each window, complete = the last batch's
    full result. Records outside every batch are returned in ``unconsumed``.
    """
    ordered = _normalise_batches(batches)
    per_batch, unconsumed = _assign(records, ordered)
    sim = _Simulation(semantics)
    for batch, batch_records in zip(ordered, per_batch):
        sim.step(batch, batch_records)
    return OracleResult(
        rows=sorted(sim.sink.values(), key=_row_sort_key),
        dropped_late=sim.dropped_late,
        late_drops=sim.late_drops,
        malformed=sim.malformed,
        unconsumed=unconsumed,
        batches=sim.reports,
        next_watermark_ms=sim.watermark if semantics.watermark_ms is not None else None,
        semantics=semantics,
    )


# ---------------------------------------------------------------------------- compare


def _iso(ms: int) -> str:
    instant = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    spec = "seconds" if ms % 1000 == 0 else "milliseconds"
    return instant.isoformat(timespec=spec).replace("+00:00", "Z")


def _label(row: WindowRow) -> str:
    return f"{row.symbol} [{_iso(row.window_start_ms)}, {_iso(row.window_end_ms)})"


def _values(row: WindowRow) -> str:
    return f"high={row.high!r} low={row.low!r} count={row.count} prices={list(row.prices)!r}"


def _price_bag(prices: Iterable[float]) -> Counter[Any]:
    return Counter("NaN" if math.isnan(p) else p for p in prices)


def _differences(expected: WindowRow, actual: WindowRow) -> list[str]:
    diffs = [
        f"{name}: expected {e!r}, actual {a!r}"
        for name, e, a in (("high", expected.high, actual.high), ("low", expected.low, actual.low))
        if not _same_double(e, a)
    ]
    if expected.count != actual.count:
        diffs.append(f"count: expected {expected.count}, actual {actual.count}")
    want, got = _price_bag(expected.prices), _price_bag(actual.prices)
    if want != got:
        diffs.append(
            f"prices: missing {sorted((want - got).elements(), key=str)}, "
            f"unexpected {sorted((got - want).elements(), key=str)}"
        )
    return diffs


@dataclass(frozen=True)
class Comparison:
    """Row-level difference between expected and actual sink content."""

    missing: tuple[WindowRow, ...]
    extra: tuple[WindowRow, ...]
    wrong: tuple[tuple[WindowRow, WindowRow], ...]
    duplicated: tuple[tuple[WindowRow, ...], ...]
    expected_count: int = 0
    actual_count: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.wrong or self.duplicated)

    def _lines(self) -> list[str]:
        lines = [f"- missing    {_label(r)} {_values(r)}" for r in self.missing]
        lines += [f"+ extra      {_label(r)} {_values(r)}" for r in self.extra]
        lines += [
            f"~ wrong      {_label(e)} {'; '.join(_differences(e, a))}" for e, a in self.wrong
        ]
        lines += [f"! duplicated {_label(g[0])} present {len(g)} times" for g in self.duplicated]
        return lines

    def render(self, limit: int = 20) -> str:
        """Readable diff, one line per problem row (like assertDataFrameEqual)."""
        if self.ok:
            return f"OK: {self.expected_count} expected rows all match"
        lines = self._lines()
        head = (
            f"{len(lines)} problem rows ({len(self.missing)} missing, {len(self.extra)} extra, "
            f"{len(self.wrong)} wrong, {len(self.duplicated)} duplicated); "
            f"expected {self.expected_count} rows, actual {self.actual_count}"
        )
        shown = lines[:limit]
        if len(lines) > limit:
            shown.append(f"... and {len(lines) - limit} more")
        return "\n".join([head, *shown])


def _rows_equal(a: WindowRow, b: WindowRow) -> bool:
    return a.key == b.key and not _differences(a, b)


def compare(expected: Sequence[WindowRow], actual: Sequence[WindowRow]) -> Comparison:
    """Match rows by (symbol, window); a repeated actual key is compared by its last copy.

    Expected rows must have unique keys (the oracle guarantees it).
    """
    want: dict[_Key, WindowRow] = {}
    for row in expected:
        if row.key in want:
            raise ValueError(f"expected rows contain {row.key} twice")
        want[row.key] = row
    got: dict[_Key, list[WindowRow]] = defaultdict(list)
    for row in actual:
        got[row.key].append(row)
    return Comparison(
        missing=tuple(r for k, r in sorted(want.items()) if k not in got),
        extra=tuple(rs[-1] for k, rs in sorted(got.items()) if k not in want),
        wrong=tuple(
            (want[k], rs[-1])
            for k, rs in sorted(got.items())
            if k in want and not _rows_equal(want[k], rs[-1])
        ),
        duplicated=tuple(tuple(rs) for _, rs in sorted(got.items()) if len(rs) > 1),
        expected_count=len(expected),
        actual_count=len(actual),
    )
