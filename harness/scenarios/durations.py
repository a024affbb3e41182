"""Durations as people write them in scenario files: '10s', '250ms', '1.5m', '1h'."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def parse_duration_ms(value: str | int | float) -> int:
    """`"10s"`, `"250ms"`, `"1.5m"`, or a number of milliseconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '10s' or '250ms'")
    if isinstance(value, (int, float)):
        return int(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; write e.g. '10s', '250ms', '5m', '1h'")
    return int(float(match.group(1)) * _UNIT_MS[match.group(2)])
