"""The one place that writes run reports: a JSON document and the same facts as readable text."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.verify.check import Check, RunHistory, Verdict, percentile


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
    release: str = ""
    security: str = "plaintext"  # how clients and the job reached the brokers (kafka.security.protocol)
    timings: dict[str, float] = field(default_factory=dict)  # where the run's seconds went, phase by phase (runner.PhaseClock)

    @property
    def verdict(self) -> str:
        return "pass" if self.checks and all(c.ok for c in self.checks) else "fail"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "scenario": self.scenario,
            "profile": self.profile,
            "release": self.release,
            "security": self.security,
            "bootstrap_servers": self.bootstrap_servers,
            "manifest": self.manifest,
            "replay": self.replay,
            "job": self.job,
            "verification": self.verification,
            "delivery": self.delivery,
            "faults": self.faults,
            "timings": self.timings,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def render(self) -> str:
        r, j, v = self.replay, self.job, self.verification
        lat, ack, commit = j.get("latency_ms") or {}, r.get("ack_latency_ms") or {}, j.get("commit_latency_ms") or {}
        lines = [
            f"scenario {self.scenario} on profile {self.profile} ({self.bootstrap_servers})"
            + (f", release {self.release}" if self.release else "") + (f", over {self.security.upper()}" if self.security != "plaintext" else ""),
            f"replay    {r.get('acked')} records acknowledged of {r.get('sent')} sent in {r.get('seconds', 0):.2f}s "
            f"({r.get('rate_per_s', 0):,.0f} records/s), {len(r.get('failed', []))} failed",
            "          per partition: " + ", ".join(f"{p}:{n}" for p, n in (r.get("per_partition") or {}).items()),
            f"          acknowledgement latency p50 {_ms(ack.get('p50'))} p99 {_ms(ack.get('p99'))} max {_ms(ack.get('max'))}",
            f"job       {j.get('name')} ({j.get('output_mode')}, window {j.get('window_ms')}ms, watermark {_watermark(j.get('watermark_ms'))}): "
            f"{j.get('micro_batches')} micro-batches, {j.get('input_rows')} input rows, tasks per batch {j.get('tasks_per_batch')}",
            f"          driver {_driver(j.get('spark') or {})}",
            f"          throughput {j.get('throughput_rows_per_s', 0):,.0f} rows/s of batch time; "
            f"event-to-result latency p50 {_ms(lat.get('p50'))} p95 {_ms(lat.get('p95'))} p99 {_ms(lat.get('p99'))}",
            f"          record-to-commit latency p50 {_ms(commit.get('p50'))} p95 {_ms(commit.get('p95'))} p99 {_ms(commit.get('p99'))} "
            "(a record in Kafka to the commit of the batch that read it)",
            f"verify    {v.get('expected_rows')} expected rows, {v.get('actual_rows')} in the sink; "
            f"{v.get('late_dropped_records', 0)} records dropped as late, {v.get('malformed_expected', 0)} malformed",
        ]
        lines += [f"sink      {note}" for note in v.get("sink_notes") or []]
        d = self.delivery
        if d:
            lines.append(f"delivery  {d.get('acked')} acknowledged, {d.get('stored')} stored: {d.get('lost')} lost, {d.get('duplicated')} duplicated")
        for fault in self.faults:
            recovery = ", ".join(f"{k} {'-' if v is None else f'{v:.2f}s'}" for k, v in (fault.get("recovery") or {}).items())
            fired = fault.get("fired_s")
            lines.append(f"fault     at {fault['at_s']:.1f}s (fired {'-' if fired is None else f'{fired:.2f}s'}): {fault['action']} {fault['target']}"
                         f" -> {', '.join(fault.get('nodes') or []) or '?'}" + (f"; {recovery}" if recovery else "") + (f"; ERROR {fault['error']}" if fault.get("error") else ""))
            lines += [f"          {note}" for note in fault.get("notes") or []]
        if self.faults and "caught_up_after_replay_s" in j:
            lines.append(f"          job caught up {j['caught_up_after_replay_s']:.2f}s after the replay and faults ended")
        if self.timings:
            lines.append(f"time      {render_timings(self.timings, j.get('batch_time_s'))}")
        for check in self.checks:
            mark = "PASS" if check.ok else "FAIL"
            detail = check.detail if not check.ok else check.detail.splitlines()[0] if check.detail else ""
            lines.append(f"  [{mark}] {check.name}" + (f": {detail}" if detail and check.ok else ""))
            if not check.ok and check.detail:
                lines.extend("         " + line for line in check.detail.splitlines())
        lines += [f"  [NOT CHECKED] {why}" for why in self.verification.get("not_checked") or []]
        lines.append(f"verdict: {self.verdict.upper()}")
        return "\n".join(lines)


def run_report(scenario: str, profile: str, bootstrap_servers: str, history: RunHistory, verdict: Verdict, *,
               job_facts: dict[str, Any] | None = None, faults: Sequence[dict[str, Any]] = (), manifest: str | None = None,
               release: str = "", security: str = "plaintext", timings: Mapping[str, float] | None = None) -> RunReport:
    """The report of one run, from its history and verdict; `job_facts` are what the job handle adds
    (wall time, how the catch-up wait ended, driver incarnations)."""
    spec, verification, batches = history.job, verdict.verification, history.batches
    acked, replays, oracle = history.acked, history.replays, verification.oracle
    batch_time_s = sum(b.duration_ms for b in batches) / 1000
    input_rows = sum(b.input_rows for b in batches)
    seconds = sum(r.seconds for r in replays)
    per_partition: dict[int, int] = {}
    for record in acked:
        per_partition[record.partition] = per_partition.get(record.partition, 0) + 1
    comparison = verification.comparison
    return RunReport(
        scenario=scenario, profile=profile, bootstrap_servers=bootstrap_servers, manifest=manifest, faults=list(faults), release=release,
        security=security, timings=dict(timings or {}), replay={
            "sent": sum(r.sent for r in replays), "acked": len(acked), "failed": history.failed_sends, "seconds": round(seconds, 3),
            "rate_per_s": round(len(acked) / seconds, 1) if seconds else 0.0, "per_partition": counts(per_partition),
            "ack_latency_ms": latency_summary([ms for r in replays for ms in r.ack_latencies_ms]),
        },
        job={
            "name": f"{spec.application.file} (spark-submit)" if spec.application else f"{spec.notebook.file} (notebook)" if spec.notebook else spec.name, "output_mode": spec.output_mode,
            "window_ms": spec.window, "slide_ms": spec.slide,
            "watermark_ms": spec.watermark, "micro_batches": len(batches), "input_rows": input_rows,
            "tasks_per_batch": tasks_summary([b.tasks(spec.min_partitions) for b in batches]),
            "batch_time_s": round(batch_time_s, 3),
            "throughput_rows_per_s": round(input_rows / batch_time_s, 1) if batch_time_s else 0.0,
            **(job_facts or {}),
            "latency_ms": latency_summary(verification.latencies_ms),
            "commit_latency_ms": latency_summary(verification.commit_latencies_ms),
            "batches": [{"id": b.batch_id, "input_rows": b.input_rows, "duration_ms": b.duration_ms, "watermark_ms": b.watermark_ms,
                         "tasks": b.tasks(spec.min_partitions), "dropped_by_watermark": b.dropped_by_watermark,
                         "lag": b.lag, "finished_ms": b.finished_ms} for b in batches],
        },
        verification={
            "expected_rows": len(oracle.rows) if oracle else None,
            "actual_rows": sum(len(rows) for rows in history.outputs.values()),
            "missing": len(comparison.missing) if comparison else None,
            "extra": len(comparison.extra) if comparison else None,
            "wrong": len(comparison.wrong) if comparison else None,
            "duplicated": len(comparison.duplicated) if comparison else None,
            "diff": comparison.render(limit=50).splitlines() if comparison else verification.generic_diff,
            "late_dropped_records": len(oracle.dropped_late) if oracle else None,
            "malformed_expected": len(oracle.malformed) if oracle else None,
            "malformed_reported": history.malformed_reported,
            "unconsumed": len(oracle.unconsumed) if oracle else None,
            "sink_rewritten_rows": history.rewritten,
            "sink_notes": list(history.sink_notes),
            "not_checked": list(verification.not_checked),
        },
        checks=verdict.checks,
        delivery=verdict.delivery.to_json(),
    )


_PHASES = (("twin_ready_s", "twin ready"), ("spark_session_s", "Spark session"), ("job_start_s", "job start"), ("replay_s", "replay"),
           ("catch_up_s", "catch-up"), ("verify_s", "verification"))


def render_timings(timings: Mapping[str, float], batch_time_s: float | None) -> str:
    """`52.3s in all: twin ready 13.0s, ...; the job's own batches 9.8s`: where a run's seconds went."""
    parts = [f"{label} {timings[key]:.1f}s" for key, label in _PHASES if key in timings]
    text = f"{timings.get('run_s', 0):.1f}s in all: " + ", ".join(parts)
    return text + (f"; the job's own batches {batch_time_s:.1f}s" if batch_time_s is not None else "")


