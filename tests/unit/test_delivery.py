"""Acknowledgements whose offset the client never learnt (a retried batch the broker already had)."""

from __future__ import annotations

from pathlib import Path

from harness.verify.delivery import account, resolve_offsets
from harness.records import AckedRecord, by_position
from harness.verify.manifest import read_manifest, write_manifest


def _record(partition: int, offset: int | None, value: str, key: str = "MSFT") -> AckedRecord:
    return AckedRecord(topic="stockVals", partition=partition, offset=offset, key=key, event_time_ms=None, value=value)


STORED = [_record(0, 0, "a"), _record(0, 1, "b"), _record(0, 2, "b"), _record(1, 0, "c")]


def test_an_unknown_offset_is_the_stored_copy_no_other_acknowledgement_claims() -> None:
    acked = [_record(0, 0, "a"), _record(0, 1, "b"), _record(0, None, "b"), _record(1, None, "c")]
    resolved = resolve_offsets(acked, STORED)
    assert [(r.partition, r.offset) for r in resolved] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert account(resolved, STORED).lost == ()


def test_an_unknown_offset_without_a_stored_copy_stays_unknown_and_counts_as_lost() -> None:
    acked = [_record(0, 0, "a"), _record(0, 1, "b"), _record(0, 2, "b"), _record(1, 0, "c"), _record(1, None, "gone")]
    resolved = resolve_offsets(acked, STORED)
    assert resolved[-1].offset is None
    assert [r.value for r in account(resolved, STORED).lost] == ["gone"]
    assert sorted(resolved, key=by_position)[3].value == "gone"  # unknown offsets sort first in their partition


def test_a_manifest_keeps_an_unknown_offset(tmp_path: Path) -> None:
    records = [_record(0, 0, "a"), _record(1, None, "gone")]
    write_manifest(tmp_path / "m.jsonl", records)
    assert read_manifest(tmp_path / "m.jsonl") == records


def test_reading_back_asks_again_while_a_failover_leaves_the_client_pointing_at_an_old_leader() -> None:
    from confluent_kafka import KafkaError, KafkaException

    from harness.kafka.readback import _high_watermark

    class Client:
        calls = 0

        def get_watermark_offsets(self, partition, timeout):  # noqa: ANN001, ANN202
            Client.calls += 1
            if Client.calls < 3:
                raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
            return (0, 42)

    assert _high_watermark(Client(), "t", 0, timeout=30) == 42  # type: ignore[arg-type]
    assert Client.calls == 3


def test_reading_back_fails_at_once_on_an_error_that_no_retry_mends() -> None:
    import pytest
    from confluent_kafka import KafkaError, KafkaException

    from harness.kafka.readback import _high_watermark

    class Client:
        def get_watermark_offsets(self, partition, timeout):  # noqa: ANN001, ANN202
            raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    with pytest.raises(KafkaException):
        _high_watermark(Client(), "t", 0, timeout=30)  # type: ignore[arg-type]
