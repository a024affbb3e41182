"""Kafka default partitioner: must agree bit-for-bit with the Java client."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.kafka.partitioner import default_partition, murmur2, to_positive

# Expected values from Apache Kafka's own test suite:
# apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
# UtilsTest.testMurmur2 (the Java client's Utils.murmur2, signed int results).
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), KAFKA_VECTORS.items(), ids=lambda v: repr(v))
def test_murmur2_matches_kafka_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def _java_style_murmur2(data: bytes) -> int:
    """Independent transcription using emulated Java ints (c_int32 wraps, >>> by mask)."""

    def i32(x: int) -> int:
        return ctypes.c_int32(x).value

    def ushr(x: int, n: int) -> int:
        return (x & 0xFFFFFFFF) >> n

    m, length = i32(0x5BD1E995), len(data)
    h = i32(i32(0x9747B28C) ^ length)
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little", signed=True)
        k = i32(k * m)
        k ^= ushr(k, 24)
        k = i32(k * m)
        h = i32(i32(h * m) ^ k)
    rest = data[length & ~3 :]
    for shift, byte in reversed(list(enumerate(rest))):
        h = i32(h ^ (byte << (8 * shift)))
    if rest:
        h = i32(h * m)
    h = i32(h ^ ushr(h, 13))
    h = i32(h * m)
    return i32(h ^ ushr(h, 15))


def test_reference_transcription_agrees_with_kafka_vectors() -> None:
    # Guards the property test below: the reference itself must be right.
    assert {k: _java_style_murmur2(k) for k in KAFKA_VECTORS} == KAFKA_VECTORS


@given(st.binary(max_size=64))
def test_murmur2_matches_java_int_emulation(data: bytes) -> None:
    result = murmur2(data)
    assert -(2**31) <= result < 2**31
    assert result == _java_style_murmur2(data)


@given(st.binary(max_size=32), st.integers(min_value=1, max_value=10_000))
def test_default_partition_is_in_range_and_stable(key: bytes, n: int) -> None:
    partition = default_partition(key, n)
    assert 0 <= partition < n
    assert partition == default_partition(key, n)


def test_default_partition_masks_sign_bit_like_to_positive() -> None:
    # foobar hashes negative; Kafka clears the sign bit rather than taking abs().
    assert default_partition(b"foobar", 6) == (-790332482 & 0x7FFFFFFF) % 6
    assert default_partition(b"foobar", 6) != abs(-790332482) % 6
    assert default_partition(b"abc", 3) == 479470107 % 3


def test_to_positive_matches_java_for_min_int() -> None:
    assert to_positive(-(2**31)) == 0
    assert to_positive(-1) == 2**31 - 1


@pytest.mark.parametrize("n", [0, -3])
def test_default_partition_rejects_no_partitions(n: int) -> None:
    with pytest.raises(ValueError, match="num_partitions"):
        default_partition(b"MSFT", n)
