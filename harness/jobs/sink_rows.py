"""What a job's own sink holds, as the oracle compares it: rows, when each arrived, and notes.

The readers of each kind of sink (`harness.jobs.sinks`, `harness.jobs.console_sink`, a notebook's
memory table) all give one of these; the rows are normalised here, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class SinkRows:
    """The rows a sink holds. `outputs` is keyed by sink order, or by batch id where the sink says
    which batch wrote a row; `emitted_ms` says when each entry reached the sink, where it is known."""

    outputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    emitted_ms: dict[int, int] | None = None
    rewritten: int | None = None  # rows an at-least-once sink wrote again (a re-run batch), counted and compared once
    notes: list[str] = field(default_factory=list)
    sampled: bool = False  # the sink shows only some rows (the console's numRows): a row it did not show is not missing


SinkReader = Callable[[], SinkRows]


def normal_row(row: dict[str, Any]) -> dict[str, Any]:
    """One row as the oracle compares it: a `window` struct (as Spark writes it to JSON, Parquet or a
    table) becomes window_start_ms / window_end_ms; timestamps become epoch milliseconds."""
    row = dict(row)
    window = row.pop("window", None)
    if isinstance(window, dict):
        row["window_start_ms"], row["window_end_ms"] = epoch_ms(window["start"]), epoch_ms(window["end"])
    for edge in ("window_start", "window_end"):  # a flat window, as CSV (which has no structs) holds it
        if isinstance(row.get(edge), (str, datetime)) and f"{edge}_ms" not in row:
            row[f"{edge}_ms"] = epoch_ms(row.pop(edge))
    return row


def epoch_ms(value: str | datetime) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # the harness runs Spark in UTC
    return int(moment.timestamp() * 1000)
