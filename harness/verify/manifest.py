"""The acknowledgement manifest: what the broker confirmed, one JSON line per record.

Why: the oracle must be computed from what Kafka actually stored (topic, partition,
offset as acknowledged), not from what the generator intended to send; retries,
failed sends and partitioning all happen in between. JSON Lines keeps the file
appendable while producing and diffable afterwards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from harness.records import AckedRecord

__all__ = ["read_manifest", "write_manifest"]


_FIELDS = tuple(f.name for f in fields(AckedRecord))
_OPTIONAL = {"key", "event_time_ms", "timestamp_ms", "offset"}
_TYPES: dict[str, type] = {
    "topic": str,
    "partition": int,
    "offset": int,
    "key": str,
    "event_time_ms": int,
    "value": str,
    "timestamp_ms": int,
}


def _check_field(name: str, value: Any) -> None:
    if value is None:
        if name not in _OPTIONAL:
            raise ValueError(f"field {name!r} must not be null")
        return
    expected = _TYPES[name]
    # bool is an int subclass in Python; JSON true is not an offset.
    if type(value) is not expected:
        raise ValueError(f"field {name!r} must be {expected.__name__}, got {value!r}")
    if name in ("partition", "offset") and value < 0:
        raise ValueError(f"field {name!r} must be >= 0, got {value}")


def _record_from_obj(obj: Any) -> AckedRecord:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [f for f in _FIELDS if f not in obj and f != "timestamp_ms"]
    unknown = sorted(set(obj) - set(_FIELDS))
    if missing or unknown:
        raise ValueError(f"missing fields {missing}, unknown fields {unknown}")
    for name in _FIELDS:
        _check_field(name, obj.get(name))
    return AckedRecord(**{name: obj.get(name) for name in _FIELDS})


def write_manifest(
    path: str | os.PathLike[str], records: Iterable[AckedRecord], *, append: bool = False
) -> None:
    """Write (or append) records as JSON Lines, UTF-8, one compact object per line."""
    with Path(path).open("a" if append else "w", encoding="utf-8", newline="\n") as out:
        for record in records:
            out.write(json.dumps(asdict(record), separators=(",", ":"), ensure_ascii=False))
            out.write("\n")


def read_manifest(path: str | os.PathLike[str]) -> list[AckedRecord]:
    """Read a manifest; blank lines are skipped, anything else must be a record.

    A bad line raises ``ValueError("<path>:<line>: ...")`` so a corrupt manifest is
    found at its source instead of showing up later as a missing window.
    """
    records: list[AckedRecord] = []
    with Path(path).open(encoding="utf-8") as src:
        for lineno, line in enumerate(src, start=1):
            if not line.strip():
                continue
            try:
                records.append(_record_from_obj(json.loads(line)))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                raise ValueError(f"{path}:{lineno}: invalid manifest line: {exc}") from exc
    return records
