"""Kafka's own perf tools from the pinned jars, against the session's real twin."""

from __future__ import annotations

import pytest

from harness.bench.perftools import (
    ConsumerPerfResult,
    consumer_perf,
    parse_consumer_output,
    parse_producer_output,
    producer_perf,
)
from harness.errors import HarnessError
from harness.kafka.readback import read_topic

# Verbatim output of the Kafka 4.4 tools (progress line first, as a longer run prints one every 5 s).
PRODUCER_OUT = """\
61522 records sent, 12304.4 records/sec (1.17 MB/sec), 801.3 ms avg latency, 1410.0 ms max latency.
20000 records sent, 13486.176669 records/sec (1.29 MB/sec), 750.62 ms avg latency, 1120.00 ms max latency, 753 ms 50th, 1091 ms 95th, 1115 ms 99th, 1120 ms 99.9th.
"""
CONSUMER_OUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-25 15:39:08:805, 2026-11-25 15:39:11:041, 1.9073, 0.8530, 20000, 8944.5438, 1954, 282, 6.7636, 70921.9858
"""


def test_producer_summary_is_parsed_from_the_final_line() -> None:
    result = parse_producer_output(PRODUCER_OUT)
    assert result.records == 20000
    assert result.records_per_s == pytest.approx(13486.176669)
    assert result.mb_per_s == pytest.approx(1.29)
    assert (result.avg_latency_ms, result.p50_ms, result.p95_ms, result.p99_ms, result.p999_ms) == (750.62, 753, 1091, 1115, 1120)


def test_consumer_stats_are_parsed_by_column_name() -> None:
    result = parse_consumer_output(CONSUMER_OUT)
    assert result == ConsumerPerfResult(records=20000, mb=1.9073, mb_per_s=0.853, records_per_s=8944.5438, rebalance_ms=1954,
                                        fetch_ms=282, fetch_mb_per_s=6.7636, fetch_records_per_s=70921.9858)


@pytest.mark.parametrize("text", ["", "20000 records sent, 1 records/sec (0.1 MB/sec), 1 ms avg latency, 2 ms max latency.\n"])
def test_output_without_a_summary_is_an_error(text: str) -> None:
    with pytest.raises(HarnessError, match="summary"):
        parse_producer_output(text)
    with pytest.raises(HarnessError, match="header"):
        parse_consumer_output(text)


def test_producer_tool_writes_what_it_reports_and_the_consumer_tool_reads_it(kafka_bootstrap: str, kafka_topic) -> None:  # noqa: ANN001
    records, size = 5000, 100
    topic = kafka_topic(partitions=4)

    produced = producer_perf(kafka_bootstrap, topic, records=records, record_size=size)
    assert produced.records == records
    assert produced.records_per_s > 0 and produced.p50_ms <= produced.p99_ms <= produced.max_latency_ms

    stored = read_topic(kafka_bootstrap, topic, 4, timeout=60)
    assert len(stored) == records
    assert {len(m.value or b"") for m in stored} == {size}

    consumed = consumer_perf(kafka_bootstrap, topic, records=records, timeout_ms=5000)
    assert consumed.records == records
    assert consumed.mb == pytest.approx(records * size / 2**20, abs=1e-3)
    assert consumed.fetch_records_per_s > 0