def latency_summary(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "max": max(values) if values else None, "count": len(values)}


def tasks_summary(tasks: Sequence[int]) -> dict[str, float]:
    with_data = [t for t in tasks if t > 0]
    if not with_data:
        return {"min": 0, "max": 0, "mean": 0}
    return {"min": min(with_data), "max": max(with_data), "mean": round(statistics.mean(with_data), 2)}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}ms"


def counts(mapping: Mapping[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(mapping.items())}


# ----- the gate's report -------------------------------------------------------------------


@dataclass(frozen=True)
class GateCheck:
    suite: str
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    output: str = ""
    skipped: bool = False


@dataclass
class GateReport:
    name: str
    checks: list[GateCheck] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "verdict": "pass" if self.ok else "fail",
            "checks": [{"suite": c.suite, "name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix, "skipped": c.skipped} for c in self.checks],
            "benchmarks": self.benchmarks, "runs": self.runs,
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")

    def write_junit(self, path: Path) -> None:
        """One <testsuite> per suite (static, each scenario, benchmarks), one <testcase> per check."""
        from xml.etree import ElementTree as ET

        root = ET.Element("testsuites", name=self.name)
        for suite in dict.fromkeys(c.suite for c in self.checks):
            cases = [c for c in self.checks if c.suite == suite]
            element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                                    failures=str(sum(not c.ok for c in cases)), skipped=str(sum(c.skipped for c in cases)))
            for check in cases:
                case = ET.SubElement(element, "testcase", classname=suite, name=check.name)
                if check.skipped:
                    ET.SubElement(case, "skipped", message=check.detail)
                elif not check.ok:
                    failure = ET.SubElement(case, "failure", message=check.detail.splitlines()[0] if check.detail else check.name)
                    failure.text = "\n".join(filter(None, [check.detail, f"fix: {check.fix}" if check.fix else ""]))
                if check.output:
                    ET.SubElement(case, "system-out").text = check.output
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)

    def markdown(self) -> str:
        passed = sum(c.ok for c in self.checks)
        lines = [f"## {self.name}: {'PASS' if self.ok else 'FAIL'}", "", f"{passed} of {len(self.checks)} checks passed.", "",
                 "| suite | check | result | detail |", "|---|---|---|---|"]
        for check in self.checks:
            mark = "skipped" if check.skipped else ("pass" if check.ok else "**FAIL**")
            detail = (check.detail.splitlines()[0] if check.detail else "") + (f" Fix: {check.fix}" if check.fix and not check.ok else "")
            lines.append(f"| {check.suite} | {check.name} | {mark} | {detail.replace('|', '/')} |")
        if self.benchmarks:
            lines += ["", "| scenario | metric | baseline | now | ratio |", "|---|---|---|---|---|"]
            for row in self.benchmarks:
                lines.append(f"| {row['scenario']} | {row['metric']} | {_num(row['old'])} | {_num(row['new'])} | {_num(row['ratio'], 2)} |")
        return "\n".join(lines) + "\n"

    def write_html(self, path: Path) -> None:
        """The Markdown facts as a page, with a plot of the benchmark figures against their baseline."""
        import html

        rows = "".join(
            f"<tr class='{'skip' if c.skipped else 'ok' if c.ok else 'bad'}'><td>{html.escape(c.suite)}</td><td>{html.escape(c.name)}</td>"
            f"<td>{'skipped' if c.skipped else 'pass' if c.ok else 'FAIL'}</td><td><pre>{html.escape(c.detail)}"
            f"{html.escape(chr(10) + 'fix: ' + c.fix) if c.fix and not c.ok else ''}</pre></td></tr>"
            for c in self.checks
        )
        plot = self._plot_png()
        image = f"<img alt='benchmarks against baseline' src='data:image/png;base64,{plot}'/>" if plot else "<p>No benchmark figures.</p>"
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(self.name) + "</title><style>"
            "body{font-family:sans-serif;margin:2em} td,th{border:1px solid #ccc;padding:4px;vertical-align:top} table{border-collapse:collapse}"
            " .ok td:nth-child(3){color:green} .bad td:nth-child(3){color:#b00;font-weight:bold} .skip{color:#888} pre{margin:0;white-space:pre-wrap}"
            "</style></head><body>"
            f"<h1>{html.escape(self.name)}: {'PASS' if self.ok else 'FAIL'}</h1>"
            f"<table><tr><th>suite</th><th>check</th><th>result</th><th>detail</th></tr>{rows}</table><h2>Benchmarks</h2>{image}</body></html>"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page)

    def _plot_png(self) -> str | None:
        rows = [r for r in self.benchmarks if r.get("new") is not None]
        if not rows:
            return None
        import base64
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        labels = [f"{r['scenario']}\n{r['metric']}" for r in rows]
        ratios = [r["ratio"] if r.get("ratio") is not None else 1.0 for r in rows]
        fig, ax = plt.subplots(figsize=(max(6, len(rows) * 1.6), 4))
        ax.bar(range(len(rows)), ratios, color=["#4a8" if r.get("ratio") is not None else "#999" for r in rows])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("now / baseline")
        ax.set_title("benchmark figures against the saved baseline")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        return base64.b64encode(buffer.getvalue()).decode()


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _driver(spark: dict[str, Any]) -> str:
    """Where the driver ran, as the job handle recorded it: on which Spark (its own word), master and memory."""
    version = f"Spark {spark['version']}" if spark.get("version") else "Spark version not reported"
    return f"{version} on {spark.get('master') or '?'}, driver memory {spark.get('driver_memory') or '?'}"


def _watermark(delay_ms: int | None) -> str:
    return "none" if delay_ms is None else f"{delay_ms}ms"
