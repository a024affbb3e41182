"""Delivery accounting: acknowledged minus stored is lost, stored beyond acknowledged is duplicated.

Records are compared as a multiset of (key, value), not by offset: after a leader loss with acks=1 the
new leader reuses offsets the old one had acknowledged, and a scenario may send a value twice on
purpose (then it is acknowledged twice and stored twice, and counts as neither).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from harness.records import AckedRecord


@dataclass(frozen=True)
class Delivery:
    acked: int
    stored: int
    lost: tuple[AckedRecord, ...]
    duplicated: tuple[AckedRecord, ...]

    def to_json(self, limit: int = 20) -> dict[str, object]:
        return {
            "acked": self.acked, "stored": self.stored, "lost": len(self.lost), "duplicated": len(self.duplicated),
            "lost_examples": [_describe(r) for r in self.lost[:limit]],
            "duplicated_examples": [_describe(r) for r in self.duplicated[:limit]],
        }


def account(acked: Sequence[AckedRecord], stored: Sequence[AckedRecord]) -> Delivery:
    have = Counter((r.key, r.value) for r in stored)
    lost = [r for r in acked if _take(have, r)]
    extra = have - Counter((r.key, r.value) for r in acked)
    duplicated = []
    for record in stored:
        k = (record.key, record.value)
        if extra[k] > 0:
            extra[k] -= 1
            duplicated.append(record)
    return Delivery(len(acked), len(stored), tuple(lost), tuple(duplicated))


def _take(have: Counter, record: AckedRecord) -> bool:  # type: ignore[type-arg]
    """True when this acknowledged copy has no stored copy left to match it."""
    k = (record.key, record.value)
    if have[k] > 0:
        have[k] -= 1
        return False
    return True


def _describe(record: AckedRecord) -> str:
    return f"partition {record.partition} offset {record.offset} key {record.key}: {record.value}"


def resolve_offsets(acked: Sequence[AckedRecord], stored: Sequence[AckedRecord]) -> list[AckedRecord]:
    """Give each acknowledgement without an offset the offset of its stored copy (same partition, key
    and value) that no other acknowledgement claims. librdkafka reports a retried batch that the broker
    already had (DUPLICATE_SEQUENCE_NUMBER) as delivered, with no offset; it happens around a leader
    change. An acknowledgement with no stored copy left keeps None: it is lost, and `account` says so."""
    if all(r.offset is not None for r in acked):
        return list(acked)
    claimed = {(r.partition, r.offset, r.key, r.value) for r in acked if r.offset is not None}
    free: dict[tuple[int, str | None, str], list[int]] = {}
    for record in stored:
        if record.offset is not None and (record.partition, record.offset, record.key, record.value) not in claimed:
            free.setdefault((record.partition, record.key, record.value), []).append(record.offset)
    for offsets in free.values():
        offsets.sort(reverse=True)  # pop() hands out the lowest first
    resolved = []
    for record in acked:
        candidates = free.get((record.partition, record.key, record.value)) if record.offset is None else None
        resolved.append(replace(record, offset=candidates.pop()) if candidates else record)
    return resolved
