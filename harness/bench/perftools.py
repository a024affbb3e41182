"""Kafka's own perf tools, run from the pinned jars: the baselines a benchmark's ratios divide by.

`kafka-producer-perf-test` and `kafka-consumer-perf-test` are thin scripts around
`org.apache.kafka.tools.ProducerPerformance` and `org.apache.kafka.tools.ConsumerPerformance` in
kafka-tools; running the classes with the same jars the brokers run (`kafka_classpath()`) and the
heap the scripts give them (-Xmx512M) is the same tool without needing a Kafka distribution.

Their summary lines are parsed into typed results. The consumer tool's own records/s includes the
time it spends joining its consumer group (seconds on a fresh group, often most of a small run), so
the result also carries the fetch-only rate, which is what a raw consumer sustains once reading.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import HarnessError

PRODUCER_CLASS = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_CLASS = "org.apache.kafka.tools.ConsumerPerformance"
TOOL_HEAP = "-Xmx512M"  # what kafka-producer-perf-test.sh / kafka-consumer-perf-test.sh set

# "20000 records sent, 13486.176669 records/sec (1.29 MB/sec), 750.62 ms avg latency, 1120.00 ms max latency,
#  753 ms 50th, 1091 ms 95th, 1115 ms 99th, 1120 ms 99.9th."
_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_PRODUCER_SUMMARY = re.compile(
    rf"^\s*(\d+) records sent, {_NUM} records/sec \({_NUM} MB/sec\), {_NUM} ms avg latency, {_NUM} ms max latency, "
    rf"{_NUM} ms 50th, {_NUM} ms 95th, {_NUM} ms 99th, {_NUM} ms 99\.9th\.?\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ProducerPerfResult:
    """The final summary line of ProducerPerformance (latencies are send-to-acknowledgement, in ms)."""

    records: int
    records_per_s: float
    mb_per_s: float
    avg_latency_ms: float
    max_latency_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConsumerPerfResult:
    """The stats line of ConsumerPerformance; MB here is the tool's MB, 2**20 bytes."""

    records: int
    mb: float
    mb_per_s: float
    records_per_s: float
    rebalance_ms: float
    fetch_ms: float
    fetch_mb_per_s: float
    fetch_records_per_s: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_producer_output(text: str) -> ProducerPerfResult:
    """The last summary line (the one with percentiles); interval progress lines have none."""
    matches = list(_PRODUCER_SUMMARY.finditer(text))
    if not matches:
        raise HarnessError("no summary line in ProducerPerformance's output", detail=text[-2000:])
    g = matches[-1].groups()
    return ProducerPerfResult(
        records=int(g[0]), records_per_s=float(g[1]), mb_per_s=float(g[2]), avg_latency_ms=float(g[3]),
        max_latency_ms=float(g[4]), p50_ms=float(g[5]), p95_ms=float(g[6]), p99_ms=float(g[7]), p999_ms=float(g[8]),
    )


_CONSUMER_FIELDS = {
    "data.consumed.in.nMsg": "records",
    "data.consumed.in.MB": "mb",
    "MB.sec": "mb_per_s",
    "nMsg.sec": "records_per_s",
    "rebalance.time.ms": "rebalance_ms",
    "fetch.time.ms": "fetch_ms",
    "fetch.MB.sec": "fetch_mb_per_s",
    "fetch.nMsg.sec": "fetch_records_per_s",
}


def parse_consumer_output(text: str) -> ConsumerPerfResult:
    """The header names the columns; the stats line is the last line with as many fields after it."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    header_at = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("start.time")), None)
    if header_at is None:
        raise HarnessError("no stats header in ConsumerPerformance's output", detail=text[-2000:])
    names = [n.strip() for n in lines[header_at].split(",")]
    rows = [[v.strip() for v in line.split(",")] for line in lines[header_at + 1:]]
    rows = [r for r in rows if len(r) == len(names)]
    if not rows:
        raise HarnessError("no stats line after ConsumerPerformance's header", detail=text[-2000:])
    values: Mapping[str, str] = dict(zip(names, rows[-1]))
    missing = [name for name in _CONSUMER_FIELDS if name not in values]
    if missing:
        raise HarnessError(f"ConsumerPerformance's stats lack {missing}", detail=text[-2000:])
    try:
        parsed = {field: float(values[name]) for name, field in _CONSUMER_FIELDS.items()}
    except ValueError as exc:
        raise HarnessError(f"unreadable number in ConsumerPerformance's stats: {exc}", detail=text[-2000:]) from None
    parsed["records"] = int(parsed["records"])
    return ConsumerPerfResult(**parsed)  # type: ignore[arg-type]


def _java_tool(main: str, args: list[str]) -> list[str]:
    from harness.dist.artifacts import kafka_classpath
    from harness.dist.java import find_java

    return [str(find_java().executable), TOOL_HEAP, "-Djava.awt.headless=true", "-cp", kafka_classpath(), main, *args]


def producer_command(bootstrap: str, topic: str, *, records: int, record_size: int, throughput: float = -1,
                     properties: Mapping[str, str] | None = None) -> list[str]:
    props = {"acks": "all", **(properties or {})}
    return _java_tool(PRODUCER_CLASS, [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
        "--record-size", str(record_size), "--throughput", f"{throughput:g}",
        "--command-property", *(f"{k}={v}" for k, v in props.items()),
    ])


def consumer_command(bootstrap: str, topic: str, *, records: int, group: str, timeout_ms: int = 10_000,
                     properties: Mapping[str, str] | None = None) -> list[str]:
    args = ["--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
            "--group", group, "--timeout", str(timeout_ms)]
    for key, value in (properties or {}).items():
        args += ["--command-property", f"{key}={value}"]
    return _java_tool(CONSUMER_CLASS, args)


def producer_perf(bootstrap: str, topic: str, *, records: int, record_size: int, throughput: float = -1,
                  properties: Mapping[str, str] | None = None, timeout: float = 300.0) -> ProducerPerfResult:
    """kafka-producer-perf-test: `records` records of `record_size` random bytes (null keys), acks=all unless
    `properties` say otherwise; throughput -1 is as fast as the producer goes."""
    from harness.runtime.processes import run_tool

    if records < 1 or record_size < 1:
        raise ValueError("records and record_size must be >= 1")
    argv = producer_command(bootstrap, topic, records=records, record_size=record_size, throughput=throughput, properties=properties)
    out = run_tool(argv, what=f"kafka-producer-perf-test on {topic}", timeout=timeout)
    result = parse_producer_output(out)
    if result.records != records:
        raise HarnessError(f"kafka-producer-perf-test sent {result.records} records to {topic}, {records} asked", detail=out[-2000:])
    return result


def consumer_perf(bootstrap: str, topic: str, *, records: int, group: str | None = None, timeout_ms: int = 10_000,
                  properties: Mapping[str, str] | None = None, timeout: float = 300.0) -> ConsumerPerfResult:
    """kafka-consumer-perf-test: read `records` records of `topic` from the earliest offset with a fresh group.

    The tool stops after `timeout_ms` without records; then it reports fewer than asked, which the
    caller sees in `result.records` (it is not an error here: it is what the tool measured).
    """
    from harness.runtime.processes import run_tool

    if records < 1:
        raise ValueError("records must be >= 1")
    group = group or f"harness-perf-{uuid.uuid4().hex[:8]}"
    argv = consumer_command(bootstrap, topic, records=records, group=group, timeout_ms=timeout_ms, properties=properties)
    out = run_tool(argv, what=f"kafka-consumer-perf-test on {topic}", timeout=timeout)
    return parse_consumer_output(out)
