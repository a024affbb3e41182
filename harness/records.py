"""The history of a run as data, shared by the layers that write it and the ones that check it.

`AckedRecord` is one record as the broker acknowledged (or stored) it: the replay produces them, the
manifest files them, the oracle and the delivery check consume them. `ReplayResult` is what one
producer's replay recorded, `RecordedBatch` one micro-batch the job committed, as Jepsen keeps a
history that the checkers read and never a live system. `parse_tick` reads a stock-ticker
value exactly as the reference job's `from_json` does, so the event time the harness derives (for the
oracle and for the watermark the catch-up wait expects) is the one Spark derives.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AckedRecord", "RecordedBatch", "ReplayResult", "Tick", "by_position", "parse_tick"]

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
# Jackson with allowNonNumericNumbers accepts these strings for a double field.
_DOUBLE_STRINGS = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "+Infinity": math.inf,
    "+INF": math.inf,
    "-Infinity": -math.inf,
    "-INF": -math.inf,
}
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class AckedRecord:
    """One record as acknowledged by the broker."""

    topic: str
    partition: int
    offset: int | None
    """None: the broker acknowledged a retried batch as a duplicate (idempotent producer), so the client
    never learnt the offset; `resolve_offsets` finds it in the topic, and if it is not there, it is lost."""
    key: str | None
    event_time_ms: int | None
    value: str
    timestamp_ms: int | None = None
    """The broker record's timestamp (producer wall clock): the start of event-to-result latency."""


def by_position(record: AckedRecord) -> tuple[int, int]:
    """Sort key: partition, then offset; a record whose offset is unknown sorts first in its partition."""
    return (record.partition, -1 if record.offset is None else record.offset)


@dataclass(frozen=True)
class Tick:
    """The fields of a value that the aggregation uses, as Spark parses them."""

    symbol: str
    time_ms: int
    price: float

    @property
    def event_time_ms(self) -> int:
        """``timestamp_seconds(floor(time / 1000))`` in ms: second precision."""
        return (self.time_ms // 1000) * 1000


def _as_string(value: Any) -> str | None:
    """Spark's JSON StringType: non-string values keep their JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _as_long(value: Any) -> int | None:
    """Spark's JSON LongType: integral JSON numbers in range only (no strings/floats)."""
    if type(value) is int and _LONG_MIN <= value <= _LONG_MAX:
        return value
    return None


def _as_double(value: Any) -> float | None:
    """Spark's JSON DoubleType: any JSON number, plus the NaN/Infinity strings."""
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        return _DOUBLE_STRINGS.get(value)
    return None


def parse_tick(value: str | None) -> Tick | None:
    """Parse a Kafka value like ``from_json`` does; ``None`` means malformed.

    Mirrors what was checked against pyspark 4.2 (PERMISSIVE mode, partial results):
    a syntax error nulls the whole row, a type mismatch nulls only that field,
    trailing text after the first JSON value is ignored, field names are
    case-sensitive and a repeated key keeps its last value.
    """
    if value is None:
        return None
    try:
        obj, _ = _DECODER.raw_decode(value.lstrip(" \t\r\n"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    symbol, time_ms = _as_string(obj.get("symbol")), _as_long(obj.get("time"))
    price = _as_double(obj.get("price"))
    if symbol is None or time_ms is None or price is None:
        return None
    return Tick(symbol=symbol, time_ms=time_ms, price=price)


@dataclass
class ReplayResult:
    """What one producer's replay recorded: every acknowledged record, and what failed."""

    acked: list[AckedRecord] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    sent: int = 0
    seconds: float = 0.0
    ack_latencies_ms: list[float] = field(default_factory=list)  # produce() to acknowledgement, per record

    @property
    def rate(self) -> float:
        return len(self.acked) / self.seconds if self.seconds > 0 else 0.0

    def per_partition(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for record in self.acked:
            counts[record.partition] = counts.get(record.partition, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class RecordedBatch:
    """One micro-batch the job committed, as Spark's progress (or, where a progress event was lost, the
    checkpoint) records it: the offsets it read, when it ran, the watermark it ran with."""

    batch_id: int
    start_offsets: dict[int, int]
    end_offsets: dict[int, int]
    input_rows: int
    started_ms: int
    duration_ms: int
    watermark_ms: int | None
    dropped_by_watermark: int = 0
    latest_offsets: dict[int, int] = field(default_factory=dict)
    event_times_seen: bool | None = None
    """Whether rows reached the job's watermark operator (its progress has an event-time max); None when
    unknown (no progress event, or no watermark). False with offsets read: a re-run a sink skipped."""

    @property
    def lag(self) -> int:
        """Records already in Kafka but not yet in this or an earlier batch (consumer lag at batch end)."""
        return sum(max(0, latest - self.end_offsets.get(p, 0)) for p, latest in self.latest_offsets.items())

    @property
    def input_range(self) -> int:
        """Records in the batch's offset range (its input, whatever the progress counted)."""
        return sum(max(0, end - self.start_offsets.get(p, 0)) for p, end in self.end_offsets.items())

    @property
    def finished_ms(self) -> int:
        return self.started_ms + self.duration_ms

    def tasks(self, min_partitions: int | None) -> int:
        """Source tasks: one per Kafka partition with data in the batch (more if minPartitions splits them)."""
        with_data = sum(1 for p, end in self.end_offsets.items() if end > self.start_offsets.get(p, 0))
        return max(with_data, min_partitions or 0) if with_data else 0
