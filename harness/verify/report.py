"""The one place that writes run reports: a JSON document and the same facts as readable text."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.verify.check import Check, percentile


@dataclass
class RunReport:
    scenario: str
    profile: str
    bootstrap_servers: str
    replay: dict[str, Any] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    manifest: str | None = None
    delivery: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "pass" if self.checks and all(c.ok for c in self.checks) else "fail"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "scenario": self.scenario,
            "profile": self.profile,
            "bootstrap_servers": self.bootstrap_servers,
            "manifest": self.manifest,
            "replay": self.replay,
            "job": self.job,
            "verification": self.verification,
            "delivery": self.delivery,
            "faults": self.faults,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def render(self) -> str:
        r, j, v = self.replay, self.job, self.verification
        lat = j.get("latency_ms") or {}
        lines = [
            f"scenario {self.scenario} on profile {self.profile} ({self.bootstrap_servers})",
            f"replay    {r.get('acked')} records acknowledged of {r.get('sent')} sent in {r.get('seconds', 0):.2f}s "
            f"({r.get('rate_per_s', 0):,.0f} records/s), {len(r.get('failed', []))} failed",
            "          per partition: " + ", ".join(f"{p}:{n}" for p, n in (r.get("per_partition") or {}).items()),
            f"job       {j.get('name')} ({j.get('output_mode')}, window {j.get('window_ms')}ms, watermark {j.get('watermark_ms')}ms): "
            f"{j.get('micro_batches')} micro-batches, {j.get('input_rows')} input rows, tasks per batch {j.get('tasks_per_batch')}",
            f"          throughput {j.get('throughput_rows_per_s', 0):,.0f} rows/s of batch time; "
            f"event-to-result latency p50 {_ms(lat.get('p50'))} p95 {_ms(lat.get('p95'))} p99 {_ms(lat.get('p99'))}",
            f"verify    {v.get('expected_rows')} expected rows, {v.get('actual_rows')} in the sink; "
            f"{v.get('late_dropped_records', 0)} records dropped as late, {v.get('malformed_expected', 0)} malformed",
        ]
        d = self.delivery
        if d:
            lines.append(f"delivery  {d.get('acked')} acknowledged, {d.get('stored')} stored: {d.get('lost')} lost, {d.get('duplicated')} duplicated")
        for fault in self.faults:
            recovery = ", ".join(f"{k} {'-' if v is None else f'{v:.2f}s'}" for k, v in (fault.get("recovery") or {}).items())
            fired = fault.get("fired_s")
            lines.append(f"fault     at {fault['at_s']:.1f}s (fired {'-' if fired is None else f'{fired:.2f}s'}): {fault['action']} {fault['target']}"
                         f" -> {', '.join(fault.get('nodes') or []) or '?'}" + (f"; {recovery}" if recovery else "") + (f"; ERROR {fault['error']}" if fault.get("error") else ""))
        if self.faults and "caught_up_after_replay_s" in j:
            lines.append(f"          job caught up {j['caught_up_after_replay_s']:.2f}s after the replay and faults ended")
        for check in self.checks:
            mark = "PASS" if check.ok else "FAIL"
            detail = check.detail if not check.ok else check.detail.splitlines()[0] if check.detail else ""
            lines.append(f"  [{mark}] {check.name}" + (f": {detail}" if detail and check.ok else ""))
            if not check.ok and check.detail:
                lines.extend("         " + line for line in check.detail.splitlines())
        lines.append(f"verdict: {self.verdict.upper()}")
        return "\n".join(lines)


def latency_summary(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99), "count": len(values)}


def tasks_summary(tasks: Sequence[int]) -> dict[str, float]:
    with_data = [t for t in tasks if t > 0]
    if not with_data:
        return {"min": 0, "max": 0, "mean": 0}
    return {"min": min(with_data), "max": max(with_data), "mean": round(statistics.mean(with_data), 2)}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}ms"


def counts(mapping: Mapping[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(mapping.items())}
