"""Read back Spark's console sink from the job's own output, as far as it printed its batches.

The console sink prints each micro-batch as

    -------------------------------------------
    Batch: 3
    -------------------------------------------
    +------+--------------------+----+
    |symbol|              window|high|
    +------+--------------------+----+
    |  MSFT|{2023-11-14 22:12...|  .. |
    +------+--------------------+----+
    only showing top 20 rows

that is `Dataset.show(numRows, truncate)`: at most `numRows` rows (20 unless the job sets the sink's
`numRows` option; Spark adds the "only showing top N rows" line when the batch had more), and cells
cut to 20 characters (17 and "...") unless the job sets `truncate` to false. So the console is a
sample of the results, and this reader says how much of it is: a batch that did not show all its
rows makes the rows `sampled` (a row it did not show is not missing), and a row with a cut cell
cannot be compared, so it is left out and counted. Log lines the driver writes while a batch prints
land between the table's lines; they are skipped.

Cells are typed back from their text: whole numbers and decimals become numbers, `NULL` None, `[a,
b]` lists, and a struct of two timestamps `{start, end}` (a window, printed in the session's time
zone, UTC in the harness) the `window` the oracle's rows are normalised from. A string that looks
like a number becomes one: the printed table carries no types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.jobs.sink_rows import SinkRows, normal_row

_RULE = re.compile(r"^-{20,}$")
_BATCH = re.compile(r"^Batch: (\d+)$")
_BORDER = re.compile(r"^\+(-+\+)+$")
_ONLY_SHOWING = re.compile(r"^only showing top (\d+) rows?$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$|^-?(Infinity|NaN)$")
DEFAULT_NUM_ROWS = 20
TRUNCATED_WIDTH = 20  # show(truncate=true) cuts a cell to 17 characters and "..."


@dataclass
class PrintedBatch:
    batch_id: int
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    more: bool = False  # "only showing top N rows": the batch had more rows than it printed


def printed_batches(text: str) -> list[PrintedBatch]:
    """Every batch the console sink printed, in the order printed (a batch re-run after a restart prints again)."""
    lines = text.splitlines()
    batches: list[PrintedBatch] = []
    at = 0
    while at < len(lines):
        match = _BATCH.match(lines[at].strip())
        at += 1
        if match is not None:
            batch, at = _table(int(match.group(1)), lines, at)
            if batch is not None:
                batches.append(batch)
    return batches


def _table(batch_id: int, lines: list[str], at: int) -> tuple[PrintedBatch | None, int]:
    """The table after a `Batch: N` header (border, header, border, rows, border, maybe "only showing"),
    and where reading goes on."""
    borders, border = 0, ""
    batch: PrintedBatch | None = None
    while at < len(lines) and borders < 3:
        line = lines[at].rstrip()
        at += 1
        if _BATCH.match(line.strip()):
            return None, at - 1  # a header without its table: the print was cut short
        if _BORDER.match(line):
            borders += 1
            border = border or line
        elif line.startswith("|") and line.endswith("|"):
            cells = _cells(line, border)
            if borders == 1:
                batch = PrintedBatch(batch_id, [c.strip() for c in cells])
            elif borders == 2 and batch is not None:
                batch.rows.append(cells)
        # anything else: the rule under the header, or a log line written between the table's lines
    if batch is None or borders < 3:
        return None, at
    while at < len(lines):  # "only showing top N rows" follows the table, maybe after log lines
        stripped = lines[at].strip()
        if _ONLY_SHOWING.match(stripped):
            batch.more = True
            return batch, at + 1
        if stripped and not re.match(r"^\d{2}[:/]", stripped):
            break  # neither blank nor a log line (they start with the time)
        at += 1
    return batch, at


def _cells(line: str, border: str) -> list[str]:
    """A table line's cells, cut where the border's `+` stand (a cell may hold `|`); by `|` when they do not line up."""
    cuts = [i for i, char in enumerate(border) if char == "+"]
    if len(line) == len(border) and all(line[i] == "|" for i in cuts):
        return [line[a + 1:b].strip() for a, b in zip(cuts, cuts[1:])]
    return [cell.strip() for cell in line[1:-1].split("|")]


def cell_value(text: str) -> Any:
    """A printed cell back as a value (see the module's doc)."""
    if text == "NULL" or text == "null":
        return None
    if _INTEGER.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return float(text)
    if text.startswith("[") and text.endswith("]"):
        return [cell_value(part) for part in _split(text[1:-1])]
    if text.startswith("{") and text.endswith("}"):
        parts = [p.strip() for p in _split(text[1:-1])]
        if len(parts) == 2 and all(_TIMESTAMP.match(p) for p in parts):
            return {"start": parts[0], "end": parts[1]}
        return [cell_value(p) for p in parts]
    return text


def _split(inner: str) -> list[str]:
    """Top-level items of an array or struct as show() prints them: `a, b`, nested brackets kept whole."""
    if not inner.strip():
        return []
    parts, depth, current = [], 0, []
    for i, char in enumerate(inner):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0 and inner[i + 1:i + 2] == " ":
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def _truncated(cell: str) -> bool:
    return len(cell) == TRUNCATED_WIDTH and cell.endswith("...")


def console_rows(log: Path) -> SinkRows:
    """The rows the console sink printed into the job's log, keyed by batch id (a batch printed twice,
    re-run after a restart, keeps its last print), with how much of the results they are."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    batches = printed_batches(text)
    result = SinkRows()
    if not batches:
        result.notes.append(f"the console sink printed no batch in {log}")
        return result
    batches, other = _main_query(batches)
    latest = {b.batch_id: b for b in batches}
    shown = cut = 0
    sampled_batches = []
    for batch_id in sorted(latest):
        batch = latest[batch_id]
        rows = []
        for cells in batch.rows:
            if any(_truncated(c) for c in cells):
                cut += 1
                continue
            rows.append(normal_row({name: cell_value(c) for name, c in zip(batch.columns, cells)}))
        result.outputs[batch_id] = rows
        shown += len(rows)
        if batch.more:
            sampled_batches.append(batch_id)
    result.sampled = bool(sampled_batches or cut)
    note = f"the console sink showed {shown + cut} rows in {len(latest)} batches"
    if sampled_batches:
        note += (f"; {len(sampled_batches)} batches had more rows than they showed (batches {_ids(sampled_batches)}: numRows, "
                 f"{DEFAULT_NUM_ROWS} unless the job sets it), so only the rows shown are compared")
    if cut:
        note += f"; {cut} rows have a cell cut to {TRUNCATED_WIDTH} characters (the sink's truncate option) and cannot be compared"
    if other:
        note += f"; {other} batches of another query printed to the console (other columns) were not read"
    result.notes.append(note)
    return result


def _main_query(batches: list[PrintedBatch]) -> tuple[list[PrintedBatch], int]:
    """The tables of one query when several print to the console: the one with a `window` column, else the most printed."""
    by_columns: dict[tuple[str, ...], list[PrintedBatch]] = {}
    for batch in batches:
        by_columns.setdefault(tuple(batch.columns), []).append(batch)
    if len(by_columns) == 1:
        return batches, 0
    chosen = max(by_columns, key=lambda cols: ("window" in cols, len(by_columns[cols])))
    return by_columns[chosen], len(batches) - len(by_columns[chosen])


def _ids(ids: list[int], limit: int = 10) -> str:
    return ", ".join(map(str, ids[:limit])) + (", ..." if len(ids) > limit else "")
