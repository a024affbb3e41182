"""Scenario events and seeded stream perturbations (late arrival, duplicates).

Why: the interesting bugs in a streaming job show up only when data arrives out of
event-time order or more than once. These helpers produce such streams
*reproducibly* (same seed, same sequence), so a failing run can be replayed and the
oracle can be given exactly what was sent.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "disorder", "duplicate"]

# The sample producer's JSON field order; other fields follow in insertion order.
_LEADING_FIELDS = ("symbol", "time", "price", "size")


@dataclass(frozen=True)
class Event:
    """One record to produce: Kafka key, event time and the JSON value's fields.

    ``value`` is treated as read-only; the dataclass is frozen so events can be
    shared between the producer, the manifest and the oracle without copies.
    """

    key: str
    event_time_ms: int
    value: dict[str, Any]

    def json_value(self) -> str:
        """Compact JSON exactly as the producer sends it (stable key order)."""
        ordered = {k: self.value[k] for k in _LEADING_FIELDS if k in self.value}
        ordered.update((k, v) for k, v in self.value.items() if k not in ordered)
        return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def __hash__(self) -> int:
        # The dict field is unhashable; hash what the broker would see instead.
        return hash((self.key, self.event_time_ms, self.json_value()))


def _check_fraction(name: str, fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {fraction}")


def _pick(rng: random.Random, n: int, fraction: float) -> list[int]:
    """Indices of exactly round(fraction * n) events, chosen by the seeded RNG."""
    return sorted(rng.sample(range(n), round(fraction * n)))


def disorder(
    events: Iterable[Event], *, seed: int, late_fraction: float, max_delay_ms: int
) -> list[Event]:
    """Delay a fraction of events in the *send order*; event times are unchanged.

    Each chosen event gets a delay ``d`` in ``[1, max_delay_ms]`` and is re-inserted
    after every on-time event sent before the stream's event time passed
    ``event_time + d`` (on-time ties go first). That is how a stalled producer or a
    slow partition looks to Spark: the record arrives after newer data, possibly
    after the watermark has moved past its window.
    """
    _check_fraction("late_fraction", late_fraction)
    if max_delay_ms < 1:
        raise ValueError(f"max_delay_ms must be >= 1, got {max_delay_ms}")
    items = list(events)
    rng = random.Random(seed)
    late = {i: rng.randint(1, max_delay_ms) for i in _pick(rng, len(items), late_fraction)}
    on_time = [e for i, e in enumerate(items) if i not in late]
    # Event-time progress of the on-time stream; a running max keeps it sorted.
    progress: list[int] = []
    for e in on_time:
        progress.append(max(e.event_time_ms, progress[-1]) if progress else e.event_time_ms)
    slots: dict[int, list[tuple[int, int]]] = {}
    for i, delay in late.items():
        target = items[i].event_time_ms + delay
        slots.setdefault(bisect.bisect_right(progress, target), []).append((target, i))
    out: list[Event] = []
    for pos in range(len(on_time) + 1):
        out.extend(items[i] for _, i in sorted(slots.get(pos, [])))
        if pos < len(on_time):
            out.append(on_time[pos])
    return out


def duplicate(events: Iterable[Event], *, seed: int, fraction: float) -> list[Event]:
    """Repeat a fraction of events right after themselves, like a producer retry.

    A retried send whose first attempt did reach the broker yields the same value
    twice at adjacent offsets; the oracle must then count both copies.
    """
    _check_fraction("fraction", fraction)
    items = list(events)
    chosen = set(_pick(random.Random(seed), len(items), fraction))
    out: list[Event] = []
    for i, e in enumerate(items):
        out.append(e)
        if i in chosen:
            out.append(e)
    return out
