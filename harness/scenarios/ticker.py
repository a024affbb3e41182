"""The stock-ticker scenario: a seeded twin of the HDInsight sample producer.

Why seeded: the sample producer draws prices at random; the harness needs the same
shape of data (ten symbols, normal prices, one batch of all symbols per tick) but
repeatable, so that an oracle can predict every window and a failure can be
replayed with the same seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType

from harness.scenarios.events import Event

__all__ = ["PRICE_MODEL", "SYMBOLS", "stock_ticker"]

#: symbol -> (mean, standard deviation) of its price, as in the sample producer.
PRICE_MODEL: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "MSFT": (152, 5),
        "BA": (345, 10),
        "JNJ": (141, 10),
        "F": (9, 1),
        "TSLA": (330, 10),
        "BAC": (34, 1),
        "GE": (11, 1),
        "MMM": (168, 5),
        "INTC": (55, 2),
        "WMT": (120, 3),
    }
)
SYMBOLS: tuple[str, ...] = tuple(PRICE_MODEL)


def _resolve_symbols(symbols: Sequence[str] | None) -> tuple[str, ...]:
    chosen = SYMBOLS if symbols is None else tuple(symbols)
    if not chosen:
        raise ValueError("symbols must not be empty")
    unknown = [s for s in chosen if s not in PRICE_MODEL]
    if unknown:
        raise ValueError(f"unknown symbols {unknown}; known: {list(SYMBOLS)}")
    return chosen


def _tick(rng: random.Random, symbol: str, time_ms: int) -> Event:
    mean, std = PRICE_MODEL[symbol]
    price = round(rng.normalvariate(mean, std), 3)
    size = rng.randint(1, 500)
    value = {"symbol": symbol, "time": time_ms, "price": price, "size": size}
    return Event(key=symbol, event_time_ms=time_ms, value=value)


def _generate(
    rng: random.Random, symbols: tuple[str, ...], batches: int, start_ms: int, interval_ms: int
) -> Iterator[Event]:
    for b in range(batches):
        time_ms = start_ms + b * interval_ms
        for symbol in symbols:
            yield _tick(rng, symbol, time_ms)


def stock_ticker(
    *,
    seed: int,
    batches: int,
    start_ms: int,
    interval_ms: int = 10_000,
    symbols: Sequence[str] | None = None,
) -> Iterator[Event]:
    """Yield ``batches`` ticks of one record per symbol, all sharing one ``time``.

    Batch ``b`` has event time ``start_ms + b * interval_ms`` (epoch ms). Arguments
    are checked here, eagerly, rather than on the first ``next()``.
    """
    if batches < 0:
        raise ValueError(f"batches must be >= 0, got {batches}")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    return _generate(random.Random(seed), _resolve_symbols(symbols), batches, start_ms, interval_ms)
