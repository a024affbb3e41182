"""Topic creation returns only when every bootstrap broker knows the topic (pure logic: the brokers are fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import HarnessError
from harness.kafka import admin


class _Future:
    def result(self, timeout: float | None = None) -> None:
        return None


class _Client:
    def create_topics(self, topics: list[Any], **_: Any) -> dict[str, _Future]:
        return {t.topic: _Future() for t in topics}


def test_creation_waits_for_the_broker_whose_metadata_lags(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first broker asked knows the topic at once, the third only on its third probe: the first broker's
    answer alone would have returned while the third still said the topic does not exist."""
    probes: dict[str, int] = {}

    def describe(endpoint: str, name: str, timeout: float = 10.0) -> admin.TopicInfo:
        probes[endpoint] = probes.get(endpoint, 0) + 1
        if endpoint == "b3:9092" and probes[endpoint] < 3:
            raise HarnessError(f"topic {name!r} does not exist")
        return admin.TopicInfo(name, tuple(admin.PartitionInfo(p, 1, (1, 2, 3), (1, 2, 3)) for p in range(3)))

    monkeypatch.setattr(admin, "admin", lambda bootstrap: _Client())
    monkeypatch.setattr(admin, "describe", describe)
    info = admin.create_topic("b1:9092, b2:9092,b3:9092", "t", partitions=3, replication_factor=3, timeout=30)
    assert len(info.partitions) == 3
    assert probes["b3:9092"] == 3
    assert set(probes) == {"b1:9092", "b2:9092", "b3:9092"}
