"""Replay a producer spec into Kafka and record every acknowledged record in a manifest.

The manifest, not the generator, is the ground truth: it holds what the brokers confirmed, at the
partition and offset they confirmed it, so verification is immune to retries, failed sends and
partitioner surprises.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message

from harness.errors import NotReadyError
from harness.kafka.clients import producer as make_producer
from harness.records import AckedRecord, ReplayResult, by_position
from harness.runtime.processes import check_interrupted
from harness.runtime.readiness import wait_for
from harness.scenarios.events import Event, disorder, duplicate
from harness.scenarios.spec import ProducerSpec
from harness.scenarios.ticker import stock_ticker

FLUSH_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Outgoing:
    """One record to send; `event_time_ms` is None for deliberately malformed values."""

    key: str
    value: str
    event_time_ms: int | None


def events_for(spec: ProducerSpec) -> list[Outgoing]:
    """The exact, seeded sequence of records a producer spec sends."""
    events: list[Event] = list(_ticks(spec))
    if spec.disorder is not None:
        events = disorder(events, seed=spec.seed + 1, late_fraction=spec.disorder.late_fraction, max_delay_ms=spec.disorder.max_delay)
    if spec.duplicates:
        events = duplicate(events, seed=spec.seed + 2, fraction=spec.duplicates)
    outgoing = [Outgoing(e.key, e.json_value(), e.event_time_ms) for e in events]
    return _with_malformed(outgoing, spec)


def _ticks(spec: ProducerSpec) -> Iterator[Event]:
    base = list(stock_ticker(seed=spec.seed, batches=spec.tick_count, start_ms=spec.start_time_ms, interval_ms=spec.interval, symbols=spec.symbols))
    if not spec.skew:
        yield from base
        return
    # Skew: extra records for some symbols in every tick, drawn from the same price model.
    extra: list[Event] = []
    for n, (symbol, copies) in enumerate(sorted(spec.skew.items())):
        for copy in range(copies):
            extra.extend(stock_ticker(seed=spec.seed * 1000 + n * 100 + copy, batches=spec.tick_count,
                                      start_ms=spec.start_time_ms, interval_ms=spec.interval, symbols=[symbol]))
    yield from sorted(base + extra, key=lambda e: e.event_time_ms)  # stable: ticks stay together


_MALFORMED_VALUES = ('{"symbol": "MSFT", "time": ', "not json at all", '{"symbol": null, "time": 1, "price": 1.0, "size": 1}', '{"time": "yesterday", "price": "high"}',
                     '{"symbol": "MSFT", "time": 1700000000000, "price": "n/a", "size": 1}')  # a feed that writes text for a missing price


def _with_malformed(records: list[Outgoing], spec: ProducerSpec) -> list[Outgoing]:
    count = round(spec.malformed * len(records))
    if count == 0:
        return records
    rng = random.Random(spec.seed + 3)
    result = list(records)
    for i in range(count):
        result.insert(rng.randint(0, len(result)), Outgoing(f"bad-{i}", _MALFORMED_VALUES[i % len(_MALFORMED_VALUES)], None))
    return result


def replay(
    bootstrap: str,
    topic: str,
    spec: ProducerSpec,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    printer: Callable[[str], None] | None = None,
) -> ReplayResult:
    """Send every record of the spec, paced as it asks, and wait for every acknowledgement."""
    records = events_for(spec)
    result = ReplayResult()

    def on_delivery(sent: Outgoing, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            result.failed.append(f"{message.key()!r}: {error.str()}")
            return
        record = AckedRecord(
            topic=message.topic(), partition=message.partition(), offset=message.offset(),
            key=message.key().decode() if message.key() is not None else None,
            event_time_ms=sent.event_time_ms,
            value=message.value().decode("utf-8", "replace"),
            timestamp_ms=message.timestamp()[1],
        )
        result.acked.append(record)
        latency = message.latency()  # the client's own measure: produce() until the broker's acknowledgement
        if latency is not None:
            result.ack_latencies_ms.append(latency * 1000)
        if printer is not None:
            printer(f"{record.topic} partition {record.partition} offset {record.offset}: {record.value}")

    client = make_producer(bootstrap, acks=spec.acks, idempotent=spec.idempotence, partitioner=spec.partitioner)
    pacer = _Pacer(spec)
    started = time.perf_counter()
    for n, record in enumerate(records):
        check_interrupted()
        pacer.wait(n, record)
        _produce(client, topic, record, on_delivery)
        result.sent += 1
        if on_progress is not None and n % 500 == 0:
            on_progress(n, len(records))
    remaining = [len(records)]

    def all_acknowledged() -> bool:
        remaining[0] = client.flush(0.5)
        return remaining[0] == 0

    try:
        wait_for(all_acknowledged, what="the brokers to acknowledge every record", timeout=FLUSH_TIMEOUT_S, interval=0,
                 last_seen=lambda: f"{remaining[0]} records unacknowledged")
    except NotReadyError:  # recorded as failed sends: the run's first check names them
        result.failed.append(f"{remaining[0]} records still unacknowledged after {FLUSH_TIMEOUT_S:.0f} s")
    result.seconds = time.perf_counter() - started
    result.acked.sort(key=by_position)  # an offset may be unknown: see AckedRecord.offset
    if on_progress is not None:
        on_progress(len(records), len(records))
    return result


def _produce(client, topic: str, record: Outgoing, on_delivery) -> None:  # noqa: ANN001
    callback = functools.partial(on_delivery, record)
    while True:
        try:
            client.produce(topic, key=record.key.encode(), value=record.value.encode(), on_delivery=callback)
            client.poll(0)
            return
        except BufferError:  # the local queue is full: let deliveries drain, then retry
            client.poll(0.05)


class _Pacer:
    """Holds the replay to `rate` records/s, or to event time divided by `time_compression`."""

    def __init__(self, spec: ProducerSpec) -> None:
        self.spec = spec
        self.start = time.perf_counter()
        self.first_event: int | None = None

    def wait(self, n: int, record: Outgoing) -> None:
        if self.spec.rate is not None:
            due = n / self.spec.rate
        elif self.spec.time_compression is not None and record.event_time_ms is not None:
            if self.first_event is None:
                self.first_event = record.event_time_ms
            due = max(0, record.event_time_ms - self.first_event) / 1000 / self.spec.time_compression
        else:
            return
        delay = self.start + due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
