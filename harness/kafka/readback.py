"""Read a whole topic back: what the brokers actually store, to hold against what they acknowledged."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import KafkaError, TopicPartition

from harness.errors import HarnessError
from harness.kafka.clients import consumer


@dataclass(frozen=True)
class StoredMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


def read_topic(bootstrap: str, topic: str, partitions: int, *, timeout: float = 120.0) -> list[StoredMessage]:
    """Every committed record of every partition, from the start to the high watermark at call time."""
    client = consumer(bootstrap, group=f"harness-readback-{uuid.uuid4().hex[:8]}", **{"isolation.level": "read_committed"})
    try:
        ends = {p: client.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)}
        client.assign([TopicPartition(topic, p, 0) for p in range(partitions) if ends[p] > 0])
        seen: list[StoredMessage] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < partitions:
            if time.monotonic() > deadline:
                raise HarnessError(f"reading back {topic} timed out: partitions {sorted(set(ends) - done)} not read to their end")
            message = client.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise HarnessError(f"reading back {topic}: {message.error().str()}")
                continue
            seen.append(StoredMessage(message.partition(), message.offset(), message.key(), message.value(), message.timestamp()[1]))
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
        return seen
    finally:
        client.close()
