"""Read a whole topic back: what the brokers actually store, to hold against what they acknowledged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from harness.errors import HarnessError
from harness.kafka.clients import consumer
from harness.records import AckedRecord, parse_tick
from harness.runtime.readiness import wait_for


@dataclass(frozen=True)
class StoredMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


_LEADERSHIP_MOVED = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError._TIMED_OUT)


def _high_watermark(client: Consumer, topic: str, partition: int, timeout: float) -> int:
    """The partition's high watermark, asked again while the client's metadata still names a leader that gave
    the role up (NOT_LEADER_FOR_PARTITION right after a failover, until the client refreshes its metadata)."""

    def ask() -> int | None:
        try:
            return int(client.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1])
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is not None and (error.retriable() or error.code() in _LEADERSHIP_MOVED):
                return None
            raise

    return wait_for(ask, what=f"the high watermark of {topic}/{partition}", timeout=timeout, interval=0.5, fatal=(KafkaException,))


def read_topic(bootstrap: str, topic: str, partitions: int, *, timeout: float = 120.0) -> list[StoredMessage]:
    """Every committed record of every partition, from the start to the high watermark at call time."""
    client = consumer(bootstrap, group=f"harness-readback-{uuid.uuid4().hex[:8]}", **{"isolation.level": "read_committed"})
    try:
        ends = {p: _high_watermark(client, topic, p, timeout) for p in range(partitions)}
        client.assign([TopicPartition(topic, p, 0) for p in range(partitions) if ends[p] > 0])
        seen: list[StoredMessage] = []
        done = {p for p, end in ends.items() if end == 0}

        def read_to_the_end() -> bool:
            message = client.poll(0.5)
            if message is not None and message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise HarnessError(f"reading back {topic}: {message.error().str()}")
            elif message is not None:
                seen.append(StoredMessage(message.partition(), message.offset(), message.key(), message.value(), message.timestamp()[1]))
                if message.offset() + 1 >= ends[message.partition()]:
                    done.add(message.partition())
            return len(done) >= partitions

        wait_for(read_to_the_end, what=f"{topic} to be read back to its end", timeout=timeout, interval=0, fatal=(HarnessError,),
                 last_seen=lambda: f"{len(seen)} records; partitions {sorted(set(ends) - done)} not read to their end")
        return seen
    finally:
        client.close()


def stored_records(bootstrap: str, topic: str, partitions: int) -> list[AckedRecord]:
    """What the brokers hold now, as records in manifest form: the oracle's input and the delivery
    check's evidence. Event times are read as the reference job reads them (`parse_tick`)."""
    records = []
    for message in read_topic(bootstrap, topic, partitions):
        value = message.value.decode("utf-8", "replace") if message.value is not None else ""
        tick = parse_tick(value)
        records.append(AckedRecord(topic=topic, partition=message.partition, offset=message.offset,
                                   key=message.key.decode("utf-8", "replace") if message.key is not None else None,
                                   event_time_ms=tick.event_time_ms if tick else None, value=value, timestamp_ms=message.timestamp_ms))
    return records
