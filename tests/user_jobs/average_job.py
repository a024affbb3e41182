"""A user's own job and oracle, as a team would write them, used through the job contract.

The job computes the average price and the traded volume per symbol and 1-minute window, in
complete mode; its oracle computes the same from the manifest in plain Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from harness.jobs.contract import JobOptions
from harness.records import AckedRecord
from harness.records import parse_tick
from harness.verify.oracle import Batch, windows_for


def average_prices(spark, source, options: JobOptions):  # noqa: ANN001, ANN201
    from pyspark.sql import functions as F

    ticks = source.select(F.from_json(F.col("value").cast("string"), "symbol string, time long, price double, size int").alias("t")).select("t.*")
    ticks = ticks.where(F.col("symbol").isNotNull() & F.col("time").isNotNull() & F.col("price").isNotNull())
    timed = ticks.withColumn("event_time", F.timestamp_seconds(F.floor(F.col("time") / 1000)))
    return timed.groupBy(F.window("event_time", f"{options.window_ms} milliseconds").alias("window"), "symbol").agg(
        F.round(F.avg("price"), 6).alias("avg_price"), F.sum("size").alias("volume")
    )


def expected_averages(records: Sequence[AckedRecord], batches: Sequence[Batch], options: JobOptions) -> list[dict[str, Any]]:
    import json

    consumed = {(p, o) for b in batches for p, (start, end) in b.offsets.items() for o in range(start, end)}
    groups: dict[tuple[str, int, int], list[tuple[float, int]]] = defaultdict(list)
    for record in records:
        tick = parse_tick(record.value)
        if tick is None or (record.partition, record.offset) not in consumed:
            continue
        size = json.loads(record.value).get("size")
        for start, end in windows_for(tick.event_time_ms, options.window_ms, options.window_ms):
            groups[(tick.symbol, start, end)].append((tick.price, size))
    return [
        {"symbol": s, "window_start_ms": start, "window_end_ms": end,
         "avg_price": round(sum(p for p, _ in values) / len(values), 6), "volume": sum(v for _, v in values)}
        for (s, start, end), values in groups.items()
    ]
