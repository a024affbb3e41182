"""Delivery accounting: acknowledged minus stored is lost, stored beyond acknowledged is duplicated.

Records are compared as a multiset of (key, value), not by offset: after a leader loss with acks=1 the
new leader reuses offsets the old one had acknowledged, and a scenario may send a value twice on
purpose (then it is acknowledged twice and stored twice, and counts as neither).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from harness.verify.manifest import AckedRecord


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
