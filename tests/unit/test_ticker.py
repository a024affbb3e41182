"""Stock-ticker generator and the disorder/duplicate perturbations."""

from __future__ import annotations

import json
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scenarios.events import Event, disorder, duplicate
from harness.scenarios.ticker import PRICE_MODEL, SYMBOLS, stock_ticker

START = 1_700_000_000_000


def test_symbols_and_price_model_match_the_sample_producer() -> None:
    assert SYMBOLS == ("MSFT", "BA", "JNJ", "F", "TSLA", "BAC", "GE", "MMM", "INTC", "WMT")
    assert [PRICE_MODEL[s][0] for s in SYMBOLS] == [152, 345, 141, 9, 330, 34, 11, 168, 55, 120]
    assert [PRICE_MODEL[s][1] for s in SYMBOLS] == [5, 10, 10, 1, 10, 1, 1, 5, 2, 3]


def test_batches_share_one_time_and_step_by_interval() -> None:
    events = list(stock_ticker(seed=1, batches=3, start_ms=START, interval_ms=4_000))
    assert len(events) == 3 * len(SYMBOLS)
    for b in range(3):
        batch = events[b * 10 : (b + 1) * 10]
        assert [e.key for e in batch] == list(SYMBOLS)
        assert {e.event_time_ms for e in batch} == {START + b * 4_000}
        assert all(e.value["time"] == e.event_time_ms and e.value["symbol"] == e.key for e in batch)


def test_default_interval_is_ten_seconds() -> None:
    events = list(stock_ticker(seed=1, batches=2, start_ms=START, symbols=["F"]))
    assert [e.event_time_ms for e in events] == [START, START + 10_000]


def test_same_seed_repeats_exactly_and_other_seed_differs() -> None:
    def run(seed: int) -> list[str]:
        return [e.json_value() for e in stock_ticker(seed=seed, batches=5, start_ms=START)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_prices_have_three_decimals_and_sizes_are_in_range() -> None:
    for event in stock_ticker(seed=3, batches=50, start_ms=START):
        price, size = event.value["price"], event.value["size"]
        assert isinstance(price, float) and round(price, 3) == price
        assert type(size) is int and 1 <= size <= 500


def test_price_distribution_follows_mean_and_std() -> None:
    events = list(stock_ticker(seed=11, batches=2_000, start_ms=START))
    for symbol, (mean, std) in PRICE_MODEL.items():
        prices = [e.value["price"] for e in events if e.key == symbol]
        assert abs(statistics.fmean(prices) - mean) < 4 * std / len(prices) ** 0.5
        assert 0.9 * std < statistics.stdev(prices) < 1.1 * std


def test_json_value_is_compact_with_producer_key_order() -> None:
    event = Event("MSFT", 1_000, {"size": 3, "price": 152.5, "time": 1_000, "symbol": "MSFT"})
    assert event.json_value() == '{"symbol":"MSFT","time":1000,"price":152.5,"size":3}'
    ticker_event = next(stock_ticker(seed=0, batches=1, start_ms=START))
    assert list(json.loads(ticker_event.json_value())) == ["symbol", "time", "price", "size"]


def test_events_are_hashable_and_equal_by_content() -> None:
    a = Event("F", 1, {"symbol": "F", "time": 1, "price": 9.0, "size": 1})
    b = Event("F", 1, {"symbol": "F", "time": 1, "price": 9.0, "size": 1})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": ["MSFT", "AAPL"]}, "unknown symbols"),
        ({"symbols": []}, "must not be empty"),
        ({"batches": -1}, "batches"),
        ({"interval_ms": 0}, "interval_ms"),
    ],
)
def test_invalid_arguments_fail_eagerly(kwargs: dict, message: str) -> None:
    args = {"seed": 0, "batches": 1, "start_ms": START, **kwargs}
    with pytest.raises(ValueError, match=message):
        stock_ticker(**args)  # no next(): validation must not wait for iteration


# ------------------------------------------------------------------ perturbations


def _ticks(n_batches: int, interval_ms: int = 1_000) -> list[Event]:
    ticks = stock_ticker(
        seed=5, batches=n_batches, start_ms=START, interval_ms=interval_ms, symbols=["MSFT", "F"]
    )
    return list(ticks)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(0, 2**32),
    st.floats(0, 1),
    st.integers(1, 10_000),
)
def test_disorder_is_a_bounded_deterministic_permutation(
    n: int, seed: int, fraction: float, max_delay: int
) -> None:
    events = _ticks(n)
    out = disorder(events, seed=seed, late_fraction=fraction, max_delay_ms=max_delay)
    assert sorted(out, key=events.index) == events  # same events, nothing lost or added
    assert out == disorder(events, seed=seed, late_fraction=fraction, max_delay_ms=max_delay)
    newest = None
    for event in out:  # nothing arrives more than max_delay behind the stream
        if newest is not None:
            assert newest - event.event_time_ms <= max_delay
        newest = max(newest or event.event_time_ms, event.event_time_ms)


def test_disorder_moves_at_most_the_requested_fraction_behind_the_stream() -> None:
    events = _ticks(50)
    out = disorder(events, seed=1, late_fraction=0.2, max_delay_ms=5_000)
    behind = [
        e for i, e in enumerate(out) if any(p.event_time_ms > e.event_time_ms for p in out[:i])
    ]
    assert 0 < len(behind) <= round(0.2 * len(events))
    assert disorder(events, seed=1, late_fraction=0.0, max_delay_ms=5_000) == events


def test_disorder_delay_shorter_than_interval_only_reorders_within_a_tick() -> None:
    events = _ticks(20, interval_ms=10_000)
    out = disorder(events, seed=2, late_fraction=0.5, max_delay_ms=9_999)
    assert [e.event_time_ms for e in out] == [e.event_time_ms for e in events]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 30), st.integers(0, 2**32), st.floats(0, 1))
def test_duplicate_repeats_adjacent_copies(n: int, seed: int, fraction: float) -> None:
    events = _ticks(n)
    out = duplicate(events, seed=seed, fraction=fraction)
    assert len(out) == len(events) + round(fraction * len(events))
    collapsed = [e for i, e in enumerate(out) if i == 0 or out[i - 1] is not e]
    assert collapsed == events
    assert out == duplicate(events, seed=seed, fraction=fraction)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_fractions_outside_unit_interval_are_rejected(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        duplicate(_ticks(1), seed=0, fraction=fraction)
    with pytest.raises(ValueError, match="late_fraction"):
        disorder(_ticks(1), seed=0, late_fraction=fraction, max_delay_ms=10)


def test_disorder_rejects_non_positive_delay() -> None:
    with pytest.raises(ValueError, match="max_delay_ms"):
        disorder(_ticks(1), seed=0, late_fraction=0.5, max_delay_ms=0)
