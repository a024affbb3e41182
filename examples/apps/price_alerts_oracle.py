"""The team's oracle for price_alerts_app.py: from the records the brokers stored, the alerts the job must write.

Named by the scenario as `job.oracle: examples.apps.price_alerts_oracle:expected_alerts`; the harness passes
the stored records, the offsets each committed batch read, and the job's options (`above`, the threshold).
Every consumed tick priced above the threshold is one alert, with the input record's Kafka timestamp.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.jobs.contract import JobOptions
from harness.records import AckedRecord
from harness.verify.oracle import Batch


def expected_alerts(records: Sequence[AckedRecord], batches: Sequence[Batch], options: JobOptions) -> list[dict[str, Any]]:
    above = float(options.options.get("above", 150.0))
    consumed = {(p, o) for b in batches for p, (start, end) in b.offsets.items() for o in range(start, end)}
    alerts = []
    for record in records:
        if (record.partition, record.offset) not in consumed:
            continue
        tick = json.loads(record.value)
        if isinstance(tick.get("price"), (int, float)) and tick["price"] > above:
            alerts.append({"symbol": tick["symbol"], "time": tick["time"], "price": tick["price"], "source_timestamp_ms": record.timestamp_ms})
    return alerts
